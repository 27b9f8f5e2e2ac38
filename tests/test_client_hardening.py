"""The client's edges: connection failures that must not leave ``subscribe()``
waiting, streams asked for after close, and wrong argument types through every
public API (issue 13). On asyncio and trio, against the simulator or a tiny
loopback server on 127.0.0.1.
"""

from __future__ import annotations

import itertools
import logging
import random
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.abc
import pytest
import trustme

from mexc_core.aio.client import MexcClient
from mexc_core.aio.errors import ConnectError, HandshakeFailed, TlsVerificationError
from mexc_core.aio.http import HttpClient
from mexc_core.aio.listenkey import ListenKeyKeeper
from mexc_core.aio.streams import STREAM_OVERFLOW, GapMarkingStream, StreamGap
from mexc_core.book.sync import BookConfig
from mexc_core.client.backpressure import OverflowPolicy
from mexc_core.client.core import ClientCore, CoreConfig
from mexc_core.client.pacer import SnapshotPacing
from mexc_core.client.pool import PoolConfig
from mexc_core.errors import (
    ArgumentTypeError,
    InvalidConfig,
    InvalidTopic,
    StateError,
    SubscriptionError,
    TopicTypeError,
)
from mexc_core.events import (
    Event,
    GapDetected,
    ListenKeyCreated,
    ListenKeyLost,
    ListenKeyLostReason,
    Push,
)
from mexc_core.hookspecs import ClientContext, hookimpl
from mexc_core.listenkey import (
    CloseListenKey,
    CreateListenKey,
    KeepAliveListenKey,
    ListenKeyConfig,
    ListenKeyManager,
    ListenKeyState,
)
from mexc_core.messages import PublicAggreDealsV3Api
from mexc_core.rest import Credentials, ListenKey, RestClient, shorten
from mexc_sim.exchange import ExchangeConfig, default_markets
from mexc_sim.faults import Faults
from mexc_sim.protocol import SimConfig
from mexc_sim.server import serve_in_thread
from tests.util import FACTOR, SteppedTime

DEAL = "spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT"
#: Nothing listens here: a client that never connects can still be started.
NOWHERE = "ws://127.0.0.1:9/ws"


def quiet_client(url: str = NOWHERE, **kwargs: Any) -> MexcClient:
    return MexcClient(url, entry_points=False, close_timeout=1.0 * FACTOR, **kwargs)


# ---------------------------------------------------------------- connection failures


@pytest.mark.slow
def test_subscribe_fails_at_once_when_the_certificate_does_not_verify(anyio_backend: str) -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    time = SteppedTime()
    config = SimConfig(exchange=ExchangeConfig(markets=default_markets(2)))
    with serve_in_thread(config, clock=time.sim_clock(), ssl_context=server_context) as sim:
        topic = f"spot@public.aggre.deals.v3.api.pb@100ms@{default_markets(2)[0].symbol}"

        async def scenario() -> None:
            # the system's CAs do not know the simulator's test CA
            async with quiet_client(sim.ws_url, clock=time) as client:
                with anyio.fail_after(5 * FACTOR), pytest.raises(TlsVerificationError) as caught:
                    await client.subscribe([topic])
                assert "certificate verification failed" in str(caught.value)
                # the next attempt is minutes away (virtual time has not moved)
                assert time.now() == 0.0
                assert client.topics == (topic,)  # still wanted: retried later

        anyio.run(scenario, backend=anyio_backend)


