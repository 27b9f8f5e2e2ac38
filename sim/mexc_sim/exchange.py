"""The simulated exchange: markets, accounts, listen keys, orders and push routing.

Theory of operation
===================

:class:`Exchange` is sans-IO: every method that depends on time takes ``now``, the
simulator's clock in seconds (0 when the exchange starts), and the exchange's own
clock in epoch milliseconds is ``config.start_ms + now * 1000``. It owns

- the markets (:class:`~mexc_sim.market.Market`), advanced lazily, except the
  *hot* ones (watched by a feed, or holding a user's resting order), which
  :meth:`Exchange.advance` runs in global time order so that fills and pushes
  come out in the order they happened;
- the public feeds (:mod:`mexc_sim.feeds`), one per subscribed topic, fired on
  their cadence between market events (an event at the same millisecond as a
  firing comes first);
- accounts with API keys and balances, listen keys (60 min validity, 60 per
  account, 5 connections per key), orders matched against the simulated book and
  the private pushes they cause (orders, deals, account);
- the subscribers (WebSocket sessions), to which it delivers encoded frames.

:meth:`Exchange.advance` is the only method that moves time forward; every other
method first advances to its ``now``. Given the same seed, configuration and the
same calls at the same times, the exchange produces the same bytes.

Errors a REST caller made are raised as :class:`ExchangeError` with MEXC's HTTP status,
code and message.
"""

from __future__ import annotations

import heapq
import math
import random
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final, final

from mexc_core import wire
from mexc_core.channels import ACCOUNT, PRIVATE_DEALS, PRIVATE_ORDERS, InvalidTopic, parse
from mexc_core.messages import PrivateAccountV3Api, PrivateDealsV3Api, PrivateOrdersV3Api
from mexc_sim._numbers import from_text
from mexc_sim.feeds import FEED_KINDS, Feed, Subscriber, make_feed
from mexc_sim.market import (
    BUY,
    SELL,
    BookSnapshot,
    Fill,
    Market,
    MarketSpec,
    OrderStatus,
    OrderType,
    UserOrder,
)

__all__ = (
    "DEFAULT_API_KEY",
    "DEFAULT_API_SECRET",
    "LISTEN_KEY_VALIDITY",
    "MAX_CONNECTIONS_PER_LISTEN_KEY",
    "MAX_LISTEN_KEYS",
    "Exchange",
    "ExchangeConfig",
    "ExchangeError",
    "ListenKeyLease",
    "Subscriber",
    "UserAccount",
    "decimal_text",
    "default_markets",
    "market_spec",
)

#: MEXC keeps a listen key valid for 60 minutes after creation or the last PUT.
LISTEN_KEY_VALIDITY: Final = 3600.0
#: At most 60 valid listen keys per account (``docs/protocol.rst``, "Listen keys").
MAX_LISTEN_KEYS: Final = 60
#: At most 5 WebSocket connections per listen key (``docs/protocol.rst``, "Listen keys").
MAX_CONNECTIONS_PER_LISTEN_KEY: Final = 5
#: The credentials of the default account: those of MEXC's signing test vector
#: (``docs/protocol.rst``, "Signing").
DEFAULT_API_KEY: Final = "mx0aBYs33eIilxBWC5"
DEFAULT_API_SECRET: Final = "45d0b3c26f2644f19bfb98b07741b2f5"  # noqa: S105 - public test vector
#: 2026-01-01T00:00:00Z: the default exchange time at simulator time 0.
DEFAULT_START_MS: Final = 1_767_225_600_000

_PRIVATE_TOPICS: Final = frozenset(
    {ACCOUNT.template, PRIVATE_DEALS.template, PRIVATE_ORDERS.template}
)

# Well-known pairs: (symbol, base, price, price scale, quantity scale, mean order size).
_KNOWN: Final = (
    ("BTCUSDT", "BTC", "93220.5", 1, 6, "0.05"),
    ("ETHUSDT", "ETH", "3310.42", 2, 5, "0.8"),
    ("MXUSDT", "MX", "2.1534", 4, 2, "150"),
    ("SOLUSDT", "SOL", "182.37", 2, 3, "12"),
    ("XRPUSDT", "XRP", "2.4187", 4, 2, "900"),
    ("DOGEUSDT", "DOGE", "0.31542", 5, 1, "5000"),
    ("ADAUSDT", "ADA", "0.9321", 4, 2, "1500"),
    ("LTCUSDT", "LTC", "104.52", 2, 4, "9"),
)


