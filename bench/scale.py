"""Scale: one :class:`~mexc_core.aio.MexcClient` against :mod:`bench.blaster` on loopback.

The blaster runs in its own process; the client subscribes ``--topics`` topics
(the pool shards them at MEXC's cap of 30 per connection: 3000 topics are 100
connections) with a plugin whose one hook, ``mexc_push_received``, counts.

Phases, each measured in the client process only:

1. **connect**: subscribe every topic; memory per connection is the growth of the
   resident set size (``/proc/self/statm``) over this phase, divided by the
   connections (it includes the pool's, the sessions' and the sockets' Python
   objects and buffers, and the interpreter's own growth).
2. **steady and latency**: the blaster pushes at ``--rate`` pushes/s for
   ``--seconds``; pushes per CPU second is the pushes the hook saw over the
   client's CPU time (:func:`time.process_time`, user plus system), CPU per 10k
   pushes its inverse, and the share of a core it used. **Read-to-hook latency**
   is measured with the client's own clock (the event loop's, monotonic): the
   client stamps each read as it returns, the inbox carries the stamp with the
   events of that read (:attr:`~mexc_core.client.backpressure.Inbox.read_at`),
   and the hook subtracts it from the same clock's time. Each push also carries
   the blaster's ``CLOCK_MONOTONIC`` at the write (µs, in ``sendTime``), so the
   hook reports send-to-hook latency too: it adds the kernel's loopback delivery,
   the wait for the client's next read and the blaster's ticks (``TICK``; the
   stamp is taken before a tick's writes).
3. **flood**: the blaster pushes at ``--flood`` pushes/s for ``--seconds``, the
   hook spinning ``--hook-us`` µs per push (default 0: a no-op): the pushes the
   hook saw per wall second and per CPU second, the pushes decoded (delivered by
   the pool), shed unread by the sessions (the client's shedding episodes, while
   its inbox is full) and decoded then dropped by the inbox.

Both timed phases count garbage collections per generation and their pauses
(:data:`gc.callbacks`); the resident set size is reported after subscribing and
at the end. The client runs with ``gc_freeze=True`` unless ``--no-gc-freeze``.

The client runs with duplicate dropping off (``PoolConfig(dedup=False)``): the
blaster repeats one pre-encoded push per topic, which the pool would drop as
duplicates after the first.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import IO, Final

import anyio

from bench.blaster import topics as make_topics
from mexc_core.aio.client import MexcClient
from mexc_core.aio.clock import Clock
from mexc_core.client.backpressure import Inbox
from mexc_core.client.pool import PoolConfig
from mexc_core.events import Push
from mexc_core.hookspecs import hookimpl

__all__ = ("ScaleReport", "run")

_PAGE: Final = os.sysconf("SC_PAGE_SIZE")


def _rss() -> int:
    """The resident set size of this process, in bytes."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * _PAGE


class _Hook:
    """Counts pushes; while ``timing``, keeps each push's read-to-hook and
    send-to-hook latencies (µs)."""

    def __init__(self) -> None:
        self.busy = 0.0  # seconds each call spins (a slow consumer), 0 for a no-op
        self.pushes = 0
        self.timing = False
        self.inbox: Inbox | None = None
        self.clock: Clock | None = None
        self.latencies: list[float] = []
        self.sent: list[float] = []

    @hookimpl
    def mexc_push_received(self, push: Push) -> None:
        self.pushes += 1
        if self.busy:
            until = time.perf_counter() + self.busy
            while time.perf_counter() < until:
                pass
        if self.timing:
            assert self.inbox is not None
            assert self.clock is not None
            self.latencies.append((self.clock.now() - self.inbox.read_at) * 1e6)
            if push.send_time is not None:
                self.sent.append(time.monotonic_ns() / 1000 - push.send_time)


class _GcWatch:
    """Garbage collections and their pauses, through :data:`gc.callbacks`."""

    def __init__(self) -> None:
        self.collections = [0, 0, 0]
        self.pauses: list[float] = []
        self._began = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.pauses.append(time.perf_counter() - self._began)
            self.collections[info["generation"]] += 1

    def reset(self) -> None:
        self.collections = [0, 0, 0]
        self.pauses = []

    def close(self) -> None:
        gc.callbacks.remove(self._callback)


def _pct(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] if ordered else 0.0


