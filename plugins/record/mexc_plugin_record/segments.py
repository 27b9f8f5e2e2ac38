"""The recording format: append-only segment files of independently compressed blocks.

A recording is a directory of segment files (``seg-000001.mxr``,
``seg-000002.mxr`` ..., numbered in writing order) and ``index.jsonl``, one JSON
line per block written (an accelerator, never needed to read the segments).

A segment file starts with the 8 bytes ``MXRSEG01`` and holds blocks back to
back. A block is a 44-byte header (:data:`BLOCK_HEADER`, then the header's own
CRC-32) and a payload, one zstd frame of the block's records, compressed on its
own so that a reader needs nothing but the block to read it and a damaged block
never spoils another. The header holds the magic ``MXB1``, the payload's length,
its decompressed length, the number of records, the first and last record's
times, the payload's CRC-32, and the CRC-32 of all that. A record is a 21-byte
header (kind, time, key, the lengths of meta and data) and the meta and data
bytes; :class:`Kind` lists the kinds and :meth:`Record.call` reads any of them
back. ``docs/record.rst`` draws the layout byte by byte.

**Crash safety.** The writer only ever appends, one whole block per write, and
never reopens a segment: a new writer on the same directory starts a new
segment. A crash can therefore only leave the *end* of a segment short: a block
header cut short, a payload shorter than its header says or failing its CRC, or
(on file systems that extend a file before writing its data) zero bytes. The reader accepts
exactly these at a segment's end, as a *torn tail*: it stops reading that
segment there, reports the cut (:attr:`Recording.torn`) and can truncate it
(:meth:`Recording.repair`). Everything before the tail is read as written. Any
other damage (a bad CRC with more data after it, a bad magic) is
:class:`CorruptRecording`: the format cannot tell where the next block starts.
"""

from __future__ import annotations

import enum
import json
import os
import struct
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, final

import zstandard

__all__ = (
    "BLOCK_HEADER",
    "SEGMENT_MAGIC",
    "Block",
    "CorruptRecording",
    "Kind",
    "Record",
    "Recording",
    "RecordingError",
    "SegmentWriter",
    "TornTail",
    "WriterStats",
)

SEGMENT_MAGIC: Final = b"MXRSEG01"
BLOCK_MAGIC: Final = b"MXB1"
#: The block header: magic, payload length, raw length, records, first and last
#: time, payload CRC (the header CRC follows, over these 36 bytes).
BLOCK_HEADER: Final = struct.Struct("<4sIIIddI")
_HEADER_CRC: Final = struct.Struct("<I")
_HEADER_SIZE: Final = BLOCK_HEADER.size + _HEADER_CRC.size  # 44
_RECORD: Final = struct.Struct("<BdIII")
_INDEX: Final = "index.jsonl"
_SEGMENT_GLOB: Final = "seg-*.mxr"


class RecordingError(Exception):
    """A recording cannot be read (or written): the message says which file and why."""


class CorruptRecording(RecordingError):
    """A block is damaged where a crash cannot have damaged it (not at a segment's end)."""


class Kind(enum.IntEnum):
    """What a record holds."""

    META = 0
    INPUT = 1
    RECEIVED = 2
    SENT = 3


@final
@dataclass(frozen=True, slots=True)
class Record:
    """One record: see the module docstring for what each kind holds."""

    kind: Kind
    at: float
    key: int
    meta: bytes
    data: bytes

    def call(self) -> tuple[str, dict[str, object]]:
        """The core input as ``(method, arguments)`` (``("meta", description)`` for META)."""
        if self.kind is Kind.RECEIVED:
            return "receive_data", {"cid": self.key, "data": self.data}
        if self.kind is Kind.SENT:
            return "data_to_send", {"cid": self.key, "data": self.data}
        loaded = json.loads(self.meta)
        if self.kind is Kind.META:
            return "meta", loaded
        arguments: dict[str, object] = dict(loaded["a"])
        if loaded.get("b"):
            arguments[loaded["b"]] = self.data
        return str(loaded["m"]), arguments


