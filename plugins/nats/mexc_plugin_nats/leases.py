"""Which shards a worker claims or releases: the lease plan, without I/O.

Workers share a set of symbols through a JetStream key-value bucket whose entries
expire after the lease time (the bucket's TTL):

- ``workers.ID``: a worker's heartbeat, written every tick;
- ``shard.SYMBOL.R``: replica ``R`` (``0 .. replicas-1``) of ``SYMBOL``, whose
  value is the id of the worker holding it. A worker renews its shards every tick
  (a compare-and-set on the revision it last wrote); a dead worker's shards
  expire and are claimed by the others within one lease time.

Each tick a worker reads the bucket and asks :func:`plan` what to do. The plan
spreads ``len(symbols) * min(replicas, workers)`` shards evenly: each worker aims
at ``ceil(shards / workers)``, never holds two replicas of one symbol, claims the
least-held symbols first, and releases a surplus only where another worker still
holds the symbol, so that a rebalance never leaves a symbol unheld.
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

    #: ``(symbol, replica)`` shards to claim, in order.
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
    :param holders: the shards held now, ``(symbol, replica) -> worker``.
    """
    wanted = sorted(set(symbols))
    live = set(workers) | {me}
    copies = max(1, min(replicas, len(live)))
    target = math.ceil(len(wanted) * copies / len(live))
    count: dict[str, int] = dict.fromkeys(wanted, 0)
    mine: list[tuple[str, int]] = []
    for (symbol, replica), worker in holders.items():
        if symbol in count and replica < replicas:
            count[symbol] += 1
            if worker == me:
                mine.append((symbol, replica))
    held = {symbol for symbol, _ in mine}
    claim: list[tuple[str, int]] = []
    if len(mine) < target:
        order = sorted(
            (s for s in wanted if s not in held and count[s] < copies),
            key=lambda s: (count[s], _rank(me, s)),
        )
        for symbol in order[: target - len(mine)]:
            replica = next(r for r in range(replicas) if (symbol, r) not in holders)
            claim.append((symbol, replica))
    release: list[tuple[str, int]] = []
    if len(mine) > target:
        # one at a time, only where another worker holds the symbol too
        spare = sorted((s for s in mine if count[s[0]] > 1), key=lambda s: _rank(me, s[0]))
        release = spare[:1]
    return Plan(tuple(claim), tuple(release), target)
