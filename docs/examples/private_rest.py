"""Credentials, signed REST and a kept-alive listen key, against the simulator.

``uv run python docs/examples/private_rest.py`` starts the exchange simulator on a
free loopback port, then with mexc-core's anyio HTTP client (h11):

1. syncs the request clock with ``/api/v3/time`` and reads the account;
2. keeps a listen key alive with :class:`~mexc_core.aio.listenkey.ListenKeyKeeper`;
3. places and cancels a signed limit order;
4. closes the key (``DELETE``) and prints every listen-key event it saw.

Point ``HttpClient`` at ``https://api.mexc.com`` and use your own keys to do the
same against MEXC.
"""

from __future__ import annotations

import anyio

from mexc_core import rest
from mexc_core.aio.clock import wall_clock_ms
from mexc_core.aio.http import HttpClient
from mexc_core.aio.listenkey import ListenKeyKeeper
from mexc_core.events import Event
from mexc_sim import serve_in_thread


async def main(rest_url: str, api_key: str, api_secret: str) -> None:
    credentials = rest.Credentials(api_key, api_secret)
    print("credentials:", credentials)  # the secret is never shown
    client = rest.RestClient(credentials)
    events: list[Event] = []
    async with HttpClient(rest_url) as http:
        # [sync]
        sent = wall_clock_ms()
        server = await http.request(client.server_time())
        client.sync_time(server.server_time, sent, wall_clock_ms())
        account = await http.request(client.account(wall_clock_ms()))
        usdt = account.balance("USDT")
        print("USDT free:", usdt.free if usdt else "none")
        # [keeper]
        keeper = ListenKeyKeeper(http, client, on_event=events.append)
        async with anyio.create_task_group() as tg:
            tg.start_soon(keeper.run)
            with anyio.fail_after(10):
                while keeper.key is None:
                    await anyio.sleep(0.01)
            print("listen key:", rest.shorten(keeper.key))
            # [order]
            depth = await http.request(client.depth("BTCUSDT", limit=5))
            below = f"{float(depth.bids[-1][0]) * 0.9:.2f}"  # far from the market
            order = await http.request(
                client.place_order(
                    "BTCUSDT", "BUY", "LIMIT", wall_clock_ms(), quantity="0.001", price=below
                )
            )
            print("placed:", order.side, order.type, order.orig_qty, "@", order.price)
            cancelled = await http.request(
                client.cancel_order("BTCUSDT", wall_clock_ms(), order_id=order.order_id)
            )
            print("cancelled:", cancelled.status)
            keeper.close()
    print("events:", ", ".join(type(e).__name__ for e in events))


if __name__ == "__main__":
    with serve_in_thread() as sim:
        anyio.run(main, sim.rest_url, sim.api_key, sim.api_secret)
