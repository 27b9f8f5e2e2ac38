"""The reconciler, sans-IO, on virtual time: a fake exchange answers its requests.

The fake keeps the truth (orders, fills, balances) and answers every request as
MEXC does; tests change the truth "while the client was not listening" and check
what the reconciler reports. The whole client core against the simulator is in
``test_reconcile_core.py``; the anyio client in ``test_reconcile_aio.py``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import pytest

from mexc_core.client.backoff import Backoff
from mexc_core.client.pacer import SnapshotPacing
from mexc_core.client.reconcile import (
    _RECONCILE_TRANSITIONS,
    MAX_ORDER_PAGE,
    MAX_TRADE_PAGE,
    FetchAccount,
    FetchAllOrders,
    FetchMyTrades,
    FetchOpenOrders,
    FetchOrder,
    KnownOrder,
    ReconcileConfig,
    ReconcileInput,
    Reconciler,
    ReconcileState,
    answers,
    order_state,
)
from mexc_core.errors import ArgumentTypeError, ClockError, InvalidConfig, StateError
from mexc_core.events import (
    BalanceReconciled,
    Event,
    OrderReconciled,
    OrderState,
    Push,
    ReconcileCompleted,
    ReconcileFailed,
    ReconcileTrigger,
    TradeRecovered,
)
from mexc_core.messages import (
    PrivateAccountV3Api,
    PrivateDealsV3Api,
    PrivateOrdersV3Api,
    PublicAggreDealsV3Api,
)
from mexc_core.rest import (
    AccountInfo,
    ApiError,
    Balance,
    Credentials,
    Order,
    RateLimited,
    RestClient,
    ServerError,
    Trade,
)

S = ReconcileState
BTC, ETH = "BTCUSDT", "ETHUSDT"
DAY_MS = 24 * 3600 * 1000


def rest_order(
    oid: str, status: str, executed: str = "0", symbol: str = BTC, time: int = 1
) -> Order:
    return Order(
        symbol=symbol,
        order_id=oid,
        client_order_id="",
        price="1",
        orig_qty="1",
        executed_qty=executed,
        status=status,
        type="LIMIT",
        side="BUY",
        time=time,
        raw={},
    )


def rest_trade(tid: str, oid: str, time: int, symbol: str = BTC) -> Trade:
    return Trade(
        symbol=symbol,
        id=tid,
        order_id=oid,
        price="1",
        qty="1",
        quote_qty="1",
        commission="0",
        commission_asset="USDT",
        time=time,
        is_buyer=True,
        is_maker=False,
        raw={},
    )


def push(body: Any, symbol: str | None = BTC, send_time: int | None = 1000) -> Push:
    return Push(
        channel="spot@private.orders.v3.api.pb",
        body=body,
        symbol=symbol,
        symbol_id=None,
        create_time=None,
        send_time=send_time,
        unknown_fields=(),
    )


def order_push(oid: str, status: int, executed: str = "0", symbol: str | None = BTC) -> Push:
    return push(PrivateOrdersV3Api(id=oid, status=status, cumulative_quantity=executed), symbol)


def deal_push(tid: str, oid: str, time: int, symbol: str | None = BTC) -> Push:
    return push(PrivateDealsV3Api(trade_id=tid, order_id=oid, time=time), symbol)


def account_push(asset: str, free: str, locked: str) -> Push:
    return push(PrivateAccountV3Api(vcoin_name=asset, balance_amount=free, frozen_amount=locked))


@dataclass
class Truth:
    """The exchange's private state, answering requests as MEXC does."""

    orders: dict[str, Order] = field(default_factory=dict)
    trades: list[Trade] = field(default_factory=list)
    balances: dict[str, tuple[str, str]] = field(default_factory=dict)
    requests: list[Any] = field(default_factory=list)
    clock_ms: int = DAY_MS  # the exchange's time: a new order is created at it

    def order(self, oid: str, status: str, executed: str = "0", symbol: str = BTC) -> None:
        known = self.orders.get(oid)
        created = self.clock_ms if known is None else known.time
        assert created is not None
        self.orders[oid] = rest_order(oid, status, executed, symbol, created)

    def answer(self, intent: Any) -> Any:
        self.requests.append(intent)
        if isinstance(intent, FetchAccount):
            return AccountInfo(
                can_trade=True,
                update_time=None,
                balances=tuple(
                    Balance(asset=a, free=f, locked=lk) for a, (f, lk) in self.balances.items()
                ),
                raw={},
            )
        if isinstance(intent, FetchOpenOrders):
            return tuple(
                o
                for o in self.orders.values()
                if o.symbol == intent.symbol and o.status in ("NEW", "PARTIALLY_FILLED")
            )
        if isinstance(intent, FetchMyTrades):
            rows = [
                t
                for t in self.trades
                if t.symbol == intent.symbol
                and (intent.start_time is None or t.time >= intent.start_time)
                and (intent.end_time is None or t.time <= intent.end_time)
            ]
            return tuple(rows[-MAX_TRADE_PAGE:])
        if isinstance(intent, FetchAllOrders):
            start = self.clock_ms - DAY_MS if intent.start_time is None else intent.start_time
            return tuple(
                sorted(
                    (
                        o
                        for o in self.orders.values()
                        if o.symbol == intent.symbol
                        and (o.time or 0) >= start
                        and (intent.end_time is None or (o.time or 0) <= intent.end_time)
                    ),
                    key=lambda o: o.time or 0,
                )[-MAX_ORDER_PAGE:]
            )
        assert isinstance(intent, FetchOrder)
        found = self.orders.get(intent.order_id)
        if found is None:
            return ApiError("HTTP 400 code -2011", status=400, code=-2011, msg="Unknown order")
        return found


