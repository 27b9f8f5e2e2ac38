"""A pool of MEXC connections, without I/O: sharding, reconnects, rotation, gaps.

Theory of operation
===================

A :class:`ConnectionPool` carries any number of topics over as many WebSocket
connections as MEXC's per-connection cap needs, and keeps them flowing through
failures. It owns :class:`~mexc_core.connection.Connection` objects and every
decision about them; it does no I/O, reads no clock and draws no random number
of its own (jitter comes from the :class:`~mexc_core.client.backoff.RandomSource`
passed in), so its driver (the client core, :mod:`mexc_core.client.core`) only
opens sockets and moves bytes::

    pool = ConnectionPool(PoolConfig(host="wbs-api.mexc.com"), rng=random.Random())
    pool.subscribe(topics, now)
    for intent in pool.intents():        # OpenTransport / CloseTransport / AbortTransport
        ...                              # open a socket, then pool.transport_opened(cid, now)
    pool.receive_data(cid, data, now)    # socket bytes in (b"" at EOF)
    sock.send(pool.data_to_send(cid))    # bytes out
    for event in pool.events(): ...      # Push, TopicsSubscribed, GapDetected ...
    pool.handle_timer(now)               # at pool.next_deadline()

Three kinds of machine, each a table:

- **links** (:mod:`mexc_core.client.link`): one shard each, with at most one
  connection at a time; they reconnect after a backoff, park while a private
  link may not connect, drain while they hand topics over, and close when
  nothing is left to carry;
- **topics** (:class:`TopicState`): ``PENDING`` until a link first holds the
  topic, then ``CARRIED``, or ``DOWN`` while no link holds it. ``DOWN`` back to
  ``CARRIED`` closes a gap: :class:`~mexc_core.events.GapDetected` reports it
  (what "no data loss" honestly means: every gap is detected and signalled);
  pushes lost on a live link are gaps too (rule 10), and so is a topic silent
  past its limit (rule 11);
- **hand-overs and rotations** (:mod:`mexc_core.client.handover`): a topic moves
  to another link make-before-break, without a hole and without a repeat.

The pool itself is ``RUNNING`` until :meth:`ConnectionPool.close`, then
``CLOSED`` (:attr:`ConnectionPool.finished` once its last link is gone).

.. mexc-transitions:: mexc_core.client.pool._TOPIC_TRANSITIONS
   :title: topic

Rules:

1. Placement is :func:`mexc_core.client.shards.place` over the links of the same
   kind (public, or private with the listen key) that take topics, with the cap
   of the session configuration; a link opens as soon as it has a topic.
2. A failure is classified (:class:`~mexc_core.client.backoff.FailureKind`) and
   the link reconnects after :meth:`~mexc_core.client.backoff.Backoff.after` of
   its failures in a row; a link that stayed up ``stable_after`` seconds starts
   again from the first delay. A 4xx refusal other than 429 is fatal: the
   link's topics are reported as :class:`~mexc_core.events.TopicsRejected` and
   forgotten.
3. A liveness failure (:class:`~mexc_core.events.HealthCheckFailed`) aborts the
   transport at once (:class:`AbortTransport`), without a close handshake. A
   server close, EOF or a protocol error ends it after sending what is queued
   (:class:`CloseTransport`).
4. A topic MEXC rejects is reported and forgotten. A subscription that is not
   acknowledged in time stays wanted: the server ignores requests, so the link
   is reconnected with backoff and subscribes again, until the caller gives the
   topic up or MEXC rejects it. A topic given up before its ack is unsubscribed
   on the wire by the session whether or not the ack comes (MEXC may hold it);
   its ack timeout then fails nothing.
5. :class:`~mexc_core.events.RotationDue` starts a rotation: a new link takes
   every home topic of the old one by hand-over; the old link closes when all
   are handed over, and :class:`~mexc_core.events.LinkRotated` is reported.
6. Private links connect only with a listen key (:meth:`ConnectionPool.set_listen_key`)
   and at most :data:`~mexc_core.listenkey.MAX_CONNECTIONS_PER_KEY` at a time; a
   new key reconnects them. ``Invalid listen key`` makes the pool forget the key
   (private links then park until a new one comes) and is passed on as
   :class:`~mexc_core.events.ListenKeyInvalidated` for the listen-key manager.
7. Pushes are delivered only for topics the caller wants, from a link that holds
   them, and through the deduplicator (:mod:`mexc_core.client.dedup`); anything
   else is counted (:attr:`PoolStats.unwanted`) and dropped. A diff-depth push
   that breaks the version sequence (out of order, or after a hole) is delivered
   after a :class:`~mexc_core.events.GapDetected` for its topic. A
   :class:`~mexc_core.events.StrayPushReceived` (a frame a session would not pass
   as a push: an unknown or foreign body, an unknown channel, a topic it does not
   hold) is counted per reason (:attr:`PoolStats.strays`) and passed on as it
   is, from every link: it is no push, so it is neither deduplicated nor part of
   a hand-over, and feeds no book. One with an unknown or foreign body on a
   topic the link carries is a push lost to that topic: a gap (rule 10).
8. Inputs for a ``cid`` the pool no longer uses (a transport it already let go)
   are ignored: adapters may report late. Commands after :meth:`~ConnectionPool.close`
   raise :class:`~mexc_core.errors.StateError` and change nothing.
9. After any input at ``now``, :meth:`~ConnectionPool.next_deadline` is ``None``
   or later than ``now``: a driver that sleeps until it never spins.
10. **One gap report per topic per outage.** A disconnect is one outage of each
    topic its link carried alone: it is reported once, when the topic is
    subscribed and confirmed again (cause ``DISCONNECTED``, from when it went
    down), however many reconnects that took. Pushes lost on a live link are
    reported at once: a :class:`~mexc_core.events.FrameRejected` for the topic
    its readable part names when the link carries it, otherwise for every topic
    the link carries (``FRAME_REJECTED``); a mismatched body (``BODY_MISMATCH``);
    a diff-depth version break (``VERSION_GAP``, ``OUT_OF_ORDER``). A reported
    outage stays open until a push of the topic is delivered: signals of the
    topic until then are folded into it (:attr:`PoolStats.gaps_folded`), so a
    rejected diff and the version break the next diff shows make one report,
    and so do the bad frames of a burst.
11. **Silence watchdog.** A topic with a silence limit
    (:mod:`mexc_core.client.silence`: by default klines and one pair's mini
    ticker; the rest opt in through ``PoolConfig.silence``) that gets no push
    for that long while carried, counted from its last push or its ack, is
    reported as :class:`~mexc_core.events.TopicSilent` and every link carrying
    it is aborted and reconnected (``docs/faults.rst`` section 2): a server that
    dropped a stream without a word is not trusted to restart it on request,
    and a new connection subscribes afresh. The topic's gap is reported at its
    re-ack with cause ``SILENCE`` from its last push; the link's other topics
    get their ``DISCONNECTED`` gap.
"""

