"""Gap signals: rejected frames and mismatched bodies as gaps, one report per outage,
the per-topic silence watchdog, unconfirmed topics unsubscribed on the wire, and
PING timing from the write (docs/faults.rst sections 2, 6 and 7).

All in the sans-IO core on virtual time, against the simulator in memory.
"""

from __future__ import annotations

import itertools
import runpy
from pathlib import Path

import pytest

from mexc_core import wire
from mexc_core.channels import CHANNELS
from mexc_core.client.pool import PoolConfig, TopicState
from mexc_core.client.silence import DEFAULT_SILENCE, silence_limit
from mexc_core.connection import Connection, ConnectionState
from mexc_core.errors import DecodeError, InvalidConfig
from mexc_core.events import (
    FrameRejected,
    GapCause,
    GapDetected,
    HealthCheckFailed,
    LinkDisconnected,
    PongReceived,
    Push,
    StrayPushReceived,
    StrayReason,
    TopicSilent,
)
from mexc_core.messages import PublicAggreDealsV3Api, PublicAggreDealsV3ApiItem
from mexc_core.session import Session, SessionConfig, SubscriptionState
from mexc_core.testing.harness import Loop
from mexc_sim.exchange import ExchangeConfig, default_markets
from mexc_sim.faults import Faults
from mexc_sim.protocol import SimConfig, Simulator

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"
MARKETS = default_markets(4)
SYMBOLS = [m.symbol for m in MARKETS]
DEALS = [f"spot@public.aggre.deals.v3.api.pb@100ms@{s}" for s in SYMBOLS]
DEPTHS = [f"spot@public.aggre.depth.v3.api.pb@100ms@{s}" for s in SYMBOLS]
KLINES = [f"spot@public.kline.v3.api.pb@{s}@Min1" for s in SYMBOLS]


def pool_config(**kwargs: object) -> PoolConfig:
    session = kwargs.pop("session", None) or SessionConfig(max_subscriptions=10)
    return PoolConfig(host="127.0.0.1", session=session, **kwargs)  # type: ignore[arg-type]


def sim_config(**kwargs: object) -> SimConfig:
    return SimConfig(exchange=ExchangeConfig(markets=MARKETS), **kwargs)  # type: ignore[arg-type]


def gaps(loop: Loop) -> list[GapDetected]:
    return [e for e in loop.events if isinstance(e, GapDetected)]


def deal_push(topic: str, n: int) -> bytes:
    body = PublicAggreDealsV3Api(
        deals=(PublicAggreDealsV3ApiItem(price="1.5", quantity="1", trade_type=1, time=n),),
        event_type=topic.rsplit("@", 1)[0],
    )
    return wire.encode_push(topic, body, symbol=topic.rsplit("@", 1)[1], send_time=n)


# ---------------------------------------------------------------- peeking the channel


def test_the_channel_is_read_from_a_frame_that_does_not_decode() -> None:
    frame = deal_push(DEALS[0], 1)
    assert wire.peek_channel(frame) == DEALS[0]
    with pytest.raises(DecodeError):
        wire.decode_push(frame[: len(frame) - 3])
    assert wire.peek_channel(frame[: len(frame) - 3]) == DEALS[0]
    # other fields of every wire type before it are skipped
    head = b"\x38\x01" + b"\x39" + bytes(8) + b"\x3d" + bytes(4) + b"\x42\x02ab"
    assert wire.peek_channel(head + frame) == DEALS[0]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x0a\xff\x01" + bytes(13),  # the simulator's garbage: a length past the end
        b"\x0a\x02\xff\xfe",  # not UTF-8
        b"\x0b\x00",  # a group: no wrapper has one
        b"\x80",  # the tag never ends
        b"\x38\x80",  # a varint value that never ends
        b"\x0a\x80",  # a length that never ends
        b"\x42\x02ab",  # a whole frame without a channel
    ],
)
def test_no_channel_is_read_where_none_is_whole(data: bytes) -> None:
    assert wire.peek_channel(data) is None


