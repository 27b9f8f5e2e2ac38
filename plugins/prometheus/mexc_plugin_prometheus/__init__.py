"""mexc-plugin-prometheus: Prometheus metrics and a health check of a mexc-core client.

Written exactly as a third-party plugin: it imports only :mod:`mexc_core.hookspecs`
and :mod:`mexc_core.events`, and mexc-core finds it through the ``mexc.plugins``
entry point ``prometheus``. It stays quiet unless the application passes
``options={"prometheus": {"listen": "127.0.0.1:9464"}}`` to the client (or
``mexc watch ... --metrics HOST:PORT``).

It serves, on the client's own event loop (a small HTTP/1.1 server on anyio and
h11, started in the client's task group and stopped with it):

- ``GET /metrics``: the Prometheus text format (``prometheus_client``'s
  exposition), every name prefixed ``mexc_`` (the table is in the docs,
  ``docs/metrics.rst``, and in :data:`METRICS`);
- ``GET /healthz``: ``200`` and ``{"healthy": true, ...}`` while every link that
  holds topics is open and every watched order book is synced, else ``503`` and
  the reasons.

Two sources feed the figures. The hooks count what the dispatcher delivers
(pushes per channel, their exchange-to-local latency from ``sendTime``,
disconnects and reconnects by cause, gaps and resyncs per symbol, rejected
frames, listen-key events), in plain dictionaries: a hook costs a dictionary
update or two, no lock. What the client knows at any instant (links, books,
queues, the pool's counters) is read at each scrape from
:meth:`~mexc_core.hookspecs.ClientContext.status`, so a scrape never disagrees
with the client.
"""

from __future__ import annotations

import bisect
import json
import socket
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from http import HTTPStatus
from typing import Any, Final

import anyio
import anyio.abc
import h11
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from mexc_core.events import (
    BookCrossed,
    BookGapDetected,
    BookResyncStarted,
    FrameRejected,
    GapDetected,
    LinkConnected,
    LinkDisconnected,
    ListenKeyCreated,
    ListenKeyCreateFailed,
    ListenKeyLost,
    ListenKeyRenewalFailed,
    ListenKeyRenewed,
    PluginFailed,
    Push,
    TopicsRejected,
)
from mexc_core.hookspecs import (
    BookState,
    ClientContext,
    ClientStatus,
    LinkState,
    PoolStats,
    hookimpl,
)

__all__ = (
    "LATENCY_BUCKETS",
    "METRICS",
    "Health",
    "MetricsOptionsError",
    "PrometheusPlugin",
    "parse_listen",
    "plugin",
)

__version__ = "0.1.0.dev0"

#: Upper bounds of the latency histogram, in seconds.
LATENCY_BUCKETS: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip

