"""Price levels kept exact at float speed, and the queries a trader asks of them.

Theory of operation
===================

MEXC writes prices and quantities as decimal strings (``"93220.00"``,
``"0.04438243"``). A float cannot hold most of them exactly, and ``Decimal``
compares ten times slower than an ``int``. :class:`OrderBook` therefore orders
its levels by an *integer key*: the price scaled by ``10 ** scale``, where
``scale`` is the largest number of decimals seen in the book (``"93220.00"`` is
``9322000`` at scale 2). A price with more decimals than any before rescales the
whole book once; MEXC writes one symbol's prices with a fixed number of decimals,
so in practice this happens on the first level and never again. The strings
themselves are kept as MEXC wrote them and come back unchanged; arithmetic
(spread, mid, cumulative depth, volume-weighted price) is done in ``Decimal``
from those strings, exactly, when it is asked for.

Each side is a ``dict`` from key to level and a sorted ``list`` of keys, with the
best level at the *end* (asks are stored under negated keys): most updates land
near the touch, so inserting and deleting there moves little memory. Parsed keys
are cached per price string (prices near the touch repeat), and a string is
checked against MEXC's number format only when it is first seen.

Quantities are absolute: a level's quantity replaces the old one, a quantity of
zero deletes the level. A price or quantity that is not a plain non-negative
decimal number raises :class:`~mexc_core.errors.InvalidLevel` before anything
changes, so bad data never becomes part of a book.
"""

from __future__ import annotations

import enum
import re
from bisect import bisect_left, insort
from collections.abc import Iterable
from decimal import Decimal
from typing import Final

from mexc_core.errors import InvalidLevel
from mexc_core.events import BookView, Level

__all__ = ("BookView", "Level", "OrderBook", "Side")

#: MEXC's numbers: digits, optionally a point and more digits.
_NUMBER: Final = re.compile(r"[0-9]+(?:\.[0-9]+)?")
#: Parsed price keys kept per book before the cache is emptied and refilled.
_CACHE_LIMIT: Final = 1 << 16
#: ``10 ** n`` for the scales a price can have.
_POW: Final[tuple[int, ...]] = tuple(10**n for n in range(64))


class Side(enum.Enum):
    """A side of the book."""

    #: Buyers' levels: best is the highest price.
    BID = "bid"
    #: Sellers' levels: best is the lowest price.
    ASK = "ask"


def _check(value: str, what: str) -> None:
    if type(value) is not str or _NUMBER.fullmatch(value) is None:
        raise InvalidLevel(f"{what} {value!r} is not a plain decimal number", value=value)


