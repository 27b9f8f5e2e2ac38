"""Every scenario of docs/faults.rst ("The catalogue and its tests"), #1-#17, tested.

Each test runs the real anyio client (:class:`mexc_core.aio.MexcClient`) against the
simulator on 127.0.0.1, on asyncio and trio, with the transport faults injected by
the fault proxy (:mod:`mexc_sim.proxy`) and the protocol faults by the simulator. It
checks how fast the fault is detected (in virtual seconds: the client and the
simulator share a stepped clock, tests/util.py), that the client reconnects and
resubscribes, that the gap is signalled, and that nothing leaks: every socket the
scenario opened is closed afterwards (file descriptors counted), no task outlives
the client, and memory stays bounded over repeated faults. Real-time waits are
bounded by ``tests.util.FACTOR``.

Behaviour another part of the work still owes is written to its target and marked
``xfail(strict=True)`` with the reason: the mark fails the suite as soon as the
behaviour lands, so the mark is removed then.
"""

from __future__ import annotations

import gc
import json
import os
import socket
import ssl
import time as pytime
import tracemalloc
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import anyio
import pytest
import trustme

from mexc_core import rest
from mexc_core.aio.client import MexcClient
from mexc_core.aio.http import HttpClient
from mexc_core.client.pool import PoolConfig
from mexc_core.errors import SubscriptionError
from mexc_core.events import (
    BookResyncStarted,
    DisconnectCause,
    FrameRejected,
    GapCause,
    GapDetected,
    LinkDisconnected,
    LinkRotated,
    Push,
    StrayPushReceived,
    TopicsRejected,
    TopicsSubscribed,
)
from mexc_core.hookspecs import ClientContext, hookimpl
from mexc_core.session import SessionConfig
from mexc_sim.exchange import ExchangeConfig, default_markets
from mexc_sim.faults import Faults
from mexc_sim.protocol import SimConfig
from mexc_sim.proxy import FaultProxy, open_proxy
from mexc_sim.server import RunningSimulator, serve_in_thread
from mexc_sim.session import WsRules
from tests.util import FACTOR, EventRecorder, SteppedTime

pytestmark = pytest.mark.slow  # real sockets and a simulator thread

MARKETS = default_markets(4)
DEALS = [f"spot@public.aggre.deals.v3.api.pb@100ms@{m.symbol}" for m in MARKETS]
DEPTHS = [f"spot@public.aggre.depth.v3.api.pb@100ms@{m.symbol}" for m in MARKETS]
TOPICS = [DEPTHS[0], DEPTHS[1], DEALS[0]]
#: The client's defaults: a half-open link is found within ping interval + pong timeout.
KEEPALIVE = SessionConfig().ping_interval + SessionConfig().pong_timeout


def sim_config(**kwargs: Any) -> SimConfig:
    return SimConfig(exchange=ExchangeConfig(markets=MARKETS), **kwargs)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@contextmanager
def no_socket_leaks() -> Iterator[None]:
    """Every file descriptor opened inside the block is closed once it ends (the
    simulator closes its side when it notices, hence the bounded wait)."""
    before = open_fds()
    yield
    deadline = pytime.monotonic() + 5 * FACTOR
    while open_fds() > before and pytime.monotonic() < deadline:
        pytime.sleep(0.01)  # waiting for a condition, bounded
    assert open_fds() <= before, f"{open_fds() - before} file descriptors leaked"


@contextmanager
def simulator(time: SteppedTime, config: SimConfig | None = None) -> Iterator[RunningSimulator]:
    with serve_in_thread(config or sim_config(), clock=time.sim_clock()) as sim:
        yield sim


@asynccontextmanager
async def client_of(
    url: str,
    time: SteppedTime,
    *plugins: object,
    session: SessionConfig | None = None,
    **kwargs: Any,
) -> AsyncIterator[MexcClient]:
    """The real client on ``url``; on exit, no task it started is left running."""
    before = Counter(task.name for task in anyio.get_running_tasks())
    client = MexcClient(
        url,
        config=PoolConfig(session=session or SessionConfig(max_subscriptions=5)),
        clock=time,
        plugins=plugins,
        entry_points=False,
        close_timeout=2.0 * FACTOR,
        **kwargs,
    )
    async with client:
        yield client
    assert not client._transports
    # the proxy's tasks for the client's connections end as they notice the close

    def left() -> Counter[str | None]:
        return Counter(task.name for task in anyio.get_running_tasks()) - before

    try:
        await real(lambda: not left())
    except TimeoutError:
        raise AssertionError(f"tasks left running: {dict(left())}") from None


@asynccontextmanager
async def proxied(sim: RunningSimulator) -> AsyncIterator[FaultProxy]:
    async with open_proxy(sim.host, sim.port) as proxy:
        yield proxy
        # before the proxy stops (which ends every connection anyway): each connection
        # ended once its client had left
        await real(lambda: proxy.open == 0)


