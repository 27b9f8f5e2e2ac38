"""The stateless MEXC wire codec: binary push frames and JSON control frames.

Binary frames carry one ``PushDataV3ApiWrapper`` each (no length prefix);
:func:`decode_push` turns one into a :class:`~mexc_core.events.Push` with the
schema-specialised decoder generated from ``proto/``, and :func:`encode_push`
does the reverse (for the simulator and tests). :func:`stray_reason` says whether
a decoded push may be delivered as a push of its channel (its body is the
channel's message type), and :func:`stray_push` reports one that may not.

Text frames carry JSON. The client sends requests (:func:`encode_subscription`,
:func:`encode_unsubscription`, :func:`encode_ping`); the server answers with
``{"id":0,"code":0,"msg":...}`` objects that :func:`decode_control` reads into
:class:`Ack`, :class:`Pong`, :class:`SubscriptionRejected` or :class:`ErrorReply`,
and sometimes with plain text (``Invalid listen key``), read as :class:`ServerNotice`.

Everything here is pure: no I/O, no clock, no state.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, TypeAlias, final

from mexc_core._generated.codec import decode_push, encode_push
from mexc_core._generated.records import FIELDS, Record
from mexc_core._json import JSONObject, loads
from mexc_core._pbwire import UnknownBody, UnknownField
from mexc_core.channels import body_type
from mexc_core.errors import ArgumentTypeError, ControlFrameError, EncodeError
from mexc_core.events import Push, StrayPushReceived, StrayReason

__all__ = (
    "Ack",
    "ControlReply",
    "ErrorReply",
    "Pong",
    "Push",
    "SchemaDrift",
    "ServerNotice",
    "SubscriptionRejected",
    "UnknownBody",
    "UnknownField",
    "decode_control",
    "decode_push",
    "encode_ping",
    "encode_push",
    "encode_request",
    "encode_subscription",
    "encode_unsubscription",
    "push_as_dict",
    "record_as_dict",
    "stray_push",
    "stray_reason",
)

SUBSCRIPTION: Final = "SUBSCRIPTION"
UNSUBSCRIPTION: Final = "UNSUBSCRIPTION"
PING: Final = "PING"
_METHODS: Final = frozenset({SUBSCRIPTION, UNSUBSCRIPTION, PING})

#: The largest request id we send: MEXC documents the id as an unsigned int.
MAX_REQUEST_ID: Final = 2**32 - 1

#: The prefix of MEXC's (undocumented) rejection reply, which keeps ``code`` 0.
REJECTION_PREFIX: Final = "Not Subscribed successfully!"
# "Not Subscribed successfully! [a,b].  Reason： Blocked! ": bracketed list, then the
# reason after an ASCII or full-width colon (spacing varies between reports).
_REJECTION = re.compile(
    r"^Not Subscribed successfully!\s*\[(?P<topics>[^\]]*)\]\.?\s*"
    r"(?:Reason\s*[:\uff1a]\s*(?P<reason>.*?))?\s*$",
    re.DOTALL,
)


# ---------------------------------------------------------------- requests


def encode_request(
    method: str, params: Iterable[str] = (), *, request_id: int | None = None
) -> str:
    """Encode a client request as the JSON text MEXC expects.

    >>> encode_request("SUBSCRIPTION", ["spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT"])
    '{"method":"SUBSCRIPTION","params":["spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT"]}'

    :param method: ``SUBSCRIPTION``, ``UNSUBSCRIPTION`` or ``PING``.
    :param params: the topics, for the first two.
    :param request_id: an optional unsigned id MEXC may echo.
    :raises EncodeError: unknown method, params on PING, no params otherwise,
        a topic that is not a non-empty string, or an id out of range.
    """
    if method not in _METHODS:
        raise EncodeError(f"unknown method {method!r}; use one of {sorted(_METHODS)}")
    if isinstance(params, str):
        raise EncodeError("params must be a collection of topics, not one string")
    topics = list(params)
    for topic in topics:
        if type(topic) is not str or not topic:
            raise EncodeError(f"every topic must be a non-empty str, got {topic!r}")
    message: dict[str, object] = {"method": method}
    if method == PING:
        if topics:
            raise EncodeError("PING takes no params")
    elif not topics:
        raise EncodeError(f"{method} needs at least one topic")
    else:
        message["params"] = topics
    if request_id is not None:
        if type(request_id) is not int or not 0 <= request_id <= MAX_REQUEST_ID:
            raise EncodeError(f"request_id must be an int in [0, 2**32), got {request_id!r}")
        message["id"] = request_id
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


def encode_subscription(topics: Iterable[str], *, request_id: int | None = None) -> str:
    """``{"method":"SUBSCRIPTION","params":[...]}``; see :func:`encode_request`."""
    return encode_request(SUBSCRIPTION, topics, request_id=request_id)


def encode_unsubscription(topics: Iterable[str], *, request_id: int | None = None) -> str:
    """``{"method":"UNSUBSCRIPTION","params":[...]}``; see :func:`encode_request`."""
    return encode_request(UNSUBSCRIPTION, topics, request_id=request_id)


def encode_ping(*, request_id: int | None = None) -> str:
    """``{"method":"PING"}``, MEXC's application-level keepalive."""
    return encode_request(PING, request_id=request_id)


