"""Shedding before decoding: the sans-IO half (``docs/client.rst``, "Overload").

While a shedding episode runs, public sessions count pushes of their topics by
channel instead of decoding them; the episode's end is one gap naming each topic
shed once, which resynchronises the books of those topics. Virtual time and the
simulator throughout; decodes are counted by wrapping the decoder.
"""

from __future__ import annotations

import pytest

from mexc_core import wire
from mexc_core.client.backpressure import Inbox, Shedder
from mexc_core.client.core import CoreConfig
from mexc_core.client.pool import PoolConfig
from mexc_core.events import (
    BookBreak,
    BookResyncStarted,
    BookSynced,
    GapCause,
    GapDetected,
    HealthCause,
    HealthCheckFailed,
    PongReceived,
    Push,
)
from mexc_core.messages import PublicAggreDealsV3Api, PublicSpotKlineV3Api
from mexc_core.session import Session, SessionConfig
from mexc_core.testing.harness import CoreLoop, Loop
from mexc_core.wire import peek_channel
from mexc_sim.exchange import ExchangeConfig, default_markets
from mexc_sim.protocol import SimConfig

SYMBOLS = [m.symbol for m in default_markets(4)]
DEALS = [f"spot@public.aggre.deals.v3.api.pb@100ms@{s}" for s in SYMBOLS]
DEPTH = "spot@public.aggre.depth.v3.api.pb@100ms@{}"
ORDERS = "spot@private.orders.v3.api.pb"


def frame(channel: str, n: int = 1) -> bytes:
    body = PublicAggreDealsV3Api(event_type=channel)
    return wire.encode_push(channel, body, symbol="BTCUSDT", send_time=n)


def sim() -> SimConfig:
    return SimConfig(exchange=ExchangeConfig(markets=default_markets(4)))


# ---------------------------------------------------------------- peek_channel


def test_peek_channel_reads_the_channel_without_decoding() -> None:
    topic = DEALS[0]
    assert peek_channel(frame(topic)) == topic
    long = "spot@public.kline.v3.api.pb@" + "X" * 200 + "@Min1"  # a two-byte length
    assert len(long) >= 0x80
    assert peek_channel(frame(long)) == long
    # no channel that can be read: the caller decodes the frame
    assert peek_channel(b"") is None
    assert peek_channel(b"\x0a") is None
    assert peek_channel(b"\x1a\x03abc") is None  # the symbol first
    assert peek_channel(b"\x0a\x05abc") is None  # shorter than it says
    assert peek_channel(b"\x0a\x80") is None  # a length cut short
    assert peek_channel(b"\x0a\x80\x80\x01") is None  # a length of three bytes
    assert peek_channel(b"\x0a\x02\xff\xfe") is None  # not UTF-8
    assert peek_channel(b"\x1a\x01a\x0a\x02\xff\xfe") is None  # not UTF-8, not first
    assert peek_channel(b"\x1a\x01a\x0a\x03abc") == "abc"  # found by the walk


# ---------------------------------------------------------------- Shedder


def test_the_shedder_counts_per_topic_within_an_episode() -> None:
    shedder = Shedder()
    assert shedder.stop(1.0) == ({}, 1.0)  # no episode: nothing shed
    shedder.start(2.0)
    shedder.start(3.0)  # already running: the start stays
    assert (shedder.active, shedder.episodes) == (True, 1)
    for topic in ("b", "a", "b"):
        shedder.count(topic)
    assert dict(shedder.counts) == {"b": 2, "a": 1}
    assert repr(shedder) == "<Shedder shedding shed=3 conflated=0 episodes=1>"
    assert shedder.stop(4.0) == ({"b": 2, "a": 1}, 2.0)
    assert (shedder.active, shedder.shed, dict(shedder.counts)) == (False, 3, {})
    assert repr(shedder) == "<Shedder idle shed=3 conflated=0 episodes=1>"


# ---------------------------------------------------------------- Session (rule 7)