async def real(condition: Callable[[], bool], *, within: float = 10.0) -> None:
    """Wait, in real time and without moving the virtual clock, until ``condition()``."""
    with anyio.fail_after(within * FACTOR):
        while not condition():
            await anyio.sleep(0.005)


class Tally(EventRecorder):
    """Keeps every event but pushes, which it counts per topic (so that what the test
    keeps does not pass for what the client leaks)."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()

    @hookimpl
    def mexc_push_received(self, push: Push) -> None:
        self.counts[push.channel] += 1

    def count(self, topic: str | None = None) -> int:
        return self.counts.total() if topic is None else self.counts[topic]


def downs(recorder: EventRecorder) -> list[LinkDisconnected]:
    return [d for d in recorder.of(LinkDisconnected) if d.cause is not DisconnectCause.RETIRED]


def one_outage(recorder: Tally, cause: DisconnectCause) -> LinkDisconnected:
    """The scenario's one disconnect, of ``cause``, and its one gap, on every topic."""
    (down,) = downs(recorder)
    assert down.cause is cause
    (gap,) = recorder.of(GapDetected)
    assert set(gap.topics) == set(TOPICS)
    return down


async def recovered(
    client: MexcClient, recorder: Tally, time: SteppedTime, sim: RunningSimulator
) -> float:
    """Virtual seconds until every topic is carried again and pushes flow on each."""
    counts = {t: recorder.count(t) for t in client.topics}

    def flowing() -> bool:
        return all(
            client.pool.is_carried(t) and recorder.count(t) > counts[t] + 2 for t in client.topics
        )

    return await time.until(flowing, sim, within=30.0)


def traced_client_memory() -> int:
    """Bytes allocated by mexc_core code and still alive."""
    gc.collect()
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(inclusive=True, filename_pattern="*mexc_core*")]
    )
    return sum(stat.size for stat in snapshot.statistics("filename"))


# ---------------------------------------------------------------- 1: reset


def test_01_reset_mid_stream_is_seen_at_once_and_repaired_each_time(anyio_backend: str) -> None:
    """Five RSTs from the proxy: each is a LOST link within the same virtual instant, a
    jittered retry, a resubscription and one gap for the topics; memory stays flat."""
    time = SteppedTime()
    recorder = Tally()
    with no_socket_leaks(), simulator(time) as sim:

        async def scenario() -> None:
            async with proxied(sim) as proxy, client_of(proxy.url(), time, recorder) as client:
                with anyio.fail_after(10 * FACTOR):
                    await client.subscribe(TOPICS)
                await recovered(client, recorder, time, sim)
                tracemalloc.start()
                try:
                    sizes = []
                    for n in range(1, 6):
                        (before,) = client.pool.links()
                        assert proxy.reset() == 1
                        await real(lambda: len(downs(recorder)) >= n)  # noqa: B023 - awaited here
                        assert len(downs(recorder)) == n  # no virtual time passed
                        assert downs(recorder)[-1].cause is DisconnectCause.LOST
                        retry_in = downs(recorder)[-1].retry_in
                        assert retry_in is not None

                        def retrying() -> bool:
                            (link,) = client.pool.links()
                            return link.cid not in (None, before.cid)  # noqa: B023 - awaited here

                        # the backoff, in virtual time, to the step
                        waited = await time.until(retrying, sim, within=retry_in + 1.0)
                        assert waited <= retry_in + 0.05 + 1e-9
                        # connect, handshake and resubscribe in real time, the clock
                        # standing still (were it stepping, how far it got would depend
                        # on how fast the machine moves bytes through the proxy)
                        await real(lambda: len(recorder.of(TopicsSubscribed)) == n + 1)  # noqa: B023 - awaited here
                        # then the market's own pace, not the client's: a deals topic
                        # carries trades, a share of a Poisson process of 10 book events
                        # a second, so three deal pushes take a few virtual seconds (up
                        # to 3.7 seen); 10 s leaves room for an unlucky draw
                        took = await recovered(client, recorder, time, sim)
                        assert took <= 10.0
                        assert len(recorder.of(GapDetected)) == n
                        sizes.append(traced_client_memory())
                finally:
                    tracemalloc.stop()
                # the first resets warm caches; after that, no growth per fault
                assert sizes[-1] - sizes[1] < 64 * 1024, sizes
                assert proxy.open == 1

        anyio.run(scenario, backend=anyio_backend)
    retries = [d.retry_in for d in downs(recorder)]
    assert all(r is not None and r > 0 for r in retries)
    assert len(set(retries)) > 1  # jittered
    for gap in recorder.of(GapDetected):
        assert set(gap.topics) == set(TOPICS)
        assert gap.cause is GapCause.DISCONNECTED
    assert len(recorder.of(TopicsSubscribed)) == 6


# ---------------------------------------------------------------- 2: half-open


