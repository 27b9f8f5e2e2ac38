"""The Prometheus plugin: its endpoint scraped over HTTP while the client runs.

The client runs against the simulator on virtual time (tests/util.py); the
test scrapes ``/metrics`` and ``/healthz`` with a real HTTP client (urllib, in a
thread) on 127.0.0.1 and parses the text with ``prometheus_client.parser``.
"""

from __future__ import annotations

import importlib.metadata
import json
import random
import re
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import fields
from pathlib import Path

import anyio
import anyio.to_thread
import pytest
from prometheus_client.parser import text_string_to_metric_families

import mexc_plugin_prometheus
from mexc_core.aio.client import MexcClient
from mexc_core.cli.common import EXIT_FAILED, EXIT_NOT_INSTALLED
from mexc_core.events import (
    BookBreak,
    BookGapDetected,
    BookResyncStarted,
    BookSynced,
    DisconnectCause,
    FrameRejected,
    GapCause,
    GapDetected,
    LinkDisconnected,
    PluginFailed,
    Push,
)
from mexc_core.hookspecs import (
    BookState,
    ClientContext,
    ClientStatus,
    LinkInfo,
    LinkState,
    PoolStats,
    QueueStatus,
    StreamReceiver,
    StreamSender,
    hookimpl,
)
from mexc_core.plugins import plugin_manager
from mexc_plugin_prometheus import (
    METRICS,
    Health,
    MetricsOptionsError,
    PrometheusPlugin,
    parse_listen,
)
from mexc_sim.exchange import ExchangeConfig, default_markets
from mexc_sim.faults import Faults
from mexc_sim.protocol import SimConfig
from mexc_sim.server import RunningSimulator
from tests.test_aio_client import running, served
from tests.test_cli_failures import free_port, mexc, one_line
from tests.util import FACTOR, EventRecorder, SteppedTime

DEALS = [f"spot@public.aggre.deals.v3.api.pb@100ms@{s}" for s in ("BTCUSDT", "ETHUSDT")]
DEALS_CHANNEL = "public.aggre.deals.v3.api.pb"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    """Every sample of a scrape: (name, sorted labels) -> value."""
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    return sum(
        v
        for (n, have), v in samples.items()
        if n == name and set(labels.items()) <= set(dict(have).items())
    )


def get(url: str) -> tuple[int, str]:
    """GET ``url``: the status and the body (an error status is an answer too)."""
    try:
        with urllib.request.urlopen(url, timeout=10 * FACTOR) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode()


async def scrape(base: str) -> Samples:
    status, text = await anyio.to_thread.run_sync(get, f"{base}/metrics")
    assert status == 200
    return parse(text)


async def health(base: str) -> tuple[int, dict[str, object]]:
    status, text = await anyio.to_thread.run_sync(get, f"{base}/healthz")
    return status, json.loads(text)


# ---------------------------------------------------------------- without a client


def test_the_plugin_is_installed_under_its_entry_point() -> None:
    (entry,) = [
        e for e in importlib.metadata.entry_points(group="mexc.plugins") if e.name == "prometheus"
    ]
    assert entry.value == "mexc_plugin_prometheus:plugin"
    assert entry.dist is not None
    assert entry.dist.name == "mexc-plugin-prometheus"
    assert plugin_manager().get_plugin("prometheus") is mexc_plugin_prometheus.plugin


def test_metric_names_follow_the_conventions() -> None:
    for name, (kind, labels, text) in METRICS.items():
        assert name.startswith("mexc_"), name
        assert (kind == "counter") == name.endswith("_total"), name
        assert kind in ("counter", "gauge", "histogram"), name
        assert all(label.isidentifier() for label in labels), name
        assert text.endswith("."), name


def test_the_docs_table_is_the_metrics_served() -> None:
    page = (Path(__file__).resolve().parent.parent / "docs" / "metrics.rst").read_text()
    rows = re.findall(r"   \* - ``(mexc_\w+)``\n     - (\w+)\n     - (.+)\n     - (.+)\n", page)
    documented = {
        name: (kind, tuple(re.findall(r"``(\w+)``", labels)), text)
        for name, kind, labels, text in rows
    }
    assert documented == dict(METRICS)


