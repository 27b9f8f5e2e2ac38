"""Fault injection (``docs/faults.rst``): each knob does what it says, deterministically.

Sans-IO and in virtual time: sessions and connections of the simulator are driven
directly, with our client's sans-IO ``Connection`` where the client's view matters.
"""

from __future__ import annotations

import itertools

import pytest
from google.protobuf.message import DecodeError as GoogleDecodeError

from mexc_core import wire
from mexc_core.channels import CHANNELS, body_type, spec_of
from mexc_core.connection import Connection
from mexc_core.errors import DecodeError, MessageTooBig
from mexc_core.events import HandshakeRejected
from mexc_core.messages import (
    PublicAggreDepthsV3Api,
    PublicIncreaseDepthsV3Api,
    PublicMiniTickerV3Api,
    UnknownBody,
)
from mexc_sim import Exchange, Faults, SimConfig, Simulator, TransportAction, profile
from mexc_sim.faults import PROFILES, RANDOM_KINDS
from mexc_sim.session import (
    UNHELD_SYMBOL,
    UNKNOWN_CHANNEL,
    OutgoingKind,
    ServerSession,
    WsRules,
    foreign_body,
    unheld_topic,
)
from tests.google_oracle import google_parse

DEPTH = "spot@public.aggre.depth.v3.api.pb@10ms@BTCUSDT"
KLINE = "spot@public.kline.v3.api.pb@BTCUSDT@Min1"


def frames_of(
    faults: Faults, topics: tuple[str, ...] = (DEPTH,), until: float = 20.0
) -> list[bytes]:
    """The binary frames one faulty session receives, from one seeded exchange."""
    return session_frames(faults, topics, until)[1]


def session_frames(
    faults: Faults, topics: tuple[str, ...] = (DEPTH,), until: float = 20.0
) -> tuple[ServerSession, list[bytes]]:
    """The faulty session, and the binary frames it sent."""
    exchange = Exchange()
    session = ServerSession(
        exchange, 1, 0.0, rules=WsRules(ping_interval=None, idle_no_data=1e9), faults=faults
    )
    session.receive_text(wire.encode_subscription(topics), 0.0)
    out: list[bytes] = []
    now = 0.0
    while now < until:
        now += 0.05
        exchange.advance(now)
        session.handle_timer(now)
        out.extend(o.data for o in session.take_outgoing() if o.kind is OutgoingKind.BINARY)
    return session, out


CLEAN = frames_of(Faults())


def versions(frames: list[bytes]) -> list[tuple[int, int]]:
    out = []
    for frame in frames:
        body = wire.decode_push(frame).body
        assert isinstance(body, PublicAggreDepthsV3Api)
        out.append((int(body.from_version), int(body.to_version)))
    return out


def test_clean_stream_is_contiguous() -> None:
    spans = versions(CLEAN)
    assert len(spans) > 20
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(spans))


@pytest.mark.parametrize("knob", ["garbage_at", "truncate_at"])
def test_garbage_and_truncated_frames_decode_nowhere(knob: str) -> None:
    frames = frames_of(Faults(**{knob: {3}}))  # type: ignore[arg-type]
    assert len(frames) == len(CLEAN)
    assert frames[:2] == CLEAN[:2]
    assert frames[3:] == CLEAN[3:]
    with pytest.raises(DecodeError):
        wire.decode_push(frames[2])
    with pytest.raises(GoogleDecodeError):
        google_parse(frames[2])


def test_unknown_body_channel_and_field() -> None:
    frames = frames_of(Faults(unknown_body_at={2}, unknown_field_at={4}, unknown_channel_at={5}))
    odd = wire.decode_push(frames[1])
    assert isinstance(odd.body, UnknownBody)
    assert odd.body.number == 399
    assert odd.channel == DEPTH
    assert google_parse(frames[1]).WhichOneof("body") is None
    extra = wire.decode_push(frames[3])
    assert extra.body == wire.decode_push(CLEAN[3]).body
    assert [(u.message, u.number) for u in extra.unknown_fields] == [("PushDataV3ApiWrapper", 7)]
    stray = wire.decode_push(frames[4])
    assert stray.channel == UNKNOWN_CHANNEL
    assert stray.body == wire.decode_push(CLEAN[4]).body


