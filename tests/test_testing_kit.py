"""The conformance kit as a user meets it (``docs/testing.rst``).

- Without hypothesis or mexc-sim, importing any module of ``mexc_core.testing``
  fails with one line naming the ``testing`` extra (a newcomer once got a bare
  ``ModuleNotFoundError: No module named 'hypothesis'``). The missing module is
  simulated with ``sys.modules[name] = None``, in-process and in a fresh
  interpreter.
- The simulator has a fixture that ``@given`` tests may use (``mexc_sim_module``);
  the function-scoped ``mexc_sim`` fails hypothesis' health check there, as the
  guide says.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mexc_core.testing
from mexc_sim import RunningSimulator
from tests.test_docs_examples import run_pytest
from tests.util import FACTOR

ROOT = Path(__file__).resolve().parent.parent

KIT = sorted(
    info.name for info in pkgutil.iter_modules(mexc_core.testing.__path__, "mexc_core.testing.")
)


def message(*missing: str) -> str:
    return (
        f"mexc_core.testing needs {' and '.join(missing)}: "
        "install the 'testing' extra, pip install 'mexc-core[testing]'"
    )


def test_the_kit_is_every_module_the_guide_documents() -> None:
    assert KIT == [
        "mexc_core.testing.book",
        "mexc_core.testing.client",
        "mexc_core.testing.harness",
        "mexc_core.testing.listenkey",
        "mexc_core.testing.stateful",
        "mexc_core.testing.strategies",
    ]
    api = ROOT / "docs" / "api"
    for name in ["mexc_core.testing", *KIT]:
        page = api / (name.removeprefix("mexc_core.").replace(".", "_") + ".rst")
        assert f".. automodule:: {name}\n" in page.read_text(encoding="utf-8"), page
        assert page.stem in (api / "index.rst").read_text(encoding="utf-8")


def test_the_extra_named_is_the_one_that_installs_the_kit() -> None:
    import tomllib  # noqa: PLC0415

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extra = project["optional-dependencies"][mexc_core.testing.EXTRA]
    names = {requirement.split(">")[0].split("=")[0].strip() for requirement in extra}
    assert names == set(mexc_core.testing.REQUIRES.values())


def test_nothing_is_missing_here() -> None:
    assert mexc_core.testing.missing() == []


@pytest.mark.parametrize(
    ("blocked", "missing"),
    [
        (["hypothesis"], ["hypothesis"]),
        (["mexc_sim"], ["mexc-sim"]),
        (["hypothesis", "mexc_sim"], ["hypothesis", "mexc-sim"]),
    ],
)
def test_a_missing_distribution_is_named_with_the_extra(
    monkeypatch: pytest.MonkeyPatch, blocked: list[str], missing: list[str]
) -> None:
    for name in blocked:
        monkeypatch.setitem(sys.modules, name, None)
    assert mexc_core.testing.missing() == missing
    with pytest.raises(ModuleNotFoundError) as info:
        mexc_core.testing._check()
    assert str(info.value) == message(*missing)
    assert "\n" not in str(info.value)
    assert info.value.name == blocked[0]


def test_the_guide_shows_the_message() -> None:
    guide = (ROOT / "docs" / "testing.rst").read_text(encoding="utf-8")
    assert f"   ModuleNotFoundError: {message('hypothesis')}\n" in guide


IMPORT_WITHOUT = """
import sys
for name in {blocked!r}:
    sys.modules[name] = None  # as if it were not installed
import {module}
"""


@pytest.mark.slow
@pytest.mark.parametrize("module", ["mexc_core.testing", *KIT])
@pytest.mark.parametrize(
    ("blocked", "missing"), [("hypothesis", "hypothesis"), ("mexc_sim", "mexc-sim")]
)
def test_importing_the_kit_without_its_extra_says_what_to_install(
    module: str, blocked: str, missing: str
) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", IMPORT_WITHOUT.format(blocked=[blocked], module=module)],
        capture_output=True,
        text=True,
        timeout=60 * FACTOR,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[-1] == f"ModuleNotFoundError: {message(missing)}"
    assert "No module named" not in proc.stderr


# ---------------------------------------------------------------- fixtures and @given


@pytest.mark.slow
@settings(max_examples=5)
@given(symbol=st.sampled_from(["BTCUSDT", "ETHUSDT"]))
def test_mexc_sim_module_is_at_home_in_given(
    mexc_sim_module: RunningSimulator, symbol: str
) -> None:
    # were the fixture function-scoped, hypothesis would fail this test before
    # running it (HealthCheck.function_scoped_fixture)
    book = mexc_sim_module.call(mexc_sim_module.server.exchange.book, symbol)
    assert book.symbol == symbol


@pytest.mark.slow
def test_mexc_sim_module_is_one_simulator_for_the_module(
    mexc_sim_module: RunningSimulator, request: pytest.FixtureRequest
) -> None:
    assert request.getfixturevalue("mexc_sim_module") is mexc_sim_module
    assert mexc_sim_module.ws_url.startswith("ws://127.0.0.1:")


GIVEN_WITH = """
from hypothesis import given, strategies as st

@given(st.integers())
def test_it(mexc_sim, n):
    assert mexc_sim.ws_url
"""


@pytest.mark.slow
def test_the_function_scoped_fixture_fails_the_health_check_the_guide_names(
    tmp_path: Path,
) -> None:
    (tmp_path / "test_given.py").write_text(textwrap.dedent(GIVEN_WITH), encoding="utf-8")
    proc = run_pytest(str(tmp_path / "test_given.py"), cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout
    assert "function_scoped_fixture" in proc.stdout
    guide = (ROOT / "docs" / "testing.rst").read_text(encoding="utf-8")
    assert "``function_scoped_fixture`` health check" in guide
