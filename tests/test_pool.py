"""The connection pool, sans-IO, against the simulator in memory (mexc_core/testing/harness.py).

Every scenario of the runtime is played here in virtual time: sharding over the
cap, resets, clean closes, half-open sockets, refusals, rejections, listen keys,
rotation before the 24 h cut-off (scaled down) and consolidation. The same
scenarios run over real sockets on both anyio backends in test_aio_client.py.
"""

from __future__ import annotations

import collections
import itertools
import random

import pytest
from wsproto.frame_protocol import FrameProtocol

from mexc_core import channels, wire
from mexc_core.client.backoff import Backoff, FailureKind
from mexc_core.client.pool import (
    AbortTransport,
    CloseTransport,
    ConnectionPool,
    LinkState,
    OpenTransport,
    PoolConfig,
    PoolState,
    PrivateSide,
)
from mexc_core.errors import ArgumentTypeError, InvalidConfig, InvalidTopic, ListenKeyRequired
from mexc_core.errors import StateError as MexcStateError
from mexc_core.events import (
    DisconnectCause,
    FailureCause,
    FrameRejected,
    GapCause,
    GapDetected,
    LinkConnected,
    LinkDisconnected,
    LinkRotated,
    ListenKeyInvalidated,
    Push,
    StrayPushReceived,
    StrayReason,
    TopicsRejected,
)
from mexc_core.messages import PublicAggreDealsV3Api
from mexc_core.session import SessionConfig
from mexc_core.testing.harness import Loop
from mexc_sim.exchange import ExchangeConfig, default_markets
from mexc_sim.faults import Faults
from mexc_sim.protocol import SimConfig
from mexc_sim.session import WsRules

MARKETS = default_markets(8)
SYMBOLS = [m.symbol for m in MARKETS]
DEALS = [f"spot@public.aggre.deals.v3.api.pb@100ms@{s}" for s in SYMBOLS]
DEPTHS = [f"spot@public.aggre.depth.v3.api.pb@100ms@{s}" for s in SYMBOLS]
KLINES = [f"spot@public.kline.v3.api.pb@{s}@Min1" for s in SYMBOLS]
ORDERS = "spot@private.orders.v3.api.pb"


def config(cap: int = 5, **kwargs: object) -> PoolConfig:
    session = kwargs.pop("session", None) or SessionConfig(max_subscriptions=cap)
    return PoolConfig(host="127.0.0.1", session=session, **kwargs)  # type: ignore[arg-type]


def sim_config(markets: int = 8, **kwargs: object) -> SimConfig:
    exchange = ExchangeConfig(markets=default_markets(markets))
    return SimConfig(exchange=exchange, **kwargs)  # type: ignore[arg-type]


def kinds(loop: Loop) -> collections.Counter[str]:
    return collections.Counter(type(e).__name__ for e in loop.events if not isinstance(e, Push))


def trade_ids(loop: Loop, topic: str) -> list[int]:
    out: list[int] = []
    for push in loop.pushes(topic):
        assert isinstance(push.body, PublicAggreDealsV3Api)
        out.extend(int(d.trade_id) for d in push.body.deals)
    return out


def assert_contiguous(ids: list[int]) -> None:
    assert ids, "no trades"
    assert ids == list(range(ids[0], ids[0] + len(ids)))


# ---------------------------------------------------------------- sharding


def test_more_topics_than_the_cap_shard_over_several_links() -> None:
    markets = 40
    loop = Loop(config(cap=10), sim_config(markets))
    topics = [f"spot@public.aggre.deals.v3.api.pb@100ms@{m.symbol}" for m in default_markets(40)]
    topics += KLINES[:3]
    assert loop.pool.subscribe(topics, 0.0) == tuple(topics)
    assert loop.pool.subscribe(topics[:5], 0.0) == ()  # already wanted
    loop.run_for(10.0)
    links = loop.pool.links()
    assert [len(link.topics) for link in links] == [10, 10, 10, 10, 3]
    assert all(link.state is LinkState.OPEN for link in links)
    assert sorted(t for link in links for t in link.carried) == sorted(topics)
    assert {p.channel for p in loop.pushes()} <= set(topics)
    assert len({p.channel for p in loop.pushes()}) > 30
    assert kinds(loop) == {"LinkConnected": 5, "TopicsSubscribed": 5}
    assert all(loop.pool.is_carried(t) for t in topics)
    assert not loop.pool.is_carried("spot@public.aggre.deals.v3.api.pb@100ms@NOPEUSDT")
    assert loop.pool.topics == tuple(topics)
    assert "links=5/5" in repr(loop.pool)
    # a few more fill the last link first
    loop.pool.subscribe(KLINES[3:6], loop.now)
    assert [len(link.topics) for link in loop.pool.links()] == [10, 10, 10, 10, 6]


