"""pytest fixtures that run the MEXC simulator (the ``pytest11`` entry point ``mexc_sim``).

Installed with mexc-sim (not with mexc-core), the plugin loads in every pytest
session of that environment; loading it imports nothing of the simulator, and its
fixtures start one only when a test asks for one:

``mexc_sim``
    A :class:`~mexc_sim.server.RunningSimulator` served in-process, from a
    background thread, on a free port of 127.0.0.1. Read ``ws_url``,
    ``rest_url``, ``api_key`` and ``api_secret`` from it; reach the exchange
    (the truth, faults) through ``mexc_sim.call(...)``.
``mexc_sim_config``
    The :class:`~mexc_sim.protocol.SimConfig` ``mexc_sim`` uses; override
    this fixture to change markets, rules or faults.
``mexc_sim_factory``
    A function ``factory(config=None, *, speed=None, ssl_context=None)`` that
    starts more simulators, each stopped after the test.
``mexc_sim_module``
    The same as ``mexc_sim``, started once for all the tests of a module (its
    configuration is the module-scoped ``mexc_sim_module_config``). This is the
    one to use in a hypothesis ``@given`` test: hypothesis refuses
    function-scoped fixtures there (its ``function_scoped_fixture`` health
    check), because they are not reset between the examples it generates; a
    module-scoped one is honestly shared, and the test must not depend on a
    fresh exchange (docs/testing.rst of mexc-core shows how).
``mexc_proxy``
    A :class:`~mexc_sim.proxy.RunningProxy`: a TCP fault proxy on loopback in
    front of ``mexc_sim`` (point the client at its ``ws_url`` / ``rest_url``;
    switch faults with ``set(...)``, ``reset()``, ``blackhole_open()``).
``mexc_sim_process``
    A simulator in a subprocess (``python -m mexc_sim --port 0 --json``):
    a :class:`SimProcess` with its URLs and credentials, for tests that must not
    share the process with the server.

The simulator's speed (simulated seconds per real second) is the ``mexc_sim_speed``
ini option (default 1), or ``@pytest.mark.mexc_sim(speed=...)`` per test.
"""

from __future__ import annotations

import contextlib
import json
import selectors
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import ssl

    from mexc_sim.protocol import SimConfig
    from mexc_sim.proxy import RunningProxy
    from mexc_sim.server import RunningSimulator

__all__ = (
    "SimProcess",
    "mexc_proxy",
    "mexc_sim",
    "mexc_sim_config",
    "mexc_sim_factory",
    "mexc_sim_module",
    "mexc_sim_module_config",
    "mexc_sim_process",
    "pytest_addoption",
    "pytest_configure",
    "start_process",
)

#: How long the subprocess may take to print its URLs, in seconds.
START_TIMEOUT = 60.0


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add the ``mexc_sim_speed`` ini option."""
    parser.addini(
        "mexc_sim_speed",
        "simulated seconds per real second of the mexc_sim fixtures (default 1)",
        default="1",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``mexc_sim`` marker."""
    config.addinivalue_line(
        "markers", "mexc_sim(speed=None): options of the mexc_sim fixtures for this test"
    )


def _speed(request: pytest.FixtureRequest, speed: float | None = None) -> float:
    if speed is not None:
        return speed
    marker = request.node.get_closest_marker("mexc_sim")
    if marker is not None and marker.kwargs.get("speed") is not None:
        return float(marker.kwargs["speed"])
    return float(request.config.getini("mexc_sim_speed"))


@pytest.fixture
def mexc_sim_config() -> SimConfig:
    """The configuration of ``mexc_sim`` (override it in your conftest)."""
    from mexc_sim.protocol import SimConfig  # noqa: PLC0415 - keep plugin loading light

    return SimConfig()