# ---------------------------------------------------------------- replies


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Ack:
    """A subscribe or unsubscribe request succeeded for ``topics``.

    MEXC acknowledges with ``code`` 0 and the topics, comma-joined, in ``msg``. The
    reply does not say which request it answers; the session matches ``topics``.

    :ivar topics: the topics acknowledged, in the order MEXC listed them.
    :ivar request_id: the reply's ``id`` (MEXC sends 0 unless it echoes one).
    :ivar msg: the raw ``msg``.
    """

    topics: tuple[str, ...]
    request_id: int
    msg: str


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Pong:
    """The answer to ``{"method":"PING"}``: ``{"id":0,"code":0,"msg":"PONG"}``."""

    request_id: int


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionRejected:
    """MEXC refused to subscribe ``topics``, though ``code`` is still 0.

    Observed text: ``"Not Subscribed successfully! [<topics>].  Reason： Blocked! "``
    (full-width colon, trailing space), for retired and malformed topics.

    :ivar topics: the topics MEXC listed between the brackets.
    :ivar reason: the text after ``Reason``, e.g. ``Blocked!``; empty if absent.
    :ivar request_id: the reply's ``id``.
    :ivar msg: the raw ``msg``.
    """

    topics: tuple[str, ...]
    reason: str
    request_id: int
    msg: str


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorReply:
    """A control reply with a non-zero ``code`` (not documented by MEXC; kept whole).

    :ivar code: the reply's ``code``.
    :ivar msg: the reply's ``msg``.
    :ivar request_id: the reply's ``id``.
    """

    code: int
    msg: str
    request_id: int


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ServerNotice:
    """A text frame that is not JSON, e.g. ``Invalid listen key``.

    :ivar text: the frame's text.
    """

    text: str

    @property
    def is_invalid_listen_key(self) -> bool:
        """MEXC says the connection's listen key is not (or no longer) valid."""
        return "invalid listen key" in self.text.lower()


ControlReply: TypeAlias = Ack | Pong | SubscriptionRejected | ErrorReply | ServerNotice


