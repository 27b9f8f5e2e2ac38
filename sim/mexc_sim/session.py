"""The server side of a MEXC WebSocket session: the real server's rules, without I/O.

Theory of operation
===================

A :class:`ServerSession` is one client connection after the WebSocket handshake,
at message level: whole text and binary messages in, :class:`Outgoing` items out
(text, binary, a WebSocket ping, a close, or a transport fault), with the clock
passed in. :mod:`mexc_sim.protocol` wraps it in WebSocket frames.

The rules it keeps (mexc-core's ``docs/protocol.rst``, "Frames and control messages"
and "Limits and timeouts"):

1. ``{"method":"SUBSCRIPTION","params":[...]}`` subscribes; the reply is
   ``{"id":0,"code":0,"msg":"<topics, comma-joined>"}`` for the topics accepted,
   and ``{"id":0,"code":0,"msg":"Not Subscribed successfully! [<topics>].  Reason：
   Blocked! "}`` (full-width colon, two spaces, trailing space) for the topics
   refused: unknown, malformed, retired or legacy channels, symbols not listed,
   private channels on a connection without a listen key, and every topic past
   the 30th subscription of the connection. The rejection comes first. A request
   ``id`` is echoed (otherwise 0).
2. ``UNSUBSCRIPTION`` removes the topics and acknowledges them all the same way.
3. ``PING`` (method matched case-insensitively, as the real server does for
   clients that send ``ping``) is answered ``{"id":0,"code":0,"msg":"PONG"}``.
4. More than 100 messages from the client in any one-second window closes the
   connection (1008).
5. The connection is closed (1000) after 30 s without a valid subscription, after
   60 s with subscriptions but neither a push nor a PING, and at 24 h.
6. The server sends a WebSocket ping frame every ``ping_interval`` seconds and
   records the pongs that come back (:attr:`ServerSession.ws_pings`,
   :attr:`ServerSession.ws_pongs`): a test checks that its client answers them.
7. A connection opened with ``?listenKey=`` gets ``Invalid listen key`` as a text
   message, then a close, when the key is unknown, expires or is deleted.

Not documented by MEXC and chosen here: unreadable JSON and unknown methods are
ignored without a reply; the close codes (1000 for idle and age, 1008 for the
rate limit and the listen-key connection cap).

The :class:`~mexc_sim.faults.Faults` of the connection act on the same
path: pushes are counted and mangled, PINGs go unanswered, timers reset, stall or
silence the connection.
"""

from __future__ import annotations

import enum
import json
import math
import random
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final, final

from mexc_core import wire
from mexc_core.channels import AGGRE_DEPTH, SEP, body_type, spec_of
from mexc_core.messages import (
    Body,
    PublicDealsV3Api,
    PublicIncreaseDepthsV3Api,
    PublicMiniTickerV3Api,
    PublicSpotKlineV3Api,
    UnknownBody,
)
from mexc_sim.exchange import Exchange, ExchangeError, UserAccount
from mexc_sim.faults import OVERSIZE_BYTES, Faults

__all__ = (
    "CLOSE_IDLE",
    "CLOSE_POLICY",
    "INVALID_LISTEN_KEY",
    "UNHELD_SYMBOL",
    "UNKNOWN_CHANNEL",
    "Outgoing",
    "OutgoingKind",
    "ServerSession",
    "WsRules",
    "foreign_body",
    "rejection_text",
    "unheld_topic",
)

#: The text MEXC sends before closing a connection whose listen key is not valid.
INVALID_LISTEN_KEY: Final = "Invalid listen key"
#: Close code of idle, age and listen-key closes (RFC 6455 normal closure).
CLOSE_IDLE: Final = 1000
#: Close code of the rate limit and the connection cap (RFC 6455 policy violation).
CLOSE_POLICY: Final = 1008

