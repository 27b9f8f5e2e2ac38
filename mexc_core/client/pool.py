"""A pool of MEXC connections, without I/O: sharding, reconnects, rotation, gaps.

Theory of operation
===================

A :class:`ConnectionPool` carries any number of topics over as many WebSocket
connections as MEXC's per-connection cap needs, and keeps them flowing through
failures. It owns :class:`~mexc_core.connection.Connection` objects and every
decision about them; it does no I/O, reads no clock and draws no random number
of its own (jitter comes from the :class:`~mexc_core.client.backoff.RandomSource` passed
in), so an adapter (:mod:`mexc_core.aio.client`) only opens sockets and moves
bytes::

    pool = ConnectionPool(PoolConfig(host="wbs-api.mexc.com"), rng=random.Random())
    pool.subscribe(topics, now)
    for intent in pool.intents():        # OpenTransport / CloseTransport / AbortTransport
        ...                              # open a socket, then pool.transport_opened(cid, now)
    pool.receive_data(cid, data, now)    # socket bytes in (b"" at EOF)
    sock.send(pool.data_to_send(cid))    # bytes out
    for event in pool.events(): ...      # Push, TopicsSubscribed, GapDetected ...
    pool.handle_timer(now)               # at pool.next_deadline()

Words used here:

- A **link** is one shard: a stable id, a set of *home* topics, and at any time
  at most one connection (one *transport*, with a pool-unique ``cid``). When the
  connection fails, the link waits out a backoff and opens a new connection that
  subscribes every home topic again.
- A topic is **carried** by a link whose connection acknowledged it. A topic that
  was carried and no longer is by any link is *down*; when a link acknowledges it
  again, :class:`~mexc_core.events.GapDetected` reports the gap
  (``spec/FAULTS.md``, "What no data loss honestly means").
- A **transfer** moves a topic to another link make-before-break: the new home
  subscribes it while the old link still carries and delivers it. The new home's
  pushes are held back until it is *aligned*: until one of them is a push the old
  link already delivered (:meth:`~mexc_core.client.dedup.Deduplicator.seen`). Then the
  old link lets the topic go and the held pushes follow, through the
  deduplicator, so the consumer sees one stream in order, without a hole and
  without a repeat, whichever socket happened to be read first. A topic that
  does not align within ``switch_timeout`` of the new home's ack (a quiet topic,
  pushes without ids) switches then. Transfers serve the 24 h rotation (every
  topic of the old link) and consolidation after unsubscribing
  (:func:`mexc_core.client.shards.consolidate`). A link whose topics all left is
  *retiring*: it is closed cleanly once nothing is carried by it any more.

The links (states of :class:`LinkState`)::

    WAITING --retry due--> CONNECTING --WebSocket open--> OPEN
       ^                        |                          |
       +------ failure ---------+-------- failure ---------+
                                                           | retired
    any --retired, refused for good, pool closed--> CLOSED <+

Rules:

1. Placement is :func:`mexc_core.client.shards.place` over the non-retiring links of the
   same kind (public, or private with the listen key), with the cap of the
   session configuration; a link is opened as soon as it has a topic.
2. A failure is classified (:class:`~mexc_core.client.backoff.FailureKind`) and the link
   reconnects after :meth:`~mexc_core.client.backoff.Backoff.after` of its failures in
   a row; a link that stayed up ``stable_after`` seconds starts again from the
   first delay. A 4xx refusal other than 429 is fatal: the link's topics are
   reported as :class:`~mexc_core.events.TopicsRejected` and forgotten.
3. A liveness failure (:class:`~mexc_core.events.HealthCheckFailed`) aborts the
   transport at once (:class:`AbortTransport`), without a close handshake. A
   server close, EOF or a protocol error ends it after sending what is queued
   (:class:`CloseTransport`).
4. A topic MEXC rejects is reported and forgotten; a subscription that is not
   acknowledged in time is reported and forgotten too, and the link is
   reconnected (a server that ignores requests is broken).
5. :class:`~mexc_core.events.RotationDue` starts a rotation: a new link takes
   every home topic of the old one by transfer; the old link closes when all are
   transferred, and :class:`~mexc_core.events.LinkRotated` is reported.
6. Private links connect only with a listen key (:meth:`ConnectionPool.set_listen_key`);
   a new key reconnects them. ``Invalid listen key`` makes the pool forget the
   key (private links then wait for a new one) and is passed on as
   :class:`~mexc_core.events.ListenKeyInvalidated` for the listen-key manager.
7. Pushes are delivered only for topics the caller wants, from a link that holds
   them, and through the deduplicator; anything else is counted and dropped.
8. Inputs for a ``cid`` the pool no longer uses (a transport it already let go)
   are ignored: adapters may report late.
"""

from __future__ import annotations

import enum
import math
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Final, final

