"""REST, sans-IO: MEXC's signing test vectors, request shapes, typed results and errors."""

from __future__ import annotations

import contextlib
import json
from decimal import Decimal
from urllib.parse import parse_qsl

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mexc_core import errors, rest
from mexc_core.rest import Credentials, RestClient, sign

# docs/protocol.rst, "Signing"
API_KEY = "mx0aBYs33eIilxBWC5"
SECRET = "45d0b3c26f2644f19bfb98b07741b2f5"
TOTAL = (
    "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=11&recvWindow=5000&timestamp=1644489390087"
)
MIXED = (
    "symbol=BTCUSDT&side=BUY&type=LIMITquantity=1&price=11&recvWindow=5000&timestamp=1644489390087"
)


def test_documented_signature_vectors() -> None:
    assert sign(SECRET, TOTAL) == "fd3e4e8543c5188531eb7279d68ae7d26a573d0fc5ab0d18eb692451654d837a"
    assert sign(SECRET, MIXED) == "d1a676610ceb39174c8039b3f548357994b2a34139a8addd33baadba65684592"
    # the docs' "Example 1" value is a documentation error (docs/protocol.rst, "Signing")
    assert sign(SECRET, TOTAL) != "323c96ab85a745712e95e63cad28903dd8292e4a905e99c4ee3932023843a117"


def test_a_signed_order_reproduces_the_vector() -> None:
    client = RestClient(Credentials(API_KEY, SECRET), recv_window=5000)
    request = client.place_order("BTCUSDT", "BUY", "LIMIT", 1644489390087, quantity="1", price="11")
    assert request.method == "POST"
    assert request.path == "/api/v3/order"
    assert request.query == TOTAL + "&signature=" + sign(SECRET, TOTAL)
    assert ("X-MEXC-APIKEY", API_KEY) in request.headers
    assert request.signed
    assert request.target == "/api/v3/order?" + request.query


def test_time_offset_moves_the_timestamp() -> None:
    client = RestClient(Credentials(API_KEY, SECRET))
    assert client.sync_time(server_time_ms=10_500, sent_ms=9_000, received_ms=9_200) == 1_400
    query = dict(parse_qsl(client.account(now_ms=9_300).query))
    assert query["timestamp"] == "10700"
    assert query["recvWindow"] == "5000"
    with pytest.raises(errors.LocalProtocolError):
        client.sync_time(1, sent_ms=5, received_ms=4)


def test_secrets_never_show() -> None:
    creds = Credentials(API_KEY, SECRET)
    client = RestClient(creds)
    key = "pqia91ma19a5s61cv6a81va65sdf19v8a65a1a5s61cv6a81va65sdf19v8a65a1"
    request = client.keepalive_listen_key(key, now_ms=1)
    shown = " ".join(
        [repr(creds), str(creds), repr(client), repr(request), repr(rest.ListenKey(key))]
    )
    assert SECRET not in shown
    assert key not in shown
    assert "pqia…65a1" in repr(request)
    assert rest.shorten("abc") == "…"
    assert repr(rest.ListenKeys((key,))) == "ListenKeys(['pqia…65a1'])"


