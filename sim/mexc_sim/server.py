"""The simulator on a real socket: a thin anyio adapter around the sans-IO :class:`Simulator`.

One listener on ``host:port`` serves REST (``/api/v3/...``) and the WebSocket
(``/ws``, with ``?listenKey=``), in plain TCP or TLS. The adapter only moves
bytes: a reader task per connection feeds :meth:`SimConnection.receive_data`, a
writer task sends :meth:`SimConnection.data_to_send` and carries out
:attr:`SimConnection.action` (close, reset, go silent), and one pump task runs
:meth:`Simulator.advance` and sleeps until :meth:`Simulator.next_deadline`.

Time comes from a :class:`ScaledClock`: simulator seconds run ``speed`` times as
fast as the source clock, so a test can live through the 30 s idle rule or a
listen key's hour in a fraction of a second.

:func:`serve_in_thread` runs a server in a background thread (an anyio blocking
portal) for synchronous code and tests.
"""

from __future__ import annotations

import contextlib
import math
import socket
import ssl
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import anyio
import anyio.abc
from anyio.abc import SocketAttribute
from anyio.from_thread import BlockingPortal, start_blocking_portal
from anyio.streams.tls import TLSListener

from mexc_sim.exchange import Exchange
from mexc_sim.protocol import SimConfig, SimConnection, Simulator, TransportAction

__all__ = ("RunningSimulator", "ScaledClock", "SimServer", "serve_in_thread")

T = TypeVar("T")

_READ_SIZE: Final = 65536


class ScaledClock:
    """Simulator time: seconds since :meth:`start`, ``speed`` times the source clock.

    :param speed: simulated seconds per source second (``100`` runs a 30 s idle
        rule in 0.3 s).
    :param source: the clock read, in seconds (default ``time.monotonic``).
    """

    def __init__(self, speed: float = 1.0, *, source: Callable[[], float] = time.monotonic) -> None:
        if not (math.isfinite(speed) and speed > 0):
            raise ValueError(f"speed must be a positive number, got {speed!r}")
        self.speed = speed
        self._source = source
        self._origin: float | None = None

    def start(self) -> None:
        """Make this instant simulator time 0 (the first call only)."""
        if self._origin is None:
            self._origin = self._source()

    def now(self) -> float:
        """Simulator seconds since :meth:`start`."""
        self.start()
        assert self._origin is not None
        return (self._source() - self._origin) * self.speed

    def source_delay(self, seconds: float) -> float:
        """Source seconds that ``seconds`` of simulator time take."""
        return seconds / self.speed


