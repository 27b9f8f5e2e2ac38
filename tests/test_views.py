"""The views of a push: one line of text (``mexc watch``) and readable JSON (``--json``).

The readable JSON keys are a stable contract (docs/records.rst): the tests below pin
them, so changing one means changing this file and the docs on purpose.
"""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given

from mexc_core import wire
from mexc_core._pbwire import UnknownField
from mexc_core.events import Push
from mexc_core.messages import (
    ACCESSORS,
    FIELDS,
    RECORD_TYPES,
    AccessorKind,
    PrivateAccountV3Api,
    PrivateDealsV3Api,
    PrivateOrdersV3Api,
    PublicAggreBookTickerV3Api,
    PublicAggreDealsV3ApiItem,
    PublicAggreDepthsV3Api,
    PublicAggreDepthV3ApiItem,
    PublicBookTickerBatchV3Api,
    PublicBookTickerV3Api,
    PublicDealsV3Api,
    PublicDealsV3ApiItem,
    PublicIncreaseDepthsBatchV3Api,
    PublicIncreaseDepthsV3Api,
    PublicIncreaseDepthV3ApiItem,
    PublicLimitDepthsV3Api,
    PublicLimitDepthV3ApiItem,
    PublicMiniTickersV3Api,
    PublicMiniTickerV3Api,
    PublicSpotKlineV3Api,
    Record,
    UnknownBody,
)
from mexc_core.testing import strategies as mst

# Test vector V2 (docs/protocol.rst): one aggre.deals push.
V2 = bytes.fromhex(
    "0a2f73706f74407075626c69632e61676772652e6465616c732e76332e6170692e7062403130306d73"
    "40425443555344541a074254435553445430bca9d9d0c432d2134a0a1f0a0839333232302e3030120a"
    "302e3034343338323433180220bba9d9d0c432122773706f74407075626c69632e61676772652e6465"
    "616c732e76332e6170692e7062403130306d73"
)

#: The readable keys each record type adds to its raw keys: the --json contract.
READABLE_KEYS: dict[str, tuple[str, ...]] = {
    "PrivateAccountV3Api": ("change_type", "time_utc"),
    "PrivateDealsV3Api": ("side", "time_utc"),
    "PrivateOrdersV3Api": ("order_kind", "side", "order_status", "create_time_utc"),
    "PublicAggreBookTickerV3Api": ("last_order_create_time_utc",),
    "PublicAggreDealsV3Api": (),
    "PublicAggreDealsV3ApiItem": ("side", "time_utc"),
    "PublicAggreDepthV3ApiItem": (),
    "PublicAggreDepthsV3Api": ("last_order_create_time_utc",),
    "PublicBookTickerBatchV3Api": ("last_order_create_time_utc",),
    "PublicBookTickerV3Api": (),
    "PublicDealsV3Api": (),
    "PublicDealsV3ApiItem": ("side", "time_utc"),
    "PublicIncreaseDepthV3ApiItem": (),
    "PublicIncreaseDepthsBatchV3Api": (),
    "PublicIncreaseDepthsV3Api": (),
    "PublicLimitDepthV3ApiItem": (),
    "PublicLimitDepthsV3Api": ("last_order_create_time_utc",),
    "PublicMiniTickerV3Api": (),
    "PublicMiniTickersV3Api": (),
    "PublicSpotKlineV3Api": ("window_start_utc", "window_end_utc"),
}
PUSH_KEYS = (
    "channel",
    "symbol",
    "symbol_id",
    "create_time",
    "create_time_utc",
    "send_time",
    "send_time_utc",
    "body_type",
    "body",
)


def test_the_readable_keys_are_pinned() -> None:
    assert set(READABLE_KEYS) == set(RECORD_TYPES)
    for name, keys in READABLE_KEYS.items():
        cls = RECORD_TYPES[name]
        readable = [a.name for a in ACCESSORS[cls] if a.kind is not AccessorKind.DECIMAL]
        assert tuple(readable) == keys, name
        record = wire.record_as_dict(cls(), readable=True)
        assert list(record) == _interleaved(cls), name


def _interleaved(cls: type[Record]) -> list[str]:
    """Each readable key right after the raw key of its field."""
    after = {a.field: a.name for a in ACCESSORS[cls] if a.kind is not AccessorKind.DECIMAL}
    out: list[str] = []
    for info in FIELDS[cls]:
        out.append(info.attr)
        if info.attr in after:
            out.append(after[info.attr])
    return out


