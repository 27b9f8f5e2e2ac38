"""The anyio runtime: :class:`MexcClient`, sharded, self-healing MEXC streams.

The client is the thin adapter of :class:`~mexc_core.client.core.ClientCore`: every
decision (which connection carries which topic, when to reconnect and after how
long, when to rotate, what was a gap, what was a duplicate, when the listen key
is renewed, when a subscribe call is complete) is the core's. The client opens
the transports the core asks for (TCP, TLS for ``wss://``), runs its REST calls
with :class:`~mexc_core.aio.http.HttpClient`, moves bytes both ways, sleeps until
the core's next deadline, and hands what comes out to plugins and to consumers,
through bounded buffers:

- a *reader* task per transport feeds the core and never waits for a consumer,
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
from collections.abc import AsyncIterator, Callable, Hashable, Iterable, Mapping, Sized
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Final, Protocol, TypeGuard, TypeVar, cast
from urllib.parse import urlsplit

import anyio
import anyio.abc
import anyio.lowlevel
import pluggy

from mexc_core.aio.clock import AnyioClock, Clock, wall_clock_ms
from mexc_core.aio.errors import TlsVerificationError, TransportError, translate
from mexc_core.aio.http import DEFAULT_BASE_URL, HttpClient
from mexc_core.aio.streams import BoundedStream
from mexc_core.book.sync import BookConfig, LocalBook
from mexc_core.channels import Topic, topic_names
from mexc_core.client.backoff import FailureKind
from mexc_core.client.backpressure import Inbox, OverflowPolicy
from mexc_core.client.core import ClientCore, CoreConfig, RestCall
from mexc_core.client.pacer import SnapshotPacing
from mexc_core.client.pool import (
    AbortTransport,
    CloseTransport,
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
from mexc_core.events import Event, PluginFailed, Push, SubscribeCompleted
from mexc_core.hookspecs import ClientContext, StreamReceiver, StreamSender, TaskStarter
from mexc_core.listenkey import ListenKeyConfig
from mexc_core.plugins import Dispatcher, plugin_manager
from mexc_core.rest import Credentials, RestError

__all__ = ("DEFAULT_URL", "DEFAULT_VIEW_DEPTH", "Endpoint", "MexcClient")

T = TypeVar("T")
E = TypeVar("E", bound=Event)

#: MEXC's Spot V3 WebSocket endpoint.
DEFAULT_URL: Final = "wss://wbs-api.mexc.com/ws"
#: Levels per side each book event carries a copy of, by default.
DEFAULT_VIEW_DEPTH: Final = 20
#: REST calls in flight at once (listen keys, book snapshots).
_REST_CONCURRENCY: Final = 4

_READ_SIZE: Final = 65536
#: Events dispatched in a row before the dispatcher lets other tasks run. High:
#: one read of a busy link brings hundreds of pushes, and a dispatcher that
#: delivers fewer per turn than the readers decode falls behind for good (the
#: time budget below still bounds each turn).
_DISPATCH_BATCH: Final = 4096
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
        try:
            given_port = parts.port
        except ValueError:  # not a number, or out of 0-65535
            given_port = -1
        if (
            parts.scheme not in ("ws", "wss")
            or not parts.hostname
            or parts.query
            or (given_port is not None and not 0 < given_port < 65536)
        ):
            raise InvalidConfig(
                f"the endpoint must be ws(s)://host[:port]/path with a port of 1-65535, "
                f"not {self.url!r}",
                setting="url",
            )
        tls = parts.scheme == "wss"
        port = (443 if tls else 80) if given_port is None else given_port
        host = parts.hostname
        object.__setattr__(self, "host", host)
        object.__setattr__(self, "port", port)
        object.__setattr__(self, "tls", tls)
        object.__setattr__(self, "path", parts.path or "/")
        object.__setattr__(self, "host_header", host if given_port is None else f"{host}:{port}")


def _single(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The one exception ``group`` holds (however nested), or ``None`` if several."""
    found: list[BaseException] = []
    stack: list[BaseException] = [group]
    while stack:
        exc = stack.pop()
        if isinstance(exc, BaseExceptionGroup):
            stack.extend(exc.exceptions)
        elif not any(exc is seen for seen in found):
            found.append(exc)
    return found[0] if len(found) == 1 else None


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
    """A caller of :meth:`MexcClient.subscribe` waiting for its ticket to complete."""

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.result: SubscribeCompleted | None = None


