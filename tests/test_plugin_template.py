"""``mexc plugin new NAME``: the project it writes, and that project's own checks.

The fast tests generate projects in memory-cheap temporary directories and read
them: names, files, the entry point, the imports, the plugin's hooks. The slow
ones do what a third party does with the project (docs/plugin_guide.rst): lint
and type-check it with its own configuration, install it editable without its
dependencies (``uv pip install --no-deps -e``) into an environment that has the
checkout's mexc-core and simulator (a fresh one layered on this project's, which
is left as it was), run its own test suite there, list it with ``mexc plugins``
and build its wheel with ``uv build``. Nothing is downloaded: ``uv`` runs
``--offline`` from its cache.
"""

from __future__ import annotations

import argparse
import ast
import errno
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest

from mexc_core import __version__, cli
from mexc_core.cli import plugin as template
from mexc_core.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from mexc_core.hookspecs import MexcHooks
from mexc_core.plugins import plugin_manager
from tests.test_plugin_console import ALLOWED
from tests.util import FACTOR

#: The longest name accepted, to check that no generated line grows too long.
LONG = "a" + "_bcdefgh1" * 4 + "z" * 3
assert len(LONG) == template.MAX_NAME

#: What the generated project's files are.
EXPECTED_FILES = {
    "pyproject.toml",
    "README.md",
    ".gitignore",
    "src/mexc_plugin_{name}/__init__.py",
    "src/mexc_plugin_{name}/py.typed",
    "tests/test_plugin.py",
}


def new(tmp_path: Path, name: str, *extra: str) -> tuple[int, Path]:
    """Run ``mexc plugin new NAME --dir tmp_path/NAME``; the status and the directory."""
    target = tmp_path / name
    return cli.main(["plugin", "new", name, "--dir", str(target), *extra]), target


def files_of(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


# ---------------------------------------------------------------- names


@pytest.mark.parametrize("name", ["alerts", "big_trades", "x2", "a_1_b", LONG])
def test_good_names_are_taken(name: str) -> None:
    assert template.plugin_name(name) == name


@pytest.mark.parametrize(
    ("name", "suggested"),
    [
        ("My-Alerts", "my_alerts"),
        ("2fast", "fast"),
        ("big__trades", "big_trades"),
        ("_private", "private"),
        ("trailing_", "trailing"),
        ("with space", "with_space"),
        ("mexc-plugin-x", "mexc_plugin_x"),
        ("", "my_plugin"),
        ("ünïcode", "n_code"),
        (LONG + "x", (LONG + "x")[: template.MAX_NAME]),
    ],
)
def test_bad_names_are_refused_with_a_suggestion(name: str, suggested: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="lowercase letters") as refused:
        template.plugin_name(name)
    assert f"(such as {suggested!r}), not {name!r}" in str(refused.value)
    assert template.plugin_name(suggested) == suggested


def test_a_bad_name_is_a_usage_error_of_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["plugin", "new", "My-Alerts", "--dir", str(tmp_path / "p")])
    assert exited.value.code == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("mexc plugin new: argument NAME: must be lowercase"), err
    assert "(such as 'my_alerts')" in err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "p").exists()


def test_the_names_of_a_project() -> None:
    names = template.Names.of("big_trades")
    assert names.distribution == "mexc-plugin-big-trades"
    assert names.package == "mexc_plugin_big_trades"
    assert names.mexc_core_version == __version__


# ---------------------------------------------------------------- the files


def test_every_template_file_is_written_and_every_key_is_known(tmp_path: Path) -> None:
    folder = resources.files("mexc_core.cli").joinpath("templates", "plugin")
    shipped = {entry.name.removesuffix(".tmpl") for entry in folder.iterdir()}
    assert shipped == {source for source, _ in template.FILES}
    status, root = new(tmp_path, "alerts")
    assert status == EXIT_OK
    assert files_of(root) == {f.format(name="alerts") for f in EXPECTED_FILES}
    for path in root.rglob("*"):
        if path.is_file():
            assert "{{" not in path.read_text(encoding="utf-8"), path
    with pytest.raises(KeyError, match="nope"):
        template.render("{{nope}}", template.Names.of("alerts"))


