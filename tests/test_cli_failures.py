"""The ``mexc`` command as a newcomer meets it: every mistake and failure is one line.

Each test runs the real command in a subprocess and checks its output and exit
status: usage errors (2), runtime failures (1), interruptions (130), a closed
output (0, quietly), plugins chosen, configured or broken, and credentials that
are never printed. The simulator runs in-process on loopback.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from mexc_core.cli.common import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from mexc_sim.exchange import DEFAULT_API_KEY, DEFAULT_API_SECRET, ExchangeConfig
from mexc_sim.protocol import SimConfig
from mexc_sim.server import RunningSimulator
from tests.util import FACTOR

pytestmark = pytest.mark.slow

DEALS = "spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT"
DEPTH = "spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT"


def mexc(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``mexc ARGS...`` to its end."""
    return subprocess.run(
        [sys.executable, "-m", "mexc_core.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout * FACTOR,
        env={**os.environ, **(env or {})},
        check=False,
    )


def start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start ``mexc ARGS...``; the caller reads and stops it."""
    return subprocess.Popen(
        [sys.executable, "-m", "mexc_core.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def one_line(result: subprocess.CompletedProcess[str], status: int) -> str:
    """The failure's only line on stderr; nothing on stdout, no traceback."""
    assert result.returncode == status, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert result.stdout == ""
    return lines[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# ---------------------------------------------------------------- usage: status 2


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["watch", DEALS, "--count", "-3"], "argument --count: must be 0 or more, not -3"),
        (["watch", DEALS, "--endpoint", "ws://127.0.0.1:99999/ws"], "with a port of 1-65535"),
        (["watch", DEALS, "--endpoint", "http://127.0.0.1/ws"], "ws(s)://host[:port]/path"),
        (["watch", DEALS, "--attempts", "0"], "argument --attempts: must be at least 1"),
        (["watch", "spot@public.nope.v3.api.pb@X"], "unknown channel"),
        (["watch", DEALS, "--plugin", "x", "--no-plugins"], "not allowed with argument"),
        (["watch", DEALS, "--plugin-option", "console"], "must be NAME.KEY=VALUE"),
        (["book", "BTCUSDT", "--depth", "0"], "argument --depth: must be at least 1, not 0"),
        (["book", "btcusdt"], "upper case"),
        (["sim", "--port", "99999"], "argument --port: must be 0-65535"),
        (["sim", "--speed", "0"], "argument --speed: must be a number above 0, not 0"),
        (["sim", "--speed", "nan"], "argument --speed: must be a number above 0, not nan"),
        (["sim", "--faults", "nope"], "nope"),
        (["demo", "--duration", "-1"], "argument --duration: must be a number of 0 or more"),
        (["demo", "--symbols", "0"], "argument --symbols: must be at least 1, not 0"),
        (["demo", "--show", "0"], "argument --show: must be at least 1, not 0"),
        (["nope"], "invalid choice: 'nope'"),
    ],
)
def test_bad_arguments_are_one_line_and_status_2(argv: list[str], says: str) -> None:
    line = one_line(mexc(*argv), EXIT_USAGE)
    assert line.startswith(f"mexc {argv[0]}: " if argv[0] != "nope" else "mexc: ")
    assert says in line


def test_a_private_topic_without_credentials_says_how_to_give_them() -> None:
    result = mexc("watch", "spot@private.orders.v3.api.pb", env={"MEXC_API_KEY": ""})
    line = one_line(result, EXIT_USAGE)
    assert line == (
        "mexc watch: spot@private.orders.v3.api.pb is a private channel and needs API "
        "credentials: set MEXC_API_KEY and MEXC_API_SECRET (or pass --api-key and --api-secret)"
    )


def test_a_malformed_secret_is_refused_without_being_shown() -> None:
    secret = "s3cret with space"
    result = mexc(
        "watch",
        "spot@private.orders.v3.api.pb",
        env={"MEXC_API_KEY": "key", "MEXC_API_SECRET": secret},
    )
    line = one_line(result, EXIT_USAGE)
    assert "secret_key contains a space" in line
    assert secret not in line


# ---------------------------------------------------------------- runtime: status 1


