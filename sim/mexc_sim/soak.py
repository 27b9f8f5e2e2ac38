"""``mexc soak``: the whole client against a faulty simulator, checked against its truth.

One run (``docs/reliability.rst``): the simulator on loopback with a soak fault
profile (:data:`mexc_sim.faults.SOAK_PROFILES`, one plan after another for new
connections; the ``protocol`` and ``all`` profiles also expire the listen key
now and then), and the real :class:`~mexc_core.aio.client.MexcClient` with
credentials: the public channels of the demo and a local order book on every
symbol, the private streams, and the demo's trading loop
(:func:`mexc_sim.demo.trade`) placing and cancelling orders. Simulator and
client run on the same fast clock (``speed`` simulated seconds per second).

What the client delivers is compared with what the simulator produced:

- **Pushes.** A subscriber of the exchange itself (no connection, no fault)
  sees every public push in order; each push the client delivers is found in
  that sequence by its send time. Pushes the client skipped must be covered by
  a gap signal on their topic (:class:`~mexc_core.events.GapDetected`; on a
  depth topic also the book's own :class:`~mexc_core.events.BookGapDetected` or
  :class:`~mexc_core.events.BookResyncStarted`) given between the push before
  the hole and the push after the one that revealed it; otherwise they are a
  *silent gap*. A push delivered twice is a duplicate, *undetected* unless such
  a signal follows it likewise.
- **Books.** Every view a book publishes (:class:`~mexc_core.events.BookSynced`,
  :class:`~mexc_core.events.BookUpdated`) is compared with the simulator's book
  at that version (:meth:`mexc_sim.exchange.Exchange.book`).
- **Private state.** After the run (faults stopped, the client given time to
  recover), every order of the account must have been reported (a push or an
  :class:`~mexc_core.events.OrderReconciled`) with its final status, and every
  fill once (a push or a :class:`~mexc_core.events.TradeRecovered`). An order
  placed and cancelled unfilled that the client never heard of is counted apart
  (``orders_missed_unobservable``): only ``GET /api/v3/allOrders`` shows it
  (``docs/reconcile.rst``), which the reconciliation reads, so it fails the
  verdict too.
- **Memory.** The process's resident size, sampled every second: the peak of the
  second half of the run may exceed that of the first half by at most
  :data:`MEMORY_GROWTH_MIB` MiB.

:func:`run_soak` returns the report (a dict, the keys of ``docs/reliability.rst``)
with ``"ok"`` and the ``"reasons"`` when it is not.
"""

from __future__ import annotations

import contextlib
import json
import math
import resource
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Final

import anyio

from mexc_core import channels, wire
from mexc_core.aio.client import DEFAULT_VIEW_DEPTH, MexcClient
from mexc_core.aio.clock import ScaledTime
from mexc_core.book.sync import BookConfig
from mexc_core.client.reconcile import ReconcileConfig, ReconcileState, order_state
from mexc_core.errors import DecodeError
from mexc_core.events import (
    BookGapDetected,
    BookResyncStarted,
    BookSynced,
    BookUpdated,
    BookView,
    Event,
    FrameRejected,
    GapDetected,
    LinkConnected,
    LinkDisconnected,
    LinkRotated,
    ListenKeyCreated,
    ListenKeyLost,
    ListenKeyRenewed,
    OrderReconciled,
    OrderState,
    Push,
    ReconcileCompleted,
    ReconcileFailed,
    StrayPushReceived,
    TradeRecovered,
)
from mexc_core.hookspecs import hookimpl
from mexc_core.listenkey import ListenKeyConfig
from mexc_core.messages import PrivateDealsV3Api, PrivateOrdersV3Api
from mexc_core.rest import Credentials
from mexc_sim.cli import DEMO_CHANNELS, DEMO_PRIVATE
from mexc_sim.demo import TradingStats, trade
from mexc_sim.exchange import (
    DEFAULT_API_KEY,
    DEFAULT_API_SECRET,
    Exchange,
    ExchangeConfig,
    default_markets,
)
from mexc_sim.faults import SOAK_PERIOD, Faults, soak_plans
from mexc_sim.market import OrderStatus
from mexc_sim.protocol import SimConfig, Simulator
from mexc_sim.server import ScaledClock, SimServer

