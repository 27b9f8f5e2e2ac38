"""The specialised decoder against the two reference implementations.

- betterproto2 (the reference model generated from the same ``proto/``): random
  pushes encoded by it decode to the same push, field by field.
- Google's protobuf runtime (upb), compiled from the same ``proto/``: it reads what
  we encode, we read what it encodes, both byte-identical; and on frames with
  fields shuffled, duplicated, unknown fields injected, truncated or mutated, the
  two agree on every field or both reject the frame.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import currently_in_test_context, given, note
from hypothesis import strategies as st

from codegen import oracle
from mexc_core import errors, wire
from mexc_core._pbwire import skip_field, varint, varint_tail
from mexc_core.events import Push
from mexc_core.messages import (
    BODY_FIELDS,
    FIELDS,
    RECORD_TYPES,
    WRAPPER_FIELDS,
    Record,
    UnknownBody,
)
from mexc_core.reference import PushDataV3ApiWrapper, push_from_reference, push_to_reference
from mexc_core.testing import strategies as mst
from tests.google_oracle import (
    GoogleDecodeError,
    assert_identical,
    count_unknown,
    fill_google,
    google_parse,
    push_from_google,
    push_to_google,
    record_from_google,
)


def encode(push: Push) -> bytes:
    return wire.encode_push(
        push.channel,
        push.body,
        symbol=push.symbol,
        symbol_id=push.symbol_id,
        create_time=push.create_time,
        send_time=push.send_time,
    )


# ---------------------------------------------------------------- betterproto2


@given(mst.pushes())
def test_betterproto_encoded_pushes_decode_identically(push: Push) -> None:
    data = bytes(push_to_reference(push))
    assert_identical(wire.decode_push(data), push)


@given(mst.pushes())
def test_betterproto_reads_what_we_encode(push: Push) -> None:
    parsed = PushDataV3ApiWrapper.parse(encode(push))
    assert_identical(push_from_reference(parsed), push)


# ---------------------------------------------------------------- Google upb


@given(mst.pushes())
def test_google_reads_what_we_encode_byte_for_byte(push: Push) -> None:
    data = encode(push)
    parsed = google_parse(data)
    assert_identical(push_from_google(parsed), push)
    assert parsed.SerializeToString(deterministic=True) == data


@given(mst.pushes())
def test_we_read_what_google_encodes(push: Push) -> None:
    data = push_to_google(push).SerializeToString()
    assert_identical(wire.decode_push(data), push)


# ---------------------------------------------------------------- agreement


def assert_agree(data: bytes) -> Push | None:
    """Decode ``data`` with both; they must agree. Returns our push, if any."""
    try:
        theirs = google_parse(data)
    except GoogleDecodeError:
        theirs = None
    try:
        ours = wire.decode_push(data)
    except errors.DecodeError as exc:
        if currently_in_test_context():
            note(f"ours: {exc}")
        if theirs is not None:
            # The one allowed difference: Google accepts a wrapper without a body;
            # we refuse it, since a push without a body is not a push.
            assert exc.reason == "frame carries no body", exc
            assert theirs.WhichOneof("body") is None
        return None
    assert theirs is not None, f"Google rejects what we accept: {ours}"
    expected = push_from_google(theirs)
    if isinstance(ours.body, UnknownBody):
        assert expected is None
    else:
        assert expected is not None
        assert_identical(ours._replace(unknown_fields=()), expected)
    assert len(ours.unknown_fields) == count_unknown(theirs)
    return ours


def _tag(number: int, wire_type: int) -> bytes:
    return varint(number << 3 | wire_type)


def _unknown_field(rng: random.Random, known: set[int]) -> bytes:
    number = rng.choice([n for n in (2, 7, 8, 30, 99, 1000, 19500, 536870911) if n not in known])
    wire_type = rng.choice([0, 1, 2, 5, 3])
    if wire_type == 0:
        return _tag(number, 0) + varint(rng.getrandbits(rng.choice([7, 35, 64])))
    if wire_type == 1:
        return _tag(number, 1) + rng.randbytes(8)
    if wire_type == 5:
        return _tag(number, 5) + rng.randbytes(4)
    if wire_type == 2:
        payload = rng.randbytes(rng.randrange(0, 20))
        return _tag(number, 2) + varint(len(payload)) + payload
    inner = _tag(1, 0) + varint(5) + _tag(2, 2) + b"\x01x"
    return _tag(number, 3) + inner + _tag(number, 4)


def _scalar_bytes(kind: str, value: Any) -> bytes:
    if kind == "string":
        raw: bytes = value.encode()
        return varint(len(raw)) + raw
    if kind == "bool":
        return b"\x01" if value else b"\x00"
    return varint(value & (2**64 - 1))


def _wild_message(record: Record, rng: random.Random, counter: list[int]) -> bytes:
    """Encode ``record`` the way a legal but unusual peer might.

    Fields in random order, defaults sometimes written explicitly, singular fields
    sometimes preceded by a different value that the last occurrence overrides, and
    unknown fields of every wire type injected between them (counted in ``counter``).
    """
    infos = FIELDS[type(record)]
    known = {i.number for i in infos}
    # (group, bytes): the items of one repeated field share a group and keep their
    # relative order when the fields are shuffled; everything else moves freely.
    chunks: list[tuple[int, bytes]] = []
    for info in infos:
        value = getattr(record, info.attr)
        if info.kind == "message":
            for item in value:
                payload = _wild_message(item, rng, counter)
                chunks.append((info.number, _tag(info.number, 2) + varint(len(payload)) + payload))
            continue
        if value is None:
            continue
        wire_type = 2 if info.kind == "string" else 0
        field = _tag(info.number, wire_type) + _scalar_bytes(info.kind, value)
        if rng.random() < 0.2:  # an earlier occurrence, overridden by the last one
            decoy: Any = {"string": "decoy", "bool": True, "int32": -5, "int64": 7}[info.kind]
            field = _tag(info.number, wire_type) + _scalar_bytes(info.kind, decoy) + field
        chunks.append((info.number, field))
    return _interleave(chunks, rng, known, counter)


def _interleave(
    chunks: list[tuple[int, bytes]], rng: random.Random, known: set[int], counter: list[int]
) -> bytes:
    keys = [rng.random() for _ in chunks]
    for group in {g for g, _ in chunks}:
        members = [i for i, (g, _) in enumerate(chunks) if g == group]
        for i, key in zip(members, sorted(keys[i] for i in members), strict=True):
            keys[i] = key
    # ties (hypothesis shrinks floats to 0.0) keep the original order
    ordered = [chunks[i][1] for i in sorted(range(len(chunks)), key=lambda i: (keys[i], i))]
    for _ in range(rng.randrange(0, 3)):
        ordered.insert(rng.randrange(0, len(ordered) + 1), _unknown_field(rng, known))
        counter[0] += 1
    return b"".join(ordered)


def wild_encode(push: Push, rng: random.Random, counter: list[int]) -> bytes:
    chunks: list[tuple[int, bytes]] = []
    for info in WRAPPER_FIELDS:
        value = getattr(push, info.attr)
        if value is not None:
            wire_type = 2 if info.kind == "string" else 0
            chunks.append(
                (info.number, _tag(info.number, wire_type) + _scalar_bytes(info.kind, value))
            )
    (body_field,) = [f for f in BODY_FIELDS if f.message == type(push.body).__name__]
    body = _wild_message(push.body, rng, counter)  # type: ignore[arg-type]
    chunks.append((body_field.number, _tag(body_field.number, 2) + varint(len(body)) + body))
    known = {f.number for f in WRAPPER_FIELDS} | {f.number for f in BODY_FIELDS}
    return _interleave(chunks, rng, known, counter)


@given(mst.pushes(), st.randoms(use_true_random=False))
def test_shuffled_duplicated_and_unknown_fields(push: Push, rng: random.Random) -> None:
    counter = [0]
    data = wild_encode(push, rng, counter)
    ours = assert_agree(data)
    assert ours is not None
    assert_identical(ours._replace(unknown_fields=()), push)
    assert len(ours.unknown_fields) == counter[0]


def _field_boundaries(payload: bytes) -> list[int]:
    bounds = [0]
    pos = 0
    while pos < len(payload):
        tag = payload[pos]
        pos += 1
        if tag >= 0x80:
            tag, pos = varint_tail(payload, pos, tag)
        pos = skip_field(payload, pos, len(payload), tag, "test", [])
        bounds.append(pos)
    return bounds


@given(mst.pushes(), st.data())
def test_split_body_merges_like_google(push: Push, data: st.DataObject) -> None:
    """A message field seen twice merges: a body sent in two parts decodes whole."""
    wrapper = push_to_google(push)
    which = wrapper.WhichOneof("body")
    assert which is not None
    payload = getattr(wrapper, which).SerializeToString()
    wrapper.ClearField(which)
    (number,) = [f.number for f in BODY_FIELDS if f.name == which]
    cut = data.draw(st.sampled_from(_field_boundaries(payload)), label="cut")
    parts = [payload[:cut], payload[cut:]]
    frame = wrapper.SerializeToString() + b"".join(
        _tag(number, 2) + varint(len(part)) + part for part in parts
    )
    ours = assert_agree(frame)
    assert ours is not None
    assert_identical(ours, push)


@given(mst.pushes(max_items=2), st.data())
def test_truncated_frames_agree_with_google(push: Push, data: st.DataObject) -> None:
    frame = encode(push)
    cut = data.draw(st.integers(0, len(frame) - 1), label="cut")
    assert_agree(frame[:cut])


def test_every_prefix_of_a_vector_is_rejected_or_agrees() -> None:
    frame = bytes.fromhex(V2_HEX)
    for cut in range(len(frame)):
        assert_agree(frame[:cut])


@given(mst.pushes(max_items=2), st.data())
def test_mutated_frames_agree_with_google(push: Push, data: st.DataObject) -> None:
    frame = bytearray(encode(push))
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        kind = data.draw(st.sampled_from(["flip", "insert", "delete"]), label="kind")
        at = data.draw(st.integers(0, max(0, len(frame) - 1)), label="at")
        if kind == "flip" and frame:
            frame[at] ^= data.draw(st.integers(1, 255), label="xor")
        elif kind == "insert":
            frame[at:at] = data.draw(st.binary(min_size=1, max_size=3), label="bytes")
        elif frame:
            del frame[at]
    assert_agree(bytes(frame))


@given(st.binary(max_size=300))
def test_arbitrary_bytes_give_a_push_or_decode_error(data: bytes) -> None:
    try:
        push = wire.decode_push(data)
    except errors.DecodeError as exc:
        assert isinstance(exc, errors.MexcError)
        assert 0 <= exc.offset <= len(data)
        assert exc.field
        return
    assert isinstance(push, Push)
    assert_agree(data)


V2_HEX = (
    "0a2f73706f74407075626c69632e61676772652e6465616c732e76332e6170692e7062403130306d73"
    "40425443555344541a074254435553445430bca9d9d0c432d2134a0a1f0a0839333232302e30301"
    "20a302e3034343338323433180220bba9d9d0c432122773706f74407075626c69632e61676772652e"
    "6465616c732e76332e6170692e7062403130306d73"
)


@pytest.mark.parametrize("name", sorted(RECORD_TYPES))
@given(data=st.data())
def test_every_message_type_round_trips_through_google(name: str, data: st.DataObject) -> None:
    """Items included: every record type, alone, survives Google's runtime both ways."""
    record = data.draw(mst.records(RECORD_TYPES[name]), label="record")
    google_type = oracle.classes()[name]
    msg = google_type()
    fill_google(msg, record)
    wire_bytes = msg.SerializeToString()
    again = google_type.FromString(wire_bytes)
    assert_identical(record_from_google(again, type(record)), record)


def test_a_replaced_body_must_still_be_valid_like_google() -> None:
    """Found by the mutation test: Google parses every oneof occurrence, so an invalid
    body that a later body replaces still makes the frame invalid."""
    bad_then_good = b"\xda\x13\x02\x0a\x05" + b"\xea\x12\x00"  # 315 truncated, then 301
    assert assert_agree(bad_then_good) is None
    good_then_good = b"\xda\x13\x00\xea\x12\x00"
    push = assert_agree(good_then_good)
    assert push is not None
    assert type(push.body).__name__ == "PublicDealsV3Api"
    assert push.unknown_fields == ()
