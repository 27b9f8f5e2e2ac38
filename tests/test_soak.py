"""``mexc soak``: the checks can fail, and a short soak passes them.

The stream check and the book check are driven by hand with planted problems (a
push skipped without a signal, a duplicate, a book view one quantity off); a
soak with reconciliation turned off must fail on the private orders it then
misses; and a short soak of the full client against the faulty simulator, run
as ``mexc soak --json`` in a subprocess, reports every key of
``docs/reliability.rst`` and passes.
"""

from __future__ import annotations

import json
import subprocess
import sys

import anyio
import pytest

from mexc_core.cli.common import EXIT_OK, EXIT_USAGE
from mexc_core.client.reconcile import ReconcileConfig
from mexc_core.events import BookUpdated, BookView, GapCause, GapDetected, Level
from mexc_sim import soak
from mexc_sim.exchange import Exchange, ExchangeConfig, default_markets
from mexc_sim.faults import SOAK_PROFILES, Faults, soak_plans
from tests.util import FACTOR

DEALS = "spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT"

#: Every key of the report that docs/reliability.rst names.
REPORT_KEYS = {
    "ok",
    "reasons",
    "faults",
    "seed",
    "symbols",
    "speed",
    "duration_s",
    "simulated_s",
    "settle_simulated_s",
    "recovered",
    "faults_injected",
    "pushes_sent",
    "pushes_received",
    "pushes_lost_signalled",
    "pushes_lost_silent",
    "pushes_late",
    "pushes_unmatched",
    "gaps_detected",
    "gaps_repaired",
    "silent_gaps",
    "silent_gaps_by_topic",
    "pushes_lost_as_strays",
    "private_gaps",
    "book_gaps",
    "book_resyncs",
    "books_synced",
    "book_views_checked",
    "book_views_unchecked",
    "book_divergences",
    "first_divergence",
    "duplicates_dropped",
    "duplicates_delivered",
    "duplicates_undetected",
    "orders_sent",
    "orders_cancel_requests",
    "orders_refused",
    "orders_placed",
    "orders_reported_live",
    "orders_reconciled_only",
    "orders_missed",
    "orders_missed_unobservable",
    "orders_stale",
    "trades",
    "trades_reported_live",
    "trades_recovered",
    "trades_missed",
    "trades_reported_twice",
    "problems",
    "reconciliations",
    "reconcile_failures",
    "disconnects",
    "reconnects",
    "rotations",
    "listen_keys_created",
    "listen_key_renewals",
    "listen_keys_lost",
    "decode_errors",
    "strays",
    "memory",
}


def stream(sent: int) -> soak.StreamCheck:
    check = soak.StreamCheck()
    for key in range(sent):
        check.sent(1000 + key)
    return check


# ---------------------------------------------------------------- the stream check


def test_pushes_in_order_are_no_loss() -> None:
    check = stream(10)
    for key in range(10):
        check.delivered(1000 + key)
    check.finish()
    assert (check.received, check.lost_silent, check.lost_signalled, check.duplicates) == (
        10,
        0,
        0,
        0,
    )


def test_a_push_skipped_without_a_signal_is_a_silent_gap() -> None:
    check = stream(10)
    for key in (0, 1, 2, 5, 6):  # 3 and 4 never delivered, nothing said
        check.delivered(1000 + key)
    check.finish()
    assert (check.lost_silent, check.silent_gaps, check.lost_signalled) == (2, 1, 0)
    assert check.silent_keys == [1003, 1004]


def test_a_signal_before_or_just_after_the_hole_covers_it() -> None:
    before = stream(10)
    before.delivered(1000)
    before.signal()  # a GapDetected at the resubscription, before the next push
    before.delivered(1004)
    after = stream(10)
    after.delivered(1000)
    after.delivered(1004)
    after.signal()  # the book's BookGapDetected, dispatched after the push
    after.delivered(1005)
    for check in (before, after):
        check.finish()
        assert (check.lost_silent, check.lost_signalled, check.signalled_gaps) == (0, 3, 1)


