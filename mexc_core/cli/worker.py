"""``mexc worker --nats URL --symbols A,B``: publish symbols into NATS JetStream.

The worker itself is the NATS plugin's (``mexc-plugin-nats``,
:mod:`mexc_plugin_nats.worker`); this module parses the arguments and says how to
install the plugin when it is missing. Progress goes to stderr; on exit the
worker prints one JSON line with its counts.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Final

import anyio

from mexc_core import channels
from mexc_core.aio.client import DEFAULT_URL
from mexc_core.aio.http import DEFAULT_BASE_URL
from mexc_core.cli.common import (
    EXIT_NOT_INSTALLED,
    EXIT_OK,
    EXIT_USAGE,
    CommandFailed,
    CommandParser,
    add_debug_argument,
    add_metrics_argument,
    add_plugin_arguments,
    load_plugins,
    positive_float,
    positive_int,
    raise_on_signal,
    say,
    ws_url,
)
from mexc_core.errors import InvalidTopic

__all__ = ("add_parser", "run")

_NAME: Final = re.compile(r"^[A-Za-z0-9_-]+$")


def _names(text: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    if not names:
        raise argparse.ArgumentTypeError("give at least one, comma-separated")
    return names


def _name(text: str) -> str:
    if not _NAME.match(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a name (letters, digits, _ and -)")
    return text


def add_parser(sub: argparse._SubParsersAction[CommandParser]) -> None:
    """The ``worker`` subcommand."""
    p = sub.add_parser(
        "worker",
        help="publish symbols into NATS JetStream, shared with other workers",
        description="Publish the pushes of SYMBOLS into a JetStream stream; workers "
        "started with the same --nats, --stream and --symbols share the symbols through "
        "key-value leases, each symbol held by --replicas workers at once.",
    )
    p.add_argument("--nats", required=True, metavar="URL", help="the NATS server, nats://HOST:PORT")
    p.add_argument(
        "--stream", type=_name, default="MEXC", help="the JetStream stream (default MEXC)"
    )
    p.add_argument(
        "--endpoint",
        type=ws_url,
        default=DEFAULT_URL,
        help=f"WebSocket URL (default {DEFAULT_URL})",
    )
    p.add_argument(
        "--rest", default=DEFAULT_BASE_URL, help=f"REST base URL (default {DEFAULT_BASE_URL})"
    )
    p.add_argument("--ca-file", help="trust this CA bundle for wss:// (e.g. a local simulator)")
    p.add_argument(
        "--symbols", type=_names, required=True, help="the symbols to share, e.g. BTCUSDT,ETHUSDT"
    )
    p.add_argument(
        "--channels",
        type=_names,
        default=("aggre_depth", "aggre_deals"),
        help="channel names (`mexc channels`), default aggre_depth,aggre_deals",
    )
    p.add_argument(
        "--replicas", type=positive_int, default=1, help="workers holding each symbol (default 1)"
    )
    p.add_argument(
        "--lease-ttl",
        type=positive_float,
        default=10.0,
        help="seconds before a dead worker's symbols are taken over (default 10)",
    )
    p.add_argument("--worker-id", type=_name, help="this worker's name (default HOST-PID)")
    p.add_argument(
        "--prefix", type=_name, default="mexc", help="first subject token (default mexc)"
    )
    add_metrics_argument(p)
    add_plugin_arguments(p)
    add_debug_argument(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``mexc worker``."""
    try:
        from nats.errors import NoServersError  # noqa: PLC0415

        from mexc_plugin_nats import NatsPlugin, worker  # noqa: PLC0415 - optional, loaded on use
    except ModuleNotFoundError as exc:
        if exc.name not in ("mexc_plugin_nats", "nats"):
            raise
        raise CommandFailed(
            "the NATS plugin is not installed; run `pip install mexc-plugin-nats`",
            status=EXIT_NOT_INSTALLED,
        ) from None
    if not args.nats.startswith(("nats://", "tls://")):
        raise CommandFailed(
            f"--nats {args.nats!r} is not a NATS URL; give nats://HOST:PORT", status=EXIT_USAGE
        )
    try:
        for name in args.channels:
            for symbol in args.symbols:
                channels.format_topic(name, symbol=symbol)
    except InvalidTopic as exc:
        raise CommandFailed(
            f"{exc}; `mexc channels` lists the channels", status=EXIT_USAGE
        ) from None
    pm, options = load_plugins("worker", args, required=("nats",))
    config = worker.WorkerConfig(
        nats_url=args.nats,
        symbols=args.symbols,
        stream=args.stream,
        endpoint=args.endpoint,
        rest_url=args.rest,
        channels=args.channels,
        replicas=args.replicas,
        lease_ttl=args.lease_ttl,
        prefix=args.prefix,
        ca_file=args.ca_file,
        **({"worker": args.worker_id} if args.worker_id else {}),
    )
    found = pm.get_plugin("nats")
    plugin = found if isinstance(found, NatsPlugin) else NatsPlugin()

    def held(symbols: frozenset[str]) -> None:
        say("worker", f"{config.worker} holds {', '.join(sorted(symbols)) or 'nothing'}")

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            await tg.start(raise_on_signal)
            try:
                await worker.run_worker(
                    config, pm=pm, plugin=plugin, options=options, on_change=held
                )
            except (NoServersError, OSError) as exc:
                raise CommandFailed(
                    f"cannot reach NATS at {config.nats_url} ({exc or type(exc).__name__}); "
                    "start nats-server with JetStream (-js) or fix --nats"
                ) from None

    say(
        "worker",
        f"{config.worker}: {len(config.symbols)} symbols, {config.replicas} replicas, "
        f"stream {config.stream} at {config.nats_url}",
    )
    try:
        anyio.run(main, backend="asyncio")
    finally:
        counts = {
            "worker": config.worker,
            "published": plugin.published,
            "republished": plugin.republished,
            "dropped": plugin.dropped,
            "buffered": plugin.buffered,
        }
        print(json.dumps(counts), file=sys.stdout, flush=True)
    return EXIT_OK
