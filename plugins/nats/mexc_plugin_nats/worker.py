"""``mexc worker``: publish symbols to JetStream, sharing them with other workers.

Each worker runs a :class:`~mexc_core.aio.client.MexcClient` with the NATS plugin
and takes part in the lease protocol of :mod:`mexc_plugin_nats.leases`: every
tick (a third of the lease time) it writes its heartbeat, renews its shards, and
claims or releases shards as the plan says, subscribing and unsubscribing the
symbols' topics to match. With ``replicas`` of 2 or more, every symbol is held by
that many workers at once; they publish the same pushes with the same
deduplication ids, so the stream holds each push once, and when a worker dies the
others go on publishing while its shards expire and are taken over.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, NoReturn

import anyio

from mexc_core import channels
from mexc_core.aio.client import DEFAULT_URL, MexcClient
from mexc_core.aio.http import DEFAULT_BASE_URL
from mexc_plugin_nats import NatsPlugin, connect, ensure_stream
from mexc_plugin_nats.leases import WORKER_PREFIX, parse_shard_key, plan, shard_key

if TYPE_CHECKING:
    import pluggy
    from nats.js.kv import KeyValue

__all__ = (
    "DEFAULT_CHANNELS",
    "Leases",
    "WorkerConfig",
    "default_worker_id",
    "run_worker",
    "topics_of",
)

#: The channels a worker publishes unless told otherwise (registry short names).
DEFAULT_CHANNELS: Final = ("aggre_depth", "aggre_deals")


def default_worker_id() -> str:
    """``HOST-PID``, with the characters NATS subjects cannot hold replaced."""
    host = socket.gethostname().split(".")[0] or "host"
    return f"{host}-{os.getpid()}".replace(" ", "_").replace("*", "_").replace(">", "_")


def topics_of(symbol: str, names: Sequence[str]) -> list[str]:
    """The topics of ``symbol`` on the channels ``names`` (defaults for the rest).

    :raises InvalidTopic: a channel name or the symbol is not one MEXC accepts.
    """
    return [channels.format_topic(name, symbol=symbol) for name in names]


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """What ``mexc worker`` was asked to do."""

    nats_url: str
    symbols: tuple[str, ...]
    stream: str = "MEXC"
    endpoint: str = DEFAULT_URL
    rest_url: str = DEFAULT_BASE_URL
    channels: tuple[str, ...] = DEFAULT_CHANNELS
    replicas: int = 1
    lease_ttl: float = 10.0
    worker: str = field(default_factory=default_worker_id)
    prefix: str = "mexc"
    ca_file: str | None = None
    max_buffer: int = 100_000

    @property
    def bucket(self) -> str:
        """The key-value bucket of the leases: ``STREAM_LEASES``."""
        return f"{self.stream}_LEASES"


class Leases:
    """This worker's side of the lease protocol over a key-value bucket."""

    def __init__(self, kv: KeyValue, me: str, symbols: Sequence[str], replicas: int) -> None:
        self.kv = kv
        self.me = me
        self.symbols = tuple(symbols)
        self.replicas = replicas
        #: the shards held, with the revision last written
        self.held: dict[tuple[str, int], int] = {}

    @property
    def symbols_held(self) -> frozenset[str]:
        """The symbols this worker holds now."""
        return frozenset(symbol for symbol, _ in self.held)

    async def tick(self) -> tuple[set[str], set[str]]:
        """Heartbeat, renew, claim and release once; the symbols gained and lost."""
        from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError, NoKeysError  # noqa: PLC0415

        kv = self.kv
        me = self.me.encode()
        await kv.put(f"{WORKER_PREFIX}{self.me}", b"")
        try:
            keys = await kv.keys()
        except NoKeysError:
            keys = []
        workers = [k[len(WORKER_PREFIX) :] for k in keys if k.startswith(WORKER_PREFIX)]
        holders: dict[tuple[str, int], str] = {}
        for key in keys:
            shard = parse_shard_key(key)
            if shard is None:
                continue
            try:
                entry = await kv.get(key)
            except KeyNotFoundError:
                continue
            holders[shard] = (entry.value or b"").decode()
        before = self.symbols_held
        for shard, revision in list(self.held.items()):
            try:
                self.held[shard] = await kv.update(shard_key(*shard), me, last=revision)
            except (KeyWrongLastSequenceError, KeyNotFoundError):
                # expired and taken (this worker stalled for a lease time): let it go
                del self.held[shard]
            else:
                holders[shard] = self.me
        for shard, worker in list(holders.items()):
            if worker == self.me and shard not in self.held:
                del holders[shard]
        decision = plan(self.me, self.symbols, self.replicas, workers, holders)
        for shard in decision.claim:
            with contextlib.suppress(KeyWrongLastSequenceError):
                self.held[shard] = await kv.create(shard_key(*shard), me)
        for shard in decision.release:
            await kv.delete(shard_key(*shard), last=self.held.pop(shard))
        after = self.symbols_held
        return set(after - before), set(before - after)

    async def release_all(self) -> None:
        """Give every shard back (on a clean exit), so others take them at once."""
        for shard, revision in list(self.held.items()):
            with contextlib.suppress(Exception):
                await self.kv.delete(shard_key(*shard), last=revision)
        self.held.clear()
        with contextlib.suppress(Exception):
            await self.kv.delete(f"{WORKER_PREFIX}{self.me}")


