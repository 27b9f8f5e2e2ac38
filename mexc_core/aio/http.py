"""An anyio HTTP/1.1 client over h11, for MEXC's REST API.

:class:`HttpClient` sends :class:`mexc_core.rest.RestRequest` objects and returns
their typed results. It verifies TLS certificates by default (a custom CA file or
:class:`ssl.SSLContext` can be given, e.g. for the local simulator), reuses
keep-alive connections, bounds every request with a timeout and every response
with a size limit, and raises :mod:`mexc_core.aio.errors` for transport failures
and :class:`mexc_core.rest.RestError` for MEXC's answers. No other HTTP library.
"""

from __future__ import annotations

import select
import ssl
from dataclasses import dataclass
from types import TracebackType
from typing import Final, TypeVar, final
from urllib.parse import urlsplit

import anyio
import anyio.abc
import h11
from anyio import TypedAttributeLookupError
from anyio.abc import SocketAttribute

from mexc_core import __version__
from mexc_core.aio.errors import ResponseTooLarge, TransportError, translate
from mexc_core.errors import LocalProtocolError
from mexc_core.rest import RestRequest

__all__ = ("DEFAULT_BASE_URL", "HttpClient", "HttpResponse")

T = TypeVar("T")

DEFAULT_BASE_URL: Final = "https://api.mexc.com"
_READ_SIZE: Final = 65536


@final
@dataclass(frozen=True, slots=True)
class HttpResponse:
    """A whole HTTP response."""

    status: int
    headers: dict[str, str]
    body: bytes


class _StaleConnection(Exception):
    """A reused connection was found closed before any response byte arrived."""


class _Connection:
    """One HTTP/1.1 connection: an anyio byte stream and its h11 state."""

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self.stream = stream
        self.h11 = h11.Connection(h11.CLIENT)
        self.reused = False
        self.idle_since = 0.0
        self.received = 0

    def closed_by_peer(self) -> bool:
        """Whether the idle socket is readable: end of file (or unsolicited bytes)."""
        try:
            sock = self.stream.extra(SocketAttribute.raw_socket)  # noqa: S610 - anyio, not Django
        except TypedAttributeLookupError:  # pragma: no cover - every stream here has one
            return False
        try:
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    @property
    def reusable(self) -> bool:
        """Whether the exchange is over and nothing came after it: bytes the server
        sent past the response (h11 keeps them) would be read as the next request's
        answer, so such a connection is closed, never reused."""
        return (
            self.h11.our_state is h11.DONE
            and self.h11.their_state is h11.DONE
            and not self.h11.trailing_data[0]
        )

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True):
            await self.stream.aclose()


