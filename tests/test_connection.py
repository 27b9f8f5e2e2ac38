"""The connection at byte level: golden transcripts, WebSocket rules, fuzzing."""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import types
from collections.abc import Iterator, Sequence

import pytest
import wsproto.frame_protocol
import wsproto.utilities
from hypothesis import given, settings
from hypothesis import strategies as st

from mexc_core.connection import Connection, ConnectionState, shorten_listen_key
from mexc_core.errors import (
    EncodeError,
    HandshakeError,
    InvalidConfig,
    MessageTooBig,
    MexcError,
    StateError,
    WebSocketError,
)
from mexc_core.events import (
    ConnectionClosed,
    ConnectionOpened,
    Event,
    FailureCause,
    HandshakeRejected,
    PongReceived,
    Push,
    Subscribed,
    SubscriptionFailed,
)
from mexc_core.session import SessionConfig, SessionState
from mexc_core.testing.server import MiniServer, trade_push

A = "spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT"
B = "spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT"
KEY = "pqia91ma19a5s61cv6a81va65sdf19v8a65a1a5s61cv6a81va65sdf19v8a65a1"
V1 = bytes.fromhex(
    "0a2f73706f74407075626c69632e61676772652e64657074682e76332e6170692e7062403130306d7340"
    "425443555344541a074254435553445430b1d7b4ecdf33ca134812080a033130301201341a2773706f74"
    "407075626c69632e61676772652e64657074682e76332e6170692e7062403130306d7322053130303233"
    "2a05313030323330dcd6b4ecdf33"
)
NONCE = base64.b64encode(bytes(16))  # what the patched os.urandom gives wsproto
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
ACCEPT = base64.b64encode(hashlib.sha1(NONCE + GUID).digest())

CFG = SessionConfig(idle_timeout=None, data_silence_timeout=None)


@pytest.fixture
def zero_entropy(monkeypatch: pytest.MonkeyPatch) -> None:
    """wsproto's nonce and masks come from os.urandom: make them zeros (byte-exact)."""
    fake_os = types.SimpleNamespace(urandom=bytes)
    monkeypatch.setattr(wsproto.frame_protocol, "os", fake_os)
    monkeypatch.setattr(wsproto.utilities, "os", fake_os)


def frame(opcode: int, payload: bytes, *, masked: bool = False, fin: bool = True) -> bytes:
    """An RFC 6455 frame, written here independently of wsproto (mask all zeros)."""
    head = bytes([(0x80 if fin else 0) | opcode])
    bit = 0x80 if masked else 0
    n = len(payload)
    if n < 126:
        head += bytes([bit | n])
    elif n < 1 << 16:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    return head + (bytes(4) if masked else b"") + payload


def text(data: str, **kw: bool) -> bytes:
    return frame(0x1, data.encode(), **kw)


def reply(msg: str) -> bytes:
    return text(json.dumps({"id": 0, "code": 0, "msg": msg}, ensure_ascii=False))


def close_frame(code: int, reason: str = "", **kw: bool) -> bytes:
    return frame(0x8, struct.pack("!H", code) + reason.encode(), **kw)


def handshake_request(target: str = "/ws") -> bytes:
    return (
        f"GET {target} HTTP/1.1\r\nHost: wbs-api.mexc.com\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {NONCE.decode()}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


SWITCHING = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: " + ACCEPT + b"\r\n\r\n"
)

# ---------------------------------------------------------------- golden transcripts
#
# Each step: (now, command, server bytes in, client bytes out, events out).
# Commands: ("subscribe", topics), ("timer",), ("close",), ("connect",), None.

Step = tuple[float, tuple[object, ...] | None, bytes, bytes, list[Event]]