@pytest.mark.parametrize(
    ("text", "address"),
    [("127.0.0.1:9464", ("127.0.0.1", 9464)), ("[::1]:0", ("::1", 0)), ("host:1", ("host", 1))],
)
def test_listen_addresses(text: str, address: tuple[str, int]) -> None:
    assert parse_listen(text) == address


@pytest.mark.parametrize("text", ["9464", ":9464", "127.0.0.1:", "127.0.0.1:65536", "h:x"])
def test_bad_listen_addresses_are_one_clear_error(text: str) -> None:
    with pytest.raises(MetricsOptionsError, match="HOST:PORT"):
        parse_listen(text)


class Context:
    """Just what the plugin reads of a ClientContext before it serves."""

    def __init__(self, options: dict[str, object]) -> None:
        self.options = options
        self.started: list[object] = []

    @property
    def task_group(self) -> Context:
        return self

    def start_soon(self, *args: object, name: object = None) -> None:
        self.started.append(args)


@pytest.mark.parametrize(
    ("options", "what"),
    [
        (["127.0.0.1:0"], "must be a mapping"),
        ({}, '"listen": "HOST:PORT"'),
        ({"listen": 9464}, '"listen": "HOST:PORT"'),
        ({"listen": "nope"}, "HOST:PORT"),
        ({"socket": "127.0.0.1:0"}, "bound socket"),
    ],
)
def test_bad_options_are_one_clear_error(options: object, what: str) -> None:
    context = Context({"prometheus": options})
    with pytest.raises(MetricsOptionsError, match=what):
        PrometheusPlugin().mexc_client_started(context)  # type: ignore[arg-type]
    assert context.started == []


def test_without_its_options_it_stays_quiet() -> None:
    plugin = PrometheusPlugin()
    context = Context({"console": {}})
    plugin.mexc_client_started(context)  # type: ignore[arg-type]
    assert not plugin.enabled
    assert context.started == []
    with pytest.raises(RuntimeError, match="not serving"):
        plugin.status()


def test_a_taken_port_fails_the_start() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        context = Context({"prometheus": {"listen": f"127.0.0.1:{port}"}})
        with pytest.raises(OSError, match="in use"):
            PrometheusPlugin().mexc_client_started(context)  # type: ignore[arg-type]


def link(number: int, state: LinkState, topics: tuple[str, ...] = ("t",)) -> LinkInfo:
    return LinkInfo(
        link=number,
        state=state,
        private=False,
        cid=None,
        topics=topics,
        leaving=(),
        carried=(),
        failures=2 if state is LinkState.WAITING else 0,
        retry_at=None,
    )


def status(
    links: tuple[LinkInfo, ...] = (),
    books: tuple[tuple[str, BookState], ...] = (),
    *,
    running: bool = True,
) -> ClientStatus:
    queue = QueueStatus(name="inbox", depth=0, capacity=10, dropped=0)
    return ClientStatus(
        stats=PoolStats(), links=links, books=books, queues=(queue,), running=running
    )


def test_health_rules() -> None:
    assert Health.of(status()).healthy
    up = status(
        (link(1, LinkState.OPEN), link(2, LinkState.DRAINING), link(3, LinkState.CLOSING)),
        (("BTCUSDT", BookState.SYNCED),),
    )
    assert Health.of(up) == Health(True, (), 2, 1)
    # a link without topics (emptied, about to close) is no outage
    assert Health.of(status((link(4, LinkState.WAITING, ()),))).healthy
    down = Health.of(
        status(
            (link(1, LinkState.WAITING), link(2, LinkState.OPEN)),
            (("BTCUSDT", BookState.BUFFERING), ("ETHUSDT", BookState.SYNCED)),
            running=False,
        )
    )
    assert not down.healthy
    assert down.reasons == (
        "the client is stopping",
        "link 1 is waiting (2 failed attempts in a row)",
        "book BTCUSDT is buffering",
    )
    assert json.loads(down.as_json()) == {
        "healthy": False,
        "links": 2,
        "books": 2,
        "reasons": list(down.reasons),
    }


# ---------------------------------------------------------------- scraped while the client runs


