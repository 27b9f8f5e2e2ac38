"""Which build of mexc-core runs: the mypyc-compiled hot modules, or pure Python.

When a C compiler is present, installing the project (``uv sync``) compiles the
modules in :data:`COMPILED_MODULES` with mypyc (``hatch_build.py``, a hatchling build
hook) and writes a manifest, ``_compiled.json``, beside them: the SHA-256 of each
compiled source, or the reason nothing was compiled. The ``.py`` files always stay
installed; they are the fallback, and this module picks between the two at import
time, before any of those modules is imported (``mexc_core/__init__.py`` imports it
first):

- ``MEXC_CORE_PURE=1`` in the environment: pure Python, whatever was built;
- a compiled module whose source no longer matches the manifest (edited since the
  build): pure Python for all of them, so one process never mixes a stale compiled
  module with a newer source; ``uv sync --reinstall-package mexc-core`` rebuilds;
- otherwise the compiled modules where they exist.

Pure Python is chosen by a meta path finder that loads those modules from their
``.py`` files ahead of the extension modules beside them.

This module reads the environment and files, so it is outside the sans-IO core (like
``aio`` and ``cli``); it decides nothing about the protocol.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Final, final

#: The modules the build compiles with mypyc when it can: the generated decoder and
#: its wire primitives (``hatch_build.py`` reads this tuple from this file's source).
COMPILED_MODULES: Final[tuple[str, ...]] = (
    "mexc_core._generated.codec",
    "mexc_core._pbwire",
)

#: The environment variable that forces pure Python (at build time and at import time).
PURE_ENV: Final = "MEXC_CORE_PURE"
#: The manifest the build hook writes beside the compiled modules.
MANIFEST: Final = "_compiled.json"

_PACKAGE_DIR: Final = Path(__file__).resolve().parent


def source_of(module: str) -> Path:
    """The ``.py`` file of one of :data:`COMPILED_MODULES`."""
    return _PACKAGE_DIR.joinpath(*module.split(".")[1:]).with_suffix(".py")


def source_digest(path: Path) -> str:
    """The SHA-256 the manifest records for one source file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _pure_requested() -> bool:
    return os.environ.get(PURE_ENV, "").strip() not in {"", "0"}


def choose(manifest: Path, *, pure: bool) -> str | None:
    """``None`` to run the compiled modules, else why pure Python runs.

    :param manifest: the build's ``_compiled.json``
    :param pure: whether ``MEXC_CORE_PURE`` asks for pure Python
    """
    if pure:
        return f"{PURE_ENV}=1"
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "not compiled"
    if not isinstance(data, dict):
        return "not compiled"
    digests = data.get("modules")
    if not isinstance(digests, dict) or not digests:
        reason = data.get("reason")
        return f"not compiled: {reason}" if reason else "not compiled"
    for module in COMPILED_MODULES:
        if digests.get(module) != source_digest(source_of(module)):
            return (
                f"the compiled build does not match {module}'s source; "
                "`uv sync --reinstall-package mexc-core` rebuilds it"
            )
    return None


class _SourceFinder(importlib.abc.MetaPathFinder):
    """Loads :data:`COMPILED_MODULES` from their ``.py`` files."""

    def find_spec(
        self,
        fullname: str,
        path: object = None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in COMPILED_MODULES:
            return None
        return importlib.util.spec_from_file_location(fullname, source_of(fullname))


#: Why the pure-Python modules run (``None``: the compiled ones run where built).
PURE_REASON: Final = choose(_PACKAGE_DIR / MANIFEST, pure=_pure_requested())
if PURE_REASON is not None:
    sys.meta_path.insert(0, _SourceFinder())


def is_compiled(module: ModuleType) -> bool:
    """Whether ``module`` was loaded from an extension module (a compiled build)."""
    file = getattr(module, "__file__", None) or ""
    return file.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class BuildInfo:
    """Which build runs: ``compiled`` names the modules running compiled."""

    compiled: tuple[str, ...]
    #: why pure Python runs, when nothing runs compiled
    reason: str | None

    def describe(self) -> str:
        """``compiled: mexc_core._pbwire, ...`` or ``pure Python (why)``."""
        if self.compiled:
            return "compiled: " + ", ".join(self.compiled)
        return f"pure Python ({self.reason})" if self.reason else "pure Python"


def build_info() -> BuildInfo:
    """Which of :data:`COMPILED_MODULES` run compiled, checked on the loaded modules.

    .. versionadded:: 0.1
    """
    compiled = tuple(
        name
        for name in COMPILED_MODULES
        if is_compiled(sys.modules.get(name) or importlib.import_module(name))
    )
    reason = PURE_REASON
    if not compiled and reason is None:
        reason = "not compiled"
    return BuildInfo(compiled=compiled, reason=reason)
