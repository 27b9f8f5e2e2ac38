"""Run a :class:`~mexc_core.listenkey.ListenKeyManager` on anyio with the h11 client.

The keeper is the manager's thin adapter: it sends the manager's intents with
:class:`~mexc_core.aio.http.HttpClient`, feeds back results and failures, hands
every event to a callback, and sleeps until the manager's next deadline or until
:meth:`ListenKeyKeeper.invalidated` / :meth:`ListenKeyKeeper.close` or an answer
wake it. Every decision (when to renew, retry, recreate) is the manager's.

Each request runs in a task of its own, so a request that hangs (a keepalive
MEXC does not answer, up to the HTTP timeout) never holds back the others: when
the key is lost meanwhile, the manager abandons that keepalive
(:meth:`~mexc_core.listenkey.ListenKeyManager.abandoned`), the keeper cancels it,
and the new key is created at once.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio

from mexc_core.aio.clock import AnyioClock, Clock, wall_clock_ms
from mexc_core.aio.errors import TransportError
from mexc_core.aio.http import HttpClient
from mexc_core.aio.logs import EventLog
from mexc_core.events import Event
from mexc_core.listenkey import ListenKeyIntent, ListenKeyManager, ListenKeyState
from mexc_core.rest import ListenKey, ListenKeys, RestClient, RestError, RestRequest

__all__ = ("ListenKeyKeeper",)


class ListenKeyKeeper:
    """Keeps one listen key alive until closed.

    :param http: the HTTP client (its base URL is MEXC's or the simulator's).
    :param rest: builds and signs the requests (it holds the credentials).
    :param manager: the lifecycle (default: MEXC's timings, no jitter).
    :param clock: monotonic time and sleeping (default: the event loop's).
    :param wall_ms: the wall clock for request timestamps, ms since the epoch.
    :param on_event: called with every event of the manager, in order (each is
        also logged under ``mexc_core.listenkey``, see :doc:`/logging`).
    :param close_timeout: seconds the final ``DELETE`` may take when the keeper is
        cancelled while holding a key.
    """

    def __init__(
        self,
        http: HttpClient,
        rest: RestClient,
        *,
        manager: ListenKeyManager | None = None,
        clock: Clock | None = None,
        wall_ms: Callable[[], int] = wall_clock_ms,
        on_event: Callable[[Event], None] = lambda event: None,
        close_timeout: float = 5.0,
    ) -> None:
        self.http = http
        self.rest = rest
        self.manager = manager or ListenKeyManager()
        self.clock = clock or AnyioClock()
        self.wall_ms = wall_ms
        self.on_event = on_event
        self.close_timeout = close_timeout
        self._sleep_scope: anyio.CancelScope | None = None
        self._invalidated = False
        self._closing = False
        self._answered = False
        self._log = EventLog()
        # request id -> the cancel scope of its task
        self._in_flight: dict[int, anyio.CancelScope] = {}

    @property
    def key(self) -> str | None:
        """The key to connect private streams with, if one is held."""
        return self.manager.key

    def invalidated(self) -> None:
        """A private WebSocket said ``Invalid listen key``."""
        self._invalidated = True
        self._wake()

    def close(self) -> None:
        """Delete the key and make :meth:`run` return."""
        self._closing = True
        self._wake()

    def _wake(self) -> None:
        if self._sleep_scope is not None:
            self._sleep_scope.cancel()

    async def run(self) -> None:
        """Create the key and keep it until :meth:`close`; returns when closed.

        If the task is cancelled (or fails) while a key is held, the key is still
        deleted, best effort and within ``close_timeout``: a process that restarts
        in a loop must not pile up keys towards MEXC's limit of 60.
        """
        manager = self.manager
        manager.start(self.clock.now())
        try:
            await self._loop()
        finally:
            if manager.key is not None:
                with anyio.CancelScope(shield=True), anyio.move_on_after(self.close_timeout):
                    manager.close(self.clock.now())
                    await self._send()
                    for event in manager.events():
                        self._log.event(event)
                        self.on_event(event)

    async def _loop(self) -> None:
        manager = self.manager
        async with anyio.create_task_group() as tg:
            while True:
                self._answered = False
                if self._invalidated:
                    self._invalidated = False
                    manager.key_invalidated(self.clock.now())
                if self._closing:
                    self._closing = False
                    manager.close(self.clock.now())  # idempotent
                for request_id in manager.abandoned():
                    scope = self._in_flight.pop(request_id, None)
                    if scope is not None:
                        scope.cancel()
                for intent in manager.intents():
                    scope = anyio.CancelScope()
                    self._in_flight[intent.request_id] = scope
                    tg.start_soon(self._request, intent, scope)
                for event in manager.events():
                    self._log.event(event)
                    self.on_event(event)
                if manager.state is ListenKeyState.CLOSED:
                    tg.cancel_scope.cancel()  # answers no longer matter
                    return
                if self._invalidated or self._closing or self._answered:
                    continue  # woken meanwhile: handle it before sleeping
                await self._sleep(manager.next_deadline())
                manager.handle_timer(self.clock.now())

    async def _request(self, intent: ListenKeyIntent, scope: anyio.CancelScope) -> None:
        """Send one intent and report its outcome, unless it is abandoned first."""
        with scope:
            await self._exchange(intent)
            self._in_flight.pop(intent.request_id, None)
            self._answered = True
            self._wake()

    async def _send(self) -> None:
        """Send every intent one after the other, including those that answers
        bring (the final ``DELETE`` of :meth:`run`)."""
        while intents := self.manager.intents():
            for intent in intents:
                await self._exchange(intent)

    async def _exchange(self, intent: ListenKeyIntent) -> None:
        """Send ``intent`` and tell the manager how it went."""
        manager = self.manager
        request: RestRequest[ListenKey | ListenKeys] = intent.build(self.rest, self.wall_ms())
        try:
            result = await self.http.request(request)
        except RestError as exc:
            manager.receive_result(intent.request_id, exc, self.clock.now())
        except TransportError as exc:
            manager.request_failed(intent.request_id, self.clock.now(), str(exc))
        else:
            manager.receive_result(intent.request_id, result, self.clock.now())

    async def _sleep(self, deadline: float | None) -> None:
        with anyio.CancelScope() as scope:
            self._sleep_scope = scope
            try:
                if deadline is None:
                    await anyio.sleep_forever()
                else:
                    await self.clock.sleep_until(deadline)
            finally:
                self._sleep_scope = None
