"""Protobuf wire-format primitives shared by the generated codec.

The generated decoder (``mexc_core/_generated/codec.py``) inlines the common cases
(one-byte tags, short lengths, known fields); everything rare lives here: unknown
field skipping with Google-compatible rules, long varints, integer narrowing, error
construction, and the encoder's field writers.

Compatibility with Google's protobuf runtime (upb), which the differential tests
check on every message of the schema:

- a known field number with an unexpected wire type is an unknown field;
- unknown fields of any wire type are skipped, groups included (nested up to
  :data:`MAX_DEPTH`); an unmatched end-group, field number 0, wire types 6 and 7,
  a varint longer than 10 bytes, or a tag wider than 32 bits is an error;
- varints keep their low 64 bits; ``int64`` is their two's complement, ``int32``
  the two's complement of the low 32 bits; ``bool`` is "not zero";
- ``string`` fields must be valid UTF-8.
"""

from __future__ import annotations

from typing import Final, NamedTuple

from mexc_core.errors import ArgumentTypeError, DecodeError, EncodeError

__all__ = ("FieldInfo", "UnknownBody", "UnknownField")

MAX_DEPTH: Final = 100
_MASK64: Final = (1 << 64) - 1
_MASK32: Final = (1 << 32) - 1
_WIRE_NAMES: Final = ("varint", "fixed64", "len", "group", "end-group", "fixed32")


class UnknownField(NamedTuple):
    """A field the schema does not know, seen while decoding (schema drift).

    :ivar message: the message it was found in, e.g. ``PublicAggreDepthsV3Api``.
    :ivar number: its field number.
    :ivar wire_type: its protobuf wire type (0 varint, 1 fixed64, 2 len, 3 group,
        5 fixed32).
    """

    message: str
    number: int
    wire_type: int


class UnknownBody(NamedTuple):
    """The body of a push whose wrapper field number this schema does not know.

    MEXC numbers push bodies from 301 up; a length-delimited wrapper field numbered
    300 or more, in a frame without a known body, is taken as a new kind of body.

    :ivar number: the wrapper field number, e.g. ``316``.
    :ivar data: the body's raw bytes, for logging or a newer decoder.
    """

    number: int
    data: bytes


class FieldInfo(NamedTuple):
    """What the schema says about one field of a record (see ``messages.FIELDS``).

    :ivar attr: the record attribute, e.g. ``last_order_create_time``.
    :ivar name: the field name in the ``.proto`` file, e.g. ``lastOrderCreateTime``.
    :ivar number: the field number.
    :ivar kind: ``string``, ``int32``, ``int64``, ``bool`` or ``message``.
    :ivar repeated: a repeated field (a tuple in the record).
    :ivar optional: declared ``optional`` (``None`` when absent).
    :ivar message: for ``message`` fields, the record type's name.
    """

    attr: str
    name: str
    number: int
    kind: str
    repeated: bool
    optional: bool
    message: str | None


# ---------------------------------------------------------------- errors


def field_label(message: str, names: dict[int, str], tag: int) -> str:
    name = names.get(tag)
    return f"{message}.{name}" if name is not None else message


def truncated(data: bytes, pos: int, label: str) -> DecodeError:
    del pos  # the frame ended: report its end, whatever the caller had read last
    return DecodeError("frame ends inside a field", data=data, offset=len(data), field=label)


def overrun(data: bytes, pos: int, label: str) -> DecodeError:
    return DecodeError(
        "field runs past the end of its enclosing message", data=data, offset=pos, field=label
    )


def too_long(data: bytes, pos: int) -> DecodeError:
    return DecodeError("varint longer than 10 bytes", data=data, offset=pos, field="varint")


def bad_utf8(data: bytes, pos: int, label: str, exc: UnicodeDecodeError) -> DecodeError:
    return DecodeError(
        f"string is not valid UTF-8 ({exc.reason})",
        data=data,
        offset=pos + exc.start,
        field=label,
    )


def empty_push(data: bytes) -> DecodeError:
    return DecodeError(
        "frame carries no body", data=data, offset=len(data), field="PushDataV3ApiWrapper"
    )


# ---------------------------------------------------------------- decoding


def varint_tail(data: bytes, pos: int, first: int) -> tuple[int, int]:
    """Finish a varint whose first byte ``first`` (>= 0x80) was read before ``pos``.

    :returns: the value (low 64 bits) and the position after it.
    :raises IndexError: the data ends inside the varint (callers convert it).
    :raises DecodeError: the varint is longer than 10 bytes.
    """
    value = first & 0x7F
    shift = 7
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value & _MASK64, pos
        shift += 7
        if shift >= 70:
            raise too_long(data, pos - 1)


def varint32_tail(data: bytes, pos: int, first: int) -> tuple[int, int]:
    """Finish a tag or length varint: at most 5 bytes and 32 bits, as upb requires.

    :raises IndexError: the data ends inside the varint (callers convert it).
    :raises DecodeError: longer than 5 bytes, or above 2**32 - 1.
    """
    value = first & 0x7F
    shift = 7
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            if value > _MASK32:
                raise DecodeError(
                    "tag or length wider than 32 bits", data=data, offset=pos - 1, field="varint"
                )
            return value, pos
        shift += 7
        if shift >= 35:
            raise DecodeError(
                "tag or length varint longer than 5 bytes", data=data, offset=pos, field="varint"
            )


