"""The client core keeps local books against the simulator, through every depth fault.

Every time the harness collects events, each synced book is compared with the
simulator's true book at the book's version, level for level; an unsynced book
must be empty and must have said so.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from mexc_core.book import LocalBook, Side
from mexc_core.client.core import CoreConfig, FetchBookSnapshot, RestCall
from mexc_core.client.pacer import SnapshotPacing
from mexc_core.client.pool import LinkState, PoolConfig
from mexc_core.errors import ArgumentTypeError, StateError
from mexc_core.events import (
    BookBreak,
    BookResyncStarted,
    BookSnapshotFailed,
    BookSynced,
    BookUpdated,
    Event,
    GapCause,
    GapDetected,
    LinkDisconnected,
    StrayPushReceived,
    StrayReason,
    SubscribeCompleted,
)
from mexc_core.rest import DepthSnapshot, ListenKey, RateLimited
from mexc_core.session import SessionConfig
from mexc_core.testing.harness import CoreLoop
from mexc_sim.exchange import ExchangeConfig, default_markets
from mexc_sim.faults import Faults
from mexc_sim.protocol import SimConfig, TransportAction
from mexc_sim.session import WsRules
from tests.sim_helpers import truth_levels

DEPTH = "spot@public.aggre.depth.v3.api.pb@100ms@{}"


class Checker:
    """Compares every synced book with the truth whenever events are collected."""

    def __init__(self, loop: CoreLoop) -> None:
        self.loop = loop
        self.compared = 0
        self.versions: set[tuple[str, int]] = set()
        self.synced: dict[str, bool] = {}
        loop.on_event = self.seen

    def seen(self, event: Event) -> None:
        if isinstance(event, BookSynced):
            self.synced[event.symbol] = True
        elif isinstance(event, BookResyncStarted):
            self.synced[event.symbol] = False
        if isinstance(event, BookSynced | BookUpdated | BookResyncStarted):
            self.check(self.loop.core.book(event.symbol))

    def check(self, book: LocalBook) -> None:
        assert book.synced == self.synced.get(book.symbol, False)
        if not book.synced:
            assert len(book.levels) == 0
            return
        assert book.version is not None
        exchange = self.loop.sim.exchange
        truth = exchange.book(book.symbol, book.version)
        bids, asks = truth_levels(truth, exchange.markets[book.symbol].spec)
        ours = [
            [(Decimal(p), Decimal(q)) for p, q in book.levels.levels(side)]
            for side in (Side.BID, Side.ASK)
        ]
        # every level held is a true one; the best 20 are exactly the truth's
        assert set(ours[0]) <= set(bids)
        assert set(ours[1]) <= set(asks)
        assert ours[0][:20] == bids[:20]
        assert ours[1][:20] == asks[:20]
        self.compared += 1
        self.versions.add((book.symbol, book.version))


def loop_with(faults: Faults | None = None, markets: int = 2, **config: object) -> CoreLoop:
    sim = SimConfig(
        exchange=ExchangeConfig(markets=default_markets(markets)), faults=faults or Faults()
    )
    core = CoreConfig(pool=PoolConfig(host="127.0.0.1"), **config)  # type: ignore[arg-type]
    return CoreLoop(core, sim)


def test_a_watched_book_syncs_and_follows_the_truth_version_by_version() -> None:
    loop = loop_with()
    checker = Checker(loop)
    loop.start()
    ticket = loop.core.watch_book("BTCUSDT", loop.now)
    assert loop.core.watch_book("BTCUSDT", loop.now) == ticket + 1  # the same topic
    loop.run_for(10.0)
    book = loop.core.book("BTCUSDT")
    assert book.synced
    assert list(loop.core.books) == ["BTCUSDT"]
    assert [e.ticket for e in loop.of(SubscribeCompleted)] == [ticket, ticket + 1]  # type: ignore[attr-defined]
    assert len(loop.of(BookSynced)) == 1
    updates = loop.of(BookUpdated)
    assert len(updates) > 50
    assert checker.compared >= len(updates)
    assert loop.rest_calls.count("/api/v3/depth") == 1
    loop.core.unwatch_book("BTCUSDT", loop.now)
    loop.settle()
    assert not loop.core.books
    assert DEPTH.format("BTCUSDT") not in loop.core.topics
    with pytest.raises(KeyError, match="watch_book"):
        loop.core.book("BTCUSDT")


def test_every_depth_fault_of_the_wire_leads_to_a_resync_and_never_to_a_wrong_book() -> None:
    faults = Faults(
        depth_skip_at={20}, depth_duplicate_at={45}, depth_reorder_at={70}, reset_after=15.0
    )
    loop = loop_with(faults)
    checker = Checker(loop)
    loop.start()
    loop.core.watch_book("BTCUSDT", loop.now)
    loop.run_for(40.0)
    resyncs = [e for e in loop.of(BookResyncStarted) if isinstance(e, BookResyncStarted)]
    causes = {e.cause for e in resyncs}
    # the skip (a version gap), the swapped pair (a gap, then one out of order) and
    # the reset; the duplicate is dropped by the client's deduplication
    assert causes == {BookBreak.VERSION_GAP, BookBreak.OVERLAP, BookBreak.STREAM_GAP}
    lost_sync = [e for e in resyncs if e.version is not None]
    assert len(loop.of(BookSynced)) == len(lost_sync) + 1
    assert loop.core.book("BTCUSDT").synced
    assert checker.compared > 100
    assert len(checker.versions) > 100


def test_stray_pushes_on_a_watched_depth_topic_never_reach_the_book() -> None:
    # An unknown body and a foreign body in place of two diffs: each is a stray
    # naming the depth topic, the book is never fed one (it would have crashed on
    # the body's type), and the diff it replaced is a gap reported at once: a
    # resync. The version break the next diff shows is the same outage: folded.
    loop = loop_with(Faults(unknown_body_at={20}, foreign_body_at={60}), markets=1)
    checker = Checker(loop)
    loop.start()
    loop.core.watch_book("BTCUSDT", loop.now)
    loop.run_for(20.0)
    strays = [e for e in loop.of(StrayPushReceived) if isinstance(e, StrayPushReceived)]
    assert [(e.reason, e.topic) for e in strays] == [
        (StrayReason.UNKNOWN_BODY, DEPTH.format("BTCUSDT")),
        (StrayReason.FOREIGN_BODY, DEPTH.format("BTCUSDT")),
    ]
    assert strays[0].expected == "PublicAggreDepthsV3Api"
    gaps = [e for e in loop.of(GapDetected) if isinstance(e, GapDetected)]
    assert [(e.topics, e.cause) for e in gaps] == [
        ((DEPTH.format("BTCUSDT"),), GapCause.BODY_MISMATCH)
    ] * 2
    causes = [e.cause for e in loop.of(BookResyncStarted) if isinstance(e, BookResyncStarted)]
    assert causes == [BookBreak.STREAM_GAP] * 2
    assert loop.core.pool.stats.gaps_folded == 2
    assert loop.core.book("BTCUSDT").synced
    assert checker.compared > 50


def test_stale_and_failed_snapshots_are_asked_again_and_a_429_pauses_every_book() -> None:
    loop = loop_with(markets=3)
    checker = Checker(loop)
    loop.sim.rest_faults.stale_snapshot = 50
    loop.start()
    loop.sim.exchange.market("BTCUSDT", 30.0)  # history to be stale from
    loop.run_for(30.0)
    loop.core.watch_book("BTCUSDT", loop.now)
    loop.run_for(2.0)
    assert loop.of(BookSnapshotFailed)
    assert not loop.core.book("BTCUSDT").synced
    loop.sim.rest_faults.stale_snapshot = 0
    loop.sim.rest_faults.fail("/api/v3/depth", 503, 1)
    loop.sim.rest_faults.fail("/api/v3/depth", 429, 1)
    loop.run_for(60.0)
    assert loop.core.book("BTCUSDT").synced
    failures = [e for e in loop.of(BookSnapshotFailed) if isinstance(e, BookSnapshotFailed)]
    assert any(f.stale for f in failures)
    assert any("503" in f.reason for f in failures)
    assert any("429" in f.reason for f in failures)
    assert checker.compared > 0


def test_snapshots_of_many_books_are_paced_within_the_budget() -> None:
    loop = loop_with(markets=12, snapshots=SnapshotPacing(budget=20, window=10.0))
    checker = Checker(loop)
    loop.start()
    for market in default_markets(12):
        loop.core.watch_book(market.symbol, loop.now)
    loop.run_for(70.0)
    assert len(loop.core.books) == 12
    assert all(book.synced for book in loop.core.books.values())
    assert checker.compared > 0
    # weight 10 per 5000-level snapshot, 20 per 10 s: two snapshots in any 10 s
    times = [t for t, path in loop.rest_times if path == "/api/v3/depth"]
    assert len(times) == 12
    for i, t in enumerate(times):
        assert len([u for u in times[: i + 1] if u + 10.0 > t]) <= 2
    assert times[-1] - times[0] >= 50.0


def test_answers_that_do_not_fit_their_call_are_refused() -> None:
    loop = loop_with()
    loop.start()
    held: list[RestCall] = []
    loop.held_rest = held
    loop.core.watch_book("BTCUSDT", loop.now)
    loop.run_for(1.0)
    (call,) = held
    assert isinstance(call.intent, FetchBookSnapshot)
    assert call.request(0).path == "/api/v3/depth"
    with pytest.raises(ArgumentTypeError, match="not the result of its request"):
        loop.core.rest_result(call.call_id, ListenKey("k" * 20), loop.now)
    loop.core.rest_failed(call.call_id, loop.now, "timed out")  # still waited for
    loop.settle()
    assert loop.of(BookSnapshotFailed)
    loop.core.rest_result(
        call.call_id, DepthSnapshot(symbol="BTCUSDT", last_update_id=1, bids=(), asks=()), loop.now
    )  # no longer waited for: ignored
    loop.core.close(loop.now)
    loop.settle()
    with pytest.raises(StateError):
        loop.core.watch_book("BTCUSDT", loop.now)


def test_answers_for_a_book_given_up_are_ignored() -> None:
    loop = loop_with()
    loop.start()
    held: list[RestCall] = []
    loop.held_rest = held
    loop.core.watch_book("BTCUSDT", loop.now)
    loop.core.watch_book("ETHUSDT", loop.now)
    loop.run_for(1.0)
    first, second = held
    loop.core.unwatch_book("BTCUSDT", loop.now)
    loop.core.unwatch_book("ETHUSDT", loop.now)
    loop.core.rest_failed(first.call_id, loop.now, "timed out")
    snapshot = DepthSnapshot(symbol="ETHUSDT", last_update_id=1, bids=(), asks=())
    loop.core.rest_result(second.call_id, snapshot, loop.now)
    loop.settle()
    assert not loop.of(BookSnapshotFailed)
    assert not loop.core.books


def test_a_reset_resyncs_only_the_books_it_cut_and_a_rotation_none() -> None:
    session = SessionConfig(max_subscriptions=2, rotate_after=30.0, idle_timeout=None)
    loop = CoreLoop(
        CoreConfig(pool=PoolConfig(host="127.0.0.1", session=session)),
        SimConfig(exchange=ExchangeConfig(markets=default_markets(3)), rules=WsRules(max_age=40.0)),
    )
    checker = Checker(loop)
    loop.start()
    loop.core.subscribe(["spot@public.aggre.deals.v3.api.pb@100ms@MXUSDT"], loop.now)
    loop.core.watch_book("BTCUSDT", loop.now)
    loop.core.watch_book("ETHUSDT", loop.now)
    loop.run_for(45.0)  # each link rotates once, make-before-break
    assert loop.pool.stats.rotations == 2
    assert not loop.of(BookResyncStarted)
    assert len(loop.of(BookSynced)) == 2
    # a reset of the link with the deals and one book: only that book resyncs
    (link,) = [
        i for i in loop.pool.links() if DEPTH.format("BTCUSDT") in i.topics and i.cid in loop.wires
    ]
    loop.wires[link.cid or 0].action = TransportAction.ABORT
    loop.run_for(5.0)
    resyncs = [e for e in loop.of(BookResyncStarted) if isinstance(e, BookResyncStarted)]
    assert {e.symbol for e in resyncs} == {"BTCUSDT"}
    assert all(book.synced for book in loop.core.books.values())
    assert checker.compared > 100


def test_the_old_link_failing_in_a_rotation_does_not_break_the_book() -> None:
    session = SessionConfig(max_subscriptions=2, rotate_after=30.0, idle_timeout=None)
    loop = CoreLoop(
        CoreConfig(pool=PoolConfig(host="127.0.0.1", session=session)),
        SimConfig(exchange=ExchangeConfig(markets=default_markets(2)), rules=WsRules(max_age=40.0)),
    )
    Checker(loop)
    loop.start()
    loop.core.watch_book("BTCUSDT", loop.now)
    while not any(i.state is LinkState.DRAINING for i in loop.pool.links()):
        loop.run_for(0.01)
    (old,) = [i for i in loop.pool.links() if i.state is LinkState.DRAINING]
    loop.wires[old.cid or 0].action = TransportAction.ABORT
    loop.run_for(3.0)
    (down,) = [e for e in loop.of(LinkDisconnected) if isinstance(e, LinkDisconnected)]
    assert down.topics == (DEPTH.format("BTCUSDT"),)  # it still listed the topic
    assert not loop.of(BookResyncStarted)
    assert loop.core.book("BTCUSDT").synced


def test_the_core_wakes_for_the_earliest_snapshot_retry() -> None:
    loop = loop_with()
    loop.start()
    held: list[RestCall] = []
    loop.held_rest = held
    for symbol in ("BTCUSDT", "ETHUSDT"):
        loop.core.watch_book(symbol, loop.now)
    loop.run_for(1.0)
    limited = RateLimited("HTTP 429", status=429, retry_after=5.0)
    for call in held:  # both books retry at the same moment, 5 s on
        loop.core.rest_result(call.call_id, limited, loop.now)
    retries = {b.next_deadline() for b in loop.core.books.values()}
    assert retries == {loop.now + 5.0}
    deadline = loop.core.next_deadline()
    assert deadline is not None
    assert deadline <= loop.now + 5.0
    loop.run_for(6.0)
    assert len(held) == 4  # asked again, both