def test_a_signal_after_the_next_push_is_too_late() -> None:
    check = stream(10)
    for key in (0, 4, 5):
        check.delivered(1000 + key)
    check.signal()
    check.finish()
    assert (check.lost_silent, check.lost_signalled) == (3, 0)


def test_duplicates_are_undetected_unless_a_signal_follows() -> None:
    check = stream(10)
    for key in (0, 1, 1, 2):
        check.delivered(1000 + key)
    check.delivered(1003)
    check.delivered(1003)
    check.signal()  # the book saw the overlap
    check.delivered(1004)
    check.finish()
    assert (check.duplicates, check.duplicates_undetected) == (2, 1)


def test_a_swapped_pair_is_late_not_lost() -> None:
    check = stream(10)
    for key in (0, 2):
        check.delivered(1000 + key)
    check.signal()
    check.delivered(1001)
    check.delivered(1003)
    check.finish()
    assert (check.late, check.lost_signalled, check.lost_silent) == (1, 0, 0)


def test_a_push_the_simulator_never_sent_is_unmatched() -> None:
    check = stream(2)
    check.delivered(999)
    assert check.unmatched == 1


def test_the_stream_check_remembers_a_bounded_window() -> None:
    check = stream(3 * soak.WINDOW)
    for key in range(3 * soak.WINDOW):
        check.delivered(1000 + key)
    check.finish()
    assert check.lost_silent == 0
    assert len(check._seq_of) == len(check._key_of) == soak.WINDOW
    assert len(check._delivered) == soak.WINDOW


# ---------------------------------------------------------------- the book check


def test_a_book_view_one_quantity_off_is_a_divergence() -> None:
    exchange = Exchange(ExchangeConfig(markets=default_markets(1)))
    exchange.advance(30.0)
    observer = soak._Observer(exchange, [DEALS])
    symbol = "BTCUSDT"
    spec = exchange.markets[symbol].spec
    truth = exchange.book(symbol, depth=20)
    version = exchange.markets[symbol].version

    def view(bump: int) -> BookView:
        bids = [Level(spec.price_text(p), spec.quantity_text(q)) for p, q in truth.bids]
        asks = [Level(spec.price_text(p), spec.quantity_text(q)) for p, q in truth.asks]
        price, quantity = truth.bids[0]
        bids[0] = Level(spec.price_text(price), spec.quantity_text(quantity + bump))
        return BookView(symbol, version, tuple(bids), tuple(asks))

    for bump in (0, 1):
        good = view(bump)
        observer.mexc_event_received(
            BookUpdated(
                symbol=symbol, version=version, from_version=version, bids=(), asks=(), view=good
            )
        )
    assert (observer.views_checked, observer.divergences) == (2, 1)
    assert observer.first_divergence == f"{symbol} at version {version}"


def test_a_gap_event_signals_its_topics() -> None:
    exchange = Exchange(ExchangeConfig(markets=default_markets(1)))
    observer = soak._Observer(exchange, [DEALS])
    for key in range(5):
        observer.streams[DEALS].sent(key)
    observer.streams[DEALS].delivered(0)
    observer.mexc_event_received(
        GapDetected(topics=(DEALS,), cause=GapCause.DISCONNECTED, started_at=1.0, ended_at=2.0)
    )
    observer.streams[DEALS].delivered(4)
    observer.streams[DEALS].finish()
    assert (observer.streams[DEALS].lost_signalled, observer.gaps["disconnected"]) == (3, 1)


# ---------------------------------------------------------------- the verdict


def test_every_broken_promise_is_a_reason() -> None:
    clean = {"recovered": True, "memory": {"bounded": True}}
    assert soak.verdict(clean) == []
    for key in (
        "pushes_lost_silent",
        "book_divergences",
        "duplicates_undetected",
        "pushes_unmatched",
        "orders_missed",
        "orders_missed_unobservable",
        "orders_stale",
        "trades_missed",
        "trades_reported_twice",
    ):
        assert len(soak.verdict({**clean, key: 1})) == 1, key
    assert len(soak.verdict({**clean, "recovered": False})) == 1
    assert len(soak.verdict({**clean, "memory": {"bounded": False, "growth_mib": 99}})) == 1


