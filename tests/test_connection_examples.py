"""The embedding guide's examples, run against a local server on 127.0.0.1.

The only test of the core that uses real sockets and real time. Every timeout
is scaled by one factor, ``MEXC_TEST_TIME_FACTOR`` (default 1), for slow machines.
Nothing here reaches the network beyond loopback.
"""

from __future__ import annotations

import importlib.util
import ssl
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
import trustme

from mexc_sim.server import RunningSimulator
from tests.loopback_server import LoopbackServer
from tests.timing import FACTOR

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"
TOPICS = (
    "spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT",
    "spot@public.aggre.deals.v3.api.pb@100ms@ETHUSDT",
    "spot@public.aggre.deals.v3.api.pb@100ms@MXUSDT",
)


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_blocking_example(capsys: pytest.CaptureFixture[str]) -> None:
    example = load("embed_blocking")
    with LoopbackServer(interval=0.02) as server:
        pushes = example.run(
            "127.0.0.1", server.port, TOPICS[:1], tls=False, count=5, give_up_after=20 * FACTOR
        )
    assert len(pushes) == 5
    assert {p.channel for p in pushes} == {TOPICS[0]}
    out = capsys.readouterr().out
    assert "Subscribed" in out
    assert "ConnectionClosed(code=1000" in out
    assert server.servers[0].closed is not None  # our close frame arrived


def test_blocking_example_over_tls_against_the_simulator(
    mexc_sim_factory: Callable[..., RunningSimulator],
) -> None:
    """The same loop over ``wss://``: the simulator with a certificate from a test CA."""
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    sim = mexc_sim_factory(ssl_context=server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    example = load("embed_blocking")
    topic = "spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT"
    pushes = example.run(
        "127.0.0.1", sim.port, [topic], tls=client_context, count=3, give_up_after=20 * FACTOR
    )
    assert len(pushes) == 3
    assert {p.channel for p in pushes} == {topic}


def test_selectors_example_shards_over_connections() -> None:
    example = load("embed_selectors")
    with LoopbackServer(interval=0.02) as server:
        pushes = example.run(
            "127.0.0.1",
            server.port,
            TOPICS,
            count=12,
            max_per_connection=2,
            give_up_after=20 * FACTOR,
        )
    assert len(pushes) >= 12
    assert {p.channel for p in pushes} == set(TOPICS)
    assert len(server.servers) == 2  # three topics, two per connection