PUBLIC: list[Step] = [
    (0.0, ("subscribe", [A, B]), b"", b"", []),
    (0.0, ("connect",), b"", handshake_request(), []),
    (
        0.1,
        None,
        SWITCHING,
        text(f'{{"method":"SUBSCRIPTION","params":["{A}","{B}"]}}', masked=True),
        [ConnectionOpened(headers=())],
    ),
    (
        0.2,
        None,
        reply(A)
        + text(
            json.dumps(
                {
                    "id": 0,
                    "code": 0,
                    "msg": f"Not Subscribed successfully! [{B}].  Reason： Blocked! ",
                },
                ensure_ascii=False,
            )
        ),
        b"",
        [
            Subscribed(topics=(A,)),
            SubscriptionFailed(topics=(B,), cause=FailureCause.REJECTED, reason="Blocked!"),
        ],
    ),
    (0.3, None, frame(0x2, V1), b"", ["push"]),  # type: ignore[list-item]
    (0.4, None, frame(0x9, b"hi"), frame(0xA, b"hi", masked=True), []),
    (5.1, ("timer",), b"", text('{"method":"PING"}', masked=True), []),
    (5.35, None, reply("PONG"), b"", [PongReceived(round_trip=5.35 - 5.1)]),
    (
        6.0,
        None,
        close_frame(1001, "bye"),
        close_frame(1001, "bye", masked=True),
        [ConnectionClosed(code=1001, reason="bye", clean=True)],
    ),
]

PRIVATE_CLOSE: list[Step] = [
    (0.0, ("connect",), b"", handshake_request(f"/ws?listenKey={KEY}"), []),
    (0.1, None, SWITCHING + text("Invalid listen key"), b"", ["opened", "notice"]),  # type: ignore[list-item]
    (0.2, ("close",), b"", close_frame(1000, masked=True), []),
    (0.3, None, close_frame(1000), b"", [ConnectionClosed(code=1000, reason="", clean=True)]),
]


def _check_events(got: list[Event], want: Sequence[object]) -> None:
    assert len(got) == len(want), got
    for event, expected in zip(got, want, strict=True):
        if expected == "push":
            assert isinstance(event, Push)
            assert event.channel.endswith("@100ms@BTCUSDT")
        elif expected == "opened":
            assert isinstance(event, ConnectionOpened)
        elif expected == "notice":
            assert type(event).__name__ == "ListenKeyInvalidated"
        else:
            assert event == expected


def _run(steps: list[Step], pieces: Iterator[int] | None, *, listen_key: str | None = None) -> None:
    conn = Connection(session_config=CFG, listen_key=listen_key)
    for now, command, data, out, want in steps:
        if command is not None:
            name = command[0]
            if name == "subscribe":
                conn.subscribe(command[1], now)  # type: ignore[arg-type]
            elif name == "connect":
                conn.connect(now)
            elif name == "timer":
                conn.handle_timer(now)
            elif name == "close":
                conn.close()
        if data:
            if pieces is None:
                conn.receive_data(data, now)
            else:
                rest = data
                while rest:
                    n = max(1, next(pieces) % (len(rest) + 1))
                    conn.receive_data(rest[:n], now)
                    rest = rest[n:]
        assert conn.data_to_send() == out
        _check_events(list(conn.events()), want)
    assert conn.state is ConnectionState.CLOSED


@pytest.mark.usefixtures("zero_entropy")
@pytest.mark.parametrize(
    ("steps", "key"), [(PUBLIC, None), (PRIVATE_CLOSE, KEY)], ids=["public", "private-close"]
)
def test_golden_transcript_whole(steps: list[Step], key: str | None) -> None:
    _run(steps, None, listen_key=key)


@pytest.mark.usefixtures("zero_entropy")
@settings(max_examples=50)
@given(cuts=st.lists(st.integers(min_value=1, max_value=200), min_size=1))
def test_golden_transcript_in_pieces(cuts: list[int]) -> None:
    def pieces() -> Iterator[int]:
        while True:
            yield from cuts

    _run(PUBLIC, pieces())
    _run(PRIVATE_CLOSE, pieces(), listen_key=KEY)


# ---------------------------------------------------------------- behaviour


