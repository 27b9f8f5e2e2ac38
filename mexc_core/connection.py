"""A MEXC WebSocket connection at the byte level, without I/O.

Theory of operation
===================

:class:`Connection` composes `wsproto <https://python-hyper.org/projects/wsproto/>`_
(client role) with a :class:`~mexc_core.session.Session`. Socket bytes go in
with :meth:`Connection.receive_data`; bytes to write come out of
:meth:`Connection.data_to_send`; typed events come out of
:meth:`Connection.next_event`; the caller wakes it at
:meth:`Connection.next_deadline` with :meth:`Connection.handle_timer`. It never
calls back, reads no clock and opens no socket, so any event loop can drive it::

    conn = Connection(host="wbs-api.mexc.com")
    conn.subscribe(["spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT"], now)
    conn.connect(now)                       # queues the HTTP upgrade request
    sock.sendall(conn.data_to_send())
    while True:
        conn.receive_data(sock.recv(65536), now)   # b"" means EOF
        for event in conn.events(): ...
        sock.sendall(conn.data_to_send())

The machine (the table ``_TRANSITIONS`` in this module, shown in the embedding guide;
rules after it):

- ``IDLE`` until :meth:`Connection.connect`; ``CONNECTING`` while the upgrade
  request waits for its answer; ``REJECTING`` while a non-101 answer's body
  arrives; ``OPEN``; ``CLOSING`` after we sent a close frame; ``CLOSED``; and the
  terminal ``ERROR``.

Rules that do not fit in the table:

1. A pair missing from the table raises :class:`~mexc_core.errors.StateError`
   and puts the connection in ``ERROR``; so does any call in ``ERROR``.
2. A fatal protocol error from the peer (bad handshake, an RFC 6455 violation,
   a message above ``max_message_size``) first queues the right close frame when
   the WebSocket is open, then raises a
   :class:`~mexc_core.errors.RemoteProtocolError` subclass: send
   :meth:`Connection.data_to_send` before closing the socket. Events produced
   before the error stay readable.
3. A bad MEXC frame (protobuf garbage, an unreadable JSON reply) is not fatal:
   the session reports it as :class:`~mexc_core.events.FrameRejected`.
4. WebSocket pings from the server are answered with a pong at once, the one
   reply the core sends on its own (MEXC FAQ Q6). The application-level
   ``{"method":"PING"}`` is the session's business.
5. Bytes received once ``CLOSED`` are ignored (a socket may hold data past the
   close frame).
6. No compression is offered: permessage-deflate would need the size limit to
   apply after inflation, and MEXC's protobuf frames gain little from it.
7. wsproto draws the handshake nonce and the frame masks from ``os.urandom``
   inside its own code; it offers no way to inject them. This module imports no
   ``os`` itself; tests replace wsproto's source of randomness to get
   byte-exact transcripts.
8. The fast path: wsproto keeps the handshake, the close handshake, control
   frames and every rule of RFC 6455, but the frames MEXC sends all day skip it.
   While ``OPEN``, and when neither wsproto nor this object holds part of a
   message, a *plain* frame (FIN, no RSV bit, not masked, text or binary, its
   length in the shortest form and within ``max_message_size``, text valid
   UTF-8) is read here and its payload goes straight to the session; any other
   frame goes to wsproto whole, or as far as it arrived, and the fast path
   resumes after it (``fast_path_frames`` counts the frames read here). An
   unfinished frame at the end of the bytes is kept here for the next call when
   wsproto would say nothing of it yet: a plain binary frame, a text frame whose
   payload has not started, a header whose length bytes are missing; anything
   else goes to wsproto as it arrived, and the bytes wsproto still needs to
   finish that frame go to it first on the next call. So wsproto sees every
   byte it would have seen that matters, cut where it would have been cut, and
   the events, errors, close codes and bytes sent are those of wsproto alone
   (``fast_path=False``); ``tests/test_fastpath.py`` proves it differentially.
   The handshake answer goes to wsproto line by line, so the WebSocket opens at
   the end of the answer's blank line and the frames that follow it in the same
   read start at a frame boundary.
9. :meth:`Connection.data_written` passes a completed write on to the session
   (its PING timing, session rule 8) as covering every message only when every
   byte queued so far had been taken by :meth:`Connection.data_to_send`: a PING
   still waiting here is not written yet.
"""

