"""The h11 client against hand-written HTTP servers on 127.0.0.1: the cases the
simulator does not produce (found in review): keep-alive connections the server
closed, a close-delimited body. Both anyio backends."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import anyio
import anyio.abc
import pytest
from anyio.abc import SocketAttribute

from mexc_core import rest
from mexc_core.aio.errors import TransportError
from mexc_core.aio.http import HttpClient
from tests.util import FACTOR

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"

Handler = Callable[[anyio.abc.SocketStream, int], Awaitable[None]]


async def read_request(stream: anyio.abc.SocketStream) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = await stream.receive()
        data += chunk
    return data


class Server:
    """Accepts connections and counts them; ``handler(stream, n)`` serves the n-th."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.accepted = 0

    async def handle(self, stream: anyio.abc.SocketStream) -> None:
        self.accepted += 1
        async with stream:
            with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError):
                await self.handler(stream, self.accepted)


@contextlib.asynccontextmanager
async def serving(server: Server) -> AsyncIterator[int]:
    """Serve on a free loopback port for the ``async with`` block; yields the port."""
    async with (
        await anyio.create_tcp_listener(local_host="127.0.0.1") as listener,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(listener.serve, server.handle)
        yield int(listener.extra(SocketAttribute.local_port))
        tg.cancel_scope.cancel()


async def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    async def answer_once_then_close(stream: anyio.abc.SocketStream, n: int) -> None:
        await read_request(stream)
        await stream.send(OK)  # keep-alive by HTTP/1.1 default, then closed anyway

    server = Server(answer_once_then_close)
    async with serving(server) as port, HttpClient(f"http://127.0.0.1:{port}") as http:
        await http.request(rest.RestClient().ping())
        await anyio.sleep(0.1 * FACTOR)  # the server's close reaches us
        await http.request(rest.RestClient().ping())
        await http.request(rest.RestClient().ping())
    assert server.accepted == 3


async def test_a_request_lost_to_a_keep_alive_race_is_retried_once() -> None:
    """The server closes the reused connection after reading the next request,
    without answering: nothing was processed, so the client retries on a new one."""

    async def race(stream: anyio.abc.SocketStream, n: int) -> None:
        await read_request(stream)
        await stream.send(OK)
        if n == 1:
            await read_request(stream)  # the second request: dropped unanswered

    server = Server(race)
    async with (
        serving(server) as port,
        HttpClient(f"http://127.0.0.1:{port}", timeout=5 * FACTOR) as http,
    ):
        await http.request(rest.RestClient().ping())
        await http.request(rest.RestClient().ping())
    assert server.accepted == 2


async def test_a_fresh_connection_closed_without_an_answer_is_an_error() -> None:
    async def hang_up(stream: anyio.abc.SocketStream, n: int) -> None:
        await read_request(stream)

    server = Server(hang_up)
    async with serving(server) as port, HttpClient(f"http://127.0.0.1:{port}") as http:
        with pytest.raises(TransportError):
            await http.request(rest.RestClient().ping())
    assert server.accepted == 1  # never retried: a fresh connection is no keep-alive race


async def test_a_body_delimited_by_the_close_is_read() -> None:
    async def close_delimited(stream: anyio.abc.SocketStream, n: int) -> None:
        await read_request(stream)
        await stream.send(b'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{"serverTime":5}')

    server = Server(close_delimited)
    async with serving(server) as port, HttpClient(f"http://127.0.0.1:{port}") as http:
        assert (await http.request(rest.RestClient().server_time())).server_time == 5
        assert http._idle == []  # Connection: close is honoured


async def test_a_response_cut_short_is_an_error() -> None:
    async def cut(stream: anyio.abc.SocketStream, n: int) -> None:
        await read_request(stream)
        await stream.send(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{}")

    server = Server(cut)
    async with serving(server) as port, HttpClient(f"http://127.0.0.1:{port}") as http:
        with pytest.raises(TransportError):
            await http.request(rest.RestClient().ping())


async def test_idle_connections_expire() -> None:
    async def keep(stream: anyio.abc.SocketStream, n: int) -> None:
        while True:
            await read_request(stream)
            await stream.send(OK)

    server = Server(keep)
    async with (
        serving(server) as port,
        HttpClient(f"http://127.0.0.1:{port}", idle_timeout=0.05) as http,
    ):
        await http.request(rest.RestClient().ping())
        await http.request(rest.RestClient().ping())
        assert server.accepted == 1  # reused while fresh
        await anyio.sleep(0.1)
        await http.request(rest.RestClient().ping())
        assert server.accepted == 2  # too old: replaced
