"""The simulated REST API: shapes, signing, errors, listen keys, orders (sans-IO, virtual time)."""

from __future__ import annotations

import hashlib
import hmac
import re
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import pytest

from mexc_core import wire
from mexc_core.messages import PrivateAccountV3Api, PrivateDealsV3Api, PrivateOrdersV3Api
from mexc_sim.exchange import DEFAULT_API_KEY, DEFAULT_API_SECRET, Exchange, ExchangeConfig
from mexc_sim.faults import RestFaults
from mexc_sim.rest import HttpCall, RestApi, RestResponse, sign
from mexc_sim.session import OutgoingKind, ServerSession, WsRules

VECTOR = (
    "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=11&recvWindow=5000&timestamp=1644489390087"
)


def get(api: RestApi, path: str, query: str = "", now: float = 0.0) -> RestResponse:
    return api.handle(HttpCall(method="GET", path=path, query=query), now)


def call(
    api: RestApi,
    method: str,
    path: str,
    params: dict[str, str] | None = None,
    now: float = 0.0,
    *,
    where: str = "query",
    key: str = DEFAULT_API_KEY,
    secret: str = DEFAULT_API_SECRET,
    timestamp: int | None = None,
) -> RestResponse:
    """A signed request, parameters in the query string, the body, or split."""
    values = dict(params or {})
    values.setdefault(
        "timestamp", str(api.exchange.epoch_ms(now) if timestamp is None else timestamp)
    )
    text = urlencode(values)
    if where == "query":
        query, body = f"{text}&signature={sign(secret, text)}", ""
    elif where == "body":
        query, body = "", f"{text}&signature={sign(secret, text)}"
    else:  # split: the first parameter in the query, the rest in the body
        first, _, rest = text.partition("&")
        query, body = first, f"{rest}&signature={sign(secret, first + rest)}"
    headers = {"x-mexc-apikey": key} if key else {}
    return api.handle(
        HttpCall(method=method, path=path, query=query, body=body.encode(), headers=headers), now
    )


def ok(response: RestResponse) -> Any:
    assert response.status == 200, response.body
    return response.json()


def error(response: RestResponse) -> tuple[int, int]:
    body = response.json()
    assert set(body) == {"code", "msg"}
    return response.status, body["code"]


def test_the_documented_signature_vectors() -> None:
    assert (
        sign(DEFAULT_API_SECRET, VECTOR)
        == "fd3e4e8543c5188531eb7279d68ae7d26a573d0fc5ab0d18eb692451654d837a"
    )
    mixed = VECTOR.replace("LIMIT&quantity", "LIMITquantity")  # query + body, no "&"
    assert (
        sign(DEFAULT_API_SECRET, mixed)
        == "d1a676610ceb39174c8039b3f548357994b2a34139a8addd33baadba65684592"
    )
    assert sign("k", "x") == hmac.new(b"k", b"x", hashlib.sha256).hexdigest()


def test_the_documented_request_is_accepted_at_its_time() -> None:
    """The docs' own example, replayed when its timestamp is the server's time."""
    exchange = Exchange(ExchangeConfig(start_ms=1644489390087 - 2000))
    signature = "fd3e4e8543c5188531eb7279d68ae7d26a573d0fc5ab0d18eb692451654d837a"
    request = HttpCall(
        method="GET",
        path="/api/v3/account",
        query=f"{VECTOR}&signature={signature}",
        headers={"x-mexc-apikey": DEFAULT_API_KEY},
    )
    api = RestApi(exchange)
    assert api.handle(request, 2.0).status == 200
    assert error(api.handle(request, 7.001)) == (400, 700003)  # 5001 ms later


@pytest.mark.parametrize("where", ["query", "body", "split"])
def test_signed_parameters_anywhere(where: str) -> None:
    api = RestApi(Exchange())
    body = ok(call(api, "GET", "/api/v3/account", {"recvWindow": "5000"}, where=where))
    assert body["accountType"] == "SPOT"
    assert {"asset": "USDT", "free": "1000000", "locked": "0"} in body["balances"]


