"""Read ``proto/`` into a small model the emitters work from.

protoc parses the ``.proto`` files (we never parse proto syntax ourselves) and hands
back a ``FileDescriptorSet``; this module turns it into :class:`Message` and
:class:`Field` records with just what generation needs, in a stable order.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import descriptor_pb2

from codegen import tools

FDP = descriptor_pb2.FieldDescriptorProto

#: Scalar kinds the generator supports, by protobuf type. Anything else in the
#: schema stops generation with a message naming the field, so a schema change
#: that needs new decoder code cannot slip through as a silently wrong decoder.
SCALARS: dict[int, str] = {
    FDP.TYPE_STRING: "string",
    FDP.TYPE_INT32: "int32",
    FDP.TYPE_INT64: "int64",
    FDP.TYPE_BOOL: "bool",
}

WIRE_VARINT = 0
WIRE_LEN = 2


class SchemaError(ValueError):
    """The schema uses something the generator does not support."""


def snake_case(name: str) -> str:
    """``lastOrderCreateTime`` -> ``last_order_create_time`` (as betterproto2 does)."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


@dataclass(frozen=True)
class Field:
    name: str  # as in the .proto file: lastOrderCreateTime
    attr: str  # snake_case attribute: last_order_create_time
    number: int
    kind: str  # string | int32 | int64 | bool | message
    message: str | None  # message type name for kind == "message"
    repeated: bool
    optional: bool  # proto3 explicit presence
    oneof: str | None  # real (non-synthetic) oneof name

    @property
    def wire_type(self) -> int:
        return WIRE_LEN if self.kind in ("string", "message") else WIRE_VARINT

    @property
    def tag(self) -> int:
        return (self.number << 3) | self.wire_type

    @property
    def tag_bytes(self) -> bytes:
        out = bytearray()
        value = self.tag
        while value >= 0x80:
            out.append((value & 0x7F) | 0x80)
            value >>= 7
        out.append(value)
        return bytes(out)


@dataclass(frozen=True)
class Message:
    name: str
    file: str
    fields: tuple[Field, ...]
    comment: str

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise SchemaError(f"{self.name} has no field {name!r}")


@dataclass(frozen=True)
class Schema:
    package: str
    files: tuple[str, ...]
    messages: dict[str, Message]  # sorted by name
    wrapper: Message

    def body_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.wrapper.fields if f.oneof == "body")


WRAPPER = "PushDataV3ApiWrapper"


def proto_files(proto_root: Path) -> list[str]:
    return sorted(p.relative_to(proto_root).as_posix() for p in proto_root.rglob("*.proto"))


def load(proto_root: Path) -> Schema:
    tools.check_pins()
    files = proto_files(proto_root)
    if not files:
        raise SchemaError(f"no .proto files under {proto_root}")
    with tempfile.TemporaryDirectory(prefix="mexc-codegen-fds-") as tmp:
        out = Path(tmp, "schema.fds")
        tools.protoc(proto_root, files, [f"--descriptor_set_out={out}", "--include_source_info"])
        fds = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    return from_descriptor_set(fds)


def _leading_comment(fd: descriptor_pb2.FileDescriptorProto, path: tuple[int, ...]) -> str:
    for loc in fd.source_code_info.location:
        if tuple(loc.path) == path:
            return str(loc.leading_comments).strip()
    return ""


def from_descriptor_set(fds: descriptor_pb2.FileDescriptorSet) -> Schema:
    packages = {fd.package for fd in fds.file}
    if len(packages) != 1:
        raise SchemaError(f"all .proto files must share one package, found {sorted(packages)}")
    (package,) = packages
    messages: dict[str, Message] = {}
    for fd in fds.file:
        if fd.syntax != "proto3":
            raise SchemaError(f"{fd.name}: only proto3 is supported")
        if fd.enum_type:
            raise SchemaError(f"{fd.name}: enums are not supported (MEXC's schema has none)")
        for mi, md in enumerate(fd.message_type):
            if md.nested_type or md.enum_type:
                raise SchemaError(f"{fd.name}: nested types are not supported ({md.name})")
            fields = []
            for f in md.field:
                if f.type == FDP.TYPE_MESSAGE:
                    kind = "message"
                    type_name = f.type_name.rsplit(".", 1)[-1]
                elif f.type in SCALARS:
                    kind = SCALARS[f.type]
                    type_name = None
                else:
                    raise SchemaError(
                        f"{md.name}.{f.name}: protobuf type {f.type} is not supported by the "
                        "specialised decoder; extend codegen/emit_codec.py and its tests"
                    )
                repeated = f.label == FDP.LABEL_REPEATED
                if repeated and kind != "message":
                    raise SchemaError(
                        f"{md.name}.{f.name}: repeated scalars are not supported (packed encoding)"
                    )
                oneof = None
                if f.HasField("oneof_index") and not f.proto3_optional:
                    oneof = md.oneof_decl[f.oneof_index].name
                fields.append(
                    Field(
                        name=f.name,
                        attr=snake_case(f.name),
                        number=f.number,
                        kind=kind,
                        message=type_name,
                        repeated=repeated,
                        optional=f.proto3_optional,
                        oneof=oneof,
                    )
                )
            if md.name in messages:
                raise SchemaError(f"message {md.name} is defined twice")
            messages[md.name] = Message(
                name=md.name,
                file=fd.name,
                fields=tuple(sorted(fields, key=lambda x: x.number)),
                comment=_leading_comment(fd, (4, mi)),
            )
    if WRAPPER not in messages:
        raise SchemaError(f"the schema has no {WRAPPER}")
    wrapper = messages.pop(WRAPPER)
    for msg in messages.values():
        for field in msg.fields:
            if field.oneof is not None:
                raise SchemaError(f"{msg.name}.{field.name}: oneofs outside the wrapper")
            if field.kind == "message" and not field.repeated:
                raise SchemaError(f"{msg.name}.{field.name}: singular sub-messages unsupported")
    for field in wrapper.fields:
        if field.kind == "message" and field.oneof != "body":
            raise SchemaError(f"{WRAPPER}.{field.name}: messages must be in the body oneof")
    return Schema(
        package=package,
        files=tuple(sorted(fd.name for fd in fds.file)),
        messages=dict(sorted(messages.items())),
        wrapper=wrapper,
    )
