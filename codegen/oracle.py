"""Google's protobuf runtime compiled from ``proto/``: the oracle of tests and benchmarks.

protoc turns ``proto/`` into a descriptor set; the message classes are built from it
in a private descriptor pool, so they never clash with other copies of MEXC's schema
loaded in the same process and need no generated ``_pb2`` files.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

from google.protobuf import descriptor_pb2, descriptor_pool, message, message_factory
from google.protobuf.internal import api_implementation

from codegen import schema, tools

PROTO = Path(__file__).resolve().parent.parent / "proto"


def backend() -> str:
    """The protobuf backend in use: ``upb`` (C), ``cpp`` or ``python``."""
    return str(api_implementation.Type())


@functools.cache
def descriptor_set() -> bytes:
    """``proto/`` compiled by the pinned protoc, as a serialized FileDescriptorSet."""
    files = schema.proto_files(PROTO)
    with tempfile.TemporaryDirectory(prefix="mexc-oracle-") as tmp:
        out = Path(tmp, "schema.fds")
        tools.protoc(PROTO, files, [f"--descriptor_set_out={out}", "--include_imports"])
        return out.read_bytes()


@functools.cache
def classes() -> dict[str, type[message.Message]]:
    """Google message classes by short name (``PushDataV3ApiWrapper`` ...)."""
    fds = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set())
    pool = descriptor_pool.DescriptorPool()
    for fd in fds.file:
        pool.Add(fd)
    out: dict[str, type[message.Message]] = {}
    for fd in fds.file:
        for md in fd.message_type:
            desc = pool.FindMessageTypeByName(f"{fd.package}.{md.name}")
            out[md.name] = message_factory.GetMessageClass(desc)
    return out