def test_auth_errors() -> None:
    api = RestApi(Exchange())
    now = 100.0
    t = api.exchange.epoch_ms(now)
    assert error(call(api, "GET", "/api/v3/account", now=now, key="")) == (400, 400)
    assert error(call(api, "GET", "/api/v3/account", now=now, key="nobody")) == (400, 10072)
    assert error(call(api, "GET", "/api/v3/account", now=now, secret="wrong")) == (400, 700002)
    unsigned = HttpCall(
        method="GET",
        path="/api/v3/account",
        query=f"timestamp={t}",
        headers={"x-mexc-apikey": DEFAULT_API_KEY},
    )
    assert error(api.handle(unsigned, now)) == (400, 700002)
    # timestamp rules: timestamp < serverTime + 1000 and serverTime - timestamp <= recvWindow
    assert ok(call(api, "GET", "/api/v3/account", now=now, timestamp=t + 999))
    assert error(call(api, "GET", "/api/v3/account", now=now, timestamp=t + 1000)) == (400, 700003)
    assert ok(call(api, "GET", "/api/v3/account", now=now, timestamp=t - 5000))
    assert error(call(api, "GET", "/api/v3/account", now=now, timestamp=t - 5001)) == (400, 700003)
    wide = {"recvWindow": "60000"}
    assert ok(call(api, "GET", "/api/v3/account", wide, now=now, timestamp=t - 60000))
    assert error(call(api, "GET", "/api/v3/account", {"recvWindow": "60001"}, now=now)) == (
        400,
        700005,
    )
    no_time = HttpCall(
        method="GET",
        path="/api/v3/account",
        query=f"recvWindow=5000&signature={sign(DEFAULT_API_SECRET, 'recvWindow=5000')}",
        headers={"x-mexc-apikey": DEFAULT_API_KEY},
    )
    assert error(api.handle(no_time, now)) == (400, 44444)


def test_public_endpoints() -> None:
    exchange = Exchange()
    api = RestApi(exchange)
    assert ok(get(api, "/api/v3/ping")) == {}
    assert ok(get(api, "/api/v3/time", now=1.5)) == {"serverTime": exchange.config.start_ms + 1500}
    info = ok(get(api, "/api/v3/exchangeInfo"))
    assert [s["symbol"] for s in info["symbols"]] == ["BTCUSDT", "ETHUSDT", "MXUSDT"]
    one = ok(get(api, "/api/v3/exchangeInfo", "symbols=MXUSDT,BTCUSDT"))["symbols"]
    assert [s["symbol"] for s in one] == ["MXUSDT", "BTCUSDT"]
    btc = ok(get(api, "/api/v3/exchangeInfo", "symbol=BTCUSDT"))["symbols"][0]
    assert {
        "baseAsset": "BTC",
        "quoteAsset": "USDT",
        "status": "1",
        "baseAssetPrecision": 6,
    }.items() <= btc.items()
    assert error(get(api, "/api/v3/exchangeInfo", "symbol=NOPE")) == (400, 30014)
    depth = ok(get(api, "/api/v3/depth", "symbol=BTCUSDT"))
    assert depth["lastUpdateId"] == exchange.markets["BTCUSDT"].version
    assert len(depth["bids"]) == len(depth["asks"]) == 40  # the whole (young) book, under 100
    assert ok(get(api, "/api/v3/depth", "symbol=BTCUSDT&limit=5"))["bids"] == depth["bids"][:5]
    assert all(
        re.fullmatch(r"\d+\.\d{1}", p) and re.fullmatch(r"\d+\.\d{6}", q) for p, q in depth["bids"]
    )
    assert (
        ok(get(api, "/api/v3/depth", "symbol=BTCUSDT&limit=99999"))["lastUpdateId"]
        == depth["lastUpdateId"]
    )
    assert error(get(api, "/api/v3/depth", "symbol=NOPE")) == (400, 30014)
    assert error(get(api, "/api/v3/depth")) == (400, 44444)
    assert error(get(api, "/api/v3/depth", "symbol=BTCUSDT&limit=x")) == (400, 33333)
    assert error(get(api, "/api/v3/nothing")) == (404, 404)
    assert error(api.handle(HttpCall(method="PATCH", path="/api/v3/ping"), 0.0)) == (405, 405)


