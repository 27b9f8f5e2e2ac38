"""Smoke tests of the decode benchmark (``python -m bench decode``).

They check that it runs, agrees with itself and reports what it should; they
never look at how fast anything is.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from bench.__main__ import main
from bench.corpus import MIX, build
from bench.decode import BenchError, Decoder, check, decoders

pytestmark = pytest.mark.slow  # runs the benchmark itself

IMPLEMENTATIONS = {"mexc_core", "upb", "betterproto2"}
JSON_PREFIX = '{"bench": "decode"'


def _report(out: str) -> dict[str, Any]:
    """The one JSON line of the output, which must be its last line."""
    lines = [line for line in out.splitlines() if line.startswith(JSON_PREFIX)]
    assert len(lines) == 1
    assert out.splitlines()[-1] == lines[0]
    report: dict[str, Any] = json.loads(lines[0])
    return report


def test_decode_reports_all_implementations_and_the_mix(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["decode", "--messages", "300", "--repeat", "1", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "upb" in out.split(JSON_PREFIX)[0]  # the human table comes first
    report = _report(out)
    assert report["messages"] == 300
    assert report["seed"] == 3
    implementations = report["implementations"]
    assert set(implementations) == IMPLEMENTATIONS
    for numbers in implementations.values():
        assert numbers["frames"] > 0
        assert numbers["us_per_msg"] > 0
        assert numbers["msgs_per_s"] > 0
        assert numbers["ratio_to_upb"] > 0
    mix = report["mix"]
    assert set(mix) == set(MIX)
    for kind, percent in MIX.items():
        assert mix[kind] == pytest.approx(percent / 100, abs=0.01)
    per_channel = report["per_channel"]
    assert set(per_channel) <= set(MIX)
    for numbers in per_channel.values():
        assert numbers["mexc_core_us_per_msg"] > 0
        assert numbers["upb_us_per_msg"] > 0


def test_json_only_prints_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decode", "--messages", "40", "--repeat", "1", "--json-only"]) == 0
    out = capsys.readouterr().out
    assert len(out.splitlines()) == 1
    assert set(_report(out)["implementations"]) == IMPLEMENTATIONS


def test_corpus_is_deterministic() -> None:
    first = build(200, seed=5)
    assert build(200, seed=5) == first
    assert build(200, seed=6).frames != first.frames
    assert sum(first.mix().values()) == 200


def test_check_names_the_field_two_implementations_disagree_on() -> None:
    corpus = build(20, seed=1)
    ours, upb, _ = decoders()

    def wrong(data: bytes) -> dict[str, object]:
        return {**upb.extract(data), "channel": "spot@elsewhere"}

    assert check(corpus, (ours, upb)) >= 1
    with pytest.raises(BenchError, match=r"PushDataV3ApiWrapper\.channel"):
        check(corpus, (ours, Decoder("wrong", upb.run, wrong)))
