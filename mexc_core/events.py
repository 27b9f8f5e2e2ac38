"""Events: frozen, slotted, keyword-only records of what happened.

Inbound facts are named in the past tense; the exception is :class:`Push`, the
one event on the hot path, named after what it is (and built as a tuple:
see there). Events are built complete and
never change; containers inside them are tuples, so events hash and compare.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import NamedTuple, final

from mexc_core._generated.records import Body, PushAccessors, UnknownField

__all__ = (
    "BalanceReconciled",
    "BookBreak",
    "BookCrossed",
    "BookGapDetected",
    "BookResyncStarted",
    "BookSnapshotFailed",
    "BookSynced",
    "BookUpdated",
    "BookView",
    "ConnectionClosed",
    "ConnectionOpened",
    "DisconnectCause",
    "ErrorReplyReceived",
    "Event",
    "FailureCause",
    "FrameKind",
    "FrameRejected",
    "GapCause",
    "GapDetected",
    "HandshakeRejected",
    "HealthCause",
    "HealthCheckFailed",
    "IdleWithoutSubscriptions",
    "Level",
    "LinkConnected",
    "LinkDisconnected",
    "LinkRotated",
    "ListenKeyClosed",
    "ListenKeyCreateFailed",
    "ListenKeyCreated",
    "ListenKeyInvalidated",
    "ListenKeyLost",
    "ListenKeyLostReason",
    "ListenKeyRenewalFailed",
    "ListenKeyRenewed",
    "ListenKeysListed",
    "OrderReconciled",
    "OrderState",
    "PluginFailed",
    "PongReceived",
    "Push",
    "ReconcileCompleted",
    "ReconcileFailed",
    "ReconcileTrigger",
    "RotationDue",
    "ServerNoticeReceived",
    "StrayPushReceived",
    "StrayReason",
    "SubscribeCompleted",
    "SubscribeFailure",
    "Subscribed",
    "SubscriptionFailed",
    "TopicSilent",
    "TopicsRejected",
    "TopicsSubscribed",
    "TradeRecovered",
    "UnexpectedReplyReceived",
    "Unsubscribed",
    "UnsubscriptionFailed",
)


class Event:
    """Base class of every event of mexc-core."""

    __slots__ = ()


class _PushFields(NamedTuple):
    channel: str
    body: Body
    symbol: str | None
    symbol_id: str | None
    create_time: int | None
    send_time: int | None
    unknown_fields: tuple[UnknownField, ...]


@final
class Push(_PushFields, PushAccessors, Event):
    """One binary push frame from MEXC, decoded.

    The frame is a ``PushDataV3ApiWrapper``; its body is the record of the channel's
    message type (:mod:`mexc_core.messages`), or :class:`~mexc_core.messages.UnknownBody`
    for a body type this schema does not know.

    :ivar channel: the full channel, e.g. ``spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT``.
    :ivar body: the decoded body record.
    :ivar symbol: the trading pair, or ``None`` when absent on the wire.
    :ivar symbol_id: MEXC's id of the pair, or ``None``.
    :ivar create_time: when MEXC generated the message (ms since the epoch), or ``None``.
    :ivar send_time: when MEXC pushed it (ms since the epoch), or ``None``.
    :ivar unknown_fields: fields anywhere in the frame that the schema does not
        know: MEXC changed the schema. Empty in the normal case.
    :ivar create_time_utc: ``create_time`` as an aware UTC :class:`~datetime.datetime`,
        computed when read; ``None`` if absent (see :doc:`/records`).
    :ivar send_time_utc: ``send_time`` likewise.

    Unlike the other events, :class:`Push` is an immutable tuple (a ``NamedTuple``
    with ``__slots__ = ()``) rather than a frozen dataclass: it is built once per
    frame on the hot path, and a frozen dataclass costs about 15 times as much to
    build (measured: 3.1 us against 0.2 us on the CI machine). Construct it with
    keywords; ``push._replace(...)`` gives a modified copy.
    """

    __slots__ = ()

    def __new__(
        cls,
        *,
        channel: str,
        body: Body,
        symbol: str | None = None,
        symbol_id: str | None = None,
        create_time: int | None = None,
        send_time: int | None = None,
        unknown_fields: tuple[UnknownField, ...] = (),
    ) -> Push:
        return tuple.__new__(
            cls, (channel, body, symbol, symbol_id, create_time, send_time, unknown_fields)
        )

    def __getnewargs_ex__(self) -> tuple[tuple[()], dict[str, object]]:
        # pickle and copy call __new__ with these: keywords, as __new__ requires
        return (), self._asdict()


# ---------------------------------------------------------------- session events
#
# Emitted by mexc_core.session.Session (and passed through by
# mexc_core.connection.Connection). Topics are the exact strings sent to MEXC.


class FailureCause(enum.Enum):
    """Why a subscribe or unsubscribe request did not succeed."""

    #: MEXC answered "Not Subscribed successfully! [...] Reason： ..." (``code`` 0).
    REJECTED = "rejected"
    #: No reply naming the topic arrived within the ack deadline.
    ACK_TIMEOUT = "ack_timeout"
    #: The server refused the WebSocket upgrade with a 4xx status other than 429
    #: (a wrong URL or a refused listen key): retrying will not help. Only the
    #: connection pool reports this cause.
    CONNECTION_REFUSED = "connection_refused"
    #: A private topic waits for a listen key that MEXC refused to create (bad
    #: credentials, missing permission, the 60-key limit). Only the client core
    #: reports this cause; the topic stays wanted while the key is retried.
    LISTEN_KEY_REFUSED = "listen_key_refused"


class HealthCause(enum.Enum):
    """Which liveness check failed (see :class:`HealthCheckFailed`)."""

    #: ``{"method":"PING"}`` got no PONG within the pong deadline.
    PONG_TIMEOUT = "pong_timeout"
    #: Topics are subscribed but no push arrived within the data-silence timeout.
    DATA_SILENCE = "data_silence"
    #: Too many malformed frames in a row.
    BAD_FRAMES = "bad_frames"


class FrameKind(enum.Enum):
    """The WebSocket message type a frame arrived in."""

    TEXT = "text"
    BINARY = "binary"


class StrayReason(enum.Enum):
    """Why a decoded push is not an ordinary :class:`Push` (see :class:`StrayPushReceived`).

    When several apply, the first in this order is given.
    """

    #: Its channel is none of MEXC's channels this schema knows.
    UNKNOWN_CHANNEL = "unknown_channel"
    #: Its channel is known, but the session does not hold its topic: never
    #: subscribed, rejected by MEXC, or unsubscribed and acknowledged.
    NOT_HELD = "not_held"
    #: Its body is a type this schema does not know
    #: (:class:`~mexc_core.messages.UnknownBody`): MEXC changed the schema.
    UNKNOWN_BODY = "unknown_body"
    #: Its body is a known type, but another channel's.
    FOREIGN_BODY = "foreign_body"


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Subscribed(Event):
    """MEXC acknowledged a SUBSCRIPTION for ``topics``; pushes for them will flow.

    :ivar topics: the topics acknowledged by one reply, in MEXC's order.
    """

    topics: tuple[str, ...]


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Unsubscribed(Event):
    """MEXC acknowledged an UNSUBSCRIPTION for ``topics``.

    :ivar topics: the topics acknowledged by one reply, in MEXC's order.
    """

    topics: tuple[str, ...]


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionFailed(Event):
    """Subscribing ``topics`` failed: MEXC rejected them, or no ack came in time.

    After a rejection the topics are ``REJECTED`` (MEXC does not hold them); after
    a timeout they are ``FAILED`` (MEXC may or may not hold them). Either way the
    caller decides: subscribe again, or unsubscribe to forget them.

    :ivar topics: the topics concerned.
    :ivar cause: :attr:`FailureCause.REJECTED` or :attr:`FailureCause.ACK_TIMEOUT`.
    :ivar reason: MEXC's reason (e.g. ``Blocked!``) or a description of the timeout.
    """

    topics: tuple[str, ...]
    cause: FailureCause
    reason: str


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class UnsubscriptionFailed(Event):
    """No ack for an UNSUBSCRIPTION of ``topics`` came in time; they are ``FAILED``.

    :ivar topics: the topics concerned.
    :ivar cause: always :attr:`FailureCause.ACK_TIMEOUT` (MEXC never rejects these).
    :ivar reason: a description of the timeout.
    """

    topics: tuple[str, ...]
    cause: FailureCause
    reason: str


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class PongReceived(Event):
    """MEXC answered our ``{"method":"PING"}``.

    :ivar round_trip: seconds between sending the PING and reading the PONG.
    """

    round_trip: float


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class FrameRejected(Event):
    """A frame could not be read and was dropped; the session goes on.

    A dropped push is a gap: the connection pool reports a
    :class:`GapDetected` (cause :attr:`GapCause.FRAME_REJECTED`) for ``channel``
    when it names a topic the connection holds, otherwise for every topic the
    connection holds, and books resync.

    :ivar kind: the frame's message type.
    :ivar reason: what is wrong, from the decoder.
    :ivar size: the frame's length (bytes for binary, characters for text).
    :ivar offset: for binary frames, the byte offset where decoding stopped.
    :ivar field: for binary frames, the ``Message.field`` being read.
    :ivar excerpt: hex of the bytes around ``offset`` (binary) or the text, cut short.
    :ivar consecutive: bad frames in a row, this one included.
    :ivar total: bad frames on this session so far, this one included.
    :ivar channel: the channel the frame's readable part names
        (:func:`mexc_core.wire.peek_channel`), or ``None`` when none can be read
        (always for text frames).
    """

    kind: FrameKind
    reason: str
    size: int
    offset: int | None
    field: str | None
    excerpt: str
    consecutive: int
    total: int
    channel: str | None = None


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class StrayPushReceived(Event):
    """A push decoded, but cannot be delivered as a :class:`Push` of its channel.

    A :class:`Push` promises that its body is the message type of its channel,
    so that each channel's typed hook and every consumer of pushes can rely on
    it; a frame that breaks the promise (or comes for a topic the session does
    not hold) is reported as this event instead, counted per reason
    (:attr:`SessionStats.strays <mexc_core.session.SessionStats.strays>`), and
    delivered to no push consumer: no typed hook, no push stream, no book, no
    deduplicator. Pushes that only carry unknown *fields* are ordinary pushes
    (counted in :class:`~mexc_core.wire.SchemaDrift`).

    :ivar push: the frame, decoded; ``push.body`` is whatever it carried.
    :ivar reason: why it is not an ordinary push.
    :ivar expected: the message type the channel carries (``PublicAggreDealsV3Api``),
        or ``None`` for an unknown channel.

    .. versionadded:: 0.1
    """

    push: Push
    reason: StrayReason
    expected: str | None

    @property
    def topic(self) -> str:
        """The topic (channel) the frame names: ``push.channel``."""
        return self.push.channel


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ServerNoticeReceived(Event):
    """The server sent a text frame that is not a JSON reply (and not about keys).

    :ivar text: the frame's text, whole.
    """

    text: str


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ListenKeyInvalidated(Event):
    """MEXC says the listen key is not (or no longer) valid (``Invalid listen key``).

    Private pushes stop; the runtime gets a new key, reconnects and reconciles.

    :ivar text: the frame's text.
    """

    text: str


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorReplyReceived(Event):
    """A JSON reply with a non-zero ``code`` (undocumented by MEXC; kept whole).

    :ivar code: the reply's ``code``.
    :ivar msg: the reply's ``msg``.
    :ivar request_id: the reply's ``id``.
    """

    code: int
    msg: str
    request_id: int


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class UnexpectedReplyReceived(Event):
    """An ack or rejection that names topics with no request of ours in flight.

    Nothing changes state; a request it should have answered fails at its ack
    deadline. Typically a late reply after a timeout, or an ack whose ``msg`` is
    not the topic list we sent.

    :ivar topics: the topics the reply names (may be empty).
    :ivar msg: the reply's ``msg``.
    """

    topics: tuple[str, ...]
    msg: str


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class HealthCheckFailed(Event):
    """A liveness deadline was missed: abort the transport and reconnect.

    Do not wait for a close handshake on a connection in this state. The
    session stops its timers and sends nothing more (state ``STALE``).

    :ivar cause: which check failed.
    :ivar detail: a human-readable account (how long we waited for what).
    """

    cause: HealthCause
    detail: str


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class RotationDue(Event):
    """The connection nears MEXC's 24 h cut-off: open a new one, then close this one.

    The session is now ``DRAINING``: pushes still flow, subscriptions still work.

    :ivar age: seconds since the connection opened.
    :ivar remaining: seconds left before MEXC's 24 h cut-off.
    """

    age: float
    remaining: float


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class IdleWithoutSubscriptions(Event):
    """No topic has been subscribed for ``idle_for`` seconds.

    MEXC closes a connection after 30 s without a valid subscription: subscribe
    something or close it. Emitted once per idle stretch.

    :ivar idle_for: seconds since the last subscription went away (or the open).
    """

    idle_for: float


# ---------------------------------------------------------------- connection events
#
# Emitted by mexc_core.connection.Connection (WebSocket level).


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionOpened(Event):
    """The WebSocket handshake succeeded; queued subscriptions are being sent.

    :ivar headers: the server's response headers, as ``(name, value)`` bytes.
    """

    headers: tuple[tuple[bytes, bytes], ...]


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class HandshakeRejected(Event):
    """The server answered the upgrade request with a status other than 101.

    On 429 honour the ``Retry-After`` header; other 4xx are usually fatal.

    :ivar status_code: the HTTP status.
    :ivar headers: the response headers, as ``(name, value)`` bytes.
    :ivar body: the response body (cut at the connection's limit).
    """

    status_code: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes

    @property
    def retry_after(self) -> float | None:
        """The ``Retry-After`` header in seconds, if present and numeric."""
        for name, value in self.headers:
            if name.lower() == b"retry-after":
                try:
                    seconds = float(value.decode("ascii"))
                except (UnicodeDecodeError, ValueError):
                    return None
                return seconds if seconds >= 0 else None
        return None


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionClosed(Event):
    """The WebSocket is closed; send what :meth:`data_to_send` holds, then close TCP.

    :ivar code: the close code (1006 when the transport ended without a close frame).
    :ivar reason: the close reason.
    :ivar clean: whether a close handshake completed.
    """

    code: int
    reason: str
    clean: bool


# ---------------------------------------------------------------- listen keys


def _short(key: str) -> str:
    return f"{key[:4]}…{key[-4:]}" if len(key) > 8 else "…"


class ListenKeyLostReason(enum.Enum):
    """Why a listen key stopped being usable."""

    EXPIRED = "expired"  #: no keepalive succeeded before its validity ran out
    REJECTED = "rejected"  #: MEXC refused a keepalive for it
    INVALIDATED = "invalidated"  #: a WebSocket said ``Invalid listen key``
    NOT_LISTED = "not listed"  #: reconciliation found it missing from MEXC's list


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ListenKeyCreated(Event):
    """A new listen key: (re)connect the private streams with it.

    :ivar key: the key (shown shortened in the repr).
    :ivar valid_until: monotonic time until which it is trusted without keepalive.
    """

    key: str = field(repr=False)
    valid_until: float

    def __repr__(self) -> str:
        return f"ListenKeyCreated(key={_short(self.key)!r}, valid_until={self.valid_until})"


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ListenKeyCreateFailed(Event):
    """Creating a key failed; it is retried at ``retry_at``.

    :ivar error: what went wrong.
    :ivar retry_at: monotonic time of the next attempt.
    :ivar rejected: MEXC refused (4xx): likely credentials or the 60-key limit.
    """

    error: str
    retry_at: float
    rejected: bool


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ListenKeyRenewed(Event):
    """A keepalive succeeded.

    :ivar valid_until: monotonic time until which the key is now trusted.
    """

    valid_until: float


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ListenKeyRenewalFailed(Event):
    """A keepalive failed for a transient reason; the key is still valid for now.

    :ivar error: what went wrong.
    :ivar retry_at: monotonic time of the retry, or ``None`` if no retry fits
        before the key's deadline (it will then be lost and replaced).
    :ivar valid_until: the key's unchanged deadline.
    """

    error: str
    retry_at: float | None
    valid_until: float


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ListenKeyLost(Event):
    """The key is gone; a new one is being created.

    Private events between the loss and the new connection are lost: reconcile
    orders, balances and trades over REST once the new key is connected.

    :ivar key: the lost key (shown shortened).
    :ivar reason: why.
    :ivar detail: MEXC's error, when it gave one.
    """

    key: str = field(repr=False)
    reason: ListenKeyLostReason
    detail: str = ""

    def __repr__(self) -> str:
        return (
            f"ListenKeyLost(key={_short(self.key)!r}, reason={self.reason}, detail={self.detail!r})"
        )


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ListenKeysListed(Event):
    """The answer to a reconciliation (``GET /api/v3/userDataStream``).

    :ivar count: valid keys of the account (MEXC allows 60), or ``None`` on error.
    :ivar holds_key: whether the held key is among them (``None``: no key held, or error).
    :ivar error: what went wrong, or ``None``.
    """

    count: int | None
    holds_key: bool | None
    error: str | None


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ListenKeyClosed(Event):
    """The manager stopped.

    :ivar deleted: MEXC confirmed the ``DELETE`` (otherwise the key, if any, just expires).
    """

    deleted: bool


# ---------------------------------------------------------------- the connection pool
#
# Emitted by mexc_core.client.pool.ConnectionPool, which spreads topics over several
# connections ("links"), reconnects them and replaces them before MEXC's 24 h
# cut-off. A link is one shard: it keeps its id across reconnects.


class DisconnectCause(enum.Enum):
    """Why a link of the pool went down."""

    #: The server closed the WebSocket (its idle rules, the 24 h cut-off, a fault).
    CLOSED = "closed"
    #: The transport ended without a close handshake (reset, EOF, a failed write).
    LOST = "lost"
    #: A liveness check failed (no PONG, no data, bad frames): the transport was aborted.
    UNHEALTHY = "unhealthy"
    #: The TCP or TLS connection could not be opened, or the opening timed out.
    CONNECT_FAILED = "connect_failed"
    #: The server answered the WebSocket upgrade with an HTTP error.
    HANDSHAKE_REJECTED = "handshake_rejected"
    #: The server broke RFC 6455, or sent a message above the size limit.
    PROTOCOL_ERROR = "protocol_error"
    #: The listen key was invalidated or replaced: the private link reconnects.
    LISTEN_KEY = "listen_key"
    #: No subscription was acknowledged in time: the server ignores requests.
    ACK_TIMEOUT = "ack_timeout"
    #: We closed it on purpose: rotated away, emptied, or the pool was closed.
    RETIRED = "retired"


class GapCause(enum.Enum):
    """Why pushes of a topic may be missing (see :class:`GapDetected`)."""

    #: Every connection carrying the topic was down for a while.
    DISCONNECTED = "disconnected"
    #: The client's own buffers were full and pushes were dropped (a slow consumer).
    OVERFLOW = "overflow"
    #: A diff-depth push arrived after a later one (the pair was swapped on the wire).
    OUT_OF_ORDER = "out_of_order"
    #: A diff-depth push did not start where the previous one ended: pushes between
    #: never arrived.
    VERSION_GAP = "version_gap"
    #: A frame that may have carried the topic could not be read and was dropped
    #: (:class:`FrameRejected`).
    FRAME_REJECTED = "frame_rejected"
    #: A frame on the topic carried a body that is not its channel's (an unknown
    #: or another channel's message type, :class:`StrayPushReceived`): that push
    #: is lost to the topic.
    BODY_MISMATCH = "body_mismatch"
    #: A push on the topic's connection named a channel outside the registry
    #: (:class:`StrayPushReceived`, ``UNKNOWN_CHANNEL``): nothing was subscribed
    #: under that name, so it stands for a push lost to any topic of the link.
    UNKNOWN_CHANNEL = "unknown_channel"
    #: The topic sent nothing for longer than its silence limit while its
    #: connection lived (:class:`TopicSilent`); the connection was replaced.
    SILENCE = "silence"


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class LinkConnected(Event):
    """A link's WebSocket opened; its topics are being (re)subscribed.

    :ivar link: the link's id (stable across its reconnects).
    :ivar private: it is a listen-key link, for private channels.
    :ivar topics: the topics it is subscribing.
    :ivar reconnect: it had been connected before.
    """

    link: int
    private: bool
    topics: tuple[str, ...]
    reconnect: bool


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class LinkDisconnected(Event):
    """A link went down; its topics wait for the reconnect (or are gone with it).

    :ivar link: the link's id.
    :ivar cause: why, in one word.
    :ivar reason: what happened, for a log (close code and reason, the error).
    :ivar retry_in: seconds until the reconnect, or ``None`` when the link is not
        reconnected (retired, or refused for good).
    :ivar topics: the topics it carried or was subscribing.
    """

    link: int
    cause: DisconnectCause
    reason: str
    retry_in: float | None
    topics: tuple[str, ...]


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class LinkRotated(Event):
    """A link was replaced before MEXC's 24 h cut-off, make-before-break.

    The replacement subscribed every topic and delivered before the old link was
    closed, so nothing was missed; duplicates of the overlap were dropped.

    :ivar old: the id of the link closed.
    :ivar new: the id of the link that took its topics.
    :ivar age: seconds the old link's connection had been open.
    :ivar topics: the topics moved.
    """

    old: int
    new: int
    age: float
    topics: tuple[str, ...]


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class TopicsSubscribed(Event):
    """MEXC acknowledged ``topics`` on a link: their pushes flow.

    Fires again after every resubscription (after a reconnect, a rotation or a move).

    :ivar link: the link's id.
    :ivar topics: the topics acknowledged.
    """

    link: int
    topics: tuple[str, ...]


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class TopicsRejected(Event):
    """Subscribing ``topics`` failed; the pool forgot them (subscribe again to retry).

    A subscription that is merely not acknowledged in time is not reported here:
    the pool reconnects and subscribes again until MEXC answers.

    :ivar topics: the topics concerned.
    :ivar cause: MEXC refused them, or the server refused the connection itself.
    :ivar reason: MEXC's reason (``Blocked!``) or a description.
    """

    topics: tuple[str, ...]
    cause: FailureCause
    reason: str


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class SubscribeFailure:
    """Why one topic of a subscribe call did not succeed.

    :ivar topic: the topic.
    :ivar cause: MEXC rejected it, the server refused the connection, or the
        listen key it needs was refused.
    :ivar reason: MEXC's reason (``Blocked!``) or a description.
    """

    topic: str
    cause: FailureCause
    reason: str


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class SubscribeCompleted(Event):
    """One call of :meth:`ClientCore.subscribe <mexc_core.client.core.ClientCore.subscribe>`
    ended: every topic it asked for has an outcome.

    :ivar ticket: the number the call returned.
    :ivar topics: the topics asked for, in order, without repeats.
    :ivar confirmed: acknowledged by MEXC (or carried already).
    :ivar failures: not subscribed, with the cause and reason of each.
    :ivar cancelled: given up (unsubscribed, or the client closed) before an answer.
    """

    ticket: int
    topics: tuple[str, ...]
    confirmed: tuple[str, ...]
    failures: tuple[SubscribeFailure, ...]
    cancelled: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Every topic was confirmed."""
        return len(self.confirmed) == len(self.topics)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class TopicSilent(Event):
    """A topic sent nothing for longer than its silence limit on a live link.

    The pool then aborts the link and reconnects it (a server that silently
    stopped one stream is not trusted to restart it on request); the topic's
    :class:`GapDetected` (cause :attr:`GapCause.SILENCE`, from ``last_data``)
    follows when it is subscribed again.

    :ivar topic: the silent topic.
    :ivar link: the id of the link that carried it.
    :ivar last_data: monotonic time of its last push (or of its subscription).
    :ivar limit: its silence limit, in seconds.
    """

    topic: str
    link: int
    last_data: float
    limit: float


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class GapDetected(Event):
    """Pushes of ``topics`` between ``started_at`` and ``ended_at`` may be missing.

    Fired when the gap closes: the topics are subscribed again after a disconnect
    or a silence, or pushes flow again after the client's buffers overflowed; or
    at once when a push is known lost on a live link (a version break, a rejected
    frame, a mismatched body). Resynchronise what depends on continuity: order
    books from a snapshot, private state over REST.

    One per topic per outage. A disconnect (or silence) is one outage, reported
    once when the topic is subscribed and confirmed again, however many
    reconnects that took. Any other signal (a version break, a rejected frame, a
    mismatched body) opens an outage unless one is open; an outage stays open
    until a push of the topic is delivered again, and the signals that come
    while it is open are folded into its report (counted in the pool's
    ``stats.gaps_folded``).

    :ivar topics: the topics concerned.
    :ivar cause: why pushes may be missing (:class:`GapCause`).
    :ivar started_at: monotonic time the gap began.
    :ivar ended_at: monotonic time the gap was over.
    :ivar missed: pushes known to be lost (overflow; for a shedding episode, the
        pushes of all its topics), or ``None`` when unknown.
    """

    topics: tuple[str, ...]
    cause: GapCause
    started_at: float
    ended_at: float
    missed: int | None = None


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class PluginFailed(Event):
    """A plugin's hook raised; the plugin stays registered and the client goes on.

    Reported for the 1st, 10th, 100th ... failure of one plugin in one hook, so a
    plugin failing on every push does not flood the logs.

    :ivar plugin: the plugin's name in the plugin manager.
    :ivar hook: the hook that raised.
    :ivar error: the exception, as ``Type: message``.
    :ivar failures: how many times this plugin has failed in this hook so far.
    """

    plugin: str
    hook: str
    error: str
    failures: int


# ---------------------------------------------------------------- order books


class Level(NamedTuple):
    """One price level of a book, as MEXC wrote it."""

    price: str
    quantity: str


@final
@dataclass(frozen=True, slots=True)
class BookView:
    """An immutable copy of a book at one version; safe to keep and to share.

    :ivar symbol: the symbol.
    :ivar version: the book's version (the ``toVersion`` of the last diff applied,
        or the snapshot's ``lastUpdateId``).
    :ivar bids: levels, best (highest) first.
    :ivar asks: levels, best (lowest) first.
    """

    symbol: str
    version: int
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]