def state_of(rec: Reconciler) -> ReconcileState:
    """The state, read through a call (mypy narrows a property across calls)."""
    return rec.state


class Bench:
    """A reconciler, a truth and virtual time."""

    def __init__(self, config: ReconcileConfig | None = None) -> None:
        self.rec = Reconciler(config or ReconcileConfig(symbols=(BTC,)), rng=random.Random(0))
        self.truth = Truth()
        self.now = 0.0
        self.events: list[Event] = []

    def serve(self, *, until: float = 120.0) -> None:
        """Answer every request at once, moving time to each deadline, until quiet."""
        rec = self.rec
        while True:
            intents = rec.intents()
            for intent in intents:
                rec.receive_result(intent.request_id, self.truth.answer(intent), self.now)
            self.events.extend(rec.events())
            if intents:
                continue
            deadline = rec.next_deadline()
            if deadline is None or deadline > until:
                return
            self.now = deadline
            rec.handle_timer(self.now)

    def listen(self) -> None:
        self.rec.listening(self.now, carried=True)
        self.serve()

    def outage(self, trigger: ReconcileTrigger = ReconcileTrigger.GAP) -> None:
        self.rec.missed(trigger, self.now)

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    def baseline(self) -> None:
        self.listen()
        (done,) = self.of(ReconcileCompleted)
        assert done.trigger is ReconcileTrigger.BASELINE
        self.events.clear()


# ---------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("kwargs", "setting"),
    [
        ({"symbols": ["BTCUSDT"]}, "symbols"),
        ({"symbols": ("",)}, "symbols"),
        ({"max_symbols": 0}, "max_symbols"),
        ({"max_trade_pages": 1.5}, "max_trade_pages"),
        ({"max_order_pages": 0}, "max_order_pages"),
        ({"order_margin_ms": -1}, "order_margin_ms"),
        ({"order_margin_ms": 1.0}, "order_margin_ms"),
        ({"symbols": ("A", "B"), "max_symbols": 1}, "symbols"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, Any], setting: str) -> None:
    with pytest.raises(InvalidConfig) as info:
        ReconcileConfig(**kwargs)
    assert info.value.setting == setting


def test_order_states_from_rest_and_pushes() -> None:
    assert order_state("FILLED") is OrderState.FILLED
    assert order_state("WHAT") is OrderState.UNKNOWN
    assert [order_state(n) for n in (1, 2, 3, 4, 5, 9)] == [
        OrderState.NEW,
        OrderState.FILLED,
        OrderState.PARTIALLY_FILLED,
        OrderState.CANCELED,
        OrderState.PARTIALLY_CANCELED,
        OrderState.UNKNOWN,
    ]
    assert OrderState.PARTIALLY_FILLED.is_open
    assert not OrderState.CANCELED.is_open


def test_requests_are_signed_mexc_requests_with_their_weights() -> None:
    client = RestClient(Credentials("key-0123456789", "secret-0123456789"))
    built: list[tuple[Any, str, int]] = [
        (FetchAccount(1), "/api/v3/account", 10),
        (FetchOpenOrders(2, BTC), "/api/v3/openOrders", 3),
        (FetchMyTrades(3, BTC, 5, 9), "/api/v3/myTrades", 10),
        (FetchOrder(4, BTC, "C02__1"), "/api/v3/order", 2),
        (FetchAllOrders(5, BTC, 5, 9), "/api/v3/allOrders", 10),
    ]
    for intent, path, weight in built:
        request = intent.build(client, 1_700_000_000_000)
        assert (request.method, request.path, request.weight) == ("GET", path, weight)
        assert request.signed
        assert intent.weight == weight
    trades = FetchMyTrades(3, BTC, 5, 9).build(client, 1).query
    assert "startTime=5&endTime=9&limit=100" in trades
    assert "orderId=C02__1" in FetchOrder(4, BTC, "C02__1").build(client, 1).query
    assert answers(FetchOpenOrders(1, BTC), (rest_order("a", "NEW"),))
    assert not answers(FetchMyTrades(1, BTC, None, None), (rest_order("a", "NEW"),))
    assert not answers(FetchOrder(1, BTC, "a"), ())
    assert answers(FetchAllOrders(1, BTC, None, None), (rest_order("a", "CANCELED"),))
    now = 1_700_000_000_000
    week = 7 * DAY_MS
    orders = FetchAllOrders(5, BTC, 5, 9).build(client, now).query
    assert f"startTime={now - week}&endTime=9&limit=1000" in orders  # MEXC serves 7 days
    recent = FetchAllOrders(5, BTC, now - 5, None).build(client, now).query
    assert f"startTime={now - 5}&limit=1000" in recent
    assert "startTime" not in FetchAllOrders(5, BTC, None, None).build(client, now).query


