"""Local Sphinx extension: reference tables rendered from the live schema and registry.

Nothing here is typed by hand that the code already knows. The tables come from
``proto/`` (parsed by protoc through :func:`codegen.schema.load`, the same model the
generator uses), from the generated records in :mod:`mexc_core.messages` and from the
channel registry in :mod:`mexc_core.channels`. Where two of these sources must
agree (the records were generated from the current ``proto/``), the extension checks
it and warns, so a stale checkout fails the ``-W`` build.

Directives:

``.. mexc-schema-summary::``
    One row per message: record type, wrapper body field, channel.
``.. mexc-schema-messages::``
    One section per message with every field: number, proto name and type, label,
    record attribute, Python type and the value of an absent field.
``.. mexc-schema-additions::``
    The fields of MEXC's June 2026 schema change, checked against ``proto/``.
``.. mexc-channels::`` / ``.. mexc-channel-routing::``
    The channel registry: topics and parameters / body field, message and hook.
``.. mexc-param-kinds::`` / ``.. mexc-retired::``
    Allowed topic parameter values / retired JSON channels and their replacements.
``.. mexc-accessors::``
    The readable accessors of every record and of ``Push``, from
    :data:`mexc_core.messages.ACCESSORS`, and the enums' members.
``.. mexc-autoall:: module``
    Autodoc entries for every name in ``module.__all__`` (re-exports included).
``.. mexc-exception-tree:: module``
    The exception hierarchy of a module, from the live classes.
``.. mexc-example-output:: path``
    Runs an example script at build time and shows what it prints.
``.. mexc-transitions:: module.TABLE``
    A state machine's transition table (``{(state, input): next_state}``), rendered
    by ``mexc_core._machine.render_transitions``; ``:title:`` names the corner.
"""

from __future__ import annotations

import enum
import functools
import importlib
import inspect
import os
import subprocess
import sys
import types
import typing
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.pycode import ModuleAnalyzer
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from codegen import schema as schema_mod
from mexc_core import channels, messages
from mexc_core._machine import render_transitions
from mexc_core.channels import (
    BY_BODY_NUMBER,
    BY_NAME,
    CHANNELS,
    RETIRED,
    TOPIC_TYPES,
    ChannelSpec,
    Param,
    ParamKind,
)
from mexc_core.events import Push

LOG = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]
PROTO = ROOT / "proto"

#: The fields MEXC added in websocket-proto commit 7b8ac7a (2026-06-17, "增加推送字段
#: 2026.6"), from the diff against the previous commit 4285a07 (see docs/schema.rst).
#: History is not in ``proto/``, so it is listed here; the build warns if a listed
#: field is missing from ``proto/``.
ADDED_2026_06: dict[str, tuple[str, ...]] = {
    "PublicAggreDealsV3ApiItem": ("tradeId",),
    "PublicAggreDepthsV3Api": ("lastOrderCreateTime",),
    "PublicAggreBookTickerV3Api": ("version", "lastOrderCreateTime"),
    "PublicBookTickerBatchV3Api": ("version", "lastOrderCreateTime"),
    "PublicLimitDepthsV3Api": ("lastOrderCreateTime",),
}


@functools.cache
def load_schema() -> schema_mod.Schema:
    """``proto/`` as the generator sees it (runs the pinned protoc once per process)."""
    return schema_mod.load(PROTO)


# ---------------------------------------------------------------- reST helpers


def lit(text: object) -> str:
    """An inline literal, safe for any text (backquotes are not expected in names)."""
    text = str(text)
    return f"``{text}``" if text else '``""``'


def list_table(
    header: Sequence[str], rows: Iterable[Sequence[str]], widths: str = "auto"
) -> list[str]:
    out = [".. list-table::", "   :header-rows: 1", f"   :widths: {widths}", ""]
    for row in [header, *rows]:
        first = True
        for cell in row:
            out.append(f"   {'* -' if first else '  -'} {cell}".rstrip())
            first = False
    out.append("")
    return out


