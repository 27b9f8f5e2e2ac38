"""Bounded in-memory streams with an overflow policy, for anyio.

A :class:`BoundedStream` is one :class:`~mexc_core.client.backpressure.BoundedBuffer` (the
policy logic, sans-IO) plus waiting: :meth:`~BoundedStream.send_nowait` never
blocks, :meth:`~BoundedStream.receive` waits for an item, and
:meth:`~BoundedStream.wait_room` lets the feeding stage wait while a ``BLOCK``
stream is full. One consumer per stream.

A :class:`GapMarkingStream` (what ``MexcClient.pushes(gaps=True)`` returns) also
tells its consumer, in band, where items are missing: a :class:`StreamGap` comes
just before the first item after the hole, whether the stream's own overflow
policy dropped items or the client reported a gap on one of its topics.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from types import TracebackType
from typing import Final, Generic, TypeVar, final

import anyio

from mexc_core.client.backpressure import BoundedBuffer, OverflowPolicy
from mexc_core.events import GapDetected, Push

__all__ = ("STREAM_OVERFLOW", "BoundedStream", "GapMarkingStream", "StreamGap")

T = TypeVar("T")


class BoundedStream(Generic[T]):
    """A bounded single-consumer stream (see the module docstring).

    :param max_buffer: the bound. :param policy: what a full stream does.
    :param key: the ``CONFLATE`` key. :param name: for logs.
    :param on_close: called once when the stream closes (the client unregisters it).
    """

    def __init__(
        self,
        max_buffer: int = 1000,
        policy: OverflowPolicy | str = OverflowPolicy.BLOCK,
        *,
        key: Callable[[T], Hashable] | None = None,
        name: str = "",
        on_close: Callable[[BoundedStream[T]], None] | None = None,
    ) -> None:
        self.buffer: BoundedBuffer[T] = BoundedBuffer(max_buffer, policy, key=key)
        self.name = name
        self._on_close = on_close
        self._closed = False
        self._readable = anyio.Event()
        self._room = anyio.Event()

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return f"<BoundedStream {self.name!r}{state} {self.buffer!r}>"

    @property
    def policy(self) -> OverflowPolicy:
        """The overflow policy."""
        return self.buffer.policy

    @property
    def dropped(self) -> int:
        """Items dropped by the overflow policy so far."""
        return self.buffer.dropped

    @property
    def conflated(self) -> int:
        """Items replaced by a newer one with the same key so far."""
        return self.buffer.conflated

    @property
    def full(self) -> bool:
        """Whether the stream holds ``max_buffer`` items or more."""
        return self.buffer.full

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def send_nowait(self, item: T) -> None:
        """Queue ``item`` according to the policy; never blocks.

        :raises anyio.ClosedResourceError: the stream is closed.
        """
        if self._closed:
            raise anyio.ClosedResourceError
        self.buffer.offer(item)
        self._readable.set()

    async def receive(self) -> T:
        """The next item, waiting for one.

        :raises anyio.EndOfStream: the stream is closed and empty.
        """
        while not len(self.buffer):
            if self._closed:
                raise anyio.EndOfStream
            self._readable = anyio.Event()
            await self._readable.wait()
        item = self.buffer.take()
        if not self.buffer.full:
            self._room.set()
        return item

    async def wait_room(self) -> None:
        """Return once the stream is not full (or closed)."""
        while self.buffer.full and not self._closed:
            self._room = anyio.Event()
            await self._room.wait()

    def close(self) -> None:
        """No more items; the consumer ends after the queued ones. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._readable.set()
        self._room.set()
        if self._on_close is not None:
            self._on_close(self)

    def __aiter__(self) -> BoundedStream[T]:
        return self

    async def __anext__(self) -> T:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def __aenter__(self) -> BoundedStream[T]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# ---------------------------------------------------------------- in-band gap markers

#: :attr:`StreamGap.cause` when the stream's own overflow policy dropped items.
STREAM_OVERFLOW: Final = "stream_overflow"


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class StreamGap:
    """In-band marker: pushes are missing just before the next item of the stream.

    Match on it beside :class:`~mexc_core.events.Push`::

        match item:
            case StreamGap(topics=topics):
                ...  # resynchronise what depends on continuity
            case Push():
                ...

    :ivar cause: :data:`STREAM_OVERFLOW` when the stream's overflow policy
        dropped items (its consumer was too slow), else the value of the client's
        :class:`~mexc_core.events.GapCause` (``"disconnected"``, ``"overflow"``
        for the client's inbox, ``"out_of_order"``, ``"version_gap"``).
    :ivar topics: the topics concerned; empty for :data:`STREAM_OVERFLOW` (any
        topic of the stream: drops are counted, not told apart by topic).
    :ivar missed: pushes known to be lost, or ``None`` when unknown (a disconnect).
    :ivar gap: the client's :class:`~mexc_core.events.GapDetected` this marker
        stands for, or ``None`` for the stream's own overflow.
    """

    cause: str
    topics: tuple[str, ...]
    missed: int | None
    gap: GapDetected | None = None

    @classmethod
    def of(cls, gap: GapDetected, topics: tuple[str, ...]) -> StreamGap:
        """The marker of the client's ``gap``, for the stream's ``topics`` among its own."""
        return cls(cause=gap.cause.value, topics=topics, missed=gap.missed, gap=gap)


class GapMarkingStream(BoundedStream[Push | StreamGap]):
    """A :class:`BoundedStream` of pushes that yields a :class:`StreamGap` where its
    overflow policy dropped items (``DROP_OLDEST``, or keys evicted by ``CONFLATE``).

    The dropped items are always the oldest, so the hole is just before the item
    at the head when the drops are noticed: the marker is yielded there, with the
    count. A marker the policy drops itself is counted as a drop like any item,
    so the consumer still sees a gap. Replacements of ``CONFLATE`` are no gap:
    the latest state is kept on purpose.
    """

    def __init__(
        self,
        max_buffer: int = 1000,
        policy: OverflowPolicy | str = OverflowPolicy.BLOCK,
        *,
        key: Callable[[Push | StreamGap], Hashable] | None = None,
        name: str = "",
        on_close: Callable[[BoundedStream[Push | StreamGap]], None] | None = None,
    ) -> None:
        super().__init__(max_buffer, policy, key=key, name=name, on_close=on_close)
        self._reported = 0
        self._held: Push | StreamGap | None = None

    async def receive(self) -> Push | StreamGap:
        """The next item (a marker first, where items were dropped), waiting for one.

        :raises anyio.EndOfStream: the stream is closed and empty.
        """
        held = self._held
        if held is not None:
            self._held = None
            return held
        item = await super().receive()
        dropped = self.buffer.dropped
        if dropped == self._reported:
            return item
        missed, self._reported = dropped - self._reported, dropped
        self._held = item
        return StreamGap(cause=STREAM_OVERFLOW, topics=(), missed=missed)
