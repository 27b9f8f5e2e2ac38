"""The exception hierarchy of mexc-core.

Every failure the library raises on purpose is a :class:`MexcError`. The two
branches say whose fault it is, as in h11 and wsproto:

- :class:`LocalProtocolError`: the caller asked for something the protocol does
  not allow (a malformed topic, a request MEXC would reject). Fix the calling code.
- :class:`RemoteProtocolError`: the peer sent something we cannot accept (a
  truncated protobuf frame, an unparsable control reply). The connection may be
  able to go on; the session layer reports these as events.

Any other exception escaping the library is a bug.
"""

from __future__ import annotations

from typing import Final

__all__ = (
    "ArgumentTypeError",
    "ClockError",
    "ControlFrameError",
    "DecodeError",
    "EncodeError",
    "HandshakeError",
    "InvalidConfig",
    "InvalidCredentials",
    "InvalidLevel",
    "InvalidTopic",
    "ListenKeyRequired",
    "LocalProtocolError",
    "MessageTooBig",
    "MexcError",
    "ProtocolError",
    "RemoteProtocolError",
    "StateError",
    "SubscriptionError",
    "SubscriptionLimitExceeded",
    "SubscriptionStateError",
    "TopicTypeError",
    "WebSocketError",
    "hex_excerpt",
)

#: Bytes of context shown on each side of an offending offset in a hex excerpt.
EXCERPT_RADIUS: Final = 16


class MexcError(Exception):
    """Base class of every error raised by mexc-core on purpose."""


class ProtocolError(MexcError):
    """A violation of the MEXC WebSocket protocol, by either side."""


class LocalProtocolError(ProtocolError):
    """The caller tried to do something the protocol does not allow."""


class RemoteProtocolError(ProtocolError):
    """The peer sent data that does not follow the protocol."""