@pytest.mark.parametrize(
    ("make", "method", "path", "params"),
    [
        (lambda c: c.ping(), "GET", "/api/v3/ping", {}),
        (lambda c: c.server_time(), "GET", "/api/v3/time", {}),
        (
            lambda c: c.depth("BTCUSDT"),
            "GET",
            "/api/v3/depth",
            {"symbol": "BTCUSDT", "limit": "5000"},
        ),
        (lambda c: c.exchange_info(), "GET", "/api/v3/exchangeInfo", {}),
        (
            lambda c: c.exchange_info(["MXUSDT"]),
            "GET",
            "/api/v3/exchangeInfo",
            {"symbol": "MXUSDT"},
        ),
        (
            lambda c: c.exchange_info(["MXUSDT", "BTCUSDT"]),
            "GET",
            "/api/v3/exchangeInfo",
            {"symbols": "MXUSDT,BTCUSDT"},
        ),
        (lambda c: c.create_listen_key(7), "POST", "/api/v3/userDataStream", {}),
        (lambda c: c.list_listen_keys(7), "GET", "/api/v3/userDataStream", {}),
        (
            lambda c: c.keepalive_listen_key("k" * 64, 7),
            "PUT",
            "/api/v3/userDataStream",
            {"listenKey": "k" * 64},
        ),
        (
            lambda c: c.close_listen_key("k" * 64, 7),
            "DELETE",
            "/api/v3/userDataStream",
            {"listenKey": "k" * 64},
        ),
        (lambda c: c.account(7), "GET", "/api/v3/account", {}),
        (lambda c: c.open_orders("MXUSDT", 7), "GET", "/api/v3/openOrders", {"symbol": "MXUSDT"}),
        (
            lambda c: c.my_trades("MXUSDT", 7, start_time=5, limit=100),
            "GET",
            "/api/v3/myTrades",
            {"symbol": "MXUSDT", "startTime": "5", "limit": "100"},
        ),
        (
            lambda c: c.all_orders("MXUSDT", 7, start_time=5, end_time=9, limit=1000),
            "GET",
            "/api/v3/allOrders",
            {"symbol": "MXUSDT", "startTime": "5", "endTime": "9", "limit": "1000"},
        ),
        (lambda c: c.all_orders("MXUSDT", 7), "GET", "/api/v3/allOrders", {"symbol": "MXUSDT"}),
        (
            lambda c: c.cancel_order("MXUSDT", 7, order_id="C02__1"),
            "DELETE",
            "/api/v3/order",
            {"symbol": "MXUSDT", "orderId": "C02__1"},
        ),
        (
            lambda c: c.cancel_order("MXUSDT", 7, client_order_id="mine"),
            "DELETE",
            "/api/v3/order",
            {"symbol": "MXUSDT", "origClientOrderId": "mine"},
        ),
    ],
)
def test_request_shapes(make: object, method: str, path: str, params: dict[str, str]) -> None:
    client = RestClient(Credentials(API_KEY, SECRET))
    request = make(client)  # type: ignore[operator]
    assert (request.method, request.path) == (method, path)
    query = dict(parse_qsl(request.query))
    if request.signed:
        signature = query.pop("signature")
        unsigned = request.query.rsplit("&signature=", 1)[0]
        assert signature == sign(SECRET, unsigned)
        assert query.pop("timestamp") == "7"
        assert query.pop("recvWindow") == "5000"
    assert query == params


def test_commas_are_percent_encoded_upper_case() -> None:
    request = RestClient().exchange_info(["MXUSDT", "BTCUSDT"])
    assert request.query == "symbols=MXUSDT%2CBTCUSDT"


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.depth("BTCUSDT", limit=0),
        lambda c: c.depth("BTCUSDT", limit=5001),
        lambda c: c.place_order("X", "HOLD", "LIMIT", 1, quantity="1", price="1"),
        lambda c: c.place_order("X", "BUY", "STOP", 1, quantity="1", price="1"),
        lambda c: c.place_order("X", "BUY", "LIMIT", 1, price="1"),
        lambda c: c.place_order("X", "BUY", "LIMIT", 1, quantity="1"),
        lambda c: c.cancel_order("X", 1),
        lambda c: c.cancel_order("X", 1, order_id="a", client_order_id="b"),
    ],
)
def test_bad_requests_are_local_errors(call: object) -> None:
    with pytest.raises(errors.LocalProtocolError):
        call(RestClient(Credentials(API_KEY, SECRET)))  # type: ignore[operator]


def test_signed_request_without_credentials() -> None:
    with pytest.raises(errors.LocalProtocolError, match="no credentials"):
        RestClient().account(1)
    with pytest.raises(errors.LocalProtocolError):
        RestClient(recv_window=60001)
    with pytest.raises(errors.LocalProtocolError):
        Credentials("", SECRET)


