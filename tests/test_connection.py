"""The connection at byte level: golden transcripts, WebSocket rules, fuzzing."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import math
import struct
import types
from collections.abc import Callable, Iterator, Sequence

import pytest
import wsproto.frame_protocol
import wsproto.utilities
from hypothesis import given, settings
from hypothesis import strategies as st

from mexc_core.connection import (
    _TRANSITIONS,
    MAX_REJECTION_BODY,
    Connection,
    ConnectionInput,
    ConnectionState,
    shorten_listen_key,
)
from mexc_core.errors import (
    ArgumentTypeError,
    ClockError,
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
    StrayPushReceived,
    StrayReason,
    Subscribed,
    SubscriptionFailed,
    Unsubscribed,
)
from mexc_core.session import SessionConfig, SessionState, SubscriptionState
from tests.loopback_server import MiniServer, trade_push

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
    # a push of the topic MEXC just refused: reported, not delivered as a push
    (0.3, None, frame(0x2, V1), b"", ["stray"]),  # type: ignore[list-item]
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
        elif expected == "stray":
            assert isinstance(event, StrayPushReceived)
            assert event.reason is StrayReason.NOT_HELD
            assert event.topic == B
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
    conn.subscribe([A], 0.1)  # pending: its pushes are received
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


# ---------------------------------------------------------------- edges


def test_short_listen_keys_are_hidden_entirely() -> None:
    assert shorten_listen_key("abcdefghijkl") == "…"
    assert shorten_listen_key("abcdefghijklm") == "abcd…jklm"
    conn = Connection(listen_key="short-key")
    assert conn.target == "/ws?listenKey=…"
    assert conn.listen_key_hint == "…"
    assert "short-key" not in repr(conn)
    public = Connection(path="/ws2")
    assert public.target == "/ws2"
    assert public.listen_key_hint is None
    assert "listen_key" not in repr(public)


@pytest.mark.parametrize(
    ("kwargs", "setting"),
    [
        ({"host": ""}, "host"),
        ({"host": "wbs-api.mexc.com\r\nX: y"}, "host"),
        ({"host": "mexc.cöm"}, "host"),
        ({"path": "ws"}, "path"),
        ({"path": "/wś"}, "path"),
        ({"path": 5}, "path"),
        ({"listen_key": "  "}, "listen_key"),
        ({"max_message_size": 4096.0}, "max_message_size"),
        ({"open_timeout": 0}, "open_timeout"),
        ({"open_timeout": float("nan")}, "open_timeout"),
        ({"open_timeout": "1"}, "open_timeout"),
        ({"close_timeout": -1.0}, "close_timeout"),
        ({"close_timeout": float("inf")}, "close_timeout"),
    ],
)
def test_bad_parameters_name_the_setting(kwargs: dict[str, object], setting: str) -> None:
    with pytest.raises(InvalidConfig) as info:
        Connection(**kwargs)  # type: ignore[arg-type]
    assert info.value.setting == setting


def test_wrong_argument_types_and_clocks_are_caught_and_harmless() -> None:
    conn, _ = open_pair()
    with pytest.raises(ArgumentTypeError):
        conn.receive_data("text", 1.0)  # type: ignore[arg-type]
    with pytest.raises(ArgumentTypeError):
        conn.close(reason=b"bytes")  # type: ignore[arg-type]
    with pytest.raises(ClockError):
        conn.handle_timer(math.nan)
    conn.handle_timer(2.0)
    with pytest.raises(ClockError) as info:
        conn.receive_data(b"", 1.0)
    assert (info.value.now, info.value.last) == (1.0, 2.0)
    assert state_of(conn) is ConnectionState.OPEN  # none of these changed anything
    assert conn.data_to_send() == b""
    conn.subscribe([B], 3.0)
    conn.receive_data(bytearray(frame(0x2, V1)), 3.0)  # bytes-like data is fine
    assert isinstance(conn.next_event(), Push)


def test_unsubscribe_goes_through_the_connection() -> None:
    conn, server = open_pair()
    conn.subscribe([A, B], 0.1)
    assert exchange(conn, server, 0.2) == [Subscribed(topics=(A, B))]
    conn.unsubscribe([A], 0.3)
    assert exchange(conn, server, 0.4) == [Unsubscribed(topics=(A,))]
    assert server.received[-1] == f'{{"method":"UNSUBSCRIPTION","params":["{A}"]}}'
    assert dict(conn.session.subscriptions) == {B: SubscriptionState.ACTIVE}


@pytest.mark.usefixtures("zero_entropy")
def test_a_fragmented_text_message_is_reassembled() -> None:
    conn, _ = open_pair()
    conn.handle_timer(CFG.ping_interval)
    assert conn.data_to_send() == text('{"method":"PING"}', masked=True)
    pong = b'{"id":0,"code":0,"msg":"PONG"}'
    conn.receive_data(frame(0x1, pong[:7], fin=False), 5.1)
    conn.receive_data(frame(0x0, pong[7:20], fin=False) + frame(0x0, pong[20:]), 5.2)
    (event,) = conn.events()
    assert isinstance(event, PongReceived)
    assert event.round_trip == pytest.approx(0.2)


def test_an_unsolicited_pong_frame_is_ignored() -> None:
    conn, _ = open_pair()
    conn.receive_data(frame(0xA, b"unasked"), 0.1)  # RFC 6455 5.5.3: no reply expected
    assert (list(conn.events()), conn.data_to_send()) == ([], b"")
    assert state_of(conn) is ConnectionState.OPEN
    assert conn.session.stats.text_frames + conn.session.stats.binary_frames == 0


def test_a_single_oversized_frame_queues_1009_then_raises() -> None:
    conn, server = open_pair(max_message_size=1024)
    conn.subscribe([A], 0.1)
    conn.receive_data(frame(0x2, trade_push(A, 1)), 0.1)  # small frames pass
    assert isinstance(conn.next_event(), Push)
    with pytest.raises(MessageTooBig):
        conn.receive_data(frame(0x2, bytes(1025)), 0.2)
    server.receive_data(conn.data_to_send())
    assert server.closed is not None
    assert server.closed.code == 1009


@pytest.mark.usefixtures("zero_entropy")
def test_closing_twice_sends_one_close_frame() -> None:
    conn, server = open_pair()
    conn.close(3001, "rotating")
    out = conn.data_to_send()
    assert out == close_frame(3001, "rotating", masked=True)
    assert conn.session.state is SessionState.CLOSED
    assert conn.next_deadline() == conn.close_timeout
    conn.close()
    assert conn.data_to_send() == b""
    assert state_of(conn) is ConnectionState.CLOSING
    server.receive_data(out)
    conn.receive_data(server.data_to_send(), 0.5)
    assert list(conn.events()) == [ConnectionClosed(code=3001, reason="rotating", clean=True)]
    conn.close()  # closed: nothing more
    assert (conn.data_to_send(), list(conn.events())) == (b"", [])
    assert conn.next_deadline() is None


def test_pushes_and_pings_during_the_close_handshake_are_dropped() -> None:
    conn, server = open_pair()
    conn.subscribe([A], 0.0)
    exchange(conn, server, 0.0)
    conn.close()
    conn.data_to_send()  # our close frame, not yet read by the server
    conn.receive_data(
        frame(0x2, trade_push(A, 2)) + frame(0x9, b"ping") + text('{"id":0,"code":0,"msg":"x"}'),
        0.1,
    )
    assert list(conn.events()) == []  # the session is closed: nothing reaches it
    assert conn.data_to_send() == b""  # no pong: a close frame was our last word
    assert conn.session.stats.binary_frames == 0
    conn.receive_data(close_frame(1000), 0.2)
    assert list(conn.events()) == [ConnectionClosed(code=1000, reason="", clean=True)]
    assert conn.data_to_send() == b""  # the close frame was already sent


def test_subscribing_while_closing_fails_but_the_close_completes() -> None:
    conn, _ = open_pair()
    conn.close()
    with pytest.raises(StateError) as info:
        conn.subscribe([A], 0.1)
    assert info.value.machine == "session"
    assert conn.session.state is SessionState.ERROR
    assert state_of(conn) is ConnectionState.CLOSING  # the connection itself is fine
    conn.receive_data(b"", 0.2)
    assert list(conn.events()) == [
        ConnectionClosed(code=1006, reason="connection lost", clean=False)
    ]
    assert state_of(conn) is ConnectionState.CLOSED


def test_commands_after_a_fatal_error_raise_state_error() -> None:
    conn, _ = open_pair()
    with pytest.raises(WebSocketError):
        conn.receive_data(frame(0x3, b""), 0.1)
    calls: list[Callable[[], None]] = [
        lambda: conn.subscribe([A], 0.2),
        lambda: conn.unsubscribe([A], 0.2),
        lambda: conn.handle_timer(0.2),
        lambda: conn.connect(0.2),
        conn.close,
        conn.send_failed,
    ]
    for call in calls:
        with pytest.raises(StateError) as info:
            call()
        assert info.value.machine == "connection"
        assert state_of(conn) is ConnectionState.ERROR


def test_the_open_deadline_waits_until_it_is_due() -> None:
    conn = Connection(open_timeout=3.0)
    conn.handle_timer(0.5)  # idle: nothing to do, nothing due
    assert conn.next_deadline() is None
    conn.connect(1.0)
    conn.handle_timer(3.9)
    assert state_of(conn) is ConnectionState.CONNECTING
    assert list(conn.events()) == []
    assert conn.next_deadline() == 4.0


# -- rejected handshakes

REJECT_HEAD = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nContent-Length: 10\r\n\r\n"


def state_of(conn: Connection) -> ConnectionState:
    # a call, so mypy does not carry a narrowed state from one assert to the next
    return conn.state


def connecting() -> Connection:
    conn = Connection(session_config=CFG)
    conn.connect(0.0)
    conn.data_to_send()
    return conn


def test_a_rejection_body_may_arrive_in_pieces() -> None:
    conn = connecting()
    conn.receive_data(REJECT_HEAD + b"down", 0.1)
    assert state_of(conn) is ConnectionState.REJECTING
    assert list(conn.events()) == []
    conn.receive_data(b" for a", 0.2)
    (event,) = conn.events()
    assert event == HandshakeRejected(
        status_code=503,
        headers=((b"retry-after", b"7"), (b"content-length", b"10")),
        body=b"down for a",
    )
    assert event.retry_after == 7.0
    assert state_of(conn) is ConnectionState.CLOSED


def test_eof_in_the_middle_of_a_rejection_keeps_what_arrived() -> None:
    conn = connecting()
    conn.receive_data(REJECT_HEAD + b"dow", 0.1)
    conn.receive_data(b"", 0.2)
    (event,) = conn.events()
    assert isinstance(event, HandshakeRejected)
    assert (event.status_code, event.body) == (503, b"dow")
    assert state_of(conn) is ConnectionState.CLOSED


def test_a_huge_rejection_body_is_cut() -> None:
    conn = connecting()
    size = MAX_REJECTION_BODY + 1000
    conn.receive_data(b"HTTP/1.1 403 Forbidden\r\nContent-Length: %d\r\n\r\n" % size, 0.1)
    conn.receive_data(b"x" * (MAX_REJECTION_BODY - 10), 0.1)
    conn.receive_data(b"y" * 500, 0.1)
    conn.receive_data(b"z" * 510, 0.1)
    (event,) = conn.events()
    assert isinstance(event, HandshakeRejected)
    assert event.body == b"x" * (MAX_REJECTION_BODY - 10) + b"y" * 10


def test_an_informational_answer_other_than_101_is_a_rejection_without_body() -> None:
    conn = connecting()
    conn.receive_data(b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n", 0.1)
    assert list(conn.events()) == [
        HandshakeRejected(status_code=103, headers=((b"link", b"</x>"),), body=b"")
    ]
    assert state_of(conn) is ConnectionState.CLOSED
    assert conn.session.state is SessionState.CLOSED


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ((), None),
        (((b"Content-Type", b"text/plain"), (b"RETRY-AFTER", b"2.5")), 2.5),
        (((b"retry-after", b"0"),), 0.0),
        (((b"retry-after", b"-3"),), None),
        (((b"retry-after", b"Wed, 21 Oct 2015 07:28:00 GMT"),), None),
        (((b"retry-after", b"\xff1"),), None),
        (((b"x-other", b"5"),), None),
    ],
)
def test_retry_after_reads_only_non_negative_seconds(
    headers: tuple[tuple[bytes, bytes], ...], seconds: float | None
) -> None:
    event = HandshakeRejected(status_code=429, headers=headers, body=b"")
    assert event.retry_after == seconds


# ---------------------------------------------------------------- table sweep
#
# Every (state, input) of the connection table through the public API, as the
# session's sweep does: the table's next state, or StateError and ERROR. Inputs
# the connection derives from wsproto's events (ACCEPT, REJECT, ...) are swept
# where the table has them; elsewhere wsproto cannot produce them.

CHUNKED_503 = (
    b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n" + b"3\r\nabc\r\n"
)
_CS = ConnectionState
_CIN = ConnectionInput


def _connection_in(state: ConnectionState) -> Connection:
    if state is _CS.IDLE:
        return Connection(session_config=CFG)
    if state in (_CS.CONNECTING, _CS.REJECTING):
        conn = connecting()
        if state is _CS.REJECTING:
            conn.receive_data(CHUNKED_503, 0.0)
    else:
        conn, _ = open_pair()
        if state is _CS.CLOSING:
            conn.close()
        elif state is _CS.CLOSED:
            conn.receive_data(b"", 0.0)
        elif state is _CS.ERROR:
            with pytest.raises(WebSocketError):
                conn.receive_data(frame(0x3, b""), 0.0)
    conn.data_to_send()
    list(conn.events())
    assert conn.state is state
    return conn


# Bytes that are an input of their own in a state: (state, input) -> data.
_BYTES: dict[tuple[ConnectionState, ConnectionInput], bytes] = {
    (_CS.CONNECTING, _CIN.RECEIVE): b"HTTP/1.1 ",  # half a status line
    (_CS.REJECTING, _CIN.RECEIVE): b"2\r\nde\r\n",  # one more chunk of the body
    (_CS.OPEN, _CIN.RECEIVE): frame(0x2, V1),
    (_CS.CLOSING, _CIN.RECEIVE): frame(0x2, V1),  # read and dropped
    (_CS.CLOSED, _CIN.RECEIVE): b"junk past the end",  # ignored
    (_CS.IDLE, _CIN.RECEIVE): b"HTTP/1.1 101 ",
    (_CS.ERROR, _CIN.RECEIVE): frame(0x2, V1),
    (_CS.CONNECTING, _CIN.ACCEPT): SWITCHING,
    (_CS.CONNECTING, _CIN.REJECT): CHUNKED_503,
    (_CS.REJECTING, _CIN.REJECT_DONE): b"0\r\n\r\n",
    (_CS.OPEN, _CIN.REMOTE_CLOSE): close_frame(1000),
    (_CS.CLOSING, _CIN.REMOTE_CLOSE): close_frame(1000),
    (_CS.CONNECTING, _CIN.FATAL): b"HTTP/1.1 101 Switching Protocols\r\n\r\n",  # no Accept
    (_CS.REJECTING, _CIN.FATAL): b"zz\r\n",  # not a chunk size
    (_CS.OPEN, _CIN.FATAL): frame(0x3, b""),  # a reserved opcode
    (_CS.CLOSING, _CIN.FATAL): frame(0x3, b""),
}
_PUBLIC = frozenset({_CIN.CONNECT, _CIN.RECEIVE, _CIN.LOCAL_CLOSE, _CIN.EOF, _CIN.TIMER})


def _apply(conn: Connection, state: ConnectionState, inp: ConnectionInput) -> None:
    if inp is _CIN.CONNECT:
        conn.connect(0.5)
    elif inp is _CIN.LOCAL_CLOSE:
        conn.close()
    elif inp is _CIN.EOF:
        conn.receive_data(b"", 0.5)
    elif inp is _CIN.TIMER:
        conn.handle_timer(0.5)  # before every deadline
    elif inp is _CIN.TIMEOUT:
        conn.handle_timer(100.0)
    else:
        conn.receive_data(_BYTES[state, inp], 0.5)


@pytest.mark.usefixtures("zero_entropy")  # SWITCHING's accept token needs the zero nonce
@pytest.mark.parametrize(("state", "inp"), list(itertools.product(_CS, _CIN)), ids=lambda x: x.name)
def test_connection_table_sweep(state: ConnectionState, inp: ConnectionInput) -> None:
    conn = _connection_in(state)
    expected = _TRANSITIONS.get((state, inp))
    if expected is None and inp not in _PUBLIC:
        assert (state, inp) not in _BYTES
        return  # derived from wsproto's events, which never bring it in this state
    if expected is None:
        with pytest.raises(StateError):
            _apply(conn, state, inp)
    elif expected is _CS.ERROR:
        with pytest.raises((HandshakeError, WebSocketError)):
            _apply(conn, state, inp)
    else:
        _apply(conn, state, inp)
        conn.data_to_send()
        list(conn.events())
    assert conn.state is (expected or _CS.ERROR)
    # The session runs only while the WebSocket is open, and is closed once it is not.
    session_state = {
        _CS.IDLE: SessionState.CONNECTING,
        _CS.CONNECTING: SessionState.CONNECTING,
        _CS.REJECTING: SessionState.CONNECTING,
        _CS.OPEN: SessionState.OPEN,
    }.get(conn.state, SessionState.CLOSED)
    assert conn.session.state is session_state


def test_every_connection_state_is_reachable() -> None:
    assert set(_TRANSITIONS.values()) == set(ConnectionState)
    assert {s for s, _ in _TRANSITIONS} == set(ConnectionState) - {ConnectionState.ERROR}


def test_close_deadline_counts_from_now() -> None:
    """Found in review: close() without ``now`` counted the close handshake's
    timeout from the last time the connection saw, so a quiet link closed unclean."""
    conn, _ = open_pair()
    conn.close(now=20.0)
    assert conn.next_deadline() == 20.0 + conn.close_timeout
    conn.handle_timer(20.0)
    assert [e for e in conn.events() if isinstance(e, ConnectionClosed)] == []


def test_text_size_counts_utf8_bytes() -> None:
    """Found in review: 1,000 four-byte emoji (4,000 bytes) passed a 1,024-byte limit."""
    conn, server = open_pair(max_message_size=1024)
    server.send_text("\U0001f600" * 1000)
    with pytest.raises(MessageTooBig):
        conn.receive_data(server.data_to_send(), 1.0)
