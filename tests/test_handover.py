"""The hand-over and rotation machines on their own (the pool drives them in
tests/test_pool.py; here each path is taken directly)."""

from __future__ import annotations

import pytest

from mexc_core.client.handover import Handover, HandoverState, Rotation, RotationState
from mexc_core.errors import StateError
from mexc_core.events import Push
from mexc_core.messages import PublicAggreDealsV3Api, PublicAggreDealsV3ApiItem

TOPIC = "spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT"


def push(trade_id: int) -> Push:
    item = PublicAggreDealsV3ApiItem(price="1", quantity="1", trade_id=str(trade_id))
    return Push(channel=TOPIC, body=PublicAggreDealsV3Api(deals=(item,)))


def never(_push: Push) -> bool:
    return False


def always(_push: Push) -> bool:
    return True


def test_before_the_ack_only_the_newest_pushes_are_held() -> None:
    handover = Handover(TOPIC, 1, 2, max_held=2)
    assert handover.state is HandoverState.SUBSCRIBING
    for n in range(4):
        assert not handover.from_target(push(n), always)  # it cannot switch before the ack
    assert list(handover.held) == [push(2), push(3)]
    assert "SUBSCRIBING held=2" in repr(handover)
    assert not handover.timer(100.0)  # no deadline before the ack


def test_aligning_switches_on_the_first_push_both_sides_saw() -> None:
    handover = Handover(TOPIC, 1, 2, max_held=10)
    handover.acked(switch_at=5.0)
    assert not handover.from_target(push(1), never)
    assert not handover.after_source(never)
    assert handover.after_source(always)  # the source caught up with what is held
    assert handover.state is HandoverState.SWITCHED
    assert handover.release() == [push(1)]
    assert not handover.held


def test_a_full_hold_or_the_deadline_switches_anyway() -> None:
    full = Handover(TOPIC, 1, 2, max_held=1)
    full.acked(switch_at=5.0)
    assert not full.from_target(push(1), never)
    assert full.from_target(push(2), never)
    assert full.state is HandoverState.SWITCHED
    late = Handover(TOPIC, 1, 2, max_held=10)
    late.acked(switch_at=5.0)
    assert not late.timer(4.9)
    assert late.timer(5.0)
    assert late.state is HandoverState.SWITCHED
    seen = Handover(TOPIC, 1, 2, max_held=10)
    seen.acked(switch_at=5.0)
    assert seen.from_target(push(1), always)


def test_losing_the_target_or_the_source() -> None:
    handover = Handover(TOPIC, 1, 2, max_held=10)
    handover.acked(switch_at=5.0)
    handover.from_target(push(1), never)
    handover.target_lost()
    states = [handover.state]
    assert (handover.switch_at, len(handover.held)) == (None, 0)
    handover.retarget(3)
    assert handover.target == 3
    handover.source_lost(1)
    states.append(handover.state)
    assert states == [HandoverState.SUBSCRIBING, HandoverState.ABANDONED]
    assert handover.sources == set()
    with pytest.raises(StateError):
        handover.acked(switch_at=9.0)  # over: a broken rule


def test_a_rotation_ends_rotated_or_broken() -> None:
    good = Rotation(1, 2, (TOPIC,), opened_at=0.0)
    assert good.state is RotationState.ROTATING
    assert repr(good) == "<Rotation 1->2 ROTATING>"
    assert good.end(complete=True) is RotationState.ROTATED
    bad = Rotation(1, 2, (TOPIC,), opened_at=0.0)
    assert bad.end(complete=False) is RotationState.BROKEN
    with pytest.raises(StateError):
        bad.end(complete=True)
