"""The simulator at the byte level, sans-IO: HTTP/1.1 and WebSocket on one connection."""

from __future__ import annotations

import json

import h11
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    Request,
    TextMessage,
)

from mexc_core.wire import encode_subscription
from mexc_sim import SimConfig, Simulator, TransportAction, WsRules
from mexc_sim.exchange import Exchange, ExchangeConfig
from mexc_sim.market import MarketSpec
from mexc_sim.protocol import CLOSE_HANDSHAKE_TIMEOUT, SimConnection


def action(conn: SimConnection) -> TransportAction:
    return conn.action  # a call, so that mypy does not narrow the attribute


def request(method: str, target: str, extra: list[tuple[str, str]] | None = None) -> bytes:
    client = h11.Connection(h11.CLIENT)
    headers = [("host", "x"), *(extra or [])]
    return client.send(h11.Request(method=method, target=target, headers=headers)) + client.send(
        h11.EndOfMessage()
    )


def responses(data: bytes) -> list[tuple[int, bytes]]:
    client = h11.Connection(h11.CLIENT)
    # h11 needs to have "sent" requests to read responses; fake as many as needed.
    out: list[tuple[int, bytes]] = []
    client.receive_data(data)
    status, body = 0, b""
    while True:
        if client.our_state is h11.IDLE:
            client.send(h11.Request(method="GET", target="/", headers=[("host", "x")]))
            client.send(h11.EndOfMessage())
        event = client.next_event()
        if event is h11.NEED_DATA or event is h11.PAUSED:
            return out
        if isinstance(event, h11.Response):
            status, body = event.status_code, b""
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            out.append((status, body))
            if client.our_state is h11.MUST_CLOSE or client.their_state is h11.MUST_CLOSE:
                return out
            client.start_next_cycle()


def test_pipelined_requests_are_answered_in_order() -> None:
    sim = Simulator()
    conn = sim.connect(0.0)
    conn.receive_data(request("GET", "/api/v3/ping") + request("GET", "/api/v3/time"), 0.25)
    got = responses(conn.data_to_send())
    assert got == [(200, b"{}"), (200, b'{"serverTime":%d}' % (sim.exchange.config.start_ms + 250))]
    assert action(conn) is TransportAction.OPEN
    conn.receive_data(request("GET", "/api/v3/ping", [("connection", "close")]), 1.0)
    assert responses(conn.data_to_send()) == [(200, b"{}")]
    assert action(conn) is TransportAction.CLOSE


def test_delayed_and_hung_answers() -> None:
    sim = Simulator()
    sim.rest_faults.delay = 2.0
    conn = sim.connect(0.0)
    conn.receive_data(request("GET", "/api/v3/ping") + request("GET", "/api/v3/ping"), 0.0)
    assert conn.data_to_send() == b""
    assert conn.next_deadline() == 2.0
    sim.advance(2.0)
    assert len(responses(conn.data_to_send())) == 1  # the second waits its own delay
    sim.advance(4.0)
    assert len(responses(conn.data_to_send())) == 1
    sim.rest_faults.delay = 0.0
    sim.rest_faults.hang["/api/v3/depth"] = 1
    hung = sim.connect(5.0)
    hung.receive_data(request("GET", "/api/v3/depth?symbol=BTCUSDT"), 5.0)
    sim.advance(100.0)
    assert hung.data_to_send() == b""
    hung.receive_data(b"", 100.0)  # the client gave up
    assert action(hung) is TransportAction.CLOSE


def test_bad_http_and_bad_handshakes() -> None:
    sim = Simulator()
    conn = sim.connect(0.0)
    conn.receive_data(b"NOT HTTP\r\n\r\n", 0.0)
    assert conn.data_to_send().startswith(b"HTTP/1.1 400 ")
    assert action(conn) is TransportAction.CLOSE
    upgrade = [("upgrade", "websocket"), ("connection", "upgrade")]
    conn = sim.connect(0.0)
    conn.receive_data(request("GET", "/ws", upgrade), 0.0)  # no Sec-WebSocket-Key
    assert conn.data_to_send().startswith(b"HTTP/1.1 400 ")
    client = WSConnection(ConnectionType.CLIENT)
    conn = sim.connect(0.0)
    conn.receive_data(client.send(Request(host="x", target="/elsewhere")), 0.0)
    assert conn.data_to_send().startswith(b"HTTP/1.1 404 ")


def open_ws(sim: Simulator, now: float = 0.0) -> tuple[SimConnection, WSConnection]:
    client = WSConnection(ConnectionType.CLIENT)
    conn = sim.connect(now)
    conn.receive_data(client.send(Request(host="x", target="/ws")), now)
    client.receive_data(conn.data_to_send())
    assert isinstance(next(client.events()), AcceptConnection)
    return conn, client


