"""Emit ``_generated/codec.py``: the decoder and encoder specialised to the schema.

The decoder is one function per message: a loop over the tags of one message with
an ``if``/``elif`` chain on the whole tag value (field number and wire type), one-byte
varints, tags and lengths read inline, and the rare cases (long varints, unknown
fields, errors) in :mod:`mexc_core._pbwire`. Each function converts the
``IndexError`` and ``UnicodeDecodeError`` of a short or bad frame into a
:class:`~mexc_core.errors.DecodeError` naming the field and offset; in CPython 3.11+
the ``try`` costs nothing until it fires.

The encoder writes fields in field-number order, as Google's runtime does, so its
bytes equal Google's for the same message.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from codegen.schema import WRAPPER, Field, Message, Schema
from codegen.writer import BANNER, Writer

#: Wrapper fields at or above this number that the schema does not know are taken
#: as new body types (MEXC numbers bodies from 301).
UNKNOWN_BODY_FLOOR = 300

#: The field order of mexc_core.events.Push (a test checks they agree).
PUSH_FIELDS = (
    "channel",
    "body",
    "symbol",
    "symbol_id",
    "create_time",
    "send_time",
    "unknown_fields",
)


def _read_varint(w: Writer, var: str) -> None:
    """A varint whose values are mostly one byte (lengths, small ints)."""
    w(f"{var} = data[pos]", "pos += 1")
    with w.block(f"if {var} >= 0x80:"):
        w(f"{var}, pos = varint_tail(data, pos, {var})")


def _read_long_varint(w: Writer, var: str) -> None:
    """An ``int64`` varint, often long (millisecond timestamps take 6 bytes): the loop
    is inlined for up to 9 bytes, whose value (below 2**63) needs no masking or sign
    fix, which saves a call and big-int arithmetic per value on the hot path; a 10th
    byte goes to :func:`~mexc_core._pbwire.int64_last`."""
    w(f"{var} = data[pos]", "pos += 1")
    with w.block(f"if {var} >= 0x80:"):
        w(f"{var} &= 0x7F", "shift = 7")
        with w.block("while True:"):
            w("byte = data[pos]", "pos += 1", f"{var} |= (byte & 0x7F) << shift")
            with w.block("if byte < 0x80:"):
                w("break")
            w("shift += 7")
            with w.block("if shift == 63:"):
                w(f"{var}, pos = int64_last(data, pos, {var})", "break")


def _read_tag(w: Writer, var: str) -> None:
    """A tag: one byte for fields 1-15, two bytes for the wrapper's bodies (301-315)."""
    w(f"{var} = data[pos]", "pos += 1")
    with w.block(f"if {var} >= 0x80:"):
        w("byte = data[pos]")
        with w.block("if byte < 0x80:"):
            w(f"{var} = ({var} & 0x7F) | (byte << 7)", "pos += 1")
        with w.block("else:"):
            w(f"{var}, pos = varint32_tail(data, pos, {var})")


def _read_len(w: Writer, label: str, end: str, stop: str) -> None:
    """Read a length prefix; ``label`` is a Python expression naming the field."""
    w("size = data[pos]", "pos += 1")
    with w.block("if size >= 0x80:"):
        w("size, pos = varint32_tail(data, pos, size)")
    w(f"{stop} = pos + size")
    with w.block(f"if {stop} > {end}:"):
        w(f"raise overrun(data, pos, {label})")


def _is_leaf(msg: Message) -> bool:
    return all(f.kind != "message" for f in msg.fields)


