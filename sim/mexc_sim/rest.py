"""The REST endpoints of the simulated exchange, without I/O.

:class:`RestApi` takes one parsed HTTP request (:class:`HttpCall`) and the
simulator time, and returns the answer (:class:`RestResponse`): MEXC's paths,
parameters, JSON shapes, error codes and HTTP statuses. :mod:`mexc_sim.protocol`
reads and writes the HTTP/1.1 bytes with h11.

Signed endpoints check what MEXC checks (mexc-core's ``docs/protocol.rst``, "Signing"):

- the ``X-MEXC-APIKEY`` header names a known key (else 400, code ``400`` "api key
  required", or ``10072`` for an unknown key);
- ``signature`` is the lowercase hex HMAC-SHA256, keyed with the secret, of the
  query string concatenated directly (no ``&``) with the body, both without the
  ``signature`` parameter (else ``700002``);
- ``timestamp`` is present (``44444``), ``recvWindow`` (default 5000) is at most
  60000 (``700005``), and ``timestamp < serverTime + 1000`` and
  ``serverTime - timestamp <= recvWindow`` (``700003``).

Parameters may sit in the query string, the form-encoded body, or both; the
query string wins. Rate limits: every endpoint allows 500 weight per 10 s per
client address (and per account for signed ones), a request counting its
documented weight (:data:`WEIGHTS`: ``account``, ``myTrades`` and ``allOrders`` 10,
``openOrders`` 3, ``GET /api/v3/order`` 2, most others 1); past that, HTTP 429
with ``Retry-After``.

Paths under ``/_sim/`` are the simulator's own (not MEXC's): the truth
(``GET /_sim/book``) and listen-key expiry (``POST /_sim/expireListenKey``), for
tests that run the simulator in another process.
"""

from __future__ import annotations

import hmac
import json
import math
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, final
from urllib.parse import parse_qsl

from mexc_core.rest import sign  # one implementation, checked against MEXC's documented vectors
from mexc_sim.exchange import Exchange, ExchangeError, UserAccount, decimal_text
from mexc_sim.faults import RestFaults
from mexc_sim.market import BUY, OrderStatus, OrderType, UserOrder

__all__ = (
    "DEFAULT_RECV_WINDOW",
    "MAX_RECV_WINDOW",
    "WEIGHTS",
    "HttpCall",
    "RestApi",
    "RestResponse",
    "sign",
)

#: ``recvWindow`` when the request gives none (``docs/protocol.rst``, "Signing").
DEFAULT_RECV_WINDOW: Final = 5000
#: The largest ``recvWindow`` MEXC accepts.
MAX_RECV_WINDOW: Final = 60000
#: ``GET /api/v3/allOrders``: orders per answer by default, and at most.
ALL_ORDERS_LIMIT: Final = 500
ALL_ORDERS_MAX_LIMIT: Final = 1000
#: ``GET /api/v3/allOrders``: the window without ``startTime`` (the last 24 h), and
#: how far back it may reach (7 days).
ALL_ORDERS_DEFAULT_SPAN_MS: Final = 24 * 3600 * 1000
ALL_ORDERS_MAX_AGE_MS: Final = 7 * 24 * 3600 * 1000
#: Weight per endpoint per client in any 10 s window (``docs/protocol.rst``, "Limits
#: and timeouts").
RATE_LIMIT: Final = 500
RATE_WINDOW: Final = 10.0

_STATUS_TEXT: Final = {
    429: "Too Many Requests",
    500: "Internal error",
    503: "service not available, please try again",
    504: "Gateway Time-out",
}


def _strip_signature(raw: str) -> str:
    return "&".join(p for p in raw.split("&") if not p.startswith("signature="))


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class HttpCall:
    """One HTTP request as the REST layer sees it.

    :ivar method: ``GET``, ``POST``, ``PUT`` or ``DELETE``.
    :ivar path: the path without the query string.
    :ivar query: the raw query string (after ``?``), as signed.
    :ivar headers: header names in lower case.
    :ivar body: the raw body, as signed.
    :ivar peer: the client's address (rate limits are per address).
    """

    method: str
    path: str
    query: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    peer: str = "127.0.0.1"


