"""A hypothesis state machine for the local order book, against a model exchange.

The model exchange keeps the true book (prices and quantities as ``Decimal``) at
every version and sends diffs as MEXC does, each covering one or more versions.
The rules move the market, deliver the diffs, and break the wire: a diff lost, sent
twice, two swapped, a stream gap reported by the client; they answer snapshot
requests fresh, stale (older than the stream) or not at all (5xx, 429), and let
time pass. The invariants are the book's promise:

- whenever :class:`~mexc_core.book.sync.LocalBook` is ``SYNCED``, its levels are
  the true book at its version, exactly (price for price, quantity for quantity);
- when it is not, it holds nothing, and the last event about it said so
  (:class:`~mexc_core.events.BookResyncStarted`), or it never synced;
- it resyncs only when a fault explains it: a stream gap, or the delivery of a
  diff that a fault touched (one lost before it, a copy, a swapped pair); a
  fresh or stale snapshot and a clean stream never make it resync;
- a :class:`~mexc_core.events.BookUpdated` only ever follows a
  :class:`~mexc_core.events.BookSynced`, and carries the next version;
- it has a snapshot deadline exactly while it buffers without a request out.

Run it from a test::

    from mexc_core.testing.book import BookMachine
    TestBook = BookMachine.TestCase
"""

from __future__ import annotations

import random
from decimal import Decimal

from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from mexc_core.book.levels import Side
from mexc_core.book.sync import BookConfig, BookState, LocalBook
from mexc_core.client.backoff import Backoff
from mexc_core.events import BookResyncStarted, BookSynced, BookUpdated, Event
from mexc_core.messages import PublicAggreDepthsV3Api, PublicAggreDepthV3ApiItem
from mexc_core.rest import DepthSnapshot

__all__ = ("BookMachine", "ModelExchange")

_Book = dict[Decimal, Decimal]

#: Bids sit below it and asks above it, so the model's book is never crossed.
_MID = 1000


def _price(ticks: int, decimals: int) -> str:
    """``ticks`` hundredths, written with ``decimals`` (2 or more) decimals."""
    return f"{Decimal(ticks) / 100:.{decimals}f}"


class ModelExchange:
    """The true book of one symbol at every version, and the diffs between them."""

    def __init__(self) -> None:
        self.version = 100
        self.bids: _Book = {}
        self.asks: _Book = {}
        self.history: dict[int, tuple[_Book, _Book]] = {self.version: ({}, {})}

    def move(self, changes: list[tuple[bool, int, int]], span: int) -> PublicAggreDepthsV3Api:
        """Apply ``(is_bid, ticks from the mid, lots)`` changes (0 lots deletes) over
        ``span`` versions; the diff MEXC would send for them."""
        bids: list[PublicAggreDepthV3ApiItem] = []
        asks: list[PublicAggreDepthV3ApiItem] = []
        for is_bid, offset, lots in changes:
            ticks = _MID - offset if is_bid else _MID + offset
            # "9.99" or "9.990": one price, written either way
            price_text = _price(ticks, 2 + lots % 2)
            quantity = Decimal(lots) / 1000
            quantity_text = "0" if lots == 0 else f"{quantity:.3f}"
            book, out = (self.bids, bids) if is_bid else (self.asks, asks)
            if lots == 0:
                book.pop(Decimal(price_text), None)
            else:
                book[Decimal(price_text)] = quantity
            out.append(PublicAggreDepthV3ApiItem(price=price_text, quantity=quantity_text))
        first = self.version + 1
        self.version += span
        self.history[self.version] = (dict(self.bids), dict(self.asks))
        return PublicAggreDepthsV3Api(
            bids=tuple(bids),
            asks=tuple(asks),
            event_type="spot@public.aggre.depth.v3.api.pb@100ms",
            from_version=str(first),
            to_version=str(self.version),
        )

    def snapshot(self, age: int) -> DepthSnapshot:
        """``GET /api/v3/depth`` answered ``age`` diffs late (``0``: the book now)."""
        versions = sorted(self.history)
        version = versions[max(len(versions) - 1 - age, 0)]
        bids, asks = self.history[version]

        def levels(book: _Book, *, best_first: bool) -> tuple[tuple[str, str], ...]:
            ordered = sorted(book.items(), reverse=best_first)
            return tuple((str(p), str(q)) for p, q in ordered)

        return DepthSnapshot(
            symbol="BTCUSDT",
            last_update_id=version,
            bids=levels(bids, best_first=True),
            asks=levels(asks, best_first=False),
        )


def _as_decimals(book: LocalBook, side: Side) -> _Book:
    return {Decimal(p): Decimal(q) for p, q in book.levels.levels(side)}


_CHANGES = st.lists(
    st.tuples(st.booleans(), st.integers(1, 12), st.sampled_from([0, 0, 1, 5, 250, 1000])),
    min_size=0,
    max_size=6,
)


