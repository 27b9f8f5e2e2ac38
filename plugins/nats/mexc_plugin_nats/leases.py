"""Which shards a worker claims or releases: the lease plan, without I/O.

Workers share a set of symbols through a JetStream key-value bucket whose entries
expire after the lease time (the bucket's TTL):

- ``workers.ID``: a worker's heartbeat, written every tick;
- ``shard.SYMBOL.R``: slot ``R`` (``0 .. replicas``: one more than the replicas,
  for handovers) of ``SYMBOL``, whose value is the id of the worker holding it.

A worker renews its shards every tick (a compare-and-set on the revision it last
wrote); a dead worker's shards expire and are claimed by the others within one
lease time.

Each tick a worker reads the bucket and asks :func:`plan` what to do. The plan
spreads ``len(symbols) * min(replicas, workers)`` shards evenly: each worker aims
at ``ceil(shards / workers)``, never holds two slots of one symbol, and claims the
least-held symbols first. A worker short of its share may take a symbol that
already has its replicas (the extra slot); only then does one worker give one up:
the most loaded of that symbol's holders, which every worker works out alike from
the bucket. So a rebalance adds a holder before it removes one, and a symbol keeps
its replicas while workers join.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, final

__all__ = ("SHARD_PREFIX", "WORKER_PREFIX", "Plan", "parse_shard_key", "plan", "shard_key")

WORKER_PREFIX: Final = "workers."
SHARD_PREFIX: Final = "shard."


def shard_key(symbol: str, replica: int) -> str:
    """The bucket key of replica ``replica`` of ``symbol``."""
    return f"{SHARD_PREFIX}{symbol}.{replica}"


def parse_shard_key(key: str) -> tuple[str, int] | None:
    """``(symbol, replica)`` of a shard key, or ``None`` for any other key."""
    if not key.startswith(SHARD_PREFIX):
        return None
    symbol, _, replica = key[len(SHARD_PREFIX) :].rpartition(".")
    if not symbol or not replica.isdecimal():
        return None
    return symbol, int(replica)


@final
@dataclass(frozen=True, slots=True)
class Plan:
    """What one worker should do this tick."""

    #: ``(symbol, slot)`` shards to claim, in order.
    claim: tuple[tuple[str, int], ...]
    #: shards to release (it holds more than its share).
    release: tuple[tuple[str, int], ...]
    #: how many shards the worker aims to hold.
    target: int


def _rank(worker: str, symbol: str) -> bytes:
    # a per-worker order over symbols, so workers claiming at once try different ones
    return hashlib.blake2b(f"{worker}\x00{symbol}".encode(), digest_size=8).digest()


def plan(
    me: str,
    symbols: Iterable[str],
    replicas: int,
    workers: Iterable[str],
    holders: Mapping[tuple[str, int], str],
) -> Plan:
    """The claims and releases of worker ``me``.

    :param symbols: the symbols to cover.
    :param replicas: how many workers should hold each symbol.
    :param workers: the live workers (their heartbeats), ``me`` included or not.
    :param holders: the shards held now, ``(symbol, slot) -> worker``.
    """
    wanted = sorted(set(symbols))
    live = set(workers) | {me}
    copies = max(1, min(replicas, len(live)))
    target = math.ceil(len(wanted) * copies / len(live))
    by_symbol: dict[str, list[str]] = {s: [] for s in wanted}
    load: dict[str, int] = dict.fromkeys(live, 0)
    mine: list[tuple[str, int]] = []
    for (symbol, slot), worker in holders.items():
        if symbol in by_symbol and slot <= replicas:
            by_symbol[symbol].append(worker)
            load[worker] = load.get(worker, 0) + 1
            if worker == me:
                mine.append((symbol, slot))
    held = {symbol for symbol, _ in mine}
    claim: list[tuple[str, int]] = []
    if len(mine) < target:
        # under-replicated symbols first; a symbol at its copies may take one more
        # holder (the handover slot) so that another worker can give it up
        order = sorted(
            (s for s in wanted if s not in held and len(by_symbol[s]) <= copies),
            key=lambda s: (len(by_symbol[s]), _rank(me, s)),
        )
        for symbol in order[: target - len(mine)]:
            slot = next(r for r in range(replicas + 1) if (symbol, r) not in holders)
            claim.append((symbol, slot))
    release: list[tuple[str, int]] = []
    short = any(len(holding) < copies for holding in by_symbol.values())
    if len(mine) > target or (short and not claim):
        # give up one over-replicated symbol (to share, or to make room for a symbol
        # short of its replicas), where this worker is the one all agree should: the
        # most loaded of its holders, ties to the greatest id
        for symbol, slot in sorted(mine, key=lambda s: _rank(me, s[0])):
            holding = by_symbol[symbol]
            if len(holding) > copies and max(holding, key=lambda w: (load[w], w)) == me:
                release.append((symbol, slot))
                break
    return Plan(tuple(claim), tuple(release), target)
