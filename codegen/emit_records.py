"""Emit ``_generated/records.py``: the light, immutable message records.

Each message of the schema (except the wrapper, which becomes
:class:`mexc_core.events.Push`) becomes a ``typing.NamedTuple`` whose attributes
are the snake_case field names, with proto3 defaults (``""``, ``0``, ``False``,
``()``) and ``None`` for fields declared ``optional``. Tuples are cheap to build
on the hot path, immutable, hashable and comparable, and mypy types them fully.
"""

from __future__ import annotations

from codegen.readable import Accessor, Readable
from codegen.schema import Field, Message, Schema
from codegen.writer import BANNER, Writer

_PY_TYPES = {"string": "str", "int32": "int", "int64": "int", "bool": "bool"}
_DEFAULTS = {"string": '""', "int32": "0", "int64": "0", "bool": "False"}
_RESERVED = frozenset(dir(tuple)) | {"_make", "_replace", "_asdict", "_fields", "_field_defaults"}


def annotation(field: Field) -> tuple[str, str]:
    """The record annotation and default for a field."""
    if field.kind == "message":
        assert field.repeated
        assert field.message is not None
        return f"tuple[{field.message}, ...]", "()"
    py = _PY_TYPES[field.kind]
    if field.optional:
        return f"{py} | None", "None"
    return py, _DEFAULTS[field.kind]


def _info(f: Field) -> str:
    return (
        f"FieldInfo({f.attr!r}, {f.name!r}, {f.number}, {f.kind!r}, {f.repeated}, "
        f"{f.optional}, {f.message!r})"
    )


def _doc(msg: Message) -> str:
    source = f"``{msg.name}`` from ``proto/{msg.file}``."
    return f"{msg.comment.rstrip('.')}: {source}" if msg.comment else source


_KINDS = {"decimal": "DECIMAL", "utc_ms": "UTC_MS", "utc_s": "UTC_S", "enum": "ENUM"}


def _accessor(w: Writer, acc: Accessor) -> None:
    """One read-only property, computed on access (never at decode time)."""
    attr = acc.field.attr
    w("", "@property")
    if acc.kind == "decimal":
        with w.block(f"def {acc.name}(self) -> Decimal | None:"):
            w(
                f'"""``{attr}`` as an exact :class:`~decimal.Decimal`; ``None`` if it is empty '
                'or not a number."""'
            )
            w(f"return decimal_or_none(self.{attr})")
    elif acc.kind in ("utc_ms", "utc_s"):
        unit, func = ("ms", "utc_from_ms") if acc.kind == "utc_ms" else ("seconds", "utc_from_s")
        with w.block(f"def {acc.name}(self) -> datetime | None:"):
            w(
                f'"""``{attr}`` ({unit} since the epoch) as an aware UTC '
                ':class:`~datetime.datetime`; ``None`` if absent or 0."""'
            )
            w(f"return {func}(self.{attr})")
    else:
        assert acc.enum is not None
        name = acc.enum.name
        with w.block(f"def {acc.name}(self) -> {name}:"):
            w(
                f'"""``{attr}`` as a :class:`{name}`; ``{name}.UNKNOWN`` if absent or '
                'undocumented."""'
            )
            w(f"return {name}(self.{attr})")


def _accessor_info(acc: Accessor) -> str:
    enum = f", {acc.enum.name}" if acc.enum is not None else ""
    return f"Accessor({acc.name!r}, {acc.field.attr!r}, AccessorKind.{_KINDS[acc.kind]}{enum})"


