"""Deduplication: trades by id, books and tickers by version, the rest by identity."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mexc_core.client.dedup import MAX_RANGES, Deduplicator
from mexc_core.errors import InvalidConfig
from mexc_core.events import GapCause, Push
from mexc_core.messages import (
    PrivateDealsV3Api,
    PrivateOrdersV3Api,
    PublicAggreBookTickerV3Api,
    PublicAggreDealsV3Api,
    PublicAggreDealsV3ApiItem,
    PublicAggreDepthsV3Api,
    PublicLimitDepthsV3Api,
    PublicSpotKlineV3Api,
)

DEALS = "spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT"
DEPTH = "spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT"


def deals(*ids: str, topic: str = DEALS) -> Push:
    items = tuple(PublicAggreDealsV3ApiItem(price="1", quantity="1", trade_id=i) for i in ids)
    return Push(channel=topic, body=PublicAggreDealsV3Api(deals=items), send_time=1)


def depth(version: str, topic: str = DEPTH, *, to: str | None = None) -> Push:
    body = PublicAggreDepthsV3Api(from_version=version, to_version=version if to is None else to)
    return Push(channel=topic, body=body)


def test_trades_seen_are_removed_and_empty_pushes_dropped() -> None:
    dedup = Deduplicator()
    assert dedup.admit(deals("1", "2")) == deals("1", "2")
    trimmed = dedup.admit(deals("2", "3"))
    assert trimmed == deals("3")
    assert dedup.admit(deals("1", "3")) is None
    # trades without an id cannot be compared: they pass
    assert dedup.admit(deals("", "")) == deals("", "")
    # other topics are independent
    assert dedup.admit(deals("1", topic=DEALS.replace("BTC", "ETH"))) is not None
    assert dedup.stats.dropped == 1
    assert dedup.stats.trades_trimmed == 1
    assert dedup.stats.admitted == 4
    assert "Deduplicator" in repr(dedup)


def test_trade_window_is_bounded_and_out_of_order_ids_are_recognised() -> None:
    dedup = Deduplicator(window=3)
    for i in (5, 3, 4):
        assert dedup.admit(deals(str(i))) is not None
    assert dedup.admit(deals("3")) is None  # older than the newest, still remembered
    assert dedup.admit(deals("6")) is not None  # evicts 5
    assert dedup.admit(deals("5")) is not None  # forgotten: passes again


def test_private_deals_by_trade_id() -> None:
    dedup = Deduplicator()
    topic = "spot@private.deals.v3.api.pb"
    push = Push(channel=topic, body=PrivateDealsV3Api(trade_id="9"))
    assert dedup.admit(push) is push
    assert dedup.admit(push) is None
    anonymous = Push(channel=topic, body=PrivateDealsV3Api())
    assert dedup.admit(anonymous) is anonymous
    assert dedup.admit(anonymous) is anonymous


def test_diff_depth_drops_only_ranges_already_let_through() -> None:
    dedup = Deduplicator()
    assert dedup.admit(depth("10")) is not None
    assert dedup.admit(depth("10")) is None  # a true duplicate
    assert not dedup.breaks
    assert dedup.admit(depth("11", to="14")) is not None
    assert dedup.admit(depth("12", to="13")) is None  # inside what was let through
    assert dedup.admit(depth("")) is not None  # not comparable: passes
    assert dedup.admit(depth("9", to="8")) is not None  # a reversed range: not comparable
    assert not dedup.take_breaks()
    limit = "spot@public.limit.depth.v3.api.pb@BTCUSDT@5"
    assert dedup.admit(Push(channel=limit, body=PublicLimitDepthsV3Api(version="3"))) is not None
    assert dedup.admit(Push(channel=limit, body=PublicLimitDepthsV3Api(version="3"))) is None
    # an older snapshot is stale, not a break: the newer one replaced it
    assert dedup.admit(Push(channel=limit, body=PublicLimitDepthsV3Api(version="2"))) is None
    unversioned = Push(channel=limit, body=PublicLimitDepthsV3Api(version=""))
    assert dedup.admit(unversioned) is not None  # not comparable: passes
    ticker = "spot@public.aggre.bookTicker.v3.api.pb@100ms@BTCUSDT"
    assert dedup.admit(Push(channel=ticker, body=PublicAggreBookTickerV3Api(version="1")))
    assert not dedup.breaks
    dedup.forget(DEPTH)
    assert dedup.admit(depth("5")) is not None
    assert not dedup.breaks


def test_a_swapped_pair_of_diffs_is_let_through_and_recorded_as_breaks() -> None:
    """The depth-reorder fault: diffs 10-12 and 13-15 arrive swapped."""
    dedup = Deduplicator()
    assert dedup.admit(depth("7", to="9")) is not None
    later, earlier = depth("13", to="15"), depth("10", to="12")
    assert dedup.admit(later) is later
    assert dedup.take_breaks() == [(DEPTH, GapCause.VERSION_GAP)]
    assert dedup.admit(earlier) is earlier  # not a duplicate: never dropped
    assert dedup.take_breaks() == [(DEPTH, GapCause.OUT_OF_ORDER)]
    assert dedup.admit(depth("10", to="12")) is None  # now it is a duplicate
    assert dedup.admit(depth("16", to="16")) is not None  # in order again: no break
    assert not dedup.take_breaks()
    assert (dedup.stats.out_of_order, dedup.stats.version_gaps) == (1, 1)


def test_one_push_far_ahead_is_one_break_not_a_break_on_every_push_after_it() -> None:
    """A forged or corrupt version far ahead of the stream: the stream after it is
    one out-of-order break, then in sequence again."""
    dedup = Deduplicator()
    for n in range(1, 4):
        assert dedup.admit(depth(str(n))) is not None
    assert dedup.admit(depth("9000000")) is not None
    assert dedup.take_breaks() == [(DEPTH, GapCause.VERSION_GAP)]
    assert dedup.admit(depth("4")) is not None  # the stream goes on below it
    assert dedup.take_breaks() == [(DEPTH, GapCause.OUT_OF_ORDER)]
    for n in range(5, 20):
        assert dedup.admit(depth(str(n))) is not None
    assert not dedup.take_breaks()  # in sequence after the push let through last
    assert dedup.admit(depth("9000000")) is None  # still a duplicate


def test_a_trade_recovered_elsewhere_is_a_duplicate_when_its_push_comes() -> None:
    topic = "spot@private.deals.v3.api.pb"
    dedup = Deduplicator()
    dedup.remember_trade(topic, "")  # no id: nothing to remember
    dedup.remember_trade(topic, "T1")
    late = Push(channel=topic, body=PrivateDealsV3Api(trade_id="T1"))
    assert dedup.admit(late) is None
    fresh = Push(channel=topic, body=PrivateDealsV3Api(trade_id="T2"))
    assert dedup.admit(fresh) is fresh


def test_an_interruption_starts_a_new_run() -> None:
    dedup = Deduplicator()
    dedup.admit(depth("1", to="5"))
    dedup.interrupt(DEPTH)
    dedup.interrupt("spot@public.aggre.depth.v3.api.pb@10ms@ETHUSDT")  # unknown: nothing
    assert dedup.admit(depth("50", to="60")) is not None  # the caller signalled this gap
    assert not dedup.breaks
    assert dedup.admit(depth("3", to="4")) is None  # still remembered as let through
    assert dedup.admit(depth("62")) is not None
    assert dedup.take_breaks() == [(DEPTH, GapCause.VERSION_GAP)]


def test_only_so_many_ranges_are_kept() -> None:
    dedup = Deduplicator()
    for n in range(0, 4 * MAX_RANGES, 2):  # every other version: one range each
        dedup.admit(depth(str(n)))
    dedup.take_breaks()
    assert dedup.admit(depth("0")) is not None  # forgotten: let through (out of order)
    assert dedup.admit(depth(str(4 * MAX_RANGES - 2))) is None


@given(
    st.lists(st.integers(1, 4), min_size=1, max_size=30),
    st.randoms(use_true_random=False),
    st.integers(0, 3),
)
def test_diff_depth_every_version_once_and_every_disorder_recorded(
    sizes: list[int], rng: random.Random, copies: int
) -> None:
    """A contiguous diff stream, repeated and shuffled locally: each range passes once;
    a push is a break exactly when it follows neither the newest version let through
    nor the push let through last."""
    pushes, start = [], 100
    for size in sizes:
        pushes.append((start, start + size - 1))
        start += size
    wire = list(pushes) + [rng.choice(pushes) for _ in range(copies * len(pushes) // 3)]
    for i in range(len(wire) - 1):  # swap some neighbours
        if rng.random() < 0.3:
            wire[i], wire[i + 1] = wire[i + 1], wire[i]
    dedup = Deduplicator()
    delivered: list[tuple[int, int]] = []
    expected_breaks = 0
    for low, high in wire:
        admitted = dedup.admit(depth(str(low), to=str(high)))
        if admitted is None:
            assert (low, high) in delivered
            continue
        assert (low, high) not in delivered
        # in sequence after the newest version, or after the push let through last
        if delivered and low not in (max(h for _, h in delivered) + 1, delivered[-1][1] + 1):
            expected_breaks += 1
        delivered.append((low, high))
    assert sorted(delivered) == pushes
    assert len(dedup.take_breaks()) == expected_breaks
    in_order = all(b[0] == a[1] + 1 for a, b in itertools.pairwise(delivered))
    assert in_order == (expected_breaks == 0)


def test_other_channels_by_identity() -> None:
    dedup = Deduplicator(identity_window=2)
    kline = "spot@public.kline.v3.api.pb@BTCUSDT@Min1"

    def candle(t: int) -> Push:
        return Push(channel=kline, body=PublicSpotKlineV3Api(window_start=t), send_time=t)

    assert dedup.admit(candle(1)) is not None
    assert dedup.admit(candle(1)) is None
    assert dedup.admit(candle(2)) is not None
    assert dedup.admit(candle(3)) is not None
    assert dedup.admit(candle(1)) is not None  # out of the window
    orders = Push(channel="spot@private.orders.v3.api.pb", body=PrivateOrdersV3Api(id="1"))
    assert dedup.admit(orders) is orders
    assert dedup.admit(orders) is None
    dedup.forget(kline)
    assert dedup.admit(candle(3)) is not None


@pytest.mark.parametrize("kwargs", [{"window": 0}, {"identity_window": "1"}])
def test_bad_windows(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidConfig):
        Deduplicator(**kwargs)  # type: ignore[arg-type]


@given(st.lists(st.lists(st.integers(1, 60), max_size=5), max_size=40))
def test_every_trade_id_is_delivered_exactly_once(batches: list[list[int]]) -> None:
    """Two overlapping copies of a stream, interleaved: each id comes out once."""
    dedup = Deduplicator()
    out: list[str] = []
    for batch in batches + batches:
        admitted = dedup.admit(deals(*map(str, batch)))
        if admitted is not None:
            assert isinstance(admitted.body, PublicAggreDealsV3Api)
            out.extend(d.trade_id for d in admitted.body.deals)
    assert sorted(out) == sorted({str(i) for batch in batches for i in batch})


def test_seen_tells_without_remembering() -> None:
    dedup = Deduplicator()
    assert not dedup.seen(deals("1"))
    assert not dedup.seen(depth("5"))
    dedup.admit(deals("1", "2"))
    assert dedup.seen(deals("1"))
    assert dedup.seen(deals("2", "1"))
    assert not dedup.seen(deals("2", "3"))
    assert not dedup.seen(deals(""))  # nothing to compare
    assert not dedup.seen(deals("3"))  # still new: seen() remembers nothing
    dedup.admit(depth("5"))
    assert dedup.seen(depth("5"))
    assert not dedup.seen(depth("4"))  # never let through: not a duplicate
    assert not dedup.seen(depth("6"))
    assert not dedup.seen(depth(""))
    private = Push(channel="spot@private.deals.v3.api.pb", body=PrivateDealsV3Api(trade_id="7"))
    assert not dedup.seen(private)
    dedup.admit(private)
    assert dedup.seen(private)
    kline = Push(channel="spot@public.kline.v3.api.pb@BTCUSDT@Min1", body=PublicSpotKlineV3Api())
    assert not dedup.seen(kline)
    dedup.admit(kline)
    assert dedup.seen(kline)