class Slow:
    """A plugin whose stream of pushes is never read: it fills, then drops."""

    def __init__(self) -> None:
        self.out: StreamSender[Push] | None = None
        self.queue: StreamReceiver[Push] | None = None

    @hookimpl
    def mexc_client_started(self, context: ClientContext) -> None:
        self.out, self.queue = context.open_stream(max_buffer=2, policy="drop_oldest", name="slow")

    @hookimpl
    def mexc_push_received(self, push: Push) -> None:
        assert self.out is not None
        self.out.send_nowait(push)


@pytest.mark.slow
def test_scraped_over_http_while_the_client_runs_through_a_reconnect(anyio_backend: str) -> None:
    time = SteppedTime()
    recorder = EventRecorder()
    plugin = PrometheusPlugin()
    slow = Slow()
    config = SimConfig(exchange=ExchangeConfig(markets=default_markets(3)))
    with served(config, time) as sim:
        # the first connection (the WebSocket) sends garbage as its 3rd push and is
        # reset after 5 virtual seconds; the ones after it are clean
        sim.call(lambda: sim.server.sim.queue_faults(Faults(reset_after=5.0, garbage_at={3})))

        async def scenario() -> None:
            options = {"prometheus": {"listen": "127.0.0.1:0"}}
            async with running(
                sim,
                time,
                plugin,
                recorder,
                slow,
                rest_url=sim.rest_url,
                options=options,
                rng=random.Random(7),
            ) as client:
                assert plugin.address is not None
                host, port = plugin.address
                base = f"http://{host}:{port}"
                with anyio.fail_after(30 * FACTOR):
                    await client.subscribe(DEALS)
                    await client.watch_book("BTCUSDT", wait=False)
                    await time.until(
                        lambda: bool(recorder.of(BookSynced)) and len(recorder.pushes()) > 5,
                        sim,
                        within=4.0,
                    )
                    assert not recorder.of(LinkDisconnected)
                    await check_running(base, client, sim)
                    await check_down_and_back(base, client, sim)
                    await check_counts(base, client)
            assert plugin.address == (host, port)
            # the endpoint closed with the client
            with pytest.raises(OSError):  # noqa: PT011 - the text depends on the backend
                await anyio.connect_tcp(host, port)

        async def check_running(base: str, client: MexcClient, sim: RunningSimulator) -> None:
            samples = await scrape(base)
            assert value(samples, "mexc_book_synced", symbol="BTCUSDT") == 1.0
            assert value(samples, "mexc_book_state", symbol="BTCUSDT", state="synced") == 1.0
            assert value(samples, "mexc_link_up", link="1", private="false") == 1.0
            assert value(samples, "mexc_link_subscriptions", link="1") == 3.0
            assert value(samples, "mexc_link_topics", link="1") == 3.0
            assert value(samples, "mexc_frames_rejected_total", kind="binary") == 1.0
            assert value(samples, "mexc_queue_capacity", queue="inbox") == 10_000.0
            assert value(samples, "mexc_healthy") == 1.0
            assert await health(base) == (200, {"healthy": True, "links": 1, "books": 1})
            del client, sim

        async def check_down_and_back(base: str, client: MexcClient, sim: RunningSimulator) -> None:
            await time.until(lambda: bool(recorder.of(LinkDisconnected)), sim, within=6.0)
            synced = len(recorder.of(BookSynced))
            # time stands still: the link waits for its retry while we look
            assert [info.state for info in client.pool.links()] == [LinkState.WAITING]
            status, body = await health(base)
            assert status == 503
            assert body["healthy"] is False
            assert "link 1 is waiting (1 failed attempts in a row)" in body["reasons"]  # type: ignore[operator]
            samples = await scrape(base)
            assert value(samples, "mexc_link_up", link="1", private="false") == 0.0
            assert value(samples, "mexc_healthy") == 0.0
            assert value(samples, "mexc_disconnects_total", cause="lost") == 1.0
            await time.until(
                lambda: client.book("BTCUSDT").synced and len(recorder.of(BookSynced)) > synced,
                sim,
                within=10.0,
            )
            assert (await health(base))[0] == 200

        async def check_counts(base: str, client: MexcClient) -> None:
            for _ in range(5):
                before = Counter(p.channel.split("@")[1] for p in recorder.pushes())
                samples = await scrape(base)
                after = Counter(p.channel.split("@")[1] for p in recorder.pushes())
                if before == after:
                    break
            assert before == after, "pushes kept coming during every scrape"
            for channel, count in after.items():
                assert value(samples, "mexc_messages_total", channel=channel) == count
            timed = sum(1 for p in recorder.pushes() if p.send_time and "deals" in p.channel)
            assert value(
                samples, "mexc_message_latency_seconds_count", channel=DEALS_CHANNEL
            ) == float(timed)
            assert (
                value(
                    samples, "mexc_message_latency_seconds_bucket", channel=DEALS_CHANNEL, le="+Inf"
                )
                == timed
            )
            stats = client.stats
            received = Counter[str]()
            for topic, size in stats.push_bytes.items():
                received[topic.split("@")[1]] += size
            for channel, size in received.items():
                assert value(samples, "mexc_message_bytes_total", channel=channel) == size
            assert received[DEALS_CHANNEL] > 0
            assert value(samples, "mexc_disconnects_total", cause="lost") == 1.0
            assert value(samples, "mexc_reconnects_total", cause="lost") == 1.0
            assert value(samples, "mexc_connects_total") == float(stats.connects) == 2.0
            # each gap counts once per symbol it touches (BTCUSDT has two topics)
            gaps = Counter(
                (symbol, gap.cause.value)
                for gap in recorder.of(GapDetected)
                for symbol in {topic.split("@")[-1] for topic in gap.topics}
            )
            assert gaps["BTCUSDT", GapCause.DISCONNECTED.value] == 1
            assert gaps["ETHUSDT", GapCause.DISCONNECTED.value] == 1
            for (symbol, cause), count in gaps.items():
                assert value(samples, "mexc_gaps_total", symbol=symbol, cause=cause) == count
            assert total(samples, "mexc_gaps_total") == sum(gaps.values())
            breaks = Counter(e.cause.value for e in recorder.of(BookGapDetected))
            assert breaks[BookBreak.STREAM_GAP.value] >= 1
            for cause, count in breaks.items():
                assert (
                    value(samples, "mexc_book_gaps_total", symbol="BTCUSDT", cause=cause) == count
                )
            resyncs = Counter(e.cause.value for e in recorder.of(BookResyncStarted))
            assert resyncs
            for cause, count in resyncs.items():
                assert (
                    value(samples, "mexc_book_resyncs_total", symbol="BTCUSDT", cause=cause)
                    == count
                )
            assert value(samples, "mexc_book_synced", symbol="BTCUSDT") == 1.0
            assert value(samples, "mexc_link_up", link="1", private="false") == 1.0
            # every counter of PoolStats is served
            for spec in fields(PoolStats):
                named = f"mexc_pool_{spec.name}_total"
                if isinstance(getattr(stats, spec.name), int) and spec.name not in (
                    "pushes", "duplicates", "unwanted", "connects", "reconnects",
                    "disconnects", "rotations", "gaps",
                ):  # fmt: skip
                    assert value(samples, named) is not None, named
            assert len(recorder.of(FrameRejected)) == 1
            # a plugin's stream that nobody reads: full, and dropping
            assert slow.queue is not None
            assert value(samples, "mexc_queue_depth", queue="slow") == 2.0
            assert value(samples, "mexc_queue_capacity", queue="slow") == 2.0
            assert value(samples, "mexc_queue_dropped_total", queue="slow") == float(
                slow.queue.dropped
            )
            assert slow.queue.dropped == sum(after.values()) - 2

        anyio.run(scenario, backend=anyio_backend)
    down = recorder.of(LinkDisconnected)
    assert [d.cause for d in down if d.cause is not DisconnectCause.RETIRED] == [
        DisconnectCause.LOST
    ]
    assert not recorder.of(PluginFailed)