def test_rate_limit_is_500_per_10_s_with_retry_after() -> None:
    api = RestApi(Exchange())
    for i in range(500):
        assert get(api, "/api/v3/ping", now=i * 0.01).status == 200
    limited = get(api, "/api/v3/ping", now=5.0)
    assert error(limited) == (429, 429)
    assert ("retry-after", "5") in limited.headers
    assert get(api, "/api/v3/time", now=5.0).status == 200  # per endpoint
    assert get(api, "/api/v3/ping", now=10.5).status == 200  # the window slid


def test_listen_key_lifecycle() -> None:
    exchange = Exchange()
    api = RestApi(exchange)
    key = ok(call(api, "POST", "/api/v3/userDataStream"))["listenKey"]
    assert re.fullmatch(r"[a-z0-9]{64}", key)
    assert ok(call(api, "GET", "/api/v3/userDataStream"))["listenKey"] == [key]
    assert ok(call(api, "PUT", "/api/v3/userDataStream", {"listenKey": key}, 3000.0)) == {
        "listenKey": key
    }
    assert ok(call(api, "GET", "/api/v3/userDataStream", now=6500.0))["listenKey"] == [
        key
    ]  # PUT extended it
    assert (
        ok(call(api, "GET", "/api/v3/userDataStream", now=6600.0))["listenKey"] == []
    )  # 60 min after the PUT
    assert error(call(api, "PUT", "/api/v3/userDataStream", {"listenKey": key}, 6600.0)) == (
        400,
        730002,
    )
    other = ok(call(api, "POST", "/api/v3/userDataStream", now=6600.0))["listenKey"]
    assert ok(call(api, "DELETE", "/api/v3/userDataStream", {"listenKey": other}, 6601.0)) == {
        "listenKey": other
    }
    assert ok(call(api, "GET", "/api/v3/userDataStream", now=6601.0))["listenKey"] == []
    assert error(call(api, "DELETE", "/api/v3/userDataStream", {"listenKey": other}, 6602.0)) == (
        400,
        730002,
    )
    assert error(call(api, "PUT", "/api/v3/userDataStream", now=6602.0)) == (400, 44444)


def test_at_most_60_listen_keys_and_5_connections_per_key() -> None:
    exchange = Exchange()
    api = RestApi(exchange)
    keys = [
        ok(call(api, "POST", "/api/v3/userDataStream", now=i * 0.001))["listenKey"]
        for i in range(60)
    ]
    assert len(set(keys)) == 60
    assert error(call(api, "POST", "/api/v3/userDataStream", now=1.0)) == (400, 33333)
    sessions = [ServerSession(exchange, i, 1.0, listen_key=keys[0]) for i in range(6)]
    assert [s.closed for s in sessions] == [False] * 5 + [True]
    last = sessions[5].take_outgoing()[-1]
    assert (last.kind, last.code) == (OutgoingKind.CLOSE, 1008)
    # Deleting a key closes its connections with "Invalid listen key".
    ok(call(api, "DELETE", "/api/v3/userDataStream", {"listenKey": keys[0]}, 2.0))
    assert all(s.closed for s in sessions)
    assert sessions[0].take_outgoing()[0].text == "Invalid listen key"


def balances(api: RestApi, now: float) -> dict[str, tuple[Decimal, Decimal]]:
    body = ok(call(api, "GET", "/api/v3/account", now=now))
    return {b["asset"]: (Decimal(b["free"]), Decimal(b["locked"])) for b in body["balances"]}