def test_typed_topics_and_bad_arguments() -> None:
    loop = Loop(config())
    loop.pool.subscribe([channels.Kline(symbol="BTCUSDT", interval="Min1")], 0.0)
    assert loop.pool.topics == (KLINES[0],)
    with pytest.raises(ArgumentTypeError):
        loop.pool.subscribe(DEALS[0], 0.0)
    with pytest.raises(ArgumentTypeError):
        loop.pool.subscribe([1], 0.0)  # type: ignore[list-item]
    with pytest.raises(InvalidTopic):
        loop.pool.subscribe([DEALS[1], "spot@public.nope.v3.api.pb@BTCUSDT"], 0.0)
    assert side_of(loop) is PrivateSide.NONE
    with pytest.raises(ListenKeyRequired):
        loop.pool.subscribe([ORDERS], 0.0)
    loop.pool.set_listen_key(None, 0.0)  # no key to drop: still no private side
    with pytest.raises(ListenKeyRequired):
        loop.pool.subscribe([ORDERS], 0.0)
    assert loop.pool.topics == (KLINES[0],)  # nothing changed
    with pytest.raises(ArgumentTypeError):
        loop.pool.set_listen_key("", 0.0)
    with pytest.raises(InvalidConfig):
        PoolConfig(open_timeout=0)
    with pytest.raises(InvalidConfig):
        PoolConfig(host="not a host")


# ---------------------------------------------------------------- faults


@pytest.mark.parametrize(
    ("faults", "cause"),
    [
        (Faults(reset_after=5.0), DisconnectCause.LOST),
        (Faults(close_after=5.0), DisconnectCause.CLOSED),
        (Faults(blackhole_after=5.0), DisconnectCause.UNHEALTHY),
    ],
    ids=["reset", "clean-close", "half-open"],
)
def test_a_failed_link_reconnects_resubscribes_and_reports_the_gap(
    faults: Faults, cause: DisconnectCause
) -> None:
    loop = Loop(config(cap=4), sim_config())
    loop.sim.queue_faults(faults)  # the first connection only
    loop.subscribe(DEALS)
    loop.run_for(30.0)
    (down,) = loop.of(LinkDisconnected)
    assert isinstance(down, LinkDisconnected)
    assert down.cause is cause
    assert down.link == 1
    assert down.topics == tuple(DEALS[:4])
    assert down.retry_in is not None
    assert 0 <= down.retry_in <= Backoff().ceiling(0)
    (gap,) = loop.of(GapDetected)
    assert isinstance(gap, GapDetected)
    assert gap.topics == tuple(DEALS[:4])
    assert gap.cause is GapCause.DISCONNECTED
    # detection: at once for a reset or close, within ping + pong timeouts when half-open
    limit = 0.01 if cause is not DisconnectCause.UNHEALTHY else 5.0 + 4.0 + 0.01
    assert 5.0 <= gap.started_at <= 5.0 + limit
    assert gap.ended_at == pytest.approx(gap.started_at + down.retry_in)
    reconnected = [e for e in loop.of(LinkConnected) if isinstance(e, LinkConnected)]
    assert [(e.link, e.reconnect) for e in reconnected] == [(1, False), (2, False), (1, True)]
    assert all(link.state is LinkState.OPEN for link in loop.pool.links())
    for topic in DEALS:
        assert loop.pool.is_carried(topic)
        assert [p for p in loop.pushes(topic) if p.send_time and p.send_time > 0]
    # pushes flow again after the gap on every topic of the failed link
    late = {p.channel for p in loop.pushes() if loop.pool.is_carried(p.channel)}
    assert set(DEALS[:4]) <= late
    assert loop.pool.stats.gaps == 1
    # the bytes of every push frame, counted by topic over every link and reconnect
    # (the simulator encodes pushes as wire.encode_push does)
    assert loop.pool.stats.duplicates == loop.pool.stats.unwanted == 0
    for topic in DEALS:
        sent = sum(
            len(
                wire.encode_push(
                    p.channel,
                    p.body,
                    symbol=p.symbol,
                    create_time=p.create_time,
                    send_time=p.send_time,
                )
            )
            for p in loop.pushes(topic)
        )
        assert loop.pool.stats.push_bytes[topic] == sent > 0
    assert loop.pool.stats.disconnects == 1


def test_backoff_grows_while_the_server_refuses_then_resets_once_stable() -> None:
    loop = Loop(config(cap=4, stable_after=20.0), sim_config(), seed=3)
    loop.refuse_next = 4
    loop.subscribe(DEALS[:1])
    loop.subscribe(DEALS[1:2])  # joins the waiting link
    loop.run_for(60.0)
    downs = [e for e in loop.of(LinkDisconnected) if isinstance(e, LinkDisconnected)]
    assert [d.cause for d in downs] == [DisconnectCause.CONNECT_FAILED] * 4
    ceilings = [Backoff().ceiling(n) for n in range(4)]
    assert all(
        d.retry_in is not None and d.retry_in <= c for d, c in zip(downs, ceilings, strict=True)
    )
    (link,) = loop.pool.links()
    assert link.state is LinkState.OPEN
    assert link.failures == 4
    loop.sim.queue_faults(Faults(reset_after=1.0))
    # a failure after a stable period starts from the first delay again
    loop.pool.transport_failed(link.cid or 0, loop.now, "gone", kind=FailureKind.TRANSIENT)
    loop.settle()
    (link,) = loop.pool.links()
    assert link.failures == 1
    last = downs[-1]
    assert last.link == 1


