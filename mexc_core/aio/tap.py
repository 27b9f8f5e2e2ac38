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
from functools import partial
from typing import Final, TypeVar

from mexc_core._topics import Topic
from mexc_core.channels import topic_names
from mexc_core.client.backoff import FailureKind, RandomSource
from mexc_core.client.core import ClientCore, CoreConfig, CoreIntent
from mexc_core.client.pool import OpenTransport
from mexc_core.rest import Credentials

__all__ = ("Tap", "TappedCore")

T = TypeVar("T")

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

    def _run(
        self, method: str, arguments: Mapping[str, object], now: float, call: Callable[[], T]
    ) -> T:
        """Report the call (unless made from inside another), then make it."""
        self._depth += 1
        try:
            if self._depth == 1:
                self._tap(method, arguments, now)
            return call()
        finally:
            self._depth -= 1

    def start(self, now: float) -> None:
        self._run("start", {}, now, partial(super().start, now))

    def subscribe(self, topics: Iterable[str | Topic], now: float) -> int:
        names = tuple(topic_names(topics))
        return self._run(
            "subscribe", {"topics": names}, now, partial(super().subscribe, names, now)
        )

    def unsubscribe(self, topics: Iterable[str | Topic], now: float) -> tuple[str, ...]:
        names = tuple(topic_names(topics))
        call = partial(super().unsubscribe, names, now)
        return self._run("unsubscribe", {"topics": names}, now, call)

    def watch_book(self, symbol: str, now: float, *, interval: str = "100ms") -> int:
        call = partial(super().watch_book, symbol, now, interval=interval)
        return self._run("watch_book", {"symbol": symbol, "interval": interval}, now, call)

    def unwatch_book(self, symbol: str, now: float) -> None:
        self._run(
            "unwatch_book", {"symbol": symbol}, now, partial(super().unwatch_book, symbol, now)
        )

    def close(self, now: float) -> None:
        self._run("close", {}, now, partial(super().close, now))

    def transport_opened(self, cid: int, now: float) -> None:
        arguments = {"cid": cid, "link": self._links.pop(cid, -1)}
        self._run("transport_opened", arguments, now, partial(super().transport_opened, cid, now))

    def transport_failed(
        self, cid: int, now: float, reason: str, *, kind: FailureKind = FailureKind.TRANSIENT
    ) -> None:
        self._links.pop(cid, None)
        arguments = {"cid": cid, "reason": reason, "kind": kind.value}
        call = partial(super().transport_failed, cid, now, reason, kind=kind)
        self._run("transport_failed", arguments, now, call)

    def receive_data(self, cid: int, data: bytes | bytearray | memoryview, now: float) -> None:
        data = bytes(data)
        call = partial(super().receive_data, cid, data, now)
        self._run("receive_data", {"cid": cid, "data": data}, now, call)

    def rest_failed(self, call_id: int, now: float, reason: str = "transport error") -> None:
        arguments = {"call_id": call_id, "reason": reason}
        self._run("rest_failed", arguments, now, partial(super().rest_failed, call_id, now, reason))

    def handle_timer(self, now: float) -> None:
        self._run("handle_timer", {}, now, partial(super().handle_timer, now))

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