class SimServer:
    """Serve a :class:`Simulator` on ``host:port`` (see the module docstring).

    :param sim: the simulator (default: a new one with the default config).
    :param host: the address to listen on; loopback unless you mean otherwise.
    :param port: the port; ``0`` picks a free one (read :attr:`port` after start).
    :param ssl_context: serve TLS (``wss://``, ``https://``) with this context.
    :param clock: the simulator clock (default: real time, speed 1).
    """

    def __init__(
        self,
        sim: Simulator | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        clock: ScaledClock | None = None,
    ) -> None:
        self.sim = sim or Simulator()
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.clock = clock or ScaledClock()
        self._wakeup: anyio.Event | None = None
        self._ready: dict[int, anyio.Event] = {}

    @property
    def exchange(self) -> Exchange:
        """The simulated exchange."""
        return self.sim.exchange

    @property
    def ws_url(self) -> str:
        """The WebSocket URL (``ws://`` or ``wss://``)."""
        scheme = "wss" if self.ssl_context else "ws"
        return f"{scheme}://{self.host}:{self.port}/ws"

    @property
    def rest_url(self) -> str:
        """The REST base URL (``http://`` or ``https://``)."""
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://{self.host}:{self.port}"

    def now(self) -> float:
        """The simulator's current time."""
        return self.clock.now()

    def wake(self) -> None:
        """Make the pump re-read the deadlines (after changing the simulator)."""
        if self._wakeup is not None:
            self._wakeup.set()

    async def serve(
        self, *, task_status: anyio.abc.TaskStatus[SimServer] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Listen and serve until cancelled; reports itself to ``task_status`` once listening."""
        self.clock.start()
        listener: anyio.abc.Listener[Any] = await anyio.create_tcp_listener(
            local_host=self.host, local_port=self.port, reuse_port=False
        )
        self.port = listener.extra(SocketAttribute.local_port)  # noqa: S610 - anyio, not Django
        if self.ssl_context is not None:
            listener = TLSListener(listener, self.ssl_context, standard_compatible=False)
        async with listener, anyio.create_task_group() as tg:
            tg.start_soon(self._pump)
            tg.start_soon(listener.serve, self._handle, tg)
            task_status.started(self)

    async def _pump(self) -> None:
        self._wakeup = anyio.Event()
        while True:
            now = self.clock.now()
            for conn in self.sim.advance(now):
                self._signal(conn)
            deadline = self.sim.next_deadline()
            wait = (
                math.inf if deadline is None else max(0.0, self.clock.source_delay(deadline - now))
            )
            with anyio.move_on_after(wait):
                await self._wakeup.wait()
            if self._wakeup.is_set():
                self._wakeup = anyio.Event()

    def _signal(self, conn: SimConnection) -> None:
        event = self._ready.get(conn.cid)
        if event is not None:
            event.set()

    async def _handle(self, stream: anyio.abc.ByteStream) -> None:
        peer = "127.0.0.1"
        with contextlib.suppress(Exception):
            peer = str(stream.extra(SocketAttribute.remote_address)[0])  # noqa: S610 - anyio, not Django
        conn = self.sim.connect(self.clock.now(), peer)
        self._ready[conn.cid] = anyio.Event()
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._writer, conn, stream, tg.cancel_scope)
                await self._reader(conn, stream)
                tg.cancel_scope.cancel()  # a black hole's peer left: nothing more to do
        finally:
            self._ready.pop(conn.cid, None)
            self.sim.disconnect(conn)
            self.wake()
            with contextlib.suppress(Exception):
                await anyio.aclose_forcefully(stream)

    async def _reader(self, conn: SimConnection, stream: anyio.abc.ByteStream) -> None:
        while True:
            try:
                data = await stream.receive(_READ_SIZE)
            except (
                anyio.EndOfStream,
                anyio.BrokenResourceError,
                anyio.ClosedResourceError,
                OSError,
                ssl.SSLError,
            ):
                data = b""
            if conn.action is TransportAction.BLACKHOLE:
                if not data:
                    return
                continue  # read and drop: a peer that hears nothing
            conn.receive_data(data, self.clock.now())
            self._signal(conn)
            self.wake()
            if not data:
                # Let the writer send what is left before the task group ends.
                await anyio.sleep_forever()

    async def _writer(
        self, conn: SimConnection, stream: anyio.abc.ByteStream, scope: anyio.CancelScope
    ) -> None:
        ready = self._ready[conn.cid]
        while True:
            await ready.wait()
            ready = self._ready[conn.cid] = anyio.Event()
            data = conn.data_to_send()
            action = conn.action
            if action is TransportAction.ABORT:
                await _reset(stream)
                scope.cancel()
                return
            if data:
                try:
                    await stream.send(data)
                except (
                    anyio.BrokenResourceError,
                    anyio.ClosedResourceError,
                    OSError,
                    ssl.SSLError,
                ):
                    scope.cancel()
                    return
            if action is TransportAction.CLOSE:
                with contextlib.suppress(Exception):
                    await stream.aclose()
                scope.cancel()
                return
            if action is TransportAction.BLACKHOLE:
                await anyio.sleep_forever()


async def _reset(stream: anyio.abc.ByteStream) -> None:
    """Close with an RST (SO_LINGER 0), not a FIN."""
    with contextlib.suppress(Exception):
        sock: socket.socket = stream.extra(SocketAttribute.raw_socket)  # noqa: S610 - anyio, not Django
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    await anyio.aclose_forcefully(stream)


@dataclass
class RunningSimulator:
    """A simulator served from a background thread (see :func:`serve_in_thread`).

    Touch the simulator only through :meth:`call`, which runs a function in the
    server's thread, between two steps of the event loop.
    """

    server: SimServer
    portal: BlockingPortal

    @property
    def host(self) -> str:
        """The address served."""
        return self.server.host

    @property
    def port(self) -> int:
        """The port served."""
        return self.server.port

    @property
    def ws_url(self) -> str:
        """The WebSocket URL."""
        return self.server.ws_url

    @property
    def rest_url(self) -> str:
        """The REST base URL."""
        return self.server.rest_url

    @property
    def api_key(self) -> str:
        """The default account's API key."""
        return self.server.sim.config.exchange.api_key

    @property
    def api_secret(self) -> str:
        """The default account's API secret."""
        return self.server.sim.config.exchange.api_secret

    def call(self, func: Callable[..., T], *args: object, **kwargs: object) -> T:
        """Run ``func(*args, **kwargs)`` in the server's thread and return its result."""

        def run() -> T:
            try:
                return func(*args, **kwargs)
            finally:
                self.server.wake()

        return self.portal.call(run)

    def now(self) -> float:
        """The simulator's current time."""
        return self.server.clock.now()


@contextlib.contextmanager
def serve_in_thread(
    config: SimConfig | None = None,
    *,
    sim: Simulator | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    ssl_context: ssl.SSLContext | None = None,
    speed: float = 1.0,
    clock: ScaledClock | None = None,
    backend: str = "asyncio",
) -> Iterator[RunningSimulator]:
    """Serve a simulator from a background thread for the duration of a ``with`` block.

    :param config: the simulator's configuration (ignored if ``sim`` is given).
    :param speed: simulator seconds per real second.
    :param clock: the simulator clock, instead of ``ScaledClock(speed)``; a clock
        with a ``source`` the test controls stops time between the test's steps.
    """
    server = SimServer(
        sim or Simulator(config),
        host=host,
        port=port,
        ssl_context=ssl_context,
        clock=clock or ScaledClock(speed),
    )
    with start_blocking_portal(backend) as portal:
        future, _ = portal.start_task(server.serve, name="mexc-sim")
        try:
            yield RunningSimulator(server, portal)
        finally:
            future.cancel()
            with contextlib.suppress(BaseException):
                future.result(timeout=10)