class OrderBook:
    """Exact price levels of one symbol (see the module docstring).

    Not thread-safe; one owner updates it. :meth:`view` gives an immutable copy
    for sharing.

    :param symbol: the symbol, for views and messages.
    """

    __slots__ = (
        "_ask_cache",
        "_ask_keys",
        "_asks",
        "_bid_cache",
        "_bid_keys",
        "_bids",
        "_scale",
        "symbol",
        "version",
    )

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        #: The book's version; ``-1`` until a snapshot is loaded.
        self.version = -1
        self._scale = 0
        self._bid_cache: dict[str, int] = {}  # price -> key
        self._ask_cache: dict[str, int] = {}  # price -> negated key
        self._bids: dict[int, tuple[str, str]] = {}
        self._bid_keys: list[int] = []  # ascending: best bid last
        self._asks: dict[int, tuple[str, str]] = {}  # under negated keys
        self._ask_keys: list[int] = []  # ascending negated prices: best ask last

    def __repr__(self) -> str:
        return (
            f"<OrderBook {self.symbol} v{self.version} bids={len(self._bids)} "
            f"asks={len(self._asks)} best={self.best_bid()}/{self.best_ask()}>"
        )

    def __len__(self) -> int:
        return len(self._bids) + len(self._asks)

    # ------------------------------------------------------------ updates

    def clear(self) -> None:
        """Forget every level (the version goes back to ``-1``)."""
        self.version = -1
        self._bids.clear()
        self._bid_keys.clear()
        self._asks.clear()
        self._ask_keys.clear()

    def load(
        self, bids: Iterable[tuple[str, str]], asks: Iterable[tuple[str, str]], version: int
    ) -> None:
        """Replace the whole book with a snapshot's levels at ``version``.

        :raises InvalidLevel: a price or quantity is not a decimal number (the
            book is then empty).
        """
        self.clear()
        self.update(bids, asks)
        self.version = version

    def update(self, bids: Iterable[tuple[str, str]], asks: Iterable[tuple[str, str]]) -> None:
        """Set the given levels (quantity zero deletes); the version is the caller's.

        :raises InvalidLevel: a price or quantity is not a plain decimal number, or
            a level is not a pair of strings. The book is then cleared (version
            ``-1``): a book that took part of a bad update is not a book.
        """
        try:
            self._side(bids, self._bids, self._bid_keys, self._bid_cache, 1)
            self._side(asks, self._asks, self._ask_keys, self._ask_cache, -1)
        except InvalidLevel:
            self.clear()
            raise
        except (AttributeError, TypeError, ValueError) as exc:  # not pairs of strings
            self.clear()
            raise InvalidLevel(
                f"a level is not a (price, quantity) of strings: {exc}", value=""
            ) from exc

    def _side(
        self,
        levels: Iterable[tuple[str, str]],
        book: dict[int, tuple[str, str]],
        order: list[int],
        cache: dict[str, int],
        sign: int,
    ) -> None:
        # The hot path: one pass, cached keys, str methods instead of a regex.
        for level in levels:
            price, quantity = level
            k = cache.get(price)
            if k is None:
                k = sign * self._key(price)
                cache[price] = k
            if not (quantity.isascii() and quantity.replace(".", "", 1).isdigit()):
                raise InvalidLevel(
                    f"quantity {quantity!r} is not a plain decimal number", value=str(quantity)
                )
            if quantity.strip("0."):
                if k not in book:
                    insort(order, k)
                book[k] = level
            elif book.pop(k, None) is not None:
                del order[bisect_left(order, k)]

    def _key(self, price: str) -> int:
        """The unsigned key of ``price`` at the book's scale (rescaling if needed)."""
        _check(price, "price")
        whole, _, fraction = price.partition(".")
        decimals = len(fraction)
        if decimals > self._scale:
            self._rescale(decimals)
        if len(self._bid_cache) + len(self._ask_cache) >= _CACHE_LIMIT:
            self._bid_cache.clear()
            self._ask_cache.clear()
        return int(whole + fraction) * _POW[self._scale - decimals]

    def _rescale(self, scale: int) -> None:
        # In place: the update loop in progress holds these dicts and lists.
        if scale >= len(_POW):
            raise InvalidLevel(f"a price with {scale} decimals is not one MEXC writes", value="")
        factor = _POW[scale - self._scale]
        self._scale = scale
        self._bid_cache.clear()
        self._ask_cache.clear()
        for book, order in ((self._bids, self._bid_keys), (self._asks, self._ask_keys)):
            rescaled = [(k * factor, level) for k, level in book.items()]
            book.clear()
            book.update(rescaled)
            order[:] = [k * factor for k in order]

    # ------------------------------------------------------------ queries

    def depth(self, side: Side) -> int:
        """How many levels ``side`` holds."""
        return len(self._bids if side is Side.BID else self._asks)

    def best_bid(self) -> Level | None:
        """The highest bid, or ``None``."""
        keys = self._bid_keys
        return Level(*self._bids[keys[-1]]) if keys else None

    def best_ask(self) -> Level | None:
        """The lowest ask, or ``None``."""
        keys = self._ask_keys
        return Level(*self._asks[keys[-1]]) if keys else None

    def best_keys(self) -> tuple[int | None, int | None]:
        """The best bid's and ask's integer keys (comparable with each other)."""
        bids, asks = self._bid_keys, self._ask_keys
        return (bids[-1] if bids else None, -asks[-1] if asks else None)

    def is_crossed(self) -> bool:
        """Whether the best bid is at or above the best ask (a book that cannot be)."""
        bids, asks = self._bid_keys, self._ask_keys
        return bool(bids and asks and bids[-1] >= -asks[-1])

    def levels(self, side: Side, depth: int | None = None) -> tuple[Level, ...]:
        """The best ``depth`` levels of ``side`` (all without ``depth``), best first."""
        book, keys = (
            (self._bids, self._bid_keys) if side is Side.BID else (self._asks, self._ask_keys)
        )
        start = 0 if depth is None else max(len(keys) - depth, 0)
        return tuple(Level(*book[k]) for k in reversed(keys[start:]))

    def bids(self, depth: int | None = None) -> tuple[Level, ...]:
        """The best ``depth`` bids, highest first."""
        return self.levels(Side.BID, depth)

    def asks(self, depth: int | None = None) -> tuple[Level, ...]:
        """The best ``depth`` asks, lowest first."""
        return self.levels(Side.ASK, depth)

    def spread(self) -> Decimal | None:
        """Best ask minus best bid, or ``None`` if a side is empty."""
        bid, ask = self.best_bid(), self.best_ask()
        if bid is None or ask is None:
            return None
        return Decimal(ask.price) - Decimal(bid.price)

    def mid(self) -> Decimal | None:
        """The mean of the best bid and ask, or ``None`` if a side is empty."""
        bid, ask = self.best_bid(), self.best_ask()
        if bid is None or ask is None:
            return None
        return (Decimal(ask.price) + Decimal(bid.price)) / 2

    def depth_to_price(self, side: Side, price: str | Decimal) -> Decimal:
        """The quantity of ``side`` at ``price`` or better (bids at or above, asks at
        or below): what an order at that limit could fill at once."""
        limit = Decimal(price)
        total = Decimal(0)
        for level in self._walk(side):
            level_price = Decimal(level.price)
            if (level_price < limit) if side is Side.BID else (level_price > limit):
                break
            total += Decimal(level.quantity)
        return total

    def price_for_size(self, side: Side, size: str | Decimal) -> Decimal | None:
        """The worst price reached when taking ``size`` from ``side``, or ``None`` if
        the side holds less than ``size``."""
        walked = self._take(side, Decimal(size))
        return None if walked is None else walked[0]

    def vwap(self, side: Side, size: str | Decimal) -> Decimal | None:
        """The volume-weighted average price of taking ``size`` from ``side``
        (buying ``size`` takes asks), or ``None`` if the side holds less."""
        wanted = Decimal(size)
        walked = self._take(side, wanted)
        return None if walked is None else walked[1] / wanted

    def _take(self, side: Side, size: Decimal) -> tuple[Decimal, Decimal] | None:
        if size <= 0:
            raise ValueError(f"size must be positive, not {size}")
        left, cost = size, Decimal(0)
        for level in self._walk(side):
            price, quantity = Decimal(level.price), Decimal(level.quantity)
            taken = min(left, quantity)
            cost += taken * price
            left -= taken
            if not left:
                return price, cost
        return None

    def _walk(self, side: Side) -> Iterable[Level]:
        book, keys = (
            (self._bids, self._bid_keys) if side is Side.BID else (self._asks, self._ask_keys)
        )
        for k in reversed(keys):
            yield Level(*book[k])

    def view(self, depth: int | None = None) -> BookView:
        """An immutable copy of the best ``depth`` levels per side (all without)."""
        return BookView(self.symbol, self.version, self.bids(depth), self.asks(depth))
