"""``mexc watch TOPIC...``: subscribe topics and print their pushes.

Progress (connecting, subscribed, a link down and when it retries) goes to stderr;
stdout holds only the pushes: one readable line each
(:func:`~mexc_core.wire.push_as_text`), or one JSON object each with ``--json``
(:func:`~mexc_core.wire.push_as_dict` with ``readable=True``: raw and readable
keys, a stable contract). Private topics need API credentials, taken from ``MEXC_API_KEY`` and
``MEXC_API_SECRET`` (or ``--api-key`` / ``--api-secret``); they are never printed.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import TYPE_CHECKING, Final

import anyio

from mexc_core import channels, wire
from mexc_core.aio.client import MexcClient
from mexc_core.aio.http import DEFAULT_BASE_URL
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
    result_output,
    wants_live_view,
)
from mexc_core.errors import InvalidCredentials, InvalidTopic
from mexc_core.rest import Credentials

if TYPE_CHECKING:
    from mexc_core.events import Push

__all__ = (
    "API_KEY_ENV",
    "API_SECRET_ENV",
    "add_credential_arguments",
    "add_parser",
    "credentials_from",
    "push_line",
    "run",
)

#: The environment variables ``watch`` reads the API key and secret from.
API_KEY_ENV: Final = "MEXC_API_KEY"
API_SECRET_ENV: Final = "MEXC_API_SECRET"  # noqa: S105 - a variable name


def add_parser(sub: argparse._SubParsersAction[CommandParser]) -> None:
    """The ``watch`` subcommand."""
    p = sub.add_parser(
        "watch",
        help="print the pushes of topics",
        description="Subscribe topics (sharded over connections as needed) and print "
        "their pushes on stdout; progress and failures go to stderr.",
    )
    p.add_argument("topics", nargs="+", metavar="TOPIC")
    p.add_argument("--json", action="store_true", help="one JSON object per push")
    p.add_argument(
        "--count", type=non_negative_int, default=0, help="stop after N pushes (0: never)"
    )
    add_connection_arguments(p)
    add_credential_arguments(p)
    add_metrics_argument(p)
    add_view_argument(p)
    add_plugin_arguments(p)
    add_debug_argument(p)
    p.set_defaults(run=run)


def add_credential_arguments(p: argparse.ArgumentParser) -> None:
    """``--rest``, ``--api-key``, ``--api-secret`` (read by :func:`credentials_from`)."""
    p.add_argument(
        "--rest", default=DEFAULT_BASE_URL, help=f"REST base URL (default {DEFAULT_BASE_URL})"
    )
    p.add_argument("--api-key", help=f"API key for private topics (default: ${API_KEY_ENV})")
    p.add_argument(
        "--api-secret",
        help=f"API secret for private topics (default: ${API_SECRET_ENV}, which keeps it "
        "out of the process list)",
    )


def credentials_from(args: argparse.Namespace, private: list[str]) -> Credentials | None:
    """The API credentials of the arguments or the environment (only when needed).

    :raises CommandFailed: a private topic without credentials (status 2).
    """
    if not private:
        return None
    key = args.api_key or os.environ.get(API_KEY_ENV)
    secret = args.api_secret or os.environ.get(API_SECRET_ENV)
    if not key or not secret:
        missing = " and ".join(
            name for name, value in ((API_KEY_ENV, key), (API_SECRET_ENV, secret)) if not value
        )
        raise CommandFailed(
            f"{private[0]} is a private channel and needs API credentials: set {missing} "
            "(or pass --api-key and --api-secret)",
            status=EXIT_USAGE,
        )
    try:
        return Credentials(key, secret)
    except InvalidCredentials as exc:
        raise CommandFailed(str(exc), status=EXIT_USAGE) from None


def push_line(push: Push, *, as_json: bool) -> str:
    """How ``watch`` (and ``replay``) prints a push: readable text, or one JSON object."""
    if as_json:
        return json.dumps(wire.push_as_dict(push, readable=True), ensure_ascii=False)
    return wire.push_as_text(push)


def run(args: argparse.Namespace) -> int:
    """Run ``mexc watch``."""
    try:
        topics = [channels.parse(t) for t in args.topics]
    except InvalidTopic as exc:
        raise CommandFailed(
            f"{exc}; `mexc channels` lists the channels", status=EXIT_USAGE
        ) from None
    names = [str(t) for t in topics]
    credentials = credentials_from(args, [str(t) for t in topics if t.spec.private])
    live = wants_live_view(args)
    pm, options = load_plugins("watch", args, required=("console",) if live else ())
    if live:
        symbols = sorted({s for t in topics if (s := getattr(t, "symbol", None))})
        live_view_options(pm, options, symbols=symbols, books=[])
    progress = Progress.from_args("watch", args)

    def show(push: Push) -> bool:
        if not live:  # the console plugin draws it
            print(push_line(push, as_json=args.json), file=out, flush=True)
        return True

    with result_output(json_only=args.json) as out:
        return anyio.run(
            lambda: follow(
                "watch",
                lambda: MexcClient(
                    args.endpoint,
                    ca_file=args.ca_file,
                    pm=pm,
                    options=options,
                    credentials=credentials,
                    rest_url=args.rest,
                ),
                progress,
                items=lambda client: client.pushes(*names, max_buffer=10_000),
                start=lambda client: client.subscribe(names),
                show=show,
                count=args.count,
            )
        )
