"""Reconciliation through the whole client core, against the in-memory simulator.

Sans-IO and on virtual time (:class:`~mexc_core.testing.harness.CoreLoop`): the
simulator's exchange takes orders directly, its REST API answers the core's
requests, and outages are made by resetting the private link (reconnects refused
for a while) or expiring the listen key (new ones refused for a while). After
recovery, what the client reported (live pushes, then reconciliation events)
must end equal to the exchange's truth, each fill once and nothing reconciled twice.
A hypothesis state machine drives random trading and outages through the same check.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from mexc_core.client.core import ClientCore, CoreConfig, RestCall
from mexc_core.client.pool import PoolConfig
from mexc_core.client.reconcile import (
    FetchAccount,
    FetchAllOrders,
    FetchMyTrades,
    FetchOpenOrders,
    ReconcileConfig,
    ReconcileState,
    order_state,
)
from mexc_core.errors import ArgumentTypeError
from mexc_core.events import (
    BalanceReconciled,
    Event,
    GapDetected,
    LinkRotated,
    ListenKeyCreated,
    OrderReconciled,
    OrderState,
    Push,
    ReconcileCompleted,
    ReconcileFailed,
    ReconcileTrigger,
    TradeRecovered,
)
from mexc_core.messages import PrivateAccountV3Api, PrivateDealsV3Api, PrivateOrdersV3Api
from mexc_core.rest import AccountInfo, Credentials, ListenKey
from mexc_core.session import SessionConfig
from mexc_core.testing.harness import CoreLoop
from mexc_sim.exchange import ExchangeConfig, UserAccount, default_markets
from mexc_sim.faults import Faults
from mexc_sim.protocol import SimConfig

MARKETS = default_markets(2)
SYMBOLS = tuple(m.symbol for m in MARKETS)
PRIVATE = [
    "spot@private.orders.v3.api.pb",
    "spot@private.deals.v3.api.pb",
    "spot@private.account.v3.api.pb",
]
KEYS_PATH = "/api/v3/userDataStream"


@dataclass
class Reported:
    """The private state as the client reported it, in order."""

    orders: dict[str, tuple[str, Decimal]] = field(default_factory=dict)
    trades: list[str] = field(default_factory=list)
    balances: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)
    # reconciled events that told nothing new: the state last reported, or a fill
    # already reported (a value may come back: A, B, then A again is news)
    twice: list[Any] = field(default_factory=list)


def reported(events: list[Event]) -> Reported:
    out = Reported()
    for event in events:
        if isinstance(event, Push):
            body = event.body
            if isinstance(body, PrivateOrdersV3Api):
                state = order_state(body.status).value
                out.orders[body.id] = (state, Decimal(body.cumulative_quantity))
            elif isinstance(body, PrivateDealsV3Api):
                out.trades.append(body.trade_id)
            elif isinstance(body, PrivateAccountV3Api):
                free, locked = Decimal(body.balance_amount), Decimal(body.frozen_amount)
                out.balances[body.vcoin_name] = (free, locked)
        elif isinstance(event, OrderReconciled):
            order = (event.status.value, Decimal(event.executed_qty))
            last = out.orders.get(event.order_id)
            if last is not None and (closed_alike(last[0]), last[1]) == (
                closed_alike(order[0]),
                order[1],
            ):
                out.twice.append(event)
            out.orders[event.order_id] = order
        elif isinstance(event, TradeRecovered):
            if event.trade_id in out.trades:
                out.twice.append(event)
            out.trades.append(event.trade_id)
        elif isinstance(event, BalanceReconciled):
            balance = (Decimal(event.free), Decimal(event.locked))
            if out.balances.get(event.asset) == balance:
                out.twice.append(event)
            out.balances[event.asset] = balance
    return out


def closed_alike(status: str) -> str:
    return "CANCELED" if status == "PARTIALLY_CANCELED" else status


class Trading:
    """A core with credentials on a :class:`CoreLoop`, and an account to trade with."""

    def __init__(self, seed: int = 0) -> None:
        sim = SimConfig(exchange=ExchangeConfig(markets=MARKETS, seed=seed))
        config = CoreConfig(
            pool=PoolConfig(host="127.0.0.1"), reconcile=ReconcileConfig(symbols=SYMBOLS)
        )
        self.loop = CoreLoop(config, sim, seed=seed, credentials=True)
        self.exchange = self.loop.sim.exchange
        account = self.exchange.account_for_key(self.loop.sim.config.exchange.api_key)
        assert account is not None
        self.account: UserAccount = account
        self.placed: list[str] = []
        self.unheard: set[str] = set()  # placed during the current outage
        self.ghosts: set[str] = set()  # placed and cancelled unfilled during an outage
        self.rng = random.Random(seed)
        self.loop.start()
        self.loop.subscribe_ticket(PRIVATE)
        self.loop.run_for(2.0)
        assert self.completed(ReconcileTrigger.BASELINE)
        self.initial = self.balances()
        self.down = False
        self.unheard.clear()

    def completed(self, trigger: ReconcileTrigger | None = None) -> list[ReconcileCompleted]:
        return [
            e
            for e in self.loop.of(ReconcileCompleted)
            if isinstance(e, ReconcileCompleted) and (trigger is None or e.trigger is trigger)
        ]

    def balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        return {a: (f, lk) for a, (f, lk) in self.account.balances.items()}

    def place(self, symbol: str, side: str, kind: str, price_factor: str | None) -> None:
        market = self.exchange.market(symbol, self.loop.now)
        spec = market.spec
        price = None
        if price_factor is not None:
            top = market.snapshot(1)
            best = Decimal(spec.price_text(top.bids[0][0] if side == "BUY" else top.asks[0][0]))
            scale = Decimal(1).scaleb(-spec.price_scale)
            price = str((best * Decimal(price_factor)).quantize(scale))
        order = self.exchange.place_order(
            self.account,
            self.loop.now,
            symbol=symbol,
            side=side,
            type=kind,
            quantity=spec.quantity_text(10 ** max(spec.quantity_scale - 3, 0)),
            price=price,
        )
        self.placed.append(order.order_id)
        if self.down:
            self.unheard.add(order.order_id)
        self.loop.run_for(0.01)  # the simulator sends its pushes as its time moves

    def cancel_one(self) -> bool:
        open_ = [o for o in self.account.orders.values() if o.is_open]
        if not open_:
            return False
        order = self.rng.choice(open_)
        if order.order_id in self.unheard and not order.executed:
            # neither open nor in the fills: only allOrders lists it
            self.ghosts.add(order.order_id)
        self.exchange.cancel_order(
            self.account, self.loop.now, symbol=order.symbol, order_id=order.order_id
        )
        self.loop.run_for(0.01)
        return True

    def reset_private_link(self) -> None:
        """The private link's socket dies and reconnects are refused for a while."""
        loop = self.loop
        (link,) = [link for link in loop.pool.links() if link.private]
        cid = link.cid
        assert cid is not None
        conn = loop.wires.pop(cid)
        loop.sim.disconnect(conn)
        loop.refuse_next = 1_000
        loop.core.transport_failed(cid, loop.now, "connection reset by peer")
        loop.settle()
        self.down = True

    def expire_listen_key(self) -> None:
        """MEXC drops the key and refuses new ones for a while."""
        loop = self.loop
        keys = loop.core.listen_keys
        assert keys is not None
        key = keys.key
        assert key is not None
        loop.sim.rest_faults.fail(KEYS_PATH, 503, count=1_000)
        self.exchange.expire_listen_key(key, loop.now)
        loop.settle()
        self.down = True

    def recover(self, *, rest_errors: dict[str, int] | None = None) -> None:
        """Let the client connect again (and answer these paths with these errors once)."""
        loop = self.loop
        loop.refuse_next = 0
        loop.sim.rest_faults.errors.clear()
        for path, status in (rest_errors or {}).items():
            loop.sim.rest_faults.fail(path, status)
        before = len(self.completed())
        for _ in range(400):
            loop.run_for(1.0)
            reconciler = loop.core.reconciler
            assert reconciler is not None
            if len(self.completed()) > before and reconciler.state is ReconcileState.IDLE:
                break
        else:
            raise AssertionError("no reconciliation completed after the outage")
        self.down = False

    def check(self) -> None:
        """What the client reported ends as the exchange has it, nothing twice."""
        seen = reported(self.loop.events)
        for order_id in self.placed:  # every order, even one placed and cancelled unheard
            truth = self.account.orders[order_id]
            status, executed = seen.orders[order_id]
            spec = self.exchange.markets[truth.symbol].spec
            assert (order_id, closed_alike(status)) == (order_id, closed_alike(truth.status.name))
            assert executed == Decimal(truth.executed).scaleb(-spec.quantity_scale)
        ghosts = {
            e.order_id for e in self.loop.of(OrderReconciled) if isinstance(e, OrderReconciled)
        }
        assert self.ghosts <= ghosts, "an order placed and cancelled unheard was not reconciled"
        truth_trades = [str(t["id"]) for t in self.account.trades]
        assert sorted(seen.trades) == sorted(truth_trades)
        truth_balances = self.balances()
        changed = {a for a, b in truth_balances.items() if self.initial.get(a) != b}
        for asset in changed | set(seen.balances):
            assert seen.balances[asset] == truth_balances[asset], asset
        assert seen.twice == []