class InvalidTopic(LocalProtocolError, ValueError):
    """A topic (channel) string or parameter is not one MEXC accepts.

    :ivar topic: the offending topic string, or ``None`` when building from parts.
    :ivar part: the part that is wrong (a parameter name, ``"channel"``, ``"shape"``).
    :ivar allowed: the values that would have been accepted, when they are few.
    """

    def __init__(
        self,
        message: str,
        *,
        topic: str | None = None,
        part: str,
        allowed: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.topic = topic
        self.part = part
        self.allowed = allowed


class ArgumentTypeError(LocalProtocolError, TypeError):
    """An argument has the wrong type (for example ``str`` where bytes are needed).

    The message names the argument and what it must be.
    """


class TopicTypeError(InvalidTopic, ArgumentTypeError):
    """A topic parameter (a symbol, an interval) has the wrong type, such as
    ``watch_book(123)``: both an :class:`InvalidTopic` and a :class:`TypeError`."""


class EncodeError(LocalProtocolError, ValueError):
    """A value cannot be encoded (wrong type, out of range, unknown body type)."""


def hex_excerpt(data: bytes, offset: int, radius: int = EXCERPT_RADIUS) -> str:
    """Render the bytes around ``offset`` as hex, the offending byte in brackets.

    >>> hex_excerpt(bytes(range(8)), 3, radius=2)
    '...0102[03]0405...'
    """
    if not data:
        return "(empty)"
    at = min(max(offset, 0), len(data))
    start = max(0, at - radius)
    end = min(len(data), at + radius + 1)
    before = data[start:at].hex()
    if at >= len(data):
        return f"{before}[<end>]"
    after = data[at + 1 : end].hex()
    lead = "..." if start > 0 else ""
    trail = "..." if end < len(data) else ""
    return f"{lead}{before}[{data[at]:02x}]{after}{trail}"


class DecodeError(RemoteProtocolError):
    """A binary push frame is not a valid ``PushDataV3ApiWrapper``.

    :ivar reason: what is wrong, in a few words.
    :ivar offset: byte offset in the frame where decoding stopped.
    :ivar field: ``Message.field`` being read, or ``Message`` when between fields.
    :ivar excerpt: hex of the bytes around ``offset`` (see :func:`hex_excerpt`).
    :ivar size: length of the whole frame.
    """

    def __init__(self, reason: str, *, data: bytes, offset: int, field: str) -> None:
        self.reason = reason
        self.offset = offset
        self.field = field
        self.size = len(data)
        self.excerpt = hex_excerpt(data, offset)
        super().__init__(f"{reason} in {field} at offset {offset} of {self.size}: {self.excerpt}")


class InvalidLevel(RemoteProtocolError):
    """A book level whose price or quantity is not a plain decimal number.

    Raised by :class:`~mexc_core.book.levels.OrderBook` before it changes anything;
    the book machine treats it as a break of the stream and resynchronises.

    :ivar value: the offending text (``""`` when the level was not a pair of strings).
    """

    def __init__(self, message: str, *, value: str) -> None:
        super().__init__(message)
        self.value = value


class ControlFrameError(RemoteProtocolError):
    """A JSON text frame from the server is not a control reply we can read.

    :ivar text: the frame's text, cut to 200 characters.
    """

    def __init__(self, reason: str, *, text: str) -> None:
        self.reason = reason
        self.text = text[:200]
        super().__init__(f"{reason}: {self.text!r}")


# ---------------------------------------------------------------- session and connection


class InvalidConfig(LocalProtocolError, ValueError):
    """A session or connection setting is out of range (or breaks a MEXC limit).

    :ivar setting: the name of the offending setting.
    """

    def __init__(self, message: str, *, setting: str) -> None:
        super().__init__(message)
        self.setting = setting


class InvalidCredentials(LocalProtocolError, ValueError):
    """An API key or secret that MEXC cannot accept, found when the credentials are made.

    Keys are sent in an HTTP header and secrets sign requests, so both must be
    non-empty printable ASCII without spaces; a stray newline or space is almost
    always a copy-paste slip. The message names the field and the position, never
    the value.

    :ivar field: ``"api_key"`` or ``"secret_key"``.
    """

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class ClockError(LocalProtocolError, ValueError):
    """``now`` is not a finite number, or went backwards.

    The core needs a monotonic clock (``time.monotonic``, ``anyio.current_time``),
    never the wall clock.

    :ivar now: the value given.
    :ivar last: the latest ``now`` seen before it.
    """

    def __init__(self, message: str, *, now: object, last: float) -> None:
        super().__init__(message)
        self.now = now
        self.last = last


class StateError(LocalProtocolError):
    """The call is not allowed in the machine's current state.

    When the machine is a whole session or connection, it is now in its terminal
    ``ERROR`` state and every later call raises too.

    :ivar machine: which machine refused (``session``, ``subscription``, ``connection``).
    :ivar state: the state's name when the call was made.
    :ivar input: the input's name (what the call asked for).
    """

    def __init__(self, message: str, *, machine: str, state: str, input: str) -> None:
        super().__init__(message)
        self.machine = machine
        self.state = state
        self.input = input


class SubscriptionStateError(StateError):
    """A subscribe or unsubscribe the topic's state does not allow.

    Raised before anything changes (commands are all or nothing), so the session
    stays usable; for example unsubscribing a topic that is not subscribed.

    :ivar topic: the offending topic.
    """

    def __init__(self, message: str, *, topic: str, state: str, input: str) -> None:
        super().__init__(message, machine="subscription", state=state, input=input)
        self.topic = topic


class SubscriptionLimitExceeded(LocalProtocolError):
    """Subscribing would exceed the per-connection cap; nothing was subscribed.

    MEXC allows 30 subscriptions per connection (fewer in practice); the runtime
    catches this and opens another connection for the rest (sharding).

    :ivar limit: the configured cap.
    :ivar used: slots already taken on this connection.
    :ivar requested: new slots the call asked for.
    """

    def __init__(self, message: str, *, limit: int, used: int, requested: int) -> None:
        super().__init__(message)
        self.limit = limit
        self.used = used
        self.requested = requested

    @property
    def free(self) -> int:
        """Slots still free on this connection."""
        return max(0, self.limit - self.used)


class SubscriptionError(MexcError):
    """Topics could not be subscribed: MEXC rejected them, never acknowledged
    them, or refused the connection; the client gave them up.

    :ivar failures: per topic, the cause (a :class:`~mexc_core.events.FailureCause`
        value such as ``"rejected"``) and MEXC's reason (``"Blocked!"``).
    """

    def __init__(self, message: str, *, failures: dict[str, tuple[str, str]]) -> None:
        super().__init__(message)
        self.failures = failures

    @property
    def topics(self) -> tuple[str, ...]:
        """The topics that failed."""
        return tuple(self.failures)


class ListenKeyRequired(LocalProtocolError):
    """A private topic was asked for on a connection opened without a listen key.

    :ivar topic: the private topic.
    """

    def __init__(self, message: str, *, topic: str) -> None:
        super().__init__(message)
        self.topic = topic


class WebSocketError(RemoteProtocolError):
    """The peer broke the WebSocket protocol (RFC 6455); the connection is dead.

    The close frame with :attr:`close_code` is already queued: send
    ``data_to_send()`` before closing the socket.

    :ivar close_code: the close code we sent (the hint), or ``None`` if none could be.
    """

    def __init__(self, message: str, *, close_code: int | None) -> None:
        super().__init__(message)
        self.close_code = close_code


class MessageTooBig(WebSocketError):
    """A message exceeded the connection's ``max_message_size`` (close code 1009).

    :ivar limit: the configured limit in bytes.
    """

    def __init__(self, message: str, *, limit: int) -> None:
        super().__init__(message, close_code=1009)
        self.limit = limit


class HandshakeError(RemoteProtocolError):
    """The server's answer to the WebSocket upgrade is not valid HTTP or not a
    valid WebSocket acceptance (bad ``Sec-WebSocket-Accept``, missing headers).

    Nothing can be sent back: close the socket.
    """
