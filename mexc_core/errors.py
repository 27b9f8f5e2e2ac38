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
    "ControlFrameError",
    "DecodeError",
    "EncodeError",
    "InvalidTopic",
    "LocalProtocolError",
    "MexcError",
    "ProtocolError",
    "RemoteProtocolError",
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


class InvalidTopic(LocalProtocolError, ValueError):  # noqa: N818 - reads as a fact
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
    """An argument has the wrong type (for example ``str`` where bytes are needed)."""


class EncodeError(LocalProtocolError, ValueError):
    """A value cannot be encoded (wrong type, out of range, unknown body type)."""


def hex_excerpt(data: bytes, offset: int, radius: int = EXCERPT_RADIUS) -> str:
    """Render the bytes around ``offset`` as hex, the offending byte in brackets.

    >>> hex_excerpt(bytes(range(8)), 3, radius=2)
    '0102[03]0405'
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


class ControlFrameError(RemoteProtocolError):
    """A JSON text frame from the server is not a control reply we can read.

    :ivar text: the frame's text, cut to 200 characters.
    """

    def __init__(self, reason: str, *, text: str) -> None:
        self.reason = reason
        self.text = text[:200]
        super().__init__(f"{reason}: {self.text!r}")