@pytest.mark.parametrize(
    ("api_key", "secret", "field", "what"),
    [
        (API_KEY + "\r\nX-Injected: 1", SECRET, "api_key", r"U\+000D at position 18"),
        (API_KEY, SECRET + "\n", "secret_key", r"U\+000A at position 32"),
        (" " + API_KEY, SECRET, "api_key", "a space at position 0"),
        (API_KEY, "sécret", "secret_key", r"U\+00E9 at position 1"),
        ("", SECRET, "api_key", "is empty"),
        (API_KEY, 12345, "secret_key", "must be a str, not int"),
    ],
)
def test_credentials_mexc_cannot_accept_are_refused_when_made(
    api_key: str, secret: str, field: str, what: str
) -> None:
    # Regression: a key holding "\r\n" and another header crashed the client deep in
    # h11 (LocalProtocolError: Illegal header value) instead of failing here.
    with pytest.raises(errors.InvalidCredentials, match=what) as caught:
        Credentials(api_key, secret)
    assert caught.value.field == field
    message = str(caught.value)
    assert "\n" not in message
    assert "MEXC API management page" in message
    assert SECRET not in message
    assert API_KEY not in message


def _body(obj: object) -> bytes:
    return json.dumps(obj).encode()


def test_parse_depth_and_time() -> None:
    client = RestClient()
    depth = client.depth("BTCUSDT").parse(
        200,
        {},
        b'{"lastUpdateId":1112416,"bids":[["15.00000","49999.00000"]],"asks":[["14.0000","1.0000"]]}',
    )
    assert depth == rest.DepthSnapshot(
        symbol="BTCUSDT",
        last_update_id=1112416,
        bids=(("15.00000", "49999.00000"),),
        asks=(("14.0000", "1.0000"),),
    )
    assert client.server_time().parse(200, {}, b'{"serverTime":1645539742000}').server_time == (
        1645539742000
    )
    assert client.ping().parse(200, {}, b"{}") is None


def test_parse_listen_keys_account_orders_trades() -> None:
    client = RestClient(Credentials(API_KEY, SECRET))
    assert client.create_listen_key(1).parse(200, {}, _body({"listenKey": "abc"})).key == "abc"
    keys = client.list_listen_keys(1).parse(200, {}, _body({"listenKey": ["a", "b"]}))
    assert "a" in keys
    assert keys.keys == ("a", "b")
    account = client.account(1).parse(
        200,
        {},
        _body(
            {
                "canTrade": True,
                "updateTime": None,
                "balances": [{"asset": "USDT", "free": "10.5", "locked": "0"}],
            }
        ),
    )
    assert account.balance("USDT") == rest.Balance(asset="USDT", free="10.5", locked="0")
    assert account.balance("BTC") is None
    order = client.place_order("MXUSDT", "SELL", "MARKET", 1, quantity="1").parse(
        200,
        {},
        _body(
            {
                "symbol": "MXUSDT",
                "orderId": "06a480e69e604477bfb48dddd5f0b750",
                "orderListId": -1,
                "price": "0.1",
                "origQty": "1",
                "type": "MARKET",
                "side": "SELL",
                "transactTime": 1666676533741,
            }
        ),
    )
    assert (order.order_id, order.side, order.time) == (
        "06a480e69e604477bfb48dddd5f0b750",
        "SELL",
        1666676533741,
    )
    trades = client.my_trades("MXUSDT", 1).parse(
        200,
        {},
        _body(
            [
                {
                    "symbol": "MXUSDT",
                    "id": "fad2af9e942049b6adbda1a271f990c6",
                    "orderId": "bb41e5663e124046bd9497a3f5692f39",
                    "price": "3.8",
                    "qty": "10",
                    "quoteQty": "38",
                    "commission": "0.038",
                    "commissionAsset": "USDT",
                    "time": 1666677400000,
                    "isBuyer": True,
                    "isMaker": False,
                }
            ]
        ),
    )
    assert trades[0].qty == "10"
    assert trades[0].is_buyer
    assert client.open_orders("MXUSDT", 1).parse(200, {}, b"[]") == ()