def _split_topics(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def decode_control(frame: str | bytes) -> ControlReply:
    """Read one text frame from the server.

    :param frame: the frame's text (``bytes`` are decoded as UTF-8).
    :returns: the typed reply; plain text that is not JSON is a :class:`ServerNotice`.
    :raises ControlFrameError: the frame is JSON but not a reply object (not an
        object, no string ``msg``, a ``code`` or ``id`` that is not an integer),
        or bytes that are not UTF-8.
    :raises ArgumentTypeError: ``frame`` is neither ``str`` nor ``bytes``.
    """
    if isinstance(frame, bytes | bytearray | memoryview):
        try:
            text = bytes(frame).decode()
        except UnicodeDecodeError as exc:
            raise ControlFrameError(
                f"text frame is not UTF-8 ({exc.reason})", text=repr(bytes(frame)[:200])
            ) from exc
    elif isinstance(frame, str):
        text = frame
    else:
        raise ArgumentTypeError(f"a control frame is str or bytes, not {type(frame).__name__}")
    stripped = text.strip()
    if not stripped.startswith(("{", "[")):
        return ServerNotice(text=text)
    try:
        obj = loads(stripped)
    except (ValueError, RecursionError) as exc:
        raise ControlFrameError("malformed JSON", text=text) from exc
    if not isinstance(obj, dict):
        raise ControlFrameError("JSON reply is not an object", text=text)
    msg = obj.get("msg")
    code = obj.get("code", 0)
    request_id = obj.get("id", 0)
    if not isinstance(msg, str):
        raise ControlFrameError("reply has no string 'msg'", text=text)
    if type(code) is not int or type(request_id) is not int:
        raise ControlFrameError("reply 'code' and 'id' must be integers", text=text)
    if code != 0:
        return ErrorReply(code=code, msg=msg, request_id=request_id)
    if msg == "PONG":
        return Pong(request_id=request_id)
    if msg.startswith(REJECTION_PREFIX):
        m = _REJECTION.match(msg)
        if m is None:
            return SubscriptionRejected(topics=(), reason="", request_id=request_id, msg=msg)
        return SubscriptionRejected(
            topics=_split_topics(m["topics"]),
            reason=(m["reason"] or "").strip(),
            request_id=request_id,
            msg=msg,
        )
    return Ack(topics=_split_topics(msg), request_id=request_id, msg=msg)


# ---------------------------------------------------------------- stray pushes


def stray_reason(push: Push) -> StrayReason | None:
    """Why ``push`` is not a push of its channel, judged from the frame alone.

    :returns: ``None`` when the body is the message type of the channel the push
        names; otherwise :attr:`~StrayReason.UNKNOWN_CHANNEL`,
        :attr:`~StrayReason.UNKNOWN_BODY` or :attr:`~StrayReason.FOREIGN_BODY`,
        the first that applies. (Whether a topic is held is the session's to say:
        :attr:`~StrayReason.NOT_HELD`.)
    """
    expected = body_type(push.channel)
    if expected is None:
        return StrayReason.UNKNOWN_CHANNEL
    kind = type(push.body)
    if kind is expected:
        return None
    return StrayReason.UNKNOWN_BODY if kind is UnknownBody else StrayReason.FOREIGN_BODY


def stray_push(push: Push, reason: StrayReason) -> StrayPushReceived:
    """The event that reports ``push`` as a stray for ``reason``."""
    expected = body_type(push.channel)
    return StrayPushReceived(
        push=push, reason=reason, expected=None if expected is None else expected.__name__
    )


# ---------------------------------------------------------------- JSON view


def record_as_dict(record: Record) -> JSONObject:
    """A record as plain JSON-ready data: snake_case keys, lists for repeated fields.

    Prices and quantities stay strings; ``None`` marks an absent ``optional`` field.
    """
    out: JSONObject = {}
    for info in FIELDS[type(record)]:
        value = getattr(record, info.attr)
        out[info.attr] = [record_as_dict(item) for item in value] if info.repeated else value
    return out


def push_as_dict(push: Push) -> JSONObject:
    """A push as plain JSON-ready data (what ``mexc watch --json`` prints).

    Keys: ``channel``, ``symbol``, ``symbol_id``, ``create_time``, ``send_time``,
    ``body_type`` (the message name) and ``body`` (its fields); an unknown body is
    ``{"number": n, "data": "<hex>"}``. Unknown fields, if any, are listed under
    ``unknown_fields`` as ``[message, number, wire_type]``.
    """
    body = push.body
    out: JSONObject = {
        "channel": push.channel,
        "symbol": push.symbol,
        "symbol_id": push.symbol_id,
        "create_time": push.create_time,
        "send_time": push.send_time,
        "body_type": type(body).__name__,
    }
    if isinstance(body, UnknownBody):
        out["body"] = {"number": body.number, "data": body.data.hex()}
    else:
        out["body"] = record_as_dict(body)
    if push.unknown_fields:
        out["unknown_fields"] = [list(u) for u in push.unknown_fields]
    return out


# ---------------------------------------------------------------- schema drift


class SchemaDrift:
    """Counts what MEXC sends that this schema does not know.

    Feed it every :class:`Push`; it is cheap when nothing is unknown. A plugin or
    the runtime reads it to log or alert on a schema change.

    :ivar unknown_bodies: frames per unknown wrapper body field number.
    :ivar unknown_fields: occurrences per ``(message, field number)``.
    :ivar frames: frames observed.
    """

    __slots__ = ("frames", "unknown_bodies", "unknown_fields")

    def __init__(self) -> None:
        self.frames = 0
        self.unknown_bodies: Counter[int] = Counter()
        self.unknown_fields: Counter[tuple[str, int]] = Counter()

    def observe(self, push: Push) -> bool:
        """Count ``push``; return whether it carried anything unknown."""
        self.frames += 1
        drift = False
        if push.unknown_fields:
            drift = True
            self.unknown_fields.update((u.message, u.number) for u in push.unknown_fields)
        if type(push.body) is UnknownBody:
            drift = True
            self.unknown_bodies[push.body.number] += 1
        return drift

    @property
    def drifted(self) -> bool:
        """Whether anything unknown has been seen."""
        return bool(self.unknown_bodies or self.unknown_fields)

    def __repr__(self) -> str:
        return (
            f"SchemaDrift(frames={self.frames}, unknown_bodies={dict(self.unknown_bodies)}, "
            f"unknown_fields={dict(self.unknown_fields)})"
        )
