"""MEXC Spot V3 REST, sans-IO: request objects, HMAC-SHA256 signing, typed responses.

Nothing here opens a connection. A request is built as a :class:`RestRequest` (method,
path, query, body, headers) that any HTTP client can send; the adapter
``mexc_core.aio.http`` does it with h11. The response's status, headers and body go
back into :meth:`RestRequest.parse`, which returns a typed result or raises a typed
:class:`RestError`.

Signing (``docs/protocol.rst``, "Signing"): ``signature`` is the lower-case hex
HMAC-SHA256 of *totalParams*, the query string concatenated directly (no ``&``) with
the request body, keyed with the secret key; it is sent as the last query parameter,
with the ``X-MEXC-APIKEY`` header. Signed requests carry ``timestamp`` (ms, from the
caller's wall clock plus a server-time offset the caller can set) and
``recvWindow``; MEXC accepts ``timestamp < serverTime + 1000`` and
``serverTime - timestamp <= recvWindow`` (at most 60000).

The API secret never appears in a repr, a log or an exception; listen keys are
shown shortened (:func:`shorten`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final, Generic, TypeVar, cast, final
from urllib.parse import quote

from mexc_core._json import JSON, loads
from mexc_core.errors import EncodeError, InvalidCredentials, LocalProtocolError, MexcError

__all__ = (
    "DEFAULT_RECV_WINDOW",
    "MAX_RECV_WINDOW",
    "AccountInfo",
    "ApiError",
    "Balance",
    "Credentials",
    "DepthSnapshot",
    "ExchangeInfo",
    "InvalidResponse",
    "IpBanned",
    "ListenKey",
    "ListenKeys",
    "Order",
    "RateLimited",
    "RestClient",
    "RestError",
    "RestRequest",
    "ServerError",
    "ServerTime",
    "SymbolInfo",
    "Trade",
    "check_status",
    "encode_params",
    "shorten",
    "sign",
)

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
_F = TypeVar("_F")

DEFAULT_RECV_WINDOW: Final = 5000
MAX_RECV_WINDOW: Final = 60000
API_KEY_HEADER: Final = "X-MEXC-APIKEY"
#: The longest ``Retry-After`` honoured, in seconds (MEXC's IP bans last up to days).
MAX_RETRY_AFTER: Final = 86400.0
_INTEGER = re.compile(r"-?[0-9]{1,20}")


# ---------------------------------------------------------------- signing


def sign(secret_key: str, total_params: str) -> str:
    """MEXC's request signature: lower-case hex HMAC-SHA256 of ``total_params``.

    ``total_params`` is the query string concatenated directly with the body.

    >>> sign("45d0b3c26f2644f19bfb98b07741b2f5",
    ...      "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=11"
    ...      "&recvWindow=5000&timestamp=1644489390087")
    'fd3e4e8543c5188531eb7279d68ae7d26a573d0fc5ab0d18eb692451654d837a'
    """
    return hmac.new(secret_key.encode(), total_params.encode(), hashlib.sha256).hexdigest()


def encode_params(params: Sequence[tuple[str, object]]) -> str:
    """Encode parameters in order as ``k=v&k=v``, percent-encoding reserved bytes.

    MEXC signs the string exactly as sent, so the order given is kept. Special
    characters (commas in ``symbols=A,B`` included) are percent-encoded with
    upper-case hex, as MEXC asks for batch endpoints. Numbers are written in
    plain decimal notation (``0.00001``, never ``1e-05``), booleans as
    ``true``/``false``.

    >>> encode_params([("quantity", 1e-05), ("price", Decimal("2.50")), ("test", True)])
    'quantity=0.00001&price=2.50&test=true'

    :raises EncodeError: a value is not a str, int, bool, float or Decimal, or is
        a number that is not finite.
    """
    parts = []
    for key, value in params:
        parts.append(f"{quote(key, safe='')}={quote(_param_text(key, value), safe='')}")
    return "&".join(parts)


def _param_text(key: str, value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int):
        return str(value)
    if isinstance(value, float | Decimal):
        number = Decimal(repr(value)) if isinstance(value, float) else value
        if not number.is_finite():
            raise EncodeError(f"parameter {key!r} is {value}; MEXC needs a finite number")
        return format(number, "f")
    raise EncodeError(
        f"parameter {key!r} is a {type(value).__name__}; pass a str, int, bool, float or Decimal"
    )


def shorten(secret: str, keep: int = 4) -> str:
    """``abcd…wxyz``: enough of a key or listen key to tell them apart in logs."""
    if len(secret) <= 2 * keep:
        return "…"
    return f"{secret[:keep]}…{secret[-keep:]}"


#: Anything but printable ASCII without the space: what no API key or secret holds.
_NOT_KEY_CHAR: Final = re.compile(r"[^!-~]")


def _check_credential(name: str, value: object) -> None:
    """Refuse a key or secret MEXC cannot accept, without ever showing it."""
    fix = f"copy the {name} again from the MEXC API management page"
    if not isinstance(value, str):
        raise InvalidCredentials(
            f"{name} must be a str, not {type(value).__name__}; {fix}", field=name
        )
    if not value:
        raise InvalidCredentials(f"{name} is empty; {fix}", field=name)
    bad = _NOT_KEY_CHAR.search(value)
    if bad is not None:
        char = bad.group()
        what = "a space" if char == " " else f"the character U+{ord(char):04X}"
        raise InvalidCredentials(
            f"{name} contains {what} at position {bad.start()} (MEXC keys are printable"
            f" ASCII without spaces); {fix}",
            field=name,
        )


@final
@dataclass(frozen=True, slots=True)
class Credentials:
    """An API key and its secret. The secret is never shown.

    :ivar api_key: sent in the ``X-MEXC-APIKEY`` header.
    :ivar secret_key: signs requests; never leaves this object except as signatures.
    """

    api_key: str
    secret_key: str = field(repr=False)

    def __post_init__(self) -> None:
        _check_credential("api_key", self.api_key)
        _check_credential("secret_key", self.secret_key)

    def __repr__(self) -> str:
        return f"Credentials(api_key={shorten(self.api_key)!r}, secret_key='***')"

    def sign(self, total_params: str) -> str:
        """:func:`sign` with this secret."""
        return sign(self.secret_key, total_params)


# ---------------------------------------------------------------- errors


class RestError(MexcError):
    """A REST call failed: the server answered with an error or an unreadable body.

    :ivar status: the HTTP status.
    :ivar code: MEXC's error ``code`` from the body, if any.
    :ivar msg: MEXC's ``msg``, or a description.
    """

    def __init__(
        self, message: str, *, status: int, code: int | None = None, msg: str = ""
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.msg = msg


class ApiError(RestError):
    """MEXC refused the request (4xx with ``{"code":..,"msg":..}``), e.g. 700002."""


class RateLimited(RestError):
    """HTTP 429: too many requests. Wait ``retry_after`` seconds (None if not sent)."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        retry_after: float | None,
        code: int | None = None,
        msg: str = "",
    ) -> None:
        super().__init__(message, status=status, code=code, msg=msg)
        self.retry_after = retry_after


