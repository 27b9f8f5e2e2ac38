"""``mexc book SYMBOL``: keep a symbol's local order book and print its best levels.

The book follows MEXC's procedure (diffs, a REST snapshot, a resync on any break);
after every update stdout gets its best ``--depth`` levels per side, as a small
table or, with ``--json``, one object per update. A resync is reported on stderr.
"""

from __future__ import annotations

import argparse
import json

import anyio

from mexc_core.aio.client import MexcClient
from mexc_core.aio.http import DEFAULT_BASE_URL
from mexc_core.book.sync import BookConfig
from mexc_core.channels import AggreDepth
from mexc_core.cli.common import (
    EXIT_USAGE,
    CommandFailed,
    CommandParser,
    Progress,
    add_connection_arguments,
    add_debug_argument,
    add_metrics_argument,
    add_plugin_arguments,
    add_view_argument,
    follow,
    live_view_options,
    load_plugins,
    non_negative_int,
    positive_int,
    result_output,
    say,
    wants_live_view,
)
from mexc_core.errors import InvalidTopic
from mexc_core.events import BookResyncStarted, BookSynced, BookUpdated, BookView, Event

__all__ = ("add_parser", "book_json", "book_text", "run")


def add_parser(sub: argparse._SubParsersAction[CommandParser]) -> None:
    """The ``book`` subcommand."""
    p = sub.add_parser(
        "book",
        help="keep the local order book of a symbol and print it",
        description="Keep the order book of SYMBOL exactly as MEXC's procedure says "
        "(diffs, a REST snapshot, resync on any break) and print its best levels "
        "after every update.",
    )
    p.add_argument("symbol", metavar="SYMBOL", help="e.g. BTCUSDT")
    p.add_argument(
        "--rest", default=DEFAULT_BASE_URL, help=f"REST base URL (default {DEFAULT_BASE_URL})"
    )
    p.add_argument("--depth", type=positive_int, default=20, help="levels per side (default 20)")
    p.add_argument("--interval", default="100ms", choices=["100ms", "10ms"], help="diff stream")
    p.add_argument("--json", action="store_true", help="one JSON object per update")
    p.add_argument(
        "--count", type=non_negative_int, default=0, help="stop after N updates (0: never)"
    )
    add_connection_arguments(p)
    add_metrics_argument(p)
    add_view_argument(p)
    add_plugin_arguments(p)
    add_debug_argument(p)
    p.set_defaults(run=run)


def book_json(view: BookView) -> str:
    """One update as a JSON object: symbol, version, bids and asks as [price, qty]."""
    return json.dumps(
        {
            "symbol": view.symbol,
            "version": view.version,
            "bids": [[level.price, level.quantity] for level in view.bids],
            "asks": [[level.price, level.quantity] for level in view.asks],
        }
    )


def book_text(view: BookView) -> str:
    """One update as a small table, bids on the left, asks on the right."""
    lines = [f"{view.symbol}  version {view.version}"]
    lines.append(f"{'bid qty':>16} {'bid':>14} | {'ask':<14} {'ask qty':<16}")
    for i in range(max(len(view.bids), len(view.asks))):
        bid = view.bids[i] if i < len(view.bids) else None
        ask = view.asks[i] if i < len(view.asks) else None
        left = f"{bid.quantity:>16} {bid.price:>14}" if bid else " " * 31
        right = f"{ask.price:<14} {ask.quantity:<16}" if ask else ""
        lines.append(f"{left} | {right}".rstrip())
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    """Run ``mexc book``."""
    try:
        topic = AggreDepth(symbol=args.symbol, interval=args.interval)
    except InvalidTopic as exc:
        raise CommandFailed(str(exc), status=EXIT_USAGE) from None
    live = wants_live_view(args)
    pm, options = load_plugins("book", args, required=("console",) if live else ())
    if live:
        live_view_options(pm, options, symbols=[topic.symbol], book_depth=args.depth)
    progress = Progress.from_args("book", args)

    def show(event: Event) -> bool:
        if isinstance(event, BookResyncStarted):
            if not live:
                say("book", f"{event.symbol} is resyncing ({event.cause.value})")
            return False
        assert isinstance(event, BookSynced | BookUpdated)
        assert event.view is not None  # the book keeps views of --depth levels
        if not live:  # the console plugin draws it
            text = book_json(event.view) if args.json else book_text(event.view)
            print(text, file=out, flush=True)
        return True

    with result_output(json_only=args.json) as out:
        return anyio.run(
            lambda: follow(
                "book",
                lambda: MexcClient(
                    args.endpoint,
                    rest_url=args.rest,
                    ca_file=args.ca_file,
                    book=BookConfig(view_depth=args.depth),
                    pm=pm,
                    options=options,
                ),
                progress,
                items=lambda client: client.events(
                    BookSynced, BookUpdated, BookResyncStarted, max_buffer=10_000
                ),
                start=lambda client: client.watch_book(topic.symbol, interval=topic.interval),
                show=show,
                count=args.count,
            )
        )
