"""``mexc sim``, ``mexc demo`` and ``mexc soak``: the simulator on the command line.

The ``mexc`` command of mexc-core hands these subcommands to :func:`run`
when mexc-sim is installed (and says how to install it when it is not);
``python -m mexc_sim [options]`` is ``mexc sim [options]``.

- ``mexc sim``: run the exchange simulator (WebSocket and REST) on loopback and
  print its URLs and credentials; Ctrl-C stops it.
- ``mexc demo``: start the simulator on loopback and run the real client against
  it, with the console plugin's live view (books, trades, klines, the account's
  own orders and balances, link status) while a trading loop places and cancels
  orders on the simulated account (:mod:`mexc_sim.demo`); ``--duration`` stops
  it by itself.
- ``mexc soak``: the client against the simulator with a fault profile on a
  fast clock, everything it delivered checked against the simulator's truth
  (:mod:`mexc_sim.soak`); exit status 1 when a check failed.
"""

from __future__ import annotations

import argparse
import json
import math
import ssl
import sys
import time
from collections.abc import Callable, Sequence

import anyio

from mexc_core.aio.client import MexcClient
from mexc_core.cli.common import (
    EXIT_FAILED,
    EXIT_NOT_INSTALLED,
    EXIT_OK,
    EXIT_USAGE,
    CommandFailed,
    CommandParser,
    add_debug_argument,
    add_metrics_argument,
    add_plugin_arguments,
    listen_failure,
    load_plugins,
    non_negative_float,
    port,
    positive_float,
    positive_int,
    raise_on_signal,
    result_output,
    run_command,
)
from mexc_core.rest import Credentials
from mexc_sim.demo import TradingStats, trade
from mexc_sim.exchange import (
    DEFAULT_API_KEY,
    DEFAULT_API_SECRET,
    ExchangeConfig,
    default_markets,
    market_spec,
)
from mexc_sim.faults import PROFILES, SOAK_PROFILES, Faults, profile
from mexc_sim.market import MarketSpec
from mexc_sim.protocol import SimConfig, Simulator
from mexc_sim.server import ScaledClock, SimServer

__all__ = (
    "COMMANDS",
    "DEMO_CHANNELS",
    "build_demo_parser",
    "build_sim_parser",
    "build_soak_parser",
    "main",
    "run",
)


def _sim_markets(text: str) -> tuple[MarketSpec, ...]:
    if text.strip().lstrip("-").isdigit():
        return default_markets(positive_int(text))
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


def _faults(name: str, seed: str) -> Faults:
    try:
        return profile(name, seed=seed)
    except KeyError as exc:
        raise CommandFailed(str(exc.args[0]), status=EXIT_USAGE) from None


async def _start(tg: anyio.abc.TaskGroup, server: SimServer, host: str, port: int) -> None:
    try:
        await tg.start(server.serve)
    except OSError as exc:
        raise listen_failure(exc, host, port) from None


def _cmd_sim(args: argparse.Namespace) -> int:
    faults = _faults(args.faults, args.seed)
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
        try:
            context.load_cert_chain(args.tls_cert, args.tls_key)
        except (OSError, ssl.SSLError) as exc:
            raise CommandFailed(
                f"cannot load the TLS certificate {args.tls_cert}: {exc}; "
                "give a PEM chain with --tls-cert and its key with --tls-key"
            ) from None
    server = SimServer(
        Simulator(SimConfig(exchange=exchange, faults=faults)),
        host=args.host,
        port=args.port,
        ssl_context=context,
        clock=ScaledClock(args.speed),
    )

    async def run() -> None:
        async with anyio.create_task_group() as tg:
            await tg.start(raise_on_signal)
            await _start(tg, server, args.host, args.port)
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

    anyio.run(run)
    return 0  # pragma: no cover - only a signal ends it