def test_watch_gives_up_on_a_refused_port_after_its_attempts() -> None:
    port = free_port()  # nothing listens there any more
    result = mexc("watch", DEALS, "--endpoint", f"ws://127.0.0.1:{port}/ws", "--attempts", "3")
    assert result.returncode == EXIT_FAILED
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == f"mexc watch: connecting to ws://127.0.0.1:{port}/ws"
    assert lines[1].startswith(f"mexc watch: link 1 down (connect_failed: connect 127.0.0.1:{port}")
    assert "Connection refused); retrying in " in lines[1]
    assert lines[1].endswith("(attempt 1 of 3)")
    assert lines[2].endswith("(attempt 2 of 3)")
    assert lines[-1] == (
        f"mexc watch: cannot connect to ws://127.0.0.1:{port}/ws: connect_failed: connect "
        f"127.0.0.1:{port}: Connection refused (tried 3 times in a row); check the URL, "
        "the network and a proxy, or pass --retry-forever"
    )
    assert len(lines) == 4


def test_watch_names_a_host_that_does_not_resolve() -> None:
    result = mexc("watch", DEALS, "--endpoint", "ws://no-such-host.invalid/ws", "--attempts", "1")
    assert result.returncode == EXIT_FAILED
    assert "Traceback" not in result.stderr
    last = result.stderr.splitlines()[-1]
    assert last.startswith("mexc watch: cannot connect to ws://no-such-host.invalid/ws: ")
    assert "cannot resolve the host" in last
    assert last.endswith(
        "(tried once); check the URL, the network and a proxy, or pass --retry-forever"
    )


def test_book_gives_up_like_watch() -> None:
    port = free_port()
    url = f"ws://127.0.0.1:{port}/ws"
    result = mexc("book", "BTCUSDT", "--endpoint", url, "--attempts", "1", "--quiet")
    line = one_line(result, EXIT_FAILED)
    assert line.startswith(f"mexc book: cannot connect to {url}: ")


def test_watch_reports_a_rejected_topic(mexc_sim: RunningSimulator) -> None:
    bad = "spot@public.aggre.depth.v3.api.pb@100ms@NOPEUSDT"
    result = mexc("watch", bad, "--endpoint", mexc_sim.ws_url, "--quiet")
    assert result.returncode == EXIT_FAILED
    assert result.stderr.splitlines() == [
        f"mexc watch: {bad}: rejected (Blocked!)",
        "mexc watch: nothing could be subscribed; see the reasons above",
    ]


def test_sim_on_a_port_in_use_says_which_and_how_to_pick_another() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_line(mexc("sim", "--port", str(port)), EXIT_FAILED)
    assert line == (
        f"mexc sim: port {port} on 127.0.0.1 is in use; pick another with --port, "
        "or --port 0 for any free one"
    )


@pytest.mark.parametrize(
    ("host", "says"),
    [
        ("192.0.2.1", "192.0.2.1 is not an address of this machine; use 127.0.0.1"),
        ("no-such-host.invalid", "'no-such-host.invalid' does not resolve; check --host"),
    ],
)
def test_sim_on_an_address_it_cannot_take(host: str, says: str) -> None:
    line = one_line(mexc("sim", "--host", host, "--port", "0"), EXIT_FAILED)
    assert line.startswith(f"mexc sim: cannot listen on {host}:0: ")
    assert says in line


def test_debug_adds_the_traceback() -> None:
    port = free_port()
    url = f"ws://127.0.0.1:{port}/ws"
    result = mexc("watch", DEALS, "--endpoint", url, "--attempts", "1", "-q", "--debug")
    assert result.returncode == EXIT_FAILED
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.splitlines()[-1].startswith(f"mexc watch: cannot connect to {url}")


# ---------------------------------------------------------------- stopping


def test_ctrl_c_while_connecting_ends_with_130_and_no_traceback() -> None:
    port = free_port()
    process = start("watch", DEALS, "--endpoint", f"ws://127.0.0.1:{port}/ws", "--retry-forever")
    assert process.stderr is not None
    assert process.stderr.readline().startswith("mexc watch: connecting to ")
    assert "link 1 down" in process.stderr.readline()  # it is retrying now
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30 * FACTOR)
    assert process.returncode == EXIT_INTERRUPTED
    assert out == ""
    assert "Traceback" not in err
    assert "KeyboardInterrupt" not in err


def test_sigterm_ends_sim_with_143() -> None:
    process = start("sim", "--port", "0")
    assert process.stdout is not None
    assert process.stdout.readline().startswith("MEXC simulator")
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30 * FACTOR)
    assert process.returncode == 128 + signal.SIGTERM
    assert err == ""


def test_a_closed_output_ends_watch_quietly(mexc_sim: RunningSimulator) -> None:
    """``mexc watch ... | head -1``: the reader goes away; watch ends with 0, silently."""
    process = start("watch", DEPTH, "--endpoint", mexc_sim.ws_url, "--quiet")
    assert process.stdout is not None
    assert process.stdout.readline().split()[1] == DEPTH
    process.stdout.close()  # as head does after its line
    process.wait(timeout=30 * FACTOR)
    assert process.stderr is not None
    with process.stderr:
        err = process.stderr.read()
    assert process.returncode == EXIT_OK, err
    assert err == ""


