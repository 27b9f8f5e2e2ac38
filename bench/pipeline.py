"""Pipeline throughput: socket bytes to a no-op plugin hook, against framing plus upb.

The frames are the public frames of the decode corpus (:mod:`bench.corpus`; about
208 bytes each, over some 700 topics), framed as a server frames them (unmasked
binary WebSocket frames). Each topic belongs to the link the pool put it on; the
bytes of each link are cut into 32 KiB reads, and the reads of the links are fed
in turn, as a socket reader would.

Implementations, each fed the same reads:

- ``mexc_core``: a :class:`~mexc_core.client.core.ClientCore` brought up against
  the simulator in memory (handshakes, subscriptions, acks), then fed the reads
  with :meth:`~mexc_core.client.core.ClientCore.receive_data`; every event goes
  through :class:`~mexc_core.plugins.Dispatcher` to a plugin with a no-op
  ``mexc_push_received`` hook (what :class:`~mexc_core.aio.MexcClient` does,
  minus the sockets and its inbox).
- ``mexc_core_no_dispatch``: the same, events drained but not dispatched (the
  cost of framing, session, decoding and the pool).
- ``connection``: one :class:`~mexc_core.connection.Connection` per link, fed
  its link's reads (framing, session and decoding, no pool).
- ``wsproto_upb``: the reference: a wsproto client connection in the open state,
  then Google's upb parses each message and reads every field (as in
  :mod:`bench.decode`: upb materialises values lazily, so they are read).
- ``websockets_upb``: websockets' sans-IO protocol instead of wsproto.

Timing: :func:`time.perf_counter` around feeding all the reads, the garbage
collector collected before and disabled during; rounds interleave the
implementations; each implementation gets a fresh, set-up machine every round
(outside the timing: the pool drops duplicates, so a machine cannot see the
same frames twice). The report gives the median and the spread (min, max) of
the rounds, and ratios of medians against ``wsproto_upb``. Before timing, every
implementation must deliver every frame once: otherwise :class:`BenchError`.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Final

from websockets.frames import Frame, Opcode
from websockets.protocol import OPEN as WS_OPEN
from websockets.protocol import Protocol, Side
from wsproto.connection import Connection as WsprotoConnection
from wsproto.connection import ConnectionType
from wsproto.events import BytesMessage

from bench.corpus import PAIRS, build
from bench.decode import decoders
from mexc_core.client.core import CoreConfig
from mexc_core.client.pool import PoolConfig
from mexc_core.events import Push
from mexc_core.hookspecs import hookimpl
from mexc_core.plugins import Dispatcher, plugin_manager
from mexc_core.testing.harness import CoreLoop
from mexc_core.wire import decode_push
from mexc_sim.exchange import ExchangeConfig
from mexc_sim.market import MarketSpec
from mexc_sim.protocol import SimConfig

__all__ = (
    "READ_SIZE",
    "BenchError",
    "PipelineReport",
    "Workload",
    "format_table",
    "frame",
    "measure",
    "run",
    "to_json",
    "workload",
)

#: Bytes per socket read (what :class:`~mexc_core.aio.MexcClient` asks for).
READ_SIZE: Final = 32 * 1024
REFERENCE: Final = "wsproto_upb"
NAMES: Final = (
    "mexc_core",
    "mexc_core_no_dispatch",
    "connection",
    "wsproto_upb",
    "websockets_upb",
)


class BenchError(RuntimeError):
    """An implementation did not deliver every frame exactly once."""


def frame(payload: bytes) -> bytes:
    """``payload`` as one unmasked binary WebSocket frame (RFC 6455 section 5.2)."""
    size = len(payload)
    if size < 126:
        return bytes((0x82, size)) + payload
    if size < 1 << 16:
        return bytes((0x82, 126)) + size.to_bytes(2, "big") + payload
    return bytes((0x82, 127)) + size.to_bytes(8, "big") + payload


@dataclasses.dataclass(frozen=True, slots=True)
class Workload:
    """The frames and how they reach the client.

    :ivar payloads: the public push frames (protobuf), in push order.
    :ivar topics: every topic the frames are on.
    :ivar frame_bytes: the mean payload size.
    """

    payloads: tuple[bytes, ...]
    topics: tuple[str, ...]
    frame_bytes: float


def workload(messages: int, seed: int) -> Workload:
    """The public frames of a decode corpus of ``messages`` frames."""
    corpus = build(messages, seed)
    payloads = tuple(
        data
        for data, kind in zip(corpus.frames, corpus.kinds, strict=True)
        if not kind.startswith("private.")
    )
    topics = tuple(dict.fromkeys(decode_push(data).channel for data in payloads))
    return Workload(payloads, topics, sum(map(len, payloads)) / len(payloads))


def _reads(payloads: Sequence[tuple[int, bytes]], links: int) -> list[tuple[int, bytes]]:
    """``(link index, read)``: each link's frames cut in reads, links in turn."""
    streams = [bytearray() for _ in range(links)]
    for index, data in payloads:
        streams[index] += frame(data)
    chunked = [
        [bytes(stream[at : at + READ_SIZE]) for at in range(0, len(stream), READ_SIZE)]
        for stream in streams
    ]
    reads: list[tuple[int, bytes]] = []
    for turn in range(max(map(len, chunked))):
        reads.extend(
            (link, chunks[turn]) for link, chunks in enumerate(chunked) if turn < len(chunks)
        )
    return reads


