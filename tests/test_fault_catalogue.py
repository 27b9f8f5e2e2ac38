"""The fault catalogue (docs/faults.rst, "The catalogue"): one test per scenario, #1-#17.

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
import os
import time as pytime
import tracemalloc
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import anyio
import pytest

from mexc_core.aio.client import MexcClient
from mexc_core.client.pool import PoolConfig
from mexc_core.events import (
    DisconnectCause,
    FrameRejected,
    GapCause,
    GapDetected,
    LinkDisconnected,
    Push,
    TopicsSubscribed,
)
from mexc_core.hookspecs import ClientContext, hookimpl
from mexc_core.session import SessionConfig
from mexc_sim.exchange import ExchangeConfig, default_markets
from mexc_sim.faults import Faults
from mexc_sim.protocol import SimConfig
from mexc_sim.proxy import FaultProxy, open_proxy
from mexc_sim.server import RunningSimulator, serve_in_thread
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
    tasks = len(anyio.get_running_tasks())
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
    await real(lambda: len(anyio.get_running_tasks()) <= tasks)


@asynccontextmanager
async def proxied(sim: RunningSimulator) -> AsyncIterator[FaultProxy]:
    async with open_proxy(sim.host, sim.port) as proxy:
        yield proxy
    assert proxy.open == 0


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


async def recovered(
    client: MexcClient, recorder: Tally, time: SteppedTime, sim: RunningSimulator
) -> float:
    """Virtual seconds until every topic is carried again and pushes flow on each."""
    counts = {t: recorder.count(t) for t in client.topics}

    def flowing() -> bool:
        return all(
            client.pool.is_carried(t) and recorder.count(t) > counts[t] + 2
            for t in client.topics
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
                        assert proxy.reset() == 1
                        await real(lambda n=n: len(downs(recorder)) == n)  # no virtual time
                        assert downs(recorder)[-1].cause is DisconnectCause.LOST
                        retry_in = downs(recorder)[-1].retry_in
                        assert retry_in is not None
                        took = await recovered(client, recorder, time, sim)
                        # the backoff, then a few pushes; the stepped clock moves on while
                        # the new connection's bytes cross the proxy in real time
                        assert took <= retry_in + 5.0
                        assert len(recorder.of(GapDetected)) == n
                        sizes.append(traced_client_memory())
                finally:
                    tracemalloc.stop()
                # the first resets warm caches; after that, no growth per fault
                assert sizes[-1] - sizes[1] < 64 * 1024, sizes
                assert proxy.open == 1

        anyio.run(scenario, backend=anyio_backend)
    retries = [d.retry_in for d in downs(recorder)]
    assert all(r is not None and 0 < r < 5.0 for r in retries)
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
    (down,) = downs(recorder)
    assert down.cause is DisconnectCause.UNHEALTHY
    (gap,) = recorder.of(GapDetected)
    assert set(gap.topics) == set(TOPICS)


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
    (down,) = downs(recorder)
    assert down.cause is DisconnectCause.UNHEALTHY
    assert "pong" in down.reason.lower()
    (gap,) = recorder.of(GapDetected)
    assert set(gap.topics) == set(TOPICS)


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
                    return client.inbox.dropped > 300

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
    (down,) = downs(recorder)
    assert down.cause is DisconnectCause.PROTOCOL_ERROR
    (gap,) = recorder.of(GapDetected)
    assert set(gap.topics) == set(TOPICS)


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