@pytest.mark.slow
def test_an_unknown_path_and_method_are_refused(anyio_backend: str) -> None:
    time = SteppedTime()
    plugin = PrometheusPlugin()
    with served(SimConfig(exchange=ExchangeConfig(markets=default_markets(1))), time) as sim:

        async def scenario() -> None:
            options = {"prometheus": {"listen": "127.0.0.1:0"}}
            async with running(sim, time, plugin, options=options):
                assert plugin.address is not None
                base = "http://{}:{}".format(*plugin.address)
                status, text = await anyio.to_thread.run_sync(get, f"{base}/nope")
                assert (status, text) == (404, "not found: try /metrics or /healthz\n")

                def post() -> int:
                    request = urllib.request.Request(f"{base}/metrics", data=b"x", method="POST")
                    try:
                        with urllib.request.urlopen(request, timeout=10 * FACTOR):
                            return 200
                    except urllib.error.HTTPError as error:
                        with error:
                            return error.code

                assert await anyio.to_thread.run_sync(post) == 405
                # a peer that sends no HTTP gets the connection closed, and the
                # endpoint goes on answering
                with anyio.fail_after(10 * FACTOR):
                    stream = await anyio.connect_tcp(*plugin.address)
                    async with stream:
                        await stream.send(b"\x00\x01 not http\r\n\r\n")
                        with pytest.raises(anyio.EndOfStream):
                            await stream.receive()
                assert (await health(base))[0] == 200

        anyio.run(scenario, backend=anyio_backend)