__all__ = (
    "KEEPALIVE_INTERVAL",
    "LISTEN_KEY_PERIOD",
    "MEMORY_GROWTH_MIB",
    "PRIVATE",
    "PUBLIC",
    "SoakConfig",
    "StreamCheck",
    "format_report",
    "run_soak",
    "verdict",
)

#: The public channels watched on every symbol: the demo's (the depth topic comes
#: with its book).
PUBLIC: Final = DEMO_CHANNELS
DEPTH: Final = "spot@public.aggre.depth.v3.api.pb@100ms@{symbol}"
#: The account's own streams.
PRIVATE: Final = DEMO_PRIVATE
#: Simulator seconds between two listen-key expiries (profiles ``protocol``, ``all``).
LISTEN_KEY_PERIOD: Final = 75.0
#: Simulator seconds between two keepalives of the listen key (MEXC's advice is 30
#: minutes; more often, so that a soak of minutes renews it too).
KEEPALIVE_INTERVAL: Final = 120.0
#: Simulator seconds between two orders of the trading loop.
TRADE_INTERVAL: Final = 1.0
#: How much the second half's peak resident size may exceed the first half's.
MEMORY_GROWTH_MIB: Final = 64.0
#: Pushes of each topic remembered for matching (older ones are forgotten).
WINDOW: Final = 4096
#: Profiles that expire the listen key.
_KEY_FAULTS: Final = frozenset({"protocol", "all"})
#: An id no session of the simulator gets (sessions count from 1).
_TRUTH_SID: Final = 2**62


@dataclass(frozen=True, slots=True, kw_only=True)
class SoakConfig:
    """One soak.

    :ivar duration: seconds the faulty part runs (event-loop seconds).
    :ivar symbols: pairs of the simulated exchange, all watched and traded.
    :ivar faults: the soak fault profile (:data:`mexc_sim.faults.SOAK_PROFILES`).
    :ivar speed: simulated seconds per second, for simulator and client alike.
    :ivar seed: seed of the market and of the faults.
    :ivar settle: simulated seconds given to recover once the faults stop.
    :ivar reconcile: the client's reconciliation settings (default: on, for the
        traded symbols); ``ReconcileConfig(enabled=False)`` shows what is lost
        without it.
    :ivar plans: fault plans to use instead of the profile's (``faults`` then
        only names the run and says whether listen keys are expired).
    """

    duration: float
    symbols: int = 3
    faults: str = "all"
    speed: float = 10.0
    seed: str = "soak"
    settle: float = 150.0
    reconcile: ReconcileConfig | None = None
    plans: tuple[Faults, ...] = ()


