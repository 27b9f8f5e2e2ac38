"""Log lines and in-band gap markers, against the simulator.

``uv run python docs/examples/logging_and_gaps.py``

Configures the standard :mod:`logging` module for the client's loggers
(:doc:`/logging`), starts the exchange simulator on a free loopback port with a
connection reset at 2 s, and reads a depth topic with ``pushes(gaps=True)``: the
reset shows as WARNING lines and, in the stream itself, as a
:class:`~mexc_core.aio.streams.StreamGap` just before the first push after the hole.
"""

from __future__ import annotations

import logging.config
import sys

import anyio

from mexc_core.aio.client import MexcClient
from mexc_core.aio.streams import StreamGap
from mexc_core.events import Push
from mexc_sim import ExchangeConfig, Faults, SimConfig, default_markets, serve_in_thread

# [config]
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"short": {"format": "%(name)s %(levelname)s %(message)s"}},
    "handlers": {
        "out": {"class": "logging.StreamHandler", "formatter": "short", "stream": sys.stdout}
    },
    "loggers": {
        # connects, reconnects with their cause, gaps, rejections, listen keys
        "mexc_core": {"handlers": ["out"], "level": "INFO"},
        # one line per push: DEBUG here for a short debugging session only
        "mexc_core.wire": {"level": "WARNING"},
    },
}
logging.config.dictConfig(LOGGING)
# [/config]


async def main(ws_url: str, symbol: str) -> None:
    topic = f"spot@public.aggre.depth.v3.api.pb@100ms@{symbol}"
    # [gaps]
    client = MexcClient(ws_url, entry_points=False)
    async with client, client.pushes(topic, gaps=True) as stream:
        await client.subscribe([topic])
        with anyio.fail_after(30):
            async for item in stream:
                match item:
                    case StreamGap(cause=cause, topics=topics):
                        print("gap marker:", cause, "on", len(topics), "topic")
                        break  # resynchronise what depends on continuity here
                    case Push():
                        pass  # use the push
    # [/gaps]


if __name__ == "__main__":
    markets = default_markets(2)
    with serve_in_thread(SimConfig(exchange=ExchangeConfig(markets=markets))) as sim:
        sim.call(lambda: sim.server.sim.queue_faults(Faults(reset_after=2.0)))
        anyio.run(main, sim.ws_url, markets[0].symbol)