def open_pair(**kwargs: object) -> tuple[Connection, MiniServer]:
    conn = Connection(session_config=CFG, **kwargs)  # type: ignore[arg-type]
    server = MiniServer()
    conn.connect(0.0)
    server.receive_data(conn.data_to_send())
    conn.receive_data(server.data_to_send(), 0.0)
    assert conn.state is ConnectionState.OPEN
    list(conn.events())
    return conn, server


def exchange(conn: Connection, server: MiniServer, now: float) -> list[Event]:
    server.receive_data(conn.data_to_send())
    data = server.data_to_send()
    if data:
        conn.receive_data(data, now)
    return list(conn.events())


def test_the_listen_key_is_never_shown_in_full() -> None:
    conn = Connection(listen_key=KEY)
    assert KEY not in repr(conn)
    assert conn.listen_key_hint == shorten_listen_key(KEY) == "pqia…5a1"[:4] + "…" + KEY[-4:]
    assert KEY not in conn.target
    conn.connect(0.0)
    assert f"listenKey={KEY}".encode() in conn.data_to_send()
    assert conn.session.private


def test_subscriptions_flow_and_the_server_close_is_answered() -> None:
    conn, server = open_pair()
    conn.subscribe([A], 0.1)
    assert exchange(conn, server, 0.2) == [Subscribed(topics=(A,))]
    server.push(A, 7)
    server.send_bytes(b"\xff\xff")  # garbage: an event, not an exception
    got = exchange(conn, server, 0.3)
    assert isinstance(got[0], Push)
    assert type(got[1]).__name__ == "FrameRejected"
    server.close(1000, "maintenance")
    assert exchange(conn, server, 0.4) == [
        ConnectionClosed(code=1000, reason="maintenance", clean=True)
    ]
    server.receive_data(conn.data_to_send())  # our answer to the close frame
    assert server.closed is not None
    assert conn.state is ConnectionState.CLOSED
    assert conn.session.state is SessionState.CLOSED
    assert conn.next_deadline() is None
    conn.receive_data(b"late bytes", 0.5)  # ignored once closed
    conn.receive_data(b"", 0.5)  # EOF after the close handshake: normal


def test_fragmented_messages_are_reassembled() -> None:
    conn, _ = open_pair()
    push = trade_push(A, 1)
    conn.receive_data(frame(0x2, push[:10], fin=False) + frame(0x0, push[10:]), 0.1)
    (event,) = conn.events()
    assert isinstance(event, Push)
    assert event.channel == A


def test_an_oversized_message_queues_1009_then_raises() -> None:
    conn, server = open_pair(max_message_size=1024)
    with pytest.raises(MessageTooBig) as info:
        conn.receive_data(frame(0x2, bytes(600), fin=False) + frame(0x0, bytes(600)), 0.1)
    assert info.value.close_code == 1009
    assert info.value.limit == 1024
    assert conn.state is ConnectionState.ERROR
    server.receive_data(conn.data_to_send())
    assert server.closed is not None
    assert server.closed.code == 1009
    with pytest.raises(StateError):
        conn.receive_data(b"x", 0.2)


def test_a_protocol_violation_queues_the_close_frame_then_raises() -> None:
    conn, server = open_pair()
    with pytest.raises(WebSocketError) as info:
        conn.receive_data(frame(0x3, b""), 0.1)  # reserved opcode
    assert info.value.close_code == 1002
    server.receive_data(conn.data_to_send())
    assert server.closed is not None
    assert server.closed.code == 1002
    conn2, _ = open_pair()
    with pytest.raises(WebSocketError) as info:
        conn2.receive_data(frame(0x1, b"\xff\xfe"), 0.1)  # text that is not UTF-8
    assert info.value.close_code == 1007


def test_a_bad_handshake_answer_raises() -> None:
    conn = Connection()
    conn.connect(0.0)
    conn.data_to_send()
    with pytest.raises(HandshakeError):
        conn.receive_data(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: wrong\r\n\r\n",
            0.1,
        )
    assert conn.data_to_send() == b""