class BookBreak(enum.Enum):
    """Why a local order book stopped being exact (see :class:`BookGapDetected`)."""

    #: A diff started after the version the book expected: diffs between were lost.
    VERSION_GAP = "version_gap"
    #: A diff started before the version the book expected: a duplicate, a diff
    #: out of order, or diffs that overlap.
    OVERLAP = "overlap"
    #: The client reported a :class:`GapDetected` for the depth topic (a
    #: reconnect, or its own buffers overflowed).
    STREAM_GAP = "stream_gap"
    #: A diff held a price, quantity or version that is not a number.
    INVALID_DATA = "invalid_data"
    #: After a diff, the best bid was at or above the best ask.
    CROSSED = "crossed"


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class BookSynced(Event):
    """The local book of ``symbol`` is exact again, at ``version``.

    :ivar symbol: the symbol.
    :ivar version: the book's version (the last diff applied, or the snapshot's
        ``lastUpdateId``).
    :ivar snapshot_version: the ``lastUpdateId`` of the snapshot it was built from.
    :ivar bids: how many bid levels it holds.
    :ivar asks: how many ask levels it holds.
    :ivar view: the best levels at ``version``, when the book was asked to keep
        views (``BookConfig.view_depth``).
    """

    symbol: str
    version: int
    snapshot_version: int
    bids: int
    asks: int
    view: BookView | None = None


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class BookUpdated(Event):
    """A diff was applied to the synced book of ``symbol``.

    :ivar symbol: the symbol.
    :ivar version: the book's version now (the diff's ``toVersion``).
    :ivar from_version: the diff's ``fromVersion``.
    :ivar bids: the bid levels it set, ``(price, quantity)`` as MEXC wrote them; a
        quantity of zero deleted the level.
    :ivar asks: the ask levels it set, likewise.
    :ivar view: the best levels at ``version``, when the book was asked to keep
        views (``BookConfig.view_depth``): what a consumer shows, consistent with
        this event even when it is read later.
    """

    symbol: str
    version: int
    from_version: int
    bids: tuple[tuple[str, str], ...]
    asks: tuple[tuple[str, str], ...]
    view: BookView | None = None


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class BookGapDetected(Event):
    """The depth stream of ``symbol`` broke: the book cannot be kept from it.

    A :class:`BookResyncStarted` follows at once.

    :ivar symbol: the symbol.
    :ivar cause: what broke.
    :ivar expected: the ``fromVersion`` the book waited for, if it was synced.
    :ivar from_version: the breaking diff's ``fromVersion``, if a diff broke it.
    :ivar to_version: the breaking diff's ``toVersion``, if a diff broke it.
    """

    symbol: str
    cause: BookBreak
    expected: int | None = None
    from_version: int | None = None
    to_version: int | None = None


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class BookCrossed(Event):
    """After a diff the best bid of ``symbol`` was at or above its best ask.

    A real book is never crossed, so the local one is wrong: a
    :class:`BookResyncStarted` follows at once.

    :ivar symbol: the symbol.
    :ivar version: the version of the diff that crossed it.
    :ivar best_bid: the best bid's price.
    :ivar best_ask: the best ask's price.
    """

    symbol: str
    version: int
    best_bid: str
    best_ask: str


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class BookResyncStarted(Event):
    """The local book of ``symbol`` is cleared and rebuilt from a new snapshot.

    Until the next :class:`BookSynced` it holds nothing: read nothing from it.

    :ivar symbol: the symbol.
    :ivar cause: why.
    :ivar version: the last version it was exact at, if it was synced.
    """

    symbol: str
    cause: BookBreak
    version: int | None = None


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class BookSnapshotFailed(Event):
    """A REST snapshot for the book of ``symbol`` could not be used; it is asked again.

    :ivar symbol: the symbol.
    :ivar reason: what went wrong: the request failed (with MEXC's answer), or
        the snapshot was older than the first buffered diff.
    :ivar stale: whether the snapshot came but was older than the stream.
    :ivar retry_in: seconds until the next request (at the earliest).
    """

    symbol: str
    reason: str
    stale: bool
    retry_in: float


