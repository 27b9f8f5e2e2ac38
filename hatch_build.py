"""Hatchling build hook: compile mexc-core's hot modules with mypyc when it can.

The modules are those listed in ``mexc_core/_build.py`` (``COMPILED_MODULES``); the
``.py`` files are always installed too and are the fallback. Nothing here can fail
a build: without a C compiler or Python headers, when mypyc rejects a module, or
with ``MEXC_CORE_PURE=1`` in the environment, the build installs pure Python and
records why in ``mexc_core/_compiled.json`` (``mexc --version`` shows it).

An editable install (what ``uv sync`` does for the project) compiles in place: the
extension modules land beside their sources, where the import system prefers them.
A wheel gets them as extra files and a platform tag.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
import sys
import sysconfig
import tempfile
import traceback
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

ROOT = Path(__file__).resolve().parent
PACKAGE = ROOT / "mexc_core"
MANIFEST = PACKAGE / "_compiled.json"
# the shared library mypyc builds for the group (its name is mypyc's: <group>__mypyc)
GROUP = "mexc_core._mypyc"


def compiled_modules() -> tuple[str, ...]:
    """``COMPILED_MODULES`` from mexc_core/_build.py, read without importing it."""
    tree = ast.parse((PACKAGE / "_build.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and node.target.id == "COMPILED_MODULES"
            and node.value is not None
        ):
            return tuple(ast.literal_eval(node.value))
    msg = "COMPILED_MODULES not found in mexc_core/_build.py"
    raise LookupError(msg)


def source_of(module: str) -> Path:
    return PACKAGE.joinpath(*module.split(".")[1:]).with_suffix(".py")


def remove_artifacts() -> None:
    """Drop extension modules an earlier in-place build left in the package."""
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    for path in PACKAGE.rglob("*" + suffix):
        path.unlink()
    MANIFEST.unlink(missing_ok=True)


def write_manifest(modules: dict[str, str], reason: str | None) -> None:
    MANIFEST.write_text(
        json.dumps({"modules": modules, "reason": reason}, indent=2, sort_keys=True) + "\n",
        encoding="utf-8",
    )


def compile_into(out: Path, modules: tuple[str, ...]) -> list[Path]:
    """Compile ``modules`` with mypyc; return the extension files written under ``out``."""
    from mypyc.build import mypycify  # noqa: PLC0415 (only when compiling)
    from setuptools import Distribution  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="mexc-mypyc-") as work:
        cwd = Path.cwd()
        os.chdir(ROOT)  # mypyc reads [tool.mypy] and names modules from here
        try:
            extensions = mypycify(
                # The build environment has the build requirements only: the
                # project's runtime dependencies (wsproto, anyio ...) are imported
                # by modules that are not compiled; their types do not matter here.
                [
                    "--ignore-missing-imports",
                    "--follow-imports=silent",
                    *(str(source_of(m).relative_to(ROOT)) for m in modules),
                ],
                opt_level="3",
                group_name=GROUP,
                target_dir=str(Path(work) / "c"),
            )
            dist = Distribution({"ext_modules": extensions, "script_name": "hatch_build.py"})
            build_ext = dist.get_command_obj("build_ext")
            build_ext.build_lib = str(out)
            build_ext.build_temp = str(Path(work) / "obj")
            build_ext.ensure_finalized()
            build_ext.run()
            return [Path(p) for p in build_ext.get_outputs()]
        finally:
            os.chdir(cwd)


class MypycHook(BuildHookInterface):
    """Compile when possible; pure Python (and the reason) otherwise."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        remove_artifacts()
        modules = compiled_modules()
        if os.environ.get("MEXC_CORE_PURE", "").strip() not in {"", "0"}:
            write_manifest({}, "MEXC_CORE_PURE=1 at build time")
            return
        with tempfile.TemporaryDirectory(prefix="mexc-build-") as out:
            try:
                outputs = compile_into(Path(out), modules)
            # any failure means: install pure Python (mypy exits with SystemExit on errors)
            except (Exception, SystemExit) as exc:  # noqa: BLE001
                traceback.print_exc()
                reason = f"the build could not compile ({type(exc).__name__}: {exc})"
                print(f"mexc-core: installing pure Python: {reason}", file=sys.stderr)
                write_manifest({}, reason.splitlines()[0][:300])
                return
            for built in outputs:
                relative = built.relative_to(out)
                target = ROOT / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(built, target)
                if version != "editable":
                    build_data["force_include"][str(target)] = relative.as_posix()
        write_manifest(
            {m: hashlib.sha256(source_of(m).read_bytes()).hexdigest() for m in modules}, None
        )
        if version != "editable":
            build_data["force_include"][str(MANIFEST)] = "mexc_core/_compiled.json"
            build_data["pure_python"] = False
            build_data["infer_tag"] = True