class IpBanned(RateLimited):
    """HTTP 418: the IP is banned after repeated limit breaches; honour ``retry_after``."""


class ServerError(RestError):
    """HTTP 5xx: MEXC failed; for orders the outcome is UNKNOWN (check before retrying)."""


class InvalidResponse(RestError):
    """The body is not the JSON shape this endpoint returns."""


# ---------------------------------------------------------------- results


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ServerTime:
    """``GET /api/v3/time``: MEXC's clock, in ms since the epoch."""

    server_time: int


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class DepthSnapshot:
    """``GET /api/v3/depth``: the order book at ``last_update_id``.

    :ivar last_update_id: the book version; compare with diff-depth versions as ints.
    :ivar bids: ``(price, quantity)`` strings, best first.
    :ivar asks: ``(price, quantity)`` strings, best first.
    """

    symbol: str
    last_update_id: int
    bids: tuple[tuple[str, str], ...]
    asks: tuple[tuple[str, str], ...]


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class SymbolInfo:
    """One symbol of ``exchangeInfo`` (the fields the framework uses; ``raw`` has all)."""

    symbol: str
    status: str
    base_asset: str
    quote_asset: str
    raw: Mapping[str, JSON] = field(repr=False, compare=False)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ExchangeInfo:
    """``GET /api/v3/exchangeInfo``."""

    server_time: int
    timezone: str
    symbols: tuple[SymbolInfo, ...]

    def symbol(self, name: str) -> SymbolInfo | None:
        """The symbol called ``name``, or ``None``."""
        return next((s for s in self.symbols if s.symbol == name), None)