async def answer_with(status: str, body: bytes, stream: anyio.abc.ByteStream) -> None:
    """Read a request head, answer it with ``status`` and an HTML ``body``, close."""
    request = b""
    with anyio.fail_after(5 * FACTOR):
        while b"\r\n\r\n" not in request:
            request += await stream.receive()
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: text/html\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    await stream.send(head + body)
    await stream.aclose()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("status", "expected_status"),
    [("200 OK", 200), ("302 Found", 302), ("503 Service Unavailable", 503)],
)
def test_subscribe_fails_at_once_when_the_upgrade_is_answered_with_html(
    anyio_backend: str, status: str, expected_status: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mexc_core")
    page = b"<html><body>Welcome to the captive portal</body></html>"

    async def scenario() -> None:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        port = listener.extra(anyio.abc.SocketAttribute.local_port)

        async def serve(stream: anyio.abc.ByteStream) -> None:
            await answer_with(status, page, stream)

        async with listener, anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, serve)
            async with quiet_client(f"ws://127.0.0.1:{port}/ws") as client:
                with anyio.fail_after(5 * FACTOR), pytest.raises(HandshakeFailed) as caught:
                    await client.subscribe([DEAL])
                assert caught.value.status == expected_status
                assert "captive portal" in str(caught.value)
                assert "not 101 Switching Protocols" in str(caught.value)
                assert isinstance(caught.value, ConnectError)
            tg.cancel_scope.cancel()

    anyio.run(scenario, backend=anyio_backend)
    lines = [(r.name, r.levelname, r.getMessage()) for r in caplog.records]
    assert ("mexc_core.client", "INFO", "client started: ws://127.0.0.1:") in [
        (n, lv, m[: len("client started: ws://127.0.0.1:")]) for n, lv, m in lines
    ]
    (down,) = [m for n, lv, m in lines if n == "mexc_core.connection" and lv == "WARNING"]
    assert down.startswith(f"link 1 disconnected (handshake_rejected): HTTP {expected_status}")
    assert "retry in" in down


@pytest.mark.slow
def test_a_4xx_answer_still_rejects_the_topics(anyio_backend: str) -> None:
    async def scenario() -> None:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        port = listener.extra(anyio.abc.SocketAttribute.local_port)

        async def serve(stream: anyio.abc.ByteStream) -> None:
            await answer_with("404 Not Found", b"<html>no such page</html>", stream)

        async with listener, anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, serve)
            async with quiet_client(f"ws://127.0.0.1:{port}/ws") as client:
                with anyio.fail_after(5 * FACTOR), pytest.raises(SubscriptionError) as caught:
                    await client.subscribe([DEAL])
                assert caught.value.topics == (DEAL,)
                assert client.topics == ()  # refused for good: given up
            tg.cancel_scope.cancel()

    anyio.run(scenario, backend=anyio_backend)


# ---------------------------------------------------------------- after close


@pytest.mark.anyio
async def test_streams_asked_for_after_close_end_at_once() -> None:
    client = quiet_client()
    async with client:
        pass
    with anyio.fail_after(1 * FACTOR):
        async with client.pushes() as pushes:
            assert [p async for p in pushes] == []
        async with client.pushes(gaps=True) as marked:
            assert [p async for p in marked] == []
        async with client.events(GapDetected) as events:
            assert [e async for e in events] == []
    assert client._streams == []
    assert client._blocking == []


@pytest.mark.anyio
async def test_commands_after_close_raise_a_state_error() -> None:
    client = quiet_client()
    async with client:
        pass
    with pytest.raises(StateError, match="the client is closed"):
        await client.subscribe([DEAL])
    with pytest.raises(StateError, match="the client is closed"):
        await client.watch_book("BTCUSDT")
    with anyio.fail_after(1 * FACTOR), pytest.raises(StateError, match="the client is closed"):
        async with client.stream(DEAL):
            pytest.fail("stream() yielded on a closed client")  # pragma: no cover


# ---------------------------------------------------------------- wrong types


def core() -> ClientCore:
    config = CoreConfig(PoolConfig(), ListenKeyConfig(), BookConfig(), SnapshotPacing())
    started = ClientCore(config, rng=random.Random(1))
    started.start(0.0)
    return started