from __future__ import annotations

import enum
import math
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from typing import Final, NoReturn, final
from urllib.parse import quote

import wsproto.utilities
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState as WSState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)

from mexc_core._clock import checked_now
from mexc_core._machine import Machine, frozen_table
from mexc_core._topics import Topic
from mexc_core.errors import (
    ArgumentTypeError,
    EncodeError,
    HandshakeError,
    InvalidConfig,
    MessageTooBig,
    StateError,
    WebSocketError,
)
from mexc_core.events import ConnectionClosed, ConnectionOpened, Event, HandshakeRejected
from mexc_core.session import Session, SessionConfig, SessionState

__all__ = (
    "DEFAULT_HOST",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "Connection",
    "ConnectionInput",
    "ConnectionState",
    "shorten_listen_key",
)

#: MEXC's Spot V3 WebSocket host, of ``wss://wbs-api.mexc.com/ws`` (``docs/protocol.rst``,
#: "Endpoints").
DEFAULT_HOST: Final = "wbs-api.mexc.com"
#: Default cap of one message; MEXC's frames are KBs (``docs/faults.rst`` section 5).
DEFAULT_MAX_MESSAGE_SIZE: Final = 4 * 1024 * 1024
#: The most of a rejected handshake's body kept in :class:`HandshakeRejected`.
MAX_REJECTION_BODY: Final = 64 * 1024

# RFC 6455, section 7.4.1.
_CLOSE_NORMAL: Final = 1000
_CLOSE_ABNORMAL: Final = 1006

#: wsproto's exceptions, and what its inputs may raise on hostile bytes, mapped
#: to ours in one place (docs/architecture.rst, rule 2).
_WSPROTO_ERRORS: Final = (wsproto.utilities.ProtocolError, UnicodeError)


def shorten_listen_key(key: str) -> str:
    """A listen key cut for logs: its first and last four characters.

    >>> shorten_listen_key("a" * 30 + "b" * 34)
    'aaaa…bbbb'
    """
    if len(key) <= 12:
        return "…"
    return f"{key[:4]}…{key[-4:]}"


class ConnectionState(enum.Enum):
    """The state of the WebSocket connection."""

    #: Created; :meth:`Connection.connect` not called yet.
    IDLE = "idle"
    #: The upgrade request is queued or sent; waiting for the answer.
    CONNECTING = "connecting"
    #: The server refused the upgrade; its answer's body is arriving.
    REJECTING = "rejecting"
    #: The WebSocket is open.
    OPEN = "open"
    #: We sent a close frame and wait for the server's.
    CLOSING = "closing"
    #: Over: send what is left in :meth:`Connection.data_to_send`, close the socket.
    CLOSED = "closed"
    #: A fatal error or a misuse; every later call raises.
    ERROR = "error"


class ConnectionInput(enum.Enum):
    """What can happen to a connection."""

    CONNECT = "connect"
    RECEIVE = "receive"
    ACCEPT = "accept"
    REJECT = "reject"
    REJECT_DONE = "reject_done"
    REMOTE_CLOSE = "remote_close"
    LOCAL_CLOSE = "local_close"
    EOF = "eof"
    TIMER = "timer"
    TIMEOUT = "timeout"
    FATAL = "fatal"


_C = ConnectionState
_CI = ConnectionInput

