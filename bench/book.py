"""Order book throughput: the exact book against a float book and a Decimal book.

A seeded BTCUSDT-like stream: a starting book of ``levels`` levels per side around
93000.00 (tick 0.01, quantities with 8 decimals), then ``diffs`` diffs of about
ten level updates each, a third of them deletions, most within a few ticks of the
touch (an exponential distance), some deeper; the mid drifts slowly and the book
never crosses. Each diff is a :class:`~mexc_core.messages.PublicAggreDepthsV3Api`
of :class:`~mexc_core.messages.PublicAggreDepthV3ApiItem`, what the decoder gives.

Per diff, each implementation applies the levels and reads the best bid and ask:

- ``mexc_core``: :class:`mexc_core.book.levels.OrderBook` (exact integer keys);
- ``float_bisect``, the reference every ratio is taken against: a dict and a
  sorted list of ``float`` prices per side kept with :mod:`bisect`, quantities as
  ``float``, zero deletes; the best level at the end of each list (asks under
  negated prices), the same structure as ``mexc_core``, so the ratio measures
  exact keys against float keys and nothing else;
- ``sortedcontainers_decimal``: a ``SortedDict`` per side keyed by ``Decimal``.

Before timing, the three books after the whole stream are compared level by level
(as ``Decimal``); a mismatch aborts with :class:`BenchError`. Timing: the best of
``repeat`` passes of :func:`time.perf_counter` over the whole stream, the garbage
collector collected before and disabled during each pass. Speed is reported,
never asserted.
"""

from __future__ import annotations

import gc
import json
import random
import time
from bisect import bisect_left, insort
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final, Protocol

from sortedcontainers import SortedDict

from mexc_core.book.levels import OrderBook, Side
from mexc_core.messages import PublicAggreDepthsV3Api, PublicAggreDepthV3ApiItem

__all__ = ("BenchError", "BookReport", "Stream", "build", "implementations", "run")

REFERENCE: Final = "float_bisect"
_MID_TICKS: Final = 9_300_000  # 93000.00 in ticks of 0.01
_UPDATES_PER_DIFF: Final = 10


class BenchError(RuntimeError):
    """The books disagree after the stream."""


Levels = tuple[tuple[str, str], ...]
#: A book's levels for the check: bids and asks, best first, as Decimal.
Exact = tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]


@dataclass(frozen=True, slots=True)
class Stream:
    """The starting book and the diffs."""

    bids: Levels
    asks: Levels
    diffs: tuple[PublicAggreDepthsV3Api, ...]


def _price(ticks: int) -> str:
    return f"{ticks // 100}.{ticks % 100:02d}"


def _quantity(rng: random.Random) -> str:
    return f"{rng.uniform(0.0001, 5.0):.8f}"


def build(*, diffs: int, levels: int, seed: int) -> Stream:
    """The seeded stream (see the module docstring)."""
    rng = random.Random(seed)
    mid = _MID_TICKS
    bids = tuple((_price(mid - i), _quantity(rng)) for i in range(1, levels + 1))
    asks = tuple((_price(mid + i), _quantity(rng)) for i in range(1, levels + 1))
    out = []
    for _ in range(diffs):
        mid += rng.choice((-1, 0, 0, 0, 1))  # a slow drift
        sides: tuple[list[PublicAggreDepthV3ApiItem], list[PublicAggreDepthV3ApiItem]] = ([], [])
        for _ in range(rng.randint(_UPDATES_PER_DIFF - 3, _UPDATES_PER_DIFF + 3)):
            is_bid = rng.random() < 0.5
            near = rng.random() < 0.9
            distance = int(rng.expovariate(1 / 8)) if near else rng.randint(20, levels)
            ticks = mid - 1 - distance if is_bid else mid + 1 + distance
            quantity = "0" if rng.random() < 1 / 3 else _quantity(rng)
            item = PublicAggreDepthV3ApiItem(price=_price(ticks), quantity=quantity)
            sides[0 if is_bid else 1].append(item)
        out.append(PublicAggreDepthsV3Api(bids=tuple(sides[0]), asks=tuple(sides[1])))
    return Stream(bids, asks, tuple(out))


# ---------------------------------------------------------------- implementations


class Book(Protocol):
    """What the benchmark does with a book."""

    def apply(self, body: PublicAggreDepthsV3Api) -> None:
        """Set the diff's levels and read the best bid and ask."""

    def levels(self) -> Exact:
        """Every level, best first, as ``Decimal`` (for the check)."""


class Ours:
    """mexc-core's book."""

    def __init__(self, stream: Stream) -> None:
        self.book = OrderBook("BTCUSDT")
        self.book.load(stream.bids, stream.asks, 0)

    def apply(self, body: PublicAggreDepthsV3Api) -> None:
        book = self.book
        book.update(body.bids, body.asks)
        self.best = (book.best_bid(), book.best_ask())

    def levels(self) -> Exact:
        bids, asks = (
            [(Decimal(p), Decimal(q)) for p, q in self.book.levels(side)]
            for side in (Side.BID, Side.ASK)
        )
        return bids, asks