def _decode_field(
    w: Writer, schema: Schema, msg_name: str, f: Field, target: str, end: str, depth: int
) -> None:
    """Read one field whose tag was just read; ``pos`` ends after it.

    ``end`` names the variable holding the end of the enclosing message. Items of a
    repeated field whose message has no sub-messages are decoded inline (no call).
    """
    label = f"{msg_name}.{f.attr}"
    stop = f"stop{depth}"
    if f.kind == "string":
        _read_len(w, repr(label), end, stop)
        w(f"{target} = data[pos:{stop}].decode()", f"pos = {stop}")
    elif f.kind == "message":
        assert f.message is not None
        _read_len(w, repr(label), end, stop)
        item = schema.messages[f.message]
        if _is_leaf(item):
            _emit_loop(w, schema, item, stop, depth + 1, lambda g: _local(g, depth + 1))
            args = ", ".join(_local(g, depth + 1) for g in item.fields)
            w(f"{target}.append(_NEW({_cls(item.name)}, ({args},)))")
        else:
            w(f"{target}.append(_dec_{f.message}(data, pos, {stop}, unknown))", f"pos = {stop}")
    elif f.kind == "bool":
        _read_varint(w, "value")
        w(f"{target} = value != 0")
    elif f.kind == "int64":
        _read_long_varint(w, "big")
        w(f"{target} = big")
    elif f.kind == "int32":
        _read_varint(w, "value")
        with w.block("if value >= 0x80000000:"):
            w("value = int32(value)")
        w(f"{target} = value")
    else:  # pragma: no cover - schema.py rejects other kinds
        raise AssertionError(f.kind)


def _cls(name: str) -> str:
    """The ``Final`` alias of a record class: mypyc keeps it in a C static, where the
    class's own name would be looked up in the module's dict on every record."""
    return f"_CLS_{name}"


#: Locals of the decoders that hold positions, tags, lengths and varint bytes: native
#: 64-bit integers (``i64``) for mypyc, plain ints in pure Python (annotations only).
_NATIVE = re.compile(
    r"\b(?:pos|end|size|byte|shift|big|start|stop\d*|tag\d*|body_tag|body_start|body_stop)\b"
)


def _declare(w: Writer, body: Writer, skip: tuple[str, ...] = ()) -> None:
    """Declare the native-int locals ``body`` uses, then emit ``body``."""
    used = sorted(set(_NATIVE.findall(body.text())) - set(skip))
    w(*(f"{name}: i64 = 0" for name in used))
    w.extend(body)


def _local(f: Field, depth: int = 0) -> str:
    return f"f_{f.attr}" if depth == 0 else f"f{depth}_{f.attr}"


def _init_value(f: Field) -> str:
    if f.repeated:
        return "[]"
    if f.optional:
        return "None"
    return {"string": '""', "int32": "0", "int64": "0", "bool": "False"}[f.kind]


def _local_type(f: Field) -> str:
    if f.repeated:
        return f"list[{f.message}]"
    py = {"string": "str", "int32": "int", "int64": "int", "bool": "bool"}[f.kind]
    return f"{py} | None" if f.optional else py


def _names_table(w: Writer, msg: Message) -> None:
    entries = ", ".join(f'{f.tag}: "{f.attr}"' for f in msg.fields)
    w(f"_NAMES_{msg.name}: Final[dict[int, str]] = {{{entries}}}")


def _tag_var(depth: int) -> str:
    return "tag" if depth == 0 else f"tag{depth}"


def _emit_loop(
    w: Writer,
    schema: Schema,
    msg: Message,
    end: str,
    depth: int,
    local: Callable[[Field], str],
) -> None:
    """The tag loop of ``msg`` from ``pos`` to ``end``, filling ``local(field)`` variables."""
    tag = _tag_var(depth)
    for f in msg.fields:
        # inline items re-declare their locals per item: annotate only once (depth 0)
        w(f"{local(f)}{': ' + _local_type(f) if depth == 0 else ''} = {_init_value(f)}")
    with w.block(f"while pos < {end}:"):
        _read_tag(w, tag)
        for i, f in enumerate(msg.fields):
            with w.block(f"{'if' if i == 0 else 'elif'} {tag} == {f.tag}:"):
                _decode_field(w, schema, msg.name, f, local(f), end, depth)
        with w.block("else:"):
            w(f'pos = skip_field(data, pos, {end}, {tag}, "{msg.name}", unknown)')
    with w.block(f"if pos != {end}:"):
        w(f'raise overrun(data, pos, field_label("{msg.name}", _NAMES_{msg.name}, {tag}))')


