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
  readers and the dispatcher, at most ``max_pending`` pushes; from three quarters
  full until it is down to a quarter the readers *shed*: public pushes are
  counted unread instead of decoded, and reported as one gap per episode
  (:meth:`~mexc_core.client.core.ClientCore.start_shedding`); pushes that still do not
  fit are dropped and reported as a gap, never silently;
- the *dispatcher* task (or, while it is idle, the reader that queued the events,
  at once) calls the plugins' hooks (synchronous, isolated: a hook
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
import gc
import random
import ssl
import time
from collections.abc import AsyncIterator, Callable, Hashable, Iterable, Mapping, Sized
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Final, Literal, Protocol, TypeGuard, TypeVar, cast, overload
from urllib.parse import urlsplit

import anyio
import anyio.abc
import anyio.lowlevel
import pluggy

from mexc_core.aio.clock import AnyioClock, Clock, wall_clock_ms
from mexc_core.aio.errors import (
    ConnectError,
    HandshakeFailed,
    TlsVerificationError,
    TransportError,
    translate,
)
from mexc_core.aio.http import DEFAULT_BASE_URL, HttpClient, HttpResponse
from mexc_core.aio.logs import EventLog, client_log, plugin_log
from mexc_core.aio.streams import BoundedStream, GapMarkingStream, StreamGap
from mexc_core.aio.tap import TappedCore
from mexc_core.book.sync import BookConfig, LocalBook
from mexc_core.channels import AggreDepth, Topic, topic_names
from mexc_core.client.backoff import FailureKind
from mexc_core.client.backpressure import Inbox, OverflowPolicy, channel_key
from mexc_core.client.core import ClientCore, CoreConfig, RestCall
from mexc_core.client.pacer import SnapshotPacing
from mexc_core.client.pool import (
    AbortTransport,
    CloseTransport,
    OpenTransport,
    PoolConfig,
    PoolStats,
)
from mexc_core.client.reconcile import ReconcileConfig
from mexc_core.errors import (
    ArgumentTypeError,
    InvalidConfig,
    InvalidTopic,
    ListenKeyRequired,
    StateError,
    SubscriptionError,
)
from mexc_core.events import (
    DisconnectCause,
    Event,
    GapDetected,
    LinkDisconnected,
    PluginFailed,
    Push,
    SubscribeCompleted,
)
from mexc_core.hookspecs import (
    ClientContext,
    ClientStatus,
    QueueStatus,
    StreamReceiver,
    StreamSender,
    TaskStarter,
)
from mexc_core.listenkey import ListenKeyConfig
from mexc_core.plugins import Dispatcher, plugin_manager
from mexc_core.rest import Credentials, RestError, RestRequest

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
#: Seconds of hook time after which the dispatcher lets other tasks run (the
#: readers and the keepalive), however few events it delivered: a slow hook
#: never starves them. A turn lasts longer when the readers took longer since
#: the last one (up to ``_DISPATCH_BUDGET_MAX``): the loop is shared fairly, and
#: a hundred busy readers never starve the dispatcher either.
_DISPATCH_BUDGET: Final = 0.005
_DISPATCH_BUDGET_MAX: Final = 0.25
_TRANSPORT_ERRORS: Final = (
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    OSError,
    ssl.SSLError,
)


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


def _check_key(key: object) -> None:
    if key is not None and not callable(key):
        raise ArgumentTypeError(f"key must be a callable or None, not {type(key).__name__}")


def _check_timeout(timeout: object) -> None:
    if timeout is not None and (type(timeout) not in (int, float)):
        raise ArgumentTypeError(
            f"timeout must be a number of seconds or None, not {type(timeout).__name__}"
        )


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
    """A caller of :meth:`MexcClient.subscribe` waiting for its ticket to complete,
    or for a connection failure of one of its topics that retrying will not mend."""

    def __init__(self, topics: Iterable[str]) -> None:
        self.topics = frozenset(topics)
        self.done = anyio.Event()
        self.result: SubscribeCompleted | None = None
        self.error: ConnectError | None = None