def int64_last(data: bytes, pos: int, value: int) -> tuple[int, int]:
    """Finish an ``int64`` varint at its 10th byte, at ``pos``.

    :param value: the 63 bits of the first nine bytes.
    :returns: the two's complement of the low 64 bits, and the position after it.
    :raises IndexError: the data ends inside the varint (callers convert it).
    :raises DecodeError: the varint is longer than 10 bytes.
    """
    byte = data[pos]
    if byte >= 0x80:
        raise too_long(data, pos)
    # of the 10th byte only bit 63 is kept; set, it makes the int64 negative
    return (value - (1 << 63) if byte & 1 else value), pos + 1


def int32(value: int) -> int:
    """Narrow a decoded varint to ``int32`` exactly as protobuf does."""
    value &= _MASK32
    return value - (1 << 32) if value >= 1 << 31 else value


def skip_field(
    data: bytes, pos: int, end: int, tag: int, message: str, unknown: list[UnknownField]
) -> int:
    """Skip the unknown field whose tag was read just before ``pos``; record it.

    :returns: the position after the field.
    :raises IndexError: the data ends inside the field (callers convert it).
    :raises DecodeError: the field is malformed or runs past ``end``.
    """
    start = pos
    number = tag >> 3
    wire = tag & 7
    if tag > _MASK32 or number == 0:
        raise DecodeError(f"invalid field tag {tag}", data=data, offset=start - 1, field=message)
    pos = _skip_value(data, pos, tag, message, 0)
    if pos > end:
        raise overrun(data, start, f"{message}.<field {number}>")
    unknown.append(UnknownField(message, number, wire))
    return pos


def _skip_value(data: bytes, pos: int, tag: int, message: str, depth: int) -> int:
    wire = tag & 7
    if wire == 0:
        first = data[pos]
        pos += 1
        if first >= 0x80:
            pos = varint_tail(data, pos, first)[1]
        return pos
    if wire == 1:
        pos += 8
    elif wire == 5:
        pos += 4
    elif wire == 2:
        first = data[pos]
        pos += 1
        size = first
        if first >= 0x80:
            size, pos = varint32_tail(data, pos, first)
        pos += size
    elif wire == 3:
        return _skip_group(data, pos, tag >> 3, message, depth + 1)
    elif wire == 4:
        raise DecodeError(
            "end-group without a start-group", data=data, offset=pos - 1, field=message
        )
    else:
        raise DecodeError(f"invalid wire type {wire}", data=data, offset=pos - 1, field=message)
    if pos > len(data):
        raise IndexError(pos)
    return pos


def _skip_group(data: bytes, pos: int, number: int, message: str, depth: int) -> int:
    if depth > MAX_DEPTH:
        raise DecodeError("groups nested too deeply", data=data, offset=pos, field=message)
    while True:
        first = data[pos]
        pos += 1
        tag = first
        if first >= 0x80:
            tag, pos = varint32_tail(data, pos, first)
        if tag > _MASK32 or tag >> 3 == 0:
            raise DecodeError(f"invalid field tag {tag}", data=data, offset=pos - 1, field=message)
        if tag & 7 == 4:
            if tag >> 3 != number:
                raise DecodeError(
                    "end-group does not match its start-group",
                    data=data,
                    offset=pos - 1,
                    field=message,
                )
            return pos
        pos = _skip_value(data, pos, tag, message, depth)


def unknown_body(data: bytes, start: int, stop: int, number: int) -> UnknownBody:
    """The payload of the length-delimited field spanning ``data[start:stop]``."""
    first = data[start]
    pos = start + 1
    if first >= 0x80:
        pos = varint32_tail(data, pos, first)[1]
    return UnknownBody(number, data[pos:stop])


# ---------------------------------------------------------------- encoding


def varint(value: int) -> bytes:
    """Encode a non-negative integer below 2**64 as a varint."""
    if value < 0x80:
        return _SMALL[value]
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_SMALL: Final = tuple(bytes((i,)) for i in range(0x80))


def put_string(out: bytearray, tag: bytes, value: object, label: str) -> None:
    if type(value) is not str:
        raise EncodeError(f"{label} must be str, not {type(value).__name__}")
    try:
        raw = value.encode()
    except UnicodeEncodeError as exc:
        raise EncodeError(f"{label} is not encodable as UTF-8: {exc.reason}") from exc
    out += tag
    out += varint(len(raw))
    out += raw


def put_int(out: bytearray, tag: bytes, value: object, label: str, bits: int) -> None:
    if type(value) is not int:
        raise EncodeError(f"{label} must be int, not {type(value).__name__}")
    limit = 1 << (bits - 1)
    if not -limit <= value < limit:
        raise EncodeError(f"{label} = {value} does not fit in int{bits}")
    out += tag
    # negative int32 and int64 both go on the wire as 10-byte two's complement
    out += varint(value & _MASK64)


def put_bool(out: bytearray, tag: bytes, value: object, label: str) -> None:
    if type(value) is not bool:
        raise EncodeError(f"{label} must be bool, not {type(value).__name__}")
    out += tag
    out += b"\x01" if value else b"\x00"


def put_message(out: bytearray, tag: bytes, payload: bytes) -> None:
    out += tag
    out += varint(len(payload))
    out += payload


def wrong_type(label: str, expected: str, value: object) -> EncodeError:
    return EncodeError(f"{label} must be {expected}, not {type(value).__name__}")


def as_bytes(data: object) -> bytes:
    """Accept ``bytearray`` and ``memoryview`` frames as well as ``bytes``."""
    if isinstance(data, bytearray | memoryview):
        return bytes(data)
    raise ArgumentTypeError(f"a push frame must be bytes-like, not {type(data).__name__}")