#: (what is called, the call, the exception, words the message must hold)
CORE_CASES: list[tuple[str, Callable[[Any], object], type[Exception], str]] = [
    ("subscribe(123)", lambda c: c.subscribe(123, 1.0), ArgumentTypeError, "topics must be"),
    ("subscribe(None)", lambda c: c.subscribe(None, 1.0), ArgumentTypeError, "not NoneType"),
    ("subscribe(bytes)", lambda c: c.subscribe(b"spot@x", 1.0), ArgumentTypeError, "decode it"),
    ("subscribe(str)", lambda c: c.subscribe(DEAL, 1.0), ArgumentTypeError, "wrap it in a list"),
    ("subscribe([bytes])", lambda c: c.subscribe([b"x"], 1.0), ArgumentTypeError, "topics[0]"),
    ("subscribe([DEAL, 7])", lambda c: c.subscribe([DEAL, 7], 1.0), ArgumentTypeError, "topics[1]"),
    ("subscribe(dict)", lambda c: c.subscribe({DEAL: 1}, 1.0), ArgumentTypeError, "not dict"),
    ("unsubscribe(123)", lambda c: c.unsubscribe(123, 1.0), ArgumentTypeError, "topics must be"),
    ("unsubscribe([None])", lambda c: c.unsubscribe([None], 1.0), ArgumentTypeError, "topics[0]"),
    ("watch_book(123)", lambda c: c.watch_book(123, 1.0), TopicTypeError, "symbol must be a str"),
    ("watch_book(None)", lambda c: c.watch_book(None, 1.0), TopicTypeError, "symbol"),
    ("watch_book(bytes)", lambda c: c.watch_book(b"BTCUSDT", 1.0), TopicTypeError, "symbol"),
    (
        "watch_book(interval=100)",
        lambda c: c.watch_book("BTCUSDT", 1.0, interval=100),
        TopicTypeError,
        "interval",
    ),
    (
        "unwatch_book(123)",
        lambda c: c.unwatch_book(123, 1.0),
        ArgumentTypeError,
        "symbol must be a str",
    ),
    ("book(123)", lambda c: c.book(123), ArgumentTypeError, "symbol must be a str"),
]


@pytest.mark.parametrize(
    ("name", "call", "error", "words"), CORE_CASES, ids=[c[0] for c in CORE_CASES]
)
def test_the_core_names_a_wrong_argument_type(
    name: str, call: Callable[[ClientCore], object], error: type[Exception], words: str
) -> None:
    target = core()
    with pytest.raises(error, match=words.replace("[", r"\[").replace("]", r"\]")) as caught:
        call(target)
    assert isinstance(caught.value, TypeError)  # every one of them is a TypeError
    assert target.topics == ()  # nothing was subscribed on the way


def test_a_topic_type_error_is_both_an_invalid_topic_and_a_type_error() -> None:
    assert issubclass(TopicTypeError, InvalidTopic)
    assert issubclass(TopicTypeError, TypeError)
    assert issubclass(TopicTypeError, ArgumentTypeError)


#: (what is called, the call, the exception, words the message must hold)
CLIENT_CASES: list[tuple[str, Callable[[Any], Awaitable[object]], type[Exception], str]] = [
    ("subscribe(123)", lambda c: c.subscribe(123), ArgumentTypeError, "topics must be"),
    ("subscribe(None)", lambda c: c.subscribe(None), ArgumentTypeError, "not NoneType"),
    ("subscribe(bytes)", lambda c: c.subscribe(b"..."), ArgumentTypeError, "decode it"),
    (
        "subscribe(timeout='1')",
        lambda c: c.subscribe([DEAL], timeout="1"),
        ArgumentTypeError,
        "timeout must be",
    ),
    ("unsubscribe(123)", lambda c: c.unsubscribe(123), ArgumentTypeError, "topics must be"),
    ("watch_book(123)", lambda c: c.watch_book(123), TopicTypeError, "symbol must be a str"),
    (
        "watch_book(timeout=[])",
        lambda c: c.watch_book("BTCUSDT", timeout=[]),
        ArgumentTypeError,
        "timeout must be",
    ),
    (
        "unwatch_book(None)",
        lambda c: c.unwatch_book(None),
        ArgumentTypeError,
        "symbol must be a str",
    ),
]