def emit(schema: Schema, readable: Readable) -> str:
    w = Writer()
    w(BANNER + '"""Immutable records for the push messages of the MEXC schema."""', "")
    w("from __future__ import annotations", "")
    w("from datetime import datetime", "from decimal import Decimal")
    w("from typing import TYPE_CHECKING, Final, NamedTuple, TypeAlias", "")
    enums = sorted(e.name for e in readable.enums)
    w(f"from mexc_core._generated.enums import {', '.join(enums)}")
    w("from mexc_core._pbwire import FieldInfo, UnknownBody, UnknownField")
    w(
        "from mexc_core._readable import (",
        "    Accessor,",
        "    AccessorKind,",
        "    decimal_or_none,",
        "    utc_from_ms,",
        "    utc_from_s,",
        ")",
        "",
    )
    names = sorted(schema.messages)
    exported = [
        "ACCESSORS",
        "Accessor",
        "AccessorKind",
        "BODY_FIELDS",
        "Body",
        "FIELDS",
        "FieldInfo",
        "RECORD_TYPES",
        "Record",
        "WRAPPER_ACCESSORS",
        "WRAPPER_FIELDS",
        *enums,
        *names,
        "UnknownBody",
        "UnknownField",
    ]
    w("__all__ = (", *[f'    "{n}",' for n in exported], ")")
    # Items first so that annotations read top-down; NamedTuple resolves them lazily anyway.
    for msg in schema.messages.values():
        w.blank(2)
        with w.block(f"class {msg.name}(NamedTuple):"):
            w(f'"""{_doc(msg)}"""', "")
            for f in msg.fields:
                if f.attr in _RESERVED or f.attr.startswith("_"):
                    msg_ = f"{msg.name}.{f.name} would shadow a tuple attribute ({f.attr})"
                    raise ValueError(msg_)
                ann, default = annotation(f)
                w(f"{f.attr}: {ann} = {default}")
            for acc in readable.of(msg.name):
                _accessor(w, acc)
    wrapper = schema.wrapper
    w.blank(2)
    with w.block("class PushAccessors:"):
        w(
            f'"""The readable accessors of :class:`~mexc_core.events.Push` ({wrapper.name})."""',
            "",
            "__slots__ = ()",
        )
        # Push's own tuple fields provide these at run time; mypy needs to see them here.
        w("")
        with w.block("if TYPE_CHECKING:"):
            for acc in readable.of(wrapper.name):
                ann, _ = annotation(acc.field)
                w("", "@property")
                with w.block(f"def {acc.field.attr}(self) -> {ann}:"):
                    w("...")
        for acc in readable.of(wrapper.name):
            _accessor(w, acc)
    body_types = [f.message for f in schema.body_fields() if f.message is not None]
    w.blank(2)
    w("#: Every body a :class:`~mexc_core.events.Push` can carry.")
    w(f"Body: TypeAlias = {' | '.join([*body_types, 'UnknownBody'])}")
    w("#: Any record of the schema: a body or an item inside one.")
    w(f"Record: TypeAlias = {' | '.join(names)}")
    w.blank()
    w("#: Record type by message name.")
    types = ", ".join(f"{n!r}: {n}" for n in names)
    w(f"RECORD_TYPES: Final[dict[str, type[Record]]] = {{{types}}}")
    w("#: The schema's fields of every record type, in field-number order.")
    w("FIELDS: Final[dict[type[Record], tuple[FieldInfo, ...]]] = {")
    for msg in schema.messages.values():
        w(f"    {msg.name}: ({''.join(_info(f) + ', ' for f in msg.fields)}),")
    w("}")
    w("#: The readable accessors of every record type, in field order (codegen/readable.toml).")
    w("ACCESSORS: Final[dict[type[Record], tuple[Accessor, ...]]] = {")
    for msg in schema.messages.values():
        infos = "".join(_accessor_info(a) + ", " for a in readable.of(msg.name))
        w(f"    {msg.name}: ({infos}),")
    w("}")
    w("#: The readable accessors of :class:`~mexc_core.events.Push` (the wrapper's fields).")
    infos = "".join(_accessor_info(a) + ", " for a in readable.of(wrapper.name))
    w(f"WRAPPER_ACCESSORS: Final[tuple[Accessor, ...]] = ({infos})")
    w("#: The fields of the wrapper (PushDataV3ApiWrapper) outside its ``body`` oneof.")
    plain = [f for f in schema.wrapper.fields if f.oneof is None]
    infos = "".join(_info(f) + ", " for f in plain)
    w(f"WRAPPER_FIELDS: Final[tuple[FieldInfo, ...]] = ({infos})")
    w("#: The ``body`` oneof of the wrapper: one field per body type.")
    infos = "".join(_info(f) + ", " for f in schema.body_fields())
    w(f"BODY_FIELDS: Final[tuple[FieldInfo, ...]] = ({infos})")
    return w.text()
