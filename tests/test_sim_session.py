"""The simulated server's WebSocket rules, sans-IO and in virtual time (``ServerSession``)."""

from __future__ import annotations

import json

import pytest

from mexc_core import wire
from mexc_sim.exchange import Exchange
from mexc_sim.session import (
    CLOSE_IDLE,
    CLOSE_POLICY,
    INVALID_LISTEN_KEY,
    OutgoingKind,
    ServerSession,
    WsRules,
    rejection_text,
)

DEALS = "spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT"
DEPTH = "spot@public.aggre.depth.v3.api.pb@10ms@BTCUSDT"


def new(exchange: Exchange | None = None, **kwargs: object) -> ServerSession:
    return ServerSession(exchange or Exchange(), 1, 0.0, **kwargs)  # type: ignore[arg-type]


def is_closed(session: ServerSession) -> bool:
    return session.closed  # a call, so that mypy does not narrow the attribute


def texts(session: ServerSession) -> list[str]:
    return [o.text for o in session.take_outgoing() if o.kind is OutgoingKind.TEXT]


def send(session: ServerSession, request: object, now: float = 0.0) -> list[str]:
    session.receive_text(json.dumps(request), now)
    return texts(session)


def reply(msg: str, request_id: int = 0) -> str:
    return json.dumps(
        {"id": request_id, "code": 0, "msg": msg}, separators=(",", ":"), ensure_ascii=False
    )


def test_subscription_ack_is_code_0_with_the_topics_comma_joined() -> None:
    session = new()
    got = send(session, {"method": "SUBSCRIPTION", "params": [DEALS, DEPTH]})
    assert got == [f'{{"id":0,"code":0,"msg":"{DEALS},{DEPTH}"}}']
    assert wire.decode_control(got[0]) == wire.Ack(
        topics=(DEALS, DEPTH), request_id=0, msg=f"{DEALS},{DEPTH}"
    )
    # Subscribing again is acknowledged and takes no second slot.
    assert send(session, {"method": "SUBSCRIPTION", "params": [DEALS], "id": 7}) == [
        reply(DEALS, 7)
    ]
    assert list(session.topics) == [DEALS, DEPTH]


@pytest.mark.parametrize(
    "topic",
    [
        "spot@public.aggre.deals.v3.api.pb@BTCUSDT",  # no interval: malformed
        "spot@public.miniTicker.v3.api@BTCUSDT@UTC+0",  # retired JSON channel
        "spot@public.deals.v3.api.pb@BTCUSDT",  # legacy
        "spot@public.aggre.deals.v3.api.pb@100ms@btcusdt",  # lower case
        "spot@public.aggre.deals.v3.api.pb@100ms@NOPEUSDT",  # not listed
        "spot@private.orders.v3.api.pb",  # private without a listen key
        "nonsense",
    ],
)
def test_rejection_text_is_exactly_mexcs(topic: str) -> None:
    session = new()
    got = send(session, {"method": "SUBSCRIPTION", "params": [topic, DEALS]})
    expected = f"Not Subscribed successfully! [{topic}].  Reason： Blocked! "
    assert got == [reply(expected), reply(DEALS)]
    assert "\uff1a" in got[0]
    rejected = wire.decode_control(got[0])
    assert isinstance(rejected, wire.SubscriptionRejected)
    assert rejected.topics == (topic,)
    assert rejected.reason == "Blocked!"
    assert rejection_text([topic]) == expected


def test_the_31st_subscription_is_refused() -> None:
    exchange = Exchange()
    session = new(exchange)
    intervals = (
        "Min1",
        "Min5",
        "Min15",
        "Min30",
        "Min60",
        "Hour4",
        "Hour8",
        "Day1",
        "Week1",
        "Month1",
    )
    topics = [f"spot@public.kline.v3.api.pb@{s}@{i}" for s in exchange.markets for i in intervals]
    topics.append("spot@public.aggre.deals.v3.api.pb@10ms@BTCUSDT")
    assert len(topics) == 31
    got = send(session, {"method": "SUBSCRIPTION", "params": topics})
    assert got == [reply(rejection_text(topics[30:])), reply(",".join(topics[:30]))]
    assert len(session.topics) == 30
    # After an unsubscription there is room again.
    assert send(session, {"method": "UNSUBSCRIPTION", "params": topics[:1]}) == [reply(topics[0])]
    assert send(session, {"method": "SUBSCRIPTION", "params": topics[30:]}) == [reply(topics[30])]


def test_unsubscription_echoes_the_topics_and_stops_pushes() -> None:
    exchange = Exchange()
    session = new(exchange)
    send(session, {"method": "SUBSCRIPTION", "params": [DEPTH]})
    exchange.advance(2.0)
    assert any(o.kind is OutgoingKind.BINARY for o in session.take_outgoing())
    assert send(session, {"method": "UNSUBSCRIPTION", "params": [DEPTH, DEALS]}, 2.0) == [
        reply(f"{DEPTH},{DEALS}")
    ]
    exchange.advance(4.0)
    assert session.take_outgoing() == []
    assert DEPTH not in exchange.feeds


@pytest.mark.parametrize("method", ["PING", "ping", "Ping"])
def test_ping_is_answered_pong_case_insensitively(method: str) -> None:
    session = new()
    assert send(session, {"method": method}) == ['{"id":0,"code":0,"msg":"PONG"}']
    assert send(session, {"method": method, "id": 42}) == ['{"id":42,"code":0,"msg":"PONG"}']
    assert isinstance(wire.decode_control(reply("PONG")), wire.Pong)


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[1,2]",
        '{"method":7}',
        '{"method":"FOO"}',
        '{"method":"SUBSCRIPTION","params":"x"}',
    ],
)
def test_unreadable_requests_get_no_reply(text: str) -> None:
    session = new()
    session.receive_text(text, 0.0)
    session.receive_binary(b"\x00", 0.0)
    assert session.take_outgoing() == []
    assert not is_closed(session)