@pytest.mark.parametrize(
    ("status", "headers", "body", "error", "code", "retry_after"),
    [
        (
            400,
            {},
            b'{"code":700002,"msg":"Signature for this request is not valid."}',
            rest.ApiError,
            700002,
            None,
        ),
        (
            400,
            {},
            b'{"code":700003,"msg":"Timestamp outside recvWindow"}',
            rest.ApiError,
            700003,
            None,
        ),
        (401, {}, b"not json", rest.ApiError, None, None),
        (429, {"Retry-After": "12"}, b'{"code":429,"msg":"Too many"}', rest.RateLimited, 429, 12.0),
        (429, {"retry-after": "soon"}, b"", rest.RateLimited, None, None),
        (418, {"Retry-After": "120"}, b"", rest.IpBanned, None, 120.0),
        (503, {}, b'{"code":503,"msg":"service not available"}', rest.ServerError, 503, None),
    ],
)
def test_error_responses_are_typed(
    status: int,
    headers: dict[str, str],
    body: bytes,
    error: type[rest.RestError],
    code: int | None,
    retry_after: float | None,
) -> None:
    with pytest.raises(error) as info:
        RestClient().depth("BTCUSDT").parse(status, headers, body)
    assert info.value.status == status
    assert info.value.code == code
    assert getattr(info.value, "retry_after", None) == retry_after
    assert isinstance(info.value, errors.MexcError)


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"[]",
        b'{"lastUpdateId":"x","bids":[],"asks":[]}',
        b'{"lastUpdateId":true,"bids":[],"asks":[]}',
        b'{"lastUpdateId":1,"bids":{},"asks":[]}',
        b'{"lastUpdateId":1,"bids":[["1"]],"asks":[]}',
        b'{"lastUpdateId":1,"bids":[[1,2]],"asks":[]}',
    ],
)
def test_malformed_bodies_are_invalid_responses(body: bytes) -> None:
    with pytest.raises(rest.InvalidResponse):
        RestClient().depth("BTCUSDT").parse(200, {}, body)


REQUESTS = [
    RestClient(Credentials(API_KEY, SECRET)).depth("BTCUSDT"),
    RestClient(Credentials(API_KEY, SECRET)).server_time(),
    RestClient(Credentials(API_KEY, SECRET)).exchange_info(),
    RestClient(Credentials(API_KEY, SECRET)).list_listen_keys(1),
    RestClient(Credentials(API_KEY, SECRET)).account(1),
    RestClient(Credentials(API_KEY, SECRET)).open_orders("X", 1),
    RestClient(Credentials(API_KEY, SECRET)).my_trades("X", 1),
    RestClient(Credentials(API_KEY, SECRET)).all_orders("X", 1),
    RestClient(Credentials(API_KEY, SECRET)).cancel_order("X", 1, order_id="1"),
]


@given(
    st.sampled_from(REQUESTS),
    st.integers(100, 599),
    st.binary(max_size=64)
    | st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
        ),
        max_leaves=8,
    ).map(lambda v: json.dumps(v).encode()),
)
def test_any_response_parses_or_raises_rest_error(
    request: rest.RestRequest[object], status: int, body: bytes
) -> None:
    with contextlib.suppress(rest.RestError):
        request.parse(status, {}, body)


def test_parse_exchange_info() -> None:
    body = _body(
        {
            "timezone": "CST",
            "serverTime": 1664952545000,
            "symbols": [
                {"symbol": "MXUSDT", "status": "1", "baseAsset": "MX", "quoteAsset": "USDT"},
                {"symbol": "BTCUSDT", "status": "1", "baseAsset": "BTC", "quoteAsset": "USDT"},
            ],
        }
    )
    info = RestClient().exchange_info().parse(200, {"Content-Type": "application/json"}, body)
    assert info.server_time == 1664952545000
    mx = info.symbol("MXUSDT")
    assert mx is not None
    assert (mx.base_asset, mx.quote_asset, mx.status) == ("MX", "USDT", "1")
    assert info.symbol("NOPE") is None
    with pytest.raises(rest.InvalidResponse):
        RestClient().exchange_info().parse(200, {}, _body({"serverTime": 1, "symbols": {}}))


def test_lenient_number_and_string_fields() -> None:
    """MEXC sends some ids as numbers and some numbers as strings: both are read."""
    depth = (
        RestClient()
        .depth("X")
        .parse(200, {}, _body({"lastUpdateId": "42", "bids": [], "asks": []}))
    )
    assert depth.last_update_id == 42
    client = RestClient(Credentials(API_KEY, SECRET))
    order = client.cancel_order("X", 1, order_id="1").parse(
        200, {}, _body({"symbol": "X", "orderId": 123, "time": 5})
    )
    assert order.order_id == "123"


