"""Framing cost per frame: wsproto, websockets, the connection's fast path.

Run with ``uv run python -m bench.framing``. The server stream is a seeded corpus of
MEXC push frames (:mod:`bench.corpus`) near 208 bytes each, framed as binary
WebSocket frames and cut into 32 KiB reads. Each implementation reads the whole
stream once per pass:

- ``wsproto``: wsproto's frame parser alone (``FrameProtocol.received_frames``);
- ``websockets``: the websockets library's sans-IO client protocol, open, alone
  (``receive_data`` then ``events_received``);
- ``fast path``: :meth:`mexc_core.Connection.receive_data` with the fast path and
  a session that discards every message, so only the framing is paid;
- ``wsproto in Connection``: the same with ``fast_path=False``;
- ``Connection before`` / ``after``: the whole ``receive_data`` and ``events()``,
  session and decoding included, without and with the fast path.

Timing: :func:`time.perf_counter` around a whole pass, the garbage collector
collected before and disabled during it; the implementations alternate round by
round in one run and each keeps its best pass.
"""

from __future__ import annotations

import argparse
import base64
import gc
import hashlib
import json
import time
from collections.abc import Callable, Sequence

import websockets.client
import websockets.protocol
import websockets.uri
import wsproto.frame_protocol

from bench.corpus import build
from mexc_core.connection import Connection

READ_SIZE = 32 * 1024
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def binary_frame(payload: bytes) -> bytes:
    """A server (unmasked, FIN) binary frame."""
    n = len(payload)
    if n < 126:
        return bytes([0x82, n]) + payload
    if n < 1 << 16:
        return bytes([0x82, 126]) + n.to_bytes(2) + payload
    return bytes([0x82, 127]) + n.to_bytes(8) + payload


def stream(frames: int, seed: int) -> tuple[list[bytes], int]:
    """The reads of a stream of up to ``frames`` frames of 190 to 230 bytes, and their count."""
    corpus = build(frames * 4, seed)
    payloads = [f for f in corpus.frames if 190 <= len(f) + 3 <= 230][:frames]
    data = b"".join(binary_frame(p) for p in payloads)
    return [data[i : i + READ_SIZE] for i in range(0, len(data), READ_SIZE)], len(payloads)


def open_connection(*, fast_path: bool, discard: bool) -> Connection:
    """A connection past its handshake (the answer computed from its own request)."""
    conn = Connection(max_message_size=1 << 20, fast_path=fast_path)
    conn.connect(0.0)
    request = conn.data_to_send()
    key = request.split(b"Sec-WebSocket-Key: ")[1].split(b"\r\n")[0]
    accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
    conn.receive_data(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n",
        0.0,
    )
    list(conn.events())
    conn.data_to_send()
    if discard:
        # Measure the framing alone: the session drops every message unread.
        setattr(conn.session, "receive_binary", lambda data, now: None)  # noqa: B010
        setattr(conn.session, "receive_text", lambda text, now: None)  # noqa: B010
    return conn


def passes(reads: Sequence[bytes]) -> dict[str, Callable[[], None]]:
    """One pass over ``reads`` per implementation."""
    proto = wsproto.frame_protocol.FrameProtocol(client=True, extensions=[])
    ws = websockets.client.ClientProtocol(
        websockets.uri.parse_uri("ws://bench/ws"),
        state=websockets.protocol.OPEN,
        max_size=1 << 20,
    )
    fast = open_connection(fast_path=True, discard=True)
    slow = open_connection(fast_path=False, discard=True)
    before = open_connection(fast_path=False, discard=False)
    after = open_connection(fast_path=True, discard=False)

    def run_wsproto() -> None:
        for data in reads:
            proto.receive_bytes(data)
            for _ in proto.received_frames():
                pass

    def run_websockets() -> None:
        for data in reads:
            ws.receive_data(data)
            ws.events_received()

    def run_connection(conn: Connection) -> Callable[[], None]:
        def run() -> None:
            now = 1.0
            for data in reads:
                conn.receive_data(data, now)
                for _ in conn.events():
                    pass

        return run

    return {
        "wsproto": run_wsproto,
        "websockets": run_websockets,
        "fast path": run_connection(fast),
        "wsproto in Connection": run_connection(slow),
        "Connection before": run_connection(before),
        "Connection after": run_connection(after),
    }


def measure(frames: int, rounds: int, seed: int) -> dict[str, object]:
    reads, count = stream(frames, seed)
    runs = passes(reads)
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(rounds):
        for name, run in runs.items():
            gc.collect()
            gc.disable()
            try:
                start = time.perf_counter()
                run()
                best[name] = min(best[name], time.perf_counter() - start)
            finally:
                gc.enable()
    us = {name: seconds / count * 1e6 for name, seconds in best.items()}
    size = sum(len(r) for r in reads) / count
    return {
        "bench": "framing",
        "frames": count,
        "mean_frame_bytes": round(size, 1),
        "read_bytes": READ_SIZE,
        "rounds": rounds,
        "us_per_frame": {name: round(v, 3) for name, v in us.items()},
        "ratios": {
            "fast path / websockets": round(us["fast path"] / us["websockets"], 3),
            "fast path / wsproto": round(us["fast path"] / us["wsproto"], 3),
            "wsproto / websockets": round(us["wsproto"] / us["websockets"], 3),
            "fast path / wsproto in Connection": round(
                us["fast path"] / us["wsproto in Connection"], 3
            ),
            "Connection after / before": round(us["Connection after"] / us["Connection before"], 3),
        },
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.framing", description=__doc__)
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.frames, args.rounds, args.seed), indent=2))


if __name__ == "__main__":
    main()
