"""The simulator at the byte level: HTTP/1.1 and WebSocket on one port, without I/O.

Theory of operation
===================

:class:`Simulator` owns the exchange, the REST endpoints, the WebSocket rules,
the fault plans and one :class:`SimConnection` per TCP connection. A connection
speaks HTTP/1.1 (h11, server role) until a request asks to upgrade ``/ws`` to a
WebSocket; from then on wsproto (server role) carries the frames of a
:class:`~mexc_sim.session.ServerSession`. Plain requests go to
:class:`~mexc_sim.rest.RestApi`, keep-alive and pipelining included.

Bytes go in with :meth:`SimConnection.receive_data` (``b""`` at EOF), out with
:meth:`SimConnection.data_to_send`; :attr:`SimConnection.action` tells the adapter
what to do with the transport besides (close it, abort it with a reset, or go
silent). Time is passed in; :meth:`Simulator.advance` runs the exchange and every
connection's timers up to ``now``, and :meth:`Simulator.next_deadline` says when
to call it again. :mod:`mexc_sim.server` is the anyio adapter.
"""

from __future__ import annotations

import enum
from collections import Counter, deque
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Final, final
from urllib.parse import parse_qs, urlsplit

import h11
import wsproto.utilities
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState as WSState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Message,
    Ping,
    Pong,
    TextMessage,
)
from wsproto.events import Request as WSRequest

from mexc_sim.exchange import Exchange, ExchangeConfig
from mexc_sim.faults import Faults, RestFaults
from mexc_sim.rest import HttpCall, RestApi, RestResponse
from mexc_sim.session import Outgoing, OutgoingKind, ServerSession, WsRules

__all__ = (
    "CLOSE_HANDSHAKE_TIMEOUT",
    "SimConfig",
    "SimConnection",
    "Simulator",
    "TransportAction",
)

#: How long a close frame waits for the client's close before the socket closes.
CLOSE_HANDSHAKE_TIMEOUT: Final = 5.0
#: The WebSocket path, as on ``wss://wbs-api.mexc.com/ws``.
WS_PATH: Final = "/ws"
_SERVER_HEADER: Final = (b"server", b"mexc-core-sim")


