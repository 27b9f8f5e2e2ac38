"""ccxt's MEXC message handling on the pipeline's frames, against the project's pipeline.

ccxt is an optional benchmark dependency and stays out of the project's lock (locking
it changes shared packages of the workspace); run this benchmark with it in an
ephemeral overlay, which leaves ``uv.lock`` and the project environment untouched::

    uv run --with ccxt python -m bench ccxt

Without ccxt it prints one line saying so and exits with status 3 (not installed);
``python -m bench all`` then reports it as skipped.

What is measured, on the public frames of the pipeline benchmark (:mod:`bench.pipeline`,
from the decode corpus):

- ``ccxt``: ``ccxt.pro.mexc().handle_message(client, frame)`` for each protobuf frame,
  which is what ccxt runs for every binary WebSocket message: its protobuf decoding
  (Google's runtime, then ``MessageToDict``) and its handlers (order book deltas,
  unified trades, tickers, candles). Its WebSocket framing (aiohttp) is not included.
  The markets come from a local fixture, the simulator's ``exchangeInfo`` for the
  corpus's pairs, parsed by ccxt's own ``fetch_spot_markets`` with its REST call
  replaced by that fixture: nothing is fetched, no exchange is contacted. Each order
  book starts from an empty snapshot, so deltas apply at once instead of waiting for a
  REST snapshot. ccxt has no handler for ``limit.depth`` protobuf pushes: it decodes
  those and drops them.
- ``mexc_core`` and ``wsproto_upb``: as in :mod:`bench.pipeline` (socket bytes in
  32 KiB reads through the real Connection, pool and dispatcher to a no-op hook; and
  wsproto framing plus upb reading every field).

Rounds interleave the three; each gets a fresh, set-up machine every round (outside the
timing); the report gives medians, the spread, and ratios of medians against
``mexc_core``. Before timing, ccxt must take every frame without an error and route
every frame it has a handler for to that handler: otherwise :class:`BenchError`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import importlib
import json
import os
import platform
import time
from collections import Counter
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any, Final

from bench import pipeline
from bench.pipeline import Workload, workload
from mexc_core.wire import decode_push
from mexc_sim.exchange import Exchange, ExchangeConfig
from mexc_sim.market import MarketSpec
from mexc_sim.rest import RestApi

__all__ = (
    "MISSING_STATUS",
    "BenchError",
    "CcxtMissing",
    "CcxtReport",
    "exchange_info",
    "format_table",
    "load_ccxt",
    "measure",
    "run",
    "skipped_json",
    "to_json",
)

#: The exit status when ccxt is not installed (``mexc_core.cli.common.EXIT_NOT_INSTALLED``).
MISSING_STATUS: Final = 3
#: How to run this benchmark with ccxt (it is not in the lock).
COMMAND: Final = "uv run --with ccxt python -m bench ccxt"
REFERENCE: Final = "mexc_core"
NAMES: Final = ("ccxt", "mexc_core", "wsproto_upb")
#: ccxt's handler per channel kind (the second part of the channel name).
HANDLERS: Final = {
    "public.aggre.depth.v3.api.pb": "handle_order_book",
    "public.aggre.deals.v3.api.pb": "handle_trades",
    "public.aggre.bookTicker.v3.api.pb": "handle_ticker",
    "public.kline.v3.api.pb": "handle_ohlcv",
}
_QUOTES: Final = ("USDT", "USDC", "BTC")
#: The WebSocket URL the (never connected) ccxt client is keyed by.
_URL: Final = "wss://wbs-api.mexc.com/ws"


class BenchError(RuntimeError):
    """ccxt failed on a frame, or did not route a frame to its handler."""


class CcxtMissing(RuntimeError):
    """ccxt is not installed in this environment."""


def load_ccxt() -> ModuleType:
    """``ccxt.pro``.

    :raises CcxtMissing: ccxt cannot be imported; the message says how to run it.
    """
    try:
        return importlib.import_module("ccxt.pro")
    except ImportError as exc:
        raise CcxtMissing(
            f"ccxt is not installed ({exc}); run `{COMMAND}` "
            "(an ephemeral overlay: the lock stays as it is)"
        ) from None


def _specs() -> tuple[MarketSpec, ...]:
    """The pipeline's markets, with base and quote assets split at the known quotes."""
    specs = []
    for spec in pipeline.markets():
        quote = next(q for q in _QUOTES if spec.symbol.endswith(q))
        specs.append(
            dataclasses.replace(spec, base_asset=spec.symbol.removesuffix(quote), quote_asset=quote)
        )
    return tuple(specs)


def exchange_info() -> dict[str, Any]:
    """The fixture: the simulator's ``GET /api/v3/exchangeInfo`` for the corpus's pairs."""
    info = RestApi(Exchange(ExchangeConfig(markets=_specs()))).exchange_info({}, None, 0.0)
    assert isinstance(info, dict)
    return info


async def _exchange(ccxtpro: ModuleType, info: dict[str, Any]) -> Any:
    """A ``ccxt.pro.mexc`` with markets from ``info`` and an empty book per market."""
    ex = ccxtpro.mexc()

    async def fixture(params: object = None) -> dict[str, Any]:
        return info

    ex.spotPublicGetExchangeInfo = fixture  # the one REST call fetch_spot_markets makes
    ex.set_markets(await ex.fetch_spot_markets())
    for symbol in ex.symbols:
        ex.orderbooks[symbol] = ex.order_book({"bids": [], "asks": [], "nonce": 0})
    return ex


def _channel_kind(data: bytes) -> str:
    return decode_push(data).channel.split("@")[1]


