"""Fuzzing the whole frame-to-plugin path: bytes in, typed events out, the client alive.

A :class:`~mexc_core.testing.harness.CoreLoop` (a whole client core against the
simulator, in memory, on virtual time) opens its links and subscribes; then a
hostile server's bytes go into one open link, cut at arbitrary points: any bytes,
WebSocket frames with any opcode, RSV bits, mask, fragmentation and length
(the 64-bit lengths included), and well-framed messages carrying arbitrary
protobuf, mutated real pushes (``bench.corpus`` and the codec vectors of
``tests/vectors``) or arbitrary and mutated JSON replies. Every event goes
through a plugin :class:`~mexc_core.plugins.Dispatcher` to a recording plugin.

What must hold: nothing escapes ``receive_data``; every frame is accounted for (a
push, a stray, a :class:`~mexc_core.events.FrameRejected`, or the link goes down
with a typed cause); the harness's own checks hold at every step (no deadline in
the past, the pool's deadline heap right, no unmarked bytes); afterwards the
client carries its topics again, delivers fresh pushes, takes a new subscription
and keeps its book in sync; and what it buffers stays bounded.

``HYPOTHESIS_PROFILE=nightly`` runs many more examples (docs/testing.rst,
"Fuzzing"); ``tests/fuzz_atheris.py`` drives the same path with atheris.
"""

from __future__ import annotations

import itertools
import json
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.corpus import build
from mexc_core import errors, wire
from mexc_core.book.sync import BookState
from mexc_core.client.core import CoreConfig
from mexc_core.client.link import LinkState
from mexc_core.client.pool import PoolConfig
from mexc_core.events import (
    DisconnectCause,
    Event,
    FrameKind,
    FrameRejected,
    GapDetected,
    LinkDisconnected,
    PluginFailed,
    Push,
    StrayPushReceived,
    SubscribeCompleted,
)
from mexc_core.hookspecs import hookimpl
from mexc_core.messages import (
    PrivateOrdersV3Api,
    PublicAggreDealsV3Api,
    PublicAggreDealsV3ApiItem,
    PublicAggreDepthsV3Api,
    PublicAggreDepthV3ApiItem,
)
from mexc_core.plugins import Dispatcher, plugin_manager
from mexc_core.testing.harness import CoreLoop
from mexc_sim.exchange import ExchangeConfig, default_markets
from mexc_sim.protocol import SimConfig

