"""Smoke tests of the benchmarks (``python -m bench decode|book|pipeline|scale|ccxt``).

They check that it runs, agrees with itself and reports what it should; they
never look at how fast anything is.
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from typing import Any

import pytest

from bench import blaster, pipeline
from bench import book as book_bench
from bench import ccxt as ccxt_bench
from bench.__main__ import main
from bench.corpus import MIX, PAIRS, build
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


# ---------------------------------------------------------------- the book benchmark


def test_book_reports_every_implementation_against_the_float_reference(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["book", "--diffs", "300", "--levels", "200", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    table, line = out.rsplit("\n", 2)[0], out.splitlines()[-1]
    for name in ("mexc_core", "float_bisect", "sortedcontainers_decimal"):
        assert name in table
    report = json.loads(line)
    assert report["bench"] == "book"
    assert (report["diffs"], report["levels"]) == (300, 200)
    assert set(report["ratio_to_float_bisect"]) == {
        "mexc_core",
        "float_bisect",
        "sortedcontainers_decimal",
    }
    assert report["ratio_to_float_bisect"]["float_bisect"] == 1.0
    assert all(v > 0 for v in report["us_per_diff"].values())


def test_the_book_stream_is_seeded_and_realistic() -> None:
    one = book_bench.build(diffs=500, levels=300, seed=7)
    assert one == book_bench.build(diffs=500, levels=300, seed=7)
    assert one != book_bench.build(diffs=500, levels=300, seed=8)
    assert len(one.bids) == len(one.asks) == 300
    updates = [item for body in one.diffs for item in (*body.bids, *body.asks)]
    assert 7 <= len(updates) / len(one.diffs) <= 13
    deletions = sum(item.quantity == "0" for item in updates) / len(updates)
    assert 0.25 <= deletions <= 0.42


def test_a_book_that_drops_deletions_is_caught(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def keep_everything(items: Any, book: Any) -> None:
        for price, quantity in items:
            book[Decimal(price)] = Decimal(quantity) or Decimal(1)

    monkeypatch.setattr(book_bench, "_decimal_side", keep_everything)
    assert main(["book", "--diffs", "200", "--levels", "50", "--repeat", "1"]) == 1
    assert "sortedcontainers_decimal and float_bisect hold different" in capsys.readouterr().err


# ---------------------------------------------------------------- pipeline, scale, all


def test_pipeline_delivers_every_frame_and_reports_every_stage(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["pipeline", "--messages", "400", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    report = json.loads(out.splitlines()[-1])
    assert report["bench"] == "pipeline"
    assert report["frames"] == len(pipeline.workload(400, 1).payloads)
    assert report["links"] >= 1
    assert report["reference"] == "wsproto_upb"
    implementations = report["implementations"]
    assert set(implementations) == set(pipeline.NAMES)
    assert implementations["wsproto_upb"]["ratio_to_wsproto_upb"] == 1.0
    for numbers in implementations.values():
        assert 0 < numbers["us_per_frame_min"] <= numbers["us_per_frame"]
        assert numbers["us_per_frame"] <= numbers["us_per_frame_max"]
    assert "mexc_core" in out.split('{"bench"')[0]


def test_pipeline_frames_are_unmasked_server_frames() -> None:
    assert pipeline.frame(b"x")[:2] == b"\x82\x01"
    assert pipeline.frame(b"y" * 200)[:4] == b"\x82\x7e\x00\xc8"
    assert pipeline.frame(b"z" * 70_000)[:2] == b"\x82\x7f"


def test_scale_smoke_runs_against_the_blaster(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["scale", "--topics", "61", "--flood", "3000", "--rate", "500", "--seconds", "0.5"]
    assert main([*args, "--json-only"]) == 0
    out = capsys.readouterr().out
    assert len(out.splitlines()) == 1
    report = json.loads(out)
    assert report["bench"] == "scale"
    assert report["topics"] == 61
    assert report["connections"] == 3  # 30 topics per connection
    assert report["steady_pushes"] > 0
    assert report["flood_pushes"] > 0
    assert report["flood_decoded"] >= report["flood_pushes"] - report["flood_shed"]
    assert report["flood_shed"] >= 0
    assert report["flood_dropped"] >= 0
    assert len(report["flood_gc_collections"]) == 3
    assert report["gc_freeze"] is True
    assert report["latency_pushes"] > 0
    assert 0 < report["latency_p50_us"] <= report["latency_p99_us"] <= report["latency_max_us"]
    assert report["send_to_hook_p50_us"] > 0
    assert report["rss_bytes"] > 0
    assert report["rss_bytes_start"] > 0


def test_blaster_topics_are_distinct_and_cover_its_kinds() -> None:
    topics = blaster.topics(3000)
    assert len(set(topics)) == 3000
    assert {t.split("@")[1] for t in topics} == {
        template.split("@")[1] for template, _ in blaster.KINDS
    }


def test_all_prints_one_json_object_per_benchmark(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ccxt", None)  # ccxt missing, whatever is installed
    assert main(["all", "--smoke", "--json"]) == 0
    reports = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["bench"] for r in reports] == ["decode", "book", "pipeline", "scale", "ccxt"]
    assert reports[-1]["skipped"] is True
    assert ccxt_bench.COMMAND in reports[-1]["reason"]


# ---------------------------------------------------------------- ccxt


def test_ccxt_without_ccxt_prints_how_to_run_it_and_exits_3(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ccxt", None)  # import ccxt fails, as without it
    assert main(["ccxt", "--messages", "50"]) == ccxt_bench.MISSING_STATUS == 3
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("python -m bench ccxt: ccxt is not installed")
    assert "`uv run --with ccxt python -m bench ccxt`" in captured.err


def test_ccxt_fixture_is_the_simulators_exchange_info_for_the_corpus_pairs() -> None:
    info = ccxt_bench.exchange_info()
    symbols = {s["symbol"]: s for s in info["symbols"]}
    assert list(symbols) == [pair[0] for pair in PAIRS]
    assert (symbols["BTCUSDC"]["baseAsset"], symbols["BTCUSDC"]["quoteAsset"]) == ("BTC", "USDC")
    assert (symbols["ETHBTC"]["baseAsset"], symbols["ETHBTC"]["quoteAsset"]) == ("ETH", "BTC")
    assert symbols["PEPEUSDT"]["quotePrecision"] == 10