def test_more_than_100_messages_a_second_closes() -> None:
    session = new()
    for i in range(100):
        session.receive_text('{"method":"PING"}', i * 0.001)
    assert not is_closed(session)
    # The window slides: a message a second later is fine...
    session.receive_text('{"method":"PING"}', 1.0)
    assert not is_closed(session)
    # ...the 101st within one second is not.
    for i in range(100):
        session.receive_text('{"method":"PING"}', 1.5 + i * 0.001)
    assert is_closed(session)
    out = session.take_outgoing()
    assert out[-1].kind is OutgoingKind.CLOSE
    assert out[-1].code == CLOSE_POLICY
    session.receive_text('{"method":"PING"}', 2.0)
    assert session.take_outgoing() == []


def run_timers(session: ServerSession, exchange: Exchange, until: float) -> float:
    """Advance like the server does: to each deadline in turn; the close time."""
    now = 0.0
    while not session.closed and now < until:
        deadline = session.next_deadline()
        assert deadline is not None
        now = min(deadline, until)
        exchange.advance(now)
        session.handle_timer(now)
    return now


def test_no_valid_subscription_closes_at_30_s() -> None:
    exchange = Exchange()
    session = new(exchange, rules=WsRules(ping_interval=None))
    send(session, {"method": "SUBSCRIPTION", "params": ["spot@public.deals.v3.api.pb@BTCUSDT"]})
    send(session, {"method": "PING"}, 20.0)  # a PING does not count as a subscription
    assert run_timers(session, exchange, 100.0) == 30.0
    close = session.take_outgoing()[-1]
    assert (close.kind, close.code, close.text) == (
        OutgoingKind.CLOSE,
        CLOSE_IDLE,
        "no valid subscription",
    )


def test_no_data_closes_at_60_s_and_ping_keeps_alive() -> None:
    exchange = Exchange()
    # A channel that stays silent: a kline of a market whose pushes we never deliver.
    session = new(exchange, rules=WsRules(ping_interval=None, idle_no_data=60.0))
    send(session, {"method": "SUBSCRIPTION", "params": [DEPTH]})
    exchange.unsubscribe(session, DEPTH)  # the exchange stops sending: no data flows
    send(session, {"method": "ping"}, 50.0)
    assert run_timers(session, exchange, 200.0) == 110.0
    assert session.close_reason == "no data"


def test_data_keeps_a_subscribed_connection_alive_until_24_h() -> None:
    exchange = Exchange()
    rules = WsRules(ping_interval=None, max_age=300.0)  # the 24 h rule, scaled down
    session = new(exchange, rules=rules)
    send(
        session, {"method": "SUBSCRIPTION", "params": ["spot@public.kline.v3.api.pb@BTCUSDT@Min1"]}
    )
    assert run_timers(session, exchange, 1000.0) == 300.0
    assert session.close_reason == "connection reached 24 h"
    assert WsRules().max_age == 24 * 3600


def test_unsubscribing_everything_restarts_the_30_s_clock() -> None:
    exchange = Exchange()
    session = new(exchange, rules=WsRules(ping_interval=None))
    send(session, {"method": "SUBSCRIPTION", "params": [DEPTH]})
    send(session, {"method": "UNSUBSCRIPTION", "params": [DEPTH]}, 100.0)
    assert session.next_deadline() == 130.0


def test_server_sends_websocket_pings() -> None:
    exchange = Exchange()
    session = new(exchange, rules=WsRules(ping_interval=20.0))
    send(
        session, {"method": "SUBSCRIPTION", "params": ["spot@public.kline.v3.api.pb@BTCUSDT@Min1"]}
    )
    pings = 0
    now = 0.0
    while now < 65.0:
        now = min(session.next_deadline() or 65.0, 65.0)
        exchange.advance(now)
        session.handle_timer(now)
        pings += sum(o.kind is OutgoingKind.PING for o in session.take_outgoing())
    assert pings == 3


def test_an_unknown_listen_key_gets_invalid_listen_key_and_a_close() -> None:
    session = new(listen_key="nope")
    out = session.take_outgoing()
    assert [(o.kind, o.text) for o in out] == [
        (OutgoingKind.TEXT, INVALID_LISTEN_KEY),
        (OutgoingKind.CLOSE, INVALID_LISTEN_KEY),
    ]
    notice = wire.decode_control(out[0].text)
    assert isinstance(notice, wire.ServerNotice)
    assert notice.is_invalid_listen_key


def test_private_channels_need_a_listen_key_and_expire_with_it() -> None:
    exchange = Exchange()
    account = exchange.accounts[exchange.config.api_key]
    key = exchange.create_listen_key(account, 0.0)
    session = new(exchange, listen_key=key, rules=WsRules(ping_interval=None))
    private = [
        "spot@private.orders.v3.api.pb",
        "spot@private.deals.v3.api.pb",
        "spot@private.account.v3.api.pb",
    ]
    assert send(session, {"method": "SUBSCRIPTION", "params": private}) == [
        reply(",".join(private))
    ]
    # 3600 s without a PUT: the key expires and the connection hears about it.
    exchange.keep_alive(account, key, 1800.0)  # ...unless extended
    send(session, {"method": "PING"}, 3000.0)
    exchange.advance(3599.0)
    assert not is_closed(session)
    exchange.advance(5400.0)
    assert is_closed(session)
    assert session.take_outgoing()[-2:][0].text == INVALID_LISTEN_KEY
