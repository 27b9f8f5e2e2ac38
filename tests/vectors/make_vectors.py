"""Write ``push_frames.json``: golden push frames for every message type.

Run from the repository root: ``uv run python -m tests.vectors.make_vectors``.

Each vector is written by Google's protobuf runtime (compiled from ``proto/``) from
a proto-JSON description, never by our encoder, and its expected decoding is derived
from that description by renaming fields (``fromVersion`` -> ``from_version``), not
by our decoder. The values follow MEXC's documented samples where there are some
(docs/protocol.rst, "Wire test vectors"). ``tests/test_vectors.py`` checks that our
decoder reads each frame exactly, that our encoder writes the same bytes, and that
Google still writes them (so the file cannot go stale silently).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from google.protobuf import json_format

from codegen import oracle
from mexc_core.messages import BODY_FIELDS, FIELDS, RECORD_TYPES, WRAPPER_FIELDS, FieldInfo

OUT = Path(__file__).with_name("push_frames.json")

DEPTH_EVENT = "spot@public.aggre.depth.v3.api.pb@100ms"
DEALS_EVENT = "spot@public.aggre.deals.v3.api.pb@100ms"

#: name -> proto-JSON of a PushDataV3ApiWrapper (int64 may be given as numbers).
VECTORS: dict[str, dict[str, Any]] = {
    "spec_v1_aggre_depth": {
        "channel": DEPTH_EVENT + "@BTCUSDT",
        "symbol": "BTCUSDT",
        "sendTime": 1778075380657,
        "publicAggreDepths": {
            "bids": [{"price": "100", "quantity": "4"}],
            "eventType": DEPTH_EVENT,
            "fromVersion": "10023",
            "toVersion": "10023",
            "lastOrderCreateTime": 1778075380572,
        },
    },
    "spec_v2_aggre_deals": {
        "channel": DEALS_EVENT + "@BTCUSDT",
        "symbol": "BTCUSDT",
        "sendTime": 1736409765052,
        "publicAggreDeals": {
            "deals": [
                {
                    "price": "93220.00",
                    "quantity": "0.04438243",
                    "tradeType": 2,
                    "time": 1736409765051,
                }
            ],
            "eventType": DEALS_EVENT,
        },
    },
    "aggre_deals_with_trade_ids": {
        "channel": "spot@public.aggre.deals.v3.api.pb@10ms@ETHUSDT",
        "symbol": "ETHUSDT",
        "sendTime": 1778075380700,
        "publicAggreDeals": {
            "deals": [
                {
                    "price": "3051.27",
                    "quantity": "1.2046",
                    "tradeType": 1,
                    "time": 1778075380690,
                    "tradeId": "605979017439002624",
                },
                {
                    "price": "3051.28",
                    "quantity": "0.0100",
                    "tradeType": 2,
                    "time": 1778075380695,
                    "tradeId": "605979017439002625",
                },
            ],
            "eventType": "spot@public.aggre.deals.v3.api.pb@10ms",
        },
    },
    "aggre_depth_removal_and_asks": {
        "channel": "spot@public.aggre.depth.v3.api.pb@10ms@BTCUSDT",
        "symbol": "BTCUSDT",
        "sendTime": 1778075380660,
        "publicAggreDepths": {
            "asks": [
                {"price": "93220.01", "quantity": "0.51230000"},
                {"price": "93221.50", "quantity": "0"},
            ],
            "bids": [{"price": "93219.99", "quantity": "1.00000000"}],
            "eventType": "spot@public.aggre.depth.v3.api.pb@10ms",
            "fromVersion": "38176491001",
            "toVersion": "38176491004",
            "lastOrderCreateTime": 1778075380655,
        },
    },
    "kline_min15": {
        "channel": "spot@public.kline.v3.api.pb@BTCUSDT@Min15",
        "symbol": "BTCUSDT",
        "symbolId": "2fb942154ef44a4ab2ef98c8afb6a4a7",
        "createTime": 1736410707571,
        "publicSpotKline": {
            "interval": "Min15",
            "windowStart": 1736410500,
            "openingPrice": "92925",
            "closingPrice": "93158.47",
            "highestPrice": "93158.47",
            "lowestPrice": "92800",
            "volume": "36.83803224",
            "amount": "3424811.05",
            "windowEnd": 1736411400,
        },
    },
    "limit_depth_5": {
        "channel": "spot@public.limit.depth.v3.api.pb@BTCUSDT@5",
        "symbol": "BTCUSDT",
        "sendTime": 1778075380657,
        "publicLimitDepths": {
            "asks": [{"price": "101", "quantity": "2"}],
            "bids": [{"price": "100", "quantity": "4"}, {"price": "99.5", "quantity": "7.25"}],
            "eventType": "spot@public.limit.depth.v3.api.pb",
            "version": "10023",
            "lastOrderCreateTime": 1778075380572,
        },
    },
    "aggre_book_ticker_empty_ask": {
        "channel": "spot@public.aggre.bookTicker.v3.api.pb@100ms@BTCUSDT",
        "symbol": "BTCUSDT",
        "sendTime": 1778075380657,
        "publicAggreBookTicker": {
            "bidPrice": "100",
            "bidQuantity": "4",
            "version": "10023",
            "lastOrderCreateTime": 1778075380572,
        },
    },
    "book_ticker_batch": {
        "channel": "spot@public.bookTicker.batch.v3.api.pb@BTCUSDT",
        "symbol": "BTCUSDT",
        "sendTime": 1778075380657,
        "publicBookTickerBatch": {
            "items": [
                {
                    "bidPrice": "93219.99",
                    "bidQuantity": "1.5",
                    "askPrice": "93220.01",
                    "askQuantity": "0.25",
                },
                {
                    "bidPrice": "93220.00",
                    "bidQuantity": "0.8",
                    "askPrice": "93220.01",
                    "askQuantity": "0.2",
                },
            ],
            "version": "10024",
            "lastOrderCreateTime": 1778075380600,
        },
    },
    "mini_tickers_utc8": {
        "channel": "spot@public.miniTickers.v3.api.pb@UTC+8",
        "sendTime": 1755072000000,
        "publicMiniTickers": {
            "items": [
                {
                    "symbol": "BTCUSDT",
                    "price": "93220.00",
                    "rate": "0.0123",
                    "zonedRate": "0.0119",
                    "high": "94000.00",
                    "low": "91000.00",
                    "volume": "1234567890.12",
                    "quantity": "13245.678",
                    "lastCloseRate": "0.0101",
                    "lastCloseZonedRate": "0.0100",
                    "lastCloseHigh": "94100.00",
                    "lastCloseLow": "90900.00",
                },
                {"symbol": "MXUSDT", "price": "2.9871", "rate": "-0.0041"},
            ]
        },
    },
    "mini_ticker_tz_half_hour": {
        "channel": "spot@public.miniTicker.v3.api.pb@MXUSDT@UTC+5:30",
        "symbol": "MXUSDT",
        "sendTime": 1755072003000,
        "publicMiniTicker": {
            "symbol": "MXUSDT",
            "price": "2.9871",
            "rate": "-0.0041",
            "zonedRate": "-0.0037",
            "high": "3.0100",
            "low": "2.9500",
            "volume": "8123456.7",
            "quantity": "2716543.2",
        },
    },
    "private_account": {
        "channel": "spot@private.account.v3.api.pb",
        "createTime": 1736417034305,
        "sendTime": 1736417034307,
        "privateAccount": {
            "vcoinName": "USDT",
            "coinId": "128f589271cb4951b03e71e6323eb7be",
            "balanceAmount": "21.94210356004384",
            "balanceAmountChange": "10",
            "frozenAmount": "0",
            "frozenAmountChange": "0",
            "type": "CONTRACT_TRANSFER",
            "time": 1736416910000,
        },
    },
    "private_deals": {
        "channel": "spot@private.deals.v3.api.pb",
        "symbol": "MXUSDT",
        "sendTime": 1736417034280,
        "privateDeals": {
            "price": "3.6962",
            "quantity": "1",
            "amount": "3.6962",
            "tradeType": 2,
            "isMaker": False,
            "isSelfTrade": False,
            "tradeId": "505979017439002624X1",
            "clientOrderId": "",
            "orderId": "C02__505979017439002624115",
            "feeAmount": "0.0003998377369698171",
            "feeCurrency": "MX",
            "time": 1736417034280,
        },
    },
    "private_orders_with_optionals": {
        "channel": "spot@private.orders.v3.api.pb",
        "symbol": "MXUSDT",
        "sendTime": 1736417034281,
        "privateOrders": {
            "id": "C02__505979017439002624115",
            "price": "3.5121",
            "quantity": "1",
            "amount": "0",
            "avgPrice": "3.6962",
            "orderType": 5,
            "tradeType": 2,
            "remainAmount": "0",
            "remainQuantity": "0",
            "lastDealQuantity": "1",
            "cumulativeQuantity": "1",
            "cumulativeAmount": "3.6962",
            "status": 2,
            "createTime": 1736417034259,
            "market": "MXUSDT",
            "triggerType": 0,
            "state": 0,
            "currencyId": "ed2a2bf9f8a74e5d95e76bca6e39ae3e",
        },
    },
    "increase_depth_batch": {
        "channel": "spot@public.increase.depth.batch.v3.api.pb@BTCUSDT",
        "symbol": "BTCUSDT",
        "sendTime": 1778075380657,
        "publicIncreaseDepthsBatch": {
            "items": [
                {
                    "asks": [{"price": "93220.01", "quantity": "0.5"}],
                    "eventType": "spot@public.increase.depth.v3.api.pb",
                    "version": "10023",
                },
                {
                    "bids": [{"price": "93219.99", "quantity": "0"}],
                    "eventType": "spot@public.increase.depth.v3.api.pb",
                    "version": "10024",
                },
            ],
            "eventType": "spot@public.increase.depth.batch.v3.api.pb",
        },
    },
    "legacy_deals": {
        "channel": "spot@public.deals.v3.api.pb@BTCUSDT",
        "symbol": "BTCUSDT",
        "sendTime": 1736409765052,
        "publicDeals": {
            "deals": [
                {
                    "price": "93220.00",
                    "quantity": "0.04438243",
                    "tradeType": 2,
                    "time": 1736409765051,
                }
            ],
            "eventType": "spot@public.deals.v3.api.pb",
        },
    },
    "legacy_increase_depth": {
        "channel": "spot@public.increase.depth.v3.api.pb@BTCUSDT",
        "symbol": "BTCUSDT",
        "sendTime": 1736409765052,
        "publicIncreaseDepths": {
            "asks": [{"price": "93220.01", "quantity": "0.5"}],
            "eventType": "spot@public.increase.depth.v3.api.pb",
            "version": "9001",
        },
    },
    "legacy_book_ticker": {
        "channel": "spot@public.bookTicker.v3.api.pb@BTCUSDT",
        "symbol": "BTCUSDT",
        "sendTime": 1736409765052,
        "publicBookTicker": {
            "bidPrice": "93219.99",
            "bidQuantity": "1.5",
            "askPrice": "93220.01",
            "askQuantity": "0.25",
        },
    },
}

#: The two vectors of docs/protocol.rst, "Wire test vectors", as published: ours must
#: reproduce them.
SPEC_HEX = {
    "spec_v1_aggre_depth": (
        "0a2f73706f74407075626c69632e61676772652e64657074682e76332e6170692e7062403130306d73"
        "40425443555344541a074254435553445430b1d7b4ecdf33ca134812080a033130301201341a277370"
        "6f74407075626c69632e61676772652e64657074682e76332e6170692e7062403130306d732205313030"
        "32332a05313030323330dcd6b4ecdf33"
    ),
    "spec_v2_aggre_deals": (
        "0a2f73706f74407075626c69632e61676772652e6465616c732e76332e6170692e7062403130306d73"
        "40425443555344541a074254435553445430bca9d9d0c432d2134a0a1f0a0839333232302e30301"
        "20a302e3034343338323433180220bba9d9d0c432122773706f74407075626c69632e61676772652e"
        "6465616c732e76332e6170692e7062403130306d73"
    ),
}


def _expected(infos: tuple[FieldInfo, ...], proto: dict[str, Any]) -> dict[str, Any]:
    """The expected record fields: proto-JSON renamed, with proto3 defaults filled in."""
    out: dict[str, Any] = {}
    defaults = {"string": "", "int32": 0, "int64": 0, "bool": False}
    for info in infos:
        if info.kind == "message":
            assert info.message is not None
            item_infos = FIELDS[RECORD_TYPES[info.message]]
            out[info.attr] = [_expected(item_infos, item) for item in proto.get(info.name, [])]
        elif info.name in proto:
            out[info.attr] = proto[info.name]
        else:
            out[info.attr] = None if info.optional else defaults[info.kind]
    return out


def build(name: str, proto: dict[str, Any]) -> dict[str, Any]:
    wrapper = oracle.classes()["PushDataV3ApiWrapper"]()
    json_format.ParseDict(proto, wrapper)
    (body_field,) = [f for f in BODY_FIELDS if f.name in proto]
    assert body_field.message is not None
    body_infos = FIELDS[RECORD_TYPES[body_field.message]]
    expected = _expected(WRAPPER_FIELDS, proto)
    expected["body_type"] = body_field.message
    expected["body"] = _expected(body_infos, proto[body_field.name])
    return {
        "name": name,
        "proto_json": proto,
        "hex": wrapper.SerializeToString().hex(),
        "expected": expected,
    }


def main() -> None:
    vectors = [build(name, proto) for name, proto in VECTORS.items()]
    for vector in vectors:
        spec = SPEC_HEX.get(vector["name"])
        if spec is not None and spec != vector["hex"]:
            raise SystemExit(f"{vector['name']}: Google's bytes differ from the published ones")
    OUT.write_text(json.dumps(vectors, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(vectors)} vectors to {OUT}")  # noqa: T201 - a script


if __name__ == "__main__":
    main()