def test_tls_verification_failures_wait_long() -> None:
    loop = Loop(config(), sim_config())
    loop.hold_open = True
    loop.subscribe(DEALS[:1])
    (intent,) = loop.pending_opens
    loop.pool.transport_failed(
        intent.cid, loop.now, "certificate verify failed", kind=FailureKind.TLS_VERIFICATION
    )
    loop.settle()
    (down,) = loop.of(LinkDisconnected)
    assert isinstance(down, LinkDisconnected)
    assert down.cause is DisconnectCause.CONNECT_FAILED
    assert down.retry_in is not None
    assert down.retry_in >= Backoff().configuration_pause / 2
    # late reports about a transport the pool let go are ignored
    loop.pool.transport_failed(intent.cid, loop.now, "again")
    loop.pool.transport_opened(intent.cid, loop.now)
    loop.pool.receive_data(intent.cid, b"junk", loop.now)
    assert loop.pool.data_to_send(intent.cid) == b""
    assert len(loop.of(LinkDisconnected)) == 1


def test_an_open_that_takes_too_long_is_aborted_and_retried() -> None:
    loop = Loop(config(open_timeout=3.0), sim_config())
    loop.hold_open = True
    loop.subscribe(DEALS[:1])
    loop.run_for(3.5)
    (down,) = loop.of(LinkDisconnected)
    assert isinstance(down, LinkDisconnected)
    assert down.cause is DisconnectCause.CONNECT_FAILED
    assert "3 s" in down.reason
    loop.hold_open = False
    loop.run_for(5.0)
    assert loop.pool.is_carried(DEALS[0])
    # the first transport was never answered: its late open is ignored
    loop.pool.transport_opened(loop.pending_opens[0].cid, loop.now)


@pytest.mark.parametrize(("status", "refused"), [(404, True), (429, False), (503, False)])
def test_refused_upgrades(status: int, *, refused: bool) -> None:
    loop = Loop(config(), sim_config())
    loop.sim.queue_faults(Faults(handshake_status=status))
    loop.subscribe(DEALS[:2])
    loop.run_for(1.0)
    (down,) = loop.of(LinkDisconnected)
    assert isinstance(down, LinkDisconnected)
    assert down.cause is DisconnectCause.HANDSHAKE_REJECTED
    assert f"HTTP {status}" in down.reason
    if refused:
        assert down.retry_in is None
        (rejected,) = loop.of(TopicsRejected)
        assert isinstance(rejected, TopicsRejected)
        assert rejected.cause is FailureCause.CONNECTION_REFUSED
        assert rejected.topics == tuple(DEALS[:2])
        assert loop.pool.links() == ()
        assert loop.pool.topics == ()
    elif status == 429:
        assert down.retry_in is not None
        assert down.retry_in >= 10.0  # the simulator's Retry-After
    else:
        assert down.retry_in is not None
        assert down.retry_in < 1.0
        loop.run_for(2.0)
        assert loop.pool.is_carried(DEALS[0])


def test_protocol_errors_fail_the_link() -> None:
    loop = Loop(config(), sim_config())
    loop.subscribe(DEALS[:1])
    loop.run_for(1.0)
    (link,) = loop.pool.links()
    assert link.cid is not None
    # an unmasked frame with a reserved opcode: an RFC 6455 violation
    loop.pool.receive_data(link.cid, b"\x83\x00", loop.now)
    closes = [i for i in loop.pool.intents() if isinstance(i, CloseTransport)]
    assert closes
    assert closes[0].data.startswith(b"\x88")  # our close frame goes out first
    loop.wires.pop(link.cid)
    loop.settle()
    (down,) = loop.of(LinkDisconnected)
    assert isinstance(down, LinkDisconnected)
    assert down.cause is DisconnectCause.PROTOCOL_ERROR
    assert "WebSocketError" in down.reason


def test_an_oversized_frame_fails_the_link() -> None:
    loop = Loop(config(max_message_size=1024 * 1024), sim_config())
    loop.sim.queue_faults(Faults(oversize_at=frozenset({3})))
    loop.subscribe(DEPTHS[:1])
    loop.run_for(5.0)
    downs = [e for e in loop.of(LinkDisconnected) if isinstance(e, LinkDisconnected)]
    assert downs[0].cause is DisconnectCause.PROTOCOL_ERROR
    assert "MessageTooBig" in downs[0].reason
    assert loop.pool.is_carried(DEPTHS[0])


def test_events_read_before_a_protocol_error_are_handled() -> None:
    """A rejection and a broken frame in one read: the rejection retires the link first."""
    loop = Loop(config(), sim_config())
    loop.hold_open = True
    loop.subscribe(DEALS[:1])
    (intent,) = loop.pending_opens
    # answer the upgrade by hand, then send a rejection and a bad frame at once
    wire = loop.sim.connect(0.0)
    loop.pool.transport_opened(intent.cid, 0.0)
    wire.receive_data(loop.pool.data_to_send(intent.cid), 0.0)
    loop.pool.receive_data(intent.cid, wire.data_to_send(), 0.0)
    loop.pool.data_to_send(intent.cid)
    server = FrameProtocol(client=False, extensions=[])
    reply = '{"id":0,"code":0,"msg":"Not Subscribed successfully! [%s].  Reason： Blocked! "}'
    frames = server.send_data(reply % DEALS[0], fin=True) + b"\x83\x00"
    loop.pool.receive_data(intent.cid, frames, 0.0)
    loop.settle()
    assert [type(e).__name__ for e in loop.events][-2:] == [
        "TopicsRejected",
        "LinkDisconnected",
    ] or (kinds(loop)["TopicsRejected"] == 1)
    assert loop.pool.links() == ()
    assert isinstance(loop.pool.intents(), list)