def type_text(annotation: object) -> str:
    """An annotation as source text (string, ForwardRef or evaluated)."""
    if isinstance(annotation, str):
        return annotation
    forward = getattr(annotation, "__forward_arg__", None)
    if isinstance(forward, str):
        return forward
    return render_type(annotation)


def render_type(obj: object) -> str:
    """A short source-like rendering of a type or type alias value."""
    if isinstance(obj, types.UnionType):
        return " | ".join(render_type(a) for a in obj.__args__)
    origin = typing.get_origin(obj)
    if origin is typing.Literal:
        return f"Literal[{', '.join(repr(a) for a in typing.get_args(obj))}]"
    if origin is typing.Union:
        return " | ".join(render_type(a) for a in typing.get_args(obj))
    if obj is type(None):
        return "None"
    if isinstance(obj, type):
        return obj.__name__
    return repr(obj).replace("typing.", "")


def annotations_of(cls: type) -> dict[str, object]:
    """The annotations of ``cls`` and its bases (a subclass's win)."""
    out: dict[str, object] = {}
    for klass in reversed(cls.__mro__):
        out.update(inspect.get_annotations(klass))
    return out


def python_type(cls: type, attr: str, where: str) -> str:
    """The annotation of ``cls.attr`` as text; warns when there is none."""
    annotation = annotations_of(cls).get(attr)
    if annotation is None:
        LOG.warning(f"{cls.__name__} has no annotated attribute {attr} ({where})")
        return "?"
    return type_text(annotation)


# ---------------------------------------------------------------- schema tables


def _carriers(schema: schema_mod.Schema) -> dict[str, list[str]]:
    """Where each message appears: wrapper body field or a repeated field of another."""
    out: dict[str, list[str]] = {name: [] for name in schema.messages}
    for f in schema.body_fields():
        assert f.message is not None
        spec = BY_BODY_NUMBER.get(f.number)
        channel = f", channel :ref:`{spec.name} <channel-{spec.name}>`" if spec else ""
        out[f.message].append(f"body ``{f.name}`` ({f.number}){channel}")
    for msg in schema.messages.values():
        parents: dict[str, list[str]] = {}
        for f in msg.fields:
            if f.kind == "message" and f.message is not None:
                parents.setdefault(f.message, []).append(lit(f.name))
        for item, fields in parents.items():
            out[item].append(
                f"items of :ref:`{msg.name} <schema-{msg.name}>` ({', '.join(fields)})"
            )
    return out


def _label(f: schema_mod.Field) -> str:
    if f.oneof is not None:
        return f"oneof ``{f.oneof}``"
    if f.repeated:
        return "repeated"
    if f.optional:
        return "optional"
    return "—"


def _proto_type(f: schema_mod.Field) -> str:
    if f.kind == "message" and f.message is not None:
        return f":ref:`{f.message} <schema-{f.message}>`"
    return f.kind


def _added(message: str, field: str) -> str:
    return "added 2026-06" if field in ADDED_2026_06.get(message, ()) else ""


class _SchemaDirective(SphinxDirective):
    has_content = False

    def emit(self, lines: list[str], *, titles: bool = False) -> list[nodes.Node]:
        self.env.note_dependency(str(PROTO))
        return self.parse_text_to_nodes("\n".join(lines), allow_section_headings=titles)

    def warn(self, text: str) -> None:
        LOG.warning(text, location=self.get_location())


class SchemaSummary(_SchemaDirective):
    """One row per message of the schema."""

    def run(self) -> list[nodes.Node]:
        schema = load_schema()
        carriers = _carriers(schema)
        rows = [
            [
                f":ref:`{schema.wrapper.name} <schema-{schema.wrapper.name}>`",
                ":class:`~mexc_core.events.Push`",
                "every binary frame",
                str(len(schema.wrapper.fields)),
            ]
        ]
        for msg in schema.messages.values():
            rows.append(  # noqa: PERF401 - reads better than a nested comprehension
                [
                    f":ref:`{msg.name} <schema-{msg.name}>`",
                    f":class:`~mexc_core.messages.{msg.name}`",
                    "; ".join(carriers[msg.name]) or "(unused)",
                    str(len(msg.fields)),
                ]
            )
        return self.emit(list_table(["Message", "Record", "Appears as", "Fields"], rows))


