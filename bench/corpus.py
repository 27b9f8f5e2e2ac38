"""A seeded, deterministic corpus of MEXC push frames with a realistic channel mix.

The frames are built from our records (:mod:`mexc_core.messages`) and encoded with
:func:`mexc_core.wire.encode_push`, so they are byte-identical to what Google's
runtime would produce for the same messages. The channel names come from the typed
topics of :mod:`mexc_core.channels`, and the values imitate what MEXC sends
(``docs/protocol.rst``: channels and wire test vectors): per-pair price scales and decimals,
quantities as decimal strings, ``"0"`` for a removed depth level, 11-digit
versions that only grow, and millisecond timestamps around ``1778075380572``.

The same ``(messages, seed)`` always gives the same frames: all randomness comes
from one :class:`random.Random`, and prices are kept as integer ticks, so no float
formatting can differ between machines.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Final, NamedTuple

from mexc_core.channels import (
    AggreBookTicker,
    AggreDeals,
    AggreDepth,
    Interval,
    Kline,
    KlineInterval,
    Level,
    LimitDepth,
    PrivateOrders,
)
from mexc_core.messages import (
    Body,
    PrivateOrdersV3Api,
    PublicAggreBookTickerV3Api,
    PublicAggreDealsV3Api,
    PublicAggreDealsV3ApiItem,
    PublicAggreDepthsV3Api,
    PublicAggreDepthV3ApiItem,
    PublicLimitDepthsV3Api,
    PublicLimitDepthV3ApiItem,
    PublicSpotKlineV3Api,
)
from mexc_core.wire import encode_push

__all__ = ("MIX", "PAIRS", "Corpus", "build")

#: Share of each channel kind in the corpus, in percent of frames.
MIX: Final[dict[str, int]] = {
    "aggre.depth": 45,
    "aggre.deals": 30,
    "aggre.bookTicker": 15,
    "limit.depth": 5,
    "kline": 4,
    "private.orders": 1,
}

#: ``(symbol, typical price, price decimals, quantity decimals)``, busiest first.
PAIRS: Final = (
    ("BTCUSDT", "93000", 2, 8),
    ("ETHUSDT", "3000", 2, 5),
    ("SOLUSDT", "180", 2, 3),
    ("XRPUSDT", "2.1", 4, 2),
    ("BNBUSDT", "600", 2, 3),
    ("DOGEUSDT", "0.32", 5, 2),
    ("MXUSDT", "3.5", 4, 2),
    ("SUIUSDT", "4.1", 4, 2),
    ("ADAUSDT", "0.9", 4, 2),
    ("PEPEUSDT", "0.00001234", 10, 0),
    ("TRXUSDT", "0.24", 5, 2),
    ("LINKUSDT", "20", 3, 3),
    ("BTCUSDC", "93000", 2, 6),
    ("AVAXUSDT", "35", 3, 3),
    ("TONUSDT", "5.2", 3, 2),
    ("LTCUSDT", "100", 2, 4),
    ("ETHBTC", "0.0322", 6, 4),
    ("BCHUSDT", "450", 2, 4),
    ("DOTUSDT", "7", 3, 2),
    ("SHIBUSDT", "0.000022", 9, 0),
    ("NEARUSDT", "5.5", 3, 2),
    ("APTUSDT", "9.8", 3, 2),
    ("ARBUSDT", "0.85", 4, 2),
    ("OPUSDT", "2.1", 4, 2),
    ("UNIUSDT", "12.5", 3, 2),
    ("ATOMUSDT", "6.8", 3, 2),
    ("FILUSDT", "5.1", 3, 2),
    ("ICPUSDT", "11.2", 3, 2),
    ("KASUSDT", "0.12", 5, 2),
    ("WIFUSDT", "2.3", 4, 2),
    ("BONKUSDT", "0.00003456", 10, 0),
    ("FLOKIUSDT", "0.0001567", 8, 0),
    ("ZKUSDT", "0.1834", 5, 2),
    ("NOTUSDT", "0.0071", 6, 0),
    ("TURBOUSDT", "0.0061234", 7, 0),
    ("BOMEUSDT", "0.0091234", 7, 2),
    ("MEMEUSDT", "0.0123456", 7, 2),
    ("CATUSDT", "0.0000423", 9, 0),
    ("KEKIUSDT", "0.0001234", 7, 0),
    ("GMEEUSDT", "0.0012345", 7, 2),
    ("MOGUSDT", "0.00000213", 10, 0),
    ("SLERFUSDT", "0.2345", 5, 2),
    ("POPCATUSDT", "0.45", 5, 2),
    ("MEWUSDT", "0.0078123", 7, 0),
    ("BRETTUSDT", "0.1123", 5, 2),
    ("NEIROUSDT", "0.0012345", 8, 0),
    ("GOATUSDT", "0.55", 5, 2),
    ("PNUTUSDT", "0.68", 5, 2),
    ("HMSTRUSDT", "0.0034567", 7, 0),
    ("XYOUSDT", "0.0123", 5, 2),
)

#: Where the exchange clock starts (ms): lastOrderCreateTime of MEXC's 2026 depth sample.
_START_MS: Final = 1778075380572

_INTERVALS: Final[tuple[Interval, ...]] = ("100ms", "10ms")
_KLINE_INTERVALS: Final[tuple[tuple[KlineInterval, int], ...]] = (
    ("Min1", 60),
    ("Min5", 300),
    ("Min15", 900),
    ("Min30", 1800),
    ("Min60", 3600),
    ("Hour4", 14400),
    ("Hour8", 28800),
    ("Day1", 86400),
    ("Week1", 604800),
    ("Month1", 2592000),
)
_LEVELS: Final[tuple[Level, ...]] = (5, 10, 20)
#: Relative weights of 0, 1, 2, ... 20 levels on one side of a depth diff.
_DIFF_LEVEL_WEIGHTS: Final = tuple(0.55**k for k in range(21))
#: Relative weights of 1 to 5 trades in one aggregated deals push.
_DEAL_COUNT_WEIGHTS: Final = (50, 25, 12, 8, 5)
_LIMIT_EVENT_TYPE: Final = "spot@public.limit.depth.v3.api.pb"


class _Built(NamedTuple):
    """What a channel builder returns: the wrapper fields of one frame but the symbol."""

    channel: str
    body: Body
    symbol_id: str | None = None
    create_time: int | None = None


def _fixed(units: int, decimals: int) -> str:
    """``units`` scaled down by ``10**decimals``, with exactly ``decimals`` digits."""
    if decimals == 0:
        return str(units)
    digits = str(units).rjust(decimals + 1, "0")
    return f"{digits[:-decimals]}.{digits[-decimals:]}"


def _quote(units: int, decimals: int) -> str:
    """A quote amount of ``units`` scaled by ``10**decimals``, cut to at most 8 decimals."""
    cut = max(0, decimals - 8)
    return _fixed(units // 10**cut, decimals - cut)


def _trimmed(units: int, decimals: int) -> str:
    """Like :func:`_fixed` without trailing zeros, as MEXC renders kline prices."""
    text = _fixed(units, decimals)
    return text.rstrip("0").rstrip(".") if "." in text else text


@dataclass(slots=True)
class _Pair:
    """A trading pair and its evolving market state.

    :ivar symbol: e.g. ``BTCUSDT``.
    :ivar symbol_id: MEXC's 32-hex-digit id of the pair.
    :ivar price_dp: decimals of prices.
    :ivar qty_dp: decimals of quantities.
    :ivar mid: the mid price in ticks of ``10**-price_dp``.
    :ivar version: the book version (11 decimal digits), only ever increasing.
    """

    symbol: str
    symbol_id: str
    price_dp: int
    qty_dp: int
    mid: int
    version: int

    def price(self, ticks: int) -> str:
        """A price of ``ticks`` as MEXC formats it, e.g. ``93220.00``."""
        return _fixed(ticks, self.price_dp)


@dataclass(slots=True)
class _Market:
    """Random-walk market state over all pairs, and one frame builder per channel kind.

    Builders (one per key of :data:`MIX`, listed in :data:`_BUILDERS`) return the
    wrapper fields ``encode_push`` takes, as a :class:`_Built`.
    """

    rng: random.Random
    pairs: list[_Pair]
    weights: list[float]
    now: int = _START_MS
    trade_id: int = 0
    order_id: int = 0

    @classmethod
    def create(cls, rng: random.Random) -> _Market:
        """Give every pair an id, a starting price and an 11-digit version."""
        pairs = [
            _Pair(
                symbol=symbol,
                symbol_id=f"{rng.getrandbits(128):032x}",
                price_dp=price_dp,
                qty_dp=qty_dp,
                mid=int(Decimal(price).scaleb(price_dp)),
                version=rng.randrange(10**10, 6 * 10**10),
            )
            for symbol, price, price_dp, qty_dp in PAIRS
        ]
        # Activity is Zipf-like: BTCUSDT is the busiest pair by far.
        weights = [1 / (rank + 1) for rank in range(len(pairs))]
        market = cls(rng=rng, pairs=pairs, weights=weights)
        market.trade_id = rng.randrange(5 * 10**17, 6 * 10**17)
        market.order_id = rng.randrange(5 * 10**17, 6 * 10**17)
        return market

    def frame(self, kind: str) -> bytes:
        """Advance the clock and the chosen pair, then encode one frame of ``kind``."""
        rng = self.rng
        self.now += rng.randrange(3)
        pair = rng.choices(self.pairs, self.weights)[0]
        pair.mid = max(10, pair.mid + round(rng.gauss(0, pair.mid * 0.0003)))
        built = _BUILDERS[kind](self, pair)
        if built.create_time is None and rng.random() < 0.05:
            # Public pushes carry symbol and sendTime; a few also carry these two
            # (as MEXC's kline sample does).
            built = built._replace(
                symbol_id=pair.symbol_id, create_time=self.now - rng.randrange(1, 5)
            )
        return encode_push(
            built.channel,
            built.body,
            symbol=pair.symbol,
            symbol_id=built.symbol_id,
            create_time=built.create_time,
            send_time=self.now,
        )

    def quantity(self, pair: _Pair, *, removed: float = 0.0) -> str:
        """A quantity worth around 300 USDT (log-normal), or ``"0"`` with ``removed`` odds."""
        if removed and self.rng.random() < removed:
            return "0"
        notional = self.rng.lognormvariate(5.7, 1.3)
        lots = round(notional * 10**pair.price_dp / pair.mid * 10**pair.qty_dp)
        return _fixed(max(1, lots), pair.qty_dp)

    def next_version(self, pair: _Pair, *, max_step: int) -> tuple[int, int]:
        """Move the pair's version on by 1 to ``max_step``; return ``(from, to)``."""
        first = pair.version + 1
        pair.version += self.rng.randint(1, max_step)
        return first, pair.version

    def side(self, pair: _Pair, count: int, *, asks: bool, removed: float) -> list[tuple[str, str]]:
        """``count`` levels from the top of one side, each a tick or more apart."""
        rng = self.rng
        step = 1 if asks else -1
        ticks = pair.mid + step * rng.randint(1, 3)
        levels = []
        for _ in range(count):
            levels.append((pair.price(max(1, ticks)), self.quantity(pair, removed=removed)))
            ticks += step * rng.choice((1, 1, 1, 2, 3, 5))
        return levels

    def aggre_depth(self, pair: _Pair) -> _Built:
        """A diff of 1 to ~20 levels per side, usually a few, some removed (``"0"``)."""
        rng = self.rng
        counts = range(len(_DIFF_LEVEL_WEIGHTS))
        n_asks, n_bids = rng.choices(counts, _DIFF_LEVEL_WEIGHTS, k=2)
        if n_asks + n_bids == 0:
            n_asks, n_bids = rng.choice(((1, 0), (0, 1)))
        first, last = self.next_version(pair, max_step=40)
        topic = AggreDepth(symbol=pair.symbol, interval=rng.choice(_INTERVALS))
        channel = str(topic)
        body = PublicAggreDepthsV3Api(
            asks=tuple(
                PublicAggreDepthV3ApiItem(price=p, quantity=q)
                for p, q in self.side(pair, n_asks, asks=True, removed=0.15)
            ),
            bids=tuple(
                PublicAggreDepthV3ApiItem(price=p, quantity=q)
                for p, q in self.side(pair, n_bids, asks=False, removed=0.15)
            ),
            event_type=channel.removesuffix(f"@{pair.symbol}"),
            from_version=str(first),
            to_version=str(last),
            last_order_create_time=self.now - rng.randrange(1, 120),
        )
        return _Built(channel, body)

    def aggre_deals(self, pair: _Pair) -> _Built:
        """One to five trades near the mid price, with trade ids."""
        rng = self.rng
        topic = AggreDeals(symbol=pair.symbol, interval=rng.choice(_INTERVALS))
        channel = str(topic)
        deals = []
        for _ in range(rng.choices(range(1, 6), _DEAL_COUNT_WEIGHTS)[0]):
            self.trade_id += rng.randint(1, 50)
            trade_type = rng.choice((1, 2))
            deals.append(
                PublicAggreDealsV3ApiItem(
                    price=pair.price(pair.mid + (rng.randint(0, 2) if trade_type == 1 else 0)),
                    quantity=self.quantity(pair),
                    trade_type=trade_type,
                    time=self.now - rng.randrange(1, 100),
                    trade_id=f"{self.trade_id}X{rng.randint(1, 3)}",
                )
            )
        body = PublicAggreDealsV3Api(
            deals=tuple(deals), event_type=channel.removesuffix(f"@{pair.symbol}")
        )
        return _Built(channel, body)

    def aggre_book_ticker(self, pair: _Pair) -> _Built:
        """Best bid and ask with the book version; the ask is rarely empty (none)."""
        rng = self.rng
        _, version = self.next_version(pair, max_step=40)
        spread = rng.randint(1, 4)
        no_ask = rng.random() < 0.01
        body = PublicAggreBookTickerV3Api(
            bid_price=pair.price(pair.mid),
            bid_quantity=self.quantity(pair),
            ask_price="" if no_ask else pair.price(pair.mid + spread),
            ask_quantity="" if no_ask else self.quantity(pair),
            version=str(version),
            last_order_create_time=self.now - rng.randrange(1, 120),
        )
        return _Built(
            str(AggreBookTicker(symbol=pair.symbol, interval=rng.choice(_INTERVALS))), body
        )

    def limit_depth(self, pair: _Pair) -> _Built:
        """A snapshot of the top 5, 10 or 20 levels of both sides."""
        rng = self.rng
        level = rng.choices(_LEVELS, (5, 3, 2))[0]
        _, version = self.next_version(pair, max_step=40)
        body = PublicLimitDepthsV3Api(
            asks=tuple(
                PublicLimitDepthV3ApiItem(price=p, quantity=q)
                for p, q in self.side(pair, level, asks=True, removed=0.0)
            ),
            bids=tuple(
                PublicLimitDepthV3ApiItem(price=p, quantity=q)
                for p, q in self.side(pair, level, asks=False, removed=0.0)
            ),
            event_type=_LIMIT_EVENT_TYPE,
            version=str(version),
            last_order_create_time=self.now - rng.randrange(1, 120),
        )
        return _Built(str(LimitDepth(symbol=pair.symbol, level=level)), body)

    def kline(self, pair: _Pair) -> _Built:
        """The current candle; windows in seconds, prices without trailing zeros."""
        rng = self.rng
        interval, width = rng.choices(_KLINE_INTERVALS, (30, 20, 15, 8, 8, 6, 4, 5, 2, 2))[0]
        start = self.now // 1000 // width * width
        ticks = [max(1, pair.mid + round(rng.gauss(0, pair.mid * 0.002))) for _ in range(3)]
        ticks.append(pair.mid)
        notional = rng.lognormvariate(12, 1.5)
        volume_lots = max(1, round(notional * 10**pair.price_dp / pair.mid * 10**pair.qty_dp))
        amount_cents = volume_lots * pair.mid * 100 // 10 ** (pair.price_dp + pair.qty_dp)
        body = PublicSpotKlineV3Api(
            interval=interval,
            window_start=start,
            opening_price=_trimmed(ticks[0], pair.price_dp),
            closing_price=_trimmed(ticks[-1], pair.price_dp),
            highest_price=_trimmed(max(ticks), pair.price_dp),
            lowest_price=_trimmed(min(ticks), pair.price_dp),
            volume=_fixed(volume_lots, pair.qty_dp),
            amount=_fixed(amount_cents, 2),
            window_end=start + width,
        )
        return _Built(
            str(Kline(symbol=pair.symbol, interval=interval)),
            body,
            symbol_id=pair.symbol_id,
            create_time=self.now - rng.randrange(1, 5),
        )

    def private_orders(self, pair: _Pair) -> _Built:
        """An order update, with the optional fields MEXC sets on some of them."""
        rng = self.rng
        self.order_id += rng.randint(1, 10**6)
        status = rng.choices((1, 2, 3, 4, 5), (30, 30, 20, 15, 5))[0]
        order_type = rng.choices((1, 2, 3, 5, 100), (60, 10, 5, 20, 5))[0]
        price_ticks = pair.mid + rng.randint(-20, 20)
        quantity = self.quantity(pair)
        qty_lots = int(Decimal(quantity).scaleb(pair.qty_dp))
        filled_lots = {1: 0, 2: qty_lots, 4: 0}.get(status, qty_lots * rng.randint(1, 9) // 10)
        quote_dp = pair.price_dp + pair.qty_dp
        filled_quote = filled_lots * price_ticks
        last_deal = _fixed(filled_lots, pair.qty_dp) if status in (2, 3, 5) else None
        stop = order_type == 100
        body = PrivateOrdersV3Api(
            id=f"C02__{self.order_id}{rng.randrange(100, 1000)}",
            client_id=rng.choice(("", f"bot-{rng.randrange(10**6)}")),
            price=pair.price(price_ticks),
            quantity=quantity,
            amount=_quote(qty_lots * price_ticks, quote_dp),
            avg_price=pair.price(price_ticks) if filled_lots else "0",
            order_type=order_type,
            trade_type=rng.choice((1, 2)),
            is_maker=rng.random() < 0.6,
            remain_amount=_quote((qty_lots - filled_lots) * price_ticks, quote_dp),
            remain_quantity=_fixed(qty_lots - filled_lots, pair.qty_dp),
            last_deal_quantity=last_deal,
            cumulative_quantity=_fixed(filled_lots, pair.qty_dp),
            cumulative_amount=_quote(filled_quote, quote_dp),
            status=status,
            create_time=self.now - rng.randrange(1, 600_000),
            market=rng.choice((None, "USDT")),
            trigger_type=rng.choice((0, 1)) if stop else None,
            trigger_price=pair.price(price_ticks + rng.randint(1, 50)) if stop else None,
            state=rng.choice((None, 1, 2)),
            oco_id=f"{rng.getrandbits(64):x}" if stop and rng.random() < 0.5 else None,
            route_factor=None,
            symbol_id=rng.choice((None, pair.symbol_id)),
            market_id=rng.choice((None, f"{rng.getrandbits(128):032x}")),
            market_currency_id=None,
            currency_id=rng.choice((None, f"{rng.getrandbits(128):032x}")),
        )
        return _Built(str(PrivateOrders()), body, create_time=self.now - rng.randrange(1, 5))


_BUILDERS: Final[dict[str, Callable[[_Market, _Pair], _Built]]] = {
    "aggre.depth": _Market.aggre_depth,
    "aggre.deals": _Market.aggre_deals,
    "aggre.bookTicker": _Market.aggre_book_ticker,
    "limit.depth": _Market.limit_depth,
    "kline": _Market.kline,
    "private.orders": _Market.private_orders,
}


@dataclass(frozen=True, slots=True)
class Corpus:
    """Encoded push frames and the channel kind (a key of :data:`MIX`) of each.

    :ivar seed: the seed it was built from.
    :ivar frames: the frames, in push order.
    :ivar kinds: ``kinds[i]`` is the channel kind of ``frames[i]``.
    """

    seed: int
    frames: tuple[bytes, ...]
    kinds: tuple[str, ...]

    def mix(self) -> dict[str, int]:
        """Frames per channel kind, in :data:`MIX` order."""
        counts = Counter(self.kinds)
        return {kind: counts[kind] for kind in MIX}

    def by_kind(self) -> dict[str, list[bytes]]:
        """The frames of each channel kind, in :data:`MIX` order."""
        groups: dict[str, list[bytes]] = {kind: [] for kind in MIX}
        for kind, frame in zip(self.kinds, self.frames, strict=True):
            groups[kind].append(frame)
        return groups


def _counts(messages: int) -> dict[str, int]:
    """Split ``messages`` by :data:`MIX`, rounding by largest remainder (sums exactly)."""
    total = sum(MIX.values())
    exact = {kind: messages * share / total for kind, share in MIX.items()}
    counts = {kind: int(value) for kind, value in exact.items()}
    by_remainder = sorted(MIX, key=lambda kind: counts[kind] - exact[kind])
    for kind in by_remainder[: messages - sum(counts.values())]:
        counts[kind] += 1
    return counts


def build(messages: int, seed: int) -> Corpus:
    """Build ``messages`` frames in the proportions of :data:`MIX`, shuffled.

    :param messages: how many frames (at least 1).
    :param seed: the seed of the one :class:`random.Random` everything comes from.
    :raises ValueError: ``messages`` is less than 1.
    """
    if messages < 1:
        raise ValueError(f"a corpus needs at least one message, got {messages}")
    rng = random.Random(seed)
    kinds = [kind for kind, count in _counts(messages).items() for _ in range(count)]
    rng.shuffle(kinds)
    market = _Market.create(rng)
    frames = tuple(market.frame(kind) for kind in kinds)
    return Corpus(seed=seed, frames=frames, kinds=tuple(kinds))
