"""The simulator on real loopback sockets: our client against it, REST over h11, TLS, the CLI.

Real sockets and real time: the simulator runs faster than real time (its clock
is scaled), and every real-time timeout here is multiplied by one factor,
``MEXC_TEST_TIME_FACTOR`` (default 1), for slow machines. Only 127.0.0.1 is used.
"""

from __future__ import annotations

import itertools
import json
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import urlencode

import h11
import pytest
import trustme

from mexc_core import cli
from mexc_core.connection import Connection, ConnectionState
from mexc_core.events import (
    ConnectionClosed,
    Event,
    HandshakeRejected,
    HealthCheckFailed,
    ListenKeyInvalidated,
    Push,
    Subscribed,
    SubscriptionFailed,
)
from mexc_core.messages import PrivateOrdersV3Api, PublicAggreDepthsV3Api
from mexc_core.session import SessionConfig
from mexc_sim import Faults, RunningSimulator, SimConfig, sign
from mexc_sim.pytest_plugin import SimProcess, start_process
from tests.util import FACTOR

pytestmark = pytest.mark.slow  # real sockets, threads or subprocesses

DEPTH = "spot@public.aggre.depth.v3.api.pb@10ms@BTCUSDT"
DEALS = "spot@public.aggre.deals.v3.api.pb@100ms@ETHUSDT"

Until = Callable[[list[Event]], bool]


