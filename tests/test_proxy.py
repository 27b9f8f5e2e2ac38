"""The TCP fault proxy (mexc_sim.proxy) before an echo server on 127.0.0.1, on asyncio and trio.

Every wait is bounded by tests.util.FACTOR; no test asserts a wall-clock duration
except that a held chunk did not arrive before its latency (a lower bound only).
"""

from __future__ import annotations

import errno
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import anyio.lowlevel
import pytest

from mexc_core.aio.http import HttpClient
from mexc_sim.proxy import FaultProxy, ProxyFaults, RunningProxy, main, open_proxy, proxy_in_thread
from tests.util import FACTOR

pytestmark = pytest.mark.slow  # real sockets


@asynccontextmanager
async def echo_behind_proxy(faults: ProxyFaults | None = None) -> AsyncIterator[FaultProxy]:
    """An echo server, and a proxy in front of it."""

    async def echo(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            try:
                async for chunk in stream:
                    await stream.send(chunk)
            except (anyio.BrokenResourceError, OSError):
                pass

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, echo)
        async with open_proxy("127.0.0.1", port, faults=faults) as proxy:
            yield proxy
        tg.cancel_scope.cancel()


async def receive_exactly(stream: anyio.abc.SocketStream, size: int) -> tuple[bytes, int]:
    """``size`` bytes, and in how many reads they came."""
    data, reads = b"", 0
    while len(data) < size:
        data += await stream.receive()
        reads += 1
    return data, reads


def test_bytes_pass_sliced_delayed_and_limited(anyio_backend: str) -> None:
    async def scenario() -> None:
        async with echo_behind_proxy(ProxyFaults(segment=1)) as proxy:
            async with await anyio.connect_tcp("127.0.0.1", proxy.port) as stream:
                with anyio.fail_after(10 * FACTOR):
                    await stream.send(b"x" * 200)
                    data, reads = await receive_exactly(stream, 200)
                assert data == b"x" * 200
                assert reads > 1  # sliced: one chunk became several reads
                proxy.set(segment=None, latency_down=150.0)
                with anyio.fail_after(10 * FACTOR):
                    start = anyio.current_time()
                    await stream.send(b"ping")
                    assert await receive_exactly(stream, 4) == (b"ping", 1)
                assert anyio.current_time() - start >= 0.15
                proxy.set(latency_down=0.0, bandwidth=2000.0)
                with anyio.fail_after(10 * FACTOR):
                    start = anyio.current_time()
                    await stream.send(b"y" * 400)
                    data, _ = await receive_exactly(stream, 400)
                assert anyio.current_time() - start >= 0.15  # 400 bytes at 2000 B/s
                with anyio.fail_after(10 * FACTOR):  # counted once each write returns
                    while proxy.bytes_down < 604:
                        await anyio.sleep(0.01)
                assert proxy.bytes_up == proxy.bytes_down == 604
            with anyio.fail_after(10 * FACTOR):
                while proxy.open:
                    await anyio.sleep(0.01)
            assert proxy.accepted == 1

    anyio.run(scenario, backend=anyio_backend)


def test_reset_blackhole_and_data_limit(anyio_backend: str) -> None:
    async def scenario() -> None:
        async with echo_behind_proxy() as proxy:
            # reset: the client's next read fails (an RST, not an end of stream)
            stream = await anyio.connect_tcp("127.0.0.1", proxy.port)
            with anyio.fail_after(10 * FACTOR):
                await stream.send(b"a")
                await receive_exactly(stream, 1)
                assert proxy.reset() == 1
                with pytest.raises((anyio.BrokenResourceError, ConnectionResetError)):
                    await stream.receive()
            await anyio.aclose_forcefully(stream)
            # blackhole of the open connection: no bytes, no FIN; a new one flows
            async with await anyio.connect_tcp("127.0.0.1", proxy.port) as stream:
                await stream.send(b"b")
                with anyio.fail_after(10 * FACTOR):
                    await receive_exactly(stream, 1)
                assert proxy.blackhole_open() == 1
                await stream.send(b"c")
                with anyio.move_on_after(0.3 * FACTOR) as silent:
                    await stream.receive()
                assert silent.cancelled_caught
                async with await anyio.connect_tcp("127.0.0.1", proxy.port) as other:
                    await other.send(b"d")
                    with anyio.fail_after(10 * FACTOR):
                        assert await receive_exactly(other, 1) == (b"d", 1)
            # data limit, then a close: the bytes up to the limit, then the end
            proxy.set(data_limit=6, data_limit_action="close")
            async with await anyio.connect_tcp("127.0.0.1", proxy.port) as stream:
                await stream.send(b"12345678")
                # 6 bytes went up, then the close: no echo comes back, only the end
                with anyio.fail_after(10 * FACTOR), pytest.raises(anyio.EndOfStream):
                    await stream.receive()
            with anyio.fail_after(10 * FACTOR):
                while proxy.open:
                    await anyio.sleep(0.01)

    anyio.run(scenario, backend=anyio_backend)


