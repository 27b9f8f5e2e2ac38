"""The ``mexc`` command.

Subcommands available now:

- ``mexc channels``: the channel registry (templates, body fields, hooks).
- ``mexc topic TOPIC...``: parse and validate topic strings.
- ``mexc decode [HEX...]``: decode binary push frames given in hex (arguments, or
  one per line on standard input) and print them, as JSON with ``--json``.

- ``mexc sim``: run the exchange simulator (WebSocket and REST) on loopback and
  print its URLs and credentials; Ctrl-C stops it.
- ``mexc demo``: start the simulator on loopback and run the real client against
  it, with the console plugin printing live trades and tickers; ``--duration``
  stops it by itself.
- ``mexc watch TOPIC...``: subscribe topics (on MEXC by default, or any endpoint
  given with ``--endpoint``) and print their pushes, one JSON object per line
  with ``--json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import signal
import ssl
import sys
import time
from collections.abc import Iterable, Sequence

import anyio

from mexc_core import __version__, channels, wire
from mexc_core.aio.client import DEFAULT_URL, MexcClient
from mexc_core.errors import DecodeError, InvalidTopic, MexcError, SubscriptionError
from mexc_core.events import Push
from mexc_core.sim.exchange import (
    DEFAULT_API_KEY,
    DEFAULT_API_SECRET,
    ExchangeConfig,
    default_markets,
    market_spec,
)
from mexc_core.sim.faults import PROFILES, profile
from mexc_core.sim.market import MarketSpec
from mexc_core.sim.protocol import SimConfig, Simulator
from mexc_core.sim.server import ScaledClock, SimServer


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


def _sim_markets(text: str) -> tuple[MarketSpec, ...]:
    if text.isdigit():
        return default_markets(int(text))
    known = {m.symbol: m for m in default_markets(8)}
    out = []
    for symbol in (s.strip().upper() for s in text.split(",") if s.strip()):
        if symbol in known:
            out.append(known[symbol])
        elif symbol.endswith("USDT") and len(symbol) > 4:
            out.append(market_spec(symbol, symbol[:-4], "USDT", "10.0000", 4, 2, "50"))
        else:
            raise argparse.ArgumentTypeError(f"{symbol!r}: use known pairs or *USDT names")
    return tuple(out)


def _cmd_sim(args: argparse.Namespace) -> int:
    try:
        faults = profile(args.faults, seed=args.seed)
    except KeyError as exc:
        print(f"mexc sim: {exc.args[0]}", file=sys.stderr)
        return 2
    exchange = ExchangeConfig(
        seed=args.seed,
        markets=args.symbols,
        # Exchange time starts at the wall clock, so clients can sign with theirs.
        start_ms=args.start_ms if args.start_ms is not None else int(time.time() * 1000),
        api_key=args.api_key,
        api_secret=args.api_secret,
    )
    context = None
    if args.tls_cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.tls_cert, args.tls_key)
    server = SimServer(
        Simulator(SimConfig(exchange=exchange, faults=faults)),
        host=args.host,
        port=args.port,
        ssl_context=context,
        clock=ScaledClock(args.speed),
    )

    async def run() -> None:
        async with anyio.create_task_group() as tg:
            await tg.start(server.serve)
            info = {
                "ws_url": server.ws_url,
                "rest_url": server.rest_url,
                "api_key": args.api_key,
                "api_secret": args.api_secret,
                "symbols": list(server.exchange.markets),
                "seed": args.seed,
                "speed": args.speed,
                "faults": args.faults,
            }
            if args.json:
                print(json.dumps(info), flush=True)
            else:
                symbols = ", ".join(list(server.exchange.markets)[:10])
                more = len(server.exchange.markets) - 10
                head = f"seed {args.seed}, speed x{args.speed:g}, faults {args.faults}"
                print(f"MEXC simulator ({head})")
                print(f"  WebSocket  {server.ws_url}   (private: ?listenKey=...)")
                print(f"  REST       {server.rest_url}/api/v3/...")
                print(f"  API key    {args.api_key}")
                print(f"  API secret {args.api_secret}")
                print(f"  symbols    {symbols}{f' and {more} more' if more > 0 else ''}")
                if args.speed != 1:
                    print("  note: at this speed, sign with the simulator's /api/v3/time")
                print("Ctrl-C stops it.", flush=True)
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    tg.cancel_scope.cancel()
                    break

    with contextlib.suppress(KeyboardInterrupt):  # the signal receiver usually wins
        anyio.run(run)
    return 0


#: What the demo watches on each of its symbols.
DEMO_CHANNELS = (
    "spot@public.aggre.deals.v3.api.pb@100ms@{symbol}",
    "spot@public.aggre.bookTicker.v3.api.pb@100ms@{symbol}",
    "spot@public.miniTicker.v3.api.pb@{symbol}@UTC+8",
)


def _console_plugin() -> object | None:
    """The console plugin, when it is installed (``uv sync`` installs it)."""
    try:
        import mexc_plugin_console  # noqa: PLC0415 - an optional distribution
    except ImportError:
        return None
    return mexc_plugin_console.plugin


def _cmd_demo(args: argparse.Namespace) -> int:
    if _console_plugin() is None:
        print(
            "mexc demo: the console plugin is not installed; run `uv sync` in the "
            "repository, or `pip install mexc-plugin-console`",
            file=sys.stderr,
        )
        return 2
    symbols = [m.symbol for m in args.symbols]
    shown = symbols[: args.show]
    exchange = ExchangeConfig(
        seed=args.seed, markets=args.symbols, start_ms=int(time.time() * 1000)
    )
    try:
        faults = profile(args.faults, seed=args.seed)
    except KeyError as exc:
        print(f"mexc demo: {exc.args[0]}", file=sys.stderr)
        return 2
    server = SimServer(Simulator(SimConfig(exchange=exchange, faults=faults)), port=0)
    topics = [template.format(symbol=s) for s in shown for template in DEMO_CHANNELS]

    async def run() -> MexcClient:
        async with anyio.create_task_group() as tg:
            await tg.start(server.serve)
            print(
                f"mexc demo: a simulated MEXC on {server.ws_url} ({len(symbols)} pairs, "
                f"faults: {args.faults}); watching {', '.join(shown)}; Ctrl-C stops",
                flush=True,
            )
            client = MexcClient(server.ws_url, options={"console": {"symbols": shown}})
            async with client:
                await client.subscribe(topics)
                with (
                    anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals,
                    anyio.move_on_after(args.duration if args.duration > 0 else math.inf),
                ):
                    async for _ in signals:
                        break
            tg.cancel_scope.cancel()
        return client

    client = anyio.run(run)
    stats = client.stats
    print(
        f"mexc demo: {stats.pushes} pushes over {stats.connects} connections "
        f"({stats.reconnects} reconnects, {stats.rotations} rotations), {stats.gaps} gaps, "
        f"{stats.duplicates} duplicates dropped",
        flush=True,
    )
    return 0


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
                for topic, (cause, reason) in exc.failures.items():
                    print(f"mexc watch: {topic}: {cause} ({reason})", file=sys.stderr)
                if not client.topics:
                    tg.cancel_scope.cancel()
                    return 1

            async def stop_on_signal() -> None:
                with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                    async for _ in signals:
                        tg.cancel_scope.cancel()

            tg.start_soon(stop_on_signal)
            async for push in pushes:
                show(push)
                printed += 1
                if args.count and printed >= args.count:
                    break
            tg.cancel_scope.cancel()
        return 0

    try:
        return anyio.run(run)
    except MexcError as exc:
        print(f"mexc watch: {exc}", file=sys.stderr)
        return 1


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
    _add_sim_parser(sub)
    p = sub.add_parser(
        "demo",
        help="the client and the console plugin against a local simulator",
        description="Start the simulator on loopback and watch live trades and tickers.",
    )
    p.add_argument("--duration", type=float, default=0.0, help="stop after S seconds (0: Ctrl-C)")
    p.add_argument(
        "--symbols",
        type=_sim_markets,
        default="BTCUSDT,ETHUSDT,SOLUSDT",
        help="pairs of the simulated exchange, or a number of them (default: 3 pairs)",
    )
    p.add_argument("--show", type=int, default=3, help="how many pairs to watch (default 3)")
    p.add_argument("--seed", default="demo", help="seed of the simulated market")
    p.add_argument("--faults", default="none", help=f"fault profile: {', '.join(PROFILES)}")
    p.set_defaults(run=_cmd_demo)
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
    return parser


def _add_sim_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "sim",
        help="run the exchange simulator on loopback",
        description="A local MEXC: WebSocket at /ws and REST at /api/v3 on one port.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback)")
    p.add_argument("--port", type=int, default=8765, help="port (0: a free one; default 8765)")
    p.add_argument(
        "--symbols",
        type=_sim_markets,
        default="3",
        help="a number of pairs, or pairs like BTCUSDT,ETHUSDT (default: 3)",
    )
    p.add_argument("--seed", default="0", help="seed of every random choice (default 0)")
    p.add_argument("--speed", type=float, default=1.0, help="simulated seconds per second")
    p.add_argument("--faults", default="none", help=f"fault profile: {', '.join(PROFILES)}")
    p.add_argument("--api-key", default=DEFAULT_API_KEY, help="the account's API key")
    p.add_argument("--api-secret", default=DEFAULT_API_SECRET, help="the account's secret")
    p.add_argument("--start-ms", type=int, help="exchange time at start (default: now)")
    p.add_argument("--tls-cert", help="serve TLS with this certificate chain (PEM)")
    p.add_argument("--tls-key", help="the certificate's private key (PEM)")
    p.add_argument("--json", action="store_true", help="print the URLs as one JSON line")
    p.set_defaults(run=_cmd_sim)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``mexc`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    status: int = args.run(args)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
