"""A TCP fault proxy on loopback: the network misbehaving, on purpose, between client and server.

:class:`FaultProxy` listens on ``127.0.0.1``, opens a connection to the target
(the simulator, or any TCP server of yours) for each client that connects, and
moves the bytes both ways through faults that can be switched while connections
are open (docs/simulator.rst of mexc-core, "The fault proxy"):

=====================  ===============================================================
fault                  effect
=====================  ===============================================================
``latency_up``         hold each chunk from the client this many milliseconds
``latency_down``       the same towards the client (order is kept; delays add up only
                       as far as ``bandwidth`` makes them queue)
``segment``            write in segments of at most this many bytes (``1``: one byte
                       per TCP segment, every frame split across reads)
``bandwidth``          bytes per second, per direction and connection
``data_limit``         bytes per connection (both directions together); once they
                       have passed, ``data_limit_action`` happens
``data_limit_action``  ``"blackhole"``, ``"close"`` (a FIN to both sides) or
                       ``"reset"`` (an RST to both sides)
``blackhole``          forward nothing at all, no FIN either: a half-open connection
                       (for connections made while it is on, too)
=====================  ===============================================================

:meth:`FaultProxy.reset` aborts every open connection with an RST (``SO_LINGER``
0, then close), :meth:`FaultProxy.blackhole_open` silences only the connections
open now, so that the client's reconnection goes through. Counters
(:attr:`FaultProxy.accepted`, :attr:`FaultProxy.open`, bytes each way) let a test
check that nothing leaked.

The proxy is anyio code: run it in your own event loop (:func:`open_proxy`,
asyncio or trio), or from a background thread for synchronous code
(:func:`proxy_in_thread`, whose :class:`RunningProxy` calls into that thread).
``python -m mexc_sim.proxy --target HOST:PORT`` runs one from the command line,
and the pytest plugin of mexc-sim gives the ``mexc_proxy`` fixture (in front of
``mexc_sim``). Time is real time: the proxy never reads the simulator's clock.
"""

from __future__ import annotations

import contextlib
import math
import socket
import struct
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Final, Literal, TypeVar, final

import anyio
import anyio.abc
import anyio.lowlevel
from anyio.abc import SocketAttribute
from anyio.from_thread import BlockingPortal, start_blocking_portal
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

__all__ = (
    "FaultProxy",
    "ProxyFaults",
    "RunningProxy",
    "main",
    "open_proxy",
    "proxy_in_thread",
)

T = TypeVar("T")

_READ_SIZE: Final = 65536
#: Chunks read but not yet written, per direction (the reader waits beyond).
_QUEUE: Final = 256
_ACTIONS: Final = ("blackhole", "close", "reset")
_ERRORS: Final = (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)
#: With ``bandwidth``, the writer sleeps once it is this far ahead of its schedule.
_PACE: Final = 0.005

