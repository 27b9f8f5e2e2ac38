"""What the plugin publishes: subjects, deduplication ids and payloads, and a reader.

No I/O here: these functions turn the client's events into NATS messages (a
subject, headers, a payload) and back, so a consumer on another machine reads
exactly what the worker saw.

Subjects (``PREFIX`` is ``mexc`` unless configured)
---------------------------------------------------

- ``PREFIX.push.CHANNEL.SYMBOL[.PARAM...]``: a push. ``CHANNEL`` is the
  registry's short name (``aggre_depth``, ``aggre_deals``, ``kline``, ...: see
  ``mexc channels``), ``SYMBOL`` the pair or ``_`` for channels without one, then
  the topic's other parameters in topic order, e.g.
  ``mexc.push.aggre_depth.BTCUSDT.100ms`` or ``mexc.push.kline.BTCUSDT.Min1``.
- ``PREFIX.book.SYMBOL``: an update of a local order book the client keeps.
- ``PREFIX.event.WORKER.TYPE``: a lifecycle event of one worker (a link up or
  down, a gap, a buffer overflow).

Subscribe to ``mexc.push.aggre_depth.*.*`` for every diff-depth stream,
``mexc.push.*.BTCUSDT.>`` for everything about one pair.

Payloads
--------

The header ``Mexc-Kind`` says which of three kinds a message is:

- ``push``: the payload is the push as MEXC's own protobuf ``PushDataV3ApiWrapper``
  (the bytes :func:`mexc_core.wire.encode_push` writes: channel, symbol, symbol
  id, create and send times, body); fields unknown to this schema are not carried.
  The header ``Mexc-Topic`` repeats the topic.
- ``book``: compact JSON ``{"symbol", "version", "from_version", "bids", "asks"}``,
  levels as ``[price, quantity]`` strings as MEXC wrote them (quantity ``"0"``
  deletes the level).
- ``event``: compact JSON ``{"type", "worker", ...}`` with the event's fields.

:func:`read` turns any of them back into a :class:`PushMessage`,
:class:`BookMessage` or :class:`EventMessage`.

Deduplication ids
-----------------

Every message carries ``Nats-Msg-Id``, and JetStream stores a message whose id it
has seen within the stream's duplicate window only once. The id is derived from
the data, so two workers holding the same symbol publish each push once:

- diff depth: ``TOPIC:FROM-TO`` (the versions the diff covers);
- trades: ``TOPIC:t:`` and a digest of the trade ids it carries;
- snapshots with a version (limit depth, book tickers): ``TOPIC:v:VERSION``;
- anything else: ``TOPIC:h:`` and a digest of the body and its create time (the
  frame's own identity; the send time is left out, since it may differ per
  connection);
- book updates: ``book:SYMBOL:VERSION``;
- lifecycle events: ``WORKER:SEQUENCE``, never deduplicated across workers.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, final

from mexc_core import channels
from mexc_core.errors import DecodeError
from mexc_core.events import BookUpdated, Level, Push
from mexc_core.messages import (
    PrivateDealsV3Api,
    PublicAggreBookTickerV3Api,
    PublicAggreDealsV3Api,
    PublicAggreDepthsV3Api,
    PublicBookTickerBatchV3Api,
    PublicIncreaseDepthsV3Api,
    PublicLimitDepthsV3Api,
)
from mexc_core.wire import decode_push, encode_push

__all__ = (
    "KIND_HEADER",
    "MSG_ID_HEADER",
    "TOPIC_HEADER",
    "BookMessage",
    "EventMessage",
    "MessageError",
    "Outgoing",
    "PushMessage",
    "book_message",
    "event_message",
    "push_message",
    "push_msg_id",
    "push_subject",
    "read",
)

#: The header naming the kind of a message: ``push``, ``book`` or ``event``.
KIND_HEADER: Final = "Mexc-Kind"
#: The header repeating a push's topic.
TOPIC_HEADER: Final = "Mexc-Topic"
#: JetStream's deduplication header.
MSG_ID_HEADER: Final = "Nats-Msg-Id"

_NO_SYMBOL: Final = "_"
_FORBIDDEN: Final = str.maketrans({".": "_", "*": "_", ">": "_", " ": "_"})


class MessageError(ValueError):
    """A message is not one this plugin wrote (wrong kind, broken payload)."""


@final
@dataclass(frozen=True, slots=True)
class Outgoing:
    """One NATS message to publish."""

    subject: str
    headers: dict[str, str]
    payload: bytes

    @property
    def msg_id(self) -> str:
        """Its JetStream deduplication id."""
        return self.headers[MSG_ID_HEADER]


@final
@dataclass(frozen=True, slots=True)
class PushMessage:
    """A push read back from NATS."""

    topic: str
    push: Push


@final
@dataclass(frozen=True, slots=True)
class BookMessage:
    """A book update read back from NATS."""

    symbol: str
    version: int
    from_version: int
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]


@final
@dataclass(frozen=True, slots=True)
class EventMessage:
    """A worker's lifecycle event read back from NATS."""

    type: str
    worker: str
    fields: Mapping[str, object]


def _token(text: str) -> str:
    return text.translate(_FORBIDDEN) or _NO_SYMBOL


def push_subject(topic: str, prefix: str = "mexc") -> str:
    """The subject a push of ``topic`` is published on (see the module docs).

    :raises InvalidTopic: ``topic`` is not a topic of the registry.
    """
    parsed = channels.parse(topic)
    spec = parsed.spec
    texts = topic.split("@")[2:]
    values = {p.name: text for p, text in zip(spec.params, texts, strict=True)}
    symbol = values.pop("symbol", _NO_SYMBOL)
    tokens = [prefix, "push", spec.name, _token(symbol)]
    tokens.extend(_token(value) for value in values.values())
    return ".".join(tokens)