def markets() -> tuple[MarketSpec, ...]:
    """The simulator's markets: the corpus's pairs, nearly quiet (the frames come from
    the corpus; the simulator only answers the handshakes and subscriptions)."""
    return tuple(
        MarketSpec(
            symbol=symbol,
            base_asset=symbol.removesuffix("USDT"),
            quote_asset="USDT",
            price_scale=price_dp,
            quantity_scale=qty_dp,
            initial_price=int(Decimal(price).scaleb(price_dp)),
            mean_quantity=10**qty_dp,
            event_rate=0.01,
        )
        for symbol, price, price_dp, qty_dp in PAIRS
    )


def cid_of(cid: int | None) -> int:
    """``cid``, known not to be ``None``."""
    assert cid is not None
    return cid


class _Counter:
    """The no-op plugin: one generic push hook that counts."""

    def __init__(self) -> None:
        self.pushes = 0

    @hookimpl
    def mexc_push_received(self, push: Push) -> None:
        self.pushes += 1


@dataclasses.dataclass(slots=True)
class _Setup:
    """One round's machine: a function feeding every read, and its delivered count."""

    feed: Callable[[], None]
    delivered: Callable[[], int]


class _Plan:
    """The reads of one workload per link, and the machines that consume them."""

    def __init__(self, work: Workload) -> None:
        self.work = work
        loop = self._core_loop()
        ids = [link.link for link in loop.pool.links()]
        link_of = {t: ids.index(link.link) for link in loop.pool.links() for t in link.carried}
        missing = set(work.topics) - set(link_of)
        if missing:
            raise BenchError(f"{len(missing)} topics were not acknowledged, e.g. {min(missing)}")
        indexed = [(link_of[decode_push(data).channel], data) for data in work.payloads]
        self.links = len(ids)
        self.reads = _reads(indexed, self.links)
        self.upb = decoders()[1].run

    def _core_loop(self) -> CoreLoop:
        loop = CoreLoop(
            CoreConfig(pool=PoolConfig(host="127.0.0.1")),
            SimConfig(exchange=ExchangeConfig(markets=markets())),
        )
        loop.start()
        loop.subscribe_ticket(list(self.work.topics))
        loop.run_for(5.0)
        return loop

    def core(self, *, dispatch: bool) -> _Setup:
        loop = self._core_loop()
        core = loop.core
        now = loop.now
        cids = [link.cid for link in loop.pool.links()]
        if None in cids:
            raise BenchError("a link has no transport after the set-up")
        reads = [(cid_of(cids[link]), data) for link, data in self.reads]
        counter = _Counter()
        dispatcher = Dispatcher(plugin_manager(counter, entry_points=False))
        pushes = [0]

        def feed() -> None:
            receive, events, deliver = core.receive_data, core.events, dispatcher.dispatch
            count = 0
            for cid, data in reads:
                receive(cid, data, now)
                if dispatch:
                    for event in events():
                        deliver(event)
                else:
                    for event in events():
                        if type(event) is Push:
                            count += 1
            pushes[0] += count

        return _Setup(feed, (lambda: counter.pushes) if dispatch else (lambda: pushes[0]))

    def connection(self) -> _Setup:
        loop = self._core_loop()
        # the pool's own connections, open and subscribed, fed without the pool
        links = sorted(loop.pool._links.values(), key=lambda link: link.id)
        conns = [link.conn for link in links]
        now = loop.now
        delivered = [0]

        def feed() -> None:
            count = 0
            for link, data in self.reads:
                conn = conns[link]
                assert conn is not None
                conn.receive_data(data, now)
                for event in conn.events():
                    if type(event) is Push:
                        count += 1
            delivered[0] += count

        return _Setup(feed, lambda: delivered[0])

    def _reference(self, messages_of: Callable[[int, bytes], list[bytes]]) -> _Setup:
        """Framing by ``messages_of(link, read)`` (whole messages out), then upb."""
        upb = self.upb
        delivered = [0]

        def feed() -> None:
            count = 0
            for link, data in self.reads:
                messages = messages_of(link, data)
                upb(messages)
                count += len(messages)
            delivered[0] += count

        return _Setup(feed, lambda: delivered[0])

    def wsproto_upb(self) -> _Setup:
        conns = [WsprotoConnection(ConnectionType.CLIENT) for _ in range(self.links)]
        partial = [b""] * self.links  # wsproto hands a message cut by a read in pieces

        def messages_of(link: int, data: bytes) -> list[bytes]:
            conn = conns[link]
            conn.receive_data(data)
            messages = []
            for event in conn.events():
                if type(event) is BytesMessage:
                    if not event.message_finished:
                        partial[link] += event.data
                    elif partial[link]:
                        messages.append(partial[link] + event.data)
                        partial[link] = b""
                    else:
                        messages.append(bytes(event.data))
            return messages

        return self._reference(messages_of)

    def websockets_upb(self) -> _Setup:
        protos = [Protocol(Side.CLIENT, state=WS_OPEN, max_size=None) for _ in range(self.links)]
        binary = Opcode.BINARY

        def messages_of(link: int, data: bytes) -> list[bytes]:
            proto = protos[link]
            proto.receive_data(data)
            return [
                bytes(f.data)
                for f in proto.events_received()
                if type(f) is Frame and f.opcode is binary
            ]

        return self._reference(messages_of)

    def setup(self, name: str) -> _Setup:
        if name == "mexc_core":
            return self.core(dispatch=True)
        if name == "mexc_core_no_dispatch":
            return self.core(dispatch=False)
        if name == "connection":
            return self.connection()
        if name == "websockets_upb":
            return self.websockets_upb()
        return self.wsproto_upb()


