"""Private-state reconciliation over REST, without I/O.

Theory of operation
===================

MEXC does not replay private pushes: while a private link is down, its listen key
is being replaced, or the client's own buffers overflow, order updates, fills and
balance changes are simply not delivered. A :class:`Reconciler` remembers the
private state the pushes showed (orders by id with their status and filled
quantity, balances by asset, the last fill seen per symbol) and, once the private
topics are carried again, reads the truth over REST and reports the difference:

- ``GET /api/v3/account`` (weight 10): every balance that differs from the one
  last seen, as :class:`~mexc_core.events.BalanceReconciled`;
- per symbol, ``GET /api/v3/openOrders`` (weight 3): orders open now that were
  never seen or have moved on, as :class:`~mexc_core.events.OrderReconciled`;
- per symbol, ``GET /api/v3/myTrades?startTime=<last fill seen>`` (weight 10,
  100 fills a page, read backwards with ``endTime`` while pages are full): every
  fill no push delivered, as :class:`~mexc_core.events.TradeRecovered`, oldest first;
- per symbol, ``GET /api/v3/allOrders?startTime=<last private event seen,
  minus a margin>`` (weight 10, 1000 orders a page, read backwards with
  ``endTime`` while pages are full): every order created since, open, filled or
  cancelled, that differs from what was seen, as
  :class:`~mexc_core.events.OrderReconciled` -- so an order placed and cancelled
  unfilled during the outage is reported too;
- ``GET /api/v3/order`` (weight 2) for each order still known open (after
  ``allOrders``) that ``openOrders`` does not list, and each order a recovered
  fill names that is neither listed open nor known closed: its final state
  (filled, cancelled), as :class:`~mexc_core.events.OrderReconciled`;
- then one :class:`~mexc_core.events.ReconcileCompleted` with the counts, or
  :class:`~mexc_core.events.ReconcileFailed` with the cause and the retry time.

The symbols read are ``ReconcileConfig.symbols`` plus those of the private
pushes seen (most recent first, at most ``max_symbols``). Requests are paced
within a budget of weight (``ReconcileConfig.pacing``), so a reconciliation never
spends MEXC's limits of the user's own calls.

.. mexc-transitions:: mexc_core.client.reconcile._RECONCILE_TRANSITIONS
   :title: reconciler

Rules the table does not show:

1. The owner reports what was missed (:meth:`Reconciler.missed`) and whether the
   private topics are carried (:meth:`Reconciler.listening`, at every change); a
   reconciliation starts in ``WAITING`` once they are (a retry too). The first
   one (``BASELINE``) records the state without reporting it item by item
   (``allOrders`` of the last 24 hours, MEXC's default window): later ones
   compare against it, so an order open before the client started and
   cancelled during an outage is reported, and one closed before it started
   is not.
2. A push seen while a reconciliation runs is newer than (or as new as) what REST
   says: the order or asset it names is left out of that reconciliation, and a
   fill already seen is never reported. Nothing is reported twice: what is
   reported becomes the last state seen. A closed order is never reopened and
   a filled quantity never shrinks by an answer (answers to concurrent requests
   may be older than each other).
3. The ``allOrders`` window starts at the latest private event time seen (the
   push's send time) when the first miss was reported, minus
   ``order_margin_ms``; with no event seen yet, it is the last 24 hours after a
   baseline, and no ``allOrders`` is read without one.
4. Something missed while ``FETCHING`` lets the running reconciliation finish,
   then starts another (``MISSED`` after ``DONE``).
5. Any failed request (transport, HTTP error, a 429) fails the whole
   reconciliation (``FAIL``): answers still out are ignored, it starts again from
   scratch after a capped exponential backoff with jitter, at least
   ``Retry-After`` after a 429 or 418. What it reported stands. An order MEXC
   does not know (``-2011``) is forgotten, not a failure.
6. Memory is bounded (:class:`ReconcileConfig`): open orders (the oldest
   forgotten past ``max_open_orders``), recently closed orders, fill ids per
   symbol, symbols. A forgotten open order that ends during an outage is not
   reported; a full page count (``max_trade_pages``, ``max_order_pages``)
   marks the summary ``truncated``.
"""

from __future__ import annotations

import enum
import math
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import ClassVar, Final, cast, final

from mexc_core._clock import checked_now
from mexc_core._machine import Machine, frozen_table
from mexc_core.client.backoff import Backoff, RandomSource
from mexc_core.client.pacer import SnapshotPacer, SnapshotPacing
from mexc_core.errors import ArgumentTypeError, InvalidConfig
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
from mexc_core.messages import PrivateAccountV3Api, PrivateDealsV3Api, PrivateOrdersV3Api
from mexc_core.rest import (
    AccountInfo,
    ApiError,
    Order,
    RateLimited,
    RestClient,
    RestError,
    RestRequest,
    Trade,
)