class SchemaMessages(_SchemaDirective):
    """A section per message with a table of its fields."""

    def run(self) -> list[nodes.Node]:
        schema = load_schema()
        carriers = _carriers(schema)
        lines: list[str] = []
        for msg in [schema.wrapper, *schema.messages.values()]:
            lines += [f".. _schema-{msg.name}:", "", msg.name, "~" * len(msg.name), ""]
            if msg is schema.wrapper:
                lines += self._wrapper(msg)
                continue
            record = getattr(messages, msg.name, None)
            if record is None:
                self.warn(f"mexc_core.messages has no record {msg.name}; run `python -m codegen`")
                continue
            attrs = tuple(f.attr for f in msg.fields)
            if tuple(record._fields) != attrs:
                self.warn(
                    f"{msg.name}: record fields {record._fields} differ from proto/ {attrs}; "
                    "mexc_core/_generated is stale (run `uv run python -m codegen`)"
                )
            where = "; ".join(carriers[msg.name]) or "not referenced"
            lines += [
                f"Defined in ``proto/{msg.file}``. Decoded into "
                f":class:`mexc_core.messages.{msg.name}`. Appears as: {where}.",
                "",
            ]
            rows = []
            for f in msg.fields:
                ann = python_type(record, f.attr, f"{msg.name}.{f.name}")
                default = record._field_defaults.get(f.attr, "(required)")
                rows.append(
                    [
                        str(f.number),
                        lit(f.name),
                        _proto_type(f),
                        _label(f),
                        lit(f.attr),
                        lit(ann),
                        lit(repr(default)),
                        _added(msg.name, f.name),
                    ]
                )
            lines += list_table(
                [
                    "No.",
                    "Field",
                    "Proto type",
                    "Label",
                    "Attribute",
                    "Python type",
                    "Absent",
                    "Note",
                ],
                rows,
            )
        return self.emit(lines, titles=True)

    def _wrapper(self, msg: schema_mod.Message) -> list[str]:
        lines = [
            f"Defined in ``proto/{msg.file}``: the envelope of every binary frame. "
            ":func:`~mexc_core.wire.decode_push` turns it into a "
            ":class:`~mexc_core.events.Push`; the ``body`` oneof becomes ``Push.body``, "
            "the record of whichever body field is set.",
            "",
        ]
        rows = []
        for f in msg.fields:
            if f.oneof == "body":
                attr = "body"
                ann = f":class:`~mexc_core.messages.{f.message}`"
                absent = "(another body)"
            else:
                attr = f.attr
                if attr not in Push._fields:
                    self.warn(f"Push has no attribute {attr} for wrapper field {f.name}")
                ann = lit(python_type(Push, attr, f"{msg.name}.{f.name}"))
                absent = lit("None" if f.optional else repr(_PROTO3_DEFAULTS[f.kind]))
            rows.append(
                [str(f.number), lit(f.name), _proto_type(f), _label(f), lit(attr), ann, absent]
            )
        return [
            *lines,
            *list_table(
                ["No.", "Field", "Proto type", "Label", "Push attribute", "Python type", "Absent"],
                rows,
            ),
            *self._gaps(msg),
        ]

    @staticmethod
    def _gaps(msg: schema_mod.Message) -> list[str]:
        """A note on the numbers the wrapper skips below its body fields."""
        used = {f.number for f in msg.fields if f.oneof is None}
        gaps = sorted(set(range(1, max(used) + 1)) - used)
        if not gaps:
            return []
        shown = ", ".join(str(n) for n in gaps)
        return [f"Unused field numbers below the body fields: {shown}.", ""]


