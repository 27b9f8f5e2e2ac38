"""Drive the whole sans-IO client core from a ``selectors`` loop: no anyio.

:class:`~mexc_core.client.core.ClientCore` decides everything (shards,
reconnects with backoff, rotation, gaps, the listen key and its renewals); this
loop only opens the sockets it asks for, moves bytes, runs its REST calls and
sleeps until its next deadline::

    uv run python docs/examples/embed_core.py --ws ws://127.0.0.1:8765/ws \\
        --rest http://127.0.0.1:8765 --seconds 20

With ``--key`` and ``--secret`` it also follows a private topic. Plain TCP and
HTTP only, to keep the loop short (``wss://`` needs an ``ssl.SSLObject`` over
``ssl.MemoryBIO`` between the socket and the core). REST calls are made with the
standard library's blocking ``http.client``: they are rare (a listen key an hour),
but a loop that must never block would run them in a thread.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import random
import selectors
import socket
import time
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from mexc_core import (
    AbortTransport,
    ClientCore,
    CloseTransport,
    CoreConfig,
    CoreState,
    Credentials,
    Event,
    OpenTransport,
    PoolConfig,
    RestCall,
    RestError,
    RestResult,
)

TOPICS = ("spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT",)
PRIVATE = ("spot@private.orders.v3.api.pb",)


class Socket:
    """One transport of the core: its socket and the bytes not written yet."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.pending = b""


def rest_call(base: str, call: RestCall, wall_ms: int) -> RestResult | RestError:
    """Run one REST call; the parsed answer, or the RestError MEXC gave."""
    request = call.request(wall_ms)
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port or 80, timeout=10)
    try:
        conn.request(request.method, request.target, request.body, dict(request.headers))
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    try:
        return request.parse(response.status, dict(response.getheaders()), body)
    except RestError as exc:
        return exc


def run(
    ws_url: str,
    rest_url: str,
    topics: Sequence[str],
    *,
    on_event: Callable[[Event, float], bool],
    credentials: Credentials | None = None,
    give_up_after: float = 60.0,
    clock: Callable[[], float] = time.monotonic,
    wall_ms: Callable[[], int] = lambda: int(time.time() * 1000),
) -> ClientCore:
    """Subscribe ``topics`` and hand every event to ``on_event`` until it returns
    ``False`` (or ``give_up_after`` seconds pass); then close cleanly."""
    ws = urlsplit(ws_url)
    host, port = ws.hostname or "127.0.0.1", ws.port or 80
    config = CoreConfig(pool=PoolConfig(host=f"{host}:{port}", path=ws.path or "/"))
    core = ClientCore(config, credentials=credentials, rng=random.Random())
    core.start(clock())
    core.subscribe(topics, clock())
    sel = selectors.DefaultSelector()
    sockets: dict[int, Socket] = {}
    stop_at = clock() + give_up_after

    def drop(cid: int) -> None:
        gone = sockets.pop(cid, None)
        if gone is not None:
            sel.unregister(gone.sock)
            gone.sock.close()

    try:
        while clock() < stop_at:
            for event in core.events():  # what happened (pushes included)
                if not on_event(event, clock()) and core.state is CoreState.RUNNING:
                    core.close(clock())
            if core.finished:
                break
            for intent in core.intents():  # what the core wants done
                if isinstance(intent, OpenTransport):
                    try:
                        sock = socket.create_connection((host, port), timeout=5)
                    except OSError as exc:
                        core.transport_failed(intent.cid, clock(), str(exc))
                        continue
                    sock.setblocking(False)  # noqa: FBT003 - socket API
                    sockets[intent.cid] = Socket(sock)
                    sel.register(sock, selectors.EVENT_READ, intent.cid)
                    core.transport_opened(intent.cid, clock())
                elif isinstance(intent, CloseTransport):
                    closing = sockets.get(intent.cid)
                    if closing is not None:
                        with contextlib.suppress(OSError):  # closing anyway
                            closing.sock.sendall(closing.pending + intent.data)
                    drop(intent.cid)
                elif isinstance(intent, AbortTransport):
                    drop(intent.cid)
                else:
                    try:
                        answer = rest_call(rest_url, intent, wall_ms())
                    except OSError as exc:
                        core.rest_failed(intent.call_id, clock(), str(exc))
                    else:
                        core.rest_result(intent.call_id, answer, clock())
            for cid in core.writable():  # only the transports the core wrote on
                out = sockets.get(cid)
                if out is not None:
                    out.pending += core.data_to_send(cid)
                    want = selectors.EVENT_READ | (selectors.EVENT_WRITE if out.pending else 0)
                    sel.modify(out.sock, want, cid)
            if core.has_output:
                continue  # a REST answer or a command brought more: take it first
            deadline = core.next_deadline()
            timeout = max(min(stop_at if deadline is None else deadline, stop_at) - clock(), 0)
            for key, mask in sel.select(timeout):
                cid = key.data
                s = sockets.get(cid)
                if s is None:
                    continue
                if mask & selectors.EVENT_WRITE and s.pending:
                    try:
                        sent = s.sock.send(s.pending)
                    except OSError as exc:
                        drop(cid)
                        core.transport_failed(cid, clock(), f"write failed: {exc}")
                        continue
                    s.pending = s.pending[sent:]
                    if not s.pending:
                        sel.modify(s.sock, selectors.EVENT_READ, cid)
                if mask & selectors.EVENT_READ:
                    try:
                        data = s.sock.recv(65536)
                    except BlockingIOError:
                        continue
                    except OSError as exc:
                        drop(cid)
                        core.transport_failed(cid, clock(), f"read failed: {exc}")
                        continue
                    core.receive_data(cid, data, clock())  # b"" at EOF
            deadline = core.next_deadline()
            if deadline is not None and deadline <= clock():
                core.handle_timer(clock())
    finally:
        for cid in list(sockets):
            drop(cid)
        sel.close()
    return core


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ws", default="ws://127.0.0.1:8765/ws")
    parser.add_argument("--rest", default="http://127.0.0.1:8765")
    parser.add_argument("--key", help="API key: also follow private orders")
    parser.add_argument("--secret", help="API secret")
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    credentials = None
    topics = list(TOPICS)
    if args.key and args.secret:
        credentials = Credentials(args.key, args.secret)
        topics += PRIVATE
    end = time.monotonic() + args.seconds

    def show(event: Event, now: float) -> bool:
        print(event)
        return bool(now < end)

    run(args.ws, args.rest, topics, on_event=show, credentials=credentials)


if __name__ == "__main__":
    main()
