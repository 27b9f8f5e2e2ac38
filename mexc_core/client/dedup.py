"""Deduplication of pushes, without I/O: by trade id, by version, or by identity.

Theory of operation
===================

The same push can reach the client twice: while a connection is replaced before
MEXC's 24 h cut-off (make-before-break, both connections hold the topic for a
moment), while a topic moves between connections, or when the exchange repeats
a frame (``spec/FAULTS.md`` 8 and 10). A :class:`Deduplicator` remembers, per
topic, where the stream stands and lets only new data through
(:meth:`Deduplicator.admit`):

- **Trades** (``aggre.deals`` and the private ``deals``) carry a ``tradeId`` per
  trade: trades whose id was seen recently are removed from the push, and a push
  left with no trade is dropped. Ids are remembered in a window of the last
  ``window`` per topic, so trades arriving out of order across two connections
  are still recognised.
- **Versioned books and tickers** (``aggre.depth``: ``toVersion``; ``limit.depth``,
  ``aggre.bookTicker``, the book-ticker batch and increase depth: ``version``)
  follow MEXC's rule for diff depth: a push whose version is not above the last
  one let through is dropped.
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
from mexc_core.events import Push

__all__ = ("DedupStats", "Deduplicator")

#: Bodies whose version field orders the stream, and that field.
_VERSIONED: Final[dict[type, str]] = {
    PublicAggreDepthsV3Api: "to_version",
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

    def __repr__(self) -> str:
        return f"<Deduplicator topics={len(self._windows) + len(self._versions)} {self.stats}>"

    def forget(self, topic: str) -> None:
        """Forget everything about ``topic`` (a later push of it is new)."""
        self._windows.pop(topic, None)
        self._versions.pop(topic, None)

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

    def _window(self, topic: str, size: int) -> _Window:
        window = self._windows.get(topic)
        if window is None:
            window = self._windows[topic] = _Window(size)
        return window

    def _drop(self) -> Push | None:
        self.stats.dropped += 1
        return None