def test_the_project_declares_its_entry_point_and_dependencies(tmp_path: Path) -> None:
    _, root = new(tmp_path, "big_trades")
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    meta = project["project"]
    assert meta["name"] == "mexc-plugin-big-trades"
    assert meta["entry-points"]["mexc.plugins"] == {"big_trades": "mexc_plugin_big_trades:plugin"}
    assert meta["dependencies"] == [f"mexc-core>={__version__}"]
    groups = project["dependency-groups"]
    assert groups["test"] == [f"mexc-core[testing]>={__version__}", "pytest>=8.3"]
    assert {"include-group": "test"} in groups["dev"]
    assert project["build-system"]["build-backend"] == "hatchling.build"
    assert project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == [
        "src/mexc_plugin_big_trades"
    ]
    assert project["tool"]["mypy"]["strict"] is True
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert readme.startswith("# mexc-plugin-big-trades\n")
    assert "--plugin big_trades" in readme


def test_the_command_says_what_it_wrote_and_what_next(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["plugin", "new", "alerts"]) == EXIT_OK
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "wrote the project of the plugin 'alerts' into mexc-plugin-alerts:"
    assert {line.strip() for line in out[1:-1]} == {
        "mexc-plugin-alerts/" + f.format(name="alerts") for f in EXPECTED_FILES
    }
    assert out[-1].startswith(
        "next, in a checkout of mexc-core: `uv pip install --no-deps -e mexc-plugin-alerts` "
        "and `uv run pytest mexc-plugin-alerts/tests`;"
    )
    assert (tmp_path / "mexc-plugin-alerts" / "pyproject.toml").is_file()


def test_an_empty_directory_is_used(tmp_path: Path) -> None:
    (tmp_path / "alerts").mkdir()
    status, root = new(tmp_path, "alerts")
    assert status == EXIT_OK
    assert files_of(root) == {f.format(name="alerts") for f in EXPECTED_FILES}


def test_the_current_directory_is_used_when_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["plugin", "new", "alerts", "--dir", "."]) == EXIT_OK
    assert files_of(tmp_path) == {f.format(name="alerts") for f in EXPECTED_FILES}
    assert Path.cwd() == tmp_path  # written in place: the directory is still the one we are in
    assert "  pyproject.toml" in capsys.readouterr().out.splitlines()


# ---------------------------------------------------------------- refusals


def test_nothing_is_written_over(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mine = tmp_path / "alerts" / "notes.txt"
    mine.parent.mkdir()
    mine.write_text("mine")
    status, root = new(tmp_path, "alerts")
    assert status == EXIT_USAGE
    err = capsys.readouterr().err
    assert err == (
        f"mexc plugin new: {root} exists and is not empty; choose a new directory with "
        "--dir, or remove that one\n"
    )
    assert files_of(root) == {"notes.txt"}
    assert mine.read_text() == "mine"


def test_a_file_in_the_way_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "alerts").write_text("a file")
    status, _ = new(tmp_path, "alerts")
    assert status == EXIT_USAGE
    assert "exists and is not a directory; choose another with --dir" in capsys.readouterr().err


def test_the_name_of_an_installed_plugin_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(template, "installed_plugins", lambda: {"alerts": "theirs:plugin"})
    status, root = new(tmp_path, "alerts")
    assert status == EXIT_USAGE
    assert capsys.readouterr().err == (
        "mexc plugin new: a plugin named 'alerts' is installed already (theirs:plugin), and "
        "plugins are chosen by name; choose another name\n"
    )
    assert not root.exists()