@pytest.fixture
def mexc_sim_factory(
    request: pytest.FixtureRequest,
) -> Iterator[Callable[..., RunningSimulator]]:
    """Start simulators in-process; each stops when the test ends."""
    from mexc_sim.server import serve_in_thread  # noqa: PLC0415 - keep plugin loading light

    with contextlib.ExitStack() as stack:

        def factory(
            config: SimConfig | None = None,
            *,
            speed: float | None = None,
            ssl_context: ssl.SSLContext | None = None,
        ) -> RunningSimulator:
            return stack.enter_context(
                serve_in_thread(config, speed=_speed(request, speed), ssl_context=ssl_context)
            )

        yield factory


@pytest.fixture
def mexc_sim(
    mexc_sim_factory: Callable[..., RunningSimulator], mexc_sim_config: SimConfig
) -> RunningSimulator:
    """A simulator served in-process on a free loopback port."""
    return mexc_sim_factory(mexc_sim_config)


@pytest.fixture(scope="module")
def mexc_sim_module_config() -> SimConfig:
    """The configuration of ``mexc_sim_module`` (override it in your conftest or module)."""
    from mexc_sim.protocol import SimConfig  # noqa: PLC0415 - keep plugin loading light

    return SimConfig()


@pytest.fixture(scope="module")
def mexc_sim_module(
    request: pytest.FixtureRequest, mexc_sim_module_config: SimConfig
) -> Iterator[RunningSimulator]:
    """A simulator shared by the tests of a module; for ``@given`` tests."""
    from mexc_sim.server import serve_in_thread  # noqa: PLC0415 - keep plugin loading light

    with serve_in_thread(mexc_sim_module_config, speed=_speed(request)) as sim:
        yield sim


@pytest.fixture
def mexc_proxy(mexc_sim: RunningSimulator) -> Iterator[RunningProxy]:
    """A TCP fault proxy in front of ``mexc_sim``, stopped after the test."""
    from mexc_sim.proxy import proxy_in_thread  # noqa: PLC0415 - keep plugin loading light

    with proxy_in_thread(mexc_sim.host, mexc_sim.port) as proxy:
        yield proxy


@dataclass
class SimProcess:
    """A simulator running in a subprocess (see ``mexc_sim_process``)."""

    process: subprocess.Popen[str]
    info: dict[str, Any]

    @property
    def ws_url(self) -> str:
        """The WebSocket URL."""
        return str(self.info["ws_url"])

    @property
    def rest_url(self) -> str:
        """The REST base URL."""
        return str(self.info["rest_url"])

    @property
    def port(self) -> int:
        """The port served."""
        return int(self.rest_url.rsplit(":", 1)[1])

    @property
    def api_key(self) -> str:
        """The account's API key."""
        return str(self.info["api_key"])

    @property
    def api_secret(self) -> str:
        """The account's API secret."""
        return str(self.info["api_secret"])

    def stop(self, timeout: float = 10.0) -> int:
        """Stop it as Ctrl-C would; the exit status (130 when the signal stopped it)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode


def start_process(*args: str, timeout: float = START_TIMEOUT) -> SimProcess:
    """Start ``python -m mexc_sim --port 0 --json *args`` and wait for its URLs.

    :raises RuntimeError: it exited or said nothing within ``timeout`` seconds.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "mexc_sim", "--port", "0", "--json", *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(process.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            process.kill()
            process.wait()
            process.stdout.close()
            raise RuntimeError(f"the simulator printed nothing within {timeout} s")
    line = process.stdout.readline()
    if not line:
        process.wait()
        process.stdout.close()
        raise RuntimeError(f"the simulator exited with status {process.returncode}")
    return SimProcess(process, json.loads(line))


@pytest.fixture
def mexc_sim_process(request: pytest.FixtureRequest) -> Iterator[SimProcess]:
    """A simulator in a subprocess, stopped with SIGINT after the test."""
    sim = start_process("--speed", str(_speed(request)))
    try:
        yield sim
    finally:
        sim.stop()
