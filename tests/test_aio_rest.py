"""REST over h11 and the listen-key lifecycle, against the simulator on 127.0.0.1.

Both anyio backends; plain HTTP and TLS (a trustme CA). The simulator checks real
HMAC signatures, MEXC's timestamp rules and error codes; its clock runs fast, so
hours of listen-key life pass in seconds. Real-time waits scale with one factor
(tests/util.py).
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable

import anyio
import pytest
import trustme

from mexc_core import events, rest
from mexc_core.aio.errors import (
    ConnectError,
    ReadTimeout,
    ResponseTooLarge,
    TlsVerificationError,
)
from mexc_core.aio.http import HttpClient
from mexc_core.aio.listenkey import ListenKeyKeeper
from mexc_sim.protocol import SimConfig
from mexc_sim.server import RunningSimulator, ScaledClock, serve_in_thread
from tests.util import FACTOR, SteppedTime

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(params=["http", "https"])
def sim_and_http(
    request: pytest.FixtureRequest,
    mexc_sim_factory: Callable[..., RunningSimulator],
    ca: trustme.CA,
) -> tuple[RunningSimulator, Callable[..., HttpClient]]:
    if request.param == "https":
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(server_context)
        sim = mexc_sim_factory(ssl_context=server_context)
        client_context = ssl.create_default_context()
        ca.configure_trust(client_context)

        def make(**kw: object) -> HttpClient:
            return HttpClient(sim.rest_url, ssl_context=client_context, **kw)  # type: ignore[arg-type]

    else:
        sim = mexc_sim_factory()

        def make(**kw: object) -> HttpClient:
            return HttpClient(sim.rest_url, **kw)  # type: ignore[arg-type]

    return sim, make


def signer(sim: RunningSimulator) -> tuple[rest.RestClient, Callable[[], int]]:
    client = rest.RestClient(rest.Credentials(sim.api_key, sim.api_secret))

    def wall_ms() -> int:
        return sim.call(lambda: sim.server.exchange.epoch_ms(sim.server.now()))

    return client, wall_ms


async def test_signed_requests_are_accepted(
    sim_and_http: tuple[RunningSimulator, Callable[..., HttpClient]],
) -> None:
    sim, make = sim_and_http
    client, wall_ms = signer(sim)
    async with make() as http:
        await http.request(client.ping())  # {} parses to None
        server_time = await http.request(client.server_time())
        assert abs(server_time.server_time - wall_ms()) < 5_000
        account = await http.request(client.account(wall_ms()))
        assert account.balances
        depth = await http.request(client.depth("BTCUSDT", limit=20))
        assert depth.bids
        assert depth.asks
        assert depth.last_update_id > 0
        key = await http.request(client.create_listen_key(wall_ms()))
        assert key.key in await http.request(client.list_listen_keys(wall_ms()))
        assert (await http.request(client.keepalive_listen_key(key.key, wall_ms()))).key == key.key
        await http.request(client.close_listen_key(key.key, wall_ms()))
        assert key.key not in await http.request(client.list_listen_keys(wall_ms()))


async def test_bad_signature_and_recv_window_are_refused(
    sim_and_http: tuple[RunningSimulator, Callable[..., HttpClient]],
) -> None:
    sim, make = sim_and_http
    _, wall_ms = signer(sim)
    forged = rest.RestClient(rest.Credentials(sim.api_key, "0" * 32))
    async with make() as http:
        with pytest.raises(rest.ApiError) as info:
            await http.request(forged.account(wall_ms()))
        assert info.value.code == 700002
        honest, _ = signer(sim)
        with pytest.raises(rest.ApiError) as info:
            await http.request(honest.account(wall_ms() - 60_000))  # older than recvWindow
        assert info.value.code == 700003
        # the offset repairs a skewed clock
        honest.time_offset_ms = 60_000
        assert (await http.request(honest.account(wall_ms() - 60_000))).balances


async def test_rate_limits_and_server_errors_are_typed(
    sim_and_http: tuple[RunningSimulator, Callable[..., HttpClient]],
) -> None:
    sim, make = sim_and_http
    client = rest.RestClient()
    sim.call(lambda: sim.server.sim.rest_faults.fail("/api/v3/time", 429))
    sim.call(lambda: sim.server.sim.rest_faults.fail("/api/v3/time", 503))
    async with make() as http:
        with pytest.raises(rest.RateLimited) as limited:
            await http.request(client.server_time())
        assert limited.value.retry_after is not None
        with pytest.raises(rest.ServerError):
            await http.request(client.server_time())
        assert (await http.request(client.server_time())).server_time > 0


async def test_timeouts_size_limit_and_connection_reuse(
    sim_and_http: tuple[RunningSimulator, Callable[..., HttpClient]],
) -> None:
    sim, make = sim_and_http
    client = rest.RestClient()
    async with make(timeout=1.0 * FACTOR) as http:
        await http.request(client.ping())
        (first,) = http._idle
        await http.request(client.server_time())
        assert http._idle == [first]  # kept alive and reused
        sim.call(lambda: sim.server.sim.rest_faults.hang.update({"/api/v3/time": 1}))
        with pytest.raises(ReadTimeout):
            await http.request(client.server_time())
        assert http._idle == []  # the timed-out connection was not put back
    async with make(max_response_size=200) as small:
        with pytest.raises(ResponseTooLarge):
            await small.request(client.depth("BTCUSDT", limit=5000))
        assert small._idle == []  # a half-read connection is never reused


async def test_tls_verification_is_on_by_default(
    mexc_sim_factory: Callable[..., RunningSimulator], ca: trustme.CA
) -> None:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    sim = mexc_sim_factory(ssl_context=server_context)
    async with HttpClient(sim.rest_url) as http:
        with pytest.raises(TlsVerificationError):
            await http.request(rest.RestClient().ping())
    with ca.cert_pem.tempfile() as ca_file:
        async with HttpClient(sim.rest_url, ca_file=ca_file) as http:
            await http.request(rest.RestClient().ping())  # verifies with the CA


async def test_a_cancelled_keeper_still_deletes_its_key(mexc_sim: RunningSimulator) -> None:
    """Found in review: a keeper cancelled while holding a key leaked it."""
    client, wall_ms = signer(mexc_sim)
    async with HttpClient(mexc_sim.rest_url) as http:
        keeper = ListenKeyKeeper(http, client, wall_ms=wall_ms)
        async with anyio.create_task_group() as tg:
            tg.start_soon(keeper.run)
            with anyio.fail_after(10 * FACTOR):
                while keeper.key is None:
                    await anyio.sleep(0.01)
            key = keeper.key
            tg.cancel_scope.cancel()
        listed = await http.request(client.list_listen_keys(wall_ms()))
    assert key not in listed


async def test_connection_refused() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with HttpClient(f"http://127.0.0.1:{port}") as http:
        with pytest.raises(ConnectError):
            await http.request(rest.RestClient().ping())


def test_listen_key_lives_through_hours_with_expiry_and_recreation(
    anyio_backend: str,
) -> None:
    """Six simulated hours: keepalives every 30 min, a forced expiry, a new key.

    Virtual time moves in steps while the requests cross real sockets: a request
    signed in one step may reach the simulator a step or two later, so the signer
    allows MEXC's longest window (60 s, three steps of 20 s)."""
    time = SteppedTime()
    with serve_in_thread(SimConfig(), clock=ScaledClock(1.0, source=time.now)) as sim:
        _, wall_ms = signer(sim)
        client = rest.RestClient(
            rest.Credentials(sim.api_key, sim.api_secret), recv_window=rest.MAX_RECV_WINDOW
        )
        seen: list[events.Event] = []

        async def scenario() -> None:
            async with HttpClient(sim.rest_url, timeout=5.0 * FACTOR) as http:
                keeper = ListenKeyKeeper(
                    http, client, clock=time, wall_ms=wall_ms, on_event=seen.append
                )
                async with anyio.create_task_group() as tg:
                    tg.start_soon(keeper.run)
                    await time.advance(2.2 * 3600, sim, step=20.0)
                    first = keeper.key
                    assert first is not None, seen
                    sim.call(lambda: sim.server.exchange.expire_listen_key(first, time.now()))
                    await time.advance(3.8 * 3600, sim, step=20.0)
                    second = keeper.key
                    assert second is not None
                    assert second != first, seen
                    valid = sim.call(
                        lambda: sim.server.exchange.listen_keys_of(
                            sim.server.exchange.accounts[sim.api_key], time.now()
                        )
                    )
                    assert second in valid
                    keeper.close()

        anyio.run(scenario, backend=anyio_backend)
    kinds = [type(e).__name__ for e in seen]
    assert kinds[0] == "ListenKeyCreated"
    lost = [e for e in seen if isinstance(e, events.ListenKeyLost)]
    assert len(lost) == 1
    assert lost[0].reason is events.ListenKeyLostReason.REJECTED
    assert kinds.count("ListenKeyCreated") == 2
    renewed_before = kinds[: kinds.index("ListenKeyLost")].count("ListenKeyRenewed")
    assert renewed_before == 4  # 2.2 h at one keepalive per 30 min
    assert kinds.count("ListenKeyRenewed") - renewed_before >= 6
    assert seen[-1] == events.ListenKeyClosed(deleted=True)