_PROTO3_DEFAULTS: dict[str, object] = {"string": "", "int32": 0, "int64": 0, "bool": False}


class SchemaAdditions(_SchemaDirective):
    """The June 2026 fields, with their numbers from the live schema."""

    def run(self) -> list[nodes.Node]:
        schema = load_schema()
        rows = []
        for name, fields in ADDED_2026_06.items():
            msg = schema.messages.get(name)
            if msg is None:
                self.warn(f"ADDED_2026_06 names {name}, which is not in proto/")
                continue
            for field_name in fields:
                try:
                    f = msg.field(field_name)
                except schema_mod.SchemaError:
                    self.warn(f"ADDED_2026_06: {name}.{field_name} is not in proto/")
                    continue
                rows.append(
                    [
                        f":ref:`{name} <schema-{name}>`",
                        str(f.number),
                        lit(f.name),
                        f.kind,
                        lit(f.attr),
                        lit(repr(_PROTO3_DEFAULTS[f.kind])),
                    ]
                )
        header = ["Message", "No.", "Field", "Type", "Attribute", "Absent (older sender)"]
        return self.emit(list_table(header, rows))


# ---------------------------------------------------------------- channel tables


def _status(spec: ChannelSpec) -> str:
    if spec.legacy:
        return "legacy"
    return "private (listen key)" if spec.private else "public"


def _param(p: Param) -> str:
    default = f" = {lit(p.default)}" if p.default is not None else ""
    return f":ref:`{p.name} <kind-{p.kind.name}>`{default}"


class Channels(_SchemaDirective):
    """The typed topics: one row per channel of the registry."""

    def run(self) -> list[nodes.Node]:
        lines: list[str] = []
        rows = []
        for spec in CHANNELS:
            cls = TOPIC_TYPES[spec.name].__name__
            lines += [f".. _channel-{spec.name}:", ""]
            rows.append(
                [
                    lit(spec.name),
                    f":class:`~mexc_core.channels.{cls}`",
                    lit(spec.template),
                    ", ".join(_param(p) for p in spec.params) or "—",
                    _status(spec),
                ]
            )
        # Labels must precede an element; point them all at the table.
        header = ["Channel", "Topic type", "Template", "Parameters", "Access"]
        return self.emit(lines + list_table(header, rows))


class ChannelRouting(_SchemaDirective):
    """Channel -> wrapper body field -> message type -> hook."""

    def run(self) -> list[nodes.Node]:
        rows = [
            [
                lit(spec.name),
                lit(spec.body_field),
                str(spec.body_number),
                f":class:`~mexc_core.messages.{spec.message}`",
                f":func:`~mexc_core.hookspecs.{spec.hook}`",
                spec.doc,
            ]
            for spec in CHANNELS
        ]
        header = ["Channel", "Body field", "No.", "Message", "Hook", "Carries"]
        return self.emit(list_table(header, rows))


_ACCESSOR_TYPES = {
    "DECIMAL": "``Decimal | None``",
    "UTC_MS": "``datetime | None`` (from ms)",
    "UTC_S": "``datetime | None`` (from seconds)",
}


class Accessors(_SchemaDirective):
    """One row per readable accessor: record, property, wire field, Python type."""

    def run(self) -> list[nodes.Node]:
        rows = []
        owners: list[tuple[str, tuple[messages.Accessor, ...]]] = [
            (":class:`~mexc_core.events.Push`", messages.WRAPPER_ACCESSORS)
        ]
        owners += [
            (f":class:`~mexc_core.messages.{name}`", messages.ACCESSORS[cls])
            for name, cls in sorted(messages.RECORD_TYPES.items())
        ]
        for owner, accessors in owners:
            for i, acc in enumerate(accessors):
                if acc.enum is not None:
                    kind = f":class:`~mexc_core.messages.{acc.enum.__name__}`"
                else:
                    kind = _ACCESSOR_TYPES[acc.kind.name]
                rows.append(["" if i else owner, lit(acc.name), lit(acc.field), kind])
        return self.emit(list_table(["Record", "Accessor", "Wire field", "Type"], rows))


