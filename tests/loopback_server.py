"""A tiny MEXC-like WebSocket server for tests: sans-IO, plus a loopback thread.

:class:`MiniServer` speaks the server side of the handshake and frames (wsproto)
and answers like MEXC: ``SUBSCRIPTION``/``UNSUBSCRIPTION`` get
``{"id":0,"code":0,"msg":"<topics>"}``, topics in :attr:`MiniServer.blocked` get
the "Not Subscribed successfully!" rejection, ``PING`` (any case, as the real
server) gets ``PONG``. :meth:`MiniServer.push` sends an ``encode_push`` frame.

:class:`LoopbackServer` runs MiniServers behind a real socket on 127.0.0.1 in a
thread, pushing a trade to every subscribed topic at an interval: enough for the
embedding examples; the exchange simulator (``mexc_sim``) is the full thing.
It never contacts the real exchange.
"""

from __future__ import annotations

import contextlib
import json
import selectors
import socket
import threading
from collections.abc import Iterable

from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Message,
    Ping,
    Request,
    TextMessage,
)

from mexc_core import wire
from mexc_core.messages import PublicAggreDealsV3Api, PublicAggreDealsV3ApiItem

__all__ = ("LoopbackServer", "MiniServer", "trade_push")


def trade_push(topic: str, n: int) -> bytes:
    """A small aggre.deals push frame for ``topic``, numbered ``n``."""
    body = PublicAggreDealsV3Api(
        deals=(PublicAggreDealsV3ApiItem(price=f"{n}.5", quantity="1", trade_type=1, time=n),),
        event_type=topic.rsplit("@", 1)[0],
    )
    return wire.encode_push(topic, body, symbol=topic.rsplit("@", 1)[-1], send_time=n)


class MiniServer:
    """One server-side connection, sans-IO: bytes in, bytes out.

    :param blocked: topics answered with MEXC's rejection text.
    :param answer_pings: answer ``{"method":"PING"}`` with PONG.
    :param auto_ack: acknowledge requests at once (else they are kept in
        :attr:`requests` for the test to answer).
    """

    def __init__(
        self, *, blocked: Iterable[str] = (), answer_pings: bool = True, auto_ack: bool = True
    ) -> None:
        self.ws = WSConnection(ConnectionType.SERVER)
        self.blocked = set(blocked)
        self.answer_pings = answer_pings
        self.auto_ack = auto_ack
        self.target: str | None = None
        self.subscribed: dict[str, None] = {}
        self.requests: list[dict[str, object]] = []
        self.received: list[str | bytes] = []
        self.closed: CloseConnection | None = None
        self._out = bytearray()
        self._parts: list[str | bytes] = []

    @property
    def open(self) -> bool:
        """Whether the WebSocket is open."""
        return self.ws.state is ConnectionState.OPEN

    def data_to_send(self) -> bytes:
        """Take the bytes to write to the client."""
        out = bytes(self._out)
        self._out.clear()
        return out

    def send_text(self, text: str) -> None:
        """Send one text message."""
        self._out += self.ws.send(TextMessage(data=text))

    def send_bytes(self, data: bytes) -> None:
        """Send one binary message."""
        self._out += self.ws.send(BytesMessage(data=data))

    def reply(self, msg: str) -> None:
        """Send a MEXC reply ``{"id":0,"code":0,"msg":msg}``."""
        self.send_text(json.dumps({"id": 0, "code": 0, "msg": msg}, separators=(",", ":")))

    def push(self, topic: str, n: int) -> None:
        """Send a trade push for ``topic``."""
        self.send_bytes(trade_push(topic, n))

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the close handshake."""
        self._out += self.ws.send(CloseConnection(code=code, reason=reason))

    def answer(self, request: dict[str, object]) -> None:
        """Answer one SUBSCRIPTION/UNSUBSCRIPTION request as MEXC does."""
        params = request.get("params")
        topics = [t for t in params if isinstance(t, str)] if isinstance(params, list) else []
        method = str(request.get("method", "")).upper()
        if method == "SUBSCRIPTION":
            bad = [t for t in topics if t in self.blocked]
            good = [t for t in topics if t not in self.blocked]
            if bad:
                self.reply(f"Not Subscribed successfully! [{','.join(bad)}].  Reason： Blocked! ")
            if good:
                self.subscribed.update(dict.fromkeys(good))
                self.reply(",".join(good))
        elif method == "UNSUBSCRIPTION":
            for topic in topics:
                self.subscribed.pop(topic, None)
            self.reply(",".join(topics))

    def receive_data(self, data: bytes | None) -> None:
        """Feed bytes from the client (``None`` for EOF) and react."""
        self.ws.receive_data(data)
        for event in self.ws.events():
            if isinstance(event, Request):
                self.target = event.target
                self._out += self.ws.send(AcceptConnection())
            elif isinstance(event, Message):
                self._parts.append(event.data)
                if event.message_finished:
                    parts, self._parts = self._parts, []
                    if isinstance(event.data, str):
                        self._on_text("".join(str(p) for p in parts))
                    else:
                        self.received.append(
                            b"".join(bytes(p) for p in parts if not isinstance(p, str))
                        )
            elif isinstance(event, Ping):
                self._out += self.ws.send(event.response())
            elif isinstance(event, CloseConnection):
                self.closed = event
                if self.ws.state is ConnectionState.REMOTE_CLOSING:
                    self._out += self.ws.send(event.response())

    def _on_text(self, text: str) -> None:
        self.received.append(text)
        try:
            request = json.loads(text)
        except ValueError:
            return
        if not isinstance(request, dict):
            return
        if str(request.get("method", "")).upper() == "PING":
            if self.answer_pings:
                self.reply("PONG")
            return
        if self.auto_ack:
            self.answer(request)
        else:
            self.requests.append(request)


class LoopbackServer:
    """MiniServers on a real socket at 127.0.0.1, in a thread (a context manager).

    Every ``interval`` seconds it pushes one trade to each subscribed topic of
    each client. :attr:`port` is the port to connect to.
    """

    def __init__(self, *, interval: float = 0.05, blocked: Iterable[str] = ()) -> None:
        self.interval = interval
        self.blocked = set(blocked)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mexc-loopback", daemon=True)
        self.servers: list[MiniServer] = []

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._listener.close()

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self._listener, selectors.EVENT_READ, None)
        clients: dict[socket.socket, MiniServer] = {}
        n = 0
        try:
            while not self._stop.is_set():
                for key, _ in sel.select(timeout=self.interval):
                    if key.data is None:
                        sock, _addr = self._listener.accept()
                        sock.setblocking(True)
                        server = MiniServer(blocked=self.blocked)
                        clients[sock] = server
                        self.servers.append(server)
                        sel.register(sock, selectors.EVENT_READ, server)
                        continue
                    sock = key.fileobj  # type: ignore[assignment]
                    server = key.data
                    try:
                        data = sock.recv(65536)
                    except OSError:
                        data = b""
                    server.receive_data(data or None)
                    self._flush(sock, server)
                    if not data or server.closed is not None:
                        sel.unregister(sock)
                        del clients[sock]
                        sock.close()
                n += 1
                for sock, server in list(clients.items()):
                    if server.open:
                        for topic in server.subscribed:
                            server.push(topic, n)
                    self._flush(sock, server)
        finally:
            for sock in clients:
                sock.close()
            sel.close()

    @staticmethod
    def _flush(sock: socket.socket, server: MiniServer) -> None:
        data = server.data_to_send()
        if data:
            with contextlib.suppress(OSError):
                sock.sendall(data)