def test_02_a_half_open_link_is_aborted_within_the_keepalive_bound(anyio_backend: str) -> None:
    """The proxy stops forwarding, without a FIN: the client's PING goes unanswered and
    the link is aborted within ping interval + pong timeout (9 s by default)."""
    time = SteppedTime()
    recorder = Tally()
    with no_socket_leaks(), simulator(time) as sim:

        async def scenario() -> None:
            async with proxied(sim) as proxy, client_of(proxy.url(), time, recorder) as client:
                with anyio.fail_after(10 * FACTOR):
                    await client.subscribe(TOPICS)
                await recovered(client, recorder, time, sim)
                proxy.blackhole_open()
                took = await time.until(lambda: bool(downs(recorder)), sim, within=20.0)
                assert took <= KEEPALIVE + 0.1
                await recovered(client, recorder, time, sim)
                # the half-open connection is gone at the proxy too: only the new one
                await real(lambda: proxy.open == 1)

        anyio.run(scenario, backend=anyio_backend)
    one_outage(recorder, DisconnectCause.UNHEALTHY)


# ---------------------------------------------------------------- 3: no PONG


def test_03_a_server_that_stops_answering_ping_is_left(anyio_backend: str) -> None:
    """Pushes keep flowing, PONGs do not: the policy is to reconnect (a server that
    ignores PING will not honour subscriptions either), within the keepalive bound."""
    time = SteppedTime()
    recorder = Tally()
    with no_socket_leaks(), simulator(time) as sim:
        sim.call(lambda: sim.server.sim.queue_faults(Faults(no_pong=True)))

        async def scenario() -> None:
            async with client_of(sim.ws_url, time, recorder) as client:
                with anyio.fail_after(10 * FACTOR):
                    await client.subscribe(TOPICS)
                took = await time.until(lambda: bool(downs(recorder)), sim, within=20.0)
                assert took <= KEEPALIVE + 0.1
                assert recorder.count() > 50  # data flowed all along
                await recovered(client, recorder, time, sim)

        anyio.run(scenario, backend=anyio_backend)
    down = one_outage(recorder, DisconnectCause.UNHEALTHY)
    assert "pong" in down.reason.lower()


# ---------------------------------------------------------------- 4: slow consumer


class Stalled:
    """A plugin whose consumer stops reading its (blocking) stream until told."""

    def __init__(self) -> None:
        self.receiver: Any = None
        self.sender: Any = None

    @hookimpl
    def mexc_client_started(self, context: ClientContext) -> None:
        self.sender, self.receiver = context.open_stream(max_buffer=20, name="stalled")

    @hookimpl
    def mexc_push_received(self, push: object) -> None:
        self.sender.send_nowait(push)


def test_04_a_slow_consumer_bounds_memory_keeps_the_keepalive_and_signals_overflow(
    anyio_backend: str,
) -> None:
    time = SteppedTime()
    recorder = Tally()
    stalled = Stalled()
    flood = [t.replace("@100ms@", "@10ms@") for t in DEPTHS[:4]]
    session = SessionConfig(max_subscriptions=5, ping_interval=2.0, pong_timeout=1.5)
    with no_socket_leaks(), simulator(time) as sim:

        async def scenario() -> None:
            async with client_of(
                sim.ws_url, time, stalled, recorder, session=session, max_pending=100
            ) as client:
                with anyio.fail_after(10 * FACTOR):
                    await client.subscribe(flood)
                peak = 0

                def flooded() -> bool:
                    nonlocal peak
                    peak = max(peak, len(client.inbox))
                    # shed unread in episodes, or dropped by the inbox as a last resort
                    return client.pool.shedder.shed + client.inbox.dropped > 300

                await time.until(flooded, sim, within=30.0, step=0.1)
                await time.advance(8.0, sim, step=0.25)  # four pings and more
                assert client.stats.disconnects == 0
                assert peak <= 100 + 10
                assert len(stalled.receiver.buffer) <= 20 + 1
                # the consumer catches up: the overflow reaches it as a gap
                async with anyio.create_task_group() as tg:

                    async def drain() -> None:
                        async for _ in stalled.receiver:
                            pass

                    tg.start_soon(drain)

                    def overflow() -> bool:
                        return any(g.cause is GapCause.OVERFLOW for g in recorder.of(GapDetected))

                    await time.until(overflow, sim, within=10.0, step=0.1)
                    tg.cancel_scope.cancel()

        anyio.run(scenario, backend=anyio_backend)
    gaps = [g for g in recorder.of(GapDetected) if g.cause is GapCause.OVERFLOW]
    assert set().union(*(g.topics for g in gaps)) <= set(flood)


# ---------------------------------------------------------------- 5: oversized frame