def test_a_rejected_binary_frame_names_its_channel_and_a_text_frame_none() -> None:
    session = Session(SessionConfig())
    session.start(0.0)
    frame = deal_push(DEALS[0], 1)
    session.receive_binary(frame[:-3], 0.1)
    session.receive_text("{not json", 0.2)
    rejected = [e for e in session.events() if isinstance(e, FrameRejected)]
    assert [e.channel for e in rejected] == [DEALS[0], None]


# ---------------------------------------------------------------- rejected frames are gaps


def test_a_truncated_frame_is_a_gap_of_the_topic_it_names() -> None:
    loop = Loop(pool_config(), sim_config(faults=Faults(truncate_at={40})))
    loop.subscribe(DEALS[:2])
    loop.run_for(30.0)
    rejected = [e for e in loop.events if isinstance(e, FrameRejected)]
    assert len(rejected) == 1
    assert rejected[0].channel in DEALS[:2]
    found = gaps(loop)
    assert [(g.topics, g.cause) for g in found] == [
        ((rejected[0].channel,), GapCause.FRAME_REJECTED)
    ]
    # reported right after the rejection, before any later push
    at = loop.events.index(rejected[0])
    assert loop.events[at + 1] is found[0]
    assert found[0].started_at == found[0].ended_at
    assert loop.pool.stats.gaps == 1


def test_an_unreadable_frame_is_a_gap_of_every_topic_its_link_carries() -> None:
    loop = Loop(pool_config(), sim_config(faults=Faults(garbage_at={40})))
    loop.subscribe(DEALS[:3])
    loop.run_for(30.0)
    rejected = [e for e in loop.events if isinstance(e, FrameRejected)]
    assert [e.channel for e in rejected] == [None]
    assert [(g.topics, g.cause) for g in gaps(loop)] == [
        (tuple(sorted(DEALS[:3])), GapCause.FRAME_REJECTED)
    ]


def test_a_mismatched_body_on_a_carried_topic_is_a_gap_and_an_unheld_topic_is_not() -> None:
    faults = Faults(unknown_body_at={5}, foreign_body_at={10}, unheld_topic_at={15})
    loop = Loop(pool_config(), sim_config(faults=faults))
    loop.subscribe(DEALS[:1])
    loop.run_for(60.0)
    strays = [e for e in loop.events if isinstance(e, StrayPushReceived)]
    assert [e.reason for e in strays] == [
        StrayReason.UNKNOWN_BODY,
        StrayReason.FOREIGN_BODY,
        StrayReason.NOT_HELD,
    ]
    assert [(g.topics, g.cause) for g in gaps(loop)] == [((DEALS[0],), GapCause.BODY_MISMATCH)] * 2


def test_a_push_on_an_unknown_channel_is_a_gap_of_every_topic_its_link_carries() -> None:
    loop = Loop(pool_config(), sim_config(faults=Faults(unknown_channel_at={12})))
    loop.subscribe(DEALS[:2])
    loop.run_for(60.0)
    strays = [e for e in loop.events if isinstance(e, StrayPushReceived)]
    assert [e.reason for e in strays] == [StrayReason.UNKNOWN_CHANNEL]
    found = gaps(loop)
    assert [(sorted(g.topics), g.cause) for g in found] == [
        (sorted(DEALS[:2]), GapCause.UNKNOWN_CHANNEL)
    ]
    assert loop.events.index(found[0]) == loop.events.index(strays[0]) + 1


