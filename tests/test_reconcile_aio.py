"""Private-state reconciliation end to end: the anyio client against the simulator.

Orders are placed, filled and cancelled (one placed and cancelled unfilled)
while the client cannot listen (the listen key is expired and MEXC refuses new
ones for a while); once it listens again, every change is reported (live or
reconciled), nothing twice, and the state the client reports ends equal to the
exchange's.
"""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest

from mexc_core import rest
from mexc_core.aio.client import MexcClient
from mexc_core.aio.http import HttpClient
from mexc_core.client.reconcile import ReconcileConfig, order_state
from mexc_core.events import (
    BalanceReconciled,
    ListenKeyCreated,
    ListenKeyLost,
    OrderReconciled,
    Push,
    ReconcileCompleted,
    ReconcileTrigger,
    TradeRecovered,
)
from mexc_core.messages import PrivateAccountV3Api, PrivateDealsV3Api, PrivateOrdersV3Api
from mexc_sim.exchange import ExchangeConfig, default_markets
from mexc_sim.protocol import SimConfig
from mexc_sim.server import serve_in_thread
from tests.util import FACTOR, EventRecorder, SteppedTime

pytestmark = pytest.mark.slow  # real sockets and a simulator thread

PRIVATE = (
    "spot@private.orders.v3.api.pb",
    "spot@private.deals.v3.api.pb",
    "spot@private.account.v3.api.pb",
)
SYMBOL = "BTCUSDT"
KEYS_PATH = "/api/v3/userDataStream"