class HttpClient:
    """HTTP/1.1 over anyio and h11, with keep-alive reuse.

    :param base_url: ``https://host[:port]`` or ``http://host[:port]``.
    :param ssl_context: TLS settings; by default the system's CAs with host name
        verification. Ignored for ``http://``.
    :param ca_file: a CA bundle to trust instead (e.g. the simulator's test CA).
    :param timeout: seconds for connecting, sending and receiving one request.
    :param max_response_size: bytes; a larger body raises :class:`ResponseTooLarge`.
    :param max_idle_connections: keep-alive connections kept for reuse.
    :param idle_timeout: seconds an idle connection is kept; older ones are closed
        rather than reused (servers drop idle connections without telling).
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        ssl_context: ssl.SSLContext | None = None,
        ca_file: str | None = None,
        timeout: float = 10.0,
        max_response_size: int = 8 * 1024 * 1024,
        max_idle_connections: int = 4,
        idle_timeout: float = 30.0,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise LocalProtocolError(f"base_url must be http(s)://host[:port], not {base_url!r}")
        if timeout <= 0 or max_response_size <= 0 or max_idle_connections < 0:
            raise LocalProtocolError("timeout and max_response_size must be positive")
        self.host = parts.hostname
        self.tls = parts.scheme == "https"
        self.port = parts.port or (443 if self.tls else 80)
        self.timeout = timeout
        self.max_response_size = max_response_size
        self.max_idle_connections = max_idle_connections
        self.idle_timeout = idle_timeout
        self._ssl: ssl.SSLContext | None = None
        if self.tls:
            self._ssl = ssl_context or ssl.create_default_context(cafile=ca_file)
        self._idle: list[_Connection] = []
        self._host_header = self.host if parts.port is None else f"{self.host}:{self.port}"

    def __repr__(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"HttpClient({scheme}://{self._host_header}, idle={len(self._idle)})"

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every idle connection."""
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.aclose()

    async def request(self, request: RestRequest[T]) -> T:
        """Send ``request`` and return its parsed result.

        :raises mexc_core.rest.RestError: MEXC answered with an error (or a bad body).
        :raises mexc_core.aio.errors.TransportError: the exchange did not complete.
        """
        response = await self.send(
            request.method, request.target, list(request.headers), request.body
        )
        return request.parse(response.status, response.headers, response.body)

    async def send(
        self,
        method: str,
        target: str,
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
    ) -> HttpResponse:
        """Send one request and read the whole response.

        :raises mexc_core.aio.errors.TransportError: connection, timeout or size failure.
        """
        all_headers = [
            ("Host", self._host_header),
            ("User-Agent", f"mexc-core/{__version__}"),
            ("Accept", "application/json"),
            *(headers or []),
        ]
        if body or method in ("POST", "PUT"):
            all_headers.append(("Content-Length", str(len(body))))
            if body:
                all_headers.append(("Content-Type", "application/x-www-form-urlencoded"))
        what = f"{method} {target.split('?', 1)[0]}"
        conn = await self._take()
        try:
            response = await self._attempt(conn, what, method, target, all_headers, body)
        except _StaleConnection:
            # The server closed a kept-alive connection between two requests and
            # nothing came back: it cannot have processed this request. Retry once
            # on a fresh connection (for a POST too: nothing was answered).
            response = await self._attempt(
                await self._connect(), what, method, target, all_headers, body
            )
        return response

    async def _attempt(
        self,
        conn: _Connection,
        what: str,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes,
    ) -> HttpResponse:
        ok = False
        try:
            # translate() outside: fail_after raises its TimeoutError on exit
            with translate(what), anyio.fail_after(self.timeout):
                try:
                    response = await self._exchange(conn, method, target, headers, body)
                except (anyio.EndOfStream, anyio.BrokenResourceError, ConnectionError) as exc:
                    if conn.reused and conn.received == 0:
                        raise _StaleConnection from exc
                    raise
            ok = True
            return response
        finally:
            if ok and conn.reusable and len(self._idle) < self.max_idle_connections:
                conn.h11.start_next_cycle()
                conn.reused = True
                conn.received = 0
                conn.idle_since = anyio.current_time()
                self._idle.append(conn)
            else:
                await conn.aclose()

    async def _take(self) -> _Connection:
        now = anyio.current_time()
        while self._idle:
            conn = self._idle.pop()
            if now - conn.idle_since < self.idle_timeout and not conn.closed_by_peer():
                return conn
            await conn.aclose()
        return await self._connect()

    async def _connect(self) -> _Connection:
        stream: anyio.abc.ByteStream
        with translate(f"connect {self._host_header}"), anyio.fail_after(self.timeout):
            if self._ssl is not None:
                stream = await anyio.connect_tcp(
                    self.host, self.port, ssl_context=self._ssl, tls_standard_compatible=False
                )
            else:
                stream = await anyio.connect_tcp(self.host, self.port)
        return _Connection(stream)

    async def _exchange(
        self,
        conn: _Connection,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes,
    ) -> HttpResponse:
        out = conn.h11.send(h11.Request(method=method, target=target, headers=headers))
        if body:
            out = (out or b"") + (conn.h11.send(h11.Data(data=body)) or b"")
        out = (out or b"") + (conn.h11.send(h11.EndOfMessage()) or b"")
        await conn.stream.send(out)
        status = 0
        response_headers: dict[str, str] = {}
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                event = conn.h11.next_event()
            except h11.RemoteProtocolError as exc:
                raise TransportError(f"malformed HTTP response: {exc}") from exc
            if event is h11.NEED_DATA:
                try:
                    data = await conn.stream.receive(_READ_SIZE)
                except anyio.EndOfStream:
                    # a body delimited by the connection's close ends here; h11
                    # decides whether that is a complete response
                    if conn.h11.their_state is h11.SEND_RESPONSE:
                        raise
                    data = b""
                conn.received += len(data)
                conn.h11.receive_data(data)
                continue
            if isinstance(event, h11.Response):
                status = event.status_code
                response_headers = {
                    name.decode("latin-1"): value.decode("latin-1") for name, value in event.headers
                }
            elif isinstance(event, h11.Data):
                size += len(event.data)
                if size > self.max_response_size:
                    raise ResponseTooLarge(f"response larger than {self.max_response_size} bytes")
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return HttpResponse(status, response_headers, b"".join(chunks))
            elif isinstance(event, h11.ConnectionClosed):
                raise TransportError("the server closed the connection mid-response")