__all__ = (
    "FetchAccount",
    "FetchAllOrders",
    "FetchMyTrades",
    "FetchOpenOrders",
    "FetchOrder",
    "KnownOrder",
    "ReconcileConfig",
    "ReconcileInput",
    "ReconcileIntent",
    "ReconcileResult",
    "ReconcileState",
    "Reconciler",
)

#: The most fills ``GET /api/v3/myTrades`` returns in one answer.
MAX_TRADE_PAGE: Final = 100
#: The most orders ``GET /api/v3/allOrders`` returns in one answer.
MAX_ORDER_PAGE: Final = 1000
#: How far back ``GET /api/v3/allOrders`` reaches: the last 7 days (ms).
MAX_ORDER_AGE_MS: Final = 7 * 24 * 3600 * 1000
#: MEXC's code for an order it does not know.
UNKNOWN_ORDER: Final = -2011

#: The private orders push's ``status`` numbers.
_PUSH_STATUS: Final = {
    1: OrderState.NEW,
    2: OrderState.FILLED,
    3: OrderState.PARTIALLY_FILLED,
    4: OrderState.CANCELED,
    5: OrderState.PARTIALLY_CANCELED,
}


def order_state(status: str | int) -> OrderState:
    """An order status from REST (``"FILLED"``) or a push (``2``).

    >>> order_state("PARTIALLY_FILLED"), order_state(4), order_state("ODD")
    (<OrderState.PARTIALLY_FILLED: 'PARTIALLY_FILLED'>, <OrderState.CANCELED: 'CANCELED'>, <OrderState.UNKNOWN: 'UNKNOWN'>)
    """  # noqa: E501 - a doctest line
    if isinstance(status, int):
        return _PUSH_STATUS.get(status, OrderState.UNKNOWN)
    try:
        return OrderState(status)
    except ValueError:
        return OrderState.UNKNOWN


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ReconcileConfig:
    """Settings of the :class:`Reconciler` (see the module docstring).

    :ivar enabled: reconcile at all (with credentials only).
    :ivar symbols: symbols whose orders and fills are always read, besides those
        seen in private pushes. The baseline reads these only.
    :ivar baseline: reconcile once when the private topics are first carried,
        to know the orders and balances from before the client started.
    :ivar max_symbols: symbols read per reconciliation (``symbols`` first, then
        the most recently seen).
    :ivar max_open_orders: open orders remembered (the oldest forgotten past it).
    :ivar max_closed_orders: closed orders remembered, so a late answer does not
        report them again.
    :ivar max_trade_ids: fill ids remembered per symbol.
    :ivar max_trade_pages: ``myTrades`` pages read per symbol per reconciliation.
    :ivar max_order_pages: ``allOrders`` pages (of 1000) read per symbol per
        reconciliation.
    :ivar order_margin_ms: how long before the last private event seen the
        ``allOrders`` window starts (ms), for pushes of the moment an outage
        began that were in flight.
    :ivar pacing: the REST weight budget reconciliations are paced within.
    :ivar retry: the delays before a failed reconciliation starts again.
    """

    enabled: bool = True
    symbols: tuple[str, ...] = ()
    baseline: bool = True
    max_symbols: int = 50
    max_open_orders: int = 10_000
    max_closed_orders: int = 2_000
    max_trade_ids: int = 1_000
    max_trade_pages: int = 5
    max_order_pages: int = 2
    order_margin_ms: int = 10_000
    pacing: SnapshotPacing = field(default_factory=lambda: SnapshotPacing(budget=100))
    retry: Backoff = field(default_factory=lambda: Backoff(initial=1.0, cap=60.0))

    def __post_init__(self) -> None:
        if not isinstance(self.symbols, tuple) or not all(
            isinstance(s, str) and s for s in self.symbols
        ):
            raise InvalidConfig("symbols must be a tuple of symbol names", setting="symbols")
        for name in (
            "max_symbols",
            "max_open_orders",
            "max_closed_orders",
            "max_trade_ids",
            "max_trade_pages",
            "max_order_pages",
        ):
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise InvalidConfig(f"{name} must be a positive int", setting=name)
        margin = self.order_margin_ms
        if type(margin) is not int or margin < 0:
            raise InvalidConfig(
                "order_margin_ms must be an int of 0 or more", setting="order_margin_ms"
            )
        if len(self.symbols) > self.max_symbols:
            raise InvalidConfig(
                f"{len(self.symbols)} symbols are more than max_symbols ({self.max_symbols})",
                setting="symbols",
            )


# ---------------------------------------------------------------- intents


@final
@dataclass(frozen=True, slots=True)
class FetchAccount:
    """Read the balances (``GET /api/v3/account``, signed)."""

    request_id: int
    weight: ClassVar[int] = 10

    def build(self, rest: RestClient, wall_ms: int) -> RestRequest[AccountInfo]:
        """The signed request, stamped with ``wall_ms``."""
        return rest.account(wall_ms)