def test_a_reset_private_link_is_reconciled_after_its_gap() -> None:
    trading = Trading()
    trading.place("BTCUSDT", "BUY", "LIMIT", "0.8")
    trading.place("BTCUSDT", "SELL", "LIMIT", "1.3")
    trading.reset_private_link()
    trading.loop.run_for(1.0)
    trading.cancel_one()
    trading.place("BTCUSDT", "BUY", "MARKET", None)
    trading.place("ETHUSDT", "SELL", "MARKET", None)
    trading.place("ETHUSDT", "BUY", "LIMIT", "0.9")
    trading.recover()
    (gap,) = trading.loop.of(GapDetected)
    assert isinstance(gap, GapDetected)
    (done,) = trading.completed(ReconcileTrigger.GAP)
    assert done.orders >= 3
    assert done.trades >= 2
    assert set(done.symbols) == set(SYMBOLS)
    assert done.started_at >= gap.ended_at
    trading.check()


def test_a_lost_listen_key_is_reconciled_once_the_new_one_carries() -> None:
    trading = Trading(seed=1)
    trading.place("BTCUSDT", "BUY", "LIMIT", "0.8")
    trading.expire_listen_key()
    trading.loop.run_for(5.0)
    assert not trading.loop.pool.is_carried(PRIVATE[0])
    assert trading.completed(ReconcileTrigger.LISTEN_KEY) == []
    trading.cancel_one()
    trading.place("BTCUSDT", "SELL", "MARKET", None)
    trading.recover()
    (done,) = trading.completed(ReconcileTrigger.LISTEN_KEY)
    assert (done.orders, done.trades) >= (2, 1)
    assert len(trading.loop.of(ListenKeyCreated)) == 2
    trading.check()