@final
@dataclass(frozen=True, slots=True)
class Block:
    """A block's place and header (its records come from :meth:`Recording.records`)."""

    segment: str
    offset: int
    length: int  # header and payload
    records: int
    first_at: float
    last_at: float


@final
@dataclass(frozen=True, slots=True)
class TornTail:
    """The end of a segment a crash left short: from ``offset`` on, ``size`` bytes."""

    segment: str
    offset: int
    size: int
    why: str


def encode_input(method: str, arguments: Mapping[str, object], at: float) -> bytes:
    """One core input as record bytes (see :meth:`Record.call` for the way back)."""
    if method in {"receive_data", "data_to_send"}:
        data = arguments["data"]
        cid = arguments["cid"]
        assert isinstance(data, bytes)
        assert isinstance(cid, int)
        kind = Kind.RECEIVED if method == "receive_data" else Kind.SENT
        return _RECORD.pack(kind, at, cid, 0, len(data)) + data
    plain: dict[str, object] = {}
    blob = b""
    name = ""
    for key, value in arguments.items():
        if isinstance(value, bytes | bytearray | memoryview):
            blob, name = bytes(value), key
        else:
            plain[key] = value
    meta = json.dumps({"m": method, "a": plain, "b": name}, separators=(",", ":")).encode()
    return _RECORD.pack(Kind.INPUT, at, 0, len(meta), len(blob)) + meta + blob


def encode_meta(description: Mapping[str, object], at: float) -> bytes:
    """The recording's description as a META record."""
    meta = json.dumps(dict(description), separators=(",", ":")).encode()
    return _RECORD.pack(Kind.META, at, 0, len(meta), 0) + meta


@dataclass(slots=True)
class WriterStats:
    """What a :class:`SegmentWriter` wrote so far."""

    records: int = 0
    blocks: int = 0
    segments: int = 0
    raw_bytes: int = 0
    written_bytes: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


