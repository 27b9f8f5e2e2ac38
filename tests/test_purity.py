"""The sans-IO core imports no I/O, clock or randomness (docs/architecture.rst, rule 1).

An AST scan of every core module; ruff's TID251 enforces the same in the editor.
The exempt parts are the anyio adapters, the shipped test support and the CLI; the
simulator is a distribution of its own (``sim/mexc_sim``), outside the package.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "mexc_core"
BANNED = frozenset(
    {"anyio", "asyncio", "trio", "socket", "ssl", "time", "random", "os", "selectors"}
)
# _build.py picks the compiled or the pure-Python build from the environment at import
EXEMPT = ("aio", "testing", "cli", "_build.py")


def core_modules() -> list[Path]:
    return sorted(
        path for path in PACKAGE.rglob("*.py") if path.relative_to(PACKAGE).parts[0] not in EXEMPT
    )


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "__import__"
        ):
            roots.add("__import__")
    return roots


def test_the_core_is_what_we_think() -> None:
    names = {p.relative_to(PACKAGE).as_posix() for p in core_modules()}
    assert {"session.py", "connection.py", "wire.py", "events.py", "errors.py"} <= names


@pytest.mark.parametrize("path", core_modules(), ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_core_module_is_sans_io(path: Path) -> None:
    bad = imported_roots(path) & (BANNED | {"__import__"})
    assert not bad, f"{path.relative_to(PACKAGE)} imports {sorted(bad)}"


def test_the_scan_catches_a_banned_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import os.path\nfrom time import monotonic\nfrom . import x\n")
    assert imported_roots(sample) == {"os", "time"}