_TRANSITIONS: Final[Mapping[tuple[ConnectionState, ConnectionInput], ConnectionState]] = (
    frozen_table(
        {
            (_C.IDLE, _CI.CONNECT): _C.CONNECTING,
            (_C.IDLE, _CI.LOCAL_CLOSE): _C.CLOSED,
            (_C.IDLE, _CI.TIMER): _C.IDLE,
            (_C.CONNECTING, _CI.RECEIVE): _C.CONNECTING,
            (_C.CONNECTING, _CI.ACCEPT): _C.OPEN,
            (_C.CONNECTING, _CI.REJECT): _C.REJECTING,
            (_C.CONNECTING, _CI.LOCAL_CLOSE): _C.CLOSED,
            (_C.CONNECTING, _CI.EOF): _C.CLOSED,
            (_C.CONNECTING, _CI.TIMER): _C.CONNECTING,
            (_C.CONNECTING, _CI.TIMEOUT): _C.CLOSED,
            (_C.CONNECTING, _CI.FATAL): _C.ERROR,
            (_C.REJECTING, _CI.RECEIVE): _C.REJECTING,
            (_C.REJECTING, _CI.REJECT_DONE): _C.CLOSED,
            (_C.REJECTING, _CI.LOCAL_CLOSE): _C.CLOSED,
            (_C.REJECTING, _CI.EOF): _C.CLOSED,
            (_C.REJECTING, _CI.TIMER): _C.REJECTING,
            (_C.REJECTING, _CI.TIMEOUT): _C.CLOSED,
            (_C.REJECTING, _CI.FATAL): _C.ERROR,
            (_C.OPEN, _CI.RECEIVE): _C.OPEN,
            (_C.OPEN, _CI.REMOTE_CLOSE): _C.CLOSED,
            (_C.OPEN, _CI.LOCAL_CLOSE): _C.CLOSING,
            (_C.OPEN, _CI.EOF): _C.CLOSED,
            (_C.OPEN, _CI.TIMER): _C.OPEN,
            (_C.OPEN, _CI.FATAL): _C.ERROR,
            (_C.CLOSING, _CI.RECEIVE): _C.CLOSING,
            (_C.CLOSING, _CI.REMOTE_CLOSE): _C.CLOSED,
            (_C.CLOSING, _CI.LOCAL_CLOSE): _C.CLOSING,
            (_C.CLOSING, _CI.EOF): _C.CLOSED,
            (_C.CLOSING, _CI.TIMER): _C.CLOSING,
            (_C.CLOSING, _CI.TIMEOUT): _C.CLOSED,
            (_C.CLOSING, _CI.FATAL): _C.ERROR,
            (_C.CLOSED, _CI.RECEIVE): _C.CLOSED,
            (_C.CLOSED, _CI.LOCAL_CLOSE): _C.CLOSED,
            (_C.CLOSED, _CI.EOF): _C.CLOSED,
            (_C.CLOSED, _CI.TIMER): _C.CLOSED,
        }
    )
)

#: States with a deadline of their own (open or close handshake).
_TIMED: Final = frozenset({_C.CONNECTING, _C.REJECTING, _C.CLOSING})