from __future__ import annotations

import enum
import heapq
import math
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final, TypeVar, cast, final

from mexc_core._clock import checked_now
from mexc_core._machine import Machine, frozen_table
from mexc_core._topics import Topic
from mexc_core.channels import spec_of, topic_names
from mexc_core.client.backoff import Backoff, FailureKind, RandomSource, classify_handshake_status
from mexc_core.client.backpressure import Shedder
from mexc_core.client.dedup import Deduplicator
from mexc_core.client.handover import Handover, Rotation, RotationState
from mexc_core.client.link import (
    ACCEPTING,
    HOLDS_TRANSPORT,
    OPENING,
    TRANSPORT_UP,
    Link,
    LinkInfo,
    LinkInput,
    LinkState,
)
from mexc_core.client.shards import consolidate, place
from mexc_core.client.silence import check_overrides, silence_limit
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
    IdleWithoutSubscriptions,
    LinkConnected,
    LinkDisconnected,
    LinkRotated,
    ListenKeyInvalidated,
    PongReceived,
    Push,
    RotationDue,
    ServerNoticeReceived,
    StrayPushReceived,
    StrayReason,
    Subscribed,
    SubscriptionFailed,
    TopicSilent,
    TopicsRejected,
    TopicsSubscribed,
    UnexpectedReplyReceived,
    Unsubscribed,
    UnsubscriptionFailed,
)
from mexc_core.listenkey import MAX_CONNECTIONS_PER_KEY
from mexc_core.session import SessionConfig, SessionState, SubscriptionState

__all__ = (
    "AbortTransport",
    "CloseTransport",
    "ConnectionPool",
    "KeyInput",
    "LinkInfo",
    "LinkState",
    "OpenTransport",
    "PoolConfig",
    "PoolInput",
    "PoolState",
    "PoolStats",
    "PrivateSide",
    "TopicInput",
    "TopicState",
    "TransportIntent",
)


