"""The fault proxy in front of the simulator (``docs/simulator.rst``).

``uv run pytest docs/examples/kit_proxy.py``

The ``mexc_proxy`` fixture stands between your client and ``mexc_sim``: point the
client at ``mexc_proxy.ws_url``, then break the network under it while it runs.
"""

from __future__ import annotations

import anyio

from mexc_core.aio.client import MexcClient
from mexc_core.events import DisconnectCause, Event, GapDetected, LinkDisconnected, Push
from mexc_core.hookspecs import hookimpl
from mexc_sim.proxy import RunningProxy

TOPIC = "spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT"


class Watch:
    """Counts pushes, keeps the disconnects and gaps the client reports."""

    def __init__(self) -> None:
        self.pushes = 0
        self.downs: list[LinkDisconnected] = []
        self.gaps: list[GapDetected] = []

    @hookimpl
    def mexc_push_received(self, push: Push) -> None:
        self.pushes += 1

    @hookimpl
    def mexc_link_disconnected(self, event: LinkDisconnected) -> None:
        self.downs.append(event)

    @hookimpl
    def mexc_event_received(self, event: Event) -> None:
        if isinstance(event, GapDetected):
            self.gaps.append(event)


# [proxy]
def test_a_reset_under_the_client_is_a_gap_and_a_reconnect(mexc_proxy: RunningProxy) -> None:
    watch = Watch()

    async def main() -> None:
        client = MexcClient(mexc_proxy.ws_url, plugins=[watch], entry_points=False)
        async with client:
            await client.subscribe([TOPIC])
            mexc_proxy.set(segment=1, latency_down=20.0)  # every byte its own segment
            with anyio.fail_after(10):  # a few pushes through the slow line first
                while watch.pushes < 5:
                    await anyio.sleep(0.05)
            mexc_proxy.reset()  # an RST, as a NAT or a load balancer sends one
            with anyio.fail_after(10):
                while not (watch.gaps and client.pool.is_carried(TOPIC)):
                    await anyio.sleep(0.05)

    anyio.run(main)
    assert watch.downs[0].cause is DisconnectCause.LOST
    assert watch.gaps[0].topics == (TOPIC,)


# [/proxy]
