"""The MEXC session: subscriptions, acks, keepalive and lifetime, without I/O.

Theory of operation
===================

A :class:`Session` is the MEXC protocol at message level: it reads whole text and
binary WebSocket messages and writes JSON request texts. It does no I/O and reads
no clock; every method that depends on time takes ``now`` (monotonic seconds), and
the caller wakes it at :meth:`Session.next_deadline` through
:meth:`Session.handle_timer`. :class:`mexc_core.connection.Connection` wraps it in
a WebSocket (wsproto); use the session directly when you already have a WebSocket
library::

    session = Session()
    session.subscribe(["spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT"], now)
    session.start(now)                      # the WebSocket is open
    for text in session.messages_to_send(): # JSON requests, in order
        websocket.send_text(text)
    session.receive_binary(frame, now)      # a push -> a Push (or StrayPushReceived)
    while (event := session.next_event()) is not None:
        ...
    session.handle_timer(now)               # at session.next_deadline()

Two machines, each an enum and a transition table in this module (the embedding
guide shows the tables, rendered from them):

- The **session** machine (:class:`SessionState`): ``CONNECTING`` until the
  WebSocket opens, ``OPEN``, ``DRAINING`` once the 24 h rotation is due, ``STALE``
  after a failed liveness check (the caller must abort and reconnect), ``CLOSED``,
  and the terminal ``ERROR``.
- One **subscription** machine per topic (:class:`SubscriptionState`), driven by
  the caller's commands, the pacer sending the request, MEXC's acks and
  rejections, and the ack deadline::

      UNSUBSCRIBED --subscribe--> PENDING --send--> SUBSCRIBING --ack--> ACTIVE
           ^                                          |    |              |
           |                                   reject |    | timeout      | unsubscribe
           |                                          v    v              v
           |                                   REJECTED  FAILED   UNSUBSCRIBE_PENDING
           |                                                              | send
           +------------------------------ack------------------------ UNSUBSCRIBING

  ``CANCELLING`` is a subscribe in flight the caller no longer wants (on its ack
  an UNSUBSCRIPTION follows); ``REJOINING`` is an unsubscribe in flight the caller
  wants back (on its ack a SUBSCRIPTION follows).

MEXC facts this follows (``docs/protocol.rst``, "Frames and control messages" and
"Limits and timeouts"):

- Requests are ``{"method":"SUBSCRIPTION","params":[...]}``; several topics go in
  one request. Replies are ``{"id":0,"code":0,"msg":"<topics, comma-joined>"}``
  and carry no usable id, so a reply is matched to the in-flight topics it names.
  A rejection keeps ``code`` 0: ``Not Subscribed successfully! [...] Reason： ...``.
- MEXC disconnects above 100 messages per second: every request (PING included)
  goes through a sliding one-second window of ``max_messages_per_second``.
- At most 30 subscriptions per connection; the cap here is lower by default and
  going over it raises :class:`~mexc_core.errors.SubscriptionLimitExceeded`.
- The server closes a connection after 30 s without a valid subscription and after
  60 s without data; ``{"method":"PING"}`` keeps it alive. A connection lives at
  most 24 h.

Rules that do not fit in the tables:

1. Commands (:meth:`Session.subscribe`, :meth:`Session.unsubscribe`) are all or
   nothing: each topic is checked against the subscription table first, and a pair
   missing from it raises :class:`~mexc_core.errors.SubscriptionStateError` before
   anything changes; the session stays usable. Peer and timer inputs only ever
   reach topics in states that accept them (routing below); a missing pair there
   is a bug of this module, and puts the session in ``ERROR``.
2. A reply is routed only if every topic it names has a request in flight (and,
   for a rejection, that request is a SUBSCRIPTION); otherwise it is reported as
   :class:`~mexc_core.events.UnexpectedReplyReceived` and nothing changes. Each
   topic is in at most one request in flight, so routing is unambiguous, and
   MEXC may answer a request in parts (a rejection for some topics, an ack for
   the rest).
3. A pair missing from the session table raises
   :class:`~mexc_core.errors.StateError` and puts the session in ``ERROR``.
4. Timers fire only in :meth:`Session.handle_timer`: a PONG or push read before
   the timer call counts, however late the call. In ``STALE`` and ``CLOSED``
   there are no timers and nothing more is sent; frames are still read.
5. The pong deadline is strict: only a PONG satisfies it, since a server that
   ignores control messages will not honour subscriptions either
   (``docs/faults.rst`` section 3). Pushes, in turn, feed the data-silence watchdog, so a
   PONG is never the only sign of life on the read path.
6. A decoded frame is a :class:`~mexc_core.events.Push` only if its topic is
   *received* here and its body is the message type of the topic's channel;
   anything else is a :class:`~mexc_core.events.StrayPushReceived`, counted per
   :class:`~mexc_core.events.StrayReason` in :attr:`SessionStats.strays`. A topic
   is received in every state but ``UNSUBSCRIBED`` and ``REJECTED``: from the
   moment it is asked for (MEXC may push before its ack) until its unsubscription
   is acknowledged (MEXC pushes until then), and after an ack timeout (whether
   MEXC holds it is unknown, and a push says it does). The check costs one dict
   lookup of the push's channel and one type identity test: each received topic
   maps to its channel's record class, kept up to date as topics change state.
   Strays feed the silence watchdog like pushes (the link is alive); unknown
   bodies and fields are counted in :attr:`Session.schema_drift` either way.
7. While the :attr:`Session.shedder` given by the pool is active (the client's
   consumer side is full), a binary frame whose channel
   (:func:`~mexc_core.wire.peek_channel`) is a topic received
   here is counted in it and in :attr:`SessionStats.shed` instead of being
   decoded, unless its channel is conflated
   (:data:`~mexc_core.client.backpressure.CONFLATED_BODIES`): then the newest
   frame of the topic is kept unread, replacing the one before
   (:attr:`SessionStats.conflated`), until :meth:`Session.release_held` decodes
   it. Either way it feeds the silence watchdog. Text frames are never shed.
8. A PING counts as sent when it is queued, unless the caller reports its writes
   (:meth:`Session.data_written`): then its pong deadline counts from the first
   write reported after the PING left :meth:`Session.messages_to_send`; and if
   its deadline (from the queueing) comes before that write is reported, it is
   put off once by ``ping_interval``: a writer held up, by a blocking callback
   or a slow socket, causes no false timeout, and one stuck for good is still
   caught. The deadline never moves earlier than one reported before
   (:meth:`Session.next_deadline`), so a driver's timer is never late.
9. A topic whose subscription may be held by MEXC without our knowing (its ack
   never came: ``FAILED``, or a ``CANCELLING`` topic whose ack timed out) is
   unsubscribed on the wire before it is forgotten: MEXC would otherwise go on
   pushing it and count it against the connection's 30.
"""