class ParamKinds(_SchemaDirective):
    """The allowed values of each kind of topic parameter."""

    def run(self) -> list[nodes.Node]:
        kinds = {
            obj.name: (name, obj)
            for name, obj in vars(channels).items()
            if isinstance(obj, ParamKind) and name.startswith("KIND_")
        }
        lines: list[str] = []
        rows = []
        for kind_name, (const, kind) in sorted(kinds.items()):
            users = [s.name for s in CHANNELS if any(p.kind is kind for p in s.params)]
            allowed = (
                ", ".join(lit(v) for v in kind.values)
                if kind.values
                else f"matches {lit(kind.pattern)}"
            )
            if kind.integer:
                allowed += " (``int`` in Python)"
            lines += [f".. _kind-{kind_name}:", ""]
            rows.append(
                [
                    f":data:`~mexc_core.channels.{const}`",
                    kind.doc,
                    allowed,
                    ", ".join(f":ref:`{u} <channel-{u}>`" for u in users),
                ]
            )
        return self.emit(lines + list_table(["Kind", "Meaning", "Allowed", "Used by"], rows))


class Retired(_SchemaDirective):
    """Retired JSON channels and the channel that replaces each."""

    def run(self) -> list[nodes.Node]:
        rows = [
            [lit(old), f":ref:`{new} <channel-{new}>`", lit(BY_NAME[new].template)]
            for old, new in RETIRED.items()
        ]
        return self.emit(list_table(["Retired prefix", "Use", "Template"], rows))


# ---------------------------------------------------------------- API entries


def _defined_where(module: types.ModuleType, name: str, obj: object) -> tuple[str, int]:
    """Sort key: the defining module and line, so hierarchies read top-down."""
    real = getattr(obj, "__module__", None)
    if isinstance(obj, type | types.FunctionType) and isinstance(real, str):
        try:
            return real, inspect.getsourcelines(obj)[1]
        except (OSError, TypeError):
            return real, 0
    return f"~{module.__name__}", 0


def _data_doc(module: types.ModuleType, name: str, obj: object) -> tuple[str | None, list[str]]:
    """The ``#:`` comment and annotation of a module-level name where it is defined."""
    candidates = [module.__name__]
    for mod_name, mod in sorted(sys.modules.items()):
        if mod_name.startswith("mexc_core.") and getattr(mod, name, None) is obj:
            candidates.append(mod_name)
    for mod_name in candidates:
        mod = importlib.import_module(mod_name)
        annotation = getattr(mod, "__annotations__", {}).get(name)
        try:
            docs = ModuleAnalyzer.for_module(mod_name).find_attr_docs()
        except Exception:  # noqa: BLE001, S112 - no source to read: try the next module
            continue
        lines = docs.get(("", name))
        if lines:
            return (annotation if isinstance(annotation, str) else None), list(lines)
    return None, []


def _strip_final(annotation: str | None) -> str | None:
    if annotation is None or annotation in ("Final", "TypeAlias"):
        return None
    if annotation.startswith("Final[") and annotation.endswith("]"):
        return annotation[len("Final[") : -1]
    return annotation


def _is_alias(obj: object) -> bool:
    return isinstance(obj, types.UnionType) or typing.get_origin(obj) is not None