#: Every metric served: name -> (type, labels, help). The docs' table is this one.
METRICS: Final[Mapping[str, tuple[str, tuple[str, ...], str]]] = {
    "mexc_messages_total": (
        "counter", ("channel",), "Pushes delivered to the plugins, by channel."),
    "mexc_message_bytes_total": (
        "counter", ("channel",),
        "Bytes of the push frames received, by channel (duplicates included)."),
    "mexc_message_latency_seconds": (
        "histogram", ("channel",),
        "Exchange-to-local latency: local wall clock at delivery minus the push's sendTime."),
    "mexc_stray_pushes_total": (
        "counter", ("reason",), "Frames that decoded but are no push of a held topic."),
    "mexc_frames_rejected_total": (
        "counter", ("kind",), "Frames that could not be decoded (text or binary)."),
    "mexc_duplicates_total": (
        "counter", (), "Pushes dropped as duplicates (hand-overs, rotations)."),
    "mexc_unwanted_pushes_total": (
        "counter", (), "Late pushes of topics no longer wanted, dropped."),
    "mexc_connects_total": ("counter", (), "WebSocket connections opened."),
    "mexc_disconnects_total": ("counter", ("cause",), "Links that went down, by cause."),
    "mexc_reconnects_total": (
        "counter", ("cause",),
        "Links that came back, by the cause of the disconnection before."),
    "mexc_rotations_total": (
        "counter", (), "Links replaced before MEXC's 24 h cut-off, without a gap."),
    "mexc_subscriptions_rejected_total": (
        "counter", ("cause",), "Topics given up, by cause."),
    "mexc_gaps_total": (
        "counter", ("symbol", "cause"),
        "Stream gaps (pushes may be missing), per topic's symbol and cause."),
    "mexc_book_gaps_total": (
        "counter", ("symbol", "cause"), "Breaks of a local order book's depth stream."),
    "mexc_book_resyncs_total": (
        "counter", ("symbol", "cause"), "Local order books cleared and rebuilt."),
    "mexc_book_crossed_total": ("counter", ("symbol",), "Local order books found crossed."),
    "mexc_book_synced": ("gauge", ("symbol",), "1 while the local order book is exact."),
    "mexc_book_state": (
        "gauge", ("symbol", "state"), "1 for the state each local order book is in."),
    "mexc_link_up": ("gauge", ("link", "private"), "1 while the link's WebSocket is open."),
    "mexc_link_subscriptions": (
        "gauge", ("link",), "Topics the link's connection holds (acknowledged)."),
    "mexc_link_topics": ("gauge", ("link",), "Topics the link is responsible for."),
    "mexc_queue_depth": ("gauge", ("queue",), "Items queued (the inbox, and each stream)."),
    "mexc_queue_capacity": ("gauge", ("queue",), "The bound of each queue."),
    "mexc_queue_dropped_total": (
        "counter", ("queue",), "Items each open queue dropped by its overflow policy."),
    "mexc_queue_conflated_total": (
        "counter", ("queue",), "Items replaced by newer ones in conflating streams."),
    "mexc_listen_key_age_seconds": (
        "gauge", (), "Seconds since the current listen key was created."),
    "mexc_listen_key_renewal_age_seconds": (
        "gauge", (), "Seconds since the listen key was last created or renewed."),
    "mexc_listen_key_failures_total": (
        "counter", ("operation",), "Failed listen-key creations and renewals."),
    "mexc_listen_key_losses_total": ("counter", ("reason",), "Listen keys lost."),
    "mexc_plugin_failures_total": (
        "counter", ("plugin", "hook"), "Hook calls that raised, as last reported."),
    "mexc_healthy": ("gauge", (), "1 when /healthz answers healthy."),
}  # fmt: skip

#: PoolStats fields served under a name of their own above; any other counter of
#: PoolStats is served as ``mexc_pool_<field>_total``.
_STATS_SHOWN: Final = frozenset(
    {"pushes", "duplicates", "unwanted", "strays", "connects", "reconnects", "disconnects",
     "rotations", "gaps", "push_bytes"}
)  # fmt: skip
_UP: Final = frozenset({LinkState.OPEN, LinkState.DRAINING})
_GONE: Final = frozenset({LinkState.CLOSED, LinkState.CLOSING})
#: At most this many scrapes are answered at once; a connection gets this long.
_MAX_CONNECTIONS: Final = 16
_REQUEST_TIMEOUT: Final = 10.0


class MetricsOptionsError(ValueError):
    """The ``prometheus`` options are not usable (one line: what and how to fix it)."""


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) as a host and a port (0: any free one).

    :raises MetricsOptionsError: not of that form, or the port is out of range.
    """
    host, sep, port_text = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port_text.isdigit() or int(port_text) > 65535:
        raise MetricsOptionsError(
            f"the metrics address must be HOST:PORT with a port of 0-65535 "
            f"(e.g. 127.0.0.1:9464), not {text!r}"
        )
    return host, int(port_text)


def channel_of(topic: str) -> str:
    """The channel part of a topic: ``public.aggre.deals.v3.api.pb``."""
    parts = topic.split("@")
    return parts[1] if len(parts) > 1 else topic


def _symbol_in(topic: str) -> str:
    """The symbol a topic names, from its text (``""`` for a private topic)."""
    for part in reversed(topic.split("@")[2:]):
        if part.isalnum() and part.isupper():
            return part
    return ""


@dataclass(frozen=True, slots=True)
class Health:
    """What ``/healthz`` answers: healthy or not, why not, and what was checked."""

    healthy: bool
    reasons: tuple[str, ...]
    links: int
    books: int

    @classmethod
    def of(cls, status: ClientStatus) -> Health:
        """Healthy: the client runs, every link that holds topics is open, every
        watched book is synced."""
        reasons: list[str] = []
        if not status.running:
            reasons.append("the client is stopping")
        links = [info for info in status.links if info.state not in _GONE]
        for info in links:
            if info.topics and info.state not in _UP:
                why = f"link {info.link} is {info.state.value}"
                if info.failures:
                    why += f" ({info.failures} failed attempts in a row)"
                reasons.append(why)
        for symbol, state in status.books:
            if state is not BookState.SYNCED:
                reasons.append(f"book {symbol} is {state.value}")
        return cls(not reasons, tuple(reasons), len(links), len(status.books))

    def as_json(self) -> str:
        """The JSON body of the answer."""
        body: dict[str, object] = {
            "healthy": self.healthy,
            "links": self.links,
            "books": self.books,
        }
        if self.reasons:
            body["reasons"] = list(self.reasons)
        return json.dumps(body)


class _Latency:
    """A histogram of one topic: counts per bucket (the last one is +Inf) and a sum."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.total = 0.0