def test_a_rejected_handshake_is_an_event_with_retry_after() -> None:
    conn = Connection()
    conn.connect(0.0)
    conn.data_to_send()
    conn.receive_data(
        b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 30\r\nContent-Length: 4\r\n\r\nslow", 0.1
    )
    (event,) = conn.events()
    assert isinstance(event, HandshakeRejected)
    assert (event.status_code, event.body, event.retry_after) == (429, b"slow", 30.0)
    assert conn.state is ConnectionState.CLOSED


def test_eof_and_timeouts_end_the_connection() -> None:
    conn, _ = open_pair()
    conn.receive_data(b"", 1.0)
    assert list(conn.events()) == [
        ConnectionClosed(code=1006, reason="connection lost", clean=False)
    ]
    conn = Connection(open_timeout=3.0)
    conn.connect(0.0)
    assert conn.next_deadline() == 3.0
    conn.handle_timer(3.0)
    assert list(conn.events()) == [
        ConnectionClosed(code=1006, reason="opening handshake timed out", clean=False)
    ]
    conn, _ = open_pair(close_timeout=2.0)
    conn.close()
    assert conn.state is ConnectionState.CLOSING
    conn.handle_timer(2.0)
    assert list(conn.events())[-1] == ConnectionClosed(
        code=1006, reason="close handshake timed out", clean=False
    )
    conn, _ = open_pair()
    conn.send_failed()
    assert conn.state is ConnectionState.CLOSED


def test_session_timers_run_through_the_connection() -> None:
    conn, server = open_pair()
    assert conn.next_deadline() == CFG.ping_interval
    conn.handle_timer(CFG.ping_interval)
    got = exchange(conn, server, CFG.ping_interval + 0.1)
    assert len(got) == 1
    assert isinstance(got[0], PongReceived)
    assert got[0].round_trip == pytest.approx(0.1)


def test_misuse_is_reported() -> None:
    with pytest.raises(InvalidConfig):
        Connection(host="bad host/x")
    with pytest.raises(InvalidConfig):
        Connection(listen_key="")
    with pytest.raises(InvalidConfig):
        Connection(max_message_size=10)
    conn = Connection()
    with pytest.raises(EncodeError):
        conn.close(code=1006)
    with pytest.raises(StateError):
        conn.receive_data(b"x", 0.0)  # before connect
    conn = Connection()
    conn.close()
    assert next(iter(conn.events())) == ConnectionClosed(
        code=1006, reason="closed before the WebSocket opened", clean=False
    )


# ---------------------------------------------------------------- fuzzing


@settings(max_examples=300)
@given(chunks=st.lists(st.binary(max_size=300), max_size=5))
def test_arbitrary_bytes_during_the_handshake_raise_only_mexc_errors(chunks: list[bytes]) -> None:
    conn = Connection()
    conn.connect(0.0)
    conn.data_to_send()
    try:
        for chunk in chunks:
            conn.receive_data(chunk, 0.0)
            list(conn.events())
            conn.data_to_send()
    except MexcError:
        conn.data_to_send()


_frames = st.builds(
    lambda op, payload, fin, masked: frame(op, payload, fin=fin, masked=masked),
    st.sampled_from([0x0, 0x1, 0x2, 0x3, 0x8, 0x9, 0xA, 0xF]),
    st.binary(max_size=200),
    st.booleans(),
    st.booleans(),
)


@settings(max_examples=300)
@given(
    chunks=st.lists(
        st.one_of(st.binary(max_size=200), _frames, st.just(frame(0x2, V1))), max_size=8
    )
)
def test_arbitrary_bytes_after_the_handshake_raise_only_mexc_errors(chunks: list[bytes]) -> None:
    conn, _ = open_pair()
    now = 0.0
    try:
        for chunk in chunks:
            now += 1.0
            conn.receive_data(chunk, now)
            list(conn.events())
            conn.data_to_send()
            conn.handle_timer(now)
    except MexcError:
        conn.data_to_send()
        assert conn.state is ConnectionState.ERROR
