"""A load source for the scale benchmark: pre-encoded MEXC pushes at a set rate.

``python -m bench.blaster [--port P] [--rate R]`` serves a WebSocket endpoint on
127.0.0.1, prints ``port <P>`` on stdout once listening, then reads commands on
stdin, one a line: ``rate <pushes per second>`` (0 stops the pushes) and ``quit``.

It completes the upgrade (RFC 6455 section 4.2), answers
``{"method":"SUBSCRIPTION","params":[...]}`` with MEXC's ack
``{"id":0,"code":0,"msg":"<topics, comma-joined>"}``, ``{"method":"PING"}`` with
``{"id":0,"code":0,"msg":"PONG"}``, WebSocket pings with pongs, and a close frame
with a close frame. Every topic it is asked for gets one pre-encoded push of its
channel kind (bodies from :mod:`bench.corpus`, the channel and symbol rewritten).

Pushes go out in ticks of :data:`TICK` seconds: each tick writes the pushes owed
since the start at the current rate, round-robin over every subscribed topic of
every connection, one write per connection. The only per-push work is a join:
each tick appends ``sendTime`` (field 6 of the wrapper) to every payload, set to
``CLOCK_MONOTONIC`` in microseconds at the write (a benchmark convention: MEXC
sends milliseconds since the epoch). A client on the same machine reads the same
clock and so measures send-to-hook latency.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any, Final

from bench.corpus import build
from codegen import oracle

__all__ = ("KINDS", "TICK", "Blaster", "main", "stamp", "topics")

TICK: Final = 0.005
#: The channel kinds pushed: ``(topic template, corpus kind)``.
KINDS: Final = (
    ("spot@public.aggre.deals.v3.api.pb@100ms@{}", "aggre.deals"),
    ("spot@public.aggre.depth.v3.api.pb@100ms@{}", "aggre.depth"),
    ("spot@public.aggre.bookTicker.v3.api.pb@100ms@{}", "aggre.bookTicker"),
)
_GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_SEND_TIME_TAG: Final = b"\x30"  # field 6, varint


def topics(count: int) -> list[str]:
    """``count`` topics over the kinds of :data:`KINDS` and synthetic symbols."""
    return [KINDS[i % len(KINDS)][0].format(f"B{i // len(KINDS):05d}USDT") for i in range(count)]


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def stamp() -> bytes:
    """The ``sendTime`` field for now: ``CLOCK_MONOTONIC`` in microseconds."""
    return _SEND_TIME_TAG + _varint(time.monotonic_ns() // 1000)


def _header(size: int) -> bytes:
    if size < 126:
        return bytes((0x82, size))
    if size < 1 << 16:
        return bytes((0x82, 126)) + size.to_bytes(2, "big")
    return bytes((0x82, 127)) + size.to_bytes(8, "big")


class _Bodies:
    """One pre-encoded payload (without ``sendTime``) per topic, built on demand."""

    def __init__(self) -> None:
        corpus = build(600, seed=1)
        wrapper = oracle.classes()["PushDataV3ApiWrapper"]
        self._samples: dict[str, list[Any]] = {}
        for data, kind in zip(corpus.frames, corpus.kinds, strict=True):
            self._samples.setdefault(kind, []).append(wrapper.FromString(data))
        self._cache: dict[str, bytes] = {}

    def payload(self, topic: str) -> bytes:
        found = self._cache.get(topic)
        if found is None:
            kind = next((k for template, k in KINDS if topic.startswith(template[:-2])), None)
            samples = self._samples[kind or "aggre.deals"]
            msg = samples[len(self._cache) % len(samples)]
            copy = type(msg)()
            copy.CopyFrom(msg)
            copy.channel = topic
            copy.symbol = topic.rsplit("@", 1)[-1]
            copy.ClearField("sendTime")
            found = self._cache[topic] = copy.SerializeToString()
        return found


class _Peer:
    """One client connection."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.payloads: list[bytes] = []  # one per subscribed topic
        self.closed = False