async def _check(
    ccxtpro: ModuleType, info: dict[str, Any], frames: Sequence[bytes]
) -> Counter[str]:
    """Feed every frame once with counting handlers; the frames each handler got.

    :raises BenchError: a frame raised, or a handled kind missed its handler.
    """
    ex = await _exchange(ccxtpro, info)
    try:
        client = ex.client(_URL)
        calls: Counter[str] = Counter()
        for name in HANDLERS.values():
            original = getattr(ex, name)

            def counted(c: object, m: object, original: Any = original, name: str = name) -> Any:
                calls[name] += 1
                return original(c, m)

            setattr(ex, name, counted)
        for index, data in enumerate(frames):
            try:
                ex.handle_message(client, data)
            except Exception as exc:
                raise BenchError(f"ccxt failed on frame {index}: {exc!r}") from exc
        expected = Counter(HANDLERS[k] for k in map(_channel_kind, frames) if k in HANDLERS)
        if calls != expected:
            raise BenchError(f"ccxt's handlers got {dict(calls)}, expected {dict(expected)}")
        return calls
    finally:
        await ex.close()


async def _ccxt_round(ccxtpro: ModuleType, info: dict[str, Any], frames: Sequence[bytes]) -> float:
    """Seconds ccxt takes to handle ``frames`` on a fresh instance."""
    ex = await _exchange(ccxtpro, info)
    try:
        handle, client = ex.handle_message, ex.client(_URL)
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            for data in frames:
                handle(client, data)
            return time.perf_counter() - start
        finally:
            gc.enable()
    finally:
        await ex.close()


# ---------------------------------------------------------------- timing


@dataclasses.dataclass(frozen=True, slots=True)
class CcxtReport:
    """Everything one run measured.

    :ivar timing: the rounds of ccxt, ``mexc_core`` and ``wsproto_upb``, with the
        frames and the links and reads of our pipeline.
    :ivar version: ccxt's version.
    :ivar handled: frames routed to each ccxt handler (the rest are decoded and dropped).
    """

    timing: pipeline.PipelineReport
    version: str
    handled: dict[str, int]

    def ratio(self, name: str) -> float:
        """Median time of ``name`` over the median of :data:`REFERENCE`."""
        return self.timing.us_per_frame(name)[0] / self.timing.us_per_frame(REFERENCE)[0]


async def _measure(ccxtpro: ModuleType, work: Workload, rounds: int) -> CcxtReport:
    info = exchange_info()
    handled = await _check(ccxtpro, info, work.payloads)
    times: dict[str, list[float]] = {name: [] for name in NAMES}
    ours: Sequence[str] = NAMES[1:]
    for _ in range(rounds):
        times["ccxt"].append(await _ccxt_round(ccxtpro, info, work.payloads))
        report = pipeline.measure(work, rounds=1, names=ours)
        for name in ours:
            times[name].extend(report.rounds[name])
    timing = pipeline.PipelineReport(work, report.links, report.reads, times)
    version = str(getattr(ccxtpro, "__version__", "?"))
    return CcxtReport(timing, version, dict(handled))


def measure(work: Workload, *, rounds: int, ccxtpro: ModuleType | None = None) -> CcxtReport:
    """Check ccxt takes every frame, then time ``rounds`` interleaved rounds.

    :raises CcxtMissing: ccxt is not installed.
    :raises BenchError: ccxt failed on a frame or missed a handler; or our pipeline
        did not deliver every frame (:class:`bench.pipeline.BenchError`).
    """
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    module = ccxtpro if ccxtpro is not None else load_ccxt()
    return asyncio.run(_measure(module, work, rounds))


def to_json(report: CcxtReport) -> str:
    """The one-line JSON report."""
    implementations = {}
    for name in NAMES:
        median, low, high = report.timing.us_per_frame(name)
        implementations[name] = {
            "us_per_frame": round(median, 4),
            "us_per_frame_min": round(low, 4),
            "us_per_frame_max": round(high, 4),
            "ratio_to_mexc_core": round(report.ratio(name), 4),
        }
    return json.dumps(
        {
            "bench": "ccxt",
            "ccxt": report.version,
            "frames": len(report.timing.work.payloads),
            "frame_bytes": round(report.timing.work.frame_bytes, 1),
            "handled": report.handled,
            "rounds": len(report.timing.rounds[REFERENCE]),
            "reference": REFERENCE,
            "implementations": implementations,
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        }
    )


def skipped_json(reason: str) -> str:
    """The JSON line of a run without ccxt."""
    return json.dumps({"bench": "ccxt", "skipped": True, "reason": reason})


def format_table(report: CcxtReport) -> str:
    """The human-readable table."""
    work = report.timing.work
    handled = sum(report.handled.values())
    lines = [
        f"ccxt {report.version}: {len(work.payloads)} frames of {work.frame_bytes:.0f} B "
        f"({handled} routed to a ccxt handler), "
        f"{len(report.timing.rounds[REFERENCE])} interleaved rounds",
        f"{'implementation':<16}{'us/frame':>10}{'min':>9}{'max':>9}{'x ' + REFERENCE:>14}",
    ]
    for name in NAMES:
        median, low, high = report.timing.us_per_frame(name)
        lines.append(f"{name:<16}{median:>10.3f}{low:>9.3f}{high:>9.3f}{report.ratio(name):>14.3f}")
    return "\n".join(lines)


def run(
    *,
    messages: int,
    rounds: int,
    seed: int,
    json_only: bool,
    ccxtpro: Callable[[], ModuleType] = load_ccxt,
) -> CcxtReport:
    """Build the frames, measure, print the table (unless ``json_only``) and the JSON line.

    :raises CcxtMissing: ccxt is not installed (before any frame is built).
    """
    module = ccxtpro()
    report = measure(workload(messages, seed), rounds=rounds, ccxtpro=module)
    if not json_only:
        print(format_table(report))
    print(to_json(report))
    return report
