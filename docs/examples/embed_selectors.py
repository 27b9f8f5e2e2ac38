"""Embed mexc-core in a ``selectors`` event loop: non-blocking, one thread.

One loop serves several connections (here: one per shard of topics). Each
iteration waits for readable sockets, writable sockets with bytes pending, or
the earliest deadline of any connection, whichever comes first::

    uv run python docs/examples/embed_selectors.py --host 127.0.0.1 --port 8765

Plain TCP only, to keep the loop short; for ``wss://`` put an ``ssl.SSLObject``
over ``ssl.MemoryBIO`` between the socket and the connection (it is sans-IO too).
"""

from __future__ import annotations

import argparse
import selectors
import socket
import time
from collections.abc import Callable, Sequence

from mexc_core.connection import Connection, ConnectionState
from mexc_core.errors import MexcError, SubscriptionLimitExceeded
from mexc_core.events import ConnectionClosed, HealthCheckFailed, Push
from mexc_core.session import SessionConfig

TOPICS = (
    "spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT",
    "spot@public.aggre.deals.v3.api.pb@100ms@ETHUSDT",
)


class Link:
    """One socket and its connection, with the bytes not yet written."""

    def __init__(self, sock: socket.socket, conn: Connection) -> None:
        self.sock = sock
        self.conn = conn
        self.pending = b""


def shard(topics: Sequence[str], host: str, config: SessionConfig, now: float) -> list[Connection]:
    """Spread ``topics`` over as many connections as the cap needs."""
    conns = [Connection(host=host, session_config=config)]
    for topic in topics:
        try:
            conns[-1].subscribe([topic], now)
        except SubscriptionLimitExceeded:
            conns.append(Connection(host=host, session_config=config))
            conns[-1].subscribe([topic], now)
    return conns


def run(
    host: str,
    port: int,
    topics: Sequence[str] = TOPICS,
    *,
    count: int = 10,
    max_per_connection: int = 25,
    give_up_after: float = 60.0,
    clock: Callable[[], float] = time.monotonic,
) -> list[Push]:
    """Collect ``count`` pushes over sharded connections, then close them all."""
    config = SessionConfig(max_subscriptions=max_per_connection)
    sel = selectors.DefaultSelector()
    links: list[Link] = []
    for conn in shard(topics, f"{host}:{port}", config, clock()):
        sock = socket.create_connection((host, port), timeout=10)
        sock.setblocking(False)  # noqa: FBT003 - socket API
        conn.connect(clock())
        link = Link(sock, conn)
        links.append(link)
        sel.register(sock, selectors.EVENT_READ, link)
    pushes: list[Push] = []
    stop_at = clock() + give_up_after
    try:
        while clock() < stop_at and any(
            link.conn.state is not ConnectionState.CLOSED or link.pending for link in links
        ):
            for link in links:  # gather output, and ask to write if any is left
                link.pending += link.conn.data_to_send()
                if link.sock.fileno() >= 0:
                    want = selectors.EVENT_READ | (selectors.EVENT_WRITE if link.pending else 0)
                    sel.modify(link.sock, want, link)
            deadlines = [d for link in links if (d := link.conn.next_deadline()) is not None]
            timeout = max(min([*deadlines, stop_at]) - clock(), 0.0)
            for key, mask in sel.select(timeout):
                link = key.data
                if mask & selectors.EVENT_WRITE and link.pending:
                    sent = link.sock.send(link.pending)
                    link.pending = link.pending[sent:]
                if mask & selectors.EVENT_READ:
                    try:
                        data = link.sock.recv(65536)
                    except BlockingIOError:
                        continue
                    try:
                        link.conn.receive_data(data, clock())
                    except MexcError as exc:
                        print(f"protocol error: {exc!r}")
            now = clock()
            for link in links:
                deadline = link.conn.next_deadline()
                if deadline is not None and deadline <= now:
                    link.conn.handle_timer(now)
                for event in link.conn.events():
                    if isinstance(event, Push):
                        if len(pushes) == count:
                            continue  # read with the last one wanted: not kept
                        pushes.append(event)
                        if len(pushes) == count:
                            for other in links:
                                if other.conn.state is ConnectionState.OPEN:
                                    other.conn.close(now=now)
                    elif isinstance(event, HealthCheckFailed | ConnectionClosed):
                        print(event)
    finally:
        for link in links:
            sel.unregister(link.sock)
            link.sock.close()
        sel.close()
    return pushes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--count", type=int, default=10)
    args = parser.parse_args()
    for push in run(args.host, args.port, count=args.count):
        print(push.channel, push.body)


if __name__ == "__main__":
    main()
