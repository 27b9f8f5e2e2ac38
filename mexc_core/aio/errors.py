"""Transport errors: failures of the network, not of the MEXC protocol.

Only the adapters raise these (docs/architecture.rst, rule 2); library exceptions (OSError,
ssl.SSLError, anyio's) are mapped to them in one place, :func:`translate`.
"""

from __future__ import annotations

import os
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager

import anyio

from mexc_core.errors import MexcError

__all__ = (
    "ConnectError",
    "HandshakeFailed",
    "ReadTimeout",
    "ResponseTooLarge",
    "TlsVerificationError",
    "TransportError",
    "translate",
)


class TransportError(MexcError):
    """The connection failed or behaved unexpectedly; a retry may succeed."""


class ConnectError(TransportError):
    """The connection could not be opened (refused, unreachable, DNS, TLS handshake)."""


class TlsVerificationError(ConnectError):
    """The server's certificate or host name did not verify: a configuration problem,
    not a transient one (retrying soon will not help)."""


class HandshakeFailed(ConnectError):
    """The server answered the WebSocket upgrade with an HTTP response instead of
    ``101 Switching Protocols`` (an HTML page, a proxy's or load balancer's error):
    usually a wrong URL or something in the way, not a passing failure.

    :ivar status: the HTTP status of the answer, when it could be read.
    """

    def __init__(self, message: str, *, status: int | None) -> None:
        super().__init__(message)
        self.status = status


class ReadTimeout(TransportError):
    """The peer did not answer in time."""


class ResponseTooLarge(TransportError):
    """The response exceeded the configured size limit."""


@contextmanager
def translate(what: str) -> Iterator[None]:
    """Map the exceptions of sockets, TLS and anyio to :class:`TransportError`."""
    try:
        yield
    except ssl.SSLCertVerificationError as exc:
        raise TlsVerificationError(f"{what}: certificate verification failed: {exc}") from exc
    except TimeoutError as exc:
        raise ReadTimeout(f"{what}: timed out") from exc
    except (anyio.BrokenResourceError, anyio.EndOfStream, anyio.ClosedResourceError) as exc:
        raise TransportError(f"{what}: connection lost") from exc
    except (OSError, ssl.SSLError) as exc:
        raise ConnectError(f"{what}: {_os_reason(exc)}") from exc


def _os_reason(exc: OSError) -> str:
    """What an OS error says; anyio's "All connection attempts failed" names its cause."""
    if isinstance(exc.__cause__, OSError):
        exc = exc.__cause__
    if isinstance(exc, socket.gaierror) and exc.strerror:
        return f"cannot resolve the host: {exc.strerror}"
    if isinstance(exc.errno, int) and exc.errno > 0 and not isinstance(exc, ssl.SSLError):
        return os.strerror(exc.errno)
    return str(exc)
