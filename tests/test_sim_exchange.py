"""The simulated exchange: seeded markets whose every stream agrees with the true book.

All in virtual time: the exchange is advanced with explicit ``now`` values.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from mexc_core import wire
from mexc_core.channels import parse
from mexc_core.messages import (
    PublicAggreBookTickerV3Api,
    PublicAggreDealsV3Api,
    PublicAggreDepthsV3Api,
    PublicBookTickerBatchV3Api,
    PublicLimitDepthsV3Api,
    PublicMiniTickersV3Api,
    PublicMiniTickerV3Api,
    PublicSpotKlineV3Api,
)
from mexc_sim.exchange import Exchange, ExchangeConfig, ExchangeError, default_markets
from mexc_sim.feeds import FEED_KINDS
from mexc_sim.market import kline_window, timezone_offset
from mexc_sim.rest import HttpCall, RestApi
from tests.google_oracle import assert_identical, google_parse, push_from_google
from tests.sim_helpers import FrameRecorder, NaiveBook, truth_levels

BTC_DEPTH_10 = "spot@public.aggre.depth.v3.api.pb@10ms@BTCUSDT"
BTC_DEPTH_100 = "spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT"

#: One topic of every channel the simulator serves.
EVERY_CHANNEL = (
    "spot@public.aggre.deals.v3.api.pb@10ms@BTCUSDT",
    "spot@public.aggre.deals.v3.api.pb@100ms@ETHUSDT",
    "spot@public.kline.v3.api.pb@BTCUSDT@Min1",
    "spot@public.kline.v3.api.pb@MXUSDT@Month1",
    BTC_DEPTH_10,
    "spot@public.aggre.depth.v3.api.pb@100ms@MXUSDT",
    "spot@public.limit.depth.v3.api.pb@BTCUSDT@5",
    "spot@public.limit.depth.v3.api.pb@ETHUSDT@20",
    "spot@public.aggre.bookTicker.v3.api.pb@10ms@BTCUSDT",
    "spot@public.aggre.bookTicker.v3.api.pb@100ms@MXUSDT",
    "spot@public.bookTicker.batch.v3.api.pb@ETHUSDT",
    "spot@public.miniTickers.v3.api.pb@UTC+8",
    "spot@public.miniTicker.v3.api.pb@BTCUSDT@UTC+5:30",
    "spot@public.miniTicker.v3.api.pb@MXUSDT@24H",
    "spot@public.increase.depth.batch.v3.api.pb@MXUSDT",
)


def record(exchange: Exchange, topics: tuple[str, ...], until: float, step: float) -> FrameRecorder:
    rec = FrameRecorder()
    for topic in topics:
        exchange.subscribe(rec, topic, 0.0)
    now = 0.0
    while now < until:
        now = min(until, now + step)
        exchange.advance(now)
    return rec


def test_every_served_channel_is_covered() -> None:
    assert {parse(t).spec.name for t in EVERY_CHANNEL} == FEED_KINDS


def test_same_seed_same_stream_whatever_the_steps() -> None:
    a = record(Exchange(ExchangeConfig(seed=7)), EVERY_CHANNEL, 12.0, 12.0)
    b = record(Exchange(ExchangeConfig(seed=7)), EVERY_CHANNEL, 12.0, 0.037)
    assert len(a.frames) > 500
    assert a.frames == b.frames
    c = record(Exchange(ExchangeConfig(seed=8)), EVERY_CHANNEL, 12.0, 12.0)
    assert c.frames != a.frames


def test_a_market_does_not_depend_on_who_watches_it() -> None:
    watched, unwatched = Exchange(), Exchange()
    record(watched, (BTC_DEPTH_10, "spot@public.miniTickers.v3.api.pb@24H"), 20.0, 0.5)
    unwatched.advance(20.0)
    assert watched.book("BTCUSDT") == unwatched.market("BTCUSDT", 20.0).snapshot()
    assert watched.markets["BTCUSDT"].trades == unwatched.markets["BTCUSDT"].trades


@pytest.mark.parametrize("topic", [BTC_DEPTH_10, BTC_DEPTH_100])
def test_diff_depth_versions_are_exact_and_rebuild_the_true_book(topic: str) -> None:
    exchange = Exchange()
    start = exchange.book("BTCUSDT")
    spec = exchange.markets["BTCUSDT"].spec
    local = NaiveBook(
        [[spec.price_text(p), spec.quantity_text(q)] for p, q in start.bids],
        [[spec.price_text(p), spec.quantity_text(q)] for p, q in start.asks],
        start.version,
    )
    rec = record(exchange, (topic,), 30.0, 1.0)
    pushes = rec.pushes()
    assert len(pushes) > 50
    for push in pushes:
        body = push.body
        assert isinstance(body, PublicAggreDepthsV3Api)
        assert int(body.from_version) == local.version + 1
        assert int(body.to_version) >= int(body.from_version)
        assert body.event_type == topic.rsplit("@", 1)[0]
        local.apply(body)
        truth = exchange.book("BTCUSDT", int(body.to_version))
        assert local.as_levels() == truth_levels(truth, spec)
        assert body.last_order_create_time == truth.time
    assert local.version == exchange.markets["BTCUSDT"].version
    if topic == BTC_DEPTH_100:
        # Aggregation: 100 ms pushes often span several versions.
        assert any(int(p.body.to_version) > int(p.body.from_version) for p in pushes)  # type: ignore[union-attr]


def test_the_documented_snapshot_procedure_syncs_with_rest_depth() -> None:
    """MEXC's steps (docs/protocol.rst, "Keeping a local order book").

    Buffer, snapshot, drop stale, check, apply.
    """
    exchange = Exchange()
    rec = FrameRecorder()
    exchange.subscribe(rec, BTC_DEPTH_10, 0.0)
    exchange.advance(2.0)
    snapshot = (
        RestApi(exchange)
        .handle(
            HttpCall(method="GET", path="/api/v3/depth", query="symbol=BTCUSDT&limit=5000"), 2.0
        )
        .json()
    )
    exchange.advance(6.0)
    buffered = [p.body for p in rec.pushes()]
    assert isinstance(buffered[0], PublicAggreDepthsV3Api)
    last = snapshot["lastUpdateId"]
    assert last >= int(buffered[0].from_version)
    remaining = [
        b for b in buffered if isinstance(b, PublicAggreDepthsV3Api) and int(b.to_version) > last
    ]
    assert int(remaining[0].from_version) <= last + 1
    local = NaiveBook(snapshot["bids"], snapshot["asks"], last)
    for body in remaining:
        local.apply(body)
    spec = exchange.markets["BTCUSDT"].spec
    assert local.as_levels() == truth_levels(exchange.book("BTCUSDT", local.version), spec)


def test_limit_depth_and_book_tickers_show_the_book_at_their_version() -> None:
    exchange = Exchange()
    topics = (
        "spot@public.limit.depth.v3.api.pb@BTCUSDT@5",
        "spot@public.aggre.bookTicker.v3.api.pb@10ms@BTCUSDT",
        "spot@public.bookTicker.batch.v3.api.pb@BTCUSDT",
    )
    rec = record(exchange, topics, 10.0, 0.25)
    spec = exchange.markets["BTCUSDT"].spec
    seen = set()
    for push in rec.pushes():
        body = push.body
        seen.add(type(body).__name__)
        version = int(getattr(body, "version"))  # noqa: B009 - every body here has one
        truth = exchange.book("BTCUSDT", version)
        bid, ask = truth.bids[0], truth.asks[0]
        if isinstance(body, PublicLimitDepthsV3Api):
            assert body.event_type == "spot@public.limit.depth.v3.api.pb"
            assert [(i.price, i.quantity) for i in body.bids] == [
                (spec.price_text(p), spec.quantity_text(q)) for p, q in truth.bids[:5]
            ]
            assert len(body.asks) == 5
        elif isinstance(body, PublicAggreBookTickerV3Api):
            assert (body.bid_price, body.bid_quantity) == (
                spec.price_text(bid[0]),
                spec.quantity_text(bid[1]),
            )
            assert (body.ask_price, body.ask_quantity) == (
                spec.price_text(ask[0]),
                spec.quantity_text(ask[1]),
            )
        else:
            assert isinstance(body, PublicBookTickerBatchV3Api)
            (item,) = body.items
            assert item.bid_price == spec.price_text(bid[0])
    assert len(seen) == 3


def test_trades_klines_and_tickers_agree() -> None:
    exchange = Exchange()
    deals = "spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT"
    kline = "spot@public.kline.v3.api.pb@BTCUSDT@Min1"
    ticker = "spot@public.miniTicker.v3.api.pb@BTCUSDT@UTC+0"
    tickers = "spot@public.miniTickers.v3.api.pb@UTC+0"
    rec = record(exchange, (deals, kline, ticker, tickers), 59.0, 1.0)
    trades = [
        d
        for p in rec.pushes(deals)
        if isinstance(p.body, PublicAggreDealsV3Api)
        for d in p.body.deals
    ]
    assert len(trades) > 20
    ids = [int(t.trade_id) for t in trades]
    assert ids == list(range(ids[0], ids[0] + len(ids)))  # contiguous: no trade lost
    assert {t.trade_type for t in trades} == {1, 2}
    klines = rec.pushes(kline)
    assert len(klines) == 59  # one per second
    last = klines[-1].body
    assert isinstance(last, PublicSpotKlineV3Api)
    start, end = kline_window("Min1", klines[-1].send_time or 0)
    assert (last.window_start, last.window_end) == (start, end)
    window = [t for t in trades if start * 1000 <= t.time < end * 1000]
    prices = [Decimal(t.price) for t in window]
    assert Decimal(last.highest_price) == max(prices)
    assert Decimal(last.lowest_price) == min(prices)
    assert Decimal(last.closing_price) == prices[-1]
    assert Decimal(last.volume) == sum(Decimal(t.quantity) for t in window)
    minis = rec.pushes(ticker)
    assert len(minis) == 19  # every 3 s
    mini = minis[-1].body
    assert isinstance(mini, PublicMiniTickerV3Api)
    assert mini.symbol == "BTCUSDT"
    before = [t for t in trades if t.time <= (minis[-1].send_time or 0)]
    assert mini.price == before[-1].price
    assert Decimal(mini.quantity) == sum(Decimal(t.quantity) for t in before)
    batch = rec.pushes(tickers)[-1]
    assert batch.symbol is None
    assert isinstance(batch.body, PublicMiniTickersV3Api)
    assert {i.symbol for i in batch.body.items} <= set(exchange.markets)
    for push in rec.pushes(deals):
        assert isinstance(push.body, PublicAggreDealsV3Api)
        assert push.body.event_type == "spot@public.aggre.deals.v3.api.pb@100ms"
        assert push.symbol == "BTCUSDT"


def test_every_frame_reads_the_same_with_google_runtime() -> None:
    rec = record(Exchange(), EVERY_CHANNEL, 7.0, 0.5)
    kinds = set()
    for _now, topic, frame in rec.frames:
        ours = wire.decode_push(frame)
        assert ours.channel == topic
        assert not ours.unknown_fields
        google = push_from_google(google_parse(frame))
        assert google is not None
        assert_identical(ours, google)
        assert google_parse(frame).SerializeToString() == frame
        kinds.add(type(ours.body).__name__)
    assert len(kinds) == 9


def test_the_truth_is_kept_for_recent_versions_only() -> None:
    exchange = Exchange(ExchangeConfig(markets=default_markets(1)))
    exchange.advance(5.0)
    market = exchange.markets["BTCUSDT"]
    with pytest.raises(LookupError, match="not yet"):
        exchange.book("BTCUSDT", market.version + 1)
    assert exchange.book("BTCUSDT", market.oldest_version).version == market.oldest_version
    with pytest.raises(ExchangeError) as info:
        exchange.book("NOPEUSDT")
    assert (info.value.status, info.value.code) == (400, 30014)


def test_many_markets_run_lazily() -> None:
    exchange = Exchange(ExchangeConfig(markets=default_markets(500)))
    assert len(exchange.markets) == 500
    assert "SIM001USDT" in exchange.markets
    rec = FrameRecorder()
    exchange.subscribe(rec, "spot@public.aggre.depth.v3.api.pb@100ms@SIM123USDT", 0.0)
    exchange.advance(30.0)
    # Only the watched market ran; the others wait until someone looks.
    assert exchange.markets["SIM122USDT"].time == exchange.config.start_ms
    assert rec.frames


def test_kline_windows_and_time_zones() -> None:
    may_20 = 1_779_278_400_000  # 2026-05-20T12:00:00Z, a Wednesday
    assert kline_window("Min5", may_20 + 61_000) == (1_779_278_400, 1_779_278_700)
    assert kline_window("Week1", may_20) == (1_779_062_400, 1_779_667_200)  # Mon 18 .. Mon 25
    assert kline_window("Month1", may_20) == (1_777_593_600, 1_780_272_000)  # May 1 .. June 1
    assert kline_window("Month1", 1_796_083_200_000) == (1_796_083_200, 1_798_761_600)  # Dec
    assert timezone_offset("UTC+12:45") == 765
    assert timezone_offset("UTC-3") == -180
