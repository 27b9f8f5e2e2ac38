"""The simulator speaks MEXC, as an independent client sees it.

Nothing of mexc-core on the client side: the ``websockets`` library for the
WebSocket, Google's protobuf runtime (compiled from ``proto/``) for the frames,
``json`` for control replies, and ``http.client`` + ``hmac`` from the standard
library for signed REST, written from MEXC's documentation alone.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import itertools
import json
from typing import Any
from urllib.parse import urlencode

import pytest
from websockets.sync.client import connect

from codegen import oracle
from mexc_sim.server import RunningSimulator
from tests.util import FACTOR

pytestmark = pytest.mark.slow  # real sockets, threads or subprocesses

DEPTH = "spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT"
DEALS = "spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT"


def rest_call(
    sim: RunningSimulator,
    method: str,
    path: str,
    params: dict[str, str],
    *,
    signed: bool = False,
    secret: str | None = None,
) -> tuple[int, Any]:
    headers: dict[str, str] = {}
    if signed:
        _, server_time = rest_call(sim, "GET", "/api/v3/time", {})
        params = {**params, "recvWindow": "5000", "timestamp": str(server_time["serverTime"])}
        query = urlencode(params)
        key = (secret or sim.api_secret).encode()
        params["signature"] = hmac.new(key, query.encode(), hashlib.sha256).hexdigest()
        headers["X-MEXC-APIKEY"] = sim.api_key
    conn = http.client.HTTPConnection(sim.host, sim.port, timeout=10 * FACTOR)
    try:
        conn.request(method, f"{path}?{urlencode(params)}", headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_websocket_pushes_and_replies_as_mexc_documents(mexc_sim: RunningSimulator) -> None:
    wrapper_type = oracle.classes()["PushDataV3ApiWrapper"]
    with connect(mexc_sim.ws_url, open_timeout=10 * FACTOR) as ws:
        ws.send(json.dumps({"method": "SUBSCRIPTION", "params": [DEPTH, DEALS]}))
        ws.send(json.dumps({"method": "SUBSCRIPTION", "params": ["spot@public.deals.v3.api@X"]}))
        ws.send('{"method":"ping"}')  # lower case, as ccxt sends it
        replies: list[dict[str, object]] = []
        pushes: list[Any] = []
        while len(pushes) < 10 or len(replies) < 3:
            frame = ws.recv(timeout=10 * FACTOR)
            if isinstance(frame, str):
                replies.append(json.loads(frame))
            else:
                wrapper: Any = wrapper_type()
                wrapper.ParseFromString(frame)
                pushes.append(wrapper)
    assert {"id": 0, "code": 0, "msg": f"{DEPTH},{DEALS}"} in replies
    assert {"id": 0, "code": 0, "msg": "PONG"} in replies
    rejected = [r for r in replies if str(r["msg"]).startswith("Not Subscribed successfully!")]
    assert rejected == [
        {
            "id": 0,
            "code": 0,
            "msg": "Not Subscribed successfully! [spot@public.deals.v3.api@X].  Reason： Blocked! ",
        }
    ]
    bodies = {p.WhichOneof("body") for p in pushes}
    assert bodies <= {"publicAggreDepths", "publicAggreDeals"}
    depth = [p for p in pushes if p.WhichOneof("body") == "publicAggreDepths"]
    assert depth
    for push in depth:
        assert push.channel == DEPTH
        assert push.symbol == "BTCUSDT"
        assert push.HasField("sendTime")
        body = push.publicAggreDepths
        assert body.eventType == "spot@public.aggre.depth.v3.api.pb@100ms"
        assert int(body.fromVersion) <= int(body.toVersion)
    # consecutive diffs continue each other's versions (fromVersion = previous toVersion + 1)
    versions = [
        (int(p.publicAggreDepths.fromVersion), int(p.publicAggreDepths.toVersion)) for p in depth
    ]
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(versions))


def test_signed_rest_and_a_private_stream(mexc_sim: RunningSimulator) -> None:
    status, depth = rest_call(mexc_sim, "GET", "/api/v3/depth", {"symbol": "BTCUSDT", "limit": "5"})
    assert status == 200
    assert isinstance(depth, dict)
    assert set(depth) >= {"lastUpdateId", "bids", "asks"}
    status, forged = rest_call(mexc_sim, "GET", "/api/v3/account", {}, signed=True, secret="x")
    assert status == 400
    assert forged["code"] == 700002
    status, keyless = rest_call(mexc_sim, "GET", "/api/v3/account", {"timestamp": "1"})
    assert status == 400  # no X-MEXC-APIKEY: MEXC's code 400, "api key required"
    assert keyless["code"] == 400
    status, created = rest_call(mexc_sim, "POST", "/api/v3/userDataStream", {}, signed=True)
    assert status == 200
    assert isinstance(created, dict)
    key = created["listenKey"]
    orders_type = oracle.classes()["PushDataV3ApiWrapper"]
    with connect(f"{mexc_sim.ws_url}?listenKey={key}", open_timeout=10 * FACTOR) as ws:
        ws.send(json.dumps({"method": "SUBSCRIPTION", "params": ["spot@private.orders.v3.api.pb"]}))
        assert json.loads(ws.recv(timeout=10 * FACTOR))["msg"] == "spot@private.orders.v3.api.pb"
        status, book = rest_call(
            mexc_sim, "GET", "/api/v3/depth", {"symbol": "BTCUSDT", "limit": "5"}
        )
        assert isinstance(book, dict)
        best_bid = book["bids"][0][0]
        status, order = rest_call(
            mexc_sim,
            "POST",
            "/api/v3/order",
            {
                "symbol": "BTCUSDT",
                "side": "BUY",
                "type": "LIMIT",
                "quantity": "0.001",
                "price": best_bid,
            },
            signed=True,
        )
        assert status == 200, order
        while True:
            frame = ws.recv(timeout=10 * FACTOR)
            if isinstance(frame, bytes):
                push: Any = orders_type()
                push.ParseFromString(frame)
                break
    assert push.channel == "spot@private.orders.v3.api.pb"
    assert push.WhichOneof("body") == "privateOrders"
    assert isinstance(order, dict)
    assert push.privateOrders.id == order["orderId"]
    assert push.privateOrders.tradeType == 1  # buy
