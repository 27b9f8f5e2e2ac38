"""The NATS plugin against a real nats-server with JetStream, and the simulator.

- Two clients holding the same topics publish into one stream: each push is
  stored once (the deduplication ids agree across connections).
- Three ``mexc worker`` processes share the simulator's symbols with two replicas;
  one is killed (SIGKILL) mid-run: the stream has no gap and no duplicate, and the
  survivors take its symbols over within the lease time.
"""

from __future__ import annotations

import itertools
import json
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable

import anyio
import nats
import pytest
from nats.js import JetStreamContext

from mexc_core.aio.client import MexcClient
from mexc_core.events import Push
from mexc_core.hookspecs import hookimpl
from mexc_core.messages import PublicAggreDealsV3Api, PublicAggreDepthsV3Api
from mexc_plugin_nats import NatsPlugin
from mexc_plugin_nats.leases import parse_shard_key
from mexc_plugin_nats.message import EventMessage, PushMessage, push_msg_id, read
from mexc_sim.server import RunningSimulator
from tests.nats_server import NatsServer, nats_server
from tests.test_cli_failures import free_port
from tests.test_docs_examples import _load
from tests.test_plugin_prometheus import get, parse, total
from tests.util import FACTOR

pytestmark = pytest.mark.slow  # a nats-server, the simulator, sockets and processes

__all__ = ("nats_server",)  # the fixture, used by name

DEPTH = "spot@public.aggre.depth.v3.api.pb@100ms@{}"
DEALS = "spot@public.aggre.deals.v3.api.pb@100ms@{}"


async def stream_messages(url: str, stream: str = "MEXC") -> list[PushMessage | EventMessage]:
    """Every message of ``stream``, in stream order, read back with the plugin's reader."""
    nc = await nats.connect(url)
    try:
        js: JetStreamContext = nc.jetstream()
        info = await js.stream_info(stream)
        out: list[PushMessage | EventMessage] = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg(stream, seq)
            got = read(msg.headers, msg.data or b"")
            if isinstance(got, PushMessage | EventMessage):
                out.append(got)
        return out
    finally:
        await nc.close()


def check_no_gap_no_duplicate(pushes: list[PushMessage]) -> dict[str, int]:
    """Per depth topic: versions contiguous in stream order, none twice; trades once."""
    depth: dict[str, list[tuple[int, int]]] = defaultdict(list)
    trades: dict[str, list[str]] = defaultdict(list)
    for message in pushes:
        body = message.push.body
        if isinstance(body, PublicAggreDepthsV3Api):
            depth[message.topic].append((int(body.from_version), int(body.to_version)))
        elif isinstance(body, PublicAggreDealsV3Api):
            trades[message.topic].extend(d.trade_id for d in body.deals)
    for topic, spans in depth.items():
        for (_, last), (low, _) in itertools.pairwise(spans):
            assert low == last + 1, f"{topic}: {last} then {low}"
    for topic, ids in trades.items():
        assert len(ids) == len(set(ids)), f"{topic}: a trade twice"
    return {topic: len(spans) for topic, spans in depth.items()}