def test_signals_of_one_outage_are_folded_until_data_flows_again() -> None:
    # three bad frames in a row on one topic, then data, then one more
    loop = Loop(pool_config(), sim_config(faults=Faults(truncate_at={5, 6, 7, 15})))
    loop.subscribe(DEALS[:1])
    loop.run_for(60.0)
    assert len([e for e in loop.events if isinstance(e, FrameRejected)]) == 4
    found = gaps(loop)
    assert [(g.topics, g.cause) for g in found] == [((DEALS[0],), GapCause.FRAME_REJECTED)] * 2
    assert loop.pool.stats.gaps_folded == 2
    # a push was delivered between the two reports
    first, second = (loop.events.index(g) for g in found)
    assert any(isinstance(e, Push) for e in loop.events[first:second])


def test_a_depth_break_after_a_rejected_frame_is_the_same_outage() -> None:
    loop = Loop(pool_config(), sim_config(faults=Faults(truncate_at={30})))
    loop.subscribe(DEPTHS[:1])
    loop.run_for(30.0)
    assert [(g.topics, g.cause) for g in gaps(loop)] == [((DEPTHS[0],), GapCause.FRAME_REJECTED)]
    # the next diff does not start where the last delivered one ended: folded
    assert loop.pool.stats.gaps_folded == 1


# ---------------------------------------------------------------- one gap per outage


def test_one_gap_per_topic_through_a_reconnect_storm() -> None:
    # every connection is reset 0.5 s after it opens, before or after the acks
    # come, for 10 s; then the resets stop
    loop = Loop(pool_config(), sim_config(faults=Faults(reset_after=0.5)))
    loop.subscribe(DEALS[:3])
    loop.run_for(5.0)
    before = len(gaps(loop))
    loop.run_for(10.0)
    loop.sim.queue_faults(Faults())
    loop.run_for(30.0)
    assert len(loop.of(LinkDisconnected)) >= 5
    storm = gaps(loop)[before:]
    for topic in DEALS[:3]:
        mine = [g for g in storm if topic in g.topics]
        ended = [g.ended_at for g in mine]
        assert len(mine) == len(set(ended)), "two reports of one re-subscription"
    # each report is one outage: between two reports of a topic, it was lost again
    for topic in DEALS[:3]:
        reports = [loop.events.index(g) for g in gaps(loop) if topic in g.topics]
        for a, b in itertools.pairwise(reports):
            between = loop.events[a:b]
            assert any(isinstance(e, LinkDisconnected) and topic in e.topics for e in between), (
                "a second report without a second outage"
            )


def test_a_disconnect_is_reported_once_however_many_reconnects_it_takes() -> None:
    loop = Loop(pool_config(), sim_config())
    loop.sim.queue_faults(Faults(reset_after=5.0))
    loop.subscribe(DEALS[:2])
    loop.run_for(3.0)
    loop.refuse_next = 3  # the reset link's next three attempts are refused
    loop.run_for(60.0)
    assert len(loop.of(LinkDisconnected)) == 4
    found = gaps(loop)
    assert [(set(g.topics), g.cause) for g in found] == [(set(DEALS[:2]), GapCause.DISCONNECTED)]
    assert found[0].started_at == 5.0
    assert found[0].ended_at > 5.0
    assert loop.pool.stats.gaps == 1


# ---------------------------------------------------------------- silence watchdog


def test_every_channel_has_a_silence_default_and_only_timed_channels_are_watched() -> None:
    assert set(DEFAULT_SILENCE) == {spec.name for spec in CHANNELS}
    assert {k for k, v in DEFAULT_SILENCE.items() if v is not None} == {"kline", "mini_ticker"}
    assert silence_limit(KLINES[0], {}) == 10.0
    assert silence_limit(KLINES[0], {}, defaults=False) is None
    assert silence_limit(DEALS[0], {"aggre_deals": 5.0}) == 5.0
    assert silence_limit(DEALS[0], {"aggre_deals": 5.0, DEALS[0]: None}) is None
    config = pool_config(silence=(("aggre_deals", 2.0), (KLINES[1], None)))
    assert config.silence_of(DEALS[0]) == 2.0
    assert config.silence_of(KLINES[1]) is None
    assert config.silence_of(KLINES[0]) == 10.0