class SegmentWriter:
    """Appends records to a recording directory, in blocks, rotating segments.

    :param directory: created if missing; segments already there are kept, and
        this writer starts a new one after them.
    :param block_bytes: seal a block once its records reach this many bytes.
    :param block_seconds: ... or once it spans this much recorded time.
    :param segment_bytes: start a new segment once one reaches this size.
    :param segment_seconds: ... or once it spans this much recorded time.
    :param level: zstd compression level.
    :param sync: ``os.fsync`` every block (slower; survives power loss, not just
        a crash of the process).
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        block_bytes: int = 256 * 1024,
        block_seconds: float = 1.0,
        segment_bytes: int = 64 * 1024 * 1024,
        segment_seconds: float = 3600.0,
        level: int = 3,
        sync: bool = False,
    ) -> None:
        if block_bytes < 1 or segment_bytes < 1 or block_seconds <= 0 or segment_seconds <= 0:
            raise ValueError("block and segment limits must be above 0")
        self.directory: Final = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.block_bytes = block_bytes
        self.block_seconds = block_seconds
        self.segment_bytes = segment_bytes
        self.segment_seconds = segment_seconds
        self.sync = sync
        self.stats: Final = WriterStats()
        self._compressor: Final = zstandard.ZstdCompressor(level=level)
        numbers = [_segment_number(p) for p in self.directory.glob(_SEGMENT_GLOB)]
        self._next_segment = max(numbers, default=0) + 1
        self._file: int | None = None  # the open segment's descriptor
        self._segment_name = ""
        self._segment_size = 0
        self._segment_first: float | None = None
        self._block: list[bytes] = []
        self._block_size = 0
        self._block_first = 0.0
        self._block_last = 0.0
        self._index = (self.directory / _INDEX).open("a", encoding="utf-8")
        self.closed = False

    def append(self, record: bytes, at: float) -> None:
        """Add one encoded record (:func:`encode_input`, :func:`encode_meta`) at time ``at``.

        :raises RecordingError: the writer is closed.
        """
        if self.closed:
            raise RecordingError(f"the recording in {self.directory} is closed")
        if not self._block:
            self._block_first = at
        self._block.append(record)
        self._block_size += len(record)
        self._block_last = at
        self.stats.records += 1
        kind = Kind(record[0]).name.lower()
        self.stats.by_kind[kind] = self.stats.by_kind.get(kind, 0) + 1
        if self._block_size >= self.block_bytes or at - self._block_first >= self.block_seconds:
            self.flush()

    def flush(self) -> None:
        """Seal the open block (if any) and write it: it survives a crash from now on."""
        if not self._block:
            return
        raw = b"".join(self._block)
        payload = self._compressor.compress(raw)
        head = BLOCK_HEADER.pack(
            BLOCK_MAGIC,
            len(payload),
            len(raw),
            len(self._block),
            self._block_first,
            self._block_last,
            zlib.crc32(payload),
        )
        block = head + _HEADER_CRC.pack(zlib.crc32(head)) + payload
        if self._file is not None and self._rotate_due():
            self._close_segment()
        if self._file is None:
            self._open_segment()
        assert self._file is not None
        offset = self._segment_size
        _write_all(self._file, block)
        if self.sync:
            os.fsync(self._file)
        self._segment_size += len(block)
        if self._segment_first is None:
            self._segment_first = self._block_first
        line = {
            "segment": self._segment_name,
            "offset": offset,
            "length": len(block),
            "records": len(self._block),
            "first_at": self._block_first,
            "last_at": self._block_last,
        }
        self._index.write(json.dumps(line) + "\n")
        self._index.flush()
        self.stats.blocks += 1
        self.stats.raw_bytes += len(raw)
        self.stats.written_bytes += len(block)
        self._block = []
        self._block_size = 0

    def close(self) -> None:
        """Write the open block and close the files. Closing again does nothing."""
        if self.closed:
            return
        self.flush()
        self.closed = True
        if self._file is not None:
            self._close_segment()
        self._index.close()

    def _rotate_due(self) -> bool:
        first = self._segment_first
        return self._segment_size >= self.segment_bytes or (
            first is not None and self._block_last - first >= self.segment_seconds
        )

    def _open_segment(self) -> None:
        self._segment_name = f"seg-{self._next_segment:06d}.mxr"
        self._next_segment += 1
        path = self.directory / self._segment_name
        self._file = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        _write_all(self._file, SEGMENT_MAGIC)
        self._segment_size = len(SEGMENT_MAGIC)
        self._segment_first = None
        self.stats.segments += 1
        self.stats.written_bytes += len(SEGMENT_MAGIC)

    def _close_segment(self) -> None:
        assert self._file is not None
        if self.sync:
            os.fsync(self._file)
        os.close(self._file)
        self._file = None


def _zeros_or_corrupt(data: bytes, pos: int) -> str:
    if data[pos:].strip(b"\0"):
        raise CorruptRecording(f"bad block header at byte {pos} of a segment")
    return "zero bytes at the end"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _segment_number(path: Path) -> int:
    try:
        return int(path.stem.removeprefix("seg-"))
    except ValueError:
        return 0


class Recording:
    """Reads a recording directory: its blocks and records, in writing order.

    Torn tails (see the module docstring) are cut while reading and listed in
    :attr:`torn` once a pass over them is done.

    :raises RecordingError: ``directory`` is missing, is not a directory, or holds
        no segment; a segment does not start with the segment magic.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory: Final = Path(directory)
        if not self.directory.exists():
            raise RecordingError(f"{self.directory} does not exist")
        if not self.directory.is_dir():
            raise RecordingError(f"{self.directory} is not a directory")
        self.segments: Final = sorted(self.directory.glob(_SEGMENT_GLOB), key=_segment_number)
        if not self.segments:
            raise RecordingError(f"{self.directory} holds no recording (no seg-*.mxr file)")
        self.torn: list[TornTail] = []
        self._decompressor: Final = zstandard.ZstdDecompressor()

    def indexed_records(self) -> int:
        """How many records the index lists (a torn last line is skipped)."""
        total = 0
        path = self.directory / _INDEX
        if not path.exists():
            return 0
        with path.open(encoding="utf-8") as index:
            for line in index:
                try:
                    total += int(json.loads(line)["records"])
                except (ValueError, KeyError, TypeError):
                    break
        return total

    def blocks(self) -> Iterator[tuple[Block, bytes]]:
        """Every whole block with its records' raw bytes, in order; torn tails cut.

        :raises CorruptRecording: damage that is not a torn tail.
        """
        self.torn = []
        for path in self.segments:
            data = path.read_bytes()
            name = path.name
            if data[: len(SEGMENT_MAGIC)] != SEGMENT_MAGIC:
                if SEGMENT_MAGIC.startswith(data):  # cut inside the magic itself
                    self.torn.append(TornTail(name, 0, len(data), "segment header cut short"))
                    continue
                raise CorruptRecording(f"{path} is not a recording segment (bad magic)")
            pos = len(SEGMENT_MAGIC)
            while pos < len(data):
                try:
                    torn = self._tail(data, pos)
                except CorruptRecording as exc:
                    raise CorruptRecording(f"{path}: {exc}") from None
                if torn is not None:
                    self.torn.append(TornTail(name, pos, len(data) - pos, torn))
                    break
                _, length, raw_length, count, first, last, crc = BLOCK_HEADER.unpack_from(data, pos)
                start = pos + _HEADER_SIZE
                payload = data[start : start + length]
                if zlib.crc32(payload) != crc:
                    if start + length == len(data):  # the last block: written in part
                        self.torn.append(TornTail(name, pos, len(data) - pos, "payload not whole"))
                        break
                    raise CorruptRecording(f"{path}: the block at byte {pos} fails its CRC")
                try:
                    raw = self._decompressor.decompress(payload, max_output_size=raw_length)
                except zstandard.ZstdError as exc:
                    raise CorruptRecording(f"{path}: the block at byte {pos}: {exc}") from None
                if len(raw) != raw_length:
                    raise CorruptRecording(f"{path}: the block at byte {pos} has the wrong size")
                block = Block(name, pos, _HEADER_SIZE + length, count, first, last)
                yield block, raw
                pos = start + length

    def _tail(self, data: bytes, pos: int) -> str | None:
        """Why the bytes from ``pos`` are a torn tail, or ``None`` if a whole block starts there.

        :raises CorruptRecording: neither.
        """
        rest = len(data) - pos
        if rest < _HEADER_SIZE:
            if BLOCK_MAGIC.startswith(data[pos : pos + 4]):
                return "block header cut short"
            return _zeros_or_corrupt(data, pos)
        head = data[pos : pos + BLOCK_HEADER.size]
        (header_crc,) = _HEADER_CRC.unpack_from(data, pos + BLOCK_HEADER.size)
        if head[:4] != BLOCK_MAGIC or zlib.crc32(head) != header_crc:
            return _zeros_or_corrupt(data, pos)
        length = BLOCK_HEADER.unpack_from(data, pos)[1]
        if pos + _HEADER_SIZE + length > len(data):
            return "block cut short"
        return None

    def records(self) -> Iterator[Record]:
        """Every record, in writing order (torn tails cut).

        :raises CorruptRecording: damage that is not a torn tail, or a block whose
            records do not parse.
        """
        for block, raw in self.blocks():
            pos = 0
            for _ in range(block.records):
                try:
                    kind, at, key, meta_len, data_len = _RECORD.unpack_from(raw, pos)
                    kind = Kind(kind)
                except (struct.error, ValueError):
                    raise CorruptRecording(
                        f"{block.segment}: a record of the block at byte {block.offset} is bad"
                    ) from None
                pos += _RECORD.size
                meta = raw[pos : pos + meta_len]
                pos += meta_len
                payload = raw[pos : pos + data_len]
                pos += data_len
                yield Record(kind, at, key, meta, payload)

    def repair(self) -> list[TornTail]:
        """Read the whole recording, then truncate every torn tail found; returns them."""
        for _ in self.blocks():
            pass
        for tail in self.torn:
            os.truncate(self.directory / tail.segment, tail.offset)
        return list(self.torn)