def test_05_an_oversized_frame_fails_the_link_and_it_comes_back(anyio_backend: str) -> None:
    time = SteppedTime()
    recorder = Tally()
    with no_socket_leaks(), simulator(time) as sim:
        sim.call(lambda: sim.server.sim.queue_faults(Faults(oversize_at={5})))

        async def scenario() -> None:
            async with client_of(sim.ws_url, time, recorder) as client:
                with anyio.fail_after(10 * FACTOR):
                    await client.subscribe(TOPICS)
                took = await time.until(lambda: bool(downs(recorder)), sim, within=10.0)
                # the 5th push (at 0.2 s), plus 11 MiB on loopback while time steps on
                assert took <= 3.0
                await recovered(client, recorder, time, sim)

        anyio.run(scenario, backend=anyio_backend)
    one_outage(recorder, DisconnectCause.PROTOCOL_ERROR)


# ---------------------------------------------------------------- 6: malformed protobuf


def test_06_malformed_frames_are_counted_dropped_and_reading_goes_on(anyio_backend: str) -> None:
    time = SteppedTime()
    recorder = Tally()
    with no_socket_leaks(), simulator(time) as sim:
        # the first connection: three bad frames among good ones, then a reset; the
        # second: nothing but garbage; the third: clean
        first = Faults(garbage_at={4, 5}, truncate_at={8}, reset_after=3.0)
        sim.call(lambda: sim.server.sim.queue_faults(first, Faults(garbage_at=set(range(1, 60)))))

        async def scenario() -> None:
            async with client_of(sim.ws_url, time, recorder) as client:
                with anyio.fail_after(10 * FACTOR):
                    await client.subscribe(TOPICS)
                await time.until(lambda: len(recorder.of(FrameRejected)) == 3, sim, within=2.0)
                before = recorder.count()
                await time.advance(1.0, sim)
                assert recorder.count() > before  # reading went on
                assert not downs(recorder)
                # after 10 bad frames in a row the link is given up as unhealthy
                took = await time.until(lambda: len(downs(recorder)) >= 2, sim, within=10.0)
                assert took <= 3.0
                await recovered(client, recorder, time, sim)

        anyio.run(scenario, backend=anyio_backend)
    first_down, second_down = downs(recorder)
    assert first_down.cause is DisconnectCause.LOST
    assert second_down.cause is DisconnectCause.UNHEALTHY
    assert len(recorder.of(FrameRejected)) >= 3 + 10


@pytest.mark.xfail(
    strict=True,
    reason="gaps: a rejected frame is not yet a gap signal on the topics it may have "
    "carried (FrameRejected names no topic; no GapDetected for a deals topic)",
)
def test_06b_a_rejected_frame_is_a_gap_on_the_topics_it_may_have_carried(
    anyio_backend: str,
) -> None:
    time = SteppedTime()
    recorder = Tally()
    with simulator(time) as sim:
        sim.call(lambda: sim.server.sim.queue_faults(Faults(garbage_at={4})))

        async def scenario() -> None:
            async with client_of(sim.ws_url, time, recorder) as client:
                with anyio.fail_after(10 * FACTOR):
                    await client.subscribe([DEALS[0]])
                await time.until(lambda: bool(recorder.of(FrameRejected)), sim, within=5.0)
                await time.advance(1.0, sim)

        anyio.run(scenario, backend=anyio_backend)
    assert not downs(recorder)
    assert [g.topics for g in recorder.of(GapDetected)] == [(DEALS[0],)]


# ---------------------------------------------------------------- 7: unknown channel and fields


def test_07_unknown_channels_bodies_and_fields_are_counted_never_fatal(anyio_backend: str) -> None:
    time = SteppedTime()
    recorder = Tally()
    with no_socket_leaks(), simulator(time) as sim:
        plan = Faults(unknown_channel_at={3}, unknown_body_at={5}, unknown_field_at={7})
        sim.call(lambda: sim.server.sim.queue_faults(plan))

        async def scenario() -> None:
            async with client_of(sim.ws_url, time, recorder) as client:
                with anyio.fail_after(10 * FACTOR):
                    await client.subscribe(TOPICS)
                await time.until(lambda: len(recorder.of(StrayPushReceived)) == 2, sim, within=3.0)
                await time.advance(1.0, sim)
                assert client.stats.disconnects == 0

        anyio.run(scenario, backend=anyio_backend)
    assert not downs(recorder)
    assert not recorder.of(FrameRejected)  # the unknown field was skipped, the push delivered
    assert sim.server.sim.injected["unknown_field"] == 1
    reasons = sorted(s.reason.name for s in recorder.of(StrayPushReceived))
    assert reasons == ["UNKNOWN_BODY", "UNKNOWN_CHANNEL"]


# ---------------------------------------------------------------- 8: depth versions


