"""Hostile HTTP answers: every one is a typed error, and the client keeps working.

Two levels:

- the real HTTP client (:class:`mexc_core.aio.http.HttpClient`, h11 over anyio)
  against a tiny loopback server that answers the first connection with a
  hostile response (HTML error pages, empty and non-JSON bodies, JSON of the
  wrong shape, huge bodies, truncated bodies, Content-Length mismatches, enormous
  header lines, broken chunked encoding, a server that trickles bytes forever,
  bytes that are not HTTP) and every later one properly: the hostile one raises a
  :class:`~mexc_core.aio.errors.TransportError` or a
  :class:`~mexc_core.rest.RestError` subclass, the next request succeeds;
- the client core: a book snapshot answered with any of those bodies is a
  :class:`~mexc_core.events.BookSnapshotFailed`, asked again, and the book syncs.
"""

from __future__ import annotations

import contextlib

import anyio
import anyio.abc
import pytest

from mexc_core import rest
from mexc_core.aio.errors import ReadTimeout, ResponseTooLarge, TransportError
from mexc_core.aio.http import HttpClient
from mexc_core.book.sync import BookState
from mexc_core.client.core import CoreConfig, RestCall
from mexc_core.client.pool import PoolConfig
from mexc_core.events import BookSnapshotFailed
from mexc_core.testing.harness import CoreLoop
from mexc_sim.exchange import ExchangeConfig, default_markets
from mexc_sim.protocol import SimConfig
from tests.test_aio_http import Server, read_request, serving
from tests.util import FACTOR

#: The response size limit of the client under test.
LIMIT = 64 * 1024


def _response(status: str, body: bytes, *headers: str) -> bytes:
    head = "".join(f"{h}\r\n" for h in headers)
    return f"HTTP/1.1 {status}\r\n{head}\r\n".encode() + body


def _sized(status: str, body: bytes, content_type: str = "application/json") -> bytes:
    return _response(status, body, f"Content-Type: {content_type}", f"Content-Length: {len(body)}")


GOOD = _sized("200 OK", b'{"lastUpdateId":7,"bids":[["1","2"]],"asks":[]}')
HTML = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"

#: (id, the bytes the server sends then closes, the error expected).
HOSTILE: list[tuple[str, bytes, type[Exception]]] = [
    ("html 502", _sized("502 Bad Gateway", HTML, "text/html"), rest.ServerError),
    ("html 200", _sized("200 OK", HTML, "text/html"), rest.InvalidResponse),
    ("html 403", _sized("403 Forbidden", HTML, "text/html"), rest.ApiError),
    ("empty 200", _sized("200 OK", b""), rest.InvalidResponse),
    ("empty 500", _sized("500 Internal Server Error", b""), rest.ServerError),
    ("not json", _sized("200 OK", b"lastUpdateId=7"), rest.InvalidResponse),
    ("json list", _sized("200 OK", b"[1,2,3]"), rest.InvalidResponse),
    ("json null", _sized("200 OK", b"null"), rest.InvalidResponse),
    (
        "wrong types",
        _sized("200 OK", b'{"lastUpdateId":[7],"bids":"1","asks":{}}'),
        rest.InvalidResponse,
    ),
    (
        "levels of objects",
        _sized("200 OK", b'{"lastUpdateId":7,"bids":[{}],"asks":[]}'),
        rest.InvalidResponse,
    ),
    ("deep nesting", _sized("200 OK", b"[" * 50_000), rest.InvalidResponse),
    (
        "huge number",
        _sized("200 OK", b'{"lastUpdateId":' + b"9" * 5000 + b',"bids":[],"asks":[]}'),
        rest.InvalidResponse,
    ),
    (
        "invalid utf-8",
        _sized("200 OK", b'{"lastUpdateId":7,"bids":[["\xff","1"]],"asks":[]}'),
        rest.InvalidResponse,
    ),
    (
        "error json of wrong types",
        _sized("400 Bad Request", b'{"code":"x","msg":[1]}'),
        rest.ApiError,
    ),
    ("huge body, sized", _sized("200 OK", b"[" + b"0," * LIMIT + b"0]"), ResponseTooLarge),
    (
        "huge body, chunked",
        _response(
            "200 OK",
            (b"4000\r\n" + b"a" * 0x4000 + b"\r\n") * 8 + b"0\r\n\r\n",
            "Transfer-Encoding: chunked",
        ),
        ResponseTooLarge,
    ),
    ("body cut short", _response("200 OK", b'{"lastUpd', "Content-Length: 100"), TransportError),
    ("head cut short", b"HTTP/1.1 200 OK\r\nContent-Len", TransportError),
    ("nothing", b"", TransportError),
    (
        "two content lengths",
        _response("200 OK", b"{}", "Content-Length: 2", "Content-Length: 3"),
        TransportError,
    ),
    ("negative content length", _response("200 OK", b"{}", "Content-Length: -2"), TransportError),
    (
        "content length not a number",
        _response("200 OK", b"{}", "Content-Length: two"),
        TransportError,
    ),
    (
        "enormous header line",
        _response("200 OK", b"{}", "X-Junk: " + "a" * 200_000, "Content-Length: 2"),
        TransportError,
    ),
    (
        "endless headers",
        _response("200 OK", b"{}", *[f"X-{i}: {i}" for i in range(20_000)], "Content-Length: 2"),
        TransportError,
    ),
    (
        "bad chunk size",
        _response("200 OK", b"zz\r\n{}\r\n0\r\n\r\n", "Transfer-Encoding: chunked"),
        TransportError,
    ),
    (
        "chunk cut short",
        _response("200 OK", b"10\r\n{}", "Transfer-Encoding: chunked"),
        TransportError,
    ),
    (
        "chunk without its CRLF",
        _response("200 OK", b"2\r\n{}XX0\r\n\r\n", "Transfer-Encoding: chunked"),
        TransportError,
    ),
    ("bad status line", b"HTTP/1.1 abc OK\r\nContent-Length: 2\r\n\r\n{}", TransportError),
    ("not http", bytes(range(256)) * 4, TransportError),
    ("header without colon", _response("200 OK", b"{}", "Content-Length 2"), TransportError),
    (
        "header with a newline in it",
        b"HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 2\r\n\r\n{}",
        TransportError,
    ),
]


