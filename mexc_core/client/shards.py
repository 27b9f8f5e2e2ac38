"""Shard planning, without I/O: which connection carries which topic.

Theory of operation
===================

MEXC allows 30 subscriptions per connection, and practitioners report trouble
above about 25 (``docs/faults.rst`` section 11), so a client with more topics spreads them
over several connections, *shards*, each under a cap (``max_subscriptions`` of
:class:`~mexc_core.session.SessionConfig`). Two pure functions decide; the
connection pool (:mod:`mexc_core.client.pool`) carries their plans out:

- :func:`place` puts new topics first into the free slots of existing shards,
  lowest shard id first (first fit), then into as few new shards as possible.
- :func:`consolidate` runs after unsubscribing: when the topics of the fewest-topic
  shard fit into the free slots of the others, it plans to move them there (the
  fullest shards first, so the others keep room), so that the emptied shard can
  be closed. One shard per call; call again after the moves to go on.

A shard's *used* slots may exceed its topics for a while (an unsubscription
still waiting for its ack holds a slot on MEXC's side), so both functions take
the used count separately and never plan past the cap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import final

from mexc_core.errors import InvalidConfig

__all__ = ("Move", "Placement", "consolidate", "place", "shards_needed")


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Placement:
    """Where new topics go.

    :ivar existing: per existing shard id, the topics it takes (only shards that
        take any).
    :ivar new: the topics of each new shard to open, in order.
    """

    existing: Mapping[int, tuple[str, ...]]
    new: tuple[tuple[str, ...], ...]


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Move:
    """Move ``topic`` from shard ``source`` to shard ``target``."""

    topic: str
    source: int
    target: int


def _check_cap(cap: int) -> None:
    if type(cap) is not int or cap < 1:
        raise InvalidConfig(f"cap must be an int >= 1, got {cap!r}", setting="cap")


def shards_needed(count: int, cap: int) -> int:
    """The fewest shards ``count`` topics fit in.

    >>> shards_needed(0, 25), shards_needed(25, 25), shards_needed(26, 25)
    (0, 1, 2)
    """
    _check_cap(cap)
    return -(-count // cap)


def place(topics: Sequence[str], used: Mapping[int, int], cap: int) -> Placement:
    """Place ``topics`` (already deduplicated) into shards with ``used`` slots.

    >>> p = place(["a", "b", "c"], {1: 24, 2: 25}, 25)
    >>> dict(p.existing), p.new
    ({1: ('a',)}, (('b', 'c'),))

    :raises InvalidConfig: ``cap`` is not a positive int.
    """
    _check_cap(cap)
    pending = list(topics)
    existing: dict[int, tuple[str, ...]] = {}
    for shard in sorted(used):
        room = cap - used[shard]
        if room <= 0 or not pending:
            continue
        existing[shard], pending = tuple(pending[:room]), pending[room:]
    new = tuple(tuple(pending[i : i + cap]) for i in range(0, len(pending), cap))
    return Placement(existing=existing, new=new)


def consolidate(
    topics: Mapping[int, Sequence[str]], used: Mapping[int, int], cap: int
) -> tuple[Move, ...]:
    """Plan to empty one shard into the others, if its topics fit there.

    :param topics: per shard, the topics it carries that may move.
    :param used: per shard, the slots it uses (at least its topics).
    :returns: the moves, or ``()`` when no shard can be emptied.

    >>> consolidate({1: ["a", "b"], 2: ["c"]}, {1: 2, 2: 1}, 25)
    (Move(topic='c', source=2, target=1),)

    :raises InvalidConfig: ``cap`` is not a positive int.
    """
    _check_cap(cap)
    if len(topics) < 2:
        return ()
    donor = min(topics, key=lambda s: (len(topics[s]), -s))
    moving = list(topics[donor])
    others = sorted((s for s in topics if s != donor), key=lambda s: (-used[s], s))
    room = {s: cap - used[s] for s in others}
    if sum(max(r, 0) for r in room.values()) < len(moving):
        return ()
    moves: list[Move] = []
    for target in others:
        while room[target] > 0 and moving:
            moves.append(Move(topic=moving.pop(0), source=donor, target=target))
            room[target] -= 1
    return tuple(moves)
