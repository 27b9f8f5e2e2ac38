"""The anyio client under a flood it cannot deliver: shedding before decoding.

A plugin's consumer stalls (its BLOCK stream is full) while four 10 ms depth
topics flood the client: the inbox fills to its shedding mark, the sessions then
count frames unread instead of decoding them (decodes are counted by wrapping the
decoder), the keepalive goes on, and when the consumer resumes the episode ends
in one gap per topic whose counts equal the frames shed. Virtual time on the
simulator, on asyncio and trio.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from mexc_core import wire
from mexc_core.aio.client import MexcClient
from mexc_core.client.pool import PoolConfig
from mexc_core.events import Event, GapCause, GapDetected, Push
from mexc_core.hookspecs import ClientContext, StreamSender, hookimpl
from mexc_core.session import SessionConfig, SessionStats
from mexc_sim.exchange import ExchangeConfig, default_markets
from mexc_sim.protocol import SimConfig
from mexc_sim.server import serve_in_thread
from tests.util import FACTOR, EventRecorder, SteppedTime

pytestmark = pytest.mark.slow  # real sockets and a simulator thread

MARKETS = default_markets(8)
TOPICS = [f"spot@public.aggre.depth.v3.api.pb@10ms@{m.symbol}" for m in MARKETS[:4]]


class Gate:
    """A plugin whose consumer reads its BLOCK stream only once ``opened`` is set."""

    def __init__(self) -> None:
        self.opened = anyio.Event()
        self.stream: Any = None
        self.consumed = 0

    @hookimpl
    def mexc_client_started(self, context: ClientContext) -> None:
        sender: StreamSender[Event]
        sender, receiver = context.open_stream(max_buffer=10, name="gate")
        self.stream = sender

        async def consume() -> None:
            await self.opened.wait()
            async for _ in receiver:
                self.consumed += 1

        context.task_group.start_soon(consume)

    @hookimpl
    def mexc_push_received(self, push: Push) -> None:
        self.stream.send_nowait(push)


def test_a_flood_into_a_stalled_consumer_is_shed_unread_and_signalled(
    anyio_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    decodes = 0
    real = wire.decode_push

    def counting(data: bytes) -> Push:
        nonlocal decodes
        decodes += 1
        return real(data)

    monkeypatch.setattr(wire, "decode_push", counting)
    time = SteppedTime()
    gate = Gate()
    recorder = EventRecorder()
    session = SessionConfig(max_subscriptions=5, ping_interval=2.0, pong_timeout=1.5)
    sim = SimConfig(exchange=ExchangeConfig(markets=MARKETS))
    with serve_in_thread(sim, clock=time.sim_clock()) as server:

        async def scenario() -> None:
            client_ = MexcClient(
                server.ws_url,
                config=PoolConfig(session=session),
                clock=time,
                plugins=[gate, recorder],
                entry_points=False,
                close_timeout=2.0 * FACTOR,
                max_pending=100,
            )
            async with client_ as client:
                with anyio.fail_after(10 * FACTOR):
                    await client.subscribe(TOPICS)
                shedder = client.pool.shedder
                await time.until(lambda: shedder.shed > 200, server, within=30.0, step=0.05)
                await time.advance(12.0, server, step=0.25)  # six pings and more
                (info,) = client.pool.links()
                stats: SessionStats = client.pool._by_cid[info.cid].conn.session.stats  # type: ignore[index,union-attr]
                assert client.stats.disconnects == 0  # no false keepalive timeout
                assert stats.pongs_received >= 6
                assert shedder.active
                assert len(client.inbox) <= 100 + 10  # pushes plus a few lifecycle events
                assert client.inbox.dropped == 0  # shed before the inbox had to drop
                assert decodes == stats.binary_frames - stats.shed  # shed frames never decoded
                # the consumer resumes: the episode ends in a gap naming each topic once
                gate.opened.set()
                await time.until(lambda: not shedder.active, server, within=10.0)
                await time.until(lambda: bool(recorder.of(GapDetected)), server, within=10.0)
                gaps = recorder.of(GapDetected)
                assert all(g.cause is GapCause.OVERFLOW for g in gaps)
                assert len(gaps) == client.stats.shed_episodes
                assert sorted(gaps[0].topics) == sorted(TOPICS)
                assert all(len(set(g.topics)) == len(g.topics) for g in gaps)
                assert sum(g.missed for g in gaps) == client.stats.shed
                assert client.stats.shed == shedder.shed == stats.shed
                assert decodes == stats.binary_frames - stats.shed
                # pushes flow again, decoded
                delivered = len(recorder.pushes())
                await time.advance(1.0, server)
                assert len(recorder.pushes()) > delivered

        anyio.run(scenario, backend=anyio_backend)
    assert gate.consumed > 0
