"""The simulator's shape: honest ``__all__``, sans-IO exchange logic, both anyio backends."""

from __future__ import annotations

import ast
import doctest
import importlib
import inspect
import socket
import time
import types
from pathlib import Path

import pytest

from mexc_core.connection import Connection, ConnectionState
from mexc_core.events import Push
from mexc_sim import serve_in_thread

SIM = Path(__file__).resolve().parent.parent / "sim" / "mexc_sim"
#: The modules that may do I/O: the anyio server, the fault proxy, the command line
#: (and the demo's trading loop), the pytest fixtures, and what re-exports or runs them.
IO_MODULES = {
    "server.py",
    "proxy.py",
    "cli.py",
    "demo.py",
    "soak.py",
    "pytest_plugin.py",
    "__init__.py",
    "__main__.py",
}
BANNED = {"anyio", "asyncio", "trio", "socket", "ssl", "time", "os", "selectors", "threading"}
MODULES = sorted(p.stem for p in SIM.glob("*.py") if p.name not in {"__main__.py"})


def test_the_scans_see_the_simulator() -> None:
    assert {"exchange", "market", "protocol", "server", "cli", "pytest_plugin"} <= set(MODULES)


@pytest.mark.parametrize(
    "name", sorted(p.name for p in SIM.glob("*.py") if p.name not in IO_MODULES)
)
def test_exchange_logic_is_sans_io(name: str) -> None:
    tree = ast.parse((SIM / name).read_text(encoding="utf-8"))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    assert not roots & BANNED, f"{name} imports {sorted(roots & BANNED)}"


@pytest.mark.parametrize("stem", MODULES)
def test_all_is_honest(stem: str) -> None:
    name = "mexc_sim" if stem == "__init__" else f"mexc_sim.{stem}"
    module = importlib.import_module(name)
    exported = module.__all__
    assert isinstance(exported, tuple)
    assert len(set(exported)) == len(exported)
    for attr in exported:
        assert hasattr(module, attr), f"{name}.{attr}"
    for attr, value in vars(module).items():
        if attr.startswith("_") or isinstance(value, types.ModuleType):
            continue
        if (inspect.isclass(value) or inspect.isfunction(value)) and value.__module__ == name:
            assert attr in exported, f"{name}.{attr} is public but not in __all__"


def test_doctests() -> None:
    for stem in ("_numbers", "market", "exchange", "rest", "session"):
        module = importlib.import_module(f"mexc_sim.{stem}")
        result = doctest.testmod(module)
        assert result.failed == 0, stem


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_both_anyio_backends_serve(backend: str) -> None:
    topic = "spot@public.aggre.depth.v3.api.pb@10ms@ETHUSDT"
    with serve_in_thread(speed=20.0, backend=backend) as sim:
        conn = Connection(host=f"127.0.0.1:{sim.port}")
        conn.subscribe([topic], time.monotonic())
        conn.connect(time.monotonic())
        got: list[Push] = []
        with socket.create_connection(("127.0.0.1", sim.port), timeout=10) as sock:
            sock.sendall(conn.data_to_send())
            while len(got) < 3 and conn.state is not ConnectionState.CLOSED:
                conn.receive_data(sock.recv(65536), time.monotonic())
                got.extend(e for e in conn.events() if isinstance(e, Push))
                sock.sendall(conn.data_to_send())
    assert [p.channel for p in got[:3]] == [topic] * 3