def test_foreign_body_and_unheld_topic() -> None:
    frames = frames_of(Faults(foreign_body_at={2}, unheld_topic_at={3}))
    assert len(frames) == len(CLEAN)
    foreign = wire.decode_push(frames[1])
    assert foreign.channel == DEPTH
    assert type(foreign.body) is PublicIncreaseDepthsV3Api  # a look-alike, not the channel's
    assert foreign.send_time == wire.decode_push(CLEAN[1]).send_time
    assert google_parse(frames[1]).WhichOneof("body") == "publicIncreaseDepths"
    unheld = wire.decode_push(frames[2])
    assert unheld.channel == f"spot@public.aggre.depth.v3.api.pb@10ms@{UNHELD_SYMBOL}"
    assert unheld.body == wire.decode_push(CLEAN[2]).body
    assert frames[3:] == CLEAN[3:]


def test_foreign_bodies_and_unheld_topics_of_every_channel() -> None:
    for spec in CHANNELS:
        values = {p.name: p.kind.from_text(p.kind.values[0]) for p in spec.params if p.kind.values}
        topic = spec.format(
            **values, **{p.name: "BTCUSDT" for p in spec.params if p.name not in values}
        )
        body = foreign_body(topic)
        assert type(body) is not body_type(topic)
        assert body_type(topic) is not None
        other = unheld_topic(topic)
        if "symbol" not in {p.name for p in spec.params}:  # private channels, all tickers
            assert other is None
        else:
            assert other is not None
            assert other != topic
            assert UNHELD_SYMBOL in other
            assert spec_of(other) is spec
    assert type(foreign_body(KLINE)) is PublicMiniTickerV3Api


def test_faults_that_reach_the_wire_are_counted_by_kind() -> None:
    plan = Faults(
        garbage_at={1},
        truncate_at={2},
        unknown_body_at={3},
        unknown_field_at={4},
        unknown_channel_at={5},
        foreign_body_at={6},
        unheld_topic_at={7},
        depth_skip_at={9},
        depth_duplicate_at={10},
        depth_reorder_at={11},
    )
    session, frames = session_frames(plan)
    assert session.injected == {
        "garbage": 1,
        "truncate": 1,
        "unknown_body": 1,
        "unknown_field": 1,
        "unknown_channel": 1,
        "foreign_body": 1,
        "unheld_topic": 1,
        "depth_skip": 1,
        "depth_duplicate": 1,
        "depth_reorder": 1,
    }
    assert len(frames) == len(CLEAN)  # one skipped, one doubled
    # a fault on a reordered push is counted when the push goes out
    session, _ = session_frames(Faults(depth_reorder_at={2}, unknown_body_at={2}))
    assert session.injected == {"depth_reorder": 1, "unknown_body": 1}
    # the simulator adds up its connections
    sim = Simulator(SimConfig(faults=Faults(unknown_body_at={1})))
    assert sim.injected == {}


def test_oversized_frame() -> None:
    frames = frames_of(Faults(oversize_at={1}), until=2.0)
    assert len(frames[0]) > 11 * 1024 * 1024
    # Our client refuses it at its 4 MiB default (close 1009), as docs/faults.rst section 5 wants.
    sim = Simulator(SimConfig(faults=Faults(oversize_at={1})))
    server = sim.connect(0.0)
    client = Connection(host="127.0.0.1:1")
    client.subscribe([DEPTH], 0.0)
    client.connect(0.0)
    now = 0.0
    while now < 5.0:
        client.handle_timer(now)
        request = client.data_to_send()
        if request:  # b"" would mean EOF
            server.receive_data(request, now)
        sim.advance(now)
        data = server.data_to_send()
        if len(data) > 4 * 1024 * 1024:
            break
        if data:
            client.receive_data(data, now)
        now += 0.05
    with pytest.raises(MessageTooBig):
        client.receive_data(data, now)


def test_depth_version_faults() -> None:
    clean = versions(CLEAN)
    skipped = versions(frames_of(Faults(depth_skip_at={3})))
    assert skipped == clean[:2] + clean[3:]  # a gap: fromVersion jumps
    duplicated = versions(frames_of(Faults(depth_duplicate_at={3})))
    assert duplicated == clean[:3] + clean[2:]
    reordered = versions(frames_of(Faults(depth_reorder_at={3})))
    assert reordered == [*clean[:2], clean[3], clean[2], *clean[4:]]


def test_depth_faults_count_only_depth_pushes() -> None:
    mixed = frames_of(Faults(depth_skip_at={1}), topics=(KLINE, DEPTH), until=3.0)
    channels = [wire.decode_push(f).channel for f in mixed]
    assert KLINE in channels
    depth = [f for f in mixed if wire.decode_push(f).channel == DEPTH]
    assert versions(depth) == versions(CLEAN)[1 : len(depth) + 1]


