"""The anyio client against the simulator on 127.0.0.1, on asyncio and trio.

Time is virtual (tests/util.py): the simulator and the client read the
same stepped clock, so pings, pong deadlines, backoff and rotation are exact on
any machine; only loopback I/O takes real time, bounded by tests.util.FACTOR.
The same scenarios run sans-IO, in memory, in test_pool.py.
"""

from __future__ import annotations

import itertools
import ssl
import time as pytime
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
import trustme

from mexc_core import rest
from mexc_core.aio.client import Endpoint, MexcClient, _single
from mexc_core.aio.http import HttpClient
from mexc_core.client.pool import PoolConfig
from mexc_core.errors import InvalidConfig, SubscriptionError
from mexc_core.events import (
    DisconnectCause,
    Event,
    GapCause,
    GapDetected,
    LinkDisconnected,
    LinkRotated,
    ListenKeyCreated,
    ListenKeyLost,
    PluginFailed,
    Push,
    TopicsRejected,
    TopicsSubscribed,
)
from mexc_core.hookspecs import ClientContext, StreamSender, hookimpl
from mexc_core.messages import PrivateOrdersV3Api, PublicAggreDealsV3Api
from mexc_core.session import SessionConfig
from mexc_sim.exchange import ExchangeConfig, default_markets
from mexc_sim.faults import Faults
from mexc_sim.protocol import SimConfig
from mexc_sim.server import RunningSimulator, serve_in_thread
from mexc_sim.session import WsRules
from tests.util import FACTOR, EventRecorder, SteppedTime

pytestmark = pytest.mark.slow  # real sockets, threads or subprocesses

MARKETS = default_markets(40)
DEALS = [f"spot@public.aggre.deals.v3.api.pb@100ms@{m.symbol}" for m in MARKETS]
DEPTHS = [f"spot@public.aggre.depth.v3.api.pb@100ms@{m.symbol}" for m in MARKETS]


def sim_config(markets: int = 8, **kwargs: Any) -> SimConfig:
    return SimConfig(exchange=ExchangeConfig(markets=default_markets(markets)), **kwargs)


@asynccontextmanager
async def running(
    sim: RunningSimulator,
    time: SteppedTime,
    *plugins: object,
    cap: int = 5,
    session: SessionConfig | None = None,
    **kwargs: Any,
) -> AsyncIterator[MexcClient]:
    session = session or SessionConfig(max_subscriptions=cap)
    client = MexcClient(
        sim.ws_url,
        config=PoolConfig(session=session),
        clock=time,
        plugins=plugins,
        entry_points=False,
        close_timeout=2.0 * FACTOR,
        **kwargs,
    )
    async with client:
        yield client


def served(config: SimConfig, time: SteppedTime) -> Any:
    return serve_in_thread(config, clock=time.sim_clock())


def trade_ids(pushes: list[Push]) -> list[int]:
    out: list[int] = []
    for push in pushes:
        assert isinstance(push.body, PublicAggreDealsV3Api)
        out.extend(int(d.trade_id) for d in push.body.deals)
    return out


def session_loads(sim: RunningSimulator) -> list[int]:
    return sim.call(lambda: sorted(len(s.topics) for s in sim.server.sim.sessions.values()))


# ---------------------------------------------------------------- sharding


def test_more_than_30_topics_shard_over_several_connections(anyio_backend: str) -> None:
    time = SteppedTime()
    recorder = EventRecorder()
    topics = DEPTHS[:36]
    with served(sim_config(40), time) as sim:

        async def scenario() -> None:
            async with running(sim, time, recorder, cap=10) as client:
                with anyio.fail_after(10 * FACTOR):
                    await client.subscribe(topics)
                assert session_loads(sim) == [6, 10, 10, 10]
                await time.until(
                    lambda: len({p.channel for p in recorder.pushes()}) > 30, sim, within=5.0
                )
                assert len(client.pool.links()) == 4

        anyio.run(scenario, backend=anyio_backend)
    assert len(recorder.of(TopicsSubscribed)) == 4
    assert {p.channel for p in recorder.pushes()} <= set(topics)


# ---------------------------------------------------------------- faults