def test_the_table_refuses_what_it_does_not_list() -> None:
    for state in S:
        for inp in ReconcileInput:
            rec = Reconciler(rng=random.Random(0))
            rec._machine.state = state
            if (state, inp) in _RECONCILE_TRANSITIONS:
                assert rec._machine.step(inp) is _RECONCILE_TRANSITIONS[state, inp]
            else:
                with pytest.raises(StateError):
                    rec._machine.step(inp)
                assert state_of(rec) is S.ERROR


# ---------------------------------------------------------------- the baseline


def test_the_baseline_learns_the_state_without_reporting_it() -> None:
    bench = Bench()
    truth = bench.truth
    truth.order("o1", "NEW")
    truth.order("o2", "PARTIALLY_FILLED", "0.5")
    truth.trades.append(rest_trade("t1", "o2", 100))
    truth.balances = {"USDT": ("10", "5"), "BTC": ("0", "0")}
    rec = bench.rec
    assert state_of(rec) is S.WAITING
    rec.listening(0.0, carried=False)
    assert state_of(rec) is S.WAITING
    bench.outage()  # before the baseline: still a baseline
    bench.listen()
    (done,) = bench.events
    assert isinstance(done, ReconcileCompleted)
    assert done.trigger is ReconcileTrigger.BASELINE
    assert (done.orders, done.balances, done.trades, done.requests, done.weight) == (0, 0, 0, 4, 33)
    assert state_of(rec) is S.IDLE
    assert rec.open_orders == {
        "o1": KnownOrder(BTC, OrderState.NEW, "0"),
        "o2": KnownOrder(BTC, OrderState.PARTIALLY_FILLED, "0.5"),
    }
    assert rec.balances == {"USDT": ("10", "5")}  # a zero balance never seen is not kept
    assert rec.last_trade_time(BTC) == 100
    assert rec.last_trade_time(ETH) is None
    assert rec.symbols == (BTC,)
    assert "IDLE" in repr(rec)


def test_without_a_baseline_nothing_is_due_until_something_is_missed() -> None:
    bench = Bench(ReconcileConfig(symbols=(BTC,), baseline=False))
    assert state_of(bench.rec) is S.IDLE
    bench.listen()
    assert bench.events == []
    bench.outage()
    bench.listen()
    (done,) = bench.of(ReconcileCompleted)
    # where unseen fills would start is unknown: only the open orders are read
    assert [type(r) for r in bench.truth.requests] == [FetchAccount, FetchOpenOrders]
    assert done.trigger is ReconcileTrigger.GAP


# ---------------------------------------------------------------- after an outage


def test_what_changed_during_an_outage_is_reported_once() -> None:
    bench = Bench()
    truth = bench.truth
    truth.order("kept", "NEW")
    truth.order("cancelled", "NEW")
    truth.order("filled", "PARTIALLY_FILLED", "0.5")
    truth.trades.append(rest_trade("t1", "filled", 100))
    truth.balances = {"USDT": ("10", "5"), "MX": ("3", "0")}
    bench.baseline()
    # while not listening: one cancelled, one filled, one placed and filled, one placed
    truth.order("cancelled", "CANCELED")
    truth.order("filled", "FILLED", "1")
    truth.order("new-filled", "FILLED", "1")
    truth.order("new-open", "NEW")
    truth.trades += [
        rest_trade("t2", "filled", 200),
        rest_trade("t3", "new-filled", 150),
    ]
    truth.balances = {"USDT": ("9", "6.0"), "BTC": ("2", "0")}  # MX gone: zero
    bench.outage(ReconcileTrigger.LISTEN_KEY)
    bench.outage(ReconcileTrigger.GAP)  # a listen-key loss stays the cause
    bench.listen()
    orders = {e.order_id: e for e in bench.of(OrderReconciled)}
    assert {k: (e.status, e.executed_qty, e.previous_status) for k, e in orders.items()} == {
        "cancelled": (OrderState.CANCELED, "0", OrderState.NEW),
        "filled": (OrderState.FILLED, "1", OrderState.PARTIALLY_FILLED),
        "new-filled": (OrderState.FILLED, "1", None),
        "new-open": (OrderState.NEW, "0", None),
    }
    assert orders["filled"].previous_executed_qty == "0.5"
    assert [e.trade_id for e in bench.of(TradeRecovered)] == ["t3", "t2"]  # oldest first
    balances = {e.asset: e for e in bench.of(BalanceReconciled)}
    assert {k: (e.free, e.locked, e.previous_free) for k, e in balances.items()} == {
        "USDT": ("9", "6.0", "10"),
        "BTC": ("2", "0", None),
        "MX": ("0", "0", "3"),
    }
    (done,) = bench.of(ReconcileCompleted)
    assert done.trigger is ReconcileTrigger.LISTEN_KEY
    assert (done.orders, done.balances, done.trades, done.unknown_orders) == (4, 3, 2, 0)
    assert bench.events[-1] is done
    # a second reconciliation with nothing new reports nothing
    bench.events.clear()
    bench.outage()
    bench.listen()
    (again,) = bench.events
    assert isinstance(again, ReconcileCompleted)
    assert (again.orders, again.balances, again.trades) == (0, 0, 0)