def run_client(
    port: int,
    topics: Sequence[str],
    until: Until,
    *,
    listen_key: str | None = None,
    ssl_context: ssl.SSLContext | None = None,
    timeout: float = 10.0,
    config: SessionConfig | None = None,
) -> list[Event]:
    """Our sans-IO client over a blocking socket, until ``until(events)`` or the peer closes."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5 * FACTOR)
    if ssl_context is not None:
        sock = ssl_context.wrap_socket(sock, server_hostname="localhost")
    conn = Connection(host=f"localhost:{port}", listen_key=listen_key, session_config=config)
    clock = time.monotonic
    conn.subscribe(topics, clock())
    conn.connect(clock())
    events: list[Event] = []
    stop_at = clock() + timeout * FACTOR
    try:
        sock.sendall(conn.data_to_send())
        while conn.state is not ConnectionState.CLOSED and clock() < stop_at:
            deadline = conn.next_deadline()
            wait = stop_at if deadline is None else min(deadline, stop_at)
            sock.settimeout(max(wait - clock(), 0.001))
            try:
                data = sock.recv(65536)
            except TimeoutError:
                pass
            else:
                conn.receive_data(data, clock())
            conn.handle_timer(clock())
            events.extend(conn.events())
            out = conn.data_to_send()
            if out:
                sock.sendall(out)
            if until(events):
                break
    finally:
        sock.close()
    return events


def pushes(events: list[Event]) -> list[Push]:
    return [e for e in events if isinstance(e, Push)]


def http(
    port: int,
    method: str,
    target: str,
    *,
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 request with h11 over a socket."""
    conn = h11.Connection(h11.CLIENT)
    all_headers = [("host", f"127.0.0.1:{port}"), ("content-length", str(len(body))), *headers]
    with socket.create_connection(("127.0.0.1", port), timeout=10 * FACTOR) as sock:
        sock.sendall(conn.send(h11.Request(method=method, target=target, headers=all_headers)))
        sock.sendall(conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage()))
        status, response_headers, data = 0, {}, b""
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(sock.recv(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
                response_headers = {k.decode(): v.decode() for k, v in event.headers}
            elif isinstance(event, h11.Data):
                data += event.data
            elif isinstance(event, h11.EndOfMessage):
                return status, response_headers, data


def signed(
    sim: RunningSimulator | SimProcess, method: str, path: str, params: dict[str, str], now_ms: int
) -> tuple[int, object]:
    query = urlencode({**params, "recvWindow": "60000", "timestamp": str(now_ms)})
    query += f"&signature={sign(sim.api_secret, query)}"
    port = sim.port
    status, _h, body = http(
        port, method, f"{path}?{query}", headers=[("x-mexc-apikey", sim.api_key)]
    )
    return status, json.loads(body)


def sim_time_ms(sim: RunningSimulator) -> int:
    exchange = sim.server.exchange
    return exchange.epoch_ms(sim.now())


@pytest.mark.mexc_sim(speed=10)
def test_our_client_subscribes_and_receives_pushes(mexc_sim: RunningSimulator) -> None:
    blocked = "spot@public.aggre.deals.v3.api.pb@100ms@NOPEUSDT"  # not listed
    events = run_client(mexc_sim.port, [DEPTH, DEALS, blocked], lambda ev: len(pushes(ev)) >= 20)
    assert [e for e in events if isinstance(e, Subscribed)] == [Subscribed(topics=(DEPTH, DEALS))]
    (failed,) = [e for e in events if isinstance(e, SubscriptionFailed)]
    assert failed.topics == (blocked,)
    assert failed.reason == "Blocked!"
    got = pushes(events)
    assert len(got) >= 20
    assert {p.channel for p in got} <= {DEPTH, DEALS}
    depth = [p.body for p in got if isinstance(p.body, PublicAggreDepthsV3Api)]
    for before, after in itertools.pairwise(depth):
        assert int(after.from_version) == int(before.to_version) + 1


def test_rest_over_http(mexc_sim: RunningSimulator) -> None:
    status, headers, body = http(mexc_sim.port, "GET", "/api/v3/depth?symbol=BTCUSDT&limit=5")
    assert status == 200
    assert headers["content-type"] == "application/json"
    depth = json.loads(body)
    truth = mexc_sim.call(mexc_sim.server.exchange.book, "BTCUSDT", depth["lastUpdateId"], depth=5)
    assert len(depth["bids"]) == len(truth.bids) == 5
    assert http(mexc_sim.port, "GET", "/nothing")[0] == 404
    assert http(mexc_sim.port, "GET", "/ws")[0] == 426
    # Keep-alive: two requests on one connection.
    conn = h11.Connection(h11.CLIENT)
    with socket.create_connection(("127.0.0.1", mexc_sim.port), timeout=10 * FACTOR) as sock:
        for _ in range(2):
            request = h11.Request(method="GET", target="/api/v3/ping", headers=[("host", "x")])
            sock.sendall(conn.send(request) + conn.send(h11.EndOfMessage()))
            while not isinstance(event := conn.next_event(), h11.EndOfMessage):
                if event is h11.NEED_DATA:
                    conn.receive_data(sock.recv(65536))
            conn.start_next_cycle()


def test_private_pushes_over_a_listen_key(mexc_sim: RunningSimulator) -> None:
    status, created = signed(mexc_sim, "POST", "/api/v3/userDataStream", {}, sim_time_ms(mexc_sim))
    assert status == 200
    assert isinstance(created, dict)
    key = created["listenKey"]
    placed: list[object] = []

    def until(events: list[Event]) -> bool:
        if any(isinstance(e, Subscribed) for e in events) and not placed:
            params = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quoteOrderQty": "100"}
            placed.append(signed(mexc_sim, "POST", "/api/v3/order", params, sim_time_ms(mexc_sim)))
        return any(
            isinstance(p.body, PrivateOrdersV3Api) and p.body.status == 2 for p in pushes(events)
        )

    events = run_client(mexc_sim.port, ["spot@private.orders.v3.api.pb"], until, listen_key=key)
    assert placed[0][0] == 200  # type: ignore[index]
    assert until(events)

    # Deleting the key closes the connection with "Invalid listen key".
    def delete_then_wait(events: list[Event]) -> bool:
        if any(isinstance(e, Subscribed) for e in events) and len(placed) == 1:
            placed.append(
                signed(
                    mexc_sim,
                    "DELETE",
                    "/api/v3/userDataStream",
                    {"listenKey": key},
                    sim_time_ms(mexc_sim),
                )
            )
        return False

    status, created = signed(mexc_sim, "POST", "/api/v3/userDataStream", {}, sim_time_ms(mexc_sim))
    assert isinstance(created, dict)
    key = created["listenKey"]
    events = run_client(
        mexc_sim.port, ["spot@private.deals.v3.api.pb"], delete_then_wait, listen_key=key
    )
    assert any(isinstance(e, ListenKeyInvalidated) for e in events)
    assert isinstance(events[-1], ConnectionClosed)


@pytest.mark.mexc_sim(speed=100)
def test_idle_rule_closes_on_the_scaled_clock(mexc_sim: RunningSimulator) -> None:
    """30 simulated seconds without a valid subscription: about 0.3 s here."""
    config = SessionConfig(
        idle_timeout=None, ping_interval=29.0, pong_timeout=28.0, ack_timeout=60.0
    )
    started = time.monotonic()
    events = run_client(
        mexc_sim.port, ["spot@public.deals.v3.api.pb@BTCUSDT"], lambda ev: False, config=config
    )
    assert time.monotonic() - started < 5 * FACTOR
    closed = events[-1]
    assert isinstance(closed, ConnectionClosed)
    assert (closed.code, closed.reason) == (1000, "no valid subscription")


def test_tls(mexc_sim_factory: Callable[..., RunningSimulator]) -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(server_context)
    sim = mexc_sim_factory(ssl_context=server_context)
    assert sim.ws_url.startswith("wss://")
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    events = run_client(
        sim.port, [DEPTH], lambda ev: len(pushes(ev)) >= 3, ssl_context=client_context
    )
    assert len(pushes(events)) >= 3
    # Without the CA the client refuses the certificate: a configuration error.
    with pytest.raises(ssl.SSLCertVerificationError):
        run_client(sim.port, [DEPTH], lambda ev: True, ssl_context=ssl.create_default_context())


def test_handshake_refused_and_reset(mexc_sim_factory: Callable[..., RunningSimulator]) -> None:
    sim = mexc_sim_factory(SimConfig(faults=Faults(handshake_status=429)), speed=10.0)
    events = run_client(sim.port, [DEPTH], lambda ev: False)
    rejected = [e for e in events if isinstance(e, HandshakeRejected)]
    assert rejected
    assert rejected[0].status_code == 429
    sim = mexc_sim_factory(SimConfig(faults=Faults(reset_after=1.0)), speed=10.0)
    with pytest.raises(ConnectionResetError):
        run_client(sim.port, [DEPTH], lambda ev: False)


def unhealthy(events: list[Event]) -> bool:
    return any(isinstance(e, HealthCheckFailed) for e in events)


def test_blackhole_goes_silent(mexc_sim_factory: Callable[..., RunningSimulator]) -> None:
    sim = mexc_sim_factory(SimConfig(faults=Faults(blackhole_after=3.0)), speed=5.0)
    config = SessionConfig(ping_interval=1.0, pong_timeout=0.5)
    events = run_client(sim.port, [DEPTH], unhealthy, config=config, timeout=10.0)
    assert unhealthy(events)
    assert len(pushes(events)) >= 1  # data flowed before the silence


def test_the_cli_serves_and_stops_on_ctrl_c() -> None:
    sim = start_process("--symbols", "2", "--seed", "5", "--speed", "5")
    try:
        assert sim.info["symbols"] == ["BTCUSDT", "ETHUSDT"]
        assert sim.ws_url == f"ws://127.0.0.1:{sim.port}/ws"
        status, _h, body = http(sim.port, "GET", "/api/v3/time")
        assert status == 200
        assert json.loads(body)["serverTime"] > 1_700_000_000_000
        events = run_client(sim.port, [DEPTH], lambda ev: len(pushes(ev)) >= 2)
        assert len(pushes(events)) >= 2
    finally:
        assert sim.stop() == 130  # interrupted, as documented


def test_mexc_sim_process_fixture(mexc_sim_process: SimProcess) -> None:
    status, _h, body = http(mexc_sim_process.port, "GET", "/api/v3/exchangeInfo?symbol=MXUSDT")
    assert status == 200
    assert json.loads(body)["symbols"][0]["symbol"] == "MXUSDT"
    assert mexc_sim_process.api_key == "mx0aBYs33eIilxBWC5"


def test_cli_help_and_bad_profile(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["sim", "--help"])
    assert "--faults" in capsys.readouterr().out
    assert cli.main(["sim", "--faults", "nope"]) == 2
    assert "profiles:" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["sim", "--symbols", "bad"])
    proc = subprocess.run(
        [sys.executable, "-m", "mexc_sim", "--faults", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2


def test_the_quickstart_example_runs() -> None:
    """``docs/examples/sim_quickstart.py``, as the simulator page shows it."""
    example = Path(__file__).resolve().parent.parent / "docs" / "examples" / "sim_quickstart.py"
    proc = subprocess.run(
        [sys.executable, str(example)],
        capture_output=True,
        text=True,
        timeout=120 * FACTOR,
        check=True,
    )
    assert proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("WebSocket: ws://127.0.0.1:")
    assert any(line.endswith("equal to the truth: True") for line in lines)
    assert "listen key: 64 characters" in lines
    assert "fills: True" in lines
    assert "unsigned: {'code': 400, 'msg': 'api key required'}" in lines