# ---------------------------------------------------------------- subscriptions


def test_a_rejected_topic_is_reported_and_forgotten() -> None:
    loop = Loop(config(), sim_config())
    bad = "spot@public.aggre.deals.v3.api.pb@100ms@NOPEUSDT"
    loop.subscribe([DEALS[0], bad])
    loop.run_for(1.0)
    (rejected,) = loop.of(TopicsRejected)
    assert isinstance(rejected, TopicsRejected)
    assert rejected.topics == (bad,)
    assert rejected.cause is FailureCause.REJECTED
    assert rejected.reason == "Blocked!"
    assert loop.pool.topics == (DEALS[0],)
    # alone on its link, a rejected topic leaves nothing to carry: the link closes
    loop.subscribe([bad])
    loop.unsubscribe([DEALS[0]])
    loop.run_for(1.0)
    assert loop.pool.links() == ()
    assert not loop.pool.topics


def test_an_unanswered_subscription_reconnects_and_subscribes_again() -> None:
    session = SessionConfig(max_subscriptions=5, max_topics_per_request=1, ack_timeout=2.0)
    loop = Loop(config(session=session), sim_config())
    loop.sim.queue_faults(Faults(blackhole_after=0.5))
    loop.subscribe(DEALS[:1])
    loop.run_for(1.0)
    # two requests, unanswered, time out together
    loop.subscribe(DEALS[1:3])
    loop.run_for(2.5)
    (down,) = loop.of(LinkDisconnected)
    assert isinstance(down, LinkDisconnected)
    assert down.cause is DisconnectCause.ACK_TIMEOUT
    assert down.retry_in is not None
    # nothing is given up: every topic stays wanted and is subscribed again
    loop.run_for(2.0)
    assert not loop.of(TopicsRejected)
    assert loop.pool.topics == tuple(DEALS[:3])
    assert all(loop.pool.is_carried(topic) for topic in DEALS[:3])


def test_a_topic_survives_a_reconnect_that_never_acknowledges() -> None:
    """A reset after 2 s, then a connection that opens and goes half-open before it
    acknowledges: the topic stays wanted, and the next, healthy connection carries it
    (it used to be reported rejected and forgotten for good)."""
    loop = Loop(config(), sim_config())
    loop.sim.queue_faults(Faults(reset_after=2.0))
    loop.subscribe(DEALS[:1])
    loop.run_for(2.0)
    loop.deaf.add(max(loop.opened) + 1)  # the reconnect opens, then hears nothing
    loop.run_for(60.0)
    assert not loop.of(TopicsRejected)
    downs = [e for e in loop.of(LinkDisconnected) if isinstance(e, LinkDisconnected)]
    assert [d.cause for d in downs] == [DisconnectCause.LOST, DisconnectCause.ACK_TIMEOUT]
    assert loop.pool.topics == (DEALS[0],)
    assert loop.pool.is_carried(DEALS[0])
    (gap,) = loop.of(GapDetected)
    assert isinstance(gap, GapDetected)
    assert gap.topics == (DEALS[0],)
    last_connect = max(i for i, e in enumerate(loop.events) if isinstance(e, LinkConnected))
    assert any(isinstance(e, Push) for e in loop.events[last_connect:])


def test_unsubscribing_closes_empty_links_and_consolidates() -> None:
    loop = Loop(config(cap=3), sim_config())
    loop.subscribe(DEALS[:7])
    loop.run_for(2.0)
    assert [len(link.topics) for link in loop.pool.links()] == [3, 3, 1]
    assert loop.pool.unsubscribe(
        [DEALS[6], "spot@public.kline.v3.api.pb@BTCUSDT@Min5"], loop.now
    ) == (DEALS[6],)
    loop.run_for(1.0)
    assert [len(link.topics) for link in loop.pool.links()] == [3, 3]
    retired = [e for e in loop.of(LinkDisconnected) if isinstance(e, LinkDisconnected)]
    assert [(e.link, e.cause) for e in retired] == [(3, DisconnectCause.RETIRED)]
    # 2 + 2 topics do not fit in one link of 3: nothing moves
    loop.unsubscribe([DEALS[0], DEALS[3]])
    loop.run_for(5.0)
    links = loop.pool.links()
    assert [(link.link, len(link.topics)) for link in links] == [(1, 2), (2, 2)]
    # 1 + 2 do: the link with fewer topics gives them away, make-before-break
    loop.unsubscribe([DEALS[1]])
    loop.run_for(5.0)
    links = loop.pool.links()
    assert [(link.link, sorted(link.topics)) for link in links] == [
        (2, sorted([DEALS[2], DEALS[4], DEALS[5]]))
    ]
    for topic in (DEALS[2], DEALS[4], DEALS[5]):
        assert_contiguous(trade_ids(loop, topic))
    assert not loop.of(GapDetected)