def test_an_order_placed_and_cancelled_unfilled_during_an_outage_is_reconciled() -> None:
    trading = Trading(seed=4)
    trading.place("ETHUSDT", "BUY", "LIMIT", "0.8")  # heard live: the window starts here
    for outage in (trading.reset_private_link, trading.expire_listen_key):
        outage()
        trading.loop.run_for(1.0)
        trading.place("BTCUSDT", "BUY", "LIMIT", "0.7")  # rests far from the market
        ghost = trading.placed[-1]
        assert trading.cancel_one()
        if ghost not in trading.ghosts:  # the heard one was cancelled: cancel the ghost too
            assert trading.cancel_one()
        assert ghost in trading.ghosts
        trading.recover()
        (event,) = [
            e for e in trading.loop.of(OrderReconciled) if getattr(e, "order_id", "") == ghost
        ]
        assert isinstance(event, OrderReconciled)
        assert (event.status, event.previous_status, event.executed_qty) == (
            OrderState.CANCELED,
            None,
            "0.000000",
        )
        trading.check()
    assert "/api/v3/allOrders" in trading.loop.rest_calls


def test_a_failed_reconciliation_is_retried() -> None:
    trading = Trading(seed=2)
    trading.reset_private_link()
    trading.place("BTCUSDT", "BUY", "MARKET", None)
    trading.recover(rest_errors={"/api/v3/account": 500})
    (failed,) = trading.loop.of(ReconcileFailed)
    assert isinstance(failed, ReconcileFailed)
    assert "HTTP 500" in failed.error
    assert trading.completed(ReconcileTrigger.GAP)
    trading.check()