#: A chunk read, with the time it may be written; ``None``: the end of the stream.
_Chunk = tuple[float, bytes | None]
#: Which way bytes go: from the client to the target, or back.
_Way = Literal["up", "down"]
LimitAction = Literal["blackhole", "close", "reset"]


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ProxyFaults:
    """The faults the proxy applies (see the module docstring); all off by default."""

    latency_up: float = 0.0
    latency_down: float = 0.0
    segment: int | None = None
    bandwidth: float | None = None
    data_limit: int | None = None
    data_limit_action: LimitAction = "blackhole"
    blackhole: bool = False

    def __post_init__(self) -> None:
        for name in ("latency_up", "latency_down"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be milliseconds of 0 or more, not {value!r}")
        if self.segment is not None and self.segment < 1:
            raise ValueError(f"segment must be at least 1 byte, not {self.segment!r}")
        if self.bandwidth is not None and not (
            math.isfinite(self.bandwidth) and self.bandwidth > 0
        ):
            raise ValueError(f"bandwidth must be bytes per second above 0, not {self.bandwidth!r}")
        if self.data_limit is not None and self.data_limit < 0:
            raise ValueError(f"data_limit must be 0 bytes or more, not {self.data_limit!r}")
        if self.data_limit_action not in _ACTIONS:
            raise ValueError(
                f"data_limit_action must be one of {', '.join(_ACTIONS)}, "
                f"not {self.data_limit_action!r}"
            )


class _Link:
    """One proxied connection: the client's stream, the target's, and how it ends."""

    def __init__(self, client: anyio.abc.SocketStream, server: anyio.abc.SocketStream) -> None:
        self.client = client
        self.server = server
        self.scope = anyio.CancelScope()
        self.forwarded = 0
        self.blackholed = False
        self.ending: Literal["close", "reset"] = "close"
        self.eofs = 0
        #: Per direction, when the bytes written so far are due at ``bandwidth``.
        self.due: dict[_Way, float] = {"up": 0.0, "down": 0.0}

    def end(self, how: Literal["close", "reset"]) -> None:
        self.ending = how
        self.scope.cancel()


class FaultProxy:
    """Forward ``host:port`` to ``target_host:target_port`` through faults.

    :param target_host: the server's address.
    :param target_port: the server's port.
    :param host: the address to listen on (loopback).
    :param port: the port; ``0`` picks a free one (read :attr:`port` once serving).
    :param faults: the faults to start with (change them with :meth:`set`).
    """

    def __init__(
        self,
        target_host: str,
        target_port: int,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: ProxyFaults | None = None,
    ) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.host = host
        self.port = port
        self.faults = faults or ProxyFaults()
        #: Connections accepted so far.
        self.accepted = 0
        #: Bytes written towards the target, and towards the clients.
        self.bytes_up = 0
        self.bytes_down = 0
        self._links: set[_Link] = set()

    def __repr__(self) -> str:
        return (
            f"<FaultProxy {self.host}:{self.port} -> {self.target_host}:{self.target_port}"
            f" open={self.open} {self.faults}>"
        )

    @property
    def open(self) -> int:
        """Connections open now (both of their sockets)."""
        return len(self._links)

    def url(self, scheme: str = "ws", path: str = "/ws") -> str:
        """The URL of the proxy, for a client (``ws``, ``wss``, ``http``, ``https``)."""
        return f"{scheme}://{self.host}:{self.port}{path}"

    def set(self, **changes: object) -> ProxyFaults:
        """Change faults by name (``set(latency_down=200)``); they apply from the next chunk.

        :raises ValueError: a value out of range (nothing is changed).
        :raises TypeError: an unknown fault name.
        """
        self.faults = replace(self.faults, **changes)  # type: ignore[arg-type]
        return self.faults

    def clear(self) -> None:
        """Switch every fault off (connections silenced by :meth:`blackhole_open` stay so)."""
        self.faults = ProxyFaults()

    def reset(self) -> int:
        """Abort every open connection with an RST to both sides; how many there were."""
        links = list(self._links)
        for link in links:
            link.end("reset")
        return len(links)

    def close_open(self) -> int:
        """Close every open connection with a FIN to both sides; how many there were."""
        links = list(self._links)
        for link in links:
            link.end("close")
        return len(links)

    def blackhole_open(self) -> int:
        """Silence the connections open now, both ways and without a FIN; how many.

        New connections are forwarded as usual (unless :attr:`ProxyFaults.blackhole`).
        """
        for link in self._links:
            link.blackholed = True
        return len(self._links)

    async def serve(
        self, *, task_status: anyio.abc.TaskStatus[FaultProxy] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Listen and forward until cancelled; reports itself to ``task_status`` once listening."""
        listener = await anyio.create_tcp_listener(local_host=self.host, local_port=self.port)
        self.port = listener.extra(SocketAttribute.local_port)  # noqa: S610 - anyio, not Django
        async with listener, anyio.create_task_group() as tg:
            # Every accepting task runs before the proxy says it is serving (anyio's
            # ``listener.serve`` would start them later, at the scheduler's whim), so a
            # caller that counts tasks from then on sees only those of its connections.
            for each in listener.listeners:
                assert isinstance(each, anyio.abc.SocketListener)  # a TCP listener's parts
                await tg.start(self._accept, each, tg)
            task_status.started(self)

    async def _accept(
        self,
        listener: anyio.abc.SocketListener,
        tg: anyio.abc.TaskGroup,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        task_status.started()
        while True:
            client = await listener.accept()
            tg.start_soon(self._handle, client)

    async def _handle(self, client: anyio.abc.SocketStream) -> None:
        self.accepted += 1
        try:
            server = await anyio.connect_tcp(self.target_host, self.target_port)
        except OSError:
            await _close(client, "reset")  # nobody behind the proxy: refuse as abruptly
            return
        link = _Link(client, server)
        for stream in (client, server):
            with contextlib.suppress(Exception):
                sock = stream.extra(SocketAttribute.raw_socket)  # noqa: S610 - anyio, not Django
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._links.add(link)
        try:
            with link.scope:
                async with anyio.create_task_group() as tg:
                    up_send, up_receive = anyio.create_memory_object_stream[_Chunk](_QUEUE)
                    down_send, down_receive = anyio.create_memory_object_stream[_Chunk](_QUEUE)
                    tg.start_soon(self._read, link, client, up_send, "up")
                    tg.start_soon(self._write, link, server, up_receive, "up")
                    tg.start_soon(self._read, link, server, down_send, "down")
                    tg.start_soon(self._write, link, client, down_receive, "down")
        finally:
            self._links.discard(link)
            with anyio.CancelScope(shield=True):
                await _close(client, link.ending)
                await _close(server, link.ending)

    def _silent(self, link: _Link) -> bool:
        return link.blackholed or self.faults.blackhole

    async def _read(
        self,
        link: _Link,
        source: anyio.abc.SocketStream,
        queue: MemoryObjectSendStream[_Chunk],
        way: _Way,
    ) -> None:
        async with queue:
            while True:
                data: bytes | None
                try:
                    data = await source.receive(_READ_SIZE)
                except anyio.EndOfStream:
                    data = None
                except _ERRORS:
                    link.end("reset")  # the peer reset: so does the proxy, to the other side
                    return
                if data is not None and self._silent(link):
                    continue  # read and drop: the other side hears nothing
                latency = self.faults.latency_up if way == "up" else self.faults.latency_down
                await queue.send((anyio.current_time() + latency / 1000.0, data))
                if data is None:
                    return

    async def _write(
        self,
        link: _Link,
        target: anyio.abc.SocketStream,
        queue: MemoryObjectReceiveStream[_Chunk],
        way: _Way,
    ) -> None:
        async with queue:
            async for due, data in queue:
                wait = due - anyio.current_time()
                if wait > 0:
                    await anyio.sleep(wait)
                if data is None:
                    self._eof(link, way)
                    with contextlib.suppress(*_ERRORS):
                        if not self._silent(link):
                            await target.send_eof()
                    return
                if self._silent(link):
                    continue
                limit = self.faults.data_limit
                room = len(data) if limit is None else max(0, limit - link.forwarded)
                if not await self._send(link, target, data[:room], way):
                    return
                if room < len(data):
                    action = self.faults.data_limit_action
                    if action == "blackhole":
                        link.blackholed = True
                    else:
                        link.end(action)
                        return

    def _eof(self, link: _Link, way: _Way) -> None:
        """One side finished sending: end the link once both have (or once the client has
        left a black hole, which otherwise keeps the client's side open and silent)."""
        link.eofs += 1
        if self._silent(link):
            if way == "up":
                link.end("close")
            return
        if link.eofs == 2:
            link.end("close")

    async def _send(
        self, link: _Link, target: anyio.abc.SocketStream, data: bytes, way: _Way
    ) -> bool:
        """Write ``data`` in segments at the allowed rate; ``False`` if the target failed."""
        while data:
            faults = self.faults
            size = len(data)
            if faults.segment is not None:
                size = min(size, faults.segment)
            if faults.bandwidth is not None:
                size = min(size, max(1, int(faults.bandwidth / 50)))  # 50 writes a second
            piece, data = data[:size], data[size:]
            try:
                await target.send(piece)
            except _ERRORS:
                link.end("reset")
                return False
            link.forwarded += len(piece)
            if way == "up":
                self.bytes_up += len(piece)
            else:
                self.bytes_down += len(piece)
            if faults.bandwidth is not None:
                # Pace against a schedule rather than sleeping after each piece: a sleep
                # of 20 microseconds (one byte at 50 kB/s) lasts far longer on a busy
                # machine, and the line would be as slow as the machine is busy. A
                # writer behind its schedule (a sleep overshot) may catch up by _PACE.
                now = anyio.current_time()
                due = max(link.due[way], now - _PACE) + len(piece) / faults.bandwidth
                link.due[way] = due
                ahead = due - now
            else:
                ahead = 0.0
            if ahead >= _PACE:
                await anyio.sleep(ahead)
            elif data:
                await anyio.lowlevel.checkpoint()  # one write per segment, not one sendall
            if self._silent(link):
                return True
        return True


async def _close(stream: anyio.abc.SocketStream, how: Literal["close", "reset"]) -> None:
    if how == "reset":
        with contextlib.suppress(Exception):
            sock = stream.extra(SocketAttribute.raw_socket)  # noqa: S610 - anyio, not Django
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await anyio.aclose_forcefully(stream)
        return
    with contextlib.suppress(Exception):
        await stream.aclose()


@contextlib.asynccontextmanager
async def open_proxy(
    target_host: str,
    target_port: int,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    faults: ProxyFaults | None = None,
) -> AsyncIterator[FaultProxy]:
    """Run a :class:`FaultProxy` in the current event loop for an ``async with`` block."""
    proxy = FaultProxy(target_host, target_port, host=host, port=port, faults=faults)
    async with anyio.create_task_group() as tg:
        await tg.start(proxy.serve)
        try:
            yield proxy
        finally:
            tg.cancel_scope.cancel()


@dataclass
class RunningProxy:
    """A :class:`FaultProxy` served from a background thread (see :func:`proxy_in_thread`).

    Its methods run in the proxy's thread; read :attr:`proxy` only through :meth:`call`.
    """

    proxy: FaultProxy
    portal: BlockingPortal

    @property
    def port(self) -> int:
        """The port the proxy listens on."""
        return self.proxy.port

    def url(self, scheme: str = "ws", path: str = "/ws") -> str:
        """The URL of the proxy (see :meth:`FaultProxy.url`)."""
        return self.proxy.url(scheme, path)

    @property
    def ws_url(self) -> str:
        """``ws://127.0.0.1:<port>/ws``."""
        return self.url()

    @property
    def rest_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return self.url("http", "")

    def call(self, func: Callable[..., T], *args: object, **kwargs: object) -> T:
        """Run ``func(*args, **kwargs)`` in the proxy's thread and return its result."""
        return self.portal.call(lambda: func(*args, **kwargs))

    def set(self, **changes: object) -> ProxyFaults:
        """:meth:`FaultProxy.set`, in the proxy's thread."""
        return self.call(self.proxy.set, **changes)

    def clear(self) -> None:
        """:meth:`FaultProxy.clear`, in the proxy's thread."""
        self.call(self.proxy.clear)

    def reset(self) -> int:
        """:meth:`FaultProxy.reset`, in the proxy's thread."""
        return self.call(self.proxy.reset)

    def close_open(self) -> int:
        """:meth:`FaultProxy.close_open`, in the proxy's thread."""
        return self.call(self.proxy.close_open)

    def blackhole_open(self) -> int:
        """:meth:`FaultProxy.blackhole_open`, in the proxy's thread."""
        return self.call(self.proxy.blackhole_open)

    @property
    def open(self) -> int:
        """Connections open now."""
        return self.call(lambda: self.proxy.open)


@contextlib.contextmanager
def proxy_in_thread(
    target_host: str,
    target_port: int,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    faults: ProxyFaults | None = None,
    backend: str = "asyncio",
) -> Iterator[RunningProxy]:
    """Serve a :class:`FaultProxy` from a background thread for a ``with`` block."""
    proxy = FaultProxy(target_host, target_port, host=host, port=port, faults=faults)
    with start_blocking_portal(backend) as portal:
        future, _ = portal.start_task(proxy.serve, name="mexc-sim-proxy")
        try:
            yield RunningProxy(proxy, portal)
        finally:
            future.cancel()
            with contextlib.suppress(BaseException):
                future.result(timeout=10)


def _target(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"must be HOST:PORT with a port of 1-65535, not {text!r}")
    return host, int(port)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m mexc_sim.proxy --target HOST:PORT [faults]``: run a proxy until Ctrl-C."""
    from mexc_core.cli.common import (  # noqa: PLC0415 - the CLI only
        CommandParser,
        non_negative_float,
        port,
        positive_float,
        positive_int,
        run_command,
    )

    def target(text: str) -> tuple[str, int]:
        import argparse  # noqa: PLC0415 - the CLI only

        try:
            return _target(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parser = CommandParser(
        prog="python -m mexc_sim.proxy",
        description="A TCP fault proxy on loopback, in front of the simulator or any server.",
    )
    parser.add_argument("--target", type=target, required=True, help="HOST:PORT to forward to")
    parser.add_argument("--port", type=port, default=0, help="port to listen on (0: any free)")
    parser.add_argument("--latency-up", type=non_negative_float, default=0.0, metavar="MS")
    parser.add_argument("--latency-down", type=non_negative_float, default=0.0, metavar="MS")
    parser.add_argument("--segment", type=positive_int, default=None, metavar="BYTES")
    parser.add_argument("--bandwidth", type=positive_float, default=None, metavar="BYTES_PER_S")
    parser.add_argument("--data-limit", type=positive_int, default=None, metavar="BYTES")
    parser.add_argument("--data-limit-action", choices=_ACTIONS, default="blackhole")
    args = parser.parse_args(argv)
    faults = ProxyFaults(
        latency_up=args.latency_up,
        latency_down=args.latency_down,
        segment=args.segment,
        bandwidth=args.bandwidth,
        data_limit=args.data_limit,
        data_limit_action=args.data_limit_action,
    )

    async def serve() -> None:
        host, target_port = args.target
        proxy = FaultProxy(host, target_port, port=args.port, faults=faults)
        async with anyio.create_task_group() as tg:
            await tg.start(proxy.serve)
            print(f"proxy on {proxy.host}:{proxy.port} -> {host}:{target_port}", flush=True)  # noqa: T201
            await anyio.sleep_forever()

    return run_command("python -m mexc_sim.proxy", lambda: anyio.run(serve) or 0)


if __name__ == "__main__":
    sys.exit(main())