def test_unsubscribing_before_the_link_is_up() -> None:
    loop = Loop(config(), sim_config())
    loop.hold_open = True
    loop.subscribe(DEALS[:1])
    loop.unsubscribe(DEALS[:1])
    assert loop.pool.links() == ()
    intents = loop.pool.intents()
    assert all(isinstance(i, AbortTransport) for i in intents)
    # and while waiting for a retry
    loop.hold_open = False
    loop.refuse_next = 1
    loop.subscribe(DEALS[:1])
    assert loop.pool.links()[0].state is LinkState.WAITING
    loop.unsubscribe(DEALS[:1])
    assert loop.pool.links() == ()
    assert loop.pool.next_deadline() is None


def test_duplicates_and_strays_are_counted_and_dropped() -> None:
    loop = Loop(config(), sim_config())
    loop.sim.queue_faults(
        Faults(
            depth_duplicate_at=frozenset({2, 4}),
            unknown_channel_at=frozenset({3}),
            garbage_at=frozenset({5}),
        )
    )
    loop.subscribe(DEPTHS[:1])
    loop.run_for(5.0)
    assert loop.pool.stats.duplicates == 2
    assert loop.pool.stats.strays == {StrayReason.UNKNOWN_CHANNEL: 1}
    assert len(loop.of(StrayPushReceived)) == 1
    assert loop.pool.stats.unwanted == 0
    assert loop.of(FrameRejected)
    versions = [int(p.body.to_version) for p in loop.pushes(DEPTHS[0])]  # type: ignore[union-attr]
    assert versions == sorted(set(versions))


def test_without_dedup_duplicates_pass() -> None:
    loop = Loop(config(dedup=False), sim_config())
    loop.sim.queue_faults(Faults(depth_duplicate_at=frozenset({2})))
    loop.subscribe(DEPTHS[:1])
    loop.run_for(3.0)
    versions = [p.body.to_version for p in loop.pushes(DEPTHS[0])]  # type: ignore[union-attr]
    assert len(versions) == len(set(versions)) + 1


# ---------------------------------------------------------------- rotation


def rotating(switch_timeout: float = 10.0, *, dedup: bool = True, max_held: int = 10_000) -> Loop:
    # MEXC's 23 h / 24 h, scaled down to 30 s / 40 s
    session = SessionConfig(max_subscriptions=5, rotate_after=30.0, idle_timeout=None)
    return Loop(
        config(session=session, switch_timeout=switch_timeout, dedup=dedup, max_held=max_held),
        sim_config(rules=WsRules(max_age=40.0)),
    )


@pytest.mark.parametrize(
    "newest_first", [False, True], ids=["old-socket-first", "new-socket-first"]
)
def test_rotation_before_the_cut_off_is_make_before_break(*, newest_first: bool) -> None:
    loop = rotating()
    loop.newest_first = newest_first
    loop.subscribe(DEALS + DEPTHS[:2])
    loop.run_for(45.0)
    rotated = [e for e in loop.of(LinkRotated) if isinstance(e, LinkRotated)]
    assert [(r.old, r.new) for r in rotated] == [(1, 3), (2, 4)]
    assert all(30.0 <= r.age < 30.0 + 5.0 for r in rotated)
    assert not loop.of(GapDetected)
    assert not [
        e
        for e in loop.of(LinkDisconnected)
        if isinstance(e, LinkDisconnected) and e.cause is not DisconnectCause.RETIRED
    ]
    for topic in DEALS:
        assert_contiguous(trade_ids(loop, topic))  # no gap, no duplicate
    for topic in DEPTHS[:2]:
        pushes = loop.pushes(topic)
        for before, after in itertools.pairwise(pushes):
            assert int(after.body.from_version) == int(before.body.to_version) + 1  # type: ignore[union-attr]
    assert loop.pool.stats.duplicates > 0
    assert loop.pool.stats.rotations == 2


def test_without_dedup_a_rotation_switches_after_the_timeout() -> None:
    loop = rotating(switch_timeout=3.0, dedup=False)
    loop.subscribe(DEPTHS[:1])
    loop.run_for(38.0)
    (rotated,) = loop.of(LinkRotated)
    assert isinstance(rotated, LinkRotated)
    assert rotated.age == pytest.approx(33.0)
    versions = [p.body.to_version for p in loop.pushes(DEPTHS[0])]  # type: ignore[union-attr]
    assert len(versions) > len(set(versions))  # the overlap, twice


def test_a_new_home_holds_back_only_so_much() -> None:
    loop = rotating(max_held=1)
    loop.newest_first = True
    loop.subscribe(DEPTHS[:1])
    loop.run_for(38.0)
    assert loop.of(LinkRotated)
    with pytest.raises(InvalidConfig):
        PoolConfig(max_held=0)


def test_a_quiet_topic_switches_after_the_timeout() -> None:
    loop = rotating(switch_timeout=3.0)
    quiet = "spot@public.miniTicker.v3.api.pb@BTCUSDT@UTC+8"
    loop.subscribe([quiet])
    loop.run_for(38.0)
    (rotated,) = loop.of(LinkRotated)
    assert isinstance(rotated, LinkRotated)
    assert rotated.age >= 30.0