@pytest.mark.parametrize(
    "silence",
    [
        [("kline", 1.0)],
        (("kline",),),
        ((1, 1.0),),
        (("kline", 0),),
        (("kline", float("nan")),),
        (("kline", "1"),),
    ],
)
def test_bad_silence_settings_are_refused(silence: object) -> None:
    with pytest.raises(InvalidConfig, match="silence"):
        PoolConfig(silence=silence)  # type: ignore[arg-type]


def drop_on_server(loop: Loop, topic: str) -> None:
    """The server stops one stream of a live connection, telling no one."""
    for session in loop.sim.sessions.values():
        if topic in session.topics:
            del session.topics[topic]
            session.exchange.unsubscribe(session, topic, account=session.account)


def test_a_silent_kline_replaces_its_link_and_reports_one_gap_from_its_last_push() -> None:
    loop = Loop(pool_config(), sim_config())
    loop.subscribe([KLINES[0], DEALS[0]])
    loop.run_for(5.0)
    last = loop.pushes(KLINES[0])[-1]
    dropped_at = loop.now
    drop_on_server(loop, KLINES[0])
    loop.run_for(20.0)
    silent = [e for e in loop.events if isinstance(e, TopicSilent)]
    assert len(silent) == 1
    assert silent[0].topic == KLINES[0]
    assert silent[0].limit == 10.0
    assert dropped_at - 1.0 <= silent[0].last_data <= dropped_at
    down = [e for e in loop.events if isinstance(e, LinkDisconnected)]
    assert len(down) == 1
    assert "sent nothing" in down[0].reason
    # detected within the limit (plus one timer step) of the last push
    detected = loop.events.index(silent[0])
    assert loop.events[detected + 1] is down[0]
    found = gaps(loop)
    assert [(g.topics, g.cause) for g in found if KLINES[0] in g.topics] == [
        ((KLINES[0],), GapCause.SILENCE)
    ]
    assert [(g.topics, g.cause) for g in found if DEALS[0] in g.topics] == [
        ((DEALS[0],), GapCause.DISCONNECTED)
    ]
    (kline_gap,) = (g for g in found if KLINES[0] in g.topics)
    assert kline_gap.started_at == silent[0].last_data
    # the kline flows again on the new connection
    assert loop.pushes(KLINES[0])[-1] is not last
    assert loop.pool.is_carried(KLINES[0])
    assert loop.pool.stats.silences == 1


def test_quiet_deals_are_not_watched_unless_asked_and_then_they_are() -> None:
    loop = Loop(pool_config(), sim_config())
    loop.subscribe([DEALS[0]])
    loop.run_for(3.0)
    drop_on_server(loop, DEALS[0])
    loop.run_for(60.0)
    assert not loop.of(TopicSilent)
    assert loop.pool.topic_state(DEALS[0]) is TopicState.CARRIED

    loop = Loop(pool_config(silence=(("aggre_deals", 4.0),)), sim_config())
    loop.subscribe([DEALS[0]])
    loop.run_for(3.0)
    drop_on_server(loop, DEALS[0])
    loop.run_for(10.0)
    assert [e.topic for e in loop.events if isinstance(e, TopicSilent)] == [DEALS[0]]


def test_two_silent_topics_of_one_link_replace_it_once() -> None:
    loop = Loop(pool_config(silence=(("kline", 3.0),)), sim_config())
    loop.subscribe(KLINES[:3])
    loop.run_for(2.0)
    drop_on_server(loop, KLINES[0])
    drop_on_server(loop, KLINES[1])
    loop.run_for(10.0)
    assert sorted(e.topic for e in loop.events if isinstance(e, TopicSilent)) == KLINES[:2]
    assert len(loop.of(LinkDisconnected)) == 1
    causes = {t: g.cause for g in gaps(loop) for t in g.topics}
    assert causes == {
        KLINES[0]: GapCause.SILENCE,
        KLINES[1]: GapCause.SILENCE,
        KLINES[2]: GapCause.DISCONNECTED,
    }


