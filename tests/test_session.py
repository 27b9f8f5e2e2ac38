"""The MEXC session: every rule with a fake clock, and sweeps of both tables."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable

import pytest

from mexc_core import wire
from mexc_core._machine import render_transitions
from mexc_core.channels import AggreDeals
from mexc_core.errors import (
    ArgumentTypeError,
    ClockError,
    InvalidConfig,
    InvalidTopic,
    ListenKeyRequired,
    LocalProtocolError,
    StateError,
    SubscriptionLimitExceeded,
    SubscriptionStateError,
)
from mexc_core.events import (
    ErrorReplyReceived,
    Event,
    FailureCause,
    FrameKind,
    FrameRejected,
    HealthCause,
    HealthCheckFailed,
    IdleWithoutSubscriptions,
    ListenKeyInvalidated,
    PongReceived,
    Push,
    RotationDue,
    ServerNoticeReceived,
    StrayPushReceived,
    StrayReason,
    Subscribed,
    SubscriptionFailed,
    UnexpectedReplyReceived,
    Unsubscribed,
    UnsubscriptionFailed,
)
from mexc_core.messages import (
    PrivateOrdersV3Api,
    PublicAggreDealsV3Api,
    PublicDealsV3Api,
    UnknownBody,
)
from mexc_core.session import (
    _IN_FLIGHT,
    _RECEIVING,
    _SESSION_TRANSITIONS,
    _SUBSCRIPTION_TRANSITIONS,
    Session,
    SessionConfig,
    SessionInput,
    SessionState,
    SubscriptionInput,
    SubscriptionState,
)
from tests.loopback_server import trade_push

A = "spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT"
B = "spot@public.aggre.depth.v3.api.pb@10ms@ETHUSDT"
#: The topic of V1.
DEPTH = "spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT"
C = "spot@public.kline.v3.api.pb@MXUSDT@Min15"
PRIVATE = "spot@private.orders.v3.api.pb"

# docs/protocol.rst, "Wire test vectors", vector V1: an aggre.depth push, 140 bytes.
V1 = bytes.fromhex(
    "0a2f73706f74407075626c69632e61676772652e64657074682e76332e6170692e7062403130306d7340"
    "425443555344541a074254435553445430b1d7b4ecdf33ca134812080a033130301201341a2773706f74"
    "407075626c69632e61676772652e64657074682e76332e6170692e7062403130306d7322053130303233"
    "2a05313030323330dcd6b4ecdf33"
)

QUIET = SessionConfig(
    ping_interval=30.0 - 1e-9,
    pong_timeout=20.0,
    data_silence_timeout=None,
    idle_timeout=None,
)


def reply(msg: str, code: int = 0) -> str:
    return json.dumps({"id": 0, "code": code, "msg": msg}, ensure_ascii=False)


def rejection(*topics: str) -> str:
    return reply(f"Not Subscribed successfully! [{','.join(topics)}].  Reason： Blocked! ")


def started(config: SessionConfig = QUIET, *, private: bool = False) -> Session:
    session = Session(config, private=private)
    session.start(0.0)
    return session


def sent(session: Session) -> list[dict[str, object]]:
    return [json.loads(text) for text in session.messages_to_send()]


def events(session: Session) -> list[Event]:
    return list(session.events())


# ---------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("kwargs", "setting"),
    [
        ({"max_subscriptions": 31}, "max_subscriptions"),
        ({"max_subscriptions": 0}, "max_subscriptions"),
        ({"max_subscriptions": True}, "max_subscriptions"),
        ({"max_messages_per_second": 100}, "max_messages_per_second"),
        ({"ack_timeout": 0}, "ack_timeout"),
        ({"ack_timeout": math.nan}, "ack_timeout"),
        ({"ping_interval": 30.0}, "ping_interval"),
        ({"pong_timeout": 5.0}, "pong_timeout"),
        ({"idle_timeout": 30.0}, "idle_timeout"),
        ({"rotate_after": 24 * 3600.0}, "rotate_after"),
        ({"data_silence_timeout": -1.0}, "data_silence_timeout"),
        ({"max_consecutive_bad_frames": 0}, "max_consecutive_bad_frames"),
        ({"max_request_bytes": 10}, "max_request_bytes"),
    ],
)
def test_config_rejects_values_that_break_mexc_rules(
    kwargs: dict[str, object], setting: str
) -> None:
    with pytest.raises(InvalidConfig) as info:
        SessionConfig(**kwargs)  # type: ignore[arg-type]
    assert info.value.setting == setting
    assert isinstance(info.value, LocalProtocolError)


def test_default_config_detects_a_dead_connection_in_under_10_seconds() -> None:
    cfg = SessionConfig()
    assert cfg.ping_interval + cfg.pong_timeout < 10
    assert cfg.max_subscriptions < 30


# ---------------------------------------------------------------- subscriptions


def test_subscriptions_wait_for_the_open_then_go_in_one_request() -> None:
    session = Session(QUIET)
    session.subscribe([A, B], 0.0)
    assert session.messages_to_send() == []
    assert session.next_deadline() is None
    assert session.state_of(A) is SubscriptionState.PENDING
    session.start(1.0)
    assert session.messages_to_send() == [wire.encode_subscription([A, B])]
    assert session.state_of(A) is SubscriptionState.SUBSCRIBING


def test_an_ack_with_comma_joined_topics_activates_them_in_any_order() -> None:
    session = started()
    session.subscribe([A, B], 0.0)
    sent(session)
    session.receive_text(reply(f"{B},{A}"), 0.1)
    assert events(session) == [Subscribed(topics=(B, A))]
    assert session.subscriptions == {A: SubscriptionState.ACTIVE, B: SubscriptionState.ACTIVE}


def test_acks_are_matched_by_topics_not_by_id() -> None:
    session = started()
    session.subscribe([A], 0.0)
    session.subscribe([B], 0.0)
    assert [m["params"] for m in sent(session)] == [[A], [B]]
    session.receive_text(json.dumps({"id": 0, "code": 0, "msg": B}), 0.1)
    assert events(session) == [Subscribed(topics=(B,))]
    assert session.state_of(A) is SubscriptionState.SUBSCRIBING


def test_mexc_rejection_with_code_zero_is_a_typed_failure_naming_topic_and_reason() -> None:
    session = started()
    session.subscribe([A, B], 0.0)
    sent(session)
    session.receive_text(rejection(B), 0.1)
    assert events(session) == [
        SubscriptionFailed(topics=(B,), cause=FailureCause.REJECTED, reason="Blocked!")
    ]
    assert session.state_of(B) is SubscriptionState.REJECTED
    assert session.state_of(A) is SubscriptionState.SUBSCRIBING
    session.receive_text(reply(A), 0.2)  # the rest of the batch, acked separately
    assert events(session) == [Subscribed(topics=(A,))]
    assert session.used_slots == 1  # a rejected topic takes no slot


def test_no_ack_in_time_fails_the_subscription_and_a_retry_works() -> None:
    session = started()
    session.subscribe([A], 0.0)
    sent(session)
    assert session.next_deadline() == QUIET.ack_timeout
    session.handle_timer(QUIET.ack_timeout)
    assert events(session) == [
        SubscriptionFailed(
            topics=(A,), cause=FailureCause.ACK_TIMEOUT, reason="no reply within 5 s"
        )
    ]
    assert session.state_of(A) is SubscriptionState.FAILED
    session.receive_text(reply(A), 6.0)  # too late: nothing is in flight for it
    assert events(session) == [UnexpectedReplyReceived(topics=(A,), msg=A)]
    session.subscribe([A], 7.0)
    assert sent(session) == [{"method": "SUBSCRIPTION", "params": [A]}]


def test_unexpected_replies_change_nothing() -> None:
    session = started()
    session.subscribe([A], 0.0)
    sent(session)
    for text in (reply(B), reply(f"{A},{B}"), reply(""), rejection(C), rejection()):
        session.receive_text(text, 0.1)
    assert [type(e) for e in events(session)] == [UnexpectedReplyReceived] * 5
    assert session.state_of(A) is SubscriptionState.SUBSCRIBING
    assert session.stats.unexpected_replies == 5


def test_unsubscribe_round_trip() -> None:
    session = started()
    session.subscribe([A], 0.0)
    sent(session)
    session.receive_text(reply(A), 0.1)
    session.unsubscribe([A], 1.0)
    assert sent(session) == [{"method": "UNSUBSCRIPTION", "params": [A]}]
    assert session.state_of(A) is SubscriptionState.UNSUBSCRIBING
    session.receive_text(reply(A), 1.1)
    assert events(session)[-1] == Unsubscribed(topics=(A,))
    assert session.subscriptions == {}


def test_unsubscribe_timeout_leaves_the_topic_failed() -> None:
    session = started()
    session.subscribe([A], 0.0)
    session.receive_text(reply(A), 0.1)
    session.unsubscribe([A], 1.0)
    session.handle_timer(1.0 + QUIET.ack_timeout)
    assert events(session)[-1] == UnsubscriptionFailed(
        topics=(A,), cause=FailureCause.ACK_TIMEOUT, reason="no reply within 5 s"
    )
    assert session.state_of(A) is SubscriptionState.FAILED
    # MEXC may still hold it: unsubscribing again asks MEXC before forgetting it
    session.unsubscribe([A], 7.0)
    assert session.messages_to_send() == [
        wire.encode_subscription([A]),
        wire.encode_unsubscription([A]),
        wire.encode_unsubscription([A]),
    ]
    assert session.state_of(A) is SubscriptionState.UNSUBSCRIBING
    session.receive_text(reply(A), 7.1)
    assert events(session)[-1] == Unsubscribed(topics=(A,))
    assert session.subscriptions == {}


def test_a_subscription_never_acknowledged_is_unsubscribed_on_the_wire() -> None:
    session = started()
    session.subscribe([A], 0.0)
    session.handle_timer(QUIET.ack_timeout)
    assert session.state_of(A) is SubscriptionState.FAILED
    sent(session)
    session.unsubscribe([A], 6.0)
    assert sent(session) == [{"method": "UNSUBSCRIPTION", "params": [A]}]
    session.receive_text(reply(A), 6.1)
    assert events(session)[-1] == Unsubscribed(topics=(A,))
    assert session.subscriptions == {}


def test_a_cancelled_subscription_whose_ack_never_came_is_unsubscribed_on_the_wire() -> None:
    session = started()
    session.subscribe([A], 0.0)
    session.unsubscribe([A], 0.0)
    assert session.state_of(A) is SubscriptionState.CANCELLING
    sent(session)
    session.handle_timer(QUIET.ack_timeout)
    assert events(session)[-1] == SubscriptionFailed(
        topics=(A,), cause=FailureCause.ACK_TIMEOUT, reason="no reply within 5 s"
    )
    assert sent(session) == [{"method": "UNSUBSCRIPTION", "params": [A]}]
    session.receive_text(reply(A), 5.1)
    assert session.subscriptions == {}


def test_unsubscribe_while_subscribing_cancels_after_the_ack() -> None:
    session = started()
    session.subscribe([A], 0.0)
    session.unsubscribe([A], 0.0)
    assert session.state_of(A) is SubscriptionState.CANCELLING
    session.receive_text(reply(A), 0.1)
    assert events(session) == [Subscribed(topics=(A,))]
    assert [m["method"] for m in sent(session)] == ["SUBSCRIPTION", "UNSUBSCRIPTION"]


def test_subscribe_while_unsubscribing_rejoins_after_the_ack() -> None:
    session = started()
    session.subscribe([A], 0.0)
    session.receive_text(reply(A), 0.1)
    session.unsubscribe([A], 0.2)
    session.subscribe([A], 0.3)
    assert session.state_of(A) is SubscriptionState.REJOINING
    session.receive_text(reply(A), 0.4)
    assert events(session)[-1] == Unsubscribed(topics=(A,))
    assert [m["method"] for m in sent(session)] == [
        "SUBSCRIPTION",
        "UNSUBSCRIPTION",
        "SUBSCRIPTION",
    ]
    assert session.state_of(A) is SubscriptionState.SUBSCRIBING


def test_pending_topics_are_forgotten_without_a_request() -> None:
    session = Session(QUIET)
    session.subscribe([A], 0.0)
    session.unsubscribe([A], 0.0)
    session.start(0.0)
    assert session.messages_to_send() == []
    assert events(session) == []


def test_commands_are_all_or_nothing() -> None:
    session = started()
    session.subscribe([A], 0.0)
    sent(session)
    with pytest.raises(SubscriptionStateError) as info:
        session.unsubscribe([A, B], 0.1)
    assert (info.value.topic, info.value.state) == (B, "UNSUBSCRIBED")
    assert session.state_of(A) is SubscriptionState.SUBSCRIBING
    assert session.state is SessionState.OPEN  # still usable
    with pytest.raises(InvalidTopic):
        session.subscribe([B, "spot@public.aggre.deals.v3.api.pb@BTCUSDT"], 0.1)
    assert session.state_of(B) is SubscriptionState.UNSUBSCRIBED


def test_topics_are_validated_in_full() -> None:
    session = started()
    with pytest.raises(InvalidTopic):
        session.subscribe(["spot@public.miniTicker.v3.api@BTCUSDT@UTC+0"], 0.0)  # retired JSON
    with pytest.raises(InvalidTopic):
        session.subscribe(["spot@public.aggre.deals.v3.api.pb@100ms@btcusdt"], 0.0)
    with pytest.raises(ArgumentTypeError):
        session.subscribe(A, 0.0)
    with pytest.raises(ArgumentTypeError):
        session.subscribe([1], 0.0)  # type: ignore[list-item]


def test_typed_topics_are_accepted() -> None:
    session = started()
    session.subscribe([AggreDeals(symbol="BTCUSDT")], 0.0)
    assert session.state_of(AggreDeals(symbol="BTCUSDT")) is SubscriptionState.SUBSCRIBING


def test_private_topics_need_a_listen_key() -> None:
    with pytest.raises(ListenKeyRequired) as info:
        started().subscribe([PRIVATE], 0.0)
    assert info.value.topic == PRIVATE
    session = started(private=True)
    session.subscribe([PRIVATE], 0.0)
    assert sent(session) == [{"method": "SUBSCRIPTION", "params": [PRIVATE]}]


def test_the_cap_raises_a_catchable_error_for_sharding() -> None:
    cfg = SessionConfig(max_subscriptions=2, data_silence_timeout=None, idle_timeout=None)
    session = started(cfg)
    session.subscribe([A], 0.0)
    session.subscribe([A], 0.0)  # already counted: not a new slot
    with pytest.raises(SubscriptionLimitExceeded) as info:
        session.subscribe([B, C], 0.0)
    error = info.value
    assert (error.limit, error.used, error.requested, error.free) == (2, 1, 2, 1)
    assert session.state_of(B) is SubscriptionState.UNSUBSCRIBED
    session.subscribe([B], 0.0)
    assert session.free_slots == 0
    session.receive_text(rejection(B), 0.1)
    assert session.free_slots == 1  # MEXC does not hold a rejected topic


def test_requests_are_batched_by_count_and_size() -> None:
    topics = [f"spot@public.aggre.deals.v3.api.pb@100ms@{c * 30}" for c in "ABCDEFGHIJKL"]
    cfg = SessionConfig(max_topics_per_request=5, max_request_bytes=200, max_subscriptions=25)
    session = started(cfg)
    session.subscribe(topics, 0.0)
    texts = session.messages_to_send()
    assert all(len(t.encode()) <= 200 for t in texts)
    batches = [json.loads(t)["params"] for t in texts]
    assert [len(b) for b in batches] == [2] * 6  # as many as fit
    assert len(wire.encode_subscription(topics[:3])) > 200
    assert [t for b in batches for t in b] == topics
    cfg = SessionConfig(max_topics_per_request=5, max_subscriptions=25)
    session = started(cfg)
    session.subscribe(topics, 0.0)
    assert [len(json.loads(t)["params"]) for t in session.messages_to_send()] == [5, 5, 2]


def test_requests_are_paced_under_the_rate_limit() -> None:
    topics = [f"spot@public.aggre.deals.v3.api.pb@100ms@S{n:02d}" for n in range(10)]
    cfg = SessionConfig(max_topics_per_request=1, max_messages_per_second=3, max_subscriptions=25)
    session = started(cfg)
    session.subscribe(topics, 0.0)
    assert len(session.messages_to_send()) == 3
    assert session.next_deadline() == 1.0
    session.handle_timer(0.5)  # early: nothing
    assert session.messages_to_send() == []
    session.handle_timer(1.0)
    assert len(session.messages_to_send()) == 3
    # The PING jumps the queue when it is due.
    session = started(cfg)
    session.subscribe(topics, cfg.ping_interval - 1.0)
    assert len(session.messages_to_send()) == 3
    session.handle_timer(cfg.ping_interval)
    texts = session.messages_to_send()
    assert texts[0] == wire.encode_ping()
    assert len(texts) == 3


# ---------------------------------------------------------------- keepalive


def test_ping_schedule_and_pong_round_trip() -> None:
    cfg = SessionConfig()
    session = started(cfg)
    assert session.next_deadline() == cfg.ping_interval
    session.handle_timer(cfg.ping_interval)
    assert session.messages_to_send() == ['{"method":"PING"}']
    assert session.next_deadline() == cfg.ping_interval + cfg.pong_timeout
    session.receive_text(reply("PONG"), cfg.ping_interval + 0.25)
    assert events(session) == [PongReceived(round_trip=0.25)]
    assert session.next_deadline() == 2 * cfg.ping_interval
    session.receive_text(reply("PONG"), 6.0)  # unsolicited: ignored
    assert events(session) == []


def test_a_missed_pong_asks_for_an_abort_and_stops_the_session() -> None:
    cfg = SessionConfig()
    session = started(cfg)
    session.handle_timer(cfg.ping_interval)
    session.messages_to_send()
    session.handle_timer(cfg.ping_interval + cfg.pong_timeout)
    assert events(session) == [
        HealthCheckFailed(
            cause=HealthCause.PONG_TIMEOUT, detail="no PONG within 4 s of the PING sent at 5"
        )
    ]
    assert session.state is SessionState.STALE
    assert session.next_deadline() is None
    session.subscribe([A, DEPTH], 10.0)  # allowed, but nothing goes out on a stale link
    assert session.messages_to_send() == []
    session.receive_binary(V1, 10.0)  # data still decodes
    assert isinstance(session.next_event(), Push)


def test_data_silence_watchdog_counts_from_the_ack_and_each_push() -> None:
    cfg = SessionConfig(ping_interval=29.0, pong_timeout=28.0, data_silence_timeout=10.0)
    session = started(cfg)
    session.subscribe([A], 0.0)
    assert session.next_deadline() == cfg.ack_timeout  # not held yet: no watchdog
    session.receive_text(reply(A), 1.0)
    assert session.next_deadline() == 11.0
    session.receive_binary(trade_push(A, 1), 8.0)
    assert session.next_deadline() == 18.0
    session.handle_timer(18.0)
    assert events(session)[-1] == HealthCheckFailed(
        cause=HealthCause.DATA_SILENCE,
        detail="no push for 10 s with topics subscribed (limit 10 s)",
    )


def test_idle_without_subscriptions_warns_before_mexc_closes() -> None:
    cfg = SessionConfig(ping_interval=29.0, pong_timeout=28.0, idle_timeout=25.0)
    assert cfg.idle_timeout is not None
    session = started(cfg)
    assert session.next_deadline() == cfg.idle_timeout
    session.handle_timer(cfg.idle_timeout)
    assert events(session) == [IdleWithoutSubscriptions(idle_for=cfg.idle_timeout)]
    assert session.next_deadline() == 29.0  # once per idle stretch
    session.subscribe([A], 26.0)
    session.receive_text(reply(A), 26.5)
    session.unsubscribe([A], 27.0)
    session.receive_text(reply(A), 27.5)
    assert session.next_deadline() == min(27.5 + cfg.idle_timeout, 29.0)


def test_rotation_is_due_well_before_the_24h_cut() -> None:
    cfg = SessionConfig(ping_interval=29.0, pong_timeout=28.0, idle_timeout=None)
    session = Session(cfg)
    session.start(100.0)
    session.handle_timer(100.0 + cfg.rotate_after)
    assert events(session) == [RotationDue(age=cfg.rotate_after, remaining=3600.0)]
    assert session.state is SessionState.DRAINING
    session.subscribe([A], 100.0 + cfg.rotate_after)  # still usable while draining
    assert session.messages_to_send()[-1] == wire.encode_subscription([A])


# ---------------------------------------------------------------- frames


def test_pushes_decode_into_push_events() -> None:
    session = started()
    session.subscribe([DEPTH], 0.0)
    session.receive_binary(V1, 0.0)
    push = session.next_event()
    assert isinstance(push, Push)
    assert push.channel == "spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT"
    assert push.body.to_version == "10023"  # type: ignore[union-attr]
    assert session.stats.pushes == 1
    assert session.stats.push_bytes == {DEPTH: len(V1)}
    assert session.schema_drift.frames == 1


def test_malformed_frames_are_counted_events_with_context_until_too_many() -> None:
    cfg = SessionConfig(max_consecutive_bad_frames=3)
    session = started(cfg)
    bad = V1[:50]
    session.receive_binary(bad, 0.0)
    event = session.next_event()
    assert isinstance(event, FrameRejected)
    assert event.kind is FrameKind.BINARY
    assert (event.size, event.consecutive, event.total) == (50, 1, 1)
    assert event.offset is not None
    assert event.field
    assert "[" in event.excerpt
    session.receive_binary(V1, 0.1)  # a good frame ends the run
    session.receive_text("{not json", 0.2)
    session.receive_binary(b"\xff", 0.3)
    got = events(session)
    assert isinstance(got[-1], FrameRejected)
    assert got[-1].consecutive == 2
    text_event = got[-2]
    assert isinstance(text_event, FrameRejected)
    assert text_event.kind is FrameKind.TEXT
    session.receive_binary(b"\xff", 0.4)
    got = events(session)
    assert got[-1] == HealthCheckFailed(
        cause=HealthCause.BAD_FRAMES, detail="3 bad frames in a row"
    )
    assert session.stats.bad_frames == 4


def test_text_frames_that_are_not_replies_are_typed_events() -> None:
    session = started()
    session.receive_text("Invalid listen key", 0.0)
    session.receive_text("hello", 0.0)
    session.receive_text(reply("oops", code=1), 0.0)
    assert events(session) == [
        ListenKeyInvalidated(text="Invalid listen key"),
        ServerNoticeReceived(text="hello"),
        ErrorReplyReceived(code=1, msg="oops", request_id=0),
    ]


# ---------------------------------------------------------------- misuse


def test_the_clock_must_be_monotonic_and_finite() -> None:
    session = started()
    session.handle_timer(5.0)
    with pytest.raises(ClockError):
        session.handle_timer(4.0)
    with pytest.raises(ClockError):
        session.handle_timer(math.nan)
    assert session.state is SessionState.OPEN


def test_receiving_before_the_open_is_an_error_and_final() -> None:
    session = Session()
    with pytest.raises(StateError):
        session.receive_binary(V1, 0.0)
    assert session.state is SessionState.ERROR
    with pytest.raises(StateError):
        session.handle_timer(1.0)
    with pytest.raises(ArgumentTypeError):
        started().receive_text(b"PONG", 0.0)  # type: ignore[arg-type]


# ---------------------------------------------------------------- table sweeps


def _session_in(state: SessionState) -> tuple[Session, float]:
    cfg = SessionConfig(rotate_after=100.0, max_consecutive_bad_frames=1)
    session = Session(cfg)
    session.subscribe([A], 0.0)
    if state is SessionState.CONNECTING:
        return session, 0.0
    session.start(0.0)
    now = 0.0
    if state is SessionState.DRAINING:
        session.receive_text(reply(A), 0.0)
        for now in range(5, 101, 5):
            session.handle_timer(now)
            session.receive_text(reply("PONG"), now)
            session.receive_binary(V1, now)
        assert session.state is SessionState.DRAINING
        return session, float(now)
    if state is SessionState.STALE:
        session.receive_binary(b"\xff", 0.0)
    elif state is SessionState.CLOSED:
        session.close()
    elif state is SessionState.ERROR:
        with pytest.raises(StateError):
            session.start(0.0)
    assert session.state is state
    return session, now


_SESSION_CALLS: dict[SessionInput, Callable[[Session, float], None]] = {
    SessionInput.START: lambda s, now: s.start(now),
    SessionInput.SUBSCRIBE: lambda s, now: s.subscribe([B], now),
    SessionInput.UNSUBSCRIBE: lambda s, now: s.unsubscribe([A], now),
    SessionInput.RECEIVE: lambda s, now: s.receive_text(reply("PONG"), now),
    SessionInput.TIMER: lambda s, now: s.handle_timer(now),
    SessionInput.CLOSE: lambda s, now: s.close(),
}


@pytest.mark.parametrize(
    ("state", "inp"),
    list(itertools.product(SessionState, SessionInput)),
    ids=lambda x: x.name,
)
def test_session_table_sweep(state: SessionState, inp: SessionInput) -> None:
    """Every (state, input): follow the table, or raise StateError and end in ERROR."""
    session, now = _session_in(state)
    expected = _SESSION_TRANSITIONS.get((state, inp))
    if inp is SessionInput.ROTATE:
        if expected is None:
            return  # rotation is internal: only reachable from OPEN (checked below)
        session.handle_timer(now + 100.0)
        events(session)
        assert session.state in (expected, SessionState.STALE)
        return
    if inp is SessionInput.UNHEALTHY:
        if expected is None or state is not SessionState.OPEN:
            return  # internal: exercised from OPEN here, DRAINING in the machine
        session.receive_binary(b"\xff", now)
        assert session.state is expected
        return
    call = _SESSION_CALLS[inp]
    if expected is None:
        with pytest.raises(StateError):
            call(session, now)
        assert session.state is SessionState.ERROR
        return
    call(session, now)
    assert session.state is expected


def _topic_in(state: SubscriptionState) -> tuple[Session, float]:
    """A session (rate 1/s, so requests can be held back) with ``A`` in ``state``."""
    cfg = SessionConfig(
        max_messages_per_second=1,
        ping_interval=29.0,
        pong_timeout=28.0,
        data_silence_timeout=None,
        idle_timeout=None,
    )
    session = started(cfg)
    S = SubscriptionState  # noqa: N806 - short alias for the table's names
    now = 10.0
    if state is S.UNSUBSCRIBED:
        return session, now
    if state is S.PENDING:
        session.subscribe([B], now)  # takes the one slot of this second
        session.subscribe([A], now)
    else:
        session.subscribe([A], now)
    if state is S.CANCELLING:
        session.unsubscribe([A], now)
    elif state is S.REJECTED:
        session.receive_text(rejection(A), now)
    elif state is S.FAILED:
        now += cfg.ack_timeout
        session.handle_timer(now)
    elif state in (S.ACTIVE, S.UNSUBSCRIBE_PENDING, S.UNSUBSCRIBING, S.REJOINING):
        session.receive_text(reply(A), now)
        if state is not S.UNSUBSCRIBE_PENDING and state is not S.ACTIVE:
            now += 1.0
        if state is not S.ACTIVE:
            session.unsubscribe([A], now)
        if state is S.REJOINING:
            session.subscribe([A], now)
    session.messages_to_send()
    events(session)
    assert session.state_of(A) is state, session.state_of(A)
    return session, now


@pytest.mark.parametrize(
    ("state", "inp"),
    list(itertools.product(SubscriptionState, SubscriptionInput)),
    ids=lambda x: x.name,
)
def test_subscription_table_sweep(state: SubscriptionState, inp: SubscriptionInput) -> None:
    """Every (state, input) through the public API: the table, or no change."""
    session, now = _topic_in(state)
    expected = _SUBSCRIPTION_TRANSITIONS.get((state, inp))
    if inp is SubscriptionInput.SUBSCRIBE:
        act: Callable[[], None] = lambda: session.subscribe([A], now)  # noqa: E731
    elif inp is SubscriptionInput.UNSUBSCRIBE:
        act = lambda: session.unsubscribe([A], now)  # noqa: E731
    elif inp is SubscriptionInput.SEND:
        act = lambda: session.handle_timer(now + 1.0)  # noqa: E731
    elif inp is SubscriptionInput.ACK:
        act = lambda: session.receive_text(reply(A), now)  # noqa: E731
    elif inp is SubscriptionInput.REJECT:
        act = lambda: session.receive_text(rejection(A), now)  # noqa: E731
    else:
        act = lambda: session.handle_timer(now + 5.0)  # noqa: E731
    if expected is None:
        if inp in (SubscriptionInput.SUBSCRIBE, SubscriptionInput.UNSUBSCRIBE):
            with pytest.raises(SubscriptionStateError):
                act()
        else:
            act()
            if inp in (SubscriptionInput.ACK, SubscriptionInput.REJECT):
                assert isinstance(events(session)[-1], UnexpectedReplyReceived)
        # A timer that finds no ack deadline may still send a queued request.
        sends = _SUBSCRIPTION_TRANSITIONS.get((state, SubscriptionInput.SEND))
        after = sends if inp is SubscriptionInput.TIMEOUT and sends is not None else state
        assert session.state_of(A) is after
        assert session.state is SessionState.OPEN
        return
    act()
    queued = {
        SubscriptionState.PENDING: SubscriptionState.SUBSCRIBING,
        SubscriptionState.UNSUBSCRIBE_PENDING: SubscriptionState.UNSUBSCRIBING,
    }
    if inp is SubscriptionInput.SEND or expected not in queued:
        assert session.state_of(A) is expected
    else:  # re-queued topics go straight out when a slot is free
        assert session.state_of(A) in (expected, queued[expected])


def test_every_state_is_reachable_and_every_table_entry_is_consistent() -> None:
    targets = set(_SUBSCRIPTION_TRANSITIONS.values())
    assert targets == set(SubscriptionState)
    assert {s for s, _ in _SESSION_TRANSITIONS} == set(SessionState) - {SessionState.ERROR}


def test_routed_inputs_always_find_a_table_entry() -> None:
    """Why the missing-pair branch of ``Session._topic_step`` cannot run (its pragma).

    The pacer sends only queued topics (PENDING, UNSUBSCRIBE_PENDING); replies and
    ack deadlines reach only topics in flight; rejections only those whose request
    in flight is a SUBSCRIPTION (SUBSCRIBING, CANCELLING).
    """
    table = _SUBSCRIPTION_TRANSITIONS
    S, Inp = SubscriptionState, SubscriptionInput  # noqa: N806 - short aliases
    assert {s for s, i in table if i is Inp.SEND} == {S.PENDING, S.UNSUBSCRIBE_PENDING}
    assert {table[s, Inp.SEND] for s in (S.PENDING, S.UNSUBSCRIBE_PENDING)} <= _IN_FLIGHT
    for state in _IN_FLIGHT:
        assert (state, Inp.ACK) in table
        assert (state, Inp.TIMEOUT) in table
    assert {s for s, i in table if i is Inp.REJECT} == {S.SUBSCRIBING, S.CANCELLING}


def test_tables_render_as_rest() -> None:
    text = render_transitions(_SUBSCRIPTION_TRANSITIONS, title="topic state")
    assert text.startswith(".. list-table::")
    assert "   * - ``CANCELLING``" in text
    assert text.count("\n   * - ") == len(SubscriptionState) + 1


# ---------------------------------------------------------------- edges


def test_opened_at_is_the_start_time() -> None:
    session = Session(QUIET)
    before = session.opened_at
    session.start(12.5)
    session.close()
    assert (before, session.opened_at) == (None, 12.5)  # still readable once closed


def test_bad_frames_never_end_the_session_when_the_limit_is_off() -> None:
    session = started(SessionConfig(max_consecutive_bad_frames=None))
    for n in range(1, 51):
        session.receive_binary(b"\xff", float(n))
    got = events(session)
    assert [type(e) for e in got] == [FrameRejected] * 50
    assert isinstance(got[-1], FrameRejected)
    assert (got[-1].consecutive, got[-1].total) == (50, 50)
    assert session.state is SessionState.OPEN


def test_no_rotation_deadline_once_draining() -> None:
    cfg = SessionConfig(
        ping_interval=29.0, pong_timeout=28.0, idle_timeout=None, rotate_after=100.0
    )
    session = started(cfg)
    assert session.next_deadline() == 29.0
    session.handle_timer(100.0)  # the overdue PING goes out, and the rotation is due
    assert session.state is SessionState.DRAINING
    assert session.messages_to_send() == [wire.encode_ping()]
    assert session.next_deadline() == 100.0 + cfg.pong_timeout
    session.receive_text(reply("PONG"), 100.5)
    assert session.next_deadline() == 100.0 + cfg.ping_interval  # not the past rotation time
    session.handle_timer(129.0)
    assert [type(e) for e in events(session)] == [RotationDue, PongReceived]  # once only


# ---------------------------------------------------------------- stray pushes


@pytest.mark.parametrize("state", list(SubscriptionState), ids=lambda s: s.name)
def test_pushes_are_received_from_the_ask_until_the_unsubscription_is_acknowledged(
    state: SubscriptionState,
) -> None:
    session, now = _topic_in(state)
    session.receive_binary(trade_push(A, 1), now)
    (event,) = events(session)
    if state in _RECEIVING:
        assert isinstance(event, Push)
        assert session.stats.pushes == 1
        assert not session.stats.strays
    else:
        assert isinstance(event, StrayPushReceived)
        assert (event.reason, event.topic) == (StrayReason.NOT_HELD, A)
        assert event.expected == "PublicAggreDealsV3Api"
        assert session.stats.strays == {StrayReason.NOT_HELD: 1}
        assert session.stats.pushes == 0
    assert state in _RECEIVING or state in (
        SubscriptionState.UNSUBSCRIBED,
        SubscriptionState.REJECTED,
    )


def test_a_push_after_the_unsubscription_ack_is_a_stray() -> None:
    session = started()
    session.subscribe([A], 0.0)
    session.receive_text(reply(A), 0.1)
    session.receive_binary(trade_push(A, 1), 0.2)
    session.unsubscribe([A], 0.3)
    session.receive_binary(trade_push(A, 2), 0.4)  # sent before MEXC saw the request
    session.receive_text(reply(A), 0.5)
    session.receive_binary(trade_push(A, 3), 0.6)
    got = [e for e in events(session) if isinstance(e, Push | StrayPushReceived)]
    assert [type(e) for e in got] == [Push, Push, StrayPushReceived]
    assert session.stats.pushes == 2
    assert session.stats.strays == {StrayReason.NOT_HELD: 1}


def _push(topic: str, body: object) -> bytes:
    return wire.encode_push(topic, body, symbol="BTCUSDT")  # type: ignore[arg-type]


def test_every_stray_reason_and_its_counter() -> None:
    session = started(private=True)
    session.subscribe([A, PRIVATE], 0.0)
    session.receive_text(reply(f"{A},{PRIVATE}"), 0.1)
    assert events(session) == [Subscribed(topics=(A, PRIVATE))]
    deals = PublicAggreDealsV3Api(event_type="spot@public.aggre.deals.v3.api.pb@100ms")
    unknown = UnknownBody(number=399, data=b"\x0a\x03sim")
    frames = [
        (_push(A, deals), None),
        (_push(PRIVATE, PrivateOrdersV3Api(id="1")), None),  # a private topic has no symbol
        (_push("spot@public.future.v3.api.pb@SIM", deals), StrayReason.UNKNOWN_CHANNEL),
        (_push("spot@public.future.v3.api.pb@SIM", unknown), StrayReason.UNKNOWN_CHANNEL),
        (_push(C, deals), StrayReason.NOT_HELD),  # a known channel, not subscribed
        (_push(C, unknown), StrayReason.NOT_HELD),
        (_push("spot@private.account.v3.api.pb", deals), StrayReason.NOT_HELD),
        (_push(A, unknown), StrayReason.UNKNOWN_BODY),
        (_push(A, PublicDealsV3Api()), StrayReason.FOREIGN_BODY),  # a look-alike
        (_push(PRIVATE, unknown), StrayReason.UNKNOWN_BODY),
        (_push(PRIVATE, deals), StrayReason.FOREIGN_BODY),
    ]
    for n, (frame, _) in enumerate(frames):
        session.receive_binary(frame, 1.0 + n)
    got = events(session)
    assert len(got) == len(frames)
    for event, (frame, reason) in zip(got, frames, strict=True):
        push = wire.decode_push(frame)
        if reason is None:
            assert event == push
        else:
            assert isinstance(event, StrayPushReceived)
            assert event.push == push
            assert event.reason is reason
            assert event.topic == push.channel
            assert event == wire.stray_push(push, reason)
    stats = session.stats
    assert stats.pushes == 2
    assert stats.strays == {
        StrayReason.UNKNOWN_CHANNEL: 2,
        StrayReason.NOT_HELD: 3,
        StrayReason.UNKNOWN_BODY: 2,
        StrayReason.FOREIGN_BODY: 2,
    }
    assert stats.binary_frames == stats.pushes + stats.strays.total() + stats.bad_frames
    # unknown bodies are schema drift whether or not they are strays
    assert session.schema_drift.unknown_bodies == {399: 4}
    assert session.schema_drift.frames == len(frames)


def test_unknown_fields_alone_leave_a_push_ordinary() -> None:
    session = started()
    session.subscribe([A], 0.0)
    session.receive_binary(trade_push(A, 1) + b"\x38\x01", 0.1)
    (event,) = events(session)
    assert isinstance(event, Push)
    assert event.unknown_fields
    assert not session.stats.strays
    assert session.schema_drift.drifted


def test_strays_are_signs_of_life_and_reset_the_bad_frame_run() -> None:
    cfg = SessionConfig(data_silence_timeout=10.0, max_consecutive_bad_frames=2)
    session = started(cfg)
    session.subscribe([A], 0.0)
    session.receive_text(reply(A), 0.0)
    session.receive_binary(b"\x0a\xff", 1.0)  # one bad frame
    session.receive_binary(_push(A, UnknownBody(number=399, data=b"")), 8.0)
    session.receive_binary(b"\x0a\xff", 9.0)  # one bad frame again, not two in a row
    session.handle_timer(12.0)  # the stray at 8 s fed the watchdog
    assert session.state is SessionState.OPEN
    assert not [e for e in events(session) if isinstance(e, HealthCheckFailed)]
