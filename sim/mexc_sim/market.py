"""One simulated market: its order book, the seeded process that moves it, the matching engine.

Theory of operation
===================

A :class:`Market` is a price-level order book of integer ticks and lots (see
:mod:`mexc_sim._numbers`) with a version number. Every change of the book is
one :class:`BookUpdate`: the version goes up by exactly one, and the update lists
each level it changed (old and new quantity) and the trades it made. Everything
MEXC publishes about the market is derived from that one sequence of updates:

- the diff-depth stream (``fromVersion``/``toVersion`` are the first and last
  update aggregated into one push), the limit-depth snapshots and book tickers,
  and the REST depth snapshot (``lastUpdateId`` is the version of the book it
  shows);
- the public trades (each update's trades), hence the klines and mini tickers.

The book moves by a seeded random process (:meth:`Market.advance_to`): at times
drawn from a Poisson process of rate :attr:`MarketSpec.event_rate`, an event adds
liquidity near the top of the book, cancels some, or sends a market order that
trades through the top levels. Each market draws from its own
``random.Random(f"{seed}/{symbol}")``, so a market's history depends only on the
seed, its symbol and the orders placed in it: not on the other markets, on who
watches it, or on when it is looked at (markets are advanced lazily).

Users' orders (:class:`UserOrder`) rest in the same book behind the liquidity that was
already there (price-time priority); the process's market orders fill them, and
those fills come out of :meth:`Market.take_fills`.

The market keeps its last :attr:`MarketSpec.history` updates, so it can rebuild the
exact book of any recent version (:meth:`Market.book_at`): the simulator's truth.

Time is the exchange's clock in epoch milliseconds, passed in; nothing here reads
a clock.
"""

from __future__ import annotations

import bisect
import calendar
import enum
import random
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final, final

from mexc_sim._numbers import rate_text, scaled_text

__all__ = (
    "ASK",
    "BID",
    "BUY",
    "KLINE_INTERVALS",
    "SELL",
    "BookSnapshot",
    "BookUpdate",
    "Candle",
    "Fill",
    "Market",
    "MarketSpec",
    "MiniTickerStats",
    "OrderStatus",
    "OrderType",
    "PublicTrade",
    "UserOrder",
    "kline_window",
    "timezone_offset",
)

#: Book sides, as indexes.
BID: Final = 0
ASK: Final = 1
#: MEXC's ``tradeType`` values: the taker's side.
BUY: Final = 1
SELL: Final = 2

_DAY_MS: Final = 86_400_000
_MINUTE_MS: Final = 60_000
# The Unix epoch was a Thursday; MEXC's weekly candles open on Monday 00:00 UTC.
_WEEK_OFFSET_MS: Final = 4 * _DAY_MS

#: Kline widths in seconds (``Month1`` is a calendar month, UTC).
KLINE_INTERVALS: Final[dict[str, int]] = {
    "Min1": 60,
    "Min5": 300,
    "Min15": 900,
    "Min30": 1800,
    "Min60": 3600,
    "Hour4": 14_400,
    "Hour8": 28_800,
    "Day1": 86_400,
    "Week1": 604_800,
    "Month1": 0,
}


