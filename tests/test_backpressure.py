"""Bounded buffers: each overflow policy, and the inbox that signals its gaps."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mexc_core import wire
from mexc_core.client.backpressure import BoundedBuffer, Inbox, OverflowPolicy, channel_key
from mexc_core.errors import InvalidConfig
from mexc_core.events import GapCause, GapDetected, PongReceived, Push, StrayReason
from mexc_core.messages import PublicSpotKlineV3Api


def push(topic: str, n: int = 0) -> Push:
    return Push(channel=topic, body=PublicSpotKlineV3Api(window_start=n))


def test_block_keeps_everything_and_says_full() -> None:
    buffer: BoundedBuffer[int] = BoundedBuffer(2)
    assert buffer.policy is OverflowPolicy.BLOCK
    for i in range(3):
        buffer.offer(i)
    assert (buffer.full, len(buffer)) == (True, 3)
    assert [buffer.take() for _ in range(3)] == [0, 1, 2]
    assert (buffer.full, len(buffer)) == (False, 0)
    assert buffer.dropped == 0
    with pytest.raises(IndexError):
        buffer.take()


def test_drop_oldest_counts() -> None:
    buffer: BoundedBuffer[int] = BoundedBuffer(2, "drop_oldest")
    for i in range(5):
        buffer.offer(i)
    assert buffer.dropped == 3
    assert [buffer.take(), buffer.take()] == [3, 4]
    assert "DROP_OLDEST 0/2 dropped=3" in repr(buffer)


def test_conflate_keeps_the_latest_per_key_in_first_arrival_order() -> None:
    buffer: BoundedBuffer[Push] = BoundedBuffer(2, OverflowPolicy.CONFLATE)
    buffer.offer(push("a", 1))
    buffer.offer(push("b", 1))
    buffer.offer(push("a", 2))
    assert buffer.conflated == 1
    buffer.offer(push("c", 1))  # a third key: the oldest key goes
    assert buffer.dropped == 1
    assert [buffer.take(), buffer.take()] == [push("b", 1), push("c", 1)]
    with pytest.raises(IndexError):
        buffer.take()
    by_parity: BoundedBuffer[int] = BoundedBuffer(5, "conflate", key=lambda i: i % 2)
    for i in range(6):
        by_parity.offer(i)
    assert [by_parity.take(), by_parity.take()] == [4, 5]


def test_channel_key() -> None:
    assert channel_key(push("a")) == "a"
    assert channel_key(3) == 3
    unhashable: list[int] = []
    assert channel_key(unhashable) == id(unhashable)


@pytest.mark.parametrize("capacity", [0, -1, 1.5, True])
def test_capacity_must_be_a_positive_int(capacity: object) -> None:
    with pytest.raises(InvalidConfig):
        BoundedBuffer(capacity)  # type: ignore[arg-type]
    with pytest.raises(InvalidConfig):
        Inbox(capacity)  # type: ignore[arg-type]
    with pytest.raises(InvalidConfig):
        Inbox(1)
    with pytest.raises(ValueError, match="is not a valid OverflowPolicy"):
        BoundedBuffer(1, "never")


@given(
    policy=st.sampled_from(list(OverflowPolicy)),
    capacity=st.integers(1, 8),
    ops=st.lists(st.one_of(st.integers(0, 5), st.none()), max_size=60),
)
def test_memory_stays_bounded(policy: OverflowPolicy, capacity: int, ops: list[int | None]) -> None:
    """Offers (a key) and takes (None), a BLOCK producer waiting while full."""
    buffer: BoundedBuffer[int] = BoundedBuffer(capacity, policy)
    offered = 0
    taken = 0
    for op in ops:
        if op is None:
            if len(buffer):
                buffer.take()
                taken += 1
        elif not (policy is OverflowPolicy.BLOCK and buffer.full):
            buffer.offer(op)
            offered += 1
        assert len(buffer) <= capacity
    assert offered == taken + len(buffer) + buffer.dropped + buffer.conflated


def test_inbox_drops_pushes_when_full_and_signals_the_gap_in_order() -> None:
    inbox = Inbox(2)
    assert inbox.put(push("a", 1), 1.0)
    assert inbox.put(push("b", 1), 1.0)
    assert not inbox.put(push("a", 2), 2.0)
    assert not inbox.put(push("a", 3), 3.0)
    assert inbox.put(PongReceived(round_trip=0.1), 3.0)  # lifecycle events always fit
    assert inbox.pending_gaps == ("a",)
    assert inbox.dropped == 2
    assert inbox.take() == push("a", 1)
    # one free slot: not enough for the push and its gap
    assert not inbox.put(push("a", 4), 4.0)
    assert inbox.take() == push("b", 1)
    assert inbox.put(push("a", 5), 5.0)
    assert "dropped=3" in repr(inbox)
    assert len(inbox) == 3
    rest = [inbox.take() for _ in range(3)]
    assert rest[0] == PongReceived(round_trip=0.1)
    gap = rest[1]
    assert isinstance(gap, GapDetected)
    assert gap == GapDetected(
        topics=("a",), cause=GapCause.OVERFLOW, started_at=2.0, ended_at=5.0, missed=3
    )
    assert rest[2] == push("a", 5)
    # disconnection gaps pass like any lifecycle event and do not count
    lifecycle = GapDetected(topics=("a",), cause=GapCause.DISCONNECTED, started_at=0, ended_at=1)
    assert inbox.put(lifecycle, 6.0)
    assert inbox.put(push("a", 6), 6.0)
    assert inbox.put(push("a", 7), 6.0)
    assert [inbox.take(), inbox.take(), inbox.take()] == [lifecycle, push("a", 6), push("a", 7)]
    assert inbox.take() is None
    assert not inbox.pending_gaps


def test_stray_pushes_count_against_the_inbox_and_are_dropped_when_it_is_full() -> None:
    inbox = Inbox(2)
    stray = wire.stray_push(push("spot@public.future.v3.api.pb@SIM"), StrayReason.UNKNOWN_CHANNEL)
    assert inbox.put(stray, 1.0)
    assert inbox.put(push("a", 1), 1.0)
    assert not inbox.put(stray, 2.0)  # full: the report is dropped, never the reader blocked
    assert not inbox.put(push("a", 2), 2.0)
    assert (inbox.strays_dropped, inbox.dropped) == (1, 1)
    assert inbox.take() == stray
    assert inbox.put(stray, 3.0)  # its slot is free again
    assert [inbox.take(), inbox.take(), inbox.take()] == [push("a", 1), stray, None]
