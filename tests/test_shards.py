"""Shard planning: placement under the cap and consolidation after unsubscribing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mexc_core.client.shards import Move, consolidate, place, shards_needed
from mexc_core.errors import InvalidConfig


def test_place_fills_existing_shards_first_then_opens_few() -> None:
    topics = [f"t{i}" for i in range(7)]
    plan = place(topics, {2: 2, 1: 3, 3: 5}, 4)
    assert dict(plan.existing) == {1: ("t0",), 2: ("t1", "t2")}
    assert plan.new == (("t3", "t4", "t5", "t6"),)
    assert place([], {1: 0}, 4).existing == {}
    assert place(["a"], {}, 1).new == (("a",),)


@given(
    count=st.integers(0, 200),
    used=st.dictionaries(st.integers(1, 9), st.integers(0, 30), max_size=6),
    cap=st.integers(1, 30),
)
def test_placement_never_exceeds_the_cap(count: int, used: dict[int, int], cap: int) -> None:
    topics = [f"t{i}" for i in range(count)]
    plan = place(topics, used, cap)
    placed = [t for batch in plan.existing.values() for t in batch]
    placed += [t for batch in plan.new for t in batch]
    assert sorted(placed) == sorted(topics)
    for shard, batch in plan.existing.items():
        assert used[shard] + len(batch) <= cap
    assert all(0 < len(batch) <= cap for batch in plan.new)
    free = sum(max(cap - u, 0) for u in used.values())
    assert len(plan.new) == shards_needed(max(count - free, 0), cap)


def test_consolidate_empties_the_smallest_shard_into_the_fullest() -> None:
    moves = consolidate({1: ["a", "b", "c"], 2: ["d"], 3: ["e", "f"]}, {1: 3, 2: 1, 3: 2}, 4)
    assert moves == (Move(topic="d", source=2, target=1),)
    # two donors' worth of topics: one shard per call, newest first among equals
    assert consolidate({1: ["a"], 2: ["b"]}, {1: 1, 2: 1}, 4) == (
        Move(topic="b", source=2, target=1),
    )
    # spread over several targets
    moves = consolidate(
        {1: ["a", "b", "c"], 2: ["x", "y"], 3: ["d", "e", "f"]}, {1: 3, 2: 2, 3: 3}, 4
    )
    assert {(m.topic, m.target) for m in moves} == {("x", 1), ("y", 3)}


def test_consolidate_does_nothing_when_it_cannot_help() -> None:
    assert consolidate({1: ["a"]}, {1: 1}, 4) == ()
    assert consolidate({1: ["a", "b"], 2: ["c", "d"]}, {1: 2, 2: 2}, 3) == ()
    # used slots (pending unsubscriptions) count against the room
    assert consolidate({1: ["a"], 2: ["b"]}, {1: 4, 2: 1}, 4) == ()


def test_a_bad_cap_is_refused() -> None:
    with pytest.raises(InvalidConfig):
        place([], {}, 0)
    with pytest.raises(InvalidConfig):
        consolidate({}, {}, -1)
    with pytest.raises(InvalidConfig):
        shards_needed(3, True)
