"""The ``mexc`` command.

Subcommands available now:

- ``mexc channels``: the channel registry (templates, body fields, hooks).
- ``mexc topic TOPIC...``: parse and validate topic strings.
- ``mexc decode [HEX...]``: decode binary push frames given in hex (arguments, or
  one per line on standard input) and print them, as JSON with ``--json``.

- ``mexc sim``: run the exchange simulator (WebSocket and REST) on loopback and
  print its URLs and credentials; Ctrl-C stops it.

``mexc demo`` and ``mexc watch`` arrive with the runtime (anyio adapters, plugins).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import ssl
import sys
import time
from collections.abc import Iterable, Sequence

import anyio

from mexc_core import __version__, channels, wire
from mexc_core.errors import DecodeError, InvalidTopic
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