SYNC_CLIENT_CASES: list[tuple[str, Callable[[Any], object], type[Exception], str]] = [
    ("pushes(123)", lambda c: c.pushes(123), ArgumentTypeError, "topics[0]"),
    ("pushes(b'')", lambda c: c.pushes(b"x"), ArgumentTypeError, "decode it first"),
    (
        "pushes(max_buffer='9')",
        lambda c: c.pushes(max_buffer="9"),
        InvalidConfig,
        "capacity must be an int",
    ),
    ("pushes(policy=3)", lambda c: c.pushes(policy=3), ValueError, "OverflowPolicy"),
    ("pushes(key=3)", lambda c: c.pushes(key=3), ArgumentTypeError, "key must be a callable"),
    (
        "events('GapDetected')",
        lambda c: c.events("GapDetected"),
        ArgumentTypeError,
        "kinds[0] must be an Event class",
    ),
    ("events(int)", lambda c: c.events(int), ArgumentTypeError, "kinds[0]"),
    ("book(123)", lambda c: c.book(123), ArgumentTypeError, "symbol must be a str"),
]


@pytest.mark.parametrize(
    ("name", "call", "error", "words"), CLIENT_CASES, ids=[c[0] for c in CLIENT_CASES]
)
@pytest.mark.anyio
async def test_the_client_names_a_wrong_argument_type(
    name: str, call: Callable[[MexcClient], Awaitable[object]], error: type[Exception], words: str
) -> None:
    async with quiet_client() as client:
        with anyio.fail_after(1 * FACTOR), pytest.raises(error, match=words) as caught:
            await call(client)
        assert isinstance(caught.value, TypeError)
        assert client.topics == ()
        assert client.pool.links() == ()  # nothing was queued on the way


@pytest.mark.parametrize(
    ("name", "call", "error", "words"), SYNC_CLIENT_CASES, ids=[c[0] for c in SYNC_CLIENT_CASES]
)
@pytest.mark.anyio
async def test_the_client_streams_name_a_wrong_argument(
    name: str, call: Callable[[MexcClient], object], error: type[Exception], words: str
) -> None:
    async with quiet_client() as client:
        with pytest.raises(error, match=words.replace("[", r"\[").replace("]", r"\]")):
            call(client)
        assert client._streams == []  # nothing half-registered
        assert client._blocking == []


class ContextGrabber:
    """A plugin that keeps the context it is started with."""

    def __init__(self) -> None:
        self.context: ClientContext | None = None

    @hookimpl
    def mexc_client_started(self, context: ClientContext) -> None:
        self.context = context


PLUGIN_CASES: list[tuple[str, Callable[[Any], object], type[Exception], str]] = [
    ("watch_book(123)", lambda c: c.watch_book(123), TopicTypeError, "symbol must be a str"),
    (
        "watch_book(interval=1)",
        lambda c: c.watch_book("BTCUSDT", interval=1),
        TopicTypeError,
        "interval",
    ),
    (
        "open_stream(key=1)",
        lambda c: c.open_stream(key=1),
        ArgumentTypeError,
        "key must be a callable",
    ),
    (
        "open_stream(max_buffer=None)",
        lambda c: c.open_stream(max_buffer=None),
        InvalidConfig,
        "capacity",
    ),
]


@pytest.mark.parametrize(
    ("name", "call", "error", "words"), PLUGIN_CASES, ids=[c[0] for c in PLUGIN_CASES]
)
@pytest.mark.anyio
async def test_the_plugin_context_names_a_wrong_argument_type(
    name: str, call: Callable[[ClientContext], object], error: type[Exception], words: str
) -> None:
    grabber = ContextGrabber()
    async with quiet_client(plugins=[grabber]) as client:
        assert grabber.context is not None
        with pytest.raises(error, match=words):
            call(grabber.context)
        assert client.topics == ()