class _Held(Protocol):
    """What the client does with each of its streams, whatever their item type."""

    @property
    def buffer(self) -> Sized: ...

    @property
    def full(self) -> bool: ...

    async def wait_room(self) -> None: ...

    def close(self) -> None: ...


class _Context:
    """The :class:`~mexc_core.hookspecs.ClientContext` given to plugins at start."""

    def __init__(self, client: MexcClient, task_group: anyio.abc.TaskGroup) -> None:
        self._client = client
        self._task_group = task_group

    @property
    def options(self) -> Mapping[str, object]:
        return self._client.options

    @property
    def task_group(self) -> TaskStarter:
        return self._task_group

    def open_stream(
        self,
        *,
        max_buffer: int = 1000,
        policy: OverflowPolicy | str = OverflowPolicy.BLOCK,
        key: Callable[[T], Hashable] | None = None,
        name: str = "",
    ) -> tuple[StreamSender[T], StreamReceiver[T]]:
        stream: BoundedStream[T] = self._client._new_stream(
            max_buffer, policy, key=key, name=name or "plugin"
        )
        return stream, stream

    def watch_book(self, symbol: str, *, interval: str = "100ms") -> None:
        self._client.core.watch_book(symbol, self._client.clock.now(), interval=interval)
        self._client._process()