from mexc_core._clock import checked_now
from mexc_core._topics import Topic
from mexc_core.channels import parse
from mexc_core.client.backoff import Backoff, FailureKind, RandomSource, classify_handshake_status
from mexc_core.client.dedup import Deduplicator
from mexc_core.client.shards import consolidate, place
from mexc_core.connection import (
    DEFAULT_HOST,
    DEFAULT_MAX_MESSAGE_SIZE,
    Connection,
    ConnectionState,
)
from mexc_core.errors import (
    ArgumentTypeError,
    InvalidConfig,
    ListenKeyRequired,
    RemoteProtocolError,
    StateError,
)
from mexc_core.events import (
    ConnectionClosed,
    ConnectionOpened,
    DisconnectCause,
    ErrorReplyReceived,
    Event,
    FailureCause,
    FrameRejected,
    GapCause,
    GapDetected,
    HandshakeRejected,
    HealthCheckFailed,
    LinkConnected,
    LinkDisconnected,
    LinkRotated,
    ListenKeyInvalidated,
    Push,
    RotationDue,
    ServerNoticeReceived,
    Subscribed,
    SubscriptionFailed,
    TopicsRejected,
    TopicsSubscribed,
    UnexpectedReplyReceived,
    Unsubscribed,
)
from mexc_core.session import SessionConfig, SessionState, SubscriptionState

__all__ = (
    "AbortTransport",
    "CloseTransport",
    "ConnectionPool",
    "LinkInfo",
    "LinkState",
    "OpenTransport",
    "PoolConfig",
    "PoolStats",
    "TransportIntent",
    "topic_names",
)


# ---------------------------------------------------------------- configuration


def topic_names(topics: Iterable[str | Topic]) -> list[str]:
    """Topics as validated strings, without repeats, in order.

    :raises ArgumentTypeError: ``topics`` is one topic (not a collection), or holds
        something that is no topic.
    :raises InvalidTopic: a topic string is not one MEXC accepts.
    """
    if isinstance(topics, str | Topic):
        raise ArgumentTypeError(
            "topics must be a collection of topics; wrap a single one in a list"
        )
    names: dict[str, None] = {}
    for topic in topics:
        if isinstance(topic, Topic):
            names[str(topic)] = None
        elif type(topic) is str:
            names[str(parse(topic))] = None
        else:
            raise ArgumentTypeError(f"a topic is a str or Topic, not {type(topic).__name__}")
    return list(names)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class PoolConfig:
    """Settings of a :class:`ConnectionPool`; durations in seconds.

    :ivar host: the ``Host`` header (with ``:port`` when not the default).
    :ivar path: the WebSocket path (MEXC: ``/ws``).
    :ivar session: limits and timeouts of each connection's session; its
        ``max_subscriptions`` is the cap per link.
    :ivar backoff: reconnect delays.
    :ivar open_timeout: the longest a connection may take from asking for the
        transport to the open WebSocket (TCP, TLS and the upgrade).
    :ivar close_timeout: how long a close handshake may take.
    :ivar max_message_size: the largest message accepted, in bytes.
    :ivar stable_after: a link up this long starts its backoff from the beginning
        after its next failure.
    :ivar switch_timeout: after a transfer's new home acknowledged a topic, the
        longest it waits to align with the old link before the old link drops it.
    :ivar max_held: pushes of one topic the new home of a transfer may hold back
        while it aligns; past it the topic switches at once.
    :ivar consolidate: move topics to close a link after unsubscribing, when the
        rest fit in fewer links.
    :ivar dedup: drop duplicate pushes (by trade id, version or identity).
    :ivar extra_headers: more request headers for the upgrade.
    """

    host: str = DEFAULT_HOST
    path: str = "/ws"
    session: SessionConfig = field(default_factory=SessionConfig)
    backoff: Backoff = field(default_factory=Backoff)
    open_timeout: float = 10.0
    close_timeout: float = 5.0
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    stable_after: float = 60.0
    switch_timeout: float = 10.0
    max_held: int = 10_000
    consolidate: bool = True
    dedup: bool = True
    extra_headers: tuple[tuple[bytes, bytes], ...] = ()

    def __post_init__(self) -> None:
        for name in (
            "open_timeout",
            "close_timeout",
            "stable_after",
            "switch_timeout",
        ):
            value = getattr(self, name)
            if type(value) not in (int, float) or not math.isfinite(value) or value <= 0:
                raise InvalidConfig(
                    f"{name} must be a positive number of seconds, got {value!r}", setting=name
                )
        if type(self.max_held) is not int or self.max_held < 1:
            raise InvalidConfig(
                f"max_held must be an int >= 1, got {self.max_held!r}", setting="max_held"
            )
        # Everything else is checked where it is used: by the first Connection.
        Connection(
            host=self.host,
            path=self.path,
            session_config=self.session,
            max_message_size=self.max_message_size,
            open_timeout=self.open_timeout,
            close_timeout=self.close_timeout,
            extra_headers=self.extra_headers,
        )


# ---------------------------------------------------------------- intents


@final
@dataclass(frozen=True, slots=True)
class OpenTransport:
    """Open a transport (TCP, and TLS for ``wss://``) for ``cid``.

    Then call :meth:`ConnectionPool.transport_opened`, or
    :meth:`ConnectionPool.transport_failed` if it could not be opened. The pool
    times the attempt out itself (``open_timeout``).
    """

    cid: int
    link: int