@final
class Connection:
    """One client WebSocket connection to MEXC: handshake, frames and session.

    :param host: the ``Host`` header, with ``:port`` when not the default.
    :param path: the request path (MEXC: ``/ws``).
    :param listen_key: a listen key for private channels, sent as the
        ``listenKey`` query parameter; never shown in full by this object.
    :param session_config: limits and timeouts of the MEXC session.
    :param max_message_size: the largest message accepted, in bytes; above it
        the connection fails with close code 1009.
    :param open_timeout: seconds the handshake may take.
    :param close_timeout: seconds to wait for the server's close frame.
    :param extra_headers: more request headers, e.g. ``(b"User-Agent", b"...")``.
    :param fast_path: read plain data frames without wsproto (rule 8); ``False``
        sends every frame through wsproto, for differential tests and benchmarks.
    :raises InvalidConfig: a parameter is out of range.
    :raises ArgumentTypeError: a parameter has the wrong type.

    Expected exceptions of the methods: those of :class:`~mexc_core.session.Session`,
    :class:`~mexc_core.errors.StateError`, and on bad peer data
    :class:`~mexc_core.errors.HandshakeError`,
    :class:`~mexc_core.errors.WebSocketError` and
    :class:`~mexc_core.errors.MessageTooBig`. Any other exception is a bug.
    """

    def __init__(
        self,
        *,
        host: str = DEFAULT_HOST,
        path: str = "/ws",
        listen_key: str | None = None,
        session_config: SessionConfig | None = None,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        open_timeout: float = 10.0,
        close_timeout: float = 5.0,
        extra_headers: Iterable[tuple[bytes, bytes]] = (),
        fast_path: bool = True,
    ) -> None:
        if (
            type(host) is not str
            or not host
            or not host.isascii()
            or any(c in host for c in "/ \r\n")
        ):
            raise InvalidConfig(
                f"host must be a host name with an optional port, got {host!r}", setting="host"
            )
        if type(path) is not str or not path.startswith("/") or not path.isascii():
            raise InvalidConfig(
                f"path must be an ASCII path starting with '/', got {path!r}", setting="path"
            )
        if listen_key is not None and (type(listen_key) is not str or not listen_key.strip()):
            raise InvalidConfig("listen_key must be a non-empty str", setting="listen_key")
        if type(max_message_size) is not int or max_message_size < 1024:
            raise InvalidConfig(
                f"max_message_size must be an int >= 1024, got {max_message_size!r}",
                setting="max_message_size",
            )
        for name, value in (("open_timeout", open_timeout), ("close_timeout", close_timeout)):
            if type(value) not in (int, float) or not math.isfinite(value) or value <= 0:
                raise InvalidConfig(f"{name} must be positive seconds, got {value!r}", setting=name)
        headers = [(bytes(k), bytes(v)) for k, v in extra_headers]
        self.host: Final = host
        self.path: Final = path
        self.max_message_size: Final = max_message_size
        self.open_timeout: Final = float(open_timeout)
        self.close_timeout: Final = float(close_timeout)
        self._listen_key = listen_key
        self._extra_headers = headers
        #: The MEXC session inside; read its state, drive it through this object.
        self.session: Final = Session(session_config, private=listen_key is not None)
        self._ws = WSConnection(ConnectionType.CLIENT)
        self._machine: Final = Machine(
            "connection", _TRANSITIONS, ConnectionState.IDLE, ConnectionState.ERROR
        )
        self._now = -math.inf
        self._deadline: float | None = None
        self._events: deque[Event] = deque()
        self._out = bytearray()
        self._message: list[bytes | bytearray | str] = []
        self._message_size = 0
        self._reject_status = 0
        self._reject_headers: tuple[tuple[bytes, bytes], ...] = ()
        self._reject_body = bytearray()
        self._fast_path: Final = bool(fast_path)
        #: Received bytes of an unfinished frame that wsproto has not seen (rule 8).
        self._held = b""
        #: Bytes wsproto still needs to finish the frame it holds part of (rule 8).
        self._owed = 0
        #: Data frames read by the fast path, for tests and metrics (rule 8).
        self.fast_path_frames = 0

    def __repr__(self) -> str:
        key = f" listen_key={shorten_listen_key(self._listen_key)!r}" if self._listen_key else ""
        return (
            f"<Connection {self._machine.state.name} {self.host}{self.path}{key} "
            f"session={self.session!r}>"
        )

    # ------------------------------------------------------------ reading state

    @property
    def state(self) -> ConnectionState:
        """The connection's state."""
        return self._machine.state

    @property
    def listen_key_hint(self) -> str | None:
        """The listen key, shortened for logs (see :func:`shorten_listen_key`)."""
        return None if self._listen_key is None else shorten_listen_key(self._listen_key)

    @property
    def target(self) -> str:
        """The request target with the listen key shortened (safe to log)."""
        if self._listen_key is None:
            return self.path
        return f"{self.path}?listenKey={shorten_listen_key(self._listen_key)}"

    # ------------------------------------------------------------ outputs

    def next_event(self) -> Event | None:
        """The oldest event not yet taken, or ``None``."""
        if self._events:
            return self._events.popleft()
        return self.session.next_event()

    def events(self) -> Iterator[Event]:
        """Take every pending event, oldest first."""
        while (event := self.next_event()) is not None:
            yield event

    def data_to_send(self) -> bytes:
        """Take the bytes to write to the socket (``b""`` when there are none)."""
        self._pump()
        out = bytes(self._out)
        self._out.clear()
        return out

    def data_written(self, now: float) -> None:
        """Everything :meth:`data_to_send` returned so far was written to the socket at
        ``now``.

        Optional: with it, a PING's pong deadline counts from its write rather
        than from when it was queued, so a writer held up (a blocking callback)
        causes no false keepalive timeout (rule 9). Adapters call it after each
        completed write.

        :raises ClockError: ``now`` is not finite or went backwards.
        :raises StateError: the connection is in ``ERROR``.
        """
        self._tick(now)
        # Bytes queued since the last data_to_send are not written yet: the
        # session times its PING from a write only when nothing is left behind.
        if self._machine.state is ConnectionState.OPEN:
            self.session.data_written(now, everything=not self._out)

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` must next be called, or ``None`` for never."""
        # The handshakes' deadlines and the session's never overlap: the session
        # runs only while the WebSocket is open, and no handshake is then pending.
        if self._machine.state is ConnectionState.OPEN:
            return self.session.next_deadline()
        return self._deadline if self._machine.state in _TIMED else None

    # ------------------------------------------------------------ commands

    def connect(self, now: float) -> None:
        """Queue the HTTP upgrade request to ``path`` (with ``listenKey``).

        :raises StateError: called twice, or after :meth:`close`.
        """
        self._tick(now)
        self._step(ConnectionInput.CONNECT)
        target = self.path
        if self._listen_key is not None:
            target += "?listenKey=" + quote(self._listen_key, safe="")
        self._out += self._ws.send(
            Request(host=self.host, target=target, extra_headers=list(self._extra_headers))
        )
        self._deadline = now + self.open_timeout

    def subscribe(self, topics: Iterable[str | Topic], now: float) -> None:
        """Subscribe ``topics``; see :meth:`mexc_core.session.Session.subscribe`.

        Before the WebSocket opens the requests wait, and go out on open.
        """
        self._check_usable()
        self.session.subscribe(topics, now)
        self._pump()

    def unsubscribe(self, topics: Iterable[str | Topic], now: float) -> None:
        """Unsubscribe ``topics``; see :meth:`mexc_core.session.Session.unsubscribe`."""
        self._check_usable()
        self.session.unsubscribe(topics, now)
        self._pump()

    def close(
        self, code: int = _CLOSE_NORMAL, reason: str = "", *, now: float | None = None
    ) -> None:
        """Start the close handshake (or just stop, before the WebSocket is open).

        :param code: the close code: 1000, or an application code in [3000, 4999].
        :param now: the current time; the close handshake's deadline counts from it.
            Give it: without it the deadline counts from the last time the
            connection was told, which may be long ago on a quiet link.
        :raises EncodeError: ``code`` is not one an endpoint may send.
        :raises ArgumentTypeError: ``reason`` is not a ``str``.
        :raises ClockError: ``now`` is not finite or went backwards.
        :raises StateError: the connection is in ``ERROR``.
        """
        if now is not None:
            self._tick(now)
        if type(code) is not int or not (code == _CLOSE_NORMAL or 3000 <= code <= 4999):
            raise EncodeError(f"close code must be 1000 or in [3000, 4999], got {code!r}")
        if type(reason) is not str:
            raise ArgumentTypeError(f"reason must be a str, not {type(reason).__name__}")
        state = self._machine.state
        self._step(ConnectionInput.LOCAL_CLOSE)
        if state is ConnectionState.OPEN:
            self._pump()
            self._out += self._ws.send(CloseConnection(code=code, reason=reason))
            self._deadline = self._now + self.close_timeout
            self._close_session()
        elif state in (ConnectionState.IDLE, ConnectionState.CONNECTING, ConnectionState.REJECTING):
            self._close_session()
            self._emit(
                ConnectionClosed(
                    code=_CLOSE_ABNORMAL, reason="closed before the WebSocket opened", clean=False
                )
            )

    def send_failed(self) -> None:
        """Tell the connection that writing to the socket failed: it is over."""
        self._eof("sending failed")

    # ------------------------------------------------------------ inputs

    def receive_data(self, data: bytes | bytearray | memoryview, now: float) -> None:
        """Feed bytes read from the socket; ``b""`` means the peer closed it (EOF).

        :raises HandshakeError: the server's answer is not a valid upgrade.
        :raises WebSocketError: the server broke RFC 6455 (close frame queued).
        :raises MessageTooBig: a message exceeded ``max_message_size`` (1009 queued).
        :raises StateError: called before :meth:`connect`, or in ``ERROR``.
        :raises ArgumentTypeError: ``data`` is not bytes-like.
        :raises ClockError: ``now`` is not finite or went backwards.
        """
        if not isinstance(data, bytes | bytearray | memoryview):
            raise ArgumentTypeError(f"data must be bytes, not {type(data).__name__}")
        self._tick(now)
        if not data:
            self._eof("connection lost")
            return
        self._step(ConnectionInput.RECEIVE)
        if self._machine.state is ConnectionState.CLOSED:
            return
        data = bytes(data)
        try:
            if not self._fast_path:
                self._to_wsproto(data, now)
            elif self._machine.state is ConnectionState.OPEN:
                self._receive_frames(data, now)
            elif self._machine.state is ConnectionState.CONNECTING:
                self._receive_handshake(data, now)
            else:
                self._to_wsproto(self._held + data, now)
                self._held = b""
        except _WSPROTO_ERRORS as exc:
            self._fatal(
                HandshakeError(f"invalid handshake answer: {exc}")
                if self._machine.state in (ConnectionState.CONNECTING, ConnectionState.REJECTING)
                else WebSocketError(f"WebSocket protocol error: {exc}", close_code=1002),
                cause=exc,
            )
        self._pump()

    def handle_timer(self, now: float) -> None:
        """Run every deadline due at ``now``; calling early or often is harmless.

        :raises StateError: the connection is in ``ERROR``.
        """
        self._tick(now)
        self._step(ConnectionInput.TIMER)
        if self._machine.state in _TIMED and self._deadline is not None and self._deadline <= now:
            state = self._machine.state
            self._step(ConnectionInput.TIMEOUT)
            self._close_session()
            what = "close handshake" if state is ConnectionState.CLOSING else "opening handshake"
            self._emit(
                ConnectionClosed(code=_CLOSE_ABNORMAL, reason=f"{what} timed out", clean=False)
            )
            return
        if self._machine.state is ConnectionState.OPEN:
            self.session.handle_timer(now)
            self._pump()

    # ------------------------------------------------------------ reading frames

    def _to_wsproto(self, data: bytes, now: float) -> None:
        self._ws.receive_data(data)
        for event in self._ws.events():
            self._handle(event, now)

    def _receive_handshake(self, data: bytes, now: float) -> None:
        """Give wsproto the upgrade answer line by line (rule 8).

        The answer's head ends with a blank line, so wsproto opens the WebSocket
        at the end of a line and never holds bytes of a frame: the frames that
        follow in ``data`` start the fast path at a frame boundary.
        """
        start = 0
        while self._machine.state is ConnectionState.CONNECTING:
            line_end = data.find(b"\n", start) + 1
            if not line_end:
                break
            self._to_wsproto(data[start:line_end], now)
            start = line_end
        rest = data[start:]
        if rest and self._machine.state is ConnectionState.OPEN:
            self._receive_frames(rest, now)
        elif rest:
            self._to_wsproto(rest, now)

    def _receive_frames(self, data: bytes, now: float) -> None:
        """Read frames while the WebSocket is open (rule 8)."""
        if self._held:
            data = self._held + data
            self._held = b""
        pos = 0
        end = len(data)
        if self._owed:
            pos = min(self._owed, end)
            self._owed -= pos
            self._give(data, 0, pos, now)
        while pos < end and self._machine.state is ConnectionState.OPEN:
            if not self._message:
                pos = self._read_plain(data, pos, now)
                if pos == end:
                    return
            pos = self._read_other(data, pos, now)

    def _read_plain(self, data: bytes, pos: int, now: float) -> int:
        """Read the plain data frames from ``pos`` on; return where the first
        other frame (or an unfinished one) starts.

        A plain frame is what MEXC sends: FIN, no RSV bit, not masked, opcode
        text or binary, its length in the shortest encoding and at most
        ``max_message_size``, and, for text, valid UTF-8.
        """
        end = len(data)
        limit = self.max_message_size
        receive_binary = self.session.receive_binary
        receive_text = self.session.receive_text
        taken = 0
        try:
            while True:
                start = pos + 2
                if start > end:
                    break
                length = data[pos + 1]
                if length >= 126:
                    if length == 126:
                        start = pos + 4
                        if start > end:
                            break
                        length = (data[pos + 2] << 8) | data[pos + 3]
                        if length < 126:
                            break
                    elif length == 127:
                        start = pos + 10
                        if start > end:
                            break
                        length = int.from_bytes(data[pos + 2 : start])
                        if length < 0x10000:
                            break
                    else:
                        break  # the mask bit
                stop = start + length
                if stop > end or length > limit:
                    break
                opcode = data[pos]
                if opcode == 0x82:
                    pos = stop
                    taken += 1
                    receive_binary(data[start:stop], now)
                elif opcode == 0x81:
                    try:
                        text = data[start:stop].decode()
                    except UnicodeDecodeError:
                        break
                    pos = stop
                    taken += 1
                    receive_text(text, now)
                else:
                    break
        except BaseException:
            # The session refused a message: keep the frames after it, as wsproto
            # keeps them in its buffer.
            self._held = data[pos:]
            raise
        finally:
            self.fast_path_frames += taken
        return pos

    def _read_other(self, data: bytes, pos: int, now: float) -> int:
        """Give wsproto the frame at ``pos``, or keep it while unfinished and
        wsproto would say nothing of it yet; return where the next frame starts."""
        end = len(data)
        head = _frame_head(data, pos)
        if head is None:
            # wsproto needs two bytes and, for data frames, the extended length
            # before it checks anything but the opcode; control and reserved
            # opcodes with an extended length fail at once.
            if end - pos >= 2 and data[pos] & 0x0F > 2:
                self._give(data, pos, end, now)
            else:
                self._held = data[pos:]
            return end
        start, length = head
        stop = start + length
        if stop > end and self._may_hold(data, pos, start, length):
            self._held = data[pos:]
            return end
        cut = min(stop, end)
        self._owed = stop - cut
        self._give(data, pos, cut, now)
        return cut

    def _may_hold(self, data: bytes, pos: int, start: int, length: int) -> bool:
        """Whether wsproto, given this unfinished frame, would say nothing of it.

        wsproto passes up the part of a data frame's payload that arrived, which
        this object only buffers: an unfinished plain binary frame (within
        ``max_message_size``, no message open) is safe to keep. A text payload is
        decoded as it comes, and a UTF-8 error names its position in the part
        decoded: wsproto gets any part of a text payload exactly as it arrives.
        """
        short = data[pos + 1]
        return not (
            self._message
            or short >= 0x80
            or length > self.max_message_size
            or (short == 126 and length < 126)
            or (short == 127 and length < 0x10000)
            or not (data[pos] == 0x82 or (data[pos] == 0x81 and start == len(data)))
        )

    def _give(self, data: bytes, pos: int, stop: int, now: float) -> None:
        """Give wsproto ``data[pos:stop]``."""
        try:
            self._to_wsproto(data[pos:stop], now)
        except BaseException:
            self._held = data[stop:]
            raise

    # ------------------------------------------------------------ internals

    def _tick(self, now: float) -> None:
        self._machine.check_usable()
        self._now = checked_now(now, self._now)

    def _check_usable(self) -> None:
        self._machine.check_usable("command")

    def _step(self, inp: ConnectionInput) -> None:
        try:
            self._machine.step(inp)
        except StateError:
            self._close_session()
            raise

    def _emit(self, event: Event) -> None:
        # Session events produced so far come first: keep the order of facts.
        self._events.extend(self.session.events())
        self._events.append(event)

    def _close_session(self) -> None:
        if self.session.state is not SessionState.ERROR:
            self.session.close()

    def _pump(self) -> None:
        """Frame the session's pending requests as text messages."""
        if self._machine.state is ConnectionState.OPEN:
            for text in self.session.messages_to_send():
                self._out += self._ws.send(TextMessage(data=text))

    def _eof(self, why: str) -> None:
        state = self._machine.state
        self._step(ConnectionInput.EOF)
        if state is ConnectionState.REJECTING:
            self._rejected()
        elif state is not ConnectionState.CLOSED:
            self._close_session()
            self._emit(ConnectionClosed(code=_CLOSE_ABNORMAL, reason=why, clean=False))

    def _fatal(
        self, error: WebSocketError | HandshakeError, *, cause: BaseException | None = None
    ) -> NoReturn:
        code = error.close_code if isinstance(error, WebSocketError) else None
        if code is not None and self._ws.state in (WSState.OPEN, WSState.REMOTE_CLOSING):
            self._pump()
            self._out += self._ws.send(CloseConnection(code=code, reason=str(error)[:120]))
        self._step(ConnectionInput.FATAL)
        self._close_session()
        raise error from cause

    def _rejected(self) -> None:
        self._close_session()
        self._emit(
            HandshakeRejected(
                status_code=self._reject_status,
                headers=self._reject_headers,
                body=bytes(self._reject_body),
            )
        )

    def _handle(self, event: object, now: float) -> None:
        if isinstance(event, BytesMessage | TextMessage):
            if self._machine.state is not ConnectionState.OPEN:
                return  # closing: the session is closed, late pushes are dropped
            data = event.data
            if event.message_finished and not self._message:
                if _size(data) > self.max_message_size:
                    self._too_big()
                if isinstance(data, str):
                    self.session.receive_text(data, now)
                else:
                    self.session.receive_binary(bytes(data), now)
                return
            self._message_size += _size(data)
            if self._message_size > self.max_message_size:
                self._too_big()
            self._message.append(data)
            if event.message_finished:
                parts, self._message, self._message_size = self._message, [], 0
                if isinstance(data, str):
                    self.session.receive_text("".join(p for p in parts if isinstance(p, str)), now)
                else:
                    self.session.receive_binary(
                        b"".join(p for p in parts if not isinstance(p, str)), now
                    )
        elif isinstance(event, Ping):
            if self._ws.state is WSState.OPEN:
                self._out += self._ws.send(event.response())
        elif isinstance(event, CloseConnection):
            self._on_close(event)
        elif isinstance(event, AcceptConnection):
            self._step(ConnectionInput.ACCEPT)
            self._deadline = None
            self._emit(ConnectionOpened(headers=tuple(event.extra_headers)))
            self.session.start(now)
            self._pump()
        elif isinstance(event, RejectConnection):
            self._step(ConnectionInput.REJECT)
            self._reject_status = event.status_code
            self._reject_headers = tuple(event.headers)
            if not event.has_body:
                self._step(ConnectionInput.REJECT_DONE)
                self._rejected()
        elif isinstance(event, RejectData):
            room = MAX_REJECTION_BODY - len(self._reject_body)
            self._reject_body += event.data[: max(room, 0)]
            if event.body_finished:
                self._step(ConnectionInput.REJECT_DONE)
                self._rejected()
        # Pong frames answer pings we never send: nothing to do.

    def _on_close(self, event: CloseConnection) -> None:
        ws_state = self._ws.state
        if ws_state is WSState.REMOTE_CLOSING:
            # The server closes: answer with the same code, as RFC 6455 5.5.1 asks.
            self._pump()
            self._out += self._ws.send(event.response())
        elif ws_state is not WSState.CLOSED:
            # wsproto reports a frame it could not parse as a CloseConnection while
            # the connection is still open: that is a fatal protocol error.
            self._fatal(
                WebSocketError(f"WebSocket protocol error: {event.reason}", close_code=event.code)
            )
        self._step(ConnectionInput.REMOTE_CLOSE)
        self._deadline = None
        self._close_session()
        self._emit(ConnectionClosed(code=int(event.code), reason=event.reason or "", clean=True))

    def _too_big(self) -> NoReturn:
        self._fatal(
            MessageTooBig(
                f"a message exceeds max_message_size ({self.max_message_size} bytes)",
                limit=self.max_message_size,
            )
        )


def _frame_head(data: bytes, pos: int) -> tuple[int, int] | None:
    """Where the payload of the frame at ``pos`` starts and its length, or
    ``None`` while the length bytes are incomplete (RFC 6455, section 5.2).

    The mask bit and its key are not counted: wsproto fails a masked frame from
    the server at its header.
    """
    if len(data) - pos < 2:
        return None
    short = data[pos + 1] & 0x7F
    if short < 126:
        return pos + 2, short
    start = pos + 4 if short == 126 else pos + 10
    if start > len(data):
        return None
    return start, int.from_bytes(data[pos + 2 : start])


def _size(data: str | bytes | bytearray) -> int:
    """A message part's size in bytes on the wire (text counts its UTF-8 bytes)."""
    return len(data.encode("utf-8", "surrogatepass")) if isinstance(data, str) else len(data)