def under_the_bid(exchange: Exchange) -> str:
    """A BTCUSDT buy price that rests in the book (at 1 s)."""
    bid = exchange.market("BTCUSDT", 1.0).best_bid
    assert bid is not None
    return exchange.markets["BTCUSDT"].spec.price_text(bid[0] - 50)


def test_a_resting_limit_order_locks_and_cancel_unlocks() -> None:
    exchange = Exchange()
    api = RestApi(exchange)
    price = under_the_bid(exchange)
    params = {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "quantity": "0.5",
        "price": price,
        "newClientOrderId": "mine-1",
    }
    placed = ok(call(api, "POST", "/api/v3/order", params, 1.0))
    assert {
        "symbol": "BTCUSDT",
        "type": "LIMIT",
        "side": "BUY",
        "origQty": "0.500000",
        "price": price,
    }.items() <= placed.items()
    assert placed["orderId"].startswith("C02__")
    cost = Decimal(price) * Decimal("0.5")
    assert balances(api, 1.0)["USDT"] == (Decimal(1_000_000) - cost, cost)
    (open_order,) = ok(call(api, "GET", "/api/v3/openOrders", {"symbol": "BTCUSDT"}, 1.0))
    assert open_order["status"] == "NEW"
    assert open_order["clientOrderId"] == "mine-1"
    queried = ok(
        call(api, "GET", "/api/v3/order", {"symbol": "BTCUSDT", "origClientOrderId": "mine-1"}, 1.0)
    )
    assert queried["orderId"] == placed["orderId"]
    cancelled = ok(
        call(
            api, "DELETE", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": placed["orderId"]}, 1.0
        )
    )
    assert cancelled["status"] == "CANCELED"
    assert balances(api, 1.0)["USDT"] == (Decimal(1_000_000), Decimal(0))
    assert ok(call(api, "GET", "/api/v3/openOrders", {"symbol": "BTCUSDT"}, 1.0)) == []
    assert error(
        call(
            api, "DELETE", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": placed["orderId"]}, 1.0
        )
    ) == (400, -2011)


def test_crossing_orders_trade_against_the_book() -> None:
    exchange = Exchange()
    api = RestApi(exchange)
    market = exchange.market("ETHUSDT", 2.0)
    spec = market.spec
    asks = market.top(1, 3)
    version = market.version
    # A limit buy through three ask levels fills at the makers' prices.
    wanted = sum(q for _p, q in asks)
    params = {
        "symbol": "ETHUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "quantity": spec.quantity_text(wanted),
        "price": spec.price_text(asks[-1][0]),
    }
    placed = ok(call(api, "POST", "/api/v3/order", params, 2.0))
    order = ok(
        call(api, "GET", "/api/v3/order", {"symbol": "ETHUSDT", "orderId": placed["orderId"]}, 2.0)
    )
    assert order["status"] == "FILLED"
    assert market.version == version + 1  # one match, one version
    trades = ok(call(api, "GET", "/api/v3/myTrades", {"symbol": "ETHUSDT"}, 2.0))
    assert [(t["price"], t["qty"]) for t in trades] == [
        (spec.price_text(p), spec.quantity_text(q)) for p, q in asks
    ]
    assert all(t["isBuyer"] and not t["isMaker"] and t["commissionAsset"] == "ETH" for t in trades)
    spent = sum(Decimal(t["quoteQty"]) for t in trades)
    fee = sum(Decimal(t["commission"]) for t in trades)
    assert fee == Decimal(spec.quantity_text(wanted)) * Decimal("0.0005")
    after = balances(api, 2.0)
    assert after["USDT"] == (Decimal(1_000_000) - spent, Decimal(0))
    assert after["ETH"][0] == Decimal("80") + Decimal(spec.quantity_text(wanted)) - fee
    # A market sell by quantity, then a market buy by quote amount.
    sell = {"symbol": "ETHUSDT", "side": "SELL", "type": "MARKET", "quantity": "1"}
    sold = ok(
        call(
            api,
            "GET",
            "/api/v3/order",
            {
                "symbol": "ETHUSDT",
                "orderId": ok(call(api, "POST", "/api/v3/order", sell, 3.0))["orderId"],
            },
            3.0,
        )
    )
    assert (sold["status"], sold["executedQty"]) == ("FILLED", "1.00000")
    buy = {"symbol": "ETHUSDT", "side": "BUY", "type": "MARKET", "quoteOrderQty": "1000"}
    bought = ok(
        call(
            api,
            "GET",
            "/api/v3/order",
            {
                "symbol": "ETHUSDT",
                "orderId": ok(call(api, "POST", "/api/v3/order", buy, 3.0))["orderId"],
            },
            3.0,
        )
    )
    assert bought["status"] == "FILLED"
    assert Decimal(bought["cummulativeQuoteQty"]) <= 1000
    assert balances(api, 3.0)["USDT"][1] == 0  # nothing left frozen
    assert (
        len(ok(call(api, "GET", "/api/v3/myTrades", {"symbol": "ETHUSDT", "limit": "2"}, 3.0))) == 2
    )