@dataclass(frozen=True, slots=True)
class Phase:
    """One timed phase: what the hook saw and what it cost."""

    rate: float  # pushes/s asked of the blaster
    pushes: int  # seen by the hook
    decoded: int  # pushes the pool delivered (decoded, routed)
    shed: int  # frames left unread by the shedding sessions
    dropped: int  # decoded, then dropped by the full inbox
    episodes: int  # shedding episodes started
    cpu: float  # client CPU seconds
    wall: float
    collections: tuple[int, int, int]  # garbage collections per generation
    gc_seconds: float  # time spent in them
    gc_max: float  # the longest one

    def json(self, prefix: str) -> dict[str, object]:
        return {
            f"{prefix}rate": self.rate,
            f"{prefix}pushes": self.pushes,
            f"{prefix}decoded": self.decoded,
            f"{prefix}shed": self.shed,
            f"{prefix}dropped": self.dropped,
            f"{prefix}shed_episodes": self.episodes,
            f"{prefix}pushes_per_s_wall": round(self.pushes / self.wall),
            f"{prefix}cpu_share": round(self.cpu / self.wall, 4),
            f"{prefix}pushes_per_cpu_s": round(self.pushes / self.cpu),
            f"{prefix}cpu_ms_per_10k": round(self.cpu / max(1, self.pushes) * 1e7, 3),
            f"{prefix}gc_collections": list(self.collections),
            f"{prefix}gc_share": round(self.gc_seconds / self.wall, 4),
            f"{prefix}gc_max_ms": round(self.gc_max * 1e3, 2),
        }

    def line(self) -> str:
        return (
            f"at {self.rate:,.0f}/s asked: {self.pushes / self.wall:,.0f}/s to the hook, "
            f"{self.cpu / self.wall:.0%} of a core, "
            f"{self.cpu / max(1, self.pushes) * 1e7:.0f} ms CPU per 10k pushes; "
            f"decoded {self.decoded}, shed unread {self.shed} "
            f"({self.episodes} episodes), decoded then dropped {self.dropped}; "
            f"GC {'/'.join(map(str, self.collections))} collections (gen 0/1/2), "
            f"{self.gc_seconds / self.wall:.1%} of the time, longest {self.gc_max * 1e3:.1f} ms"
        )


@dataclass(frozen=True, slots=True)
class ScaleReport:
    """What one run measured (see the module docstring)."""

    topics: int
    connections: int
    connect_seconds: float
    rss_per_connection: float
    rss_start: int
    rss_end: int
    gc_freeze: bool
    hook_us: float
    steady: Phase
    flood: Phase
    latency_pushes: int
    p50_us: float
    p99_us: float
    max_us: float
    sent_p50_us: float
    sent_p99_us: float

    def to_json(self) -> str:
        """The one-line JSON report."""
        return json.dumps(
            {
                "bench": "scale",
                "topics": self.topics,
                "connections": self.connections,
                "connect_seconds": round(self.connect_seconds, 3),
                "rss_bytes_per_connection": round(self.rss_per_connection),
                "rss_bytes_start": self.rss_start,
                "rss_bytes": self.rss_end,
                "gc_freeze": self.gc_freeze,
                "flood_hook_us": self.hook_us,
                **self.steady.json("steady_"),
                **self.flood.json("flood_"),
                "latency_pushes": self.latency_pushes,
                "latency_p50_us": round(self.p50_us, 1),
                "latency_p99_us": round(self.p99_us, 1),
                "latency_max_us": round(self.max_us, 1),
                "send_to_hook_p50_us": round(self.sent_p50_us, 1),
                "send_to_hook_p99_us": round(self.sent_p99_us, 1),
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
            }
        )

    def table(self) -> str:
        """The human-readable summary."""
        return "\n".join(
            (
                f"scale: {self.topics} topics on {self.connections} connections "
                f"(subscribed in {self.connect_seconds:.2f} s)",
                f"  memory      {self.rss_per_connection / 1024:.1f} KiB RSS per connection; "
                f"{self.rss_start / 2**20:.1f} MiB after subscribing, "
                f"{self.rss_end / 2**20:.1f} MiB at the end",
                f"  steady      {self.steady.line()}",
                f"  latency     at {self.steady.rate:,.0f}/s, read to hook: "
                f"p50 {self.p50_us:.0f} us, p99 {self.p99_us:.0f} us, max {self.max_us:.0f} us "
                f"over {self.latency_pushes} pushes (send to hook: p50 {self.sent_p50_us:.0f} us, "
                f"p99 {self.sent_p99_us:.0f} us)",
                f"  flood       {self.flood.line()}"
                + (f" (a hook of {self.hook_us:g} us)" if self.hook_us else ""),
            )
        )


