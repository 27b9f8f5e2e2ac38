"""JSON control frames: requests out, acks / PONG / rejections / notices in."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mexc_core import errors, wire

DEALS = "spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT"
DEPTH = "spot@public.aggre.depth.v3.api.pb@10ms@BTCUSDT"


def test_subscription_request_is_exactly_mexcs_shape() -> None:
    assert wire.encode_subscription([DEALS]) == (
        '{"method":"SUBSCRIPTION","params":["spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT"]}'
    )
    assert json.loads(wire.encode_subscription([DEALS, DEPTH], request_id=7)) == {
        "method": "SUBSCRIPTION",
        "params": [DEALS, DEPTH],
        "id": 7,
    }


def test_unsubscription_and_ping() -> None:
    assert json.loads(wire.encode_unsubscription((DEALS,))) == {
        "method": "UNSUBSCRIPTION",
        "params": [DEALS],
    }
    assert wire.encode_ping() == '{"method":"PING"}'
    assert wire.encode_ping(request_id=0) == '{"method":"PING","id":0}'


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: wire.encode_request("PONG"), "unknown method"),
        (lambda: wire.encode_request("PING", [DEALS]), "PING takes no params"),
        (lambda: wire.encode_subscription([]), "at least one topic"),
        (lambda: wire.encode_subscription(DEALS), "not one string"),
        (lambda: wire.encode_subscription([""]), "non-empty str"),
        (lambda: wire.encode_subscription([1]), "non-empty str"),  # type: ignore[list-item]
        (lambda: wire.encode_subscription([DEALS], request_id=-1), "request_id"),
        (lambda: wire.encode_subscription([DEALS], request_id=2**32), "request_id"),
        (lambda: wire.encode_subscription([DEALS], request_id=True), "request_id"),
    ],
)
def test_bad_requests_are_local_errors(call: object, message: str) -> None:
    with pytest.raises(errors.EncodeError, match=message) as info:
        call()  # type: ignore[operator]
    assert isinstance(info.value, errors.LocalProtocolError)


def test_ack_single_and_comma_joined() -> None:
    ack = wire.decode_control('{"id":0,"code":0,"msg":"' + DEALS + '"}')
    assert ack == wire.Ack(topics=(DEALS,), request_id=0, msg=DEALS)
    both = wire.decode_control(f'{{"id":3,"code":0,"msg":"{DEALS},{DEPTH}"}}')
    assert isinstance(both, wire.Ack)
    assert both.topics == (DEALS, DEPTH)
    assert both.request_id == 3


def test_pong() -> None:
    assert wire.decode_control('{"id":0,"code":0,"msg":"PONG"}') == wire.Pong(request_id=0)
    assert wire.decode_control(b'{"id":0,"code":0,"msg":"PONG"}') == wire.Pong(request_id=0)


def test_rejection_with_mexcs_exact_text() -> None:
    text = "Not Subscribed successfully! [spot@public.miniTicker.v3.api@BTCUSDT@UTC+0].  Reason： Blocked! "  # noqa: E501
    reply = wire.decode_control(json.dumps({"id": 0, "code": 0, "msg": text}, ensure_ascii=False))
    assert reply == wire.SubscriptionRejected(
        topics=("spot@public.miniTicker.v3.api@BTCUSDT@UTC+0",),
        reason="Blocked!",
        request_id=0,
        msg=text,
    )


@pytest.mark.parametrize(
    ("text", "topics", "reason"),
    [
        (
            f"Not Subscribed successfully! [{DEALS},{DEPTH}]. Reason: Blocked!",
            (DEALS, DEPTH),
            "Blocked!",
        ),
        (f"Not Subscribed successfully! [{DEALS}]", (DEALS,), ""),
        ("Not Subscribed successfully! []. Reason： Blocked!", (), "Blocked!"),
        ("Not Subscribed successfully!", (), ""),
    ],
)
def test_rejection_variants(text: str, topics: tuple[str, ...], reason: str) -> None:
    reply = wire.decode_control(json.dumps({"code": 0, "msg": text}))
    assert isinstance(reply, wire.SubscriptionRejected)
    assert reply.topics == topics
    assert reply.reason == reason


def test_nonzero_code_is_an_error_reply() -> None:
    reply = wire.decode_control('{"id":1,"code":30001,"msg":"bad"}')
    assert reply == wire.ErrorReply(code=30001, msg="bad", request_id=1)


def test_plain_text_is_a_server_notice() -> None:
    notice = wire.decode_control("Invalid listen key")
    assert notice == wire.ServerNotice(text="Invalid listen key")
    assert isinstance(notice, wire.ServerNotice)
    assert notice.is_invalid_listen_key
    assert not wire.ServerNotice(text="hello").is_invalid_listen_key


@pytest.mark.parametrize(
    "frame",
    [
        "{not json",
        "[1, 2]",
        '{"code":0}',
        '{"code":0,"msg":5}',
        '{"code":"0","msg":"x"}',
        '{"id":1.5,"code":0,"msg":"x"}',
        '{"code":true,"msg":"x"}',
        b"\xff\xfe",
        "[" * 100_000,
    ],
)
def test_malformed_replies_raise_control_frame_error(frame: str | bytes) -> None:
    with pytest.raises(errors.ControlFrameError) as info:
        wire.decode_control(frame)
    assert isinstance(info.value, errors.RemoteProtocolError)
    assert len(info.value.text) <= 200


def test_wrong_type() -> None:
    with pytest.raises(errors.ArgumentTypeError):
        wire.decode_control(5)  # type: ignore[arg-type]


@given(st.text() | st.binary())
def test_any_text_frame_is_a_reply_or_a_control_frame_error(frame: str | bytes) -> None:
    try:
        reply = wire.decode_control(frame)
    except errors.ControlFrameError:
        return
    assert isinstance(
        reply,
        wire.Ack | wire.Pong | wire.SubscriptionRejected | wire.ErrorReply | wire.ServerNotice,
    )


@given(st.lists(st.from_regex(r"[a-zA-Z0-9@.+:\-]{1,60}", fullmatch=True), min_size=1, max_size=30))
def test_requested_topics_round_trip_through_an_ack(topics: list[str]) -> None:
    request = json.loads(wire.encode_subscription(topics))
    reply = wire.decode_control(
        json.dumps({"id": 0, "code": 0, "msg": ",".join(request["params"])})
    )
    if topics == ["PONG"]:
        assert reply == wire.Pong(request_id=0)
    else:
        assert reply == wire.Ack(topics=tuple(topics), request_id=0, msg=",".join(topics))
