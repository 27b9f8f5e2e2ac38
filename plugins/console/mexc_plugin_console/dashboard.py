"""The live view: what the console plugin shows on a terminal, and how it is drawn.

:class:`Dashboard` is the state the hooks update (cheap: a few assignments per
push); :func:`render` draws it with `rich <https://rich.readthedocs.io/>`_ when
the plugin's task refreshes the screen (a few times a second), never from a hook.
The panels:

- **links**: connections up (of those opened; the client closes its links before
  the last screen is drawn), topics subscribed, reconnects, rotations, gaps,
  rejected topics, pushes per second and exchange-to-local latency (the local
  wall clock minus the push's ``sendTime``: network delay plus any clock skew);
- **book** per symbol: the best levels of the local order book while it is exact
  (its version, or "resyncing"), with the best bid and ask of the ticker stream;
- **market**: per symbol the last price and the day's change (mini ticker) and
  the current kline;
- **trades**: the newest public trades, newest first;
- **orders** and **balances**: the account's own orders (newest first) and
  balances, from the private streams.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from mexc_core.events import BookView, Push
from mexc_core.hookspecs import messages

__all__ = ("Dashboard", "OwnOrder", "SymbolState", "render")

_SIDES: Final = {1: "BUY", 2: "SELL"}
_STATUS: Final = {
    1: "NEW",
    2: "FILLED",
    3: "PARTIAL",
    4: "CANCELED",
    5: "PART-CANCELED",
}
#: Seconds of pushes the message rate is measured over.
RATE_WINDOW: Final = 5.0


def clock(ms: int | None) -> str:
    """``HH:MM:SS.mmm`` (UTC) of a time in ms since the epoch, or dashes."""
    if not ms:
        return "--:--:--.---"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%H:%M:%S.%f")[:-3]


@dataclass
class SymbolState:
    """What the view knows of one symbol."""

    book: BookView | None = None
    resyncing: bool = True
    resyncs: int = 0
    bid: tuple[str, str] | None = None
    ask: tuple[str, str] | None = None
    last: str = ""
    change: str = ""
    kline: messages.PublicSpotKlineV3Api | None = None


@dataclass
class OwnOrder:
    """The newest state of one of the account's orders."""

    order_id: str
    symbol: str
    side: str
    price: str
    quantity: str
    filled: str
    status: str
    time: int


@dataclass
class Dashboard:
    """The state the live view draws; the console plugin's hooks update it.

    :param symbols: the symbols shown (in this order).
    :param books: the symbols whose local books are shown (default: ``symbols``).
    :param depth: book levels shown per side.
    :param tape: public trades kept.
    :param wall: the local wall clock in seconds (for rates and latencies).
    """

    symbols: tuple[str, ...]
    books: tuple[str, ...] | None = None
    depth: int = 5
    tape: int = 12
    wall: Callable[[], float] = time.time
    states: dict[str, SymbolState] = field(default_factory=dict)
    trades: deque[tuple[int, str, str, str, str]] = field(default_factory=deque)
    orders: dict[str, OwnOrder] = field(default_factory=dict)
    balances: dict[str, tuple[str, str]] = field(default_factory=dict)
    links: dict[int, set[str]] = field(default_factory=dict)  # link -> topics subscribed
    connects: int = 0
    reconnects: int = 0
    rotations: int = 0
    gaps: int = 0
    rejected: int = 0
    pushes: int = 0
    arrivals: deque[float] = field(default_factory=deque)
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=2000))
    max_orders: int = 8

    def __post_init__(self) -> None:
        if self.books is None:
            self.books = self.symbols
        for symbol in (*self.symbols, *self.books):
            self.states.setdefault(symbol, SymbolState())
        self.trades = deque(maxlen=self.tape)

    def state(self, symbol: str | None) -> SymbolState | None:
        """The state of a shown symbol, or ``None``."""
        return self.states.get(symbol) if symbol else None

    # ------------------------------------------------------------ updates

    def observe(self, push: Push) -> None:
        """Count a push: the message rate and the exchange-to-local latency."""
        now = self.wall()
        self.pushes += 1
        self.arrivals.append(now)
        while self.arrivals and self.arrivals[0] < now - RATE_WINDOW:
            self.arrivals.popleft()
        if push.send_time:
            self.latencies.append(now * 1000 - push.send_time)

    def add_trades(self, symbol: str, deals: Iterable[messages.PublicAggreDealsV3ApiItem]) -> None:
        """Public trades, to the tape."""
        for deal in deals:
            side = _SIDES.get(deal.trade_type, "?")
            self.trades.appendleft((deal.time, symbol, side, deal.quantity, deal.price))

    def own_order(self, symbol: str, body: messages.PrivateOrdersV3Api) -> None:
        """The newest state of one of the account's orders."""
        self.orders[body.id] = OwnOrder(
            order_id=body.id,
            symbol=symbol,
            side=_SIDES.get(body.trade_type, "?"),
            price=body.price,
            quantity=body.quantity,
            filled=body.cumulative_quantity or "0",
            status=_STATUS.get(body.status, str(body.status)),
            time=body.create_time,
        )
        while len(self.orders) > self.max_orders:
            oldest = min(self.orders.values(), key=lambda o: o.time)
            del self.orders[oldest.order_id]

    def balance(self, body: messages.PrivateAccountV3Api) -> None:
        """The account's balance of one asset."""
        self.balances[body.vcoin_name] = (body.balance_amount, body.frozen_amount)

    # ------------------------------------------------------------ figures

    @property
    def rate(self) -> float:
        """Pushes per second over the last :data:`RATE_WINDOW` seconds."""
        if len(self.arrivals) < 2:
            return 0.0
        span = max(self.wall() - self.arrivals[0], 1e-9)
        return len(self.arrivals) / max(span, 1.0)

    def latency(self, q: float) -> float | None:
        """The ``q`` quantile of the exchange-to-local latency (ms), or ``None``."""
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# ---------------------------------------------------------------- drawing


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def _links(d: Dashboard) -> Table:
    table = Table.grid(padding=(0, 2))
    for _ in range(8):
        table.add_column()
    table.add_row(
        Text("links", style="bold"),
        f"up {len(d.links)} of {d.connects} opened",
        f"topics {sum(len(topics) for topics in d.links.values())}",
        f"reconnects {d.reconnects}",
        f"rotations {d.rotations}",
        Text(f"gaps {d.gaps}", style="yellow" if d.gaps else ""),
        f"{d.rate:,.0f} pushes/s ({d.pushes:,})",
        f"latency p50 {_ms(d.latency(0.5))} p99 {_ms(d.latency(0.99))}",
    )
    return table


