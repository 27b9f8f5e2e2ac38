"""The client core with every input reported to :func:`~mexc_core.hookspecs.mexc_core_input`.

:class:`MexcClient <mexc_core.aio.client.MexcClient>` drives a
:class:`TappedCore` instead of a plain :class:`~mexc_core.client.core.ClientCore`
only when a plugin implements ``mexc_core_input`` (a recorder): clients without
one pay nothing. Each call of an input method is reported, then run; a call made
from inside another (``watch_book`` subscribes) is not reported again, so that
feeding the reported calls to a new core repeats exactly what this one did.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Final

from mexc_core._topics import Topic
from mexc_core.channels import topic_names
from mexc_core.client.backoff import FailureKind, RandomSource
from mexc_core.client.core import ClientCore, CoreConfig, CoreIntent
from mexc_core.client.pool import OpenTransport
from mexc_core.rest import Credentials

__all__ = ("Tap", "TappedCore")

#: Reports one input: ``(method, arguments, at)``.
Tap = Callable[[str, Mapping[str, object], float], None]


class TappedCore(ClientCore):
    """A :class:`~mexc_core.client.core.ClientCore` that reports its inputs to ``tap``.

    :param tap: called with ``(method, arguments, now)`` before each outermost
        input call, and for the bytes :meth:`data_to_send` hands out.
    :param clock: the time of :meth:`data_to_send` (which takes no ``now``).
    """

    def __init__(
        self,
        config: CoreConfig | None = None,
        *,
        credentials: Credentials | None = None,
        rng: RandomSource,
        tap: Tap,
        clock: Callable[[], float],
    ) -> None:
        super().__init__(config, credentials=credentials, rng=rng)
        self._tap: Final = tap
        self._clock: Final = clock
        self._depth = 0
        self._links: dict[int, int] = {}  # cid -> link, from the OpenTransport intents

    def _report(self, method: str, arguments: Mapping[str, object], now: float) -> None:
        # the caller lowers the depth again in its ``finally``
        self._depth += 1
        if self._depth == 1:
            self._tap(method, arguments, now)

    def start(self, now: float) -> None:
        try:
            self._report("start", {}, now)
            super().start(now)
        finally:
            self._depth -= 1

    def subscribe(self, topics: Iterable[str | Topic], now: float) -> int:
        names = tuple(topic_names(topics))
        try:
            self._report("subscribe", {"topics": names}, now)
            return super().subscribe(names, now)
        finally:
            self._depth -= 1

    def unsubscribe(self, topics: Iterable[str | Topic], now: float) -> tuple[str, ...]:
        names = tuple(topic_names(topics))
        try:
            self._report("unsubscribe", {"topics": names}, now)
            return super().unsubscribe(names, now)
        finally:
            self._depth -= 1

    def watch_book(self, symbol: str, now: float, *, interval: str = "100ms") -> int:
        try:
            self._report("watch_book", {"symbol": symbol, "interval": interval}, now)
            return super().watch_book(symbol, now, interval=interval)
        finally:
            self._depth -= 1

    def unwatch_book(self, symbol: str, now: float) -> None:
        try:
            self._report("unwatch_book", {"symbol": symbol}, now)
            super().unwatch_book(symbol, now)
        finally:
            self._depth -= 1

    def close(self, now: float) -> None:
        try:
            self._report("close", {}, now)
            super().close(now)
        finally:
            self._depth -= 1

    def transport_opened(self, cid: int, now: float) -> None:
        try:
            self._report("transport_opened", {"cid": cid, "link": self._links.pop(cid, -1)}, now)
            super().transport_opened(cid, now)
        finally:
            self._depth -= 1

    def transport_failed(
        self, cid: int, now: float, reason: str, *, kind: FailureKind = FailureKind.TRANSIENT
    ) -> None:
        try:
            self._report(
                "transport_failed", {"cid": cid, "reason": reason, "kind": kind.value}, now
            )
            super().transport_failed(cid, now, reason, kind=kind)
        finally:
            self._depth -= 1

    def receive_data(self, cid: int, data: bytes | bytearray | memoryview, now: float) -> None:
        try:
            self._report("receive_data", {"cid": cid, "data": bytes(data)}, now)
            super().receive_data(cid, data, now)
        finally:
            self._depth -= 1

    def rest_failed(self, call_id: int, now: float, reason: str = "transport error") -> None:
        try:
            self._report("rest_failed", {"call_id": call_id, "reason": reason}, now)
            super().rest_failed(call_id, now, reason)
        finally:
            self._depth -= 1

    def handle_timer(self, now: float) -> None:
        try:
            self._report("handle_timer", {}, now)
            super().handle_timer(now)
        finally:
            self._depth -= 1

    def intents(self) -> list[CoreIntent]:
        out = super().intents()
        for intent in out:
            if isinstance(intent, OpenTransport):
                self._links[intent.cid] = intent.link
        return out

    def data_to_send(self, cid: int) -> bytes:
        data = super().data_to_send(cid)
        if data:
            self._tap("data_to_send", {"cid": cid, "data": data}, self._clock())
        return data
