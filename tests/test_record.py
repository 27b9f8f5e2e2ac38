"""Record and replay: the segment format, its crash safety, and live == replayed.

The format tests are pure (files in a temporary directory). The slow tests run
the real client against the simulator with the record plugin, then feed the
recording through :class:`~mexc_core.cli.replay.Replayer` and compare every
event, pushes and book views included, with what the live client's plugins saw.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import random
from pathlib import Path
from typing import Any

import anyio
import pytest

from mexc_core.aio.client import MexcClient
from mexc_core.cli.common import CommandFailed
from mexc_core.cli.replay import Replayer, replay
from mexc_core.events import BookSynced, BookUpdated, Event, LinkConnected, Push
from mexc_core.hookspecs import ClientContext
from mexc_plugin_record import (
    CorruptRecording,
    Kind,
    Record,
    Recording,
    RecordingError,
    RecordOptionsError,
    RecordPlugin,
    SegmentWriter,
)
from mexc_plugin_record.segments import encode_input, encode_meta
from mexc_sim.faults import profile
from mexc_sim.protocol import SimConfig
from mexc_sim.server import RunningSimulator
from tests.util import FACTOR, EventRecorder

DEALS = "spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT"

# ---------------------------------------------------------------- the format


def inputs(n: int, *, size: int = 100) -> list[tuple[str, dict[str, object], float]]:
    """``n`` varied core inputs, at increasing times."""
    rng = random.Random(n)
    out: list[tuple[str, dict[str, object], float]] = []
    for i in range(n):
        at = 1000.0 + i * 0.01
        kind = i % 4
        if kind == 0:
            out.append(("receive_data", {"cid": i % 3, "data": rng.randbytes(size)}, at))
        elif kind == 1:
            out.append(("data_to_send", {"cid": i % 3, "data": rng.randbytes(size // 2)}, at))
        elif kind == 2:
            out.append(("handle_timer", {}, at))
        else:
            arguments: dict[str, object] = {
                "call_id": i,
                "method": "GET",
                "path": "/api/v3/depth",
                "status": 200,
                "headers": {"content-type": "application/json"},
                "body": b'{"lastUpdateId":%d}' % i,
            }
            out.append(("rest_response", arguments, at))
    return out


def write(directory: Path, calls: list[tuple[str, dict[str, object], float]], **kw: Any) -> None:
    writer = SegmentWriter(directory, **kw)
    for method, arguments, at in calls:
        writer.append(encode_input(method, arguments, at), at)
    writer.close()


def read(directory: Path) -> list[tuple[str, dict[str, object], float]]:
    out = []
    for record in Recording(directory).records():
        method, arguments = record.call()
        out.append((method, arguments, record.at))
    return out


def test_every_kind_of_input_reads_back_as_written(tmp_path: Path) -> None:
    calls = inputs(400)
    calls.append(("subscribe", {"topics": [DEALS]}, 2000.0))
    calls.append(("transport_failed", {"cid": 3, "reason": "nope", "kind": "transient"}, 2001.0))
    write(tmp_path, calls, block_bytes=4096)
    assert read(tmp_path) == calls
    kinds = [r.kind for r in Recording(tmp_path).records()]
    assert set(kinds) == {Kind.RECEIVED, Kind.SENT, Kind.INPUT}


def test_the_meta_record_and_the_index(tmp_path: Path) -> None:
    writer = SegmentWriter(tmp_path, block_bytes=1000)
    writer.append(encode_meta({"endpoint": "ws://x/ws", "seed": 7}, 1.0), 1.0)
    for method, arguments, at in inputs(50):
        writer.append(encode_input(method, arguments, at), at)
    writer.close()
    recording = Recording(tmp_path)
    first = next(recording.records())
    assert first.call() == ("meta", {"endpoint": "ws://x/ws", "seed": 7})
    assert recording.indexed_records() == 51 == writer.stats.records
    blocks = [block for block, _ in recording.blocks()]
    assert len(blocks) == writer.stats.blocks > 1
    assert sum(b.records for b in blocks) == 51
    assert all(b.first_at <= b.last_at for b in blocks)


def test_segments_rotate_by_size(tmp_path: Path) -> None:
    calls = inputs(300, size=1000)
    write(tmp_path, calls, block_bytes=8000, segment_bytes=20_000, level=1)
    segments = sorted(tmp_path.glob("seg-*.mxr"))
    assert len(segments) > 3
    # each segment closes at the first block that takes it past the limit
    assert all(s.stat().st_size < 20_000 + 9000 for s in segments)
    assert read(tmp_path) == calls


def test_segments_rotate_by_time(tmp_path: Path) -> None:
    calls = inputs(200)  # 2 s of recorded time
    write(tmp_path, calls, block_seconds=0.1, segment_seconds=0.5)
    segments = sorted(tmp_path.glob("seg-*.mxr"))
    assert 3 <= len(segments) <= 5
    assert read(tmp_path) == calls
    # a segment spans about its limit of recorded time
    for name in segments:
        spans = [
            (b.first_at, b.last_at)
            for b, _ in Recording(tmp_path).blocks()
            if b.segment == name.name
        ]
        assert spans[-1][0] - spans[0][0] < 0.5 + 1e-9


def test_a_second_writer_continues_in_a_new_segment(tmp_path: Path) -> None:
    first, second = inputs(20), inputs(30)
    write(tmp_path, first)
    write(tmp_path, second)
    assert [p.name for p in sorted(tmp_path.glob("seg-*.mxr"))] == [
        "seg-000001.mxr",
        "seg-000002.mxr",
    ]
    assert read(tmp_path) == first + second


def test_a_torn_tail_cut_at_every_byte_of_the_last_block_loses_only_that_block(
    tmp_path: Path,
) -> None:
    calls = inputs(60)
    write(tmp_path, calls, block_bytes=1500)
    recording = Recording(tmp_path)
    blocks = [b for b, _ in recording.blocks()]
    last = blocks[-1]
    kept = sum(b.records for b in blocks[:-1])
    segment = tmp_path / last.segment
    whole = segment.read_bytes()
    assert len(whole) == last.offset + last.length
    for cut in range(last.offset, len(whole)):
        segment.write_bytes(whole[:cut])
        torn = Recording(tmp_path)
        assert read(tmp_path) == calls[:kept], cut
        list(torn.records())
        if cut == last.offset:
            assert torn.torn == []  # the file ends between two blocks: nothing torn
        else:
            assert [(t.offset, t.size) for t in torn.torn] == [(last.offset, cut - last.offset)]
    # a torn tail of zero bytes (a file system that extended the file, then crashed)
    segment.write_bytes(whole[: last.offset] + b"\0" * 700)
    assert read(tmp_path) == calls[:kept]


def test_a_last_block_whose_payload_was_not_written_whole_is_a_torn_tail(
    tmp_path: Path,
) -> None:
    calls = inputs(60)
    write(tmp_path, calls, block_bytes=1500)
    blocks = [b for b, _ in Recording(tmp_path).blocks()]
    last = blocks[-1]
    kept = sum(b.records for b in blocks[:-1])
    segment = tmp_path / last.segment
    whole = segment.read_bytes()
    # the header made it to disk, the payload did not (zeros of the right length)
    segment.write_bytes(whole[: last.offset + 44] + b"\0" * (last.length - 44))
    recording = Recording(tmp_path)
    assert [(r.call()[0], r.at) for r in recording.records()] == [
        (m, at) for m, _, at in calls[:kept]
    ]
    assert [(t.offset, t.why) for t in recording.torn] == [(last.offset, "payload not whole")]


def test_repair_truncates_the_torn_tail_and_writing_goes_on(tmp_path: Path) -> None:
    calls = inputs(40)
    write(tmp_path, calls, block_bytes=1500)
    segment = tmp_path / "seg-000001.mxr"
    whole = segment.read_bytes()
    segment.write_bytes(whole[:-10])
    recording = Recording(tmp_path)
    tails = recording.repair()
    assert len(tails) == 1
    assert segment.stat().st_size == tails[0].offset
    kept = read(tmp_path)
    more = inputs(5)
    write(tmp_path, more)
    assert read(tmp_path) == kept + more
    assert Recording(tmp_path).torn == []


def test_damage_before_the_end_is_an_error_not_a_silent_cut(tmp_path: Path) -> None:
    write(tmp_path, inputs(60), block_bytes=1500)
    segment = tmp_path / "seg-000001.mxr"
    whole = bytearray(segment.read_bytes())
    payload_byte = 8 + 44 + 10  # inside the first block's payload
    whole[payload_byte] ^= 0xFF
    segment.write_bytes(bytes(whole))
    with pytest.raises(CorruptRecording, match="CRC"):
        list(Recording(tmp_path).records())
    whole[payload_byte] ^= 0xFF
    whole[8 + 5] ^= 0xFF  # the first block's length: its header CRC fails
    segment.write_bytes(bytes(whole))
    with pytest.raises(CorruptRecording, match="bad block header"):
        list(Recording(tmp_path).records())
    segment.write_bytes(b"NOTASEGMENT" + bytes(whole))
    with pytest.raises(CorruptRecording, match="bad magic"):
        list(Recording(tmp_path).records())


def test_missing_or_empty_directories_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="does not exist"):
        Recording(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(RecordingError, match="not a directory"):
        Recording(tmp_path / "file")
    with pytest.raises(RecordingError, match="no recording"):
        Recording(tmp_path)
    with pytest.raises(ValueError, match="above 0"):
        SegmentWriter(tmp_path, block_bytes=0)
    writer = SegmentWriter(tmp_path)
    writer.close()
    writer.close()
    with pytest.raises(RecordingError, match="closed"):
        writer.append(encode_meta({}, 0.0), 0.0)


def test_a_record_knows_its_call() -> None:
    record = Record(Kind.RECEIVED, 1.5, 4, b"", b"abc")
    assert record.call() == ("receive_data", {"cid": 4, "data": b"abc"})


class _Context:
    def __init__(self, options: dict[str, object]) -> None:
        self.options = options


@pytest.mark.parametrize(
    ("options", "what"),
    [
        ("rec", "must be a mapping"),
        ({}, "directory name"),
        ({"out": "x", "block_bytes": 0}, "block_bytes"),
        ({"out": "x", "level": True}, "level"),
        ({"out": "x", "meta": []}, "meta"),
    ],
)
def test_bad_options_are_one_clear_error(options: object, what: str) -> None:
    context: Any = _Context({"record": options})
    with pytest.raises(RecordOptionsError, match=what):
        RecordPlugin().mexc_client_started(context)


def test_the_plugin_stays_quiet_without_options(tmp_path: Path) -> None:
    plugin = RecordPlugin()
    plugin.mexc_core_input("start", {}, 1.0)
    context: ClientContext = _Context({})  # type: ignore[assignment]
    plugin.mexc_client_started(context)
    plugin.mexc_core_input("handle_timer", {}, 2.0)
    plugin.mexc_client_stopping()
    assert plugin.writer is None
    assert plugin.counts() == {}


# ---------------------------------------------------------------- live == replayed


def replayed(directory: Path) -> list[Event]:
    """Every event ``mexc replay`` gives for the recording in ``directory``."""
    events: list[Event] = []
    fed, _ = replay(Recording(directory), show=events.append, speed=None)
    assert fed > 0
    return events


async def record_live(sim: RunningSimulator, out: Path, seconds: float) -> list[Event]:
    """Run a client against ``sim`` with the recorder for ``seconds``; the events it saw."""
    seed = 12345
    recorder = EventRecorder()
    plugin = RecordPlugin()
    options = {
        "record": {
            "out": str(out),
            "block_bytes": 2048,  # many blocks: the replay crosses block boundaries
            "meta": {"endpoint": sim.ws_url, "seed": seed},
        }
    }
    client = MexcClient(
        sim.ws_url,
        plugins=[plugin, recorder],
        entry_points=False,
        rest_url=sim.rest_url,
        rng=random.Random(seed),
        options=options,
        close_timeout=2.0 * FACTOR,
    )
    async with client:
        with anyio.fail_after(20 * FACTOR):
            await client.subscribe([DEALS])
            await client.watch_book("BTCUSDT")
        await anyio.sleep(seconds)
    assert plugin.writer is not None
    assert plugin.writer.closed
    return recorder.events


@pytest.mark.slow
@pytest.mark.parametrize("faults", ["none", "reset", "gaps"])
def test_a_replay_gives_the_events_of_the_live_run(
    faults: str, mexc_sim_factory: Any, tmp_path: Path
) -> None:
    sim = mexc_sim_factory(SimConfig(faults=profile(faults)))
    live = anyio.run(record_live, sim, tmp_path, 4.0)
    again = replayed(tmp_path)
    pushes = [e for e in live if isinstance(e, Push)]
    assert len(pushes) > 10
    assert any(isinstance(e, BookSynced) for e in live)
    assert any(isinstance(e, BookUpdated) for e in live)
    if faults == "reset":  # the link was reset and reconnected after a random backoff
        assert sum(isinstance(e, LinkConnected) for e in live) >= 2
    # the same events in the same order: pushes, book views, links, gaps, all of them
    assert again == live


@pytest.mark.slow
def test_a_replay_of_a_torn_recording_gives_a_prefix_of_the_events(
    mexc_sim: RunningSimulator, tmp_path: Path
) -> None:
    live = anyio.run(record_live, mexc_sim, tmp_path, 2.0)
    segment = max(tmp_path.glob("seg-*.mxr"))
    size = segment.stat().st_size
    os.truncate(segment, size - 100)
    again = replayed(tmp_path)
    assert 0 < len(again) < len(live)
    assert again == live[: len(again)]
    assert json.loads((tmp_path / "index.jsonl").read_text().splitlines()[0])["records"] > 0


def test_the_plugin_is_installed_under_its_entry_point() -> None:
    (entry,) = [
        e for e in importlib.metadata.entry_points(group="mexc.plugins") if e.name == "record"
    ]
    assert entry.value == "mexc_plugin_record:plugin"
    assert entry.dist is not None
    assert entry.dist.name == "mexc-plugin-record"
    assert isinstance(entry.load(), RecordPlugin)


def test_a_recording_without_endpoint_and_seed_does_not_replay(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="endpoint and random seed"):
        Replayer({"endpoint": "ws://127.0.0.1:1/ws"})
    writer = SegmentWriter(tmp_path)
    writer.append(encode_meta({"format": 1}, 0.0), 0.0)
    writer.close()
    with pytest.raises(CommandFailed, match="does not name its endpoint"):
        replay(Recording(tmp_path), show=lambda event: None, speed=None)


@pytest.mark.slow
def test_a_directory_recorded_twice_replays_both_recordings(
    mexc_sim: RunningSimulator, tmp_path: Path
) -> None:
    first = anyio.run(record_live, mexc_sim, tmp_path, 1.0)
    second = anyio.run(record_live, mexc_sim, tmp_path, 1.0)
    assert len(list(tmp_path.glob("seg-*.mxr"))) == 2
    assert replayed(tmp_path) == first + second