#: The public module that documents what a private module defines. A name re-exported
#: elsewhere is described once, here, and only linked from the other modules.
HOMES: tuple[tuple[str, str], ...] = (
    ("mexc_core._generated.betterproto", "mexc_core.reference"),
    ("mexc_core._generated.convert", "mexc_core.reference"),
    ("mexc_core._generated.records", "mexc_core.messages"),
    ("mexc_core._generated.enums", "mexc_core.messages"),
    ("mexc_core._readable", "mexc_core.messages"),
    ("mexc_core._pbwire", "mexc_core.messages"),
    ("mexc_core._generated.codec", "mexc_core.wire"),
    ("mexc_core._generated.channels", "mexc_core.channels"),
    ("mexc_core._topics", "mexc_core.channels"),
    ("mexc_core._generated.hookspecs", "mexc_core.hookspecs"),
    ("mexc_core._markers", "mexc_core.hookspecs"),
)


def home_of(obj: object, default: str) -> str:
    """The public module whose reference page describes ``obj``."""
    real = getattr(obj, "__module__", None)
    if not isinstance(real, str) or not (inspect.isclass(obj) or inspect.isfunction(obj)):
        return default
    if not any(part.startswith("_") for part in real.split(".")):
        return real
    for prefix, home in HOMES:
        if real == prefix or real.startswith(prefix + "."):
            return home
    return default


def _role(obj: object) -> str:
    if inspect.isclass(obj) and not _is_alias(obj):
        return "class"
    return "func" if inspect.isfunction(obj) else "data"


class AutoAll(SphinxDirective):
    """Autodoc entries for every public name of a module, in definition order.

    Classes and functions defined in a private module are described on the page of
    their home module (:data:`HOMES`) and only linked from the others. With
    ``:class-table:``, classes are listed in a table instead of described.
    """

    required_arguments = 1
    has_content = True
    option_spec: ClassVar[dict[str, Any]] = {
        "exclude": directives.unchanged,
        "class-table": directives.unchanged,
    }

    def _extra_docs(self) -> dict[str, list[str]]:
        """Descriptions given in the directive's content: ``NAME: text`` paragraphs.

        For data defined without a ``#:`` comment (generated registries, markers).
        """
        docs: dict[str, list[str]] = {}
        current: list[str] | None = None
        for line in self.content:
            if line and not line[0].isspace():
                name, sep, text = line.partition(":")
                if not sep:
                    LOG.warning(
                        f"expected 'NAME: text', got {line!r}", location=self.get_location()
                    )
                    continue
                current = docs.setdefault(name.strip(), [])
                current.append(text.strip())
            elif current is not None:
                current.append(line.strip())
        return docs

    def run(self) -> list[nodes.Node]:
        modname = self.arguments[0]
        module = importlib.import_module(modname)
        names = tuple(getattr(module, "__all__", ()))
        exclude = set((self.options.get("exclude") or "").replace(",", " ").split())
        if exclude - set(names):
            LOG.warning(
                f"{modname}: excluded names not in __all__: {sorted(exclude - set(names))}",
                location=self.get_location(),
            )
        extra = self._extra_docs()
        if stray := sorted(set(extra) - set(names)):
            LOG.warning(
                f"{modname}: descriptions for names not in __all__: {stray}",
                location=self.get_location(),
            )
        entries = sorted(
            ((n, getattr(module, n)) for n in names if n not in exclude),
            key=lambda item: _defined_where(module, *item),
        )
        lines: list[str] = []
        elsewhere: list[str] = []
        table: list[list[str]] = []
        for name, obj in entries:
            home = home_of(obj, modname)
            if home != modname:
                elsewhere.append(f":{_role(obj)}:`~{home}.{name}`")
            elif "class-table" in self.options and _role(obj) == "class":
                table.append([lit(name), _record_of(name)])
            else:
                lines += self._entry(module, modname, name, obj, extra.get(name, []))
        if table:
            lines = [
                self.options["class-table"] or "",
                "",
                *list_table(["Class", "Hot-path counterpart"], table),
                *lines,
            ]
        if elsewhere:
            lines += [f"Also importable from :mod:`{modname}`: {', '.join(elsewhere)}.", ""]
        return self.parse_text_to_nodes("\n".join(lines))

    @staticmethod
    def _entry(
        module: types.ModuleType, modname: str, name: str, obj: object, extra: list[str]
    ) -> list[str]:
        target = f"{modname}.{name}"
        if _role(obj) == "class":
            lines = [f".. autoclass:: {target}", "   :members:"]
            if isinstance(obj, type) and issubclass(obj, BaseException):
                lines.append("   :show-inheritance:")
            return [*lines, ""]
        if _role(obj) == "func":
            return [f".. autofunction:: {target}", ""]
        annotation, doc = _data_doc(module, name, obj)
        if _is_alias(obj) or annotation == "TypeAlias":
            lines = [f".. py:type:: {name}", f"   :module: {modname}"]
            lines.append(f"   :canonical: {render_type(obj)}")
        else:
            shown = _strip_final(annotation) or type(obj).__name__
            lines = [f".. py:data:: {name}", f"   :module: {modname}", f"   :type: {shown}"]
        lines.append("")
        lines += [f"   {line}".rstrip() for line in doc or extra or _synthesised_doc(obj)]
        return [*lines, ""]