# ---------------------------------------------------------------- configuration


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
    :ivar switch_timeout: after a hand-over's new home acknowledged a topic, the
        longest it waits to align with the old link before the old link drops it.
    :ivar max_held: pushes of one topic the new home of a hand-over may hold back
        while it aligns; past it the topic switches at once.
    :ivar consolidate: move topics to close a link after unsubscribing, when the
        rest fit in fewer links.
    :ivar dedup: drop duplicate pushes (by trade id, version or identity).
    :ivar extra_headers: more request headers for the upgrade.
    :ivar silence: silence limits that override the channel defaults, as pairs of
        a channel's short name (``"aggre_deals"``) or a whole topic and seconds
        (``None``: not watched); a topic's own entry wins over its channel's
        (:mod:`mexc_core.client.silence`).
    :ivar silence_defaults: watch the channels that push on a timer (klines, one
        pair's mini ticker) with their default limits; off: only ``silence``.
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
    silence: tuple[tuple[str, float | None], ...] = ()
    silence_defaults: bool = True

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
        check_overrides(self.silence)
        # Everything else is checked where it is used: by the first Connection.
        self.connection()

    def silence_of(self, topic: str) -> float | None:
        """The silence limit of ``topic`` in seconds, or ``None`` when it is not watched."""
        return silence_limit(topic, dict(self.silence), defaults=self.silence_defaults)

    def connection(self, listen_key: str | None = None) -> Connection:
        """A new connection with these settings (``listen_key`` for a private link)."""
        return Connection(
            host=self.host,
            path=self.path,
            listen_key=listen_key,
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


class PoolState(enum.Enum):
    """The state of the pool as a whole."""

    #: Topics come and go.
    RUNNING = "running"
    #: Closed: links close, no command is taken.
    CLOSED = "closed"
    #: A broken rule (a bug).
    ERROR = "error"


class PoolInput(enum.Enum):
    """What moves the pool."""

    #: A caller's command (subscribe, unsubscribe, a new listen key).
    COMMAND = "command"
    #: :meth:`ConnectionPool.close`.
    CLOSE = "close"


_P = PoolState
_PI = PoolInput

_POOL_TRANSITIONS: Final[Mapping[tuple[PoolState, PoolInput], PoolState]] = frozen_table(
    {
        (_P.RUNNING, _PI.COMMAND): _P.RUNNING,
        (_P.RUNNING, _PI.CLOSE): _P.CLOSED,
        (_P.CLOSED, _PI.CLOSE): _P.CLOSED,
    }
)


class PrivateSide(enum.Enum):
    """Whether the pool serves private topics, and whether it holds a key for them."""

    #: Made without a listen key or ``private=True``: private topics are refused.
    NONE = "none"
    #: Private topics are taken; their links park until a key comes.
    AWAITING_KEY = "awaiting_key"
    #: Private links connect with the current key.
    KEYED = "keyed"
    #: A broken rule (a bug).
    ERROR = "error"


class KeyInput(enum.Enum):
    """What changes the pool's private side."""

    #: :meth:`ConnectionPool.set_listen_key` with a key.
    KEY_GIVEN = "key_given"
    #: :meth:`ConnectionPool.set_listen_key` with ``None`` in place of a key: no valid
    #: key for now (without a key, the call changes nothing).
    KEY_CLEARED = "key_cleared"
    #: MEXC said ``Invalid listen key`` (a link reported
    #: :class:`~mexc_core.events.ListenKeyInvalidated`).
    KEY_INVALIDATED = "key_invalidated"


_K = PrivateSide
_KI = KeyInput

_KEY_TRANSITIONS: Final[Mapping[tuple[PrivateSide, KeyInput], PrivateSide]] = frozen_table(
    {
        (_K.NONE, _KI.KEY_GIVEN): _K.KEYED,
        # Only a misbehaving server says it to a pool without private links.
        (_K.NONE, _KI.KEY_INVALIDATED): _K.NONE,
        (_K.AWAITING_KEY, _KI.KEY_GIVEN): _K.KEYED,
        (_K.AWAITING_KEY, _KI.KEY_INVALIDATED): _K.AWAITING_KEY,
        (_K.KEYED, _KI.KEY_GIVEN): _K.KEYED,
        (_K.KEYED, _KI.KEY_CLEARED): _K.AWAITING_KEY,
        (_K.KEYED, _KI.KEY_INVALIDATED): _K.AWAITING_KEY,
    }
)


class TopicState(enum.Enum):
    """Whether a wanted topic flows (see the module docstring)."""

    #: Wanted; no link has held it yet.
    PENDING = "pending"
    #: At least one link holds it (acknowledged, connected).
    CARRIED = "carried"
    #: It was carried and no link holds it now: a gap is open.
    DOWN = "down"
    #: A broken rule (a bug).
    ERROR = "error"


class TopicInput(enum.Enum):
    """What moves a topic."""

    #: A link acknowledged it.
    CARRY = "carry"
    #: Its last carrier let it go or went down.
    LOSE = "lose"


_T = TopicState
_TI = TopicInput

_TOPIC_TRANSITIONS: Final[Mapping[tuple[TopicState, TopicInput], TopicState]] = frozen_table(
    {
        (_T.PENDING, _TI.CARRY): _T.CARRIED,
        (_T.CARRIED, _TI.CARRY): _T.CARRIED,
        (_T.CARRIED, _TI.LOSE): _T.DOWN,
        (_T.DOWN, _TI.CARRY): _T.CARRIED,
    }
)


@final
@dataclass(slots=True)
class PoolStats:
    """Counters of a pool (read them, do not write).

    :ivar pushes: pushes delivered.
    :ivar duplicates: pushes the deduplicator dropped.
    :ivar unwanted: pushes of topics the caller no longer wants on the link that
        read them (late pushes around an unsubscription or a hand-over), dropped.
    :ivar strays: :class:`~mexc_core.events.StrayPushReceived` events of every
        link, per reason.
    :ivar push_bytes: bytes of the push frames every link received, by topic
        (duplicates and late pushes included: what crossed the wire).
    :ivar shed: pushes left unread in shedding episodes
        (:meth:`ConnectionPool.start_shedding`),
        counted when each episode ends (:attr:`ConnectionPool.shedder` counts live).
    :ivar shed_episodes: shedding episodes started.
    :ivar conflated: frames of conflated topics skipped in shedding episodes for a
        newer one of the same topic (session rule 7), counted when each ends.
    :ivar gaps: :class:`~mexc_core.events.GapDetected` events emitted.
    :ivar gaps_folded: gap signals folded into an outage already reported (rule 10).
    :ivar silences: :class:`~mexc_core.events.TopicSilent` events (rule 11).
    """

    pushes: int = 0
    duplicates: int = 0
    unwanted: int = 0
    strays: Counter[StrayReason] = field(default_factory=Counter)
    connects: int = 0
    reconnects: int = 0
    disconnects: int = 0
    rotations: int = 0
    gaps: int = 0
    push_bytes: Counter[str] = field(default_factory=Counter)
    shed: int = 0
    shed_episodes: int = 0
    conflated: int = 0
    gaps_folded: int = 0
    silences: int = 0


@final
class _Topic:
    __slots__ = (
        "carriers",
        "down_cause",
        "down_since",
        "home",
        "last_data",
        "machine",
        "name",
        "private",
        "silence",
    )

    def __init__(self, name: str, *, private: bool, home: int, silence: float | None) -> None:
        self.name: Final = name
        self.private: Final = private
        self.home = home
        self.carriers: set[int] = set()
        self.down_since: float | None = None
        #: What the gap that ``down_since`` opened will be reported as.
        self.down_cause = GapCause.DISCONNECTED
        #: The silence limit (``None``: not watched), and the time of the last push
        #: or (re)subscription the watchdog counts from.
        self.silence: Final = silence
        self.last_data = 0.0
        self.machine: Final = Machine("topic", _TOPIC_TRANSITIONS, TopicState.PENDING, _T.ERROR)


_SESSION_LIVE: Final = frozenset(
    {SessionState.CONNECTING, SessionState.OPEN, SessionState.DRAINING}
)
_CONNECTION_LIVE: Final = frozenset(
    {ConnectionState.IDLE, ConnectionState.CONNECTING, ConnectionState.OPEN}
)

#: Strays whose push was meant for its topic but did not carry its channel's body.
_LOST_BODY: Final = frozenset({StrayReason.UNKNOWN_BODY, StrayReason.FOREIGN_BODY})

E = TypeVar("E", bound=Event)
_Handler = Callable[["ConnectionPool", Link, Event, float], None]


def _on(kind: type[E], handler: Callable[[ConnectionPool, Link, E, float], None]) -> _Handler:
    # One typed registration per event type: the table dispatches on the exact
    # type, so the handler always gets the type it declares.
    del kind
    return cast(_Handler, handler)


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
    :class:`~mexc_core.errors.StateError` for a command after :meth:`close`, and
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
        #: Counts what public sessions shed during an episode (:meth:`start_shedding`).
        self.shedder: Final = Shedder()
        self._machine: Final = Machine("pool", _POOL_TRANSITIONS, PoolState.RUNNING, _P.ERROR)
        self._rng = rng
        self._listen_key = listen_key
        side = _K.KEYED if listen_key is not None else _K.AWAITING_KEY if private else _K.NONE
        self._private: Final = Machine("private side", _KEY_TRANSITIONS, side, _K.ERROR)
        self._now = -math.inf
        self._links: dict[int, Link] = {}
        self._by_cid: dict[int, Link] = {}
        #: Transports that may have bytes to write (see :meth:`writable`).
        self._writable: set[int] = set()
        #: Links whose next deadline may have moved, and a heap of the others'
        #: ``(deadline, link id, version)`` (see :meth:`next_deadline`).
        self._changed: set[Link] = set()
        self._dues: list[tuple[float, int, int]] = []
        self._topics: dict[str, _Topic] = {}
        self._handovers: dict[str, Handover] = {}
        self._rotations: dict[int, Rotation] = {}
        #: Topics whose outage was reported and no push came since (rule 10).
        self._open_gaps: set[str] = set()
        #: When the silence watchdog must look next (rule 11), or ``None``.
        self._silence_at: float | None = None
        self._events: deque[Event] = deque()
        self._intents: list[TransportIntent] = []
        self._next_link = 0
        self._next_cid = 0

    def __repr__(self) -> str:
        up = sum(1 for link in self._links.values() if link.state is LinkState.OPEN)
        return f"<ConnectionPool topics={len(self._topics)} links={up}/{len(self._links)}>"

    # ------------------------------------------------------------ reading state

    @property
    def state(self) -> PoolState:
        """The pool's state."""
        return self._machine.state

    @property
    def topics(self) -> tuple[str, ...]:
        """Every topic wanted, in subscription order."""
        return tuple(self._topics)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._machine.state is PoolState.CLOSED

    @property
    def finished(self) -> bool:
        """Whether the pool is closed and every link is gone (the adapter may stop)."""
        return self.closed and not self._links

    @property
    def listen_key(self) -> str | None:
        """The listen key private links connect with, if the pool has one."""
        return self._listen_key

    @property
    def private_side(self) -> PrivateSide:
        """Whether private topics are taken, and whether a key is held for them."""
        return self._private.state

    def links(self) -> tuple[LinkInfo, ...]:
        """A snapshot of every link, by id."""
        return tuple(link.info() for link in self._sorted_links())

    def topic_state(self, topic: str | Topic) -> TopicState | None:
        """Whether ``topic`` flows, or ``None`` when it is not wanted."""
        record = self._topics.get(str(topic))
        return None if record is None else record.machine.state

    def is_carried(self, topic: str | Topic) -> bool:
        """Whether some link holds ``topic`` (acknowledged and up)."""
        return self.topic_state(topic) is TopicState.CARRIED

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

    def writable(self) -> list[int]:
        """The transports that may have bytes to write, since the last call.

        Every call into a link's connection (bytes read, a timer, a subscription,
        a close) marks its transport; asking :meth:`data_to_send` of these alone
        finds every byte to write, so a driver's work per read does not grow with
        the number of links. Asking every transport is correct too, only slower.
        """
        found = list(self._writable)
        self._writable.clear()
        return found

    def data_to_send(self, cid: int) -> bytes:
        """Take the bytes to write on transport ``cid`` (``b""`` if none or unknown)."""
        link = self._by_cid.get(cid)
        if link is None or link.conn is None or link.state not in TRANSPORT_UP:
            return b""
        return link.conn.data_to_send()

    def data_written(self, cid: int, now: float) -> None:
        """Everything :meth:`data_to_send` returned for ``cid`` was written at ``now``.

        Optional: with it, a PING's pong deadline counts from its write, not from
        when it was queued (:meth:`Connection.data_written
        <mexc_core.connection.Connection.data_written>`). An unknown ``cid`` is
        ignored.
        """
        self._tick(now)
        link = self._by_cid.get(cid)
        if link is None or link.state not in TRANSPORT_UP:
            return
        assert link.conn is not None
        link.conn.data_written(now)
        self._changed.add(link)  # the pong deadline may have moved

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` must next be called, or ``None`` for never.

        Only the links whose deadline may have moved since the last call (a step,
        a call into the connection, a new retry or open deadline) are asked again;
        the others' deadlines wait in a heap, so the cost does not grow with the
        number of quiet links.
        """
        heap, links, changed = self._dues, self._links, self._changed
        if changed:
            for link in changed:
                if links.get(link.id) is not link:
                    continue  # gone
                link.due_version += 1
                link.due = due = link.next_deadline()
                if due is not None:
                    heapq.heappush(heap, (due, link.id, link.due_version))
            changed.clear()
            if len(heap) > 2 * len(links) + 64:  # old entries: rebuild
                heap[:] = [
                    (k.due, k.id, k.due_version) for k in links.values() if k.due is not None
                ]
                heapq.heapify(heap)
        while heap:
            _, link_id, version = heap[0]
            top = links.get(link_id)
            if top is not None and top.due_version == version:
                break
            heapq.heappop(heap)
        found = [h.switch_at for h in self._handovers.values() if h.switch_at is not None]
        if heap:
            found.append(heap[0][0])
        if self._silence_at is not None:
            found.append(self._silence_at)
        return min(found) if found else None

    # ------------------------------------------------------------ commands

    def subscribe(self, topics: Iterable[str | Topic], now: float) -> tuple[str, ...]:
        """Want ``topics``: place them on links, opening links as needed.

        Topics already wanted are skipped. Each new topic ends in
        :class:`~mexc_core.events.TopicsSubscribed` or
        :class:`~mexc_core.events.TopicsRejected` (it is retried until then).

        :returns: the topics that were new, as strings.
        :raises InvalidTopic: a topic is not one MEXC accepts (nothing changed).
        :raises ListenKeyRequired: a private topic, and the pool has no private side.
        :raises StateError: the pool is closed.
        """
        names = topic_names(topics)
        for name in names:
            if spec_of(name).private and self._private.state is _K.NONE:
                raise ListenKeyRequired(
                    f"{name!r} is a private channel: give the pool a listen key", topic=name
                )
        self._command(now)
        new = [name for name in names if name not in self._topics]
        for private in (False, True):
            group = [name for name in new if spec_of(name).private is private]
            if group:
                self._place(group, now, private=private)
        self._reconnect_due(now)
        return tuple(new)

    def unsubscribe(self, topics: Iterable[str | Topic], now: float) -> tuple[str, ...]:
        """Stop wanting ``topics`` (topics not wanted are skipped).

        Links left without topics are closed; with ``consolidate``, the topics of a
        link that fit into the others are moved there and that link is closed.

        :returns: the topics that were wanted, as strings.
        :raises StateError: the pool is closed.
        """
        names = topic_names(topics, validate=False)
        self._command(now)
        gone = [name for name in names if name in self._topics]
        self._forget(gone, now)
        if gone and self.config.consolidate:
            for private in (False, True):
                self._consolidate(now, private=private)
        return tuple(gone)

    def start_shedding(self, now: float) -> None:
        """Start a shedding episode: until :meth:`stop_shedding`, public links count
        pushes of their topics unread instead of decoding them. Starting a running
        episode changes nothing. See "Shedding before decoding" in
        :mod:`mexc_core.client.backpressure`.
        """
        self._tick(now)
        if not self.shedder.active:
            self.shedder.start(now)
            self.stats.shed_episodes += 1

    def stop_shedding(self, now: float) -> None:
        """End the shedding episode, reported as one
        :class:`~mexc_core.events.GapDetected` (cause ``OVERFLOW``, ``missed`` the
        pushes shed) naming each topic shed that is still wanted, once, unless its
        outage is reported already (rule 10: folded); deduplication starts those
        topics afresh. Ending none changes nothing. :meth:`close` ends a running
        episode first.
        """
        self._tick(now)
        counts, since = self.shedder.stop(now)
        self.stats.shed += sum(counts.values())
        self.stats.conflated = self.shedder.conflated
        for link in self._sorted_links():
            # the newest state of each conflated topic, decoded now (session rule 7)
            conn = link.conn
            if conn is not None and conn.session.release_held(now):
                self._handle_events(link, now)
        topics = [name for name in counts if name in self._topics]
        for name in topics:
            self.dedup.interrupt(name)
        # one gap per topic per outage (rule 10): a topic whose outage is open
        # already (no push since it was reported) has this episode folded into it
        new = tuple(name for name in topics if name not in self._open_gaps)
        self.stats.gaps_folded += len(topics) - len(new)
        if not new:
            return
        self.stats.gaps += 1
        self._open_gaps.update(new)
        self._events.append(
            GapDetected(
                topics=new,
                cause=GapCause.OVERFLOW,
                started_at=since,
                ended_at=now,
                missed=sum(counts[name] for name in new),
            )
        )

    def set_listen_key(self, key: str | None, now: float) -> None:
        """Use ``key`` for private links from now on (``None``: no valid key).

        Private links connected with another key reconnect with the new one; parked
        links connect now.

        :raises ArgumentTypeError: ``key`` is neither a non-empty str nor ``None``.
        :raises StateError: the pool is closed.
        """
        if key is not None and (type(key) is not str or not key):
            raise ArgumentTypeError("a listen key is a non-empty str or None")
        self._command(now)
        if key == self._listen_key:
            return
        self._listen_key = key
        self._private.step(_KI.KEY_CLEARED if key is None else _KI.KEY_GIVEN)
        if key is None:
            return  # live private links go on until MEXC drops them; then they park
        for link in self._sorted_links():
            if not link.private:
                continue
            if link.state is LinkState.WAITING:
                link.retry_at = now
            elif link.state in HOLDS_TRANSPORT:
                self._fail(
                    link,
                    now,
                    DisconnectCause.LISTEN_KEY,
                    "the listen key was replaced",
                    FailureKind.TRANSIENT,
                    abort=False,
                    retry_now=True,
                )
        self._unpark(now)
        self._reconnect_due(now)

    def close(self, now: float) -> None:
        """Close every link cleanly and forget every topic; the pool is done.

        Closing twice is allowed.
        """
        self._tick(now)
        if self.closed:
            return
        if self.shedder.active:  # what was shed is reported before the topics go
            self.stop_shedding(now)
        self._machine.step(PoolInput.CLOSE)
        self._topics.clear()
        self._handovers.clear()
        self._rotations.clear()
        self._open_gaps.clear()
        self._silence_at = None
        for link in self._sorted_links():
            link.topics.clear()
            link.leaving.clear()
            self._settle(link, now)

    # ------------------------------------------------------------ transport inputs

    def transport_opened(self, cid: int, now: float) -> None:
        """The transport of ``cid`` is connected: the WebSocket upgrade goes out."""
        self._tick(now)
        link = self._by_cid.get(cid)
        if link is None or link.state is not LinkState.OPENING:
            return
        assert link.conn is not None
        link.step(LinkInput.TRANSPORT_UP)
        link.conn.connect(now)
        self._touch(link)

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
        up = link.state in TRANSPORT_UP
        cause = DisconnectCause.LOST if up else DisconnectCause.CONNECT_FAILED
        self._fail(link, now, cause, reason, kind, abort=True)

    def receive_data(self, cid: int, data: bytes | bytearray | memoryview, now: float) -> None:
        """Bytes read from transport ``cid``; ``b""`` means EOF."""
        self._tick(now)
        link = self._by_cid.get(cid)
        if link is None or link.state not in TRANSPORT_UP:
            return
        conn = link.conn
        assert conn is not None
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
        for link in self._sorted_links():
            # (a hand-over may close another link on the way: a CLOSED link is
            # neither opening nor up, so it is passed over)
            if link.state in OPENING:
                assert link.deadline is not None
                if link.deadline <= now:
                    self._fail(
                        link,
                        now,
                        DisconnectCause.CONNECT_FAILED,
                        f"not open within {self.config.open_timeout:g} s",
                        FailureKind.TRANSIENT,
                        abort=True,
                    )
                    continue
            if link.state in TRANSPORT_UP:
                assert link.conn is not None
                link.conn.handle_timer(now)
                self._handle_events(link, now)
        for handover in list(self._handovers.values()):
            if handover.timer(now):
                self._finish_handover(handover, now)
        if self._silence_at is not None and self._silence_at <= now:
            self._watch_silence(now)
        self._reconnect_due(now)

    # ------------------------------------------------------------ internals: commands

    def _tick(self, now: float) -> None:
        self._now = checked_now(now, self._now)

    def _command(self, now: float) -> None:
        self._machine.require(PoolInput.COMMAND, "take commands")
        self._tick(now)

    def _sorted_links(self) -> list[Link]:
        return sorted(self._links.values(), key=lambda link: link.id)

    def _cap(self) -> int:
        return self.config.session.max_subscriptions

    def _used(self, link: Link) -> int:
        used = len(link.topics) + len(link.leaving)
        if link.conn is not None:
            used = max(used, link.conn.session.used_slots)
        return used

    def _group(self, *, private: bool) -> list[Link]:
        return [
            link
            for link in self._sorted_links()
            if link.private is private and link.state in ACCEPTING
        ]

    def _place(self, names: list[str], now: float, *, private: bool) -> None:
        group = self._group(private=private)
        plan = place(names, {link.id: self._used(link) for link in group}, self._cap())
        for link_id, batch in plan.existing.items():
            link = self._links[link_id]
            self._home(link, batch, private=private)
            self._subscribe_on(link, batch, now)
        for batch in plan.new:
            self._home(self._new_link(now, private=private), batch, private=private)

    def _home(self, link: Link, names: Iterable[str], *, private: bool) -> None:
        for name in names:
            self._topics[name] = _Topic(
                name, private=private, home=link.id, silence=self.config.silence_of(name)
            )
            link.topics[name] = None

    def _new_link(self, now: float, *, private: bool) -> Link:
        self._next_link += 1
        link = Link(self._next_link, private=private, retry_at=now, changed=self._changed)
        self._links[link.id] = link
        return link

    def _touch(self, link: Link) -> None:
        """A call into ``link``'s connection: it may have bytes to write, a new deadline."""
        self._changed.add(link)
        assert link.cid is not None  # a connection exists only with its transport
        self._writable.add(link.cid)

    def _live(self, link: Link) -> Connection | None:
        conn = link.conn
        if (
            conn is None
            or conn.state not in _CONNECTION_LIVE
            or conn.session.state not in _SESSION_LIVE
        ):
            return None
        return conn

    def _subscribe_on(self, link: Link, names: Iterable[str], now: float) -> None:
        conn = self._live(link)
        if conn is not None:
            conn.subscribe(list(names), now)
            self._touch(link)

    def _drop_topic(self, link: Link, name: str, now: float) -> None:
        """Unsubscribe ``name`` on ``link``'s connection, if it knows the topic."""
        conn = self._live(link)
        if conn is not None and conn.session.state_of(name) is not SubscriptionState.UNSUBSCRIBED:
            conn.unsubscribe([name], now)
            self._touch(link)

    def _consolidate(self, now: float, *, private: bool) -> None:
        group = self._group(private=private)
        if len(group) < 2 or any(link.state is not LinkState.OPEN for link in group):
            return
        moves = consolidate(
            {link.id: list(link.topics) for link in group},
            {link.id: self._used(link) for link in group},
            self._cap(),
        )
        sources: dict[int, Link] = {}
        for move in moves:
            source = sources[move.source] = self._links[move.source]
            self._transfer(move.topic, source, self._links[move.target], now)
        for source in sources.values():
            self._settle(source, now)

    def _transfer(self, name: str, source: Link, target: Link, now: float) -> None:
        """Move ``name`` from ``source`` to ``target``, make-before-break."""
        record = self._topics[name]
        source.topics.pop(name)
        record.home = target.id
        target.topics[name] = None
        handover = self._handovers.get(name)
        if handover is None:
            self._handovers[name] = Handover(
                name, source.id, target.id, max_held=self.config.max_held
            )
            source.leaving.add(name)
        else:
            # Moved on before its switch: the old target never delivered the topic
            # (its pushes were held back), so it simply drops it.
            handover.retarget(target.id)
            self._uncarry_one(source, record, now)
            self._drop_topic(source, name, now)
        self._subscribe_on(target, [name], now)

    # ------------------------------------------------------------ internals: links

    def _may_connect(self, link: Link) -> bool:
        if not link.private:
            return True
        if self._listen_key is None:
            return False
        holding = sum(
            1 for other in self._links.values() if other.private and other.state in HOLDS_TRANSPORT
        )
        return holding < MAX_CONNECTIONS_PER_KEY

    def _reconnect_due(self, now: float) -> None:
        for link in self._sorted_links():
            if link.state is LinkState.WAITING:
                assert link.retry_at is not None
                if link.retry_at > now:
                    continue
                if self._may_connect(link):
                    self._open(link, now)
                else:
                    link.step(LinkInput.PARK)
                    link.retry_at = None

    def _unpark(self, now: float) -> None:
        for link in self._sorted_links():
            if link.state is LinkState.PARKED and self._may_connect(link):
                link.step(LinkInput.UNPARK)
                link.retry_at = now

    def _open(self, link: Link, now: float) -> None:
        conn = self.config.connection(self._listen_key if link.private else None)
        conn.session.stats.push_bytes = self.stats.push_bytes  # one count for the pool
        if not link.private:
            conn.session.shedder = self.shedder  # private pushes are never shed
        conn.subscribe(list(link.topics), now)
        self._next_cid += 1
        link.step(LinkInput.DUE)
        link.cid = self._next_cid
        link.conn = conn
        link.retry_at = None
        link.deadline = now + self.config.open_timeout
        self._by_cid[link.cid] = link
        self._intents.append(OpenTransport(link.cid, link.id))

    def _release(self, link: Link, *, abort: bool) -> None:
        """Let the transport of ``link`` go (intent issued), forgetting the connection."""
        if link.cid is None:
            return
        cid, conn = link.cid, link.conn
        assert conn is not None
        del self._by_cid[cid]
        if abort or link.state not in TRANSPORT_UP:
            self._intents.append(AbortTransport(cid, link.id))
        else:
            self._intents.append(CloseTransport(cid, link.id, conn.data_to_send()))
        self._writable.discard(cid)
        link.cid = None
        link.conn = None
        link.deadline = None

    def _carry(self, link: Link, record: _Topic, now: float) -> float | None:
        """``link`` holds ``record`` now; returns when its gap began, if one closed."""
        link.carried.add(record.name)
        if not record.carriers and record.silence is not None:
            # (re)subscribed: the watchdog counts from the ack
            record.last_data = now
            due = now + record.silence
            if self._silence_at is None or due < self._silence_at:
                self._silence_at = due
        record.carriers.add(link.id)
        since, record.down_since = record.down_since, None
        record.machine.step(TopicInput.CARRY)
        return since

    def _uncarry_one(self, link: Link, record: _Topic, now: float) -> None:
        link.carried.discard(record.name)
        record.carriers.discard(link.id)
        if not record.carriers and record.machine.state is TopicState.CARRIED:
            record.machine.step(TopicInput.LOSE)
            record.down_since = now
            self.dedup.interrupt(record.name)  # the gap is signalled by the pool itself

    def _uncarry(self, link: Link, now: float) -> None:
        for name in sorted(link.carried):
            record = self._topics.get(name)
            if record is not None:
                self._uncarry_one(link, record, now)
        link.carried.clear()

    def _fail(
        self,
        link: Link,
        now: float,
        cause: DisconnectCause,
        reason: str,
        kind: FailureKind,
        *,
        abort: bool,
        retry_after: float | None = None,
        retry_now: bool = False,
    ) -> None:
        """``link`` went down: release it, then reconnect it later or end it."""
        shown = tuple(link.topics) + tuple(sorted(link.leaving))
        if link.conn is not None and link.conn.state is ConnectionState.OPEN and not abort:
            # Leave cleanly where the protocol still allows it (a replaced listen key).
            link.conn.close()
            self._touch(link)
        self._release(link, abort=abort)
        self._uncarry(link, now)
        self.stats.disconnects += 1
        self._lose_handovers(link, now)
        age = 0.0 if link.opened_at is None else now - link.opened_at
        if age >= self.config.stable_after:
            link.failures = 0
        link.opened_at = None
        retry_in: float | None = None
        if link.topics:
            retry_in = (
                0.0
                if retry_now
                else self.config.backoff.after(
                    kind, link.failures, self._rng, retry_after=retry_after
                )
            )
            if retry_in is None:
                self._refuse(link, reason, now)
        if retry_in is None:
            self._end(link, now)
        else:
            link.failures += not retry_now
            link.step(LinkInput.FAIL)
            link.retry_at = now + retry_in
        self._events.append(
            LinkDisconnected(
                link=link.id, cause=cause, reason=reason, retry_in=retry_in, topics=shown
            )
        )
        if link.private:
            self._unpark(now)

    def _lose_handovers(self, link: Link, now: float) -> None:
        """``link`` went down: the hand-overs it was part of go on without it."""
        for name in sorted(link.leaving):
            handover = self._handovers[name]
            handover.source_lost(link.id)
            self._finish_handover(handover, now)
        link.leaving.clear()
        for handover in list(self._handovers.values()):
            if handover.target == link.id:
                handover.target_lost()

    def _forget(self, names: Iterable[str], now: float, *, skip: Link | None = None) -> None:
        """Stop wanting ``names``: every link lets them go (unsubscribing where it can),
        and those left without topics settle (``skip`` excepted: its caller ends it)."""
        touched: set[int] = set()
        for name in names:
            record = self._topics.pop(name)
            self.dedup.forget(name)
            self._open_gaps.discard(name)
            handover = self._handovers.pop(name, None)
            sources = handover.sources if handover is not None else set()
            for link_id in sorted({record.home, *sources}):
                link = self._links[link_id]
                link.topics.pop(name, None)
                link.leaving.discard(name)
                link.carried.discard(name)
                self._drop_topic(link, name, now)
                touched.add(link_id)
        for link_id in sorted(touched):
            link = self._links[link_id]
            if link is not skip:
                self._settle(link, now)

    def _refuse(self, link: Link, reason: str, now: float) -> None:
        """The server refused ``link`` for good: its topics are rejected and forgotten."""
        names = tuple(link.topics)
        self._forget(names, now, skip=link)
        self._events.append(
            TopicsRejected(topics=names, cause=FailureCause.CONNECTION_REFUSED, reason=reason)
        )

    def _end(self, link: Link, now: float) -> None:
        """``link`` is gone for good; a rotation it was the old side of ends too."""
        link.step(LinkInput.END)
        del self._links[link.id]
        rotation = self._rotations.pop(link.id, None)
        if rotation is None:
            return
        complete = all(
            name not in self._topics or self._topics[name].carriers for name in rotation.topics
        )
        if rotation.end(complete=complete) is RotationState.ROTATED:
            self.stats.rotations += 1
            self._events.append(
                LinkRotated(
                    old=rotation.old,
                    new=rotation.new,
                    age=now - rotation.opened_at,
                    topics=rotation.topics,
                )
            )

    def _settle(self, link: Link, now: float) -> None:
        """After topics left ``link``: drain, close cleanly, or end it, as it needs."""
        if link.topics or link.state is LinkState.CLOSED:
            return
        if link.leaving:
            if link.state is LinkState.OPEN:
                link.step(LinkInput.DRAIN)
            return
        if link.state in (LinkState.OPEN, LinkState.DRAINING):
            link.step(LinkInput.RETIRE)
            assert link.conn is not None
            if link.conn.state is ConnectionState.OPEN:
                link.conn.close()  # the server's close frame completes it (_on_closed)
                self._touch(link)
            return
        if link.state is LinkState.CLOSING:
            return
        self._release(link, abort=True)
        self._uncarry(link, now)
        self._end(link, now)

    def _finish_handover(self, handover: Handover, now: float) -> None:
        """``handover`` switched or was abandoned: its sources let go, held pushes flow."""
        del self._handovers[handover.topic]
        record = self._topics[handover.topic]
        for source_id in sorted(handover.sources):
            source = self._links[source_id]
            source.leaving.discard(handover.topic)
            self._uncarry_one(source, record, now)
        for push in handover.release():
            self._deliver(push, now)
        for source_id in sorted(handover.sources):
            self._settle(self._links[source_id], now)

    def _rotate(self, link: Link, now: float) -> None:
        # A draining link (its topics already given away) just finishes.
        if not link.topics:
            return
        names = tuple(link.topics)
        target = self._new_link(now, private=link.private)
        assert link.opened_at is not None
        self._rotations[link.id] = Rotation(link.id, target.id, names, link.opened_at)
        for name in names:
            self._transfer(name, link, target, now)
        self._settle(link, now)
        self._reconnect_due(now)

    # ------------------------------------------------------------ internals: events

    def _handle_events(self, link: Link, now: float) -> None:
        conn = link.conn
        assert conn is not None
        self._touch(link)  # after every read and timer of the connection
        for event in conn.events():
            if link.conn is not conn:
                return  # released by an earlier event; its last events are moot
            if type(event) is Push:
                self._on_push(link, event, now)
            else:
                _ON_EVENT[type(event)](self, link, event, now)

    def _on_push(self, link: Link, push: Push, now: float) -> None:
        name = push.channel
        record = self._topics.get(name)
        if record is None or (name not in link.topics and name not in link.leaving):
            self.stats.unwanted += 1
            return
        record.last_data = now
        handover = self._handovers.get(name) if self.config.dedup else None
        if handover is None:
            self._deliver(push, now)
        elif handover.target == link.id:
            if handover.from_target(push, self.dedup.seen):
                self._finish_handover(handover, now)
        else:
            self._deliver(push, now)
            if handover.after_source(self.dedup.seen):
                self._finish_handover(handover, now)

    def _deliver(self, push: Push, now: float) -> None:
        dedup = self.dedup
        if self.config.dedup:
            admitted = dedup.admit(push)
            if admitted is None:
                self.stats.duplicates += 1
                return
            if dedup.breaks:
                for topic, cause in dedup.take_breaks():
                    self._gap_seen((topic,), cause, now)
            push = admitted
        self.stats.pushes += 1
        self._events.append(push)
        if self._open_gaps:
            self._open_gaps.discard(push.channel)  # data flows: the outage is over

    def _gap_seen(self, topics: Iterable[str], cause: GapCause, now: float) -> None:
        """Pushes of ``topics`` were lost on a live link: report the outage of each
        topic that has none open; fold the others into theirs (rule 10)."""
        new: list[str] = []
        for name in topics:
            if name in self._open_gaps:
                self.stats.gaps_folded += 1
            else:
                new.append(name)
        if new:
            self.stats.gaps += 1
            self._open_gaps.update(new)
            self._events.append(
                GapDetected(topics=tuple(new), cause=cause, started_at=now, ended_at=now)
            )

    def _watch_silence(self, now: float) -> None:
        """Replace the links of watched topics silent past their limit (rule 11)."""
        due: float | None = None
        silent: list[_Topic] = []
        for record in self._topics.values():
            if record.silence is None or not record.carriers:
                continue
            expiry = record.last_data + record.silence
            if expiry <= now:
                silent.append(record)
            elif due is None or expiry < due:
                due = expiry
        self._silence_at = due
        failing: dict[int, str] = {}
        for record in silent:
            assert record.silence is not None
            for link_id in sorted(record.carriers):
                self.stats.silences += 1
                self._events.append(
                    TopicSilent(
                        topic=record.name,
                        link=link_id,
                        last_data=record.last_data,
                        limit=record.silence,
                    )
                )
                failing.setdefault(
                    link_id,
                    f"{record.name} sent nothing for {now - record.last_data:g} s "
                    f"(limit {record.silence:g} s)",
                )
        for link_id, reason in sorted(failing.items()):
            self._fail(
                self._links[link_id],
                now,
                DisconnectCause.UNHEALTHY,
                reason,
                FailureKind.TRANSIENT,
                abort=True,
            )
        for record in silent:
            # every carrier failed: it is DOWN, its gap reported at the re-ack from
            # its last push (rule 10)
            record.down_since = record.last_data
            record.down_cause = GapCause.SILENCE

    def _on_opened(self, link: Link, event: ConnectionOpened, now: float) -> None:
        link.step(LinkInput.WEBSOCKET_OPEN)
        link.deadline = None
        link.opened_at = now
        self.stats.connects += 1
        self.stats.reconnects += link.connects > 0
        self._events.append(
            LinkConnected(
                link=link.id,
                private=link.private,
                topics=tuple(link.topics) + tuple(sorted(link.leaving)),
                reconnect=link.connects > 0,
            )
        )
        link.connects += 1

    def _on_subscribed(self, link: Link, event: Subscribed, now: float) -> None:
        held: list[str] = []
        gaps: dict[tuple[float, GapCause], list[str]] = {}
        for name in event.topics:
            record = self._topics.get(name)
            if record is None or (name not in link.topics and name not in link.leaving):
                continue
            held.append(name)
            cause, record.down_cause = record.down_cause, GapCause.DISCONNECTED
            since = self._carry(link, record, now)
            if since is not None:
                gaps.setdefault((since, cause), []).append(name)
            # The new home's ack starts the switch; an old link's late ack does not.
            handover = self._handovers.get(name)
            if handover is not None and handover.target == link.id:
                handover.acked(now + self.config.switch_timeout)
        if not held:
            return
        self._events.append(TopicsSubscribed(link=link.id, topics=tuple(held)))
        for (since, cause), group in sorted(gaps.items(), key=lambda item: item[0][0]):
            # One report per outage, at its end (rule 10); in-band signals until
            # the next push belong to it.
            self.stats.gaps += 1
            self._open_gaps.update(group)
            self._events.append(
                GapDetected(topics=tuple(group), cause=cause, started_at=since, ended_at=now)
            )

    def _on_subscription_failed(self, link: Link, event: SubscriptionFailed, now: float) -> None:
        if event.cause is FailureCause.ACK_TIMEOUT:
            if not any(name in link.topics or name in link.leaving for name in event.topics):
                # Given up before the ack: the session unsubscribes them on the
                # wire (MEXC may hold them); nothing here waits for them.
                return
            # The topics stay wanted (rule 4): the server ignores requests, so the
            # link reconnects with backoff and subscribes them again.
            self._fail(
                link,
                now,
                DisconnectCause.ACK_TIMEOUT,
                event.reason,
                FailureKind.TRANSIENT,
                abort=True,
            )
            return
        names = tuple(name for name in event.topics if name in link.topics and name in self._topics)
        self._forget(names, now)
        if names:
            self._events.append(
                TopicsRejected(topics=names, cause=event.cause, reason=event.reason)
            )

    def _on_unhealthy(self, link: Link, event: HealthCheckFailed, now: float) -> None:
        self._fail(
            link,
            now,
            DisconnectCause.UNHEALTHY,
            f"{event.cause.value}: {event.detail}",
            FailureKind.TRANSIENT,
            abort=True,
        )

    def _on_rotation_due(self, link: Link, event: RotationDue, now: float) -> None:
        self._rotate(link, now)

    def _on_unsubscribed(self, link: Link, event: Unsubscribed, now: float) -> None:
        # slots are free only now: the rest may fit in fewer links
        if self.config.consolidate:
            self._consolidate(now, private=link.private)

    def _on_closed(self, link: Link, event: ConnectionClosed, now: float) -> None:
        if link.state is LinkState.CLOSING:
            # our own clean close completed
            self._release(link, abort=False)
            self._uncarry(link, now)
            self._events.append(
                LinkDisconnected(
                    link=link.id,
                    cause=DisconnectCause.RETIRED,
                    reason=f"closed by us ({f'{event.code} {event.reason}'.strip()})",
                    retry_in=None,
                    topics=(),
                )
            )
            self._end(link, now)
            if link.private:
                self._unpark(now)
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

    def _on_refused(self, link: Link, event: HandshakeRejected, now: float) -> None:
        self._fail(
            link,
            now,
            DisconnectCause.HANDSHAKE_REJECTED,
            f"HTTP {event.status_code}: {event.body[:200].decode('utf-8', 'replace')}",
            classify_handshake_status(event.status_code),
            abort=False,
            retry_after=event.retry_after,
        )

    def _on_key_invalidated(self, link: Link, event: ListenKeyInvalidated, now: float) -> None:
        # The key is dead: private links park for a new one instead of reconnecting
        # with it (MEXC closes this connection next).
        self._listen_key = None
        self._private.step(_KI.KEY_INVALIDATED)
        self._events.append(event)

    def _pass_on(self, link: Link, event: Event, now: float) -> None:
        self._events.append(event)

    def _on_stray(self, link: Link, event: StrayPushReceived, now: float) -> None:
        # Reported, never delivered as a push (rule 7). A mismatched body on a
        # topic this link carries is a push lost to that topic: a gap (rule 10).
        self.stats.strays[event.reason] += 1
        self._events.append(event)
        name = event.push.channel
        if event.reason in _LOST_BODY and name in link.carried:
            self._gap_seen((name,), GapCause.BODY_MISMATCH, now)
        elif event.reason is StrayReason.UNKNOWN_CHANNEL and link.carried:
            # nothing was subscribed under that name: it may stand for a push of
            # any topic the link carries (as a frame that cannot be read)
            self._gap_seen(sorted(link.carried), GapCause.UNKNOWN_CHANNEL, now)

    def _on_rejected(self, link: Link, event: FrameRejected, now: float) -> None:
        # The frame may have carried any topic of this link: the one its readable
        # part names, when the link carries it, else every one it carries (rule 10).
        self._events.append(event)
        name = event.channel
        topics = (name,) if name is not None and name in link.carried else sorted(link.carried)
        self._gap_seen(topics, GapCause.FRAME_REJECTED, now)

    def _ignore(self, link: Link, event: Event, now: float) -> None:
        # A PONG, an unacknowledged unsubscription (the topic is gone from the pool
        # either way) and an idle warning (an emptied link is retired at once)
        # need nothing.
        pass


#: What the pool does with each event of a connection, by exact type (pushes go
#: straight to :meth:`ConnectionPool._on_push`).
_ON_EVENT: Final[Mapping[type[Event], _Handler]] = {
    ConnectionOpened: _on(ConnectionOpened, ConnectionPool._on_opened),
    Subscribed: _on(Subscribed, ConnectionPool._on_subscribed),
    SubscriptionFailed: _on(SubscriptionFailed, ConnectionPool._on_subscription_failed),
    HealthCheckFailed: _on(HealthCheckFailed, ConnectionPool._on_unhealthy),
    RotationDue: _on(RotationDue, ConnectionPool._on_rotation_due),
    Unsubscribed: _on(Unsubscribed, ConnectionPool._on_unsubscribed),
    ConnectionClosed: _on(ConnectionClosed, ConnectionPool._on_closed),
    HandshakeRejected: _on(HandshakeRejected, ConnectionPool._on_refused),
    ListenKeyInvalidated: _on(ListenKeyInvalidated, ConnectionPool._on_key_invalidated),
    StrayPushReceived: _on(StrayPushReceived, ConnectionPool._on_stray),
    FrameRejected: _on(FrameRejected, ConnectionPool._on_rejected),
    ServerNoticeReceived: ConnectionPool._pass_on,
    ErrorReplyReceived: ConnectionPool._pass_on,
    UnexpectedReplyReceived: ConnectionPool._pass_on,
    PongReceived: ConnectionPool._ignore,
    UnsubscriptionFailed: ConnectionPool._ignore,
    IdleWithoutSubscriptions: ConnectionPool._ignore,
}