class Ids:
    """A plugin keeping the deduplication id of every push its client got."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    @hookimpl
    def mexc_push_received(self, push: Push) -> None:
        self.ids.append(push_msg_id(push))


def test_two_clients_on_the_same_topics_store_each_push_once(
    nats_server: NatsServer, mexc_sim: RunningSimulator
) -> None:
    symbol = "BTCUSDT"
    topics = [DEPTH.format(symbol), DEALS.format(symbol)]
    publishers = [NatsPlugin(), NatsPlugin()]
    recorders = [Ids(), Ids()]

    async def one(index: int, done: anyio.Event) -> None:
        async with MexcClient(
            mexc_sim.ws_url,
            plugins=[publishers[index], recorders[index]],
            entry_points=False,
            options={"nats": {"url": nats_server.url, "worker": f"c{index}"}},
        ) as client:
            await client.subscribe(topics)
            await done.wait()

    async def main() -> None:
        done = anyio.Event()
        async with anyio.create_task_group() as tg:
            tg.start_soon(one, 0, done)
            tg.start_soon(one, 1, done)
            with anyio.fail_after(30 * FACTOR):
                while min(len(r.ids) for r in recorders) < 30 or any(
                    p.buffered for p in publishers
                ):
                    await anyio.sleep(0.05)
            done.set()

    anyio.run(main, backend="asyncio")
    messages = anyio.run(stream_messages, nats_server.url, backend="asyncio")
    pushes = [m for m in messages if isinstance(m, PushMessage)]
    stored = [push_msg_id(m.push) for m in pushes]
    assert len(stored) == len(set(stored))
    both = set(recorders[0].ids) & set(recorders[1].ids)
    assert len(both) >= 20, "the two connections saw the same pushes"
    assert set(stored) == set(recorders[0].ids) | set(recorders[1].ids)
    published = sum(p.published for p in publishers)
    assert published >= len(stored) + len(both)  # the repeats were sent, and not stored
    check_no_gap_no_duplicate(pushes)
    print(f"published {published}, stored {len(stored)} pushes, {len(both)} seen by both")  # noqa: T201


def start_worker(
    name: str, nats_url: str, sim: RunningSimulator, symbols: list[str], ttl: float, *more: str
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mexc_core.cli",
            "worker",
            "--nats",
            nats_url,
            "--endpoint",
            sim.ws_url,
            "--rest",
            sim.rest_url,
            "--symbols",
            ",".join(symbols),
            "--replicas",
            "2",
            "--lease-ttl",
            str(ttl),
            "--worker-id",
            name,
            "--no-plugins",
            *more,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def leases(url: str, bucket: str = "MEXC_LEASES") -> dict[str, set[str]]:
    """symbol -> the workers holding it now."""
    nc = await nats.connect(url)
    try:
        kv = await nc.jetstream().key_value(bucket)
        held: dict[str, set[str]] = defaultdict(set)
        try:
            keys = await kv.keys()
        except nats.js.errors.NoKeysError:
            return held
        for key in keys:
            shard = parse_shard_key(key)
            if shard is not None:
                try:
                    entry = await kv.get(key)
                except nats.js.errors.KeyNotFoundError:
                    continue
                held[shard[0]].add((entry.value or b"").decode())
        return held
    except nats.js.errors.BucketNotFoundError:
        return {}
    finally:
        await nc.close()


def wait_until(what: str, check: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds * FACTOR
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.1)


def test_three_workers_one_killed_no_gap_no_duplicate(
    nats_server: NatsServer, mexc_sim: RunningSimulator
) -> None:
    symbols = ["BTCUSDT", "ETHUSDT", "MXUSDT"]
    ttl = 1.5 * FACTOR
    workers = {
        name: start_worker(name, nats_server.url, mexc_sim, symbols, ttl)
        for name in ("w1", "w2", "w3")
    }
    try:

        def held() -> dict[str, set[str]]:
            return anyio.run(leases, nats_server.url, backend="asyncio")

        def shared_by(names: set[str]) -> bool:
            now = held()
            return (
                all(len(now.get(s, set()) & names) >= 2 for s in symbols)
                and set().union(*now.values()) == names
            )

        wait_until(
            "three workers hold two replicas of every symbol",
            lambda: shared_by({"w1", "w2", "w3"}),
            30,
        )
        time.sleep(1.0 * FACTOR)  # pushes flow through all three for a while
        workers["w2"].send_signal(signal.SIGKILL)
        workers["w2"].wait()
        killed_at = time.monotonic()
        wait_until("the survivors took w2's symbols", lambda: shared_by({"w1", "w3"}), 30)
        takeover = time.monotonic() - killed_at
        time.sleep(1.0 * FACTOR)  # and flow through the survivors
    finally:
        outputs = {}
        for name, process in workers.items():
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
            try:
                outputs[name] = process.communicate(timeout=20 * FACTOR)
            except subprocess.TimeoutExpired:
                process.kill()
                outputs[name] = process.communicate()
    for name in ("w1", "w3"):
        out, err = outputs[name]
        assert workers[name].returncode == 128 + signal.SIGINT, err
        counts = json.loads(out.strip().splitlines()[-1])
        assert counts["worker"] == name
        assert counts["published"] > 0
        assert counts["dropped"] == 0
    messages = anyio.run(stream_messages, nats_server.url, backend="asyncio")
    pushes = [m for m in messages if isinstance(m, PushMessage)]
    per_topic = check_no_gap_no_duplicate(pushes)
    assert set(per_topic) == {DEPTH.format(s) for s in symbols}
    assert min(per_topic.values()) >= 20
    events = [m for m in messages if isinstance(m, EventMessage)]
    claims_after_kill = [e for e in events if e.type == "claimed" and e.worker in ("w1", "w3")]
    assert claims_after_kill
    assert takeover <= ttl + 10 * FACTOR
    print(f"depth diffs per topic {per_topic}; takeover {takeover:.1f} s (lease {ttl} s)")  # noqa: T201


def test_the_docs_example_publishes_and_reads_back_in_order(
    nats_server: NatsServer, mexc_sim: RunningSimulator
) -> None:
    example = _load("nats_reader.py")
    published = anyio.run(example.publish, mexc_sim.ws_url, nats_server.url, 20, backend="asyncio")
    assert published >= 20
    spans = anyio.run(example.versions, nats_server.url, backend="asyncio")
    assert len(spans) >= 20 - 1  # one message was the link_connected event
    for (_, last), (low, _) in itertools.pairwise(spans):
        assert low == last + 1


def run_worker_command(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mexc_core.cli", "worker", *args],
        capture_output=True,
        text=True,
        timeout=60 * FACTOR,
        check=False,
    )


def test_a_worker_without_a_nats_url_says_what_to_give() -> None:
    done = run_worker_command("--nats", "http://127.0.0.1:1", "--symbols", "BTCUSDT")
    assert done.returncode == 2
    assert done.stderr == (
        "mexc worker: --nats 'http://127.0.0.1:1' is not a NATS URL; give nats://HOST:PORT\n"
    )


def test_a_worker_with_an_unknown_channel_names_it() -> None:
    done = run_worker_command(
        "--nats", "nats://127.0.0.1:1", "--symbols", "BTCUSDT", "--channels", "nothing"
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "nothing" in done.stderr
    assert "`mexc channels` lists the channels" in done.stderr


def test_a_worker_that_cannot_reach_nats_says_so_in_one_line() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        done = run_worker_command("--nats", f"nats://127.0.0.1:{port}", "--symbols", "BTCUSDT")
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert lines[-1].startswith(f"mexc worker: cannot reach NATS at nats://127.0.0.1:{port}")
    assert lines[-1].endswith("start nats-server with JetStream (-js) or fix --nats")
    assert "Traceback" not in done.stderr


def test_pushes_received_while_nats_is_down_reach_the_stream_after_it_returns(
    nats_server: NatsServer, mexc_sim: RunningSimulator
) -> None:
    publisher = NatsPlugin()
    seen = Ids()
    topic = DEPTH.format("BTCUSDT")

    async def until(what: str, check: Callable[[], bool]) -> None:
        with anyio.move_on_after(30 * FACTOR) as scope:
            while not check():
                await anyio.sleep(0.05)
        if scope.cancelled_caught:
            pytest.fail(f"timed out waiting until {what}")

    async def main() -> int:
        async with MexcClient(
            mexc_sim.ws_url,
            plugins=[publisher, seen],
            entry_points=False,
            options={"nats": {"url": nats_server.url, "worker": "c", "ack_timeout": 0.5}},
        ) as client:
            await client.subscribe([topic])
            await until("some are published", lambda: publisher.published >= 10)
            await anyio.to_thread.run_sync(nats_server.stop)
            down_at = len(seen.ids)
            await until("pushes arrive while NATS is down", lambda: len(seen.ids) >= down_at + 10)
            waiting = publisher.buffered
            await anyio.to_thread.run_sync(nats_server.start)
            await until("the backlog is published", lambda: publisher.buffered == 0)
            return waiting

    waiting = anyio.run(main, backend="asyncio")
    assert waiting >= 10
    assert publisher.republished >= 1
    assert publisher.dropped == 0
    messages = anyio.run(stream_messages, nats_server.url, backend="asyncio")
    pushes = [m for m in messages if isinstance(m, PushMessage)]
    stored = {push_msg_id(m.push) for m in pushes}
    assert set(seen.ids) <= stored, "a push the client received is missing from the stream"
    check_no_gap_no_duplicate(pushes)
    print(f"{waiting} waited while NATS was down; {publisher.republished} republished")  # noqa: T201


def test_a_worker_with_metrics_is_scraped_while_it_publishes(
    nats_server: NatsServer, mexc_sim: RunningSimulator
) -> None:
    port = free_port()
    process = start_worker(
        "m1", nats_server.url, mexc_sim, ["BTCUSDT"], 1.5 * FACTOR, "--metrics", f"127.0.0.1:{port}"
    )
    assert process.stderr is not None
    try:
        assert process.stderr.readline() == (
            f"mexc worker: metrics at http://127.0.0.1:{port}/metrics, health at /healthz\n"
        )

        def published() -> bool:
            status, text = get(f"http://127.0.0.1:{port}/metrics")
            assert status == 200
            return total(parse(text), "mexc_messages_total") >= 10

        wait_until("the worker's pushes are counted", published, 30)
        assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200
    finally:
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=30 * FACTOR)
    assert process.returncode == 128 + signal.SIGINT
    assert json.loads(out.strip().splitlines()[-1])["published"] >= 10