class FloatBisect:
    """The reference: float keys in a sorted list per side, the best at the end."""

    def __init__(self, stream: Stream) -> None:
        self.bids: dict[float, float] = {}
        self.bid_keys: list[float] = []
        self.asks: dict[float, float] = {}  # under negated prices
        self.ask_keys: list[float] = []
        _float_side(stream.bids, self.bids, self.bid_keys, 1.0)
        _float_side(stream.asks, self.asks, self.ask_keys, -1.0)

    def apply(self, body: PublicAggreDepthsV3Api) -> None:
        _float_side(body.bids, self.bids, self.bid_keys, 1.0)
        _float_side(body.asks, self.asks, self.ask_keys, -1.0)
        best_bid = self.bid_keys[-1]
        best_ask = self.ask_keys[-1]
        self.best = ((best_bid, self.bids[best_bid]), (-best_ask, self.asks[best_ask]))

    def levels(self) -> Exact:
        def side(
            book: dict[float, float], keys: list[float], sign: float
        ) -> list[tuple[Decimal, Decimal]]:
            return [(Decimal(repr(k * sign)), Decimal(repr(book[k]))) for k in reversed(keys)]

        return side(self.bids, self.bid_keys, 1.0), side(self.asks, self.ask_keys, -1.0)


def _float_side(
    items: Sequence[tuple[str, str]], book: dict[float, float], keys: list[float], sign: float
) -> None:
    for price, quantity in items:
        key = sign * float(price)
        amount = float(quantity)
        if amount == 0.0:
            if book.pop(key, None) is not None:
                del keys[bisect_left(keys, key)]
        else:
            if key not in book:
                insort(keys, key)
            book[key] = amount


class SortedDecimal:
    """sortedcontainers' SortedDict keyed by Decimal, per side."""

    def __init__(self, stream: Stream) -> None:
        self.bids: SortedDict[Decimal, Decimal] = SortedDict()
        self.asks: SortedDict[Decimal, Decimal] = SortedDict()
        _decimal_side(stream.bids, self.bids)
        _decimal_side(stream.asks, self.asks)

    def apply(self, body: PublicAggreDepthsV3Api) -> None:
        _decimal_side(body.bids, self.bids)
        _decimal_side(body.asks, self.asks)
        self.best = (self.bids.peekitem(-1), self.asks.peekitem(0))

    def levels(self) -> Exact:
        return list(reversed(self.bids.items())), list(self.asks.items())


def _decimal_side(items: Sequence[tuple[str, str]], book: SortedDict[Decimal, Decimal]) -> None:
    for price, quantity in items:
        amount = Decimal(quantity)
        if amount:
            book[Decimal(price)] = amount
        else:
            book.pop(Decimal(price), None)


def implementations() -> dict[str, Callable[[Stream], Book]]:
    """The books compared, by name (the reference included)."""
    return {"mexc_core": Ours, REFERENCE: FloatBisect, "sortedcontainers_decimal": SortedDecimal}


# ---------------------------------------------------------------- measuring


@dataclass(frozen=True, slots=True)
class BookReport:
    """Microseconds per diff of each implementation, and their ratio to the reference."""

    diffs: int
    levels: int
    us_per_diff: dict[str, float]

    def ratio(self, name: str) -> float:
        """``name``'s time over the reference's."""
        return self.us_per_diff[name] / self.us_per_diff[REFERENCE]


def check(stream: Stream, makers: dict[str, Callable[[Stream], Book]]) -> None:
    """Apply the whole stream to every book and compare them.

    :raises BenchError: two books differ.
    """
    results = {}
    for name, make in makers.items():
        book = make(stream)
        for body in stream.diffs:
            book.apply(body)
        results[name] = book.levels()
    expected = results[REFERENCE]
    for name, got in results.items():
        for side, mine, theirs in zip(("bids", "asks"), got, expected, strict=True):
            if mine != theirs:
                raise BenchError(f"{name} and {REFERENCE} hold different {side} after the stream")


def measure(stream: Stream, makers: dict[str, Callable[[Stream], Book]], repeat: int) -> BookReport:
    """Best-of-``repeat`` timings, passes of the implementations alternating."""
    best = dict.fromkeys(makers, float("inf"))
    for _ in range(repeat):
        for name, make in makers.items():
            book = make(stream)
            apply = book.apply
            gc.collect()
            gc.disable()
            try:
                start = time.perf_counter()
                for body in stream.diffs:
                    apply(body)
                elapsed = time.perf_counter() - start
            finally:
                gc.enable()
            best[name] = min(best[name], elapsed)
    per_diff = {name: seconds / len(stream.diffs) * 1e6 for name, seconds in best.items()}
    return BookReport(len(stream.diffs), len(stream.bids), per_diff)


def format_table(report: BookReport) -> str:
    """The human-readable lines."""
    lines = [f"book: {report.diffs} diffs, {report.levels} levels per side to start"]
    for name, us in report.us_per_diff.items():
        lines.append(f"  {name:<26} {us:8.2f} us/diff  {report.ratio(name):5.2f}x {REFERENCE}")
    return "\n".join(lines)


def to_json(report: BookReport) -> str:
    """The one-line JSON report."""
    return json.dumps(
        {
            "bench": "book",
            "diffs": report.diffs,
            "levels": report.levels,
            "us_per_diff": {k: round(v, 3) for k, v in report.us_per_diff.items()},
            "ratio_to_float_bisect": {k: round(report.ratio(k), 3) for k in report.us_per_diff},
        }
    )


def run(*, diffs: int, levels: int, repeat: int, seed: int, json_only: bool) -> None:
    """Build the stream, check the books agree, time them and print the report."""
    stream = build(diffs=diffs, levels=levels, seed=seed)
    makers = implementations()
    check(stream, makers)
    report = measure(stream, makers, repeat)
    if not json_only:
        print(format_table(report))
        print()
    print(to_json(report))
