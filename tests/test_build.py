"""The compiled build and its pure-Python fallback: which one runs is what it says.

``mexc_core.build_info()`` is checked against the loaded modules themselves (an
extension module's file ends in ``.so``). CI runs the suite on both builds and sets
``MEXC_CORE_EXPECT`` (``compiled`` or ``pure``) so a build that silently fell back
fails here.
"""

from __future__ import annotations

import importlib.machinery
import json
import os
import sys
from pathlib import Path

import pytest

import mexc_core
from mexc_core import _build, cli
from mexc_core._build import COMPILED_MODULES, BuildInfo, choose, source_digest, source_of


def loaded_from_extension(name: str) -> bool:
    file = sys.modules[name].__file__ or ""
    return file.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))


def test_build_info_says_what_is_loaded() -> None:
    info = mexc_core.build_info()
    for name in COMPILED_MODULES:
        assert name in sys.modules
        assert (name in info.compiled) == loaded_from_extension(name), name
    assert (info.reason is None) == bool(info.compiled)


def test_the_expected_build_runs() -> None:
    info = mexc_core.build_info()
    expected = os.environ.get("MEXC_CORE_EXPECT")
    if expected == "compiled":
        assert info.compiled == COMPILED_MODULES, info.describe()
    elif expected == "pure":
        assert info.compiled == (), info.describe()
    if os.environ.get(_build.PURE_ENV, "") not in {"", "0"}:
        assert info.compiled == ()
        assert info.reason == "MEXC_CORE_PURE=1"


def test_coverage_measures_the_python_source() -> None:
    import coverage  # noqa: PLC0415

    if coverage.Coverage.current() is not None:
        assert mexc_core.build_info().compiled == ()


def test_version_says_which_build(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--version"])
    out = capsys.readouterr().out.strip()
    assert out == f"mexc-core {mexc_core.__version__} ({mexc_core.build_info().describe()})"


def test_describe() -> None:
    both = ("mexc_core._pbwire", "mexc_core._generated.codec")
    assert BuildInfo(compiled=both, reason=None).describe() == (
        "compiled: mexc_core._pbwire, mexc_core._generated.codec"
    )
    assert BuildInfo(compiled=(), reason="MEXC_CORE_PURE=1").describe() == (
        "pure Python (MEXC_CORE_PURE=1)"
    )
    assert BuildInfo(compiled=(), reason=None).describe() == "pure Python"


def write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_choose_compiled_only_when_the_manifest_matches_the_sources(tmp_path: Path) -> None:
    digests = {name: source_digest(source_of(name)) for name in COMPILED_MODULES}
    manifest = write(tmp_path / "m.json", {"modules": digests, "reason": None})
    assert choose(manifest, pure=False) is None
    assert choose(manifest, pure=True) == "MEXC_CORE_PURE=1"
    stale = write(tmp_path / "s.json", {"modules": {**digests, COMPILED_MODULES[0]: "0" * 64}})
    reason = choose(stale, pure=False)
    assert reason is not None
    assert COMPILED_MODULES[0] in reason
    assert "uv sync --reinstall-package mexc-core" in reason


def test_choose_pure_python_without_a_compiled_build(tmp_path: Path) -> None:
    assert choose(tmp_path / "missing.json", pure=False) == "not compiled"
    assert choose(write(tmp_path / "a.json", [1]), pure=False) == "not compiled"
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    assert choose(tmp_path / "bad.json", pure=False) == "not compiled"
    no_compiler = write(tmp_path / "n.json", {"modules": {}, "reason": "no cc"})
    assert choose(no_compiler, pure=False) == "not compiled: no cc"
    assert choose(write(tmp_path / "e.json", {"modules": {}}), pure=False) == "not compiled"


def test_sources_of_compiled_modules_exist() -> None:
    for name in COMPILED_MODULES:
        assert source_of(name).is_file(), name
