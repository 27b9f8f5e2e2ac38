"""The ``mexc`` command.

Subcommands available now:

- ``mexc channels``: the channel registry (templates, body fields, hooks).
- ``mexc topic TOPIC...``: parse and validate topic strings.
- ``mexc decode [HEX...]``: decode binary push frames given in hex (arguments, or
  one per line on standard input) and print them, as JSON with ``--json``.

- ``mexc sim`` and ``mexc demo``: the exchange simulator on loopback, and the
  client with the console plugin against it. Both live in the mexc-sim
  distribution (:mod:`mexc_sim.cli`), imported only when one of them runs;
  without it they print how to install it and exit with status 3
  (:data:`EXIT_NO_SIMULATOR`).
- ``mexc watch TOPIC...``: subscribe topics (on MEXC by default, or any endpoint
  given with ``--endpoint``) and print their pushes, one JSON object per line
  with ``--json``.
- ``mexc book SYMBOL``: keep the local order book of a symbol and print its best
  levels after every update, one JSON object per line with ``--json``.

Exit status: 0 done (``--count`` reached, or Ctrl-C), 1 MEXC refused or the
connection failed, 2 bad arguments (an unknown topic or symbol), 3 the simulator
is not installed (``sim``, ``demo``).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Awaitable, Callable, Iterable, Sequence

import anyio

from mexc_core import __version__, channels, wire
from mexc_core.aio.client import DEFAULT_URL, MexcClient
from mexc_core.aio.http import DEFAULT_BASE_URL
from mexc_core.book.sync import BookConfig
from mexc_core.channels import AggreDepth
from mexc_core.errors import DecodeError, InvalidTopic, MexcError, SubscriptionError
from mexc_core.events import BookResyncStarted, BookSynced, BookUpdated, BookView, Push

#: The subcommands of the simulator (the mexc-sim distribution, ``mexc_sim.cli``),
#: loaded only when used.
SIMULATOR_COMMANDS = {
    "sim": "run the exchange simulator on loopback (needs mexc-sim)",
    "demo": "the client and the console plugin against a local simulator (needs mexc-sim)",
}
#: The exit status of ``mexc sim`` and ``mexc demo`` when mexc-sim is not installed.
EXIT_NO_SIMULATOR = 3


def _cmd_channels(args: argparse.Namespace) -> int:
    rows = [
        {
            "name": c.name,
            "template": c.template,
            "body_field": c.body_field,
            "body_number": c.body_number,
            "message": c.message,
            "hook": c.hook,
            "private": c.private,
            "legacy": c.legacy,
        }
        for c in channels.CHANNELS
    ]
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    width = max(len(c.template) for c in channels.CHANNELS)
    for c in channels.CHANNELS:
        flags = " ".join(f for f, on in (("private", c.private), ("legacy", c.legacy)) if on)
        print(f"{c.template:<{width}}  {c.body_number} {c.message:<31} {flags}".rstrip())
    return 0


def _cmd_topic(args: argparse.Namespace) -> int:
    status = 0
    for text in args.topics:
        try:
            topic = channels.parse(text)
        except InvalidTopic as exc:
            print(f"invalid: {exc}", file=sys.stderr)
            status = 1
            continue
        print(f"{topic!r}  ->  {topic.spec.message} via {topic.spec.hook}")
    return status


def _frames(args: argparse.Namespace) -> Iterable[str]:
    if args.frames:
        yield from args.frames
        return
    for line in sys.stdin:
        if line.strip():
            yield line.strip()


def _cmd_decode(args: argparse.Namespace) -> int:
    status = 0
    for number, text in enumerate(_frames(args), 1):
        try:
            data = bytes.fromhex(text)
        except ValueError:
            print(f"frame {number}: not hex", file=sys.stderr)
            status = 1
            continue
        try:
            push = wire.decode_push(data)
        except DecodeError as exc:
            print(f"frame {number}: {exc}", file=sys.stderr)
            status = 1
            continue
        print(json.dumps(wire.push_as_dict(push), ensure_ascii=False) if args.json else push)
    return status


def _say_refused(command: str, exc: SubscriptionError) -> None:
    for topic, (cause, reason) in exc.failures.items():
        print(f"mexc {command}: {topic}: {cause} ({reason})", file=sys.stderr)


async def _stop_on_signal(scope: anyio.CancelScope) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            scope.cancel()


def _run_client(command: str, run: Callable[[], Awaitable[int]]) -> int:
    """Run a client command; a MexcError is one line on stderr and status 1."""
    try:
        return anyio.run(run)
    except MexcError as exc:
        print(f"mexc {command}: {exc}", file=sys.stderr)
        return 1


def _cmd_watch(args: argparse.Namespace) -> int:
    try:
        topics = [str(channels.parse(t)) for t in args.topics]
    except InvalidTopic as exc:
        print(f"mexc watch: {exc}", file=sys.stderr)
        return 2
    printed = 0

    def show(push: Push) -> None:
        if args.json:
            print(json.dumps(wire.push_as_dict(push), ensure_ascii=False), flush=True)
        else:
            print(f"{push.channel} {push.send_time} {push.body}", flush=True)

    async def run() -> int:
        nonlocal printed
        client = MexcClient(args.endpoint, ca_file=args.ca_file)
        async with client, anyio.create_task_group() as tg:
            pushes = client.pushes(*topics, max_buffer=10_000)
            try:
                await client.subscribe(topics)
            except SubscriptionError as exc:
                _say_refused("watch", exc)
                if not client.topics:
                    tg.cancel_scope.cancel()
                    return 1
            tg.start_soon(_stop_on_signal, tg.cancel_scope)
            async for push in pushes:
                show(push)
                printed += 1
                if args.count and printed >= args.count:
                    break
            tg.cancel_scope.cancel()
        return 0

    return _run_client("watch", run)


def _book_json(view: BookView) -> str:
    return json.dumps(
        {
            "symbol": view.symbol,
            "version": view.version,
            "bids": [[level.price, level.quantity] for level in view.bids],
            "asks": [[level.price, level.quantity] for level in view.asks],
        }
    )


def _book_text(view: BookView) -> str:
    lines = [f"{view.symbol}  version {view.version}"]
    lines.append(f"{'bid qty':>16} {'bid':>14} | {'ask':<14} {'ask qty':<16}")
    for i in range(max(len(view.bids), len(view.asks))):
        bid = view.bids[i] if i < len(view.bids) else None
        ask = view.asks[i] if i < len(view.asks) else None
        left = f"{bid.quantity:>16} {bid.price:>14}" if bid else " " * 31
        right = f"{ask.price:<14} {ask.quantity:<16}" if ask else ""
        lines.append(f"{left} | {right}".rstrip())
    return "\n".join(lines) + "\n"


def _cmd_book(args: argparse.Namespace) -> int:
    try:
        topic = AggreDepth(symbol=args.symbol, interval=args.interval)
    except InvalidTopic as exc:
        print(f"mexc book: {exc}", file=sys.stderr)
        return 2
    printed = 0

    async def run() -> int:
        nonlocal printed
        client = MexcClient(
            args.endpoint,
            rest_url=args.rest,
            ca_file=args.ca_file,
            book=BookConfig(view_depth=args.depth),
        )
        async with client, anyio.create_task_group() as tg:
            events = client.events(BookSynced, BookUpdated, BookResyncStarted, max_buffer=10_000)
            try:
                await client.watch_book(topic.symbol, interval=topic.interval)
            except SubscriptionError as exc:
                _say_refused("book", exc)
                tg.cancel_scope.cancel()
                return 1
            tg.start_soon(_stop_on_signal, tg.cancel_scope)
            async for event in events:
                if isinstance(event, BookResyncStarted):
                    print(
                        f"mexc book: {event.symbol} is resyncing ({event.cause.value})",
                        file=sys.stderr,
                        flush=True,
                    )
                    continue
                assert isinstance(event, BookSynced | BookUpdated)
                assert event.view is not None  # the book keeps views of --depth levels
                print(_book_json(event.view) if args.json else _book_text(event.view), flush=True)
                printed += 1
                if args.count and printed >= args.count:
                    break
            tg.cancel_scope.cancel()
        return 0

    return _run_client("book", run)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mexc", description="Tools for the MEXC Spot V3 WebSocket API."
    )
    parser.add_argument("--version", action="version", version=f"mexc-core {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("channels", help="list the channel registry")
    p.add_argument("--json", action="store_true", help="one JSON object per channel")
    p.set_defaults(run=_cmd_channels)
    p = sub.add_parser("topic", help="parse and validate topic strings")
    p.add_argument("topics", nargs="+", metavar="TOPIC")
    p.set_defaults(run=_cmd_topic)
    p = sub.add_parser("decode", help="decode binary push frames given in hex")
    p.add_argument("frames", nargs="*", metavar="HEX", help="frames; default: stdin lines")
    p.add_argument("--json", action="store_true", help="one JSON object per frame")
    p.set_defaults(run=_cmd_decode)
    for name, text in SIMULATOR_COMMANDS.items():
        # the options are mexc_sim.cli's: everything after the name is handed over
        sub.add_parser(name, help=text, add_help=False)
    p = sub.add_parser(
        "watch",
        help="print the pushes of topics",
        description="Subscribe topics (sharded over connections as needed) and print pushes.",
    )
    p.add_argument("topics", nargs="+", metavar="TOPIC")
    p.add_argument("--endpoint", default=DEFAULT_URL, help=f"WebSocket URL (default {DEFAULT_URL})")
    p.add_argument("--json", action="store_true", help="one JSON object per push")
    p.add_argument("--count", type=int, default=0, help="stop after N pushes (0: never)")
    p.add_argument("--ca-file", help="trust this CA bundle for wss:// (e.g. a local simulator)")
    p.set_defaults(run=_cmd_watch)
    p = sub.add_parser(
        "book",
        help="keep the local order book of a symbol and print it",
        description="Keep the order book of SYMBOL exactly as MEXC's procedure says "
        "(diffs, a REST snapshot, resync on any break) and print its best levels "
        "after every update.",
    )
    p.add_argument("symbol", metavar="SYMBOL", help="e.g. BTCUSDT")
    p.add_argument("--endpoint", default=DEFAULT_URL, help=f"WebSocket URL (default {DEFAULT_URL})")
    p.add_argument(
        "--rest", default=DEFAULT_BASE_URL, help=f"REST base URL (default {DEFAULT_BASE_URL})"
    )
    p.add_argument("--depth", type=_positive, default=20, help="levels per side (default 20)")
    p.add_argument("--interval", default="100ms", choices=["100ms", "10ms"], help="diff stream")
    p.add_argument("--json", action="store_true", help="one JSON object per update")
    p.add_argument("--count", type=int, default=0, help="stop after N updates (0: never)")
    p.add_argument("--ca-file", help="trust this CA bundle for wss:// (e.g. a local simulator)")
    p.set_defaults(run=_cmd_book)
    return parser


def _simulator_command(command: str, argv: Sequence[str]) -> int:
    """Hand ``mexc sim`` / ``mexc demo`` to mexc-sim, or say how to install it."""
    try:
        from mexc_sim import cli as sim_cli  # noqa: PLC0415 - optional, loaded on use
    except ModuleNotFoundError as exc:
        if exc.name != "mexc_sim":
            raise
        print(
            f"mexc {command}: the simulator is not installed; "
            "run `pip install mexc-sim` (or install mexc-core[testing])",
            file=sys.stderr,
        )
        return EXIT_NO_SIMULATOR
    return sim_cli.run(command, argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``mexc`` command; returns the exit status."""
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.command in SIMULATOR_COMMANDS:
        return _simulator_command(args.command, rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    status: int = args.run(args)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