@pytest.mark.parametrize(
    ("faults", "cause"),
    [
        (Faults(reset_after=2.0), DisconnectCause.LOST),
        (Faults(close_after=2.0), DisconnectCause.CLOSED),
        (Faults(blackhole_after=2.0), DisconnectCause.UNHEALTHY),
    ],
    ids=["reset", "clean-close", "half-open"],
)
def test_a_failed_connection_recovers_with_resubscription_and_a_gap(
    anyio_backend: str, faults: Faults, cause: DisconnectCause
) -> None:
    time = SteppedTime()
    recorder = EventRecorder()
    topics = DEPTHS[:3]
    with served(sim_config(), time) as sim:
        sim.call(lambda: sim.server.sim.queue_faults(faults))

        async def scenario() -> None:
            async with running(sim, time, recorder) as client:
                with anyio.fail_after(10 * FACTOR):
                    await client.subscribe(topics)
                took = await time.until(lambda: bool(recorder.of(GapDetected)), sim, within=15.0)
                # detection within ping interval + pong timeout even when half-open
                assert took <= 2.0 + 5.0 + 4.0 + 1.0
                before = len(recorder.pushes())
                await time.until(lambda: len(recorder.pushes()) > before + 10, sim, within=5.0)
                assert all(client.pool.is_carried(t) for t in topics)

        anyio.run(scenario, backend=anyio_backend)
    (down,) = [d for d in recorder.of(LinkDisconnected) if d.cause is not DisconnectCause.RETIRED]
    assert down.cause is cause
    (gap,) = recorder.of(GapDetected)
    assert gap.topics == tuple(topics)
    assert gap.cause is GapCause.DISCONNECTED
    assert len(recorder.of(TopicsSubscribed)) == 2
    # after the gap, each topic's versions run on without a hole
    for topic in topics:
        after = [
            p
            for p in recorder.pushes(topic)
            if recorder.events.index(p) > recorder.events.index(gap)
        ]
        assert after
        for first, second in itertools.pairwise(after):
            assert int(second.body.from_version) == int(first.body.to_version) + 1  # type: ignore[union-attr]


def test_a_rejected_topic_raises_instead_of_hanging(anyio_backend: str) -> None:
    time = SteppedTime()
    recorder = EventRecorder()
    bad = "spot@public.aggre.deals.v3.api.pb@100ms@NOPEUSDT"
    with served(sim_config(), time) as sim:

        async def scenario() -> None:
            async with running(sim, time, recorder) as client:
                with anyio.fail_after(10 * FACTOR), pytest.raises(SubscriptionError) as info:
                    await client.subscribe([DEALS[0], bad])
                assert info.value.topics == (bad,)
                assert info.value.failures[bad] == ("rejected", "Blocked!")
                assert client.topics == (DEALS[0],)
                assert client.pool.is_carried(DEALS[0])
                # already subscribed: returns at once
                with anyio.fail_after(10 * FACTOR):
                    await client.subscribe([DEALS[0]])

        anyio.run(scenario, backend=anyio_backend)


def test_bad_endpoints_are_refused() -> None:
    with pytest.raises(InvalidConfig):
        Endpoint("http://127.0.0.1/ws")
    with pytest.raises(InvalidConfig):
        Endpoint("wss://wbs-api.mexc.com/ws?listenKey=x")
    endpoint = Endpoint("wss://wbs-api.mexc.com/ws")
    assert (endpoint.host, endpoint.port, endpoint.tls, endpoint.path) == (
        "wbs-api.mexc.com",
        443,
        True,
        "/ws",
    )
    assert Endpoint("ws://127.0.0.1:8765").host_header == "127.0.0.1:8765"


# ---------------------------------------------------------------- rotation