from __future__ import annotations

import enum
import math
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, final

from mexc_core import wire
from mexc_core._clock import checked_now
from mexc_core._machine import Machine, frozen_table
from mexc_core._topics import Topic
from mexc_core.channels import body_type, spec_of, topic_names
from mexc_core.client.backpressure import CONFLATED_BODIES, Shedder
from mexc_core.errors import (
    ArgumentTypeError,
    ControlFrameError,
    DecodeError,
    InvalidConfig,
    ListenKeyRequired,
    StateError,
    SubscriptionLimitExceeded,
    SubscriptionStateError,
)
from mexc_core.events import (
    ErrorReplyReceived,
    Event,
    FailureCause,
    FrameKind,
    FrameRejected,
    HealthCause,
    HealthCheckFailed,
    IdleWithoutSubscriptions,
    ListenKeyInvalidated,
    PongReceived,
    RotationDue,
    ServerNoticeReceived,
    StrayReason,
    Subscribed,
    SubscriptionFailed,
    UnexpectedReplyReceived,
    Unsubscribed,
    UnsubscriptionFailed,
)
from mexc_core.messages import Record

__all__ = (
    "MEXC_IDLE_NO_DATA",
    "MEXC_IDLE_NO_SUBSCRIPTION",
    "MEXC_MAX_LIFETIME",
    "MEXC_MAX_MESSAGES_PER_SECOND",
    "MEXC_MAX_SUBSCRIPTIONS",
    "Session",
    "SessionConfig",
    "SessionInput",
    "SessionState",
    "SessionStats",
    "SubscriptionInput",
    "SubscriptionState",
)

#: MEXC's cap of subscriptions per connection (``docs/protocol.rst``, "Limits and
#: timeouts").
MEXC_MAX_SUBSCRIPTIONS: Final = 30
#: MEXC's inbound message rate limit, per connection, per second (``docs/protocol.rst``,
#: "Limits and timeouts").
MEXC_MAX_MESSAGES_PER_SECOND: Final = 100
#: MEXC closes a connection that has had no valid subscription for this long.
MEXC_IDLE_NO_SUBSCRIPTION: Final = 30.0
#: MEXC closes a subscribed connection with no data flowing for this long.
MEXC_IDLE_NO_DATA: Final = 60.0
#: MEXC closes every connection at this age (24 h).
MEXC_MAX_LIFETIME: Final = 24 * 3600.0

_SUBSCRIPTION: Final = "SUBSCRIPTION"
_UNSUBSCRIPTION: Final = "UNSUBSCRIPTION"


# ---------------------------------------------------------------- configuration


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class SessionConfig:
    """Limits and timeouts of a session; every duration is in seconds.

    The defaults keep MEXC's rules with a margin and detect a dead connection in
    under 10 s (``ping_interval + pong_timeout``).

    :ivar max_subscriptions: cap of topics per connection (MEXC: 30; practitioners
        report trouble above about 25).
    :ivar max_topics_per_request: topics batched into one SUBSCRIPTION request.
    :ivar max_request_bytes: longest request text; a request with one topic is
        always allowed (some clients cap messages at 1024 bytes).
    :ivar max_messages_per_second: outgoing requests in any one-second window
        (MEXC disconnects above 100).
    :ivar ack_timeout: how long a request waits for its reply.
    :ivar ping_interval: time between two ``{"method":"PING"}`` (at most 30 s).
    :ivar pong_timeout: how long a PING waits for its PONG (below ``ping_interval``).
    :ivar data_silence_timeout: with topics subscribed, the longest time without a
        push before the connection counts as dead; ``None`` (the default) disables
        the watchdog. It is off by default because silence is normal on most
        channels: private streams of an idle account, deals and diff depth of an
        illiquid pair. Liveness comes from PING/PONG instead (every
        ``ping_interval``, a strict ``pong_timeout``), which catches a half-open
        link within ``ping_interval + pong_timeout``. Set it for connections that
        carry a channel with a fixed cadence (kline: every second).
    :ivar idle_timeout: without any subscription for this long, emit
        :class:`~mexc_core.events.IdleWithoutSubscriptions` (MEXC closes at 30 s);
        ``None`` disables it.
    :ivar rotate_after: connection age at which
        :class:`~mexc_core.events.RotationDue` is emitted (MEXC cuts at 24 h).
    :ivar max_consecutive_bad_frames: malformed frames in a row after which the
        connection counts as broken; ``None`` never gives up.
    """

    max_subscriptions: int = 25
    max_topics_per_request: int = 10
    max_request_bytes: int = 1024
    max_messages_per_second: int = 50
    ack_timeout: float = 5.0
    ping_interval: float = 5.0
    pong_timeout: float = 4.0
    data_silence_timeout: float | None = None
    idle_timeout: float | None = 25.0
    rotate_after: float = 23 * 3600.0
    max_consecutive_bad_frames: int | None = 10

    def __post_init__(self) -> None:
        _check_int(self.max_subscriptions, "max_subscriptions", 1, MEXC_MAX_SUBSCRIPTIONS)
        _check_int(self.max_topics_per_request, "max_topics_per_request", 1, None)
        _check_int(self.max_request_bytes, "max_request_bytes", 64, None)
        _check_int(
            self.max_messages_per_second,
            "max_messages_per_second",
            1,
            MEXC_MAX_MESSAGES_PER_SECOND - 1,
        )
        _check_duration(self.ack_timeout, "ack_timeout", None)
        _check_duration(self.ping_interval, "ping_interval", MEXC_IDLE_NO_SUBSCRIPTION)
        _check_duration(self.pong_timeout, "pong_timeout", None)
        if self.pong_timeout >= self.ping_interval:
            raise InvalidConfig(
                f"pong_timeout ({self.pong_timeout}) must be below ping_interval "
                f"({self.ping_interval}): one PING in flight at a time",
                setting="pong_timeout",
            )
        if self.data_silence_timeout is not None:
            _check_duration(self.data_silence_timeout, "data_silence_timeout", None)
        if self.idle_timeout is not None:
            _check_duration(self.idle_timeout, "idle_timeout", MEXC_IDLE_NO_SUBSCRIPTION)
        _check_duration(self.rotate_after, "rotate_after", MEXC_MAX_LIFETIME)
        if self.max_consecutive_bad_frames is not None:
            _check_int(self.max_consecutive_bad_frames, "max_consecutive_bad_frames", 1, None)


