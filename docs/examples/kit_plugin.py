"""Test a plugin in a real client against the ``mexc_sim`` fixture (``docs/plugins.rst``).

``uv run pytest docs/examples/kit_plugin.py``

``Trades`` stands for your plugin. The first test runs it in a client against a
simulated MEXC on a loopback port; the second makes the simulator reset the
connection and checks that the plugin hears of the disconnect and of the gap.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio

from mexc_core.aio.client import MexcClient
from mexc_core.events import GapDetected, LinkDisconnected
from mexc_core.hookspecs import hookimpl, messages
from mexc_sim import Faults, RunningSimulator

TOPIC = "spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT"


# [plugin]
class Trades:
    """Your plugin: counts trades, remembers disconnects and gaps."""

    def __init__(self) -> None:
        self.trades = 0
        self.disconnects: list[LinkDisconnected] = []
        self.gaps: list[GapDetected] = []

    @hookimpl
    def mexc_aggre_deals_received(self, body: messages.PublicAggreDealsV3Api) -> None:
        self.trades += len(body.deals)

    @hookimpl
    def mexc_link_disconnected(self, event: LinkDisconnected) -> None:
        self.disconnects.append(event)

    @hookimpl
    def mexc_stream_gap(self, event: GapDetected) -> None:
        self.gaps.append(event)


# [/plugin]


# [test]
def run_client(url: str, plugin: Trades, until: Callable[[], bool]) -> None:
    """Run a client with ``plugin`` on ``TOPIC`` until ``until()`` holds."""

    async def scenario() -> None:
        async with MexcClient(url, plugins=[plugin], entry_points=False) as client:
            await client.subscribe([TOPIC])
            with anyio.fail_after(30):
                while not until():
                    await anyio.sleep(0.05)

    anyio.run(scenario)


def test_my_plugin_sees_trades(mexc_sim: RunningSimulator) -> None:
    plugin = Trades()
    run_client(mexc_sim.ws_url, plugin, until=lambda: plugin.trades > 0)


def test_my_plugin_hears_of_a_reset(mexc_sim: RunningSimulator) -> None:
    plugin = Trades()
    # the next connection is reset when it is two seconds old
    mexc_sim.call(mexc_sim.server.sim.queue_faults, Faults(reset_after=2.0))
    run_client(mexc_sim.ws_url, plugin, until=lambda: bool(plugin.gaps))
    assert len(plugin.disconnects) >= 1
    assert plugin.gaps[0].topics == (TOPIC,)


# [/test]