# ---------------------------------------------------------------- the command line


@pytest.mark.slow
def test_watch_with_metrics_is_scraped_while_it_runs(mexc_sim: RunningSimulator) -> None:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable, "-m", "mexc_core.cli", "watch", DEALS[0],
            "--endpoint", mexc_sim.ws_url, "--metrics", f"127.0.0.1:{port}", "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert process.stdout is not None
    assert process.stderr is not None
    try:
        assert process.stderr.readline() == (
            f"mexc watch: metrics at http://127.0.0.1:{port}/metrics, health at /healthz\n"
        )
        shown = [json.loads(process.stdout.readline()) for _ in range(3)]
        assert all(row["channel"] == DEALS[0] for row in shown)
        status, text = get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200
        samples = parse(text)
        # at least the pushes printed were counted (more may have come since)
        assert (value(samples, "mexc_messages_total", channel=DEALS_CHANNEL) or 0) >= 3
        assert value(samples, "mexc_link_up", link="1", private="false") == 1.0
        assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200
    finally:
        process.terminate()
        process.communicate(timeout=30 * FACTOR)
    assert process.returncode == 143


@pytest.mark.slow
def test_metrics_on_a_port_in_use_is_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = mexc("watch", DEALS[0], "--endpoint", "ws://127.0.0.1:1/ws", "--metrics",
                      f"127.0.0.1:{port}")  # fmt: skip
    assert one_line(result, EXIT_FAILED) == (
        f"mexc watch: port {port} on 127.0.0.1 is in use; pick another with --metrics, "
        "or --metrics 127.0.0.1:0 for any free one"
    )


@pytest.mark.slow
def test_metrics_without_the_plugin_installed_is_one_line() -> None:
    # the plugin's distribution hidden: its entry point is not found
    code = (
        "import importlib.metadata as m, sys\n"
        "real = m.entry_points\n"
        "def hidden(**kw):\n"
        "    return m.EntryPoints(e for e in real(**kw) if e.name != 'prometheus')\n"
        "m.entry_points = hidden\n"
        "from mexc_core.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, "watch", DEALS[0], "--metrics", "127.0.0.1:0"],
        capture_output=True,
        text=True,
        timeout=60 * FACTOR,
        check=False,
    )
    assert one_line(result, EXIT_NOT_INSTALLED) == (
        "mexc watch: --metrics needs the Prometheus plugin, which is not installed; run "
        "`pip install mexc-plugin-prometheus` (or `uv sync` in the repository)"
    )


@pytest.mark.parametrize("bad", ["9464", "127.0.0.1:70000", "127.0.0.1:x"])
@pytest.mark.parametrize("command", ["watch", "book", "demo"])
def test_a_bad_metrics_address_is_a_usage_error(
    command: str, bad: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from mexc_core import cli  # noqa: PLC0415

    target = {"watch": DEALS[0], "book": "BTCUSDT", "demo": "--duration=1"}[command]
    with pytest.raises(SystemExit) as exited:
        cli.main([command, target, "--metrics", bad])
    assert exited.value.code == 2
    assert f"mexc {command}: argument --metrics: must be" in capsys.readouterr().err