def kline_window(interval: str, time_ms: int) -> tuple[int, int]:
    """The candle of ``interval`` holding ``time_ms``: ``(windowStart, windowEnd)`` in seconds.

    Windows are aligned in UTC; weeks open on Monday, months on the 1st.

    >>> kline_window("Min15", 1_736_410_707_571)
    (1736410500, 1736411400)
    """
    seconds = time_ms // 1000
    width = KLINE_INTERVALS[interval]
    if interval == "Month1":
        year = 1970 + seconds // 86_400 // 366
        while calendar.timegm((year + 1, 1, 1, 0, 0, 0)) <= seconds:
            year += 1
        month = 1
        while month < 12 and calendar.timegm((year, month + 1, 1, 0, 0, 0)) <= seconds:
            month += 1
        start = calendar.timegm((year, month, 1, 0, 0, 0))
        end = calendar.timegm((year + (month == 12), month % 12 + 1, 1, 0, 0, 0))
        return start, end
    if interval == "Week1":
        start = (seconds - _WEEK_OFFSET_MS // 1000) // width * width + _WEEK_OFFSET_MS // 1000
        return start, start + width
    start = seconds // width * width
    return start, start + width


def timezone_offset(timezone: str) -> int | None:
    """A mini-ticker time zone's offset from UTC in minutes; ``None`` for ``24H`` (rolling).

    >>> timezone_offset("UTC+5:30"), timezone_offset("UTC-10"), timezone_offset("24H")
    (330, -600, None)
    """
    if timezone == "24H":
        return None
    body = timezone.removeprefix("UTC")
    sign = -1 if body.startswith("-") else 1
    hours, _, minutes = body.lstrip("+-").partition(":")
    return sign * (int(hours) * 60 + int(minutes or 0))


# ---------------------------------------------------------------- specification


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class MarketSpec:
    """What a market trades and how its book behaves.

    :ivar symbol: the pair, upper case (``BTCUSDT``).
    :ivar base_asset: the asset bought and sold (``BTC``).
    :ivar quote_asset: the asset prices are in (``USDT``).
    :ivar price_scale: decimals of a price; one tick is ``10**-price_scale``.
    :ivar quantity_scale: decimals of a quantity; one lot is ``10**-quantity_scale``.
    :ivar initial_price: the price the book starts around, in ticks.
    :ivar mean_quantity: the typical size of one order of the process, in lots.
    :ivar levels: the number of price levels per side the process keeps around.
    :ivar event_rate: book events per simulated second (a Poisson process).
    :ivar history: updates kept for :meth:`Market.book_at` and late subscribers.
    """

    symbol: str
    base_asset: str
    quote_asset: str
    price_scale: int
    quantity_scale: int
    initial_price: int
    mean_quantity: int
    levels: int = 40
    event_rate: float = 10.0
    history: int = 20_000

    def price_text(self, ticks: int) -> str:
        """A price in ticks as MEXC writes it."""
        return scaled_text(ticks, self.price_scale)

    def quantity_text(self, lots: int) -> str:
        """A quantity in lots as MEXC writes it."""
        return scaled_text(lots, self.quantity_scale)

    def amount_text(self, amount: int) -> str:
        """An amount (ticks x lots) as a decimal string, trailing zeros trimmed."""
        text = scaled_text(amount, self.price_scale + self.quantity_scale)
        return text.rstrip("0").rstrip(".") if "." in text else text


# ---------------------------------------------------------------- records


@final
@dataclass(frozen=True, slots=True)
class PublicTrade:
    """One public trade.

    :ivar seq: the market's trade sequence number (strictly increasing).
    :ivar trade_id: its id as MEXC sends it (a string).
    :ivar price: ticks. :ivar quantity: lots.
    :ivar taker_side: ``BUY`` (1) or ``SELL`` (2), MEXC's ``tradeType``.
    :ivar time: epoch milliseconds.
    """

    seq: int
    trade_id: str
    price: int
    quantity: int
    taker_side: int
    time: int


#: One changed level: ``(side, price, old quantity, new quantity)``; 0 = absent.
Change = tuple[int, int, int, int]


@final
@dataclass(frozen=True, slots=True)
class BookUpdate:
    """One change of the book: exactly one version.

    :ivar version: the book's version after this update.
    :ivar time: epoch milliseconds.
    :ivar changes: every level it changed, in the order they changed.
    :ivar trades: the trades it made.
    """

    version: int
    time: int
    changes: tuple[Change, ...]
    trades: tuple[PublicTrade, ...]


@final
@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """The book at one version: the truth a client's local book is compared with.

    :ivar version: the version. :ivar time: epoch ms of that version's update.
    :ivar bids: ``(price, quantity)`` in ticks and lots, best (highest) first.
    :ivar asks: ditto, best (lowest) first.
    """

    symbol: str
    version: int
    time: int
    bids: tuple[tuple[int, int], ...]
    asks: tuple[tuple[int, int], ...]


@final
@dataclass(frozen=True, slots=True)
class Candle:
    """One kline window: prices in ticks, volume in lots, amount in ticks x lots."""

    interval: str
    start: int
    end: int
    open: int
    high: int
    low: int
    close: int
    volume: int
    amount: int


@final
@dataclass(frozen=True, slots=True)
class MiniTickerStats:
    """The numbers of a mini ticker, already rendered as MEXC strings."""

    symbol: str
    price: str
    rate: str
    zoned_rate: str
    high: str
    low: str
    volume: str
    quantity: str


class OrderType(enum.Enum):
    """REST order types and their ``orderType`` number in private pushes."""

    LIMIT = 1
    LIMIT_MAKER = 2
    IMMEDIATE_OR_CANCEL = 3
    FILL_OR_KILL = 4
    MARKET = 5


class OrderStatus(enum.Enum):
    """REST order statuses and their ``status`` number in private pushes."""

    NEW = 1
    FILLED = 2
    PARTIALLY_FILLED = 3
    CANCELED = 4
    PARTIALLY_CANCELED = 5


@dataclass(slots=True, eq=False, kw_only=True)
class UserOrder:
    """A user's order. Mutable: the matching engine fills and closes it.

    :ivar quantity: lots ordered, or ``None`` for a market buy by quote amount.
    :ivar quote_quantity: for a market buy, the amount to spend (ticks x lots).
    """

    order_id: str
    client_order_id: str
    account: str
    symbol: str
    side: int
    type: OrderType
    price: int | None
    quantity: int | None
    quote_quantity: int | None
    created: int
    updated: int
    executed: int = 0
    cumulative_amount: int = 0
    status: OrderStatus = OrderStatus.NEW
    resting: int = 0
    last_fill: int = 0

    @property
    def is_open(self) -> bool:
        """Whether the order can still trade."""
        return self.status in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)


