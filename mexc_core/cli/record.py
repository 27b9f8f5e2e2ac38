"""``mexc record TOPIC... --out DIR``: record a client's traffic losslessly, for replay.

The client subscribes ``TOPIC...`` (and keeps the books of ``--book SYMBOL``)
with the record plugin (the mexc-plugin-record distribution) writing every input
of its core into ``DIR``: the bytes read and written on each WebSocket, with
their transport ids and times, the raw REST answers, the timers and the
commands (see ``docs/record.rst``). The random seed of the client is drawn here
and written into the recording, so that ``mexc replay`` repeats the client's
decisions exactly.

On exit (``--duration`` over, Ctrl-C, a failure) it prints one JSON line with
what it wrote: ``{"out": DIR, "records": ..., "input": ..., "received": ...,
"sent": ..., "blocks": ..., "segments": ..., "raw_bytes": ...,
"written_bytes": ...}``. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from mexc_core import channels
from mexc_core.aio.client import MexcClient
from mexc_core.cli.common import (
    EXIT_NOT_INSTALLED,
    EXIT_OK,
    EXIT_USAGE,
    PROGRESS_EVENTS,
    CommandFailed,
    CommandParser,
    Progress,
    add_connection_arguments,
    add_debug_argument,
    add_plugin_arguments,
    load_plugins,
    positive_float,
    raise_on_signal,
    say,
)
from mexc_core.cli.watch import add_credential_arguments, credentials_from
from mexc_core.errors import InvalidTopic, SubscriptionError

if TYPE_CHECKING:
    from mexc_plugin_record import RecordPlugin

__all__ = ("add_parser", "recorder_module", "run")


def add_parser(sub: argparse._SubParsersAction[CommandParser]) -> None:
    """The ``record`` subcommand."""
    p = sub.add_parser(
        "record",
        help="record the traffic of topics into a directory, for `mexc replay`",
        description="Subscribe topics and record everything the client reads and writes "
        "(WebSocket bytes, REST answers, timers) into DIR; print one JSON line with the "
        "counts written on exit. Needs the mexc-plugin-record distribution.",
    )
    p.add_argument("topics", nargs="*", metavar="TOPIC")
    p.add_argument("--out", required=True, metavar="DIR", help="the recording's directory")
    p.add_argument(
        "--book",
        action="append",
        default=[],
        metavar="SYMBOL",
        help="also keep the local order book of SYMBOL (repeatable): its depth topic "
        "and REST snapshots are recorded",
    )
    p.add_argument(
        "--duration", type=positive_float, help="stop after S seconds (default: at Ctrl-C)"
    )
    add_connection_arguments(p)
    add_credential_arguments(p)
    add_plugin_arguments(p)
    add_debug_argument(p)
    p.set_defaults(run=run)


def recorder_module(command: str) -> object:
    """The ``mexc_plugin_record`` module, imported on use.

    :raises CommandFailed: it is not installed (status 3).
    """
    try:
        import mexc_plugin_record  # noqa: PLC0415 - an optional distribution
    except ImportError:
        raise CommandFailed(
            f"`mexc {command}` needs the mexc-plugin-record distribution: "
            "pip install mexc-plugin-record",
            status=EXIT_NOT_INSTALLED,
        ) from None
    return mexc_plugin_record


def run(args: argparse.Namespace) -> int:
    """Run ``mexc record``."""
    recorder_module("record")
    if not args.topics and not args.book:
        raise CommandFailed("give topics to record, or --book SYMBOL", status=EXIT_USAGE)
    try:
        topics = [channels.parse(t) for t in args.topics]
    except InvalidTopic as exc:
        raise CommandFailed(
            f"{exc}; `mexc channels` lists the channels", status=EXIT_USAGE
        ) from None
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CommandFailed(f"--out {out} is a file; give a directory", status=EXIT_USAGE)
    names = [str(t) for t in topics]
    credentials = credentials_from(args, [str(t) for t in topics if t.spec.private])
    pm, options = load_plugins("record", args, required=("record",))
    recorder: RecordPlugin | None = pm.get_plugin("record")
    if recorder is None:
        raise CommandFailed(
            "the record plugin could not be loaded (see the line above); reinstall "
            "mexc-plugin-record",
            status=EXIT_NOT_INSTALLED,
        )
    seed = random.SystemRandom().getrandbits(63)
    options["record"] = {
        **options.get("record", {}),
        "out": str(out),
        "meta": {
            "endpoint": args.endpoint,
            "seed": seed,
            "topics": names,
            "books": list(args.book),
            "private": credentials is not None,
        },
    }
    progress = Progress.from_args("record", args)

    async def record() -> None:
        client = MexcClient(
            args.endpoint,
            ca_file=args.ca_file,
            pm=pm,
            options=options,
            credentials=credentials,
            rest_url=args.rest,
            rng=random.Random(seed),
        )
        async with client, anyio.create_task_group() as tg:
            await tg.start(raise_on_signal)
            events = client.events(*PROGRESS_EVENTS, max_buffer=1000)

            async def report() -> None:
                async for event in events:
                    progress.observe(event)

            progress.start()
            tg.start_soon(report)
            with anyio.move_on_after(args.duration):
                try:
                    if names:
                        await client.subscribe(names)
                    for symbol in args.book:
                        await client.watch_book(symbol)
                except SubscriptionError as exc:
                    for topic, (cause, reason) in exc.failures.items():
                        say("record", f"{topic}: {cause} ({reason})")
                    if not client.topics:
                        raise CommandFailed(
                            "nothing could be subscribed; see the reasons above"
                        ) from None
                await anyio.sleep_forever()
            tg.cancel_scope.cancel()

    try:
        anyio.run(record)
    finally:
        counts = recorder.counts() or {"records": 0}
        print(json.dumps({"out": str(out), **counts}), flush=True)
    return EXIT_OK
