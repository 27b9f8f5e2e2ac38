"""Bounded in-memory streams with an overflow policy, for anyio.

A :class:`BoundedStream` is one :class:`~mexc_core.client.backpressure.BoundedBuffer` (the
policy logic, sans-IO) plus waiting: :meth:`~BoundedStream.send_nowait` never
blocks, :meth:`~BoundedStream.receive` waits for an item, and
:meth:`~BoundedStream.wait_room` lets the feeding stage wait while a ``BLOCK``
stream is full. One consumer per stream.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from types import TracebackType
from typing import Generic, TypeVar

import anyio

from mexc_core.client.backpressure import BoundedBuffer, OverflowPolicy

__all__ = ("BoundedStream",)

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