@final
@dataclass(frozen=True, slots=True)
class FetchOpenOrders:
    """Read ``symbol``'s open orders (``GET /api/v3/openOrders``, signed)."""

    request_id: int
    symbol: str
    weight: ClassVar[int] = 3

    def build(self, rest: RestClient, wall_ms: int) -> RestRequest[tuple[Order, ...]]:
        """The signed request, stamped with ``wall_ms``."""
        return rest.open_orders(self.symbol, wall_ms)


@final
@dataclass(frozen=True, slots=True)
class FetchMyTrades:
    """Read ``symbol``'s fills from ``start_time`` to ``end_time``, both inclusive
    (``GET /api/v3/myTrades``, signed; ``None``: unbounded)."""

    request_id: int
    symbol: str
    start_time: int | None
    end_time: int | None
    weight: ClassVar[int] = 10

    def build(self, rest: RestClient, wall_ms: int) -> RestRequest[tuple[Trade, ...]]:
        """The signed request, stamped with ``wall_ms``."""
        return rest.my_trades(
            self.symbol,
            wall_ms,
            start_time=self.start_time,
            end_time=self.end_time,
            limit=MAX_TRADE_PAGE,
        )


@final
@dataclass(frozen=True, slots=True)
class FetchAllOrders:
    """Read ``symbol``'s orders created from ``start_time`` to ``end_time``, both
    inclusive, open or not (``GET /api/v3/allOrders``, signed; ``start_time``
    ``None``: MEXC's default, the last 24 hours; ``end_time`` ``None``: now).

    A ``start_time`` older than the 7 days MEXC serves is moved to their start.
    """

    request_id: int
    symbol: str
    start_time: int | None
    end_time: int | None
    weight: ClassVar[int] = 10

    def build(self, rest: RestClient, wall_ms: int) -> RestRequest[tuple[Order, ...]]:
        """The signed request, stamped with ``wall_ms``."""
        start = self.start_time
        if start is not None:
            start = max(start, wall_ms - MAX_ORDER_AGE_MS)
        return rest.all_orders(
            self.symbol, wall_ms, start_time=start, end_time=self.end_time, limit=MAX_ORDER_PAGE
        )


@final
@dataclass(frozen=True, slots=True)
class FetchOrder:
    """Read one order (``GET /api/v3/order``, signed)."""

    request_id: int
    symbol: str
    order_id: str
    weight: ClassVar[int] = 2

    def build(self, rest: RestClient, wall_ms: int) -> RestRequest[Order]:
        """The signed request, stamped with ``wall_ms``."""
        return rest.query_order(self.symbol, self.order_id, wall_ms)


#: What the reconciler asks for.
ReconcileIntent = FetchAccount | FetchOpenOrders | FetchMyTrades | FetchAllOrders | FetchOrder
#: What its requests are answered with, when they succeed.
ReconcileResult = AccountInfo | Order | tuple[Order, ...] | tuple[Trade, ...]


def answers(intent: ReconcileIntent, result: object) -> bool:
    """Whether ``result`` is of the type ``intent``'s request returns."""
    if isinstance(intent, FetchAccount):
        return isinstance(result, AccountInfo)
    if isinstance(intent, FetchOrder):
        return isinstance(result, Order)
    item = Order if isinstance(intent, (FetchOpenOrders, FetchAllOrders)) else Trade
    return isinstance(result, tuple) and all(isinstance(x, item) for x in result)


# ---------------------------------------------------------------- the machine


class ReconcileState(enum.Enum):
    """Where the reconciler is (it starts in ``WAITING`` for the baseline, or in
    ``IDLE`` without one)."""

    #: Something was missed (or the baseline is due): waiting for the private
    #: topics to be carried.
    WAITING = "waiting"
    #: Up to date with what the pushes showed.
    IDLE = "idle"
    #: Requests out.
    FETCHING = "fetching"
    #: The last attempt failed; the next starts at its retry time.
    BACKOFF = "backoff"
    #: Closed for good.
    CLOSED = "closed"
    #: A broken rule (a bug).
    ERROR = "error"


class ReconcileInput(enum.Enum):
    """What moves the reconciler."""

    #: Private pushes may have been missed.
    MISSED = "missed"
    #: The private topics are carried (in ``WAITING``): a reconciliation starts.
    LISTENING = "listening"
    #: Every answer of the reconciliation arrived.
    DONE = "done"
    #: A request failed.
    FAIL = "fail"
    #: The retry time of a failed reconciliation came.
    RETRY = "retry"
    #: :meth:`Reconciler.close`.
    CLOSE = "close"


