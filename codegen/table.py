"""Load and check the declarative channel table, ``codegen/channels.toml``."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from codegen.schema import Field, Schema, SchemaError

_PLACEHOLDER = re.compile(r"^\{(?P<name>[a-z_]+):(?P<kind>[a-z_]+)\}$")


@dataclass(frozen=True)
class Kind:
    name: str
    doc: str
    values: tuple[str, ...]
    pattern: str | None
    integer: bool

    @property
    def alias(self) -> str:
        """The name of the Literal alias of its values (``KlineInterval``)."""
        return "".join(part.capitalize() for part in self.name.split("_"))


@dataclass(frozen=True)
class ParamRow:
    name: str
    kind: Kind
    default: str | None


@dataclass(frozen=True)
class ChannelRow:
    name: str
    cls: str
    template: str
    prefix: str
    params: tuple[ParamRow, ...]
    body: Field
    private: bool
    legacy: bool
    doc: str

    @property
    def hook(self) -> str:
        return f"mexc_{self.name}_received"

    @property
    def const(self) -> str:
        return self.name.upper()

    @property
    def format_template(self) -> str:
        return "@".join([self.prefix, *(f"{{{p.name}}}" for p in self.params)])


@dataclass(frozen=True)
class Table:
    kinds: dict[str, Kind]
    channels: tuple[ChannelRow, ...]
    retired: dict[str, str]


def load(path: Path, schema: Schema) -> Table:
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    kinds = {
        name: Kind(
            name=name,
            doc=spec["doc"],
            values=tuple(spec.get("values", ())),
            pattern=spec.get("pattern"),
            integer=bool(spec.get("integer", False)),
        )
        for name, spec in sorted(raw["kinds"].items())
    }
    for k in kinds.values():
        if bool(k.values) == (k.pattern is not None):
            raise SchemaError(f"kind {k.name}: give either values or pattern")
    body_by_name = {f.name: f for f in schema.body_fields()}
    rows: list[ChannelRow] = []
    for spec in raw["channel"]:
        name = spec["name"]
        parts = spec["template"].split("@")
        if len(parts) < 2 or any("{" in p for p in parts[:2]):
            raise SchemaError(f"channel {name}: the template must start with two fixed parts")
        params = []
        defaults = spec.get("defaults", {})
        for part in parts[2:]:
            m = _PLACEHOLDER.match(part)
            if m is None:
                raise SchemaError(f"channel {name}: {part!r} is not a {{name:kind}} placeholder")
            kind = kinds.get(m["kind"])
            if kind is None:
                raise SchemaError(f"channel {name}: unknown kind {m['kind']!r}")
            default = defaults.pop(m["name"], None)
            if default is not None and default not in kind.values:
                raise SchemaError(f"channel {name}: default {default!r} is not allowed")
            params.append(ParamRow(m["name"], kind, default))
        if defaults:
            raise SchemaError(f"channel {name}: defaults for unknown params {sorted(defaults)}")
        body = body_by_name.get(spec["body"])
        if body is None:
            raise SchemaError(f"channel {name}: {spec['body']!r} is not a wrapper body field")
        rows.append(
            ChannelRow(
                name=name,
                cls=spec["class"],
                template=spec["template"],
                prefix="@".join(parts[:2]),
                params=tuple(params),
                body=body,
                private=bool(spec.get("private", False)),
                legacy=bool(spec.get("legacy", False)),
                doc=spec["doc"],
            )
        )
    for attr in ("name", "cls", "prefix"):
        seen = [getattr(r, attr) for r in rows]
        if len(set(seen)) != len(seen):
            raise SchemaError(f"channel table: duplicate {attr}")
    unused = set(body_by_name) - {r.body.name for r in rows}
    doubled = [r.body.name for r in rows if [x.body.name for x in rows].count(r.body.name) > 1]
    if unused or doubled:
        raise SchemaError(
            f"every body field needs exactly one channel: unused {sorted(unused)}, "
            f"doubled {sorted(set(doubled))}"
        )
    retired = dict(raw.get("retired", {}))
    names = {r.name for r in rows}
    for old, new in retired.items():
        if new not in names:
            raise SchemaError(f"retired {old!r} points at unknown channel {new!r}")
    return Table(kinds=kinds, channels=tuple(rows), retired=retired)
