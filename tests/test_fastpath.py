"""The fast path for plain data frames against wsproto alone (differential).

Two connections read the same server bytes, cut at arbitrary points: one with the
fast path, one that gives every byte to wsproto. After every piece they must agree
on the events, the exception (type, message, close code), the bytes to send and
the states.
"""

from __future__ import annotations

import itertools
import struct
import types
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import wsproto.frame_protocol
import wsproto.utilities
from hypothesis import given, settings
from hypothesis import strategies as st

from mexc_core.connection import Connection, ConnectionState
from mexc_core.errors import MexcError, StateError
from mexc_core.session import SessionConfig
from tests.test_connection import SWITCHING, V1, frame, reply

CFG = SessionConfig(idle_timeout=None, data_silence_timeout=None)
TOPIC = "spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT"


@contextmanager
def zero_entropy() -> Iterator[None]:
    """wsproto's nonce and masks from os.urandom, made zeros: both sides send the same."""
    fake_os = types.SimpleNamespace(urandom=bytes)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(wsproto.frame_protocol, "os", fake_os)
        mp.setattr(wsproto.utilities, "os", fake_os)
        yield


def head(first: int, length: int, *, form: int | None = None, masked: bool = False) -> bytes:
    """A frame header with the length in a chosen form (7, 16 or 64 bits), minimal or not."""
    bit = 0x80 if masked else 0
    form = form or (7 if length < 126 else 16 if length < 1 << 16 else 64)
    if form == 7:
        return bytes([first, bit | length])
    if form == 16:
        return bytes([first, bit | 126]) + struct.pack("!H", length)
    return bytes([first, bit | 127]) + struct.pack("!Q", length)


payloads = st.one_of(
    st.binary(max_size=140),
    st.binary(min_size=1000, max_size=1100),  # around the 1024-byte limit
    st.just(V1),
    st.just(bytes(70_000)),  # a 64-bit length, within the 100 000-byte limit
)
texts = st.one_of(
    st.builds(reply, st.sampled_from(["Not Subscribed successfully! [x]", TOPIC, "pong"])),
    st.text(max_size=60).map(lambda s: frame(0x1, s.encode())),
    st.binary(max_size=60).map(lambda b: frame(0x1, b)),  # often not UTF-8
    st.binary(min_size=1, max_size=40).map(lambda b: frame(0x1, "é€😀".encode() + b)),
)
controls = st.one_of(
    st.binary(max_size=125).map(lambda b: frame(0x9, b)),  # ping
    st.binary(max_size=125).map(lambda b: frame(0xA, b)),  # pong
    st.sampled_from([1000, 1001, 1002, 1005, 1006, 3000, 4999, 999, 2000, 5000]).map(
        lambda c: frame(0x8, struct.pack("!H", c) + b"bye")
    ),
    st.sampled_from([b"", b"\x03", b"\x03\xe8\xff"]).map(lambda b: frame(0x8, b)),
    st.binary(max_size=10).map(lambda b: frame(0x9, b, fin=False)),  # fragmented control
    st.just(head(0x89, 126) + bytes(126)),  # control above 125 bytes
)
odd = st.one_of(
    st.builds(
        lambda op, fin, p: frame(op, p, fin=fin),
        st.sampled_from([0x0, 0x1, 0x2]),
        st.booleans(),
        st.binary(max_size=40),
    ),  # fragments and continuations
    st.binary(max_size=40).map(lambda b: frame(0x2, b, masked=True)),
    st.builds(
        lambda rsv, p: bytes([0x82 | rsv]) + frame(0x2, p)[1:],
        st.sampled_from([0x10, 0x20, 0x40]),
        st.binary(max_size=20),
    ),
    st.sampled_from([0x3, 0x7, 0xB, 0xF]).map(lambda op: frame(op, b"x")),  # reserved
    st.builds(
        lambda n, form: head(0x82, n, form=form) + bytes(n),
        st.sampled_from([0, 5, 125, 126, 300]),
        st.sampled_from([16, 64]),
    ),  # 16- and 64-bit lengths, minimal or not
    st.just(head(0x82, 1 << 63)),  # a 64-bit length with its top bit set
    st.binary(min_size=1, max_size=12),  # garbage
)
streams = st.lists(
    st.one_of(
        payloads.map(lambda p: frame(0x2, p)), texts, payloads.map(lambda p: frame(0x2, p)), texts
    )
    | controls
    | odd,
    max_size=12,
)


def outcome(conn: Connection, method: str, *args: object, **kwargs: object) -> tuple[object, ...]:
    """What a call did: its error, then the events, bytes out and states."""
    try:
        getattr(conn, method)(*args, **kwargs)
        error: tuple[object, ...] = ()
    except MexcError as exc:
        error = (type(exc), str(exc), getattr(exc, "close_code", None))
    return (
        error,
        list(conn.events()),
        conn.data_to_send(),
        conn.state,
        conn.session.state,
        conn._ws.state,  # wsproto's own view must agree too
    )


def pair(limit: int) -> tuple[Connection, Connection]:
    conns = (
        Connection(session_config=CFG, max_message_size=limit, fast_path=True),
        Connection(session_config=CFG, max_message_size=limit, fast_path=False),
    )
    for conn in conns:
        conn.subscribe([TOPIC], 0.0)
        conn.connect(0.0)
        conn.data_to_send()
    return conns