_S, _I = ReconcileState, ReconcileInput
_RECONCILE_TRANSITIONS: Final = frozen_table(
    {
        (_S.IDLE, _I.MISSED): _S.WAITING,
        (_S.IDLE, _I.CLOSE): _S.CLOSED,
        (_S.WAITING, _I.MISSED): _S.WAITING,
        (_S.WAITING, _I.LISTENING): _S.FETCHING,
        (_S.WAITING, _I.CLOSE): _S.CLOSED,
        (_S.FETCHING, _I.MISSED): _S.FETCHING,
        (_S.FETCHING, _I.DONE): _S.IDLE,
        (_S.FETCHING, _I.FAIL): _S.BACKOFF,
        (_S.FETCHING, _I.CLOSE): _S.CLOSED,
        (_S.BACKOFF, _I.MISSED): _S.BACKOFF,
        (_S.BACKOFF, _I.RETRY): _S.WAITING,
        (_S.BACKOFF, _I.CLOSE): _S.CLOSED,
        (_S.CLOSED, _I.MISSED): _S.CLOSED,
        (_S.CLOSED, _I.CLOSE): _S.CLOSED,
    }
)


@final
@dataclass(frozen=True, slots=True)
class KnownOrder:
    """An order as last seen (a push, or a reconciliation).

    :ivar symbol: the symbol.
    :ivar status: the status.
    :ivar executed_qty: the quantity filled (MEXC's decimal string).
    """

    symbol: str
    status: OrderState
    executed_qty: str


def _same_amount(a: str, b: str) -> bool:
    try:
        return Decimal(a) == Decimal(b)
    except InvalidOperation:
        return a == b


def _closed_alike(state: OrderState) -> OrderState:
    # REST reports a partly filled cancel as CANCELED; the push as 5.
    return OrderState.CANCELED if state is OrderState.PARTIALLY_CANCELED else state


def _differs(known: KnownOrder | None, status: OrderState, executed: str) -> bool:
    if known is None:
        return True
    return _closed_alike(known.status) is not _closed_alike(status) or not _same_amount(
        known.executed_qty, executed
    )


_FINAL: Final = (OrderState.FILLED, OrderState.CANCELED, OrderState.PARTIALLY_CANCELED)


def _stale(known: KnownOrder | None, status: OrderState, executed: str) -> bool:
    """Whether an answer is older than what is known: it reopens a closed order,
    or shows less filled."""
    if known is None:
        return False
    if status.is_open and known.status in _FINAL:
        return True
    try:
        return Decimal(executed) < Decimal(known.executed_qty)
    except InvalidOperation:
        return False


class _Fills:
    """The fills of one symbol seen: recent ids and the time of the last.

    Fills are read from :attr:`since` on: the last one seen, or else the time
    the symbol was first seen in a push (``floor``; 0 when the baseline found no
    fill at all). Before that it is unknown which fills happened while the
    client listened, so none are read.
    """

    __slots__ = ("floor", "ids", "last_time")

    def __init__(self) -> None:
        self.ids: dict[str, None] = {}
        self.last_time: int | None = None
        self.floor: int | None = None

    @property
    def since(self) -> int | None:
        return self.floor if self.last_time is None else self.last_time

    def add(self, trade_id: str, time: int, limit: int) -> None:
        ids = self.ids
        ids[trade_id] = None
        while len(ids) > limit:
            del ids[next(iter(ids))]
        if self.last_time is None or time > self.last_time:
            self.last_time = time


class _SymbolRound:
    """What one reconciliation learnt of one symbol so far."""

    __slots__ = (
        "fetching",
        "found",
        "listed",
        "order_pages",
        "orders_done",
        "pages",
        "recovered",
        "since",
        "trades_done",
    )

    def __init__(self, since: int | None) -> None:
        self.since = since
        self.listed: set[str] | None = None  # ids openOrders returned, once answered
        self.trades_done = False
        self.pages = 0
        self.recovered: dict[str, Trade] = {}
        self.orders_done = False
        self.order_pages = 0
        self.found: dict[str, Order] = {}  # what allOrders returned
        self.fetching: set[str] = set()  # orders asked for one by one


class _Round:
    """One reconciliation."""

    def __init__(
        self,
        trigger: ReconcileTrigger,
        now: float,
        symbols: tuple[str, ...],
        orders_since: int | None,
    ) -> None:
        self.trigger = trigger
        self.orders_since = orders_since  # the last private event time when it was due
        self.started_at = now
        self.symbols = symbols
        self.queue: deque[ReconcileIntent] = deque()
        self.out: dict[int, ReconcileIntent] = {}
        self.by_symbol: dict[str, _SymbolRound] = {}
        self.touched_orders: set[str] = set()
        self.touched_assets: set[str] = set()
        self.orders = self.balances = self.trades = 0
        self.requests = self.weight = self.unknown = 0
        self.truncated = False

    @property
    def baseline(self) -> bool:
        return self.trigger is ReconcileTrigger.BASELINE