def test_live_pushes_are_remembered_and_win_over_rest() -> None:
    bench = Bench(ReconcileConfig())
    rec, truth = bench.rec, bench.truth
    bench.baseline()
    rec.observe(order_push("o1", 1), 1.0)
    rec.observe(deal_push("t1", "o1", 500), 1.0)
    rec.observe(account_push("USDT", "1", "2"), 1.0)
    assert rec.symbols == (BTC,)
    assert rec.order("o1") == KnownOrder(BTC, OrderState.NEW, "0")
    assert rec.last_trade_time(BTC) == 500
    assert rec.balances == {"USDT": ("1", "2")}
    truth.order("o1", "FILLED", "1")
    truth.order("o2", "NEW")
    truth.trades.append(rest_trade("t1", "o1", 500))  # seen live: not recovered
    truth.balances = {"USDT": ("0", "0"), "BTC": ("1", "0")}
    bench.now = 2.0
    bench.outage()
    rec.listening(bench.now, carried=True)
    # pushes that come while the requests are out are newer than the answers
    rec.observe(order_push("o1", 3, "0.5"), bench.now)
    rec.observe(order_push("o2", 1), bench.now)
    rec.observe(account_push("USDT", "7", "0"), bench.now)
    bench.serve()
    assert bench.of(OrderReconciled) == []
    assert [e.asset for e in bench.of(BalanceReconciled)] == ["BTC"]
    assert bench.of(TradeRecovered) == []
    assert rec.order("o1") == KnownOrder(BTC, OrderState.PARTIALLY_FILLED, "0.5")


def test_pushes_without_what_is_needed_change_nothing() -> None:
    bench = Bench(ReconcileConfig())
    rec = bench.rec
    rec.observe(order_push("o1", 1, symbol=None), 0.0)
    rec.observe(order_push("", 1), 0.0)
    rec.observe(deal_push("t1", "o1", 5, symbol=None), 0.0)
    rec.observe(deal_push("", "o1", 5), 0.0)
    rec.observe(account_push("", "1", "1"), 0.0)
    rec.observe(push(PublicAggreDealsV3Api()), 0.0)
    assert (rec.open_orders, rec.balances, rec.symbols) == ({}, {}, ())


def test_fills_start_where_the_symbol_was_first_seen() -> None:
    bench = Bench(ReconcileConfig())
    rec, truth = bench.rec, bench.truth
    bench.baseline()
    rec.observe(push(PrivateOrdersV3Api(id="o1", status=1, cumulative_quantity="0"), ETH, 300), 0.0)
    body = PrivateOrdersV3Api(id="o2", status=1, cumulative_quantity="0", create_time=50)
    rec.observe(push(body, "MXUSDT", None), 0.0)
    truth.trades += [rest_trade("old", "x", 100, ETH), rest_trade("t", "o1", 400, ETH)]
    truth.order("o1", "FILLED", "1", ETH)
    truth.order("o2", "NEW", "0", "MXUSDT")
    bench.outage()
    bench.listen()
    assert [e.trade_id for e in bench.of(TradeRecovered)] == ["t"]
    assert [e.order_id for e in bench.of(OrderReconciled)] == ["o1"]
    starts = [(r.symbol, r.start_time) for r in truth.requests if isinstance(r, FetchMyTrades)]
    assert starts[-2:] == [(ETH, 300), ("MXUSDT", 50)]


def test_many_fills_are_read_page_by_page_within_a_bound() -> None:
    bench = Bench(ReconcileConfig(symbols=(BTC, ETH), max_trade_pages=2))
    truth = bench.truth
    truth.trades.append(rest_trade("seen", "o", 10))
    truth.trades.append(rest_trade("seen-eth", "o", 10, ETH))
    bench.baseline()
    truth.order("o", "FILLED", "1")
    truth.order("p", "FILLED", "1", ETH)
    # BTC: 150 fills, two pages; ETH: 250 fills, more than two pages
    truth.trades += [rest_trade(f"b{i:03}", "o", 20 + i) for i in range(150)]
    truth.trades += [rest_trade(f"e{i:03}", "p", 20 + i, ETH) for i in range(250)]
    bench.outage()
    bench.listen()
    recovered = [e.trade_id for e in bench.of(TradeRecovered)]
    assert recovered[:150] == [f"b{i:03}" for i in range(150)]
    # two pages of 100 overlapping by one (endTime is inclusive): the newest 199
    assert recovered[150:] == [f"e{i:03}" for i in range(51, 250)]
    (done,) = bench.of(ReconcileCompleted)
    assert done.truncated
    # a full page of fills all seen ends the reading
    bench.events.clear()
    truth.trades += [rest_trade(f"c{i:03}", "o", 170) for i in range(100)]
    bench.rec.observe(deal_push("c099", "o", 170), bench.now)
    bench.outage()
    bench.listen()
    assert len(bench.of(TradeRecovered)) == 99
    (done,) = bench.of(ReconcileCompleted)
    assert not done.truncated


