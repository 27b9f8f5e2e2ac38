"""Property test: any sequence of orders, cancels and waits keeps the exchange consistent.

After every step: the book is not crossed and has no empty level; it equals its
own rebuild from history (the truth); no balance is negative; what is frozen is
exactly what open orders reserve; and every balance equals the start plus what
``myTrades`` says was traded, minus fees. Virtual time, no I/O.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from mexc_sim.exchange import Exchange, ExchangeConfig, ExchangeError, default_markets
from mexc_sim.market import ASK, BID, BUY

MARKETS = default_markets(3, levels=10, event_rate=20.0)

limit = st.tuples(
    st.just("limit"),
    st.sampled_from(["BUY", "SELL"]),
    st.integers(-8, 8),
    st.integers(1, 40),
    st.sampled_from(["LIMIT", "LIMIT_MAKER", "IMMEDIATE_OR_CANCEL", "FILL_OR_KILL"]),
)
market = st.tuples(st.just("market"), st.sampled_from(["BUY", "SELL"]), st.integers(1, 40))
cancel = st.tuples(st.just("cancel"), st.integers(0, 20))
wait = st.tuples(st.just("wait"), st.floats(0.01, 20.0))
steps = st.lists(st.one_of(limit, market, cancel, wait), min_size=1, max_size=25)


def check(exchange: Exchange, symbol: str, start: dict[str, Decimal]) -> None:
    market = exchange.markets[symbol]
    bid, ask = market.best_bid, market.best_ask
    if bid and ask:
        assert bid[0] < ask[0], "crossed book"
    for side in (BID, ASK):
        assert all(q > 0 for _p, q in market.top(side))
    assert market.book_at(market.version) == market.snapshot()
    account = exchange.accounts[exchange.config.api_key]
    reserved: dict[str, Decimal] = defaultdict(Decimal)
    for order in account.orders.values():
        if order.is_open:
            spec = exchange.markets[order.symbol].spec
            asset = spec.quote_asset if order.side == BUY else spec.base_asset
            reserved[asset] += exchange._reserved[order.order_id]
    expected = dict(start)
    for t in account.trades:
        spec = exchange.markets[str(t["symbol"])].spec
        qty, quote, fee = (
            Decimal(str(t["qty"])),
            Decimal(str(t["quoteQty"])),
            Decimal(str(t["commission"])),
        )
        sign = 1 if t["isBuyer"] else -1
        expected[spec.base_asset] += sign * qty
        expected[spec.quote_asset] -= sign * quote
        expected[str(t["commissionAsset"])] -= fee
    for asset, (free, locked) in account.balances.items():
        assert free >= 0, asset
        assert locked == reserved[asset], asset
        assert free + locked == expected[asset], asset


@settings(max_examples=40, deadline=None)
@given(steps=steps, symbol=st.sampled_from([m.symbol for m in MARKETS]))
def test_any_order_flow_keeps_the_exchange_consistent(
    steps: list[tuple[object, ...]], symbol: str
) -> None:
    exchange = Exchange(ExchangeConfig(markets=MARKETS, seed="property"))
    account = exchange.accounts[exchange.config.api_key]
    start = {a: free for a, (free, _locked) in account.balances.items()}
    market = exchange.markets[symbol]
    spec = market.spec
    now = 0.0
    ids: list[str] = []
    for step in steps:
        kind = step[0]
        try:
            if kind == "limit":
                _k, side, offset, size, order_type = step
                assert isinstance(offset, int)
                assert isinstance(size, int)
                ref = market.best_bid if side == "BUY" else market.best_ask
                price = (ref[0] if ref else spec.initial_price) + offset
                order = exchange.place_order(
                    account,
                    now,
                    symbol=symbol,
                    side=str(side),
                    type=str(order_type),
                    quantity=spec.quantity_text(size * spec.mean_quantity // 10 + 1),
                    price=spec.price_text(max(price, 1)),
                )
                ids.append(order.order_id)
            elif kind == "market":
                _k, side, size = step
                assert isinstance(size, int)
                order = exchange.place_order(
                    account,
                    now,
                    symbol=symbol,
                    side=str(side),
                    type="MARKET",
                    quantity=spec.quantity_text(size * spec.mean_quantity // 10 + 1),
                )
                ids.append(order.order_id)
            elif kind == "cancel" and ids:
                index = step[1]
                assert isinstance(index, int)
                exchange.cancel_order(account, now, symbol=symbol, order_id=ids[index % len(ids)])
            elif kind == "wait":
                wait_for = step[1]
                assert isinstance(wait_for, float)
                now += wait_for
                exchange.advance(now)
        except ExchangeError as exc:
            assert exc.code in (-2011, 30004), exc  # cancelling a closed order, or too poor
        check(exchange, symbol, start)
