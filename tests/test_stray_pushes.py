"""Typed hooks never lie: a typed plugin against the simulator's drift faults.

The plugin (``tests/typed_plugin.py``) trusts the types its hooks declare. The
simulator sends unknown bodies, unknown fields, unknown channels, bodies of
another channel's type and pushes of topics the connection does not hold
(``profile("drift")``); the plugin must only ever see the type its hook
declares, its stray hook must see every frame that is not, and the client's
counters must equal what the simulator injected. In memory on virtual time
(the client core), then over loopback with the anyio client, and the plugin
itself under ``mypy --strict``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import anyio
import pytest

from mexc_core.aio.client import MexcClient
from mexc_core.client.core import CoreConfig
from mexc_core.client.pool import PoolConfig
from mexc_core.events import (
    BookSynced,
    Event,
    PluginFailed,
    Push,
    StrayPushReceived,
    StrayReason,
)
from mexc_core.plugins import Dispatcher, plugin_manager
from mexc_core.session import SessionConfig
from mexc_core.testing.harness import CoreLoop
from mexc_sim.exchange import ExchangeConfig, default_markets
from mexc_sim.faults import DRIFT_KINDS, profile
from mexc_sim.protocol import SimConfig
from mexc_sim.server import serve_in_thread
from tests.typed_plugin import EXPECTED, TypedPlugin
from tests.util import FACTOR, SteppedTime

MARKETS = default_markets(3)
SYMBOLS = [m.symbol for m in MARKETS]
TOPICS = [
    *(f"spot@public.aggre.deals.v3.api.pb@100ms@{s}" for s in SYMBOLS),
    *(f"spot@public.aggre.depth.v3.api.pb@100ms@{s}" for s in SYMBOLS),
    *(f"spot@public.kline.v3.api.pb@{s}@Min1" for s in SYMBOLS),
]

#: The stray reason each injected fault kind must give.
REASON_OF_KIND = {
    "unknown_body": StrayReason.UNKNOWN_BODY,
    "foreign_body": StrayReason.FOREIGN_BODY,
    "unknown_channel": StrayReason.UNKNOWN_CHANNEL,
    "unheld_topic": StrayReason.NOT_HELD,
}


def drift_config(seed: int) -> SimConfig:
    return SimConfig(exchange=ExchangeConfig(markets=MARKETS), faults=profile("drift", seed=seed))


def expected_strays(injected: Counter[str]) -> Counter[StrayReason]:
    return Counter({REASON_OF_KIND[k]: n for k, n in injected.items() if k in REASON_OF_KIND})


def check_plugin(plugin: TypedPlugin, strays: Counter[StrayReason], pushes: int) -> None:
    """The plugin saw only its hooks' types, every stray, and every push."""
    assert plugin.seen, "no push reached the plugin"
    for hook, prefix, kind in plugin.seen:
        assert kind == EXPECTED[prefix], (hook, prefix, kind)
    assert {hook for hook, _, _ in plugin.seen} == {"push", "deals", "depth", "kline"}
    assert plugin.strays == strays
    assert plugin.pushes == pushes
    assert plugin.trades > 0
    assert len(plugin.versions) == len(plugin.closes) == len(SYMBOLS)


@pytest.mark.parametrize("seed", [1, 2])
def test_a_typed_plugin_sees_only_its_types_through_every_drift_fault(seed: int) -> None:
    config = CoreConfig(
        pool=PoolConfig(host="127.0.0.1", session=SessionConfig(max_subscriptions=4))
    )
    loop = CoreLoop(config, drift_config(seed), seed=seed)
    plugin = TypedPlugin()
    dispatcher = Dispatcher(plugin_manager(plugin, entry_points=False))
    failures: list[PluginFailed] = []

    def dispatch(event: Event) -> None:
        failures.extend(dispatcher.dispatch(event))

    loop.on_event = dispatch
    loop.start()
    loop.subscribe_ticket(TOPICS)
    loop.core.watch_book(SYMBOLS[0], loop.now)  # strays on its depth topic never reach it
    loop.run_for(60.0)

    assert failures == []
    injected = loop.sim.injected
    assert set(injected) == set(DRIFT_KINDS), injected  # every drift fault happened
    stats = loop.core.stats
    assert stats.strays == expected_strays(injected)
    assert stats.strays.total() > 20
    check_plugin(plugin, stats.strays, stats.pushes)
    # the events name the topics: the held ones (unknown and foreign bodies), the
    # unknown channel and the unheld symbol
    assert set(TOPICS) & plugin.stray_topics
    assert any("STRAYUSDT" in t for t in plugin.stray_topics)
    assert "spot@public.future.v3.api.pb@SIM" in plugin.stray_topics
    # nothing is a push that should not be, and unknown fields stay pushes
    assert all(isinstance(e, Push) for e in loop.pushes())
    assert any(p.unknown_fields for p in loop.pushes())
    assert len(loop.of(StrayPushReceived)) == stats.strays.total()
    assert loop.core.book(SYMBOLS[0]).synced
    assert loop.of(BookSynced)
    assert stats.unwanted == 0


@pytest.mark.slow
def test_the_typed_plugin_is_mypy_strict_clean() -> None:
    api = pytest.importorskip("mypy.api")
    source = Path(__file__).with_name("typed_plugin.py")
    out, err, status = api.run(["--strict", "--warn-unreachable", "--no-incremental", str(source)])
    assert status == 0, out + err


@pytest.mark.slow
def test_the_anyio_client_keeps_typed_hooks_honest_over_loopback(anyio_backend: str) -> None:
    time = SteppedTime()
    plugin = TypedPlugin()
    with serve_in_thread(drift_config(3), clock=time.sim_clock()) as sim:

        def injected() -> Counter[str]:
            return sim.call(lambda: Counter(sim.server.sim.injected))

        async def scenario() -> None:
            client = MexcClient(
                sim.ws_url,
                config=PoolConfig(session=SessionConfig(max_subscriptions=5)),
                clock=time,
                plugins=(plugin,),
                entry_points=False,
                close_timeout=2.0 * FACTOR,
            )
            async with client:
                with anyio.fail_after(10 * FACTOR):
                    await client.subscribe(TOPICS)
                await time.advance(30.0, sim)
                # time stands still: the simulator sends nothing new; wait for
                # what it sent to be read and dispatched
                want = expected_strays(injected())
                with anyio.fail_after(10 * FACTOR):
                    while (
                        client.stats.strays != want
                        or plugin.strays != want
                        or plugin.pushes != client.stats.pushes
                    ):
                        await anyio.sleep(0.01)
                assert want.total() > 10
                check_plugin(plugin, client.stats.strays, client.stats.pushes)

        anyio.run(scenario, backend=anyio_backend)
    kinds = set(sim.server.sim.injected)
    assert set(REASON_OF_KIND) <= kinds <= set(DRIFT_KINDS)