def test_08_duplicate_reordered_and_skipped_depth_versions_resync_the_book(
    anyio_backend: str,
) -> None:
    """tests/test_aio_books.py compares every published view with the truth through the
    same faults; here: each fault is seen, the book resyncs and ends in sync."""
    time = SteppedTime()
    recorder = Tally()
    faults = Faults(depth_duplicate_at={10}, depth_reorder_at={20}, depth_skip_at={30})
    with no_socket_leaks(), simulator(time, sim_config(faults=faults)) as sim:

        async def scenario() -> None:
            async with client_of(sim.ws_url, time, recorder, rest_url=sim.rest_url) as client:
                with anyio.fail_after(10 * FACTOR):
                    book = await client.watch_book(MARKETS[0].symbol)
                await time.advance(6.0, sim, step=0.1)
                assert book.synced
                await client.unwatch_book(MARKETS[0].symbol)

        anyio.run(scenario, backend=anyio_backend)
    causes = {e.cause.value for e in recorder.of(BookResyncStarted)}
    assert "version_gap" in causes
    assert {"depth_duplicate", "depth_reorder", "depth_skip"} <= set(sim.server.sim.injected)
    assert not downs(recorder)


# ---------------------------------------------------------------- 9: listen key


@pytest.mark.xfail(
    strict=True,
    reason="reconcile: no REST reconciliation after a listen-key loss yet (orders placed "
    "while no key was valid are never reported)",
)
def test_09_a_listen_key_lost_mid_stream_is_replaced_and_private_state_reconciled(
    anyio_backend: str,
) -> None:
    """tests/test_aio_client.py::test_private_topics_ride_a_listen_key_through_its_loss
    covers the new key, the gap and the resubscription; the reconciliation is owed."""
    time = SteppedTime()
    recorder = Tally()
    orders = "spot@private.orders.v3.api.pb"
    with simulator(time) as sim:

        def wall_ms() -> int:
            return int(sim.call(lambda: sim.server.exchange.epoch_ms(sim.server.now())))

        async def scenario() -> None:
            credentials = rest.Credentials(sim.api_key, sim.api_secret)
            signer = rest.RestClient(credentials)
            async with client_of(
                sim.ws_url,
                time,
                recorder,
                credentials=credentials,
                rest_url=sim.rest_url,
                wall_ms=wall_ms,
            ) as client:
                with anyio.fail_after(10 * FACTOR):
                    await client.subscribe([orders])
                keys = sim.call(lambda: list(sim.server.exchange.listen_keys))
                sim.call(lambda: sim.server.exchange.expire_listen_key(keys[0], sim.server.now()))
                # an order placed while no key is valid: its push is lost for good
                async with HttpClient(sim.rest_url, timeout=5 * FACTOR) as http:
                    await http.request(
                        signer.place_order(
                            "BTCUSDT", "BUY", "LIMIT", wall_ms(), quantity="0.001", price="9"
                        )
                    )
                took = await time.until(lambda: bool(recorder.of(GapDetected)), sim, within=30.0)
                assert took <= 1.0
                await time.until(lambda: client.pool.is_carried(orders), sim, within=30.0)
                await time.advance(3.0, sim)

        anyio.run(scenario, backend=anyio_backend)
    names = {type(e).__name__ for e in recorder.events}
    assert "OrderReconciled" in names


# ---------------------------------------------------------------- 10: 24 h cut-off


def test_10_the_24h_cut_off_is_met_by_a_rotation_without_gap_or_duplicate(
    anyio_backend: str,
) -> None:
    """Scaled: the server closes at 40 s, the client rotates at 30 s (make-before-break).
    An unplanned clean close is scenario 1's path (test_aio_client, "clean-close")."""
    time = SteppedTime()
    recorder = Tally()
    session = SessionConfig(max_subscriptions=5, rotate_after=30.0, idle_timeout=None)
    with no_socket_leaks(), simulator(time, sim_config(rules=WsRules(max_age=40.0))) as sim:

        async def scenario() -> None:
            async with client_of(sim.ws_url, time, recorder, session=session) as client:
                with anyio.fail_after(10 * FACTOR):
                    await client.subscribe(TOPICS)
                await time.advance(70.0, sim, step=0.2)
                assert client.stats.rotations == 2

        anyio.run(scenario, backend=anyio_backend)
    assert [(r.old, r.new) for r in recorder.of(LinkRotated)] == [(1, 2), (2, 3)]
    assert not recorder.of(GapDetected)
    assert not downs(recorder)


# ---------------------------------------------------------------- 11: rejected subscription


def test_11_a_rejected_topic_fails_its_caller_and_the_others_are_carried(
    anyio_backend: str,
) -> None:
    time = SteppedTime()
    recorder = Tally()
    bad = "spot@public.aggre.deals.v3.api.pb@100ms@NOPEUSDT"
    with no_socket_leaks(), simulator(time) as sim:

        async def scenario() -> None:
            async with client_of(sim.ws_url, time, recorder) as client:
                with anyio.fail_after(10 * FACTOR), pytest.raises(SubscriptionError) as info:
                    await client.subscribe([*TOPICS, bad])
                assert info.value.topics == (bad,)
                assert all(client.pool.is_carried(t) for t in TOPICS)

        anyio.run(scenario, backend=anyio_backend)
    (rejected,) = recorder.of(TopicsRejected)
    assert rejected.topics == (bad,)
    assert not downs(recorder)


# ---------------------------------------------------------------- 12: DNS