def test_a_session_sheds_only_received_topics_and_never_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    decoded: list[bytes] = []
    real = wire.decode_push

    def counting(data: bytes) -> Push:
        decoded.append(data)
        return real(data)

    monkeypatch.setattr(wire, "decode_push", counting)
    session = Session()  # no silence watchdog (the next test has one)
    session.subscribe(DEALS[:2], 0.0)
    session.start(0.0)
    session.messages_to_send()
    session.receive_text('{"id":0,"code":0,"msg":"' + ",".join(DEALS[:2]) + '"}', 0.1)
    list(session.events())
    shedder = Shedder()
    session.receive_binary(frame(DEALS[0]), 0.2)  # no shedder yet: decoded
    session.shedder = shedder
    session.receive_binary(frame(DEALS[0]), 0.3)  # an idle shedder: decoded
    assert len(decoded) == 2
    shedder.start(1.0)
    for at in (1.0, 1.1, 1.2):
        session.receive_binary(frame(DEALS[0]), at)
    session.receive_binary(frame(DEALS[1]), 1.3)
    assert len(decoded) == 2  # shed unread
    assert dict(shedder.counts) == {DEALS[0]: 3, DEALS[1]: 1}
    assert (session.stats.shed, session.stats.pushes) == (4, 2)
    # a topic not received here, or a frame the peek cannot read: decoded and judged
    session.receive_binary(frame(DEALS[2]), 1.4)
    session.receive_binary(b"\x1a\x03abc", 1.5)
    assert len(decoded) == 4
    # text frames are never shed: the PONG is read
    session.receive_text('{"id":0,"code":0,"msg":"PONG"}', 1.6)
    kinds = [type(e).__name__ for e in session.events()]
    assert kinds == ["Push", "Push", "StrayPushReceived", "FrameRejected"]
    assert session.stats.pongs_received == 1
    assert session.stats.binary_frames == (
        session.stats.pushes + session.stats.shed + session.stats.strays.total() + 1
    )


KLINE = "spot@public.kline.v3.api.pb@BTCUSDT@Min1"


def kline(close: str) -> bytes:
    body = PublicSpotKlineV3Api(interval="Min1", closing_price=close)
    return wire.encode_push(KLINE, body, symbol="BTCUSDT")


def test_a_conflated_topic_keeps_its_newest_frame_and_decodes_it_when_the_episode_ends() -> None:
    session = Session()
    session.subscribe([KLINE, DEALS[0]], 0.0)
    session.start(0.0)
    session.messages_to_send()
    session.receive_text('{"id":0,"code":0,"msg":"' + f"{KLINE},{DEALS[0]}" + '"}', 0.1)
    list(session.events())
    session.shedder = shedder = Shedder()
    shedder.start(1.0)
    for at, close in ((1.0, "1"), (1.1, "2"), (1.2, "3")):
        session.receive_binary(kline(close), at)
    session.receive_binary(frame(DEALS[0]), 1.3)
    assert not list(session.events())  # nothing decoded yet
    assert (session.stats.conflated, shedder.conflated, session.stats.shed) == (2, 2, 1)
    assert dict(shedder.counts) == {DEALS[0]: 1}  # the kline is no gap
    shedder.stop(1.4)
    assert session.release_held(1.4) == 1
    (push,) = session.events()
    assert isinstance(push, Push)
    assert isinstance(push.body, PublicSpotKlineV3Api)
    assert push.body.closing_price == "3"  # the newest state
    assert session.release_held(1.5) == 0  # released once
    stats = session.stats
    assert stats.binary_frames == stats.pushes + stats.shed + stats.conflated
    # a session that cannot read any more drops what it holds, unread
    shedder.start(2.0)
    session.receive_binary(kline("4"), 2.0)
    session.close()
    assert session.release_held(2.2) == 1
    assert not [e for e in session.events() if isinstance(e, Push)]


def test_the_pool_delivers_the_newest_state_of_conflated_topics_after_an_episode() -> None:
    klines = [f"spot@public.kline.v3.api.pb@{s}@Min1" for s in SYMBOLS]
    loop = Loop(PoolConfig(host="127.0.0.1"), sim())
    loop.subscribe([*klines, *DEALS])
    loop.run_for(3.0)
    pool = loop.pool
    before = len(loop.pushes())
    pool.start_shedding(loop.now)
    loop.run_for(5.0)
    assert len(loop.pushes()) == before  # nothing decoded in the episode
    assert set(pool.shedder.counts) <= set(DEALS)  # klines are never shed
    pool.stop_shedding(loop.now)
    loop.settle()
    released = [p for p in loop.pushes()[before:] if p.channel in klines]
    assert released
    assert len({p.channel for p in released}) == len(released)  # one per topic: the newest
    assert pool.stats.conflated > 0  # the older klines of the episode were skipped
    gaps = [g for g in loop.of(GapDetected) if isinstance(g, GapDetected)]
    assert all(t not in klines for g in gaps for t in g.topics)