def _record_of(name: str) -> str:
    """A link to the record (or event) decoded from the message ``name``."""
    if name == load_schema().wrapper.name:
        return ":class:`~mexc_core.events.Push`"
    if hasattr(messages, name):
        return f":class:`~mexc_core.messages.{name}`"
    return ""


def _synthesised_doc(obj: object) -> list[str]:
    """A description derived from the value, for generated constants without one."""
    if isinstance(obj, ChannelSpec):
        topic = TOPIC_TYPES[obj.name].__name__
        return [
            f"The channel :ref:`{obj.name} <channel-{obj.name}>`: ``{obj.template}``, "
            f"topic type :class:`~mexc_core.channels.{topic}`."
        ]
    if isinstance(obj, ParamKind):
        return [f"Parameter kind :ref:`{obj.name} <kind-{obj.name}>`: {obj.doc}."]
    return []


# ---------------------------------------------------------------- errors, examples


class ExceptionTree(SphinxDirective):
    """The exception classes of a module as an indented tree, roots first."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        modname = self.arguments[0]
        module = importlib.import_module(modname)
        classes = [
            obj
            for name in getattr(module, "__all__", ())
            if isinstance(obj := getattr(module, name), type) and issubclass(obj, BaseException)
        ]
        ours = set(classes)
        lines: list[str] = []

        def walk(cls: type, depth: int) -> None:
            extra = [b.__name__ for b in cls.__bases__ if b not in ours and b is not Exception]
            also = f" (also {', '.join(extra)})" if extra else ""
            lines.append(f"{'    ' * depth}{cls.__name__}{also}")
            subs: list[type] = cls.__subclasses__()
            for sub in sorted(subs, key=lambda c: _defined_where(module, "", c)):
                if sub in ours and next(b for b in sub.__bases__ if b in ours) is cls:
                    walk(sub, depth + 1)

        for root in classes:
            if not any(b in ours for b in root.__bases__):
                walk(root, 0)
        block = nodes.literal_block("\n".join(lines), "\n".join(lines))
        block["language"] = "text"
        return [block]


class ExampleOutput(SphinxDirective):
    """Run ``docs/<path>`` with this interpreter and show its standard output.

    The example fails the build if it exits non-zero, so the output shown is always
    what the code prints today.
    """

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        rel, path = self.env.relfn2path(self.arguments[0], self.env.docname)
        self.env.note_dependency(rel)
        env = dict(os.environ, PYTHONIOENCODING="utf-8")
        proc = subprocess.run(
            [sys.executable, path],
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=60,
            check=False,
            env=env,
            cwd=ROOT,
        )
        if proc.returncode != 0:
            LOG.warning(
                f"{rel} exited with {proc.returncode}:\n{proc.stderr}", location=self.get_location()
            )
        text = proc.stdout.rstrip()
        block = nodes.literal_block(text, text)
        block["language"] = "text"
        return [block]


# ---------------------------------------------------------------- state machines


def resolve(path: str) -> tuple[types.ModuleType, object]:
    """The object at a dotted ``path`` and its module: the longest importable prefix.

    :raises ImportError: no prefix of ``path`` is a module.
    :raises AttributeError: the module has no such attribute.
    """
    parts = path.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            module = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        obj: object = module
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return module, obj
    raise ImportError(f"no module in {path!r}")


def transition_table_problem(table: object) -> str | None:
    """Why ``table`` is not a ``{(state, input): state}`` mapping of enums, or ``None``."""
    if not isinstance(table, typing.Mapping) or not table:
        return f"expected a non-empty mapping, got {type(table).__name__}"
    first_key = next(iter(table))
    if not (isinstance(first_key, tuple) and len(first_key) == 2):
        return f"expected (state, input) keys, got {first_key!r}"
    state_type, input_type = type(first_key[0]), type(first_key[1])
    if not (issubclass(state_type, enum.Enum) and issubclass(input_type, enum.Enum)):
        return "expected enum members as states and inputs"
    for key, nxt in table.items():
        ok = (
            isinstance(key, tuple)
            and len(key) == 2
            and type(key[0]) is state_type
            and type(key[1]) is input_type
            and type(nxt) is state_type
        )
        if not ok:
            return f"{key!r} -> {nxt!r} is not a {state_type.__name__} transition"
    return None


class Transitions(SphinxDirective):
    """A state machine's transition table, rendered from the live mapping.

    ``.. mexc-transitions:: mexc_core.session._SESSION_TRANSITIONS`` with an optional
    ``:title:`` for the corner cell. Every state of the enum is a row and every input
    a column; a cell is the next state, or a dash where the machine refuses the pair.
    The page is rebuilt when the module holding the table changes.
    """

    required_arguments = 1
    option_spec: ClassVar[dict[str, Any]] = {"title": directives.unchanged_required}

    def run(self) -> list[nodes.Node]:
        path = self.arguments[0]
        try:
            module, table = resolve(path)
        except (ImportError, AttributeError) as exc:
            LOG.warning(
                f"mexc-transitions: cannot import {path}: {exc}", location=self.get_location()
            )
            return []
        problem = transition_table_problem(table)
        if problem is not None:
            LOG.warning(
                f"mexc-transitions: {path} is not a transition table: {problem}",
                location=self.get_location(),
            )
            return []
        source = getattr(module, "__file__", None)
        if source is not None:
            self.env.note_dependency(source)
        text = render_transitions(
            typing.cast("typing.Mapping[tuple[enum.Enum, enum.Enum], enum.Enum]", table),
            title=self.options.get("title", "state"),
        )
        return self.parse_text_to_nodes(text)


def _skip_namedtuple_fields(
    app: Sphinx,
    what: str,
    name: str,
    obj: object,
    skip: bool,  # noqa: FBT001 - the signature of Sphinx's event
    options: object,
) -> bool | None:
    """Hide the "Alias for field number N" properties of NamedTuple records."""
    del app, what, name, options
    doc = getattr(obj, "__doc__", None) or ""
    if isinstance(doc, str) and doc.startswith("Alias for field number"):
        return True
    return None if not skip else True


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("mexc-schema-summary", SchemaSummary)
    app.add_directive("mexc-schema-messages", SchemaMessages)
    app.add_directive("mexc-schema-additions", SchemaAdditions)
    app.add_directive("mexc-channels", Channels)
    app.add_directive("mexc-channel-routing", ChannelRouting)
    app.add_directive("mexc-param-kinds", ParamKinds)
    app.add_directive("mexc-retired", Retired)
    app.add_directive("mexc-accessors", Accessors)
    app.add_directive("mexc-autoall", AutoAll)
    app.add_directive("mexc-exception-tree", ExceptionTree)
    app.add_directive("mexc-example-output", ExampleOutput)
    app.add_directive("mexc-transitions", Transitions)
    app.connect("autodoc-skip-member", _skip_namedtuple_fields)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
