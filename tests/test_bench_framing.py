"""Smoke test of the framing benchmark (``python -m bench.framing``)."""

from __future__ import annotations

import json

import pytest

from bench import framing


def test_the_framing_benchmark_reports_every_implementation(
    capsys: pytest.CaptureFixture[str],
) -> None:
    framing.main(["--frames", "300", "--rounds", "1"])
    report = json.loads(capsys.readouterr().out)
    assert report["bench"] == "framing"
    assert 0 < report["frames"] <= 300
    assert 190 <= report["mean_frame_bytes"] <= 230
    assert set(report["us_per_frame"]) == {
        "wsproto",
        "websockets",
        "fast path",
        "wsproto in Connection",
        "Connection before",
        "Connection after",
    }
    assert all(v > 0 for v in report["us_per_frame"].values())


def test_the_benchmark_reads_plain_frames_fast() -> None:
    reads, count = framing.stream(300, seed=1)
    conn = framing.open_connection(fast_path=True, discard=False)
    for data in reads:
        conn.receive_data(data, 1.0)
    assert conn.fast_path_frames == count
    assert sum(1 for _ in conn.events()) == count
