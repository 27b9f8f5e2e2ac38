"""The books of the ``plugins/book`` plugin, read from an application (``docs/book.rst``).

``tests/test_docs_examples.py`` runs ``best_bid`` against the simulator.
"""

from __future__ import annotations

# [books]
import anyio

from mexc_core.aio.client import MexcClient
from mexc_plugin_book import plugin as books


async def best_bid(url: str, rest_url: str) -> str:
    options = {"book": {"symbols": ["BTCUSDT", "ETHUSDT"]}}
    async with MexcClient(url, rest_url=rest_url, options=options):
        with anyio.fail_after(30):
            # the newest exact BookView, or None while the book (re)syncs
            while (view := books.view("BTCUSDT")) is None:
                await anyio.sleep(0.05)
        return view.bids[0].price


# [/books]