def test_the_core_routes_reconciliation_answers_and_failures() -> None:
    creds = Credentials("key-0123456789", "secret-0123456789")
    core = ClientCore(
        CoreConfig(reconcile=ReconcileConfig(symbols=("BTCUSDT",))),
        credentials=creds,
        rng=random.Random(0),
    )
    assert core.reconciler is not None
    core.start(0.0)
    (create,) = core.intents()
    assert isinstance(create, RestCall)
    core.rest_result(create.call_id, ListenKey("k" * 64), 0.0)
    core.reconciler.listening(0.0, carried=True)  # as if the private topics were carried
    core.handle_timer(0.0)  # any input lets the core take the reconciler's requests
    calls = core.intents()
    assert [type(c.intent) for c in calls if isinstance(c, RestCall)] == [
        FetchAccount,
        FetchOpenOrders,
        FetchMyTrades,
        FetchAllOrders,
    ]
    account, orders, _trades, _all = calls
    assert isinstance(account, RestCall)
    assert "secret" not in repr(account)
    assert account.request(1_700_000_000_000).path == "/api/v3/account"
    with pytest.raises(ArgumentTypeError):
        core.rest_result(account.call_id, ListenKey("k" * 64), 0.2)
    core.rest_failed(account.call_id, 0.3, "timed out")
    (failed,) = [e for e in core.events() if isinstance(e, ReconcileFailed)]
    assert failed.error == "FetchAccount: timed out"
    assert core.next_deadline() == failed.retry_at
    assert isinstance(orders, RestCall)
    core.rest_result(orders.call_id, (), 0.4)  # of the failed attempt: ignored
    core.close(1.0)
    info = AccountInfo(can_trade=True, update_time=None, balances=(), raw={})
    core.rest_result(account.call_id, info, 1.0)  # no longer waited for
    assert core.reconciler.state.name == "CLOSED"


def test_without_credentials_or_when_disabled_there_is_no_reconciler() -> None:
    assert ClientCore(rng=random.Random(0)).reconciler is None
    creds = Credentials("key-0123456789", "secret-0123456789")
    config = CoreConfig(reconcile=ReconcileConfig(enabled=False))
    assert ClientCore(config, credentials=creds, rng=random.Random(0)).reconciler is None


# ---------------------------------------------------------------- the model