class Reconciler:
    """Remembers private state from pushes and reconciles it over REST (see the
    module docstring).

    :param config: settings.
    :param rng: the source of retry jitter (``random.Random``, seeded in tests).

    Expected exceptions: :class:`~mexc_core.errors.StateError` after a broken
    rule, :class:`~mexc_core.errors.ClockError` on a bad ``now``, and
    :class:`~mexc_core.errors.ArgumentTypeError` for an answer of the wrong type.
    """

    def __init__(self, config: ReconcileConfig | None = None, *, rng: RandomSource) -> None:
        self.config: Final = config or ReconcileConfig()
        self._rng = rng
        initial = _S.WAITING if self.config.baseline else _S.IDLE
        self._machine: Final = Machine("reconciler", _RECONCILE_TRANSITIONS, initial, _S.ERROR)
        self._pacer: Final = SnapshotPacer(self.config.pacing)
        self._events: deque[Event] = deque()
        self._intents: list[ReconcileIntent] = []
        self._now = -math.inf
        self._next_id = 0
        self._open: dict[str, KnownOrder] = {}
        self._closed: dict[str, KnownOrder] = {}
        self._balances: dict[str, tuple[str, str]] = {}
        self._fills: dict[str, _Fills] = {}
        self._symbols: dict[str, None] = dict.fromkeys(self.config.symbols)
        self._round: _Round | None = None
        # the trigger of the reconciliation due (None: nothing is)
        self._trigger: ReconcileTrigger | None = (
            ReconcileTrigger.BASELINE if self.config.baseline else None
        )
        self._attempt = 0
        self._deadline: float | None = None
        self._carried = False  # as last reported by listening()
        # the latest private event time seen (ms), and its value when the
        # reconciliation due was first missed (the start of its allOrders window)
        self._last_event: int | None = None
        self._due_since: int | None = None
        self._due_since_set = False
        self._baselined = False
        #: Open orders forgotten because ``max_open_orders`` was reached.
        self.forgotten_orders = 0

    def __repr__(self) -> str:
        return (
            f"<Reconciler {self.state.name} open={len(self._open)} "
            f"assets={len(self._balances)} symbols={len(self._symbols)}>"
        )

    # ------------------------------------------------------------ reading state

    @property
    def state(self) -> ReconcileState:
        """The current state."""
        return self._machine.state

    @property
    def balances(self) -> Mapping[str, tuple[str, str]]:
        """The balances last seen: asset -> ``(free, locked)``."""
        return MappingProxyType(self._balances)

    @property
    def open_orders(self) -> Mapping[str, KnownOrder]:
        """The open orders last seen, by order id."""
        return MappingProxyType(self._open)

    def order(self, order_id: str) -> KnownOrder | None:
        """The order ``order_id`` as last seen (open or recently closed), or ``None``."""
        return self._open.get(order_id) or self._closed.get(order_id)

    def last_trade_time(self, symbol: str) -> int | None:
        """The time of the last fill seen on ``symbol`` (ms since the epoch), or ``None``."""
        fills = self._fills.get(symbol)
        return None if fills is None else fills.last_time

    @property
    def symbols(self) -> tuple[str, ...]:
        """The symbols a reconciliation reads now."""
        return tuple(self._symbols)

    def next_event(self) -> Event | None:
        """The next event, or ``None``."""
        return self._events.popleft() if self._events else None

    def events(self) -> Iterator[Event]:
        """Drain the events, in order."""
        events = self._events
        while events:
            yield events.popleft()

    def intents(self) -> list[ReconcileIntent]:
        """The requests to send now (each once), in order."""
        out, self._intents = self._intents, []
        return out

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` must run next, or ``None``."""
        return self._deadline

    # ------------------------------------------------------------ inputs

    def observe(self, push: Push, now: float) -> None:
        """A push of a private topic: remember what it shows.

        Pushes of other topics, and private pushes without a symbol where one is
        needed, change nothing.
        """
        self._clock(now)
        body = push.body
        live = self._round
        if isinstance(body, PrivateOrdersV3Api | PrivateDealsV3Api | PrivateAccountV3Api):
            self._saw(push.send_time or push.create_time)
        if isinstance(body, PrivateOrdersV3Api):
            symbol = push.symbol
            if not symbol or not body.id:
                return
            self._see_symbol(symbol)
            fills = self._fills_of(symbol)
            if fills.since is None:
                fills.floor = push.send_time or push.create_time or body.create_time or None
            self._remember(body.id, symbol, order_state(body.status), body.cumulative_quantity)
            if live is not None:
                live.touched_orders.add(body.id)
        elif isinstance(body, PrivateDealsV3Api):
            symbol = push.symbol
            if not symbol or not body.trade_id:
                return
            self._see_symbol(symbol)
            self._fills_of(symbol).add(body.trade_id, body.time, self.config.max_trade_ids)
        elif isinstance(body, PrivateAccountV3Api):
            if not body.vcoin_name:
                return
            self._balances[body.vcoin_name] = (body.balance_amount, body.frozen_amount)
            if live is not None:
                live.touched_assets.add(body.vcoin_name)

    def missed(self, trigger: ReconcileTrigger, now: float) -> None:
        """Private pushes may have been missed (``GAP`` or ``LISTEN_KEY``).

        A reconciliation starts once :meth:`listening` reports the private
        topics carried; one running finishes first. A baseline yet to come stays
        a baseline.
        """
        self._clock(now)
        machine = self._machine
        if machine.state is _S.CLOSED:
            return
        self._trigger = _merge(self._trigger, trigger)
        if not self._due_since_set:
            self._due_since, self._due_since_set = self._last_event, True
        machine.step(_I.MISSED)

    def listening(self, now: float, *, carried: bool) -> None:
        """Whether every private topic wanted is carried now (report every change)."""
        self._clock(now)
        self._carried = carried
        if carried and self._machine.state is _S.WAITING:
            self._machine.step(_I.LISTENING)
            self._begin(now)

    def receive_result(
        self, request_id: int, result: ReconcileResult | RestError, now: float
    ) -> None:
        """The answer to a request (or its :class:`~mexc_core.rest.RestError`).

        Answers the reconciler no longer waits for are ignored.

        :raises ArgumentTypeError: ``result`` is not what the request returns.
        """
        self._clock(now)
        live = self._round
        intent = None if live is None else live.out.get(request_id)
        if intent is None:
            return
        assert live is not None
        if not isinstance(result, RestError) and not answers(intent, result):
            raise ArgumentTypeError(
                f"reconcile request {request_id} ({type(intent).__name__}) is answered "
                f"with a {type(result).__name__}, not the result of its request"
            )
        del live.out[request_id]
        if isinstance(result, RestError):
            if (
                isinstance(intent, FetchOrder)
                and isinstance(result, ApiError)
                and result.code == UNKNOWN_ORDER
            ):
                self._forget(intent.order_id)
                live.unknown += 1
            else:
                self._fail(live, intent, str(result), result, now)
                return
        elif isinstance(intent, FetchAccount):
            assert isinstance(result, AccountInfo)
            self._on_account(live, result)
        elif isinstance(intent, FetchOpenOrders):
            assert isinstance(result, tuple)
            self._on_open_orders(live, intent.symbol, cast("tuple[Order, ...]", result))
        elif isinstance(intent, FetchMyTrades):
            assert isinstance(result, tuple)
            self._on_trades(live, intent, cast("tuple[Trade, ...]", result))
        elif isinstance(intent, FetchAllOrders):
            assert isinstance(result, tuple)
            self._on_all_orders(live, intent, cast("tuple[Order, ...]", result))
        else:
            assert isinstance(result, Order)
            self._on_order(live, result)
        self._advance(live, now)

    def request_failed(self, request_id: int, now: float, reason: str = "transport error") -> None:
        """A request could not be completed (connection error, timeout)."""
        self._clock(now)
        live = self._round
        intent = None if live is None else live.out.pop(request_id, None)
        if intent is None:
            return
        assert live is not None
        self._fail(live, intent, reason, None, now)

    def handle_timer(self, now: float) -> None:
        """Run what is due at ``now``: paced requests, a retry."""
        self._clock(now)
        if self._deadline is None or now < self._deadline:
            return
        self._deadline = None
        live = self._round
        if live is not None:
            self._advance(live, now)  # paced requests
        else:  # the deadline of BACKOFF
            self._machine.step(_I.RETRY)
            self.listening(now, carried=self._carried)

    def close(self) -> None:
        """Stop: answers still out are ignored, nothing more is asked."""
        self._machine.step(_I.CLOSE)
        self._round = None
        self._deadline = None
        self._intents.clear()

    # ------------------------------------------------------------ a reconciliation

    def _begin(self, now: float) -> None:
        trigger = self._trigger
        assert trigger is not None  # WAITING means one is due
        self._trigger = None
        orders_since = self._due_since if self._due_since_set else self._last_event
        self._due_since, self._due_since_set = None, False
        live = _Round(trigger, now, tuple(self._symbols), orders_since)
        self._round = live
        live.queue.append(FetchAccount(0))
        # where the allOrders window starts (None: MEXC's last 24 hours); see rule 3
        read_orders = live.baseline or orders_since is not None or self._baselined
        window = (
            None
            if live.baseline or orders_since is None
            else max(orders_since - self.config.order_margin_ms, 0)
        )
        for symbol in live.symbols:
            since = None if live.baseline else self._fills_of(symbol).since
            state = live.by_symbol[symbol] = _SymbolRound(since)
            live.queue.append(FetchOpenOrders(0, symbol))
            if live.baseline or since is not None:
                live.queue.append(FetchMyTrades(0, symbol, since, None))
            else:  # where the fills not seen start is unknown: see _Fills
                state.trades_done = True
            if read_orders:
                live.queue.append(FetchAllOrders(0, symbol, window, None))
            else:
                state.orders_done = True
        self._advance(live, now)

    def _advance(self, live: _Round, now: float) -> None:
        """Send what the budget allows; complete the reconciliation when all is in."""
        pacer, queue = self._pacer, live.queue
        self._deadline = None
        while queue:
            weight = queue[0].weight
            at = pacer.available_at(weight, now)
            if at > now:
                self._deadline = at
                return
            pacer.spend(weight, now)
            self._next_id += 1
            intent = replace(queue.popleft(), request_id=self._next_id)
            live.out[intent.request_id] = intent
            live.requests += 1
            live.weight += weight
            self._intents.append(intent)
        if live.out:
            return
        self._round = None
        self._attempt = 0
        self._baselined = self._baselined or live.baseline
        self._machine.step(_I.DONE)
        self._events.append(
            ReconcileCompleted(
                trigger=live.trigger,
                orders=live.orders,
                balances=live.balances,
                trades=live.trades,
                symbols=live.symbols,
                requests=live.requests,
                weight=live.weight,
                truncated=live.truncated,
                unknown_orders=live.unknown,
                started_at=live.started_at,
                ended_at=now,
            )
        )
        if self._trigger is not None:  # missed while it ran
            self._machine.step(_I.MISSED)

    def _fail(
        self,
        live: _Round,
        intent: ReconcileIntent,
        reason: str,
        error: RestError | None,
        now: float,
    ) -> None:
        self._round = None
        self._trigger = _merge(self._trigger, live.trigger)
        # the retry reads from where this one did (it began before any later miss)
        self._due_since, self._due_since_set = live.orders_since, True
        self._machine.step(_I.FAIL)
        delay = self.config.retry.delay(self._attempt, self._rng)
        self._attempt += 1
        retry_at = now + delay
        rate_limited = isinstance(error, RateLimited)
        if isinstance(error, RateLimited):
            retry_at = max(retry_at, self._pacer.pause(now, error.retry_after))
        self._deadline = retry_at
        self._events.append(
            ReconcileFailed(
                trigger=live.trigger,
                error=f"{type(intent).__name__}: {reason}",
                retry_at=retry_at,
                rate_limited=rate_limited,
                attempt=self._attempt,
            )
        )

    def _on_account(self, live: _Round, info: AccountInfo) -> None:
        known = self._balances
        seen: set[str] = set()
        for balance in info.balances:
            asset = balance.asset
            seen.add(asset)
            if asset not in live.touched_assets:
                self._balance(live, asset, balance.free, balance.locked)
        # MEXC lists the assets held; one no longer listed is at zero.
        for asset in [a for a in known if a not in seen and a not in live.touched_assets]:
            self._balance(live, asset, "0", "0")

    def _balance(self, live: _Round, asset: str, free: str, locked: str) -> None:
        previous = self._balances.get(asset)
        if (
            previous is not None
            and _same_amount(previous[0], free)
            and _same_amount(previous[1], locked)
        ):
            return
        if previous is None and _same_amount(free, "0") and _same_amount(locked, "0"):
            return
        self._balances[asset] = (free, locked)
        if not live.baseline:
            live.balances += 1
            self._events.append(
                BalanceReconciled(
                    asset=asset,
                    free=free,
                    locked=locked,
                    previous_free=None if previous is None else previous[0],
                    previous_locked=None if previous is None else previous[1],
                )
            )

    def _on_open_orders(self, live: _Round, symbol: str, orders: tuple[Order, ...]) -> None:
        state = live.by_symbol[symbol]
        state.listed = {o.order_id for o in orders}
        for order in orders:
            if order.order_id not in live.touched_orders:
                self._order(live, order)
        self._settle(live, symbol, state)

    def _on_trades(self, live: _Round, intent: FetchMyTrades, trades: tuple[Trade, ...]) -> None:
        symbol = intent.symbol
        state = live.by_symbol[symbol]
        fills = self._fills_of(symbol)
        state.pages += 1
        fresh = [t for t in trades if t.id not in fills.ids and t.id not in state.recovered]
        for trade in fresh:
            state.recovered[trade.id] = trade
        if (
            not live.baseline
            and fresh
            and len(trades) >= MAX_TRADE_PAGE
            and (oldest := min(t.time for t in trades)) > (state.since or 0)
        ):
            if state.pages < self.config.max_trade_pages:
                live.queue.appendleft(FetchMyTrades(0, symbol, state.since, oldest))
                return
            live.truncated = True
        state.trades_done = True
        if fills.since is None:  # the baseline found no fill: every later one is new
            fills.floor = 0
        for trade in sorted(state.recovered.values(), key=lambda t: (t.time, t.id)):
            fills.add(trade.id, trade.time, self.config.max_trade_ids)
            if live.baseline:
                continue
            live.trades += 1
            self._events.append(
                TradeRecovered(
                    symbol=symbol,
                    trade_id=trade.id,
                    order_id=trade.order_id,
                    price=trade.price,
                    qty=trade.qty,
                    quote_qty=trade.quote_qty,
                    commission=trade.commission,
                    commission_asset=trade.commission_asset,
                    time=trade.time,
                    is_buyer=trade.is_buyer,
                    is_maker=trade.is_maker,
                )
            )
        self._settle(live, symbol, state)

    def _on_all_orders(
        self, live: _Round, intent: FetchAllOrders, orders: tuple[Order, ...]
    ) -> None:
        symbol = intent.symbol
        state = live.by_symbol[symbol]
        state.order_pages += 1
        found = state.found
        fresh = False  # any order not on an earlier page that is not as known
        for order in orders:
            if order.order_id not in found:
                found[order.order_id] = order
                known = self.order(order.order_id)
                fresh = fresh or _differs(known, order_state(order.status), order.executed_qty)
        if (
            not live.baseline
            and fresh
            and len(orders) >= MAX_ORDER_PAGE
            and (oldest := min(o.time or 0 for o in orders)) > (intent.start_time or 0)
        ):
            if state.order_pages < self.config.max_order_pages:
                live.queue.appendleft(FetchAllOrders(0, symbol, intent.start_time, oldest))
                return
            live.truncated = True
        state.orders_done = True
        self._settle(live, symbol, state)

    def _settle(self, live: _Round, symbol: str, state: _SymbolRound) -> None:
        """Once the open orders, fills and all orders of ``symbol`` are in: report
        the orders ``allOrders`` listed, then ask one by one for the orders still
        known open that ``openOrders`` did not list, and those recovered fills
        name that are not listed open and not known closed."""
        listed = state.listed
        if listed is None or not state.trades_done or not state.orders_done:
            return
        found, touched = state.found, live.touched_orders
        for order in sorted(found.values(), key=lambda o: o.time or 0):
            if order.order_id not in touched:
                self._order(live, order)
        wanted = [
            order_id
            for order_id, known in self._open.items()
            if known.symbol == symbol and order_id not in listed
        ]
        wanted += [
            trade.order_id
            for trade in state.recovered.values()
            if trade.order_id not in listed and trade.order_id not in self._closed
        ]
        for order_id in wanted:  # an order found closed is no longer open nor wanted
            if order_id not in touched:
                self._fetch_order(live, state, symbol, order_id)
        state.recovered.clear()
        found.clear()

    def _fetch_order(self, live: _Round, state: _SymbolRound, symbol: str, order_id: str) -> None:
        if order_id not in state.fetching:
            state.fetching.add(order_id)
            live.queue.append(FetchOrder(0, symbol, order_id))

    def _on_order(self, live: _Round, order: Order) -> None:
        if order.order_id not in live.touched_orders:
            self._order(live, order)

    def _order(self, live: _Round, order: Order) -> None:
        status = order_state(order.status)
        known = self.order(order.order_id)
        if not _differs(known, status, order.executed_qty) or _stale(
            known, status, order.executed_qty
        ):
            return
        self._remember(order.order_id, order.symbol, status, order.executed_qty)
        if live.baseline:
            return
        live.orders += 1
        self._events.append(
            OrderReconciled(
                symbol=order.symbol,
                order_id=order.order_id,
                client_order_id=order.client_order_id,
                status=status,
                executed_qty=order.executed_qty,
                orig_qty=order.orig_qty,
                price=order.price,
                side=order.side,
                type=order.type,
                previous_status=None if known is None else known.status,
                previous_executed_qty=None if known is None else known.executed_qty,
            )
        )

    # ------------------------------------------------------------ memory

    def _remember(self, order_id: str, symbol: str, status: OrderState, executed: str) -> None:
        entry = KnownOrder(symbol, status, executed)
        if status.is_open:
            self._closed.pop(order_id, None)
            self._open[order_id] = entry
            if len(self._open) > self.config.max_open_orders:
                del self._open[next(iter(self._open))]
                self.forgotten_orders += 1
        else:
            self._open.pop(order_id, None)
            closed = self._closed
            closed.pop(order_id, None)
            closed[order_id] = entry
            if len(closed) > self.config.max_closed_orders:
                del closed[next(iter(closed))]

    def _forget(self, order_id: str) -> None:
        self._open.pop(order_id, None)

    def _fills_of(self, symbol: str) -> _Fills:
        fills = self._fills.get(symbol)
        if fills is None:
            fills = self._fills[symbol] = _Fills()
        return fills

    def _see_symbol(self, symbol: str) -> None:
        symbols = self._symbols
        if symbol in symbols:
            if symbol not in self.config.symbols:
                del symbols[symbol]  # most recently seen last
                symbols[symbol] = None
            return
        symbols[symbol] = None
        if len(symbols) > self.config.max_symbols:
            oldest = next(s for s in symbols if s not in self.config.symbols)
            del symbols[oldest]
            self._fills.pop(oldest, None)

    def _saw(self, event_time: int | None) -> None:
        last = self._last_event
        if event_time and (last is None or event_time > last):
            self._last_event = event_time

    def _clock(self, now: float) -> None:
        self._now = checked_now(now, self._now)


_PRIORITY: Final = (ReconcileTrigger.GAP, ReconcileTrigger.LISTEN_KEY, ReconcileTrigger.BASELINE)


def _merge(due: ReconcileTrigger | None, new: ReconcileTrigger) -> ReconcileTrigger:
    """The trigger of one reconciliation covering both: a baseline covers all."""
    if due is None:
        return new
    return max(due, new, key=_PRIORITY.index)
