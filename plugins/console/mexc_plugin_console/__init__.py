"""mexc-plugin-console: live trades, tickers and connection events, one line each.

Written exactly as a third-party plugin: it imports only
:mod:`mexc_core.hookspecs` and :mod:`mexc_core.events`, and mexc-core finds it
through the ``mexc.plugins`` entry point ``console``. It stays quiet unless the
application passes ``options={"console": {...}}`` to the client.

The hooks run on the client's event loop and must be fast: they only format a
line and queue it in a bounded stream (``drop_oldest``: a slow terminal loses
lines, counted, never the client's pace); the plugin's own task writes them.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

from mexc_core.events import (
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

__all__ = ("Console", "plugin")

__version__ = "0.1.0.dev0"

_SIDES = {1: "BUY ", 2: "SELL"}


def _clock(ms: int | None) -> str:
    if not ms:
        return "--:--:--.---"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%H:%M:%S.%f")[:-3]


class Console:
    """The plugin (one instance, :data:`plugin`, is registered by the entry point)."""

    def __init__(self) -> None:
        self.enabled = False
        self.symbols: frozenset[str] | None = None
        self.lines = 0
        self._out: StreamSender[str] | None = None
        self._in: StreamReceiver[str] | None = None
        self._file: TextIO = sys.stdout

    # ------------------------------------------------------------ client hooks

    @hookimpl
    def mexc_client_started(self, context: ClientContext) -> None:
        """Turn on if asked for, open the line stream and start the writer task."""
        options = context.options.get("console")
        self.enabled = bool(options)
        if not self.enabled:
            return
        settings: Mapping[str, Any] = options if isinstance(options, Mapping) else {}
        symbols: Iterable[str] | None = settings.get("symbols")
        self.symbols = frozenset(symbols) if symbols else None
        self._file = settings.get("file") or sys.stdout
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

    def _say(self, line: str) -> None:
        if self._out is not None:
            self._out.send_nowait(line)

    def _wanted(self, push: Push) -> bool:
        return self.enabled and (self.symbols is None or push.symbol in self.symbols)

    # ------------------------------------------------------------ pushes

    @hookimpl
    def mexc_aggre_deals_received(self, push: Push, body: messages.PublicAggreDealsV3Api) -> None:
        """One line per trade."""
        if not self._wanted(push):
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
        if self._wanted(push):
            self._say(
                f"{_clock(push.send_time)}  {push.symbol:<10} book   "
                f"bid {body.bid_price} x {body.bid_quantity}  "
                f"ask {body.ask_price} x {body.ask_quantity}"
            )

    @hookimpl
    def mexc_mini_ticker_received(self, push: Push, body: messages.PublicMiniTickerV3Api) -> None:
        """The last price and the day's change."""
        if self._wanted(push):
            self._say(
                f"{_clock(push.send_time)}  {push.symbol or body.symbol:<10} ticker "
                f"last {body.price}  change {body.rate}  high {body.high}  low {body.low}"
            )

    # ------------------------------------------------------------ lifecycle

    @hookimpl
    def mexc_link_connected(self, event: LinkConnected) -> None:
        """A connection opened."""
        if self.enabled:
            again = "reconnected" if event.reconnect else "connected"
            self._say(f"-- link {event.link} {again}: {len(event.topics)} topics")

    @hookimpl
    def mexc_link_disconnected(self, event: LinkDisconnected) -> None:
        """A connection went down."""
        if self.enabled:
            retry = "" if event.retry_in is None else f", retry in {event.retry_in:.2f} s"
            self._say(f"-- link {event.link} down ({event.cause.value}: {event.reason}){retry}")

    @hookimpl
    def mexc_link_rotated(self, event: LinkRotated) -> None:
        """A connection was replaced before the 24 h cut-off."""
        if self.enabled:
            self._say(f"-- link {event.old} rotated to {event.new} after {event.age:.0f} s")

    @hookimpl
    def mexc_subscription_confirmed(self, event: TopicsSubscribed) -> None:
        """Topics acknowledged."""
        if self.enabled:
            self._say(f"-- link {event.link}: {len(event.topics)} topics subscribed")

    @hookimpl
    def mexc_subscription_rejected(self, event: TopicsRejected) -> None:
        """Topics refused."""
        if self.enabled:
            self._say(
                f"-- rejected ({event.cause.value}: {event.reason}): {', '.join(event.topics)}"
            )

    @hookimpl
    def mexc_stream_gap(self, event: GapDetected) -> None:
        """Pushes may be missing."""
        if self.enabled:
            span = event.ended_at - event.started_at
            self._say(f"-- gap of {span:.2f} s ({event.cause.value}) on {len(event.topics)} topics")

    @hookimpl
    def mexc_plugin_failed(self, event: PluginFailed) -> None:
        """Another plugin raised."""
        if self.enabled:
            self._say(f"-- plugin {event.plugin} failed in {event.hook}: {event.error}")


#: The instance the entry point registers.
plugin = Console()