@final
@dataclass(frozen=True, slots=True)
class ListenKey:
    """A listen key (``POST``/``PUT``/``DELETE /api/v3/userDataStream``); shown shortened."""

    key: str = field(repr=False)

    def __repr__(self) -> str:
        return f"ListenKey({shorten(self.key)!r})"


@final
@dataclass(frozen=True, slots=True)
class ListenKeys:
    """``GET /api/v3/userDataStream``: the account's valid listen keys."""

    keys: tuple[str, ...] = field(repr=False)

    def __repr__(self) -> str:
        return f"ListenKeys({[shorten(k) for k in self.keys]!r})"

    def __contains__(self, key: object) -> bool:
        return key in self.keys


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Balance:
    """One asset of the account: ``free`` and ``locked`` amounts as strings."""

    asset: str
    free: str
    locked: str


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class AccountInfo:
    """``GET /api/v3/account`` (``raw`` keeps the whole body)."""

    can_trade: bool
    update_time: int | None
    balances: tuple[Balance, ...]
    raw: Mapping[str, JSON] = field(repr=False, compare=False)

    def balance(self, asset: str) -> Balance | None:
        """The balance of ``asset``, or ``None``."""
        return next((b for b in self.balances if b.asset == asset), None)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Order:
    """An order as REST returns it (placement, cancel, open orders)."""

    symbol: str
    order_id: str
    client_order_id: str
    price: str
    orig_qty: str
    executed_qty: str
    status: str
    type: str
    side: str
    time: int | None
    raw: Mapping[str, JSON] = field(repr=False, compare=False)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Trade:
    """One of the account's fills (``GET /api/v3/myTrades``)."""

    symbol: str
    id: str
    order_id: str
    price: str
    qty: str
    quote_qty: str
    commission: str
    commission_asset: str
    time: int
    is_buyer: bool
    is_maker: bool
    raw: Mapping[str, JSON] = field(repr=False, compare=False)


# ---------------------------------------------------------------- parsing


def _retry_after(headers: Mapping[str, str]) -> float | None:
    for key, value in headers.items():
        if key.lower() == "retry-after":
            try:
                seconds = float(value)
            except ValueError:
                return None
            # a wait that is negative, not finite, or over a day is not one to honour
            return seconds if 0 <= seconds <= MAX_RETRY_AFTER else None
    return None


def _json(status: int, body: bytes) -> JSON:
    try:
        return loads(body)
    except (ValueError, RecursionError) as exc:
        raise InvalidResponse(
            f"HTTP {status}: body is not JSON: {body[:120]!r}", status=status
        ) from exc


def check_status(status: int, headers: Mapping[str, str], body: bytes) -> None:
    """Raise the typed error for a non-2xx response; return for 2xx.

    :raises RateLimited: 429 (``retry_after`` from ``Retry-After``).
    :raises IpBanned: 418.
    :raises ServerError: 5xx.
    :raises ApiError: any other non-2xx, with MEXC's ``code`` and ``msg`` when given.
    """
    if 200 <= status < 300:
        return
    code: int | None = None
    msg = ""
    try:
        obj = loads(body)
    except (ValueError, RecursionError):
        obj = None
    if isinstance(obj, dict):
        raw_code = obj.get("code")
        code = raw_code if type(raw_code) is int else None
        msg = str(obj.get("msg", ""))
    text = (
        f"HTTP {status}"
        + (f" code {code}" if code is not None else "")
        + (f": {msg}" if msg else "")
    )
    if status == 418:
        raise IpBanned(text, status=status, retry_after=_retry_after(headers), code=code, msg=msg)
    if status == 429:
        raise RateLimited(
            text, status=status, retry_after=_retry_after(headers), code=code, msg=msg
        )
    if status >= 500:
        raise ServerError(text, status=status, code=code, msg=msg)
    raise ApiError(text, status=status, code=code, msg=msg)


def _field(obj: Mapping[str, JSON], key: str, kind: type[_F], status: int) -> _F:
    value = obj.get(key)
    if kind is str and isinstance(value, int | float) and not isinstance(value, bool):
        return cast("_F", str(value))
    if kind is int and type(value) is str and _INTEGER.fullmatch(value):
        return cast("_F", int(value))
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InvalidResponse(f"field {key!r} is not {kind.__name__}: {value!r}", status=status)
    return value