@pytest.mark.parametrize(
    ("kind", "offset", "status"),
    [
        ("LIMIT_MAKER", 0, "CANCELED"),  # would trade: cancelled, never a taker
        ("LIMIT_MAKER", -100, "NEW"),
        ("IMMEDIATE_OR_CANCEL", -100, "CANCELED"),  # nothing to trade at that price
        ("FILL_OR_KILL", 0, "CANCELED"),  # the best ask alone cannot fill 10x its size
    ],
)
def test_order_types(kind: str, offset: int, status: str) -> None:
    exchange = Exchange()
    api = RestApi(exchange)
    market = exchange.market("BTCUSDT", 1.0)
    ask = market.best_ask
    assert ask is not None
    spec = market.spec
    params = {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": kind,
        "quantity": spec.quantity_text(ask[1] * 10),
        "price": spec.price_text(ask[0] + offset),
    }
    placed = ok(call(api, "POST", "/api/v3/order", params, 1.0))
    got = ok(
        call(api, "GET", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": placed["orderId"]}, 1.0)
    )
    assert got["status"] == status
    if status == "CANCELED":
        assert balances(api, 1.0)["USDT"] == (Decimal(1_000_000), Decimal(0))


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"symbol": "NOPE", "side": "BUY", "type": "LIMIT", "quantity": "1", "price": "1"}, 30014),
        (
            {"symbol": "BTCUSDT", "side": "HOLD", "type": "LIMIT", "quantity": "1", "price": "1"},
            33333,
        ),
        (
            {"symbol": "BTCUSDT", "side": "BUY", "type": "STOP", "quantity": "1", "price": "1"},
            33333,
        ),
        ({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "1"}, 44444),
        (
            {
                "symbol": "BTCUSDT",
                "side": "BUY",
                "type": "LIMIT",
                "quantity": "0.0000001",
                "price": "1",
            },
            33333,
        ),
        (
            {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0", "price": "1"},
            30002,
        ),
        (
            {
                "symbol": "BTCUSDT",
                "side": "BUY",
                "type": "LIMIT",
                "quantity": "100",
                "price": "93000",
            },
            30004,
        ),
        ({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET"}, 33333),
        ({"side": "BUY", "type": "MARKET"}, 44444),
    ],
)
def test_order_errors(params: dict[str, str], code: int) -> None:
    api = RestApi(Exchange())
    assert error(call(api, "POST", "/api/v3/order", params, 1.0)) == (400, code)


def private_session(exchange: Exchange, api: RestApi, now: float) -> ServerSession:
    key = ok(call(api, "POST", "/api/v3/userDataStream", now=now))["listenKey"]
    session = ServerSession(exchange, 99, now, listen_key=key, rules=WsRules(ping_interval=None))
    topics = [
        "spot@private.orders.v3.api.pb",
        "spot@private.deals.v3.api.pb",
        "spot@private.account.v3.api.pb",
    ]
    session.receive_text(wire.encode_subscription(topics), now)
    session.take_outgoing()
    return session


def test_orders_push_private_orders_deals_and_account() -> None:
    exchange = Exchange()
    api = RestApi(exchange)
    session = private_session(exchange, api, 1.0)
    market = exchange.market("MXUSDT", 1.0)
    spec = market.spec
    bid = market.best_bid
    assert bid is not None
    # Rest a sell at the best bid + 1 tick... then let the market trade through it.
    price = bid[0] + 1
    params = {
        "symbol": "MXUSDT",
        "side": "SELL",
        "type": "LIMIT",
        "quantity": "5",
        "price": spec.price_text(price),
        "newClientOrderId": "c1",
    }
    order_id = ok(call(api, "POST", "/api/v3/order", params, 1.0))["orderId"]
    exchange.advance(600.0)
    frames = [
        wire.decode_push(o.data) for o in session.take_outgoing() if o.kind is OutgoingKind.BINARY
    ]
    orders = [p.body for p in frames if isinstance(p.body, PrivateOrdersV3Api)]
    deals = [p.body for p in frames if isinstance(p.body, PrivateDealsV3Api)]
    accounts = [p.body for p in frames if isinstance(p.body, PrivateAccountV3Api)]
    assert orders[0].status == 1  # new
    assert orders[0].client_id == "c1"
    assert orders[-1].status == 2  # filled by the market, as a maker
    assert orders[-1].cumulative_quantity == "5.00"
    assert deals
    assert all(d.is_maker and d.order_id == order_id and d.trade_type == 2 for d in deals)
    assert sum(Decimal(d.quantity) for d in deals) == 5
    assert accounts[0].type == "ENTRUST_PLACE"
    assert accounts[0].vcoin_name == "MX"
    assert accounts[0].frozen_amount_change == "5"
    assert {a.type for a in accounts[1:]} == {"ENTRUST"}
    final = balances(api, 600.0)
    assert final["MX"][1] == 0
    # The pushes agree with myTrades and the account endpoint.
    trades = ok(
        call(api, "GET", "/api/v3/myTrades", {"symbol": "MXUSDT", "orderId": order_id}, 600.0)
    )
    assert [t["id"] for t in trades] == [d.trade_id for d in deals]
    last_usdt = [a for a in accounts if a.vcoin_name == "USDT"][-1]
    assert Decimal(last_usdt.balance_amount) == final["USDT"][0]


def test_rest_faults() -> None:
    exchange = Exchange()
    faults = RestFaults()
    api = RestApi(exchange, faults)
    faults.fail("/api/v3/depth", 503)
    faults.fail("/api/v3/depth", 429)
    assert error(get(api, "/api/v3/depth", "symbol=BTCUSDT")) == (503, 503)
    limited = get(api, "/api/v3/depth", "symbol=BTCUSDT")
    assert limited.status == 429
    assert ("retry-after", "10") in limited.headers
    assert get(api, "/api/v3/depth", "symbol=BTCUSDT").status == 200
    faults.hang["/api/v3/time"] = 1
    assert get(api, "/api/v3/time").hang
    assert not get(api, "/api/v3/time").hang
    faults.delay = 2.5
    assert get(api, "/api/v3/ping").delay == 2.5
    faults.delay = 0.0
    exchange.advance(5.0)
    faults.stale_snapshot = 3
    stale = ok(get(api, "/api/v3/depth", "symbol=BTCUSDT", now=5.0))
    assert stale["lastUpdateId"] == exchange.markets["BTCUSDT"].version - 3
    spec = exchange.markets["BTCUSDT"].spec
    truth = exchange.book("BTCUSDT", stale["lastUpdateId"], depth=100)
    assert stale["bids"] == [[spec.price_text(p), spec.quantity_text(q)] for p, q in truth.bids]


def test_sim_truth_endpoints() -> None:
    exchange = Exchange()
    api = RestApi(exchange)
    version = exchange.market("BTCUSDT", 3.0).version
    book = ok(get(api, "/_sim/book", f"symbol=BTCUSDT&version={version - 2}&limit=3", 3.0))
    assert book["version"] == version - 2
    assert len(book["bids"]) == 3
    assert error(get(api, "/_sim/book", f"symbol=BTCUSDT&version={version + 5}", 3.0)) == (404, 404)
    key = exchange.create_listen_key(exchange.accounts[DEFAULT_API_KEY], 3.0)
    response = api.handle(
        HttpCall(method="POST", path="/_sim/expireListenKey", query=f"listenKey={key}"), 3.0
    )
    assert ok(response) == {"listenKey": key}
    assert key not in exchange.listen_keys


def test_all_orders_lists_every_state_within_its_window_and_limit() -> None:
    exchange = Exchange()
    api = RestApi(exchange)
    price = under_the_bid(exchange)
    limit_buy = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01"}
    ids = []
    for i in range(4):  # one a second: created at 1 s, 2 s, 3 s, 4 s
        placed = ok(call(api, "POST", "/api/v3/order", {**limit_buy, "price": price}, 1.0 + i))
        ids.append(placed["orderId"])
    ok(call(api, "DELETE", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": ids[1]}, 5.0))
    market = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01"}
    ids.append(ok(call(api, "POST", "/api/v3/order", market, 6.0))["orderId"])

    def listed(params: dict[str, str], now: float = 7.0) -> list[tuple[str, str]]:
        rows = ok(call(api, "GET", "/api/v3/allOrders", {"symbol": "BTCUSDT", **params}, now))
        return [(row["orderId"], row["status"]) for row in rows]

    at = exchange.epoch_ms
    everything = [(ids[0], "NEW"), (ids[1], "CANCELED"), (ids[2], "NEW"), (ids[3], "NEW")]
    assert listed({}) == [*everything, (ids[4], "FILLED")]  # the last 24 h by default
    # the window bounds the creation time, both ends inclusive
    window = {"startTime": str(at(2.0)), "endTime": str(at(3.0))}
    assert listed(window) == everything[1:3]
    # a full answer holds the newest of the window, oldest first
    assert listed({"startTime": str(at(1.0)), "limit": "2"}) == [everything[3], (ids[4], "FILLED")]
    assert listed({"limit": "0"}) == [(ids[4], "FILLED")]  # at least one
    assert listed({"startTime": str(at(9.0))}) == []
    assert listed({"symbol": "ETHUSDT"}) == []
    # never further back than 7 days, and 24 hours without startTime (the orders
    # are made older: a week of simulated market takes too long to run)
    account = exchange.account_for_key(DEFAULT_API_KEY)
    assert account is not None
    week, day = 7 * 24 * 3600_000, 24 * 3600_000
    account.orders[ids[0]].created = at(7.0) - week - 1
    account.orders[ids[2]].created = at(7.0) - day - 1
    recent = [everything[1], everything[3], (ids[4], "FILLED")]
    assert listed({"startTime": "0"}) == [everything[2], *recent]
    assert listed({}) == recent
    # signed, weight 10, MEXC's errors for bad parameters
    assert error(get(api, "/api/v3/allOrders", "symbol=BTCUSDT")) == (400, 400)
    assert error(call(api, "GET", "/api/v3/allOrders", {}, 7.0)) == (400, 44444)
    bad = {"symbol": "BTCUSDT", "startTime": "soon"}
    assert error(call(api, "GET", "/api/v3/allOrders", bad, 7.0)) == (400, 33333)
    other = RestApi(Exchange())
    for _ in range(50):
        assert call(other, "GET", "/api/v3/allOrders", {"symbol": "BTCUSDT"}, 1.0).status == 200
    assert error(call(other, "GET", "/api/v3/allOrders", {"symbol": "BTCUSDT"}, 1.0)) == (429, 429)