def _check_int(value: object, name: str, low: int, high: int | None) -> None:
    if type(value) is not int or value < low or (high is not None and value > high):
        bound = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise InvalidConfig(f"{name} must be an int in {bound}, got {value!r}", setting=name)


def _check_duration(value: object, name: str, high: float | None) -> None:
    ok = (
        type(value) in (int, float)
        and math.isfinite(value)  # type: ignore[arg-type]
        and value > 0  # type: ignore[operator]
        and (high is None or value < high)  # type: ignore[operator]
    )
    if not ok:
        bound = f" and below {high}" if high is not None else ""
        raise InvalidConfig(
            f"{name} must be a positive number of seconds{bound}, got {value!r}", setting=name
        )


# ---------------------------------------------------------------- the machines


class SessionState(enum.Enum):
    """The state of a whole session."""

    #: The WebSocket is not open yet; commands are queued.
    CONNECTING = "connecting"
    #: Open: requests flow, timers run.
    OPEN = "open"
    #: Rotation is due (24 h cut-off ahead); everything still works.
    DRAINING = "draining"
    #: A liveness check failed; no timers, nothing sent. Abort and reconnect.
    STALE = "stale"
    #: The connection is gone; only the final state can be read.
    CLOSED = "closed"
    #: A call broke the protocol rules; every later call raises.
    ERROR = "error"


class SessionInput(enum.Enum):
    """What can happen to a session."""

    START = "start"
    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    RECEIVE = "receive"
    TIMER = "timer"
    ROTATE = "rotate"
    UNHEALTHY = "unhealthy"
    CLOSE = "close"


class SubscriptionState(enum.Enum):
    """The state of one topic on one connection."""

    #: Not subscribed (the initial state; such topics are not listed).
    UNSUBSCRIBED = "unsubscribed"
    #: Asked for; the SUBSCRIPTION waits for the pacer or the open.
    PENDING = "pending"
    #: SUBSCRIPTION sent, ack awaited.
    SUBSCRIBING = "subscribing"
    #: SUBSCRIPTION sent, ack awaited, but the caller unsubscribed meanwhile.
    CANCELLING = "cancelling"
    #: Acknowledged by MEXC; pushes flow.
    ACTIVE = "active"
    #: Unsubscribe asked for; the UNSUBSCRIPTION waits for the pacer.
    UNSUBSCRIBE_PENDING = "unsubscribe_pending"
    #: UNSUBSCRIPTION sent, ack awaited.
    UNSUBSCRIBING = "unsubscribing"
    #: UNSUBSCRIPTION sent, ack awaited, but the caller subscribed again meanwhile.
    REJOINING = "rejoining"
    #: MEXC refused the subscription.
    REJECTED = "rejected"
    #: No ack in time: whether MEXC holds the topic is unknown.
    FAILED = "failed"


class SubscriptionInput(enum.Enum):
    """What can happen to a topic."""

    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    SEND = "send"
    ACK = "ack"
    REJECT = "reject"
    TIMEOUT = "timeout"


_SS = SessionState
_SI = SessionInput

_SESSION_TRANSITIONS: Final[Mapping[tuple[SessionState, SessionInput], SessionState]] = (
    frozen_table(
        {
            (_SS.CONNECTING, _SI.START): _SS.OPEN,
            (_SS.CONNECTING, _SI.SUBSCRIBE): _SS.CONNECTING,
            (_SS.CONNECTING, _SI.UNSUBSCRIBE): _SS.CONNECTING,
            (_SS.CONNECTING, _SI.TIMER): _SS.CONNECTING,
            (_SS.CONNECTING, _SI.CLOSE): _SS.CLOSED,
            (_SS.OPEN, _SI.SUBSCRIBE): _SS.OPEN,
            (_SS.OPEN, _SI.UNSUBSCRIBE): _SS.OPEN,
            (_SS.OPEN, _SI.RECEIVE): _SS.OPEN,
            (_SS.OPEN, _SI.TIMER): _SS.OPEN,
            (_SS.OPEN, _SI.ROTATE): _SS.DRAINING,
            (_SS.OPEN, _SI.UNHEALTHY): _SS.STALE,
            (_SS.OPEN, _SI.CLOSE): _SS.CLOSED,
            (_SS.DRAINING, _SI.SUBSCRIBE): _SS.DRAINING,
            (_SS.DRAINING, _SI.UNSUBSCRIBE): _SS.DRAINING,
            (_SS.DRAINING, _SI.RECEIVE): _SS.DRAINING,
            (_SS.DRAINING, _SI.TIMER): _SS.DRAINING,
            (_SS.DRAINING, _SI.UNHEALTHY): _SS.STALE,
            (_SS.DRAINING, _SI.CLOSE): _SS.CLOSED,
            (_SS.STALE, _SI.SUBSCRIBE): _SS.STALE,
            (_SS.STALE, _SI.UNSUBSCRIBE): _SS.STALE,
            (_SS.STALE, _SI.RECEIVE): _SS.STALE,
            (_SS.STALE, _SI.TIMER): _SS.STALE,
            (_SS.STALE, _SI.CLOSE): _SS.CLOSED,
            (_SS.CLOSED, _SI.TIMER): _SS.CLOSED,
            (_SS.CLOSED, _SI.CLOSE): _SS.CLOSED,
        }
    )
)

_S = SubscriptionState
_I = SubscriptionInput

