"""The first example of the README and of ``docs/client.rst``: MEXC's trades of BTCUSDT.

``uv run python docs/examples/watch_trades.py`` watches MEXC itself until Ctrl-C;
the test suite runs ``main`` against the simulator (``tests/test_docs_examples.py``).
"""

# [client]
import anyio

from mexc_core.aio.client import MexcClient
from mexc_core.messages import PublicAggreDealsV3Api


async def main(url: str = "wss://wbs-api.mexc.com/ws") -> None:
    async with MexcClient(url) as client:
        await client.subscribe(["spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT"])
        async with client.pushes() as pushes:
            async for push in pushes:
                if isinstance(push.body, PublicAggreDealsV3Api):  # narrows the body's type
                    for deal in push.body.deals:
                        print(push.symbol, deal.price, deal.quantity)


if __name__ == "__main__":
    anyio.run(main)
# [/client]
