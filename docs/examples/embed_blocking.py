"""Embed mexc-core in plain blocking code: a socket, ssl, and nothing else.

Run it against MEXC (``wss://wbs-api.mexc.com/ws``)::

    uv run python docs/examples/embed_blocking.py --count 5

or against any local endpoint with ``--host 127.0.0.1 --port 8765 --no-tls``.
The loop is the whole adapter: read, feed, drain events, write, and wake up at
the core's next deadline. Every protocol decision is made by the core.
"""

from __future__ import annotations

import argparse
import socket
import ssl
import time
from collections.abc import Callable, Sequence

from mexc_core.connection import Connection, ConnectionState
from mexc_core.errors import MexcError
from mexc_core.events import (
    ConnectionClosed,
    HandshakeRejected,
    HealthCheckFailed,
    Push,
    Subscribed,
    SubscriptionFailed,
)

TOPICS = ("spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT",)


def run(
    host: str = "wbs-api.mexc.com",
    port: int = 443,
    topics: Sequence[str] = TOPICS,
    *,
    tls: bool | ssl.SSLContext = True,
    count: int = 10,
    give_up_after: float = 60.0,
    clock: Callable[[], float] = time.monotonic,
) -> list[Push]:
    """Subscribe ``topics``, collect ``count`` pushes, close cleanly, return them.

    ``tls`` is ``True`` (verify with the system's CAs), ``False`` (plain TCP) or an
    :class:`ssl.SSLContext` (e.g. one trusting a local test CA).
    """
    sock = socket.create_connection((host, port), timeout=10)
    if tls is not False:
        context = ssl.create_default_context() if tls is True else tls
        sock = context.wrap_socket(sock, server_hostname=host)
    conn = Connection(host=host if port in (80, 443) else f"{host}:{port}")
    conn.subscribe(topics, clock())
    conn.connect(clock())
    sock.sendall(conn.data_to_send())
    pushes: list[Push] = []
    stop_at = clock() + give_up_after
    try:
        while conn.state is not ConnectionState.CLOSED and clock() < stop_at:
            deadline = conn.next_deadline()
            wait = stop_at if deadline is None else min(deadline, stop_at)
            sock.settimeout(max(wait - clock(), 0.001))
            try:
                data = sock.recv(65536)
            except TimeoutError:
                pass  # a deadline came: handled below
            else:
                conn.receive_data(data, clock())  # b"" is EOF
            now = clock()
            deadline = conn.next_deadline()
            if deadline is not None and deadline <= now:
                conn.handle_timer(now)
            for event in conn.events():
                if isinstance(event, Push):
                    if len(pushes) == count:
                        continue  # read in the same chunk as the last one wanted
                    pushes.append(event)
                    print(f"{event.channel}: {event.body}")
                    if len(pushes) == count:
                        conn.close(now=now)
                elif isinstance(event, Subscribed | SubscriptionFailed):
                    print(event)
                elif isinstance(event, HealthCheckFailed):
                    print(f"dead connection ({event.detail}): aborting")
                    return pushes  # abort: no close handshake on a dead link
                elif isinstance(event, ConnectionClosed | HandshakeRejected):
                    print(event)
            sock.sendall(conn.data_to_send())
    except MexcError as exc:
        print(f"protocol error: {exc!r}")
        sock.sendall(conn.data_to_send())  # the close frame, if one is due
    finally:
        sock.close()
    return pushes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="wbs-api.mexc.com")
    parser.add_argument("--port", type=int, default=443)
    parser.add_argument("--no-tls", action="store_true")
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--topic", action="append", dest="topics")
    args = parser.parse_args()
    run(args.host, args.port, args.topics or TOPICS, tls=not args.no_tls, count=args.count)


if __name__ == "__main__":
    main()