def test_the_old_link_dying_during_a_rotation_is_a_gap_only_if_nothing_carries() -> None:
    loop = rotating()
    loop.hold_open = True
    loop.subscribe(DEALS[:2])
    (first,) = loop.pending_opens
    loop.pending_opens.clear()
    loop.hold_open = False
    loop.wires[first.cid] = loop.sim.connect(0.0)
    loop.pool.transport_opened(first.cid, 0.0)
    loop.run_until(30.5)
    assert len(loop.pool.links()) == 2
    # the replacement is up and carrying: killing the old link loses nothing
    old = loop.pool.links()[0]
    assert old.state is LinkState.DRAINING
    loop.pool.transport_failed(first.cid, loop.now, "reset")
    loop.settle()
    loop.run_for(5.0)
    assert not loop.of(GapDetected)
    (rotated,) = loop.of(LinkRotated)  # complete: the replacement carried everything
    assert isinstance(rotated, LinkRotated)
    assert [link.link for link in loop.pool.links()] == [2]


def test_a_rotation_whose_replacement_cannot_connect_keeps_the_old_link() -> None:
    loop = rotating()
    loop.subscribe(DEALS[:2])
    loop.run_until(29.0)
    loop.refuse_next = 3
    loop.run_until(31.5)
    links = loop.pool.links()
    assert links[0].state is LinkState.DRAINING
    assert set(links[0].carried) == set(DEALS[:2])  # still delivering meanwhile
    assert links[1].state is LinkState.WAITING
    loop.run_until(45.0)
    assert loop.of(LinkRotated)
    for topic in DEALS[:2]:
        assert_contiguous(trade_ids(loop, topic))


# ---------------------------------------------------------------- private links


def side_of(loop: Loop) -> PrivateSide:
    return loop.pool.private_side  # read anew each time (mypy would narrow an attribute)


def account(loop: Loop) -> object:
    return loop.sim.exchange.accounts[loop.sim.config.exchange.api_key]


def test_private_links_follow_the_listen_key() -> None:
    loop = Loop(config(), sim_config(), private=True)
    loop.subscribe([ORDERS, DEALS[0]])
    loop.run_for(1.0)
    private = [link for link in loop.pool.links() if link.private]
    assert private[0].state is LinkState.PARKED  # no key yet
    assert private[0].retry_at is None
    assert side_of(loop) is PrivateSide.AWAITING_KEY
    key = loop.sim.exchange.create_listen_key(account(loop), loop.now)  # type: ignore[arg-type]
    loop.pool.set_listen_key(key, loop.now)
    loop.pool.set_listen_key(key, loop.now)  # the same: nothing to do
    assert side_of(loop) is PrivateSide.KEYED
    loop.run_for(1.0)
    assert loop.pool.is_carried(ORDERS)
    # MEXC invalidates the key: "Invalid listen key", then a close
    loop.sim.exchange.expire_listen_key(key, loop.now)
    loop.run_for(0.5)
    assert loop.of(ListenKeyInvalidated)
    assert not loop.pool.is_carried(ORDERS)
    assert side_of(loop) is PrivateSide.AWAITING_KEY
    assert loop.pool.listen_key is None
    loop.pool.set_listen_key(None, loop.now)
    loop.run_for(3.0)
    new = loop.sim.exchange.create_listen_key(account(loop), loop.now)  # type: ignore[arg-type]
    loop.pool.set_listen_key(new, loop.now)
    loop.run_for(2.0)
    assert loop.pool.is_carried(ORDERS)
    (gap,) = [g for g in loop.of(GapDetected) if isinstance(g, GapDetected)]
    assert gap.topics == (ORDERS,)
    assert loop.pool.is_carried(DEALS[0])


def test_a_replaced_key_reconnects_a_live_private_link() -> None:
    loop = Loop(config(), sim_config())
    key = loop.sim.exchange.create_listen_key(account(loop), 0.0)  # type: ignore[arg-type]
    loop.pool.set_listen_key(key, 0.0)
    loop.subscribe([ORDERS])
    loop.run_for(1.0)
    assert loop.pool.is_carried(ORDERS)
    new = loop.sim.exchange.create_listen_key(account(loop), loop.now)  # type: ignore[arg-type]
    loop.pool.set_listen_key(new, loop.now)
    loop.run_for(1.0)
    downs = [e for e in loop.of(LinkDisconnected) if isinstance(e, LinkDisconnected)]
    assert [(d.cause, d.retry_in) for d in downs] == [(DisconnectCause.LISTEN_KEY, 0.0)]
    assert loop.pool.is_carried(ORDERS)
    assert loop.pool.links()[0].failures == 0
    # while connecting, a new key aborts the attempt
    loop.hold_open = True
    loop.pool.set_listen_key(loop.sim.exchange.create_listen_key(account(loop), loop.now), loop.now)  # type: ignore[arg-type]
    loop.settle()
    loop.pool.set_listen_key(loop.sim.exchange.create_listen_key(account(loop), loop.now), loop.now)  # type: ignore[arg-type]
    aborts = [i for i in loop.pool.intents() if isinstance(i, AbortTransport)]
    assert len(aborts) <= 1


# ---------------------------------------------------------------- closing