def test_rotation_before_the_cut_off_delivers_without_gap_or_duplicate(anyio_backend: str) -> None:
    time = SteppedTime()
    recorder = EventRecorder()
    topics = DEALS[:3] + DEPTHS[:2]
    session = SessionConfig(max_subscriptions=5, rotate_after=30.0, idle_timeout=None)
    rules = WsRules(max_age=40.0)  # the simulator's "24 h", scaled down
    with served(sim_config(rules=rules), time) as sim:

        async def scenario() -> None:
            async with running(sim, time, recorder, session=session) as client:
                with anyio.fail_after(10 * FACTOR):
                    await client.subscribe(topics)
                await time.advance(70.0, sim, step=0.2)
                assert client.stats.rotations == 2

        anyio.run(scenario, backend=anyio_backend)
    rotated = recorder.of(LinkRotated)
    assert [(r.old, r.new) for r in rotated] == [(1, 2), (2, 3)]
    assert not recorder.of(GapDetected)
    # two rotations, then the close at the end
    assert [d.cause for d in recorder.of(LinkDisconnected)] == [DisconnectCause.RETIRED] * 3
    for topic in DEALS[:3]:
        ids = trade_ids(recorder.pushes(topic))
        assert ids == list(range(ids[0], ids[0] + len(ids)))  # no gap, no duplicate
    for topic in DEPTHS[:2]:
        pushes = recorder.pushes(topic)
        for first, second in itertools.pairwise(pushes):
            assert int(second.body.from_version) == int(first.body.to_version) + 1  # type: ignore[union-attr]


# ---------------------------------------------------------------- plugins and backpressure


class Hoarder:
    """A plugin that opens a BLOCK stream at start and never reads it."""

    def __init__(self, max_buffer: int = 20) -> None:
        self.max_buffer = max_buffer
        self.stream: Any = None

    @hookimpl
    def mexc_client_started(self, context: ClientContext) -> None:
        sender: StreamSender[Event]
        sender, _receiver = context.open_stream(max_buffer=self.max_buffer, name="hoard")
        self.stream = sender

        async def stalled() -> None:
            await anyio.sleep_forever()  # the consumer never consumes

        context.task_group.start_soon(stalled)

    @hookimpl
    def mexc_push_received(self, push: Push) -> None:
        self.stream.send_nowait(push)


class Raiser:
    """A plugin whose push hook always raises."""

    @hookimpl
    def mexc_aggre_depth_received(self, push: Push) -> None:
        raise RuntimeError(f"boom on {push.symbol}")


class Watcher:
    """A plugin that sees the failures of others."""

    def __init__(self) -> None:
        self.failed: list[PluginFailed] = []

    @hookimpl
    def mexc_plugin_failed(self, event: PluginFailed) -> None:
        self.failed.append(event)


def test_a_stalled_plugin_keeps_memory_bounded_and_keepalive_alive(anyio_backend: str) -> None:
    """A flood (10 ms depth) into a plugin whose consumer never reads its BLOCK stream."""
    time = SteppedTime()
    hoarder = Hoarder()
    topics = [t.replace("@100ms@", "@10ms@") for t in DEPTHS[:4]]
    session = SessionConfig(max_subscriptions=5, ping_interval=2.0, pong_timeout=1.5)
    with served(sim_config(), time) as sim:

        async def scenario() -> None:
            async with running(sim, time, hoarder, session=session, max_pending=100) as client:
                with anyio.fail_after(10 * FACTOR):
                    await client.subscribe(topics)
                peak = 0

                def flooded() -> bool:
                    nonlocal peak
                    peak = max(peak, len(client.inbox))
                    return client.pool.shedder.shed > 300  # left unread, not decoded

                await time.until(flooded, sim, within=30.0, step=0.1)
                await time.advance(12.0, sim, step=0.25)  # six pings and more
                assert client.stats.disconnects == 0
                for link in client.pool.links():
                    assert link.state.name == "OPEN"
                assert peak <= 100 + 10  # pushes plus a few lifecycle events
                assert len(hoarder.stream.buffer) <= hoarder.max_buffer + 1
                sessions = [link_conn(client, info).session.stats for info in client.pool.links()]
                assert all(s.pongs_received >= 6 for s in sessions)
                # the shedding episode lasts while the consumer is stalled; its end
                # will report one gap naming every topic shed
                assert client.pool.shedder.active
                assert set(client.pool.shedder.counts) == set(topics)

        anyio.run(scenario, backend=anyio_backend)


def link_conn(client: MexcClient, info: Any) -> Any:
    return client.pool._by_cid[info.cid].conn