def test_a_shed_frame_feeds_the_silence_watchdog() -> None:
    session = Session(SessionConfig(data_silence_timeout=5.0))
    session.subscribe(DEALS[:1], 0.0)
    session.start(0.0)
    session.shedder = shedder = Shedder()
    shedder.start(0.0)
    session.receive_binary(frame(DEALS[0]), 0.05)  # before the ack (MEXC may push then)
    session.receive_text('{"id":0,"code":0,"msg":"' + DEALS[0] + '"}', 0.1)
    for at in (4.0, 8.0, 12.0):
        session.receive_binary(frame(DEALS[0]), at)
        session.handle_timer(at)
        if any("PING" in m for m in session.messages_to_send()):
            session.receive_text('{"id":0,"code":0,"msg":"PONG"}', at)  # the keepalive works
    assert session.state.name == "OPEN"  # 12 s without a decoded push, yet alive
    assert session.stats.shed == 4
    session.handle_timer(17.5)
    assert session.state.name == "STALE"  # then 5.5 s without any frame
    (failed,) = [e for e in session.events() if isinstance(e, HealthCheckFailed)]
    assert failed.cause is HealthCause.DATA_SILENCE
    assert session.stats.pongs_received >= 1


# ---------------------------------------------------------------- the pool


def test_an_episode_is_one_gap_naming_each_topic_shed_once() -> None:
    loop = Loop(PoolConfig(host="127.0.0.1", session=SessionConfig(max_subscriptions=2)), sim())
    loop.subscribe(DEALS)
    loop.run_for(3.0)
    assert loop.pushes()
    pool = loop.pool
    pool.stop_shedding(loop.now)  # no episode: nothing happens
    assert not loop.of(GapDetected)
    before = len(loop.pushes())
    start = loop.now
    pool.start_shedding(loop.now)
    pool.start_shedding(loop.now)  # one episode
    loop.run_for(3.0)
    assert len(loop.pushes()) == before  # nothing decoded, nothing delivered
    shed = dict(pool.shedder.counts)
    assert set(shed) == set(DEALS)
    assert pool.stats.shed == 0  # counted when the episode ends
    sessions = [link.conn.session for link in pool._by_cid.values()]  # type: ignore[union-attr]
    assert sum(s.stats.shed for s in sessions) == sum(shed.values())
    pool.unsubscribe(DEALS[3:], loop.now)  # no longer wanted: not in the gap
    loop.settle()
    pool.stop_shedding(loop.now)
    loop.settle()
    (gap,) = loop.of(GapDetected)
    assert isinstance(gap, GapDetected)
    assert sorted(gap.topics) == sorted(DEALS[:3])  # each once, in the order first shed
    assert gap == GapDetected(
        topics=gap.topics,
        cause=GapCause.OVERFLOW,
        started_at=start,
        ended_at=loop.now,
        missed=sum(shed[t] for t in DEALS[:3]),
    )
    assert (pool.stats.shed, pool.stats.shed_episodes, pool.stats.gaps) == (
        sum(shed.values()),
        1,
        1,
    )
    loop.run_for(2.0)
    assert len(loop.pushes()) > before  # decoding again
    # an episode where only unwanted topics were shed reports no gap
    pool.start_shedding(loop.now)
    pool.unsubscribe(DEALS, loop.now)
    loop.settle()
    pool.stop_shedding(loop.now)
    assert len(loop.of(GapDetected)) == 1
    assert pool.stats.shed_episodes == 2