def test_an_order_mexc_no_longer_knows_is_forgotten() -> None:
    bench = Bench()
    bench.truth.order("gone", "NEW")
    bench.baseline()
    del bench.truth.orders["gone"]
    bench.outage()
    bench.listen()
    (done,) = bench.of(ReconcileCompleted)
    assert done.unknown_orders == 1
    assert bench.rec.order("gone") is None


def test_requests_are_paced_within_the_budget() -> None:
    config = ReconcileConfig(symbols=(BTC, ETH), pacing=SnapshotPacing(budget=10, window=10.0))
    bench = Bench(config)
    bench.listen()
    times = list(bench.truth.requests)
    assert [type(r) for r in times] == [
        FetchAccount,
        FetchOpenOrders,
        FetchMyTrades,
        FetchAllOrders,
        FetchOpenOrders,
        FetchMyTrades,
        FetchAllOrders,
    ]
    (done,) = bench.of(ReconcileCompleted)
    assert done.ended_at == pytest.approx(60.0)  # seven requests of weight <= 10, one per window


# ---------------------------------------------------------------- failures


def test_a_failed_request_fails_the_reconciliation_and_it_starts_again() -> None:
    bench = Bench(ReconcileConfig(symbols=(BTC,), retry=Backoff(initial=2.0, cap=2.0)))
    rec = bench.rec
    rec.listening(0.0, carried=True)
    first = rec.intents()
    assert [type(i) for i in first] == [
        FetchAccount,
        FetchOpenOrders,
        FetchMyTrades,
        FetchAllOrders,
    ]
    rec.request_failed(first[0].request_id, 1.0, "connection reset")
    (failed,) = rec.events()
    assert isinstance(failed, ReconcileFailed)
    assert failed.trigger is ReconcileTrigger.BASELINE
    assert failed.error == "FetchAccount: connection reset"
    assert (failed.attempt, failed.rate_limited) == (1, False)
    assert 1.0 <= failed.retry_at <= 3.0
    assert state_of(rec) is S.BACKOFF
    # answers of the failed attempt are ignored; so are unknown ids
    rec.receive_result(first[1].request_id, (), 1.5)
    rec.request_failed(first[2].request_id, 1.5)
    rec.request_failed(999, 1.5)
    rec.missed(ReconcileTrigger.GAP, 1.5)  # missed meanwhile: the retry covers it
    rec.listening(1.5, carried=False)  # and the private topics went away
    rec.handle_timer(1.6)  # not yet
    assert state_of(rec) is S.BACKOFF
    assert rec.next_deadline() == failed.retry_at
    rec.handle_timer(failed.retry_at)
    assert state_of(rec) is S.WAITING
    bench.now = failed.retry_at
    bench.listen()
    (done,) = bench.of(ReconcileCompleted)
    assert done.trigger is ReconcileTrigger.BASELINE


def test_a_rate_limit_waits_at_least_its_retry_after() -> None:
    bench = Bench()
    rec = bench.rec
    rec.listening(0.0, carried=True)
    account = rec.intents()[0]
    limited = RateLimited("HTTP 429", status=429, retry_after=30.0)
    rec.receive_result(account.request_id, limited, 1.0)
    (failed,) = rec.events()
    assert isinstance(failed, ReconcileFailed)
    assert failed.rate_limited
    assert failed.retry_at >= 31.0
    assert "HTTP 429" in failed.error
    rec.handle_timer(failed.retry_at)  # still carried: it starts again at once
    assert state_of(rec) is S.FETCHING
    assert [type(i) for i in rec.intents()] == [
        FetchAccount,
        FetchOpenOrders,
        FetchMyTrades,
        FetchAllOrders,
    ]


def test_a_server_error_on_an_order_fails_the_reconciliation() -> None:
    bench = Bench()
    bench.truth.order("o", "NEW")
    bench.baseline()
    del bench.truth.orders["o"]
    bench.outage()
    rec = bench.rec
    rec.listening(bench.now, carried=True)
    for intent in rec.intents():
        rec.receive_result(intent.request_id, bench.truth.answer(intent), bench.now)
    (query,) = rec.intents()
    assert isinstance(query, FetchOrder)
    rec.receive_result(query.request_id, ServerError("HTTP 503", status=503), bench.now)
    (failed,) = rec.events()
    assert isinstance(failed, ReconcileFailed)
    assert failed.trigger is ReconcileTrigger.GAP


def test_an_answer_of_the_wrong_type_is_refused() -> None:
    rec = Reconciler(rng=random.Random(0))
    rec.listening(0.0, carried=True)
    account = rec.intents()[0]
    with pytest.raises(ArgumentTypeError, match="FetchAccount"):
        rec.receive_result(account.request_id, (), 0.0)
    with pytest.raises(ClockError):
        rec.handle_timer(-1.0)


