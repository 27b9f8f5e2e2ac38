"""Malformed frames raise DecodeError with the offset, the field and a hex excerpt."""

from __future__ import annotations

import pytest

from mexc_core import errors, wire
from mexc_core._pbwire import varint
from mexc_core.errors import hex_excerpt
from mexc_core.messages import (
    PrivateDealsV3Api,
    PublicAggreDealsV3Api,
    PublicAggreDealsV3ApiItem,
    UnknownBody,
    UnknownField,
)
from tests.google_oracle import GoogleDecodeError, count_unknown, google_parse, push_from_google

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
    frame = b"\x0a" + varint(2**32 - 1) + b"abc"  # the largest length upb reads
    with pytest.raises(errors.DecodeError, match="past the end"):
        wire.decode_push(frame)
    with pytest.raises(errors.DecodeError, match="longer than 5 bytes"):
        wire.decode_push(b"\x0a" + varint(2**62) + b"abc")


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


# ---------------------------------------------------------------- unknown-field skipping
#
# Every rule of _pbwire's skipper, one frame each, checked against Google's runtime
# (upb): both accept the frame with the same unknown field, or both reject it. The
# random differential tests (test_codec_differential.py) find these too, but only
# by chance; these run every time.


def _tag(number: int, wire_type: int) -> bytes:
    return varint(number << 3 | wire_type)


SKIPPED: list[tuple[str, bytes, tuple[int, int]]] = [
    ("varint, multi-byte value", _tag(7, 0) + varint(300), (7, 0)),
    ("varint, negative (10 bytes)", _tag(7, 0) + varint(2**64 - 1), (7, 0)),
    ("fixed64", _tag(7, 1) + bytes(range(8)), (7, 1)),
    ("fixed32", _tag(7, 5) + bytes(range(4)), (7, 5)),
    ("len, multi-byte length", _tag(7, 2) + varint(200) + bytes(200), (7, 2)),
    ("multi-byte field number", _tag(5000, 0) + b"\x01", (5000, 0)),
    (
        "group holding a multi-byte tag",
        _tag(7, 3) + _tag(2000, 0) + b"\x01" + _tag(7, 4),
        (7, 3),
    ),
]


@pytest.mark.parametrize(
    ("field", "want"), [(f, w) for _, f, w in SKIPPED], ids=[name for name, _, _ in SKIPPED]
)
def test_unknown_fields_of_every_wire_type_are_skipped_like_google(
    field: bytes, want: tuple[int, int]
) -> None:
    frame = field + FRAME
    push = wire.decode_push(frame)
    assert push == wire.decode_push(FRAME)._replace(
        unknown_fields=(UnknownField("PushDataV3ApiWrapper", *want),)
    )
    google = google_parse(frame)
    assert count_unknown(google) == 1
    assert push_from_google(google) == wire.decode_push(FRAME)


REJECTED: list[tuple[str, bytes, str, int]] = [
    # (case, frame, reason, offset)
    ("varint longer than 10 bytes", _tag(7, 0) + b"\x80" * 10 + b"\x01", "longer than 10", 10),
    ("fixed64 cut short", _tag(7, 1) + bytes(3), "frame ends inside a field", 4),
    ("fixed32 cut short", _tag(7, 5) + bytes(2), "frame ends inside a field", 3),
    ("len cut short", _tag(7, 2) + varint(200) + bytes(10), "frame ends inside a field", 13),
    ("field number 0 in a group", _tag(7, 3) + b"\x00", "invalid field tag 0", 1),
    ("tag wider than 32 bits in a group", _tag(7, 3) + varint(1 << 33), "wider than 32 bits", 5),
    (
        "unknown field past the end of its body",
        # the body is 3 bytes; the unknown field in it claims 5, which the frame has
        varint(313 << 3 | 2) + b"\x03" + _tag(7, 2) + b"\x05a" + _tag(1, 2) + b"\x08abcdefgh",
        "past the end of its enclosing message",
        4,
    ),
]


@pytest.mark.parametrize(
    ("frame", "reason", "offset"),
    [(f, r, o) for _, f, r, o in REJECTED],
    ids=[name for name, *_ in REJECTED],
)
def test_malformed_unknown_fields_are_rejected_like_google(
    frame: bytes, reason: str, offset: int
) -> None:
    with pytest.raises(errors.DecodeError) as info:
        wire.decode_push(frame)
    assert reason in info.value.reason
    assert info.value.offset == offset
    assert info.value.size == len(frame)
    with pytest.raises(GoogleDecodeError):
        google_parse(frame)


def test_an_unknown_body_with_a_long_payload_keeps_every_byte() -> None:
    payload = bytes(range(200))  # a two-byte length prefix
    frame = varint(1 << 3 | 2) + varint(len(CHANNEL)) + CHANNEL.encode()
    frame += varint(316 << 3 | 2) + varint(len(payload)) + payload
    push = wire.decode_push(frame)
    assert push.body == UnknownBody(number=316, data=payload)
    assert wire.encode_push(CHANNEL, push.body) == frame


def test_the_encoder_checks_bool_fields() -> None:
    with pytest.raises(
        errors.EncodeError, match=r"PrivateDealsV3Api\.is_maker must be bool, not int"
    ):
        wire.encode_push(CHANNEL, PrivateDealsV3Api(is_maker=1))  # type: ignore[arg-type]
    frame = wire.encode_push(CHANNEL, PrivateDealsV3Api(is_maker=True, is_self_trade=False))
    assert wire.decode_push(frame).body == PrivateDealsV3Api(is_maker=True)


@pytest.mark.parametrize(
    "frame",
    [
        b"\x8a\x80\x80\x80\x80\x00\x02ch",  # 6-byte tag (non-minimal): upb refuses it
        b"\x8a\x80\x80\x80\x10\x02ch",  # 5-byte tag above 2**32
        b"\x0a\x82\x80\x80\x80\x80\x00ch",  # 6-byte length
        b"\x0a\x82" + b"\x80" * 8 + b"\x00ch",  # 10-byte length
        b"\xda\x13\x04" + b"\x8a\x80\x80\x80\x80\x00",  # overlong tag inside a body
    ],
)
def test_overlong_tags_and_lengths_are_refused_like_google(frame: bytes) -> None:
    """Found in review: tags and lengths are 32-bit varints of at most 5 bytes."""
    with pytest.raises(errors.DecodeError):
        wire.decode_push(frame)
    with pytest.raises(GoogleDecodeError):
        google_parse(frame)


def test_five_byte_tags_and_lengths_are_fine() -> None:
    frame = b"\x8a\x80\x80\x80\x00\x82\x80\x80\x80\x00ch" + b"\xda\x13\x00"
    assert wire.decode_push(frame).channel == "ch"
    google_parse(frame)


def test_unknown_body_with_a_known_number_is_refused() -> None:
    """Found in review: it encoded, then failed to decode as the known body."""
    with pytest.raises(errors.EncodeError, match="known"):
        wire.encode_push(CHANNEL, UnknownBody(number=313, data=b"\x08\x01"))