def test_random_faults_are_seeded() -> None:
    plan = Faults(random_rate=0.3, seed=11)
    a, b = frames_of(plan), frames_of(plan)
    assert a == b
    assert a != CLEAN
    c = frames_of(Faults(random_rate=0.3, seed=12))
    assert c != a
    everything = frames_of(Faults(random_rate=1.0, random_kinds=("garbage",)), until=3.0)
    for frame in everything:
        with pytest.raises(DecodeError):
            wire.decode_push(frame)
    with pytest.raises(ValueError, match="random_rate"):
        Faults(random_rate=2.0)
    with pytest.raises(ValueError, match="unknown random fault"):
        Faults(random_kinds=("fire",))
    assert set(RANDOM_KINDS) >= {"garbage", "depth_skip"}


def test_stall_holds_pushes_then_flushes_them_in_order() -> None:
    exchange = Exchange()
    session = ServerSession(
        exchange,
        1,
        0.0,
        rules=WsRules(ping_interval=None),
        faults=Faults(stall_after=2.0, stall_for=5.0),
    )
    session.receive_text(wire.encode_subscription([DEPTH]), 0.0)
    session.take_outgoing()
    got: list[tuple[float, bytes]] = []
    now = 0.0
    while now < 10.0:
        deadline = session.next_deadline()
        now = min(now + 0.05, deadline if deadline is not None else 1e9)
        exchange.advance(now)
        session.handle_timer(now)
        got.extend((now, o.data) for o in session.take_outgoing() if o.kind is OutgoingKind.BINARY)
    during = [t for t, _f in got if 2.0 <= t < 7.0]
    assert not during
    assert [f for _t, f in got] == CLEAN[: len(got)]


def test_no_pong() -> None:
    session = ServerSession(Exchange(), 1, 0.0, faults=Faults(no_pong=True))
    session.receive_text('{"method":"PING"}', 0.0)
    assert session.take_outgoing() == []


@pytest.mark.parametrize(
    ("faults", "kind"),
    [
        (Faults(reset_after=5.0), OutgoingKind.ABORT),
        (Faults(blackhole_after=5.0), OutgoingKind.BLACKHOLE),
        (Faults(close_after=5.0), OutgoingKind.CLOSE),
    ],
)
def test_transport_faults_at_an_age(faults: Faults, kind: OutgoingKind) -> None:
    exchange = Exchange()
    session = ServerSession(exchange, 1, 10.0, rules=WsRules(ping_interval=None), faults=faults)
    session.receive_text(wire.encode_subscription([DEPTH]), 10.0)
    assert session.next_deadline() == 15.0
    exchange.advance(14.9)
    session.handle_timer(14.9)
    assert all(o.kind is not kind for o in session.take_outgoing())
    exchange.advance(15.0)
    session.handle_timer(15.0)
    out = session.take_outgoing()
    assert out[-1].kind is kind
    if kind is OutgoingKind.BLACKHOLE:
        session.receive_text('{"method":"PING"}', 16.0)
        exchange.advance(17.0)
        assert session.take_outgoing() == []  # silence, whatever happens


def test_connection_actions() -> None:
    for faults, action in (
        (Faults(reset_after=1.0), TransportAction.ABORT),
        (Faults(blackhole_after=1.0), TransportAction.BLACKHOLE),
    ):
        sim = Simulator(SimConfig(faults=faults))
        server = sim.connect(0.0)
        client = Connection(host="127.0.0.1:1")
        client.subscribe([DEPTH], 0.0)
        client.connect(0.0)
        server.receive_data(client.data_to_send(), 0.0)
        client.receive_data(server.data_to_send(), 0.0)
        sim.advance(1.0)
        assert server.action is action
        assert server.data_to_send() == b""


def test_handshake_status_refuses_the_upgrade() -> None:
    sim = Simulator()
    sim.queue_faults(Faults(handshake_status=503))
    refused, fine = sim.connect(0.0), sim.connect(0.0)
    for server in (refused, fine):
        client = Connection(host="127.0.0.1:1")
        client.connect(0.0)
        server.receive_data(client.data_to_send(), 0.0)
        client.receive_data(server.data_to_send(), 0.0)
        events = list(client.events())
        if server is refused:
            assert isinstance(events[0], HandshakeRejected)
            assert events[0].status_code == 503
            assert server.action is TransportAction.CLOSE
        else:
            assert server.action is TransportAction.OPEN


def test_profiles() -> None:
    assert set(PROFILES) >= {"none", "flaky", "gaps", "garbage", "nopong", "reset", "blackhole"}
    assert not profile("none").any
    assert profile("flaky", seed=3).seed == "3/flaky"
    assert profile("reset").reset_after == 3.0
    with pytest.raises(KeyError, match="profiles: none"):
        profile("nope")