class BookMachine(RuleBasedStateMachine):
    """:class:`LocalBook` against :class:`ModelExchange` (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.exchange = ModelExchange()
        config = BookConfig(limit=100, max_buffer=8, retry=Backoff(initial=0.5, cap=4.0))
        self.book = LocalBook("BTCUSDT", config, rng=random.Random(0))
        self.now = 0.0
        # Diffs on their way, each marked when a fault touched it (sent twice,
        # swapped), and the last versions of lost diffs (their successor shows the
        # gap): only such a diff may make the book resync.
        self.wire: list[tuple[PublicAggreDepthsV3Api, bool]] = []
        self.lost_ends: set[int] = set()
        self.request: int | None = None
        self.announced = False
        self.last_version: int | None = None
        self.justified = False

    # ------------------------------------------------------------ the market

    @rule(changes=_CHANGES, span=st.integers(1, 3))
    def market_moves(self, changes: list[tuple[bool, int, int]], span: int) -> None:
        self.wire.append((self.exchange.move(changes, span), False))
        note(f"market -> v{self.exchange.version}: {changes}")

    @precondition(lambda self: self.wire)
    @rule()
    def deliver(self) -> None:
        body, tainted = self.wire.pop(0)
        self._feed(body, tainted=tainted)

    @precondition(lambda self: self.wire)
    @rule()
    def lose_a_diff(self) -> None:
        lost, _ = self.wire.pop(0)
        note(f"lost {lost.from_version}..{lost.to_version}")
        self.lost_ends.add(int(lost.to_version))

    @precondition(lambda self: self.wire)
    @rule()
    def deliver_twice(self) -> None:
        body, tainted = self.wire[0]
        self._feed(body, tainted=tainted)
        self.wire[0] = (body, True)  # the copy still to come

    @precondition(lambda self: len(self.wire) >= 2)
    @rule()
    def swap_two(self) -> None:
        (first, _), (second, _) = self.wire[0], self.wire[1]
        self.wire[0], self.wire[1] = (second, True), (first, True)
        # the later diff, arriving first, may be thrown away with a buffer that
        # restarts at the earlier one: its successor then shows the gap
        self.lost_ends.add(int(second.to_version))
        note("swapped the next two diffs")

    @rule()
    def stream_gap(self) -> None:
        note("stream gap")
        self.justified = True
        self.book.stream_gap(self.now)
        self._drain()

    @rule(dt=st.sampled_from([0.0, 0.1, 0.5, 2.0, 10.0]))
    def time_passes(self, dt: float) -> None:
        self.now += dt

    # ------------------------------------------------------------ snapshots

    @precondition(lambda self: self.book.snapshot_due(self.now))
    @rule()
    def send_snapshot_request(self) -> None:
        self.request = self.book.snapshot_requested(self.now)
        note(f"snapshot request {self.request}")

    @precondition(lambda self: self.request is not None)
    @rule(age=st.sampled_from([0, 0, 0, 1, 3]))
    def answer_snapshot(self, age: int) -> None:
        assert self.request is not None
        snapshot = self.exchange.snapshot(age)
        note(f"snapshot at v{snapshot.last_update_id}")
        self.book.snapshot_received(self.request, snapshot, self.now)
        self.request = None
        self._drain()

    @precondition(lambda self: self.request is not None)
    @rule(rate_limited=st.booleans())
    def fail_snapshot(self, rate_limited: bool) -> None:  # noqa: FBT001 (a hypothesis rule)
        assert self.request is not None
        self.book.snapshot_failed(
            self.request, self.now, "HTTP 503", rate_limited=rate_limited, retry_after=None
        )
        self.request = None
        self._drain()

    # ------------------------------------------------------------ checks

    def _feed(self, body: PublicAggreDepthsV3Api, *, tainted: bool) -> None:
        note(f"deliver {body.from_version}..{body.to_version}{' (after a fault)' * tainted}")
        self.justified = tainted or int(body.from_version) - 1 in self.lost_ends
        self.book.receive_diff(body, self.now)
        self._drain()

    def _drain(self) -> None:
        for event in self.book.events():
            self._seen(event)
        self.justified = False
        if self.book.state is not BookState.SNAPSHOT_PENDING:
            self.request = None  # a gap made the book forget the request

    def _seen(self, event: Event) -> None:
        note(repr(event))
        if isinstance(event, BookSynced):
            assert not self.announced, "synced twice without a resync between"
            self.announced = True
            self.last_version = event.version
        elif isinstance(event, BookResyncStarted):
            assert self.justified, "a resync no fault explains"
            self.announced = False
            self.last_version = None
        elif isinstance(event, BookUpdated):
            assert self.announced, "an update of a book that was never said to be synced"
            assert self.last_version is not None
            assert event.from_version <= self.last_version + 1 <= event.version
            self.last_version = event.version

    @invariant()
    def the_book_is_the_truth_or_says_it_is_not(self) -> None:
        book = self.book
        assert book.synced == self.announced
        if book.synced:
            assert book.version == self.last_version
            assert book.version is not None
            bids, asks = self.exchange.history[book.version]
            assert _as_decimals(book, Side.BID) == bids
            assert _as_decimals(book, Side.ASK) == asks
        else:
            assert len(book.levels) == 0

    @invariant()
    def a_snapshot_is_wanted_exactly_while_buffering(self) -> None:
        deadline = self.book.next_deadline()
        if self.book.state is BookState.BUFFERING:
            assert deadline is not None
        else:
            assert deadline is None
