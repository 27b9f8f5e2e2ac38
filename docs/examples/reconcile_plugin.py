"""A plugin's view of its own orders survives an outage, against the simulator.

``uv run python docs/examples/reconcile_plugin.py`` starts the exchange simulator
on a free loopback port and runs the client with credentials and one plugin that
keeps a view of the account's orders from the private pushes. Then the listen key
expires and MEXC refuses new ones for a moment; meanwhile an order is cancelled
and another placed and filled. Once the private stream is back, the client
reconciles over REST and the plugin's hooks hear what it missed: its view ends
equal to the exchange's.
"""

from __future__ import annotations

import anyio

from mexc_core import rest
from mexc_core.aio.client import MexcClient
from mexc_core.aio.http import HttpClient
from mexc_core.client.backoff import Backoff
from mexc_core.client.reconcile import ReconcileConfig, order_state
from mexc_core.events import (
    BalanceReconciled,
    ListenKeyCreated,
    ListenKeyLost,
    OrderReconciled,
    Push,
    ReconcileCompleted,
    ReconcileTrigger,
    TradeRecovered,
)
from mexc_core.hookspecs import hookimpl
from mexc_core.listenkey import ListenKeyConfig
from mexc_core.messages import PrivateOrdersV3Api
from mexc_sim import RunningSimulator, serve_in_thread

PRIVATE = [
    "spot@private.orders.v3.api.pb",
    "spot@private.deals.v3.api.pb",
    "spot@private.account.v3.api.pb",
]


# [plugin]
class MyOrders:
    """The account's orders: order id -> status, from pushes and reconciliation."""

    def __init__(self) -> None:
        self.orders: dict[str, str] = {}
        self.key = ""
        self.lost = anyio.Event()
        self.reconciled: dict[ReconcileTrigger, anyio.Event] = {
            t: anyio.Event() for t in ReconcileTrigger
        }

    @hookimpl
    def mexc_private_orders_received(self, push: Push, body: PrivateOrdersV3Api) -> None:
        self.orders[body.id] = order_state(body.status).value

    @hookimpl
    def mexc_order_reconciled(self, event: OrderReconciled) -> None:
        was = event.previous_status.value if event.previous_status else "unseen"
        print(f"missed: order {event.order_id} {was} -> {event.status.value}")
        self.orders[event.order_id] = event.status.value

    @hookimpl
    def mexc_trade_recovered(self, event: TradeRecovered) -> None:
        print(f"missed: fill {event.trade_id} of {event.order_id}: {event.qty} @ {event.price}")

    @hookimpl
    def mexc_balance_reconciled(self, event: BalanceReconciled) -> None:
        print(f"missed: {event.asset} free {event.previous_free} -> {event.free}")

    @hookimpl
    def mexc_reconcile_completed(self, event: ReconcileCompleted) -> None:
        print(
            f"reconciled ({event.trigger.value}): {event.orders} orders, {event.trades} fills,"
            f" {event.balances} balances in {event.requests} requests"
        )
        self.reconciled[event.trigger].set()

    # [/plugin]
    @hookimpl
    def mexc_listen_key_created(self, event: ListenKeyCreated) -> None:
        self.key = event.key

    @hookimpl
    def mexc_listen_key_lost(self, event: ListenKeyLost) -> None:
        self.lost.set()


async def main(sim: RunningSimulator) -> None:
    credentials = rest.Credentials(sim.api_key, sim.api_secret)
    signer = rest.RestClient(credentials)
    mine = MyOrders()

    def wall_clock_ms() -> int:  # the simulator's clock (against MEXC: the default)
        return int(sim.call(lambda: sim.server.exchange.epoch_ms(sim.now())))

    # [client]
    client = MexcClient(
        sim.ws_url,
        credentials=credentials,
        rest_url=sim.rest_url,
        wall_ms=wall_clock_ms,
        reconcile=ReconcileConfig(symbols=("BTCUSDT",)),  # read even before a push names it
        listen_key=ListenKeyConfig(retry=Backoff(initial=0.1, cap=0.3)),
        plugins=[mine],
        entry_points=False,
    )
    # [/client]
    async with client, HttpClient(sim.rest_url) as http:
        with anyio.fail_after(20):
            await client.subscribe(PRIVATE)
            await mine.reconciled[ReconcileTrigger.BASELINE].wait()
            depth = await http.request(signer.depth("BTCUSDT", limit=1))
            far = f"{float(depth.bids[0][0]) * 0.8:.1f}"
            resting = await http.request(
                signer.place_order(
                    "BTCUSDT", "BUY", "LIMIT", wall_clock_ms(), quantity="0.001", price=far
                )
            )
            while resting.order_id not in mine.orders:
                await anyio.sleep(0.01)
            # the outage: MEXC drops the key and refuses new ones for a moment
            faults = sim.server.sim.rest_faults
            sim.call(faults.fail, "/api/v3/userDataStream", 503, 10_000)
            sim.call(sim.server.exchange.expire_listen_key, mine.key, sim.now())
            await mine.lost.wait()
            await http.request(
                signer.cancel_order("BTCUSDT", wall_clock_ms(), order_id=resting.order_id)
            )
            await http.request(
                signer.place_order("BTCUSDT", "SELL", "MARKET", wall_clock_ms(), quantity="0.001")
            )
            sim.call(faults.errors.clear)
            await mine.reconciled[ReconcileTrigger.LISTEN_KEY].wait()
        truth = {
            o.order_id: o.status
            for o in [
                await http.request(signer.query_order("BTCUSDT", oid, wall_clock_ms()))
                for oid in mine.orders
            ]
        }
    print("my view equals the exchange's:", mine.orders == truth)


if __name__ == "__main__":
    with serve_in_thread() as running:
        anyio.run(main, running)
