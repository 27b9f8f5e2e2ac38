"""Which shards a worker claims or releases: the lease plan, without I/O.

Workers share a set of symbols through a JetStream key-value bucket whose entries
expire after the lease time (the bucket's TTL):

- ``workers.ID``: a worker's heartbeat, written every tick;
- ``shard.SYMBOL.SLOT``: a lease on ``SYMBOL`` (slots ``0 .. 2*replicas-1``: room
  for a symbol's old and new holders during a handover), whose value is the id of
  the worker holding it.

A worker renews its shards every tick (a compare-and-set on the revision it last
wrote); a dead worker's heartbeat and shards expire within one lease time.

Each tick a worker reads the bucket and asks :func:`plan` what to do. Every worker
computes the same :func:`assignment` of symbols to the live workers (round-robin,
so each holds an equal share and the replicas of a symbol are distinct workers),
claims what it is assigned, and gives a symbol up only once all the workers
assigned to it hold it: a handover adds the new holders before the old one leaves.
"""

from __future__ import annotations

import hashlib
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


def assignment(
    symbols: Iterable[str], replicas: int, workers: Iterable[str]
) -> dict[str, set[str]]:
    """Which workers should hold each symbol: every worker computes the same.

    Symbols and workers in sorted order, replicas dealt round-robin: symbol ``i``
    goes to workers ``i * copies + r`` (modulo the number of workers) for ``r`` in
    ``0 .. copies-1``, ``copies`` being ``replicas`` capped by the number of
    workers. The replicas of a symbol are distinct workers, and each worker gets
    ``floor`` or ``ceil`` of ``symbols * copies / workers``.
    """
    live = sorted(set(workers))
    copies = max(1, min(replicas, len(live)))
    return {
        symbol: {live[(i * copies + r) % len(live)] for r in range(copies)}
        for i, symbol in enumerate(sorted(set(symbols)))
    }


def plan(
    me: str,
    symbols: Iterable[str],
    replicas: int,
    workers: Iterable[str],
    holders: Mapping[tuple[str, int], str],
) -> Plan:
    """The claims and releases of worker ``me``.

    It claims the symbols :func:`assignment` gives it, in a free slot (there are
    ``2 * replicas``: the holders of a symbol being handed over and its new ones);
    it releases a symbol it should not hold only once every worker that should
    hold it does, so a symbol never has fewer holders than its replicas while the
    workers it moves between are alive.

    :param symbols: the symbols to cover.
    :param replicas: how many workers should hold each symbol.
    :param workers: the live workers (their heartbeats), ``me`` included or not.
    :param holders: the shards held now, ``(symbol, slot) -> worker``.
    """
    ideal = assignment(symbols, replicas, {*workers, me})
    by_symbol: dict[str, set[str]] = {}
    mine: list[tuple[str, int]] = []
    for (symbol, slot), worker in holders.items():
        by_symbol.setdefault(symbol, set()).add(worker)
        if worker == me:
            mine.append((symbol, slot))
    held = {symbol for symbol, _ in mine}
    claim: list[tuple[str, int]] = []
    for symbol in sorted(ideal, key=lambda s: _rank(me, s)):
        if me in ideal[symbol] and symbol not in held:
            free = [r for r in range(2 * replicas) if (symbol, r) not in holders]
            if free:
                claim.append((symbol, free[0]))
    release = tuple(
        (symbol, slot)
        for symbol, slot in sorted(mine)
        if symbol not in ideal  # no longer wanted
        or (me not in ideal[symbol] and ideal[symbol] <= by_symbol.get(symbol, set()))
    )
    target = sum(1 for owners in ideal.values() if me in owners)
    return Plan(tuple(claim), release, target)
