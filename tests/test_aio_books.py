"""Local books through the anyio client, against the simulator, on asyncio and trio.

Every view a book event carries (the best 20 levels at the event's version) is
compared with the simulator's true book at that version, through the depth faults
the simulator injects, a 503 and a 429 on the snapshot. Time is virtual
(tests/util.py).
"""

from __future__ import annotations

from decimal import Decimal

import anyio
import pytest

from mexc_core.events import BookResyncStarted, BookSynced, BookUpdated, BookView
from mexc_core.hookspecs import hookimpl
from mexc_sim.exchange import ExchangeConfig, default_markets
from mexc_sim.faults import Faults
from mexc_sim.protocol import SimConfig
from mexc_sim.server import RunningSimulator
from tests.sim_helpers import truth_levels
from tests.test_aio_client import running, served
from tests.util import FACTOR, SteppedTime

pytestmark = pytest.mark.slow  # real sockets and a simulator thread

SYMBOL = "BTCUSDT"


class BookRecorder:
    """A plugin keeping every view the book hooks are given, and the resyncs."""

    def __init__(self) -> None:
        self.views: list[BookView] = []
        self.resyncs: list[BookResyncStarted] = []
        self.synced = 0

    @hookimpl
    def mexc_book_synced(self, event: BookSynced) -> None:
        self.synced += 1
        assert event.view is not None
        self.views.append(event.view)

    @hookimpl
    def mexc_book_updated(self, event: BookUpdated) -> None:
        assert event.view is not None
        assert event.view.version == event.version
        self.views.append(event.view)

    @hookimpl
    def mexc_book_resync(self, event: BookResyncStarted) -> None:
        self.resyncs.append(event)


def compare_with_truth(sim: RunningSimulator, views: list[BookView]) -> int:
    """Check every view against the truth at its version; the number compared."""

    def truths() -> list[tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]]:
        exchange = sim.server.sim.exchange
        spec = exchange.markets[SYMBOL].spec
        return [truth_levels(exchange.book(SYMBOL, v.version, depth=20), spec) for v in views]

    for view, (bids, asks) in zip(views, sim.call(truths), strict=True):
        ours_bids = [(Decimal(p), Decimal(q)) for p, q in view.bids]
        ours_asks = [(Decimal(p), Decimal(q)) for p, q in view.asks]
        assert (ours_bids, ours_asks) == (bids[: len(ours_bids)], asks[: len(ours_asks)])
        assert len(ours_bids) == min(20, len(bids))
        assert len(ours_asks) == min(20, len(asks))
    return len(views)


def test_every_published_book_is_the_truth_at_its_version(anyio_backend: str) -> None:
    time = SteppedTime()
    recorder = BookRecorder()
    faults = Faults(
        depth_skip_at={30}, depth_duplicate_at={60}, depth_reorder_at={90}, reset_after=20.0
    )
    config = SimConfig(exchange=ExchangeConfig(markets=default_markets(4)), faults=faults)
    with served(config, time) as sim:
        rest_faults = sim.server.sim.rest_faults
        sim.call(lambda: rest_faults.fail("/api/v3/depth", 503, 1))
        sim.call(lambda: rest_faults.fail("/api/v3/depth", 429, 1))  # Retry-After: 10

        async def scenario() -> None:
            async with running(sim, time, recorder, rest_url=sim.rest_url) as client:
                with anyio.fail_after(10 * FACTOR):
                    book = await client.watch_book(SYMBOL)
                await time.advance(60.0, sim, step=0.1)
                assert book.synced
                assert client.book(SYMBOL) is book
                await client.unwatch_book(SYMBOL)

        anyio.run(scenario, backend=anyio_backend)
        compared = compare_with_truth(sim, recorder.views)
    assert compared > 200
    causes = {r.cause.value for r in recorder.resyncs}
    assert {"version_gap", "overlap", "stream_gap"} <= causes
    assert recorder.synced >= 3
    print(f"{anyio_backend}: {compared} views equal to the truth, {len(recorder.resyncs)} resyncs")  # noqa: T201 (figures for the record, with -s)