class MexcClient:
    """MEXC WebSocket streams over sharded, self-healing connections, with plugins.

    :param url: the WebSocket endpoint (default: MEXC's; ``ws://127.0.0.1:port/ws``
        for the simulator).
    :param config: the pool's settings (cap per connection, timeouts, backoff,
        rotation); its host and path are taken from ``url``.
    :param listen_key: listen-key timings (with ``credentials``).
    :param book: settings of the local order books (:meth:`watch_book`); by
        default every book event carries a view of the best 20 levels.
    :param snapshots: the REST budget book snapshots are paced within.
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
        listen_key: ListenKeyConfig | None = None,
        book: BookConfig | None = None,
        snapshots: SnapshotPacing | None = None,
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
        options: Mapping[str, object] | None = None,
    ) -> None:
        self.endpoint: Final = Endpoint(url)
        base = config if config is not None else PoolConfig()
        self.config: Final = replace(base, host=self.endpoint.host_header, path=self.endpoint.path)
        self._ssl: ssl.SSLContext | None = None
        if self.endpoint.tls:
            self._ssl = ssl_context or ssl.create_default_context(cafile=ca_file)
        self.clock: Final[Clock] = clock or AnyioClock()
        self.core: Final = ClientCore(
            CoreConfig(
                self.config,
                listen_key or ListenKeyConfig(),
                book or BookConfig(view_depth=DEFAULT_VIEW_DEPTH),
                snapshots or SnapshotPacing(),
            ),
            credentials=credentials,
            rng=rng or random.Random(),
        )
        self.pool: Final = self.core.pool
        self.pm: Final = pm or plugin_manager(*plugins, entry_points=entry_points)
        self.dispatcher: Final = Dispatcher(self.pm)
        self.inbox: Final = Inbox(max_pending)
        self.credentials = credentials
        self.rest_url = rest_url
        self.wall_ms = wall_ms
        self.close_timeout = close_timeout
        self.options: Mapping[str, object] = dict(options or {})
        self._http: HttpClient | None = None
        self._rest_calls: list[RestCall] = []
        self._rest_ready = anyio.Event()
        self._task_group: anyio.abc.TaskGroup | None = None
        self._exit: contextlib.AsyncExitStack | None = None
        self._transports: dict[int, _Transport] = {}
        self._waiters: dict[int, _Waiter] = {}
        # each stream with its router: the events it accepts are sent to it
        self._streams: list[tuple[_Held, Callable[[Event], None]]] = []
        self._blocking: list[_Held] = []
        self._inbox_ready: anyio.Event | None = None
        self._sleep_scope: anyio.CancelScope | None = None
        self._sleeping_until: float | None = None
        self._dispatching = True
        self._stalled: _Held | None = None
        self._started = False

    def __repr__(self) -> str:
        return f"<MexcClient {self.endpoint.url} {self.core!r}>"

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
            self._http = await stack.enter_async_context(HttpClient(self.rest_url))
            tg.start_soon(self._run_rest, name="mexc-rest")
            self.core.start(self.clock.now())
            context: ClientContext = _Context(self, tg)  # checked against the protocol
            self._report(self.dispatcher.call("mexc_client_started", {"context": context}))
            wanted, failed = self.dispatcher.collect("mexc_subscriptions_wanted", {})
            self._report(failed)
            for answer in wanted:
                try:
                    # topic_names checks what the plugin really gave
                    asked = cast("Iterable[str | Topic]", answer)
                    self.core.subscribe(topic_names(asked), self.clock.now())
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
            try:
                result = await exit_stack.__aexit__(exc_type, exc, tb)
            except BaseExceptionGroup as group:
                # the task group wraps what it saw; the caller gets it as raised
                single = _single(group)
                if single is None:
                    raise
                raise single from single.__cause__
        return result

    async def _shutdown(self) -> None:
        """Close every link cleanly and delete the listen key, deliver what is left,
        then tell plugins and end the streams (their consumers read what is queued)."""
        self.core.close(self.clock.now())
        self._process()
        with anyio.move_on_after(self.close_timeout):
            while not self.core.finished:
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

        A subscription that is not acknowledged is retried (reconnecting with
        backoff) until MEXC answers: the call waits through the retries.

        :param wait: return only once every topic has an answer.
        :param timeout: give up waiting after this many seconds (``TimeoutError``);
            the topics stay wanted.
        :raises SubscriptionError: some topics were rejected by MEXC, refused with
            their connection, or wait for a listen key MEXC refused; the others are
            subscribed.
        :raises InvalidTopic: a topic is not one MEXC accepts (nothing subscribed).
        :raises ListenKeyRequired: a private topic without credentials.
        """
        self._check_started()
        ticket = self.core.subscribe(topics, self.clock.now())
        await self._complete(ticket, wait=wait, timeout=timeout)

    async def watch_book(
        self,
        symbol: str,
        *,
        interval: str = "100ms",
        wait: bool = True,
        timeout: float | None = None,
    ) -> LocalBook:
        """Keep the local order book of ``symbol`` (see :doc:`/book`): subscribe to
        its diff-depth topic and follow MEXC's snapshot procedure; the book's events
        reach the ``mexc_book_*`` hooks and :meth:`events` streams.

        Returns the live book; read it between awaits (it is exact while
        ``book.synced``), or read the views the events carry.

        :param wait: return only once the depth topic is subscribed.
        :param timeout: give up waiting after this many seconds (``TimeoutError``).
        :raises SubscriptionError: MEXC rejected the depth topic.
        :raises InvalidTopic: ``symbol`` or ``interval`` is not one MEXC accepts.
        """
        self._check_started()
        ticket = self.core.watch_book(symbol, self.clock.now(), interval=interval)
        await self._complete(ticket, wait=wait, timeout=timeout)
        return self.core.book(symbol)

    async def unwatch_book(self, symbol: str) -> None:
        """Stop keeping the book of ``symbol`` and unsubscribe its depth topic."""
        self.core.unwatch_book(symbol, self.clock.now())
        self._process()

    def book(self, symbol: str) -> LocalBook:
        """The live local book of ``symbol``.

        :raises KeyError: the book is not watched.
        """
        return self.core.book(symbol)

    def _check_started(self) -> None:
        if self._task_group is None:
            raise RuntimeError("start the client first: `async with MexcClient(...) as client`")

    async def _complete(self, ticket: int, *, wait: bool, timeout: float | None) -> None:
        """Wait for subscribe ticket ``ticket`` to complete; raise for failed topics."""
        waiter = _Waiter()
        self._waiters[ticket] = waiter
        self._process()
        if not wait:
            self._waiters.pop(ticket, None)
            return
        try:
            with anyio.fail_after(timeout):
                await waiter.done.wait()
        finally:
            self._waiters.pop(ticket, None)
        result = waiter.result
        assert result is not None
        if result.failures:
            failures = {f.topic: (f.cause.value, f.reason) for f in result.failures}
            shown = ", ".join(f"{t} ({cause}: {why})" for t, (cause, why) in failures.items())
            raise SubscriptionError(f"not subscribed: {shown}", failures=failures)

    async def unsubscribe(self, topics: Iterable[str | Topic]) -> None:
        """Unsubscribe ``topics`` (topics not subscribed are skipped)."""
        self.core.unsubscribe(topics, self.clock.now())
        self._process()

    def pushes(
        self,
        *topics: str | Topic,
        max_buffer: int = 1000,
        policy: OverflowPolicy | str = OverflowPolicy.BLOCK,
        key: Callable[[Push], Hashable] | None = None,
    ) -> BoundedStream[Push]:
        """A bounded stream of pushes (of ``topics`` only, if given).

        Each push's body is its channel's message type; frames that are not
        (:class:`~mexc_core.events.StrayPushReceived`) come through
        :meth:`events` instead.

        Use it as ``async with client.pushes() as stream: async for push in stream``;
        leaving the ``async with`` (or :meth:`BoundedStream.close`) unregisters it.
        """
        wanted = frozenset(topic_names(topics)) if topics else None

        def accepts(event: Event) -> TypeGuard[Push]:
            return isinstance(event, Push) and (wanted is None or event.channel in wanted)

        stream: BoundedStream[Push] = self._new_stream(max_buffer, policy, key=key, name="pushes")
        self._route(stream, accepts)
        return stream

    def events(
        self,
        *kinds: type[Event],
        max_buffer: int = 1000,
        policy: OverflowPolicy | str = OverflowPolicy.BLOCK,
    ) -> BoundedStream[Event]:
        """A bounded stream of the events that are not pushes (of ``kinds`` only, if given)."""
        wanted = tuple(kinds) or (Event,)

        def accepts(event: Event) -> TypeGuard[Event]:
            return not isinstance(event, Push) and isinstance(event, wanted)

        stream: BoundedStream[Event] = self._new_stream(max_buffer, policy, name="events")
        self._route(stream, accepts)
        return stream

    @contextlib.asynccontextmanager
    async def stream(
        self,
        *topics: str | Topic,
        max_buffer: int = 1000,
        policy: OverflowPolicy | str = OverflowPolicy.BLOCK,
        key: Callable[[Push], Hashable] | None = None,
    ) -> AsyncIterator[BoundedStream[Push]]:
        """Subscribe ``topics``, then yield a stream of their pushes (as :meth:`pushes`
        makes it); unsubscribe after."""
        pushes = self.pushes(*topics, max_buffer=max_buffer, policy=policy, key=key)
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
        key: Callable[[T], Hashable] | None = None,
        name: str,
    ) -> BoundedStream[T]:
        stream: BoundedStream[T] = BoundedStream(
            max_buffer, policy, key=key, name=name, on_close=self._forget_stream
        )
        if stream.policy is OverflowPolicy.BLOCK:
            self._blocking.append(stream)
        return stream

    def _route(self, stream: BoundedStream[E], accepts: Callable[[Event], TypeGuard[E]]) -> None:
        def route(event: Event) -> None:
            if accepts(event):
                stream.send_nowait(event)

        self._streams.append((stream, route))

    def _forget_stream(self, stream: _Held) -> None:
        self._streams = [(s, f) for s, f in self._streams if s is not stream]
        if stream in self._blocking:
            self._blocking.remove(stream)

    # ------------------------------------------------------------ the pool's I/O

    def _process(self) -> None:
        """Carry out the core's intents, queue its events, wake whoever has work."""
        core = self.core
        for intent in core.intents():
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
            elif isinstance(intent, AbortTransport):
                aborted = self._transports.get(intent.cid)
                if aborted is not None:
                    aborted.scope.cancel()
            else:
                self._rest_calls.append(intent)
                self._rest_ready.set()
        queued = False
        now = None
        for event in core.events():
            queued = True
            if now is None:
                now = self.clock.now()
            if type(event) is SubscribeCompleted:
                waiter = self._waiters.get(event.ticket)
                if waiter is not None:
                    waiter.result = event
                    waiter.done.set()
            self.inbox.put(event, now)
        if queued:
            self._wake_dispatcher()
        transports = self._transports
        for cid in core.writable():
            writing = transports.get(cid)
            if writing is not None and writing.stream is not None and writing.final is None:
                data = core.data_to_send(cid)
                if data:
                    writing.pending += data
                    writing.wake.set()
        self._wake_driver()

    async def _run_rest(self) -> None:
        """Run the core's REST calls (listen keys, book snapshots), a few at a time:
        a slow snapshot never holds a listen-key keepalive back."""
        limiter = anyio.CapacityLimiter(_REST_CONCURRENCY)
        async with anyio.create_task_group() as tg:
            while True:
                await self._rest_ready.wait()
                self._rest_ready = anyio.Event()
                calls, self._rest_calls = self._rest_calls, []
                for call in calls:
                    tg.start_soon(self._rest_call, call, limiter)

    async def _rest_call(self, call: RestCall, limiter: anyio.CapacityLimiter) -> None:
        http = self._http
        assert http is not None
        async with limiter:
            request = call.request(self.wall_ms())
            try:
                result = await http.request(request)
            except RestError as exc:
                self.core.rest_result(call.call_id, exc, self.clock.now())
            except TransportError as exc:
                self.core.rest_failed(call.call_id, self.clock.now(), str(exc))
            else:
                self.core.rest_result(call.call_id, result, self.clock.now())
            self._process()

    def _wake_driver(self) -> None:
        scope = self._sleep_scope
        if scope is None:
            return
        deadline = self.core.next_deadline()
        if self.core.finished or (
            deadline is not None
            and (self._sleeping_until is None or deadline < self._sleeping_until)
        ):
            scope.cancel()

    def _wake_dispatcher(self) -> None:
        if self._inbox_ready is not None:
            self._inbox_ready.set()

    async def _drive(self) -> None:
        """Sleep until the core's next deadline, then run its timers."""
        while not self.core.finished:
            deadline = self.core.next_deadline()
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
            self.core.handle_timer(self.clock.now())
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
                    self.core.transport_failed(cid, self.clock.now(), str(exc), kind=kind)
                    self._process()
                    return
                transport.stream = stream
                try:
                    self.core.transport_opened(cid, self.clock.now())
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
                self.core.transport_failed(cid, self.clock.now(), f"read failed: {exc!r}")
                self._process()
                await anyio.sleep_forever()  # the pool's AbortTransport cancels us
            self.core.receive_data(cid, data, self.clock.now())
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
                    self.core.data_written(cid, self.clock.now())
                if final is not None:
                    await stream.aclose()
            except _TRANSPORT_ERRORS as exc:
                self.core.transport_failed(cid, self.clock.now(), f"write failed: {exc!r}")
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
        for _, route in self._streams:
            route(event)

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
            for _, route in self._streams:
                route(failure)
