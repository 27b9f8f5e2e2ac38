"""The ``mexc`` command.

Subcommands available now:

- ``mexc channels``: the channel registry (templates, body fields, hooks).
- ``mexc topic TOPIC...``: parse and validate topic strings.
- ``mexc decode [HEX...]``: decode binary push frames given in hex (arguments, or
  one per line on standard input) and print them, as JSON with ``--json``.

``mexc demo`` and ``mexc watch`` arrive with the runtime (anyio adapters, plugins).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence

from mexc_core import __version__, channels, wire
from mexc_core.errors import DecodeError, InvalidTopic


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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``mexc`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    status: int = args.run(args)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
