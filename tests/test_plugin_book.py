"""The first-party book plugin: options, the views it keeps, and the real thing."""

from __future__ import annotations

import importlib.metadata
from decimal import Decimal

import anyio
import pytest

import mexc_plugin_book
from mexc_core.events import (
    BookBreak,
    BookResyncStarted,
    BookSynced,
    BookUpdated,
    BookView,
    Level,
    PluginFailed,
)
from mexc_core.plugins import plugin_manager
from mexc_plugin_book import BookOptionsError, BookPlugin
from mexc_sim.exchange import ExchangeConfig, default_markets
from mexc_sim.protocol import SimConfig
from tests.sim_helpers import truth_levels
from tests.test_aio_client import running, served
from tests.util import FACTOR, EventRecorder, SteppedTime


class Context:
    """Just what the plugin uses of a ClientContext."""

    def __init__(self, options: dict[str, object]) -> None:
        self.options = options
        self.watched: list[tuple[str, str]] = []

    def watch_book(self, symbol: str, *, interval: str = "100ms") -> None:
        self.watched.append((symbol, interval))


Levels = tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]


def view(version: int, bid: str = "1") -> BookView:
    return BookView("BTCUSDT", version, (Level(bid, "1"),), (Level("2", "1"),))


def test_the_plugin_is_installed_under_its_entry_point() -> None:
    (entry,) = [
        e for e in importlib.metadata.entry_points(group="mexc.plugins") if e.name == "book"
    ]
    assert entry.value == "mexc_plugin_book:plugin"
    assert plugin_manager().get_plugin("book") is mexc_plugin_book.plugin


def test_it_watches_the_configured_books_and_keeps_only_exact_views() -> None:
    plugin = BookPlugin()
    context = Context({"book": {"symbols": ["BTCUSDT", "ETHUSDT", "BTCUSDT"], "interval": "10ms"}})
    plugin.mexc_client_started(context)  # type: ignore[arg-type]
    assert context.watched == [("BTCUSDT", "10ms"), ("ETHUSDT", "10ms")]
    assert plugin.view("BTCUSDT") is None
    assert not plugin.synced("ETHUSDT")
    synced = BookSynced(
        symbol="BTCUSDT", version=5, snapshot_version=5, bids=1, asks=1, view=view(5)
    )
    plugin.mexc_book_synced(synced)
    plugin.mexc_book_updated(
        BookUpdated(
            symbol="BTCUSDT", version=6, from_version=6, bids=(), asks=(), view=view(6, "1.5")
        )
    )
    assert plugin.view("BTCUSDT") == view(6, "1.5")
    assert plugin.synced("BTCUSDT")
    plugin.mexc_book_resync(
        BookResyncStarted(symbol="BTCUSDT", cause=BookBreak.VERSION_GAP, version=6)
    )
    assert plugin.view("BTCUSDT") is None
    assert (plugin.updates, plugin.resyncs) == (1, 1)
    # events of books it does not keep are none of its business
    plugin.mexc_book_synced(
        BookSynced(symbol="XRPUSDT", version=1, snapshot_version=1, bids=0, asks=0)
    )
    plugin.mexc_book_updated(
        BookUpdated(symbol="XRPUSDT", version=2, from_version=2, bids=(), asks=())
    )
    plugin.mexc_book_resync(BookResyncStarted(symbol="XRPUSDT", cause=BookBreak.STREAM_GAP))
    with pytest.raises(KeyError, match="not 'XRPUSDT'"):
        plugin.view("XRPUSDT")


def test_without_its_options_it_stays_quiet() -> None:
    plugin = BookPlugin()
    context = Context({"console": {}})
    plugin.mexc_client_started(context)  # type: ignore[arg-type]
    assert context.watched == []
    assert plugin.symbols == ()


@pytest.mark.parametrize(
    ("options", "what"),
    [
        (["BTCUSDT"], "must be a mapping"),
        ({}, "non-empty list"),
        ({"symbols": "BTCUSDT"}, "non-empty list"),
        ({"symbols": [1]}, "non-empty list"),
        ({"symbols": ["BTCUSDT"], "interval": "1s"}, "interval"),
    ],
)
def test_bad_options_are_one_clear_error(options: object, what: str) -> None:
    with pytest.raises(BookOptionsError, match=what):
        BookPlugin().mexc_client_started(Context({"book": options}))  # type: ignore[arg-type]


@pytest.mark.slow
def test_through_the_client_its_views_are_the_truth(anyio_backend: str) -> None:
    time = SteppedTime()
    recorder = EventRecorder()
    plugin = BookPlugin()
    config = SimConfig(exchange=ExchangeConfig(markets=default_markets(3)))
    with served(config, time) as sim:

        async def scenario() -> None:
            options = {"book": {"symbols": ["BTCUSDT", "ETHUSDT"]}}
            async with running(sim, time, plugin, recorder, rest_url=sim.rest_url, options=options):
                with anyio.fail_after(30 * FACTOR):
                    await time.until(
                        lambda: plugin.synced("ETHUSDT") and plugin.synced("BTCUSDT"),
                        sim,
                        within=10.0,
                    )
                await time.advance(5.0, sim, step=0.1)

        anyio.run(scenario, backend=anyio_backend)
        for symbol in ("BTCUSDT", "ETHUSDT"):
            seen = plugin.view(symbol)
            assert seen is not None

            def truth(symbol: str = symbol, version: int = seen.version) -> Levels:
                exchange = sim.server.sim.exchange
                return truth_levels(
                    exchange.book(symbol, version, depth=20), exchange.markets[symbol].spec
                )

            bids, asks = sim.call(truth)
            assert [(Decimal(p), Decimal(q)) for p, q in seen.bids] == bids
            assert [(Decimal(p), Decimal(q)) for p, q in seen.asks] == asks
    assert plugin.updates > 50
    assert not recorder.of(PluginFailed)


@pytest.mark.slow
def test_bad_options_fail_the_plugin_not_the_client(anyio_backend: str) -> None:
    time = SteppedTime()
    recorder = EventRecorder()
    with served(SimConfig(exchange=ExchangeConfig(markets=default_markets(2))), time) as sim:

        async def scenario() -> None:
            async with running(
                sim, time, BookPlugin(), recorder, options={"book": {"symbols": []}}
            ):
                await anyio.sleep(0)  # the client started, the plugin failed

        anyio.run(scenario, backend=anyio_backend)
    (failed,) = [e for e in recorder.of(PluginFailed) if isinstance(e, PluginFailed)]
    assert failed.hook == "mexc_client_started"
    assert "non-empty list of symbols" in failed.error