MARKETS = default_markets(3)
DEALS = f"spot@public.aggre.deals.v3.api.pb@100ms@{MARKETS[0].symbol}"
BOOK_SYMBOL = MARKETS[1].symbol
DEPTH = f"spot@public.aggre.depth.v3.api.pb@100ms@{BOOK_SYMBOL}"
ORDERS = "spot@private.orders.v3.api.pb"
LATER = f"spot@public.aggre.deals.v3.api.pb@100ms@{MARKETS[2].symbol}"
#: The links' message size limit: small, so that oversized frames are cheap.
MAX_SIZE = 4096
#: Examples per property: a share of the profile's (tests/conftest.py), each
#: example runs a whole client for about a minute of virtual time.
EXAMPLES = max(10, settings().max_examples // 8)
#: Items any one buffer of the client may hold after the attack, at most.
BOUND = 1000

_RPE_NAMES = frozenset(
    cls.__name__
    for cls in vars(errors).values()
    if isinstance(cls, type) and issubclass(cls, errors.RemoteProtocolError)
)


# ---------------------------------------------------------------- frames


def ws_frame(
    opcode: int,
    payload: bytes,
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bytes | None = None,
    declared: int | None = None,
    form: int | None = None,
) -> bytes:
    """A WebSocket frame as a server might send it, honest or not.

    :param declared: the length written in the header (default: the payload's).
    :param form: 0, 1 or 2 for the 7-bit, 16-bit or 64-bit length form
        (default: the shortest for ``declared``).
    """
    n = len(payload) if declared is None else declared
    if form is None:
        form = 0 if n < 126 else 1 if n < 0x10000 else 2
    first = (0x80 if fin else 0) | (rsv & 7) << 4 | opcode & 0x0F
    mbit = 0x80 if mask is not None else 0
    if form == 0:
        head = bytes([first, mbit | n % 126])
    elif form == 1:
        head = bytes([first, mbit | 126]) + struct.pack("!H", n % 0x10000)
    else:
        head = bytes([first, mbit | 127]) + struct.pack("!Q", n % 2**64)
    if mask is not None:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        head += mask
    return head + payload


def _push(topic: str, n: int) -> bytes:
    """A valid push of ``topic`` (deals, or private orders)."""
    if topic == ORDERS:
        order = PrivateOrdersV3Api(id=f"C{n}", price="1", quantity="1", status=1)
        return wire.encode_push(topic, order, send_time=n)
    deals = PublicAggreDealsV3Api(
        deals=(PublicAggreDealsV3ApiItem(price=f"{n}.5", quantity="1", trade_type=1, time=n),),
        event_type="spot@public.aggre.deals.v3.api.pb@100ms",
    )
    return wire.encode_push(topic, deals, symbol=topic.rsplit("@", 1)[1], send_time=n)


_VECTORS = Path(__file__).parent / "vectors" / "push_frames.json"
#: Real push frames to mutate: a corpus slice, the codec vectors, and pushes of
#: the topics the client holds (so that mutations reach held topics). The corpus
#: has depth pushes of the book's symbol whose versions run far ahead of the
#: simulator's: one such push is one break, and the book syncs again.
SEEDS: tuple[bytes, ...] = (
    *build(30, seed=13).frames,
    *(bytes.fromhex(v["hex"]) for v in json.loads(_VECTORS.read_text())),
    *(_push(topic, n) for topic in (DEALS, ORDERS, LATER) for n in (1, 2)),
)
#: Real JSON replies to mutate.
REPLIES: tuple[str, ...] = (
    '{"id":0,"code":0,"msg":"PONG"}',
    f'{{"id":0,"code":0,"msg":"{DEALS}"}}',
    f'{{"id":0,"code":0,"msg":"{DEALS},{DEPTH}"}}',
    '{"id":0,"code":0,"msg":"Not Subscribed successfully! [spot@public.aggre.deals.v3.api.pb'
    '@100ms@NOPEUSDT].  Reason： Blocked! "}',
    '{"id":0,"code":1,"msg":"Invalid parameter"}',
    '{"code":0,"msg":"Invalid listen key"}',
    "Wrong listen key",
)


@st.composite
def mutated(draw: st.DrawFn, seeds: tuple[bytes, ...]) -> bytes:
    """A seed with a few bytes flipped, set, inserted, removed, or cut off."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        how = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
        if how == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif how == "set":
            data[pos] = draw(st.sampled_from([0x00, 0x7F, 0x80, 0xFF, 0x0A, 0x12]))
        elif how == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif how == "delete":
            del data[pos : pos + draw(st.integers(1, 8))]
        else:
            del data[pos:]
    return bytes(data)


binary_payloads = st.one_of(
    st.binary(max_size=200),  # arbitrary protobuf bytes
    mutated(SEEDS),
    st.sampled_from(SEEDS),  # valid pushes: the stream goes on between bad frames
)
text_payloads = st.one_of(
    st.text(max_size=100),
    mutated(tuple(r.encode() for r in REPLIES)).map(lambda m: m.decode("utf-8", "replace")),
    st.sampled_from(
        [
            '{"id":0,"code":"0","msg":5}',
            '{"id":1e400,"code":0,"msg":"x"}',
            '{"id":0,"code":0,"msg":"' + "A" * 3000 + '"}',
            "[" * 2000,
            '{"id":0,"code":0,"msg":[1,2]}',
            "null",
        ]
    ),
)


@dataclass(frozen=True)
class Message:
    """A well-framed message: what the session reads, one frame or fragments."""

    kind: FrameKind
    payload: bytes
    fragments: int = 1

    def encode(self) -> bytes:
        opcode = 0x2 if self.kind is FrameKind.BINARY else 0x1
        if self.fragments == 1:
            return ws_frame(opcode, self.payload)
        step = max(1, -(-len(self.payload) // self.fragments))
        parts = [self.payload[i : i + step] for i in range(0, len(self.payload), step)] or [b""]
        out = b""
        for i, part in enumerate(parts):
            out += ws_frame(opcode if i == 0 else 0x0, part, fin=i == len(parts) - 1)
        return out


messages = st.one_of(
    st.builds(Message, st.just(FrameKind.BINARY), binary_payloads, st.integers(1, 3)),
    st.builds(Message, st.just(FrameKind.TEXT), text_payloads.map(str.encode), st.integers(1, 3)),
)

hostile_frames = st.builds(
    ws_frame,
    st.integers(0, 15),
    st.binary(max_size=200) | mutated(SEEDS),
    fin=st.booleans(),
    rsv=st.sampled_from([0, 0, 0, 1, 2, 4, 7]),
    mask=st.none() | st.binary(min_size=4, max_size=4),
    declared=st.none()
    | st.integers(0, 2**64 - 1)
    | st.sampled_from([126, 0xFFFF, 0x10000, MAX_SIZE, MAX_SIZE + 1, 2**63 - 1, 2**63, 2**64 - 1]),
    form=st.none() | st.integers(0, 2),
)
oversized = st.builds(
    lambda opcode, extra: ws_frame(opcode, bytes(MAX_SIZE + extra)),
    st.sampled_from([0x1, 0x2]),
    st.integers(1, 64),
)
chunks = st.one_of(
    messages.map(Message.encode),
    hostile_frames,
    st.binary(min_size=1, max_size=64),
    oversized,
)


def cut(data: bytes, points: list[int]) -> list[bytes]:
    """``data`` cut at ``points`` (positions, in any order; empty pieces dropped)."""
    bounds = [0, *sorted({p % (len(data) + 1) for p in points}), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds) if a < b]


# ---------------------------------------------------------------- the client


class Recorder:
    """A plugin that records what the dispatcher hands it, and checks the typed
    hooks' promise (a raise here becomes a PluginFailed, which the tests refuse)."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.typed: list[str] = []

    @hookimpl
    def mexc_event_received(self, event: Event) -> None:
        self.events.append(event)

    @hookimpl
    def mexc_push_received(self, push: Push) -> None:
        self.events.append(push)

    @hookimpl
    def mexc_frame_rejected(self, event: FrameRejected) -> None:
        assert isinstance(event, FrameRejected)

    @hookimpl
    def mexc_aggre_deals_received(self, push: Push, body: PublicAggreDealsV3Api) -> None:
        assert type(body) is PublicAggreDealsV3Api, type(body)
        assert push.channel.startswith("spot@public.aggre.deals.v3.api.pb@")
        self.typed.append(push.channel)

    @hookimpl
    def mexc_aggre_depth_received(self, push: Push, body: PublicAggreDepthsV3Api) -> None:
        assert type(body) is PublicAggreDepthsV3Api, type(body)
        self.typed.append(push.channel)

    @hookimpl
    def mexc_private_orders_received(self, push: Push, body: PrivateOrdersV3Api) -> None:
        assert type(body) is PrivateOrdersV3Api, type(body)
        self.typed.append(push.channel)


@dataclass
class Client:
    """A client core on the simulator, its events dispatched to a :class:`Recorder`."""

    loop: CoreLoop
    recorder: Recorder
    dispatcher: Dispatcher
    failed: list[PluginFailed] = field(default_factory=list)

    def of(self, kind: type[Event], since: int = 0) -> list[Event]:
        return [e for e in self.loop.events[since:] if isinstance(e, kind)]

    def feed(self, cid: int, data: bytes) -> None:
        """Bytes from the hostile server on transport ``cid``, events collected."""
        self.loop.core.receive_data(cid, data, self.loop.now)
        self.collect()

    def collect(self) -> None:
        loop = self.loop
        for event in loop.core.events():
            loop.events.append(event)
            assert loop.on_event is not None
            loop.on_event(event)


def started(*, private: bool) -> Client:
    """A client holding deals, a book (and private orders), its pushes flowing."""
    pool = PoolConfig(host="127.0.0.1", max_message_size=MAX_SIZE)
    loop = CoreLoop(
        CoreConfig(pool=pool),
        SimConfig(exchange=ExchangeConfig(markets=MARKETS)),
        credentials=private,
    )
    recorder = Recorder()
    dispatcher = Dispatcher(plugin_manager(recorder, entry_points=False))
    client = Client(loop, recorder, dispatcher)
    loop.on_event = lambda event: client.failed.extend(dispatcher.dispatch(event))
    loop.start()
    loop.core.subscribe([DEALS, *([ORDERS] if private else [])], loop.now)
    loop.core.watch_book(BOOK_SYMBOL, loop.now)
    loop.run_for(3.0)
    assert loop.pool.is_carried(DEALS)
    assert loop.core.book(BOOK_SYMBOL).state is BookState.SYNCED
    return client


def target(client: Client, which: int) -> tuple[int, int]:
    """The (link id, cid) of one open link, chosen by ``which``."""
    links = [i for i in client.loop.pool.links() if i.state is LinkState.OPEN]
    assert links
    info = links[which % len(links)]
    assert info.cid is not None
    return info.link, info.cid


def check_bounded(client: Client) -> None:
    """What the client holds stays small, whatever it was fed."""
    core, pool = client.loop.core, client.loop.pool
    assert len(list(core.events())) < BOUND
    assert len(pool._events) < BOUND
    for link in pool._links.values():
        conn = link.conn
        if conn is None:
            continue
        assert len(conn._held) <= MAX_SIZE + 14
        assert conn._message_size <= MAX_SIZE
        assert len(conn._events) < BOUND
        assert len(conn.session._events) < BOUND
        assert len(conn.session._requests) < BOUND
    assert len(client.dispatcher._plans) < BOUND


def check_recovered(client: Client, since: int) -> None:
    """The client carries its topics again and delivers fresh pushes, takes a new
    subscription, keeps its book in sync, and no plugin saw a broken promise."""
    loop = client.loop
    ticket = loop.subscribe_ticket([LATER])
    loop.run_for(30.0)
    after = len(loop.events)
    loop.run_for(5.0)
    for topic in (t for t in (DEALS, DEPTH, ORDERS) if t in loop.pool.topics):
        assert loop.pool.is_carried(topic), topic
    assert any(isinstance(e, Push) and e.channel == DEALS for e in loop.events[after:])
    assert any(isinstance(e, Push) and e.channel == LATER for e in loop.events[after:])
    done = [e for e in client.of(SubscribeCompleted, since) if e.ticket == ticket]  # type: ignore[attr-defined]
    assert len(done) == 1
    assert done[0].confirmed == (LATER,)  # type: ignore[attr-defined]
    if DEPTH in loop.pool.topics:
        assert loop.core.book(BOOK_SYMBOL).state is BookState.SYNCED
    assert client.failed == []
    assert client.dispatcher.failures == {}
    check_bounded(client)


# ---------------------------------------------------------------- tests


@settings(max_examples=EXAMPLES)
@given(
    private=st.booleans(),
    which=st.integers(0, 3),
    stream=st.lists(messages, min_size=1, max_size=12),
    points=st.lists(st.integers(0, 10**6), max_size=10),
)
def test_every_well_framed_message_is_a_push_a_stray_or_rejected(
    private: bool, which: int, stream: list[Message], points: list[int]
) -> None:
    """Arbitrary payloads in honest frames: each message the session reads comes
    out as exactly one push (delivered, or counted as a duplicate or unwanted), a
    stray or a FrameRejected; a text message is a reply or rejected."""
    client = started(private=private)
    loop = client.loop
    link_id, cid = target(client, which)
    conn = loop.pool._links[link_id].conn
    assert conn is not None
    stats, pool_stats = conn.session.stats, loop.pool.stats
    before = (
        stats.binary_frames,
        stats.text_frames,
        stats.replies,
        pool_stats.duplicates,
        pool_stats.unwanted,
    )
    since = len(loop.events)
    for piece in cut(b"".join(m.encode() for m in stream), points):
        client.feed(cid, piece)
    binary = stats.binary_frames - before[0]
    text = stats.text_frames - before[1]
    rejected = client.of(FrameRejected, since)
    pushes = [e for e in client.of(Push, since) if isinstance(e, Push)]
    strays = client.of(StrayPushReceived, since)
    dropped = pool_stats.duplicates - before[3] + pool_stats.unwanted - before[4]
    bad_binary = [e for e in rejected if e.kind is FrameKind.BINARY]  # type: ignore[attr-defined]
    assert binary == len(pushes) + dropped + len(strays) + len(bad_binary)
    assert text == stats.replies - before[2] + len(rejected) - len(bad_binary)
    # every message was read, unless too many bad ones in a row took the link down
    down = [e for e in client.of(LinkDisconnected, since) if e.link == link_id]  # type: ignore[attr-defined]
    if down:
        assert down[0].cause in (  # type: ignore[attr-defined]
            DisconnectCause.UNHEALTHY,
            DisconnectCause.LISTEN_KEY,
            DisconnectCause.ACK_TIMEOUT,
        )
    else:
        assert binary + text == len(stream)
    # the recording plugin saw every event, pushes by their typed hooks
    assert client.recorder.events == loop.events
    assert client.failed == []
    check_recovered(client, since)


@settings(max_examples=EXAMPLES)
@given(
    private=st.booleans(),
    which=st.integers(0, 3),
    stream=st.lists(chunks, min_size=1, max_size=10),
    points=st.lists(st.integers(0, 10**6), max_size=12),
    pauses=st.lists(st.floats(0.0, 2.0), max_size=12),
)
def test_arbitrary_bytes_leave_the_client_working(
    private: bool, which: int, stream: list[bytes], points: list[int], pauses: list[float]
) -> None:
    """Anything a hostile server can send, cut anywhere, with time passing (and the
    simulator's own frames flowing) between pieces: nothing escapes, a link that
    goes down says why in typed terms, and the client recovers."""
    client = started(private=private)
    loop = client.loop
    link_id, cid = target(client, which)
    since = len(loop.events)
    for i, piece in enumerate(cut(b"".join(stream), points)):
        client.feed(cid, piece)
        if i < len(pauses):
            loop.run_for(pauses[i])
    for event in client.of(LinkDisconnected, since):
        assert isinstance(event, LinkDisconnected)
        if event.link != link_id or event.cause is not DisconnectCause.PROTOCOL_ERROR:
            continue
        # a protocol error names its typed error (and the close code it sent)
        assert event.reason.split(":", 1)[0] in _RPE_NAMES, event.reason
    check_recovered(client, since)
    down = [e for e in client.of(LinkDisconnected, since) if isinstance(e, LinkDisconnected)]
    if any(e.link == link_id and DEALS in e.topics for e in down):
        gaps = [e for e in client.of(GapDetected, since) if isinstance(e, GapDetected)]
        assert any(DEALS in g.topics for g in gaps)


HOSTILE_LENGTHS = [2**63 - 1, 2**63, 2**64 - 1, MAX_SIZE + 1, 2**32]


@pytest.mark.parametrize("declared", HOSTILE_LENGTHS)
@pytest.mark.parametrize("opcode", [0x1, 0x2, 0x0, 0x9])
def test_a_hostile_length_ends_the_link_with_a_typed_cause_and_bounded_memory(
    declared: int, opcode: int
) -> None:
    """A header claiming more than the limit (up to 2**64-1): nothing is buffered
    waiting for a payload that never ends, and by the time the payload passes the
    limit (or at once, for a frame that may not exist) the link is down with a
    typed protocol error."""
    client = started(private=False)
    loop = client.loop
    link_id, cid = target(client, 0)
    since = len(loop.events)
    client.feed(cid, ws_frame(opcode, b"", declared=declared, form=2))
    for _ in range(MAX_SIZE // 512 + 1):
        check_bounded(client)
        client.feed(cid, bytes(512))
    (down,) = [e for e in client.of(LinkDisconnected, since) if isinstance(e, LinkDisconnected)]
    assert down.link == link_id
    assert down.cause is DisconnectCause.PROTOCOL_ERROR
    name = down.reason.split(":", 1)[0]
    assert name in _RPE_NAMES
    if opcode in (0x1, 0x2) and 0x10000 <= declared < 2**63:  # (shortest form)
        assert name == "MessageTooBig"  # 1009 sent
    check_recovered(client, since)


def _deliver_all(client: Client, cid: int, pieces: list[bytes], step: Callable[[], None]) -> None:
    for piece in pieces:
        client.feed(cid, piece)
        step()


def test_a_message_above_the_limit_in_fragments_is_refused() -> None:
    """Fragments each under the limit, together above it: MessageTooBig, and the
    fragments are not kept."""
    client = started(private=False)
    loop = client.loop
    link_id, cid = target(client, 0)
    since = len(loop.events)
    part = bytes(MAX_SIZE // 2)
    frames = [ws_frame(0x2, part, fin=False)] + [ws_frame(0x0, part, fin=False)] * 3
    _deliver_all(client, cid, frames, client.collect)
    (down,) = [e for e in client.of(LinkDisconnected, since) if isinstance(e, LinkDisconnected)]
    assert (down.link, down.cause) == (link_id, DisconnectCause.PROTOCOL_ERROR)
    assert down.reason.startswith("MessageTooBig")
    check_recovered(client, since)


def test_one_push_far_ahead_does_not_break_every_later_push() -> None:
    """One well-formed depth push whose versions run far ahead of the stream is one
    break: the stream after it is read as a new run, and the book syncs again."""
    client = started(private=False)
    loop = client.loop
    _, cid = target(client, 0)
    since = len(loop.events)
    ahead = PublicAggreDepthsV3Api(
        bids=(PublicAggreDepthV3ApiItem(price="1.5", quantity="0"),),
        event_type="spot@public.aggre.depth.v3.api.pb@100ms",
        from_version="47602455256",
        to_version="47602455271",
    )
    client.feed(cid, ws_frame(0x2, wire.encode_push(DEPTH, ahead, symbol=BOOK_SYMBOL)))
    loop.run_for(60.0)
    gaps = [e for e in client.of(GapDetected, since) if DEPTH in e.topics]  # type: ignore[attr-defined]
    assert len(gaps) <= 2
    assert loop.core.book(BOOK_SYMBOL).state is BookState.SYNCED
