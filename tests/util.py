"""Helpers shared by the tests: the real-time factor, virtual time and an event recorder.

- :data:`FACTOR`: the one factor every real-time wait in the tests is scaled by. Set
  ``MEXC_TEST_TIME_FACTOR`` (default 1) above 1 on a slow machine: timeouts of
  loopback tests stretch instead of failing. Protocol timing is tested on virtual
  clocks and does not use it.
- :class:`SteppedTime`: virtual time shared by a client under test and the simulator
  (in its thread). Both read :meth:`SteppedTime.now`; time moves only when the test
  calls :meth:`SteppedTime.advance` or :meth:`SteppedTime.until`, one step at a
  time, and each step waits until the client's tasks sleep again towards a later
  deadline. Protocol timeouts (pings, pong deadlines, backoff, rotation, listen-key
  expiry) are then exact on any machine; only the waits for loopback I/O are real,
  each bounded by :data:`FACTOR`.
- :class:`EventRecorder`: a plugin that keeps every event the client dispatches.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import anyio

from mexc_core.events import Event, Push
from mexc_core.hookspecs import hookimpl
from mexc_sim.server import RunningSimulator, ScaledClock

FACTOR = float(os.environ.get("MEXC_TEST_TIME_FACTOR", "1"))


class SteppedTime:
    """A :class:`mexc_core.aio.clock.Clock` that moves only when told."""

    def __init__(self) -> None:
        self.value = 0.0
        self.deadlines: list[float] = []
        self._changed: anyio.Event | None = None

    def now(self) -> float:
        return self.value

    def sim_clock(self) -> ScaledClock:
        """The simulator's clock, on this time."""
        return ScaledClock(1.0, source=self.now)

    async def sleep_until(self, deadline: float) -> None:
        self.deadlines.append(deadline)
        try:
            while self.value < deadline:
                if self._changed is None:
                    self._changed = anyio.Event()
                await self._changed.wait()
        finally:
            self.deadlines.remove(deadline)

    def _set(self, value: float) -> None:
        self.value = value
        changed, self._changed = self._changed, None
        if changed is not None:
            changed.set()

    async def settle(self) -> None:
        """Wait until every sleeper sleeps towards a deadline still in the future,
        and let the loop run a little for bytes in flight on loopback."""
        with anyio.fail_after(10 * FACTOR):
            while not (self.deadlines and min(self.deadlines) > self.value):
                await anyio.sleep(0.0005)
        await anyio.sleep(0.0005)

    async def advance(self, seconds: float, sim: RunningSimulator, *, step: float = 0.05) -> None:
        """Move ``seconds`` forward in steps of ``step``."""
        end = self.value + seconds
        await self.settle()
        while self.value < end:
            self._set(min(end, self.value + step))
            sim.call(lambda: None)  # wake the simulator's pump at the new time
            await self.settle()

    async def until(
        self,
        condition: Callable[[], bool],
        sim: RunningSimulator,
        *,
        within: float,
        step: float = 0.05,
    ) -> float:
        """Advance until ``condition()`` holds; the virtual seconds it took.

        :raises AssertionError: it did not hold within ``within`` virtual seconds.
        """
        start = self.value
        await self.settle()
        while not condition():
            if self.value - start >= within:
                raise AssertionError(f"not within {within} virtual seconds")
            self._set(self.value + step)
            sim.call(lambda: None)
            await self.settle()
        return self.value - start


class EventRecorder:
    """A plugin that records every event it is given (pytest's HookRecorder, in small)."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    @hookimpl
    def mexc_push_received(self, push: Push) -> None:
        self.events.append(push)

    @hookimpl
    def mexc_event_received(self, event: Event) -> None:
        self.events.append(event)

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    def pushes(self, topic: str | None = None) -> list[Push]:
        return [e for e in self.of(Push) if topic is None or e.channel == topic]
