"""Malformed frames raise DecodeError with the offset, the field and a hex excerpt."""

from __future__ import annotations

import pytest

from mexc_core import errors, wire
from mexc_core._pbwire import varint
from mexc_core.errors import hex_excerpt
from mexc_core.messages import PublicAggreDealsV3Api, PublicAggreDealsV3ApiItem

CHANNEL = "spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT"
FRAME = wire.encode_push(
    CHANNEL,
    PublicAggreDealsV3Api(deals=(PublicAggreDealsV3ApiItem(price="1.5", quantity="2"),)),
    symbol="BTCUSDT",
)


def test_truncated_frame_names_the_field_and_offset() -> None:
    with pytest.raises(errors.DecodeError) as info:
        wire.decode_push(FRAME[:-1])
    exc = info.value
    assert exc.reason == "field runs past the end of its enclosing message"
    assert exc.field == "PushDataV3ApiWrapper.public_aggre_deals"
    assert exc.size == len(FRAME) - 1
    assert "[" in exc.excerpt
    assert str(exc).startswith("field runs past the end")


def test_truncated_inside_a_varint() -> None:
    frame = b"\x30" + b"\xff\xff"  # sendTime varint never ends
    with pytest.raises(errors.DecodeError) as info:
        wire.decode_push(frame)
    assert info.value.reason == "frame ends inside a field"
    assert info.value.field == "PushDataV3ApiWrapper.send_time"
    assert info.value.offset == 3


def test_invalid_utf8_points_at_the_bad_byte() -> None:
    frame = b"\x0a\x04ab\xffc" + varint(313 << 3 | 2) + b"\x00"
    with pytest.raises(errors.DecodeError) as info:
        wire.decode_push(frame)
    assert info.value.field == "PushDataV3ApiWrapper.channel"
    assert info.value.offset == 4
    assert "UTF-8" in info.value.reason


def test_overlong_varint() -> None:
    frame = b"\x30" + b"\x80" * 10 + b"\x01"
    with pytest.raises(errors.DecodeError, match="longer than 10 bytes"):
        wire.decode_push(frame)


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"\x0f", "invalid wire type"),
        (b"\x0c", "end-group without a start-group"),
        (b"\x00\x00", "invalid field tag"),
        (b"\x3b\x44", "end-group does not match"),
        (b"\x3b" * 120, "nested too deeply"),
    ],
)
def test_malformed_unknown_fields(frame: bytes, reason: str) -> None:
    with pytest.raises(errors.DecodeError, match=reason):
        wire.decode_push(frame)


def test_groups_are_skipped_as_unknown_fields() -> None:
    group = b"\x3b" + b"\x08\x01" + b"\x43\x08\x02\x44" + b"\x3c"  # field 7 group, nested 8
    frame = group + wire.encode_push(CHANNEL, PublicAggreDealsV3Api())
    push = wire.decode_push(frame)
    assert [(u.number, u.wire_type) for u in push.unknown_fields] == [(7, 3)]


def test_huge_length_is_an_error_not_an_allocation() -> None:
    frame = b"\x0a" + varint(2**62) + b"abc"
    with pytest.raises(errors.DecodeError, match="past the end"):
        wire.decode_push(frame)


def test_wrong_argument_type() -> None:
    with pytest.raises(errors.ArgumentTypeError):
        wire.decode_push("not bytes")  # type: ignore[arg-type]
    assert issubclass(errors.ArgumentTypeError, TypeError)


def test_hex_excerpt_edges() -> None:
    assert hex_excerpt(b"", 0) == "(empty)"
    assert hex_excerpt(b"\x01\x02", 2) == "0102[<end>]"
    assert hex_excerpt(bytes(range(40)), 20, radius=2) == "...1213[14]1516..."
    assert hex_excerpt(bytes(range(4)), 0, radius=1) == "[00]01..."


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (PublicAggreDealsV3Api(event_type=5), "must be str"),  # type: ignore[arg-type]
        (
            PublicAggreDealsV3Api(deals=(PublicAggreDealsV3ApiItem(trade_type=2**31),)),
            "does not fit in int32",
        ),
        (
            PublicAggreDealsV3Api(deals=(PublicAggreDealsV3ApiItem(time=True),)),
            "must be int",
        ),
        (PublicAggreDealsV3Api(deals=("x",)), "must be PublicAggreDealsV3ApiItem"),  # type: ignore[arg-type]
        (PublicAggreDealsV3Api(event_type="\ud800"), "not encodable"),
        ("a string", "must be a message record"),
    ],
)
def test_encoder_rejects_bad_values(body: object, message: str) -> None:
    with pytest.raises(errors.EncodeError, match=message):
        wire.encode_push(CHANNEL, body)  # type: ignore[arg-type]


def test_negative_ints_encode_as_ten_bytes_like_google() -> None:
    item = PublicAggreDealsV3ApiItem(trade_type=-1, time=-(2**63))
    frame = wire.encode_push(CHANNEL, PublicAggreDealsV3Api(deals=(item,)))
    assert wire.decode_push(frame).body == PublicAggreDealsV3Api(deals=(item,))
    assert b"\x18" + b"\xff" * 9 + b"\x01" in frame