def test_a_raising_plugin_is_reported_and_isolated(anyio_backend: str) -> None:
    time = SteppedTime()
    recorder = EventRecorder()
    watcher = Watcher()
    with served(sim_config(), time) as sim:

        async def scenario() -> None:
            async with running(sim, time, Raiser(), recorder, watcher) as client:
                with anyio.fail_after(10 * FACTOR):
                    await client.subscribe(DEPTHS[:2])
                await time.until(lambda: len(recorder.pushes()) > 20, sim, within=10.0)
                assert client.stats.disconnects == 0

        anyio.run(scenario, backend=anyio_backend)
    assert watcher.failed[0].hook == "mexc_aggre_depth_received"
    assert watcher.failed[0].failures == 1
    assert watcher.failed[0].error.startswith("RuntimeError: boom on ")
    assert [f.failures for f in watcher.failed] == [1, 10][: len(watcher.failed)]
    assert recorder.of(PluginFailed)  # also seen as an event


def test_pushes_and_events_streams(anyio_backend: str) -> None:
    time = SteppedTime()
    with served(sim_config(), time) as sim:

        async def scenario() -> None:
            async with running(sim, time) as client:
                events = client.events(TopicsSubscribed)
                async with client.stream(DEPTHS[0], max_buffer=3, policy="drop_oldest") as pushes:
                    await time.advance(3.0, sim)
                    got = [await pushes.receive() for _ in range(3)]
                    assert all(p.channel == DEPTHS[0] for p in got)
                    assert pushes.dropped > 0
                with anyio.fail_after(5 * FACTOR):
                    subscribed = await events.receive()
                assert isinstance(subscribed, TopicsSubscribed)
                assert client.topics == ()
                conflated = client.pushes(policy="conflate", max_buffer=10)
                await client.subscribe(DEPTHS[:2])
                await time.advance(3.0, sim)
                assert len(conflated.buffer) <= 2
                assert conflated.conflated > 0
                assert "pushes" in repr(conflated)
            assert conflated.closed
            assert [p async for p in conflated]  # what was queued is still read

        anyio.run(scenario, backend=anyio_backend)


# ---------------------------------------------------------------- private streams


class Private(EventRecorder):
    """Records private order pushes, typed, and listen-key events."""

    def __init__(self) -> None:
        super().__init__()
        self.orders: list[Any] = []
        self.keys: list[str] = []

    @hookimpl
    def mexc_private_orders_received(self, body: PrivateOrdersV3Api) -> None:
        assert isinstance(body, PrivateOrdersV3Api)
        self.orders.append(body)

    @hookimpl
    def mexc_listen_key_created(self, event: ListenKeyCreated) -> None:
        self.keys.append(event.key)

    @hookimpl
    def mexc_listen_key_lost(self, event: ListenKeyLost) -> None:
        self.keys.append("lost")


def test_private_topics_ride_a_listen_key_through_its_loss(anyio_backend: str) -> None:
    time = SteppedTime()
    private = Private()
    orders = "spot@private.orders.v3.api.pb"
    with served(sim_config(), time) as sim:

        def wall_ms() -> int:
            return int(sim.call(lambda: sim.server.exchange.epoch_ms(sim.server.now())))

        async def place_order() -> None:
            signer = rest.RestClient(rest.Credentials(sim.api_key, sim.api_secret))
            async with HttpClient(sim.rest_url, timeout=5 * FACTOR) as http:
                await http.request(
                    signer.place_order(
                        "BTCUSDT", "BUY", "LIMIT", wall_ms(), quantity="0.001", price="90000"
                    )
                )

        async def scenario() -> None:
            credentials = rest.Credentials(sim.api_key, sim.api_secret)
            async with running(
                sim, time, private, credentials=credentials, rest_url=sim.rest_url, wall_ms=wall_ms
            ) as client:
                with anyio.fail_after(10 * FACTOR):
                    await client.subscribe([orders, DEPTHS[0]])
                assert [link.private for link in client.pool.links()] == [False, True]
                await place_order()
                await time.until(lambda: bool(private.orders), sim, within=5.0)
                # MEXC drops the key: "Invalid listen key", a close, a new key, a gap
                key = private.keys[0]
                sim.call(lambda: sim.server.exchange.expire_listen_key(key, sim.server.now()))
                await time.until(lambda: bool(private.of(GapDetected)), sim, within=30.0)
                assert client.pool.is_carried(orders)
                count = len(private.orders)  # before the order: its push may beat the reply
                await place_order()
                await time.until(lambda: len(private.orders) > count, sim, within=5.0)

        anyio.run(scenario, backend=anyio_backend)
    assert private.keys[:2] == [private.keys[0], "lost"]
    assert len(private.keys) == 3
    assert private.keys[2] != private.keys[0]
    (gap,) = private.of(GapDetected)
    assert gap.topics == (orders,)