def test_readable_json_of_vector_v2() -> None:
    push = wire.decode_push(V2)
    assert wire.push_as_dict(push, readable=True) == {
        "channel": "spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT",
        "symbol": "BTCUSDT",
        "symbol_id": None,
        "create_time": None,
        "create_time_utc": None,
        "send_time": 1736409765052,
        "send_time_utc": "2025-01-09T08:02:45.052Z",
        "body_type": "PublicAggreDealsV3Api",
        "body": {
            "deals": [
                {
                    "price": "93220.00",
                    "quantity": "0.04438243",
                    "trade_type": 2,
                    "side": "SELL",
                    "time": 1736409765051,
                    "time_utc": "2025-01-09T08:02:45.051Z",
                    "trade_id": "",
                }
            ],
            "event_type": "spot@public.aggre.deals.v3.api.pb@100ms",
        },
    }
    assert list(wire.push_as_dict(push, readable=True)) == list(PUSH_KEYS)


def test_readable_json_of_an_order_and_of_unknown_codes() -> None:
    order = PrivateOrdersV3Api(order_type=5, trade_type=2, status=9, create_time=1736417034259)
    body = wire.record_as_dict(order, readable=True)
    assert body["order_type"] == 5
    assert body["order_kind"] == "MARKET_ORDER"
    assert body["side"] == "SELL"
    assert body["status"] == 9
    assert body["order_status"] == "UNKNOWN"
    assert body["create_time_utc"] == "2025-01-09T10:03:54.259Z"
    account = wire.record_as_dict(PrivateAccountV3Api(type="NEW_KIND"), readable=True)
    assert account["type"] == "NEW_KIND"
    assert account["change_type"] == "UNKNOWN"
    assert account["time_utc"] is None


@given(mst.pushes(unknown_bodies=True, max_items=2))
def test_readable_json_adds_keys_and_changes_none(push: Push) -> None:
    raw = wire.push_as_dict(push)
    readable = wire.push_as_dict(push, readable=True)
    json.dumps(readable)  # JSON-ready
    _same_raw(raw, readable)
    if isinstance(push.body, UnknownBody):
        assert readable["body"] == raw["body"]


def _same_raw(raw: object, readable: object) -> None:
    """Every raw key keeps its value; the extra keys are strings or null."""
    if isinstance(raw, list):
        assert isinstance(readable, list)
        assert len(raw) == len(readable)
        for r, x in zip(raw, readable, strict=True):
            _same_raw(r, x)
    elif isinstance(raw, dict):
        assert isinstance(readable, dict)
        assert set(raw) <= set(readable)
        for key, value in raw.items():
            _same_raw(value, readable[key])
        for key in set(readable) - set(raw):
            assert readable[key] is None or isinstance(readable[key], str), key
    else:
        assert raw == readable


def test_raw_json_is_unchanged() -> None:
    push = wire.decode_push(V2)
    assert "send_time_utc" not in wire.push_as_dict(push)
    deal = wire.push_as_dict(push)["body"]
    assert isinstance(deal, dict)
    assert deal["deals"] == [
        {
            "price": "93220.00",
            "quantity": "0.04438243",
            "trade_type": 2,
            "time": 1736409765051,
            "trade_id": "",
        }
    ]


# ---------------------------------------------------------------- text


def _push(channel: str, body: Record | UnknownBody, **kw: object) -> Push:
    return Push(channel=channel, body=body, **kw)  # type: ignore[arg-type]