_DEPTH_PREFIX: Final = AGGRE_DEPTH.prefix + "@"
#: The channel of the ``unknown_channel`` fault: no channel MEXC has.
UNKNOWN_CHANNEL: Final = "spot@public.future.v3.api.pb@SIM"
#: The symbol of the ``unheld_topic`` fault: no market of the simulator.
UNHELD_SYMBOL: Final = "STRAYUSDT"
#: The body of the ``foreign_body`` fault, by the message type the channel carries:
#: a look-alike where there is one (deals for aggregated deals, increase depth for
#: aggregated depth), a kline otherwise (a mini ticker on a kline topic).
_FOREIGN: Final[dict[str, Callable[[], Body]]] = {
    "PublicAggreDealsV3Api": PublicDealsV3Api,
    "PublicAggreDepthsV3Api": PublicIncreaseDepthsV3Api,
    "PublicSpotKlineV3Api": PublicMiniTickerV3Api,
}


def foreign_body(topic: str) -> Body:
    """A body of another channel's message type than ``topic``'s (an empty record)."""
    own = body_type(topic)
    name = own.__name__ if own is not None else ""
    return _FOREIGN.get(name, PublicSpotKlineV3Api)()


def unheld_topic(topic: str) -> str | None:
    """``topic`` with the symbol :data:`UNHELD_SYMBOL`; ``None`` if it has no symbol."""
    spec = spec_of(topic)
    values = spec.parse_values(topic, topic.split(SEP))
    if "symbol" not in values:
        return None
    values["symbol"] = UNHELD_SYMBOL
    return spec.format(**values)


def _moved(frame: bytes, *, channel: str | None = None, body: Body | None = None) -> bytes:
    """``frame`` again, with another channel or body (the rest as it was)."""
    push = wire.decode_push(frame)
    return wire.encode_push(
        push.channel if channel is None else channel,
        push.body if body is None else body,
        symbol=push.symbol,
        symbol_id=push.symbol_id,
        create_time=push.create_time,
        send_time=push.send_time,
    )


def rejection_text(topics: Iterable[str]) -> str:
    """MEXC's rejection ``msg``, exactly as observed (full-width colon, trailing space).

    >>> rejection_text(["a", "b"])
    'Not Subscribed successfully! [a,b].  Reason： Blocked! '
    """
    return f"Not Subscribed successfully! [{','.join(topics)}].  Reason： Blocked! "


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class WsRules:
    """The real server's WebSocket limits; every duration in simulator seconds.

    :ivar max_subscriptions: subscriptions per connection (the 31st is refused).
    :ivar max_messages_per_second: client messages in any one-second window.
    :ivar idle_no_subscription: close after this long without a valid subscription.
    :ivar idle_no_data: with subscriptions, close after this long without a push
        or a PING.
    :ivar max_age: close every connection at this age.
    :ivar ping_interval: seconds between server WebSocket pings; ``None`` for none.
    :ivar max_message_size: the largest client message accepted (close 1009 above).
    """

    max_subscriptions: int = 30
    max_messages_per_second: int = 100
    idle_no_subscription: float = 30.0
    idle_no_data: float = 60.0
    max_age: float = 24 * 3600.0
    ping_interval: float | None = 30.0
    max_message_size: int = 64 * 1024


class OutgoingKind(enum.Enum):
    """What a session asks its connection to do."""

    TEXT = "text"
    BINARY = "binary"
    PING = "ping"
    CLOSE = "close"
    ABORT = "abort"
    BLACKHOLE = "blackhole"


@final
@dataclass(frozen=True, slots=True)
class Outgoing:
    """One thing to send: a message, a ping, a close (``code``, ``reason``) or a fault."""

    kind: OutgoingKind
    text: str = ""
    data: bytes = b""
    code: int = 0


