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

from mexc_core.events import (
    DisconnectCause,
    Event,
    GapDetected,
    LinkDisconnected,
    ListenKeyClosed,
    ListenKeyCreated,
    ListenKeyInvalidated,
    Push,
    SubscribeCompleted,
)
from mexc_core.rest import Credentials
from mexc_sim.faults import Faults
from mexc_sim.server import RunningSimulator
from tests.loopback_server import LoopbackServer
from tests.util import FACTOR

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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_the_client_core_example_rides_a_reset_and_a_listen_key_loss(
    mexc_sim_factory: Callable[..., RunningSimulator],
) -> None:
    """The whole client core in a selectors loop, no anyio: the public link is
    reset, the listen key is dropped by the exchange, and both topics come back
    with their gaps signalled."""
    example = load("embed_core")
    sim = mexc_sim_factory()
    public = "spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT"
    orders = "spot@private.orders.v3.api.pb"
    # faults go to TCP connections in order: the listen key's REST call comes
    # first, then the public link (the private one waits for the key)
    sim.call(lambda: sim.server.sim.queue_faults(Faults(), Faults(reset_after=1.0)))
    seen: list[Event] = []
    keys: list[str] = []
    dropped: list[str] = []

    def wall_ms() -> int:
        return int(sim.call(lambda: sim.server.exchange.epoch_ms(sim.server.now())))

    def on_event(event: Event, now: float) -> bool:
        del now
        seen.append(event)
        if isinstance(event, ListenKeyCreated):
            keys.append(event.key)
        gaps = {t for e in seen if isinstance(e, GapDetected) for t in e.topics}
        if gaps == {public} and isinstance(event, Push) and len(keys) == 1 and not dropped:
            # the public gap is closed and pushes flow again: the exchange drops the key
            dropped.append(keys[0])
            sim.call(lambda: sim.server.exchange.expire_listen_key(keys[0], sim.server.now()))
        return gaps != {public, orders}

    core = example.run(
        sim.ws_url,
        sim.rest_url,
        [public, orders],
        on_event=on_event,
        credentials=Credentials(sim.api_key, sim.api_secret),
        give_up_after=30 * FACTOR,
        wall_ms=wall_ms,
    )
    assert core.finished  # closed cleanly, key deleted
    downs = [e.cause for e in seen if isinstance(e, LinkDisconnected)]
    assert DisconnectCause.LOST in downs
    assert any(isinstance(e, ListenKeyInvalidated) for e in seen)
    assert len(keys) == 2
    assert keys[0] != keys[1]
    gaps = [e for e in seen if isinstance(e, GapDetected)]
    assert [g.topics for g in gaps] == [(public,), (orders,)]
    (done,) = [e for e in seen if isinstance(e, SubscribeCompleted)]
    assert set(done.confirmed) == {public, orders}
    closed = [e for e in seen if isinstance(e, ListenKeyClosed)]
    assert [c.deleted for c in closed] == [True]
    # the links close first, then the key is deleted: no "Invalid listen key" at the end
    retired = [e for e in seen if isinstance(e, LinkDisconnected)][-2:]
    assert [e.cause for e in retired] == [DisconnectCause.RETIRED] * 2
    assert all("Invalid" not in e.reason for e in retired)
    assert seen.index(closed[0]) > max(seen.index(e) for e in retired)
    assert dropped == keys[:1]


def test_the_guide_shows_every_embedding_example() -> None:
    guide = (EXAMPLES.parent / "embedding.rst").read_text(encoding="utf-8")
    for name in ("embed_blocking.py", "embed_selectors.py", "embed_core.py"):
        assert f"examples/{name}" in guide
        assert (EXAMPLES / name).is_file()