def test_the_text_report_has_one_line_per_key_and_the_verdict_last() -> None:
    report = {"ok": False, "reasons": ["3 fills never reported"], "faults": "all", "memory": {}}
    assert soak.format_report(report).splitlines() == [
        "faults: all",
        "memory: {}",
        "verdict: NOT ok: 3 fills never reported",
    ]
    assert soak.format_report({"ok": True, "recovered": True}).splitlines() == [
        "recovered: true",
        "verdict: ok",
    ]


def test_soak_profiles_are_reseeded_and_unknown_ones_named() -> None:
    assert set(SOAK_PROFILES) == {"none", "network", "protocol", "all", "strays"}
    plans = soak_plans("all", seed="x")
    assert len(plans) == len(SOAK_PROFILES["all"])
    assert all(p.random_rate > 0 for p in plans)
    assert {p.seed for p in plans} == {f"x/protocol/{n}" for n in range(len(plans))}
    with pytest.raises(KeyError, match="profiles: none, network"):
        soak_plans("nope")


# ---------------------------------------------------------------- whole soaks


@pytest.mark.slow
@pytest.mark.parametrize("reconciling", [True, False])
def test_without_reconciliation_the_soak_fails_on_missed_orders(*, reconciling: bool) -> None:
    """The planted problem: a client that does not reconcile misses what changed
    while its private link was down, and the verdict says so; the same run with
    reconciliation misses nothing. Every connection is closed 2 s after it opens, so the
    reconnect backoff grows to many seconds while orders are placed, filled and
    cancelled."""
    config = soak.SoakConfig(
        duration=8.0,
        symbols=2,
        faults="network",
        speed=10.0,
        seed="planted",
        reconcile=None if reconciling else ReconcileConfig(enabled=False),
        plans=(Faults(close_after=2.0),),
    )
    report = anyio.run(soak.run_soak, config)
    assert report["disconnects"], "no connection was closed"
    placed = report["orders_placed"]
    assert isinstance(placed, int)
    assert placed > 10
    if reconciling:
        # what reconciliation repairs; the whole verdict is the short soak's test
        missed = {
            key: report[key]
            for key in (
                "orders_missed",
                "orders_missed_unobservable",
                "orders_stale",
                "trades_missed",
            )
        }
        assert set(missed.values()) == {0}, (missed, report["problems"])
        return
    assert report["ok"] is False
    reasons = report["reasons"]
    assert isinstance(reasons, list)
    assert any("never reported" in r or "no longer have" in r for r in reasons), reasons
    assert report["reconciliations"] == {}


@pytest.mark.slow
def test_a_short_soak_reports_every_key_and_passes() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mexc_core.cli",
            "soak",
            "--duration",
            "10",
            "--faults",
            "all",
            "--speed",
            "5",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120 * FACTOR,
        check=False,
    )
    report = json.loads(done.stdout)
    assert set(report) == REPORT_KEYS
    assert report["ok"] is True, report["reasons"]
    assert done.returncode == EXIT_OK
    injected = report["faults_injected"]
    assert sum(v for k, v in injected.items() if k != "plans") > 0
    assert report["book_views_checked"] > 100
    assert report["orders_placed"] > 10
    assert report["pushes_lost_silent"] == report["book_divergences"] == 0
    assert report["memory"]["bounded"] is True
    assert "running 10 s with faults 'all'" in done.stderr


@pytest.mark.slow
def test_an_unknown_profile_is_a_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mexc_core.cli", "soak", "--duration", "1", "--faults", "nope"],
        capture_output=True,
        text=True,
        timeout=60 * FACTOR,
        check=False,
    )
    assert done.returncode == EXIT_USAGE
    assert done.stderr.strip() == (
        "mexc soak: unknown fault profile 'nope'; use one of none, network, protocol, all, strays"
    )