def test_an_episode_folds_into_an_outage_already_reported_and_ends_with_the_pool() -> None:
    loop = Loop(PoolConfig(host="127.0.0.1", session=SessionConfig(max_subscriptions=2)), sim())
    loop.subscribe(DEALS)
    loop.run_for(3.0)
    pool = loop.pool
    # an outage of DEALS[0] reported and no push of it since: rule 10 holds it open
    pool._gap_seen((DEALS[0],), GapCause.VERSION_GAP, loop.now)
    pool._open_gaps.discard(DEALS[1])
    pool.start_shedding(loop.now)
    loop.run_for(3.0)
    shed = dict(pool.shedder.counts)
    assert DEALS[0] in shed
    folded = pool.stats.gaps_folded
    pool.stop_shedding(loop.now)
    loop.settle()
    gaps = [g for g in loop.of(GapDetected) if isinstance(g, GapDetected)]
    assert gaps[-1].cause is GapCause.OVERFLOW
    assert DEALS[0] not in gaps[-1].topics  # folded into the open outage
    assert set(gaps[-1].topics) == set(shed) - {DEALS[0]}
    assert gaps[-1].missed == sum(n for t, n in shed.items() if t != DEALS[0])
    assert pool.stats.gaps_folded == folded + 1
    # closing the pool in an episode reports what was shed before the topics go
    loop.run_for(2.0)
    pool.start_shedding(loop.now)
    loop.run_for(2.0)
    second = dict(pool.shedder.counts)
    assert second
    signals = pool.stats.gaps + pool.stats.gaps_folded
    pool.close(loop.now)
    assert not pool.shedder.active
    assert pool.stats.shed == sum(shed.values()) + sum(second.values())
    # each topic shed is reported or folded, once
    assert pool.stats.gaps + pool.stats.gaps_folded > signals


def test_private_links_are_never_shed() -> None:
    loop = Loop(PoolConfig(host="127.0.0.1"), sim(), listen_key="k" * 64)
    loop.hold_open = True  # the connections exist; no transport needed
    loop.subscribe([ORDERS, DEALS[0]])
    sessions = {
        link.private: link.conn.session  # type: ignore[union-attr]
        for link in loop.pool._by_cid.values()
    }
    assert sessions[False].shedder is loop.pool.shedder
    assert sessions[True].shedder is None


# ---------------------------------------------------------------- the core and books


def test_a_book_resyncs_after_an_episode_that_shed_its_diffs() -> None:
    loop = CoreLoop(CoreConfig(pool=PoolConfig(host="127.0.0.1")), sim())
    loop.start()
    loop.core.watch_book(SYMBOLS[0], loop.now)
    loop.run_for(5.0)
    assert loop.core.book(SYMBOLS[0]).synced
    loop.core.start_shedding(loop.now)
    loop.run_for(2.0)
    assert loop.core.book(SYMBOLS[0]).synced  # it does not know yet
    loop.core.stop_shedding(loop.now)
    loop.settle()
    (gap,) = loop.of(GapDetected)
    assert gap.topics == (DEPTH.format(SYMBOLS[0]),)  # type: ignore[attr-defined]
    (resync,) = loop.of(BookResyncStarted)
    assert resync.cause is BookBreak.STREAM_GAP  # type: ignore[attr-defined]
    loop.run_for(5.0)
    assert loop.core.book(SYMBOLS[0]).synced
    assert len(loop.of(BookSynced)) == 2


# ---------------------------------------------------------------- the inbox


def test_the_inbox_marks_when_to_shed_and_when_each_event_was_read() -> None:
    inbox = Inbox(8)
    assert (inbox.shed_at, inbox.resume_at, inbox.backlog) == (6, 2, 0)
    assert Inbox(2).shed_at == 1
    assert inbox.read_at == float("-inf")
    kline = PublicSpotKlineV3Api()
    pushes = [Push(channel=f"t{i}", body=kline) for i in range(4)]
    inbox.put(pushes[0], 1.0)
    inbox.put(pushes[1], 1.0)
    inbox.put(PongReceived(round_trip=0.1), 2.0)
    inbox.put(pushes[2], 3.0)
    assert inbox.backlog == 3
    assert [(inbox.take(), inbox.read_at) for _ in range(4)] == [
        (pushes[0], 1.0),
        (pushes[1], 1.0),
        (PongReceived(round_trip=0.1), 2.0),
        (pushes[2], 3.0),
    ]
    # reads that queued nothing leave one mark, not one each (memory stays flat)
    full = Inbox(2)
    full.put(pushes[0], 1.0)
    full.put(pushes[1], 1.0)
    for at in (2.0, 3.0, 4.0):
        assert not full.put(pushes[2], at)
    assert len(full._marks) == 2
    assert full.take() == pushes[0]
    assert full.take() == pushes[1]
    assert full.put(pushes[3], 5.0)
    assert (full.take(), full.read_at) == (pushes[3], 5.0)
    # a pool's OVERFLOW gap counts against the backlog while it waits, like the inbox's
    gap = GapDetected(topics=("t1",), cause=GapCause.OVERFLOW, started_at=0, ended_at=1, missed=3)
    assert inbox.put(gap, 6.0)
    assert inbox.backlog == 1
    assert inbox.take() == gap
    assert inbox.backlog == 0
