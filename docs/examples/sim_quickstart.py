"""Run the exchange simulator and talk to it like to MEXC: WebSocket, REST, signing.

``uv run python docs/examples/sim_quickstart.py`` starts a simulator in a thread
on a free loopback port (ten times faster than real time), then:

1. keeps a local order book of BTCUSDT from a REST snapshot and the diff-depth
   stream, with mexc-core's sans-IO client over a plain socket, and checks it
   against the simulator's truth;
2. creates a listen key and places an order with signed REST requests.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from decimal import Decimal
from urllib.parse import urlencode

from mexc_core.connection import Connection
from mexc_core.events import Push, Subscribed
from mexc_core.messages import PublicAggreDepthsV3Api
from mexc_sim import RunningSimulator, serve_in_thread, sign

SYMBOL = "BTCUSDT"
TOPIC = f"spot@public.aggre.depth.v3.api.pb@10ms@{SYMBOL}"


# [rest]
def rest(
    sim: RunningSimulator, method: str, path: str, params: dict[str, str], *, signed: bool = False
) -> object:
    """One REST call; signed calls carry the key header, a timestamp and the HMAC."""
    headers = {}
    if signed:
        server_time = rest(sim, "GET", "/api/v3/time", {})
        assert isinstance(server_time, dict)
        params = {**params, "timestamp": str(server_time["serverTime"])}
        query = urlencode(params)
        params["signature"] = sign(sim.api_secret, query)  # HMAC-SHA256 of the query
        headers["X-MEXC-APIKEY"] = sim.api_key
    client = http.client.HTTPConnection(sim.host, sim.port, timeout=10)
    try:
        client.request(method, f"{path}?{urlencode(params)}", headers=headers)
        return json.loads(client.getresponse().read())
    finally:
        client.close()


# [/rest]


# [book]
def sync_book(sim: RunningSimulator, updates: int = 30) -> None:
    """MEXC's procedure: buffer diffs, take a snapshot, drop what it covers, apply the rest."""
    sock = socket.create_connection((sim.host, sim.port), timeout=10)
    conn = Connection(host=f"{sim.host}:{sim.port}")
    conn.subscribe([TOPIC], time.monotonic())
    conn.connect(time.monotonic())
    sock.sendall(conn.data_to_send())
    book: dict[str, dict[Decimal, Decimal]] | None = None
    version = 0
    buffered: list[PublicAggreDepthsV3Api] = []
    applied = 0
    while applied < updates:
        conn.receive_data(sock.recv(65536), time.monotonic())
        for event in conn.events():
            if isinstance(event, Subscribed):
                print("subscribed:", event.topics[0])
            elif isinstance(event, Push) and isinstance(event.body, PublicAggreDepthsV3Api):
                buffered.append(event.body)
        sock.sendall(conn.data_to_send())
        if book is None and buffered:
            snapshot = rest(sim, "GET", "/api/v3/depth", {"symbol": SYMBOL, "limit": "5000"})
            assert isinstance(snapshot, dict)
            version = snapshot["lastUpdateId"]
            book = {
                side: {Decimal(p): Decimal(q) for p, q in snapshot[side]}
                for side in ("bids", "asks")
            }
            print("snapshot: lastUpdateId", version)
        if book is None:
            continue
        for diff in buffered:
            if int(diff.to_version) <= version:
                continue  # the snapshot already has it
            assert int(diff.from_version) <= version + 1, "gap: take a new snapshot"
            for side, items in (("bids", diff.bids), ("asks", diff.asks)):
                for item in items:
                    if Decimal(item.quantity):
                        book[side][Decimal(item.price)] = Decimal(item.quantity)
                    else:
                        book[side].pop(Decimal(item.price), None)
            version = int(diff.to_version)
            applied += 1
        buffered.clear()
    sock.close()
    assert book is not None
    truth = sim.call(sim.server.exchange.book, SYMBOL, version)
    spec = sim.server.exchange.markets[SYMBOL].spec
    same = sorted(book["bids"].items(), reverse=True) == [
        (Decimal(spec.price_text(p)), Decimal(spec.quantity_text(q))) for p, q in truth.bids
    ]
    print(f"local book at version {version}: {len(book['bids'])} bids, equal to the truth: {same}")


# [/book]


def main() -> None:
    # [start]
    with serve_in_thread(speed=10.0) as sim:
        print("WebSocket:", sim.ws_url)
        print("REST:", sim.rest_url)
        sync_book(sim)
        key = rest(sim, "POST", "/api/v3/userDataStream", {}, signed=True)
        assert isinstance(key, dict)
        print("listen key:", len(key["listenKey"]), "characters")
        order = {"symbol": SYMBOL, "side": "BUY", "type": "MARKET", "quoteOrderQty": "1000"}
        placed = rest(sim, "POST", "/api/v3/order", order, signed=True)
        assert isinstance(placed, dict)
        print("order:", placed["type"], placed["side"], placed["orderId"][:5] + "...")
        trades = rest(sim, "GET", "/api/v3/myTrades", {"symbol": SYMBOL}, signed=True)
        assert isinstance(trades, list)
        print("fills:", len(trades) > 0)
        bad = rest(sim, "GET", "/api/v3/account", {"timestamp": "1", "signature": "0" * 64})
        print("unsigned:", bad)
    # [/start]


if __name__ == "__main__":
    main()