class ExchangeError(Exception):
    """A REST request MEXC would refuse: HTTP ``status`` with ``{"code":..,"msg":..}``."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(f"HTTP {status} code {code}: {msg}")
        self.status = status
        self.code = code
        self.msg = msg


def default_markets(
    count: int = 3, *, levels: int = 40, event_rate: float = 10.0
) -> tuple[MarketSpec, ...]:
    """``count`` market specs: well-known pairs first, then ``SIM001USDT``... .

    Synthetic pairs get a price drawn from their name, so the list is stable, and
    a fifth of ``event_rate``: most pairs of an exchange are quiet.
    """
    out: list[MarketSpec] = []
    for i in range(count):
        rate = event_rate
        if i < len(_KNOWN):
            symbol, base, price, pscale, qscale, mean = _KNOWN[i]
        else:
            rate = event_rate / 5
            base = f"SIM{i - len(_KNOWN) + 1:03d}"
            symbol = f"{base}USDT"
            rng = random.Random(symbol)
            pscale, qscale = 4, 2
            price = f"{rng.uniform(0.5, 500):.4f}"
            mean = f"{rng.uniform(5, 500):.2f}"
        out.append(
            market_spec(
                symbol, base, "USDT", price, pscale, qscale, mean, levels=levels, event_rate=rate
            )
        )
    return tuple(out)


def market_spec(
    symbol: str,
    base: str,
    quote: str,
    price: str,
    price_scale: int,
    quantity_scale: int,
    mean_quantity: str,
    *,
    levels: int = 40,
    event_rate: float = 10.0,
) -> MarketSpec:
    """A :class:`MarketSpec` from decimal strings."""
    ticks = from_text(price, price_scale)
    lots = from_text(mean_quantity, quantity_scale)
    if ticks is None or lots is None or ticks <= levels or lots <= 0:
        raise ValueError(f"{symbol}: bad price {price!r} or quantity {mean_quantity!r}")
    return MarketSpec(
        symbol=symbol,
        base_asset=base,
        quote_asset=quote,
        price_scale=price_scale,
        quantity_scale=quantity_scale,
        initial_price=ticks,
        mean_quantity=lots,
        levels=levels,
        event_rate=event_rate,
    )


def decimal_text(value: Decimal) -> str:
    """A decimal as MEXC prints balances: plain notation, no trailing zeros.

    >>> decimal_text(Decimal("10.500")), decimal_text(Decimal("1E+2")), decimal_text(Decimal("-0"))
    ('10.5', '100', '0')
    """
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ExchangeConfig:
    """What the simulated exchange holds.

    :ivar seed: the seed of every random choice (markets, ids, listen keys).
    :ivar markets: the pairs traded.
    :ivar start_ms: exchange time (epoch ms) at simulator time 0.
    :ivar api_key: the default account's API key. :ivar api_secret: its secret.
    :ivar balances: the default account's starting balances (asset -> amount).
    :ivar maker_fee: fee rate of maker fills. :ivar taker_fee: of taker fills.
    :ivar listen_key_validity: seconds a listen key lives without a PUT.
    """

    seed: int | str = 0
    markets: tuple[MarketSpec, ...] = field(default_factory=default_markets)
    start_ms: int = DEFAULT_START_MS
    api_key: str = DEFAULT_API_KEY
    api_secret: str = DEFAULT_API_SECRET
    balances: tuple[tuple[str, str], ...] = ()
    maker_fee: str = "0"
    taker_fee: str = "0.0005"
    listen_key_validity: float = LISTEN_KEY_VALIDITY


@dataclass(slots=True, eq=False)
class UserAccount:
    """One account: credentials, balances ``asset -> [free, locked]``, orders, trades."""

    uid: str
    api_key: str
    api_secret: str
    balances: dict[str, list[Decimal]]
    orders: dict[str, UserOrder] = field(default_factory=dict)
    trades: list[dict[str, object]] = field(default_factory=list)

    def balance(self, asset: str) -> list[Decimal]:
        """``[free, locked]`` of ``asset`` (created at zero)."""
        return self.balances.setdefault(asset, [Decimal(0), Decimal(0)])


@dataclass(slots=True, eq=False)
class ListenKeyLease:
    """A listen key: who owns it, until when it is valid, who is connected with it."""

    key: str
    account: UserAccount
    expires: float
    connections: dict[int, Subscriber] = field(default_factory=dict)


class Exchange:
    """The simulated exchange (see the module docstring).

    :param config: markets, accounts and seed; the defaults give three markets and
        one account with the documentation's test-vector credentials.
    """

    def __init__(self, config: ExchangeConfig | None = None) -> None:
        cfg = config or ExchangeConfig()
        self.config = cfg
        self.seed = cfg.seed
        self.time_ms = cfg.start_ms
        self.now = 0.0
        self.markets: dict[str, Market] = {}
        for spec in cfg.markets:
            if spec.symbol in self.markets:
                raise ValueError(f"duplicate market {spec.symbol}")
            self.markets[spec.symbol] = Market(spec, seed=cfg.seed, start=cfg.start_ms)
        self._index = {symbol: i for i, symbol in enumerate(self.markets)}
        self._by_index = list(self.markets.values())
        self._rng = random.Random(f"{cfg.seed}/exchange")
        self._order_seq = self._rng.randrange(10**17, 9 * 10**17)
        self.maker_fee = Decimal(cfg.maker_fee)
        self.taker_fee = Decimal(cfg.taker_fee)
        self.accounts: dict[str, UserAccount] = {}
        self._by_uid: dict[str, UserAccount] = {}
        balances = dict(cfg.balances) or self._default_balances()
        self.add_account(cfg.api_key, cfg.api_secret, balances)
        self.feeds: dict[str, Feed] = {}
        self._ticks: list[tuple[int, int, str]] = []
        self._tick_seq = 0
        self._hot: list[tuple[int, int]] = []
        self._heaped: set[int] = set()
        self._watched: dict[int, int] = {}
        self.listen_keys: dict[str, ListenKeyLease] = {}
        self._private: dict[str, dict[str, dict[int, Subscriber]]] = {}
        self._reserved: dict[str, Decimal] = {}
        self._coin_ids: dict[str, str] = {}

    # ------------------------------------------------------------ clock

    def epoch_ms(self, now: float) -> int:
        """Exchange time (epoch ms) at simulator time ``now`` (seconds)."""
        return self.config.start_ms + math.floor(now * 1000 + 1e-6)

    def seconds_at(self, epoch_ms: int) -> float:
        """Simulator time (seconds) of exchange time ``epoch_ms``."""
        return (epoch_ms - self.config.start_ms) / 1000

    def next_deadline(self) -> float | None:
        """Simulator time of the next market event or feed firing, if any is scheduled."""
        times = []
        if self._hot:
            times.append(self._hot[0][0])
        if self._ticks:
            times.append(self._ticks[0][0])
        candidates = [k.expires for k in self.listen_keys.values() if k.connections]
        if times:
            candidates.append(self.seconds_at(min(times)))
        return min(candidates) if candidates else None

    def advance(self, now: float) -> None:
        """Run every market event, feed firing and listen-key expiry up to ``now``."""
        now = max(now, self.now)
        target = self.epoch_ms(now)
        hot, ticks = self._hot, self._ticks
        while True:
            next_event = hot[0][0] if hot else None
            next_tick = ticks[0][0] if ticks else None
            if (
                next_event is not None
                and next_event <= target
                and (next_tick is None or next_event <= next_tick)
            ):
                when, index = heapq.heappop(hot)
                self._heaped.discard(index)
                market = self._by_index[index]
                if market.next_event == when:
                    market.step()
                    self._route_fills(market)
                self._reheap(index)
            elif next_tick is not None and next_tick <= target:
                when, _seq, topic = heapq.heappop(ticks)
                feed = self.feeds.get(topic)
                if feed is None or feed.next_tick != when:
                    continue
                self._fire(feed, when)
                heapq.heappush(ticks, (feed.next_tick, _seq, topic))
            else:
                break
        self.time_ms = max(self.time_ms, target)
        self.now = now
        self._expire_listen_keys(now)

    def _reheap(self, index: int) -> None:
        market = self._by_index[index]
        hot = self._watched.get(index, 0) > 0 or market.resting_orders > 0
        if hot and index not in self._heaped:
            heapq.heappush(self._hot, (market.next_event, index))
            self._heaped.add(index)

    def market(self, symbol: str, now: float | None = None) -> Market:
        """The market of ``symbol``, advanced to ``now`` if given.

        :raises ExchangeError: no such market (MEXC's 30014 ``Invalid symbol.``).
        """
        market = self.markets.get(symbol)
        if market is None:
            raise ExchangeError(400, 30014, "Invalid symbol.")
        if now is not None:
            self.advance(now)
            market.advance_to(self.time_ms)
            self._route_fills(market)
        return market

    # ------------------------------------------------------------ truth

    def book(
        self, symbol: str, version: int | None = None, *, depth: int | None = None
    ) -> BookSnapshot:
        """The exact book of ``symbol`` at ``version`` (default: the current one).

        :raises LookupError: the version is not kept or not reached yet.
        :raises ExchangeError: no such market.
        """
        market = self.market(symbol)
        return market.snapshot(depth) if version is None else market.book_at(version, depth)

    # ------------------------------------------------------------ feeds

    def subscribe(
        self, subscriber: Subscriber, topic: str, now: float, *, account: UserAccount | None = None
    ) -> None:
        """Start delivering ``topic`` to ``subscriber`` (the topic is valid and served)."""
        self.advance(now)
        if topic in _PRIVATE_TOPICS:
            assert account is not None
            self._private.setdefault(account.uid, {}).setdefault(topic, {})[subscriber.sid] = (
                subscriber
            )
            return
        feed = self.feeds.get(topic)
        if feed is None:
            for market in self._feed_markets(topic):
                market.advance_to(self.time_ms)
                self._route_fills(market)
            feed = make_feed(topic, self.markets, self.time_ms)
            self.feeds[topic] = feed
            if len(feed.markets) == 1:
                index = self._index[feed.market.symbol]
                self._watched[index] = self._watched.get(index, 0) + 1
                self._reheap(index)
            self._tick_seq += 1
            heapq.heappush(self._ticks, (feed.next_tick, self._tick_seq, topic))
        feed.subscribers[subscriber.sid] = subscriber

    def _feed_markets(self, topic: str) -> list[Market]:
        symbol = getattr(parse(topic), "symbol", None)
        return [self.markets[symbol]] if isinstance(symbol, str) else []

    def unsubscribe(
        self, subscriber: Subscriber, topic: str, *, account: UserAccount | None = None
    ) -> None:
        """Stop delivering ``topic`` to ``subscriber`` (no-op if it was not subscribed)."""
        if topic in _PRIVATE_TOPICS:
            if account is not None:
                self._private.get(account.uid, {}).get(topic, {}).pop(subscriber.sid, None)
            return
        feed = self.feeds.get(topic)
        if feed is None:
            return
        feed.subscribers.pop(subscriber.sid, None)
        if not feed.subscribers:
            del self.feeds[topic]
            if len(feed.markets) == 1:
                index = self._index[feed.market.symbol]
                self._watched[index] -= 1

    def serves(self, topic: str) -> bool:
        """Whether a SUBSCRIPTION to ``topic`` succeeds (channel served, symbol listed)."""
        try:
            typed = parse(topic)
        except InvalidTopic:
            return False
        spec = typed.spec
        if spec.private:
            return True
        if spec.name not in FEED_KINDS:
            return False
        symbol = getattr(typed, "symbol", None)
        return symbol is None or symbol in self.markets

    def _fire(self, feed: Feed, when: int) -> None:
        for market in feed.markets:
            if market.next_event <= when:
                market.advance_to(when)
                self._route_fills(market)
        frame = feed.fire(when)
        if frame is None:
            return
        now = self.seconds_at(when)
        for subscriber in list(feed.subscribers.values()):
            subscriber.deliver(feed.topic, frame, now)

    # ------------------------------------------------------------ accounts

    def _default_balances(self) -> dict[str, str]:
        balances = {"USDT": "1000000"}
        for spec in self.config.markets:
            balances.setdefault(spec.quote_asset, "1000000")
            mean = Decimal(spec.mean_quantity).scaleb(-spec.quantity_scale)
            balances.setdefault(spec.base_asset, decimal_text(mean * 100))
        return balances

    def add_account(self, api_key: str, api_secret: str, balances: dict[str, str]) -> UserAccount:
        """Open an account with these credentials and balances."""
        if api_key in self.accounts:
            raise ValueError(f"API key {api_key!r} exists")
        uid = str(10_000_000 + len(self.accounts))
        account = UserAccount(
            uid, api_key, api_secret, {a: [Decimal(v), Decimal(0)] for a, v in balances.items()}
        )
        self.accounts[api_key] = account
        self._by_uid[uid] = account
        return account

    def coin_id(self, asset: str) -> str:
        """MEXC's opaque id of an asset (32 hex digits, from the seed)."""
        cid = self._coin_ids.get(asset)
        if cid is None:
            cid = f"{random.Random(f'{self.seed}/coin/{asset}').getrandbits(128):032x}"
            self._coin_ids[asset] = cid
        return cid

    # ------------------------------------------------------------ listen keys

    def create_listen_key(self, account: UserAccount, now: float) -> str:
        """A new listen key, valid for ``listen_key_validity`` seconds.

        :raises ExchangeError: the account already has 60 valid keys.
        """
        self.advance(now)
        valid = [k for k in self.listen_keys.values() if k.account is account]
        if len(valid) >= MAX_LISTEN_KEYS:
            raise ExchangeError(
                400, 33333, f"listenKey limit exceeded: at most {MAX_LISTEN_KEYS} per account"
            )
        alphabet = string.ascii_lowercase + string.digits
        key = "".join(self._rng.choice(alphabet) for _ in range(64))
        self.listen_keys[key] = ListenKeyLease(key, account, now + self.config.listen_key_validity)
        return key

    def listen_keys_of(self, account: UserAccount, now: float) -> list[str]:
        """The account's valid listen keys, oldest first."""
        self.advance(now)
        return [k.key for k in self.listen_keys.values() if k.account is account]

    def _own_key(self, account: UserAccount, key: str) -> ListenKeyLease:
        entry = self.listen_keys.get(key)
        if entry is None or entry.account is not account:
            raise ExchangeError(400, 730002, "Your input param is invalid")
        return entry

    def keep_alive(self, account: UserAccount, key: str, now: float) -> None:
        """Extend a listen key to ``listen_key_validity`` from ``now``.

        :raises ExchangeError: unknown or expired key.
        """
        self.advance(now)
        self._own_key(account, key).expires = now + self.config.listen_key_validity

    def delete_listen_key(self, account: UserAccount, key: str, now: float) -> None:
        """Invalidate a listen key and close its connections.

        :raises ExchangeError: unknown or expired key.
        """
        self.advance(now)
        self._invalidate(self._own_key(account, key), now)

    def expire_listen_key(self, key: str, now: float) -> None:
        """Fault injection: invalidate ``key`` now, as if it had expired."""
        self.advance(now)
        entry = self.listen_keys.get(key)
        if entry is not None:
            self._invalidate(entry, now)

    def _invalidate(self, entry: ListenKeyLease, now: float) -> None:
        self.listen_keys.pop(entry.key, None)
        for subscriber in list(entry.connections.values()):
            subscriber.listen_key_invalidated(now)
        entry.connections.clear()

    def _expire_listen_keys(self, now: float) -> None:
        for entry in [k for k in self.listen_keys.values() if k.expires <= now]:
            self._invalidate(entry, now)

    def attach(self, key: str, subscriber: Subscriber, now: float) -> UserAccount | None:
        """Connect a WebSocket with listen key ``key``; ``None`` if the key is not valid.

        :raises ExchangeError: the key already has 5 connections (status 429).
        """
        self.advance(now)
        entry = self.listen_keys.get(key)
        if entry is None:
            return None
        if len(entry.connections) >= MAX_CONNECTIONS_PER_LISTEN_KEY:
            raise ExchangeError(
                429, 429, f"at most {MAX_CONNECTIONS_PER_LISTEN_KEY} connections per listen key"
            )
        entry.connections[subscriber.sid] = subscriber
        return entry.account

    def detach(
        self, subscriber: Subscriber, topics: Iterable[str], account: UserAccount | None
    ) -> None:
        """A session ended: drop its subscriptions and its listen-key slot."""
        for topic in list(topics):
            self.unsubscribe(subscriber, topic, account=account)
        for entry in self.listen_keys.values():
            entry.connections.pop(subscriber.sid, None)

    # ------------------------------------------------------------ orders

    def _next_order_id(self) -> str:
        self._order_seq += 1
        return f"C02__{self._order_seq}"

    def place_order(
        self,
        account: UserAccount,
        now: float,
        *,
        symbol: str,
        side: str,
        type: str,
        quantity: str | None = None,
        quote_order_qty: str | None = None,
        price: str | None = None,
        client_order_id: str | None = None,
    ) -> UserOrder:
        """Place an order as ``POST /api/v3/order`` does; match it at once.

        :raises ExchangeError: a bad parameter, an unknown symbol, or too little balance.
        """
        market = self.market(symbol, now)
        spec = market.spec
        if side not in ("BUY", "SELL"):
            raise ExchangeError(400, 33333, f"Parameter 'side' is invalid: {side!r}")
        try:
            kind = OrderType[type]
        except KeyError:
            raise ExchangeError(400, 33333, f"Parameter 'type' is invalid: {type!r}") from None
        lots = _parse(quantity, spec.quantity_scale, "quantity")
        ticks = _parse(price, spec.price_scale, "price")
        quote_scale = spec.price_scale + spec.quantity_scale
        budget = _parse(quote_order_qty, quote_scale, "quoteOrderQty")
        if kind is OrderType.MARKET:
            if (lots is None) == (budget is None):
                raise ExchangeError(
                    400, 33333, "MARKET orders need one of quantity or quoteOrderQty"
                )
            ticks = None
        else:
            if lots is None or ticks is None:
                raise ExchangeError(400, 44444, f"{type} orders need quantity and price")
            budget = None
        for value in (lots, ticks, budget):
            if value is not None and value <= 0:
                raise ExchangeError(
                    400, 30002, "The minimum transaction volume cannot be less than 0"
                )
        when = self.time_ms
        order_side = BUY if side == "BUY" else SELL
        order = UserOrder(
            order_id=self._next_order_id(),
            client_order_id=client_order_id or "",
            account=account.uid,
            symbol=symbol,
            side=order_side,
            type=kind,
            price=ticks,
            quantity=lots,
            quote_quantity=budget,
            created=when,
            updated=when,
        )
        # Reserve what the order may spend (MEXC's "frozen" amount).
        if order_side == BUY:
            asset = spec.quote_asset
            if budget is not None:
                reserve = Decimal(budget).scaleb(-quote_scale)
            elif ticks is not None and lots is not None:
                reserve = Decimal(ticks * lots).scaleb(-quote_scale)
            else:  # a market buy by quantity may spend up to the whole free balance
                reserve = account.balance(asset)[0]
                order.quote_quantity = int(reserve.scaleb(quote_scale))
        else:
            asset = spec.base_asset
            assert lots is not None
            reserve = Decimal(lots).scaleb(-spec.quantity_scale)
        free, locked = account.balance(asset)
        if reserve > free or reserve <= 0:
            raise ExchangeError(400, 30004, "Insufficient position")
        account.balances[asset] = [free - reserve, locked + reserve]
        self._reserved[order.order_id] = reserve
        account.orders[order.order_id] = order
        self._push_account(account, asset, -reserve, reserve, "ENTRUST_PLACE", when)
        self._push_order(account, order, when)
        market.place(order, when)
        self._route_fills(market)
        if not order.is_open and order.order_id in self._reserved:
            self._release(account, order, when)
            self._push_order(account, order, when)
        self._reheap(self._index[symbol])
        return order

    def cancel_order(
        self,
        account: UserAccount,
        now: float,
        *,
        symbol: str,
        order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> UserOrder:
        """Cancel an open order as ``DELETE /api/v3/order`` does.

        :raises ExchangeError: unknown symbol, or no such open order (``-2011``).
        """
        market = self.market(symbol, now)
        order = self._find_order(account, symbol, order_id, client_order_id)
        if not order.is_open:
            raise ExchangeError(400, -2011, "Unknown order sent.")
        market.cancel(order, self.time_ms)
        self._release(account, order, self.time_ms)
        self._push_order(account, order, self.time_ms)
        return order

    def _find_order(
        self, account: UserAccount, symbol: str, order_id: str | None, client_order_id: str | None
    ) -> UserOrder:
        if order_id is None and client_order_id is None:
            raise ExchangeError(400, 44444, "Param 'origClientOrderId' or 'orderId' must be sent")
        for order in account.orders.values():
            if order.symbol != symbol:
                continue
            if order_id is not None and order.order_id == order_id:
                return order
            if order_id is None and order.client_order_id == client_order_id:
                return order
        raise ExchangeError(400, -2011, "Unknown order sent.")

    def get_order(
        self,
        account: UserAccount,
        now: float,
        *,
        symbol: str,
        order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> UserOrder:
        """One order of the account (``GET /api/v3/order``)."""
        self.market(symbol, now)
        return self._find_order(account, symbol, order_id, client_order_id)

    def open_orders(
        self, account: UserAccount, now: float, symbol: str | None = None
    ) -> list[UserOrder]:
        """The account's open orders, oldest first (``GET /api/v3/openOrders``)."""
        if symbol is not None:
            self.market(symbol, now)
        else:
            self.advance(now)
        return [
            o
            for o in account.orders.values()
            if o.is_open and (symbol is None or o.symbol == symbol)
        ]

    def _release(self, account: UserAccount, order: UserOrder, when: int) -> None:
        """Return what a closed order still holds frozen to the free balance."""
        left = self._reserved.pop(order.order_id, Decimal(0))
        spec = self.markets[order.symbol].spec
        asset = spec.quote_asset if order.side == BUY else spec.base_asset
        if left:
            free, locked = account.balance(asset)
            account.balances[asset] = [free + left, locked - left]
            kind = (
                "ENTRUST_CANCEL"
                if order.status in (OrderStatus.CANCELED, OrderStatus.PARTIALLY_CANCELED)
                else "ENTRUST_UNFROZEN"
            )
            self._push_account(account, asset, left, -left, kind, when)

    def _route_fills(self, market: Market) -> None:
        for fill in market.take_fills():
            self._settle(fill)

    def _settle(self, fill: Fill) -> None:
        order, trade = fill.order, fill.trade
        account = self._by_uid[order.account]
        spec = self.markets[order.symbol].spec
        quote_scale = spec.price_scale + spec.quantity_scale
        qty = Decimal(trade.quantity).scaleb(-spec.quantity_scale)
        amount = Decimal(trade.quantity * trade.price).scaleb(-quote_scale)
        rate = self.maker_fee if fill.is_maker else self.taker_fee
        base, quote = spec.base_asset, spec.quote_asset
        when = trade.time
        if order.side == BUY:
            if order.price is not None:
                consumed = Decimal(trade.quantity * order.price).scaleb(-quote_scale)
            else:
                consumed = amount
            fee, fee_asset = qty * rate, base
            free, locked = account.balance(quote)
            account.balances[quote] = [free + consumed - amount, locked - consumed]
            self._reserved[order.order_id] = (
                self._reserved.get(order.order_id, Decimal(0)) - consumed
            )
            bfree, blocked = account.balance(base)
            account.balances[base] = [bfree + qty - fee, blocked]
            self._push_account(account, quote, consumed - amount, -consumed, "ENTRUST", when)
            self._push_account(account, base, qty - fee, Decimal(0), "ENTRUST", when)
        else:
            fee, fee_asset = amount * rate, quote
            bfree, blocked = account.balance(base)
            account.balances[base] = [bfree, blocked - qty]
            self._reserved[order.order_id] = self._reserved.get(order.order_id, Decimal(0)) - qty
            free, locked = account.balance(quote)
            account.balances[quote] = [free + amount - fee, locked]
            self._push_account(account, base, Decimal(0), -qty, "ENTRUST", when)
            self._push_account(account, quote, amount - fee, Decimal(0), "ENTRUST", when)
        record: dict[str, object] = {
            "symbol": order.symbol,
            "id": trade.trade_id,
            "orderId": order.order_id,
            "orderListId": -1,
            "price": spec.price_text(trade.price),
            "qty": spec.quantity_text(trade.quantity),
            "quoteQty": decimal_text(amount),
            "commission": decimal_text(fee),
            "commissionAsset": fee_asset,
            "time": when,
            "isBuyer": order.side == BUY,
            "isMaker": fill.is_maker,
            "isBestMatch": True,
            "isSelfTrade": fill.is_self_trade,
            "clientOrderId": order.client_order_id or None,
        }
        account.trades.append(record)
        deal = PrivateDealsV3Api(
            price=spec.price_text(trade.price),
            quantity=spec.quantity_text(trade.quantity),
            amount=decimal_text(amount),
            trade_type=order.side,
            is_maker=fill.is_maker,
            is_self_trade=fill.is_self_trade,
            trade_id=trade.trade_id,
            client_order_id=order.client_order_id,
            order_id=order.order_id,
            fee_amount=decimal_text(fee),
            fee_currency=fee_asset,
            time=when,
        )
        self._push_private(account, PRIVATE_DEALS.template, deal, when, symbol=order.symbol)
        self._push_order(account, order, when, is_maker=fill.is_maker)
        if order.status is OrderStatus.FILLED:
            self._release(account, order, when)

    # ------------------------------------------------------------ private pushes

    def _push_private(
        self,
        account: UserAccount,
        topic: str,
        body: PrivateAccountV3Api | PrivateDealsV3Api | PrivateOrdersV3Api,
        when: int,
        *,
        symbol: str | None = None,
    ) -> None:
        subscribers = self._private.get(account.uid, {}).get(topic)
        if not subscribers:
            return
        frame = wire.encode_push(topic, body, symbol=symbol, create_time=when, send_time=when)
        now = self.seconds_at(when)
        for subscriber in list(subscribers.values()):
            subscriber.deliver(topic, frame, now)

    def _push_account(
        self,
        account: UserAccount,
        asset: str,
        free_change: Decimal,
        locked_change: Decimal,
        kind: str,
        when: int,
    ) -> None:
        free, locked = account.balance(asset)
        body = PrivateAccountV3Api(
            vcoin_name=asset,
            coin_id=self.coin_id(asset),
            balance_amount=decimal_text(free),
            balance_amount_change=decimal_text(free_change),
            frozen_amount=decimal_text(locked),
            frozen_amount_change=decimal_text(locked_change),
            type=kind,
            time=when,
        )
        self._push_private(account, ACCOUNT.template, body, when)

    def _push_order(
        self, account: UserAccount, order: UserOrder, when: int, *, is_maker: bool = False
    ) -> None:
        spec = self.markets[order.symbol].spec
        quote_scale = spec.price_scale + spec.quantity_scale
        qty = order.quantity
        price = order.price
        amount = (
            Decimal(qty * price).scaleb(-quote_scale)
            if qty is not None and price is not None
            else Decimal(order.quote_quantity or 0).scaleb(-quote_scale)
        )
        done = Decimal(order.cumulative_amount).scaleb(-quote_scale)
        avg = spec.price_text(order.cumulative_amount // order.executed) if order.executed else "0"
        body = PrivateOrdersV3Api(
            id=order.order_id,
            client_id=order.client_order_id,
            price=spec.price_text(price) if price is not None else "0",
            quantity=spec.quantity_text(qty) if qty is not None else "0",
            amount=decimal_text(amount),
            avg_price=avg,
            order_type=order.type.value,
            trade_type=order.side,
            is_maker=is_maker,
            remain_amount=decimal_text(max(amount - done, Decimal(0))),
            remain_quantity=spec.quantity_text(max((qty or 0) - order.executed, 0)),
            last_deal_quantity=spec.quantity_text(order.last_fill) if order.last_fill else None,
            cumulative_quantity=spec.quantity_text(order.executed),
            cumulative_amount=decimal_text(done),
            status=order.status.value,
            create_time=order.created,
        )
        self._push_private(account, PRIVATE_ORDERS.template, body, when, symbol=order.symbol)

    def account_for_key(self, api_key: str) -> UserAccount | None:
        """The account of an API key."""
        return self.accounts.get(api_key)

    def markets_of(self, symbols: Sequence[str] | None) -> list[Market]:
        """Markets by symbol (all when ``None``).

        :raises ExchangeError: an unknown symbol.
        """
        if symbols is None:
            return list(self.markets.values())
        return [self.market(s) for s in symbols]


def _parse(text: str | None, scale: int, name: str) -> int | None:
    if text is None:
        return None
    value = from_text(text, scale)
    if value is None:
        raise ExchangeError(
            400, 33333, f"Parameter '{name}' is invalid: {text!r} (at most {scale} decimals)"
        )
    return value