@dataclass(slots=True)
class StreamCheck:
    """One topic's pushes: the simulator's sequence against what the client delivered.

    Feed :meth:`sent` in the simulator's order, :meth:`delivered` in the
    client's, :meth:`signal` for every gap signal of the topic, and
    :meth:`finish` at the end; then read the counts. Keys are the pushes' send
    times (unique per public topic).

    :ivar silent_keys: the keys of the first pushes lost without a signal.
    """

    sent_count: int = 0
    received: int = 0
    lost_signalled: int = 0
    lost_silent: int = 0
    silent_gaps: int = 0
    signalled_gaps: int = 0
    duplicates: int = 0
    duplicates_undetected: int = 0
    late: int = 0
    unmatched: int = 0
    silent_keys: list[int] = field(default_factory=list)
    _seq_of: OrderedDict[int, int] = field(default_factory=OrderedDict)
    _key_of: OrderedDict[int, int] = field(default_factory=OrderedDict)
    _delivered: OrderedDict[int, None] = field(default_factory=OrderedDict)
    _next: int = 0
    _last: int | None = None
    _signalled: bool = False
    _pending: tuple[int, int] | None = None
    _pending_dups: int = 0

    def sent(self, key: int) -> None:
        """The simulator produced a push with ``key``."""
        self.sent_count += 1
        if key in self._seq_of:
            return  # the same send time twice: matched to the first
        self._seq_of[key] = self._next
        self._key_of[self._next] = key
        self._next += 1
        if len(self._seq_of) > WINDOW:
            self._seq_of.popitem(last=False)
            self._key_of.popitem(last=False)

    def signal(self) -> None:
        """A gap signal for this topic: it covers what the last pushes revealed."""
        if self._pending is not None:
            low, high = self._pending
            self.lost_signalled += high - low
            self.signalled_gaps += 1
        self._pending = None
        self._pending_dups = 0
        self._signalled = True

    def delivered(self, key: int) -> None:
        """The client delivered a push with ``key``."""
        self.received += 1
        self._settle_pending()
        seq = self._seq_of.get(key)
        if seq is None:
            self.unmatched += 1
            return
        if seq in self._delivered:
            self.duplicates += 1
            self._pending_dups += 1  # a signal may still come before the next push
            return
        self._delivered[seq] = None
        if len(self._delivered) > WINDOW:
            self._delivered.popitem(last=False)
        last = self._last
        if last is not None and seq < last:
            # delivered after a later one (a swapped pair): not lost after all
            self.late += 1
            if self.lost_signalled:
                self.lost_signalled -= 1
            elif self.lost_silent:
                self.lost_silent -= 1
            return
        if last is not None and seq > last + 1:
            if self._signalled:
                self.lost_signalled += seq - last - 1
                self.signalled_gaps += 1
            else:
                self._pending = (last + 1, seq)  # a signal may still come before the next push
        self._last = seq
        self._signalled = False

    def _settle_pending(self) -> None:
        if self._pending is not None:
            low, high = self._pending
            self.lost_silent += high - low
            self.silent_gaps += 1
            for seq in range(low, min(high, low + 100)):
                key = self._key_of.get(seq)
                if key is not None and len(self.silent_keys) < 1000:
                    self.silent_keys.append(key)
            self._pending = None
        self.duplicates_undetected += self._pending_dups
        self._pending_dups = 0

    def finish(self) -> None:
        """The end: what no signal covered is silent."""
        self._settle_pending()


def _mib(kib: float) -> float:
    return round(kib / 1024, 1)


