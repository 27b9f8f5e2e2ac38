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


def write_manifest(path: Path, modules: dict[str, str], reason: str | None) -> None:
    path.write_text(
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
            build_ext.build_lib = str(out)  # the package's place: mexc_core/... under it
            build_ext.build_temp = str(Path(work) / "obj")
            build_ext.ensure_finalized()
            build_ext.run()
            return [Path(p) for p in build_ext.get_outputs()]
        finally:
            os.chdir(cwd)


class MypycHook(BuildHookInterface):
    """Compile when possible; pure Python (and the reason) otherwise."""

    PLUGIN_NAME = "custom"

    _wheel_dir: str | None = None

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Compile into the source tree (editable) or a directory the wheel takes."""
        if version == "editable":
            remove_artifacts()  # the previous in-place build
            out = ROOT
        else:  # a wheel: nothing written into the source tree
            self._wheel_dir = tempfile.mkdtemp(prefix="mexc-wheel-")
            out = Path(self._wheel_dir)
        modules = compiled_modules()
        outputs: list[Path] = []
        digests: dict[str, str] = {}
        reason: str | None = None
        if os.environ.get("MEXC_CORE_PURE", "").strip() not in {"", "0"}:
            reason = "MEXC_CORE_PURE=1 at build time"
        else:
            try:
                outputs = compile_into(out, modules)
            # any failure means: install pure Python (mypy exits with SystemExit on errors)
            except (Exception, SystemExit) as exc:  # noqa: BLE001
                traceback.print_exc()
                reason = f"the build could not compile ({type(exc).__name__}: {exc})"
                reason = reason.splitlines()[0][:300]
                print(f"mexc-core: installing pure Python: {reason}", file=sys.stderr)
            else:
                digests = {
                    m: hashlib.sha256(source_of(m).read_bytes()).hexdigest() for m in modules
                }
        manifest = out / "mexc_core" / MANIFEST.name
        manifest.parent.mkdir(parents=True, exist_ok=True)
        write_manifest(manifest, digests, reason)
        if version != "editable":
            for built in outputs:
                build_data["force_include"][str(built)] = built.relative_to(out).as_posix()
            build_data["force_include"][str(manifest)] = f"mexc_core/{MANIFEST.name}"
            if digests:
                build_data["pure_python"] = False
                build_data["infer_tag"] = True

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        """Drop the wheel's build directory."""
        if self._wheel_dir is not None:
            shutil.rmtree(self._wheel_dir, ignore_errors=True)
