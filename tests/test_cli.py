"""The ``mexc`` command: channels, topic, decode, demo and watch (against the simulator)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Callable

import pytest

from mexc_core import cli
from mexc_sim.faults import Faults
from mexc_sim.protocol import SimConfig
from mexc_sim.server import RunningSimulator
from tests.util import FACTOR
from tests.vectors.make_vectors import SPEC_HEX


def test_channels_lists_all_15(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["channels", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 15
    assert {"name": "aggre_depth", "body_number": 313}.items() <= rows[2].items()
    assert cli.main(["channels"]) == 0
    assert "spot@private.orders.v3.api.pb" in capsys.readouterr().out


def test_topic_validates(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["topic", "spot@public.kline.v3.api.pb@BTCUSDT@Min15"]) == 0
    assert "PublicSpotKlineV3Api" in capsys.readouterr().out
    assert cli.main(["topic", "spot@public.kline.v3.api.pb@BTCUSDT@Min2"]) == 1
    assert "Month1" in capsys.readouterr().err


def test_decode_json_from_arguments_and_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli.main(["decode", "--json", SPEC_HEX["spec_v1_aggre_depth"]]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["body"]["from_version"] == "10023"
    assert out["body_type"] == "PublicAggreDepthsV3Api"
    monkeypatch.setattr(sys, "stdin", io.StringIO(SPEC_HEX["spec_v2_aggre_deals"] + "\n\nzz\n0a\n"))
    assert cli.main(["decode"]) == 1
    captured = capsys.readouterr()
    assert "93220.00" in captured.out
    assert "frame 2: not hex" in captured.err
    assert "frame 3: frame ends inside a field" in captured.err


@pytest.mark.slow
def test_console_script_is_installed() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mexc_core.cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.startswith("mexc-core ")
    assert "(compiled: " in result.stdout or "(pure Python" in result.stdout


@pytest.mark.slow
def test_demo_runs_the_client_and_the_console_plugin_against_the_simulator() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mexc_core.cli", "demo", "--duration", "2"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120 * FACTOR,
    )
    lines = result.stdout.splitlines()
    assert lines[0].startswith("mexc demo: a simulated MEXC on ws://127.0.0.1:")
    assert any(" trade " in line for line in lines), result.stdout
    assert any(" book " in line for line in lines), result.stdout
    # 3 symbols x 4 channels, and their 3 depth topics for the books; the private
    # streams on a link of their own
    assert "-- link 1 connected: 15 topics" in lines
    assert "-- link 2 connected: 3 topics" in lines
    assert lines[-1].startswith("mexc demo: ")
    assert " pushes over 2 connections" in lines[-1]
    assert " 0 stray pushes; orders: " in lines[-1]
    assert result.stderr == ""


@pytest.mark.slow
def test_watch_prints_json_lines_from_any_endpoint(
    mexc_sim: RunningSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    topics = [
        "spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT",
        "spot@public.aggre.depth.v3.api.pb@100ms@ETHUSDT",
    ]
    argv = ["watch", *topics, "--endpoint", mexc_sim.ws_url, "--json", "--count", "5"]
    assert cli.main(argv) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 5
    for row in rows:
        assert row["channel"] in topics
        assert row["symbol"] in ("BTCUSDT", "ETHUSDT")
        assert row["send_time"] > 0
        assert row["body"]["to_version"]
        assert row["send_time_utc"].endswith("Z")  # the readable keys are there too
    assert cli.main(["watch", topics[0], "--endpoint", mexc_sim.ws_url, "--count", "1"]) == 0
    assert capsys.readouterr().out.split()[1] == topics[0]


@pytest.mark.slow
def test_watch_reports_rejected_and_invalid_topics(
    mexc_sim: RunningSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = "spot@public.aggre.depth.v3.api.pb@100ms@NOPEUSDT"
    assert cli.main(["watch", bad, "--endpoint", mexc_sim.ws_url]) == 1
    assert f"mexc watch: {bad}: rejected (Blocked!)" in capsys.readouterr().err
    assert cli.main(["watch", "spot@public.nope.v3.api.pb@X", "--endpoint", mexc_sim.ws_url]) == 2
    assert "unknown channel" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        cli.main(["watch", bad, "--endpoint", "http://127.0.0.1:1/ws"])
    assert exited.value.code == 2
    assert "ws(s)://" in capsys.readouterr().err


@pytest.mark.slow
def test_book_prints_the_true_book_at_every_version_through_faults(
    mexc_sim_factory: Callable[..., RunningSimulator], capsys: pytest.CaptureFixture[str]
) -> None:
    faults = Faults(depth_skip_at={15}, depth_reorder_at={35})
    sim = mexc_sim_factory(SimConfig(faults=faults), speed=4.0)
    argv = ["book", "BTCUSDT", "--endpoint", sim.ws_url, "--rest", sim.rest_url]
    assert cli.main([*argv, "--json", "--depth", "5", "--count", "60"]) == 0
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert len(rows) == 60
    assert "BTCUSDT is resyncing (version_gap)" in captured.err

    def truths() -> list[tuple[list[list[str]], list[list[str]]]]:
        exchange = sim.server.sim.exchange
        spec = exchange.markets["BTCUSDT"].spec
        out = []
        for row in rows:
            truth = exchange.book("BTCUSDT", row["version"], depth=5)
            out.append(
                (
                    [[spec.price_text(p), spec.quantity_text(q)] for p, q in truth.bids],
                    [[spec.price_text(p), spec.quantity_text(q)] for p, q in truth.asks],
                )
            )
        return out

    for row, (bids, asks) in zip(rows, sim.call(truths), strict=True):
        assert set(row) == {"symbol", "version", "bids", "asks"}
        assert row["symbol"] == "BTCUSDT"
        assert (row["bids"], row["asks"]) == (bids, asks)
    assert cli.main([*argv, "--count", "1"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("BTCUSDT  version ")
    assert len([line for line in text.splitlines() if line]) == 22  # title, header, 20 levels


def test_book_refuses_a_symbol_mexc_would_not_take(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["book", "btcusdt"]) == 2
    assert "upper case" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        cli.main(["book", "BTCUSDT", "--depth", "0"])
    assert exited.value.code == 2


@pytest.mark.slow
def test_book_reports_a_rejected_symbol(
    mexc_sim: RunningSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["book", "NOPEUSDT", "--endpoint", mexc_sim.ws_url, "--rest", mexc_sim.rest_url]
    assert cli.main(argv) == 1
    assert "rejected (Blocked!)" in capsys.readouterr().err