def test_missed_while_fetching_starts_another_after_it() -> None:
    bench = Bench()
    rec = bench.rec
    rec.listening(0.0, carried=True)
    bench.outage(ReconcileTrigger.LISTEN_KEY)
    assert state_of(rec) is S.FETCHING
    bench.serve()
    assert state_of(rec) is S.WAITING
    assert [e.trigger for e in bench.of(ReconcileCompleted)] == [ReconcileTrigger.BASELINE]
    bench.listen()
    assert [e.trigger for e in bench.of(ReconcileCompleted)] == [
        ReconcileTrigger.BASELINE,
        ReconcileTrigger.LISTEN_KEY,
    ]


def test_closing_ignores_what_comes_after() -> None:
    rec = Reconciler(rng=random.Random(0))
    rec.listening(0.0, carried=True)
    out = rec.intents()
    rec.close()
    rec.close()
    assert state_of(rec) is S.CLOSED
    rec.missed(ReconcileTrigger.GAP, 1.0)
    rec.listening(1.0, carried=True)
    rec.receive_result(out[0].request_id, (), 1.0)
    rec.handle_timer(1.0)
    assert (rec.intents(), list(rec.events()), rec.next_deadline()) == ([], [], None)
    assert rec.next_event() is None


# ---------------------------------------------------------------- memory


def test_memory_is_bounded() -> None:
    config = ReconcileConfig(
        symbols=(BTC,),
        max_symbols=2,
        max_open_orders=2,
        max_closed_orders=1,
        max_trade_ids=2,
    )
    rec = Reconciler(config, rng=random.Random(0))
    for i in range(3):
        rec.observe(order_push(f"o{i}", 1), 0.0)
    assert list(rec.open_orders) == ["o1", "o2"]
    assert rec.forgotten_orders == 1
    rec.observe(order_push("o1", 4), 0.0)
    rec.observe(order_push("o2", 2, "1"), 0.0)
    assert rec.order("o1") is None  # closed, then pushed out by o2
    assert rec.order("o2") == KnownOrder(BTC, OrderState.FILLED, "1")
    rec.observe(order_push("o2", 2, "1"), 0.0)  # the same again
    for i in range(3):
        rec.observe(deal_push(f"t{i}", "o2", i), 0.0)
    assert list(rec._fills[BTC].ids) == ["t1", "t2"]
    rec.observe(deal_push("t9", "o2", 1), 0.0)  # older than the last: the last stays
    assert rec.last_trade_time(BTC) == 2
    # symbols: the configured ones stay, the least recently seen others go
    rec.observe(order_push("e", 1, symbol=ETH), 0.0)
    rec.observe(order_push("e", 1, symbol=ETH), 0.0)
    rec.observe(order_push("x", 1, symbol="MXUSDT"), 0.0)
    rec.observe(order_push("b", 1, symbol=BTC), 0.0)
    assert rec.symbols == (BTC, "MXUSDT")
    assert rec.last_trade_time(ETH) is None


def test_amounts_compare_as_numbers_and_statuses_as_rest_has_them() -> None:
    bench = Bench()
    bench.baseline()
    rec = bench.rec
    rec.observe(order_push("a", 5, "0.50"), 0.0)  # partly cancelled: REST says CANCELED
    rec.observe(order_push("b", 1, "n/a"), 0.0)
    rec.observe(account_push("USDT", "1.0", "0"), 0.0)
    bench.truth.order("a", "CANCELED", "0.5")
    bench.truth.order("b", "NEW", "n/a")
    bench.truth.balances = {"USDT": ("1", "0.000")}
    bench.outage()
    bench.listen()
    assert bench.of(OrderReconciled) == []
    assert bench.of(BalanceReconciled) == []


def test_an_order_pushed_while_it_is_queried_keeps_the_pushed_state() -> None:
    bench = Bench()
    bench.truth.order("o", "NEW")
    bench.baseline()
    bench.truth.order("o", "CANCELED")
    del bench.truth.orders["o"]
    bench.truth.order("o", "CANCELED")
    bench.outage()
    rec = bench.rec
    rec.listening(bench.now, carried=True)
    truth = bench.truth
    truth.orders = {}  # not listed open
    for intent in rec.intents():
        rec.receive_result(intent.request_id, truth.answer(intent), bench.now)
    (query,) = rec.intents()
    assert isinstance(query, FetchOrder)
    rec.observe(order_push("o", 2, "1"), bench.now)  # filled, pushed live
    rec.receive_result(query.request_id, rest_order("o", "CANCELED"), bench.now)
    assert [type(e) for e in rec.events()] == [ReconcileCompleted]
    assert rec.order("o") == KnownOrder(BTC, OrderState.FILLED, "1")


def test_a_paced_reconciliation_leaves_no_stale_deadline() -> None:
    config = ReconcileConfig(symbols=(BTC,), pacing=SnapshotPacing(budget=13, window=10.0))
    rec = Reconciler(config, rng=random.Random(0))
    rec.listening(0.0, carried=True)
    sent = rec.intents()
    assert [type(i) for i in sent] == [FetchAccount, FetchOpenOrders]
    assert rec.next_deadline() == 10.0
    truth = Truth()
    rec.handle_timer(10.0)
    (trades,) = rec.intents()
    assert rec.next_deadline() == 20.0
    rec.handle_timer(20.0)
    (orders,) = rec.intents()
    for intent in (*sent, trades, orders):
        rec.receive_result(intent.request_id, truth.answer(intent), 20.0)
    assert state_of(rec) is S.IDLE
    assert rec.next_deadline() is None


