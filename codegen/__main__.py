"""``python -m codegen [--check]``: regenerate ``mexc_core/_generated/`` or check it."""

from __future__ import annotations

import argparse
import difflib
import importlib.machinery
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from codegen import (
    emit_channels,
    emit_codec,
    emit_convert,
    emit_enums,
    emit_hookspecs,
    emit_records,
    readable,
    tools,
)
from codegen import schema as schema_mod
from codegen import table as table_mod
from codegen.writer import BANNER

ROOT = Path(__file__).resolve().parent.parent
PROTO = ROOT / "proto"
TABLE = ROOT / "codegen" / "channels.toml"
READABLE = ROOT / "codegen" / "readable.toml"
TARGET = ROOT / "mexc_core" / "_generated"

_INIT = (
    BANNER + '"""Code generated from ``proto/`` and ``codegen/*.toml``; never edit by hand.\n\n'
    "- ``betterproto/``: the betterproto2 reference classes (encoding, conversion, tests).\n"
    "- ``records``: the immutable records the hot path builds, with readable accessors.\n"
    "- ``enums``: the documented codes (trade side, order type and status, ...).\n"
    "- ``codec``: the decoder and encoder specialised to the schema.\n"
    "- ``convert``: records <-> reference classes.\n"
    "- ``channels``: the channel registry and typed topics.\n"
    "- ``hookspecs``: one plugin hook per channel.\n"
    '"""\n'
)


def generate(out: Path) -> None:
    """Write every generated file into the empty directory ``out``."""
    schema = schema_mod.load(PROTO)
    table = table_mod.load(TABLE, schema)
    accessors = readable.load(READABLE, schema)
    ref = out / "betterproto"
    ref.mkdir(parents=True)
    tools.protoc(PROTO, list(schema.files), [f"--python_betterproto2_out={ref}"])
    emitters: dict[str, Callable[[], str]] = {
        "records.py": lambda: emit_records.emit(schema, accessors),
        "enums.py": lambda: emit_enums.emit(accessors),
        "codec.py": lambda: emit_codec.emit(schema),
        "encode.py": lambda: emit_codec.emit_encoder(schema),
        "convert.py": lambda: emit_convert.emit(schema),
        "channels.py": lambda: emit_channels.emit(table),
        "hookspecs.py": lambda: emit_hookspecs.emit(table),
    }
    (out / "__init__.py").write_text(_INIT, encoding="utf-8")
    for name, emit in emitters.items():
        (out / name).write_text(tools.ruff_format(emit()), encoding="utf-8")


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
        and "__pycache__" not in p.parts
        # the compiled build's extension modules (hatch_build.py) are not generated
        and not p.name.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
    }


def check() -> int:
    with tempfile.TemporaryDirectory(prefix="mexc-codegen-check-") as tmp:
        fresh_root = Path(tmp, "_generated")
        generate(fresh_root)
        fresh = _files(fresh_root)
    current = _files(TARGET) if TARGET.exists() else {}
    problems = []
    for name in sorted(set(fresh) | set(current)):
        if name not in current:
            problems.append(f"missing: {name}")
        elif name not in fresh:
            problems.append(f"not generated (stale, remove it): {name}")
        elif fresh[name] != current[name]:
            diff = difflib.unified_diff(
                current[name].decode(errors="replace").splitlines(),
                fresh[name].decode(errors="replace").splitlines(),
                f"committed/{name}",
                f"generated/{name}",
                lineterm="",
                n=1,
            )
            problems.append(f"differs: {name}\n" + "\n".join(list(diff)[:40]))
    if problems:
        print("mexc_core/_generated/ is not current; run `uv run python -m codegen`:")
        print("\n".join(problems))
        return 1
    print(f"mexc_core/_generated/ is current ({len(fresh)} files)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m codegen", description=__doc__)
    parser.add_argument(
        "--check", action="store_true", help="regenerate into a temporary folder and diff"
    )
    args = parser.parse_args(argv)
    try:
        if args.check:
            return check()
        with tempfile.TemporaryDirectory(prefix="mexc-codegen-") as tmp:
            fresh = Path(tmp, "_generated")
            generate(fresh)
            if TARGET.exists():
                shutil.rmtree(TARGET)
            shutil.copytree(fresh, TARGET)
        print(f"wrote {len(_files(TARGET))} files to {TARGET.relative_to(ROOT)}")
    except (tools.ToolError, schema_mod.SchemaError) as exc:
        print(f"codegen: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
