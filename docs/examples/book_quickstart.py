"""Local order books with the anyio client, against the simulator.

``uv run python docs/examples/book_quickstart.py``

Starts the exchange simulator on a free loopback port with two depth faults (a
lost diff, then a swapped pair) and one failing snapshot, keeps the book of
BTCUSDT, and prints what a trader reads from it, the resyncs it went through,
and a check of its last view against the simulator's true book.
"""

from __future__ import annotations

from decimal import Decimal

import anyio

from mexc_core.aio.client import MexcClient
from mexc_core.book import Side
from mexc_core.events import BookResyncStarted, BookUpdated, BookView
from mexc_core.hookspecs import hookimpl
from mexc_sim import ExchangeConfig, Faults, SimConfig, default_markets, serve_in_thread
from mexc_sim.server import RunningSimulator


# [plugin]
class Top:
    """Keeps the newest view of the book and counts the resyncs."""

    def __init__(self) -> None:
        self.view: BookView | None = None
        self.resyncs: list[str] = []

    @hookimpl
    def mexc_book_updated(self, event: BookUpdated) -> None:
        self.view = event.view  # the best levels at event.version, exact

    @hookimpl
    def mexc_book_resync(self, event: BookResyncStarted) -> None:
        self.view = None  # not exact until the next mexc_book_synced
        self.resyncs.append(event.cause.value)


# [/plugin]


async def main(sim: RunningSimulator) -> None:
    top = Top()
    # [client]
    async with MexcClient(
        sim.ws_url, rest_url=sim.rest_url, plugins=[top], entry_points=False
    ) as client:
        book = await client.watch_book("BTCUSDT")
        with anyio.fail_after(30):  # until both faults are behind it
            while {"version_gap", "overlap"} - set(top.resyncs) or not book.synced:
                await anyio.sleep(0.05)
        levels = book.levels  # exact while book.synced; read it between awaits
        bid, ask = levels.best_bid(), levels.best_ask()
        assert bid is not None
        assert ask is not None
        print("synced:", book.synced, "at a version:", book.version is not None)
        print("best bid below best ask:", Decimal(bid.price) < Decimal(ask.price))
        print("spread is ask - bid:", levels.spread() == Decimal(ask.price) - Decimal(bid.price))
        cost = levels.vwap(Side.ASK, "0.5")  # the average price of buying 0.5 BTC now
        print("0.5 BTC costs at least the best ask:", cost is None or cost >= Decimal(ask.price))
        while top.view is None:
            await anyio.sleep(0.05)
        view = top.view
    # [/client]
    print("resync causes:", ", ".join(sorted(set(top.resyncs))))

    def truth() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        exchange = sim.server.sim.exchange
        spec = exchange.markets["BTCUSDT"].spec
        true = exchange.book("BTCUSDT", view.version, depth=20)
        return (
            [(spec.price_text(p), spec.quantity_text(q)) for p, q in true.bids],
            [(spec.price_text(p), spec.quantity_text(q)) for p, q in true.asks],
        )

    bids, asks = sim.call(truth)
    same = list(view.bids) == bids and list(view.asks) == asks
    print("last view equals the truth at its version:", same)


if __name__ == "__main__":
    config = SimConfig(
        exchange=ExchangeConfig(markets=default_markets(4)),
        faults=Faults(depth_skip_at={10}, depth_reorder_at={25}),
    )
    with serve_in_thread(config) as sim:
        sim.call(lambda: sim.server.sim.rest_faults.fail("/api/v3/depth", 503, 1))
        anyio.run(main, sim)
