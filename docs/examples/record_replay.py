"""Record a client's traffic, then replay it through a new core: the same events.

``uv run python docs/examples/record_replay.py``

Starts the exchange simulator on a free loopback port, runs a client with the
record plugin for three seconds (trades and the BTCUSDT book), then feeds the
recording to :class:`~mexc_core.cli.replay.Replayer` and compares its events with
those the live client's plugins saw.
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

import anyio

from mexc_core.aio.client import MexcClient
from mexc_core.cli.replay import Replayer
from mexc_core.events import Event, Push
from mexc_core.hookspecs import hookimpl
from mexc_plugin_record import Recording, RecordPlugin
from mexc_sim import serve_in_thread
from mexc_sim.server import RunningSimulator

DEALS = "spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT"


class Seen:
    """Every event the live client delivered, in order."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    @hookimpl
    def mexc_push_received(self, push: Push) -> None:
        self.events.append(push)

    @hookimpl
    def mexc_event_received(self, event: Event) -> None:
        self.events.append(event)


# [record]
async def record(sim: RunningSimulator, out: Path, seen: Seen) -> RecordPlugin:
    seed = random.SystemRandom().getrandbits(63)  # replayed with the recording
    recorder = RecordPlugin()
    options = {"record": {"out": str(out), "meta": {"endpoint": sim.ws_url, "seed": seed}}}
    async with MexcClient(
        sim.ws_url,
        rest_url=sim.rest_url,
        rng=random.Random(seed),
        plugins=[recorder, seen],
        entry_points=False,
        options=options,
    ) as client:
        await client.subscribe([DEALS])
        await client.watch_book("BTCUSDT")  # its REST snapshot is recorded too
        await anyio.sleep(3)
    return recorder


# [/record]


# [replay]
def replay(out: Path) -> list[Event]:
    events: list[Event] = []
    replayer: Replayer | None = None
    for record in Recording(out).records():
        method, arguments = record.call()
        if method == "meta":  # the first record: the endpoint and the seed
            replayer = Replayer(arguments)
            continue
        assert replayer is not None
        replayer.feed(method, arguments, record.at)
        events.extend(replayer.events())
    return events


# [/replay]


def main() -> None:
    with serve_in_thread() as sim, tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rec"
        seen = Seen()
        recorder = anyio.run(record, sim, out, seen)
        counts = recorder.counts()
        print("recorded blocks > 0:", counts["blocks"] > 0, "segments:", counts["segments"])
        again = replay(out)
        pushes = sum(isinstance(e, Push) for e in again)
        print("replayed pushes > 0:", pushes > 0)
        print("replayed events equal the live ones:", again == seen.events)


if __name__ == "__main__":
    main()
