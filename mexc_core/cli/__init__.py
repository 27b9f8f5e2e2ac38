"""The ``mexc`` command.

Subcommands:

- ``mexc channels``: the channel registry (templates, body fields, hooks).
- ``mexc topic TOPIC...``: parse and validate topic strings.
- ``mexc decode [HEX...]``: decode binary push frames given in hex (arguments, or
  one per line on standard input) and print them, as JSON with ``--json``.
- ``mexc plugins``: the installed plugins, and whether each loads.
- ``mexc plugin new NAME``: write a ready project for a plugin of your own
  (:mod:`mexc_core.cli.plugin`).
- ``mexc watch TOPIC...``: subscribe topics (on MEXC by default, or any endpoint
  given with ``--endpoint``) and print their pushes (:mod:`mexc_core.cli.watch`).
- ``mexc book SYMBOL``: keep the local order book of a symbol and print its best
  levels after every update (:mod:`mexc_core.cli.book`).
- ``mexc record TOPIC... --out DIR``: record everything the client reads and
  writes, for replay (:mod:`mexc_core.cli.record`; needs mexc-plugin-record).
- ``mexc replay DIR``: feed a recording through the client core and print its
  pushes as ``watch`` does (:mod:`mexc_core.cli.replay`).
- ``mexc sim``, ``mexc demo`` and ``mexc soak``: the exchange simulator on
  loopback, the client with the console plugin against it, and the client
  against a faulty simulator checked against its truth. They live in the mexc-sim
  distribution (:mod:`mexc_sim.cli`), imported only when one of them runs;
  without it they say how to install it and exit with status 3.

Every failure is one line on stderr, ``mexc COMMAND: the problem; the fix``, and
an exit status (:mod:`mexc_core.cli.common`): 0 done, 1 the command failed (MEXC
refused, no connection), 2 bad arguments, 3 a distribution it needs (the
simulator, a plugin) is not installed, 130
interrupted by Ctrl-C (143 by SIGTERM). ``--debug`` adds the traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence

from mexc_core import __version__, build_info, channels, wire
from mexc_core.cli import book, plugin, record, replay, watch, worker
from mexc_core.cli.common import (
    EXIT_NO_SIMULATOR,
    CommandParser,
    add_debug_argument,
    run_command,
)
from mexc_core.errors import DecodeError, InvalidTopic
from mexc_core.plugins import installed_plugins, plugin_manager

__all__ = ("EXIT_NO_SIMULATOR", "SIMULATOR_COMMANDS", "build_parser", "main")

#: The subcommands of the simulator (the mexc-sim distribution, ``mexc_sim.cli``),
#: loaded only when used.
SIMULATOR_COMMANDS = {
    "sim": "run the exchange simulator on loopback (needs mexc-sim)",
    "demo": "the client and the console plugin against a local simulator (needs mexc-sim)",
    "soak": "the client against a faulty simulator, checked against its truth (needs mexc-sim)",
}


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


def _cmd_plugins(args: argparse.Namespace) -> int:
    installed = installed_plugins()
    broken: dict[str, str] = {}
    plugin_manager(on_load_failure=lambda name, exc: broken.__setitem__(name, f"{exc}"))
    for name, target in sorted(installed.items()):
        state = f"cannot be loaded: {broken[name]}" if name in broken else "loads"
        if args.json:
            print(json.dumps({"name": name, "target": target, "loads": name not in broken}))
        else:
            print(f"{name:<16} {target:<32} {state}")
    if not installed and not args.json:
        print("no plugin is installed (see the plugins guide to install one)")
    return 1 if broken else 0


class _Version(argparse.Action):
    """``--version``: one line, never wrapped (argparse's own action wraps it)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        print(f"mexc-core {__version__} ({build_info().describe()})")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="mexc", description="Tools for the MEXC Spot V3 WebSocket API.")
    parser.add_argument(
        "--version",
        action=_Version,
        nargs=0,
        help="show the version and which build runs (compiled or pure Python), and exit",
    )
    add_debug_argument(parser, main=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("channels", help="list the channel registry")
    p.add_argument("--json", action="store_true", help="one JSON object per channel")
    add_debug_argument(p)
    p.set_defaults(run=_cmd_channels)
    p = sub.add_parser("topic", help="parse and validate topic strings")
    p.add_argument("topics", nargs="+", metavar="TOPIC")
    add_debug_argument(p)
    p.set_defaults(run=_cmd_topic)
    p = sub.add_parser("decode", help="decode binary push frames given in hex")
    p.add_argument("frames", nargs="*", metavar="HEX", help="frames; default: stdin lines")
    p.add_argument("--json", action="store_true", help="one JSON object per frame")
    add_debug_argument(p)
    p.set_defaults(run=_cmd_decode)
    for name, text in SIMULATOR_COMMANDS.items():
        # the options are mexc_sim.cli's: everything after the name is handed over
        sub.add_parser(name, help=text, add_help=False)
    p = sub.add_parser("plugins", help="list the installed plugins and whether each loads")
    p.add_argument("--json", action="store_true", help="one JSON object per plugin")
    add_debug_argument(p)
    p.set_defaults(run=_cmd_plugins)
    plugin.add_parser(sub)
    watch.add_parser(sub)
    book.add_parser(sub)
    worker.add_parser(sub)
    record.add_parser(sub)
    replay.add_parser(sub)
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
    return run_command(args.command, lambda: int(args.run(args)), debug=args.debug)