def _object(value: JSON, status: int, what: str) -> Mapping[str, JSON]:
    if not isinstance(value, dict):
        raise InvalidResponse(f"{what} is not a JSON object", status=status)
    return value


def _objects(value: JSON, status: int, what: str) -> list[Mapping[str, JSON]]:
    """A JSON list whose every item is an object (``what`` names the items)."""
    if not isinstance(value, list):
        raise InvalidResponse(f"the {what} are not a list", status=status)
    return [_object(item, status, what) for item in value]


def _levels(value: JSON, status: int, side: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list):
        raise InvalidResponse(f"{side} is not a list", status=status)
    out = []
    for level in value:
        price, quantity = level[:2] if isinstance(level, list) and len(level) >= 2 else (0, 0)
        if not isinstance(price, str) or not isinstance(quantity, str):
            raise InvalidResponse(f"{side} level is not [price, qty]: {level!r}", status=status)
        out.append((price, quantity))
    return tuple(out)


def _symbol_info(item: Mapping[str, JSON], status: int) -> SymbolInfo:
    return SymbolInfo(
        symbol=_field(item, "symbol", str, status),
        status=str(item.get("status", "")),
        base_asset=str(item.get("baseAsset", "")),
        quote_asset=str(item.get("quoteAsset", "")),
        raw=item,
    )


def _balance(item: Mapping[str, JSON], status: int) -> Balance:
    return Balance(
        asset=_field(item, "asset", str, status),
        free=_field(item, "free", str, status),
        locked=_field(item, "locked", str, status),
    )


def _trade(obj: Mapping[str, JSON], status: int) -> Trade:
    return Trade(
        symbol=_field(obj, "symbol", str, status),
        id=_field(obj, "id", str, status),
        order_id=_field(obj, "orderId", str, status),
        price=_field(obj, "price", str, status),
        qty=_field(obj, "qty", str, status),
        quote_qty=str(obj.get("quoteQty", "")),
        commission=str(obj.get("commission", "")),
        commission_asset=str(obj.get("commissionAsset", "")),
        time=_field(obj, "time", int, status),
        is_buyer=bool(obj.get("isBuyer", False)),
        is_maker=bool(obj.get("isMaker", False)),
        raw=obj,
    )


def _parse_empty(status: int, body: bytes) -> None:
    _object(_json(status, body), status, "ping body")


def _parse_time(status: int, body: bytes) -> ServerTime:
    obj = _object(_json(status, body), status, "time body")
    return ServerTime(server_time=_field(obj, "serverTime", int, status))


def _parse_depth(symbol: str) -> Callable[[int, bytes], DepthSnapshot]:
    def parse(status: int, body: bytes) -> DepthSnapshot:
        obj = _object(_json(status, body), status, "depth body")
        return DepthSnapshot(
            symbol=symbol,
            last_update_id=_field(obj, "lastUpdateId", int, status),
            bids=_levels(obj.get("bids"), status, "bids"),
            asks=_levels(obj.get("asks"), status, "asks"),
        )

    return parse


def _parse_exchange_info(status: int, body: bytes) -> ExchangeInfo:
    obj = _object(_json(status, body), status, "exchangeInfo body")
    symbols = [
        _symbol_info(item, status) for item in _objects(obj.get("symbols", []), status, "symbols")
    ]
    return ExchangeInfo(
        server_time=_field(obj, "serverTime", int, status),
        timezone=str(obj.get("timezone", "")),
        symbols=tuple(symbols),
    )


def _parse_listen_key(status: int, body: bytes) -> ListenKey:
    obj = _object(_json(status, body), status, "listen key body")
    return ListenKey(_field(obj, "listenKey", str, status))


def _parse_listen_keys(status: int, body: bytes) -> ListenKeys:
    obj = _object(_json(status, body), status, "listen keys body")
    keys = obj.get("listenKey", [])
    if not isinstance(keys, list) or len(texts := [k for k in keys if isinstance(k, str)]) != len(
        keys
    ):
        raise InvalidResponse("listenKey is not a list of strings", status=status)
    return ListenKeys(tuple(texts))


def _parse_account(status: int, body: bytes) -> AccountInfo:
    obj = _object(_json(status, body), status, "account body")
    balances = [
        _balance(item, status) for item in _objects(obj.get("balances", []), status, "balances")
    ]
    update_time = obj.get("updateTime")
    return AccountInfo(
        can_trade=bool(obj.get("canTrade", False)),
        update_time=update_time if type(update_time) is int else None,
        balances=tuple(balances),
        raw=obj,
    )