async def _bucket(js: object, name: str, ttl: float) -> KeyValue:
    from nats.js.api import KeyValueConfig  # noqa: PLC0415
    from nats.js.errors import BucketNotFoundError  # noqa: PLC0415

    try:
        return await js.key_value(name)  # type: ignore[attr-defined, no-any-return]
    except BucketNotFoundError:
        return await js.create_key_value(  # type: ignore[attr-defined, no-any-return]
            KeyValueConfig(bucket=name, ttl=ttl, history=1)
        )


async def run_worker(
    config: WorkerConfig,
    *,
    pm: pluggy.PluginManager | None = None,
    plugin: NatsPlugin | None = None,
    options: dict[str, dict[str, object]] | None = None,
    on_change: Callable[[frozenset[str]], None] | None = None,
) -> NoReturn:
    """Run one worker until cancelled (the plugin keeps the counters).

    :param pm: the plugin manager (the NATS plugin is added when missing).
    :param on_change: called with the symbols held whenever they change.
    """
    for name in config.channels:
        topics_of(config.symbols[0], [name])  # an unknown channel fails here, once
    publisher = plugin or NatsPlugin()
    plugins: list[object] = [] if pm is not None else [publisher]
    if pm is not None and not pm.is_registered(publisher):
        pm.register(publisher, name=f"nats-worker-{config.worker}")
    all_options = dict(options or {})
    all_options["nats"] = {
        "url": config.nats_url,
        "stream": config.stream,
        "prefix": config.prefix,
        "worker": config.worker,
        "max_buffer": config.max_buffer,
    }
    nc = await connect(config.nats_url, f"mexc {config.worker} leases")
    try:
        js = nc.jetstream()
        await ensure_stream(js, config.stream, config.prefix)
        kv = await _bucket(js, config.bucket, config.lease_ttl)
        leases = Leases(kv, config.worker, config.symbols, config.replicas)
        async with MexcClient(
            config.endpoint,
            pm=pm,
            plugins=plugins,
            entry_points=False,
            options=all_options,
            rest_url=config.rest_url,
            ca_file=config.ca_file,
        ) as client:
            try:
                while True:
                    gained, lost = await leases.tick()
                    for symbol in sorted(lost):
                        await client.unsubscribe(topics_of(symbol, config.channels))
                        publisher.event("released", {"symbol": symbol})
                    for symbol in sorted(gained):
                        await client.subscribe(topics_of(symbol, config.channels), wait=False)
                        publisher.event("claimed", {"symbol": symbol})
                    if (gained or lost) and on_change is not None:
                        on_change(leases.symbols_held)
                    await anyio.sleep(config.lease_ttl / 3)
            finally:
                with anyio.CancelScope(shield=True), anyio.move_on_after(2):
                    await leases.release_all()
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(2):
            await nc.close()