def _error_handlers(w: Writer, msg_name: str) -> None:
    label = f'field_label("{msg_name}", _NAMES_{msg_name}, tag)'
    with w.block("except IndexError:"):
        w(f"raise truncated(data, pos, {label}) from None")
    with w.block("except UnicodeDecodeError as exc:"):
        w(f"raise bad_utf8(data, pos, {label}, exc) from None")


def _emit_decoder(w: Writer, schema: Schema, msg: Message) -> None:
    _names_table(w, msg)
    w.blank(2)
    sig = (
        f"def _dec_{msg.name}(data: bytes, pos: i64, end: i64, "
        f"unknown: list[UnknownField]) -> {msg.name}:"
    )
    with w.block(sig):
        body = Writer()
        with body.block("try:"):
            _emit_loop(body, schema, msg, "end", 0, _local)
        _error_handlers(body, msg.name)
        args = ", ".join(f"tuple({_local(f)})" if f.repeated else _local(f) for f in msg.fields)
        body(f"return _NEW({_cls(msg.name)}, ({args},))")
        _declare(w, body, skip=("pos", "end"))


def _emit_push_decoder(w: Writer, schema: Schema) -> None:
    wrapper = schema.wrapper
    body = schema.body_fields()
    plain = [f for f in wrapper.fields if f.oneof is None]
    tags = ", ".join(str(f.tag) for f in body)
    w(f"_BODY_TAGS: Final = frozenset(({tags}))")
    _names_table(w, wrapper)
    w.blank(2)
    sig = (
        "def _decode_body(tag: i64, data: bytes, start: i64, stop: i64, "
        "merged: list[tuple[int, int]] | None, unknown: list[UnknownField]) -> Body:"
    )
    with w.block(sig):
        w('"""Decode the body field ``tag``, merging its repeated occurrences if any."""')
        with w.block("if merged is not None:"):
            # a message field seen more than once merges: decode the concatenation
            w('data = b"".join([data[a:b] for a, b in merged])', "start = 0", "stop = len(data)")
        for f in body:
            with w.block(f"if tag == {f.tag}:  # {f.name} = {f.number}"):
                w(f"return _dec_{f.message}(data, start, stop, unknown)")
        w("raise AssertionError(tag)  # pragma: no cover - the caller checked _BODY_TAGS")
    w.blank(2)
    with w.block("def decode_push(data: bytes | bytearray | memoryview) -> Push:"):
        w(
            '"""Decode one binary push frame (a ``PushDataV3ApiWrapper``) into a :class:`Push`.',
            "",
            "Absent singular fields take their proto3 defaults, absent ``optional`` fields",
            "are ``None``. Fields the schema does not know are listed in",
            "``Push.unknown_fields``; an unknown body type arrives as :class:`UnknownBody`.",
            "",
            ":raises DecodeError: the frame is not a valid wrapper (truncated, malformed,",
            "    invalid UTF-8, or no body at all).",
            ":raises ArgumentTypeError: ``data`` is not bytes-like.",
            '"""',
        )
        with w.block("if type(data) is not bytes:"):
            w("data = as_bytes(data)")
        w("pos: i64 = 0", "end: i64 = len(data)")
        for f in plain:
            w(f"{_local(f)}: {_local_type(f)} = {_init_value(f)}")
        w("unknown: list[UnknownField] = []")
        w("merged: list[tuple[int, int]] | None = None")
        w("new_body: UnknownBody | None = None")
        outer = w
        w = Writer()
        with w.block("try:"):
            with w.block("while pos < end:"):
                _read_tag(w, "tag")
                for i, f in enumerate(plain):
                    with w.block(f"{'if' if i == 0 else 'elif'} tag == {f.tag}:"):
                        _decode_field(w, schema, WRAPPER, f, _local(f), "end", 0)
                with w.block("elif tag in _BODY_TAGS:"):
                    label = f'field_label("{WRAPPER}", _NAMES_{WRAPPER}, tag)'
                    _read_len(w, label, "end", "stop")
                    # protobuf semantics: a repeated occurrence of the same message
                    # field merges into it (equivalent to concatenating the payloads);
                    # another member of the oneof replaces it.
                    with w.block("if tag == body_tag:"):
                        with w.block("if merged is None:"):
                            w("merged = [(body_start, body_stop)]")
                        w("merged.append((pos, stop))")
                    with w.block("else:"):
                        with w.block("if body_tag:"):
                            # protobuf parses every occurrence, so a member the oneof
                            # then replaces must still be valid (its content is dropped)
                            w("_decode_body(body_tag, data, body_start, body_stop, merged, [])")
                        w("body_tag = tag", "body_start = pos", "body_stop = stop", "merged = None")
                    w("pos = stop")
                with w.block("else:"):
                    w("start = pos")
                    w(f'pos = skip_field(data, pos, end, tag, "{WRAPPER}", unknown)')
                    cond = f"tag & 7 == 2 and tag >> 3 >= {UNKNOWN_BODY_FLOOR} and new_body is None"
                    with w.block(f"if {cond}:"):
                        w("new_body = unknown_body(data, start, pos, tag >> 3)")
            with w.block("if pos != end:"):
                w(f'raise overrun(data, pos, field_label("{WRAPPER}", _NAMES_{WRAPPER}, tag))')
        _error_handlers(w, WRAPPER)
        _declare(outer, w, skip=("pos", "end"))
        w = outer
        w("body: Body")
        with w.block("if body_tag:"):
            w("body = _decode_body(body_tag, data, body_start, body_stop, merged, unknown)")
        with w.block("elif new_body is not None:"):
            w("body = new_body")
        with w.block("else:"):
            w("raise empty_push(data)")
        # Push is a tuple: build it without the keyword-checking __new__ (the
        # fields are already validated), in its field order.
        fields = {f.attr: _local(f) for f in plain}
        fields["body"] = "body"
        fields["unknown_fields"] = "tuple(unknown) if unknown else ()"
        order = ", ".join(fields[name] for name in PUSH_FIELDS)
        w(f"return _NEW(_CLS_Push, ({order}))")