class ServerSession:
    """One client's session on the simulated server (see the module docstring).

    :param exchange: the exchange it subscribes to.
    :param sid: a unique id (the exchange keys subscribers by it).
    :param now: simulator time at which the WebSocket opened.
    :param listen_key: the ``listenKey`` of the connect URL, if any.
    :param rules: the server's limits.
    :param faults: this connection's faults.
    :param injected: the counter of faults injected, by kind, to add to (the
        simulator shares one between its connections); a new one by default.
    """

    def __init__(
        self,
        exchange: Exchange,
        sid: int,
        now: float,
        *,
        listen_key: str | None = None,
        rules: WsRules | None = None,
        faults: Faults | None = None,
        injected: Counter[str] | None = None,
    ) -> None:
        self.exchange = exchange
        self._sid = sid
        self.rules = rules or WsRules()
        self.faults = faults or Faults()
        #: Faults that reached the wire (or dropped a push), by kind.
        self.injected: Counter[str] = injected if injected is not None else Counter()
        self.opened_at = now
        self.listen_key = listen_key
        self.account: UserAccount | None = None
        self.topics: dict[str, None] = {}
        self.closed = False
        self.close_code: int | None = None
        self.close_reason = ""
        self.pushes = 0
        self.depth_pushes = 0
        self.received = 0
        self._out: deque[Outgoing] = deque()
        self._recent: deque[float] = deque()
        self._idle_since: float | None = now
        self._active_at = now
        self._next_ping = now + self.rules.ping_interval if self.rules.ping_interval else math.inf
        self._held: deque[bytes] = deque()
        self._reordered: tuple[bytes, str | None] | None = None
        self._silent = False
        #: Topics whose pushes are withheld (the ``silence`` fault), live.
        self.silenced: set[str] = set()
        self._silence_due = sorted((age, t) for t, age in self.faults.silence.items())
        #: WebSocket pings sent, and pongs received that answer one of them.
        self.ws_pings = 0
        self.ws_pongs = 0
        #: When the last answering pong came (simulator time), if one came.
        self.last_pong_at: float | None = None
        self._rng = random.Random(f"{self.faults.seed}/{sid}")
        if listen_key is not None:
            try:
                self.account = exchange.attach(listen_key, self, now)
            except ExchangeError as exc:
                self._close(CLOSE_POLICY, exc.msg)
                return
            if self.account is None:
                self.listen_key_invalidated(now)

    @property
    def sid(self) -> int:
        """The session's id."""
        return self._sid

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<ServerSession {self._sid} {state} topics={len(self.topics)}>"

    # ------------------------------------------------------------ output

    def take_outgoing(self) -> list[Outgoing]:
        """Everything to send, in order (then forgotten)."""
        out = list(self._out)
        self._out.clear()
        return out

    def _reply(self, msg: str, request_id: int = 0) -> None:
        text = json.dumps(
            {"id": request_id, "code": 0, "msg": msg}, separators=(",", ":"), ensure_ascii=False
        )
        self._out.append(Outgoing(OutgoingKind.TEXT, text=text))

    def _close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self._out.append(Outgoing(OutgoingKind.CLOSE, text=reason, code=code))
        self._end(code, reason)

    def _end(self, code: int, reason: str) -> None:
        self.closed = True
        self.close_code = code
        self.close_reason = reason
        self.exchange.detach(self, list(self.topics), self.account)
        self.topics.clear()

    def silence(self, topic: str, *, on: bool = True) -> None:
        """Withhold ``topic``'s pushes from now on (``on=False``: send them again).

        The connection and its other topics carry on; the withheld pushes are
        counted as ``silenced`` in :attr:`injected`.
        """
        if on:
            self.silenced.add(topic)
        else:
            self.silenced.discard(topic)

    def ping_payload(self) -> bytes:
        """The payload of the next WebSocket ping: numbered, so its pong can be matched."""
        return b"mexc-sim %d" % self.ws_pings

    def pong_received(self, payload: bytes, now: float) -> None:
        """A WebSocket pong: counted if it answers the last ping sent."""
        if self.ws_pings and payload == b"mexc-sim %d" % (self.ws_pings - 1):
            self.ws_pongs += 1
            self.last_pong_at = now

    def peer_closed(self) -> None:
        """The client closed the WebSocket or the transport went away."""
        if not self.closed:
            self._end(1000, "closed by client")

    # ------------------------------------------------------------ input

    def receive_binary(self, data: bytes, now: float) -> None:
        """A binary message from the client: counted, otherwise ignored."""
        self._count(now)

    def receive_text(self, text: str, now: float) -> None:
        """A text message from the client: a request, answered per the rules."""
        if not self._count(now):
            return
        try:
            request = json.loads(text)
        except ValueError:
            return
        if not isinstance(request, dict):
            return
        method = request.get("method")
        if not isinstance(method, str):
            return
        raw_id = request.get("id", 0)
        request_id = raw_id if type(raw_id) is int and 0 <= raw_id < 2**32 else 0
        method = method.upper()
        if method == wire.PING:
            self._active_at = now
            if not self.faults.no_pong:
                self._reply("PONG", request_id)
            return
        params = request.get("params")
        if method not in (wire.SUBSCRIPTION, wire.UNSUBSCRIPTION) or not isinstance(params, list):
            return
        topics = list(dict.fromkeys(t if isinstance(t, str) else json.dumps(t) for t in params))
        if method == wire.SUBSCRIPTION:
            self._subscribe(topics, request_id, now)
        else:
            self._unsubscribe(topics, request_id, now)

    def _count(self, now: float) -> bool:
        if self.closed or self._silent:
            return False
        self.received += 1
        recent = self._recent
        recent.append(now)
        while recent and recent[0] <= now - 1.0:
            recent.popleft()
        if len(recent) > self.rules.max_messages_per_second:
            self._close(CLOSE_POLICY, "too many messages")
            return False
        return True

    def _subscribe(self, topics: list[str], request_id: int, now: float) -> None:
        accepted: list[str] = []
        refused: list[str] = []
        for topic in topics:
            if topic in self.topics:
                accepted.append(topic)
                continue
            private = topic.startswith("spot@private.")
            ok = self.exchange.serves(topic) and (not private or self.account is not None)
            if ok and len(self.topics) < self.rules.max_subscriptions:
                self.topics[topic] = None
                self.exchange.subscribe(self, topic, now, account=self.account)
                accepted.append(topic)
            else:
                refused.append(topic)
        if refused:
            self._reply(rejection_text(refused), request_id)
        if accepted:
            self._reply(",".join(accepted), request_id)
            if self._idle_since is not None:
                self._active_at = now
            self._idle_since = None

    def _unsubscribe(self, topics: list[str], request_id: int, now: float) -> None:
        for topic in topics:
            if topic in self.topics:
                del self.topics[topic]
                self.exchange.unsubscribe(self, topic, account=self.account)
        self._reply(",".join(topics), request_id)
        if not self.topics and self._idle_since is None:
            self._idle_since = now

    # ------------------------------------------------------------ pushes

    def deliver(self, topic: str, frame: bytes, now: float) -> None:
        """Send one push (called by the exchange), through this connection's faults."""
        if self.closed or self._silent:
            return
        if self.silenced and topic in self.silenced:
            self.injected["silenced"] += 1
            return
        self._active_at = now
        self.pushes += 1
        faults = self.faults
        n = self.pushes
        kind = None
        if faults.random_rate and self._rng.random() < faults.random_rate:
            kind = self._rng.choice(faults.random_kinds)
        fault: str | None = None  # the fault that changed this frame, counted when sent
        if n in faults.garbage_at or kind == "garbage":
            # A wrapper whose first field claims more bytes than follow: no protobuf.
            frame = b"\x0a\xff\x01" + self._rng.randbytes(13)
            fault = "garbage"
        elif n in faults.truncate_at or kind == "truncate":
            frame = frame[: max(1, len(frame) // 2)]
            fault = "truncate"
        elif n in faults.oversize_at:
            frame = wire.encode_push(topic, UnknownBody(number=399, data=bytes(OVERSIZE_BYTES)))
            fault = "oversize"
        elif n in faults.unknown_body_at or kind == "unknown_body":
            frame = wire.encode_push(topic, UnknownBody(number=399, data=b"\x0a\x03sim"))
            fault = "unknown_body"
        elif n in faults.unknown_field_at or kind == "unknown_field":
            frame += b"\x38\x01"  # field 7, varint: not in the wrapper's schema
            fault = "unknown_field"
        elif n in faults.unknown_channel_at or kind == "unknown_channel":
            # The same push on a channel the client never subscribed to.
            frame = _moved(frame, channel=UNKNOWN_CHANNEL)
            fault = "unknown_channel"
        elif n in faults.foreign_body_at or kind == "foreign_body":
            frame = _moved(frame, body=foreign_body(topic))
            fault = "foreign_body"
        elif n in faults.unheld_topic_at or kind == "unheld_topic":
            other = unheld_topic(topic)
            if other is not None:
                frame = _moved(frame, channel=other)
                fault = "unheld_topic"
        if topic.startswith(_DEPTH_PREFIX):
            self.depth_pushes += 1
            d = self.depth_pushes
            if d in faults.depth_skip_at or kind == "depth_skip":
                self.injected["depth_skip"] += 1
                return
            if d in faults.depth_duplicate_at or kind == "depth_duplicate":
                self.injected["depth_duplicate"] += 1
                self._send(frame, fault, now)
            if d in faults.depth_reorder_at and self._reordered is None:
                self.injected["depth_reorder"] += 1
                self._reordered = (frame, fault)
                return
            if self._reordered is not None:
                self._send(frame, fault, now)
                (frame, fault), self._reordered = self._reordered, None
        self._send(frame, fault, now)

    def _send(self, frame: bytes, fault: str | None, now: float) -> None:
        if fault is not None:
            self.injected[fault] += 1
        if self._stalled(now):
            self._held.append(frame)
        else:
            self._out.append(Outgoing(OutgoingKind.BINARY, data=frame))

    def _stalled(self, now: float) -> bool:
        start = self.faults.stall_after
        if start is None:
            return False
        begin = self.opened_at + start
        return begin <= now < begin + self.faults.stall_for

    def listen_key_invalidated(self, now: float) -> None:
        """The listen key is not valid (any more): say ``Invalid listen key`` and close."""
        if self.closed:
            return
        self._out.append(Outgoing(OutgoingKind.TEXT, text=INVALID_LISTEN_KEY))
        self._close(CLOSE_IDLE, INVALID_LISTEN_KEY)

    # ------------------------------------------------------------ timers

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` must run next; ``None`` once closed."""
        if self.closed:
            return None
        rules, faults, opened = self.rules, self.faults, self.opened_at
        if self._silent:  # half-open: only a reset can still happen
            return None if faults.reset_after is None else opened + faults.reset_after
        times = [opened + rules.max_age, self._next_ping]
        if self._idle_since is not None:
            times.append(self._idle_since + rules.idle_no_subscription)
        else:
            times.append(self._active_at + rules.idle_no_data)
        ages = [faults.reset_after, faults.close_after, faults.blackhole_after]
        if self._silence_due:
            ages.append(self._silence_due[0][0])
        if faults.stall_after is not None and self._held:
            ages.append(faults.stall_after + faults.stall_for)
        times.extend(opened + age for age in ages if age is not None)
        return min(times)

    def handle_timer(self, now: float) -> None:
        """Run what is due at ``now``: faults, idle and age closes, server pings."""
        if self.closed:
            return
        rules, faults = self.rules, self.faults

        def due(age: float | None) -> bool:
            # the same sum as next_deadline(), so a deadline is due exactly when reached
            return age is not None and now >= self.opened_at + age

        if due(faults.reset_after):
            self._out.append(Outgoing(OutgoingKind.ABORT))
            self._end(1006, "reset (fault)")
            return
        if due(faults.blackhole_after):
            if not self._silent:
                self._silent = True
                self._out.append(Outgoing(OutgoingKind.BLACKHOLE))
            return
        if due(faults.close_after):
            self._close(CLOSE_IDLE, "closed (fault)")
            return
        while self._silence_due and due(self._silence_due[0][0]):
            self.silenced.add(self._silence_due.pop(0)[1])
        if self._held and not self._stalled(now):
            self._out.extend(Outgoing(OutgoingKind.BINARY, data=f) for f in self._held)
            self._held.clear()
        if due(rules.max_age):
            self._close(CLOSE_IDLE, "connection reached 24 h")
            return
        if self._idle_since is not None:
            if now >= self._idle_since + rules.idle_no_subscription:
                self._close(CLOSE_IDLE, "no valid subscription")
                return
        elif now >= self._active_at + rules.idle_no_data:
            self._close(CLOSE_IDLE, "no data")
            return
        if now >= self._next_ping:
            self._out.append(Outgoing(OutgoingKind.PING, data=self.ping_payload()))
            self.ws_pings += 1
            assert rules.ping_interval is not None
            self._next_ping = now + rules.ping_interval