@final
@dataclass(frozen=True, slots=True)
class Fill:
    """One fill of a user's order.

    :ivar order: the order (its state after this fill).
    :ivar trade: the public trade. :ivar is_maker: the order was resting.
    :ivar is_self_trade: both sides were the same account.
    """

    order: UserOrder
    trade: PublicTrade
    is_maker: bool
    is_self_trade: bool


# ---------------------------------------------------------------- the market


@dataclass(slots=True)
class _Bucket:
    minute: int
    high: int
    low: int
    close: int
    volume: int
    amount: int


@dataclass(slots=True)
class _Entry:
    """A place in a level's queue: a user's order, or anonymous liquidity (``None``)."""

    order: UserOrder | None
    lots: int


@dataclass(slots=True)
class _Pending:
    old: dict[tuple[int, int], int] = field(default_factory=dict)
    trades: list[PublicTrade] = field(default_factory=list)


class Market:
    """One symbol's book, process, trades, candles and tickers (see the module docstring).

    :param spec: what the market trades.
    :param seed: the simulator's seed; the market draws from ``f"{seed}/{symbol}"``.
    :param start: epoch ms at which the market exists (its first event comes after).
    """

    def __init__(self, spec: MarketSpec, *, seed: int | str, start: int) -> None:
        self.spec = spec
        self.symbol = spec.symbol
        self.rng = random.Random(f"{seed}/{spec.symbol}")
        #: MEXC's opaque pair id (``symbolId``), 32 hex digits, from the seed.
        self.symbol_id = f"{random.Random(f'{seed}/{spec.symbol}/id').getrandbits(128):032x}"
        rng = self.rng
        self.time = start
        self.version = rng.randrange(10_000_000, 90_000_000)
        self.last_update_time = start
        self._trade_seq = rng.randrange(10**11, 9 * 10**11)
        self._qty: tuple[dict[int, int], dict[int, int]] = ({}, {})
        self._prices: tuple[list[int], list[int]] = ([], [])
        self._queues: dict[tuple[int, int], list[_Entry]] = {}
        self.history: deque[BookUpdate] = deque(maxlen=spec.history)
        self.trades: deque[PublicTrade] = deque(maxlen=spec.history)
        self.last_price = spec.initial_price
        self._buckets: deque[_Bucket] = deque()
        self._candles: dict[str, list[int]] = {}
        self._fills: list[Fill] = []
        self._pending: _Pending | None = None
        self.resting_orders = 0
        p0 = spec.initial_price
        gap = 1
        for i in range(spec.levels):
            for side, price in ((BID, p0 - gap - i), (ASK, p0 + gap + i)):
                if price > 0:
                    self._set(side, price, self._draw_quantity())
        self._pending = None
        self.next_event = start + self._draw_gap()

    # ------------------------------------------------------------ reading

    @property
    def best_bid(self) -> tuple[int, int] | None:
        """The best bid ``(price, lots)``, or ``None`` when there are no bids."""
        prices = self._prices[BID]
        return (prices[-1], self._qty[BID][prices[-1]]) if prices else None

    @property
    def best_ask(self) -> tuple[int, int] | None:
        """The best ask ``(price, lots)``, or ``None`` when there are no asks."""
        prices = self._prices[ASK]
        return (prices[0], self._qty[ASK][prices[0]]) if prices else None

    def top(self, side: int, depth: int | None = None) -> list[tuple[int, int]]:
        """The best ``depth`` levels of a side (all if ``None``), best first."""
        prices = self._prices[side]
        qty = self._qty[side]
        if side == BID:
            chosen = prices[::-1] if depth is None else prices[: -depth - 1 : -1]
        else:
            chosen = prices if depth is None else prices[:depth]
        return [(p, qty[p]) for p in chosen]

    def snapshot(self, depth: int | None = None) -> BookSnapshot:
        """The current book (``depth`` levels per side)."""
        return BookSnapshot(
            self.symbol,
            self.version,
            self.last_update_time,
            tuple(self.top(BID, depth)),
            tuple(self.top(ASK, depth)),
        )

    @property
    def oldest_version(self) -> int:
        """The oldest version :meth:`book_at` can rebuild: the one before the oldest update kept."""
        return self.history[0].version - 1 if self.history else self.version

    def book_at(self, version: int, depth: int | None = None) -> BookSnapshot:
        """The exact book at ``version`` (the truth), rebuilt from the kept updates.

        :raises LookupError: the version is in the future or older than the
            history kept (:attr:`MarketSpec.history` updates).
        """
        if version > self.version:
            raise LookupError(f"{self.symbol} is at version {self.version}, not yet {version}")
        if version < self.oldest_version:
            raise LookupError(
                f"{self.symbol} keeps versions from {self.oldest_version}; {version} is gone"
            )
        books = (dict(self._qty[BID]), dict(self._qty[ASK]))
        time = self.last_update_time
        for update in reversed(self.history):
            if update.version <= version:
                time = update.time
                break
            for side, price, old, _new in reversed(update.changes):
                if old:
                    books[side][price] = old
                else:
                    books[side].pop(price, None)
        bids = sorted(books[BID].items(), reverse=True)
        asks = sorted(books[ASK].items())
        if depth is not None:
            bids, asks = bids[:depth], asks[:depth]
        return BookSnapshot(self.symbol, version, time, tuple(bids), tuple(asks))

    def updates_since(self, version: int) -> Iterator[BookUpdate]:
        """The kept updates after ``version``, oldest first."""
        history = self.history
        if not history or history[-1].version <= version:
            return iter(())
        start = version + 1 - history[0].version
        if start <= 0:
            return iter(history)
        return (history[i] for i in range(start, len(history)))

    def trades_since(self, seq: int) -> list[PublicTrade]:
        """The kept trades after sequence number ``seq``, oldest first."""
        out: list[PublicTrade] = []
        for trade in reversed(self.trades):
            if trade.seq <= seq:
                break
            out.append(trade)
        out.reverse()
        return out

    @property
    def trade_seq(self) -> int:
        """The sequence number of the last trade."""
        return self._trade_seq

    # ------------------------------------------------------------ klines and tickers

    def candle(self, interval: str, time: int) -> Candle:
        """The candle of ``interval`` holding ``time`` (a flat one if nothing traded)."""
        start, end = kline_window(interval, time)
        state = self._candles.get(interval)
        if state is None or state[0] != start:
            p = self.last_price
            return Candle(interval, start, end, p, p, p, p, 0, 0)
        _s, _e, o, h, lo, c, v, a = state
        return Candle(interval, start, end, o, h, lo, c, v, a)

    def _price_before(self, time: int) -> int:
        minute = time // _MINUTE_MS
        for bucket in reversed(self._buckets):
            if bucket.minute < minute:
                return bucket.close
        return self.spec.initial_price

    def mini_ticker(self, timezone: str, time: int) -> MiniTickerStats:
        """The mini ticker at ``time`` for ``timezone`` (rolling 24 h, minute buckets)."""
        spec = self.spec
        price = self.last_price
        since = time // _MINUTE_MS - 1440
        high = low = price
        volume = quantity = 0
        for bucket in reversed(self._buckets):
            if bucket.minute <= since:
                break
            high = max(high, bucket.high)
            low = min(low, bucket.low)
            volume += bucket.amount
            quantity += bucket.volume

        def open_at(offset: int | None) -> int:
            if offset is None:
                return self._price_before(time - _DAY_MS + _MINUTE_MS)
            shift = offset * _MINUTE_MS
            return self._price_before((time + shift) // _DAY_MS * _DAY_MS - shift)

        utc8 = open_at(8 * 60)
        zoned = open_at(timezone_offset(timezone))
        return MiniTickerStats(
            symbol=self.symbol,
            price=spec.price_text(price),
            rate=rate_text(price - utc8, utc8),
            zoned_rate=rate_text(price - zoned, zoned),
            high=spec.price_text(high),
            low=spec.price_text(low),
            volume=spec.amount_text(volume),
            quantity=spec.quantity_text(quantity),
        )

    # ------------------------------------------------------------ the process

    def _draw_gap(self) -> int:
        return max(1, round(self.rng.expovariate(self.spec.event_rate) * 1000))

    def _draw_quantity(self) -> int:
        return max(1, int(self.rng.expovariate(1.0 / self.spec.mean_quantity)))

    def advance_to(self, time: int) -> None:
        """Run the process up to and including epoch ms ``time``."""
        while self.next_event <= time:
            self.step()

    def step(self) -> None:
        """Run the next event of the process (at :attr:`next_event`)."""
        when = self.next_event
        self.time = max(self.time, when)
        self._random_event(when)
        self.next_event = when + self._draw_gap()

    def _capped(self, side: int, size: int) -> int:
        """``size``, or less so that a sweep leaves the side's last level standing."""
        prices = self._prices[side]
        qty = self._qty[side]
        total = 0
        chosen = prices[:0:-1] if side == BID else prices[:-1]  # every level but the last
        for price in chosen:
            total += qty[price]
            if total >= size:
                return size
        return total

    def _mid(self) -> int:
        bid, ask = self.best_bid, self.best_ask
        if bid and ask:
            return (bid[0] + ask[0]) // 2
        return self.last_price

    def _random_event(self, when: int) -> None:
        rng = self.rng
        spec = self.spec
        self._pending = _Pending()
        u = rng.random()
        counts = (len(self._prices[BID]), len(self._prices[ASK]))
        if u < 0.15:
            # A market order. Mean reversion keeps a long run near the initial price.
            pull = (spec.initial_price - self._mid()) / spec.initial_price * 25
            side = BUY if rng.random() < 0.5 + max(-0.3, min(0.3, pull)) else SELL
            book_side = ASK if side == BUY else BID
            size = self._capped(book_side, int(self._draw_quantity() * 1.5) + 1)
            if size > 0:
                self._sweep(book_side, side, size, None, None, when)
        elif u < 0.5:
            side = BID if rng.random() < 0.5 else ASK
            prices = self._prices[side]
            if len(prices) > 1:
                if len(prices) > 2 * spec.levels:
                    index = len(prices) - 1  # trim the far end
                else:
                    index = min(int(rng.expovariate(0.15)), len(prices) - 1)
                price = prices[-1 - index] if side == BID else prices[index]
                level = self._qty[side][price]
                # Whole levels go only while the side is above its target depth.
                whole = len(prices) > spec.levels and rng.random() < 0.6
                cut = level if whole else max(1, int(level * rng.random() * 0.6))
                self._cancel_anonymous(side, price, cut)
        else:
            side = (
                BID
                if counts[BID] < counts[ASK] or (counts[BID] == counts[ASK] and rng.random() < 0.5)
                else ASK
            )
            if rng.random() < 0.3:
                side = BID if side == ASK else ASK
            prices = self._prices[side]
            mid = self._mid()
            if prices and rng.random() > len(prices) / spec.levels:
                # Refill the far end while the side is thinner than its target.
                step = 1 + int(rng.random() * 3)
                price = prices[0] - step if side == BID else prices[-1] + step
            elif side == BID:
                # Near the top, often at or inside the spread.
                ask = self.best_ask
                price = (ask[0] if ask else mid + 1) - 1 - int(rng.expovariate(0.3))
            else:
                bid = self.best_bid
                price = (bid[0] if bid else mid - 1) + 1 + int(rng.expovariate(0.3))
            if price > 0:
                self._add_anonymous(side, price, self._draw_quantity())
        self._commit(when)

    # ------------------------------------------------------------ book primitives

    def _set(self, side: int, price: int, qty: int) -> None:
        book = self._qty[side]
        old = book.get(price, 0)
        if old == qty:
            return
        pending = self._pending
        if pending is not None and (side, price) not in pending.old:
            pending.old[(side, price)] = old
        prices = self._prices[side]
        if qty:
            if not old:
                bisect.insort(prices, price)
            book[price] = qty
        else:
            del book[price]
            del prices[bisect.bisect_left(prices, price)]

    def _add_anonymous(self, side: int, price: int, lots: int) -> None:
        queue = self._queues.get((side, price))
        if queue is not None:
            if queue[-1].order is None:
                queue[-1].lots += lots
            else:
                queue.append(_Entry(None, lots))
        self._set(side, price, self._qty[side].get(price, 0) + lots)

    def _cancel_anonymous(self, side: int, price: int, lots: int) -> None:
        """Cancel up to ``lots`` of anonymous liquidity, from the back of the queue."""
        queue = self._queues.get((side, price))
        if queue is None:
            self._set(side, price, self._qty[side][price] - lots)
            return
        left = lots
        for entry in reversed(queue):
            if left == 0:
                break
            if entry.order is None:
                take = min(left, entry.lots)
                entry.lots -= take
                left -= take
        queue[:] = [e for e in queue if e.order is not None or e.lots]
        self._set(side, price, self._qty[side][price] - (lots - left))

    def _sweep(
        self,
        book_side: int,
        taker_side: int,
        lots: int | None,
        budget: int | None,
        limit: int | None,
        when: int,
        taker: UserOrder | None = None,
    ) -> tuple[int, int]:
        """Trade against ``book_side`` from its best level: by ``lots`` or by quote ``budget``.

        :returns: ``(lots traded, amount traded)``.
        """
        traded = amount = 0
        while True:
            best = self.best_ask if book_side == ASK else self.best_bid
            if best is None:
                break
            price, level = best
            if limit is not None and (price > limit if book_side == ASK else price < limit):
                break
            want = level
            if lots is not None:
                want = min(want, lots - traded)
            if budget is not None:
                want = min(want, (budget - amount) // price)
            if want <= 0:
                break
            for maker, size in self._take_front(book_side, price, want):
                self._trade(price, size, taker_side, when, maker, taker)
            traded += want
            amount += want * price
        return traded, amount

    def _take_front(self, side: int, price: int, lots: int) -> list[tuple[UserOrder | None, int]]:
        """Remove ``lots`` from the front of a level's queue; who they belonged to."""
        queue = self._queues.get((side, price))
        self._set(side, price, self._qty[side][price] - lots)
        if queue is None:
            return [(None, lots)]
        out: list[tuple[UserOrder | None, int]] = []
        left = lots
        while left:
            entry = queue[0]
            take = min(left, entry.lots)
            out.append((entry.order, take))
            entry.lots -= take
            left -= take
            if not entry.lots:
                queue.pop(0)
                if entry.order is not None:
                    self.resting_orders -= 1
        if not any(e.order is not None for e in queue):
            del self._queues[(side, price)]
        return out

    def _trade(
        self,
        price: int,
        lots: int,
        taker_side: int,
        when: int,
        maker: UserOrder | None,
        taker: UserOrder | None,
    ) -> None:
        self._trade_seq += 1
        trade = PublicTrade(self._trade_seq, str(self._trade_seq), price, lots, taker_side, when)
        assert self._pending is not None
        self._pending.trades.append(trade)
        self_trade = maker is not None and taker is not None and maker.account == taker.account
        for order, is_maker in ((maker, True), (taker, False)):
            if order is None:
                continue
            order.executed += lots
            order.cumulative_amount += lots * price
            order.last_fill = lots
            order.updated = when
            if is_maker:
                order.resting -= lots
            order.status = (
                OrderStatus.FILLED
                if order.quantity is not None and order.executed >= order.quantity
                else OrderStatus.PARTIALLY_FILLED
            )
            self._fills.append(Fill(order, trade, is_maker, self_trade))

    def _commit(self, when: int) -> BookUpdate | None:
        pending = self._pending
        self._pending = None
        if pending is None:
            return None
        changes = tuple(
            (side, price, old, self._qty[side].get(price, 0))
            for (side, price), old in pending.old.items()
            if old != self._qty[side].get(price, 0)
        )
        if not changes and not pending.trades:
            return None
        self.version += 1
        self.last_update_time = when
        update = BookUpdate(self.version, when, changes, tuple(pending.trades))
        self.history.append(update)
        for trade in pending.trades:
            self._record_trade(trade)
        return update

    def _record_trade(self, trade: PublicTrade) -> None:
        self.trades.append(trade)
        price, lots = trade.price, trade.quantity
        self.last_price = price
        minute = trade.time // _MINUTE_MS
        buckets = self._buckets
        if buckets and buckets[-1].minute == minute:
            b = buckets[-1]
            b.high = max(b.high, price)
            b.low = min(b.low, price)
            b.close = price
            b.volume += lots
            b.amount += lots * price
        else:
            buckets.append(_Bucket(minute, price, price, price, lots, lots * price))
            while buckets[0].minute < minute - 2 * 1440:
                buckets.popleft()
        seconds = trade.time // 1000
        for interval in KLINE_INTERVALS:
            state = self._candles.get(interval)
            if state is None or seconds >= state[1]:
                start, end = kline_window(interval, trade.time)
                self._candles[interval] = [
                    start,
                    end,
                    price,
                    price,
                    price,
                    price,
                    lots,
                    lots * price,
                ]
            else:
                state[3] = max(state[3], price)
                state[4] = min(state[4], price)
                state[5] = price
                state[6] += lots
                state[7] += lots * price

    # ------------------------------------------------------------ user orders

    def take_fills(self) -> list[Fill]:
        """The fills of user orders since the last call (then forgotten)."""
        fills, self._fills = self._fills, []
        return fills

    def place(self, order: UserOrder, when: int) -> BookUpdate | None:
        """Match a new user order, then rest, cancel or expire what is left.

        The caller has checked the order (side, type, scales, balances). Fills come
        out of :meth:`take_fills`; the order's status says what happened.

        :returns: the book update it made, if it changed the book.
        """
        self.advance_to(when)
        self.time = max(self.time, when)
        self._pending = _Pending()
        book_side = ASK if order.side == BUY else BID
        limit = None if order.type is OrderType.MARKET else order.price
        crosses = False
        best = self.best_ask if book_side == ASK else self.best_bid
        if best is not None and limit is not None:
            crosses = best[0] <= limit if book_side == ASK else best[0] >= limit
        # A post-only order that would trade, and a fill-or-kill order that cannot
        # fill whole, are cancelled without trading.
        maker_crosses = order.type is OrderType.LIMIT_MAKER and crosses
        kill = order.type is OrderType.FILL_OR_KILL and (
            self._available(book_side, limit) < (order.quantity or 0)
        )
        if maker_crosses or kill:
            order.status = OrderStatus.CANCELED
        else:
            self._sweep(
                book_side,
                order.side,
                order.quantity,
                order.quote_quantity,
                limit,
                when,
                taker=order,
            )
            left = order.quantity - order.executed if order.quantity is not None else 0
            if order.type in (OrderType.LIMIT, OrderType.LIMIT_MAKER) and left > 0:
                assert order.price is not None
                self._rest(order, left)
            elif order.is_open and order.executed == 0:
                order.status = OrderStatus.CANCELED
            elif order.is_open:
                order.status = (
                    OrderStatus.FILLED
                    if order.quantity is None or order.executed >= order.quantity
                    else OrderStatus.PARTIALLY_CANCELED
                )
        order.updated = when
        return self._commit(when)

    def _available(self, side: int, limit: int | None) -> int:
        total = 0
        for price, qty in self.top(side):
            if limit is not None and (price > limit if side == ASK else price < limit):
                break
            total += qty
        return total

    def _rest(self, order: UserOrder, lots: int) -> None:
        side = BID if order.side == BUY else ASK
        assert order.price is not None
        price = order.price
        key = (side, price)
        queue = self._queues.get(key)
        if queue is None:
            existing = self._qty[side].get(price, 0)
            queue = self._queues[key] = [_Entry(None, existing)] if existing else []
        queue.append(_Entry(order, lots))
        order.resting = lots
        self.resting_orders += 1
        self._set(side, price, self._qty[side].get(price, 0) + lots)

    def cancel(self, order: UserOrder, when: int) -> BookUpdate | None:
        """Cancel a resting user order; its status becomes CANCELED or PARTIALLY_CANCELED."""
        self.advance_to(when)
        self.time = max(self.time, when)
        self._pending = _Pending()
        side = BID if order.side == BUY else ASK
        assert order.price is not None
        key = (side, order.price)
        queue = self._queues.get(key, [])
        for i, entry in enumerate(queue):
            if entry.order is order:
                del queue[i]
                self.resting_orders -= 1
                self._set(side, order.price, self._qty[side][order.price] - order.resting)
                break
        if key in self._queues and not any(e.order is not None for e in queue):
            del self._queues[key]
        order.resting = 0
        order.status = OrderStatus.PARTIALLY_CANCELED if order.executed else OrderStatus.CANCELED
        order.updated = when
        return self._commit(when)