def _rss_kib() -> float:
    """The resident size now (Linux), else the peak so far."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * resource.getpagesize() / 1024
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _levels(levels: tuple[tuple[str, str], ...] | list[list[str]]) -> list[tuple[Decimal, Decimal]]:
    return [(Decimal(p), Decimal(q)) for p, q in levels]


class _Observer:
    """The plugin that sees everything the client delivers, and the checks on it."""

    def __init__(self, exchange: Exchange, topics: list[str]) -> None:
        self.exchange = exchange
        self.streams: dict[str, StreamCheck] = {t: StreamCheck() for t in topics}
        self.sent_by_channel: Counter[str] = Counter()
        self.received_by_channel: Counter[str] = Counter()
        self.gaps: Counter[str] = Counter()
        self.private_gaps = 0
        self.book_gaps = 0
        self.book_resyncs = 0
        self.books_synced = 0
        self.views_checked = 0
        self.views_unchecked = 0
        self.divergences = 0
        self.first_divergence = ""
        self.decode_errors = 0
        self.strays: Counter[str] = Counter()
        # send time -> why a recent push was a stray (to explain silent losses)
        self.stray_times: OrderedDict[int, str] = OrderedDict()
        self.disconnects: Counter[str] = Counter()
        self.reconnects = 0
        self.rotations = 0
        self.keys_created = 0
        self.key_renewals = 0
        self.keys_lost: Counter[str] = Counter()
        self.key = ""
        self.reconciliations: Counter[str] = Counter()
        self.reconcile_failures = 0
        # order id -> the last status reported; the ids a push reported
        self.orders: dict[str, OrderState] = {}
        self.orders_live: set[str] = set()
        self.trades: Counter[str] = Counter()
        # trade id -> how it was reported, in order ("push", "recovered")
        self.trade_reports: dict[str, tuple[str, ...]] = {}
        self.trades_recovered = 0
        self.trades_live = 0

    # ------------------------------------------------------------ the simulator's side

    def sent(self, topic: str, frame: bytes) -> None:
        stream = self.streams.get(topic)
        if stream is None:
            return
        try:
            push = wire.decode_push(frame)
        except DecodeError:  # the exchange's own frames decode
            return
        self.sent_by_channel[_channel(topic)] += 1
        stream.sent(push.send_time or 0)

    # ------------------------------------------------------------ the client's side

    @hookimpl
    def mexc_push_received(self, push: Push) -> None:
        topic = push.channel
        stream = self.streams.get(topic)
        self.received_by_channel[_channel(topic)] += 1
        if stream is not None:
            stream.delivered(push.send_time or 0)
            return
        body = push.body
        if isinstance(body, PrivateOrdersV3Api):
            self.orders[body.id] = order_state(body.status)
            self.orders_live.add(body.id)
        elif isinstance(body, PrivateDealsV3Api):
            self.trades[body.trade_id] += 1
            self.trade_reports[body.trade_id] = (*self.trade_reports.get(body.trade_id, ()), "push")
            self.trades_live += 1

    @hookimpl
    def mexc_event_received(self, event: Event) -> None:
        if isinstance(event, BookUpdated | BookSynced):
            if isinstance(event, BookSynced):
                self.books_synced += 1
            if event.view is not None:
                self._check_view(event.view)
        elif isinstance(event, GapDetected):
            self.gaps[event.cause.value] += 1
            for topic in event.topics:
                stream = self.streams.get(topic)
                if stream is not None:
                    stream.signal()
                elif topic in PRIVATE:
                    self.private_gaps += 1
        elif isinstance(event, BookGapDetected | BookResyncStarted):
            if isinstance(event, BookGapDetected):
                self.book_gaps += 1
            else:
                self.book_resyncs += 1
            stream = self.streams.get(DEPTH.format(symbol=event.symbol))
            if stream is not None:
                stream.signal()
        elif isinstance(event, FrameRejected):
            self.decode_errors += 1
        elif isinstance(event, StrayPushReceived):
            self.strays[event.reason.value] += 1
            self.stray_times[event.push.send_time or 0] = event.reason.value
            if len(self.stray_times) > WINDOW:
                self.stray_times.popitem(last=False)
        elif isinstance(event, LinkDisconnected):
            self.disconnects[event.cause.value] += 1
        elif isinstance(event, LinkConnected):
            self.reconnects += event.reconnect
        elif isinstance(event, LinkRotated):
            self.rotations += 1
        elif isinstance(event, ListenKeyCreated):
            self.keys_created += 1
            self.key = event.key
        elif isinstance(event, ListenKeyRenewed):
            self.key_renewals += 1
        elif isinstance(event, ListenKeyLost):
            self.keys_lost[event.reason.value] += 1
        elif isinstance(event, OrderReconciled):
            self.orders[event.order_id] = event.status
        elif isinstance(event, TradeRecovered):
            self.trades[event.trade_id] += 1
            self.trade_reports[event.trade_id] = (
                *self.trade_reports.get(event.trade_id, ()),
                "recovered",
            )
            self.trades_recovered += 1
        elif isinstance(event, ReconcileCompleted):
            self.reconciliations[event.trigger.value] += 1
        elif isinstance(event, ReconcileFailed):
            self.reconcile_failures += 1

    def _check_view(self, view: BookView) -> None:
        try:
            truth = self.exchange.book(view.symbol, view.version, depth=DEFAULT_VIEW_DEPTH)
        except LookupError:
            self.views_unchecked += 1
            return
        self.views_checked += 1
        spec = self.exchange.markets[view.symbol].spec
        true_bids = [
            (Decimal(spec.price_text(p)), Decimal(spec.quantity_text(q))) for p, q in truth.bids
        ]
        true_asks = [
            (Decimal(spec.price_text(p)), Decimal(spec.quantity_text(q))) for p, q in truth.asks
        ]
        ours_bids, ours_asks = _levels(view.bids), _levels(view.asks)
        if ours_bids != true_bids or ours_asks != true_asks:
            self.divergences += 1
            if not self.first_divergence:
                self.first_divergence = f"{view.symbol} at version {view.version}"


def _channel(topic: str) -> str:
    try:
        return channels.parse(topic).spec.name
    except ValueError:
        return "unknown"


class _TruthFeed:
    """A subscriber of the exchange itself: every push, before any fault."""

    def __init__(self, observer: _Observer) -> None:
        self._observer = observer

    @property
    def sid(self) -> int:
        return _TRUTH_SID

    def deliver(self, topic: str, frame: bytes, now: float) -> None:
        del now
        self._observer.sent(topic, frame)

    def listen_key_invalidated(self, now: float) -> None:  # public topics only
        del now


@dataclass(slots=True)
class _Memory:
    start: float = 0.0
    first_half: float = 0.0
    second_half: float = 0.0
    samples: int = 0


_FINAL_STATUS: Final = {
    OrderStatus.NEW: OrderState.NEW,
    OrderStatus.PARTIALLY_FILLED: OrderState.PARTIALLY_FILLED,
    OrderStatus.FILLED: OrderState.FILLED,
    OrderStatus.CANCELED: OrderState.CANCELED,
    OrderStatus.PARTIALLY_CANCELED: OrderState.CANCELED,
}


def _same(reported: OrderState, truth: OrderStatus) -> bool:
    got = OrderState.CANCELED if reported is OrderState.PARTIALLY_CANCELED else reported
    return got is _FINAL_STATUS.get(truth)


def _orders(exchange: Exchange, observer: _Observer) -> dict[str, int]:
    account = exchange.account_for_key(DEFAULT_API_KEY)
    assert account is not None
    counts: Counter[str] = Counter()
    for order_id, order in account.orders.items():
        counts["orders_placed"] += 1
        reported = observer.orders.get(order_id)
        if reported is None:
            unobservable = order.executed == 0 and order.status is OrderStatus.CANCELED
            counts["orders_missed_unobservable" if unobservable else "orders_missed"] += 1
            continue
        if order_id in observer.orders_live:
            counts["orders_reported_live"] += 1
        else:
            counts["orders_reconciled_only"] += 1
        if not _same(reported, order.status):
            counts["orders_stale"] += 1
    trade_ids = {str(t["id"]) for t in account.trades}
    counts["trades"] = len(trade_ids)
    counts["trades_missed"] = len(trade_ids - set(observer.trades))
    counts["trades_reported_twice"] = sum(1 for n in observer.trades.values() if n > 1)
    for key in (
        "orders_reported_live",
        "orders_reconciled_only",
        "orders_missed",
        "orders_missed_unobservable",
        "orders_stale",
    ):
        counts.setdefault(key, 0)
    return dict(counts)


#: Problems described one by one in the report, at most.
MAX_PROBLEMS: Final = 10


def _problems(exchange: Exchange, observer: _Observer) -> list[dict[str, object]]:
    """The first orders missed or stale and fills reported twice, each described."""
    account = exchange.account_for_key(DEFAULT_API_KEY)
    assert account is not None
    found: list[dict[str, object]] = []
    for order_id, order in account.orders.items():
        reported = observer.orders.get(order_id)
        unobservable = order.executed == 0 and order.status is OrderStatus.CANCELED
        if (reported is None and not unobservable) or (
            reported is not None and not _same(reported, order.status)
        ):
            found.append(
                {
                    "problem": "order missed" if reported is None else "order stale",
                    "order": order_id,
                    "symbol": order.symbol,
                    "status": order.status.name,
                    "reported": None if reported is None else reported.value,
                    "executed": order.executed,
                    "created_s": exchange.seconds_at(order.created),
                    "updated_s": exchange.seconds_at(order.updated),
                }
            )
    trades = {str(t["id"]): t for t in account.trades}
    for trade_id, how in observer.trade_reports.items():
        if len(how) > 1:
            trade = trades.get(trade_id, {})
            found.append(
                {
                    "problem": "fill reported twice",
                    "trade": trade_id,
                    "order": trade.get("orderId"),
                    "symbol": trade.get("symbol"),
                    "time_s": exchange.seconds_at(when)
                    if isinstance(when := trade.get("time"), int)
                    else None,
                    "reported": list(how),
                }
            )
    return found[:MAX_PROBLEMS]


def _healthy(client: MexcClient, exchange: Exchange, observer: _Observer) -> bool:
    """Every topic carried, every book synced, private state reconciled and right."""
    if not all(client.pool.is_carried(t) for t in client.topics):
        return False
    if not all(book.synced for book in client.core.books.values()):
        return False
    reconciler = client.core.reconciler
    if reconciler is not None and reconciler.state is not ReconcileState.IDLE:
        return False
    if len(client.inbox):
        return False
    if reconciler is None:
        return True
    counts = _orders(exchange, observer)
    return not (counts["orders_missed"] or counts["orders_stale"] or counts["trades_missed"])


#: The counts that must be zero, and the reason given when one is not.
_FAILURES: Final = (
    ("pushes_lost_silent", "{n} pushes lost without a gap signal ({silent_gaps} silent gaps)"),
    ("book_divergences", "{n} book views differ from the simulator's book"),
    ("duplicates_undetected", "{n} duplicate pushes delivered unsignalled"),
    ("pushes_unmatched", "{n} pushes delivered that the simulator never sent"),
    ("orders_missed", "{n} orders never reported"),
    (
        "orders_missed_unobservable",
        "{n} orders placed and cancelled unfilled never reported (allOrders shows them)",
    ),
    ("orders_stale", "{n} orders reported in a status they no longer have"),
    ("trades_missed", "{n} fills never reported"),
    ("trades_reported_twice", "{n} fills reported twice"),
)


def verdict(report: Mapping[str, object]) -> list[str]:
    """Why the soak failed: one reason per broken promise (empty: it passed)."""

    def n(key: str) -> int:
        value = report.get(key, 0)
        return value if isinstance(value, int) else 0

    reasons = [
        text.format(n=n(key), silent_gaps=n("silent_gaps")) for key, text in _FAILURES if n(key)
    ]
    if report.get("recovered") is not True:
        reasons.append("the client had not recovered when the settling time ran out")
    memory = report.get("memory")
    if isinstance(memory, dict) and memory.get("bounded") is not True:
        reasons.append(
            f"memory grew by {memory.get('growth_mib')} MiB in the second half "
            f"(bound {MEMORY_GROWTH_MIB} MiB)"
        )
    return reasons


async def _drive_faults(
    server: SimServer, plans: tuple[Faults, ...], observer: _Observer, *, expire_keys: bool
) -> None:
    """Make each plan the default in turn; expire the listen key now and then."""
    sim, clock = server.sim, server.clock
    next_plan = SOAK_PERIOD
    next_key = LISTEN_KEY_PERIOD if expire_keys else math.inf
    index = 0
    while True:
        now = clock.now()
        if now >= next_plan:
            index += 1
            sim.faults = plans[index % len(plans)]
            sim.injected["plans"] += 1
            next_plan += SOAK_PERIOD
        if now >= next_key:
            if observer.key:
                sim.exchange.expire_listen_key(observer.key, now)
                sim.injected["listen_key_expired"] += 1
                server.wake()
            next_key += LISTEN_KEY_PERIOD
        await anyio.sleep(clock.source_delay(max(0.0, min(next_plan, next_key) - clock.now())))


async def _sample_memory(memory: _Memory, half: float) -> None:
    start = time.monotonic()
    while True:
        rss = _rss_kib()
        memory.samples += 1
        if time.monotonic() - start < half:
            memory.first_half = max(memory.first_half, rss)
        else:
            memory.second_half = max(memory.second_half, rss)
        await anyio.sleep(1.0)


def _calm(server: SimServer) -> None:
    """No more faults: on new connections, nor on the open ones."""
    server.sim.faults = Faults()
    for session in server.sim.sessions.values():
        session.faults = Faults()
    server.wake()


async def run_soak(
    config: SoakConfig, *, progress: Callable[[str], None] | None = None
) -> dict[str, object]:
    """Run one soak (see the module docstring); the report."""
    plans = config.plans or soak_plans(config.faults, seed=config.seed)
    markets = default_markets(config.symbols)
    symbols = [m.symbol for m in markets]
    exchange_config = ExchangeConfig(
        seed=config.seed, markets=markets, start_ms=int(time.time() * 1000)
    )
    sim = Simulator(SimConfig(exchange=exchange_config, faults=plans[0]))
    server = SimServer(sim, clock=ScaledClock(config.speed))
    exchange = sim.exchange
    public = [t.format(symbol=s) for s in symbols for t in (*PUBLIC, DEPTH)]
    observer = _Observer(exchange, public)
    trading = TradingStats()
    memory = _Memory(start=_rss_kib())
    say = progress or (lambda _text: None)
    recovered = False
    settle_seconds = 0.0
    started = time.monotonic()

    def wall_ms() -> int:
        return exchange.epoch_ms(server.now())

    async with anyio.create_task_group() as tg:
        await tg.start(server.serve)
        truth = _TruthFeed(observer)
        for topic in public:
            exchange.subscribe(truth, topic, server.now())
        client = MexcClient(
            server.ws_url,
            clock=ScaledTime(server.now, config.speed),
            plugins=[observer],
            entry_points=False,
            credentials=Credentials(DEFAULT_API_KEY, DEFAULT_API_SECRET),
            rest_url=server.rest_url,
            wall_ms=wall_ms,
            reconcile=config.reconcile or ReconcileConfig(symbols=tuple(symbols)),
            book=BookConfig(view_depth=DEFAULT_VIEW_DEPTH),
            listen_key=ListenKeyConfig(keepalive_interval=KEEPALIVE_INTERVAL),
            close_timeout=2.0,
            gc_freeze=False,
        )
        async with client:
            await client.subscribe(
                [t for t in public if not t.startswith("spot@public.aggre.depth")], wait=False
            )
            await client.subscribe(PRIVATE, wait=False)
            for symbol in symbols:
                await client.watch_book(symbol, wait=False)
            async with anyio.create_task_group() as loops:
                expire_keys = config.faults in _KEY_FAULTS
                loops.start_soon(
                    lambda: _drive_faults(server, plans, observer, expire_keys=expire_keys)
                )
                loops.start_soon(_sample_memory, memory, config.duration / 2)
                loops.start_soon(
                    lambda: trade(
                        server.rest_url,
                        DEFAULT_API_KEY,
                        DEFAULT_API_SECRET,
                        markets,
                        trading,
                        interval=TRADE_INTERVAL / config.speed,
                        wall_ms=wall_ms,
                    )
                )
                say(f"running {config.duration:g} s with faults {config.faults!r}")
                await anyio.sleep(config.duration)
                loops.cancel_scope.cancel()
            memory.second_half = max(memory.second_half, _rss_kib())
            _calm(server)
            say("faults stopped; waiting for the client to recover")
            calm_at = server.now()
            with anyio.move_on_after(max(5.0, config.settle / config.speed)):
                while not _healthy(client, exchange, observer):
                    await anyio.sleep(0.05)
                recovered = True
            settle_seconds = server.now() - calm_at
            simulated = server.now()
        tg.cancel_scope.cancel()

    for stream in observer.streams.values():
        stream.finish()
    streams = list(observer.streams.values())
    growth = memory.second_half - memory.first_half
    stats = client.stats
    report: dict[str, object] = {
        "ok": False,
        "reasons": [],
        "faults": config.faults,
        "seed": config.seed,
        "symbols": symbols,
        "speed": config.speed,
        "duration_s": round(time.monotonic() - started, 1),
        "simulated_s": round(simulated, 1),
        "settle_simulated_s": round(settle_seconds, 1),
        "recovered": recovered,
        "faults_injected": dict(sorted(sim.injected.items())),
        "pushes_sent": dict(sorted(observer.sent_by_channel.items())),
        "pushes_received": dict(sorted(observer.received_by_channel.items())),
        "pushes_lost_signalled": sum(s.lost_signalled for s in streams),
        "pushes_lost_silent": sum(s.lost_silent for s in streams),
        "pushes_late": sum(s.late for s in streams),
        "pushes_unmatched": sum(s.unmatched for s in streams),
        "gaps_detected": dict(sorted(observer.gaps.items())),
        "gaps_repaired": sum(s.signalled_gaps for s in streams),
        "silent_gaps": sum(s.silent_gaps for s in streams),
        "silent_gaps_by_topic": {
            topic: stream.silent_gaps
            for topic, stream in sorted(observer.streams.items())
            if stream.silent_gaps
        },
        "pushes_lost_as_strays": dict(
            sorted(
                Counter(
                    observer.stray_times[key]
                    for stream in streams
                    for key in stream.silent_keys
                    if key in observer.stray_times
                ).items()
            )
        ),
        "private_gaps": observer.private_gaps,
        "book_gaps": observer.book_gaps,
        "book_resyncs": observer.book_resyncs,
        "books_synced": observer.books_synced,
        "book_views_checked": observer.views_checked,
        "book_views_unchecked": observer.views_unchecked,
        "book_divergences": observer.divergences,
        "first_divergence": observer.first_divergence,
        "duplicates_dropped": stats.duplicates,
        "duplicates_delivered": sum(s.duplicates for s in streams),
        "duplicates_undetected": sum(s.duplicates_undetected for s in streams),
        "orders_sent": trading.placed,
        "orders_cancel_requests": trading.cancelled,
        "orders_refused": trading.refused,
        **_orders(exchange, observer),
        "problems": _problems(exchange, observer),
        "trades_reported_live": observer.trades_live,
        "trades_recovered": observer.trades_recovered,
        "reconciliations": dict(sorted(observer.reconciliations.items())),
        "reconcile_failures": observer.reconcile_failures,
        "disconnects": dict(sorted(observer.disconnects.items())),
        "reconnects": observer.reconnects,
        "rotations": observer.rotations,
        "listen_keys_created": observer.keys_created,
        "listen_key_renewals": observer.key_renewals,
        "listen_keys_lost": dict(sorted(observer.keys_lost.items())),
        "decode_errors": observer.decode_errors,
        "strays": dict(sorted(observer.strays.items())),
        "memory": {
            "rss_start_mib": _mib(memory.start),
            "rss_first_half_peak_mib": _mib(memory.first_half),
            "rss_second_half_peak_mib": _mib(memory.second_half),
            "rss_peak_mib": _mib(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss),
            "growth_mib": _mib(growth),
            "bounded": growth <= MEMORY_GROWTH_MIB * 1024,
        },
    }
    reasons = verdict(report)
    report["ok"] = not reasons
    report["reasons"] = reasons
    return report


def format_report(report: Mapping[str, object]) -> str:
    """The report as lines of text: ``key: value``, the verdict last."""
    lines = [
        f"{key}: {value if isinstance(value, str) else json.dumps(value)}"
        for key, value in report.items()
        if key not in ("ok", "reasons")
    ]
    if report.get("ok"):
        lines.append("verdict: ok")
    else:
        reasons = report.get("reasons")
        assert isinstance(reasons, list)
        lines.append("verdict: NOT ok: " + "; ".join(str(r) for r in reasons))
    return "\n".join(lines)
