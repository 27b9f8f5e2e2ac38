"""mexc-plugin-console: a live terminal view, or live lines, of what the client sees.

Written exactly as a third-party plugin: it imports only
:mod:`mexc_core.hookspecs` and :mod:`mexc_core.events`, and mexc-core finds it
through the ``mexc.plugins`` entry point ``console``. It stays quiet unless the
application passes ``options={"console": {...}}`` to the client:

- ``view``: ``"live"`` (a dashboard redrawn in place, :mod:`.dashboard`),
  ``"lines"`` (one line per trade, ticker, order and connection event), or
  ``"auto"`` (live on a terminal, lines otherwise; the default);
- ``symbols``: the symbols shown (default: all, in lines; none in the live view);
- ``books``: the symbols whose local books the live view shows (default: ``symbols``);
- ``book_depth``: book levels per side in the live view (default 5);
- ``refresh``: redraws per second of the live view (default 4);
- ``file``: where to write (default standard output);
- ``max_lines``: lines waiting for a slow terminal (default 1000).

The hooks run on the client's event loop and must be fast: in lines, they only
format a line and queue it in a bounded stream (``drop_oldest``: a slow terminal
loses lines, counted, never the client's pace); in the live view they only update
the dashboard's state. The plugin's own task writes the lines or redraws.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

import anyio
from rich.console import Console as RichConsole
from rich.live import Live

from mexc_core.events import (
    BookResyncStarted,
    BookSynced,
    BookUpdated,
    GapDetected,
    LinkConnected,
    LinkDisconnected,
    LinkRotated,
    PluginFailed,
    Push,
    TopicsRejected,
    TopicsSubscribed,
)
from mexc_core.hookspecs import ClientContext, StreamReceiver, StreamSender, hookimpl, messages
from mexc_plugin_console.dashboard import Dashboard, clock, render

__all__ = ("Console", "ConsoleOptionsError", "Dashboard", "plugin")

__version__ = "0.1.0.dev0"

_SIDES = {1: "BUY ", 2: "SELL"}
_VIEWS = ("auto", "live", "lines")


class ConsoleOptionsError(ValueError):
    """The ``console`` options are not what the plugin understands."""


def _clock(ms: int | None) -> str:
    return clock(ms)


class Console:
    """The plugin (one instance, :data:`plugin`, is registered by the entry point).

    :ivar dashboard: the live view's state, while the live view runs.
    :ivar frames: screens drawn by the live view.
    """

    def __init__(self) -> None:
        self.enabled = False
        self.symbols: frozenset[str] | None = None
        self.lines = 0
        self.frames = 0
        self.dashboard: Dashboard | None = None
        self._out: StreamSender[str] | None = None
        self._in: StreamReceiver[str] | None = None
        self._file: TextIO = sys.stdout

    # ------------------------------------------------------------ client hooks

    @hookimpl
    def mexc_client_started(self, context: ClientContext) -> None:
        """Turn on if asked for: open the line stream, or the live view, and its task."""
        options = context.options.get("console")
        self.enabled = bool(options)
        self.dashboard = None
        if not self.enabled:
            return
        settings: Mapping[str, Any] = options if isinstance(options, Mapping) else {}
        symbols: Iterable[str] | None = settings.get("symbols")
        self.symbols = frozenset(symbols) if symbols else None
        self._file = settings.get("file") or sys.stdout
        view = settings.get("view", "auto")
        if view not in _VIEWS:
            raise ConsoleOptionsError(
                f"console option 'view' must be one of {_VIEWS}, not {view!r}"
            )
        live = view == "live" or (view == "auto" and self._file.isatty())
        if live:
            books = settings.get("books")
            self.dashboard = Dashboard(
                tuple(symbols or ()),
                books=None if books is None else tuple(books),
                depth=int(settings.get("book_depth", 5)),
            )
            refresh = float(settings.get("refresh", 4))
            context.task_group.start_soon(
                self._redraw,
                RichConsole(file=self._file, force_terminal=True),
                refresh,
                name="mexc-console",
            )
            return
        self._out, self._in = context.open_stream(
            max_buffer=int(settings.get("max_lines", 1000)), policy="drop_oldest", name="console"
        )
        context.task_group.start_soon(self._write, name="mexc-console")

    @hookimpl
    def mexc_client_stopping(self) -> None:
        """Say how many lines were lost, and let the writer finish."""
        if self._out is not None and self._in is not None:
            if self._in.dropped:
                self._say(f"console: {self._in.dropped} lines dropped (slow terminal)")
            self._out.close()
        self._out = None
        self.enabled = False

    async def _write(self) -> None:
        assert self._in is not None
        async for line in self._in:
            self._file.write(line + "\n")
            self.lines += 1
        self._file.flush()

    async def _redraw(self, console: RichConsole, refresh: float) -> None:
        dashboard = self.dashboard
        assert dashboard is not None
        with Live(
            render(dashboard),
            console=console,
            auto_refresh=False,
            redirect_stdout=False,
            redirect_stderr=False,
        ) as live:
            try:
                while True:
                    await anyio.sleep(1 / refresh)
                    live.update(render(dashboard), refresh=True)
                    self.frames += 1
            finally:
                # the last screen stays: what the client saw when it stopped
                live.update(render(dashboard), refresh=True)
                self.frames += 1

    def _say(self, line: str) -> None:
        if self._out is not None:
            self._out.send_nowait(line)

    def _wanted(self, push: Push) -> bool:
        return self.enabled and (self.symbols is None or push.symbol in self.symbols)

    # ------------------------------------------------------------ pushes

    @hookimpl
    def mexc_push_received(self, push: Push) -> None:
        """The message rate and the exchange-to-local latency (live view)."""
        if self.dashboard is not None:
            self.dashboard.observe(push)

    @hookimpl
    def mexc_aggre_deals_received(self, push: Push, body: messages.PublicAggreDealsV3Api) -> None:
        """One line per trade; the live view's tape."""
        if not self._wanted(push):
            return
        if self.dashboard is not None:
            self.dashboard.add_trades(push.symbol or "", body.deals)
            return
        for deal in body.deals:
            side = _SIDES.get(deal.trade_type, "?   ")
            self._say(
                f"{_clock(deal.time)}  {push.symbol:<10} trade  {side} "
                f"{deal.quantity:>14} @ {deal.price}"
            )

    @hookimpl
    def mexc_aggre_book_ticker_received(
        self, push: Push, body: messages.PublicAggreBookTickerV3Api
    ) -> None:
        """The best bid and ask."""
        if not self._wanted(push):
            return
        if self.dashboard is not None:
            state = self.dashboard.state(push.symbol)
            if state is not None:
                state.bid = (body.bid_price, body.bid_quantity)
                state.ask = (body.ask_price, body.ask_quantity)
            return
        self._say(
            f"{_clock(push.send_time)}  {push.symbol:<10} book   "
            f"bid {body.bid_price} x {body.bid_quantity}  "
            f"ask {body.ask_price} x {body.ask_quantity}"
        )

    @hookimpl
    def mexc_mini_ticker_received(self, push: Push, body: messages.PublicMiniTickerV3Api) -> None:
        """The last price and the day's change."""
        if not self._wanted(push):
            return
        if self.dashboard is not None:
            state = self.dashboard.state(push.symbol or body.symbol)
            if state is not None:
                state.last, state.change = body.price, body.rate
            return
        self._say(
            f"{_clock(push.send_time)}  {push.symbol or body.symbol:<10} ticker "
            f"last {body.price}  change {body.rate}  high {body.high}  low {body.low}"
        )

    @hookimpl
    def mexc_kline_received(self, push: Push, body: messages.PublicSpotKlineV3Api) -> None:
        """The current kline (live view only: a kline repeats every push)."""
        if self.dashboard is not None and self._wanted(push):
            state = self.dashboard.state(push.symbol)
            if state is not None:
                state.kline = body

    @hookimpl
    def mexc_private_orders_received(self, push: Push, body: messages.PrivateOrdersV3Api) -> None:
        """One of the account's orders changed."""
        if not self.enabled:
            return
        symbol = push.symbol or ""
        if self.dashboard is not None:
            self.dashboard.own_order(symbol, body)
            return
        side = _SIDES.get(body.trade_type, "?   ")
        self._say(
            f"{_clock(push.send_time)}  {symbol:<10} order  {side} {body.quantity} @ "
            f"{body.price}  filled {body.cumulative_quantity or '0'}  "
            f"{body.order_status.name.lower()} ({body.id})"
        )

    @hookimpl
    def mexc_account_received(self, push: Push, body: messages.PrivateAccountV3Api) -> None:
        """A balance of the account changed."""
        if not self.enabled:
            return
        if self.dashboard is not None:
            self.dashboard.balance(body)
            return
        self._say(
            f"{_clock(push.send_time)}  {body.vcoin_name:<10} balance free {body.balance_amount}"
            f"  frozen {body.frozen_amount}  ({body.type})"
        )

    # ------------------------------------------------------------ books

    @hookimpl
    def mexc_book_synced(self, event: BookSynced) -> None:
        """A local book is exact."""
        if self.dashboard is not None:
            state = self.dashboard.state(event.symbol)
            if state is not None:
                state.book, state.resyncing = event.view, False
        elif self.enabled:
            self._say(f"-- book {event.symbol} synced at version {event.version}")

    @hookimpl
    def mexc_book_updated(self, event: BookUpdated) -> None:
        """A diff was applied to a local book."""
        if self.dashboard is not None:
            state = self.dashboard.state(event.symbol)
            if state is not None and event.view is not None:
                state.book, state.resyncing = event.view, False

    @hookimpl
    def mexc_book_resync(self, event: BookResyncStarted) -> None:
        """A local book is not exact any more."""
        if self.dashboard is not None:
            state = self.dashboard.state(event.symbol)
            if state is not None:
                state.resyncing = True
                state.resyncs += 1
        elif self.enabled:
            self._say(f"-- book {event.symbol} resyncing ({event.cause.value})")

    # ------------------------------------------------------------ lifecycle

    @hookimpl
    def mexc_link_connected(self, event: LinkConnected) -> None:
        """A connection opened."""
        if self.dashboard is not None:
            self.dashboard.links[event.link] = set()  # topics count once acknowledged
            self.dashboard.connects += 1
            self.dashboard.reconnects += bool(event.reconnect)
        elif self.enabled:
            again = "reconnected" if event.reconnect else "connected"
            self._say(f"-- link {event.link} {again}: {len(event.topics)} topics")

    @hookimpl
    def mexc_link_disconnected(self, event: LinkDisconnected) -> None:
        """A connection went down."""
        if self.dashboard is not None:
            self.dashboard.links.pop(event.link, None)
        elif self.enabled:
            retry = "" if event.retry_in is None else f", retry in {event.retry_in:.2f} s"
            self._say(f"-- link {event.link} down ({event.cause.value}: {event.reason}){retry}")

    @hookimpl
    def mexc_link_rotated(self, event: LinkRotated) -> None:
        """A connection was replaced before the 24 h cut-off."""
        if self.dashboard is not None:
            self.dashboard.rotations += 1
        elif self.enabled:
            self._say(f"-- link {event.old} rotated to {event.new} after {event.age:.0f} s")

    @hookimpl
    def mexc_subscription_confirmed(self, event: TopicsSubscribed) -> None:
        """Topics acknowledged."""
        if self.dashboard is not None:
            self.dashboard.links.setdefault(event.link, set()).update(event.topics)
        elif self.enabled:
            self._say(f"-- link {event.link}: {len(event.topics)} topics subscribed")

    @hookimpl
    def mexc_subscription_rejected(self, event: TopicsRejected) -> None:
        """Topics refused."""
        if self.dashboard is not None:
            self.dashboard.rejected += len(event.topics)
        elif self.enabled:
            self._say(
                f"-- rejected ({event.cause.value}: {event.reason}): {', '.join(event.topics)}"
            )

    @hookimpl
    def mexc_stream_gap(self, event: GapDetected) -> None:
        """Pushes may be missing."""
        if self.dashboard is not None:
            self.dashboard.gaps += 1
        elif self.enabled:
            span = event.ended_at - event.started_at
            self._say(f"-- gap of {span:.2f} s ({event.cause.value}) on {len(event.topics)} topics")

    @hookimpl
    def mexc_plugin_failed(self, event: PluginFailed) -> None:
        """Another plugin raised."""
        if self.enabled and self.dashboard is None:
            self._say(f"-- plugin {event.plugin} failed in {event.hook}: {event.error}")


#: The instance the entry point registers.
plugin = Console()