def test_a_place_below_a_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("not a directory")
    target = tmp_path / "file" / "deeper" / "alerts"
    assert cli.main(["plugin", "new", "alerts", "--dir", str(target)]) == EXIT_USAGE
    assert capsys.readouterr().err == (
        f"mexc plugin new: {tmp_path / 'file'} is not a directory; "
        "choose another place with --dir\n"
    )


@pytest.mark.parametrize("existing", [False, True])
def test_a_failure_while_writing_leaves_nothing_behind(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    existing: bool,
) -> None:
    real = template._template_text
    written: list[str] = []

    def full_disk(name: str) -> str:
        if len(written) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written.append(name)
        return real(name)

    monkeypatch.setattr(template, "_template_text", full_disk)
    if existing:
        (tmp_path / "alerts").mkdir()
    status, root = new(tmp_path, "alerts")
    assert status == EXIT_FAILED
    assert capsys.readouterr().err == (
        f"mexc plugin new: cannot write {root}: No space left on device; "
        "choose a writable place with --dir\n"
    )
    # neither the project nor its staging directory; an empty directory given stays, empty
    assert [p.name for p in tmp_path.iterdir()] == (["alerts"] if existing else [])
    assert not existing or list(root.iterdir()) == []


def test_plugin_needs_a_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["plugin"])
    assert exited.value.code == EXIT_USAGE
    assert capsys.readouterr().err.startswith("mexc plugin: the following arguments are required")


# ---------------------------------------------------------------- the generated code