# ---------------------------------------------------------------- encoder


def _encode_field(w: Writer, f: Field, value: str, label: str) -> None:
    tag = repr(f.tag_bytes)
    if f.repeated:
        with w.block(f"for item in {value}:"):
            w(f'put_message(out, {tag}, _enc_{f.message}(item, "{label}"))')
        return
    put = {
        "string": f'put_string(out, {tag}, {value}, "{label}")',
        "int32": f'put_int(out, {tag}, {value}, "{label}", 32)',
        "int64": f'put_int(out, {tag}, {value}, "{label}", 64)',
        "bool": f'put_bool(out, {tag}, {value}, "{label}")',
    }[f.kind]
    if f.optional:
        cond = f"{value} is not None"
    else:
        cond = {
            "string": f'{value} != ""',
            "int32": f"{value} != 0",
            "int64": f"{value} != 0",
            "bool": f"{value} is not False",
        }[f.kind]
    with w.block(f"if {cond}:"):
        w(put)


def _emit_encoder(w: Writer, msg: Message) -> None:
    with w.block(f"def _enc_{msg.name}(rec: object, label: str) -> bytes:"):
        with w.block(f"if type(rec) is not {msg.name}:"):
            w(f'raise wrong_type(label, "{msg.name}", rec)')
        w("out = bytearray()")
        for f in msg.fields:
            _encode_field(w, f, f"rec.{f.attr}", f"{msg.name}.{f.attr}")
        w("return bytes(out)")