# ---------------------------------------------------------------- progress and credentials


def test_watch_shows_progress_on_stderr_and_only_pushes_on_stdout(
    mexc_sim: RunningSimulator,
) -> None:
    result = mexc("watch", DEPTH, "--endpoint", mexc_sim.ws_url, "--count", "2")
    assert result.returncode == EXIT_OK
    assert result.stderr.splitlines() == [
        f"mexc watch: connecting to {mexc_sim.ws_url}",
        "mexc watch: connected (link 1, 1 topics)",
        "mexc watch: subscribed 1 topics on link 1",
    ]
    lines = result.stdout.splitlines()
    assert [line.split()[1] for line in lines] == [DEPTH, DEPTH]
    for line in lines:  # readable: an ISO time, versions and levels
        when, _, versions, *_ = line.split()
        assert when.endswith("Z")
        assert datetime.fromisoformat(when[:-1]).year >= 2024
        assert versions.startswith("v")
        assert ".." in versions


def test_watch_takes_credentials_from_the_environment_and_never_prints_them(
    mexc_sim_factory: Callable[..., RunningSimulator],
) -> None:
    # the exchange's clock is the wall clock, which the command signs with
    exchange = ExchangeConfig(start_ms=int(time.time() * 1000))
    sim = mexc_sim_factory(SimConfig(exchange=exchange), speed=1.0)
    env = {"MEXC_API_KEY": DEFAULT_API_KEY, "MEXC_API_SECRET": DEFAULT_API_SECRET}
    process = start(
        "watch",
        "spot@private.account.v3.api.pb",
        "--endpoint",
        sim.ws_url,
        "--rest",
        sim.rest_url,
        env=env,
    )
    assert process.stderr is not None
    seen = [process.stderr.readline() for _ in range(4)]
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30 * FACTOR)
    everything = "".join(seen) + out + err
    assert "mexc watch: listen key created\n" in seen
    assert "mexc watch: subscribed 1 topics on link 1\n" in seen
    assert DEFAULT_API_SECRET not in everything
    assert process.returncode == EXIT_INTERRUPTED


# ---------------------------------------------------------------- plugins


@pytest.fixture
def installed(tmp_path: Path) -> dict[str, str]:
    """Install two plugins for the subprocess: one that prints, one misspelt."""
    (tmp_path / "chatty_plugin.py").write_text(
        textwrap.dedent(
            """
            from mexc_core.hookspecs import hookimpl

            @hookimpl
            def mexc_push_received(push):
                print("chatty saw a push")
            """
        )
    )
    (tmp_path / "misspelt_plugin.py").write_text(
        textwrap.dedent(
            """
            from mexc_core.hookspecs import hookimpl

            @hookimpl
            def mexc_aggre_deals_recieved(push, body):
                pass
            """
        )
    )
    for name, module in (("chatty", "chatty_plugin"), ("misspelt", "misspelt_plugin")):
        info = tmp_path / f"{module}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[mexc.plugins]\n{name} = {module}\n")
    path = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    return {"PYTHONPATH": path}


def test_a_broken_plugin_is_named_and_skipped(
    installed: dict[str, str], mexc_sim: RunningSimulator
) -> None:
    result = mexc(
        "watch", DEPTH, "--endpoint", mexc_sim.ws_url, "--count", "1", "-q", env=installed
    )
    assert result.returncode == EXIT_OK, result.stderr
    line = result.stderr.splitlines()[0]
    assert line.startswith("mexc watch: plugin 'misspelt' skipped: PluginValidationError: ")
    assert "mexc_aggre_deals_recieved" in line
    assert line.endswith("(fix or uninstall it, or choose plugins with --plugin / --no-plugins)")
    assert "chatty saw a push" in result.stdout  # the other plugin runs


def test_json_output_stays_json_whatever_plugins_print(
    installed: dict[str, str], mexc_sim: RunningSimulator
) -> None:
    argv = ["watch", DEPTH, "--endpoint", mexc_sim.ws_url, "--count", "3", "--json", "-q"]
    result = mexc(*argv, "--plugin", "chatty", env=installed)
    assert result.returncode == EXIT_OK, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["channel"] for row in rows] == [DEPTH] * 3
    assert "chatty saw a push" in result.stderr  # sent aside, not lost
    assert "misspelt" not in result.stderr  # not asked for, not loaded


