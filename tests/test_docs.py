"""The documentation: its examples run and print what the pages say, and it builds.

The self-contained scripts in ``docs/examples/`` run in a fresh interpreter and must
print the lines listed for them in ``EXPECTED``. Examples that need a server (the
adapter examples) are run by their own tests; every example must be run somewhere.
The Sphinx build runs with ``-W``, as in CI, and its generated tables must cover
every message of the schema and every channel of the registry.
"""

from __future__ import annotations

import enum
import html
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from mexc_core.channels import CHANNELS
from mexc_core.connection import ConnectionInput, ConnectionState
from mexc_core.messages import RECORD_TYPES
from mexc_core.session import SessionInput, SessionState, SubscriptionInput, SubscriptionState
from tests.test_machine import TABLES

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples"


def _line(text: str) -> str:
    """A pattern matching exactly ``text``, with any run of spaces as in the output."""
    return r"\s+".join(re.escape(part) for part in text.split())


#: Per example, patterns that must each match one whole line of its output (stripped).
EXPECTED: dict[str, list[str]] = {
    "decode_frame.py": [
        _line("channel: spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT"),
        _line("symbol: BTCUSDT"),
        _line("send_time: 1778075380657"),
        _line("body type: PublicAggreDepthsV3Api"),
        _line("versions: 10023..10023"),
        _line("bid: 100 x 4"),
        _line("asks: 0 levels"),
        _line("last order: 1778075380572"),
        _line("unknown: ()"),
        _line("re-encoded: 140 bytes, identical to V1: True"),
        _line("unknown: (UnknownField(message='PushDataV3ApiWrapper', number=7, wire_type=0),)"),
        _line("drift: SchemaDrift(frames=2,") + r".*\('PushDataV3ApiWrapper', 7\): 1.*",
        _line("error:") + r"\s+\S.*",
        _line("field: PushDataV3ApiWrapper.") + r"\w+",
        _line("offset: 68 of 100"),
        _line(
            "excerpt: ...54435553445430b1d7b4ecdf33ca1348[12]080a033130301201341a2773706f7440..."
        ),
        _line(
            'request: {"method":"SUBSCRIPTION",'
            '"params":["spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT"],"id":1}'
        ),
        _line("ack: ('spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT',)"),
        _line("rejected: ('spot@public.aggre.deals.v3.api.pb@BTCUSDT',) reason='Blocked!'"),
    ],
    "readable_records.py": [
        _line("wire: trade_type=2 price='93220.00' time=1736409765051"),
        _line("side: <TradeSide.SELL: 2>"),
        _line("is a sell: True"),
        _line("price: Decimal('93220.00'), notional 4137.3301246000"),
        _line("exact: True"),
        _line("time: datetime.datetime(2025, 1, 9, 8, 2, 45, 51000, tzinfo=datetime.timezone.utc)"),
        _line("sent: 2025-01-09 08:02:45.052000+00:00"),
        _line("order: SELL MARKET_ORDER FULLY_TRADED"),
        _line("market: True"),
        _line("done: True"),
        _line("filled: True"),
        _line("future: <OrderType.UNKNOWN: 0>, raw 7"),
        _line(
            "2025-01-09T08:02:45.052Z spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT "
            "SELL 0.04438243 @ 93220.00"
        ),
        _line(
            '{"deals": [{"price": "93220.00", "quantity": "0.04438243", "trade_type": 2, '
            '"side": "SELL", "time": 1736409765051, "time_utc": "2025-01-09T08:02:45.051Z", '
            '"trade_id": ""}], "event_type": "spot@public.aggre.deals.v3.api.pb@100ms"}'
        ),
        _line("send_time_utc: 2025-01-09T08:02:45.052Z"),
        _line(
            "2025-01-09T10:03:54.281Z spot@private.orders.v3.api.pb MXUSDT BUY LIMIT_ORDER "
            "NOT_TRADED 1 @ 3.5121 filled - avg - order C02__505979017439002624115"
        ),
    ],
    "topics.py": [
        _line(
            "AggreDepth(interval='10ms', symbol='BTCUSDT') -> "
            "spot@public.aggre.depth.v3.api.pb@10ms@BTCUSDT"
        ),
        _line("AggreDepth(interval='100ms', symbol='ETHUSDT') -> default interval"),
        _line("Kline(symbol='BTCUSDT', interval='Min15') -> mexc_kline_received"),
        _line("LimitDepth(symbol='BTCUSDT', level=20) -> PublicLimitDepthsV3Api"),
        _line("Account() -> private: True"),
        _line("parsed: LimitDepth(symbol='ETHUSDT', level=5)"),
        _line("formatted: spot@public.kline.v3.api.pb@BTCUSDT@Day1"),
        _line("spec_of: aggre_deals: body publicAggreDeals (314) -> mexc_aggre_deals_received"),
        _line("registry: BY_BODY_NUMBER[313] = aggre_depth"),
        _line("registry: BY_NAME['kline'].message = PublicSpotKlineV3Api"),
        _line("interval allowed=('100ms', '10ms')"),
        _line("symbol allowed=()"),
        _line("shape allowed=('spot@public.aggre.deals.v3.api.pb@{interval}@{symbol}',)"),
        _line("level allowed=('5', '10', '20')"),
        _line("channel allowed=('spot@public.aggre.deals.v3.api.pb',)"),
        r".*MEXC wants upper case: 'BTCUSDT'",
        r".*retired JSON channel.*\(aggre_deals\)",
        _line("interval kline needs interval") + r".*",
    ],
    "book_quickstart.py": [
        _line("synced: True at a version: True"),
        _line("best bid below best ask: True"),
        _line("spread is ask - bid: True"),
        _line("0.5 BTC costs at least the best ask: True"),
        _line("resync causes: overlap, version_gap"),
        _line("last view equals the truth at its version: True"),
    ],
    "client_quickstart.py": [
        _line("connections: 2 for 40 topics"),
        _line("depth topics seen: 10"),
        _line("reconnects: 1 gaps:") + r"\s+\d+",
        _line("plugin saw:") + r".*link 1 down: lost; .*gap on 10 topics \(disconnected\).*",
        _line("trades seen on") + r"\s+\d+\s+symbols",
    ],
    "record_replay.py": [
        _line("recorded blocks > 0: True segments: 1"),
        _line("replayed pushes > 0: True"),
        _line("replayed events equal the live ones: True"),
    ],
    "logging_and_gaps.py": [
        _line("mexc_core.client INFO client started: ws://127.0.0.1:") + r"\d+/ws",
        _line("mexc_core.connection INFO link 1 connected (public, 1 topics)"),
        _line("mexc_core.connection WARNING link 1 disconnected (lost): read failed:") + r".*",
        _line("mexc_core.connection INFO link 1 reconnected (public, 1 topics)"),
        _line("mexc_core.client WARNING gap (disconnected) of") + r".* on 1 topics: .*",
        _line("gap marker: disconnected on 1 topic"),
        _line("mexc_core.client INFO client closing"),
    ],
    "private_rest.py": [
        _line("credentials: Credentials(api_key='mx0a…BWC5', secret_key='***')"),
        _line("USDT free:") + r"\s+\d+(\.\d+)?",
        _line("listen key:") + r"\s+\w{4}…\w{4}",
        _line("placed: BUY LIMIT") + r"\s+\S+\s+@\s+\S+",
        _line("cancelled: CANCELED"),
        _line("events: ListenKeyCreated, ListenKeyClosed"),
    ],
}