# ---------------------------------------------------------------- in-band gap markers


def deal_push(n: int, topic: str = DEAL) -> Push:
    return Push(channel=topic, body=PublicAggreDealsV3Api(), send_time=n)


async def drain(stream: GapMarkingStream) -> list[Push | StreamGap]:
    stream.close()
    return [item async for item in stream]


@pytest.mark.anyio
async def test_a_drop_oldest_stream_marks_the_hole_where_it_is() -> None:
    stream = GapMarkingStream(3, OverflowPolicy.DROP_OLDEST)
    for n in range(5):  # 0 and 1 are dropped for 3 and 4
        stream.send_nowait(deal_push(n))
    first = await stream.receive()
    assert first == StreamGap(cause=STREAM_OVERFLOW, topics=(), missed=2)
    assert (await stream.receive()).send_time == 2  # type: ignore[union-attr]
    stream.send_nowait(deal_push(5))  # fits: no new marker
    assert [getattr(i, "send_time", i) for i in await drain(stream)] == [3, 4, 5]


@pytest.mark.anyio
async def test_a_conflating_stream_marks_evicted_keys_but_not_replacements() -> None:
    topics = [f"{DEAL[:-7]}{s}" for s in ("AUSDT", "BUSDT", "CUSDT")]
    stream = GapMarkingStream(2, OverflowPolicy.CONFLATE)
    stream.send_nowait(deal_push(1, topics[0]))
    stream.send_nowait(deal_push(2, topics[0]))  # replaces 1: no gap
    assert await stream.receive() == deal_push(2, topics[0])
    for n, topic in enumerate(topics):  # three keys in two places: the first is evicted
        stream.send_nowait(deal_push(10 + n, topic))
    items = await drain(stream)
    assert items[0] == StreamGap(cause=STREAM_OVERFLOW, topics=(), missed=1)
    assert [i.channel for i in items[1:]] == topics[1:]  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_a_blocking_stream_never_marks_by_itself() -> None:
    stream = GapMarkingStream(2, OverflowPolicy.BLOCK)
    for n in range(4):
        stream.send_nowait(deal_push(n))
    assert all(isinstance(i, Push) for i in await drain(stream))


@pytest.mark.slow
def test_a_disconnect_reaches_a_gap_marking_stream_in_band(anyio_backend: str) -> None:
    time = SteppedTime()
    markets = default_markets(4)
    topics = [f"spot@public.aggre.depth.v3.api.pb@100ms@{m.symbol}" for m in markets[:2]]
    config = SimConfig(exchange=ExchangeConfig(markets=markets))
    with serve_in_thread(config, clock=time.sim_clock()) as sim:
        sim.call(lambda: sim.server.sim.queue_faults(Faults(reset_after=2.0)))

        async def scenario() -> None:
            async with quiet_client(sim.ws_url, clock=time) as client:
                marked = client.pushes(topics[0], gaps=True)
                plain = client.pushes(topics[0], policy="drop_oldest")
                with anyio.fail_after(10 * FACTOR):
                    await client.subscribe(topics)
                seen: list[Push | StreamGap] = []

                async def consume() -> None:
                    async for item in marked:
                        seen.append(item)  # noqa: PERF401 - read while it runs

                async with anyio.create_task_group() as tg:
                    tg.start_soon(consume)
                    await time.until(
                        lambda: (
                            any(isinstance(i, StreamGap) for i in seen)
                            and isinstance(seen[-1], Push)
                        ),
                        sim,
                        within=20.0,
                    )
                    tg.cancel_scope.cancel()
                (marker,) = [i for i in seen if isinstance(i, StreamGap)]
                assert marker.cause == "disconnected"
                assert marker.topics == (topics[0],)  # only the stream's own topic
                assert marker.gap is not None
                assert set(marker.gap.topics) == set(topics)
                # after the marker, the depth versions run on without a hole
                after = [i for i in seen[seen.index(marker) + 1 :] if isinstance(i, Push)]
                for first, second in itertools.pairwise(after):
                    assert int(second.body.from_version) == int(first.body.to_version) + 1  # type: ignore[union-attr]
                # the plain stream got the pushes, and no marker (its type says so)
                assert len(plain.buffer)
                assert all(isinstance(p, Push) for p in plain.buffer._items)

        anyio.run(scenario, backend=anyio_backend)


