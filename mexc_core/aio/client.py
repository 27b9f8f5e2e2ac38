"""The anyio runtime: :class:`MexcClient`, sharded, self-healing MEXC streams.

The client is the thin adapter of :class:`~mexc_core.client.pool.ConnectionPool`: every
decision (which connection carries which topic, when to reconnect and after how
long, when to rotate, what was a gap, what was a duplicate) is the pool's. The
client opens the transports the pool asks for (TCP, TLS for ``wss://``), moves
bytes both ways, sleeps until the pool's next deadline, and hands what comes out
to plugins and to consumers, through bounded buffers:

- a *reader* task per transport feeds the pool and never waits for a consumer,
  so PINGs, PONGs and the liveness checks are never starved;
- the *inbox* (:class:`~mexc_core.client.backpressure.Inbox`) holds events between the
  readers and the dispatcher, at most ``max_pending`` pushes; pushes that do not
  fit are dropped and reported as a gap, never silently;
- the *dispatcher* task calls the plugins' hooks (synchronous, isolated: a hook
  that raises is reported and the others go on) and feeds the streams of
  :meth:`MexcClient.pushes`, :meth:`MexcClient.events` and of plugins, each
  bounded with its own overflow policy; it waits for room only in a full
  ``BLOCK`` stream ("block after the reader").

Use it as an async context manager::

    async with MexcClient() as client:
        await client.subscribe(["spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT"])
        async with client.pushes() as pushes:
            async for push in pushes:
                print(push.symbol, push.body)

It runs on asyncio and trio alike.
"""

from __future__ import annotations

import contextlib
import logging
import random
import ssl
import time
from collections.abc import AsyncIterator, Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

import anyio
import anyio.abc
import anyio.lowlevel
import pluggy

from mexc_core._topics import Topic
from mexc_core.aio.clock import AnyioClock, Clock, wall_clock_ms
from mexc_core.aio.errors import TlsVerificationError, TransportError, translate
from mexc_core.aio.http import DEFAULT_BASE_URL, HttpClient
from mexc_core.aio.listenkey import ListenKeyKeeper
from mexc_core.aio.streams import BoundedStream
from mexc_core.channels import spec_of, topic_names
from mexc_core.client.backoff import FailureKind
from mexc_core.client.backpressure import Inbox, OverflowPolicy
from mexc_core.client.pool import (
    AbortTransport,
    CloseTransport,
    ConnectionPool,
    OpenTransport,
    PoolConfig,
    PoolStats,
)
from mexc_core.errors import (
    ArgumentTypeError,
    InvalidConfig,
    InvalidTopic,
    ListenKeyRequired,
    SubscriptionError,
)
from mexc_core.events import (
    Event,
    ListenKeyCreated,
    ListenKeyCreateFailed,
    ListenKeyInvalidated,
    ListenKeyLost,
    PluginFailed,
    Push,
    TopicsRejected,
    TopicsSubscribed,
)
from mexc_core.hookspecs import ClientContext, StreamReceiver, StreamSender, TaskStarter
from mexc_core.plugins import Dispatcher, plugin_manager
from mexc_core.rest import Credentials, RestClient

__all__ = ("DEFAULT_URL", "Endpoint", "MexcClient")

T = TypeVar("T")

#: MEXC's Spot V3 WebSocket endpoint.
DEFAULT_URL: Final = "wss://wbs-api.mexc.com/ws"

_READ_SIZE: Final = 65536
#: Events dispatched in a row before the dispatcher lets other tasks run.
_DISPATCH_BATCH: Final = 64
#: Seconds of hook time after which the dispatcher lets other tasks run (the
#: readers and the keepalive), however few events it delivered: a slow hook
#: never starves them.
_DISPATCH_BUDGET: Final = 0.005
_TRANSPORT_ERRORS: Final = (
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    OSError,
    ssl.SSLError,
)

