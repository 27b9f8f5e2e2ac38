"""Deduplication: trades by id, books and tickers by version, the rest by identity."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mexc_core.client.dedup import Deduplicator
from mexc_core.errors import InvalidConfig
from mexc_core.events import Push
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


def depth(version: str, topic: str = DEPTH) -> Push:
    body = PublicAggreDepthsV3Api(from_version=version, to_version=version)
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


def test_versions_follow_the_diff_depth_rule() -> None:
    dedup = Deduplicator()
    assert dedup.admit(depth("10")) is not None
    assert dedup.admit(depth("10")) is None
    assert dedup.admit(depth("9")) is None
    assert dedup.admit(depth("11")) is not None
    assert dedup.admit(depth("")) is not None  # not comparable: passes
    limit = "spot@public.limit.depth.v3.api.pb@BTCUSDT@5"
    assert dedup.admit(Push(channel=limit, body=PublicLimitDepthsV3Api(version="3"))) is not None
    assert dedup.admit(Push(channel=limit, body=PublicLimitDepthsV3Api(version="3"))) is None
    ticker = "spot@public.aggre.bookTicker.v3.api.pb@100ms@BTCUSDT"
    assert dedup.admit(Push(channel=ticker, body=PublicAggreBookTickerV3Api(version="1")))
    dedup.forget(DEPTH)
    assert dedup.admit(depth("5")) is not None


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
    assert dedup.seen(depth("4"))
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
