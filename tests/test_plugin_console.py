"""The console plugin, a distribution of its own, as any third-party plugin would be.

It is installed by ``uv sync`` (a workspace member), found through the
``mexc.plugins`` entry point, imports nothing but the plugin API, and receives
typed pushes from hundreds of topics over several connections, through faults
and rotations, on asyncio and on trio.
"""

from __future__ import annotations

import ast
import importlib.metadata
import inspect
import io
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import anyio
import pytest

from mexc_core import hookspecs
from mexc_core.aio.client import MexcClient
from mexc_core.client.pool import PoolConfig
from mexc_core.events import DisconnectCause, GapDetected, LinkDisconnected, LinkRotated, Push
from mexc_core.hookspecs import hookimpl
from mexc_core.messages import PublicAggreBookTickerV3Api, PublicAggreDealsV3Api
from mexc_core.plugins import plugin_manager
from mexc_core.session import SessionConfig
from mexc_sim.exchange import ExchangeConfig, default_markets
from mexc_sim.faults import Faults
from mexc_sim.protocol import SimConfig
from mexc_sim.server import serve_in_thread
from mexc_sim.session import WsRules
from tests.util import FACTOR, SteppedTime

pytestmark = pytest.mark.slow  # real sockets, threads or subprocesses

PLUGINS = Path(__file__).resolve().parent.parent / "plugins"
#: What a plugin may import from mexc-core (docs/architecture.rst, rule 6): the plugin
#: API and the stateless public modules (codec, topics, records, errors).
ALLOWED = {
    "mexc_core.hookspecs",
    "mexc_core.events",
    "mexc_core.wire",
    "mexc_core.channels",
    "mexc_core.messages",
    "mexc_core.errors",
}
#: A plugin distribution's own application, which runs a client of its own
#: (``mexc worker``), may use the anyio client too.
APPLICATIONS = {
    "nats/mexc_plugin_nats/worker.py": {"mexc_core.aio.client", "mexc_core.aio.http"},
}


def plugin_sources() -> list[Path]:
    return sorted(PLUGINS.glob("*/**/*.py"))


def test_there_are_first_party_plugins() -> None:
    assert any(p.parts[-3:-1] == ("console", "mexc_plugin_console") for p in plugin_sources())