class _Held(Protocol):
    """What the client does with each of its streams, whatever their item type."""

    @property
    def buffer(self) -> Sized: ...

    @property
    def full(self) -> bool: ...

    @property
    def policy(self) -> OverflowPolicy: ...

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

    def status(self) -> ClientStatus:
        client = self._client
        stats = client.stats
        inbox = client.inbox
        queues = [
            QueueStatus(
                name="inbox", depth=len(inbox), capacity=inbox.capacity, dropped=inbox.dropped
            )
        ]
        queues.extend(
            QueueStatus(
                name=stream.name,
                depth=len(stream.buffer),
                capacity=stream.buffer.capacity,
                dropped=stream.dropped,
                conflated=stream.conflated,
                policy=stream.policy,
            )
            for stream in client._open_streams
        )
        return ClientStatus(
            stats=replace(stats, strays=stats.strays.copy(), push_bytes=stats.push_bytes.copy()),
            links=client.pool.links(),
            books=tuple((symbol, book.state) for symbol, book in client.core.books.items()),
            queues=tuple(queues),
            running=client._dispatching and not client.pool.closed,
        )


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
    :param reconcile: private-state reconciliation (with credentials; see :doc:`/reconcile`).
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
    :param gc_freeze: move every object alive at start-up to the garbage
        collector's permanent generation (:func:`gc.freeze`), so collections
        during the run never scan them again (shorter pauses in the hot path);
        undone at exit (:func:`gc.unfreeze`). ``False`` leaves the collector alone
        (``docs/performance.rst``, "Garbage collection").
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
        reconcile: ReconcileConfig | None = None,
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
        gc_freeze: bool = True,
        options: Mapping[str, object] | None = None,
    ) -> None:
        self.endpoint: Final = Endpoint(url)
        base = config if config is not None else PoolConfig()
        self.config: Final = replace(base, host=self.endpoint.host_header, path=self.endpoint.path)
        self._ssl: ssl.SSLContext | None = None
        if self.endpoint.tls:
            self._ssl = ssl_context or ssl.create_default_context(cafile=ca_file)
        self.clock: Final[Clock] = clock or AnyioClock()
        self.pm: Final = pm or plugin_manager(*plugins, entry_points=entry_points)
        self.dispatcher: Final = Dispatcher(self.pm)
        core_config = CoreConfig(
            self.config,
            listen_key or ListenKeyConfig(),
            book or BookConfig(view_depth=DEFAULT_VIEW_DEPTH),
            snapshots or SnapshotPacing(),
            reconcile or ReconcileConfig(),
        )
        # a recorder sees every input of the core (aio/tap.py); others pay nothing
        self._tapped = bool(self.dispatcher.calls("mexc_core_input"))
        self.core: Final = (
            TappedCore(
                core_config,
                credentials=credentials,
                rng=rng or random.Random(),
                tap=self._tap,
                clock=self.clock.now,
            )
            if self._tapped
            else ClientCore(core_config, credentials=credentials, rng=rng or random.Random())
        )
        self.pool: Final = self.core.pool
        self.inbox: Final = Inbox(max_pending)
        self.credentials = credentials
        self.rest_url = rest_url
        self.wall_ms = wall_ms
        self.close_timeout = close_timeout
        self.gc_freeze = gc_freeze
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
        # every stream not closed yet (for status()), in the order opened
        self._open_streams: list[BoundedStream[object]] = []
        self._inbox_ready: anyio.Event | None = None
        self._sleep_scope: anyio.CancelScope | None = None
        self._sleeping_until: float | None = None
        self._dispatching = True
        self._shedding = False
        self._idle = False  # the dispatcher waits for events (the inbox is empty)
        self._read_time = 0.0  # seconds readers spent since the dispatcher's last turn
        self._stalled: _Held | None = None
        self._started = False
        self._closed = False
        self._log = EventLog()
        # link id -> the TLS failure of its last connection attempt (for subscribers)
        self._connect_errors: dict[int, ConnectError] = {}

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
            if self.gc_freeze:
                gc.freeze()  # start-up's objects live on: no collection needs to scan them
                stack.callback(gc.unfreeze)
            self._exit = stack.pop_all()
        client_log.info("client started: %s", self.endpoint.url)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        exit_stack, self._exit = self._exit, None
        assert exit_stack is not None
        self._closed = True
        client_log.info("client closing")
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
        :raises ConnectError: a connection that was to carry some of ``topics`` failed
            in a way that retrying soon will not mend: :class:`TlsVerificationError`
            (the certificate or host name did not verify) or :class:`HandshakeFailed`
            (the server answered the upgrade with HTTP, such as an HTML page). The
            topics stay wanted and are retried with backoff; unsubscribe them to
            give up.
        :raises InvalidTopic: a topic is not one MEXC accepts (nothing subscribed).
        :raises ListenKeyRequired: a private topic without credentials.
        :raises ArgumentTypeError: ``topics`` is not a collection of topics, or
            ``timeout`` is not a number.
        :raises StateError: the client is closed.
        """
        self._check_started()
        names = topic_names(topics)
        _check_timeout(timeout)
        ticket = self.core.subscribe(names, self.clock.now())
        await self._complete(ticket, names, wait=wait, timeout=timeout)

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
        :raises ConnectError: as for :meth:`subscribe`.
        :raises InvalidTopic: ``symbol`` or ``interval`` is not one MEXC accepts
            (:class:`~mexc_core.errors.TopicTypeError`, also a ``TypeError``, when
            it is not a str).
        :raises StateError: the client is closed.
        """
        self._check_started()
        _check_timeout(timeout)
        ticket = self.core.watch_book(symbol, self.clock.now(), interval=interval)
        topic = str(AggreDepth(symbol=symbol, interval=interval))  # type: ignore[arg-type]
        await self._complete(ticket, (topic,), wait=wait, timeout=timeout)
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
        if self._closed:
            raise StateError(
                "the client is closed: start a new MexcClient",
                machine="client",
                state="CLOSED",
                input="command",
            )

    async def _complete(
        self, ticket: int, topics: Iterable[str], *, wait: bool, timeout: float | None
    ) -> None:
        """Wait for subscribe ticket ``ticket`` to complete; raise for failed topics,
        or for a connection failure of theirs that retrying will not mend."""
        waiter = _Waiter(topics)
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
        if waiter.error is not None:
            raise waiter.error
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

    @overload
    def pushes(
        self,
        *topics: str | Topic,
        max_buffer: int = ...,
        policy: OverflowPolicy | str = ...,
        key: Callable[[Push], Hashable] | None = ...,
        gaps: Literal[False] = ...,
    ) -> BoundedStream[Push]: ...

    @overload
    def pushes(
        self,
        *topics: str | Topic,
        max_buffer: int = ...,
        policy: OverflowPolicy | str = ...,
        key: Callable[[Push], Hashable] | None = ...,
        gaps: Literal[True],
    ) -> GapMarkingStream: ...

    def pushes(
        self,
        *topics: str | Topic,
        max_buffer: int = 1000,
        policy: OverflowPolicy | str = OverflowPolicy.BLOCK,
        key: Callable[[Push], Hashable] | None = None,
        gaps: bool = False,
    ) -> BoundedStream[Push] | GapMarkingStream:
        """A bounded stream of pushes (of ``topics`` only, if given).

        With ``gaps=True`` the stream also yields a
        :class:`~mexc_core.aio.streams.StreamGap` just before the first push after
        a hole: where its own overflow policy dropped pushes, and for every
        :class:`~mexc_core.events.GapDetected` on its topics (a disconnect, the
        client's inbox overflowing, a depth version break). Without it, gaps reach
        only hooks and :meth:`events` (see :doc:`/client`, "Gaps in a stream").

        Each push's body is its channel's message type; frames that are not
        (:class:`~mexc_core.events.StrayPushReceived`) come through
        :meth:`events` instead.

        Use it as ``async with client.pushes() as stream: async for push in stream``;
        leaving the ``async with`` (or :meth:`BoundedStream.close`) unregisters it.
        A stream asked for once the client is closed is closed already: iterating
        it ends at once.

        :raises ArgumentTypeError: a topic is not a str or Topic, or ``key`` is not
            callable.
        :raises InvalidConfig: ``max_buffer`` is not an int >= 1.
        :raises ValueError: ``policy`` is not an :class:`OverflowPolicy`.
        """
        wanted = frozenset(topic_names(topics)) if topics else None
        if gaps:
            return self._gap_marking_stream(wanted, max_buffer, policy, key)

        def accepts(event: Event) -> TypeGuard[Push]:
            return isinstance(event, Push) and (wanted is None or event.channel in wanted)

        stream: BoundedStream[Push] = self._new_stream(max_buffer, policy, key=key, name="pushes")
        self._route(stream, accepts)
        return stream

    def _gap_marking_stream(
        self,
        wanted: frozenset[str] | None,
        max_buffer: int,
        policy: OverflowPolicy | str,
        key: Callable[[Push], Hashable] | None,
    ) -> GapMarkingStream:
        """``pushes(gaps=True)``: pushes of ``wanted`` and a marker per gap on them."""
        _check_key(key)
        push_key = key

        def keyed(item: Push | StreamGap) -> Hashable:
            # a marker is its own key: conflation never merges it with a push
            if isinstance(item, StreamGap) or push_key is None:
                return channel_key(item)
            return push_key(item)

        stream = GapMarkingStream(
            max_buffer, policy, key=keyed, name="pushes", on_close=self._forget_stream
        )
        self._register(stream)
        if stream.closed:
            return stream

        def route(event: Event) -> None:
            if isinstance(event, Push):
                if wanted is None or event.channel in wanted:
                    stream.send_nowait(event)
            elif isinstance(event, GapDetected):
                topics = (
                    event.topics if wanted is None else tuple(wanted.intersection(event.topics))
                )
                if topics:
                    stream.send_nowait(StreamGap.of(event, tuple(sorted(topics))))

        self._streams.append((stream, route))
        return stream

    def events(
        self,
        *kinds: type[Event],
        max_buffer: int = 1000,
        policy: OverflowPolicy | str = OverflowPolicy.BLOCK,
    ) -> BoundedStream[Event]:
        """A bounded stream of the events that are not pushes (of ``kinds`` only, if given).

        Asked for once the client is closed, the stream is closed already.

        :raises ArgumentTypeError: a kind is not an :class:`~mexc_core.events.Event` class.
        """
        for index, kind in enumerate(kinds):
            if not (isinstance(kind, type) and issubclass(kind, Event)):
                raise ArgumentTypeError(
                    f"kinds[{index}] must be an Event class such as GapDetected, not {kind!r}"
                )
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
        _check_key(key)
        stream: BoundedStream[T] = BoundedStream(
            max_buffer, policy, key=key, name=name, on_close=self._forget_stream
        )
        self._register(stream)
        self._open_streams.append(cast("BoundedStream[object]", stream))
        return stream

    def _register(self, stream: _Held) -> None:
        """A new stream: closed at once if the client is, else a ``BLOCK`` one holds
        the dispatcher back while full."""
        if self._closed:
            stream.close()  # nothing will ever come: its consumer ends at once
        elif stream.policy is OverflowPolicy.BLOCK:
            self._blocking.append(stream)

    def _route(self, stream: BoundedStream[E], accepts: Callable[[Event], TypeGuard[E]]) -> None:
        def route(event: Event) -> None:
            if accepts(event):
                stream.send_nowait(event)

        if not stream.closed:
            self._streams.append((stream, route))

    def _forget_stream(self, stream: _Held) -> None:
        self._streams = [(s, f) for s, f in self._streams if s is not stream]
        if stream in self._blocking:
            self._blocking.remove(stream)
        self._open_streams = [s for s in self._open_streams if s is not stream]

    # ------------------------------------------------------------ the pool's I/O

    def _process(self, read_at: float | None = None) -> None:
        """Carry out the core's intents, queue its events, wake whoever has work.

        ``read_at``: a reader's call, with when its bytes were read. If the
        dispatcher is idle, the reader delivers the events at once (see
        :meth:`_deliver_now`).
        """
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
        now = 0.0
        frames: bool | None = None
        for event in core.events():
            queued = True
            if frames is None:  # once per batch: cheap when frame logging is off
                frames = self._log.frames_enabled()
                now = self.clock.now() if read_at is None else read_at
            if type(event) is Push:
                if frames:
                    self._log.frame(event)
            else:
                self._on_event(event)
            self.inbox.put(event, now)
        if queued:
            if read_at is not None and self._idle:
                self._deliver_now()
            if len(self.inbox):
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

    def _on_event(self, event: Event) -> None:
        """What the client itself does with a core event that is no push: log it,
        complete or fail the subscribe calls waiting on it."""
        self._log.event(event)
        if type(event) is SubscribeCompleted:
            waiter = self._waiters.get(event.ticket)
            if waiter is not None and not waiter.done.is_set():
                waiter.result = event
                waiter.done.set()
        elif type(event) is LinkDisconnected:
            self._fail_waiters(event)

    def _note_connect_error(self, cid: int, error: ConnectError) -> None:
        """Remember why the link of ``cid`` failed to connect, for its subscribers
        (the pool's :class:`LinkDisconnected` for it comes next)."""
        for info in self.pool.links():
            if info.cid == cid:
                self._connect_errors[info.link] = error

    def _fail_waiters(self, event: LinkDisconnected) -> None:
        """Fail the subscribe calls waiting on topics of a link that cannot connect
        for a reason retrying soon will not mend (a TLS verification failure, an
        HTTP answer to the upgrade): they would otherwise wait minutes for the
        next attempt."""
        error = self._connect_errors.pop(event.link, None)  # never kept for a later failure
        if event.retry_in is None or not self._waiters:
            return  # refused for good: the ticket completes with the rejection
        if error is None and event.cause is DisconnectCause.HANDSHAKE_REJECTED:
            status = event.reason.removeprefix("HTTP ").partition(":")[0]
            error = HandshakeFailed(
                f"the server answered the WebSocket upgrade of {self.endpoint.url} with "
                f"{event.reason} (not 101 Switching Protocols): check the URL and any "
                "proxy in the way",
                status=int(status) if status.isdigit() else None,
            )
        if error is None:
            return
        topics = frozenset(event.topics)
        for waiter in self._waiters.values():
            if not waiter.done.is_set() and not waiter.topics.isdisjoint(topics):
                waiter.error = error
                waiter.done.set()

    async def _run_rest(self) -> None:
        """Run the core's REST calls (listen keys, book snapshots, reconciliation),
        a few at a time:
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
                response = await http.send(
                    request.method, request.target, list(request.headers), request.body
                )
                if self._tapped:
                    self._tap_rest(call.call_id, request, response)
                result = request.parse(response.status, response.headers, response.body)
            except RestError as exc:
                self.core.rest_result(call.call_id, exc, self.clock.now())
            except TransportError as exc:
                self.core.rest_failed(call.call_id, self.clock.now(), str(exc))
            else:
                self.core.rest_result(call.call_id, result, self.clock.now())
            self._process()

    def _tap(self, method: str, arguments: Mapping[str, object], at: float) -> None:
        kwargs = {"method": method, "arguments": arguments, "at": at}
        self._report(self.dispatcher.call("mexc_core_input", kwargs))

    def _tap_rest(self, call_id: int, request: RestRequest[object], response: HttpResponse) -> None:
        arguments = {
            "call_id": call_id,
            "method": request.method,
            "path": request.path,
            "status": response.status,
            "headers": response.headers,
            "body": response.body,
        }
        self._tap("rest_response", arguments, self.clock.now())

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

    def _deliver_now(self) -> None:
        """Deliver queued events in the reader, while the dispatcher is idle.

        The dispatcher's next turn comes only after every other reader with bytes
        has had its turn, which can be milliseconds with a hundred busy links;
        the reader that queued the events delivers them itself instead, in order
        (the inbox was empty), within one turn's budget and never into a full
        ``BLOCK`` stream: what is left waits for the dispatcher.
        """
        inbox = self.inbox
        until = time.perf_counter() + _DISPATCH_BUDGET
        while self._dispatching:
            for stream in self._blocking:
                if stream.full:
                    return
            event = inbox.take()
            if event is None:
                return
            self._deliver(event)
            if time.perf_counter() > until:
                return

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
                    kind = FailureKind.TRANSIENT
                    if isinstance(exc, TlsVerificationError):
                        kind = FailureKind.TLS_VERIFICATION
                        self._note_connect_error(cid, exc)
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
        inbox = self.inbox
        while True:
            try:
                data = await stream.receive(_READ_SIZE)
            except anyio.EndOfStream:
                data = b""
            except _TRANSPORT_ERRORS as exc:
                self.core.transport_failed(cid, self.clock.now(), f"read failed: {exc!r}")
                self._process()
                await anyio.sleep_forever()  # the pool's AbortTransport cancels us
            began = time.perf_counter()
            now = self.clock.now()
            if not self._shedding and inbox.backlog >= inbox.shed_at:
                self._shed(now, active=True)  # the consumer side is full: read, do not decode
            self.core.receive_data(cid, data, now)
            self._process(now)
            self._read_time += time.perf_counter() - began
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
        inbox = self.inbox
        since = time.perf_counter()
        budget = _DISPATCH_BUDGET
        while self._dispatching:
            for stream in self._blocking:
                if stream.full:
                    self._stalled = stream
                    await stream.wait_room()
                    self._stalled = None
            event = inbox.take()
            if self._shedding and inbox.backlog <= inbox.resume_at:
                self._shed(self.clock.now(), active=False)
            if event is None:
                self._inbox_ready = anyio.Event()
                self._idle = True
                await self._inbox_ready.wait()
                self._idle = False
                since, budget = self._turn()
                continue
            self._deliver(event)
            if time.perf_counter() - since > budget:
                await anyio.lowlevel.checkpoint()
                since, budget = self._turn()

    def _turn(self) -> tuple[float, float]:
        """A new turn of the dispatcher: when it starts, and its budget (at least as
        long as the readers took since the last turn, within bounds)."""
        budget = min(_DISPATCH_BUDGET_MAX, max(_DISPATCH_BUDGET, self._read_time))
        self._read_time = 0.0
        return time.perf_counter(), budget

    def _shed(self, now: float, *, active: bool) -> None:
        """Start or end a shedding episode (``Inbox.shed_at`` to ``Inbox.resume_at``)."""
        self._shedding = active
        if active:
            self.core.start_shedding(now)
        else:
            self.core.stop_shedding(now)
        self._process(now)

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