@final
@dataclass(frozen=True, slots=True)
class CloseTransport:
    """Write ``data`` (the last bytes, perhaps a close frame), then close the transport."""

    cid: int
    link: int
    data: bytes = field(repr=False)


@final
@dataclass(frozen=True, slots=True)
class AbortTransport:
    """Close the transport of ``cid`` now, writing nothing more (a dead peer)."""

    cid: int
    link: int


#: What :meth:`ConnectionPool.intents` returns.
TransportIntent = OpenTransport | CloseTransport | AbortTransport


# ---------------------------------------------------------------- state


class LinkState(enum.Enum):
    """The state of a link (see the module docstring)."""

    #: Down; reconnects at its retry time (or when a listen key arrives).
    WAITING = "waiting"
    #: A transport was asked for; the WebSocket is not open yet.
    CONNECTING = "connecting"
    #: The WebSocket is open.
    OPEN = "open"
    #: Gone for good.
    CLOSED = "closed"


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class LinkInfo:
    """A snapshot of one link, for status displays and tests.

    :ivar link: the id. :ivar state: the state. :ivar private: a listen-key link.
    :ivar cid: the current transport, if any.
    :ivar topics: its home topics. :ivar leaving: topics being transferred away.
    :ivar carried: topics its connection holds (acknowledged).
    :ivar retiring: it closes once nothing is carried.
    :ivar failures: failures in a row. :ivar retry_at: when it reconnects.
    """

    link: int
    state: LinkState
    private: bool
    cid: int | None
    topics: tuple[str, ...]
    leaving: tuple[str, ...]
    carried: tuple[str, ...]
    retiring: bool
    failures: int
    retry_at: float | None


@final
@dataclass(slots=True)
class PoolStats:
    """Counters of a pool (read them, do not write)."""

    pushes: int = 0
    duplicates: int = 0
    strays: int = 0
    connects: int = 0
    reconnects: int = 0
    disconnects: int = 0
    rotations: int = 0
    gaps: int = 0


@dataclass(slots=True, eq=False)
class _Link:
    id: int
    private: bool
    state: LinkState = LinkState.WAITING
    conn: Connection | None = None
    cid: int | None = None
    topics: dict[str, None] = field(default_factory=dict)
    # topic -> when the old link may let it go (None until the new home acked it)
    leaving: dict[str, float | None] = field(default_factory=dict)
    carried: set[str] = field(default_factory=set)
    retiring: bool = False
    failures: int = 0
    retry_at: float | None = None
    deadline: float | None = None  # the open deadline while CONNECTING
    transport_up: bool = False
    opened_at: float | None = None
    connected_before: bool = False
    rotated_to: int | None = None
    rotated_topics: tuple[str, ...] = ()


@dataclass(slots=True, eq=False)
class _Topic:
    name: str
    private: bool
    home: int
    carriers: set[int] = field(default_factory=set)
    # links this topic is being transferred away from
    sources: set[int] = field(default_factory=set)
    # pushes of the new home held back until it aligns with the old link
    held: deque[Push] = field(default_factory=deque)
    confirmed: bool = False
    down_since: float | None = None


_SESSION_LIVE: Final = frozenset(
    {SessionState.CONNECTING, SessionState.OPEN, SessionState.DRAINING}
)