def test_websocket_pings_pongs_and_messages() -> None:
    sim = Simulator(SimConfig(rules=WsRules(ping_interval=10.0)))
    conn, client = open_ws(sim)
    conn.receive_data(client.send(Ping(payload=b"hi")), 1.0)
    conn.receive_data(client.send(TextMessage(data='{"method":"ping"}')), 1.0)
    conn.receive_data(client.send(BytesMessage(data=b"ignored")), 1.0)
    client.receive_data(conn.data_to_send())
    events = list(client.events())
    assert isinstance(events[0], Pong)
    assert events[0].payload == b"hi"
    assert isinstance(events[1], TextMessage)
    assert json.loads(events[1].data) == {"id": 0, "code": 0, "msg": "PONG"}
    sim.advance(10.0)
    client.receive_data(conn.data_to_send())
    assert any(isinstance(e, Ping) for e in client.events())  # the server's WebSocket ping
    # A fragmented text message is one request.
    conn.receive_data(client.send(TextMessage(data='{"method":', message_finished=False)), 11.0)
    conn.receive_data(client.send(TextMessage(data='"PING"}')), 11.0)
    client.receive_data(conn.data_to_send())
    assert [e.data for e in client.events() if isinstance(e, TextMessage)] == [
        '{"id":0,"code":0,"msg":"PONG"}'
    ]


def test_an_oversized_client_message_is_refused_with_1009() -> None:
    sim = Simulator(SimConfig(rules=WsRules(max_message_size=1024)))
    conn, client = open_ws(sim)
    conn.receive_data(client.send(TextMessage(data="x" * 2000)), 0.0)
    client.receive_data(conn.data_to_send())
    (closed,) = list(client.events())
    assert isinstance(closed, CloseConnection)
    assert closed.code == 1009
    assert action(conn) is TransportAction.CLOSE


def test_server_close_waits_for_the_clients_close() -> None:
    sim = Simulator(SimConfig(rules=WsRules(ping_interval=None)))
    conn, client = open_ws(sim)
    sim.advance(30.0)  # no subscription: closed
    client.receive_data(conn.data_to_send())
    (closed,) = list(client.events())
    assert isinstance(closed, CloseConnection)
    assert (closed.code, closed.reason) == (1000, "no valid subscription")
    assert action(conn) is TransportAction.OPEN  # waiting for the client's close frame
    conn.receive_data(client.send(closed.response()), 30.1)
    assert action(conn) is TransportAction.CLOSE
    # A client that never answers is cut off after the close timeout.
    silent, _client = open_ws(sim, 40.0)
    sim.advance(70.0)
    assert action(silent) is TransportAction.OPEN
    sim.advance(70.0 + CLOSE_HANDSHAKE_TIMEOUT)
    assert action(silent) is TransportAction.CLOSE
    sim.disconnect(silent)
    assert silent.cid not in sim.connections


def test_a_short_history_still_rebuilds_its_oldest_version() -> None:
    spec = MarketSpec(
        symbol="TINYUSDT",
        base_asset="TINY",
        quote_asset="USDT",
        price_scale=2,
        quantity_scale=2,
        initial_price=10_000,
        mean_quantity=500,
        levels=5,
        event_rate=50.0,
        history=10,
    )
    exchange = Exchange(ExchangeConfig(markets=(spec,)))
    market = exchange.market("TINYUSDT", 10.0)
    assert len(market.history) == 10
    oldest = market.oldest_version
    assert oldest == market.version - 10
    rebuilt = market.book_at(oldest)
    # Replaying the ten kept updates on the rebuilt book gives the current book.
    books = [dict(rebuilt.bids), dict(rebuilt.asks)]
    for update in market.history:
        for side, price, old, new in update.changes:
            assert books[side].get(price, 0) == old
            if new:
                books[side][price] = new
            else:
                books[side].pop(price)
    assert sorted(books[0].items(), reverse=True) == list(market.snapshot().bids)


def server_bytes(seed: int) -> bytes:
    """Everything a simulator sends one client in 10 s, the client's requests at fixed times."""
    sim = Simulator(SimConfig(exchange=ExchangeConfig(seed=seed)))
    conn, client = open_ws(sim)
    topics = [
        "spot@public.aggre.depth.v3.api.pb@10ms@BTCUSDT",
        "spot@public.kline.v3.api.pb@ETHUSDT@Min1",
    ]
    conn.receive_data(client.send(TextMessage(data=encode_subscription(topics))), 0.5)
    out = bytearray(conn.data_to_send())
    now = 0.5
    while now < 10.0:
        now = round(now + 0.1, 1)
        sim.advance(now)
        out += conn.data_to_send()
    return bytes(out)


def test_same_seed_same_bytes_on_the_wire() -> None:
    first = server_bytes(3)
    assert len(first) > 2000
    assert server_bytes(3) == first
    assert server_bytes(4) != first
