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

:func:`push_as_dict` and :func:`push_as_text` show a push as JSON-ready data and
as one line of text (``mexc watch --json`` and ``mexc watch``).

Everything here is pure: no I/O, no clock, no state.
"""

from __future__ import annotations

import enum
import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Final, TypeAlias, final

from mexc_core._generated.codec import decode_push, encode_push
from mexc_core._generated.records import (
    ACCESSORS,
    FIELDS,
    WRAPPER_ACCESSORS,
    PrivateAccountV3Api,
    PrivateDealsV3Api,
    PrivateOrdersV3Api,
    PublicAggreBookTickerV3Api,
    PublicAggreDealsV3Api,
    PublicAggreDealsV3ApiItem,
    PublicAggreDepthsV3Api,
    PublicAggreDepthV3ApiItem,
    PublicBookTickerBatchV3Api,
    PublicBookTickerV3Api,
    PublicDealsV3Api,
    PublicDealsV3ApiItem,
    PublicIncreaseDepthsBatchV3Api,
    PublicIncreaseDepthsV3Api,
    PublicIncreaseDepthV3ApiItem,
    PublicLimitDepthsV3Api,
    PublicLimitDepthV3ApiItem,
    PublicMiniTickersV3Api,
    PublicMiniTickerV3Api,
    PublicSpotKlineV3Api,
    Record,
)
from mexc_core._json import JSON, JSONObject, loads
from mexc_core._pbwire import UnknownBody, UnknownField
from mexc_core._readable import Accessor, AccessorKind, iso_utc
from mexc_core.channels import body_type
from mexc_core.errors import ArgumentTypeError, ControlFrameError, EncodeError
from mexc_core.events import Push, StrayPushReceived, StrayReason

__all__ = (
    "TEXT_ITEMS",
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
    "peek_channel",
    "push_as_dict",
    "push_as_text",
    "record_as_dict",
    "record_as_text",
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


# ---------------------------------------------------------------- rejected frames


def _varint_at(data: bytes, pos: int) -> tuple[int, int] | None:
    """A varint of at most 10 bytes at ``pos`` and the position after it, or ``None``."""
    value = shift = 0
    for index in range(pos, min(pos + 10, len(data))):
        byte = data[index]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, index + 1
        shift += 7
    return None


def peek_channel(data: bytes) -> str | None:
    """The channel a push frame names, read even when the rest does not decode.

    Walks the wrapper's top-level fields (``PushDataV3ApiWrapper``) as far as they
    are well formed and returns the first ``channel`` (field 1) found whole and in
    UTF-8; ``None`` when there is none before the frame stops making sense. Used to
    tell which topic a rejected frame was for (:class:`~mexc_core.events.FrameRejected`),
    and which topic a frame shed unread belongs to (session rule 7). Never raises.

    MEXC writes the channel first, with a one-byte length: that case is read
    directly, before any walk.
    """
    end = len(data)
    if end > 1 and data[0] == 0x0A and data[1] < 0x80 and 2 + data[1] <= end:
        try:
            return data[2 : 2 + data[1]].decode("utf-8")
        except UnicodeDecodeError:
            return None
    pos = 0
    while pos < end:
        found = _varint_at(data, pos)
        if found is None:
            return None
        tag, pos = found
        number, kind = tag >> 3, tag & 7
        if kind == 0:
            found = _varint_at(data, pos)
            if found is None:
                return None
            pos = found[1]
        elif kind in {1, 5}:
            pos += 8 if kind == 1 else 4
        elif kind == 2:
            found = _varint_at(data, pos)
            if found is None:
                return None
            length, pos = found
            if pos + length > end:
                return None
            if number == 1:
                try:
                    return data[pos : pos + length].decode("utf-8")
                except UnicodeDecodeError:
                    return None
            pos += length
        else:
            return None  # groups and invalid wire types: the frame makes no sense here
    return None


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


# ---------------------------------------------------------------- JSON and text views


def _json_of(value: object) -> JSON:
    """A readable accessor's value as JSON: an enum's name, an ISO 8601 UTC time."""
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, datetime):
        return iso_utc(value)
    assert value is None, value
    return None


def _add_readable(out: JSONObject, obj: object, accessors: tuple[Accessor, ...], attr: str) -> None:
    for acc in accessors:
        if acc.field == attr and acc.kind is not AccessorKind.DECIMAL:
            out[acc.name] = _json_of(getattr(obj, acc.name))


def record_as_dict(record: Record, *, readable: bool = False) -> JSONObject:
    """A record as plain JSON-ready data: snake_case keys, lists for repeated fields.

    Prices and quantities stay strings; ``None`` marks an absent ``optional`` field.

    :param readable: also give, right after its field, every readable accessor that
        is not a decimal (a decimal's exact text is the wire string already): an
        enum as its member name (``"side": "SELL"``), a time as ISO 8601 UTC with
        milliseconds (``"time_utc": "2025-01-09T08:02:45.051Z"``) or ``None``.
        The keys are a stable contract (:doc:`/records`).
    """
    accessors = ACCESSORS[type(record)] if readable else ()
    out: JSONObject = {}
    for info in FIELDS[type(record)]:
        value = getattr(record, info.attr)
        if info.repeated:
            out[info.attr] = [record_as_dict(item, readable=readable) for item in value]
        else:
            out[info.attr] = value
            _add_readable(out, record, accessors, info.attr)
    return out


def push_as_dict(push: Push, *, readable: bool = False) -> JSONObject:
    """A push as plain JSON-ready data (what ``mexc watch --json`` prints).

    Keys: ``channel``, ``symbol``, ``symbol_id``, ``create_time``, ``send_time``,
    ``body_type`` (the message name) and ``body`` (its fields); an unknown body is
    ``{"number": n, "data": "<hex>"}``. Unknown fields, if any, are listed under
    ``unknown_fields`` as ``[message, number, wire_type]``.

    :param readable: add the readable keys (:func:`record_as_dict`) to the body and
        its items, and ``create_time_utc`` and ``send_time_utc`` to the push. Every
        raw key stays, with the same value.
    """
    body = push.body
    accessors = WRAPPER_ACCESSORS if readable else ()
    out: JSONObject = {"channel": push.channel}
    for attr in ("symbol", "symbol_id", "create_time", "send_time"):
        out[attr] = getattr(push, attr)
        _add_readable(out, push, accessors, attr)
    out["body_type"] = type(body).__name__
    if isinstance(body, UnknownBody):
        out["body"] = {"number": body.number, "data": body.data.hex()}
    else:
        out["body"] = record_as_dict(body, readable=readable)
    if push.unknown_fields:
        out["unknown_fields"] = [list(u) for u in push.unknown_fields]
    return out


#: How many items of a list body (mini tickers, batches) one line of text shows.
TEXT_ITEMS: Final = 5


def _s(text: str | None) -> str:
    """A wire string as shown in text: ``-`` when empty or absent."""
    return text or "-"


def _code(member: enum.Enum, raw: object) -> str:
    """A documented code's name, or the raw value when MEXC did not document it."""
    if member.name != "UNKNOWN":
        return member.name
    return _s(raw) if isinstance(raw, str) else f"UNKNOWN({raw})"


def _time(moment: datetime | None) -> str:
    return iso_utc(moment) if moment is not None else "-"


def _levels(
    items: tuple[PublicAggreDepthV3ApiItem, ...]
    | tuple[PublicLimitDepthV3ApiItem, ...]
    | tuple[PublicIncreaseDepthV3ApiItem, ...],
) -> str:
    return ", ".join(f"{_s(i.price)} x {_s(i.quantity)}" for i in items) or "-"


def _book(
    bids: tuple[PublicAggreDepthV3ApiItem, ...]
    | tuple[PublicLimitDepthV3ApiItem, ...]
    | tuple[PublicIncreaseDepthV3ApiItem, ...],
    asks: tuple[PublicAggreDepthV3ApiItem, ...]
    | tuple[PublicLimitDepthV3ApiItem, ...]
    | tuple[PublicIncreaseDepthV3ApiItem, ...],
) -> str:
    return f"bids {_levels(bids)}; asks {_levels(asks)}"


def _deal(deal: PublicAggreDealsV3ApiItem | PublicDealsV3ApiItem) -> str:
    return f"{_code(deal.side, deal.trade_type)} {_s(deal.quantity)} @ {_s(deal.price)}"


def _level(price: str, quantity: str) -> str:
    """One side of a book ticker: ``-`` when MEXC sends none (both strings empty)."""
    return f"{_s(price)} x {_s(quantity)}" if price or quantity else "-"


def _ticker(t: PublicBookTickerV3Api | PublicAggreBookTickerV3Api) -> str:
    return f"bid {_level(t.bid_price, t.bid_quantity)}, ask {_level(t.ask_price, t.ask_quantity)}"


def _some(parts: list[str], sep: str) -> str:
    """The first :data:`TEXT_ITEMS` parts, and how many more there are."""
    shown = sep.join(parts[:TEXT_ITEMS]) or "-"
    more = len(parts) - TEXT_ITEMS
    return f"{shown}{sep}... (+{more})" if more > 0 else shown


def _mini(t: PublicMiniTickerV3Api) -> str:
    return f"{_s(t.symbol)} {_s(t.price)} rate {_s(t.rate)}"


def _shown(value: object, raw: object) -> str:
    """A readable accessor's value (an enum or a time) as text."""
    if isinstance(value, enum.Enum):
        return _code(value, raw)
    assert value is None or isinstance(value, datetime), value
    return _time(value)


def _generic(record: Record) -> str:
    """``Name field=value ...``: the text of a record without a form of its own.

    Enums and times show through their accessors (``side=BUY``,
    ``time_utc=2025-...Z``), decimals as their wire text.
    """
    accessors = {a.field: a for a in ACCESSORS[type(record)] if a.kind is not AccessorKind.DECIMAL}
    parts = [type(record).__name__]
    for info in FIELDS[type(record)]:
        value = getattr(record, info.attr)
        acc = accessors.get(info.attr)
        if info.repeated:
            parts.append(f"{info.attr}=[{len(value)} items]")
        elif acc is not None:
            parts.append(f"{acc.name}={_shown(getattr(record, acc.name), value)}")
        else:
            parts.append(f"{info.attr}={_s(value) if isinstance(value, str | None) else value}")
    return " ".join(parts)


def record_as_text(record: Record) -> str:
    """A record in a few words, as :func:`push_as_text` shows a body.

    Each body type has a form of its own (``SELL 0.04438243 @ 93220.00`` for a
    trade, ``bids 100 x 4; asks -`` for depth); any other record, such as an item of
    a new channel's body, reads as ``Name field=value ...``. Prices and quantities
    are the wire strings, exactly; ``-`` marks an empty one. Lists of more than
    :data:`TEXT_ITEMS` items are cut (``... (+n)``). The text is for people: parse
    :func:`push_as_dict` instead.
    """
    match record:
        case PublicAggreDealsV3Api() | PublicDealsV3Api():
            return _some([_deal(d) for d in record.deals], ", ")
        case PublicAggreDepthsV3Api():
            versions = f"v{_s(record.from_version)}..{_s(record.to_version)}"
            return f"{versions} {_book(record.bids, record.asks)}"
        case PublicLimitDepthsV3Api() | PublicIncreaseDepthsV3Api():
            return f"v{_s(record.version)} {_book(record.bids, record.asks)}"
        case PublicIncreaseDepthsBatchV3Api():
            return _some([record_as_text(item) for item in record.items], " / ")
        case PublicAggreBookTickerV3Api():
            return f"{_ticker(record)} v{_s(record.version)}"
        case PublicBookTickerV3Api():
            return _ticker(record)
        case PublicBookTickerBatchV3Api():
            return _some([_ticker(item) for item in record.items], "; ")
        case PublicSpotKlineV3Api():
            return (
                f"{_s(record.interval)} {_time(record.window_start_utc)}.."
                f"{_time(record.window_end_utc)} open {_s(record.opening_price)} high "
                f"{_s(record.highest_price)} low {_s(record.lowest_price)} close "
                f"{_s(record.closing_price)} volume {_s(record.volume)} amount "
                f"{_s(record.amount)}"
            )
        case PublicMiniTickerV3Api():
            return (
                f"{_mini(record)} high {_s(record.high)} low {_s(record.low)} "
                f"volume {_s(record.volume)}"
            )
        case PublicMiniTickersV3Api():
            return f"{len(record.items)} tickers: {_some([_mini(i) for i in record.items], ', ')}"
        case PrivateAccountV3Api():
            return (
                f"{_s(record.vcoin_name)} {_code(record.change_type, record.type)} available "
                f"{_s(record.balance_amount)} (change {_s(record.balance_amount_change)}) "
                f"frozen {_s(record.frozen_amount)} (change {_s(record.frozen_amount_change)})"
            )
        case PrivateDealsV3Api():
            return (
                f"{_code(record.side, record.trade_type)} {_s(record.quantity)} @ "
                f"{_s(record.price)} = {_s(record.amount)} fee {_s(record.fee_amount)} "
                f"{_s(record.fee_currency)} {'maker' if record.is_maker else 'taker'} "
                f"order {_s(record.order_id)} trade {_s(record.trade_id)}"
            )
        case PrivateOrdersV3Api():
            return (
                f"{_code(record.side, record.trade_type)} "
                f"{_code(record.order_kind, record.order_type)} "
                f"{_code(record.order_status, record.status)} {_s(record.quantity)} @ "
                f"{_s(record.price)} filled {_s(record.cumulative_quantity)} avg "
                f"{_s(record.avg_price)} order {_s(record.id or record.client_id)}"
            )
        case _:
            return _generic(record)


def _one_line(text: str) -> str:
    """``text`` with every unprintable character (newlines included) escaped."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def push_as_text(push: Push) -> str:
    """A push as one line for people (the form made for ``mexc watch``).

    The line is the push's time (``send_time``, else ``create_time``, in ISO 8601
    UTC with milliseconds; ``-`` if neither), the channel, the symbol when the
    channel does not name it (private channels), the body as
    :func:`record_as_text` reads it, and ``(+n unknown fields)`` when the frame
    carried fields the schema does not know. Unprintable characters are escaped,
    so the text is always one line (here cut in two)::

        2025-01-09T08:02:45.052Z spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT
        SELL 0.04438243 @ 93220.00

    The text may change between versions; programs should read
    :func:`push_as_dict` with ``readable=True``, whose keys are a stable contract.
    """
    parts = [_time(push.send_time_utc or push.create_time_utc), _s(push.channel)]
    if push.symbol and push.symbol not in push.channel.split("@"):
        parts.append(push.symbol)
    body = push.body
    if isinstance(body, UnknownBody):
        parts.append(f"unknown body {body.number} ({len(body.data)} bytes)")
    else:
        parts.append(record_as_text(body))
    if push.unknown_fields:
        parts.append(f"(+{len(push.unknown_fields)} unknown fields)")
    return _one_line(" ".join(parts))


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