log = logging.getLogger("mexc_core.client")
plugin_log = logging.getLogger("mexc_core.plugins")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where the WebSocket is: parsed from a ``ws://`` or ``wss://`` URL.

    :raises InvalidConfig: not a ``ws(s)://host[:port]/path`` URL.
    """

    url: str
    host: str = field(init=False)
    port: int = field(init=False)
    tls: bool = field(init=False)
    path: str = field(init=False)
    host_header: str = field(init=False)

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname or parts.query:
            raise InvalidConfig(
                f"the endpoint must be ws(s)://host[:port]/path, not {self.url!r}",
                setting="url",
            )
        tls = parts.scheme == "wss"
        port = parts.port or (443 if tls else 80)
        host = parts.hostname
        object.__setattr__(self, "host", host)
        object.__setattr__(self, "port", port)
        object.__setattr__(self, "tls", tls)
        object.__setattr__(self, "path", parts.path or "/")
        object.__setattr__(self, "host_header", host if parts.port is None else f"{host}:{port}")


class _Transport:
    """One socket of the pool: its task's cancel scope, stream, and what to write."""

    def __init__(self, cid: int) -> None:
        self.cid = cid
        self.scope = anyio.CancelScope()
        self.stream: anyio.abc.ByteStream | None = None
        self.wake = anyio.Event()
        self.pending = bytearray()  # taken from the pool, not written yet
        self.final: bytes | None = None  # set by a CloseTransport: write it, then close


class _Waiter:
    """A caller of :meth:`MexcClient.subscribe` waiting for acks."""

    def __init__(self, topics: Iterable[str]) -> None:
        self.pending = set(topics)
        self.failures: dict[str, tuple[str, str]] = {}
        self.done = anyio.Event()

    def resolve(self, topic: str, failure: tuple[str, str] | None = None) -> None:
        if topic in self.pending:
            self.pending.discard(topic)
            if failure is not None:
                self.failures[topic] = failure
            if not self.pending:
                self.done.set()


class _Context:
    """The :class:`~mexc_core.hookspecs.ClientContext` given to plugins at start."""

    def __init__(self, client: MexcClient, task_group: anyio.abc.TaskGroup) -> None:
        self._client = client
        self._task_group = task_group

    @property
    def options(self) -> Mapping[str, Any]:
        return self._client.options

    @property
    def task_group(self) -> TaskStarter:
        return self._task_group

    def open_stream(
        self,
        *,
        max_buffer: int = 1000,
        policy: OverflowPolicy | str = OverflowPolicy.BLOCK,
        key: Callable[[Any], Hashable] | None = None,
        name: str = "",
    ) -> tuple[StreamSender[Any], StreamReceiver[Any]]:
        stream: BoundedStream[Any] = self._client._new_stream(
            max_buffer, policy, key=key, name=name or "plugin"
        )
        return stream, stream