@pytest.mark.parametrize("path", plugin_sources(), ids=lambda p: p.relative_to(PLUGINS).as_posix())
def test_plugins_import_only_the_plugin_api(path: Path) -> None:
    allowed = ALLOWED | APPLICATIONS.get(path.relative_to(PLUGINS).as_posix(), set())
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module == "mexc_core" and node.level == 0:
            names = [f"mexc_core.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            if name == "mexc_core" or name.startswith("mexc_core."):
                assert name in allowed, f"{path.name} imports {name}"


def test_the_console_is_installed_under_its_entry_point() -> None:
    (entry,) = [
        e for e in importlib.metadata.entry_points(group="mexc.plugins") if e.name == "console"
    ]
    assert entry.value == "mexc_plugin_console:plugin"
    assert entry.dist is not None
    assert entry.dist.name == "mexc-plugin-console"
    pm = plugin_manager()
    plugin = pm.get_plugin("console")
    assert plugin is entry.load()


def _short(annotation: str) -> str:
    """``messages.PublicAggreDealsV3Api`` and ``PublicAggreDealsV3Api`` name one type."""
    return re.sub(r"\b\w+\.", "", annotation)


def test_the_console_hooks_match_the_typed_mirror() -> None:
    pm = plugin_manager()
    plugin = pm.get_plugin("console")
    checked = 0
    for name, method in inspect.getmembers(plugin, inspect.ismethod):
        if not name.startswith("mexc_"):
            continue
        spec = inspect.signature(getattr(hookspecs.MexcHooks, name))
        mine = inspect.signature(method)
        wanted = {p.name: p.annotation for p in spec.parameters.values() if p.name != "self"}
        for param in mine.parameters.values():
            assert param.name in wanted, (name, param.name)
            assert _short(str(param.annotation)) == _short(str(wanted[param.name])), name
        checked += 1
    assert checked >= 10


class Typed:
    """Checks, per hook, that bodies come typed for their channel."""

    def __init__(self) -> None:
        self.trades: dict[str, list[int]] = defaultdict(list)
        self.tickers: set[str] = set()
        self.mistyped: list[Push] = []
        self.events: list[Any] = []

    @hookimpl
    def mexc_aggre_deals_received(self, push: Push, body: PublicAggreDealsV3Api) -> None:
        if type(body).__name__ != "PublicAggreDealsV3Api":  # the real class, not a dict
            self.mistyped.append(push)
        assert push.symbol is not None
        self.trades[push.symbol].extend(int(d.trade_id) for d in body.deals)

    @hookimpl
    def mexc_aggre_book_ticker_received(self, push: Push, body: PublicAggreBookTickerV3Api) -> None:
        if type(body).__name__ != "PublicAggreBookTickerV3Api":
            self.mistyped.append(push)
        assert push.symbol is not None
        self.tickers.add(push.symbol)

    @hookimpl
    def mexc_event_received(self, event: Any) -> None:
        self.events.append(event)


def test_an_installed_plugin_gets_hundreds_of_topics_through_faults_and_rotations(
    anyio_backend: str,
) -> None:
    markets = default_markets(120)
    symbols = [m.symbol for m in markets]
    topics = [f"spot@public.aggre.deals.v3.api.pb@100ms@{s}" for s in symbols]
    topics += [f"spot@public.aggre.bookTicker.v3.api.pb@100ms@{s}" for s in symbols]
    assert len(topics) == 240
    # MEXC's 24 h scaled down to 20 s; 25 topics a connection; pings every 2 s
    sim = SimConfig(exchange=ExchangeConfig(markets=markets), rules=WsRules(max_age=20.0))
    session = SessionConfig(
        rotate_after=10.0, ping_interval=2.0, pong_timeout=1.5, idle_timeout=None
    )
    time = SteppedTime()
    out = io.StringIO()
    typed = Typed()
    with serve_in_thread(sim, clock=time.sim_clock()) as running:
        # the first three connections fail: a reset, a clean close, a half-open socket
        running.call(
            lambda: running.server.sim.queue_faults(
                Faults(reset_after=2.0), Faults(close_after=3.0), Faults(blackhole_after=4.0)
            )
        )

        async def scenario() -> None:
            client = MexcClient(
                running.ws_url,
                config=PoolConfig(session=session, switch_timeout=4.0),
                clock=time,
                plugins=[typed],  # besides the installed ones, found by entry point
                options={"console": {"file": out, "max_lines": 100_000}},
                close_timeout=2.0 * FACTOR,
            )
            assert client.pm.get_plugin("console") is not None
            async with client:
                with anyio.fail_after(20 * FACTOR):
                    await client.subscribe(topics)
                assert len(client.pool.links()) == 10
                await time.advance(12.0, running, step=0.25)
                # every link rotates once (the later ones opened later, after a fault)
                await time.until(
                    lambda: client.stats.rotations >= 10, running, within=15.0, step=0.25
                )
                assert client.stats.reconnects == 3

        anyio.run(scenario, backend=anyio_backend)

    assert not typed.mistyped
    assert len(typed.trades) >= 100
    assert len(typed.tickers) >= 100
    for symbol, ids in typed.trades.items():
        assert ids == sorted(set(ids)), symbol  # no duplicate, never out of order
    downs = [e for e in typed.events if isinstance(e, LinkDisconnected)]
    failed = [d for d in downs if d.retry_in is not None]  # not retired, not rotated away
    assert {d.cause for d in failed} == {
        DisconnectCause.LOST,
        DisconnectCause.CLOSED,
        DisconnectCause.UNHEALTHY,
    }
    gaps = [e for e in typed.events if isinstance(e, GapDetected)]
    assert len({g.started_at for g in gaps}) == 3  # one gap per failed connection
    assert sorted(t for g in gaps for t in g.topics) == sorted(t for d in failed for t in d.topics)
    assert len([e for e in typed.events if isinstance(e, LinkRotated)]) >= 10
    printed = out.getvalue().splitlines()
    traded = {line.split()[1] for line in printed if " trade " in line}
    assert len(traded) >= 100
    assert sum(" rotated to " in line for line in printed) >= 10
    assert sum(line.startswith("-- gap of ") for line in printed) == len(gaps)