class PrometheusPlugin:
    """The plugin (one instance, :data:`plugin`, is registered by the entry point).

    Options (``options={"prometheus": {...}}``): ``listen`` (``"HOST:PORT"``), or
    ``socket`` (a bound listening socket, which the plugin then owns: the
    command line binds it first, to report a taken port before starting).
    """

    def __init__(self) -> None:
        self.enabled = False
        self.address: tuple[str, int] | None = None
        self._context: ClientContext | None = None
        self._listener: anyio.abc.SocketListener | None = None
        self._reset()

    def _reset(self) -> None:
        self._pushes: dict[str, int] = {}
        self._latency: dict[str, _Latency] = {}
        self._symbols: dict[str, str | None] = {}
        self._rejected: Counter[str] = Counter()
        self._disconnects: Counter[str] = Counter()
        self._reconnects: Counter[str] = Counter()
        self._last_cause: dict[int, str] = {}
        self._subscriptions_rejected: Counter[str] = Counter()
        self._gaps: Counter[tuple[str, str]] = Counter()
        self._book_gaps: Counter[tuple[str, str]] = Counter()
        self._book_resyncs: Counter[tuple[str, str]] = Counter()
        self._book_crossed: Counter[str] = Counter()
        self._key_created: float | None = None
        self._key_renewed: float | None = None
        self._key_failures: Counter[str] = Counter()
        self._key_losses: Counter[str] = Counter()
        self._plugin_failures: dict[tuple[str, str], int] = {}

    # ------------------------------------------------------------ client hooks

    @hookimpl
    def mexc_client_started(self, context: ClientContext) -> None:
        """Turn on if asked for: bind the endpoint and serve it from the client's tasks.

        :raises MetricsOptionsError: bad options.
        :raises OSError: the address cannot be listened on (in use, not ours).
        """
        self.enabled = False
        self._context = None
        self.address = None
        options = context.options.get("prometheus")
        if options is None:
            return
        if not isinstance(options, Mapping):
            raise MetricsOptionsError(
                'the prometheus options must be a mapping like {"listen": "127.0.0.1:9464"}'
            )
        sock = options.get("socket")
        if sock is None:
            listen = options.get("listen")
            if not isinstance(listen, str):
                raise MetricsOptionsError(
                    'the prometheus options need "listen": "HOST:PORT" (e.g. "127.0.0.1:9464")'
                )
            sock = socket.create_server(parse_listen(listen))
        elif not isinstance(sock, socket.socket):
            raise MetricsOptionsError("the prometheus option 'socket' must be a bound socket")
        name = sock.getsockname()
        self.address = (str(name[0]), int(name[1]))
        self._reset()
        self._context = context
        self.enabled = True
        context.task_group.start_soon(self._serve, sock, name="mexc-prometheus")

    @hookimpl
    def mexc_client_stopping(self) -> None:
        """Stop counting; the server ends with the client's tasks."""
        self.enabled = False

    # ------------------------------------------------------------ pushes

    @hookimpl
    def mexc_push_received(self, push: Push) -> None:
        """Count the push, and its latency when MEXC gave its ``sendTime``."""
        if not self.enabled:
            return
        topic = push.channel
        count = self._pushes.get(topic)
        if count is None:
            self._pushes[topic] = 1
            self._symbols[topic] = push.symbol
            self._latency[topic] = _Latency()
        else:
            self._pushes[topic] = count + 1
        sent = push.send_time
        if sent:
            delay = max(0.0, time.time() - sent / 1000)  # a clock ahead of MEXC's reads 0
            latency = self._latency[topic]
            latency.counts[bisect.bisect_left(LATENCY_BUCKETS, delay)] += 1
            latency.total += delay

    # ------------------------------------------------------------ lifecycle

    @hookimpl
    def mexc_frame_rejected(self, event: FrameRejected) -> None:
        """A frame that could not be decoded."""
        self._rejected[event.kind.value] += 1

    @hookimpl
    def mexc_link_disconnected(self, event: LinkDisconnected) -> None:
        """A link went down: counted by cause, remembered for its reconnect."""
        self._disconnects[event.cause.value] += 1
        self._last_cause[event.link] = event.cause.value

    @hookimpl
    def mexc_link_connected(self, event: LinkConnected) -> None:
        """A reconnect is counted by the cause of the disconnection before it."""
        cause = self._last_cause.pop(event.link, "unknown")
        if event.reconnect:
            self._reconnects[cause] += 1

    @hookimpl
    def mexc_subscription_rejected(self, event: TopicsRejected) -> None:
        """Topics given up."""
        self._subscriptions_rejected[event.cause.value] += len(event.topics)

    @hookimpl
    def mexc_stream_gap(self, event: GapDetected) -> None:
        """A gap, once per symbol it touches."""
        for symbol in {self._symbol_of(topic) for topic in event.topics}:
            self._gaps[symbol, event.cause.value] += 1

    def _symbol_of(self, topic: str) -> str:
        return self._symbols.get(topic) or _symbol_in(topic)

    @hookimpl
    def mexc_book_gap(self, event: BookGapDetected) -> None:
        """A book's depth stream broke."""
        self._book_gaps[event.symbol, event.cause.value] += 1

    @hookimpl
    def mexc_book_resync(self, event: BookResyncStarted) -> None:
        """A book is rebuilt."""
        self._book_resyncs[event.symbol, event.cause.value] += 1

    @hookimpl
    def mexc_book_crossed(self, event: BookCrossed) -> None:
        """A book was found crossed."""
        self._book_crossed[event.symbol] += 1

    @hookimpl
    def mexc_listen_key_created(self, event: ListenKeyCreated) -> None:
        """A new key: both ages start again."""
        del event
        self._key_created = self._key_renewed = time.monotonic()

    @hookimpl
    def mexc_listen_key_renewed(self, event: ListenKeyRenewed) -> None:
        """A keepalive went through."""
        del event
        self._key_renewed = time.monotonic()

    @hookimpl
    def mexc_listen_key_failed(self, event: ListenKeyCreateFailed | ListenKeyRenewalFailed) -> None:
        """A creation or a renewal failed."""
        operation = "create" if isinstance(event, ListenKeyCreateFailed) else "renew"
        self._key_failures[operation] += 1

    @hookimpl
    def mexc_listen_key_lost(self, event: ListenKeyLost) -> None:
        """The key is gone: no age until the next one."""
        self._key_losses[event.reason.value] += 1
        self._key_created = self._key_renewed = None

    @hookimpl
    def mexc_plugin_failed(self, event: PluginFailed) -> None:
        """Keep the last failure count reported for each plugin and hook."""
        self._plugin_failures[event.plugin, event.hook] = event.failures

    # ------------------------------------------------------------ reading

    def status(self) -> ClientStatus:
        """The client's status now.

        :raises RuntimeError: the plugin is not serving a client.
        """
        if self._context is None:
            raise RuntimeError("the prometheus plugin is not serving a client")
        return self._context.status()

    def health(self) -> Health:
        """What ``/healthz`` answers now."""
        return Health.of(self.status())

    def collect(self) -> Iterator[Metric]:
        """Every metric, now (a ``prometheus_client`` collector's method)."""
        status = self.status()
        yield from self._push_metrics(status.stats)
        yield from self._event_metrics()
        yield from self._status_metrics(status)
        healthy = GaugeMetricFamily("mexc_healthy", METRICS["mexc_healthy"][2])
        healthy.add_metric([], 1.0 if Health.of(status).healthy else 0.0)
        yield healthy

    def _push_metrics(self, stats: PoolStats) -> Iterator[Metric]:
        messages = _counter("mexc_messages_total")
        for channel, value in _by_channel(self._pushes.items()).items():
            messages.add_metric([channel], value)
        yield messages
        sizes = _counter("mexc_message_bytes_total")
        for channel, value in _by_channel(stats.push_bytes.items()).items():
            sizes.add_metric([channel], value)
        yield sizes
        latency = HistogramMetricFamily(
            "mexc_message_latency_seconds",
            METRICS["mexc_message_latency_seconds"][2],
            labels=["channel"],
            unit="seconds",
        )
        merged: dict[str, _Latency] = {}
        for topic, one in self._latency.items():
            into = merged.setdefault(channel_of(topic), _Latency())
            into.counts = [a + b for a, b in zip(into.counts, one.counts, strict=True)]
            into.total += one.total
        for channel, hist in sorted(merged.items()):
            running = 0
            buckets: list[tuple[str, float]] = []
            for bound, count in zip((*LATENCY_BUCKETS, float("inf")), hist.counts, strict=True):
                running += count
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), running))
            latency.add_metric([channel], buckets, hist.total)
        yield latency
        yield _labelled("mexc_stray_pushes_total", {(r.value,): n for r, n in stats.strays.items()})
        for name, value in (
            ("mexc_duplicates_total", stats.duplicates),
            ("mexc_unwanted_pushes_total", stats.unwanted),
            ("mexc_connects_total", stats.connects),
            ("mexc_rotations_total", stats.rotations),
        ):
            yield _labelled(name, {(): value})
        for spec in fields(stats):
            value = getattr(stats, spec.name)
            if spec.name not in _STATS_SHOWN and isinstance(value, int | float):
                metric = CounterMetricFamily(
                    f"mexc_pool_{spec.name}", f"The pool's {spec.name} counter (PoolStats)."
                )
                metric.add_metric([], value)
                yield metric

    def _event_metrics(self) -> Iterator[Metric]:
        yield _labelled("mexc_frames_rejected_total", _one(self._rejected))
        yield _labelled("mexc_disconnects_total", _one(self._disconnects))
        yield _labelled("mexc_reconnects_total", _one(self._reconnects))
        yield _labelled("mexc_subscriptions_rejected_total", _one(self._subscriptions_rejected))
        yield _labelled("mexc_gaps_total", self._gaps.items())
        yield _labelled("mexc_book_gaps_total", self._book_gaps.items())
        yield _labelled("mexc_book_resyncs_total", self._book_resyncs.items())
        yield _labelled("mexc_book_crossed_total", _one(self._book_crossed))
        yield _labelled("mexc_listen_key_failures_total", _one(self._key_failures))
        yield _labelled("mexc_listen_key_losses_total", _one(self._key_losses))
        yield _labelled("mexc_plugin_failures_total", self._plugin_failures.items())
        now = time.monotonic()
        for name, since in (
            ("mexc_listen_key_age_seconds", self._key_created),
            ("mexc_listen_key_renewal_age_seconds", self._key_renewed),
        ):
            yield _labelled(name, {} if since is None else {(): now - since})

    def _status_metrics(self, status: ClientStatus) -> Iterator[Metric]:
        links = [info for info in status.links if info.state is not LinkState.CLOSED]
        yield _labelled(
            "mexc_link_up",
            {
                (str(info.link), str(info.private).lower()): float(info.state in _UP)
                for info in links
            },
        )
        yield _labelled(
            "mexc_link_subscriptions", {(str(info.link),): len(info.carried) for info in links}
        )
        yield _labelled("mexc_link_topics", {(str(info.link),): len(info.topics) for info in links})
        yield _labelled(
            "mexc_book_synced",
            {(symbol,): float(state is BookState.SYNCED) for symbol, state in status.books},
        )
        yield _labelled(
            "mexc_book_state", {(symbol, state.value): 1.0 for symbol, state in status.books}
        )
        depth: Counter[tuple[str]] = Counter()
        capacity: Counter[tuple[str]] = Counter()
        dropped: Counter[tuple[str]] = Counter()
        conflated: Counter[tuple[str]] = Counter()
        for queue in status.queues:
            key = (queue.name,)
            depth[key] += queue.depth
            capacity[key] += queue.capacity
            dropped[key] += queue.dropped
            conflated[key] += queue.conflated
        yield _labelled("mexc_queue_depth", depth.items())
        yield _labelled("mexc_queue_capacity", capacity.items())
        yield _labelled("mexc_queue_dropped_total", dropped.items())
        yield _labelled("mexc_queue_conflated_total", conflated.items())

    # ------------------------------------------------------------ the endpoint

    async def _serve(self, sock: socket.socket) -> None:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Collector(self))
        limiter = anyio.CapacityLimiter(_MAX_CONNECTIONS)
        listener = await anyio.abc.SocketListener.from_socket(sock)
        async with listener, anyio.create_task_group() as tg:
            while True:
                stream = await listener.accept()
                tg.start_soon(self._answer, stream, registry, limiter)

    async def _answer(
        self,
        stream: anyio.abc.SocketStream,
        registry: CollectorRegistry,
        limiter: anyio.CapacityLimiter,
    ) -> None:
        async with limiter, stream:
            with anyio.move_on_after(_REQUEST_TIMEOUT):
                conn = h11.Connection(h11.SERVER)
                request = await _read_request(conn, stream)
                if request is None:
                    return
                status, content_type, body = self._route(request, registry)
                headers = [
                    ("Content-Type", content_type),
                    ("Content-Length", str(len(body))),
                    ("Connection", "close"),
                ]
                data = conn.send(
                    h11.Response(
                        status_code=status, headers=headers, reason=HTTPStatus(status).phrase
                    )
                )
                if request.method != b"HEAD":
                    data = (data or b"") + (conn.send(h11.Data(data=body)) or b"")
                data = (data or b"") + (conn.send(h11.EndOfMessage()) or b"")
                try:
                    await stream.send(data)
                except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                    return

    def _route(self, request: h11.Request, registry: CollectorRegistry) -> tuple[int, str, bytes]:
        path = request.target.split(b"?", 1)[0]
        text = "text/plain; charset=utf-8"
        if path not in (b"/metrics", b"/healthz"):
            return 404, text, b"not found: try /metrics or /healthz\n"
        if request.method not in (b"GET", b"HEAD"):
            return 405, text, b"only GET and HEAD\n"
        if path == b"/metrics":
            return 200, CONTENT_TYPE_LATEST, generate_latest(registry)
        health = self.health()
        return (200 if health.healthy else 503), "application/json", health.as_json().encode()


