"""Schema drift is visible: unknown bodies and fields are reported, never fatal."""

from __future__ import annotations

import pytest

from mexc_core import errors, wire
from mexc_core._pbwire import varint
from mexc_core.events import Push, StrayPushReceived, StrayReason
from mexc_core.messages import (
    PublicAggreDepthsV3Api,
    PublicIncreaseDepthsV3Api,
    UnknownBody,
    UnknownField,
)

DEPTH = PublicAggreDepthsV3Api(event_type="spot@public.aggre.depth.v3.api.pb@100ms", to_version="7")
CHANNEL = "spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT"


def _len_field(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def test_unknown_body_number_gives_unknown_body() -> None:
    payload = b"\x0a\x03abc\x10\x05"
    frame = _len_field(1, b"spot@public.new.channel.v3.api.pb@BTCUSDT") + _len_field(316, payload)
    push = wire.decode_push(frame)
    assert push.body == UnknownBody(number=316, data=payload)
    assert push.unknown_fields == (UnknownField("PushDataV3ApiWrapper", 316, 2),)
    drift = wire.SchemaDrift()
    assert drift.observe(push) is True
    assert drift.unknown_bodies == {316: 1}
    assert drift.drifted


def test_push_as_dict_shows_an_unknown_body_and_unknown_fields() -> None:
    payload = b"\x0a\x03abc"
    frame = _len_field(1, CHANNEL.encode()) + _len_field(316, payload) + varint(7 << 3) + b"\x01"
    assert wire.push_as_dict(wire.decode_push(frame)) == {
        "channel": CHANNEL,
        "symbol": None,
        "symbol_id": None,
        "create_time": None,
        "send_time": None,
        "body_type": "UnknownBody",
        "body": {"number": 316, "data": payload.hex()},
        "unknown_fields": [["PushDataV3ApiWrapper", 316, 2], ["PushDataV3ApiWrapper", 7, 0]],
    }
    clean = wire.push_as_dict(wire.decode_push(wire.encode_push(CHANNEL, DEPTH)))
    assert "unknown_fields" not in clean
    assert clean["body_type"] == "PublicAggreDepthsV3Api"
    body = clean["body"]
    assert isinstance(body, dict)
    assert body["to_version"] == "7"


def test_unknown_body_round_trips_through_the_encoder() -> None:
    body = UnknownBody(number=400, data=b"\x08\x01")
    frame = wire.encode_push("x", body)
    assert wire.decode_push(frame).body == body


@pytest.mark.parametrize("number", [0, 299, 2**29])
def test_encoder_refuses_impossible_unknown_body_numbers(number: int) -> None:
    with pytest.raises(errors.EncodeError):
        wire.encode_push("x", UnknownBody(number=number, data=b""))


def test_known_body_wins_over_an_unknown_one() -> None:
    depth = wire.encode_push(CHANNEL, DEPTH)
    frame = _len_field(316, b"\x08\x01") + depth
    push = wire.decode_push(frame)
    assert push.body == DEPTH
    assert push.unknown_fields == (UnknownField("PushDataV3ApiWrapper", 316, 2),)


def test_unknown_field_inside_a_body_is_listed_with_its_message() -> None:
    body_bytes = b"\x2a\x017" + varint(7 << 3 | 0) + varint(1234) + b"\x1a\x01e"
    frame = _len_field(1, CHANNEL.encode()) + _len_field(313, body_bytes)
    push = wire.decode_push(frame)
    assert push.body == PublicAggreDepthsV3Api(event_type="e", to_version="7")
    assert push.unknown_fields == (UnknownField("PublicAggreDepthsV3Api", 7, 0),)
    drift = wire.SchemaDrift()
    drift.observe(push)
    drift.observe(push)
    assert drift.unknown_fields == {("PublicAggreDepthsV3Api", 7): 2}
    assert drift.frames == 2
    assert "PublicAggreDepthsV3Api" in repr(drift)


def test_a_known_field_with_a_new_wire_type_is_unknown_not_an_error() -> None:
    # toVersion (5) sent as a varint instead of a string: kept as unknown, like Google
    body_bytes = varint(5 << 3 | 0) + varint(99)
    push = wire.decode_push(_len_field(313, body_bytes))
    assert push.body == PublicAggreDepthsV3Api()
    assert push.unknown_fields == (UnknownField("PublicAggreDepthsV3Api", 5, 0),)


def test_clean_frames_do_not_count_as_drift() -> None:
    drift = wire.SchemaDrift()
    assert drift.observe(wire.decode_push(wire.encode_push(CHANNEL, DEPTH))) is False
    assert not drift.drifted
    assert drift.frames == 1


def test_no_body_at_all_is_a_decode_error() -> None:
    with pytest.raises(errors.DecodeError, match="no body"):
        wire.decode_push(_len_field(1, CHANNEL.encode()))
    with pytest.raises(errors.DecodeError, match="no body"):
        wire.decode_push(b"")


def test_stray_reason_judges_a_push_by_its_channel_and_body() -> None:
    assert wire.stray_reason(Push(channel=CHANNEL, body=DEPTH)) is None
    unknown = Push(channel=CHANNEL, body=UnknownBody(number=399, data=b""))
    assert wire.stray_reason(unknown) is StrayReason.UNKNOWN_BODY
    foreign = Push(channel=CHANNEL, body=PublicIncreaseDepthsV3Api())
    assert wire.stray_reason(foreign) is StrayReason.FOREIGN_BODY
    nowhere = Push(channel="spot@public.future.v3.api.pb@SIM", body=DEPTH)
    assert wire.stray_reason(nowhere) is StrayReason.UNKNOWN_CHANNEL
    assert wire.stray_push(foreign, StrayReason.FOREIGN_BODY) == StrayPushReceived(
        push=foreign, reason=StrayReason.FOREIGN_BODY, expected="PublicAggreDepthsV3Api"
    )
    event = wire.stray_push(nowhere, StrayReason.UNKNOWN_CHANNEL)
    assert event.expected is None
    assert event.topic == "spot@public.future.v3.api.pb@SIM"
    assert hash(event) == hash(wire.stray_push(nowhere, StrayReason.UNKNOWN_CHANNEL))