def _emit_push_encoder(w: Writer, schema: Schema) -> None:
    body = schema.body_fields()
    plain = [f for f in schema.wrapper.fields if f.oneof is None]
    w("_BODY_ENCODERS: Final[dict[type, tuple[bytes, Callable[[object, str], bytes]]]] = {")
    for f in body:
        w(f"    {f.message}: ({f.tag_bytes!r}, _enc_{f.message}),")
    w("}")
    w.blank(2)
    params = ", ".join(
        f"{f.attr}: {_local_type(f)} = None" if f.optional else f"{f.attr}: {_local_type(f)}"
        for f in plain
    )
    first, *rest = params.split(", ")
    with w.block(f"def encode_push({first}, body: Body, *, {', '.join(rest)}) -> bytes:"):
        w(
            '"""Encode a push frame: a ``PushDataV3ApiWrapper`` around ``body``.',
            "",
            "Fields go out in field-number order and proto3 defaults are left out, so",
            "the bytes equal those of Google's runtime for the same message.",
            "",
            ":raises EncodeError: a value has the wrong type or does not fit its field,",
            "    or ``body`` is not a record of this schema.",
            '"""',
        )
        w("out = bytearray()")
        for f in plain:
            _encode_field(w, f, f.attr, f"{WRAPPER}.{f.attr}")
        with w.block("if type(body) is UnknownBody:"):
            known = ", ".join(str(f.number) for f in body)
            cond = (
                f"body.number < {UNKNOWN_BODY_FLOOR} or body.number > 0x1FFFFFFF "
                f"or body.number in ({known})"
            )
            with w.block(f"if {cond}:"):
                w('raise EncodeError(f"UnknownBody.number {body.number} is a known one")')
            with w.block("if type(body.data) is not bytes:"):
                w('raise wrong_type("UnknownBody.data", "bytes", body.data)')
            w("put_message(out, varint(body.number << 3 | 2), body.data)")
            w("return bytes(out)")
        w("entry = _BODY_ENCODERS.get(type(body))")
        with w.block("if entry is None:"):
            w('raise wrong_type("body", "a message record of the MEXC schema", body)')
        w("tag, encode_body = entry")
        w('put_message(out, tag, encode_body(body, "body"))')
        w("return bytes(out)")


def _header(
    w: Writer, schema: Schema, doc: str, pbwire: list[str], extra: list[str], typing: str = "Final"
) -> None:
    """The opening of codec.py and encode.py: docstring and imports."""
    w(BANNER + f'"""{doc}"""', "")
    w("from __future__ import annotations", "")
    w("from collections.abc import Callable")
    w(f"from typing import {typing}", "")
    w("from mexc_core._pbwire import (")
    for name in pbwire:
        w(f"    {name},")
    w(")")
    w(*extra)
    w("from mexc_core._generated.records import (")
    for name in ["Body", *schema.messages]:
        w(f"    {name},")
    w(")")


def emit(schema: Schema) -> str:
    w = Writer()
    pbwire = [
        "UnknownBody",
        "UnknownField",
        "as_bytes",
        "bad_utf8",
        "empty_push",
        "field_label",
        "int32",
        "int64_last",
        "overrun",
        "skip_field",
        "truncated",
        "unknown_body",
        "varint32_tail",
        "varint_tail",
    ]
    # The encoder lives in a module of its own that the compiled build leaves as
    # Python: compiled code would check the records' attribute types itself (a
    # TypeError) before the encoder can raise its documented EncodeError.
    extra = ["from mexc_core._generated.encode import encode_push"]
    doc = "Schema-specialised protobuf decoder for MEXC push frames."
    _header(w, schema, doc, pbwire, extra, typing="TYPE_CHECKING, Final")
    w("from mexc_core.events import Push", "")
    w("if TYPE_CHECKING:")
    w("    from mypy_extensions import i64", "")
    w('__all__ = ("decode_push", "encode_push")', "")
    w("#: Records are tuples: built without their keyword-checking ``__new__``.")
    w("_NEW: Final = tuple.__new__")
    for name in ["Push", *schema.messages]:
        w(f"{_cls(name)}: Final = {name}")
    for msg in schema.messages.values():
        w.blank(2)
        _emit_decoder(w, schema, msg)
    w.blank(2)
    _emit_push_decoder(w, schema)
    return w.text()


def emit_encoder(schema: Schema) -> str:
    w = Writer()
    pbwire = ["UnknownBody", "put_bool", "put_int", "put_message", "put_string", "varint"]
    doc = "Schema-specialised protobuf encoder for MEXC push frames."
    _header(w, schema, doc, [*pbwire, "wrong_type"], [])
    w("from mexc_core.errors import EncodeError", "")
    w('__all__ = ("encode_push",)')
    for msg in schema.messages.values():
        w.blank(2)
        _emit_encoder(w, msg)
    w.blank(2)
    _emit_push_encoder(w, schema)
    return w.text()