def test_no_plugins_loads_none(installed: dict[str, str], mexc_sim: RunningSimulator) -> None:
    argv = ["watch", DEPTH, "--endpoint", mexc_sim.ws_url, "--count", "2", "-q", "--no-plugins"]
    result = mexc(*argv, env=installed)
    assert result.returncode == EXIT_OK
    assert result.stderr == ""
    assert "chatty" not in result.stdout


def test_plugin_names_and_options_are_checked(installed: dict[str, str]) -> None:
    line = one_line(mexc("watch", DEALS, "--plugin", "nope", env=installed), EXIT_USAGE)
    assert line.startswith("mexc watch: no plugin named 'nope' is installed (installed: ")
    assert "chatty" in line
    assert line.endswith("`mexc plugins` lists them")
    result = mexc(
        "watch", DEALS, "--plugin", "chatty", "--plugin-option", "console.symbols=[]", env=installed
    )
    line = one_line(result, EXIT_USAGE)
    assert line == (
        "mexc watch: --plugin-option console.symbols: no plugin 'console' is loaded; "
        "`mexc plugins` lists the installed ones"
    )


def test_plugin_options_reach_the_plugin(mexc_sim: RunningSimulator) -> None:
    """The console plugin is inert until it gets options; given them, it prints."""
    argv = ["watch", DEPTH, "--endpoint", mexc_sim.ws_url, "--count", "2", "-q"]
    result = mexc(*argv, "--plugin", "console", "--plugin-option", 'console.symbols=["BTCUSDT"]')
    assert result.returncode == EXIT_OK, result.stderr
    assert "-- link 1 connected: 1 topics" in result.stdout


def test_plugins_lists_what_is_installed_and_what_does_not_load(
    installed: dict[str, str],
) -> None:
    result = mexc("plugins", "--json", env=installed)
    rows = {row["name"]: row for row in map(json.loads, result.stdout.splitlines())}
    assert rows["chatty"] == {"name": "chatty", "target": "chatty_plugin", "loads": True}
    assert rows["misspelt"]["loads"] is False
    assert rows["console"]["loads"] is True
    assert result.returncode == EXIT_FAILED  # something installed is broken
    text = mexc("plugins", env=installed).stdout
    assert any(
        line.startswith("misspelt") and "cannot be loaded" in line for line in text.splitlines()
    )


def test_demo_takes_plugin_arguments_and_keeps_its_console() -> None:
    result = mexc("demo", "--duration", "1", "--no-plugins", timeout=120)
    assert result.returncode == EXIT_OK, result.stderr
    assert "-- link 1 connected: 15 topics" in result.stdout  # the console is the demo
    assert result.stdout.splitlines()[-1].startswith("mexc demo: ")


def test_a_third_party_plugin_runs_as_the_cli_guide_says(
    tmp_path: Path, mexc_sim: RunningSimulator
) -> None:
    """``uv run --with-editable ./my-plugin mexc ...`` (docs/cli.rst), project untouched."""
    uv = shutil.which("uv")
    assert uv is not None, "the project's environment manager, uv, is needed"
    plugin = tmp_path / "my-plugin"
    (plugin / "my_plugin").mkdir(parents=True)
    (plugin / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [project]
            name = "my-plugin"
            version = "0.1.0"

            [project.entry-points."mexc.plugins"]
            mine = "my_plugin"

            [build-system]
            requires = ["hatchling>=1.27"]
            build-backend = "hatchling.build"
            """
        )
    )
    (plugin / "my_plugin" / "__init__.py").write_text(
        textwrap.dedent(
            """
            from mexc_core.hookspecs import hookimpl

            @hookimpl
            def mexc_push_received(push):
                print("mine:", push.channel)
            """
        )
    )
    root = Path(__file__).resolve().parents[1]

    def uv_mexc(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [uv, "run", "--frozen", "--with-editable", str(plugin), "mexc", *args],
            capture_output=True,
            text=True,
            cwd=root,
            timeout=300 * FACTOR,
            check=False,
        )

    listed = uv_mexc("plugins", "--json")
    assert listed.returncode == EXIT_OK, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert {"name": "mine", "target": "my_plugin", "loads": True} in rows
    argv = ["watch", DEPTH, "--endpoint", mexc_sim.ws_url, "--count", "1", "-q"]
    ran = uv_mexc(*argv, "--plugin", "mine")
    assert ran.returncode == EXIT_OK, ran.stderr
    assert f"mine: {DEPTH}" in ran.stdout.splitlines()
    # the project's own environment did not get the plugin
    assert "mine" not in mexc("plugins").stdout
