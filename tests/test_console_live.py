"""The console plugin's live view: its state, its drawing, and ``mexc demo`` with it."""

from __future__ import annotations

import io
import re
import subprocess
import sys

import pytest
from rich.console import Console as RichConsole

from mexc_core.events import BookView, Level, Push
from mexc_core.messages import (
    PrivateAccountV3Api,
    PrivateOrdersV3Api,
    PublicAggreDealsV3Api,
    PublicAggreDealsV3ApiItem,
    PublicSpotKlineV3Api,
)
from mexc_plugin_console.dashboard import RATE_WINDOW, Dashboard, render
from mexc_sim.server import RunningSimulator
from tests.util import FACTOR


class Wall:
    """A settable wall clock (seconds)."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def drawn(d: Dashboard) -> str:
    out = io.StringIO()
    RichConsole(file=out, width=170, color_system=None).print(render(d))
    return out.getvalue()


def deal(price: str, side: int, when: int) -> PublicAggreDealsV3ApiItem:
    return PublicAggreDealsV3ApiItem(price=price, quantity="0.5", trade_type=side, time=when)


def test_the_dashboard_shows_books_trades_orders_balances_and_links() -> None:
    wall = Wall()
    d = Dashboard(("BTCUSDT", "ETHUSDT"), depth=2, tape=3, wall=wall)
    state = d.states["BTCUSDT"]
    state.book = BookView(
        "BTCUSDT", 42, (Level("100.5", "1"), Level("100.4", "2")), (Level("100.6", "3"),)
    )
    state.resyncing = False
    d.add_trades("BTCUSDT", [deal(str(100 + i), 1 + i % 2, i) for i in range(5)])
    body = PublicSpotKlineV3Api(
        interval="Min1", window_start=60, opening_price="1", closing_price="2",
        highest_price="3", lowest_price="0.5", volume="9", amount="9", window_end=120,
    )  # fmt: skip
    state.kline = body
    d.own_order(
        "BTCUSDT",
        PrivateOrdersV3Api(
            id="C1", price="99", quantity="0.2", cumulative_quantity="0.1", trade_type=1,
            status=3, create_time=1_000,
        ),
    )  # fmt: skip
    d.balance(PrivateAccountV3Api(vcoin_name="USDT", balance_amount="10", frozen_amount="2"))
    d.links = {1: {f"t{i}" for i in range(15)}, 2: {"a", "b", "c"}}
    d.gaps = 1
    for i in range(10):
        wall.now += 0.1
        d.observe(
            Push(channel="x", body=PublicAggreDealsV3Api(), send_time=int(wall.now * 1000) - 20 - i)
        )
    text = drawn(d)
    assert "BTCUSDT book v42" in text
    assert "ETHUSDT book resyncing" in text
    assert re.search(r"1\s+│\s+100\.5\s+│\s+100\.6\s+│\s+3", text)
    assert "100.4" in text
    assert [t[4] for t in d.trades] == ["104", "103", "102"]  # newest first, the tape's length
    assert "104" in text
    assert "101" not in text
    assert re.search(r"BTCUSDT\s+│\s+BUY\s+│\s+99\s+│\s+0\.2\s+│\s+0\.1\s+│\s+PARTIAL", text)
    assert re.search(r"USDT\s+│\s+10\s+│\s+2", text)
    d.connects = 3
    text = drawn(d)
    assert re.search(r"up 2 of 3 opened +topics 18 +reconnects 0 +rotations 0 +gaps 1", text)
    assert "Min1 00:01" in text
    assert d.latency(0.5) == pytest.approx(24.5, abs=1.5)
    assert "latency p50 2" in text


def test_the_message_rate_counts_the_last_window() -> None:
    wall = Wall()
    d = Dashboard(("BTCUSDT",), wall=wall)
    assert d.rate == 0.0
    assert d.latency(0.5) is None
    for _ in range(20):
        d.observe(Push(channel="x", body=PublicAggreDealsV3Api()))
        wall.now += 0.25
    assert d.rate == pytest.approx(20 / 5.0, rel=0.1)
    wall.now += RATE_WINDOW + 1
    d.observe(Push(channel="x", body=PublicAggreDealsV3Api()))
    assert len(d.arrivals) == 1
    assert d.pushes == 21


def test_old_orders_leave_the_table() -> None:
    d = Dashboard(("BTCUSDT",), wall=Wall())
    for i in range(12):
        d.own_order("BTCUSDT", PrivateOrdersV3Api(id=f"o{i}", create_time=i, status=1))
    assert sorted(d.orders) == sorted(f"o{i}" for i in range(4, 12))


@pytest.mark.slow
def test_the_demo_draws_the_live_view_with_the_accounts_orders() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mexc_core.cli", "demo", "--duration", "6", "--view", "live",
         "--show", "2"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120 * FACTOR,
        env={"COLUMNS": "170", "LINES": "60", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", result.stdout)
    assert re.search(r"BTCUSDT book v\d+", screen), screen[-3000:]
    assert re.search(r"ETHUSDT book v\d+", screen)
    assert "own orders" in screen
    assert "balances" in screen
    assert re.search(
        r"│ (BUY|SELL) +│ [\d.]+ │ +[\d.]+ │ +[\d.]+ │ (NEW|FILLED|PARTIAL|CANCELED)", screen
    )
    assert re.search(r"USDT +│ +[\d.]+ │", screen)
    # 2 symbols x 4 channels and 2 depth topics on one link, the 3 private on another
    assert re.search(r"links +up 2 of 2 opened +topics 13 ", screen), screen[-3000:]
    summary = result.stdout.strip().splitlines()[-1]
    assert re.search(r"orders: [1-9]\d* placed", summary), summary
    assert result.stderr == ""


@pytest.mark.slow
def test_the_demo_prints_the_accounts_orders_and_balances_as_lines() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mexc_core.cli", "demo", "--duration", "5"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120 * FACTOR,
    )
    lines = result.stdout.splitlines()
    assert any(re.search(r" order  (BUY|SELL) ", line) for line in lines), result.stdout
    assert any(" balance free " in line for line in lines)
    assert any(re.fullmatch(r"-- book \w+ synced at version \d+", line) for line in lines)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mexc_core.cli", *args],
        capture_output=True,
        text=True,
        timeout=120 * FACTOR,
        env={"COLUMNS": "150", "PATH": "/usr/bin:/bin"},
        check=False,
    )


def plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


@pytest.mark.slow
def test_book_and_watch_draw_the_same_live_view(mexc_sim: RunningSimulator) -> None:
    where = ["--endpoint", mexc_sim.ws_url]
    book = run_cli(
        "book", "BTCUSDT", *where, "--rest", mexc_sim.rest_url, "--depth", "3",
        "--count", "5", "--view", "live",
    )  # fmt: skip
    assert book.returncode == 0, book.stderr
    screen = plain(book.stdout)
    assert re.search(r"BTCUSDT book v\d+", screen), screen
    assert re.search(r"\d │ +[\d.]+ │ +[\d.]+ │ +[\d.]+", screen)
    assert "version" not in screen  # the table of the lines view is not printed
    deals = "spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT"
    watch = run_cli("watch", deals, *where, "--count", "3", "--view", "live")
    assert watch.returncode == 0, watch.stderr
    screen = plain(watch.stdout)
    assert "trades" in screen
    assert re.search(r"BTCUSDT │ (BUY|SELL) ", screen), screen
    assert "book v" not in screen  # watch keeps no book


def test_the_live_view_and_json_exclude_each_other() -> None:
    done = run_cli("watch", "spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT", "--json",
                   "--view", "live")  # fmt: skip
    assert done.returncode == 2
    assert done.stderr == (
        "mexc watch: --view live draws a screen and --json prints lines: choose one\n"
    )