class Blaster:
    """The server: connections, their topics, and the ticker."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.bodies = _Bodies()
        self.peers: list[_Peer] = []
        self.sent = 0

    async def serve(self, peer_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Handshake, then answer the client's frames until it goes."""
        head = await peer_reader.readuntil(b"\r\n\r\n")
        key = b""
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"sec-websocket-key":
                key = value.strip()
        accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        peer = _Peer(writer)
        self.peers.append(peer)
        try:
            await self._frames(peer_reader, peer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            peer.closed = True
            self.peers.remove(peer)
            writer.close()

    async def _frames(self, reader: asyncio.StreamReader, peer: _Peer) -> None:
        while True:
            first, second = await reader.readexactly(2)
            size = second & 0x7F
            if size == 126:
                size = int.from_bytes(await reader.readexactly(2), "big")
            elif size == 127:
                size = int.from_bytes(await reader.readexactly(8), "big")
            mask = await reader.readexactly(4) if second & 0x80 else b"\0\0\0\0"
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(await reader.readexactly(size)))
            opcode = first & 0x0F
            if opcode == 0x8:  # close: echo it
                peer.writer.write(bytes((0x88, len(data[:2]))) + data[:2])
                return
            if opcode == 0x9:  # ping
                peer.writer.write(bytes((0x8A, len(data))) + data)
            elif opcode == 0x1:
                self._request(peer, json.loads(data))

    def _reply(self, peer: _Peer, msg: str) -> None:
        text = json.dumps({"id": 0, "code": 0, "msg": msg}, separators=(",", ":")).encode()
        peer.writer.write(_header(len(text)).replace(b"\x82", b"\x81", 1) + text)

    def _request(self, peer: _Peer, request: dict[str, object]) -> None:
        method = str(request.get("method", "")).upper()
        if method == "PING":
            self._reply(peer, "PONG")
        elif method == "SUBSCRIPTION":
            params = [str(p) for p in request.get("params", ())]  # type: ignore[attr-defined]
            peer.payloads.extend(self.bodies.payload(t) for t in params)
            self._reply(peer, ",".join(params))
        elif method == "UNSUBSCRIPTION":
            params = [str(p) for p in request.get("params", ())]  # type: ignore[attr-defined]
            gone = {self.bodies.payload(t) for t in params}
            peer.payloads = [p for p in peer.payloads if p not in gone]
            self._reply(peer, ",".join(params))

    async def tick(self) -> None:
        """Write the pushes owed at the current rate, every :data:`TICK` seconds."""
        owed = 0.0
        last = time.monotonic()
        cursor = 0
        while True:
            await asyncio.sleep(TICK)
            now = time.monotonic()
            owed = min(owed + self.rate * (now - last), self.rate * 0.1 + 1)
            last = now
            live = [peer for peer in self.peers if peer.payloads and not peer.closed]
            count = int(owed)
            if not live or count == 0:
                owed = 0.0 if not live else owed
                continue
            owed -= count
            tail = stamp()
            per_peer, extra = divmod(count, len(live))
            for index, peer in enumerate(live):
                n = per_peer + (1 if index < extra else 0)
                if n == 0:
                    continue
                payloads = peer.payloads
                parts = []
                for i in range(cursor, cursor + n):
                    body = payloads[i % len(payloads)]
                    parts.append(_header(len(body) + len(tail)))
                    parts.append(body)
                    parts.append(tail)
                peer.writer.write(b"".join(parts))
            cursor += per_peer + 1
            self.sent += count


async def _main(port: int, rate: float) -> None:
    blaster = Blaster(rate)
    server = await asyncio.start_server(blaster.serve, "127.0.0.1", port, backlog=1024)
    bound = server.sockets[0].getsockname()[1]
    print(f"port {bound}", flush=True)
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def commands() -> None:
        for line in sys.stdin:
            words = line.split()
            if words[:1] == ["rate"]:
                blaster.rate = float(words[1])
            elif words[:1] == ["sent"]:
                print(f"sent {blaster.sent}", flush=True)
            elif words[:1] == ["quit"]:
                break
        loop.call_soon_threadsafe(done.set_result, None)

    threading.Thread(target=commands, daemon=True).start()
    ticker = asyncio.create_task(blaster.tick())
    async with server:
        await done
        ticker.cancel()
        for peer in list(blaster.peers):  # their readers end at EOF, not by cancellation
            peer.writer.transport.abort()
        await asyncio.sleep(0.1)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until ``quit`` on stdin (or its end)."""
    parser = argparse.ArgumentParser(prog="python -m bench.blaster", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port (default: any free one)")
    parser.add_argument("--rate", type=float, default=0.0, help="pushes per second to start")
    args = parser.parse_args(argv)
    asyncio.run(_main(args.port, args.rate))
    return 0


if __name__ == "__main__":
    sys.exit(main())