def test_unsubscribing_a_watched_topic_stops_its_watch() -> None:
    loop = Loop(pool_config(silence=(("kline", 3.0),)), sim_config())
    loop.subscribe([KLINES[0], KLINES[1]])
    loop.run_for(2.0)
    loop.unsubscribe([KLINES[0]])
    loop.run_for(10.0)
    assert not loop.of(TopicSilent)
    assert loop.pool._silence_at is not None  # KLINES[1] is still watched
    loop.pool.close(loop.now)
    assert loop.pool._silence_at is None


# ---------------------------------------------------------------- unconfirmed topics


def test_a_pool_topic_given_up_before_its_ack_is_unsubscribed_on_the_wire() -> None:
    loop = Loop(pool_config(), sim_config())
    loop.subscribe([DEALS[0]])
    loop.run_for(2.0)
    (cid,) = loop.wires
    link = next(iter(loop.pool._links.values()))
    assert link.conn is not None
    session = link.conn.session
    loop.pool.subscribe([DEALS[1]], loop.now)
    assert loop.pool.data_to_send(cid)  # the SUBSCRIPTION, lost: MEXC never hears it
    loop.pool.unsubscribe([DEALS[1]], loop.now)
    assert session.state_of(DEALS[1]) is SubscriptionState.CANCELLING
    sent = session.stats.requests_sent
    loop.run_for(10.0)
    # the ack never came: the session told MEXC to drop it anyway, MEXC answered,
    # and only then was it forgotten; the link was not failed for a topic given up
    assert session.stats.requests_sent == sent + 1
    assert session.state_of(DEALS[1]) is SubscriptionState.UNSUBSCRIBED
    assert not loop.of(LinkDisconnected)
    assert loop.pool.is_carried(DEALS[0])


# ---------------------------------------------------------------- PING timing


def open_connection(config: SessionConfig) -> Connection:
    """A connection past its handshake, answered by the simulator (then left alone)."""
    conn = Connection(session_config=config)
    server = Simulator(sim_config()).connect(0.0)
    conn.connect(0.0)
    server.receive_data(conn.data_to_send(), 0.0)
    conn.receive_data(server.data_to_send(), 0.0)
    assert conn.state is ConnectionState.OPEN
    list(conn.events())
    conn.data_to_send()
    return conn


PING_CONFIG = SessionConfig(ping_interval=20.0, pong_timeout=4.0, idle_timeout=None)


def health(conn: Connection) -> list[str]:
    return [e.cause.value for e in conn.events() if isinstance(e, HealthCheckFailed)]


def test_the_pong_deadline_counts_from_the_write_when_writes_are_reported() -> None:
    # not reported: the PING counts as sent when queued (the old rule)
    conn = open_connection(PING_CONFIG)
    conn.handle_timer(20.0)
    assert conn.data_to_send()
    assert conn.session.stats.pings_sent == 1
    assert conn.next_deadline() == 24.0
    # reported: a writer held up 6 s (a blocking callback) causes no timeout
    conn = open_connection(PING_CONFIG)
    conn.handle_timer(20.0)
    assert conn.data_to_send()
    conn.data_written(26.0)
    assert conn.next_deadline() == 30.0
    conn.handle_timer(26.0)
    assert health(conn) == []
    conn.data_written(27.0)  # a later write moves nothing
    assert conn.next_deadline() == 30.0
    conn.handle_timer(30.0)
    assert health(conn) == ["pong_timeout"]


def test_a_write_reported_while_the_ping_still_waits_does_not_time_it() -> None:
    conn = open_connection(PING_CONFIG)
    conn.handle_timer(20.0)  # the PING is queued in the connection, not taken
    conn.data_written(21.0)  # an earlier write completing
    # not written: its deadline waits, within ping_interval (20 s) more
    conn.handle_timer(30.0)
    assert health(conn) == []
    assert conn.data_to_send()
    conn.data_written(31.0)
    # a deadline never moves earlier (a driver's timer is never late): 44, not 35
    assert conn.next_deadline() == 44.0
    conn.handle_timer(43.9)
    assert health(conn) == []
    conn.handle_timer(44.0)
    assert health(conn) == ["pong_timeout"]