# ---------------------------------------------------------------- allOrders


def test_an_order_placed_and_cancelled_unfilled_during_an_outage_is_reported() -> None:
    bench = Bench(ReconcileConfig(symbols=(BTC,), order_margin_ms=1_000))
    rec, truth = bench.rec, bench.truth
    truth.order("before-start", "CANCELED")  # closed before the client started
    bench.baseline()
    truth.clock_ms += 60_000
    truth.order("long-closed", "CANCELED")  # seen live, long before the outage
    rec.observe(
        push(
            PrivateOrdersV3Api(id="long-closed", status=4, cumulative_quantity="0"),
            BTC,
            truth.clock_ms,
        ),
        0.0,
    )
    truth.clock_ms += 60_000
    truth.order("seen", "NEW")
    rec.observe(
        push(PrivateOrdersV3Api(id="seen", status=1, cumulative_quantity="0"), BTC, truth.clock_ms),
        0.0,
    )
    last_event = truth.clock_ms
    bench.outage()
    # while not listening: one placed and cancelled unfilled, one placed and left
    truth.clock_ms += 5_000
    truth.order("ghost", "CANCELED")
    truth.order("new", "NEW")
    rec.observe(push(PrivateOrdersV3Api(id="x", status=1), ETH, truth.clock_ms), 0.0)  # later
    bench.listen()
    (window,) = [
        r for r in truth.requests[-8:] if isinstance(r, FetchAllOrders) and r.symbol == BTC
    ]
    assert (window.start_time, window.end_time) == (last_event - 1_000, None)
    assert [(e.order_id, e.status, e.previous_status) for e in bench.of(OrderReconciled)] == [
        ("new", OrderState.NEW, None),  # listed open (openOrders answers first)
        ("ghost", OrderState.CANCELED, None),
    ]
    (done,) = bench.of(ReconcileCompleted)
    assert (done.orders, done.truncated) == (2, False)
    assert rec.order("ghost") == KnownOrder(BTC, OrderState.CANCELED, "0")
    # the next outage reports nothing again
    bench.events.clear()
    bench.outage()
    bench.listen()
    assert bench.of(OrderReconciled) == []


def test_with_no_event_seen_the_window_is_the_baselines() -> None:
    bench = Bench()
    truth = bench.truth
    truth.order("before-start", "CANCELED")  # within the last 24 hours
    bench.baseline()
    assert bench.rec.order("before-start") == KnownOrder(BTC, OrderState.CANCELED, "0")
    bench.outage()
    truth.clock_ms += 1_000
    truth.order("ghost", "CANCELED")
    bench.listen()
    assert [e.order_id for e in bench.of(OrderReconciled)] == ["ghost"]
    windows = [r.start_time for r in truth.requests if isinstance(r, FetchAllOrders)]
    assert windows == [None, None]


def test_without_a_baseline_orders_are_read_once_an_event_was_seen() -> None:
    bench = Bench(ReconcileConfig(symbols=(BTC,), baseline=False, order_margin_ms=0))
    rec, truth = bench.rec, bench.truth
    rec.observe(account_push("USDT", "1", "0"), 0.0)  # sent at 1000
    truth.clock_ms = 1_000
    truth.order("at-the-edge", "CANCELED")
    bench.outage()
    bench.listen()
    assert [e.order_id for e in bench.of(OrderReconciled)] == ["at-the-edge"]
    (window,) = [r for r in truth.requests if isinstance(r, FetchAllOrders)]
    assert window.start_time == 1_000


def test_many_orders_are_read_page_by_page_within_a_bound() -> None:
    config = ReconcileConfig(
        symbols=(BTC, ETH), max_order_pages=2, order_margin_ms=0, max_closed_orders=5_000
    )
    bench = Bench(config)
    rec, truth = bench.rec, bench.truth
    bench.baseline()
    rec.observe(order_push("o", 4), 0.0)  # sent at 1000: the window starts there
    bench.outage()
    # BTC: 1500 orders, two pages; ETH: 2500, more than two pages
    for i in range(1500):
        truth.clock_ms = 2_000 + i
        truth.order(f"b{i:04}", "CANCELED")
    for i in range(2500):
        truth.clock_ms = 2_000 + i
        truth.order(f"e{i:04}", "CANCELED", symbol=ETH)
    bench.listen()
    reported = [e.order_id for e in bench.of(OrderReconciled)]
    assert reported[:1500] == [f"b{i:04}" for i in range(1500)]
    # two pages of 1000 overlapping by one (endTime is inclusive): the newest 1999
    assert reported[1500:] == [f"e{i:04}" for i in range(501, 2500)]
    (done,) = bench.of(ReconcileCompleted)
    assert done.truncated
    pages = [(r.symbol, r.end_time) for r in truth.requests if isinstance(r, FetchAllOrders)]
    assert pages[-4:] == [(BTC, None), (BTC, 2_500), (ETH, None), (ETH, 3_500)]
    # a full page of orders all known ends the reading
    bench.events.clear()
    bench.outage()
    bench.listen()
    assert bench.of(OrderReconciled) == []
    (done,) = bench.of(ReconcileCompleted)
    assert not done.truncated