def test_12_a_name_that_does_not_resolve_is_retried_with_backoff_until_it_does(
    anyio_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No real resolver: getaddrinfo is replaced; ``sim.test`` fails three times."""
    time = SteppedTime()
    recorder = Tally()
    real_getaddrinfo = socket.getaddrinfo
    failures = [3]

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host in ("sim.test", b"sim.test"):
            if failures[0] > 0:
                failures[0] -= 1
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            host = "127.0.0.1"
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    with no_socket_leaks(), simulator(time) as sim:
        url = f"ws://sim.test:{sim.port}/ws"

        async def scenario() -> None:
            async with client_of(url, time, recorder) as client:
                await client.subscribe(TOPICS, wait=False)
                await time.until(lambda: client.pool.is_carried(TOPICS[0]), sim, within=30.0)

        anyio.run(scenario, backend=anyio_backend)
    assert failures == [0]  # all three failures were met
    failed = downs(recorder)
    assert failed
    assert all(d.cause is DisconnectCause.CONNECT_FAILED for d in failed)
    assert all("cannot resolve the host" in d.reason for d in failed)
    retries = [d.retry_in for d in failed]
    assert all(r is not None and r > 0 for r in retries)  # backing off, not spinning


# ---------------------------------------------------------------- 13: TLS


def test_13_a_tls_verification_failure_waits_a_configuration_pause(
    anyio_backend: str,
) -> None:
    """A certificate the client does not trust: a configuration error, retried only after
    minutes (the positive case, with the CA loaded: test_aio_client.py)."""
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    time = SteppedTime()
    untrusted = Tally()
    with (
        no_socket_leaks(),
        serve_in_thread(sim_config(), clock=time.sim_clock(), ssl_context=server_context) as sim,
    ):

        async def scenario() -> None:
            async with client_of(sim.ws_url, time, untrusted) as client:
                await client.subscribe(TOPICS, wait=False)
                await time.until(lambda: bool(downs(untrusted)), sim, within=5.0)

        anyio.run(scenario, backend=anyio_backend)
    (down,) = downs(untrusted)
    assert "certificate verification failed" in down.reason
    assert down.retry_in is not None
    assert down.retry_in >= PoolConfig().backoff.configuration_pause / 2


@pytest.mark.xfail(
    strict=True,
    reason="hardening: subscribe() waits for the next retry (minutes away) after a TLS "
    "verification failure instead of failing within its ack deadline with the cause",
)
def test_13b_subscribe_fails_fast_on_a_tls_verification_failure(anyio_backend: str) -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    time = SteppedTime()
    with serve_in_thread(sim_config(), clock=time.sim_clock(), ssl_context=server_context) as sim:

        async def scenario() -> None:
            async with client_of(sim.ws_url, time, Tally()) as client:
                async with anyio.create_task_group() as tg:
                    outcome: list[BaseException] = []

                    async def subscribe() -> None:
                        try:
                            await client.subscribe(TOPICS)
                        except SubscriptionError as exc:
                            outcome.append(exc)

                    tg.start_soon(subscribe)
                    ack = SessionConfig().ack_timeout
                    try:
                        await time.until(lambda: bool(outcome), sim, within=ack + 1.0)
                    finally:
                        tg.cancel_scope.cancel()
                assert "certificate" in str(outcome[0])

        anyio.run(scenario, backend=anyio_backend)


def test_13c_a_reset_during_the_tls_handshake_is_transient_and_retried_soon(
    anyio_backend: str,
) -> None:
    """The ``wss://`` simulator behind the proxy, which resets each connection once
    200 bytes have passed (inside the TLS handshake: the ClientHello alone is larger).
    Unlike a verification failure this is transient: retried after the usual backoff,
    and once the line is clean the client (which trusts the CA) connects."""
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    time = SteppedTime()
    recorder = Tally()
    backoff = PoolConfig().backoff
    with (
        no_socket_leaks(),
        serve_in_thread(sim_config(), clock=time.sim_clock(), ssl_context=server_context) as sim,
    ):

        async def scenario() -> None:
            async with proxied(sim) as proxy:
                proxy.set(data_limit=200, data_limit_action="reset")
                async with client_of(
                    proxy.url("wss"), time, recorder, ssl_context=client_context
                ) as client:
                    await client.subscribe(TOPICS, wait=False)
                    await time.until(lambda: len(downs(recorder)) >= 2, sim, within=10.0)
                    proxy.clear()
                    took = await time.until(
                        lambda: all(client.pool.is_carried(t) for t in TOPICS), sim, within=30.0
                    )
                    assert took <= backoff.ceiling(len(downs(recorder))) + 1.0
                    assert proxy.accepted == len(downs(recorder)) + 1

        anyio.run(scenario, backend=anyio_backend)
    failed = downs(recorder)
    assert all(d.cause is DisconnectCause.CONNECT_FAILED for d in failed)
    assert not any("certificate" in d.reason for d in failed)
    for attempt, down in enumerate(failed):
        assert down.retry_in is not None
        assert 0 < down.retry_in <= backoff.ceiling(attempt)  # not the configuration pause


# ---------------------------------------------------------------- 14: refused and 429/5xx


@pytest.mark.parametrize("status", [429, 503])
def test_14_refused_and_throttled_handshakes_back_off(anyio_backend: str, status: int) -> None:
    """A refused port (the proxy with nobody behind), then the upgrade answered 429
    (Retry-After: 10) or 503; 4xx other than 429 is fatal (test_pool.py::test_refused_upgrades)."""
    time = SteppedTime()
    recorder = Tally()
    with no_socket_leaks(), simulator(time) as sim:
        sim.call(lambda: sim.server.sim.queue_faults(Faults(handshake_status=status)))

        async def scenario() -> None:
            async with client_of(sim.ws_url, time, recorder) as client:
                await client.subscribe(TOPICS, wait=False)
                await time.until(lambda: bool(downs(recorder)), sim, within=5.0)
                await time.until(lambda: client.pool.is_carried(TOPICS[0]), sim, within=30.0)

        anyio.run(scenario, backend=anyio_backend)
    (down,) = downs(recorder)
    assert down.cause is DisconnectCause.HANDSHAKE_REJECTED
    assert down.retry_in is not None
    if status == 429:
        assert down.retry_in >= 10.0
    else:
        assert down.retry_in < 5.0


# ---------------------------------------------------------------- 15: server idle rules


def test_15_the_keepalive_outruns_the_servers_idle_rule_on_a_quiet_topic(
    anyio_backend: str,
) -> None:
    """The server's 60 s "no data" rule scaled to 6 s and a topic silenced while the
    connection lives: the client's PING every 5 s keeps the connection open; the server's
    own WebSocket pings are answered (the simulator checks the pongs)."""
    time = SteppedTime()
    recorder = Tally()
    rules = WsRules(idle_no_data=6.0, ping_interval=2.0)
    with no_socket_leaks(), simulator(time, sim_config(rules=rules)) as sim:
        sim.call(lambda: sim.server.sim.queue_faults(Faults(silence={DEPTHS[0]: 1.0})))

        async def scenario() -> None:
            async with client_of(sim.ws_url, time, recorder) as client:
                with anyio.fail_after(10 * FACTOR):
                    await client.subscribe([DEPTHS[0]])
                await time.advance(30.0, sim, step=0.2)
                assert client.stats.disconnects == 0
                (session,) = sim.call(lambda: list(sim.server.sim.sessions.values()))
                assert session.ws_pings >= 14
                assert session.ws_pongs >= session.ws_pings - 1  # one may be in flight

        anyio.run(scenario, backend=anyio_backend)
    assert sim.server.sim.injected["silenced"] >= 100


@pytest.mark.xfail(
    strict=True,
    reason="gaps: no per-topic silence watchdog yet: a topic that stops while its "
    "connection lives is never signalled",
)
def test_15b_a_topic_silent_while_its_connection_lives_is_signalled(anyio_backend: str) -> None:
    time = SteppedTime()
    recorder = Tally()
    with simulator(time) as sim:
        sim.call(lambda: sim.server.sim.queue_faults(Faults(silence={DEPTHS[0]: 2.0})))

        async def scenario() -> None:
            async with client_of(sim.ws_url, time, recorder) as client:
                with anyio.fail_after(10 * FACTOR):
                    await client.subscribe(TOPICS)
                await time.until(lambda: bool(recorder.of(GapDetected)), sim, within=30.0)

        anyio.run(scenario, backend=anyio_backend)
    (gap,) = recorder.of(GapDetected)
    assert gap.topics == (DEPTHS[0],)


# ---------------------------------------------------------------- 16: fragmentation, latency


def test_16_one_byte_segments_and_latency_decode_without_false_timeouts(
    anyio_backend: str,
) -> None:
    """Real time: every byte in its own segment, 150 ms each way and a 50 kB/s line,
    with PING every 2 s and a 1.5 s pong deadline (above the 0.3 s round trip): no link
    falls, nothing is rejected.

    The market is a quiet one (2 book events a second, a fifth of the default): one
    byte per write and per read costs the proxy and the client (one event loop) a few
    hundred microseconds on a busy machine, and a stream near that capacity would
    queue up behind the line and make the pongs late for the machine's sake, not the
    client's."""
    recorder = Tally()
    session = SessionConfig(
        max_subscriptions=5, ping_interval=2.0 * FACTOR, pong_timeout=1.5 * FACTOR
    )
    quiet = SimConfig(exchange=ExchangeConfig(markets=default_markets(1, event_rate=2.0)))
    assert quiet.exchange.markets[0].symbol == MARKETS[0].symbol
    with no_socket_leaks(), serve_in_thread(quiet) as sim:

        async def scenario() -> None:
            async with proxied(sim) as proxy:
                proxy.set(segment=1, latency_up=150.0, latency_down=150.0, bandwidth=50_000.0)
                client = MexcClient(
                    proxy.url(),
                    config=PoolConfig(session=session),
                    plugins=[recorder],
                    entry_points=False,
                    close_timeout=2.0 * FACTOR,
                )
                async with client:
                    with anyio.fail_after(10 * FACTOR):
                        await client.subscribe(DEPTHS[:1])
                    (info,) = client.pool.links()
                    link: Any = client.pool._by_cid[info.cid or 0]  # the session inside
                    stats = link.conn.session.stats
                    await real(lambda: stats.pongs_received >= 3, within=30.0)
                    assert client.stats.disconnects == 0
                    assert recorder.count(DEPTHS[0]) > 5

        anyio.run(scenario, backend=anyio_backend)
    assert not downs(recorder)
    assert not recorder.of(FrameRejected)


# ---------------------------------------------------------------- 17: snapshot REST fails


def test_17_failing_snapshots_are_retried_with_backoff_while_the_book_waits(
    anyio_backend: str,
) -> None:
    time = SteppedTime()
    recorder = Tally()
    with no_socket_leaks(), simulator(time) as sim:
        faults = sim.server.sim.rest_faults
        sim.call(lambda: faults.fail("/api/v3/depth", 500, 3))
        symbol = MARKETS[0].symbol

        async def scenario() -> None:
            async with client_of(sim.ws_url, time, recorder, rest_url=sim.rest_url) as client:
                with anyio.fail_after(10 * FACTOR):
                    book = await client.watch_book(symbol)
                assert not book.synced
                took = await time.until(lambda: book.synced, sim, within=30.0, step=0.1)
                assert took >= 0.2  # three failures, with a backoff between them
                await client.unwatch_book(symbol)

        anyio.run(scenario, backend=anyio_backend)
        assert not sim.call(lambda: faults.errors["/api/v3/depth"])  # all three were used
    assert not downs(recorder)


# ---------------------------------------------------------------- 17: REST connections


@pytest.mark.parametrize("idle_close", [False, True], ids=["kept", "closed-while-idle"])
def test_17b_a_keep_alive_connection_closed_while_idle_is_replaced(
    anyio_backend: str, idle_close: bool
) -> None:
    """RestFaults.keepalive_idle: the simulator drops each keep-alive connection 0.2 s
    after its answer (a FIN, no ``Connection: close`` before it), as load balancers do.
    The HTTP client sees the idle connection is gone and sends the next request on a new
    one. Without the fault one connection carries every request. (A close that races the
    next request: tests/test_aio_http.py, test_a_request_lost_to_a_keep_alive_race...)"""
    signer = rest.RestClient()
    with no_socket_leaks(), serve_in_thread(sim_config()) as sim:
        if idle_close:
            sim.call(lambda: setattr(sim.server.sim.rest_faults, "keepalive_idle", 0.2))

        def sim_connections() -> int:
            return sim.call(lambda: len(sim.server.sim.connections))

        async def scenario() -> None:
            async with (
                proxied(sim) as proxy,
                HttpClient(proxy.url("http", ""), timeout=5 * FACTOR) as http,
            ):
                for _ in range(3):
                    answer = await http.request(signer.server_time())
                    assert answer.server_time > 0
                    if idle_close:
                        await real(lambda: sim_connections() == 0)  # the FIN is sent
                assert proxy.accepted == (3 if idle_close else 1)

        anyio.run(scenario, backend=anyio_backend)


def test_17c_a_body_delimited_by_the_close_is_read_to_the_end(anyio_backend: str) -> None:
    """RestFaults.close_delimited: no ``Content-Length``, no chunks, the body ends where
    the connection does (RFC 9112 section 6.3). A depth snapshot, written in 64-byte
    segments by the proxy, is read over many reads to the end of the stream; each
    answer has a connection of its own."""
    signer = rest.RestClient()
    symbol = MARKETS[0].symbol
    with no_socket_leaks(), serve_in_thread(sim_config()) as sim:
        sim.call(lambda: setattr(sim.server.sim.rest_faults, "close_delimited", True))

        async def scenario() -> None:
            async with (
                proxied(sim) as proxy,
                HttpClient(proxy.url("http", ""), timeout=5 * FACTOR) as http,
            ):
                proxy.set(segment=64)
                raw = await http.send("GET", f"/api/v3/depth?symbol={symbol}&limit=1000")
                assert raw.status == 200
                framing = {"content-length", "transfer-encoding"}
                assert not {name.lower() for name in raw.headers} & framing
                assert len(raw.body) > 16 * 64  # many segments
                parsed = json.loads(raw.body)  # whole: the last byte came before the FIN
                assert len(parsed["bids"]) > 10
                book = await http.request(signer.depth(symbol, 1000))
                assert book.bids
                assert book.asks
                assert proxy.accepted == 2

        anyio.run(scenario, backend=anyio_backend)
