"""Public push feeds: what the simulator broadcasts on each subscribed topic.

A :class:`Feed` exists while at least one connection is subscribed to its topic.
It fires on a fixed cadence (the channel's push interval, aligned to multiples of
it on the exchange clock) and turns what happened in its market since the last
firing into one encoded push frame, or nothing. Every subscriber of a topic gets
the same bytes, as from a broadcasting exchange.

Cadences (mexc-core's ``docs/protocol.rst``, "Channels" and "Limits and timeouts"):
``aggre.*`` channels at their ``10ms``/``100ms`` interval, only when something
changed; klines every second; mini tickers every 3 s; limit depth and the
book-ticker batch every 100 ms when the book changed; the increase-depth batch
every 10 ms.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final, Protocol

from mexc_core import wire
from mexc_core.channels import SEP, ChannelSpec, parse
from mexc_core.messages import (
    Body,
    PublicAggreBookTickerV3Api,
    PublicAggreDealsV3Api,
    PublicAggreDealsV3ApiItem,
    PublicAggreDepthsV3Api,
    PublicAggreDepthV3ApiItem,
    PublicBookTickerBatchV3Api,
    PublicBookTickerV3Api,
    PublicIncreaseDepthsBatchV3Api,
    PublicIncreaseDepthsV3Api,
    PublicIncreaseDepthV3ApiItem,
    PublicLimitDepthsV3Api,
    PublicLimitDepthV3ApiItem,
    PublicMiniTickersV3Api,
    PublicMiniTickerV3Api,
    PublicSpotKlineV3Api,
)
from mexc_sim.market import ASK, BID, BookUpdate, Market

__all__ = ("FEED_KINDS", "Feed", "Subscriber", "cadence_of", "make_feed")

_INTERVAL_MS: Final = {"100ms": 100, "10ms": 10}

#: Channels the simulator serves, by registry name.
FEED_KINDS: Final = frozenset(
    {
        "aggre_deals",
        "aggre_depth",
        "limit_depth",
        "aggre_book_ticker",
        "book_ticker_batch",
        "kline",
        "mini_ticker",
        "mini_tickers",
        "increase_depth_batch",
    }
)


class Subscriber(Protocol):
    """What the exchange delivers to: a WebSocket session (:mod:`mexc_sim.session`)."""

    @property
    def sid(self) -> int:
        """A unique id of the session."""

    def deliver(self, topic: str, frame: bytes, now: float) -> None:
        """Send one push frame of ``topic``."""

    def listen_key_invalidated(self, now: float) -> None:
        """The session's listen key expired or was deleted: say so and close."""


def cadence_of(spec: ChannelSpec, params: dict[str, object]) -> int:
    """The push period of a public topic, in milliseconds."""
    interval = params.get("interval")
    if spec.name in ("aggre_deals", "aggre_depth", "aggre_book_ticker"):
        assert isinstance(interval, str)
        return _INTERVAL_MS[interval]
    if spec.name == "kline":
        return 1000
    if spec.name in ("mini_ticker", "mini_tickers"):
        return 3000
    if spec.name == "increase_depth_batch":
        return 10
    return 100


def _top(market: Market) -> tuple[object, ...]:
    return (market.best_bid, market.best_ask)