def _reason(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""


class TransportAction(enum.Enum):
    """What the adapter must do with the transport, after sending what is pending."""

    OPEN = "open"
    CLOSE = "close"
    ABORT = "abort"
    BLACKHOLE = "blackhole"


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class SimConfig:
    """Everything a simulator needs.

    :ivar exchange: markets, accounts, seed.
    :ivar rules: the WebSocket limits (scale them down for fast tests).
    :ivar faults: the fault plan of every connection (unless one is queued).
    """

    exchange: ExchangeConfig = field(default_factory=ExchangeConfig)
    rules: WsRules = field(default_factory=WsRules)
    faults: Faults = field(default_factory=Faults)


class SimConnection:
    """One TCP connection to the simulator (see the module docstring)."""

    def __init__(self, sim: Simulator, cid: int, now: float, peer: str, faults: Faults) -> None:
        self.sim = sim
        self.cid = cid
        self.peer = peer
        self.faults = faults
        self.opened_at = now
        self.action = TransportAction.OPEN
        self.session: ServerSession | None = None
        self.target: str | None = None
        self._h11 = h11.Connection(h11.SERVER)
        self._ws: WSConnection | None = None
        self._out = bytearray()
        self._request: h11.Request | None = None
        self._wants_upgrade = False
        self._body = bytearray()
        self._delayed: deque[tuple[float, RestResponse]] = deque()
        self._hung = False
        self._close_by: float | None = None
        self._idle_since: float | None = None  # an HTTP keep-alive connection, idle
        self._parts: list[str | bytes] = []
        self._size = 0

    def __repr__(self) -> str:
        kind = "ws" if self._ws is not None else "http"
        return f"<SimConnection {self.cid} {kind} {self.action.value}>"

    @property
    def has_output(self) -> bool:
        """Whether there are bytes to send or a transport action to take."""
        return bool(self._out) or self.action is not TransportAction.OPEN

    def data_to_send(self) -> bytes:
        """Take the bytes to write (nothing once the connection is a black hole)."""
        out = bytes(self._out)
        self._out.clear()
        return b"" if self.action is TransportAction.BLACKHOLE else out

    # ------------------------------------------------------------ input

    def receive_data(self, data: bytes, now: float) -> None:
        """Feed bytes from the client; ``b""`` means the client closed its side."""
        if self.action is not TransportAction.OPEN:
            return
        self.sim.exchange.advance(now)
        self._idle_since = None
        if self._ws is not None:
            self._receive_ws(data, now)
        else:
            self._h11.receive_data(data)
            self._pump_http(now)
            if not data and self.action is TransportAction.OPEN:
                self.action = TransportAction.CLOSE  # nobody is left to answer

    def _pump_http(self, now: float) -> None:
        while self.action is TransportAction.OPEN and not self._hung and not self._delayed:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                self._http_error(exc)
                return
            if event is h11.NEED_DATA:
                return
            if event is h11.PAUSED:
                if self._wants_upgrade:
                    self._upgrade(now)
                return
            if isinstance(event, h11.Request):
                self._request = event
                self._body.clear()
                # h11 pauses a request with an Upgrade header until we answer it.
                self._wants_upgrade = any(k == b"upgrade" and v for k, v in event.headers)
            elif isinstance(event, h11.Data):
                self._body += event.data
            elif isinstance(event, h11.EndOfMessage):
                if not self._wants_upgrade:
                    self._dispatch(now)
            elif isinstance(event, h11.ConnectionClosed):
                self.action = TransportAction.CLOSE
                return

    def _http_error(self, exc: h11.RemoteProtocolError) -> None:
        if self._h11.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            body = b'{"code":400,"msg":"bad request"}'
            self._send_response(RestResponse(exc.error_status_hint, body))
        self.action = TransportAction.CLOSE

    def _dispatch(self, now: float) -> None:
        request = self._request
        assert request is not None
        target = request.target.decode("latin-1")
        parts = urlsplit(target)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in request.headers}
        if parts.path == WS_PATH:
            body = b'{"code":400,"msg":"WebSocket upgrade required"}'
            response = RestResponse(426, body, (("upgrade", "websocket"),))
        else:
            response = self.sim.rest.handle(
                HttpCall(
                    method=request.method.decode("latin-1"),
                    path=parts.path,
                    query=parts.query,
                    headers=headers,
                    body=bytes(self._body),
                    peer=self.peer,
                ),
                now,
            )
        if response.hang:
            self._hung = True
        elif response.delay > 0:
            self._delayed.append((now + response.delay, response))
        else:
            self._finish(response, now)

    def _finish(self, response: RestResponse, now: float) -> None:
        if self.sim.rest_faults.close_delimited:
            self._send_close_delimited(response)
            return
        self._send_response(response)
        if self._h11.our_state is h11.MUST_CLOSE:
            self.action = TransportAction.CLOSE
        elif self._h11.our_state is h11.DONE and self._h11.their_state is h11.DONE:
            self._h11.start_next_cycle()
            self._idle_since = now

    def _send_close_delimited(self, response: RestResponse) -> None:
        """The response without a length: its body ends where the connection does.

        h11 would frame it with chunks for an HTTP/1.1 client, so it is written here.
        """
        status = response.status
        lines = [b"HTTP/1.1 %d %s" % (status, _reason(status)), b"%s: %s" % _SERVER_HEADER]
        lines += [f"{k}: {v}".encode("latin-1") for k, v in response.headers]
        lines.append(b"connection: close")
        self._out += b"\r\n".join(lines) + b"\r\n\r\n" + response.body
        self.action = TransportAction.CLOSE

    def _send_response(self, response: RestResponse) -> None:
        headers = [
            _SERVER_HEADER,
            (b"content-length", str(len(response.body)).encode()),
            *((k.encode(), v.encode()) for k, v in response.headers),
        ]
        try:
            self._out += self._h11.send(
                h11.Response(
                    status_code=response.status, headers=headers, reason=_reason(response.status)
                )
            )
            self._out += self._h11.send(h11.Data(data=response.body))
            self._out += self._h11.send(h11.EndOfMessage())
        except h11.LocalProtocolError:
            self.action = TransportAction.CLOSE

    def _upgrade(self, now: float) -> None:
        request = self._request
        assert request is not None
        target = request.target.decode("latin-1")
        parts = urlsplit(target)
        status = self.faults.handshake_status
        if parts.path != WS_PATH or status is not None:
            status = status or 404
            body = b'{"code":%d,"msg":"handshake refused"}' % status
            headers = [_SERVER_HEADER, (b"content-length", str(len(body)).encode())]
            if status == 429:
                headers.append((b"retry-after", b"10"))
            self._out += self._h11.send(
                h11.Response(status_code=status, headers=headers, reason=_reason(status))
            )
            self._out += self._h11.send(h11.Data(data=body))
            self._out += self._h11.send(h11.EndOfMessage())
            self.action = TransportAction.CLOSE
            return
        self.target = target
        ws = WSConnection(ConnectionType.SERVER)
        try:
            ws.initiate_upgrade_connection(list(request.headers), request.target)
            for event in ws.events():
                if isinstance(event, WSRequest):
                    self._out += ws.send(AcceptConnection(extra_headers=[_SERVER_HEADER]))
        except wsproto.utilities.RemoteProtocolError:
            body = b'{"code":400,"msg":"bad WebSocket handshake"}'
            self._send_response(RestResponse(400, body))
            self.action = TransportAction.CLOSE
            return
        self._ws = ws
        keys = parse_qs(parts.query).get("listenKey")
        self.session = self.sim.open_session(self, now, keys[0] if keys else None)
        self.flush(now)
        trailing, _closed = self._h11.trailing_data
        if trailing:
            self._receive_ws(trailing, now)

    def _receive_ws(self, data: bytes, now: float) -> None:
        ws, session = self._ws, self.session
        assert ws is not None
        assert session is not None
        try:
            ws.receive_data(data or None)
            for event in ws.events():
                if isinstance(event, Message):
                    self._size += len(event.data)
                    if self._size > self.sim.config.rules.max_message_size:
                        self._send_ws(CloseConnection(code=1009, reason="message too big"))
                        session.peer_closed()
                        self.action = TransportAction.CLOSE
                        return
                    self._parts.append(event.data)
                    if event.message_finished:
                        parts, self._parts, self._size = self._parts, [], 0
                        if isinstance(event, TextMessage):
                            session.receive_text("".join(str(p) for p in parts), now)
                        elif isinstance(event, BytesMessage):
                            session.receive_binary(
                                b"".join(p if isinstance(p, bytes) else p.encode() for p in parts),
                                now,
                            )
                elif isinstance(event, Ping):
                    self._send_ws(event.response())
                elif isinstance(event, Pong):
                    session.pong_received(bytes(event.payload), now)
                elif isinstance(event, CloseConnection):
                    if ws.state is WSState.REMOTE_CLOSING:
                        self._send_ws(event.response())
                    session.peer_closed()
                    self.action = TransportAction.CLOSE
                    return
        except wsproto.utilities.RemoteProtocolError:
            session.peer_closed()
            self.action = TransportAction.ABORT
            return
        if not data:
            session.peer_closed()
            self.action = TransportAction.CLOSE
            return
        self.flush(now)

    def _send_ws(self, event: Event) -> None:
        ws = self._ws
        assert ws is not None
        if ws.state in (WSState.OPEN, WSState.REMOTE_CLOSING):
            self._out += ws.send(event)

    def flush(self, now: float) -> None:
        """Turn what the session wants to send into frames and transport actions."""
        session = self.session
        if session is None:
            return
        for item in session.take_outgoing():
            self._emit(item, now)
            if self.action is not TransportAction.OPEN:
                return

    def _emit(self, item: Outgoing, now: float) -> None:
        kind = item.kind
        if self._close_by is not None and kind is not OutgoingKind.ABORT:
            return
        if kind is OutgoingKind.BINARY:
            self._send_ws(BytesMessage(data=item.data))
        elif kind is OutgoingKind.TEXT:
            self._send_ws(TextMessage(data=item.text))
        elif kind is OutgoingKind.PING:
            self._send_ws(Ping(payload=item.data))
        elif kind is OutgoingKind.CLOSE:
            self._send_ws(CloseConnection(code=item.code, reason=item.text))
            self._close_by = now + CLOSE_HANDSHAKE_TIMEOUT
        elif kind is OutgoingKind.ABORT:
            self._out.clear()
            self.action = TransportAction.ABORT
        else:
            self.action = TransportAction.BLACKHOLE

    # ------------------------------------------------------------ timers

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` must run next."""
        if self.action is not TransportAction.OPEN:
            return None
        times = [t for t, _r in self._delayed]
        idle_limit = self.sim.rest_faults.keepalive_idle
        if self._idle_since is not None and idle_limit is not None:
            times.append(self._idle_since + idle_limit)
        if self._close_by is not None:
            times.append(self._close_by)
        if self.session is not None and self._close_by is None:
            deadline = self.session.next_deadline()
            if deadline is not None:
                times.append(deadline)
        return min(times) if times else None

    def handle_timer(self, now: float) -> None:
        """Run what is due at ``now`` and collect what the session wants to send."""
        if self.action is not TransportAction.OPEN:
            return
        while self._delayed and self._delayed[0][0] <= now:
            _t, response = self._delayed.popleft()
            self._finish(response, now)
            self._pump_http(now)
        idle_limit = self.sim.rest_faults.keepalive_idle
        idle_since = self._idle_since
        if idle_since is not None and idle_limit is not None and now >= idle_since + idle_limit:
            self.action = TransportAction.CLOSE  # a FIN between two requests
            return
        if self._close_by is not None and self._close_by <= now:
            self.action = TransportAction.CLOSE
            return
        if self.session is not None:
            self.session.handle_timer(now)
            self.flush(now)

    def transport_lost(self) -> None:
        """The socket failed or was closed: end the session."""
        if self.session is not None:
            self.session.peer_closed()
        if self.action is TransportAction.OPEN:
            self.action = TransportAction.CLOSE


class Simulator:
    """The whole simulated MEXC, sans-IO (see the module docstring).

    :param config: exchange, rules and default faults.
    """

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = cfg = config or SimConfig()
        self.exchange = Exchange(cfg.exchange)
        self.rest_faults = RestFaults()
        self.rest = RestApi(self.exchange, self.rest_faults)
        self.faults = cfg.faults
        #: Faults injected into every connection so far, by kind (see
        #: :attr:`mexc_sim.session.ServerSession.injected`).
        self.injected: Counter[str] = Counter()
        self.connections: dict[int, SimConnection] = {}
        self.sessions: dict[int, ServerSession] = {}
        self._queued: deque[Faults] = deque()
        self._next_id = 0

    def queue_faults(self, *plans: Faults) -> None:
        """The next connections (one plan each, in order) get these faults."""
        self._queued.extend(plans)

    def connect(self, now: float, peer: str = "127.0.0.1") -> SimConnection:
        """A new TCP connection arrived."""
        self._next_id += 1
        faults = self._queued.popleft() if self._queued else self.faults
        conn = SimConnection(self, self._next_id, now, peer, faults)
        self.connections[conn.cid] = conn
        return conn

    def open_session(
        self, conn: SimConnection, now: float, listen_key: str | None
    ) -> ServerSession:
        """A connection became a WebSocket: start its MEXC session."""
        session = ServerSession(
            self.exchange,
            conn.cid,
            now,
            listen_key=listen_key,
            rules=self.config.rules,
            faults=conn.faults,
            injected=self.injected,
        )
        self.sessions[conn.cid] = session
        return session

    def disconnect(self, conn: SimConnection) -> None:
        """The adapter is done with a connection."""
        conn.transport_lost()
        self.connections.pop(conn.cid, None)
        self.sessions.pop(conn.cid, None)

    def advance(self, now: float) -> list[SimConnection]:
        """Run everything due up to ``now``; the connections that have output."""
        self.exchange.advance(now)
        ready = []
        for conn in list(self.connections.values()):
            conn.handle_timer(now)
            conn.flush(now)
            if conn.has_output:
                ready.append(conn)
        return ready

    def next_deadline(self) -> float | None:
        """When :meth:`advance` must run next."""
        times = [self.exchange.next_deadline()]
        times.extend(c.next_deadline() for c in self.connections.values())
        found = [t for t in times if t is not None]
        return min(found) if found else None
