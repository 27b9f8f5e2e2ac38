"""The ``mexc`` command: channels, topic, decode."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from mexc_core import cli
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


def test_console_script_is_installed() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mexc_core.cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.startswith("mexc-core ")