def _book(d: Dashboard, symbol: str, state: SymbolState) -> Table:
    book = state.book
    title = f"{symbol} book " + (
        "resyncing" if state.resyncing or book is None else f"v{book.version}"
    )
    table = Table(title=title, title_justify="left", expand=False, show_edge=False)
    table.add_column("bid qty", justify="right", style="green")
    table.add_column("bid", justify="right", style="green")
    table.add_column("ask", justify="right", style="red")
    table.add_column("ask qty", justify="right", style="red")
    bids = book.bids[: d.depth] if book and not state.resyncing else ()
    asks = book.asks[: d.depth] if book and not state.resyncing else ()
    for i in range(d.depth):
        bid = bids[i] if i < len(bids) else None
        ask = asks[i] if i < len(asks) else None
        table.add_row(
            bid.quantity if bid else "",
            bid.price if bid else "",
            ask.price if ask else "",
            ask.quantity if ask else "",
        )
    return table


def _market(d: Dashboard) -> Table:
    table = Table(title="market", title_justify="left", show_edge=False)
    for name in ("symbol", "last", "change", "bid", "ask", "kline", "open", "high", "low", "close"):
        table.add_column(name, justify="left" if name in ("symbol", "kline") else "right")
    for symbol in d.symbols:
        s = d.states[symbol]
        k = s.kline
        table.add_row(
            symbol,
            s.last,
            s.change,
            f"{s.bid[0]} x {s.bid[1]}" if s.bid else "",
            f"{s.ask[0]} x {s.ask[1]}" if s.ask else "",
            f"{k.interval} {clock(k.window_start * 1000)[:5]}" if k else "",
            k.opening_price if k else "",
            k.highest_price if k else "",
            k.lowest_price if k else "",
            k.closing_price if k else "",
        )
    return table


def _trades(d: Dashboard) -> Table:
    table = Table(title="trades", title_justify="left", show_edge=False)
    for name in ("time", "symbol", "side", "quantity", "price"):
        table.add_column(name, justify="right" if name in ("quantity", "price") else "left")
    for when, symbol, side, quantity, price in d.trades:
        style = "green" if side == "BUY" else "red"
        table.add_row(clock(when), symbol, Text(side, style=style), quantity, price)
    return table


def _orders(d: Dashboard) -> Table:
    table = Table(title="own orders", title_justify="left", show_edge=False)
    for name in ("time", "symbol", "side", "price", "qty", "filled", "status"):
        table.add_column(name, justify="right" if name in ("price", "qty", "filled") else "left")
    for order in sorted(d.orders.values(), key=lambda o: o.time, reverse=True):
        table.add_row(
            clock(order.time),
            order.symbol,
            order.side,
            order.price,
            order.quantity,
            order.filled,
            order.status,
        )
    return table


def _balances(d: Dashboard) -> Table:
    table = Table(title="balances", title_justify="left", show_edge=False)
    table.add_column("asset")
    table.add_column("free", justify="right")
    table.add_column("frozen", justify="right")
    for asset in sorted(d.balances):
        free, frozen = d.balances[asset]
        table.add_row(asset, free, frozen)
    return table


def _side_by_side(*parts: RenderableType) -> Table:
    grid = Table.grid(padding=(0, 3))
    for _ in parts:
        grid.add_column(vertical="top")
    grid.add_row(*parts)
    return grid


def render(d: Dashboard) -> RenderableType:
    """The whole view, as one rich renderable; panels with nothing to show are left out."""
    parts: list[RenderableType] = [_links(d)]
    books = [_book(d, symbol, d.states[symbol]) for symbol in d.books or ()]
    if books:
        parts.extend([Text(""), _side_by_side(*books)])
    if any(s.last or s.bid or s.kline for s in d.states.values()):
        parts.extend([Text(""), _market(d)])
    account: list[RenderableType] = []
    if d.orders:
        account.append(_orders(d))
    if d.balances:
        account.extend([Text("")] * bool(account) + [_balances(d)])
    lower: list[RenderableType] = []
    if d.trades:
        lower.append(_trades(d))
    if account:
        lower.append(Group(*account))
    if lower:
        parts.extend([Text(""), _side_by_side(*lower)])
    return Group(*parts)