@pytest.fixture
def generated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A generated project whose package is importable (and forgotten afterwards)."""
    _, root = new(tmp_path, "alerts")
    monkeypatch.syspath_prepend(str(root / "src"))
    yield root
    sys.modules.pop("mexc_plugin_alerts", None)


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def test_the_plugin_imports_only_the_public_plugin_api(generated: Path) -> None:
    imported = imports_of(generated / "src" / "mexc_plugin_alerts" / "__init__.py")
    ours = {name for name in imported if name.split(".")[0] == "mexc_core"}
    assert ours <= ALLOWED, ours - ALLOWED
    others = {name.split(".")[0] for name in imported - ours}
    assert others <= sys.stdlib_module_names, others


def test_the_tests_import_only_what_the_project_declares(generated: Path) -> None:
    """mexc-core (anyio is its dependency), mexc-sim (its testing extra), pytest, itself."""
    declared = {"mexc_core", "anyio", "mexc_sim", "pytest", "mexc_plugin_alerts"}
    roots = {name.split(".")[0] for name in imports_of(generated / "tests" / "test_plugin.py")}
    assert roots - sys.stdlib_module_names <= declared, roots - sys.stdlib_module_names


def test_the_plugin_is_a_valid_mexc_plugin(generated: Path) -> None:
    module = importlib.import_module("mexc_plugin_alerts")
    assert module.NAME == "alerts"
    pm = plugin_manager(module.plugin, entry_points=False)  # checks every hook's name and args
    hooks = {caller.name for caller in pm.get_hookcallers(module.plugin) or ()}
    assert hooks == {
        "mexc_client_started",
        "mexc_subscriptions_wanted",
        "mexc_client_stopping",
        "mexc_aggre_deals_received",
        "mexc_stream_gap",
    }
    assert hooks <= set(dir(MexcHooks))
    options = module.Options.parse({"symbols": ["BTCUSDT", "BTCUSDT"], "min_quantity": 0.5})
    assert options.symbols == ("BTCUSDT",)
    assert str(options.min_quantity) == "0.5"


# ---------------------------------------------------------------- as a third party


def run(*argv: str | Path, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run a tool as a user would: no coverage of this test run leaks into it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COV_CORE_", "COVERAGE_"))}
    return subprocess.run(
        [str(arg) for arg in argv],
        capture_output=True,
        text=True,
        timeout=timeout * FACTOR,
        check=False,
        cwd=cwd,
        env=env,
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", ["alerts", LONG])
def test_the_generated_project_passes_its_linters(tmp_path: Path, name: str) -> None:
    """``ruff check``, ``ruff format --check`` and, once, ``mypy`` (strict), as configured
    in its own pyproject.toml; with the longest name no line grows too long."""
    _, root = new(tmp_path, name)
    for argv in (("ruff", "check", "--no-cache"), ("ruff", "format", "--check", "--no-cache")):
        done = run(sys.executable, "-m", *argv, ".", cwd=root)
        assert done.returncode == 0, done.stdout + done.stderr
    if name == LONG:
        done = run(sys.executable, "-m", "mypy", "--no-incremental", cwd=root)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "Success: no issues found in 2 source files" in done.stdout


@pytest.mark.slow
def test_a_third_party_tests_lists_and_builds_the_generated_plugin(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    assert uv is not None, "the project's environment manager, uv, is needed"
    _, root = new(tmp_path, "alerts")
    # the guide installs the project into the checkout's environment, editable and
    # without dependencies; here the same goes into a fresh environment layered on
    # this one (it sees mexc-core and mexc-sim of the checkout, pytest ...), so that
    # this environment is left as it was
    venv = tmp_path / "venv"
    made = run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    layered = run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=root)
    ours = sysconfig.get_path("purelib")
    Path(layered.stdout.strip(), "_mexc_core_checkout.pth").write_text(
        f"import site; site.addsitedir({ours!r})\n", encoding="utf-8"
    )
    installed = run(
        uv, "pip", "install", "--offline", "--no-deps", "--python", python, "-e", root, cwd=root
    )
    assert installed.returncode == 0, installed.stderr

    # its own test suite, from the checkout as the guide runs it (with the project's
    # own pytest configuration)
    checkout = Path(__file__).resolve().parents[1]
    tested = run(python, "-m", "pytest", "-p", "no:cacheprovider", root / "tests", cwd=checkout)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    summary = tested.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"=+ 9 passed in [\d.]+s( \(\S+\))? =+", summary), summary

    # mexc-core finds it through its entry point
    listed = run(python, "-m", "mexc_core.cli", "plugins", "--json", cwd=root)
    assert listed.returncode == EXIT_OK, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert {"name": "alerts", "target": "mexc_plugin_alerts:plugin", "loads": True} in rows
    # ... and this project's environment does not
    assert "alerts" not in {row["name"] for row in map(json.loads, cli_plugins())}

    # a wheel and an sdist to publish
    built = run(uv, "build", "--offline", "--out-dir", tmp_path / "dist", root, cwd=root)
    assert built.returncode == 0, built.stderr
    dist = sorted(p.name for p in (tmp_path / "dist").glob("mexc_plugin_alerts-*"))
    assert dist == ["mexc_plugin_alerts-0.1.0-py3-none-any.whl", "mexc_plugin_alerts-0.1.0.tar.gz"]
    with zipfile.ZipFile(tmp_path / "dist" / dist[0]) as wheel:
        names = set(wheel.namelist())
        info = "mexc_plugin_alerts-0.1.0.dist-info"
        entry_points = wheel.read(f"{info}/entry_points.txt").decode()
        metadata = wheel.read(f"{info}/METADATA").decode()
    assert {"mexc_plugin_alerts/__init__.py", "mexc_plugin_alerts/py.typed"} <= names
    assert entry_points.split() == ["[mexc.plugins]", "alerts", "=", "mexc_plugin_alerts:plugin"]
    assert f"Requires-Dist: mexc-core>={__version__}" in metadata.splitlines()
    assert not any(line.startswith("Requires-Dist: pytest") for line in metadata.splitlines())


def cli_plugins() -> list[str]:
    """``mexc plugins --json`` of this environment, in a fresh interpreter."""
    done = run(sys.executable, "-m", "mexc_core.cli", "plugins", "--json", cwd=Path.cwd())
    assert done.returncode == EXIT_OK, done.stderr
    return done.stdout.splitlines()
