"""Emit ``_generated/convert.py``: records <-> betterproto2 reference messages."""

from __future__ import annotations

from codegen.schema import WRAPPER, Field, Schema
from codegen.writer import BANNER, Writer

REF_MODULE = "mexc_core._generated.betterproto.{package}"


def _to_ref(f: Field, value: str) -> str:
    if f.repeated:
        return f"[_ref_{f.message}(item) for item in {value}]"
    return value


def _from_ref(f: Field, value: str) -> str:
    if f.repeated:
        return f"tuple(_rec_{f.message}(item) for item in {value})"
    return value


def emit(schema: Schema) -> str:
    w = Writer()
    w(
        BANNER
        + '"""Conversions between the hot-path records and the betterproto2 reference model."""',
        "",
    )
    w("from __future__ import annotations", "")
    w("import betterproto2", "")
    w(f"from {REF_MODULE.format(package=schema.package)} import (")
    for name in [WRAPPER, *schema.messages]:
        w(f"    {name} as Ref{name},")
    w(")")
    w("from mexc_core._generated.records import (")
    for name in ["Body", "Record", *schema.messages]:
        w(f"    {name},")
    w(")")
    w("from mexc_core.errors import EncodeError")
    w("from mexc_core.events import Push", "")
    w('__all__ = ("from_reference", "push_from_reference", "push_to_reference", "to_reference")')
    for msg in schema.messages.values():
        w.blank(2)
        with w.block(f"def _ref_{msg.name}(rec: {msg.name}) -> Ref{msg.name}:"):
            args = ", ".join(f"{f.attr}={_to_ref(f, 'rec.' + f.attr)}" for f in msg.fields)
            w(f"return Ref{msg.name}({args})")
        w.blank(2)
        with w.block(f"def _rec_{msg.name}(ref: Ref{msg.name}) -> {msg.name}:"):
            args = ", ".join(f"{f.attr}={_from_ref(f, 'ref.' + f.attr)}" for f in msg.fields)
            w(f"return {msg.name}({args})")
    body = schema.body_fields()
    plain = [f for f in schema.wrapper.fields if f.oneof is None]
    w.blank(2)
    with w.block("def to_reference(body: Record | Body) -> betterproto2.Message:"):
        w('"""The betterproto2 message equal to the record ``body`` (a body or an item).', "")
        w(":raises EncodeError: ``body`` is an :class:`UnknownBody` or not a record.", '"""')
        for msg in schema.messages.values():
            with w.block(f"if type(body) is {msg.name}:"):
                w(f"return _ref_{msg.name}(body)")
        w('raise EncodeError(f"no reference message for {type(body).__name__}")')
    w.blank(2)
    with w.block("def from_reference(message: betterproto2.Message) -> Record:"):
        w('"""The record equal to the betterproto2 ``message``.', "")
        w(":raises EncodeError: ``message`` is not a message of this schema.", '"""')
        for msg in schema.messages.values():
            with w.block(f"if type(message) is Ref{msg.name}:"):
                w(f"return _rec_{msg.name}(message)")
        w('raise EncodeError(f"no record type for {type(message).__name__}")')
    w.blank(2)
    with w.block(f"def push_to_reference(push: Push) -> Ref{WRAPPER}:"):
        w('"""The betterproto2 wrapper equal to ``push`` (its unknown fields are not kept).', "")
        w(":raises EncodeError: the body is an :class:`UnknownBody`.", '"""')
        w(f"wrapper = Ref{WRAPPER}({', '.join(f'{f.attr}=push.{f.attr}' for f in plain)})")
        w("body = push.body")
        for f in body:
            with w.block(f"if type(body) is {f.message}:"):
                w(f"wrapper.{f.attr} = _ref_{f.message}(body)")
                w("return wrapper")
        w('raise EncodeError(f"no reference message for a {type(body).__name__} body")')
    w.blank(2)
    with w.block(f"def push_from_reference(wrapper: Ref{WRAPPER}) -> Push:"):
        w('"""The :class:`Push` equal to the betterproto2 ``wrapper``.', "")
        w(":raises EncodeError: the wrapper has no body set.", '"""')
        w("body: Body")
        for i, f in enumerate(body):
            with w.block(f"{'if' if i == 0 else 'elif'} wrapper.{f.attr} is not None:"):
                w(f"body = _rec_{f.message}(wrapper.{f.attr})")
        with w.block("else:"):
            w('raise EncodeError("the wrapper has no body")')
        w(f"return Push({', '.join(f'{f.attr}=wrapper.{f.attr}' for f in plain)}, body=body)")
    return w.text()
