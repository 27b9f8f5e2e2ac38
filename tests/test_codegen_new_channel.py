"""Adding a channel is one proto message plus one table row (docs/architecture.rst, rule 7).

The test does it for real in a copy of the project: a new message, a new wrapper
body field 316, a new [[channel]] row; then regenerates and checks, in a fresh
interpreter on the copy, that the decoder, the encoder, the topic parser, the public
modules and the plugin hook specifications all know the new channel, with no other
file touched.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

NEW_PROTO = """\
syntax = "proto3";

package mexccore.push.v3;

message PublicIndexPriceV3Api {
  string price = 1;
  int64 time = 2;
}
"""

NEW_ROW = """
[[channel]]
name = "index_price"
class = "IndexPrice"
template = "spot@public.index.price.v3.api.pb@{symbol:symbol}"
body = "publicIndexPrice"
doc = "Index price of one pair."
"""

CHECK = """\
import pluggy
from mexc_core import channels, hookspecs, messages, reference, wire

topic = channels.parse("spot@public.index.price.v3.api.pb@BTCUSDT")
assert type(topic) is channels.IndexPrice, topic
assert channels.BY_BODY_NUMBER[316] is channels.INDEX_PRICE
body = messages.PublicIndexPriceV3Api(price="1.5", time=1778075380572)
frame = wire.encode_push(str(topic), body, symbol="BTCUSDT")
push = wire.decode_push(frame)
assert push.body == body and push.unknown_fields == (), push
assert bytes(reference.push_to_reference(push)) and "PublicIndexPriceV3Api" in reference.__all__
pm = pluggy.PluginManager("mexc")
pm.add_hookspecs(hookspecs)
assert hasattr(pm.hook, "mexc_index_price_received")
# the readable accessors follow from the field names (codegen/readable.toml conventions)
assert str(push.body.price_decimal) == "1.5"
assert push.body.time_utc.isoformat() == "2026-05-06T13:49:40.572000+00:00"
assert wire.push_as_dict(push, readable=True)["body"]["time_utc"] == "2026-05-06T13:49:40.572Z"
print("new channel ok")
"""


@pytest.mark.slow
def test_a_new_channel_needs_only_a_message_and_a_row(tmp_path: Path) -> None:
    copy = tmp_path / "project"
    copy.mkdir()
    for name in ("proto", "codegen", "mexc_core"):
        shutil.copytree(ROOT / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
    v3 = copy / "proto" / "mexccore" / "push" / "v3"
    (v3 / "PublicIndexPriceV3Api.proto").write_text(NEW_PROTO)
    wrapper = v3 / "PushDataV3ApiWrapper.proto"
    text = wrapper.read_text()
    text = text.replace(
        'import "mexccore/push/v3/PublicAggreBookTickerV3Api.proto";',
        'import "mexccore/push/v3/PublicAggreBookTickerV3Api.proto";\n'
        'import "mexccore/push/v3/PublicIndexPriceV3Api.proto";',
    )
    text = text.replace(
        "PublicAggreBookTickerV3Api publicAggreBookTicker = 315;",
        "PublicAggreBookTickerV3Api publicAggreBookTicker = 315;\n"
        "    PublicIndexPriceV3Api publicIndexPrice = 316;",
    )
    wrapper.write_text(text)
    table = copy / "codegen" / "channels.toml"
    head, retired = table.read_text().split("\n# Channels MEXC retired", 1)
    table.write_text(head + NEW_ROW + "\n# Channels MEXC retired" + retired)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, *args],
            cwd=copy,
            env={"PYTHONPATH": str(copy), "PATH": str(Path(sys.executable).parent)},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    generated = run("-m", "codegen")
    assert generated.returncode == 0, generated.stderr
    checked = run("-c", CHECK)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.strip() == "new channel ok"
    # and the copy is now current, while the real project stays untouched
    assert run("-m", "codegen", "--check").returncode == 0