def _command(stdin: IO[str], line: str) -> None:
    stdin.write(line + "\n")
    stdin.flush()


async def _phase(
    client: MexcClient, hook: _Hook, gcw: _GcWatch, stdin: IO[str], rate: float, seconds: float
) -> Phase:
    """Ask the blaster for ``rate``, warm up, then measure ``seconds``."""
    _command(stdin, f"rate {rate}")
    await anyio.sleep(min(1.0, seconds / 4))  # warm up
    stats, shedder, inbox = client.stats, client.pool.shedder, client.inbox
    pushes0, decoded0, shed0, dropped0 = hook.pushes, stats.pushes, shedder.shed, inbox.dropped
    episodes0 = shedder.episodes
    gcw.reset()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    hook.timing = True
    await anyio.sleep(seconds)
    hook.timing = False
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return Phase(
        rate=rate,
        pushes=hook.pushes - pushes0,
        decoded=stats.pushes - decoded0,
        shed=shedder.shed - shed0,
        dropped=inbox.dropped - dropped0,
        episodes=shedder.episodes - episodes0,
        cpu=cpu,
        wall=wall,
        collections=(gcw.collections[0], gcw.collections[1], gcw.collections[2]),
        gc_seconds=sum(gcw.pauses),
        gc_max=max(gcw.pauses, default=0.0),
    )


async def _measure(
    port: int,
    stdin: IO[str],
    *,
    count: int,
    flood: float,
    rate: float,
    seconds: float,
    gc_freeze: bool,
    hook_us: float,
) -> ScaleReport:
    hook = _Hook()
    wanted = make_topics(count)
    before = _rss()
    start = time.perf_counter()
    gcw = _GcWatch()
    try:
        async with MexcClient(
            f"ws://127.0.0.1:{port}/ws",
            config=PoolConfig(dedup=False),
            plugins=[hook],
            entry_points=False,
            gc_freeze=gc_freeze,
        ) as client:
            hook.inbox, hook.clock = client.inbox, client.clock
            await client.subscribe(wanted, timeout=120)
            connect_seconds = time.perf_counter() - start
            connections = len(client.core.pool.links())
            rss_start = _rss()
            # latency first: a flood leaves a backlog behind
            steady = await _phase(client, hook, gcw, stdin, rate, seconds)
            lat, sent = hook.latencies, hook.sent
            hook.latencies, hook.sent = [], []
            hook.busy = hook_us / 1e6  # the flood only: latency is measured with a no-op hook
            flooded = await _phase(client, hook, gcw, stdin, flood, seconds)
            _command(stdin, "rate 0")
            rss_end = _rss()
    finally:
        gcw.close()
    if not lat or not steady.pushes:
        raise RuntimeError("the client saw no pushes")
    return ScaleReport(
        topics=count,
        connections=connections,
        connect_seconds=connect_seconds,
        rss_per_connection=(rss_start - before) / connections,
        rss_start=rss_start,
        rss_end=rss_end,
        gc_freeze=gc_freeze,
        hook_us=hook_us,
        steady=steady,
        flood=flooded,
        latency_pushes=len(lat),
        p50_us=statistics.median(lat),
        p99_us=_pct(lat, 0.99),
        max_us=max(lat),
        sent_p50_us=statistics.median(sent) if sent else 0.0,
        sent_p99_us=_pct(sent, 0.99),
    )


def run(
    *,
    topics: int,
    flood: float,
    rate: float,
    seconds: float,
    json_only: bool,
    gc_freeze: bool = True,
    hook_us: float = 0.0,
) -> ScaleReport:
    """Start the blaster, measure, stop it; print the table (unless ``json_only``) and JSON."""
    blaster = subprocess.Popen(
        [sys.executable, "-m", "bench.blaster"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert blaster.stdin is not None
        assert blaster.stdout is not None
        port = int(blaster.stdout.readline().split()[1])
        stdin = blaster.stdin
        report = anyio.run(
            lambda: _measure(
                port,
                stdin,
                count=topics,
                flood=flood,
                rate=rate,
                seconds=seconds,
                gc_freeze=gc_freeze,
                hook_us=hook_us,
            )
        )
        _command(stdin, "quit")
        blaster.wait(timeout=10)
    finally:
        if blaster.poll() is None:
            blaster.kill()
            blaster.wait()
        for pipe in (blaster.stdin, blaster.stdout):
            if pipe is not None:
                pipe.close()
    if not json_only:
        print(report.table())
    print(report.to_json())
    return report
