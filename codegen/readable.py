"""Load and check ``codegen/readable.toml``: the readable accessors of every record.

Every string and integer field of every message (the wrapper's too) must match
exactly one rule of the table, and every rule at least one field, so a field MEXC
adds cannot silently miss its accessor (or get a wrong one) on regeneration.
"""

from __future__ import annotations

import fnmatch
import keyword
import tomllib
from dataclasses import dataclass
from pathlib import Path

from codegen.schema import Field, Message, Schema, SchemaError

#: The rule groups of ``[rules]`` and the scalar kinds each accepts.
_RULE_KINDS: dict[str, frozenset[str]] = {
    "decimal": frozenset({"string"}),
    "utc_ms": frozenset({"int64"}),
    "utc_s": frozenset({"int64"}),
    "raw": frozenset({"string", "int32", "int64"}),
}
_SUFFIX = {"decimal": "_decimal", "utc_ms": "_utc", "utc_s": "_utc"}
#: Attribute names a NamedTuple record cannot use for a property.
_RESERVED = frozenset(dir(tuple)) | {"_make", "_replace", "_asdict", "_fields", "_field_defaults"}


@dataclass(frozen=True)
class EnumMember:
    name: str
    value: int | str
    doc: str


@dataclass(frozen=True)
class EnumSpec:
    name: str
    wire: str  # int32 | string
    doc: str
    members: tuple[EnumMember, ...]

    @property
    def unknown(self) -> int | str:
        """The value of ``UNKNOWN``: the proto3 default of the wire kind."""
        return 0 if self.wire == "int32" else ""


@dataclass(frozen=True)
class Accessor:
    name: str  # the property: price_decimal, time_utc, side
    field: Field
    kind: str  # decimal | utc_ms | utc_s | enum
    enum: EnumSpec | None


@dataclass(frozen=True)
class Readable:
    enums: tuple[EnumSpec, ...]
    accessors: dict[str, tuple[Accessor, ...]]  # by message name, wrapper included

    def of(self, message: str) -> tuple[Accessor, ...]:
        return self.accessors.get(message, ())


def _enum(spec: dict[str, object]) -> EnumSpec:
    name = str(spec["name"])
    wire = str(spec["wire"])
    if wire not in ("int32", "string"):
        raise SchemaError(f"enum {name}: wire must be int32 or string, not {wire!r}")
    members = []
    raw_members = spec["members"]
    assert isinstance(raw_members, list)
    for row in raw_members:
        member, value, doc = row
        if type(value) is not (int if wire == "int32" else str):
            raise SchemaError(f"enum {name}.{member}: value {value!r} is not {wire}")
        members.append(EnumMember(str(member), value, str(doc)))
    out = EnumSpec(name, wire, str(spec["doc"]), tuple(members))
    names = [m.name for m in out.members]
    values = [m.value for m in out.members]
    if "UNKNOWN" in names or out.unknown in values:
        raise SchemaError(f"enum {name}: UNKNOWN ({out.unknown!r}) is added by the generator")
    if len(set(names)) != len(names) or len(set(values)) != len(values):
        raise SchemaError(f"enum {name}: duplicate member names or values")
    return out


def load(path: Path, schema: Schema) -> Readable:
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    return build(raw, schema)


def build(raw: dict[str, object], schema: Schema) -> Readable:
    """Check the parsed table against ``schema`` and derive every accessor."""
    enum_specs = raw.get("enum", [])
    assert isinstance(enum_specs, list)
    enums = {e.name: e for e in map(_enum, enum_specs)}
    if len(enums) != len(enum_specs):
        raise SchemaError("readable table: two enums share a name")
    # (group, pattern, enum row or None), in table order
    rules: list[tuple[str, str, dict[str, str] | None]] = []
    groups = raw.get("rules", {})
    assert isinstance(groups, dict)
    for group, patterns in groups.items():
        if group not in _RULE_KINDS:
            raise SchemaError(f"readable table: unknown rule group {group!r}")
        rules.extend((group, p, None) for p in patterns)
    enum_fields = raw.get("enum_field", [])
    assert isinstance(enum_fields, list)
    for row in enum_fields:
        if row["enum"] not in enums:
            raise SchemaError(f"enum_field {row['field']}: unknown enum {row['enum']!r}")
        rules.append(("enum", row["field"], row))
    used: set[int] = set()
    accessors: dict[str, tuple[Accessor, ...]] = {}
    messages: list[Message] = [schema.wrapper, *schema.messages.values()]
    for msg in messages:
        found: list[Accessor] = []
        for field in msg.fields:
            if field.kind in ("message", "bool"):
                continue
            key = f"{msg.name}.{field.attr}"
            hits = [i for i, rule in enumerate(rules) if fnmatch.fnmatchcase(key, rule[1])]
            if len(hits) != 1:
                which = [rules[i][1] for i in hits]
                raise SchemaError(
                    f"{key} must match exactly one rule of "
                    f"codegen/readable.toml, matches {which or 'none'}: say whether it is a "
                    "decimal, a time, a documented code or raw"
                )
            used.add(hits[0])
            group, pattern, row = rules[hits[0]]
            if group == "enum":
                assert row is not None
                spec = enums[row["enum"]]
                if field.kind != spec.wire:
                    raise SchemaError(f"{key}: enum {spec.name} needs a {spec.wire} field")
                found.append(Accessor(row["name"], field, "enum", spec))
            elif field.kind not in _RULE_KINDS[group]:
                raise SchemaError(f"{key}: a {field.kind} field cannot be {group} ({pattern})")
            elif group != "raw":
                found.append(Accessor(field.attr + _SUFFIX[group], field, group, None))
        _check_names(msg, found)
        if found:
            accessors[msg.name] = tuple(found)
    unused = [rules[i][1] for i in range(len(rules)) if i not in used]
    if unused:
        raise SchemaError(f"readable table: rules that match no field: {unused}")
    return Readable(enums=tuple(enums.values()), accessors=accessors)


def _check_names(msg: Message, accessors: list[Accessor]) -> None:
    fields = {f.attr for f in msg.fields}
    names = [a.name for a in accessors]
    for name in names:
        if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
            raise SchemaError(f"{msg.name}: {name!r} is not a usable property name")
        if name in fields or name in _RESERVED:
            raise SchemaError(f"{msg.name}: accessor {name!r} would shadow an attribute")
    if len(set(names)) != len(names):
        raise SchemaError(f"{msg.name}: two accessors named alike: {sorted(names)}")