#: What the demo watches on each of its symbols.
DEMO_CHANNELS = (
    "spot@public.aggre.deals.v3.api.pb@100ms@{symbol}",
    "spot@public.aggre.bookTicker.v3.api.pb@100ms@{symbol}",
    "spot@public.miniTicker.v3.api.pb@{symbol}@UTC+8",
    "spot@public.kline.v3.api.pb@{symbol}@Min1",
)
#: The account's own streams: its orders, its fills and its balances.
DEMO_PRIVATE = (
    "spot@private.orders.v3.api.pb",
    "spot@private.deals.v3.api.pb",
    "spot@private.account.v3.api.pb",
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
        raise CommandFailed(
            "the console plugin is not installed; run `uv sync` in the repository, "
            "or `pip install mexc-plugin-console`",
            status=EXIT_NOT_INSTALLED,
        )
    symbols = [m.symbol for m in args.symbols]
    shown = symbols[: args.show]
    faults = _faults(args.faults, args.seed)
    pm, options = load_plugins("demo", args, required=("console",))
    console = options.setdefault("console", {})
    console.setdefault("symbols", shown)
    console.setdefault("view", args.view)
    exchange = ExchangeConfig(
        seed=args.seed, markets=args.symbols, start_ms=int(time.time() * 1000)
    )
    server = SimServer(Simulator(SimConfig(exchange=exchange, faults=faults)), port=0)
    topics = [template.format(symbol=s) for s in shown for template in DEMO_CHANNELS]
    traded = [m for m in args.symbols if m.symbol in shown]
    clients: list[MexcClient] = []
    trading = TradingStats()

    async def run() -> None:
        async with anyio.create_task_group() as tg:
            await tg.start(raise_on_signal)
            await _start(tg, server, "127.0.0.1", 0)
            print(
                f"mexc demo: a simulated MEXC on {server.ws_url} ({len(symbols)} pairs, "
                f"faults: {args.faults}); watching {', '.join(shown)}; Ctrl-C stops",
                flush=True,
            )
            client = MexcClient(
                server.ws_url,
                pm=pm,
                options=options,
                rest_url=server.rest_url,
                credentials=Credentials(DEFAULT_API_KEY, DEFAULT_API_SECRET),
            )
            clients.append(client)
            async with client:
                await client.subscribe(topics, wait=False)
                await client.subscribe(DEMO_PRIVATE, wait=False)
                for symbol in shown:
                    await client.watch_book(symbol, wait=False)
                if not args.no_trading:
                    tg.start_soon(
                        trade, server.rest_url, DEFAULT_API_KEY, DEFAULT_API_SECRET, traded, trading
                    )
                await anyio.sleep(args.duration if args.duration > 0 else math.inf)
            tg.cancel_scope.cancel()

    try:
        anyio.run(run)
    finally:
        if clients:
            stats = clients[0].stats
            print(
                f"mexc demo: {stats.pushes} pushes over {stats.connects} connections "
                f"({stats.reconnects} reconnects, {stats.rotations} rotations), "
                f"{stats.gaps} gaps, {stats.duplicates} duplicates dropped, "
                f"{stats.strays.total()} stray pushes; orders: {trading.placed} placed, "
                f"{trading.cancelled} cancelled, {trading.refused} refused"
                + (f" (last: {trading.last_refusal})" if trading.refused else ""),
                flush=True,
            )
    return 0


def build_sim_parser(prog: str = "mexc sim") -> argparse.ArgumentParser:
    """The options of ``mexc sim``."""
    p = CommandParser(
        prog=prog,
        description="A local MEXC: WebSocket at /ws and REST at /api/v3 on one port.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback)")
    p.add_argument("--port", type=port, default=8765, help="port (0: a free one; default 8765)")
    p.add_argument(
        "--symbols",
        type=_sim_markets,
        default="3",
        help="a number of pairs, or pairs like BTCUSDT,ETHUSDT (default: 3)",
    )
    p.add_argument("--seed", default="0", help="seed of every random choice (default 0)")
    p.add_argument("--speed", type=positive_float, default=1.0, help="simulated seconds per second")
    p.add_argument("--faults", default="none", help=f"fault profile: {', '.join(PROFILES)}")
    p.add_argument("--api-key", default=DEFAULT_API_KEY, help="the account's API key")
    p.add_argument("--api-secret", default=DEFAULT_API_SECRET, help="the account's secret")
    p.add_argument("--start-ms", type=int, help="exchange time at start (default: now)")
    p.add_argument("--tls-cert", help="serve TLS with this certificate chain (PEM)")
    p.add_argument("--tls-key", help="the certificate's private key (PEM)")
    p.add_argument("--json", action="store_true", help="print the URLs as one JSON line")
    add_debug_argument(p)
    return p


def build_demo_parser(prog: str = "mexc demo") -> argparse.ArgumentParser:
    """The options of ``mexc demo``."""
    p = CommandParser(
        prog=prog,
        description="Start the simulator on loopback and watch books, trades, klines, "
        "your own orders and balances, and the connections, live.",
    )
    p.add_argument(
        "--duration",
        type=non_negative_float,
        default=0.0,
        help="stop after S seconds (0: at Ctrl-C)",
    )
    p.add_argument(
        "--symbols",
        type=_sim_markets,
        default="BTCUSDT,ETHUSDT,SOLUSDT",
        help="pairs of the simulated exchange, or a number of them (default: 3 pairs)",
    )
    p.add_argument(
        "--show", type=positive_int, default=3, help="how many pairs to watch (default 3)"
    )
    p.add_argument("--seed", default="demo", help="seed of the simulated market")
    p.add_argument("--faults", default="none", help=f"fault profile: {', '.join(PROFILES)}")
    add_metrics_argument(p)
    p.add_argument(
        "--view",
        choices=("auto", "live", "lines"),
        default="auto",
        help="live: a dashboard redrawn in place; lines: one line per event; "
        "auto (default): live on a terminal, lines otherwise",
    )
    p.add_argument(
        "--no-trading",
        action="store_true",
        help="do not place and cancel orders on the simulated account",
    )
    add_plugin_arguments(p)
    add_debug_argument(p)
    return p


def _cmd_soak(args: argparse.Namespace) -> int:
    from mexc_sim import soak  # noqa: PLC0415 - loaded when used

    if args.faults not in SOAK_PROFILES:
        raise CommandFailed(
            f"unknown fault profile {args.faults!r}; use one of {', '.join(SOAK_PROFILES)}",
            status=EXIT_USAGE,
        )
    config = soak.SoakConfig(
        duration=args.duration,
        symbols=args.symbols,
        faults=args.faults,
        speed=args.speed,
        seed=args.seed,
    )

    def progress(text: str) -> None:
        print(f"mexc soak: {text}", file=sys.stderr, flush=True)

    async def run() -> dict[str, object]:
        async with anyio.create_task_group() as tg:
            await tg.start(raise_on_signal)
            report = await soak.run_soak(config, progress=progress)
            tg.cancel_scope.cancel()
        return report

    report = anyio.run(run)
    with result_output(json_only=args.json) as out:
        if args.json:
            print(json.dumps(report), file=out, flush=True)
        else:
            print(soak.format_report(report), file=out, flush=True)
    return EXIT_OK if report["ok"] else EXIT_FAILED


def build_soak_parser(prog: str = "mexc soak") -> argparse.ArgumentParser:
    """The options of ``mexc soak``."""
    p = CommandParser(
        prog=prog,
        description="Run the client against a faulty simulator on a fast clock and check "
        "everything it delivered against the simulator's truth; exit status 0 when every "
        "check passed, 1 when one failed (docs/reliability.rst).",
    )
    p.add_argument("--duration", type=positive_float, required=True, help="seconds the faults run")
    p.add_argument(
        "--symbols", type=positive_int, default=3, help="pairs watched and traded (default 3)"
    )
    p.add_argument(
        "--faults",
        default="all",
        help=f"fault profile: {', '.join(SOAK_PROFILES)} (default all)",
    )
    p.add_argument(
        "--speed",
        type=positive_float,
        default=10.0,
        help="simulated seconds per second (default 10)",
    )
    p.add_argument("--seed", default="soak", help="seed of the market and the faults")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    add_debug_argument(p)
    return p


#: The subcommands of ``mexc`` this distribution implements: name, options, action.
COMMANDS: dict[
    str,
    tuple[Callable[[str], argparse.ArgumentParser], Callable[[argparse.Namespace], int]],
] = {
    "sim": (build_sim_parser, _cmd_sim),
    "demo": (build_demo_parser, _cmd_demo),
    "soak": (build_soak_parser, _cmd_soak),
}


def run(command: str, argv: Sequence[str], *, prog: str | None = None) -> int:
    """Run ``mexc COMMAND ARGV...`` (``sim``, ``demo`` or ``soak``); returns the exit status.

    :raises SystemExit: bad options or ``--help``, as argparse does.
    """
    build, action = COMMANDS[command]
    parser = build(prog or f"mexc {command}")
    parser.set_defaults(debug=False)
    args = parser.parse_args(list(argv))
    return run_command(command, lambda: action(args), debug=args.debug)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m mexc_sim [options]``: the same as ``mexc sim [options]``."""
    return run("sim", sys.argv[1:] if argv is None else argv, prog="python -m mexc_sim")