@pytest.mark.anyio
@pytest.mark.slow
@pytest.mark.parametrize(
    ("answer", "error"), [(a, e) for _, a, e in HOSTILE], ids=[i for i, _, _ in HOSTILE]
)
async def test_a_hostile_answer_is_a_typed_error_and_the_client_goes_on(
    answer: bytes, error: type[Exception]
) -> None:
    async def hostile_first(stream: anyio.abc.SocketStream, n: int) -> None:
        await read_request(stream)
        if n == 1:
            with contextlib.suppress(anyio.BrokenResourceError, OSError):
                await stream.send(answer)
            return
        while True:
            await stream.send(GOOD)
            await read_request(stream)

    server = Server(hostile_first)
    depth = rest.RestClient().depth("BTCUSDT")
    async with (
        serving(server) as port,
        HttpClient(f"http://127.0.0.1:{port}", timeout=5 * FACTOR, max_response_size=LIMIT) as http,
    ):
        with pytest.raises(error) as info:
            await http.request(depth)
        assert isinstance(info.value, TransportError | rest.RestError)
        assert str(info.value)  # it says what went wrong
        assert len(str(info.value)) < 2000  # without quoting a huge answer whole
        for _ in range(2):  # the client works on: a fresh connection, then a reused one
            snapshot = await http.request(depth)
            assert snapshot.last_update_id == 7


@pytest.mark.anyio
@pytest.mark.slow
async def test_a_server_that_trickles_its_answer_forever_times_out() -> None:
    """One byte at a time, never finishing: the request's timeout bounds it all."""

    async def trickle(stream: anyio.abc.SocketStream, n: int) -> None:
        await read_request(stream)
        for byte in b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 10_000:
            await stream.send(bytes([byte]))
            await anyio.sleep(0.01)

    async with (
        serving(Server(trickle)) as port,
        HttpClient(f"http://127.0.0.1:{port}", timeout=0.3 * FACTOR) as http,
    ):
        with pytest.raises(ReadTimeout):
            await http.request(rest.RestClient().depth("BTCUSDT"))


@pytest.mark.anyio
@pytest.mark.slow
async def test_extra_bytes_after_a_sized_body_do_not_poison_the_next_request() -> None:
    """A body longer than its Content-Length: the answer is read as sized, and the
    connection holding the excess is not reused, so the excess (here a second
    answer the server slipped in) is never taken for the next request's answer."""

    async def excess_first(stream: anyio.abc.SocketStream, n: int) -> None:
        await read_request(stream)
        if n == 1:
            await stream.send(GOOD + b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]")
            await anyio.sleep(5 * FACTOR)
            return
        while True:
            await stream.send(GOOD)
            await read_request(stream)

    server = Server(excess_first)
    depth = rest.RestClient().depth("BTCUSDT")
    async with serving(server) as port, HttpClient(f"http://127.0.0.1:{port}") as http:
        assert (await http.request(depth)).last_update_id == 7
        assert (await http.request(depth)).last_update_id == 7
    assert server.accepted == 2


# ---------------------------------------------------------------- the core


MARKETS = default_markets(2)


@pytest.mark.parametrize(
    ("answer", "error"),
    [(a, e) for _, a, e in HOSTILE if issubclass(e, rest.RestError)],
    ids=[i for i, _, e in HOSTILE if issubclass(e, rest.RestError)],
)
def test_a_hostile_snapshot_answer_is_retried_until_the_book_syncs(
    answer: bytes, error: type[rest.RestError]
) -> None:
    """The core parses a snapshot answer with the request's own parser; a hostile
    body is a typed RestError, a BookSnapshotFailed, and a later retry syncs."""
    loop = CoreLoop(
        CoreConfig(pool=PoolConfig(host="127.0.0.1")),
        SimConfig(exchange=ExchangeConfig(markets=MARKETS)),
    )
    loop.start()
    held: list[RestCall] = []
    loop.held_rest = held
    symbol = MARKETS[0].symbol
    loop.core.watch_book(symbol, loop.now)
    loop.run_for(2.0)
    (call,) = held
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    headers = dict(
        line.decode().split(": ", 1) for line in head.split(b"\r\n")[1:] if b": " in line
    )
    with pytest.raises(error) as info:
        call.request(0).parse(status, headers, body)
    loop.core.rest_result(call.call_id, info.value, loop.now)
    loop.held_rest = None  # later calls are answered by the simulator
    loop.settle()
    failed = [e for e in loop.events if isinstance(e, BookSnapshotFailed)]
    assert len(failed) == 1
    assert failed[0].symbol == symbol
    loop.run_for(60.0)
    assert loop.core.book(symbol).state is BookState.SYNCED
    assert "/api/v3/depth" in loop.rest_calls