def test_close_ends_every_link_cleanly() -> None:
    loop = Loop(config(cap=2), sim_config())
    loop.refuse_next = 0
    loop.subscribe(DEALS[:5])
    loop.run_for(1.0)
    loop.hold_open = True
    loop.pool.transport_failed(loop.pool.links()[2].cid or 0, loop.now, "gone")  # link 3 waits
    loop.pool.close(loop.now)
    loop.pool.close(loop.now)
    assert loop.pool.closed
    with pytest.raises(MexcStateError):
        loop.pool.subscribe(DEALS[:1], loop.now)
    with pytest.raises(MexcStateError):
        loop.pool.unsubscribe(DEALS[:1], loop.now)
    assert (loop.pool.finished, loop.pool.closed) == (False, True)
    loop.run_for(1.0)
    assert loop.pool.finished
    retired = [
        e
        for e in loop.of(LinkDisconnected)
        if isinstance(e, LinkDisconnected) and e.cause is DisconnectCause.RETIRED
    ]
    assert sorted(e.link for e in retired) == [1, 2]
    assert loop.wires == {}


def test_links_snapshot_and_intents() -> None:
    loop = Loop(config(), sim_config())
    loop.pool.subscribe(DEALS[:1], 0.0)
    (intent,) = loop.pool.intents()
    assert isinstance(intent, OpenTransport)
    (link,) = loop.pool.links()
    assert link.state is LinkState.OPENING
    assert link.cid == intent.cid
    assert loop.pool.next_deadline() == PoolConfig().open_timeout
    assert loop.pool.next_event() is None
    states = [loop.pool.state]
    assert repr(loop.pool._links[link.link]) == "<Link 1 OPENING topics=1>"
    loop.pool.close(0.0)
    states.append(loop.pool.state)
    assert states == [PoolState.RUNNING, PoolState.CLOSED]
    pool = ConnectionPool(rng=random.Random(0))
    assert pool.config.host == "wbs-api.mexc.com"


# ---------------------------------------------------------------- races


def test_replies_for_topics_given_up_meanwhile_are_ignored() -> None:
    loop = Loop(config(), sim_config())
    loop.subscribe(DEALS[:2])
    loop.run_for(1.0)
    bad = "spot@public.aggre.deals.v3.api.pb@100ms@NOPEUSDT"
    # asked for and given up in one instant: the ack and the rejection still come
    loop.pool.subscribe([DEALS[2], bad], loop.now)
    loop.pool.unsubscribe([DEALS[2], bad], loop.now)
    loop.settle()
    loop.run_for(1.0)
    assert kinds(loop) == {"LinkConnected": 1, "TopicsSubscribed": 1}
    assert loop.pool.topics == tuple(DEALS[:2])
    assert loop.pool.unsubscribe(["spot@public.kline.v3.api.pb@BTCUSDT@Min5"], loop.now) == ()


def test_closing_while_a_link_is_already_closing() -> None:
    loop = Loop(config(), sim_config())
    loop.subscribe(DEALS[:1])
    loop.run_for(1.0)
    loop.pool.unsubscribe(DEALS[:1], loop.now)  # the link starts its close handshake
    loop.pool.close(loop.now)
    loop.run_for(1.0)
    assert loop.pool.finished


def test_set_listen_key_to_none_leaves_waiting_links_waiting() -> None:
    loop = Loop(config(), sim_config(), listen_key="k" * 64)
    loop.refuse_next = 1
    loop.subscribe([ORDERS])
    (link,) = loop.pool.links()
    assert link.state is LinkState.WAITING
    loop.pool.set_listen_key(None, loop.now)
    (link,) = loop.pool.links()
    assert link.state is LinkState.WAITING
    loop.run_for(5.0)
    assert loop.pool.links()[0].retry_at is None  # waiting for a key now


def test_a_giving_link_that_reaches_rotation_age_just_finishes() -> None:
    """Consolidation towards a link that went silent, when rotation is due."""
    session = SessionConfig(max_subscriptions=3, rotate_after=40.0, idle_timeout=None)
    loop = Loop(config(session=session), sim_config(rules=WsRules(max_age=1000.0)))
    loop.subscribe(DEALS[:5])  # [0, 1, 2] [3, 4]
    loop.run_until(36.0)
    loop.unsubscribe([DEALS[0]])  # acked: 2 + 2 do not fit in 3
    assert [len(link.topics) for link in loop.pool.links()] == [2, 2]
    loop.muted.add(loop.pool.links()[0].cid or 0)  # link 1 goes half-open
    loop.unsubscribe([DEALS[4]])  # link 2 gives DEALS[3] to link 1, which never answers
    loop.run_until(39.0)
    states = {link.link: link for link in loop.pool.links()}
    assert states[2].state is LinkState.DRAINING
    assert states[2].leaving == (DEALS[3],)
    # at 40 both reach rotation age: link 2 just goes on giving; link 1's
    # replacement takes DEALS[3] from both and aligns with link 2's stream
    loop.run_until(75.0)
    assert not loop.of(GapDetected)
    assert_contiguous(trade_ids(loop, DEALS[3]))
    final = loop.pool.links()
    assert all(link.state is LinkState.OPEN for link in final)
    assert sorted(t for link in final for t in link.carried) == sorted(DEALS[1:4])


