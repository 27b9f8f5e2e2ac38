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
   pushes its inverse, and the share of a core it used. Each
   push carries the blaster's ``CLOCK_MONOTONIC`` at the write (µs, in
   ``sendTime``); the hook subtracts it from its own :func:`time.monotonic`. This is
   send-to-hook latency, an upper bound of read-to-hook latency: it adds the
   kernel's loopback delivery and the wait for the client's next read, and the
   timestamp is per tick of the blaster (``TICK``), taken before its writes.
3. **flood**: the blaster pushes at ``--flood`` pushes/s (above what the client
   takes) for ``--seconds``: the pushes the hook saw per wall second, and the
   pushes decoded (seen by the hook or dropped by the client's full inbox, its
   reader outrunning its dispatcher) per CPU second.

The client runs with duplicate dropping off (``PoolConfig(dedup=False)``): the
blaster repeats one pre-encoded push per topic, which the pool would drop as
duplicates after the first.
"""

from __future__ import annotations

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
    """Counts pushes; while ``timing``, keeps each push's send-to-hook latency (µs)."""

    def __init__(self) -> None:
        self.pushes = 0
        self.timing = False
        self.latencies: list[float] = []

    @hookimpl
    def mexc_push_received(self, push: Push) -> None:
        self.pushes += 1
        if self.timing and push.send_time is not None:
            self.latencies.append(time.monotonic_ns() / 1000 - push.send_time)


@dataclass(frozen=True, slots=True)
class ScaleReport:
    """What one run measured (see the module docstring)."""

    topics: int
    connections: int
    connect_seconds: float
    rss_per_connection: float
    rss_total: int
    flood_rate: float
    pushes: int
    dropped: int
    cpu_seconds: float
    wall_seconds: float
    latency_rate: float
    steady_pushes: int
    steady_dropped: int
    steady_cpu: float
    steady_wall: float
    latency_pushes: int
    p50_us: float
    p99_us: float
    max_us: float

    def to_json(self) -> str:
        """The one-line JSON report."""
        return json.dumps(
            {
                "bench": "scale",
                "topics": self.topics,
                "connections": self.connections,
                "connect_seconds": round(self.connect_seconds, 3),
                "rss_bytes_per_connection": round(self.rss_per_connection),
                "rss_bytes": self.rss_total,
                "flood_rate": self.flood_rate,
                "pushes": self.pushes,
                "dropped": self.dropped,
                "pushes_per_s_wall": round(self.pushes / self.wall_seconds),
                "pushes_per_cpu_s": round(self.pushes / self.cpu_seconds),
                "decoded_per_cpu_s": round((self.pushes + self.dropped) / self.cpu_seconds),
                "latency_rate": self.latency_rate,
                "steady_pushes": self.steady_pushes,
                "steady_dropped": self.steady_dropped,
                "steady_pushes_per_s_wall": round(self.steady_pushes / self.steady_wall),
                "steady_cpu_share": round(self.steady_cpu / self.steady_wall, 4),
                "steady_pushes_per_cpu_s": round(self.steady_pushes / self.steady_cpu),
                "steady_cpu_ms_per_10k": round(self.steady_cpu / self.steady_pushes * 1e7, 3),
                "latency_pushes": self.latency_pushes,
                "latency_p50_us": round(self.p50_us, 1),
                "latency_p99_us": round(self.p99_us, 1),
                "latency_max_us": round(self.max_us, 1),
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
                f"  memory      {self.rss_per_connection / 1024:.1f} KiB RSS per connection "
                f"({self.rss_total / 2**20:.1f} MiB in all)",
                f"  steady      at {self.latency_rate:,.0f}/s asked: "
                f"{self.steady_pushes / self.steady_wall:,.0f}/s to the hook, "
                f"{self.steady_cpu / self.steady_wall:.0%} of a core, "
                f"{self.steady_pushes / self.steady_cpu:,.0f} pushes per CPU second, "
                f"{self.steady_cpu / self.steady_pushes * 1e7:.0f} ms CPU per 10k pushes, "
                f"{self.steady_dropped} dropped by the full inbox",
                f"  flood       at {self.flood_rate:,.0f}/s asked: "
                f"{self.pushes / self.wall_seconds:,.0f}/s to the hook, "
                f"{(self.pushes + self.dropped) / self.cpu_seconds:,.0f} decoded per CPU second "
                f"({self.dropped} decoded but dropped by the full inbox)",
                f"  latency     at {self.latency_rate:,.0f}/s: p50 {self.p50_us:.0f} us, "
                f"p99 {self.p99_us:.0f} us, max {self.max_us:.0f} us "
                f"over {self.latency_pushes} pushes (send to hook)",
            )
        )


def _command(stdin: IO[str], line: str) -> None:
    stdin.write(line + "\n")
    stdin.flush()


async def _measure(
    port: int, stdin: IO[str], *, count: int, flood: float, rate: float, seconds: float
) -> ScaleReport:
    hook = _Hook()
    wanted = make_topics(count)
    before = _rss()
    start = time.perf_counter()
    async with MexcClient(
        f"ws://127.0.0.1:{port}/ws",
        config=PoolConfig(dedup=False),
        plugins=[hook],
        entry_points=False,
    ) as client:
        await client.subscribe(wanted, timeout=120)
        connect_seconds = time.perf_counter() - start
        connections = len(client.core.pool.links())
        grown = _rss() - before
        # latency (first: a flood leaves a backlog behind)
        _command(stdin, f"rate {rate}")
        await anyio.sleep(min(1.0, seconds / 4))  # warm up
        steady_dropped0 = client.inbox.dropped
        steady0, cpu0, wall0 = hook.pushes, time.process_time(), time.perf_counter()
        hook.timing = True
        await anyio.sleep(seconds)
        hook.timing = False
        steady = hook.pushes - steady0
        steady_dropped = client.inbox.dropped - steady_dropped0
        steady_cpu = time.process_time() - cpu0
        steady_wall = time.perf_counter() - wall0
        # throughput under a flood
        _command(stdin, f"rate {flood}")
        await anyio.sleep(min(1.0, seconds / 4))  # warm up
        dropped0 = client.inbox.dropped
        pushes0, cpu0, wall0 = hook.pushes, time.process_time(), time.perf_counter()
        await anyio.sleep(seconds)
        pushes = hook.pushes - pushes0
        dropped = client.inbox.dropped - dropped0
        cpu = time.process_time() - cpu0
        wall = time.perf_counter() - wall0
        _command(stdin, "rate 0")
        rss_total = _rss()
    lat = sorted(hook.latencies)
    if not lat or not steady:
        raise RuntimeError("the client saw no pushes")
    return ScaleReport(
        topics=count,
        connections=connections,
        connect_seconds=connect_seconds,
        rss_per_connection=grown / connections,
        rss_total=rss_total,
        flood_rate=flood,
        pushes=pushes,
        dropped=dropped,
        cpu_seconds=cpu,
        wall_seconds=wall,
        latency_rate=rate,
        steady_pushes=steady,
        steady_dropped=steady_dropped,
        steady_cpu=steady_cpu,
        steady_wall=steady_wall,
        latency_pushes=len(lat),
        p50_us=statistics.median(lat),
        p99_us=lat[min(len(lat) - 1, int(len(lat) * 0.99))],
        max_us=lat[-1],
    )


def run(*, topics: int, flood: float, rate: float, seconds: float, json_only: bool) -> ScaleReport:
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
            lambda: _measure(port, stdin, count=topics, flood=flood, rate=rate, seconds=seconds)
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