@pytest.mark.parametrize(
    ("make", "body"),
    [
        (lambda c: c.list_listen_keys(1), {"listenKey": "not-a-list"}),
        (lambda c: c.account(1), {"balances": {}}),
        (lambda c: c.open_orders("X", 1), {"not": "a list"}),
        (lambda c: c.my_trades("X", 1), {"not": "a list"}),
        (lambda c: c.all_orders("X", 1), {"not": "a list"}),
        (lambda c: c.all_orders("X", 1), [{"symbol": "X"}]),  # no orderId
    ],
)
def test_wrong_shapes(make: object, body: object) -> None:
    request = make(RestClient(Credentials(API_KEY, SECRET)))  # type: ignore[operator]
    with pytest.raises(rest.InvalidResponse):
        request.parse(200, {}, _body(body))


def test_repr_of_an_unsigned_request_without_query() -> None:
    assert repr(RestClient().server_time()) == "RestRequest(GET /api/v3/time)"
    assert (
        repr(RestClient().depth("X", limit=5)) == "RestRequest(GET /api/v3/depth?symbol=X&limit=5)"
    )
    assert rest.encode_params([("flag", True), ("off", False)]) == "flag=true&off=false"


def test_retry_after_among_other_headers() -> None:
    headers = {"Content-Type": "application/json", "Retry-After": "3"}
    with pytest.raises(rest.RateLimited) as info:
        RestClient().ping().parse(429, headers, b"")
    assert info.value.retry_after == 3.0
    with pytest.raises(rest.RateLimited) as info:
        RestClient().ping().parse(429, {"Retry-After": "-1"}, b"")
    assert info.value.retry_after is None
    with pytest.raises(rest.RateLimited) as info:
        RestClient().ping().parse(429, {}, b"")
    assert info.value.retry_after is None
    for value in ("inf", "nan", "1e400", "86401"):
        with pytest.raises(rest.RateLimited) as info:
            RestClient().ping().parse(429, {"Retry-After": value}, b"")
        assert info.value.retry_after is None, value


@pytest.mark.parametrize("value", ["--1", "²", "1\u0661", "", "-", "1.5", "1e3"])
def test_integer_fields_refuse_what_is_not_ascii_digits(value: str) -> None:
    """Found in review: str.isdigit() let '²' through to int() (a ValueError)."""
    with pytest.raises(rest.InvalidResponse):
        RestClient().server_time().parse(200, {}, _body({"serverTime": value}))


def test_numbers_are_sent_in_plain_decimal_notation() -> None:
    assert rest.encode_params([("quantity", 1e-05), ("price", 25000.5)]) == (
        "quantity=0.00001&price=25000.5"
    )
    assert rest.encode_params([("q", Decimal("1E+2")), ("n", 7)]) == "q=100&n=7"


@pytest.mark.parametrize(
    ("value", "what"),
    [
        (float("nan"), "MEXC needs a finite number"),
        (Decimal("Infinity"), "MEXC needs a finite number"),
        (object(), "is a object; pass a str"),
        (None, "is a NoneType; pass a str"),
    ],
)
def test_parameters_that_cannot_be_sent_are_encode_errors(value: object, what: str) -> None:
    with pytest.raises(errors.EncodeError, match=what):
        rest.encode_params([("price", value)])


def test_all_orders_parses_every_state_with_its_weight() -> None:
    request = RestClient(Credentials(API_KEY, SECRET)).all_orders("MXUSDT", 1, start_time=0)
    assert (request.weight, request.signed) == (10, True)
    rows = [
        {
            "symbol": "MXUSDT",
            "orderId": "C02__1",
            "orderListId": -1,
            "clientOrderId": "mine",
            "price": "3.8",
            "origQty": "2",
            "executedQty": "0",
            "cummulativeQuoteQty": "0",
            "status": "CANCELED",
            "timeInForce": "",
            "type": "LIMIT",
            "side": "BUY",
            "time": 1666676533741,
            "updateTime": 1666676534000,
            "isWorking": False,
        },
        {"symbol": "MXUSDT", "orderId": 42, "status": "FILLED", "executedQty": "1", "time": 5},
    ]
    first, second = request.parse(200, {}, _body(rows))
    assert (first.order_id, first.status, first.client_order_id, first.time) == (
        "C02__1",
        "CANCELED",
        "mine",
        1666676533741,
    )
    assert (second.order_id, second.status, second.executed_qty) == ("42", "FILLED", "1")
    assert request.parse(200, {}, b"[]") == ()
