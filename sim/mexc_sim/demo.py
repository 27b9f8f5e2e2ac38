"""The trading loop of ``mexc demo``: signed orders placed and cancelled over REST.

Against the simulator, with its account's keys, through mexc-core's own REST
client (:mod:`mexc_core.rest`, :class:`~mexc_core.aio.http.HttpClient`): every
``interval`` seconds one order on the next symbol in turn, alternately a limit
order resting a few ticks away from the best price and one priced at the other
side's best (so it fills at once); the oldest resting orders are cancelled so
that a few stay open. The account's own orders and balances then reach the
client on its private streams, as they would from MEXC.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import anyio

from mexc_core import rest
from mexc_core.aio.clock import wall_clock_ms
from mexc_core.aio.http import HttpClient
from mexc_core.errors import MexcError
from mexc_sim.market import MarketSpec

__all__ = ("TradingStats", "trade")

#: Resting orders kept open at most; older ones are cancelled.
OPEN_ORDERS = 3


@dataclass
class TradingStats:
    """What the loop did."""

    placed: int = 0
    cancelled: int = 0
    refused: int = 0
    #: why the last refused request was refused
    last_refusal: str = ""


def _ticks(price: str, scale: int) -> int:
    whole, _, frac = price.partition(".")
    return int(whole + (frac + "0" * scale)[:scale])


async def _turn(
    http: HttpClient,
    client: rest.RestClient,
    spec: MarketSpec,
    turn: int,
    resting: deque[tuple[str, str]],
    stats: TradingStats,
    wall_ms: Callable[[], int],
) -> None:
    """One order on ``spec``'s symbol, then cancel the oldest resting ones."""
    depth = await http.request(client.depth(spec.symbol, limit=5))
    if depth.bids and depth.asks:
        buy = turn % 4 < 2  # two buys, then two sells
        fill = turn % 2 == 1
        if fill:  # at the other side's best: trades at once
            price = depth.asks[0][0] if buy else depth.bids[0][0]
        else:  # a few ticks behind the best: rests in the book
            best = _ticks(depth.bids[0][0] if buy else depth.asks[0][0], spec.price_scale)
            price = spec.price_text(best - 3 if buy else best + 3)
        order = await http.request(
            client.place_order(
                spec.symbol,
                "BUY" if buy else "SELL",
                "LIMIT",
                wall_ms(),
                quantity=spec.quantity_text(max(1, spec.mean_quantity // 5)),
                price=price,
            )
        )
        stats.placed += 1
        if not fill:
            resting.append((spec.symbol, order.order_id))
    while len(resting) > OPEN_ORDERS:
        symbol, order_id = resting.popleft()
        await http.request(client.cancel_order(symbol, wall_ms(), order_id=order_id))
        stats.cancelled += 1


async def trade(
    rest_url: str,
    api_key: str,
    api_secret: str,
    markets: Sequence[MarketSpec],
    stats: TradingStats,
    *,
    interval: float = 1.0,
    wall_ms: Callable[[], int] = wall_clock_ms,
) -> None:
    """Place and cancel orders on ``markets`` until cancelled; counts in ``stats``.

    :param interval: seconds (of the event loop) between two orders.
    :param wall_ms: the clock requests are signed with, ms since the epoch (the
        simulator's exchange time when it runs faster than the wall clock).
    """
    client = rest.RestClient(rest.Credentials(api_key, api_secret))
    resting: deque[tuple[str, str]] = deque()
    async with HttpClient(rest_url) as http:
        sent = wall_ms()
        server = await http.request(client.server_time())
        client.sync_time(server.server_time, sent, wall_ms())
        for turn in itertools.count():
            try:
                await _turn(
                    http, client, markets[turn % len(markets)], turn, resting, stats, wall_ms
                )
            except MexcError as exc:
                # refused (filled before the cancel, the balance ran out, a REST
                # fault of the demo's fault profile): the demo goes on
                stats.refused += 1
                stats.last_refusal = str(exc)
            await anyio.sleep(interval)
