"""Snapshot pacing: a sliding window of weight, and pauses after 429."""

from __future__ import annotations

import pytest

from mexc_core.client.pacer import SnapshotPacer, SnapshotPacing, snapshot_weight
from mexc_core.errors import InvalidConfig


def test_weights_grow_with_the_snapshot_size() -> None:
    assert [snapshot_weight(n) for n in (1, 100, 101, 500, 1000, 1001, 5000, 9999)] == [
        1,
        1,
        2,
        2,
        5,
        10,
        10,
        10,
    ]


def test_the_window_slides_and_a_pause_holds_everything() -> None:
    pacer = SnapshotPacer(SnapshotPacing(budget=10, window=10.0, rate_limit_pause=7.0))
    assert pacer.available_at(5, 0.0) == 0.0
    pacer.spend(5, 0.0)
    pacer.spend(3, 2.0)
    assert pacer.spent == 8
    assert pacer.available_at(2, 3.0) == 3.0
    assert pacer.available_at(5, 3.0) == 10.0  # the first leaves the window at 10
    assert pacer.available_at(9, 3.0) == 12.0  # both must leave
    assert pacer.available_at(5, 10.0) == 10.0
    assert pacer.spent == 3
    assert pacer.pause(10.0, None) == 17.0
    assert pacer.pause(10.0, 2.0) == 17.0  # a shorter pause does not shorten it
    assert pacer.available_at(1, 11.0) == 17.0
    assert pacer.pause(11.0, 30.0) == 41.0
    assert "spent=3/10" in repr(pacer)


@pytest.mark.parametrize(
    "bad",
    [
        {"budget": 9},
        {"budget": 10.5},
        {"window": 0},
        {"window": float("inf")},
        {"rate_limit_pause": -1.0},
        {"rate_limit_pause": "5"},
    ],
)
def test_bad_pacing_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(InvalidConfig):
        SnapshotPacing(**bad)  # type: ignore[arg-type]