def differ(
    stream: bytes, cuts: list[int], limit: int, close_after: int | None, *, open_first: bool = False
) -> Connection:
    """Feed both connections; assert they agree after every piece; return the fast one."""
    fast, slow = pair(limit)
    if open_first:
        got = outcome(fast, "receive_data", SWITCHING, 0.5)
        assert got == outcome(slow, "receive_data", SWITCHING, 0.5)
    bounds = [0, *sorted(set(cuts)), len(stream)]
    for i, (a, b) in enumerate(itertools.pairwise(bounds)):
        if a == b:
            continue
        now = float(i + 1)
        want = outcome(slow, "receive_data", stream[a:b], now)
        got = outcome(fast, "receive_data", stream[a:b], now)
        assert got == want, f"piece {i}: stream[{a}:{b}]"
        if want[3] in (ConnectionState.ERROR, ConnectionState.CLOSED):
            return fast
        if close_after == i:
            assert outcome(fast, "close", now=now) == outcome(slow, "close", now=now)
    assert outcome(fast, "receive_data", b"", 99.0) == outcome(slow, "receive_data", b"", 99.0)
    return fast


@settings(max_examples=1000)
@given(
    frames=streams,
    limit=st.sampled_from([1024, 100_000]),
    with_handshake=st.booleans(),
    data=st.data(),
)
def test_the_fast_path_agrees_with_wsproto(
    frames: list[bytes], limit: int, with_handshake: bool, data: st.DataObject
) -> None:
    stream = (SWITCHING if with_handshake else b"") + b"".join(frames)
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=8), label="cuts")
    close_after = data.draw(st.none() | st.integers(0, 8), label="close_after")
    with zero_entropy():
        differ(stream, cuts, limit, close_after, open_first=not with_handshake)


def test_plain_frames_take_the_fast_path() -> None:
    binary = [frame(0x2, V1), frame(0x2, bytes(300)), frame(0x2, b"")] * 50
    mixed = [frame(0x2, V1), reply("pong"), frame(0x1, b"")] * 50
    with zero_entropy():
        for plain in (binary, mixed):
            stream = SWITCHING + b"".join(plain)
            cuts = list(range(0, len(stream), 997))
            fast = differ(stream, cuts, 100_000, None)
            # Unfinished binary frames are held until they are whole; a text frame
            # cut inside its payload goes to wsproto (UTF-8 errors name positions).
            taken = fast.fast_path_frames
            assert taken == len(plain) if plain is binary else taken >= len(plain) - len(cuts)


def test_after_control_frames_and_fragments_the_fast_path_resumes() -> None:
    others = frame(0x9, b"ping") + frame(0x2, b"ab", fin=False) + frame(0x0, b"cd")
    stream = SWITCHING + (frame(0x2, V1) + others) * 20
    with zero_entropy():
        fast = differ(stream, list(range(0, len(stream), 61)), 1024, None)
    assert fast.fast_path_frames == 20


@pytest.mark.parametrize("fast_path", [True, False])
def test_frames_after_a_refused_message_are_kept(fast_path: bool) -> None:
    # A session closed behind the connection's back refuses messages; wsproto keeps
    # the frames after the refused one in its buffer, and so does the fast path.
    with zero_entropy():
        conn = Connection(session_config=CFG, fast_path=fast_path)
        conn.connect(0.0)
        conn.receive_data(SWITCHING, 0.0)
        conn.data_to_send()
        conn.session.close()
        list(conn.events())
        fragmented = frame(0x2, b"a", fin=False) + frame(0x0, b"b")
        for now, first in enumerate((frame(0x2, V1), fragmented)):
            with pytest.raises(StateError):
                conn.receive_data(first + frame(0x9, b"hi"), 2 * now + 1)
            conn.receive_data(frame(0xA, b""), 2 * now + 2)  # the kept ping is answered now
            assert conn.data_to_send().startswith(b"\x8a\x82")


BIG = head(0x82, 70_000) + bytes(70_000)
EDGES = {
    "1 byte of a header": (frame(0x2, V1) + frame(0x2, b"x"), [len(frame(0x2, V1)) + 1]),
    "a 16-bit length cut": (head(0x82, 300) + bytes(300), [3]),
    "a 64-bit length cut": (BIG, [5]),
    "a 64-bit length then its payload cut": (BIG, [10, 40_000]),
    "a control frame with a 16-bit length": (head(0x89, 300), [3]),
    "a reserved opcode with a 64-bit length": (head(0x83, 70_000), [2]),
    "a text frame cut after its header": (frame(0x1, b"\xff" * 200), [4]),
    "a text frame cut in its payload": (frame(0x1, "é".encode() * 100), [5, 100]),
    "a binary frame above the limit, cut": (frame(0x2, bytes(2000)), [100, 1500]),
    "a masked frame cut": (frame(0x2, b"abc", masked=True), [3]),
    "a fragment cut, then plain frames": (
        frame(0x2, bytes(50), fin=False) + frame(0x0, bytes(50)) + frame(0x2, V1),
        [20, 70, 130],
    ),
    "a ping cut": (frame(0x9, b"12345") + frame(0x2, V1), [4]),
}


@pytest.mark.parametrize(("stream", "cuts"), EDGES.values(), ids=EDGES)
@pytest.mark.parametrize("limit", [1024, 100_000])
def test_edges_agree_with_wsproto(stream: bytes, cuts: list[int], limit: int) -> None:
    with zero_entropy():
        differ(stream, cuts, limit, None, open_first=True)
        differ(SWITCHING + stream, [len(SWITCHING) + c for c in cuts], limit, None)
