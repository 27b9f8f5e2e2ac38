"""The whole MEXC client without I/O: pool, listen key and subscribe tickets.

Theory of operation
===================

:class:`ClientCore` is everything :class:`~mexc_core.aio.client.MexcClient` decides,
in one object an embedder drives from any loop. It owns

- the :class:`~mexc_core.client.pool.ConnectionPool` (sharding, reconnects,
  rotation, gaps, deduplication),
- with credentials, the :class:`~mexc_core.listenkey.ListenKeyManager` and the
  wiring between the two: a created key reaches the pool's private links, a lost
  one parks them, ``Invalid listen key`` on a socket reaches the manager, a key
  MEXC refuses to create fails the tickets waiting on private topics,
- the *subscribe tickets*: every :meth:`ClientCore.subscribe` returns a number,
  and one :class:`~mexc_core.events.SubscribeCompleted` with that number reports
  how it ended, topic by topic,
- with credentials, the :class:`~mexc_core.client.reconcile.Reconciler`: it
  remembers the private state the pushes show and, after a gap of a private
  topic, a private link going down or a listen key lost, reads orders, balances
  and fills over REST once the private topics are carried again and reports what
  changed meanwhile (``docs/reconcile.rst``).

It takes bytes, time and REST answers in, and gives intents, bytes and events
out::

    core = ClientCore(CoreConfig(pool=PoolConfig(host="wbs-api.mexc.com")),
                      credentials=creds, rng=random.Random())
    core.start(now)
    ticket = core.subscribe(["spot@private.orders.v3.api.pb"], now)
    for intent in core.intents():
        ...  # OpenTransport / CloseTransport / AbortTransport: sockets, as for the pool
        ...  # RestCall (listen keys, book snapshots, reconciliation):
             # send intent.request(wall_ms) over HTTP, then
             # core.rest_result(intent.call_id, parsed_or_RestError, now)
             # or core.rest_failed(intent.call_id, now, reason)
    core.receive_data(cid, data, now)          # socket bytes in (b"" at EOF)
    sock.send(core.data_to_send(cid))          # bytes out
    for event in core.events(): ...            # Push, SubscribeCompleted, GapDetected ...
    core.handle_timer(now)                     # at core.next_deadline()

.. mexc-transitions:: mexc_core.client.core._CORE_TRANSITIONS
   :title: client core

Rules:

1. Commands (:meth:`~ClientCore.subscribe`, :meth:`~ClientCore.unsubscribe`)
   are taken before :meth:`~ClientCore.start` and while running; after
   :meth:`~ClientCore.close` they raise :class:`~mexc_core.errors.StateError`.
   :meth:`~ClientCore.start` creates the listen key (with credentials).
2. A ticket completes once every topic it asked for is acknowledged, rejected
   by MEXC, refused with its connection, given up by :meth:`~ClientCore.unsubscribe`,
   or (private topics) waiting for a listen key MEXC refused to create. Topics
   already carried count as acknowledged at once; a ticket with nothing to wait
   for completes at once. A subscription that is not acknowledged in time is
   retried by the pool, so the ticket waits on: callers bound the wait themselves.
3. Closing completes the open tickets (their pending topics as cancelled) and
   closes every link, then deletes the listen key (deleting it first would make
   MEXC close the private streams with ``Invalid listen key``); the core is
   ``CLOSED`` once the pool has let every transport go and the key is deleted
   (or given up).
4. Events come out in the order things happened: a pool event and the listen-key
   events it causes, or a listen-key event and the pool events it causes.
5. After any input at ``now``, :meth:`~ClientCore.next_deadline` is ``None`` or
   later than ``now``.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final, cast, final

from mexc_core._machine import Machine, frozen_table
from mexc_core._topics import Topic
from mexc_core.book.sync import BookConfig, BookState, LocalBook
from mexc_core.channels import AggreDepth, spec_of, topic_names
from mexc_core.client.backoff import FailureKind, RandomSource
from mexc_core.client.pacer import SnapshotPacer, SnapshotPacing, snapshot_weight
from mexc_core.client.pool import (
    AbortTransport,
    CloseTransport,
    ConnectionPool,
    OpenTransport,
    PoolConfig,
    PoolStats,
)
from mexc_core.client.reconcile import (
    ReconcileConfig,
    ReconcileIntent,
    Reconciler,
    ReconcileResult,
    answers,
)
from mexc_core.errors import ArgumentTypeError
from mexc_core.events import (
    BookBreak,
    Event,
    FailureCause,
    GapCause,
    GapDetected,
    LinkDisconnected,
    ListenKeyCreated,
    ListenKeyCreateFailed,
    ListenKeyInvalidated,
    ListenKeyLost,
    Push,
    ReconcileTrigger,
    SubscribeCompleted,
    SubscribeFailure,
    TopicsRejected,
    TopicsSubscribed,
    TradeRecovered,
)
from mexc_core.listenkey import ListenKeyConfig, ListenKeyIntent, ListenKeyManager, ListenKeyState
from mexc_core.messages import PublicAggreDepthsV3Api
from mexc_core.rest import (
    Credentials,
    DepthSnapshot,
    ListenKey,
    ListenKeys,
    RateLimited,
    RestClient,
    RestError,
    RestRequest,
)

__all__ = (
    "ClientCore",
    "CoreConfig",
    "CoreInput",
    "CoreIntent",
    "CoreState",
    "FetchBookSnapshot",
    "RestCall",
    "RestResult",
)


@final
@dataclass(frozen=True, slots=True)
class CoreConfig:
    """The client core's settings.

    :ivar pool: connections: host, caps, timeouts, backoff, rotation.
    :ivar listen_key: listen-key timings (used with credentials only).
    :ivar book: settings of every local order book (snapshot size, buffer, retries).
    :ivar snapshots: the REST budget book snapshots are paced within.
    :ivar reconcile: private-state reconciliation (used with credentials only).
    """

    pool: PoolConfig = field(default_factory=PoolConfig)
    listen_key: ListenKeyConfig = field(default_factory=ListenKeyConfig)
    book: BookConfig = field(default_factory=BookConfig)
    snapshots: SnapshotPacing = field(default_factory=SnapshotPacing)
    reconcile: ReconcileConfig = field(default_factory=ReconcileConfig)


@final
@dataclass(frozen=True, slots=True)
class FetchBookSnapshot:
    """Fetch the REST snapshot of ``symbol``'s book (``GET /api/v3/depth``).

    :ivar symbol: the symbol.
    :ivar limit: levels per side.
    """

    symbol: str
    limit: int

    def build(self, rest: RestClient, wall_ms: int) -> RestRequest[DepthSnapshot]:
        """The request (unsigned: ``wall_ms`` is not needed)."""
        del wall_ms
        return rest.depth(self.symbol, self.limit)


@final
@dataclass(frozen=True, slots=True)
class RestCall:
    """Send a REST request, then report its outcome with ``call_id``.

    :ivar call_id: the number to answer with (:meth:`ClientCore.rest_result`,
        :meth:`ClientCore.rest_failed`).
    :ivar intent: what the request is for: a listen key (create, keep alive,
        delete, list), a book snapshot, or a reconciliation's read (account,
        open orders, fills, one order).
    """

    call_id: int
    intent: ListenKeyIntent | FetchBookSnapshot | ReconcileIntent
    _rest: RestClient = field(repr=False, compare=False)

    def request(self, wall_ms: int) -> RestRequest[RestResult]:
        """The request, signed where needed and stamped with ``wall_ms`` (ms since the epoch)."""
        built: RestRequest[RestResult] = self.intent.build(self._rest, wall_ms)
        return built


#: What a :class:`RestCall` is answered with, when it succeeds.
RestResult = ListenKey | ListenKeys | DepthSnapshot | ReconcileResult


@final
@dataclass(frozen=True, slots=True)
class _BookCall:
    topic: str
    request_id: int


@final
@dataclass(frozen=True, slots=True)
class _ReconcileCall:
    intent: ReconcileIntent


#: What :meth:`ClientCore.intents` gives: the pool's transport intents and REST calls.
CoreIntent = OpenTransport | CloseTransport | AbortTransport | RestCall


class CoreState(enum.Enum):
    """Where the client core is in its life."""

    IDLE = "idle"
    RUNNING = "running"
    CLOSING = "closing"
    CLOSED = "closed"
    ERROR = "error"


class CoreInput(enum.Enum):
    """What moves the client core."""

    START = "start"
    COMMAND = "command"  # subscribe, unsubscribe
    CLOSE = "close"
    FINISHED = "finished"  # the pool and the listen key are done


_C, _I = CoreState, CoreInput
_CORE_TRANSITIONS: Final = frozen_table(
    {
        (_C.IDLE, _I.START): _C.RUNNING,
        (_C.IDLE, _I.COMMAND): _C.IDLE,
        (_C.IDLE, _I.CLOSE): _C.CLOSING,
        (_C.RUNNING, _I.COMMAND): _C.RUNNING,
        (_C.RUNNING, _I.CLOSE): _C.CLOSING,
        (_C.CLOSING, _I.CLOSE): _C.CLOSING,
        (_C.CLOSING, _I.FINISHED): _C.CLOSED,
        (_C.CLOSED, _I.CLOSE): _C.CLOSED,
    }
)


#: Where the private channels' topics start.
_PRIVATE: Final = "spot@private."
#: The account's fills: a fill recovered over REST is remembered there (dedup).
_PRIVATE_DEALS: Final = "spot@private.deals.v3.api.pb"

_KEY_CLOSING: Final = frozenset({ListenKeyState.CLOSING, ListenKeyState.CLOSED})

#: The pool's gaps its deduplication saw, in a book's words (others: a stream gap).
_GAP_CAUSES: Final = {
    GapCause.VERSION_GAP: BookBreak.VERSION_GAP,
    GapCause.OUT_OF_ORDER: BookBreak.OVERLAP,
}


class _Outcome(enum.Enum):
    CONFIRMED = "confirmed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class _Ticket:
    """One subscribe call, until every topic it asked for has an outcome."""

    __slots__ = ("cancelled", "confirmed", "failures", "number", "pending", "topics")

    def __init__(self, number: int, topics: tuple[str, ...]) -> None:
        self.number = number
        self.topics = topics
        self.pending: set[str] = set(topics)
        self.confirmed: list[str] = []
        self.failures: list[SubscribeFailure] = []
        self.cancelled: list[str] = []

    def completion(self) -> SubscribeCompleted:
        return SubscribeCompleted(
            ticket=self.number,
            topics=self.topics,
            confirmed=tuple(self.confirmed),
            failures=tuple(self.failures),
            cancelled=tuple(self.cancelled),
        )


class ClientCore:
    """MEXC streams, sharded and kept alive, with listen keys: see the module docstring.

    :param config: pool and listen-key settings.
    :param credentials: API credentials: enable private topics, with a listen
        key created at :meth:`start` and kept alive over REST.
    :param rng: the source of backoff jitter (``random.Random``, seeded in tests).
    """

    def __init__(
        self,
        config: CoreConfig | None = None,
        *,
        credentials: Credentials | None = None,
        rng: RandomSource,
    ) -> None:
        self.config: Final = config or CoreConfig()
        self.pool: Final = ConnectionPool(
            self.config.pool, rng=rng, private=credentials is not None
        )
        self.listen_keys: Final = (
            None if credentials is None else ListenKeyManager(self.config.listen_key, rng=rng)
        )
        self._rest = None if credentials is None else RestClient(credentials)
        self.reconciler: Final = (
            Reconciler(self.config.reconcile, rng=rng)
            if credentials is not None and self.config.reconcile.enabled
            else None
        )
        self._public_rest = RestClient()
        self._rng = rng
        self._machine: Final = Machine("client core", _CORE_TRANSITIONS, _C.IDLE, _C.ERROR)
        self._events: deque[Event] = deque()
        self._intents: list[CoreIntent] = []
        # call id -> the listen-key manager's request id, the book's or the reconciler's request
        self._calls: dict[int, int | _BookCall | _ReconcileCall] = {}
        self._next_call = 0
        self._books: dict[str, LocalBook] = {}  # by depth topic
        self._wanting: dict[str, None] = {}  # depth topics of books that buffer, in order
        self._pacer: Final = SnapshotPacer(self.config.snapshots)
        self._snapshot_deadline: float | None = None
        self._check_private = False  # tell the reconciler whether they are carried
        self._tickets: dict[int, _Ticket] = {}
        self._waiting: dict[str, list[_Ticket]] = {}
        self._next_ticket = 0

    def __repr__(self) -> str:
        return (
            f"<ClientCore {self.state.name} topics={len(self.pool.topics)} "
            f"tickets={len(self._tickets)} {self.listen_keys!r}>"
        )

    # ------------------------------------------------------------ reading state

    @property
    def state(self) -> CoreState:
        """The current state."""
        return self._machine.state

    @property
    def finished(self) -> bool:
        """Closed, every transport let go and the listen key deleted."""
        return self._machine.state is _C.CLOSED

    @property
    def topics(self) -> tuple[str, ...]:
        """Every topic wanted."""
        return self.pool.topics

    @property
    def stats(self) -> PoolStats:
        """The pool's counters."""
        return self.pool.stats

    def open_tickets(self) -> tuple[int, ...]:
        """The subscribe tickets not completed yet, oldest first."""
        return tuple(self._tickets)

    @property
    def has_output(self) -> bool:
        """Events or intents wait to be taken: take them before sleeping."""
        return bool(self._events or self._intents)

    def next_event(self) -> Event | None:
        """The next event, or ``None``."""
        return self._events.popleft() if self._events else None

    def events(self) -> Iterator[Event]:
        """Drain the events (pushes included), in order."""
        events = self._events
        while events:
            yield events.popleft()

    def intents(self) -> list[CoreIntent]:
        """What to do now (each intent once), in order."""
        out, self._intents = self._intents, []
        return out

    def data_to_send(self, cid: int) -> bytes:
        """Bytes to write on transport ``cid`` (``b""`` if none)."""
        return self.pool.data_to_send(cid)

    def data_written(self, cid: int, now: float) -> None:
        """Everything :meth:`data_to_send` returned for ``cid`` was written at ``now``.

        Optional: a PING's pong deadline then counts from its write rather than
        from when it was queued (see :meth:`ConnectionPool.data_written
        <mexc_core.client.pool.ConnectionPool.data_written>`).
        """
        self.pool.data_written(cid, now)

    def writable(self) -> list[int]:
        """The transports that may have bytes to write since the last call.

        Ask :meth:`data_to_send` of these only: the work per read then does not
        grow with the number of links (see :meth:`ConnectionPool.writable
        <mexc_core.client.pool.ConnectionPool.writable>`).
        """
        return self.pool.writable()

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` must run next, or ``None``."""
        keys, reconciler = self.listen_keys, self.reconciler
        candidates = (
            self.pool.next_deadline(),
            None if keys is None else keys.next_deadline(),
            self._snapshot_deadline,
            None if reconciler is None else reconciler.next_deadline(),
        )
        return min((d for d in candidates if d is not None), default=None)

    @property
    def books(self) -> Mapping[str, LocalBook]:
        """The local order books, by symbol (read them, do not feed them)."""
        return {book.symbol: book for book in self._books.values()}

    def book(self, symbol: str) -> LocalBook:
        """The local order book of ``symbol``.

        :raises KeyError: no book is kept for ``symbol`` (see :meth:`watch_book`).
        :raises ArgumentTypeError: ``symbol`` is not a str.
        """
        _check_symbol(symbol)
        for book in self._books.values():
            if book.symbol == symbol:
                return book
        raise KeyError(f"no book is kept for {symbol!r}; call watch_book({symbol!r}) first")

    # ------------------------------------------------------------ commands

    def start(self, now: float) -> None:
        """Start: create the listen key (with credentials).

        :raises StateError: already started or closed.
        """
        self._machine.require(_I.START, "start")
        self._machine.step(_I.START)
        if self.listen_keys is not None:
            self.listen_keys.start(now)
        self._pump(now)

    def subscribe(self, topics: Iterable[str | Topic], now: float) -> int:
        """Want ``topics``; returns the ticket its :class:`SubscribeCompleted` will carry.

        :raises InvalidTopic: a topic is not one MEXC accepts (nothing subscribed).
        :raises ListenKeyRequired: a private topic without credentials.
        :raises StateError: the core is closing or closed.
        """
        self._machine.require(_I.COMMAND, "subscribe")
        names = topic_names(topics)
        self.pool.subscribe(names, now)
        self._next_ticket += 1
        ticket = _Ticket(self._next_ticket, tuple(dict.fromkeys(names)))
        for name in ticket.topics:
            if self.pool.is_carried(name):
                ticket.pending.discard(name)
                ticket.confirmed.append(name)
            else:
                self._waiting.setdefault(name, []).append(ticket)
        self._tickets[ticket.number] = ticket
        self._settle(ticket)
        self._pump(now)
        return ticket.number

    def unsubscribe(self, topics: Iterable[str | Topic], now: float) -> tuple[str, ...]:
        """Give ``topics`` up; returns those that were wanted.

        Tickets waiting on them count them as cancelled; the book kept from a
        depth topic given up is closed and forgotten.

        :raises StateError: the core is closing or closed.
        """
        self._machine.require(_I.COMMAND, "unsubscribe")
        names = topic_names(topics)
        gone = self.pool.unsubscribe(names, now)
        for name in names:
            self._resolve(name, _Outcome.CANCELLED)
            book = self._books.pop(name, None)
            if book is not None:
                book.close()
                self._wanting.pop(name, None)
        self._pump(now)
        return gone

    def watch_book(self, symbol: str, now: float, *, interval: str = "100ms") -> int:
        """Keep the local order book of ``symbol``: subscribe to its diff-depth topic
        (``spot@public.aggre.depth.v3.api.pb@<interval>@<symbol>``), fetch snapshots
        as MEXC's procedure wants, paced within the REST budget. Returns the
        subscribe ticket. Watching a symbol already watched changes nothing.

        :raises InvalidTopic: ``symbol`` or ``interval`` is not one MEXC accepts.
        :raises StateError: the core is closing or closed.
        """
        self._machine.require(_I.COMMAND, "watch a book")
        topic = str(AggreDepth(symbol=symbol, interval=interval))  # type: ignore[arg-type]
        if topic not in self._books:
            self._books[topic] = LocalBook(symbol, self.config.book, rng=self._rng)
        return self.subscribe([topic], now)

    def unwatch_book(self, symbol: str, now: float) -> None:
        """Stop keeping the book of ``symbol`` (and unsubscribe its depth topic).

        :raises StateError: the core is closing or closed.
        :raises ArgumentTypeError: ``symbol`` is not a str.
        """
        _check_symbol(symbol)
        self._machine.require(_I.COMMAND, "unwatch a book")
        self.unsubscribe([t for t, b in self._books.items() if b.symbol == symbol], now)

    def close(self, now: float) -> None:
        """Close every link, delete the listen key, complete the open tickets.

        Calling it again does nothing.
        """
        self._machine.step(_I.CLOSE)
        for name in list(self._waiting):
            self._resolve(name, _Outcome.CANCELLED)
        for book in self._books.values():
            book.close()
        self._books.clear()
        self._wanting.clear()
        self._snapshot_deadline = None
        if self.reconciler is not None:
            self.reconciler.close()
        if not self.pool.closed:
            self.pool.close(now)
        self._pump(now)  # the key is deleted once the private links are closed

    # ------------------------------------------------------------ inputs

    def transport_opened(self, cid: int, now: float) -> None:
        """The socket of an :class:`OpenTransport` is connected."""
        self.pool.transport_opened(cid, now)
        self._pump(now)

    def transport_failed(
        self, cid: int, now: float, reason: str, *, kind: FailureKind = FailureKind.TRANSIENT
    ) -> None:
        """The socket could not connect, or failed (``kind`` classifies the failure)."""
        self.pool.transport_failed(cid, now, reason, kind=kind)
        self._pump(now)

    def receive_data(self, cid: int, data: bytes | bytearray | memoryview, now: float) -> None:
        """Bytes read from socket ``cid`` (``b""`` at EOF)."""
        self.pool.receive_data(cid, data, now)
        self._pump(now)

    def rest_result(self, call_id: int, result: RestResult | RestError, now: float) -> None:
        """The answer to a :class:`RestCall`: the parsed result or the :class:`RestError`.

        Calls the core no longer waits for (after :meth:`close`, or for a book
        given up) are ignored.
        """
        call = self._calls.get(call_id)
        if call is None:
            return
        if not isinstance(result, RestError) and not _answers(call, result):
            raise ArgumentTypeError(
                f"REST call {call_id} is answered with a {type(result).__name__}, "
                "not the result of its request"
            )
        del self._calls[call_id]
        if isinstance(call, _BookCall):
            self._book_answer(call, result, now)
        elif isinstance(call, _ReconcileCall):
            assert self.reconciler is not None
            self.reconciler.receive_result(
                call.intent.request_id,
                cast("ReconcileResult | RestError", result),
                now,
            )
        else:
            self._keys().receive_result(
                call, cast("ListenKey | ListenKeys | RestError", result), now
            )
        self._pump(now)

    def rest_failed(self, call_id: int, now: float, reason: str = "transport error") -> None:
        """A :class:`RestCall` could not be completed (connection error, timeout)."""
        call = self._calls.pop(call_id, None)
        if isinstance(call, _BookCall):
            book = self._books.get(call.topic)
            if book is not None:
                book.snapshot_failed(call.request_id, now, reason)
                self._book_moved(call.topic, book)
        elif isinstance(call, _ReconcileCall):
            assert self.reconciler is not None
            self.reconciler.request_failed(call.intent.request_id, now, reason)
        elif call is not None:
            self._keys().request_failed(call, now, reason)
        self._pump(now)

    def start_shedding(self, now: float) -> None:
        """The consumer side is full: count public pushes unread instead of decoding
        them (:meth:`~mexc_core.client.pool.ConnectionPool.start_shedding`)."""
        self.pool.start_shedding(now)
        self._pump(now)

    def stop_shedding(self, now: float) -> None:
        """Decode again; the episode's :class:`~mexc_core.events.GapDetected`
        resynchronises the books it names
        (:meth:`~mexc_core.client.pool.ConnectionPool.stop_shedding`)."""
        self.pool.stop_shedding(now)
        self._pump(now)

    def handle_timer(self, now: float) -> None:
        """Run what is due at ``now``."""
        self.pool.handle_timer(now)
        keys = self.listen_keys
        if keys is not None and keys.state is not ListenKeyState.CLOSED:
            keys.handle_timer(now)
        if self.reconciler is not None:
            self.reconciler.handle_timer(now)
        self._pump(now)

    # ------------------------------------------------------------ internals

    def _keys(self) -> ListenKeyManager:
        keys = self.listen_keys
        assert keys is not None, "REST calls exist only with credentials"
        return keys

    def _pump(self, now: float) -> None:
        """Move events between the pool, the books and the listen key until all are quiet."""
        pool, keys, out, books = self.pool, self.listen_keys, self._events, self._books
        reconciler = self.reconciler
        moved = True
        while moved:
            moved = False
            for event in pool.events():
                moved = True
                if type(event) is Push:
                    out.append(event)
                    book = books.get(event.channel)
                    if book is not None:
                        self._feed_book(event.channel, book, event, now)
                    elif reconciler is not None and event.channel.startswith(_PRIVATE):
                        reconciler.observe(event, now)
                    continue
                self._on_pool_event(event, now)
                out.append(event)
                if isinstance(event, GapDetected | LinkDisconnected) and books:
                    self._break_books(event, now)
            if keys is not None:
                for event in keys.events():
                    moved = True
                    self._on_key_event(event, now)
                    out.append(event)
                for intent in keys.intents():
                    self._call(intent.request_id, intent)
            if reconciler is not None:
                if self._check_private:
                    self._check_private = False
                    reconciler.listening(now, carried=self._private_carried())
                for event in reconciler.events():
                    if type(event) is TradeRecovered:
                        # its push may still come, late: then it is a duplicate
                        pool.dedup.remember_trade(_PRIVATE_DEALS, event.trade_id)
                    out.append(event)
                for fetch in reconciler.intents():
                    self._call(_ReconcileCall(fetch), fetch)
        if self._wanting:
            self._request_snapshots(now)
        if self._machine.state is _C.CLOSING and pool.finished:
            if keys is not None and keys.state not in _KEY_CLOSING:
                keys.close(now)
                self._pump(now)
                return
            if keys is None or keys.state is ListenKeyState.CLOSED:
                self._machine.step(_I.FINISHED)
        self._intents.extend(pool.intents())

    def _call(self, call: int | _ReconcileCall, intent: ListenKeyIntent | ReconcileIntent) -> None:
        """A signed REST call for the listen-key manager or the reconciler."""
        self._next_call += 1
        self._calls[self._next_call] = call
        assert self._rest is not None
        self._intents.append(RestCall(self._next_call, intent, self._rest))

    # ------------------------------------------------------------ private state

    def _private_carried(self) -> bool:
        """Every private topic wanted is carried (and there is one)."""
        pool = self.pool
        private = [t for t in pool.topics if spec_of(t).private]
        return bool(private) and all(pool.is_carried(t) for t in private)

    # ------------------------------------------------------------ books

    def _feed_book(self, topic: str, book: LocalBook, push: Push, now: float) -> None:
        body = push.body
        assert isinstance(body, PublicAggreDepthsV3Api)  # the channel says so
        book.receive_diff(body, now)
        self._book_moved(topic, book)

    def _break_books(self, event: GapDetected | LinkDisconnected, now: float) -> None:
        # A gap of the depth topic, or its only link going down: the book cannot
        # know what it missed. (A link that goes down while another carries the
        # topic, as in a rotation, loses nothing.)
        for topic in event.topics:
            book = self._books.get(topic)
            if book is None:
                continue
            if isinstance(event, LinkDisconnected):
                if self.pool.is_carried(topic):
                    continue
                cause = BookBreak.STREAM_GAP
            else:
                cause = _GAP_CAUSES.get(event.cause, BookBreak.STREAM_GAP)
            book.stream_gap(now, cause)
            self._book_moved(topic, book)

    def _book_moved(self, topic: str, book: LocalBook) -> None:
        self._events.extend(book.events())
        if book.state is BookState.BUFFERING:
            self._wanting[topic] = None
        else:
            self._wanting.pop(topic, None)

    def _request_snapshots(self, now: float) -> None:
        """Send the snapshot requests that are due, oldest want first, within budget."""
        self._snapshot_deadline = None
        limit = self.config.book.limit
        weight = snapshot_weight(limit)
        for topic in list(self._wanting):
            book = self._books[topic]
            due = book.next_deadline()
            assert due is not None  # a wanting book buffers
            at = max(due, self._pacer.available_at(weight, now))
            if at > now:
                if self._snapshot_deadline is None or at < self._snapshot_deadline:
                    self._snapshot_deadline = at
                if due <= now:
                    break  # out of budget: the books behind wait their turn
                continue
            self._pacer.spend(weight, now)
            request_id = book.snapshot_requested(now)
            del self._wanting[topic]
            self._next_call += 1
            self._calls[self._next_call] = _BookCall(topic, request_id)
            intent = FetchBookSnapshot(book.symbol, limit)
            self._intents.append(RestCall(self._next_call, intent, self._public_rest))

    def _book_answer(self, call: _BookCall, result: RestResult | RestError, now: float) -> None:
        book = self._books.get(call.topic)
        if book is None:
            return
        if isinstance(result, DepthSnapshot):
            book.snapshot_received(call.request_id, result, now)
        elif isinstance(result, RateLimited):
            self._pacer.pause(now, result.retry_after)
            book.snapshot_failed(
                call.request_id,
                now,
                str(result),
                rate_limited=True,
                retry_after=result.retry_after,
            )
        else:
            book.snapshot_failed(call.request_id, now, str(result))
        self._book_moved(call.topic, book)

    def _on_pool_event(self, event: Event, now: float) -> None:
        if (
            self.reconciler is not None
            and isinstance(event, TopicsSubscribed | GapDetected | LinkDisconnected)
            and any(spec_of(t).private for t in event.topics)
        ):
            self._check_private = True  # the private topics may have come or gone
            if not isinstance(event, TopicsSubscribed):
                # a gap of a private topic, or a link going down with one: pushes
                # were missed (a rotation hands its topics over before the old
                # link goes down, so that link names none)
                self.reconciler.missed(ReconcileTrigger.GAP, now)
        if isinstance(event, TopicsSubscribed):
            for name in event.topics:
                self._resolve(name, _Outcome.CONFIRMED)
        elif isinstance(event, TopicsRejected):
            failure = (event.cause, event.reason)
            for name in event.topics:
                self._resolve(name, _Outcome.FAILED, failure)
        elif isinstance(event, ListenKeyInvalidated) and self.listen_keys is not None:
            self.listen_keys.key_invalidated(now)

    def _on_key_event(self, event: Event, now: float) -> None:
        pool = self.pool
        if pool.closed:
            return
        if isinstance(event, ListenKeyCreated):
            pool.set_listen_key(event.key, now)
        elif isinstance(event, ListenKeyLost):
            pool.set_listen_key(None, now)
            if self.reconciler is not None:
                self.reconciler.missed(ReconcileTrigger.LISTEN_KEY, now)
        elif isinstance(event, ListenKeyCreateFailed) and event.rejected:
            # MEXC refused to create a key (credentials, permissions, the 60-key
            # limit): tickets waiting on private topics end instead of waiting for
            # ever; the topics stay wanted and the manager retries, slowly.
            failure = (FailureCause.LISTEN_KEY_REFUSED, event.error)
            for name in [t for t in self._waiting if spec_of(t).private]:
                self._resolve(name, _Outcome.FAILED, failure)

    def _resolve(
        self, name: str, outcome: _Outcome, failure: tuple[FailureCause, str] | None = None
    ) -> None:
        for ticket in self._waiting.pop(name, ()):
            ticket.pending.discard(name)
            if outcome is _Outcome.CONFIRMED:
                ticket.confirmed.append(name)
            elif outcome is _Outcome.CANCELLED:
                ticket.cancelled.append(name)
            else:
                assert failure is not None
                cause, reason = failure
                ticket.failures.append(SubscribeFailure(topic=name, cause=cause, reason=reason))
            self._settle(ticket)

    def _settle(self, ticket: _Ticket) -> None:
        if not ticket.pending and self._tickets.pop(ticket.number, None) is not None:
            self._events.append(ticket.completion())


def _answers(call: int | _BookCall | _ReconcileCall, result: object) -> bool:
    """Whether ``result`` is of the type ``call``'s request returns."""
    if isinstance(call, _BookCall):
        return isinstance(result, DepthSnapshot)
    if isinstance(call, _ReconcileCall):
        return answers(call.intent, result)
    return isinstance(result, ListenKey | ListenKeys)


def _check_symbol(symbol: object) -> None:
    if type(symbol) is not str:
        raise ArgumentTypeError(
            f"symbol must be a str such as 'BTCUSDT', not {type(symbol).__name__}"
        )