class Feed:
    """One subscribed topic's push stream (see the module docstring).

    :ivar topic: the topic string. :ivar period: the cadence in ms.
    :ivar next_tick: epoch ms of the next firing.
    :ivar subscribers: connection id -> subscriber, in subscription order.
    """

    def __init__(
        self,
        topic: str,
        spec: ChannelSpec,
        params: dict[str, object],
        markets: Sequence[Market],
        start: int,
    ) -> None:
        self.topic = topic
        self.spec = spec
        self.params = params
        self.markets = markets
        self.market = markets[0]
        self.period = cadence_of(spec, params)
        self.next_tick = (start // self.period + 1) * self.period
        self.subscribers: dict[int, Subscriber] = {}
        # What the last firing covered.
        self.version = self.market.version
        self.trade_seq = self.market.trade_seq
        self.top = _top(self.market)
        self.last_tick = start
        # The body's eventType is the topic without its symbol; limit depth and
        # klines send just the channel prefix (MEXC's samples; ``docs/protocol.rst``,
        # "Channels").
        self.event_type = topic.rsplit(SEP, 1)[0] if "symbol" in params else topic
        if spec.name in ("limit_depth", "kline"):
            self.event_type = spec.prefix
        self._fire: Callable[[int], bytes | None] = getattr(self, f"_fire_{spec.name}")

    def fire(self, tick: int) -> bytes | None:
        """The frame for the window ending at epoch ms ``tick`` (markets advanced to it)."""
        self.next_tick = tick + self.period
        try:
            return self._fire(tick)
        finally:
            self.last_tick = tick

    # ------------------------------------------------------------ helpers

    def _encode(self, body: Body, tick: int, *, symbol: bool = True) -> bytes:
        return wire.encode_push(
            self.topic,
            body,
            symbol=self.market.symbol if symbol else None,
            send_time=tick,
        )

    def _updates(self) -> list[BookUpdate]:
        updates = list(self.market.updates_since(self.version))
        if updates:
            self.version = updates[-1].version
        return updates

    # ------------------------------------------------------------ channels

    def _fire_aggre_deals(self, tick: int) -> bytes | None:
        market = self.market
        trades = market.trades_since(self.trade_seq)
        if not trades:
            return None
        self.trade_seq = trades[-1].seq
        spec = market.spec
        body = PublicAggreDealsV3Api(
            deals=tuple(
                PublicAggreDealsV3ApiItem(
                    price=spec.price_text(t.price),
                    quantity=spec.quantity_text(t.quantity),
                    trade_type=t.taker_side,
                    time=t.time,
                    trade_id=t.trade_id,
                )
                for t in trades
            ),
            event_type=self.event_type,
        )
        return self._encode(body, tick)

    def _merged(
        self, updates: list[BookUpdate]
    ) -> tuple[tuple[PublicAggreDepthV3ApiItem, ...], tuple[PublicAggreDepthV3ApiItem, ...]]:
        final: dict[tuple[int, int], int] = {}
        for update in updates:
            for side, price, _old, new in update.changes:
                final[(side, price)] = new
        spec = self.market.spec
        asks = sorted((p, q) for (s, p), q in final.items() if s == ASK)
        bids = sorted(((p, q) for (s, p), q in final.items() if s == BID), reverse=True)

        def items(levels: list[tuple[int, int]]) -> tuple[PublicAggreDepthV3ApiItem, ...]:
            return tuple(
                PublicAggreDepthV3ApiItem(price=spec.price_text(p), quantity=spec.quantity_text(q))
                for p, q in levels
            )

        return items(asks), items(bids)

    def _fire_aggre_depth(self, tick: int) -> bytes | None:
        updates = self._updates()
        if not updates:
            return None
        asks, bids = self._merged(updates)
        body = PublicAggreDepthsV3Api(
            asks=asks,
            bids=bids,
            event_type=self.event_type,
            from_version=str(updates[0].version),
            to_version=str(updates[-1].version),
            last_order_create_time=updates[-1].time,
        )
        return self._encode(body, tick)

    def _fire_limit_depth(self, tick: int) -> bytes | None:
        market = self.market
        if market.version == self.version:
            return None
        self.version = market.version
        level = self.params["level"]
        assert isinstance(level, int)
        spec = market.spec

        def items(side: int) -> tuple[PublicLimitDepthV3ApiItem, ...]:
            return tuple(
                PublicLimitDepthV3ApiItem(price=spec.price_text(p), quantity=spec.quantity_text(q))
                for p, q in market.top(side, level)
            )

        body = PublicLimitDepthsV3Api(
            asks=items(ASK),
            bids=items(BID),
            event_type=self.event_type,
            version=str(market.version),
            last_order_create_time=market.last_update_time,
        )
        return self._encode(body, tick)

    def _ticker(self, top: tuple[object, ...]) -> tuple[str, str, str, str]:
        spec = self.market.spec
        bid, ask = top
        out: list[str] = []
        for level in (bid, ask):
            if level is None:
                out += ["", ""]
            else:
                assert isinstance(level, tuple)
                out += [spec.price_text(level[0]), spec.quantity_text(level[1])]
        return out[0], out[1], out[2], out[3]

    def _fire_aggre_book_ticker(self, tick: int) -> bytes | None:
        market = self.market
        top = _top(market)
        if top == self.top:
            return None
        self.top = top
        bid_p, bid_q, ask_p, ask_q = self._ticker(top)
        body = PublicAggreBookTickerV3Api(
            bid_price=bid_p,
            bid_quantity=bid_q,
            ask_price=ask_p,
            ask_quantity=ask_q,
            version=str(market.version),
            last_order_create_time=market.last_update_time,
        )
        return self._encode(body, tick)

    def _fire_book_ticker_batch(self, tick: int) -> bytes | None:
        market = self.market
        if market.version == self.version:
            return None
        self.version = market.version
        top = _top(market)
        if top == self.top:
            return None
        self.top = top
        bid_p, bid_q, ask_p, ask_q = self._ticker(top)
        body = PublicBookTickerBatchV3Api(
            items=(
                PublicBookTickerV3Api(
                    bid_price=bid_p, bid_quantity=bid_q, ask_price=ask_p, ask_quantity=ask_q
                ),
            ),
            version=str(market.version),
            last_order_create_time=market.last_update_time,
        )
        return self._encode(body, tick)

    def _fire_increase_depth_batch(self, tick: int) -> bytes | None:
        updates = self._updates()
        if not updates:
            return None
        items = []
        for update in updates:
            asks, bids = self._merged([update])
            items.append(
                PublicIncreaseDepthsV3Api(
                    asks=tuple(PublicIncreaseDepthV3ApiItem(a.price, a.quantity) for a in asks),
                    bids=tuple(PublicIncreaseDepthV3ApiItem(b.price, b.quantity) for b in bids),
                    event_type=self.spec.prefix,
                    version=str(update.version),
                )
            )
        body = PublicIncreaseDepthsBatchV3Api(items=tuple(items), event_type=self.event_type)
        return self._encode(body, tick)

    def _fire_kline(self, tick: int) -> bytes | None:
        market = self.market
        interval = self.params["interval"]
        assert isinstance(interval, str)
        candle = market.candle(interval, tick)
        spec = market.spec
        body = PublicSpotKlineV3Api(
            interval=interval,
            window_start=candle.start,
            opening_price=spec.price_text(candle.open),
            closing_price=spec.price_text(candle.close),
            highest_price=spec.price_text(candle.high),
            lowest_price=spec.price_text(candle.low),
            volume=spec.quantity_text(candle.volume),
            amount=spec.amount_text(candle.amount),
            window_end=candle.end,
        )
        return wire.encode_push(
            self.topic,
            body,
            symbol=market.symbol,
            symbol_id=market.symbol_id,
            create_time=tick,
            send_time=tick,
        )

    def _mini(self, market: Market, tick: int) -> PublicMiniTickerV3Api:
        timezone = self.params["timezone"]
        assert isinstance(timezone, str)
        s = market.mini_ticker(timezone, tick)
        # The "previous close" variants use the same day boundaries here.
        return PublicMiniTickerV3Api(
            symbol=s.symbol,
            price=s.price,
            rate=s.rate,
            zoned_rate=s.zoned_rate,
            high=s.high,
            low=s.low,
            volume=s.volume,
            quantity=s.quantity,
            last_close_rate=s.rate,
            last_close_zoned_rate=s.zoned_rate,
            last_close_high=s.high,
            last_close_low=s.low,
        )

    def _fire_mini_ticker(self, tick: int) -> bytes | None:
        return self._encode(self._mini(self.market, tick), tick)

    def _fire_mini_tickers(self, tick: int) -> bytes | None:
        since = self.last_tick
        items = tuple(
            self._mini(m, tick) for m in self.markets if m.trades and m.trades[-1].time > since
        )
        if not items:
            return None
        return self._encode(PublicMiniTickersV3Api(items=items), tick, symbol=False)


def make_feed(topic: str, markets: dict[str, Market], start: int) -> Feed:
    """The feed of a valid, served public topic.

    :raises KeyError: its symbol is no market of the exchange.
    """
    typed = parse(topic)
    spec = typed.spec
    params = {p.name: getattr(typed, p.name) for p in spec.params}
    if "symbol" in params:
        symbol = params["symbol"]
        assert isinstance(symbol, str)
        chosen: list[Market] = [markets[symbol]]
    else:
        chosen = list(markets.values())
    return Feed(topic, spec, params, chosen, start)
