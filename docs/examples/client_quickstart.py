"""The anyio client with a plugin, against the simulator.

``uv run python docs/examples/client_quickstart.py``

Starts the exchange simulator on a free loopback port, then runs
:class:`~mexc_core.aio.client.MexcClient` on it with a small plugin: it subscribes
40 topics (two connections at the default cap of 25), reads pushes with
``async for``, lets the simulator reset one connection, and prints what the
plugin saw: the reconnect, the gap it reports, the resubscription.
"""

from __future__ import annotations

from collections import Counter

import anyio

from mexc_core.aio.client import MexcClient
from mexc_core.events import GapDetected, LinkDisconnected, Push, TopicsSubscribed
from mexc_core.hookspecs import hookimpl, messages
from mexc_sim import ExchangeConfig, Faults, SimConfig, default_markets, serve_in_thread


# [plugin]
class Tape:
    """Counts trades per symbol and remembers connection events."""

    def __init__(self) -> None:
        self.trades: Counter[str] = Counter()
        self.log: list[str] = []

    @hookimpl
    def mexc_aggre_deals_received(self, push: Push, body: messages.PublicAggreDealsV3Api) -> None:
        self.trades[push.symbol or "?"] += len(body.deals)

    @hookimpl
    def mexc_link_disconnected(self, event: LinkDisconnected) -> None:
        self.log.append(f"link {event.link} down: {event.cause.value}")

    @hookimpl
    def mexc_subscription_confirmed(self, event: TopicsSubscribed) -> None:
        self.log.append(f"link {event.link}: +{len(event.topics)} topics")

    @hookimpl
    def mexc_stream_gap(self, event: GapDetected) -> None:
        self.log.append(f"gap on {len(event.topics)} topics ({event.cause.value})")


# [/plugin]


async def main(ws_url: str, symbols: list[str]) -> None:
    tape = Tape()
    # [client]
    topics = [f"spot@public.aggre.deals.v3.api.pb@100ms@{s}" for s in symbols]
    topics += [f"spot@public.aggre.depth.v3.api.pb@100ms@{s}" for s in symbols]
    async with MexcClient(ws_url, plugins=[tape], entry_points=False) as client:
        await client.subscribe(topics)  # raises SubscriptionError if MEXC refuses any
        print("connections:", len(client.pool.links()), "for", len(client.topics), "topics")
        async with client.pushes(*topics[20:], policy="conflate") as depth:
            seen = set()
            async for push in depth:  # the latest push of each topic, never a backlog
                seen.add(push.channel)
                if len(seen) == 10:
                    break
        print("depth topics seen:", len(seen))
        with anyio.fail_after(30):
            while client.stats.gaps == 0:  # the simulator resets one connection at 2 s
                await anyio.sleep(0.05)
            while not all(client.pool.is_carried(topic) for topic in topics):
                await anyio.sleep(0.05)
        print("reconnects:", client.stats.reconnects, "gaps:", client.stats.gaps)
    # [/client]
    print("plugin saw:", "; ".join(tape.log))
    print("trades seen on", len(tape.trades), "symbols")


if __name__ == "__main__":
    markets = default_markets(20)
    config = SimConfig(exchange=ExchangeConfig(markets=markets))
    with serve_in_thread(config) as sim:
        sim.call(lambda: sim.server.sim.queue_faults(Faults(reset_after=2.0)))
        anyio.run(main, sim.ws_url, [m.symbol for m in markets])