class MexcClient:
    """MEXC WebSocket streams over sharded, self-healing connections, with plugins.

    :param url: the WebSocket endpoint (default: MEXC's; ``ws://127.0.0.1:port/ws``
        for the simulator).
    :param config: the pool's settings (cap per connection, timeouts, backoff,
        rotation); its host and path are taken from ``url``.
    :param ssl_context: TLS settings for ``wss://`` (default: the system's CAs).
    :param ca_file: a CA bundle to trust instead (e.g. the simulator's test CA).
    :param clock: monotonic time and sleeping (default: the event loop's).
    :param rng: the source of backoff jitter (default: a fresh ``random.Random``).
    :param plugins: plugin objects to register besides the installed ones.
    :param entry_points: load the plugins installed under ``mexc.plugins``.
    :param pm: a plugin manager to use instead (``plugins`` and
        ``entry_points`` are then ignored).
    :param credentials: API credentials: enables private channels, with a listen
        key kept alive over REST at ``rest_url``.
    :param rest_url: MEXC's REST API (or the simulator's).
    :param wall_ms: the wall clock for signing REST requests, ms since the epoch.
    :param max_pending: pushes the inbox holds before it drops (and reports a gap).
    :param close_timeout: seconds the exit waits for clean closes.
    :param options: options for plugins, by plugin name (see
        :attr:`mexc_core.hookspecs.ClientContext.options`).
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        config: PoolConfig | None = None,
        ssl_context: ssl.SSLContext | None = None,
        ca_file: str | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        plugins: Iterable[object] = (),
        entry_points: bool = True,
        pm: pluggy.PluginManager | None = None,
        credentials: Credentials | None = None,
        rest_url: str = DEFAULT_BASE_URL,
        wall_ms: Callable[[], int] = wall_clock_ms,
        max_pending: int = 10_000,
        close_timeout: float = 5.0,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        self.endpoint: Final = Endpoint(url)
        base = config if config is not None else PoolConfig()
        self.config: Final = replace(base, host=self.endpoint.host_header, path=self.endpoint.path)
        self._ssl: ssl.SSLContext | None = None
        if self.endpoint.tls:
            self._ssl = ssl_context or ssl.create_default_context(cafile=ca_file)
        self.clock: Final[Clock] = clock or AnyioClock()
        self.pool: Final = ConnectionPool(
            self.config,
            rng=rng or random.Random(),
            private=credentials is not None,
        )
        self.pm: Final = pm or plugin_manager(*plugins, entry_points=entry_points)
        self.dispatcher: Final = Dispatcher(self.pm)
        self.inbox: Final = Inbox(max_pending)
        self.credentials = credentials
        self.rest_url = rest_url
        self.wall_ms = wall_ms
        self.close_timeout = close_timeout
        self.options: Mapping[str, Any] = dict(options or {})
        self.keeper: ListenKeyKeeper | None = None
        self._http: HttpClient | None = None
        self._task_group: anyio.abc.TaskGroup | None = None
        self._exit: contextlib.AsyncExitStack | None = None
        self._transports: dict[int, _Transport] = {}
        self._waiters: dict[str, list[_Waiter]] = {}
        self._streams: list[tuple[BoundedStream[Any], Callable[[Event], bool]]] = []
        self._blocking: list[BoundedStream[Any]] = []
        self._inbox_ready: anyio.Event | None = None
        self._sleep_scope: anyio.CancelScope | None = None
        self._sleeping_until: float | None = None
        self._dispatching = True
        self._stalled: BoundedStream[Any] | None = None
        self._started = False

    def __repr__(self) -> str:
        return f"<MexcClient {self.endpoint.url} {self.pool!r}>"

    # ------------------------------------------------------------ reading state

    @property
    def stats(self) -> PoolStats:
        """The pool's counters (pushes, duplicates, reconnects, rotations, gaps)."""
        return self.pool.stats

    @property
    def topics(self) -> tuple[str, ...]:
        """Every topic wanted."""
        return self.pool.topics

    # ------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> MexcClient:
        if self._started:
            raise RuntimeError("a MexcClient runs once")
        self._started = True
        async with contextlib.AsyncExitStack() as stack:
            self._task_group = tg = await stack.enter_async_context(anyio.create_task_group())
            self._inbox_ready = anyio.Event()
            tg.start_soon(self._drive, name="mexc-driver")
            tg.start_soon(self._dispatch, name="mexc-dispatcher")
            if self.credentials is not None:
                self._http = await stack.enter_async_context(HttpClient(self.rest_url))
                self.keeper = ListenKeyKeeper(
                    self._http,
                    RestClient(self.credentials),
                    clock=self.clock,
                    wall_ms=self.wall_ms,
                    on_event=self._on_key_event,
                )
                tg.start_soon(self.keeper.run, name="mexc-listen-key")
            context: ClientContext = _Context(self, tg)  # checked against the protocol
            self._report(self.dispatcher.call("mexc_client_started", {"context": context}))
            wanted, failed = self.dispatcher.collect("mexc_subscriptions_wanted", {})
            self._report(failed)
            for answer in wanted:
                try:
                    self.pool.subscribe(topic_names(answer), self.clock.now())
                except (InvalidTopic, ListenKeyRequired, ArgumentTypeError) as exc:
                    plugin_log.error("a plugin wants topics that cannot be subscribed: %s", exc)
            self._process()
            self._exit = stack.pop_all()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        exit_stack, self._exit = self._exit, None
        assert exit_stack is not None
        try:
            with anyio.CancelScope(shield=True):
                await self._shutdown()
        finally:
            if self._task_group is not None:
                self._task_group.cancel_scope.cancel()
            result = await exit_stack.__aexit__(exc_type, exc, tb)
        return result

    async def _shutdown(self) -> None:
        """Close every link cleanly and the listen key, deliver what is left, then
        tell plugins and end the streams (their consumers read what is queued)."""
        if not self.pool.closed:
            self.pool.close(self.clock.now())
            self._process()
        with anyio.move_on_after(self.close_timeout):
            while not self.pool.finished:
                await anyio.sleep(0.005)
        if self.keeper is not None:
            self.keeper.close()
            with anyio.move_on_after(self.close_timeout):
                while self.keeper.manager.state.name != "CLOSED":
                    await anyio.sleep(0.005)
        # deliver what is left, unless a consumer stalls the dispatcher
        with anyio.move_on_after(self.close_timeout):
            while len(self.inbox) and self._stalled is None:
                await anyio.sleep(0.005)
        self._dispatching = False
        self._wake_dispatcher()
        self._report(self.dispatcher.call("mexc_client_stopping", {}))
        for stream, _ in list(self._streams):
            stream.close()
        streams = list(self._blocking)
        for stream in streams:
            stream.close()
        # consumers that make progress get a moment to read what their streams hold
        with anyio.move_on_after(self.close_timeout):
            left = [len(stream.buffer) for stream in streams]
            while any(left):
                await anyio.sleep(0.02)
                now_left = [len(stream.buffer) for stream in streams]
                if now_left == left:
                    break
                left = now_left

    # ------------------------------------------------------------ commands

    async def subscribe(
        self, topics: Iterable[str | Topic], *, wait: bool = True, timeout: float | None = None
    ) -> None:
        """Subscribe ``topics`` (over as many connections as needed).

        :param wait: return only once MEXC acknowledged every topic.
        :param timeout: give up waiting after this many seconds (``TimeoutError``);
            the topics stay wanted.
        :raises SubscriptionError: some topics were rejected (or not acknowledged,
            or the server refused the connection); the others are subscribed.
        :raises InvalidTopic: a topic is not one MEXC accepts (nothing subscribed).
        :raises ListenKeyRequired: a private topic without credentials.
        """
        if self._task_group is None:
            raise RuntimeError("start the client first: `async with MexcClient(...) as client`")
        names = topic_names(topics)
        self.pool.subscribe(names, self.clock.now())
        waiter = _Waiter(name for name in names if not self.pool.is_carried(name))
        for name in waiter.pending:
            self._waiters.setdefault(name, []).append(waiter)
        if not waiter.pending:
            waiter.done.set()
        self._process()
        if not wait:
            return
        with anyio.fail_after(timeout):
            await waiter.done.wait()
        if waiter.failures:
            shown = ", ".join(
                f"{t} ({cause}: {why})" for t, (cause, why) in waiter.failures.items()
            )
            raise SubscriptionError(f"not subscribed: {shown}", failures=waiter.failures)

    async def unsubscribe(self, topics: Iterable[str | Topic]) -> None:
        """Unsubscribe ``topics`` (topics not subscribed are skipped)."""
        names = topic_names(topics)
        self.pool.unsubscribe(names, self.clock.now())
        for name in names:
            for waiter in self._waiters.pop(name, []):
                waiter.resolve(name)
        self._process()

    def pushes(
        self,
        *topics: str | Topic,
        max_buffer: int = 1000,
        policy: OverflowPolicy | str = OverflowPolicy.BLOCK,
        key: Callable[[Push], Hashable] | None = None,
    ) -> BoundedStream[Push]:
        """A bounded stream of pushes (of ``topics`` only, if given).

        Use it as ``async with client.pushes() as stream: async for push in stream``;
        leaving the ``async with`` (or :meth:`BoundedStream.close`) unregisters it.
        """
        wanted = frozenset(topic_names(topics)) if topics else None

        def accepts(event: Event) -> bool:
            return isinstance(event, Push) and (wanted is None or event.channel in wanted)

        stream: BoundedStream[Push] = self._new_stream(max_buffer, policy, key=key, name="pushes")
        self._streams.append((stream, accepts))
        return stream

    def events(
        self,
        *kinds: type[Event],
        max_buffer: int = 1000,
        policy: OverflowPolicy | str = OverflowPolicy.BLOCK,
    ) -> BoundedStream[Event]:
        """A bounded stream of the events that are not pushes (of ``kinds`` only, if given)."""
        wanted = tuple(kinds) or (Event,)

        def accepts(event: Event) -> bool:
            return not isinstance(event, Push) and isinstance(event, wanted)

        stream: BoundedStream[Event] = self._new_stream(max_buffer, policy, name="events")
        self._streams.append((stream, accepts))
        return stream

    @contextlib.asynccontextmanager
    async def stream(
        self, *topics: str | Topic, **kwargs: Any
    ) -> AsyncIterator[BoundedStream[Push]]:
        """Subscribe ``topics``, then yield a stream of their pushes; unsubscribe after."""
        pushes = self.pushes(*topics, **kwargs)
        try:
            await self.subscribe(topics)
            yield pushes
        finally:
            pushes.close()
            if not self.pool.closed:
                await self.unsubscribe(topics)

    def _new_stream(
        self,
        max_buffer: int,
        policy: OverflowPolicy | str,
        *,
        key: Callable[[Any], Hashable] | None = None,
        name: str,
    ) -> BoundedStream[Any]:
        stream: BoundedStream[Any] = BoundedStream(
            max_buffer, policy, key=key, name=name, on_close=self._forget_stream
        )
        if stream.policy is OverflowPolicy.BLOCK:
            self._blocking.append(stream)
        return stream

    def _forget_stream(self, stream: BoundedStream[Any]) -> None:
        self._streams = [(s, f) for s, f in self._streams if s is not stream]
        if stream in self._blocking:
            self._blocking.remove(stream)

    # ------------------------------------------------------------ the pool's I/O

    def _process(self) -> None:
        """Carry out the pool's intents, queue its events, wake whoever has work."""
        pool = self.pool
        for intent in pool.intents():
            if isinstance(intent, OpenTransport):
                transport = _Transport(intent.cid)
                self._transports[intent.cid] = transport
                assert self._task_group is not None
                self._task_group.start_soon(
                    self._run_transport, transport, name=f"mexc-link-{intent.link}-{intent.cid}"
                )
            elif isinstance(intent, CloseTransport):
                closing = self._transports.get(intent.cid)
                if closing is not None:
                    closing.final = intent.data
                    closing.wake.set()
            else:
                assert isinstance(intent, AbortTransport)
                aborted = self._transports.get(intent.cid)
                if aborted is not None:
                    aborted.scope.cancel()
        queued = False
        now = None
        for event in pool.events():
            queued = True
            if not isinstance(event, Push):
                now = self.clock.now() if now is None else now
                self._on_pool_event(event)
            elif now is None:
                now = self.clock.now()
            self.inbox.put(event, now)
        if queued:
            self._wake_dispatcher()
        for transport in self._transports.values():
            if transport.stream is not None and transport.final is None:
                data = pool.data_to_send(transport.cid)
                if data:
                    transport.pending += data
                    transport.wake.set()
        self._wake_driver()

    def _on_pool_event(self, event: Event) -> None:
        if isinstance(event, TopicsSubscribed):
            for topic in event.topics:
                for waiter in self._waiters.pop(topic, []):
                    waiter.resolve(topic)
        elif isinstance(event, TopicsRejected):
            for topic in event.topics:
                for waiter in self._waiters.pop(topic, []):
                    waiter.resolve(topic, (event.cause.value, event.reason))
        elif isinstance(event, ListenKeyInvalidated) and self.keeper is not None:
            self.keeper.invalidated()

    def _on_key_event(self, event: Event) -> None:
        now = self.clock.now()
        if not self.pool.closed:
            if isinstance(event, ListenKeyCreated):
                self.pool.set_listen_key(event.key, now)
            elif isinstance(event, ListenKeyLost):
                self.pool.set_listen_key(None, now)
            elif isinstance(event, ListenKeyCreateFailed) and event.rejected:
                # MEXC refused to create a key (credentials, permissions, the 60-key
                # limit): callers waiting on private topics get the error instead of
                # waiting for ever; the keeper goes on retrying, slowly.
                for topic in [t for t in self._waiters if spec_of(t).private]:
                    for waiter in self._waiters.pop(topic, []):
                        waiter.resolve(topic, ("listen key refused", event.error))
        self.inbox.put(event, now)
        self._process()
        self._wake_dispatcher()

    def _wake_driver(self) -> None:
        scope = self._sleep_scope
        if scope is None:
            return
        deadline = self.pool.next_deadline()
        if self.pool.finished or (
            deadline is not None
            and (self._sleeping_until is None or deadline < self._sleeping_until)
        ):
            scope.cancel()

    def _wake_dispatcher(self) -> None:
        if self._inbox_ready is not None:
            self._inbox_ready.set()

    async def _drive(self) -> None:
        """Sleep until the pool's next deadline, then run its timers."""
        while not self.pool.finished:
            deadline = self.pool.next_deadline()
            self._sleeping_until = deadline
            with anyio.CancelScope() as scope:
                self._sleep_scope = scope
                if deadline is None:
                    await anyio.sleep_forever()
                else:
                    await self.clock.sleep_until(deadline)
            self._sleep_scope = None
            # Readers with bytes already arrived go first: a PONG read late still
            # counts (the session's rule 4), so a busy loop is no false timeout.
            await anyio.lowlevel.checkpoint()
            self.pool.handle_timer(self.clock.now())
            self._process()

    async def _run_transport(self, transport: _Transport) -> None:
        cid = transport.cid
        try:
            with transport.scope:
                try:
                    stream = await self._connect()
                except TransportError as exc:
                    kind = (
                        FailureKind.TLS_VERIFICATION
                        if isinstance(exc, TlsVerificationError)
                        else FailureKind.TRANSIENT
                    )
                    self.pool.transport_failed(cid, self.clock.now(), str(exc), kind=kind)
                    self._process()
                    return
                transport.stream = stream
                try:
                    self.pool.transport_opened(cid, self.clock.now())
                    self._process()
                    async with anyio.create_task_group() as tg:
                        tg.start_soon(self._write, transport)
                        await self._read(transport, stream)
                finally:
                    await anyio.aclose_forcefully(stream)
        finally:
            self._transports.pop(cid, None)

    async def _connect(self) -> anyio.abc.ByteStream:
        endpoint = self.endpoint
        with translate(f"connect {endpoint.host_header}"):
            if self._ssl is not None:
                return await anyio.connect_tcp(
                    endpoint.host,
                    endpoint.port,
                    ssl_context=self._ssl,
                    tls_standard_compatible=False,
                )
            return await anyio.connect_tcp(endpoint.host, endpoint.port)

    async def _read(self, transport: _Transport, stream: anyio.abc.ByteStream) -> None:
        cid = transport.cid
        while True:
            try:
                data = await stream.receive(_READ_SIZE)
            except anyio.EndOfStream:
                data = b""
            except _TRANSPORT_ERRORS as exc:
                self.pool.transport_failed(cid, self.clock.now(), f"read failed: {exc!r}")
                self._process()
                await anyio.sleep_forever()  # the pool's AbortTransport cancels us
            self.pool.receive_data(cid, data, self.clock.now())
            self._process()
            if not data:
                await anyio.sleep_forever()  # the pool's CloseTransport ends us

    async def _write(self, transport: _Transport) -> None:
        cid = transport.cid
        stream = transport.stream
        assert stream is not None
        while True:
            await transport.wake.wait()
            transport.wake = anyio.Event()
            final = transport.final
            data = bytes(transport.pending) + (final or b"")
            transport.pending.clear()
            try:
                if data:
                    await stream.send(data)
                if final is not None:
                    await stream.aclose()
            except _TRANSPORT_ERRORS as exc:
                self.pool.transport_failed(cid, self.clock.now(), f"write failed: {exc!r}")
                self._process()
                if final is None:
                    continue
            if final is not None:
                transport.scope.cancel()
                return

    # ------------------------------------------------------------ dispatching

    async def _dispatch(self) -> None:
        """Deliver inbox events to hooks and streams, in order, until shutdown."""
        count = 0
        since = time.perf_counter()
        while self._dispatching:
            event = self.inbox.take()
            if event is None:
                self._inbox_ready = anyio.Event()
                await self._inbox_ready.wait()
                continue
            self._deliver(event)
            for stream in self._blocking:
                if stream.full:
                    self._stalled = stream
                    await stream.wait_room()
                    self._stalled = None
            count += 1
            if count >= _DISPATCH_BATCH or time.perf_counter() - since > _DISPATCH_BUDGET:
                await anyio.lowlevel.checkpoint()
                count = 0
                since = time.perf_counter()

    def _deliver(self, event: Event) -> None:
        self._report(self.dispatcher.dispatch(event))
        for stream, accepts in self._streams:
            if accepts(event):
                stream.send_nowait(event)

    def _report(self, failures: list[PluginFailed]) -> None:
        for failure in failures:
            plugin_log.error(
                "plugin %s failed in %s (%d times so far): %s",
                failure.plugin,
                failure.hook,
                failure.failures,
                failure.error,
            )
            for nested in self.dispatcher.dispatch(failure):
                plugin_log.error(
                    "plugin %s failed in %s: %s", nested.plugin, nested.hook, nested.error
                )
            for stream, accepts in self._streams:
                if accepts(failure):
                    stream.send_nowait(failure)
