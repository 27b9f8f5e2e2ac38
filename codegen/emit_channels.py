"""Emit ``_generated/channels.py``: the channel registry and the typed topic classes."""

from __future__ import annotations

from codegen.table import ChannelRow, Kind, Table
from codegen.writer import BANNER, Writer


def _literal(kind: Kind) -> str:
    if kind.integer:
        return f"Literal[{', '.join(kind.values)}]"
    return f"Literal[{', '.join(repr(v) for v in kind.values)}]"


def _kind_const(kind: Kind) -> str:
    return f"KIND_{kind.name.upper()}"


def _param_type(kind: Kind) -> str:
    return kind.alias if kind.values else "str"


def _default(row: ChannelRow, name: str) -> str | None:
    for p in row.params:
        if p.name == name and p.default is not None:
            return p.default if p.kind.integer else repr(p.default)
    return None


def _emit_spec(w: Writer, row: ChannelRow) -> None:
    w(f"{row.const}: Final = ChannelSpec(")
    w(f"    name={row.name!r},")
    w(f"    template={row.format_template!r},")
    w(f"    prefix={row.prefix!r},")
    w("    params=(")
    for p in row.params:
        default = "None"
        if p.default is not None:
            default = p.default if p.kind.integer else repr(p.default)
        w(f"        Param({p.name!r}, {_kind_const(p.kind)}, {default}),")
    w("    ),")
    w(f"    body_field={row.body.name!r},")
    w(f"    body_number={row.body.number},")
    w(f"    message={row.body.message!r},")
    w(f"    hook={row.hook!r},")
    w(f"    private={row.private},")
    w(f"    legacy={row.legacy},")
    w(f"    doc={row.doc!r},")
    w(")")


def _emit_topic(w: Writer, row: ChannelRow) -> None:
    w("@final")
    w("@dataclass(frozen=True, slots=True, kw_only=True)")
    with w.block(f"class {row.cls}(Topic):"):
        shown = "@".join([row.prefix, *(f"<{p.name}>" for p in row.params)])
        w(f'"""{row.doc}', "")
        w(f"Topic ``{shown}``; pushes carry :class:`~mexc_core.messages.{row.body.message}`")
        w(f"in ``{row.body.name}`` ({row.body.number}); plugin hook ``{row.hook}``.")
        if row.private:
            w("Private: subscribe on a connection opened with a listen key.")
        if row.legacy:
            w("Legacy: documented once by MEXC; whether it still works is unverified.")
        w('"""', "")
        w(f"spec: ClassVar[ChannelSpec] = {row.const}")
        w(f"body_type: ClassVar[type[{row.body.message}]] = {row.body.message}")
        for p in row.params:
            default = _default(row, p.name)
            suffix = f" = {default}" if default is not None else ""
            w(f"{p.name}: {_param_type(p.kind)}{suffix}")
        if row.params:
            w("")
            with w.block("def __post_init__(self) -> None:"):
                w("self._validate()")


def emit(table: Table) -> str:
    w = Writer()
    w(BANNER + '"""The channel registry and one typed topic class per MEXC channel."""', "")
    w("from __future__ import annotations", "")
    w("from dataclasses import dataclass")
    w("from typing import ClassVar, Final, Literal, TypeAlias, final", "")
    w("from mexc_core._generated.records import (")
    for row in sorted(table.channels, key=lambda r: r.body.message or ""):
        w(f"    {row.body.message},")
    w(")")
    w("from mexc_core._topics import ChannelSpec, Param, ParamKind, Topic", "")
    aliases = [k.alias for k in table.kinds.values() if k.values]
    exported = sorted(
        [
            "BY_BODY_NUMBER",
            "BY_NAME",
            "BY_PREFIX",
            "CHANNELS",
            "RETIRED",
            "TOPIC_TYPES",
            "AnyTopic",
            *aliases,
            *(r.cls for r in table.channels),
            *(r.const for r in table.channels),
            *(_kind_const(k) for k in table.kinds.values()),
        ]
    )
    w("__all__ = (", *[f"    {n!r}," for n in exported], ")")
    for kind in table.kinds.values():
        w.blank()
        if kind.values:
            w(f"#: Allowed {kind.doc} values.")
            w(f"{kind.alias}: TypeAlias = {_literal(kind)}")
        w(f"{_kind_const(kind)}: Final = ParamKind(")
        w(f"    name={kind.name!r},")
        w(f"    doc={kind.doc!r},")
        if kind.values:
            w(f"    values={kind.values!r},")
        if kind.pattern is not None:
            w(f"    pattern={kind.pattern!r},")
        if kind.integer:
            w("    integer=True,")
        w(")")
    for row in table.channels:
        w.blank()
        _emit_spec(w, row)
    for row in table.channels:
        w.blank(2)
        _emit_topic(w, row)
    w.blank(2)
    w("#: Every channel, current ones first, in the order of MEXC's documentation.")
    w(f"CHANNELS: Final = ({', '.join(r.const for r in table.channels)},)")
    w("#: Any concrete topic.")
    w(f"AnyTopic: TypeAlias = {' | '.join(r.cls for r in table.channels)}")
    w("#: Topic class by channel name.")
    w(
        "TOPIC_TYPES: Final[dict[str, type[AnyTopic]]] = {"
        + ", ".join(f"{r.const}.name: {r.cls}" for r in table.channels)
        + "}"
    )
    w("BY_NAME: Final[dict[str, ChannelSpec]] = {c.name: c for c in CHANNELS}")
    w("BY_PREFIX: Final[dict[str, ChannelSpec]] = {c.prefix: c for c in CHANNELS}")
    w("BY_BODY_NUMBER: Final[dict[int, ChannelSpec]] = {c.body_number: c for c in CHANNELS}")
    w("#: Retired JSON channel prefixes (answered with 'Blocked!') -> the channel replacing them.")
    w(f"RETIRED: Final[dict[str, str]] = {table.retired!r}")
    return w.text()