def test_a_write_that_never_completes_still_times_the_ping_out() -> None:
    conn = open_connection(PING_CONFIG)
    conn.data_written(1.0)  # the adapter reports its writes
    conn.handle_timer(20.0)
    assert conn.data_to_send()  # taken, never reported written
    conn.handle_timer(43.9)
    assert health(conn) == []
    conn.handle_timer(44.0)  # ping_interval + pong_timeout after the queueing
    assert health(conn) == ["pong_timeout"]


def test_a_pong_after_the_next_ping_was_due_sends_it_at_once() -> None:
    session = Session(PING_CONFIG)
    session.start(0.0)
    session.data_written(0.5)
    session.handle_timer(20.0)
    assert session.messages_to_send() == [wire.encode_ping()]
    session.handle_timer(40.0)  # unwritten: no second PING while one is in flight
    assert session.messages_to_send() == []
    session.data_written(41.0)
    session.receive_text('{"id":0,"code":0,"msg":"PONG"}', 41.5)
    assert session.messages_to_send() == [wire.encode_ping()]
    assert session.next_deadline() == 45.5
    session.data_written(42.0)
    assert session.next_deadline() == 46.0


def test_the_round_trip_counts_from_the_write() -> None:
    session = Session(PING_CONFIG)
    session.start(0.0)
    session.handle_timer(20.0)
    assert session.messages_to_send() == [wire.encode_ping()]
    session.data_written(21.0)
    session.receive_text('{"id":0,"code":0,"msg":"PONG"}', 21.5)
    (pong,) = [e for e in session.events() if isinstance(e, PongReceived)]
    assert pong.round_trip == 0.5
    session.data_written(22.0)  # nothing in flight: nothing to time
    assert session.next_deadline() == 40.0  # the PING schedule keeps its pace


def test_the_pool_passes_writes_on_and_ignores_unknown_transports() -> None:
    loop = Loop(pool_config(), sim_config())
    loop.subscribe([DEALS[0]])
    loop.run_for(2.0)
    loop.pool.data_written(999, loop.now)  # unknown: ignored
    (cid,) = loop.wires
    loop.pool.data_written(cid, loop.now)
    loop.run_for(20.0)
    assert not loop.of(HealthCheckFailed)


def test_the_gap_example_prints_one_gap_per_loss(capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_path(str(EXAMPLES / "gap_signals.py"), run_name="__main__")
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0].split(" silent")[0] for line in lines] == [
        "gap frame_rejected",
        "spot@public.kline.v3.api.pb@BTCUSDT@Min1",
        "gap silence",
        "gap disconnected",
        "3 gaps, 0 folded",
    ]


def test_other_replies_pass_through_and_are_no_gap() -> None:
    loop = Loop(pool_config(), sim_config())
    loop.subscribe([DEALS[0]])
    loop.run_for(2.0)
    (cid,) = loop.wires
    payload = b'{"id":0,"code":0,"msg":"spot@public.nope"}'
    loop.pool.receive_data(cid, b"\x81" + bytes([len(payload)]) + payload, loop.now)
    events = list(loop.pool.events())
    assert [type(e).__name__ for e in events] == ["UnexpectedReplyReceived"]
    assert loop.pool.stats.gaps == 0


def test_a_write_before_the_websocket_opens_times_nothing() -> None:
    conn = Connection(session_config=PING_CONFIG)
    conn.connect(0.0)
    assert conn.data_to_send()  # the upgrade request
    conn.data_written(0.1)
    assert conn.session.next_deadline() is None
    assert conn.next_deadline() == conn.open_timeout
