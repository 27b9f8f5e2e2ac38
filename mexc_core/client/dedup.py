"""Deduplication of pushes, without I/O: by trade id, by version, or by identity.

Theory of operation
===================

The same push can reach the client twice: while a connection is replaced before
MEXC's 24 h cut-off (make-before-break, both connections hold the topic for a
moment), while a topic moves between connections, or when the exchange repeats
a frame. A :class:`Deduplicator` remembers, per topic, what it let through and
lets only new data pass (:meth:`Deduplicator.admit`); it never drops anything
that is not a true duplicate:

- **Trades** (``aggre.deals`` and the private ``deals``) carry a ``tradeId`` per
  trade: trades whose id was seen recently are removed from the push, and a push
  left with no trade is dropped. Ids are remembered in a window of the last
  ``window`` per topic, so trades arriving out of order across two connections
  are still recognised.
- **Diff depth** (``aggre.depth``) carries the range of book versions each push
  covers (``fromVersion`` to ``toVersion``; MEXC's rule: each push starts at the
  previous ``toVersion`` + 1). The deduplicator keeps the ranges it let through,
  merged; a push whose whole range was let through already is a duplicate and is
  dropped. Any other push passes, and if it breaks the sequence, that is recorded
  as a *break* for the caller to signal (:meth:`Deduplicator.take_breaks`). A
  push is in sequence when it starts right after the newest version let through,
  or right after the push let through last; otherwise it is ``OUT_OF_ORDER`` if it
  is older than the newest (two pushes swapped on the wire), else a
  ``VERSION_GAP`` (pushes in between never arrived). So one push far ahead of the
  stream (a forged or corrupt version) is one break, and the stream after it is
  read in sequence again, not as a break on every push. After a known interruption
  (:meth:`Deduplicator.interrupt`: the topic was down and the caller signals that
  gap itself) the next push starts a new run without a break.
- **Snapshots with a version** (``limit.depth``, ``aggre.bookTicker``, the
  book-ticker batch and the legacy increase depth: ``version``): each push
  replaces the last, so one whose version is not above the last one let through
  is stale or repeated, and is dropped.
- **Everything else** (klines, mini tickers, private orders and account, unknown
  bodies): a push equal to one of the last ``identity_window`` pushes of the topic
  is dropped.

An empty id or a version that is not a decimal number is not comparable: such a
push is let through as it is. :meth:`Deduplicator.forget` drops what is known
about a topic (after unsubscribing it).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Final, final

from mexc_core._generated.records import (
    PrivateDealsV3Api,
    PublicAggreBookTickerV3Api,
    PublicAggreDealsV3Api,
    PublicAggreDepthsV3Api,
    PublicBookTickerBatchV3Api,
    PublicIncreaseDepthsV3Api,
    PublicLimitDepthsV3Api,
)
from mexc_core.errors import InvalidConfig
from mexc_core.events import GapCause, Push

__all__ = ("DedupStats", "Deduplicator")

#: Version ranges of diff depth kept per topic (older ones are forgotten).
MAX_RANGES: Final = 32

#: Snapshot bodies whose version field orders the stream, and that field.
_VERSIONED: Final[dict[type, str]] = {
    PublicLimitDepthsV3Api: "version",
    PublicAggreBookTickerV3Api: "version",
    PublicBookTickerBatchV3Api: "version",
    PublicIncreaseDepthsV3Api: "version",
}


@final
@dataclass(slots=True)
class DedupStats:
    """Counters of a :class:`Deduplicator` (read them, do not write)."""

    #: Pushes let through, whole or trimmed.
    admitted: int = 0
    #: Pushes dropped whole as duplicates.
    dropped: int = 0
    #: Trades removed from pushes that were otherwise let through.
    trades_trimmed: int = 0
    #: Diff-depth pushes let through out of order (each also a break).
    out_of_order: int = 0
    #: Diff-depth pushes let through after a hole in the versions (each also a break).
    version_gaps: int = 0


class _Window:
    """The last ``size`` keys seen, as a set with a bounded memory."""

    __slots__ = ("_order", "_seen", "_size")

    def __init__(self, size: int) -> None:
        self._size = size
        self._seen: set[object] = set()
        self._order: deque[object] = deque()

    def has(self, key: object) -> bool:
        """Whether ``key`` is remembered."""
        return key in self._seen

    def add(self, key: object) -> bool:
        """Remember ``key``; ``False`` if it was already remembered."""
        if key in self._seen:
            return False
        self._seen.add(key)
        self._order.append(key)
        if len(self._order) > self._size:
            self._seen.discard(self._order.popleft())
        return True


class _Ranges:
    """The version ranges of one diff-depth topic let through, merged and sorted."""

    __slots__ = ("fresh", "last", "spans")

    def __init__(self) -> None:
        # [low, high] pairs, ascending and disjoint; adjacent ones are merged
        self.spans: list[list[int]] = []
        # the next push starts a new run: no break is recorded for where it starts
        self.fresh = True
        # the toVersion of the push let through last
        self.last = -1

    def covers(self, low: int, high: int) -> bool:
        """Whether every version in ``low..high`` was let through."""
        for span in reversed(self.spans):
            if span[0] <= low:
                return high <= span[1]
        return False

    def add(self, low: int, high: int) -> None:
        spans = self.spans
        if spans and spans[-1][1] + 1 == low:  # the usual case: the next push in order
            spans[-1][1] = max(high, spans[-1][1])
            return
        spans.append([low, high])
        spans.sort()
        merged = [spans[0]]
        for span in spans[1:]:
            if span[0] <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], span[1])
            else:
                merged.append(span)
        del merged[: max(0, len(merged) - MAX_RANGES)]
        self.spans = merged


class Deduplicator:
    """Drops pushes (and trades) already seen, per topic (see the module docstring).

    :param window: trade ids remembered per topic.
    :param identity_window: whole pushes remembered per topic, for channels with
        neither trade ids nor versions.
    :raises InvalidConfig: a window is not a positive int.
    """

    def __init__(self, *, window: int = 4096, identity_window: int = 32) -> None:
        for name, value in (("window", window), ("identity_window", identity_window)):
            if type(value) is not int or value < 1:
                raise InvalidConfig(f"{name} must be an int >= 1, got {value!r}", setting=name)
        self.window: Final = window
        self.identity_window: Final = identity_window
        self.stats: Final = DedupStats()
        self._windows: dict[str, _Window] = {}
        self._versions: dict[str, int] = {}
        self._ranges: dict[str, _Ranges] = {}
        self._breaks: list[tuple[str, GapCause]] = []

    def __repr__(self) -> str:
        topics = len(self._windows) + len(self._versions) + len(self._ranges)
        return f"<Deduplicator topics={topics} {self.stats}>"

    def forget(self, topic: str) -> None:
        """Forget everything about ``topic`` (a later push of it is new)."""
        self._windows.pop(topic, None)
        self._versions.pop(topic, None)
        self._ranges.pop(topic, None)

    def interrupt(self, topic: str) -> None:
        """The stream of ``topic`` was interrupted, and the caller signals that gap.

        The next diff-depth push of ``topic`` starts a new run: where it starts is
        no break. What was let through is still remembered (duplicates stay
        duplicates).
        """
        ranges = self._ranges.get(topic)
        if ranges is not None:
            ranges.fresh = True

    def remember_trade(self, topic: str, trade_id: str) -> None:
        """A trade of ``topic`` reached the consumer another way (recovered over
        REST): a push carrying it later is a duplicate, and is dropped."""
        if trade_id:
            self._window(topic, self.window).add(trade_id)

    @property
    def breaks(self) -> bool:
        """Whether breaks wait to be taken (a cheap check after each push)."""
        return bool(self._breaks)

    def take_breaks(self) -> list[tuple[str, GapCause]]:
        """The breaks recorded since the last call: ``(topic, cause)``, in order.

        Each belongs to the push :meth:`admit` let through when it was recorded:
        signal it before passing that push on.
        """
        out, self._breaks = self._breaks, []
        return out

    def seen(self, push: Push) -> bool:
        """Whether :meth:`admit` would drop ``push`` whole, without remembering it."""
        body = push.body
        kind = type(body)
        topic = push.channel
        if kind is PublicAggreDealsV3Api:
            assert isinstance(body, PublicAggreDealsV3Api)
            window = self._windows.get(topic)
            ids = [d.trade_id for d in body.deals if d.trade_id]
            return window is not None and bool(ids) and all(window.has(i) for i in ids)
        if kind is PrivateDealsV3Api:
            assert isinstance(body, PrivateDealsV3Api)
            window = self._windows.get(topic)
            return window is not None and window.has(body.trade_id)
        if kind is PublicAggreDepthsV3Api:
            assert isinstance(body, PublicAggreDepthsV3Api)
            ranges = self._ranges.get(topic)
            span = _span(body)
            return ranges is not None and span is not None and ranges.covers(*span)
        if kind in _VERSIONED:
            text = str(getattr(body, _VERSIONED[kind]))
            last = self._versions.get(topic)
            return last is not None and text.isdecimal() and int(text) <= last
        window = self._windows.get(topic)
        return window is not None and window.has(push)

    def admit(self, push: Push) -> Push | None:
        """``push`` if it is new, a copy with only its new trades, or ``None``."""
        body = push.body
        kind = type(body)
        topic = push.channel
        if kind is PublicAggreDealsV3Api:
            assert isinstance(body, PublicAggreDealsV3Api)
            seen = self._window(topic, self.window)
            fresh = tuple(d for d in body.deals if not d.trade_id or seen.add(d.trade_id))
            if len(fresh) != len(body.deals):
                if not fresh:
                    return self._drop()
                self.stats.trades_trimmed += len(body.deals) - len(fresh)
                push = push._replace(body=body._replace(deals=fresh))
        elif kind is PrivateDealsV3Api:
            assert isinstance(body, PrivateDealsV3Api)
            if body.trade_id and not self._window(topic, self.window).add(body.trade_id):
                return self._drop()
        elif kind is PublicAggreDepthsV3Api:
            assert isinstance(body, PublicAggreDepthsV3Api)
            span = _span(body)
            if span is not None and not self._admit_span(topic, *span):
                return self._drop()
        elif kind in _VERSIONED:
            text = str(getattr(body, _VERSIONED[kind]))
            if text.isdecimal():
                version = int(text)
                last = self._versions.get(topic)
                if last is not None and version <= last:
                    return self._drop()
                self._versions[topic] = version
        elif not self._window(topic, self.identity_window).add(push):
            return self._drop()
        self.stats.admitted += 1
        return push

    def _admit_span(self, topic: str, low: int, high: int) -> bool:
        """Let the versions ``low..high`` through unless all were; record a break."""
        ranges = self._ranges.get(topic)
        if ranges is None:
            ranges = self._ranges[topic] = _Ranges()
        elif ranges.covers(low, high):
            return False
        spans = ranges.spans
        if spans and not ranges.fresh:
            top = spans[-1][1]
            # in sequence: after the newest version let through, or after the push
            # let through last (one push far ahead, forged or corrupt, is one break,
            # not a break on every push after it)
            if low not in (top + 1, ranges.last + 1):
                if high <= top:
                    self.stats.out_of_order += 1
                    self._breaks.append((topic, GapCause.OUT_OF_ORDER))
                else:
                    self.stats.version_gaps += 1
                    self._breaks.append((topic, GapCause.VERSION_GAP))
        ranges.fresh = False
        ranges.last = high
        ranges.add(low, high)
        return True

    def _window(self, topic: str, size: int) -> _Window:
        window = self._windows.get(topic)
        if window is None:
            window = self._windows[topic] = _Window(size)
        return window

    def _drop(self) -> Push | None:
        self.stats.dropped += 1
        return None


def _span(body: PublicAggreDepthsV3Api) -> tuple[int, int] | None:
    """The versions a diff-depth push covers, or ``None`` when they are not comparable."""
    low, high = body.from_version, body.to_version
    if not (low.isdecimal() and high.isdecimal()):
        return None
    first, last = int(low), int(high)
    return (first, last) if first <= last else None