_SUBSCRIPTION_TRANSITIONS: Final[
    Mapping[tuple[SubscriptionState, SubscriptionInput], SubscriptionState]
] = frozen_table(
    {
        (_S.UNSUBSCRIBED, _I.SUBSCRIBE): _S.PENDING,
        (_S.PENDING, _I.SUBSCRIBE): _S.PENDING,
        (_S.PENDING, _I.UNSUBSCRIBE): _S.UNSUBSCRIBED,
        (_S.PENDING, _I.SEND): _S.SUBSCRIBING,
        (_S.SUBSCRIBING, _I.SUBSCRIBE): _S.SUBSCRIBING,
        (_S.SUBSCRIBING, _I.UNSUBSCRIBE): _S.CANCELLING,
        (_S.SUBSCRIBING, _I.ACK): _S.ACTIVE,
        (_S.SUBSCRIBING, _I.REJECT): _S.REJECTED,
        (_S.SUBSCRIBING, _I.TIMEOUT): _S.FAILED,
        (_S.CANCELLING, _I.SUBSCRIBE): _S.SUBSCRIBING,
        (_S.CANCELLING, _I.UNSUBSCRIBE): _S.CANCELLING,
        (_S.CANCELLING, _I.ACK): _S.UNSUBSCRIBE_PENDING,
        (_S.CANCELLING, _I.REJECT): _S.UNSUBSCRIBED,
        (_S.CANCELLING, _I.TIMEOUT): _S.UNSUBSCRIBE_PENDING,
        (_S.ACTIVE, _I.SUBSCRIBE): _S.ACTIVE,
        (_S.ACTIVE, _I.UNSUBSCRIBE): _S.UNSUBSCRIBE_PENDING,
        (_S.UNSUBSCRIBE_PENDING, _I.SUBSCRIBE): _S.ACTIVE,
        (_S.UNSUBSCRIBE_PENDING, _I.UNSUBSCRIBE): _S.UNSUBSCRIBE_PENDING,
        (_S.UNSUBSCRIBE_PENDING, _I.SEND): _S.UNSUBSCRIBING,
        (_S.UNSUBSCRIBING, _I.SUBSCRIBE): _S.REJOINING,
        (_S.UNSUBSCRIBING, _I.UNSUBSCRIBE): _S.UNSUBSCRIBING,
        (_S.UNSUBSCRIBING, _I.ACK): _S.UNSUBSCRIBED,
        (_S.UNSUBSCRIBING, _I.TIMEOUT): _S.FAILED,
        (_S.REJOINING, _I.SUBSCRIBE): _S.REJOINING,
        (_S.REJOINING, _I.UNSUBSCRIBE): _S.UNSUBSCRIBING,
        (_S.REJOINING, _I.ACK): _S.PENDING,
        (_S.REJOINING, _I.TIMEOUT): _S.FAILED,
        (_S.REJECTED, _I.SUBSCRIBE): _S.PENDING,
        (_S.REJECTED, _I.UNSUBSCRIBE): _S.UNSUBSCRIBED,
        (_S.FAILED, _I.SUBSCRIBE): _S.PENDING,
        (_S.FAILED, _I.UNSUBSCRIBE): _S.UNSUBSCRIBE_PENDING,
    }
)

#: States that take a slot of the per-connection cap: everything MEXC holds or
#: may hold, and everything about to be sent.
_COUNTED: Final = frozenset(_S) - {_S.UNSUBSCRIBED, _S.REJECTED}
#: States whose topic has a request in flight.
_IN_FLIGHT: Final = frozenset({_S.SUBSCRIBING, _S.CANCELLING, _S.UNSUBSCRIBING, _S.REJOINING})
#: States in which MEXC is known to hold the topic (pushes should flow).
_HELD: Final = frozenset({_S.ACTIVE, _S.UNSUBSCRIBE_PENDING, _S.UNSUBSCRIBING, _S.REJOINING})
#: States in which the topic's pushes are received (rule 6): MEXC holds it, may
#: hold it, or may start pushing before its ack.
_RECEIVING: Final = frozenset(_S) - {_S.UNSUBSCRIBED, _S.REJECTED}
#: Session states in which requests are sent and timers run.
_LIVE: Final = frozenset({_SS.OPEN, _SS.DRAINING})
#: Session states in which received frames are read.
_READING: Final = frozenset({_SS.OPEN, _SS.DRAINING, _SS.STALE})


# ---------------------------------------------------------------- the session


@final
@dataclass(slots=True)
class SessionStats:
    """Counters of one session, for logs and metrics (read them, do not write).

    Every binary frame is a push, a stray, a shed frame or a bad frame:
    ``binary_frames`` is ``pushes + strays.total() + shed + conflated`` plus the
    binary frames among ``bad_frames`` (and the frames held while a shedding
    episode runs).

    :ivar pushes: frames delivered as :class:`~mexc_core.events.Push`.
    :ivar shed: frames counted unread in a shedding episode (rule 7).
    :ivar conflated: frames of conflated topics replaced unread by a newer one of
        the same topic in a shedding episode (rule 7).
    :ivar strays: frames reported as :class:`~mexc_core.events.StrayPushReceived`,
        per reason.
    :ivar bad_frames: frames rejected (binary or text).
    :ivar push_bytes: bytes of the frames delivered as pushes, by topic (the
        WebSocket payload; a pool shares one counter among its sessions).
    """

    binary_frames: int = 0
    text_frames: int = 0
    pushes: int = 0
    shed: int = 0
    conflated: int = 0
    strays: Counter[StrayReason] = field(default_factory=Counter)
    bad_frames: int = 0
    replies: int = 0
    unexpected_replies: int = 0
    requests_sent: int = 0
    pings_sent: int = 0
    pongs_received: int = 0
    push_bytes: Counter[str] = field(default_factory=Counter)


@dataclass(slots=True, eq=False)
class _Request:
    """A SUBSCRIPTION or UNSUBSCRIPTION on the wire, waiting for its reply."""

    method: str
    topics: tuple[str, ...]
    sent_at: float
    deadline: float
    unresolved: set[str] = field(default_factory=set)