def test_every_example_is_run_by_a_test() -> None:
    """An example nobody runs rots: each runs here or is named by another test module."""
    others = "\n".join(
        p.read_text(encoding="utf-8")
        for p in (ROOT / "tests").glob("test_*.py")
        if p.name != Path(__file__).name
    )
    found = {p.name for p in EXAMPLES.glob("*.py")}
    assert set(EXPECTED) <= found
    assert not [name for name in sorted(found - set(EXPECTED)) if name not in others]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs_and_prints_what_the_docs_show(name: str) -> None:
    path = EXAMPLES / name
    proc = subprocess.run(
        [sys.executable, str(path)], check=True, capture_output=True, text=True, timeout=60
    )
    assert proc.stderr == ""
    lines = [line.strip() for line in proc.stdout.splitlines()]
    missing = [
        pattern
        for pattern in EXPECTED[name]
        if not any(re.fullmatch(pattern, line) for line in lines)
    ]
    assert not missing, f"{name} printed:\n{proc.stdout}\nno line matches: {missing}"


@pytest.mark.slow
def test_docs_build_without_warnings(tmp_path: Path) -> None:
    out = tmp_path / "html"
    warnings = tmp_path / "warnings.txt"
    # A fresh interpreter, as CI's sphinx-build: no state shared with the tests, and
    # Sphinx does not run under the coverage tracer (twice as slow there).
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", "-q"]
    proc = subprocess.run(
        [*command, "-w", str(warnings), str(DOCS), str(out)],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, warnings.read_text(encoding="utf-8") + proc.stderr

    # The generated tables cover the live schema and registry.
    schema = (out / "schema.html").read_text(encoding="utf-8")
    for name in ["PushDataV3ApiWrapper", *RECORD_TYPES]:
        assert f'id="schema-{name.lower()}"' in schema, name
    assert len(RECORD_TYPES) + 1 == 21  # MEXC's 2026-06 schema
    channels = html.unescape((out / "channels.html").read_text(encoding="utf-8"))
    for spec in CHANNELS:
        assert spec.template in channels, spec.name
        assert spec.hook in channels, spec.name
    assert len(CHANNELS) == 15  # 12 current + 3 legacy

    # The state tables, rendered from the code: a row for every state of every machine
    # (ERROR included), a column for every input, all on the architecture page.
    guide = (out / "architecture.html").read_text(encoding="utf-8")
    code = '<code class="docutils literal notranslate"><span class="pre">{}</span></code>'
    machines: list[tuple[type[enum.Enum], type[enum.Enum]]] = []
    for table in TABLES.values():
        state, inp = next(iter(table))
        machines.append((type(state), type(inp)))
    assert (SessionState, SessionInput) in machines
    assert (SubscriptionState, SubscriptionInput) in machines
    assert (ConnectionState, ConnectionInput) in machines
    rows = Counter(state.name for states, _ in machines for state in states)
    for name, count in rows.items():
        assert guide.count(f'<th class="stub"><p>{code.format(name)}</p></th>') == count, name
    columns = Counter(inp.name for _, inputs in machines for inp in inputs)
    for name, count in columns.items():
        assert guide.count(f'<th class="head"><p>{code.format(name)}</p></th>') == count, name