# ---------------------------------------------------------------- listen keys


def test_the_manager_abandons_a_keepalive_in_flight_when_the_key_is_lost() -> None:
    manager = ListenKeyManager(ListenKeyConfig(keepalive_interval=60.0))
    manager.start(0.0)
    (create,) = manager.intents()
    manager.receive_result(create.request_id, ListenKey("k" * 64), 1.0)
    manager.handle_timer(61.0)
    (keepalive,) = manager.intents()
    assert isinstance(keepalive, KeepAliveListenKey)
    assert manager.abandoned() == []
    manager.key_invalidated(62.0)
    assert manager.abandoned() == [keepalive.request_id]
    assert manager.abandoned() == []  # each once
    (recreate,) = manager.intents()
    assert isinstance(recreate, CreateListenKey)
    # the abandoned keepalive's late answer changes nothing
    manager.receive_result(keepalive.request_id, ListenKey("k" * 64), 63.0)
    assert manager.state is ListenKeyState.CREATING


def test_a_keepalive_not_handed_out_yet_is_dropped_not_abandoned() -> None:
    manager = ListenKeyManager(ListenKeyConfig(keepalive_interval=60.0))
    manager.start(0.0)
    (create,) = manager.intents()
    manager.receive_result(create.request_id, ListenKey("k" * 64), 1.0)
    manager.handle_timer(61.0)  # the keepalive waits in the outbox
    manager.key_invalidated(62.0)
    assert manager.abandoned() == []
    assert [type(i) for i in manager.intents()] == [CreateListenKey]


def test_closing_abandons_what_is_in_flight() -> None:
    manager = ListenKeyManager(ListenKeyConfig(keepalive_interval=60.0))
    manager.start(0.0)
    (create,) = manager.intents()
    manager.receive_result(create.request_id, ListenKey("k" * 64), 1.0)
    manager.handle_timer(61.0)
    (keepalive,) = manager.intents()
    manager.close(62.0)
    assert manager.abandoned() == [keepalive.request_id]
    assert [type(i) for i in manager.intents()] == [CloseListenKey]