# ---------------------------------------------------------------- timing


@dataclasses.dataclass(frozen=True, slots=True)
class PipelineReport:
    """Everything one run measured.

    :ivar work: the frames.
    :ivar links: connections the topics are spread over.
    :ivar reads: socket reads fed per round.
    :ivar rounds: seconds of every round, per implementation.
    """

    work: Workload
    links: int
    reads: int
    rounds: dict[str, list[float]]

    def us_per_frame(self, name: str) -> tuple[float, float, float]:
        """``(median, min, max)`` microseconds per frame of ``name``."""
        per = [s / len(self.work.payloads) * 1e6 for s in self.rounds[name]]
        return statistics.median(per), min(per), max(per)

    def ratio(self, name: str) -> float:
        """Median time of ``name`` over the median of :data:`REFERENCE`."""
        return self.us_per_frame(name)[0] / self.us_per_frame(REFERENCE)[0]


def measure(work: Workload, *, rounds: int, names: Sequence[str] = NAMES) -> PipelineReport:
    """Check every implementation delivers every frame once, then time ``rounds`` rounds.

    :raises BenchError: an implementation delivered another number of frames.
    """
    plan = _Plan(work)
    times: dict[str, list[float]] = {name: [] for name in names}
    expected = len(work.payloads)
    for _ in range(rounds):
        for name in names:
            setup = plan.setup(name)
            gc.collect()
            gc.disable()
            try:
                start = time.perf_counter()
                setup.feed()
                elapsed = time.perf_counter() - start
            finally:
                gc.enable()
            if setup.delivered() != expected:
                raise BenchError(f"{name} delivered {setup.delivered()} of {expected} frames")
            times[name].append(elapsed)
    return PipelineReport(work, plan.links, len(plan.reads), times)


def to_json(report: PipelineReport) -> str:
    """The one-line JSON report."""
    implementations = {}
    for name in report.rounds:
        median, low, high = report.us_per_frame(name)
        implementations[name] = {
            "us_per_frame": round(median, 4),
            "us_per_frame_min": round(low, 4),
            "us_per_frame_max": round(high, 4),
            "ratio_to_wsproto_upb": round(report.ratio(name), 4),
        }
    return json.dumps(
        {
            "bench": "pipeline",
            "frames": len(report.work.payloads),
            "frame_bytes": round(report.work.frame_bytes, 1),
            "topics": len(report.work.topics),
            "links": report.links,
            "reads": report.reads,
            "read_size": READ_SIZE,
            "rounds": len(next(iter(report.rounds.values()))),
            "reference": REFERENCE,
            "implementations": implementations,
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        }
    )


def format_table(report: PipelineReport) -> str:
    """The human-readable table."""
    work = report.work
    lines = [
        f"pipeline: {len(work.payloads)} frames of {work.frame_bytes:.0f} B on "
        f"{len(work.topics)} topics over {report.links} links, {report.reads} reads of "
        f"<= {READ_SIZE} B, {len(next(iter(report.rounds.values())))} rounds",
        f"{'implementation':<24}{'us/frame':>10}{'min':>9}{'max':>9}{'x ' + REFERENCE:>16}",
    ]
    for name in report.rounds:
        median, low, high = report.us_per_frame(name)
        lines.append(f"{name:<24}{median:>10.3f}{low:>9.3f}{high:>9.3f}{report.ratio(name):>16.3f}")
    return "\n".join(lines)


def run(*, messages: int, rounds: int, seed: int, json_only: bool) -> PipelineReport:
    """Build the frames, measure, print the table (unless ``json_only``) and the JSON line."""
    report = measure(workload(messages, seed), rounds=rounds)
    if not json_only:
        print(format_table(report))
    print(to_json(report))
    return report