def _order(obj: Mapping[str, JSON], status: int) -> Order:
    time = obj.get("time", obj.get("transactTime"))
    return Order(
        symbol=_field(obj, "symbol", str, status),
        order_id=_field(obj, "orderId", str, status),
        client_order_id=str(obj.get("clientOrderId") or ""),
        price=str(obj.get("price", "")),
        orig_qty=str(obj.get("origQty", "")),
        executed_qty=str(obj.get("executedQty", "")),
        status=str(obj.get("status", "")),
        type=str(obj.get("type", "")),
        side=str(obj.get("side", "")),
        time=time if type(time) is int else None,
        raw=obj,
    )


def _parse_order(status: int, body: bytes) -> Order:
    return _order(_object(_json(status, body), status, "order body"), status)


def _parse_orders(status: int, body: bytes) -> tuple[Order, ...]:
    return tuple(_order(item, status) for item in _objects(_json(status, body), status, "orders"))


def _parse_trades(status: int, body: bytes) -> tuple[Trade, ...]:
    return tuple(_trade(obj, status) for obj in _objects(_json(status, body), status, "trades"))


# ---------------------------------------------------------------- requests


def _window(
    symbol: str, start_time: int | None, end_time: int | None, limit: int | None
) -> list[tuple[str, object]]:
    """The parameters of a read of ``symbol``'s history: the window and page size given."""
    params: list[tuple[str, object]] = [("symbol", symbol)]
    for key, value in (("startTime", start_time), ("endTime", end_time), ("limit", limit)):
        if value is not None:
            params.append((key, value))
    return params


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class RestRequest(Generic[T_co]):
    """One HTTP request to MEXC and how to read its answer.

    :ivar method: ``GET``, ``POST``, ``PUT`` or ``DELETE``.
    :ivar path: e.g. ``/api/v3/depth``.
    :ivar query: the encoded query string (signature last when signed), or ``""``.
    :ivar body: the request body (empty: MEXC takes parameters in the query).
    :ivar headers: extra headers (the API key header for signed requests).
    :ivar signed: whether ``query`` carries a signature.
    :ivar weight: MEXC's documented request weight.
    """

    method: str
    path: str
    query: str = ""
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    signed: bool = False
    weight: int = 1
    parser: Callable[[int, bytes], T_co] = field(repr=False, compare=False)

    @property
    def target(self) -> str:
        """The request target: path plus ``?query`` when there is one."""
        return f"{self.path}?{self.query}" if self.query else self.path

    def parse(self, status: int, headers: Mapping[str, str], body: bytes) -> T_co:
        """Read the response to this request.

        :raises RestError: a non-2xx status (see :func:`check_status`) or a body of
            the wrong shape (:class:`InvalidResponse`).
        """
        check_status(status, headers, body)
        return self.parser(status, body)

    def __repr__(self) -> str:
        # the query of a signed request carries listen keys and signatures: shorten
        shown = self.path
        if self.query:
            shown += "?" + "&".join(
                f"{k}={shorten(v) if k in ('signature', 'listenKey') else v}"
                for k, _, v in (p.partition("=") for p in self.query.split("&"))
            )
        return f"RestRequest({self.method} {shown})"


