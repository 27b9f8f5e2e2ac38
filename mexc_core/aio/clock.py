"""Clocks for the adapters: what "now" is and how to sleep until a deadline.

The core only ever sees ``now`` (monotonic seconds). The adapters read it from a
:class:`Clock`: :class:`AnyioClock` (the event loop's clock) in production, and in
tests :class:`ScaledClock`-driven time, so an hour of listen-key life passes in a
second against a simulator running at the same speed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

import anyio

__all__ = ("AnyioClock", "Clock", "ScaledTime", "wall_clock_ms")


class Clock(Protocol):
    """Monotonic time and sleeping, as the adapters need them."""

    def now(self) -> float:
        """Monotonic seconds."""
        ...

    async def sleep_until(self, deadline: float) -> None:
        """Return at (or soon after) ``deadline``."""
        ...


class AnyioClock:
    """The running event loop's clock (``anyio.current_time``)."""

    def now(self) -> float:
        """The event loop's time."""
        return anyio.current_time()

    async def sleep_until(self, deadline: float) -> None:
        """Sleep on the event loop until ``deadline``."""
        await anyio.sleep_until(deadline)


class ScaledTime:
    """Time that runs ``speed`` times as fast as real time, read from ``now``.

    :param now: the scaled clock to read (e.g. a simulator's ``now``).
    :param speed: scaled seconds per real second.
    """

    def __init__(self, now: Callable[[], float], speed: float) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self._now = now
        self.speed = speed

    def now(self) -> float:
        """Scaled seconds."""
        return self._now()

    async def sleep_until(self, deadline: float) -> None:
        """Sleep the real time that remains until the scaled ``deadline``."""
        await anyio.sleep(max(0.0, deadline - self._now()) / self.speed)


def wall_clock_ms() -> int:
    """Milliseconds since the epoch from the system clock (for request timestamps)."""
    return time.time_ns() // 1_000_000
