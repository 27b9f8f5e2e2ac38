"""Your code against a simulator on a socket, under ``@given`` (``docs/testing.rst``).

``uv run pytest docs/examples/kit_sim_given.py``

Hypothesis runs the body of a ``@given`` test many times within one call of the
test function, so a function-scoped fixture such as ``mexc_sim`` would be shared
by all those examples without being reset: hypothesis refuses it (the
``function_scoped_fixture`` health check). ``mexc_sim_module`` is started once per
test module and says so; the examples share one exchange whose markets move on,
so each example asks only what holds at any time.
"""

from __future__ import annotations

import json
import urllib.request
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from mexc_sim import RunningSimulator

SYMBOLS = ["BTCUSDT", "ETHUSDT", "MXUSDT"]


# [code]
def best_quote(rest_url: str, symbol: str) -> tuple[int, Decimal, Decimal]:
    """Your code: the version, best bid and best ask of MEXC's REST order book."""
    url = f"{rest_url}/api/v3/depth?symbol={symbol}&limit=5"
    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - a fixed http URL
        book = json.load(answer)
    return book["lastUpdateId"], Decimal(book["bids"][0][0]), Decimal(book["asks"][0][0])


# [/code]


def truth(sim: RunningSimulator, symbol: str, version: int) -> tuple[Decimal, Decimal]:
    """The exchange's own best bid and ask at ``version``, read in its thread."""

    def read() -> tuple[Decimal, Decimal]:
        exchange = sim.server.exchange
        spec = exchange.market(symbol).spec
        book = exchange.book(symbol, version, depth=1)
        return Decimal(spec.price_text(book.bids[0][0])), Decimal(spec.price_text(book.asks[0][0]))

    return sim.call(read)


# [given]
@settings(max_examples=20, deadline=None)
@given(symbol=st.sampled_from(SYMBOLS))
def test_the_quote_is_the_exchange_book_at_its_version(
    mexc_sim_module: RunningSimulator, symbol: str
) -> None:
    version, bid, ask = best_quote(mexc_sim_module.rest_url, symbol)
    assert bid < ask
    assert (bid, ask) == truth(mexc_sim_module, symbol, version)


# [/given]