class Session:
    """The MEXC session of one WebSocket connection, as a pure state machine.

    :param config: limits and timeouts; the defaults keep MEXC's rules.
    :param private: the connection was opened with a ``listenKey`` (private
        channels allowed).

    Expected exceptions, all :class:`~mexc_core.errors.LocalProtocolError`:
    :class:`~mexc_core.errors.InvalidTopic`,
    :class:`~mexc_core.errors.ListenKeyRequired`,
    :class:`~mexc_core.errors.SubscriptionLimitExceeded`,
    :class:`~mexc_core.errors.SubscriptionStateError` (all four leave the session
    as it was), :class:`~mexc_core.errors.ClockError`,
    :class:`~mexc_core.errors.StateError` and
    :class:`~mexc_core.errors.ArgumentTypeError`. Bad data from the server never
    raises: it becomes an event. Any other exception is a bug.
    """

    def __init__(self, config: SessionConfig | None = None, *, private: bool = False) -> None:
        self.config: Final = config if config is not None else SessionConfig()
        self.private: Final = private
        self.stats: Final = SessionStats()
        #: Unknown bodies and fields seen in pushes (MEXC changed the schema).
        self.schema_drift: Final = wire.SchemaDrift()
        #: The pool's shedder, for a session whose pushes may be shed (rule 7).
        self.shedder: Shedder | None = None
        # the newest frame of each conflated topic, held in a shedding episode (rule 7)
        self._kept: dict[str, bytes] = {}
        self._machine: Final = Machine(
            "session", _SESSION_TRANSITIONS, SessionState.CONNECTING, SessionState.ERROR
        )
        self._now = -math.inf
        self._opened_at: float | None = None
        self._topics: dict[str, SubscriptionState] = {}
        # topic -> its channel's record class, for the topics received (rule 6)
        self._receiving: dict[str, type[Record]] = {}
        self._counts: Counter[SubscriptionState] = Counter()
        # Ordered sets (dicts) of topics waiting for the pacer.
        self._to_subscribe: dict[str, None] = {}
        self._to_unsubscribe: dict[str, None] = {}
        self._in_flight: dict[str, _Request] = {}
        self._requests: deque[_Request] = deque()
        self._events: deque[Event] = deque()
        self._outbox: list[str] = []
        self._sent_at: deque[float] = deque()
        self._ping_wanted = False
        self._next_ping: float = math.inf
        self._ping_sent_at: float | None = None
        # The PING in flight is still in the outbox / taken but not known written
        # (rule 8): its pong deadline counts from the write once one is reported.
        self._ping_queued = False
        self._ping_unwritten = False
        self._writes_reported = False
        self._ping_grace = False
        #: When the PING in flight times out (rule 8), or ``None`` without one.
        self._pong_due: float | None = None
        self._silence_origin: float | None = None
        self._idle_since: float | None = None
        self._rotate_at: float = math.inf
        self._bad_in_a_row = 0

    def __repr__(self) -> str:
        return (
            f"<Session {self._machine.state.name} topics={len(self._topics)} "
            f"used={self.used_slots}/{self.config.max_subscriptions}>"
        )

    # ------------------------------------------------------------ reading state

    @property
    def state(self) -> SessionState:
        """The session's state."""
        return self._machine.state

    @property
    def opened_at(self) -> float | None:
        """When :meth:`start` was called, or ``None`` before."""
        return self._opened_at

    @property
    def used_slots(self) -> int:
        """Topics counted against ``max_subscriptions``."""
        return sum(self._counts[s] for s in _COUNTED)

    @property
    def free_slots(self) -> int:
        """How many more topics this session accepts."""
        return self.config.max_subscriptions - self.used_slots

    @property
    def subscriptions(self) -> Mapping[str, SubscriptionState]:
        """A snapshot of every topic this session knows and its state."""
        return MappingProxyType(dict(self._topics))

    def state_of(self, topic: str | Topic) -> SubscriptionState:
        """The state of one topic (``UNSUBSCRIBED`` for a topic never asked for)."""
        return self._topics.get(str(topic), SubscriptionState.UNSUBSCRIBED)

    # ------------------------------------------------------------ outputs

    def next_event(self) -> Event | None:
        """The oldest event not yet taken, or ``None``."""
        return self._events.popleft() if self._events else None

    def events(self) -> Iterator[Event]:
        """Take every pending event, oldest first."""
        while self._events:
            yield self._events.popleft()

    def messages_to_send(self) -> list[str]:
        """Take the request texts to send, in order, each as one text message."""
        out, self._outbox = self._outbox, []
        if self._ping_queued:
            self._ping_queued = False
            self._ping_unwritten = True
        return out

    def data_written(self, now: float, *, everything: bool = True) -> None:
        """Everything taken from :meth:`messages_to_send` so far was written at ``now``.

        Optional: a caller that reports its writes gets a pong deadline counted
        from when the PING was written rather than queued (rule 8), so a writer
        held up (a blocking callback) causes no false keepalive timeout.

        :param everything: ``False`` when some of the messages taken are still
            held by the caller, unwritten: the write is noted, the PING's timing
            waits for a later call.
        :raises StateError: the session is in ``ERROR``.
        """
        self._tick(now)
        self._writes_reported = True
        # (only a PONG ends the PING in flight, and it clears _ping_unwritten)
        if everything and self._ping_unwritten:
            self._ping_unwritten = False
            self._ping_sent_at = now
            assert self._pong_due is not None  # a PING is in flight
            self._pong_due = max(self._pong_due, now + self.config.pong_timeout)

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` must next be called, or ``None`` for never."""
        if self._machine.state not in _LIVE:
            return None
        cfg = self.config
        # (the next PING waits for the one in flight: rule 8 may let it outlast
        # ping_interval)
        deadline = self._next_ping if self._ping_sent_at is None else math.inf
        if self._ping_wanted or self._to_subscribe or self._to_unsubscribe:
            # The queue is only left non-empty when the rate window is full.
            deadline = min(deadline, self._sent_at[0] + 1.0)
        if self._pong_due is not None:
            deadline = min(deadline, self._pong_due)
        if self._requests:
            deadline = min(deadline, self._requests[0].deadline)
        if self._silence_origin is not None and cfg.data_silence_timeout is not None:
            deadline = min(deadline, self._silence_origin + cfg.data_silence_timeout)
        if self._idle_since is not None and cfg.idle_timeout is not None:
            deadline = min(deadline, self._idle_since + cfg.idle_timeout)
        if self._machine.state is SessionState.OPEN:
            deadline = min(deadline, self._rotate_at)
        return deadline

    # ------------------------------------------------------------ lifecycle

    def start(self, now: float) -> None:
        """The WebSocket is open: start the clocks and send queued requests.

        :raises StateError: the session was started or closed before.
        """
        self._tick(now)
        self._step(SessionInput.START)
        cfg = self.config
        self._opened_at = now
        self._next_ping = now + cfg.ping_interval
        self._rotate_at = now + cfg.rotate_after
        self._idle_since = now  # nothing is held yet: only an ack holds a topic
        self._flush(now)

    def close(self) -> None:
        """The connection is gone or closing: stop timers and sending.

        Topic states stay readable (to resubscribe on a new connection).
        Closing twice is allowed.

        :raises StateError: the session is in ``ERROR``.
        """
        self._step(SessionInput.CLOSE)
        self._outbox.clear()

    # ------------------------------------------------------------ commands

    def subscribe(self, topics: Iterable[str | Topic], now: float) -> None:
        """Subscribe ``topics``; requests go out at once, batched and paced.

        Subscribing a topic already subscribed (or on its way) does nothing.
        Each topic ends in :class:`~mexc_core.events.Subscribed` or
        :class:`~mexc_core.events.SubscriptionFailed`.

        :raises InvalidTopic: a topic is not one MEXC accepts (checked in full).
        :raises ListenKeyRequired: a private topic on a session without listen key.
        :raises SubscriptionLimitExceeded: the cap would be exceeded; nothing changed.
        :raises SubscriptionStateError: a topic cannot be subscribed now; nothing changed.
        :raises StateError: the session is closed, stale-closed or in ``ERROR``.
        """
        names = self._topic_names(topics)
        self._tick(now)
        self._check_session(SessionInput.SUBSCRIBE)
        plan = self._plan(names, SubscriptionInput.SUBSCRIBE)
        new = sum(1 for t, (old, nxt) in plan.items() if old not in _COUNTED and nxt in _COUNTED)
        used = self.used_slots
        if used + new > self.config.max_subscriptions:
            raise SubscriptionLimitExceeded(
                f"subscribing {new} more topic(s) would exceed the cap of "
                f"{self.config.max_subscriptions} per connection ({used} in use); "
                "open another connection for the rest",
                limit=self.config.max_subscriptions,
                used=used,
                requested=new,
            )
        self._step(SessionInput.SUBSCRIBE)
        for topic, (_, nxt) in plan.items():
            self._set(topic, nxt, now)
        self._flush(now)

    def unsubscribe(self, topics: Iterable[str | Topic], now: float) -> None:
        """Unsubscribe ``topics``.

        A topic not sent yet or rejected is forgotten at once, with no request
        and no event; one whose ack never came (``FAILED``: MEXC may hold it) is
        unsubscribed on the wire first. Any other ends in
        :class:`~mexc_core.events.Unsubscribed` or
        :class:`~mexc_core.events.UnsubscriptionFailed`.

        :raises SubscriptionStateError: a topic is not subscribed; nothing changed.
        :raises StateError: the session is closed or in ``ERROR``.
        """
        names = self._topic_names(topics, validate=False)
        self._tick(now)
        self._check_session(SessionInput.UNSUBSCRIBE)
        plan = self._plan(names, SubscriptionInput.UNSUBSCRIBE)
        self._step(SessionInput.UNSUBSCRIBE)
        for topic, (_, nxt) in plan.items():
            self._set(topic, nxt, now)
        self._flush(now)

    # ------------------------------------------------------------ inputs

    def receive_binary(self, data: bytes, now: float) -> None:
        """Read one binary message: a :class:`~mexc_core.events.Push`, a
        :class:`~mexc_core.events.StrayPushReceived` (rule 6) or a
        :class:`FrameRejected` event.

        :raises StateError: the session is not open (``CONNECTING``, ``CLOSED``).
        """
        self._tick(now)
        if self._machine.state not in _READING:
            self._step(SessionInput.RECEIVE)
        stats = self.stats
        stats.binary_frames += 1
        shedder = self.shedder
        if shedder is not None and shedder.active:
            channel = wire.peek_channel(data)
            kind = self._receiving.get(channel) if channel is not None else None
            if kind is not None:
                assert channel is not None
                if kind in CONFLATED_BODIES:
                    if channel in self._kept:
                        shedder.conflated += 1
                        stats.conflated += 1
                    self._kept[channel] = bytes(data)
                else:
                    shedder.count(channel)
                    stats.shed += 1
                if self._silence_origin is not None:
                    self._silence_origin = now
                return
        self._decode_binary(data, now)

    def release_held(self, now: float) -> int:
        """Decode the frames of conflated topics kept in a shedding episode (rule
        7), the newest of each topic, now that it is over; how many there were.
        Dropped unread if the session cannot read any more."""
        held, self._kept = self._kept, {}
        if held and self._machine.state in _READING:
            self._tick(now)
            for data in held.values():
                self._decode_binary(data, now)
        return len(held)

    def _decode_binary(self, data: bytes, now: float) -> None:
        stats = self.stats
        try:
            push = wire.decode_push(data)
        except DecodeError as exc:
            self._reject_frame(
                kind=FrameKind.BINARY,
                reason=exc.reason,
                size=exc.size,
                offset=exc.offset,
                field=exc.field,
                excerpt=exc.excerpt,
                channel=wire.peek_channel(data),
            )
            return
        self._bad_in_a_row = 0
        if self._silence_origin is not None:
            self._silence_origin = now
        self.schema_drift.observe(push)
        expected = self._receiving.get(push.channel)
        if expected is not None and type(push.body) is expected:
            stats.pushes += 1
            stats.push_bytes[push.channel] += len(data)
            self._events.append(push)
            return
        reason = wire.stray_reason(push)
        if expected is None and reason is not StrayReason.UNKNOWN_CHANNEL:
            reason = StrayReason.NOT_HELD
        assert reason is not None  # a received topic's body type is its channel's
        stats.strays[reason] += 1
        self._events.append(wire.stray_push(push, reason))

    def receive_text(self, text: str, now: float) -> None:
        """Read one text message: an ack, rejection, PONG, error or notice.

        :raises StateError: the session is not open (``CONNECTING``, ``CLOSED``).
        :raises ArgumentTypeError: ``text`` is not a ``str``.
        """
        if type(text) is not str:
            raise ArgumentTypeError(f"a text message is a str, not {type(text).__name__}")
        self._tick(now)
        if self._machine.state not in _READING:
            self._step(SessionInput.RECEIVE)
        self.stats.text_frames += 1
        try:
            reply = wire.decode_control(text)
        except ControlFrameError as exc:
            self._reject_frame(
                kind=FrameKind.TEXT,
                reason=exc.reason,
                size=len(text),
                offset=None,
                field=None,
                excerpt=exc.text,
                channel=None,
            )
            return
        self._bad_in_a_row = 0
        self.stats.replies += 1
        if isinstance(reply, wire.Pong):
            self._on_pong(now)
        elif isinstance(reply, wire.Ack):
            self._on_ack(reply.topics, reply.msg, now)
        elif isinstance(reply, wire.SubscriptionRejected):
            self._on_rejection(reply, now)
        elif isinstance(reply, wire.ErrorReply):
            self._events.append(
                ErrorReplyReceived(code=reply.code, msg=reply.msg, request_id=reply.request_id)
            )
        elif reply.is_invalid_listen_key:
            self._events.append(ListenKeyInvalidated(text=reply.text))
        else:
            self._events.append(ServerNoticeReceived(text=reply.text))

    def handle_timer(self, now: float) -> None:
        """Run every deadline due at ``now``; calling early or often is harmless.

        :raises StateError: the session is in ``ERROR``.
        """
        self._tick(now)
        self._step(SessionInput.TIMER)
        if self._machine.state not in _LIVE:
            return
        cfg = self.config
        while self._requests and self._requests[0].deadline <= now:
            self._expire(self._requests.popleft(), now)
        pong = self._pong_due
        if (
            pong is not None
            and pong <= now
            and not self._ping_grace
            and self._writes_reported
            and (self._ping_queued or self._ping_unwritten)
        ):
            # Due but not written yet: the writer is held up. Wait for the write,
            # within ping_interval more (rule 8).
            self._ping_grace = True
            pong = self._pong_due = pong + cfg.ping_interval
        if pong is not None and pong <= now:
            self._unhealthy(
                HealthCause.PONG_TIMEOUT,
                f"no PONG within {cfg.pong_timeout:g} s of the PING sent at {self._ping_sent_at:g}",
            )
            return
        silence = cfg.data_silence_timeout
        if (
            silence is not None
            and self._silence_origin is not None
            and self._silence_origin + silence <= now
        ):
            self._unhealthy(
                HealthCause.DATA_SILENCE,
                f"no push for {now - self._silence_origin:g} s with topics subscribed "
                f"(limit {silence:g} s)",
            )
            return
        if self._ping_sent_at is None and self._next_ping <= now:
            self._ping_wanted = True
            self._next_ping = math.inf
        idle = cfg.idle_timeout
        if idle is not None and self._idle_since is not None and self._idle_since + idle <= now:
            self._events.append(IdleWithoutSubscriptions(idle_for=now - self._idle_since))
            self._idle_since = None
        if self._machine.state is SessionState.OPEN and self._rotate_at <= now:
            assert self._opened_at is not None
            self._step(SessionInput.ROTATE)
            age = now - self._opened_at
            self._events.append(RotationDue(age=age, remaining=MEXC_MAX_LIFETIME - age))
        self._flush(now)

    # ------------------------------------------------------------ internals

    def _tick(self, now: float) -> None:
        self._machine.check_usable()
        self._now = checked_now(now, self._now)

    def _check_session(self, inp: SessionInput) -> None:
        if not self._machine.allows(inp):
            self._step(inp)

    def _step(self, inp: SessionInput) -> None:
        self._machine.step(inp)

    def _topic_names(self, topics: Iterable[str | Topic], *, validate: bool = True) -> list[str]:
        names = topic_names(topics, validate=validate)
        if validate and not self.private:
            for name in names:
                if spec_of(name).private:
                    raise ListenKeyRequired(
                        f"{name!r} is a private channel: connect with a listenKey", topic=name
                    )
        return names

    def _plan(
        self, names: list[str], inp: SubscriptionInput
    ) -> dict[str, tuple[SubscriptionState, SubscriptionState]]:
        plan: dict[str, tuple[SubscriptionState, SubscriptionState]] = {}
        for name in names:
            old = self._topics.get(name, SubscriptionState.UNSUBSCRIBED)
            nxt = _SUBSCRIPTION_TRANSITIONS.get((old, inp))
            if nxt is None:
                raise SubscriptionStateError(
                    f"cannot {inp.value} {name!r}: it is {old.name}",
                    topic=name,
                    state=old.name,
                    input=inp.name,
                )
            plan[name] = (old, nxt)
        return plan

    def _topic_step(self, topic: str, inp: SubscriptionInput, now: float) -> SubscriptionState:
        old = self._topics.get(topic, SubscriptionState.UNSUBSCRIBED)
        nxt = _SUBSCRIPTION_TRANSITIONS.get((old, inp))
        if nxt is None:  # pragma: no cover - routing makes this unreachable
            self._machine.state = SessionState.ERROR
            raise StateError(
                f"internal error: topic {topic!r} got {inp.name} in state {old.name}",
                machine="subscription",
                state=old.name,
                input=inp.name,
            )
        self._set(topic, nxt, now)
        return nxt

    def _held(self) -> bool:
        return any(self._counts[s] for s in _HELD)

    def _set(self, topic: str, new: SubscriptionState, now: float) -> None:
        """Move ``topic`` to ``new`` and keep every derived structure in step."""
        old = self._topics.get(topic, SubscriptionState.UNSUBSCRIBED)
        if old is new:
            return
        was_held = self._held()
        if old is not SubscriptionState.UNSUBSCRIBED:
            self._counts[old] -= 1
        if new is not SubscriptionState.UNSUBSCRIBED:
            self._counts[new] += 1
        if new is SubscriptionState.UNSUBSCRIBED:
            del self._topics[topic]
        else:
            self._topics[topic] = new
        if new in _RECEIVING:
            if topic not in self._receiving:
                expected = body_type(topic)
                assert expected is not None  # subscribe() parsed the topic
                self._receiving[topic] = expected
        else:
            self._receiving.pop(topic, None)
        self._to_subscribe.pop(topic, None)
        self._to_unsubscribe.pop(topic, None)
        if new is SubscriptionState.PENDING:
            self._to_subscribe[topic] = None
        elif new is SubscriptionState.UNSUBSCRIBE_PENDING:
            self._to_unsubscribe[topic] = None
        held = self._held()
        if held and not was_held:
            self._idle_since = None
            self._silence_origin = now
        elif was_held and not held:
            # Only an ack makes a topic held, so the session is open (or later) here.
            self._silence_origin = None
            self._idle_since = now

    def _flush(self, now: float) -> None:
        """Send what the rate window allows: PING first, then unsubscriptions."""
        if self._machine.state not in _LIVE:
            return
        window = self._sent_at
        limit = self.config.max_messages_per_second
        while self._ping_wanted or self._to_unsubscribe or self._to_subscribe:
            while window and window[0] + 1.0 <= now:
                window.popleft()
            if len(window) >= limit:
                return
            if self._ping_wanted:
                self._ping_wanted = False
                self._ping_sent_at = now
                self._pong_due = now + self.config.pong_timeout
                self._ping_queued = True
                self._next_ping = now + self.config.ping_interval
                self._outbox.append(wire.encode_ping())
                self.stats.pings_sent += 1
            elif self._to_unsubscribe:
                self._send_request(_UNSUBSCRIPTION, self._to_unsubscribe, now)
            else:
                self._send_request(_SUBSCRIPTION, self._to_subscribe, now)
            window.append(now)

    def _send_request(self, method: str, queue: dict[str, None], now: float) -> None:
        cfg = self.config
        batch: list[str] = []
        size = len(wire.encode_request(method, ["x"])) - 1
        for topic in queue:
            extra = len(topic) + 3 if batch else len(topic)  # quotes and a comma
            if batch and (
                len(batch) >= cfg.max_topics_per_request or size + extra > cfg.max_request_bytes
            ):
                break
            batch.append(topic)
            size += extra
        text = wire.encode_request(method, batch)
        request = _Request(
            method=method,
            topics=tuple(batch),
            sent_at=now,
            deadline=now + cfg.ack_timeout,
            unresolved=set(batch),
        )
        for topic in batch:
            self._topic_step(topic, SubscriptionInput.SEND, now)
            self._in_flight[topic] = request
        self._requests.append(request)
        self._outbox.append(text)
        self.stats.requests_sent += 1

    def _resolve(self, topic: str) -> _Request:
        request = self._in_flight.pop(topic)
        request.unresolved.discard(topic)
        if not request.unresolved:
            # Resolved requests leave the deadline queue; it stays sorted.
            self._requests.remove(request)
        return request

    def _unexpected(self, topics: tuple[str, ...], msg: str) -> None:
        self.stats.unexpected_replies += 1
        self._events.append(UnexpectedReplyReceived(topics=topics, msg=msg))

    def _on_ack(self, topics: tuple[str, ...], msg: str, now: float) -> None:
        unique = tuple(dict.fromkeys(topics))
        if not unique or any(t not in self._in_flight for t in unique):
            self._unexpected(topics, msg)
            return
        subscribed: list[str] = []
        unsubscribed: list[str] = []
        for topic in unique:
            request = self._resolve(topic)
            self._topic_step(topic, SubscriptionInput.ACK, now)
            (subscribed if request.method == _SUBSCRIPTION else unsubscribed).append(topic)
        if subscribed:
            self._events.append(Subscribed(topics=tuple(subscribed)))
        if unsubscribed:
            self._events.append(Unsubscribed(topics=tuple(unsubscribed)))
        self._flush(now)

    def _on_rejection(self, reply: wire.SubscriptionRejected, now: float) -> None:
        unique = tuple(dict.fromkeys(reply.topics))
        in_flight = self._in_flight
        if not unique or any(
            t not in in_flight or in_flight[t].method != _SUBSCRIPTION for t in unique
        ):
            self._unexpected(reply.topics, reply.msg)
            return
        for topic in unique:
            self._resolve(topic)
            self._topic_step(topic, SubscriptionInput.REJECT, now)
        self._events.append(
            SubscriptionFailed(
                topics=unique, cause=FailureCause.REJECTED, reason=reply.reason or reply.msg
            )
        )
        self._flush(now)

    def _expire(self, request: _Request, now: float) -> None:
        topics = tuple(t for t in request.topics if t in request.unresolved)
        for topic in topics:
            del self._in_flight[topic]
            self._topic_step(topic, SubscriptionInput.TIMEOUT, now)
        request.unresolved.clear()
        reason = f"no reply within {self.config.ack_timeout:g} s"
        if request.method == _SUBSCRIPTION:
            self._events.append(
                SubscriptionFailed(topics=topics, cause=FailureCause.ACK_TIMEOUT, reason=reason)
            )
        else:
            self._events.append(
                UnsubscriptionFailed(topics=topics, cause=FailureCause.ACK_TIMEOUT, reason=reason)
            )

    def _on_pong(self, now: float) -> None:
        self.stats.pongs_received += 1
        if self._ping_sent_at is None:
            return  # an unsolicited or duplicate PONG: nothing waits for it
        self._events.append(PongReceived(round_trip=now - self._ping_sent_at))
        self._ping_sent_at = self._pong_due = None
        self._ping_queued = self._ping_unwritten = self._ping_grace = False
        if self._next_ping <= now:  # a PING that outlasted ping_interval (rule 8)
            self._ping_wanted = True
            self._next_ping = math.inf
            self._flush(now)

    def _reject_frame(
        self,
        *,
        kind: FrameKind,
        reason: str,
        size: int,
        offset: int | None,
        field: str | None,
        excerpt: str,
        channel: str | None,
    ) -> None:
        self.stats.bad_frames += 1
        self._bad_in_a_row += 1
        self._events.append(
            FrameRejected(
                kind=kind,
                reason=reason,
                size=size,
                offset=offset,
                field=field,
                excerpt=excerpt,
                consecutive=self._bad_in_a_row,
                total=self.stats.bad_frames,
                channel=channel,
            )
        )
        limit = self.config.max_consecutive_bad_frames
        if limit is not None and self._bad_in_a_row >= limit and self._machine.state in _LIVE:
            self._unhealthy(HealthCause.BAD_FRAMES, f"{self._bad_in_a_row} bad frames in a row")

    def _unhealthy(self, cause: HealthCause, detail: str) -> None:
        self._step(SessionInput.UNHEALTHY)
        self._events.append(HealthCheckFailed(cause=cause, detail=detail))