@pytest.mark.slow
def test_an_invalidated_key_is_replaced_while_its_keepalive_hangs(
    anyio_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="mexc_core")
    time = SteppedTime()
    with serve_in_thread(SimConfig(), clock=time.sim_clock()) as sim:
        signing = RestClient(Credentials(sim.api_key, sim.api_secret))

        def wall_ms() -> int:
            return sim.call(lambda: sim.server.exchange.epoch_ms(sim.server.now()))

        seen: list[Event] = []

        async def scenario() -> None:
            # the HTTP timeout is far longer than the test may take: only the
            # keeper's cancelling of the hanging keepalive can make it pass
            async with HttpClient(sim.rest_url, timeout=120.0 * FACTOR) as http:
                keeper = ListenKeyKeeper(
                    http,
                    signing,
                    manager=ListenKeyManager(ListenKeyConfig(keepalive_interval=60.0)),
                    clock=time,
                    wall_ms=wall_ms,
                    on_event=seen.append,
                )
                async with anyio.create_task_group() as tg:
                    tg.start_soon(keeper.run)
                    await time.until(lambda: keeper.key is not None, sim, within=5.0)
                    first = keeper.key
                    assert first is not None
                    faults = sim.server.sim.rest_faults
                    sim.call(lambda: faults.hang.update({"/api/v3/userDataStream": 1}))
                    await time.advance(61.0, sim, step=1.0)  # the keepalive goes out, hangs
                    assert keeper.manager.state is ListenKeyState.RENEWING
                    assert len(keeper._in_flight) == 1
                    sim.call(lambda: sim.server.exchange.expire_listen_key(first, time.now()))
                    invalidated_at = time.now()
                    keeper.invalidated()
                    with anyio.fail_after(5 * FACTOR):
                        while keeper.key in (None, first):
                            await anyio.sleep(0.01)
                    assert time.now() == invalidated_at  # no virtual time passed either
                    assert keeper._in_flight == {}  # the hanging keepalive was cancelled
                    keeper.close()

        anyio.run(scenario, backend=anyio_backend)
    kinds = [type(e).__name__ for e in seen]
    assert kinds == [
        "ListenKeyCreated",
        "ListenKeyLost",
        "ListenKeyCreated",
        "ListenKeyClosed",
    ]
    lost = seen[1]
    assert isinstance(lost, ListenKeyLost)
    assert lost.reason is ListenKeyLostReason.INVALIDATED
    # the lifecycle is logged, each key only shortened
    keys = [e.key for e in seen if isinstance(e, ListenKeyCreated)]
    lines = [r.getMessage() for r in caplog.records if r.name == "mexc_core.listenkey"]
    assert lines == [
        f"listen key {shorten(keys[0])} created",
        f"listen key {shorten(keys[0])} lost (invalidated); creating a new one",
        f"listen key {shorten(keys[1])} created",
        "listen key closed (deleted)",
    ]
    assert all(key not in caplog.text for key in keys)


class KeyEvents:
    """A plugin that keeps the listen-key events, in order."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    @hookimpl
    def mexc_listen_key_created(self, event: ListenKeyCreated) -> None:
        self.events.append(event)

    @hookimpl
    def mexc_listen_key_lost(self, event: ListenKeyLost) -> None:
        self.events.append(event)


@pytest.mark.slow
def test_the_client_replaces_an_invalidated_key_while_its_keepalive_hangs(
    anyio_backend: str,
) -> None:
    time = SteppedTime()
    keys = KeyEvents()
    orders = "spot@private.orders.v3.api.pb"
    with serve_in_thread(SimConfig(), clock=time.sim_clock()) as sim:

        def wall_ms() -> int:
            return int(sim.call(lambda: sim.server.exchange.epoch_ms(sim.server.now())))

        async def scenario() -> None:
            async with quiet_client(
                sim.ws_url,
                clock=time,
                plugins=[keys],
                credentials=Credentials(sim.api_key, sim.api_secret),
                rest_url=sim.rest_url,
                wall_ms=wall_ms,
                listen_key=ListenKeyConfig(keepalive_interval=60.0),
            ) as client:
                with anyio.fail_after(10 * FACTOR):
                    await client.subscribe([orders])
                faults = sim.server.sim.rest_faults
                sim.call(lambda: faults.hang.update({"/api/v3/userDataStream": 1}))
                await time.advance(61.0, sim, step=1.0)  # the keepalive goes out, hangs
                listen_keys = client.core.listen_keys
                assert listen_keys is not None
                assert listen_keys.state is ListenKeyState.RENEWING
                first = listen_keys.key
                assert first is not None
                sim.call(lambda: sim.server.exchange.expire_listen_key(first, time.now()))
                # the hanging keepalive (HTTP timeout: 10 s of real time) holds nothing back
                with anyio.fail_after(5 * FACTOR):
                    took = await time.until(
                        lambda: (
                            len([e for e in keys.events if isinstance(e, ListenKeyCreated)]) == 2
                        ),
                        sim,
                        within=5.0,
                    )
                assert took < 1.0  # virtual seconds from the invalidation to the new key

        anyio.run(scenario, backend=anyio_backend)
    kinds = [type(e).__name__ for e in keys.events]
    assert kinds == ["ListenKeyCreated", "ListenKeyLost", "ListenKeyCreated"]
