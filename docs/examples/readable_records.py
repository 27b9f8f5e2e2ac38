"""Read a decoded push the way MEXC's documentation reads: sides, decimals, UTC times.

Run it with ``uv run python docs/examples/readable_records.py``. Everything here is
pure: the bytes would come from a WebSocket binary frame.
"""

from __future__ import annotations

import json
from decimal import Decimal

from mexc_core.events import Push
from mexc_core.messages import (
    OrderStatus,
    OrderType,
    PrivateOrdersV3Api,
    PublicAggreDealsV3Api,
    TradeSide,
)
from mexc_core.wire import decode_push, push_as_dict, push_as_text

# Test vector V2 (docs/protocol.rst, "Wire test vectors"): one aggre.deals push.
V2 = bytes.fromhex(
    "0a2f73706f74407075626c69632e61676772652e6465616c732e76332e6170692e7062403130306d73"
    "40425443555344541a074254435553445430bca9d9d0c432d2134a0a1f0a0839333232302e3030120a"
    "302e3034343338323433180220bba9d9d0c432122773706f74407075626c69632e61676772652e6465"
    "616c732e76332e6170692e7062403130306d73"
)


def public_trade() -> None:
    # [deal]
    push = decode_push(V2)
    body = push.body
    assert isinstance(body, PublicAggreDealsV3Api)
    deal = body.deals[0]
    print(f"wire:      trade_type={deal.trade_type} price={deal.price!r} time={deal.time}")
    print(f"side:      {deal.side!r}")
    print(f"is a sell: {deal.side is TradeSide.SELL}")
    price, quantity = deal.price_decimal, deal.quantity_decimal
    # None would mean an empty or unreadable price: mypy makes you decide what then
    assert price is not None
    assert quantity is not None
    print(f"price:     {price!r}, notional {price * quantity}")
    print(f"exact:     {format(price, 'f') == deal.price}")
    print(f"time:      {deal.time_utc!r}")
    print(f"sent:      {push.send_time_utc}")
    # [/deal]


def private_order() -> None:
    # [order]
    order = PrivateOrdersV3Api(
        client_id="C02__505979017439002624115",
        price="3.5121",
        quantity="1",
        avg_price="3.6962",
        order_type=5,
        trade_type=2,
        cumulative_quantity="1",
        status=2,
        create_time=1736417034259,
    )
    print(f"order:     {order.side.name} {order.order_kind.name} {order.order_status.name}")
    print(f"market:    {order.order_kind is OrderType.MARKET_ORDER}")
    print(f"done:      {order.order_status is OrderStatus.FULLY_TRADED}")
    print(f"filled:    {order.cumulative_quantity_decimal == Decimal(1)}")
    # A code MEXC has not documented (yet) reads as UNKNOWN; the raw field keeps it.
    future = order._replace(order_type=7)
    print(f"future:    {future.order_kind!r}, raw {future.order_type}")
    # [/order]


def views() -> None:
    # [views]
    push = decode_push(V2)
    print(push_as_text(push))
    line = push_as_dict(push, readable=True)
    print(json.dumps(line["body"]))
    print(f"send_time_utc: {line['send_time_utc']}")
    # [/views]
    private = Push(
        channel="spot@private.orders.v3.api.pb",
        body=PrivateOrdersV3Api(
            id="C02__505979017439002624115",
            price="3.5121",
            quantity="1",
            order_type=1,
            trade_type=1,
            status=1,
        ),
        symbol="MXUSDT",
        send_time=1736417034281,
    )
    print(push_as_text(private))


if __name__ == "__main__":
    public_trade()
    private_order()
    views()