def test_consolidation_can_be_turned_off() -> None:
    loop = Loop(config(cap=2, consolidate=False), sim_config())
    loop.subscribe(DEALS[:3])
    loop.run_for(1.0)
    loop.unsubscribe(DEALS[:1])
    loop.run_for(1.0)
    assert [link.topics for link in loop.pool.links()] == [(DEALS[1],), (DEALS[2],)]


def test_a_rotation_completed_by_the_cut_off_counts_when_nothing_was_missed() -> None:
    loop = rotating(switch_timeout=30.0, dedup=False)  # no alignment: switch on time only
    loop.subscribe(DEPTHS[:1])
    loop.run_for(45.0)
    (rotated,) = loop.of(LinkRotated)
    assert isinstance(rotated, LinkRotated)
    assert rotated.age == pytest.approx(40.0)  # the simulator's "24 h"
    assert not loop.of(GapDetected)


def test_the_old_link_dying_before_the_replacement_is_up_is_a_gap() -> None:
    loop = rotating()
    loop.subscribe(DEALS[:2])
    loop.run_until(29.5)
    loop.hold_open = True  # the replacement's transport does not come up
    loop.run_until(30.5)
    old = loop.pool.links()[0]
    assert old.state is LinkState.DRAINING
    loop.pool.transport_failed(old.cid or 0, loop.now, "reset")
    loop.hold_open = False
    loop.run_for(15.0)  # the replacement times out its open and retries
    assert not loop.of(LinkRotated)
    (gap,) = loop.of(GapDetected)
    assert isinstance(gap, GapDetected)
    assert set(gap.topics) == set(DEALS[:2])


def test_a_protocol_error_after_too_many_bad_frames_ends_the_link_once() -> None:
    """The bad frames already failed the link when the violation is seen."""
    session = SessionConfig(max_subscriptions=5, max_consecutive_bad_frames=2)
    loop = Loop(config(session=session), sim_config())
    loop.subscribe(DEALS[:1])
    loop.run_for(1.0)
    (link,) = loop.pool.links()
    assert link.cid is not None
    garbage = b"\x82\x03\xff\xff\xff"  # a binary frame that is no protobuf push
    # ... twice, then an unmasked frame with a reserved opcode, in one read
    loop.pool.receive_data(link.cid, garbage * 2 + b"\x83\x00", loop.now)
    loop.settle()
    downs = [e for e in loop.of(LinkDisconnected) if isinstance(e, LinkDisconnected)]
    assert [d.cause for d in downs] == [DisconnectCause.UNHEALTHY]
    loop.run_for(2.0)
    assert loop.pool.is_carried(DEALS[0])


def test_a_link_failing_during_another_links_hand_over_leaves_it_alone() -> None:
    loop = Loop(config(cap=3), sim_config())
    loop.subscribe(DEALS[:8])  # [0 1 2] [3 4 5] [6 7]
    loop.run_for(2.0)
    loop.unsubscribe(DEALS[:2])  # link 1 keeps DEALS[2] alone: it moves to link 3
    handovers = loop.pool._handovers  # the hand-over in flight
    assert [(h.topic, h.target) for h in handovers.values()] == [(DEALS[2], 3)]
    cid = {link.link: link.cid for link in loop.pool.links()}[2]
    assert cid is not None
    loop.pool.transport_failed(cid, loop.now, "reset")  # link 2, not part of it
    assert [(h.topic, h.target) for h in handovers.values()] == [(DEALS[2], 3)]
    loop.run_for(10.0)
    assert not handovers
    assert_contiguous(trade_ids(loop, DEALS[2]))
    gaps = [e for e in loop.of(GapDetected) if isinstance(e, GapDetected)]
    assert [set(g.topics) for g in gaps] == [set(DEALS[3:6])]


def test_stray_pushes_are_counted_per_reason_and_passed_on_never_delivered() -> None:
    loop = Loop(config(), sim_config())
    loop.sim.queue_faults(
        Faults(
            unknown_body_at=frozenset({2}),
            foreign_body_at=frozenset({3}),
            unknown_channel_at=frozenset({4}),
            unheld_topic_at=frozenset({5}),
        )
    )
    held = [DEPTHS[0], DEALS[0]]
    loop.subscribe(held)
    loop.run_for(5.0)
    strays = [e for e in loop.of(StrayPushReceived) if isinstance(e, StrayPushReceived)]
    assert [e.reason for e in strays] == [
        StrayReason.UNKNOWN_BODY,
        StrayReason.FOREIGN_BODY,
        StrayReason.UNKNOWN_CHANNEL,
        StrayReason.NOT_HELD,
    ]
    assert strays[0].topic in held
    assert strays[1].topic in held
    assert strays[3].topic.endswith("@STRAYUSDT")
    assert loop.pool.stats.strays == dict.fromkeys(StrayReason, 1)
    assert loop.pool.stats.unwanted == 0
    pushes = loop.pushes()
    assert len(pushes) == loop.pool.stats.pushes
    assert {p.channel for p in pushes} == set(held)
    for push in pushes:
        assert wire.stray_reason(push) is None
    # the deduplicator never saw the strays: they are neither duplicates nor admitted
    assert loop.pool.dedup.stats.admitted == len(pushes)