def test_refused_credentials_fail_a_private_subscribe_instead_of_hanging(
    anyio_backend: str,
) -> None:
    """Found in integration: with a refused key the caller waited for ever."""
    time = SteppedTime()
    with served(sim_config(), time) as sim:

        def wall_ms() -> int:
            return int(sim.call(lambda: sim.server.exchange.epoch_ms(sim.server.now())))

        async def scenario() -> None:
            forged = rest.Credentials(sim.api_key, "0" * 32)
            async with running(
                sim,
                time,
                EventRecorder(),
                credentials=forged,
                rest_url=sim.rest_url,
                wall_ms=wall_ms,
            ) as client:
                with anyio.fail_after(10 * FACTOR), pytest.raises(SubscriptionError) as info:
                    await client.subscribe(["spot@private.orders.v3.api.pb"])
                assert "listen_key_refused" in str(info.value)
                assert "700002" in str(info.value)

        anyio.run(scenario, backend=anyio_backend)


class Sleeper:
    """A badly written plugin: its hook blocks the event loop on every push."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.calls = 0

    @hookimpl
    def mexc_push_received(self) -> None:
        self.calls += 1
        pytime.sleep(self.seconds)  # never do this: a hook must return fast


def test_a_hook_blocking_the_loop_does_not_starve_the_keepalive(anyio_backend: str) -> None:
    """Real time (a blocked loop blocks any clock): every push blocks for 0.15 s, yet
    the readers and the keepalive get their turn between two hooks, so PINGs go out
    and PONGs are read in time; past the inbox's mark the pushes are shed unread."""
    session = SessionConfig(
        ping_interval=0.8 * FACTOR, pong_timeout=0.6 * FACTOR, data_silence_timeout=None
    )
    sleeper = Sleeper(0.15 * FACTOR)
    with serve_in_thread(sim_config()) as sim:

        async def scenario() -> None:
            client = MexcClient(
                sim.ws_url,
                config=PoolConfig(session=session),
                plugins=[sleeper],
                entry_points=False,
                max_pending=20,
                close_timeout=0.5 * FACTOR,
            )
            async with client:
                with anyio.fail_after(10 * FACTOR):
                    await client.subscribe(DEPTHS[:3])
                (info,) = client.pool.links()
                stats = link_conn(client, info).session.stats
                with anyio.fail_after(15 * FACTOR):
                    while stats.pings_sent < 3 or not client.pool.shedder.shed:
                        await anyio.sleep(0.05)  # the keepalive keeps going meanwhile
                assert client.stats.disconnects == 0
                assert stats.pongs_received >= stats.pings_sent - 1  # one may be in flight
                assert len(client.inbox) <= 20 + 5  # the backlog is bounded

        anyio.run(scenario, backend=anyio_backend)
    assert sleeper.calls >= 10


# ---------------------------------------------------------------- TLS and declared topics


class Declares:
    """A plugin that declares its topics (one of them not a topic at all)."""

    def __init__(self) -> None:
        self.stopped = False

    @hookimpl
    def mexc_subscriptions_wanted(self) -> list[str]:
        return [DEPTHS[0]]

    @hookimpl
    def mexc_client_stopping(self) -> None:
        self.stopped = True


class DeclaresNonsense:
    @hookimpl
    def mexc_subscriptions_wanted(self) -> list[str]:
        return ["spot@public.nope.v3.api.pb@BTCUSDT"]


def test_plugins_declare_their_topics(anyio_backend: str) -> None:
    time = SteppedTime()
    declares = Declares()
    recorder = EventRecorder()
    with served(sim_config(), time) as sim:

        async def scenario() -> None:
            async with running(sim, time, declares, DeclaresNonsense(), recorder) as client:
                assert client.topics == (DEPTHS[0],)
                await time.until(lambda: bool(recorder.pushes(DEPTHS[0])), sim, within=5.0)
                with pytest.raises(RuntimeError):
                    await MexcClient(sim.ws_url).subscribe([DEPTHS[0]])

        anyio.run(scenario, backend=anyio_backend)
    assert declares.stopped


