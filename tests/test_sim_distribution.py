"""The simulator is a distribution of its own (mexc-sim), and mexc-core stands without it.

- mexc-core registers no pytest plugin; mexc-sim registers the fixtures' plugin.
- No module of mexc-core (but the shipped test support, ``mexc_core.testing``)
  imports ``mexc_sim``; importing ``mexc_sim`` and its pytest plugin is light.
- ``mexc sim`` and ``mexc demo`` hand over to ``mexc_sim.cli``; without mexc-sim
  they print one line naming the fix and exit with status 3.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys

import pytest

import mexc_sim
from mexc_core import cli


def entry_points(distribution: str, group: str) -> dict[str, str]:
    found = importlib.metadata.distribution(distribution).entry_points
    return {ep.name: ep.value for ep in found if ep.group == group}


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )


def test_the_core_registers_no_pytest_plugin() -> None:
    assert entry_points("mexc-core", "pytest11") == {}
    assert entry_points("mexc-core", "console_scripts") == {"mexc": "mexc_core.cli:main"}


def test_the_simulator_registers_its_fixtures(pytestconfig: pytest.Config) -> None:
    assert entry_points("mexc-sim", "pytest11") == {"mexc_sim": "mexc_sim.pytest_plugin"}
    plugin = pytestconfig.pluginmanager.get_plugin("mexc_sim")
    assert plugin is sys.modules["mexc_sim.pytest_plugin"]
    requires = importlib.metadata.requires("mexc-sim") or []
    assert any(r.startswith("mexc-core") for r in requires)


def test_the_testing_extra_brings_the_simulator() -> None:
    requires = importlib.metadata.requires("mexc-core") or []
    testing = [r for r in requires if "extra == 'testing'" in r.replace('"', "'")]
    assert {r.split(";")[0].strip().split(">")[0] for r in testing} == {"hypothesis", "mexc-sim"}


IMPORT_EVERY_CORE_MODULE = """
import json, pkgutil, sys, importlib
import mexc_core
names = []
for info in pkgutil.walk_packages(mexc_core.__path__, "mexc_core."):
    if info.name == "mexc_core.testing" or info.name.startswith("mexc_core.testing."):
        continue
    importlib.import_module(info.name)
    names.append(info.name)
from mexc_core import cli
cli.build_parser()
sim = sorted(m for m in sys.modules if m.startswith("mexc_sim"))
print(json.dumps({"names": names, "sim": sim}))
"""


def test_no_core_module_imports_the_simulator() -> None:
    proc = run_python(IMPORT_EVERY_CORE_MODULE)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert {"mexc_core.cli", "mexc_core.wire", "mexc_core.aio.client"} <= set(result["names"])
    assert "mexc_core.client.pool" in result["names"]
    assert result["sim"] == []


def test_importing_the_simulator_and_its_plugin_is_light() -> None:
    proc = run_python(
        "import json, sys, mexc_sim, mexc_sim.pytest_plugin\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('mexc', 'anyio')))))"
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == ["mexc_sim", "mexc_sim.pytest_plugin"]


def test_the_simulator_names_load_on_first_use() -> None:
    from mexc_sim.server import serve_in_thread  # noqa: PLC0415 - the point of the test

    assert mexc_sim.serve_in_thread is serve_in_thread
    assert set(mexc_sim.__all__) <= set(dir(mexc_sim))
    for name in mexc_sim.__all__:
        assert getattr(mexc_sim, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = mexc_sim.nope


@pytest.mark.parametrize("command", ["sim", "demo"])
def test_without_the_simulator_the_cli_says_how_to_get_it(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "mexc_sim", None)  # as if not installed
    assert cli.main([command, "--port", "0", "--json"]) == cli.EXIT_NO_SIMULATOR == 3
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"mexc {command}: ")
    assert "pip install mexc-sim" in lines[0]


def test_without_the_simulator_the_console_script_exits_3() -> None:
    proc = run_python(
        "import sys; sys.modules['mexc_sim'] = None\n"
        "from mexc_core.cli import main\n"
        "sys.exit(main(['sim']))"
    )
    assert proc.returncode == 3
    assert proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1
    assert "pip install mexc-sim" in proc.stderr


def test_a_broken_simulator_is_not_reported_as_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mexc_sim.cli", None)
    monkeypatch.delattr(mexc_sim, "cli", raising=False)  # an earlier test may have loaded it
    with pytest.raises(ModuleNotFoundError) as info:
        cli.main(["sim"])
    assert info.value.name == "mexc_sim.cli"


def test_the_cli_hands_the_simulator_commands_over(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["demo", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: mexc demo ")
    assert "--duration" in out
    with pytest.raises(SystemExit) as info:
        cli.main(["channels", "--nope"])
    assert info.value.code == 2
    assert "unrecognized arguments: --nope" in capsys.readouterr().err