def test_answers_older_than_what_is_known_change_nothing() -> None:
    bench = Bench()
    rec, truth = bench.rec, bench.truth
    truth.order("filled", "NEW")
    truth.order("part", "PARTIALLY_FILLED", "0.5")
    bench.baseline()
    rec.observe(order_push("filled", 2, "1"), 0.0)  # pushed: filled
    rec.observe(order_push("part", 3, "0.7"), 0.0)  # pushed: more filled
    rec.observe(order_push("odd", 9), 0.0)  # a status unknown here
    truth.order("odd", "NEW")
    bench.outage()
    bench.listen()  # REST still says NEW, 0.5 (an older view)
    assert [(e.order_id, e.status) for e in bench.of(OrderReconciled)] == [("odd", OrderState.NEW)]
    assert rec.order("filled") == KnownOrder(BTC, OrderState.FILLED, "1")
    assert rec.order("part") == KnownOrder(BTC, OrderState.PARTIALLY_FILLED, "0.7")


def test_a_push_during_the_reconciliation_wins_over_all_orders() -> None:
    bench = Bench()
    rec, truth = bench.rec, bench.truth
    bench.baseline()
    rec.observe(order_push("o", 1), 0.0)
    bench.outage()
    truth.order("o", "CANCELED")
    truth.order("p", "NEW")  # listed by allOrders, filled before openOrders answered
    rec.listening(bench.now, carried=True)
    sent = rec.intents()
    rec.observe(order_push("o", 2, "1"), bench.now)  # filled, pushed live
    for intent in sent:
        answer = truth.answer(intent)
        if isinstance(intent, FetchOpenOrders):
            answer = ()
        rec.receive_result(intent.request_id, answer, bench.now)
    (query,) = rec.intents()  # p: open by allOrders, not by openOrders
    assert isinstance(query, FetchOrder)
    assert query.order_id == "p"
    rec.receive_result(query.request_id, rest_order("p", "FILLED", "1"), bench.now)
    events = list(rec.events())
    assert [(e.order_id, e.status) for e in events if isinstance(e, OrderReconciled)] == [
        ("p", OrderState.NEW),
        ("p", OrderState.FILLED),
    ]
    assert rec.order("o") == KnownOrder(BTC, OrderState.FILLED, "1")


def test_a_failed_reconciliation_retries_from_the_same_window() -> None:
    bench = Bench(ReconcileConfig(symbols=(BTC,), order_margin_ms=0))
    rec, truth = bench.rec, bench.truth
    bench.baseline()
    rec.observe(push(PrivateOrdersV3Api(id="o", status=4), BTC, 5_000), 0.0)
    bench.outage()
    rec.listening(bench.now, carried=True)
    first = rec.intents()
    rec.request_failed(first[0].request_id, bench.now)
    rec.observe(push(PrivateOrdersV3Api(id="q", status=4), BTC, 9_000), bench.now)
    bench.outage()  # missed again while backing off: the retry covers it
    bench.serve()
    windows = [r.start_time for r in truth.requests if isinstance(r, FetchAllOrders)]
    assert windows[-1] == 5_000
    assert [e.trigger for e in bench.of(ReconcileCompleted)] == [ReconcileTrigger.GAP]
    # a later outage starts from the latest event seen when it was missed
    rec.observe(push(PrivateOrdersV3Api(id="r", status=4), BTC, 12_000), bench.now)
    bench.outage()
    rec.observe(push(PrivateOrdersV3Api(id="s", status=4), BTC, 15_000), bench.now)
    bench.listen()
    windows = [r.start_time for r in truth.requests if isinstance(r, FetchAllOrders)]
    assert windows[-1] == 12_000


def test_an_order_both_unlisted_and_named_by_a_fill_is_asked_for_once() -> None:
    bench = Bench()
    rec, truth = bench.rec, bench.truth
    truth.order("o", "NEW")
    bench.baseline()
    rec.observe(order_push("odd", 1, "n/a"), 0.0)  # an amount that is not a number
    bench.outage()
    del truth.orders["o"]  # older than the allOrders window: only GET /api/v3/order sees it
    truth.trades.append(rest_trade("t", "o", 100))
    truth.order("odd", "PARTIALLY_FILLED", "0.5")
    rec.listening(bench.now, carried=True)
    for intent in rec.intents():
        rec.receive_result(intent.request_id, truth.answer(intent), bench.now)
    (query,) = rec.intents()
    assert isinstance(query, FetchOrder)
    rec.receive_result(query.request_id, rest_order("o", "FILLED", "1"), bench.now)
    reported = [(e.order_id, e.status) for e in rec.events() if isinstance(e, OrderReconciled)]
    assert reported == [("odd", OrderState.PARTIALLY_FILLED), ("o", OrderState.FILLED)]
