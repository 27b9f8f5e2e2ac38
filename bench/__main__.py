"""Command line: ``python -m bench decode|book|pipeline|all [options]``.

- ``decode [--messages N] [--repeat R] [--seed S] [--json-only]``: decoder throughput.
- ``book [--diffs N] [--levels L] [--repeat R] [--seed S] [--json-only]``: order book
  throughput.
- ``pipeline [--messages N] [--rounds R] [--seed S] [--json-only]``: socket bytes to a
  no-op plugin hook, against wsproto and websockets framing plus upb.
- ``scale [--topics N] [--flood R] [--rate R] [--seconds S] [--json-only]``: one
  MexcClient against the blaster process on loopback.
- ``ccxt [--messages N] [--rounds R] [--seed S] [--json-only]``: ccxt's MEXC message
  handling against the pipeline; needs ccxt: ``uv run --with ccxt python -m bench ccxt``.
- ``all [--smoke] [--json]``: every benchmark; ``--json`` prints only one JSON line each
  (ccxt only where it is installed, otherwise reported as skipped).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bench import book, ccxt, decode, pipeline, scale


def _positive(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _subcommand(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    doc: str | None,
    help_text: str,
) -> argparse.ArgumentParser:
    """Add the subcommand ``name``, described by its module's ``doc``, with ``--json-only``."""
    cmd = commands.add_parser(
        name,
        help=help_text,
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cmd.add_argument("--json-only", action="store_true", help="print only the one-line JSON report")
    return cmd


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    cmd = _subcommand(
        commands,
        "decode",
        decode.__doc__,
        "decode throughput: mexc_core against upb and betterproto2",
    )
    cmd.add_argument(
        "--messages", type=_positive, default=100_000, help="corpus size (default 100000)"
    )
    cmd.add_argument(
        "--repeat", type=_positive, default=5, help="passes per timing, best kept (default 5)"
    )
    cmd.add_argument("--seed", type=int, default=1, help="corpus seed (default 1)")
    cmd = _subcommand(
        commands,
        "book",
        book.__doc__,
        "order book throughput: the exact book against float and Decimal books",
    )
    cmd.add_argument("--diffs", type=_positive, default=20_000, help="diffs (default 20000)")
    cmd.add_argument(
        "--levels", type=_positive, default=1000, help="levels per side to start (default 1000)"
    )
    cmd.add_argument(
        "--repeat", type=_positive, default=5, help="passes per timing, best kept (default 5)"
    )
    cmd.add_argument("--seed", type=int, default=1, help="stream seed (default 1)")
    cmd = _subcommand(
        commands,
        "pipeline",
        pipeline.__doc__,
        "socket bytes to a plugin hook: mexc_core against wsproto+upb and websockets+upb",
    )
    cmd.add_argument(
        "--messages", type=_positive, default=20_200, help="corpus size (default 20200)"
    )
    cmd.add_argument("--rounds", type=_positive, default=5, help="interleaved rounds (default 5)")
    cmd.add_argument("--seed", type=int, default=1, help="corpus seed (default 1)")
    cmd = _subcommand(
        commands,
        "scale",
        scale.__doc__,
        "MexcClient against a pre-encoded blaster process: pushes/s per core, latency",
    )
    cmd.add_argument("--topics", type=_positive, default=3000, help="topics (default 3000)")
    cmd.add_argument(
        "--flood", type=float, default=200_000, help="pushes/s asked for throughput (200000)"
    )
    cmd.add_argument("--rate", type=float, default=10_000, help="pushes/s for latency (10000)")
    cmd.add_argument("--seconds", type=float, default=10.0, help="seconds per phase (default 10)")
    cmd.add_argument(
        "--hook-us",
        type=float,
        default=0.0,
        help="microseconds the hook spins per push in the flood (a slow consumer; default 0)",
    )
    cmd.add_argument(
        "--no-gc-freeze",
        dest="gc_freeze",
        action="store_false",
        help="run the client with gc_freeze=False (default: frozen at start-up)",
    )
    cmd = _subcommand(
        commands,
        "ccxt",
        ccxt.__doc__,
        "ccxt's MEXC message handling on the same frames (needs ccxt, not in the lock)",
    )
    cmd.add_argument(
        "--messages", type=_positive, default=20_200, help="corpus size (default 20200)"
    )
    cmd.add_argument("--rounds", type=_positive, default=5, help="interleaved rounds (default 5)")
    cmd.add_argument("--seed", type=int, default=1, help="corpus seed (default 1)")
    cmd = commands.add_parser("all", help="every benchmark, one after the other")
    cmd.add_argument("--smoke", action="store_true", help="tiny sizes (seconds in all)")
    cmd.add_argument("--json", action="store_true", help="print only one JSON line per benchmark")
    return parser


def _all(*, smoke: bool, json_only: bool) -> None:
    """Every benchmark in turn, at full size or smoke size."""
    decode.run(
        messages=5000 if smoke else 100_000,
        repeat=2 if smoke else 5,
        seed=1,
        json_only=json_only,
    )
    book.run(
        diffs=2000 if smoke else 20_000,
        levels=1000,
        repeat=2 if smoke else 5,
        seed=1,
        json_only=json_only,
    )
    pipeline.run(
        messages=2000 if smoke else 20_200,
        rounds=1 if smoke else 5,
        seed=1,
        json_only=json_only,
    )
    scale.run(
        topics=90 if smoke else 3000,
        flood=20_000 if smoke else 200_000,
        rate=1000 if smoke else 10_000,
        seconds=1.0 if smoke else 10.0,
        json_only=json_only,
    )
    try:
        ccxt.load_ccxt()
    except ccxt.CcxtMissing as exc:
        reason = str(exc)
        print(ccxt.skipped_json(reason) if json_only else f"ccxt: skipped: {reason}")
        return
    ccxt.run(
        messages=2000 if smoke else 20_200, rounds=1 if smoke else 5, seed=1, json_only=json_only
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark named in ``argv``; return the exit status.

    A disagreement between the implementations prints an error and returns 1; ``ccxt``
    without ccxt installed prints one line and returns :data:`bench.ccxt.MISSING_STATUS`.
    """
    args = _parser().parse_args(argv)
    try:
        if args.command == "all":
            _all(smoke=args.smoke, json_only=args.json)
        elif args.command == "scale":
            scale.run(
                topics=args.topics,
                flood=args.flood,
                rate=args.rate,
                seconds=args.seconds,
                json_only=args.json_only,
                gc_freeze=args.gc_freeze,
                hook_us=args.hook_us,
            )
        elif args.command == "ccxt":
            ccxt.run(
                messages=args.messages, rounds=args.rounds, seed=args.seed, json_only=args.json_only
            )
        elif args.command == "pipeline":
            pipeline.run(
                messages=args.messages, rounds=args.rounds, seed=args.seed, json_only=args.json_only
            )
        elif args.command == "book":
            book.run(
                diffs=args.diffs,
                levels=args.levels,
                repeat=args.repeat,
                seed=args.seed,
                json_only=args.json_only,
            )
        else:
            decode.run(
                messages=args.messages, repeat=args.repeat, seed=args.seed, json_only=args.json_only
            )
    except ccxt.CcxtMissing as exc:
        print(f"python -m bench ccxt: {exc}", file=sys.stderr)
        return ccxt.MISSING_STATUS
    except (decode.BenchError, book.BenchError, pipeline.BenchError, ccxt.BenchError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