class _Collector(Collector):
    def __init__(self, owner: PrometheusPlugin) -> None:
        self.owner = owner

    def collect(self) -> Iterable[Metric]:
        return self.owner.collect()


async def _read_request(conn: h11.Connection, stream: anyio.abc.SocketStream) -> h11.Request | None:
    """The request's head (its body, if any, is not read: GET has none); ``None``
    when the peer left or sent something that is not HTTP/1.1."""
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError:
            return None
        if isinstance(event, h11.Request):
            return event
        if event is h11.NEED_DATA:
            try:
                data = await stream.receive(65536)
            except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                data = b""
            conn.receive_data(data)
        else:
            return None


def _counter(name: str) -> CounterMetricFamily:
    kind, labels, text = METRICS[name]
    assert kind == "counter"
    return CounterMetricFamily(name.removesuffix("_total"), text, labels=list(labels))


def _one(counter: Mapping[str, int]) -> list[tuple[tuple[str], int]]:
    return [((key,), n) for key, n in counter.items()]


def _labelled(
    name: str, values: Mapping[Any, float] | Iterable[tuple[Sequence[str], float]]
) -> Metric:
    """A metric of :data:`METRICS` with these values (by tuple of label values)."""
    kind, labels, text = METRICS[name]
    metric: CounterMetricFamily | GaugeMetricFamily
    if kind == "counter":
        metric = CounterMetricFamily(name.removesuffix("_total"), text, labels=list(labels))
    else:
        unit = "seconds" if name.endswith("_seconds") else ""
        metric = GaugeMetricFamily(name, text, labels=list(labels), unit=unit)
    pairs = values.items() if isinstance(values, Mapping) else values
    for key, value in sorted(pairs):
        metric.add_metric(list(key), value)
    return metric


def _by_channel(items: Iterable[tuple[str, int]]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for topic, value in items:
        out[channel_of(topic)] += value
    return dict(sorted(out.items()))


#: The instance the entry point registers.
plugin = PrometheusPlugin()
