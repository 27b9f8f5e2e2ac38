"""Test helpers around Google's protobuf runtime (the oracle) and exact comparison."""

from __future__ import annotations

from typing import Any

from google.protobuf import message as gmessage
from google.protobuf import unknown_fields as gunknown

from codegen import oracle
from mexc_core.events import Push
from mexc_core.messages import (
    BODY_FIELDS,
    FIELDS,
    RECORD_TYPES,
    WRAPPER_FIELDS,
    Record,
    UnknownBody,
)

GoogleMessage = gmessage.Message
GoogleDecodeError = gmessage.DecodeError


def wrapper_class() -> type[GoogleMessage]:
    return oracle.classes()["PushDataV3ApiWrapper"]


def google_parse(data: bytes) -> GoogleMessage:
    msg = wrapper_class()()
    msg.ParseFromString(data)
    return msg


def record_from_google(msg: GoogleMessage, record_type: type[Record]) -> Record:
    values: dict[str, Any] = {}
    for info in FIELDS[record_type]:
        if info.kind == "message":
            assert info.message is not None
            item_type = RECORD_TYPES[info.message]
            values[info.attr] = tuple(
                record_from_google(item, item_type) for item in getattr(msg, info.name)
            )
        elif info.optional and not msg.HasField(info.name):
            values[info.attr] = None
        else:
            values[info.attr] = getattr(msg, info.name)
    return record_type(**values)


def push_from_google(msg: GoogleMessage) -> Push | None:
    """The push Google's runtime reads; ``None`` when the wrapper has no body set."""
    which = msg.WhichOneof("body")
    if which is None:
        return None
    (body_field,) = [f for f in BODY_FIELDS if f.name == which]
    assert body_field.message is not None
    body = record_from_google(getattr(msg, which), RECORD_TYPES[body_field.message])
    values: dict[str, Any] = {}
    for info in WRAPPER_FIELDS:
        if info.optional and not msg.HasField(info.name):
            values[info.attr] = None
        else:
            values[info.attr] = getattr(msg, info.name)
    return Push(body=body, **values)  # type: ignore[arg-type]


def fill_google(msg: GoogleMessage, record: Record) -> None:
    for info in FIELDS[type(record)]:
        value = getattr(record, info.attr)
        if info.kind == "message":
            target = getattr(msg, info.name)
            for item in value:
                fill_google(target.add(), item)
        elif value is not None:
            setattr(msg, info.name, value)


def push_to_google(push: Push) -> GoogleMessage:
    msg = wrapper_class()()
    for info in WRAPPER_FIELDS:
        value = getattr(push, info.attr)
        if value is not None:
            setattr(msg, info.name, value)
    assert not isinstance(push.body, UnknownBody)
    (body_field,) = [f for f in BODY_FIELDS if f.message == type(push.body).__name__]
    body = getattr(msg, body_field.name)
    body.SetInParent()  # an empty body must still select the oneof member
    fill_google(body, push.body)
    return msg


def count_unknown(msg: GoogleMessage) -> int:
    """Unknown fields Google kept, in ``msg`` and every message below it."""
    total = len(gunknown.UnknownFieldSet(msg))
    for field, value in msg.ListFields():
        if field.message_type is None:
            continue
        if field.is_repeated:
            total += sum(count_unknown(item) for item in value)
        else:
            total += count_unknown(value)
    return total


def assert_identical(a: object, b: object, path: str = "") -> None:
    """Equal values of equal types, all the way down (so ``1`` differs from ``True``)."""
    assert type(a) is type(b), f"{path}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, tuple):
        assert isinstance(b, tuple)
        assert len(a) == len(b), f"{path}: length {len(a)} != {len(b)}"
        fields = getattr(a, "_fields", None)
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            name = fields[i] if fields else str(i)
            assert_identical(x, y, f"{path}.{name}")
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"