@final
@dataclass(frozen=True, slots=True)
class RestResponse:
    """An answer: status, JSON body, extra headers; ``delay`` before sending it
    (simulator seconds), or ``hang`` for no answer at all."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    hang: bool = False

    def json(self) -> Any:
        """The body, parsed."""
        return json.loads(self.body)


def _json(status: int, value: object, headers: tuple[tuple[str, str], ...] = ()) -> RestResponse:
    body = json.dumps(value, separators=(",", ":")).encode()
    return RestResponse(status, body, (("content-type", "application/json"), *headers))


def _error(status: int, code: int, msg: str) -> RestResponse:
    return _json(status, {"code": code, "msg": msg})


_Handler = Callable[["RestApi", dict[str, str], UserAccount | None, float], object]


class RestApi:
    """MEXC's REST endpoints on a simulated :class:`~mexc_sim.exchange.Exchange`.

    :param exchange: the exchange.
    :param faults: REST faults, shared with whoever changes them at run time.
    """

    def __init__(self, exchange: Exchange, faults: RestFaults | None = None) -> None:
        self.exchange = exchange
        self.faults = faults or RestFaults()
        self._hits: dict[tuple[str, str], deque[tuple[float, int]]] = {}
        self.requests = 0

    # ------------------------------------------------------------ entry point

    def handle(self, request: HttpCall, now: float) -> RestResponse:
        """Answer one request at simulator time ``now``."""
        self.requests += 1
        response = self._handle(request, now)
        if self.faults.delay and not response.hang:
            return RestResponse(
                response.status, response.body, response.headers, delay=self.faults.delay
            )
        return response

    def _handle(self, request: HttpCall, now: float) -> RestResponse:
        route = _ROUTES.get((request.method, request.path))
        if route is None:
            if any(path == request.path for _m, path in _ROUTES):
                return _error(405, 405, f"method {request.method} not allowed")
            return _error(404, 404, f"no endpoint {request.path}")
        handler, signed = route
        weight = WEIGHTS.get((request.method, request.path), 1)
        faults = self.faults
        if faults.take_hang(request.path):
            return RestResponse(0, b"", hang=True)
        forced = faults.take_error(request.path)
        if forced is not None:
            return self._forced(forced)
        limited = self._rate_limit((request.peer, request.path), weight, now)
        if limited is not None:
            return limited
        try:
            params = self._params(request)
            account = self._authenticate(request, params, now) if signed else None
            if account is not None:
                limited = self._rate_limit((f"uid:{account.uid}", request.path), weight, now)
                if limited is not None:
                    return limited
            return _json(200, handler(self, params, account, now))
        except ExchangeError as exc:
            return _error(exc.status, exc.code, exc.msg)

    def _forced(self, status: int) -> RestResponse:
        text = _STATUS_TEXT.get(status, "error")
        if status == 429:
            return _json(status, {"code": 429, "msg": text}, (("retry-after", "10"),))
        return _error(status, status, text)

    def _rate_limit(self, key: tuple[str, str], weight: int, now: float) -> RestResponse | None:
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0][0] <= now - RATE_WINDOW:
            hits.popleft()
        spent = sum(w for _, w in hits)
        if spent + weight > RATE_LIMIT:
            # the wait until enough of the window's weight has left it
            excess, freed, leaves = spent + weight - RATE_LIMIT, 0, now
            for at, w in hits:
                freed += w
                if freed >= excess:
                    leaves = at + RATE_WINDOW
                    break
            retry = max(1, math.ceil(leaves - now))
            return _json(
                429, {"code": 429, "msg": "Too Many Requests"}, (("retry-after", str(retry)),)
            )
        hits.append((now, weight))
        return None

    # ------------------------------------------------------------ parameters and auth

    @staticmethod
    def _params(request: HttpCall) -> dict[str, str]:
        try:
            body = request.body.decode()
        except UnicodeDecodeError:
            raise ExchangeError(400, 700008, "Illegal characters found in parameter") from None
        params = dict(parse_qsl(body, keep_blank_values=True))
        params.update(parse_qsl(request.query, keep_blank_values=True))
        return params

    def _authenticate(self, request: HttpCall, params: dict[str, str], now: float) -> UserAccount:
        key = request.headers.get("x-mexc-apikey")
        if not key:
            raise ExchangeError(400, 400, "api key required")
        account = self.exchange.account_for_key(key)
        if account is None:
            raise ExchangeError(400, 10072, "Api key info invalid")
        signature = params.get("signature")
        total = _strip_signature(request.query) + _strip_signature(request.body.decode())
        expected = sign(account.api_secret, total)
        if not signature or not hmac.compare_digest(signature, expected):
            raise ExchangeError(400, 700002, "Signature for this request is not valid.")
        timestamp = _int(params, "timestamp", required=True)
        window = _int(params, "recvWindow")
        if window is None:
            window = DEFAULT_RECV_WINDOW
        if window > MAX_RECV_WINDOW or window < 0:
            raise ExchangeError(400, 700005, "recvWindow must less than 60000")
        server_time = self.exchange.epoch_ms(now)
        assert timestamp is not None
        if not (timestamp < server_time + 1000 and server_time - timestamp <= window):
            raise ExchangeError(
                400, 700003, "Timestamp for this request is outside of the recvWindow."
            )
        return account

    # ------------------------------------------------------------ public endpoints

    def ping(self, params: dict[str, str], account: UserAccount | None, now: float) -> object:
        """``GET /api/v3/ping``."""
        return {}

    def time(self, params: dict[str, str], account: UserAccount | None, now: float) -> object:
        """``GET /api/v3/time``."""
        return {"serverTime": self.exchange.epoch_ms(now)}

    def exchange_info(
        self, params: dict[str, str], account: UserAccount | None, now: float
    ) -> object:
        """``GET /api/v3/exchangeInfo`` (all pairs, ``symbol`` or ``symbols``)."""
        names: list[str] | None = None
        if "symbol" in params:
            names = [params["symbol"]]
        elif "symbols" in params:
            names = [s for s in params["symbols"].split(",") if s]
        ex = self.exchange
        symbols = []
        for market in ex.markets_of(names):
            spec = market.spec
            symbols.append(
                {
                    "symbol": spec.symbol,
                    "status": "1",
                    "baseAsset": spec.base_asset,
                    "baseAssetPrecision": spec.quantity_scale,
                    "quoteAsset": spec.quote_asset,
                    "quotePrecision": spec.price_scale,
                    "quoteAssetPrecision": spec.price_scale,
                    "baseCommissionPrecision": spec.quantity_scale,
                    "quoteCommissionPrecision": spec.price_scale,
                    "orderTypes": ["LIMIT", "MARKET", "LIMIT_MAKER"],
                    "isSpotTradingAllowed": True,
                    "isMarginTradingAllowed": False,
                    "quoteAmountPrecision": "1",
                    "baseSizePrecision": spec.quantity_text(1),
                    "permissions": ["SPOT"],
                    "filters": [],
                    "maxQuoteAmount": "5000000",
                    "makerCommission": decimal_text(ex.maker_fee),
                    "takerCommission": decimal_text(ex.taker_fee),
                    "quoteAmountPrecisionMarket": "1",
                    "maxQuoteAmountMarket": "100000",
                    "fullName": spec.base_asset,
                    "tradeSideType": 1,
                }
            )
        return {
            "timezone": "CST",
            "serverTime": ex.epoch_ms(now),
            "rateLimits": [],
            "exchangeFilters": [],
            "symbols": symbols,
        }

    def depth(self, params: dict[str, str], account: UserAccount | None, now: float) -> object:
        """``GET /api/v3/depth``: the book with its version as ``lastUpdateId``."""
        symbol = _required(params, "symbol")
        limit = _int(params, "limit")
        limit = 100 if limit is None else limit
        if limit <= 0:
            raise ExchangeError(400, 33333, "Parameter 'limit' is invalid")
        limit = min(limit, 5000)
        market = self.exchange.market(symbol, now)
        stale = self.faults.stale_snapshot
        version = max(market.version - stale, market.oldest_version)
        book = market.book_at(version, limit) if stale else market.snapshot(limit)
        spec = market.spec
        return {
            "lastUpdateId": book.version,
            "bids": [[spec.price_text(p), spec.quantity_text(q)] for p, q in book.bids],
            "asks": [[spec.price_text(p), spec.quantity_text(q)] for p, q in book.asks],
            "timestamp": self.exchange.epoch_ms(now),
        }

    # ------------------------------------------------------------ listen keys

    def listen_key_create(
        self, params: dict[str, str], account: UserAccount | None, now: float
    ) -> object:
        """``POST /api/v3/userDataStream``."""
        assert account is not None
        return {"listenKey": self.exchange.create_listen_key(account, now)}

    def listen_key_list(
        self, params: dict[str, str], account: UserAccount | None, now: float
    ) -> object:
        """``GET /api/v3/userDataStream``: the valid keys, as an array."""
        assert account is not None
        return {"listenKey": self.exchange.listen_keys_of(account, now)}

    def listen_key_keepalive(
        self, params: dict[str, str], account: UserAccount | None, now: float
    ) -> object:
        """``PUT /api/v3/userDataStream``."""
        assert account is not None
        key = _required(params, "listenKey")
        self.exchange.keep_alive(account, key, now)
        return {"listenKey": key}

    def listen_key_delete(
        self, params: dict[str, str], account: UserAccount | None, now: float
    ) -> object:
        """``DELETE /api/v3/userDataStream``."""
        assert account is not None
        key = _required(params, "listenKey")
        self.exchange.delete_listen_key(account, key, now)
        return {"listenKey": key}

    # ------------------------------------------------------------ account and orders

    def account_info(
        self, params: dict[str, str], account: UserAccount | None, now: float
    ) -> object:
        """``GET /api/v3/account``."""
        assert account is not None
        self.exchange.advance(now)
        return {
            "makerCommission": None,
            "takerCommission": None,
            "buyerCommission": None,
            "sellerCommission": None,
            "canTrade": True,
            "canWithdraw": True,
            "canDeposit": True,
            "updateTime": None,
            "accountType": "SPOT",
            "balances": [
                {"asset": asset, "free": decimal_text(free), "locked": decimal_text(locked)}
                for asset, (free, locked) in sorted(account.balances.items())
            ],
            "permissions": ["SPOT"],
        }

    def order_place(
        self, params: dict[str, str], account: UserAccount | None, now: float
    ) -> object:
        """``POST /api/v3/order``: the order is matched at once."""
        assert account is not None
        order = self.exchange.place_order(
            account,
            now,
            symbol=_required(params, "symbol"),
            side=_required(params, "side"),
            type=_required(params, "type"),
            quantity=params.get("quantity"),
            quote_order_qty=params.get("quoteOrderQty"),
            price=params.get("price"),
            client_order_id=params.get("newClientOrderId"),
        )
        spec = self.exchange.markets[order.symbol].spec
        return {
            "symbol": order.symbol,
            "orderId": order.order_id,
            "orderListId": -1,
            "price": spec.price_text(order.price) if order.price is not None else "0",
            "origQty": spec.quantity_text(order.quantity) if order.quantity is not None else "0",
            "type": order.type.name,
            "side": "BUY" if order.side == BUY else "SELL",
            "transactTime": order.created,
        }

    def order_cancel(
        self, params: dict[str, str], account: UserAccount | None, now: float
    ) -> object:
        """``DELETE /api/v3/order``."""
        assert account is not None
        order = self.exchange.cancel_order(
            account,
            now,
            symbol=_required(params, "symbol"),
            order_id=params.get("orderId"),
            client_order_id=params.get("origClientOrderId"),
        )
        view = self._order_view(order)
        view["origClientOrderId"] = order.client_order_id
        return view

    def order_get(self, params: dict[str, str], account: UserAccount | None, now: float) -> object:
        """``GET /api/v3/order``."""
        assert account is not None
        order = self.exchange.get_order(
            account,
            now,
            symbol=_required(params, "symbol"),
            order_id=params.get("orderId"),
            client_order_id=params.get("origClientOrderId"),
        )
        return self._order_view(order)

    def open_orders(
        self, params: dict[str, str], account: UserAccount | None, now: float
    ) -> object:
        """``GET /api/v3/openOrders``."""
        assert account is not None
        orders = self.exchange.open_orders(account, now, params.get("symbol"))
        return [self._order_view(o) for o in orders]

    def my_trades(self, params: dict[str, str], account: UserAccount | None, now: float) -> object:
        """``GET /api/v3/myTrades``: the newest ``limit`` fills (default 100, at most 100)."""
        assert account is not None
        symbol = _required(params, "symbol")
        self.exchange.market(symbol, now)
        order_id = params.get("orderId")
        start = _int(params, "startTime")
        end = _int(params, "endTime")
        limit = _int(params, "limit")
        limit = 100 if limit is None else max(1, min(limit, 100))
        rows = [
            t
            for t in account.trades
            if t["symbol"] == symbol
            and (order_id is None or t["orderId"] == order_id)
            and (start is None or _as_int(t["time"]) >= start)
            and (end is None or _as_int(t["time"]) <= end)
        ]
        return rows[-limit:]

    def all_orders(self, params: dict[str, str], account: UserAccount | None, now: float) -> object:
        """``GET /api/v3/allOrders``: the account's orders on ``symbol`` (open,
        cancelled, filled) created from ``startTime`` to ``endTime``, both inclusive.

        As MEXC: the window is the last 24 hours without ``startTime``, and never
        reaches further back than 7 days; ``limit`` defaults to 500 and is capped
        at 1000. Like ``myTrades``, a full answer holds the window's newest
        orders, oldest first.
        """
        assert account is not None
        symbol = _required(params, "symbol")
        self.exchange.market(symbol, now)
        now_ms = self.exchange.epoch_ms(now)
        start = _int(params, "startTime")
        end = _int(params, "endTime")
        limit = _int(params, "limit")
        limit = ALL_ORDERS_LIMIT if limit is None else max(1, min(limit, ALL_ORDERS_MAX_LIMIT))
        start = now_ms - ALL_ORDERS_DEFAULT_SPAN_MS if start is None else start
        start = max(start, now_ms - ALL_ORDERS_MAX_AGE_MS)
        rows = sorted(
            (
                o
                for o in account.orders.values()
                if o.symbol == symbol and o.created >= start and (end is None or o.created <= end)
            ),
            key=lambda o: o.created,
        )
        return [self._order_view(o) for o in rows[-limit:]]

    def _order_view(self, order: UserOrder) -> dict[str, object]:
        spec = self.exchange.markets[order.symbol].spec
        status = order.status
        if status is OrderStatus.PARTIALLY_CANCELED:
            status = OrderStatus.CANCELED  # REST reports a partly filled cancel as CANCELED
        return {
            "symbol": order.symbol,
            "orderId": order.order_id,
            "orderListId": -1,
            "clientOrderId": order.client_order_id or None,
            "price": spec.price_text(order.price) if order.price is not None else "0",
            "origQty": spec.quantity_text(order.quantity) if order.quantity is not None else "0",
            "executedQty": spec.quantity_text(order.executed),
            "cummulativeQuoteQty": spec.amount_text(order.cumulative_amount),
            "status": status.name,
            "timeInForce": "",
            "type": order.type.name,
            "side": "BUY" if order.side == BUY else "SELL",
            "stopPrice": "",
            "icebergQty": "",
            "time": order.created,
            "updateTime": order.updated,
            "isWorking": order.is_open,
            "origQuoteOrderQty": (
                spec.amount_text(order.quote_quantity)
                if order.quote_quantity is not None and order.type is OrderType.MARKET
                else "0"
            ),
        }

    # ------------------------------------------------------------ the simulator's own

    def sim_book(self, params: dict[str, str], account: UserAccount | None, now: float) -> object:
        """``GET /_sim/book?symbol=..[&version=..][&limit=..]``: the exact book (truth)."""
        symbol = _required(params, "symbol")
        market = self.exchange.market(symbol, now)
        version = _int(params, "version")
        limit = _int(params, "limit")
        try:
            book = market.book_at(version, limit) if version is not None else market.snapshot(limit)
        except LookupError as exc:
            raise ExchangeError(404, 404, str(exc)) from None
        spec = market.spec
        return {
            "symbol": symbol,
            "version": book.version,
            "bids": [[spec.price_text(p), spec.quantity_text(q)] for p, q in book.bids],
            "asks": [[spec.price_text(p), spec.quantity_text(q)] for p, q in book.asks],
        }

    def sim_expire(self, params: dict[str, str], account: UserAccount | None, now: float) -> object:
        """``POST /_sim/expireListenKey?listenKey=..``: expire a key now (fault injection)."""
        key = _required(params, "listenKey")
        self.exchange.expire_listen_key(key, now)
        return {"listenKey": key}


def _required(params: dict[str, str], name: str) -> str:
    value = params.get(name)
    if value is None or value == "":
        raise ExchangeError(
            400, 44444, f"Mandatory parameter '{name}' was not sent, was empty/null"
        )
    return value


def _int(params: dict[str, str], name: str, *, required: bool = False) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise ExchangeError(
                400, 44444, f"Mandatory parameter '{name}' was not sent, was empty/null"
            )
        return None
    try:
        return int(value)
    except ValueError:
        raise ExchangeError(400, 33333, f"Parameter '{name}' is invalid: {value!r}") from None


def _as_int(value: object) -> int:
    assert isinstance(value, int)
    return value


#: MEXC's documented weight of each endpoint (1 when not listed).
WEIGHTS: Final[dict[tuple[str, str], int]] = {
    ("GET", "/api/v3/exchangeInfo"): 10,
    ("GET", "/api/v3/account"): 10,
    ("GET", "/api/v3/myTrades"): 10,
    ("GET", "/api/v3/allOrders"): 10,
    ("GET", "/api/v3/openOrders"): 3,
    ("GET", "/api/v3/order"): 2,
}

_ROUTES: Final[dict[tuple[str, str], tuple[_Handler, bool]]] = {
    ("GET", "/api/v3/ping"): (RestApi.ping, False),
    ("GET", "/api/v3/time"): (RestApi.time, False),
    ("GET", "/api/v3/exchangeInfo"): (RestApi.exchange_info, False),
    ("GET", "/api/v3/depth"): (RestApi.depth, False),
    ("POST", "/api/v3/userDataStream"): (RestApi.listen_key_create, True),
    ("GET", "/api/v3/userDataStream"): (RestApi.listen_key_list, True),
    ("PUT", "/api/v3/userDataStream"): (RestApi.listen_key_keepalive, True),
    ("DELETE", "/api/v3/userDataStream"): (RestApi.listen_key_delete, True),
    ("GET", "/api/v3/account"): (RestApi.account_info, True),
    ("POST", "/api/v3/order"): (RestApi.order_place, True),
    ("DELETE", "/api/v3/order"): (RestApi.order_cancel, True),
    ("GET", "/api/v3/order"): (RestApi.order_get, True),
    ("GET", "/api/v3/openOrders"): (RestApi.open_orders, True),
    ("GET", "/api/v3/myTrades"): (RestApi.my_trades, True),
    ("GET", "/api/v3/allOrders"): (RestApi.all_orders, True),
    ("GET", "/_sim/book"): (RestApi.sim_book, False),
    ("POST", "/_sim/expireListenKey"): (RestApi.sim_expire, False),
}