def _digest(*parts: bytes) -> str:
    h = hashlib.blake2b(digest_size=12)
    for part in parts:
        h.update(len(part).to_bytes(4, "big"))
        h.update(part)
    return h.hexdigest()


def push_msg_id(push: Push) -> str:
    """The deduplication id of ``push``, derived from its data (see the module docs)."""
    topic = push.channel
    body = push.body
    kind = type(body)
    if kind is PublicAggreDepthsV3Api:
        assert isinstance(body, PublicAggreDepthsV3Api)
        return f"{topic}:{body.from_version}-{body.to_version}"
    if kind is PublicAggreDealsV3Api:
        assert isinstance(body, PublicAggreDealsV3Api)
        ids = [d.trade_id for d in body.deals]
        if all(ids):
            return f"{topic}:t:{_digest(*(i.encode() for i in ids))}"
    elif kind is PrivateDealsV3Api:
        assert isinstance(body, PrivateDealsV3Api)
        if body.trade_id:
            return f"{topic}:t:{body.trade_id}"
    elif kind in _VERSIONED:
        version = str(getattr(body, _VERSIONED[kind]))
        if version:
            return f"{topic}:v:{version}"
    frame = encode_push(topic, body, create_time=push.create_time)
    return f"{topic}:h:{_digest(frame)}"


_VERSIONED: Final[Mapping[type, str]] = {
    PublicLimitDepthsV3Api: "version",
    PublicAggreBookTickerV3Api: "version",
    PublicBookTickerBatchV3Api: "version",
    PublicIncreaseDepthsV3Api: "version",
}


def push_message(push: Push, prefix: str = "mexc") -> Outgoing:
    """The NATS message of one push.

    :raises InvalidTopic: the push's channel is not a topic of the registry.
    """
    payload = encode_push(
        push.channel,
        push.body,
        symbol=push.symbol,
        symbol_id=push.symbol_id,
        create_time=push.create_time,
        send_time=push.send_time,
    )
    headers = {KIND_HEADER: "push", TOPIC_HEADER: push.channel, MSG_ID_HEADER: push_msg_id(push)}
    return Outgoing(push_subject(push.channel, prefix), headers, payload)


def _levels(levels: tuple[tuple[str, str], ...]) -> list[list[str]]:
    return [[price, quantity] for price, quantity in levels]


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def book_message(event: BookUpdated, prefix: str = "mexc") -> Outgoing:
    """The NATS message of one book update."""
    payload = _json(
        {
            "symbol": event.symbol,
            "version": event.version,
            "from_version": event.from_version,
            "bids": _levels(event.bids),
            "asks": _levels(event.asks),
        }
    )
    headers = {KIND_HEADER: "book", MSG_ID_HEADER: f"book:{event.symbol}:{event.version}"}
    return Outgoing(f"{prefix}.book.{_token(event.symbol)}", headers, payload)


def event_message(
    type_: str, worker: str, sequence: int, fields: Mapping[str, object], prefix: str = "mexc"
) -> Outgoing:
    """The NATS message of one lifecycle event of ``worker`` (its ``sequence``-th)."""
    payload = _json({"type": type_, "worker": worker, **fields})
    headers = {KIND_HEADER: "event", MSG_ID_HEADER: f"{worker}:{sequence}"}
    return Outgoing(f"{prefix}.event.{_token(worker)}.{_token(type_)}", headers, payload)


def _object(payload: bytes) -> dict[str, object]:
    try:
        value = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MessageError(f"the payload is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise MessageError("the payload is not a JSON object")
    return value


def _level_tuple(value: object) -> tuple[Level, ...]:
    if not isinstance(value, list):
        raise MessageError("levels are not a list")
    out = []
    for item in value:
        if not (
            isinstance(item, list) and len(item) == 2 and all(isinstance(x, str) for x in item)
        ):
            raise MessageError("a level is not [price, quantity]")
        out.append(Level(item[0], item[1]))
    return tuple(out)


def _int(obj: Mapping[str, object], key: str) -> int:
    value = obj.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise MessageError(f"{key!r} is not an integer")
    return value


def _str(obj: Mapping[str, object], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise MessageError(f"{key!r} is not a string")
    return value


def read(
    headers: Mapping[str, str] | None, payload: bytes
) -> PushMessage | BookMessage | EventMessage:
    """Read one message the plugin published (its headers and payload).

    :raises MessageError: the message is not one this plugin wrote.
    """
    kind = (headers or {}).get(KIND_HEADER)
    if kind == "push":
        try:
            push = decode_push(payload)
        except DecodeError as exc:
            raise MessageError(f"the push payload does not decode: {exc}") from None
        topic = (headers or {}).get(TOPIC_HEADER, push.channel)
        return PushMessage(topic, push)
    if kind == "book":
        obj = _object(payload)
        return BookMessage(
            _str(obj, "symbol"),
            _int(obj, "version"),
            _int(obj, "from_version"),
            _level_tuple(obj.get("bids")),
            _level_tuple(obj.get("asks")),
        )
    if kind == "event":
        obj = _object(payload)
        type_ = _str(obj, "type")
        worker = _str(obj, "worker")
        rest = {k: v for k, v in obj.items() if k not in ("type", "worker")}
        return EventMessage(type_, worker, rest)
    raise MessageError(f"the {KIND_HEADER} header is {kind!r}, not push, book or event")
