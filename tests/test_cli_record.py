"""``mexc record`` and ``mexc replay`` as a user runs them: subprocesses, a simulator in-process."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mexc_core import wire
from mexc_core.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from mexc_core.events import Push
from mexc_plugin_record import Recording
from mexc_sim.server import RunningSimulator
from tests.test_cli_failures import DEALS, mexc, one_line
from tests.test_record import replayed

pytestmark = pytest.mark.slow


@pytest.fixture
def recorded(mexc_sim: RunningSimulator, tmp_path: Path) -> tuple[Path, dict[str, object]]:
    """A recording of deals and a book, made by ``mexc record``; its counts line."""
    out = tmp_path / "rec"
    result = mexc(
        "record",
        DEALS,
        "--book",
        "BTCUSDT",
        "--out",
        str(out),
        "--endpoint",
        mexc_sim.ws_url,
        "--rest",
        mexc_sim.rest_url,
        "--duration",
        "2",
        "--no-plugins",
    )
    assert result.returncode == EXIT_OK, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    counts: dict[str, object] = json.loads(lines[0])
    return out, counts


def test_record_prints_what_it_wrote(recorded: tuple[Path, dict[str, object]]) -> None:
    out, counts = recorded
    assert counts["out"] == str(out)
    recording = Recording(out)
    records = list(recording.records())
    assert counts["records"] == len(records) == recording.indexed_records()
    kinds = [r.kind.name.lower() for r in records[1:]]  # the first is the description
    assert counts["received"] == kinds.count("received") > 0
    assert counts["sent"] == kinds.count("sent") > 0
    assert counts["input"] == kinds.count("input") > 0
    assert counts["segments"] == len(list(out.glob("seg-*.mxr"))) == 1
    methods = [r.call()[0] for r in records]
    assert methods[:2] == ["meta", "start"]
    assert "rest_response" in methods  # the book's snapshot
    assert "close" in methods


def test_replay_prints_the_recorded_pushes_as_watch_json_does(
    recorded: tuple[Path, dict[str, object]],
) -> None:
    out, _ = recorded
    result = mexc("replay", str(out), "--max", "--json")
    assert result.returncode == EXIT_OK, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    expected = [
        json.loads(json.dumps(wire.push_as_dict(e, readable=True)))
        for e in replayed(out)
        if isinstance(e, Push)
    ]
    assert rows == expected
    assert len(rows) > 5
    channels = {row["channel"] for row in rows}
    assert DEALS in channels or "spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT" in channels
    assert f"replayed {len(list(Recording(out).records())) - 1} records" in result.stderr
    text = mexc("replay", str(out), "--speed", "1000", "-q")
    assert text.returncode == EXIT_OK
    assert len(text.stdout.splitlines()) == len(rows)
    assert text.stderr == ""


def test_replay_of_a_torn_recording_says_what_it_cut(
    recorded: tuple[Path, dict[str, object]],
) -> None:
    out, _ = recorded
    segment = out / "seg-000001.mxr"
    os.truncate(segment, segment.stat().st_size - 3)
    result = mexc("replay", str(out), "--max", "--json")
    assert result.returncode == EXIT_OK, result.stderr
    assert "seg-000001.mxr: cut a torn tail of" in result.stderr
    assert "Traceback" not in result.stderr


def test_replay_of_a_missing_directory_is_one_line(tmp_path: Path) -> None:
    line = one_line(mexc("replay", str(tmp_path / "nope")), EXIT_USAGE)
    assert line == (
        f"mexc replay: {tmp_path / 'nope'} does not exist; "
        "give the directory `mexc record --out DIR` wrote"
    )
    line = one_line(mexc("replay", str(tmp_path)), EXIT_USAGE)
    assert "holds no recording" in line


def test_replay_of_a_corrupt_recording_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "seg-000001.mxr").write_bytes(b"this is not a recording at all")
    line = one_line(mexc("replay", str(tmp_path)), EXIT_FAILED)
    assert line.startswith("mexc replay: ")
    assert "not a recording segment (bad magic)" in line


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["record", "--out", "x"], "give topics to record, or --book SYMBOL"),
        (["record", DEALS], "the following arguments are required: --out"),
        (["record", "spot@public.nope.v3.api.pb@X", "--out", "x"], "unknown channel"),
        (["record", DEALS, "--out", "x", "--duration", "0"], "must be a number above 0"),
        (["replay", "x", "--max", "--speed", "2"], "not allowed with argument"),
        (["replay", "x", "--speed", "-1"], "must be a number above 0"),
    ],
)
def test_bad_arguments_are_one_line_and_status_2(argv: list[str], says: str) -> None:
    line = one_line(mexc(*argv), EXIT_USAGE)
    assert line.startswith(f"mexc {argv[0]}: ")
    assert says in line


def test_record_into_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    line = one_line(mexc("record", DEALS, "--out", str(tmp_path / "f")), EXIT_USAGE)
    assert "is a file; give a directory" in line