class RestClient:
    """Builds MEXC REST requests; signs the private ones.

    Sans-IO: it never sends anything. Signed requests need the caller's wall clock
    (``now_ms``, ms since the epoch); :attr:`time_offset_ms` (server minus local,
    see :meth:`sync_time`) is added to it, so a skewed local clock does not make
    MEXC refuse requests with 700003.

    :param credentials: needed for signed endpoints only.
    :param recv_window: ms a signed request stays valid (MEXC: at most 60000).
    """

    def __init__(
        self, credentials: Credentials | None = None, *, recv_window: int = DEFAULT_RECV_WINDOW
    ) -> None:
        if not 0 < recv_window <= MAX_RECV_WINDOW:
            raise LocalProtocolError(f"recv_window must be in (0, {MAX_RECV_WINDOW}] ms")
        self.credentials = credentials
        self.recv_window = recv_window
        self.time_offset_ms = 0

    def __repr__(self) -> str:
        return (
            f"RestClient(credentials={self.credentials!r}, recv_window={self.recv_window}, "
            f"time_offset_ms={self.time_offset_ms})"
        )

    def sync_time(self, server_time_ms: int, sent_ms: int, received_ms: int) -> int:
        """Set the offset from a ``/api/v3/time`` answer and the local send/receive times.

        The server read its clock about halfway through the round trip.
        :returns: the new offset (server minus local, ms).
        """
        if received_ms < sent_ms:
            raise LocalProtocolError("received_ms is before sent_ms")
        self.time_offset_ms = server_time_ms - (sent_ms + received_ms) // 2
        return self.time_offset_ms

    def _signed(
        self,
        method: str,
        path: str,
        params: Sequence[tuple[str, object]],
        now_ms: int,
        parser: Callable[[int, bytes], T],
        weight: int = 1,
    ) -> RestRequest[T]:
        if self.credentials is None:
            raise LocalProtocolError(f"{method} {path} is signed: the client has no credentials")
        full = [
            *params,
            ("recvWindow", self.recv_window),
            ("timestamp", now_ms + self.time_offset_ms),
        ]
        query = encode_params(full)
        signature = self.credentials.sign(query)
        return RestRequest(
            method=method,
            path=path,
            query=f"{query}&signature={signature}",
            headers=((API_KEY_HEADER, self.credentials.api_key),),
            signed=True,
            weight=weight,
            parser=parser,
        )

    # -- public market data

    def ping(self) -> RestRequest[None]:
        """``GET /api/v3/ping``."""
        return RestRequest(method="GET", path="/api/v3/ping", parser=_parse_empty)

    def server_time(self) -> RestRequest[ServerTime]:
        """``GET /api/v3/time``."""
        return RestRequest(method="GET", path="/api/v3/time", parser=_parse_time)

    def exchange_info(self, symbols: Sequence[str] = ()) -> RestRequest[ExchangeInfo]:
        """``GET /api/v3/exchangeInfo`` for all symbols or the ones given (weight 10)."""
        params: list[tuple[str, object]] = []
        if len(symbols) == 1:
            params.append(("symbol", symbols[0]))
        elif symbols:
            params.append(("symbols", ",".join(symbols)))
        return RestRequest(
            method="GET",
            path="/api/v3/exchangeInfo",
            query=encode_params(params),
            weight=10,
            parser=_parse_exchange_info,
        )

    def depth(self, symbol: str, limit: int = 5000) -> RestRequest[DepthSnapshot]:
        """``GET /api/v3/depth``: the book snapshot (``limit`` 1..5000)."""
        if not 1 <= limit <= 5000:
            raise LocalProtocolError("depth limit must be in 1..5000")
        return RestRequest(
            method="GET",
            path="/api/v3/depth",
            query=encode_params([("symbol", symbol), ("limit", limit)]),
            parser=_parse_depth(symbol),
        )

    # -- listen keys (signed, as MEXC's own demo does)

    def create_listen_key(self, now_ms: int) -> RestRequest[ListenKey]:
        """``POST /api/v3/userDataStream``: a new key, valid 60 minutes."""
        return self._signed("POST", "/api/v3/userDataStream", (), now_ms, _parse_listen_key)

    def list_listen_keys(self, now_ms: int) -> RestRequest[ListenKeys]:
        """``GET /api/v3/userDataStream``: the account's valid keys."""
        return self._signed("GET", "/api/v3/userDataStream", (), now_ms, _parse_listen_keys)

    def keepalive_listen_key(self, key: str, now_ms: int) -> RestRequest[ListenKey]:
        """``PUT /api/v3/userDataStream``: extend ``key`` to 60 minutes from now."""
        return self._signed(
            "PUT", "/api/v3/userDataStream", (("listenKey", key),), now_ms, _parse_listen_key
        )

    def close_listen_key(self, key: str, now_ms: int) -> RestRequest[ListenKey]:
        """``DELETE /api/v3/userDataStream``: invalidate ``key``."""
        return self._signed(
            "DELETE", "/api/v3/userDataStream", (("listenKey", key),), now_ms, _parse_listen_key
        )

    # -- account and trading

    def account(self, now_ms: int) -> RestRequest[AccountInfo]:
        """``GET /api/v3/account``: balances (weight 10)."""
        return self._signed("GET", "/api/v3/account", (), now_ms, _parse_account, weight=10)

    def open_orders(self, symbol: str, now_ms: int) -> RestRequest[tuple[Order, ...]]:
        """``GET /api/v3/openOrders`` for ``symbol`` (weight 3)."""
        return self._signed(
            "GET", "/api/v3/openOrders", (("symbol", symbol),), now_ms, _parse_orders, weight=3
        )

    def my_trades(
        self,
        symbol: str,
        now_ms: int,
        *,
        start_time: int | None = None,
        end_time: int | None = None,
        limit: int | None = None,
    ) -> RestRequest[tuple[Trade, ...]]:
        """``GET /api/v3/myTrades``: the account's fills on ``symbol`` (weight 10).

        ``start_time`` and ``end_time`` (ms since the epoch) bound the fills'
        times, both inclusive; MEXC returns at most ``limit`` (default and most: 100).
        """
        params = _window(symbol, start_time, end_time, limit)
        return self._signed("GET", "/api/v3/myTrades", params, now_ms, _parse_trades, weight=10)

    def all_orders(
        self,
        symbol: str,
        now_ms: int,
        *,
        start_time: int | None = None,
        end_time: int | None = None,
        limit: int | None = None,
    ) -> RestRequest[tuple[Order, ...]]:
        """``GET /api/v3/allOrders``: the account's orders on ``symbol``, open,
        cancelled or filled (weight 10).

        ``start_time`` and ``end_time`` (ms since the epoch) bound the orders'
        creation times, both inclusive; without ``start_time`` MEXC answers for
        the last 24 hours, and it serves at most the last 7 days. It returns at
        most ``limit`` orders (default 500, most 1000).
        """
        params = _window(symbol, start_time, end_time, limit)
        return self._signed("GET", "/api/v3/allOrders", params, now_ms, _parse_orders, weight=10)

    def query_order(self, symbol: str, order_id: str, now_ms: int) -> RestRequest[Order]:
        """``GET /api/v3/order``: one order of the account, open or not (weight 2).

        MEXC answers ``-2011`` (an :class:`ApiError`) for an order it does not know.
        """
        return self._signed(
            "GET",
            "/api/v3/order",
            (("symbol", symbol), ("orderId", order_id)),
            now_ms,
            _parse_order,
            weight=2,
        )

    def place_order(
        self,
        symbol: str,
        side: str,
        order_type: str,
        now_ms: int,
        *,
        quantity: str | None = None,
        quote_order_qty: str | None = None,
        price: str | None = None,
        client_order_id: str | None = None,
    ) -> RestRequest[Order]:
        """``POST /api/v3/order``. Prices and quantities are decimal strings.

        :raises LocalProtocolError: side or type unknown, or no quantity given.
        """
        if side not in ("BUY", "SELL"):
            raise LocalProtocolError(f"side must be BUY or SELL, not {side!r}")
        types = ("LIMIT", "MARKET", "LIMIT_MAKER", "IMMEDIATE_OR_CANCEL", "FILL_OR_KILL")
        if order_type not in types:
            raise LocalProtocolError(f"order type must be one of {', '.join(types)}")
        if quantity is None and quote_order_qty is None:
            raise LocalProtocolError("an order needs quantity or quote_order_qty")
        if order_type != "MARKET" and price is None:
            raise LocalProtocolError(f"a {order_type} order needs a price")
        params: list[tuple[str, object]] = [
            ("symbol", symbol),
            ("side", side),
            ("type", order_type),
        ]
        for key, value in (
            ("quantity", quantity),
            ("quoteOrderQty", quote_order_qty),
            ("price", price),
            ("newClientOrderId", client_order_id),
        ):
            if value is not None:
                params.append((key, value))
        return self._signed("POST", "/api/v3/order", params, now_ms, _parse_order)

    def cancel_order(
        self,
        symbol: str,
        now_ms: int,
        *,
        order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> RestRequest[Order]:
        """``DELETE /api/v3/order`` by ``order_id`` or ``client_order_id``."""
        if (order_id is None) == (client_order_id is None):
            raise LocalProtocolError("give exactly one of order_id and client_order_id")
        params: list[tuple[str, object]] = [("symbol", symbol)]
        if order_id is not None:
            params.append(("orderId", order_id))
        else:
            params.append(("origClientOrderId", client_order_id))
        return self._signed("DELETE", "/api/v3/order", params, now_ms, _parse_order)