def test_changes_during_an_outage_are_reported_once_after_recovery(anyio_backend: str) -> None:
    time = SteppedTime()
    seen = EventRecorder()
    placed: list[str] = []
    ghosts: list[str] = []  # placed and cancelled unfilled during the outage
    initial: dict[str, tuple[Decimal, Decimal]] = {}
    config = SimConfig(exchange=ExchangeConfig(markets=default_markets(3)))
    with serve_in_thread(config, clock=time.sim_clock()) as sim:
        exchange = sim.server.exchange
        signer = rest.RestClient(rest.Credentials(sim.api_key, sim.api_secret))

        def wall_ms() -> int:
            return int(sim.call(lambda: exchange.epoch_ms(sim.server.now())))

        def book() -> tuple[Decimal, Decimal]:
            market = sim.call(lambda: exchange.market(SYMBOL, sim.server.now()))
            top = sim.call(lambda: market.snapshot(1))
            spec = market.spec
            return Decimal(spec.price_text(top.bids[0][0])), Decimal(
                spec.price_text(top.asks[0][0])
            )

        def balances_now() -> dict[str, tuple[Decimal, Decimal]]:
            account = sim.call(lambda: exchange.account_for_key(sim.api_key))
            assert account is not None
            return {asset: (free, locked) for asset, (free, locked) in account.balances.items()}

        async def call(request: rest.RestRequest[Any]) -> Any:
            async with HttpClient(sim.rest_url, timeout=5 * FACTOR) as http:
                return await http.request(request)

        async def order(side: str, kind: str, price: Decimal | None = None) -> str:
            placed_order = await call(
                signer.place_order(
                    SYMBOL,
                    side,
                    kind,
                    wall_ms(),
                    quantity="0.001",
                    price=None if price is None else str(price),
                )
            )
            placed.append(placed_order.order_id)
            return str(placed_order.order_id)

        async def cancel(order_id: str) -> None:
            await call(signer.cancel_order(SYMBOL, wall_ms(), order_id=order_id))

        def completed(trigger: ReconcileTrigger) -> bool:
            return any(e.trigger is trigger for e in seen.of(ReconcileCompleted))

        async def scenario() -> None:
            client = MexcClient(
                sim.ws_url,
                reconcile=ReconcileConfig(symbols=(SYMBOL,)),
                clock=time,
                plugins=[seen],
                entry_points=False,
                close_timeout=2.0 * FACTOR,
                credentials=rest.Credentials(sim.api_key, sim.api_secret),
                rest_url=sim.rest_url,
                wall_ms=wall_ms,
            )
            async with client:
                with anyio.fail_after(10 * FACTOR):
                    await client.subscribe(PRIVATE)
                await time.until(lambda: completed(ReconcileTrigger.BASELINE), sim, within=10.0)
                initial.update(balances_now())
                bid, ask = book()
                resting = await order(
                    "BUY", "LIMIT", (bid * Decimal("0.8")).quantize(Decimal("0.1"))
                )
                doomed = await order(
                    "BUY", "LIMIT", (bid * Decimal("0.7")).quantize(Decimal("0.1"))
                )
                await time.until(lambda: len(seen.pushes(PRIVATE[0])) >= 2, sim, within=5.0)
                # the outage: the key expires and MEXC refuses new ones for a while
                faults = sim.server.sim.rest_faults
                sim.call(lambda: faults.fail(KEYS_PATH, 503, count=10_000))
                key = seen.of(ListenKeyCreated)[-1].key
                sim.call(lambda: exchange.expire_listen_key(key, sim.server.now()))
                await time.until(lambda: bool(seen.of(ListenKeyLost)), sim, within=10.0)
                await time.until(
                    lambda: not client.core.pool.is_carried(PRIVATE[0]), sim, within=10.0
                )
                live_before = len(seen.pushes())
                await cancel(doomed)  # cancelled during the outage
                await order("BUY", "MARKET")  # placed and filled during the outage
                await order("SELL", "MARKET")
                await order("BUY", "LIMIT", (bid * Decimal("0.75")).quantize(Decimal("0.1")))
                await cancel(resting)
                # placed and cancelled unfilled: only allOrders lists it afterwards
                ghosts.append(
                    await order("BUY", "LIMIT", (bid * Decimal("0.6")).quantize(Decimal("0.1")))
                )
                await cancel(ghosts[0])
                _, ask = book()
                await order("BUY", "LIMIT", ask)  # crosses: filled at once
                await time.advance(1.0, sim)
                assert all(
                    not p.channel.startswith("spot@private") for p in seen.pushes()[live_before:]
                )
                sim.call(faults.errors.clear)
                await time.until(lambda: completed(ReconcileTrigger.LISTEN_KEY), sim, within=90.0)

        anyio.run(scenario, backend=anyio_backend)

        account = sim.call(lambda: exchange.account_for_key(sim.api_key))
        assert account is not None
        scale = exchange.markets[SYMBOL].spec.quantity_scale
        truth_orders = {oid: account.orders[oid] for oid in placed}
        truth_trades = {str(t["id"]) for t in account.trades}
        truth_balances = balances_now()

    # What the client reported, in order: live pushes and reconciled events.
    orders: dict[str, tuple[str, Decimal]] = {}
    trades: list[str] = []
    balances: dict[str, tuple[Decimal, Decimal]] = {}
    reconciled: list[Any] = []
    for event in seen.events:
        if isinstance(event, Push):
            body = event.body
            if isinstance(body, PrivateOrdersV3Api):
                state = order_state(body.status).value
                orders[body.id] = (state, Decimal(body.cumulative_quantity))
            elif isinstance(body, PrivateDealsV3Api):
                trades.append(body.trade_id)
            elif isinstance(body, PrivateAccountV3Api):
                balances[body.vcoin_name] = (
                    Decimal(body.balance_amount),
                    Decimal(body.frozen_amount),
                )
        elif isinstance(event, OrderReconciled):
            reconciled.append((event.order_id, event.status, event.executed_qty))
            orders[event.order_id] = (event.status.value, Decimal(event.executed_qty))
        elif isinstance(event, TradeRecovered):
            reconciled.append(event.trade_id)
            trades.append(event.trade_id)
        elif isinstance(event, BalanceReconciled):
            reconciled.append((event.asset, event.free, event.locked))
            balances[event.asset] = (Decimal(event.free), Decimal(event.locked))

    # every order ends as the exchange has it
    for order_id, truth in truth_orders.items():
        status, executed = orders[order_id]
        expected = "CANCELED" if truth.status.name == "PARTIALLY_CANCELED" else truth.status.name
        got = "CANCELED" if status == "PARTIALLY_CANCELED" else status
        assert (order_id, got) == (order_id, expected)
        assert executed == Decimal(truth.executed).scaleb(-scale)
    # every fill reported exactly once, live or recovered
    assert sorted(trades) == sorted(truth_trades)
    assert len(trades) == len(set(trades))
    # every balance that changed since the start ends as the exchange has it
    changed = {a for a, b in truth_balances.items() if initial.get(a) != b}
    assert changed
    for asset in changed | set(balances):
        assert balances[asset] == truth_balances[asset], asset
    # the outage's changes were reconciled, and nothing twice
    assert seen.of(TradeRecovered)
    assert {e.status.value for e in seen.of(OrderReconciled)} >= {"CANCELED", "FILLED", "NEW"}
    assert len(reconciled) == len(set(reconciled))
    (ghost,) = [e for e in seen.of(OrderReconciled) if e.order_id in ghosts]
    assert (ghost.status.value, ghost.previous_status, Decimal(ghost.executed_qty)) == (
        "CANCELED",
        None,
        Decimal(0),
    )
    (summary,) = [
        e for e in seen.of(ReconcileCompleted) if e.trigger is ReconcileTrigger.LISTEN_KEY
    ]
    assert summary.orders == len(seen.of(OrderReconciled))
    assert summary.trades == len(seen.of(TradeRecovered))


def test_the_reconcile_example_ends_with_the_exchanges_view() -> None:
    """``docs/examples/reconcile_plugin.py`` runs as the docs show it (real time)."""
    script = Path(__file__).resolve().parent.parent / "docs" / "examples" / "reconcile_plugin.py"
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60 * FACTOR,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("reconciled (baseline): 0 orders")
    assert any(line.endswith("NEW -> CANCELED") for line in lines)
    assert any(line.startswith("missed: fill ") for line in lines)
    assert lines[-1] == "my view equals the exchange's: True"
