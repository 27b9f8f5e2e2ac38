"""PING timing over real loopback sockets: the anyio client reports its writes
(``MexcClient._write`` calls ``ClientCore.data_written``), so a PING held up before
its write is timed from the write (session rule 7). Virtual time (SteppedTime)."""

from __future__ import annotations

from typing import Any

import anyio

from mexc_core.aio.client import MexcClient
from mexc_core.client.pool import PoolConfig
from mexc_core.session import SessionConfig
from mexc_sim.exchange import ExchangeConfig, default_markets
from mexc_sim.protocol import SimConfig
from mexc_sim.server import serve_in_thread
from tests.util import FACTOR, SteppedTime

DEALS = "spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT"


def test_a_write_held_up_past_the_pong_timeout_causes_no_false_timeout(
    anyio_backend: str,
) -> None:
    time = SteppedTime()
    session = SessionConfig(ping_interval=5.0, pong_timeout=4.0, idle_timeout=None)
    config = SimConfig(exchange=ExchangeConfig(markets=default_markets(1)))
    with serve_in_thread(config, clock=time.sim_clock()) as sim:

        async def scenario() -> None:
            client = MexcClient(
                sim.ws_url,
                config=PoolConfig(session=session),
                clock=time,
                entry_points=False,
                close_timeout=2.0 * FACTOR,
            )
            async with client:
                with anyio.fail_after(10 * FACTOR):
                    await client.subscribe([DEALS])
                (info,) = client.pool.links()
                assert info.cid is not None
                conn = client.pool._by_cid[info.cid].conn
                assert conn is not None
                stream: Any = client._transports[info.cid].stream
                send = stream.send
                release = anyio.Event()
                held: list[float] = []

                async def held_send(data: bytes) -> None:
                    # the writer is held up (as by a hook blocking the loop) on the
                    # first write after the subscription: the PING
                    if not held:
                        held.append(time.now())
                        await release.wait()
                    await send(data)

                stream.send = held_send
                await time.until(lambda: bool(held), sim, within=6.0)
                assert conn.session.stats.pings_sent == 1
                # well past the PING's pong_timeout from its queueing: no timeout
                await time.advance(session.pong_timeout + 1.0, sim)
                assert client.stats.disconnects == 0
                release.set()
                # the PONG within its timeout from the write (virtual time steps on while
                # the bytes cross real sockets: the bound is the timeout itself)
                await time.until(
                    lambda: conn.session.stats.pongs_received == 1, sim, within=session.pong_timeout
                )
                await time.advance(2 * session.ping_interval, sim)
                assert client.stats.disconnects == 0
                assert conn.session.stats.pongs_received >= 2

        anyio.run(scenario, backend=anyio_backend)