class ConnectionPool:
    """Topics over sharded, self-healing MEXC connections (see the module docstring).

    :param config: settings (default: MEXC's host and the default session).
    :param rng: the source of backoff jitter (``random.Random`` seeded in tests).
    :param listen_key: the listen key for private topics, if there is one yet.
    :param private: whether private topics may be subscribed (a listen key will be
        provided with :meth:`set_listen_key`); implied by ``listen_key``.

    Expected exceptions: :class:`~mexc_core.errors.InvalidTopic`,
    :class:`~mexc_core.errors.ListenKeyRequired`,
    :class:`~mexc_core.errors.ArgumentTypeError` from the commands,
    :class:`~mexc_core.errors.StateError` after :meth:`close`, and
    :class:`~mexc_core.errors.ClockError` on a bad ``now``. Bad data from a server
    never raises: it fails that link. Any other exception is a bug.
    """

    def __init__(
        self,
        config: PoolConfig | None = None,
        *,
        rng: RandomSource,
        listen_key: str | None = None,
        private: bool = False,
    ) -> None:
        self.config: Final = config if config is not None else PoolConfig()
        self.stats: Final = PoolStats()
        self.dedup: Final = Deduplicator()
        self._rng = rng
        self._listen_key = listen_key
        self._private_allowed = private or listen_key is not None
        self._now = -math.inf
        self._closed = False
        self._links: dict[int, _Link] = {}
        self._by_cid: dict[int, _Link] = {}
        self._topics: dict[str, _Topic] = {}
        self._events: deque[Event] = deque()
        self._intents: list[TransportIntent] = []
        self._next_link = 0
        self._next_cid = 0

    def __repr__(self) -> str:
        up = sum(1 for link in self._links.values() if link.state is LinkState.OPEN)
        return f"<ConnectionPool topics={len(self._topics)} links={up}/{len(self._links)}>"

    # ------------------------------------------------------------ reading state

    @property
    def topics(self) -> tuple[str, ...]:
        """Every topic wanted, in subscription order."""
        return tuple(self._topics)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    @property
    def finished(self) -> bool:
        """Whether the pool is closed and every link is gone (the adapter may stop)."""
        return self._closed and not self._links

    def links(self) -> tuple[LinkInfo, ...]:
        """A snapshot of every link, by id."""
        return tuple(
            LinkInfo(
                link=link.id,
                state=link.state,
                private=link.private,
                cid=link.cid,
                topics=tuple(link.topics),
                leaving=tuple(link.leaving),
                carried=tuple(sorted(link.carried)),
                retiring=link.retiring,
                failures=link.failures,
                retry_at=link.retry_at,
            )
            for link in sorted(self._links.values(), key=lambda item: item.id)
        )

    def is_carried(self, topic: str | Topic) -> bool:
        """Whether some link holds ``topic`` (acknowledged and up)."""
        record = self._topics.get(str(topic))
        return record is not None and bool(record.carriers)

    # ------------------------------------------------------------ outputs

    def next_event(self) -> Event | None:
        """The oldest event not yet taken, or ``None``."""
        return self._events.popleft() if self._events else None

    def events(self) -> Iterator[Event]:
        """Take every pending event, oldest first."""
        while self._events:
            yield self._events.popleft()

    def intents(self) -> list[TransportIntent]:
        """Take the transport operations to carry out, in order."""
        out, self._intents = self._intents, []
        return out

    def data_to_send(self, cid: int) -> bytes:
        """Take the bytes to write on transport ``cid`` (``b""`` if none or unknown)."""
        link = self._by_cid.get(cid)
        if link is None or link.conn is None or not link.transport_up:
            return b""
        return link.conn.data_to_send()

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` must next be called, or ``None`` for never."""
        times: list[float | None] = []
        for link in self._links.values():
            # retry_at is None while waiting for a listen key; deadline is None
            # unless connecting.
            times.append(link.retry_at)
            times.append(link.deadline)
            if link.conn is not None and link.transport_up:
                times.append(link.conn.next_deadline())
            times.extend(link.leaving.values())
        found = [t for t in times if t is not None]
        return min(found) if found else None

    # ------------------------------------------------------------ commands

    def subscribe(self, topics: Iterable[str | Topic], now: float) -> tuple[str, ...]:
        """Want ``topics``: place them on links, opening links as needed.

        Topics already wanted are skipped. Each new topic ends in
        :class:`~mexc_core.events.TopicsSubscribed` or
        :class:`~mexc_core.events.TopicsRejected`.

        :returns: the topics that were new, as strings.
        :raises InvalidTopic: a topic is not one MEXC accepts (nothing changed).
        :raises ListenKeyRequired: a private topic, and the pool has no private side.
        :raises StateError: the pool is closed.
        """
        names = topic_names(topics)
        for name in names:
            if parse(name).spec.private and not self._private_allowed:
                raise ListenKeyRequired(
                    f"{name!r} is a private channel: give the pool a listen key", topic=name
                )
        self._command(now)
        new = [name for name in names if name not in self._topics]
        for private in (False, True):
            group = [name for name in new if parse(name).spec.private is private]
            if group:
                self._place(group, now, private=private)
        return tuple(new)

    def unsubscribe(self, topics: Iterable[str | Topic], now: float) -> tuple[str, ...]:
        """Stop wanting ``topics`` (topics not wanted are skipped).

        Links left without topics are closed; with ``consolidate``, the topics of a
        link that fit into the others are moved there and that link is closed.

        :returns: the topics that were wanted, as strings.
        :raises StateError: the pool is closed.
        """
        names = topic_names(topics)
        self._command(now)
        gone = [name for name in names if name in self._topics]
        touched: set[int] = set()
        for name in gone:
            record = self._topics.pop(name)
            self.dedup.forget(name)
            for link_id in sorted({record.home, *record.sources}):
                link = self._links[link_id]
                link.topics.pop(name, None)
                link.leaving.pop(name, None)
                link.carried.discard(name)
                self._drop_topic(link, name, now)
                touched.add(link_id)
        for link_id in sorted(touched):
            self._retire_if_idle(self._links[link_id], now)
        if gone and self.config.consolidate:
            for private in (False, True):
                self._consolidate(now, private=private)
        return tuple(gone)

    def set_listen_key(self, key: str | None, now: float) -> None:
        """Use ``key`` for private links from now on (``None``: no valid key).

        Private links connected with another key reconnect with the new one; links
        waiting for a key connect now.

        :raises ArgumentTypeError: ``key`` is neither a non-empty str nor ``None``.
        :raises StateError: the pool is closed.
        """
        if key is not None and (type(key) is not str or not key):
            raise ArgumentTypeError("a listen key is a non-empty str or None")
        self._command(now)
        if key == self._listen_key:
            return
        self._listen_key = key
        self._private_allowed = True
        if key is None:
            return  # live private links go on until MEXC drops them; then they wait
        for link in sorted(self._links.values(), key=lambda item: item.id):
            if not link.private:
                continue
            if link.state is LinkState.WAITING:
                link.retry_at = now
            else:
                self._fail(
                    link,
                    now,
                    DisconnectCause.LISTEN_KEY,
                    "the listen key was replaced",
                    FailureKind.TRANSIENT,
                    abort=False,
                    retry_now=True,
                )
        self._reconnect_due(now)

    def close(self, now: float) -> None:
        """Close every link cleanly and forget every topic; the pool is done.

        Closing twice is allowed.
        """
        if self._closed:
            return
        self._command(now)
        self._closed = True
        self._topics.clear()
        for link in sorted(self._links.values(), key=lambda item: item.id):
            link.topics.clear()
            link.leaving.clear()
            link.rotated_to = None
            self._retire_if_idle(link, now)

    # ------------------------------------------------------------ transport inputs

    def transport_opened(self, cid: int, now: float) -> None:
        """The transport of ``cid`` is connected: the WebSocket upgrade goes out."""
        self._tick(now)
        link = self._by_cid.get(cid)
        if link is None or link.conn is None or link.transport_up:
            return
        link.transport_up = True
        link.conn.connect(now)

    def transport_failed(
        self,
        cid: int,
        now: float,
        reason: str,
        *,
        kind: FailureKind = FailureKind.TRANSIENT,
    ) -> None:
        """The transport of ``cid`` could not be opened, or failed (read or write).

        :param reason: what happened, for the event.
        :param kind: ``TLS_VERIFICATION`` for a certificate problem, else transient.
        """
        self._tick(now)
        link = self._by_cid.get(cid)
        if link is None:
            return
        cause = DisconnectCause.LOST if link.transport_up else DisconnectCause.CONNECT_FAILED
        self._fail(link, now, cause, reason, kind, abort=True)

    def receive_data(self, cid: int, data: bytes | bytearray | memoryview, now: float) -> None:
        """Bytes read from transport ``cid``; ``b""`` means EOF."""
        self._tick(now)
        link = self._by_cid.get(cid)
        if link is None or link.conn is None or not link.transport_up:
            return
        conn = link.conn
        try:
            conn.receive_data(data, now)
        except RemoteProtocolError as exc:
            self._handle_events(link, now)
            if self._by_cid.get(cid) is link:
                self._fail(
                    link,
                    now,
                    DisconnectCause.PROTOCOL_ERROR,
                    f"{type(exc).__name__}: {exc}",
                    FailureKind.TRANSIENT,
                    abort=False,
                )
            return
        self._handle_events(link, now)

    def handle_timer(self, now: float) -> None:
        """Run everything due at ``now``; calling early or often is harmless."""
        self._tick(now)
        for link in sorted(self._links.values(), key=lambda item: item.id):
            # (a link is removed from the pool when it closes, and nothing here
            # closes another link than the one at hand)
            if (
                link.state is LinkState.CONNECTING
                and link.deadline is not None
                and link.deadline <= now
            ):
                self._fail(
                    link,
                    now,
                    DisconnectCause.CONNECT_FAILED,
                    f"not open within {self.config.open_timeout:g} s",
                    FailureKind.TRANSIENT,
                    abort=True,
                )
                continue
            if link.conn is not None and link.transport_up:
                link.conn.handle_timer(now)
                self._handle_events(link, now)
            for topic, until in list(link.leaving.items()):
                if until is not None and until <= now:
                    self._let_go(link, topic, now)
        self._reconnect_due(now)

    # ------------------------------------------------------------ internals: commands

    def _tick(self, now: float) -> None:
        self._now = checked_now(now, self._now)

    def _command(self, now: float) -> None:
        if self._closed:
            raise StateError(
                "the connection pool is closed", machine="pool", state="CLOSED", input="command"
            )
        self._tick(now)

    def _cap(self) -> int:
        return self.config.session.max_subscriptions

    def _used(self, link: _Link) -> int:
        used = len(link.topics) + len(link.leaving)
        if link.conn is not None:
            used = max(used, link.conn.session.used_slots)
        return used

    def _group(self, *, private: bool) -> list[_Link]:
        return [
            link
            for link in sorted(self._links.values(), key=lambda item: item.id)
            if link.private is private and not link.retiring and link.state is not LinkState.CLOSED
        ]

    def _place(self, names: list[str], now: float, *, private: bool) -> None:
        group = self._group(private=private)
        plan = place(names, {link.id: self._used(link) for link in group}, self._cap())
        for link_id, batch in plan.existing.items():
            link = self._links[link_id]
            for name in batch:
                self._topics[name] = _Topic(name=name, private=private, home=link.id)
                link.topics[name] = None
            self._subscribe_on(link, batch, now)
        for batch in plan.new:
            link = self._new_link(now, private=private)
            for name in batch:
                self._topics[name] = _Topic(name=name, private=private, home=link.id)
                link.topics[name] = None
        self._reconnect_due(now)

    def _new_link(self, now: float, *, private: bool) -> _Link:
        self._next_link += 1
        link = _Link(id=self._next_link, private=private, retry_at=now)
        self._links[link.id] = link
        return link

    def _live(self, link: _Link) -> Connection | None:
        conn = link.conn
        if (
            conn is None
            or conn.state
            not in (ConnectionState.IDLE, ConnectionState.CONNECTING, ConnectionState.OPEN)
            or conn.session.state not in _SESSION_LIVE
        ):
            return None
        return conn

    def _subscribe_on(self, link: _Link, names: Iterable[str], now: float) -> None:
        conn = self._live(link)
        if conn is not None:
            conn.subscribe(list(names), now)

    def _drop_topic(self, link: _Link, name: str, now: float) -> None:
        """Unsubscribe ``name`` on ``link``'s connection, if it knows the topic."""
        conn = self._live(link)
        if conn is not None and conn.session.state_of(name) is not SubscriptionState.UNSUBSCRIBED:
            conn.unsubscribe([name], now)

    def _consolidate(self, now: float, *, private: bool) -> None:
        group = self._group(private=private)
        if len(group) < 2 or any(link.state is not LinkState.OPEN for link in group):
            return
        moves = consolidate(
            {link.id: list(link.topics) for link in group},
            {link.id: self._used(link) for link in group},
            self._cap(),
        )
        for move in moves:
            self._transfer(move.topic, self._links[move.source], self._links[move.target], now)

    def _transfer(self, name: str, source: _Link, target: _Link, now: float) -> None:
        record = self._topics[name]
        source.retiring = True
        source.topics.pop(name)
        record.home = target.id
        target.topics[name] = None
        # The source keeps it (acknowledged, or on its way) until the target delivers.
        source.leaving[name] = None
        record.sources.add(source.id)
        self._subscribe_on(target, [name], now)

    # ------------------------------------------------------------ internals: links

    def _reconnect_due(self, now: float) -> None:
        for link in sorted(self._links.values(), key=lambda item: item.id):
            if (
                link.state is LinkState.WAITING
                and link.retry_at is not None
                and link.retry_at <= now
                and link.topics
            ):
                if link.private and self._listen_key is None:
                    link.retry_at = None  # waits for set_listen_key
                    continue
                self._open(link, now)

    def _open(self, link: _Link, now: float) -> None:
        config = self.config
        conn = Connection(
            host=config.host,
            path=config.path,
            listen_key=self._listen_key if link.private else None,
            session_config=config.session,
            max_message_size=config.max_message_size,
            open_timeout=config.open_timeout,
            close_timeout=config.close_timeout,
            extra_headers=config.extra_headers,
        )
        conn.subscribe(list(link.topics), now)
        self._next_cid += 1
        link.cid = self._next_cid
        link.conn = conn
        link.state = LinkState.CONNECTING
        link.transport_up = False
        link.retry_at = None
        link.deadline = now + config.open_timeout
        self._by_cid[link.cid] = link
        self._intents.append(OpenTransport(link.cid, link.id))

    def _release(self, link: _Link, *, abort: bool) -> None:
        """Let the transport of ``link`` go (intent issued), forgetting the connection."""
        if link.cid is None:
            return
        cid, conn = link.cid, link.conn
        del self._by_cid[cid]
        if abort or conn is None or not link.transport_up:
            self._intents.append(AbortTransport(cid, link.id))
        else:
            self._intents.append(CloseTransport(cid, link.id, conn.data_to_send()))
        link.cid = None
        link.conn = None
        link.transport_up = False
        link.deadline = None

    def _uncarry(self, link: _Link, now: float) -> None:
        for name in sorted(link.carried):
            record = self._topics.get(name)
            if record is None:
                continue
            record.carriers.discard(link.id)
            if not record.carriers and record.confirmed and record.down_since is None:
                record.down_since = now
        link.carried.clear()

    def _fail(
        self,
        link: _Link,
        now: float,
        cause: DisconnectCause,
        reason: str,
        kind: FailureKind,
        *,
        abort: bool,
        retry_after: float | None = None,
        retry_now: bool = False,
    ) -> None:
        """``link`` went down: release it, then reconnect it later or retire it."""
        topics = tuple(link.topics) + tuple(link.leaving)
        if link.conn is not None and link.conn.state is ConnectionState.OPEN and not abort:
            # Leave cleanly where the protocol still allows it (a replaced listen key).
            link.conn.close()
        self._release(link, abort=abort)
        self._uncarry(link, now)
        self.stats.disconnects += 1
        leaving = list(link.leaving)
        link.leaving.clear()
        for name in leaving:
            # The old end of a transfer died: nothing more to hand over from it.
            self._source_gone(self._topics[name], link.id)
        # A rotation whose replacement already carries every topic is complete
        # (MEXC's cut-off came before a quiet topic switched): nothing was missed.
        rotated = link.rotated_to is not None and all(
            self._topics[name].carriers for name in leaving
        )
        age = 0.0 if link.opened_at is None else now - link.opened_at
        if link.opened_at is not None and age >= self.config.stable_after:
            link.failures = 0
        link.opened_at = None
        retry_in: float | None
        if link.retiring and not link.topics:
            retry_in = None
            link.state = LinkState.CLOSED
            if rotated:
                self._finish_rotation(link, now, age=age)
        elif retry_now:
            retry_in = 0.0
        else:
            retry_in = self.config.backoff.after(
                kind, link.failures, self._rng, retry_after=retry_after
            )
        if link.state is not LinkState.CLOSED:
            if retry_in is None:
                self._refuse(link, reason)
            else:
                if not retry_now:
                    link.failures += 1
                link.state = LinkState.WAITING
                link.retry_at = now + retry_in
        self._events.append(
            LinkDisconnected(
                link=link.id, cause=cause, reason=reason, retry_in=retry_in, topics=topics
            )
        )
        if link.state is LinkState.CLOSED:
            self._links.pop(link.id, None)

    def _refuse(self, link: _Link, reason: str) -> None:
        """The server refused ``link`` for good: its topics are rejected and forgotten."""
        names = tuple(link.topics)
        for name in names:
            self._topics.pop(name, None)
            self.dedup.forget(name)
        link.topics.clear()
        link.state = LinkState.CLOSED
        # (a link that is not retiring always has home topics)
        self._events.append(
            TopicsRejected(topics=names, cause=FailureCause.CONNECTION_REFUSED, reason=reason)
        )

    def _retire_if_idle(self, link: _Link, now: float) -> None:
        """Close ``link`` (cleanly if it is open) when it has nothing left to carry."""
        if link.state is LinkState.CLOSED or link.topics or link.leaving:
            return
        link.retiring = True
        conn = link.conn
        if conn is not None and conn.state in (ConnectionState.OPEN, ConnectionState.CLOSING):
            if conn.state is ConnectionState.OPEN:
                conn.close()  # the server's close frame completes it (_on_closed)
            return
        self._release(link, abort=True)
        self._uncarry(link, now)
        link.state = LinkState.CLOSED
        self._links.pop(link.id, None)
        self._finish_rotation(link, now)

    def _let_go(self, link: _Link, name: str, now: float) -> None:
        """A transfer of ``name`` away from ``link`` is complete."""
        link.leaving.pop(name, None)
        link.carried.discard(name)
        record = self._topics[name]
        record.carriers.discard(link.id)
        self._source_gone(record, link.id)
        self._retire_if_idle(link, now)

    def _source_gone(self, record: _Topic, link_id: int) -> None:
        """``link_id`` no longer carries ``record`` for a transfer; at the last one,
        the pushes the new home held back go out."""
        record.sources.discard(link_id)
        if not record.sources:
            held, record.held = record.held, deque()
            for push in held:
                self._deliver(push)

    def _finish_rotation(self, link: _Link, now: float, *, age: float | None = None) -> None:
        if link.rotated_to is not None:
            self.stats.rotations += 1
            if age is None:
                age = 0.0 if link.opened_at is None else now - link.opened_at
            self._events.append(
                LinkRotated(old=link.id, new=link.rotated_to, age=age, topics=link.rotated_topics)
            )
            link.rotated_to = None

    def _rotate(self, link: _Link, now: float) -> None:
        # A retiring link (its topics already given away) just finishes; any other
        # link has home topics (an emptied link retires at once).
        if link.retiring:
            return
        names = tuple(link.topics)
        target = self._new_link(now, private=link.private)
        link.rotated_to = target.id
        link.rotated_topics = names
        for name in names:
            self._transfer(name, link, target, now)
        self._reconnect_due(now)

    # ------------------------------------------------------------ internals: events

    def _handle_events(self, link: _Link, now: float) -> None:
        conn = link.conn
        assert conn is not None
        for event in conn.events():
            if link.conn is not conn:
                return  # released by an earlier event; its last events are moot
            if isinstance(event, Push):
                self._on_push(link, event)
            elif isinstance(event, Subscribed):
                self._on_subscribed(link, event.topics, now)
            elif isinstance(event, SubscriptionFailed):
                self._on_subscription_failed(link, event, now)
            elif isinstance(event, ConnectionOpened):
                link.state = LinkState.OPEN
                link.deadline = None
                link.opened_at = now
                self.stats.connects += 1
                self.stats.reconnects += link.connected_before
                self._events.append(
                    LinkConnected(
                        link=link.id,
                        private=link.private,
                        topics=tuple(link.topics) + tuple(link.leaving),
                        reconnect=link.connected_before,
                    )
                )
                link.connected_before = True
            elif isinstance(event, HealthCheckFailed):
                self._fail(
                    link,
                    now,
                    DisconnectCause.UNHEALTHY,
                    f"{event.cause.value}: {event.detail}",
                    FailureKind.TRANSIENT,
                    abort=True,
                )
            elif isinstance(event, RotationDue):
                self._rotate(link, now)
            elif isinstance(event, Unsubscribed):
                # slots are free only now: the rest may fit in fewer links
                if self.config.consolidate:
                    self._consolidate(now, private=link.private)
            elif isinstance(event, ConnectionClosed):
                self._on_closed(link, event, now)
            elif isinstance(event, HandshakeRejected):
                self._fail(
                    link,
                    now,
                    DisconnectCause.HANDSHAKE_REJECTED,
                    f"HTTP {event.status_code}: {event.body[:200].decode('utf-8', 'replace')}",
                    classify_handshake_status(event.status_code),
                    abort=False,
                    retry_after=event.retry_after,
                )
            elif isinstance(event, ListenKeyInvalidated):
                # The key is dead: private links wait for a new one instead of
                # reconnecting with it (MEXC closes this connection next).
                self._listen_key = None
                self._events.append(event)
            elif isinstance(
                event,
                FrameRejected | ServerNoticeReceived | ErrorReplyReceived | UnexpectedReplyReceived,
            ):
                self._events.append(event)
            # PongReceived, UnsubscriptionFailed and
            # IdleWithoutSubscriptions need nothing: an idle link is retired as soon
            # as it has nothing to carry.

    def _on_push(self, link: _Link, push: Push) -> None:
        name = push.channel
        record = self._topics.get(name)
        if record is None or (name not in link.topics and name not in link.leaving):
            self.stats.strays += 1
            return
        if record.sources and self.config.dedup:
            if record.home == link.id:
                # The new home of a transfer: aligned once it repeats the old link.
                if self.dedup.seen(push) or len(record.held) >= self.config.max_held:
                    record.held.append(push)
                    self._switch(record)
                else:
                    record.held.append(push)
                return
            self._deliver(push)
            if record.held and self.dedup.seen(record.held[0]):
                self._switch(record)
            return
        self._deliver(push)

    def _switch(self, record: _Topic) -> None:
        """The transfer of ``record`` is aligned: the old links let it go."""
        for source in sorted(record.sources):
            self._let_go(self._links[source], record.name, self._now)

    def _deliver(self, push: Push) -> None:
        if self.config.dedup:
            admitted = self.dedup.admit(push)
            if admitted is None:
                self.stats.duplicates += 1
                return
            push = admitted
        self.stats.pushes += 1
        self._events.append(push)

    def _on_subscribed(self, link: _Link, names: tuple[str, ...], now: float) -> None:
        held: list[str] = []
        gaps: dict[float, list[str]] = {}
        for name in names:
            record = self._topics.get(name)
            if record is None or (name not in link.topics and name not in link.leaving):
                continue
            held.append(name)
            link.carried.add(name)
            record.carriers.add(link.id)
            record.confirmed = True
            if record.down_since is not None:
                gaps.setdefault(record.down_since, []).append(name)
                record.down_since = None
            # The new home's ack starts the switch; an old link's late ack does not.
            switch_at = now + self.config.switch_timeout
            for source in record.sources if record.home == link.id else ():
                self._links[source].leaving[name] = switch_at
        if not held:
            return
        self._events.append(TopicsSubscribed(link=link.id, topics=tuple(held)))
        for since, group in sorted(gaps.items()):
            self.stats.gaps += 1
            self._events.append(
                GapDetected(
                    topics=tuple(group),
                    cause=GapCause.DISCONNECTED,
                    started_at=since,
                    ended_at=now,
                )
            )

    def _on_subscription_failed(self, link: _Link, event: SubscriptionFailed, now: float) -> None:
        names = tuple(name for name in event.topics if name in link.topics and name in self._topics)
        for name in names:
            del self._topics[name]
            del link.topics[name]
            self.dedup.forget(name)
            self._drop_topic(link, name, now)
        if names:
            self._events.append(
                TopicsRejected(topics=names, cause=event.cause, reason=event.reason)
            )
        if event.cause is FailureCause.ACK_TIMEOUT:
            self._fail(
                link,
                now,
                DisconnectCause.ACK_TIMEOUT,
                event.reason,
                FailureKind.TRANSIENT,
                abort=True,
            )
        else:
            self._retire_if_idle(link, now)

    def _on_closed(self, link: _Link, event: ConnectionClosed, now: float) -> None:
        if link.retiring and not link.topics and not link.leaving:
            # our own clean close completed
            self._release(link, abort=False)
            self._uncarry(link, now)
            link.state = LinkState.CLOSED
            self._links.pop(link.id, None)
            self._events.append(
                LinkDisconnected(
                    link=link.id,
                    cause=DisconnectCause.RETIRED,
                    reason=f"closed by us ({f'{event.code} {event.reason}'.strip()})",
                    retry_in=None,
                    topics=(),
                )
            )
            self._finish_rotation(link, now)
            return
        cause = DisconnectCause.CLOSED if event.clean else DisconnectCause.LOST
        self._fail(
            link,
            now,
            cause,
            f"{event.code} {event.reason}".strip(),
            FailureKind.TRANSIENT,
            abort=False,
        )