# ---------------------------------------------------------------- private-state reconciliation
#
# Emitted by mexc_core.client.reconcile.Reconciler (through the client core) after
# the private streams were not listened to for a while: what changed meanwhile,
# read over REST (docs/reconcile.rst).


class OrderState(enum.Enum):
    """An order's status, in MEXC's REST words (the private orders push's
    ``status`` numbers map onto them: 1 ``NEW``, 2 ``FILLED``, 3
    ``PARTIALLY_FILLED``, 4 ``CANCELED``, 5 ``PARTIALLY_CANCELED``)."""

    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    #: Partly filled, the rest cancelled (REST reports it as ``CANCELED``).
    PARTIALLY_CANCELED = "PARTIALLY_CANCELED"
    #: A status this client does not know.
    UNKNOWN = "UNKNOWN"

    @property
    def is_open(self) -> bool:
        """Whether the order may still trade."""
        return self in (OrderState.NEW, OrderState.PARTIALLY_FILLED)


class ReconcileTrigger(enum.Enum):
    """Why private state was reconciled."""

    #: The first reconciliation once the private topics are carried: it sets the
    #: baseline later ones compare with, and reports nothing item by item.
    BASELINE = "baseline"
    #: Pushes of a private topic were missed (:class:`GapDetected`), or a private
    #: link went down, and the topics are carried again.
    GAP = "gap"
    #: The listen key was lost and replaced; the private topics are carried again.
    LISTEN_KEY = "listen_key"


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class OrderReconciled(Event):
    """An order changed while the private streams were not listened to.

    Its state over REST differs from the last one seen (a push, or an earlier
    reconciliation): it is new, (partly) filled, or cancelled.

    :ivar symbol: the symbol.
    :ivar order_id: MEXC's order id.
    :ivar client_order_id: the client's id, or ``""``.
    :ivar status: the status now.
    :ivar executed_qty: the quantity filled so far (MEXC's decimal string).
    :ivar orig_qty: the quantity ordered (``"0"`` for a market order by amount).
    :ivar price: the limit price (``"0"`` for a market order).
    :ivar side: ``BUY`` or ``SELL``.
    :ivar type: MEXC's order type (``LIMIT``, ``MARKET`` ...).
    :ivar previous_status: the status last seen, or ``None`` for an order never seen.
    :ivar previous_executed_qty: the filled quantity last seen, or ``None``.
    """

    symbol: str
    order_id: str
    client_order_id: str
    status: OrderState
    executed_qty: str
    orig_qty: str
    price: str
    side: str
    type: str
    previous_status: OrderState | None
    previous_executed_qty: str | None


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class BalanceReconciled(Event):
    """An asset's balance changed while the private streams were not listened to.

    :ivar asset: the asset (``USDT``).
    :ivar free: the free amount now (MEXC's decimal string).
    :ivar locked: the amount locked in open orders now.
    :ivar previous_free: the free amount last seen, or ``None`` if never seen.
    :ivar previous_locked: the locked amount last seen, or ``None``.
    """

    asset: str
    free: str
    locked: str
    previous_free: str | None
    previous_locked: str | None


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class TradeRecovered(Event):
    """One of the account's fills that no push delivered (``GET /api/v3/myTrades``).

    :ivar symbol: the symbol.
    :ivar trade_id: MEXC's trade id.
    :ivar order_id: the order it filled.
    :ivar price: the price (MEXC's decimal string).
    :ivar qty: the quantity.
    :ivar quote_qty: price times quantity.
    :ivar commission: the fee.
    :ivar commission_asset: the fee's asset.
    :ivar time: when it happened (ms since the epoch, MEXC's clock).
    :ivar is_buyer: the account bought.
    :ivar is_maker: the account's order was resting in the book.
    """

    symbol: str
    trade_id: str
    order_id: str
    price: str
    qty: str
    quote_qty: str
    commission: str
    commission_asset: str
    time: int
    is_buyer: bool
    is_maker: bool


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ReconcileCompleted(Event):
    """A reconciliation ended: what it reported, and what it cost.

    :ivar trigger: why it ran.
    :ivar orders: :class:`OrderReconciled` events it emitted.
    :ivar balances: :class:`BalanceReconciled` events it emitted.
    :ivar trades: :class:`TradeRecovered` events it emitted.
    :ivar symbols: the symbols whose orders and trades were read.
    :ivar requests: REST requests it sent.
    :ivar weight: their MEXC weight.
    :ivar truncated: a symbol had more fills since the last one seen than the
        pages it may read (``ReconcileConfig.max_trade_pages``): older ones were
        not recovered.
    :ivar unknown_orders: orders MEXC no longer knows (``-2011``): forgotten.
    :ivar started_at: monotonic time it started.
    :ivar ended_at: monotonic time it ended.
    """

    trigger: ReconcileTrigger
    orders: int
    balances: int
    trades: int
    symbols: tuple[str, ...]
    requests: int
    weight: int
    truncated: bool
    unknown_orders: int
    started_at: float
    ended_at: float


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ReconcileFailed(Event):
    """A reconciliation failed; it starts again (from scratch) at ``retry_at``.

    What it reported before the failure stands and is not reported again.

    :ivar trigger: why it ran.
    :ivar error: what went wrong (the request and MEXC's answer or the transport error).
    :ivar retry_at: monotonic time of the next attempt.
    :ivar rate_limited: MEXC answered 429 or 418: the retry waits at least its ``Retry-After``.
    :ivar attempt: failed attempts in a row (1 for the first).
    """

    trigger: ReconcileTrigger
    error: str
    retry_at: float
    rate_limited: bool
    attempt: int