class ReconcileModel(RuleBasedStateMachine):
    """Random trading and outages; after each recovery the reported state is the truth."""

    def __init__(self) -> None:
        super().__init__()
        self.trading = Trading(seed=3)

    @rule(
        symbol=st.sampled_from(SYMBOLS),
        side=st.sampled_from(["BUY", "SELL"]),
        kind=st.sampled_from(["LIMIT", "MARKET"]),
        factor=st.sampled_from(["0.7", "0.9", "1.0", "1.2"]),
    )
    def place(self, symbol: str, side: str, kind: str, factor: str) -> None:
        note(f"place {side} {kind} {symbol} at {factor}")
        if side == "SELL" and factor in ("0.7", "0.9"):
            factor = "1.2"  # a sell below the market would fill at once anyway
        self.trading.place(symbol, side, kind, None if kind == "MARKET" else factor)

    @rule()
    def cancel(self) -> None:
        note(f"cancel: {self.trading.cancel_one()}")

    @precondition(lambda self: not self.trading.down)
    @rule(how=st.sampled_from(["reset", "key"]))
    def outage(self, how: str) -> None:
        note(f"outage by {how}")
        if how == "reset":
            self.trading.reset_private_link()
        else:
            self.trading.expire_listen_key()

    @rule(dt=st.floats(min_value=0.1, max_value=5.0))
    def advance(self, dt: float) -> None:
        note(f"advance {dt}")
        self.trading.loop.run_for(dt)

    @precondition(lambda self: self.trading.down)
    @rule()
    def recover(self) -> None:
        note("recover")
        self.trading.recover()
        self.trading.check()

    @invariant()
    def nothing_reconciled_twice(self) -> None:
        seen = reported(self.trading.loop.events)
        assert seen.twice == []

    def teardown(self) -> None:
        if self.trading.down:
            self.trading.recover()
        self.trading.check()


ReconcileModel.TestCase.settings = settings(
    max_examples=15,
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_the_model = ReconcileModel.TestCase


def test_public_gaps_and_a_core_without_reconciler_reconcile_nothing() -> None:
    sim = SimConfig(exchange=ExchangeConfig(markets=MARKETS))
    deals = f"spot@public.aggre.deals.v3.api.pb@100ms@{SYMBOLS[0]}"
    loop = CoreLoop(sim=sim, credentials=True)
    loop.sim.queue_faults(Faults(reset_after=3.0))
    loop.start()
    loop.subscribe_ticket([deals])
    loop.run_for(20.0)
    assert loop.of(GapDetected)
    reconciler = loop.core.reconciler
    assert reconciler is not None
    assert reconciler.state is ReconcileState.WAITING  # no private topic: no baseline
    assert "/api/v3/account" not in loop.rest_calls
    # with reconciliation off, a lost key is only a lost key
    config = CoreConfig(pool=PoolConfig(host="127.0.0.1"), reconcile=ReconcileConfig(enabled=False))
    off = CoreLoop(config, sim, credentials=True)
    off.start()
    off.subscribe_ticket(PRIVATE[:1])
    off.run_for(2.0)
    keys = off.core.listen_keys
    assert keys is not None
    assert keys.key is not None
    off.sim.exchange.expire_listen_key(keys.key, off.now)
    off.run_for(5.0)
    assert off.pool.is_carried(PRIVATE[0])
    assert off.of(ReconcileCompleted) == []
    assert "/api/v3/account" not in off.rest_calls


def test_a_rotated_private_link_misses_nothing_and_is_not_reconciled() -> None:
    session = SessionConfig(rotate_after=30.0, idle_timeout=None)
    config = CoreConfig(
        pool=PoolConfig(host="127.0.0.1", session=session),
        reconcile=ReconcileConfig(symbols=SYMBOLS),
    )
    loop = CoreLoop(config, SimConfig(exchange=ExchangeConfig(markets=MARKETS)), credentials=True)
    loop.start()
    loop.subscribe_ticket(PRIVATE)
    loop.run_for(70.0)
    assert loop.of(LinkRotated)
    assert not loop.of(GapDetected)
    assert [
        e.trigger for e in loop.of(ReconcileCompleted) if isinstance(e, ReconcileCompleted)
    ] == [ReconcileTrigger.BASELINE]