DEPTH = PublicAggreDepthV3ApiItem
LIMIT = PublicLimitDepthV3ApiItem
TEXTS: list[tuple[Push, str]] = [
    (
        wire.decode_push(V2),
        "2025-01-09T08:02:45.052Z spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT "
        "SELL 0.04438243 @ 93220.00",
    ),
    (
        _push(
            "spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT",
            PublicAggreDepthsV3Api(
                bids=(DEPTH("100", "4"),), from_version="10023", to_version="10023"
            ),
            symbol="BTCUSDT",
            send_time=1778075380657,
        ),
        "2026-05-06T13:49:40.657Z spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT "
        "v10023..10023 bids 100 x 4; asks -",
    ),
    (
        _push(
            "spot@public.limit.depth.v3.api.pb@BTCUSDT@5",
            PublicLimitDepthsV3Api(
                asks=(LIMIT("101", "2"), LIMIT("102", "1.5")),
                bids=(LIMIT("100", "4"),),
                version="10023",
            ),
            symbol="BTCUSDT",
        ),
        "- spot@public.limit.depth.v3.api.pb@BTCUSDT@5 v10023 bids 100 x 4; asks 101 x 2, "
        "102 x 1.5",
    ),
    (
        _push(
            "spot@public.aggre.bookTicker.v3.api.pb@100ms@BTCUSDT",
            PublicAggreBookTickerV3Api("100", "4", "", "", "10023", 1778075380572),
            create_time=1778075380657,
        ),
        "2026-05-06T13:49:40.657Z spot@public.aggre.bookTicker.v3.api.pb@100ms@BTCUSDT "
        "bid 100 x 4, ask - v10023",
    ),
    (
        _push(
            "spot@public.bookTicker.batch.v3.api.pb@BTCUSDT",
            PublicBookTickerBatchV3Api(items=(PublicBookTickerV3Api("100", "4", "101", ""),)),
        ),
        "- spot@public.bookTicker.batch.v3.api.pb@BTCUSDT bid 100 x 4, ask 101 x -",
    ),
    (
        _push(
            "spot@public.kline.v3.api.pb@BTCUSDT@Min15",
            PublicSpotKlineV3Api(
                "Min15",
                1736410500,
                "92925",
                "93158.47",
                "93158.47",
                "92800",
                "36.83803224",
                "3424811.05",
                1736411400,
            ),
            symbol="BTCUSDT",
            create_time=1736410707571,
        ),
        "2025-01-09T08:18:27.571Z spot@public.kline.v3.api.pb@BTCUSDT@Min15 Min15 "
        "2025-01-09T08:15:00.000Z..2025-01-09T08:30:00.000Z open 92925 high 93158.47 "
        "low 92800 close 93158.47 volume 36.83803224 amount 3424811.05",
    ),
    (
        _push(
            "spot@public.miniTickers.v3.api.pb@UTC+8",
            PublicMiniTickersV3Api(
                items=tuple(
                    PublicMiniTickerV3Api(symbol=f"S{i}USDT", price=f"{i}.5", rate="0.01")
                    for i in range(7)
                )
            ),
        ),
        "- spot@public.miniTickers.v3.api.pb@UTC+8 7 tickers: S0USDT 0.5 rate 0.01, "
        "S1USDT 1.5 rate 0.01, S2USDT 2.5 rate 0.01, S3USDT 3.5 rate 0.01, "
        "S4USDT 4.5 rate 0.01, ... (+2)",
    ),
    (
        _push("spot@public.miniTickers.v3.api.pb@UTC+8", PublicMiniTickersV3Api()),
        "- spot@public.miniTickers.v3.api.pb@UTC+8 0 tickers: -",
    ),
    (
        _push(
            "spot@public.miniTicker.v3.api.pb@BTCUSDT@UTC+8",
            PublicMiniTickerV3Api(
                symbol="BTCUSDT",
                price="93220.00",
                rate="0.0123",
                high="94000",
                low="92000",
                volume="123456.78",
            ),
        ),
        "- spot@public.miniTicker.v3.api.pb@BTCUSDT@UTC+8 BTCUSDT 93220.00 rate 0.0123 "
        "high 94000 low 92000 volume 123456.78",
    ),
    (
        _push(
            "spot@private.account.v3.api.pb",
            PrivateAccountV3Api(
                "USDT", "128f", "21.94210356004384", "10", "0", "0", "CONTRACT_TRANSFER", 1
            ),
            send_time=1736417034307,
        ),
        "2025-01-09T10:03:54.307Z spot@private.account.v3.api.pb USDT CONTRACT_TRANSFER "
        "available 21.94210356004384 (change 10) frozen 0 (change 0)",
    ),
    (
        _push("spot@private.account.v3.api.pb", PrivateAccountV3Api(type="NEW_KIND")),
        "- spot@private.account.v3.api.pb - NEW_KIND available - (change -) frozen - (change -)",
    ),
    (
        _push(
            "spot@private.deals.v3.api.pb",
            PrivateDealsV3Api(
                price="3.6962",
                quantity="1",
                amount="3.6962",
                trade_type=2,
                is_maker=True,
                trade_id="505979017439002624X1",
                order_id="C02__505979017439002624115",
                fee_amount="0.0003998377369698171",
                fee_currency="MX",
            ),
            symbol="MXUSDT",
            send_time=1736417034332,
        ),
        "2025-01-09T10:03:54.332Z spot@private.deals.v3.api.pb MXUSDT SELL 1 @ 3.6962 = "
        "3.6962 fee 0.0003998377369698171 MX maker order C02__505979017439002624115 "
        "trade 505979017439002624X1",
    ),
    (
        _push(
            "spot@private.orders.v3.api.pb",
            PrivateOrdersV3Api(
                client_id="C02__505979017439002624115",
                price="3.5121",
                quantity="1",
                avg_price="3.6962",
                order_type=5,
                trade_type=2,
                cumulative_quantity="1",
                status=2,
            ),
            symbol="MXUSDT",
            send_time=1736417034281,
        ),
        "2025-01-09T10:03:54.281Z spot@private.orders.v3.api.pb MXUSDT SELL MARKET_ORDER "
        "FULLY_TRADED 1 @ 3.5121 filled 1 avg 3.6962 order C02__505979017439002624115",
    ),
    (
        _push(
            "spot@private.orders.v3.api.pb",
            PrivateOrdersV3Api(id="42", order_type=7, trade_type=3, status=9),
        ),
        "- spot@private.orders.v3.api.pb UNKNOWN(3) UNKNOWN(7) UNKNOWN(9) - @ - filled - "
        "avg - order 42",
    ),
    (
        _push(
            "spot@public.increase.depth.batch.v3.api.pb@BTCUSDT",
            PublicIncreaseDepthsBatchV3Api(
                items=(
                    PublicIncreaseDepthsV3Api(
                        bids=(PublicIncreaseDepthV3ApiItem("1", "2"),), version="5"
                    ),
                    PublicIncreaseDepthsV3Api(version="6"),
                )
            ),
        ),
        "- spot@public.increase.depth.batch.v3.api.pb@BTCUSDT v5 bids 1 x 2; asks - / "
        "v6 bids -; asks -",
    ),
    (
        _push(
            "spot@public.deals.v3.api.pb@BTCUSDT",
            PublicDealsV3Api(deals=(PublicDealsV3ApiItem("1", "2", 1), PublicDealsV3ApiItem())),
        ),
        "- spot@public.deals.v3.api.pb@BTCUSDT BUY 2 @ 1, UNKNOWN(0) - @ -",
    ),
    (
        _push(
            "spot@public.new\nchannel",
            UnknownBody(316, b"abc"),
            symbol="X\u2028Y",
            unknown_fields=(UnknownField("PushDataV3ApiWrapper", 7, 0),),
        ),
        "- spot@public.new\\nchannel X\\u2028Y unknown body 316 (3 bytes) (+1 unknown fields)",
    ),
]


