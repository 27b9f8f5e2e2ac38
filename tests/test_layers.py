"""The layers of the package: lower layers never import higher ones.

The imports of every module are read from its source (``ast``), so the test
sees lazy imports inside functions too. Every module must be placed in a layer:
a new module fails here until its author decides where it belongs. The layers
are drawn in ``docs/architecture.rst``.
"""

from __future__ import annotations

import ast
import pkgutil
from pathlib import Path

import pytest

import mexc_core

ROOT = Path(mexc_core.__file__).resolve().parent

#: Bottom to top. A module may import its own layer and the layers below.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("errors", "_markers", "_json", "_build")),
    (
        "helpers",
        (
            "_clock",
            "_machine",
            "_pbwire",
            "_readable",
            "_topics",
            "client.backoff",
            "client.pacer",
            "client.shards",
        ),
    ),
    ("generated", ("_generated",)),
    ("types", ("events", "messages", "reference", "channels")),
    ("wire", ("wire", "rest", "client.backpressure", "client.dedup", "client.handover")),
    ("messages", ("session", "listenkey", "book", "client.silence")),
    ("connection", ("connection",)),
    ("link", ("client.link",)),
    ("pool", ("client.pool",)),
    ("client core", ("client.core", "client")),
    ("root", ("",)),
    ("plugins", ("hookspecs", "plugins")),
    ("adapter basics", ("aio.errors", "aio.clock", "aio.streams", "aio")),
    ("adapter http", ("aio.http",)),
    ("adapters", ("aio.client", "aio.listenkey")),
    ("testing kit", ("testing",)),
    ("command line", ("cli",)),
]

#: What the core (every layer up to the plugins) must never import.
OUTSIDE = ("mexc_sim", "mexc_core.testing", "hypothesis", "pytest")
CORE_TOP = "plugins"


def module_names() -> list[str]:
    # _mypyc__mypyc: the compiled build's shared library (hatch_build.py), no source
    skip = ("mexc_core._generated.", "mexc_core._mypyc__mypyc")
    walked = pkgutil.walk_packages(mexc_core.__path__, "mexc_core.")
    return sorted(["mexc_core", *(i.name for i in walked if not i.name.startswith(skip))])


def source_of(name: str) -> Path:
    parts = name.split(".")[1:]
    base = ROOT.joinpath(*parts)
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


def rank_of(name: str) -> int:
    """The layer of ``name`` (``mexc_core.x.y``): the longest prefix that matches."""
    short = name.removeprefix("mexc_core").removeprefix(".")
    best: tuple[int, int] | None = None
    for rank, (_layer, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            matches = short == prefix or (prefix and short.startswith(prefix + "."))
            if matches and (best is None or len(prefix) > best[1]):
                best = (rank, len(prefix))
    if best is None:
        raise AssertionError(f"{name} is in no layer: place it in LAYERS")
    return best[0]


def imports_of(name: str) -> set[str]:
    """Every module ``name`` imports (``from mexc_core import x`` counts as ``mexc_core.x``
    when ``x`` is a module, else as the root)."""
    found: set[str] = set()
    tree = ast.parse(source_of(name).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "mexc_core":
                for alias in node.names:
                    sub = f"mexc_core.{alias.name}"
                    found.add(sub if _is_module(sub) else "mexc_core")
            else:
                found.add(node.module)
    return found


def _is_module(name: str) -> bool:
    parts = name.split(".")[1:]
    base = ROOT.joinpath(*parts)
    return base.is_dir() or base.with_suffix(".py").exists()


MODULES = module_names()


def test_every_module_has_a_layer() -> None:
    assert "mexc_core.client.core" in MODULES
    for name in MODULES:
        rank_of(name)


@pytest.mark.parametrize("name", MODULES)
def test_no_module_imports_a_higher_layer(name: str) -> None:
    mine = rank_of(name)
    for target in imports_of(name):
        if not target.startswith("mexc_core"):
            continue
        theirs = rank_of(target)
        assert theirs <= mine, (
            f"{name} ({LAYERS[mine][0]}) imports {target} ({LAYERS[theirs][0]}), a higher layer"
        )


@pytest.mark.parametrize("name", [n for n in MODULES if rank_of(n) <= rank_of("mexc_core.plugins")])
def test_the_core_never_imports_the_simulator_or_the_testing_kit(name: str) -> None:
    bad = sorted(t for t in imports_of(name) if t.startswith(OUTSIDE))
    assert not bad, f"{name} imports {bad}"


def test_the_checks_catch_what_they_look_for(tmp_path: Path) -> None:
    assert rank_of("mexc_core.client.pool") > rank_of("mexc_core.session")
    assert rank_of("mexc_core._generated.records") == rank_of("mexc_core._generated")
    assert rank_of("mexc_core.aio.client") > rank_of("mexc_core")
    with pytest.raises(AssertionError, match="no layer"):
        rank_of("mexc_core_elsewhere")
    assert "mexc_core.wire" in imports_of("mexc_core.session")
    assert "mexc_core" in imports_of("mexc_core.aio.http")  # __version__ from the root
    assert LAYERS[rank_of("mexc_core.plugins")][0] == CORE_TOP