def test_serving_means_accepting_and_a_closed_connection_leaves_no_task(
    anyio_backend: str,
) -> None:
    """Once ``open_proxy`` yields, every task of the proxy runs (trio's scheduler used to
    start the listener's own task later, which a test counting tasks took for a leak);
    a connection's tasks end with it."""

    def tasks() -> Counter[str | None]:
        return Counter(task.name for task in anyio.get_running_tasks())

    async def scenario() -> None:
        async with echo_behind_proxy() as proxy:
            serving = tasks()
            for _ in range(20):
                await anyio.lowlevel.checkpoint()
            assert tasks() == serving  # nothing started late
            async with await anyio.connect_tcp("127.0.0.1", proxy.port) as stream:
                await stream.send(b"e")
                with anyio.fail_after(10 * FACTOR):
                    await receive_exactly(stream, 1)
                assert tasks() != serving  # the connection's own
            with anyio.fail_after(10 * FACTOR):
                while proxy.open or tasks() != serving:
                    await anyio.sleep(0.01)

    anyio.run(scenario, backend=anyio_backend)


def test_bad_faults_are_refused_and_nothing_changes() -> None:
    proxy = FaultProxy("127.0.0.1", 9)
    for bad in (
        {"latency_up": -1.0},
        {"segment": 0},
        {"bandwidth": 0.0},
        {"data_limit": -1},
        {"data_limit_action": "explode"},
    ):
        with pytest.raises(ValueError, match=next(iter(bad))):
            proxy.set(**bad)
    assert proxy.faults == ProxyFaults()


def test_in_a_thread_and_with_nobody_behind() -> None:
    with proxy_in_thread("127.0.0.1", 9) as running:  # port 9: nothing listens
        assert running.ws_url == f"ws://127.0.0.1:{running.port}/ws"

        async def probe() -> BaseException | None:
            with anyio.fail_after(10 * FACTOR):
                try:  # on loopback the RST may even beat the end of the connect
                    async with await anyio.connect_tcp("127.0.0.1", running.port) as stream:
                        await stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError, OSError) as exc:
                    return exc
            return None

        with anyio.from_thread.start_blocking_portal() as portal:
            error = portal.call(probe)
        assert error is not None  # refused as abruptly as a closed port
        if isinstance(error, OSError):
            # anyio: "All connection attempts failed", from the reset, if it came first
            reset = error if error.errno is not None else error.__cause__
            assert isinstance(reset, OSError)
            assert reset.errno == errno.ECONNRESET
        assert running.set(latency_up=5.0).latency_up == 5.0
        assert running.open == 0


def test_the_command_line_refuses_a_bad_target(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--target", "nowhere"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "--target: must be HOST:PORT" in err
    assert "\n" not in err


def test_the_fixture_stands_in_front_of_the_simulator(mexc_proxy: RunningProxy) -> None:
    async def scenario() -> None:
        async with HttpClient(mexc_proxy.rest_url, timeout=5 * FACTOR) as http:
            mexc_proxy.set(segment=3, latency_down=20.0)
            response = await http.send("GET", "/api/v3/ping")
            assert (response.status, response.body) == (200, b"{}")

    anyio.run(scenario)
    assert mexc_proxy.call(lambda: mexc_proxy.proxy.accepted) == 1