@pytest.mark.parametrize(("push", "text"), TEXTS)
def test_push_as_text(push: Push, text: str) -> None:
    assert wire.push_as_text(push) == text


def test_every_body_type_has_a_text_example() -> None:
    shown = {type(push.body).__name__ for push, _ in TEXTS}
    bodies = {name for name in RECORD_TYPES if not name.endswith("Item")}
    assert bodies - shown == {"PublicBookTickerV3Api", "PublicIncreaseDepthsV3Api"}
    # those two are shown inside batches; as bodies of their own:
    assert (
        wire.record_as_text(PublicBookTickerV3Api(bid_price="1", bid_quantity="2"))
        == "bid 1 x 2, ask -"
    )
    assert wire.record_as_text(PublicIncreaseDepthsV3Api(version="9")) == "v9 bids -; asks -"


def test_other_records_read_as_name_and_fields() -> None:
    item = PublicAggreDealsV3ApiItem("1", "2", 1, 1736409765051, "t1")
    assert (
        wire.record_as_text(item) == "PublicAggreDealsV3ApiItem price=1 quantity=2 side=BUY "
        "time_utc=2025-01-09T08:02:45.051Z trade_id=t1"
    )
    assert (
        wire.record_as_text(PublicDealsV3ApiItem(trade_type=5))
        == "PublicDealsV3ApiItem price=- quantity=- side=UNKNOWN(5) time_utc=-"
    )
    assert (
        wire.record_as_text(PublicAggreDepthV3ApiItem("1", ""))
        == "PublicAggreDepthV3ApiItem price=1 quantity=-"
    )


def test_the_generic_text_shows_repeated_and_optional_fields() -> None:
    """A body without a form of its own (a new channel's) reads field by field."""
    record = PrivateOrdersV3Api(id="1", state=3, is_maker=True)
    text = wire._generic(record)
    assert text.startswith("PrivateOrdersV3Api id=1 client_id=- price=- ")
    assert " order_kind=UNKNOWN(0) side=UNKNOWN(0) is_maker=True " in text
    assert " last_deal_quantity=- " in text
    assert " create_time_utc=- market=- trigger_type=- trigger_price=- state=3 " in text
    assert wire._generic(PublicMiniTickersV3Api()) == "PublicMiniTickersV3Api items=[0 items]"


@given(mst.pushes(unknown_bodies=True, max_items=3))
def test_push_as_text_is_one_printable_line_for_any_push(push: Push) -> None:
    text = wire.push_as_text(push)
    assert text.isprintable()  # one line: newlines and the like are escaped
    stamp = text.split(" ", 1)[0]
    assert stamp == "-" or re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stamp)
    assert (stamp == "-") == (push.send_time_utc is None and push.create_time_utc is None)


@given(mst.pushes(consistent=True, max_items=3))
def test_push_as_text_starts_with_the_send_time(push: Push) -> None:
    text = wire.push_as_text(push)
    assert push.send_time_utc is not None
    assert text.startswith(push.send_time_utc.strftime("%Y-%m-%dT%H:%M:%S."))
    assert push.channel in text