def test_wss_with_a_trusted_ca_and_a_certificate_that_does_not_verify(anyio_backend: str) -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    time = SteppedTime()
    recorder = EventRecorder()
    with serve_in_thread(sim_config(), clock=time.sim_clock(), ssl_context=server_context) as sim:
        assert sim.ws_url.startswith("wss://")

        async def scenario() -> None:
            trusted = ssl.create_default_context()
            ca.configure_trust(trusted)
            async with running(sim, time, recorder, ssl_context=trusted) as client:
                with anyio.fail_after(10 * FACTOR):
                    await client.subscribe([DEPTHS[0]])
            # the system's CAs do not know the simulator's: a configuration error,
            # retried only after minutes, never in a storm
            async with running(sim, time, recorder) as client:
                await client.subscribe([DEPTHS[0]], wait=False)

                def refused() -> list[LinkDisconnected]:
                    downs = recorder.of(LinkDisconnected)
                    return [e for e in downs if e.cause is DisconnectCause.CONNECT_FAILED]

                await time.until(lambda: bool(refused()), sim, within=5.0)
                (down,) = refused()
                assert "certificate verification failed" in down.reason
                assert down.retry_in is not None
                assert down.retry_in >= PoolConfig().backoff.configuration_pause / 2

        anyio.run(scenario, backend=anyio_backend)


# ---------------------------------------------------------------- idle and errors


class CountingTime(SteppedTime):
    """Stepped time that counts the driver's sleeps, and those already due (spins)."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeps = 0
        self.spins = 0

    async def sleep_until(self, deadline: float) -> None:
        self.sleeps += 1
        if deadline <= self.value:
            self.spins += 1
        await super().sleep_until(deadline)


def test_an_idle_client_sleeps_after_a_subscription_the_server_ignored(
    anyio_backend: str,
) -> None:
    """Found in an attack: after a subscribe met a server that accepts the WebSocket
    and never answers, the idle client used a whole core (a deadline stuck in the
    past). Now the subscription is retried, and the idle client does not wake."""
    time = CountingTime()
    recorder = EventRecorder()
    session = SessionConfig(max_subscriptions=5, ack_timeout=2.0)
    with served(sim_config(), time) as sim:
        sim.call(lambda: sim.server.sim.queue_faults(Faults(blackhole_after=0.0)))

        async def scenario() -> None:
            async with running(sim, time, recorder, session=session) as client:
                await client.subscribe([DEALS[0]], wait=False)
                await time.until(lambda: client.pool.is_carried(DEALS[0]), sim, within=30.0)
                await client.unsubscribe([DEALS[0]])
                with anyio.fail_after(5 * FACTOR):
                    while client.pool.links():
                        await anyio.sleep(0.005)
                idle_from = time.sleeps
                for _ in range(50):  # let a spinning driver show itself
                    await anyio.sleep(0.002)
                assert time.sleeps == idle_from
                assert client.core.next_deadline() is None

        anyio.run(scenario, backend=anyio_backend)
    assert time.spins == 0
    causes = [d.cause for d in recorder.of(LinkDisconnected)]
    # silent from its first byte: the handshake or the subscription goes unanswered
    silent = (DisconnectCause.CONNECT_FAILED, DisconnectCause.ACK_TIMEOUT)
    assert causes == [causes[0], DisconnectCause.RETIRED]
    assert causes[0] in silent
    assert not recorder.of(TopicsRejected)


def test_an_error_inside_the_client_block_reaches_the_caller_as_itself(
    anyio_backend: str,
) -> None:
    """Found in an attack: user errors came out wrapped in an ExceptionGroup."""

    async def scenario() -> None:
        async with MexcClient("ws://127.0.0.1:9/ws", entry_points=False):
            raise KeyError("mine")

    with pytest.raises(KeyError, match="mine"):
        anyio.run(scenario, backend=anyio_backend)


def test_several_errors_stay_a_group() -> None:
    first, second = KeyError("a"), ValueError("b")
    assert _single(BaseExceptionGroup("x", [first, BaseExceptionGroup("y", [first])])) is first
    assert _single(BaseExceptionGroup("x", [first, second])) is None
