"""The client's log lines (docs/logging.rst): logger names, levels, wording, and
no listen key in full. Driven with the core's events, as the client does."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from mexc_core.aio.logs import LOGGER_NAMES, EventLog
from mexc_core.events import (
    BookBreak,
    BookCrossed,
    BookGapDetected,
    BookResyncStarted,
    BookSnapshotFailed,
    BookSynced,
    DisconnectCause,
    Event,
    FailureCause,
    FrameKind,
    FrameRejected,
    GapCause,
    GapDetected,
    LinkConnected,
    LinkDisconnected,
    LinkRotated,
    ListenKeyClosed,
    ListenKeyCreated,
    ListenKeyCreateFailed,
    ListenKeyInvalidated,
    ListenKeyLost,
    ListenKeyLostReason,
    ListenKeyRenewalFailed,
    ListenKeyRenewed,
    PongReceived,
    Push,
    StrayPushReceived,
    StrayReason,
    TopicsRejected,
    TopicsSubscribed,
)
from mexc_core.messages import PublicAggreDealsV3Api

KEY = "b" * 30 + "SECRETPART" + "e" * 24
OTHER_KEY = "c" * 64
DEAL = "spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT"
TOPICS = tuple(f"spot@public.aggre.deals.v3.api.pb@100ms@S{n}USDT" for n in range(7))

#: (event, logger, level, message)
CASES: list[tuple[Event, str, str, str]] = [
    (
        LinkConnected(link=1, private=False, topics=(DEAL,), reconnect=False),
        "mexc_core.connection",
        "INFO",
        "link 1 connected (public, 1 topics)",
    ),
    (
        LinkConnected(link=2, private=True, topics=(), reconnect=True),
        "mexc_core.connection",
        "INFO",
        "link 2 reconnected (private, 0 topics)",
    ),
    (
        LinkDisconnected(
            link=1, cause=DisconnectCause.LOST, reason="read failed", retry_in=0.25, topics=(DEAL,)
        ),
        "mexc_core.connection",
        "WARNING",
        "link 1 disconnected (lost): read failed; retry in 0.2 s; 1 topics wait",
    ),
    (
        LinkDisconnected(
            link=3, cause=DisconnectCause.RETIRED, reason="closed by us", retry_in=None, topics=()
        ),
        "mexc_core.connection",
        "INFO",
        "link 3 closed: closed by us",
    ),
    (
        LinkDisconnected(
            link=4,
            cause=DisconnectCause.HANDSHAKE_REJECTED,
            reason="HTTP 404",
            retry_in=None,
            topics=(),
        ),
        "mexc_core.connection",
        "WARNING",
        "link 4 disconnected (handshake_rejected): HTTP 404; not reconnected; 0 topics wait",
    ),
    (
        LinkRotated(old=1, new=2, age=86000.4, topics=(DEAL,)),
        "mexc_core.connection",
        "INFO",
        "link 1 rotated to link 2 after 86000 s (1 topics)",
    ),
    (
        TopicsSubscribed(link=1, topics=TOPICS),
        "mexc_core.client",
        "INFO",
        f"link 1 subscribed 7 topics: {', '.join(TOPICS[:5])} and 2 more",
    ),
    (
        TopicsRejected(topics=(DEAL,), cause=FailureCause.REJECTED, reason="Blocked!"),
        "mexc_core.client",
        "WARNING",
        f"topics not subscribed (rejected: Blocked!): {DEAL}",
    ),
    (
        GapDetected(topics=(DEAL,), cause=GapCause.DISCONNECTED, started_at=1.0, ended_at=3.5),
        "mexc_core.client",
        "WARNING",
        f"gap (disconnected) of 2.500 s on 1 topics: {DEAL}",
    ),
    (
        GapDetected(
            topics=(DEAL,), cause=GapCause.OVERFLOW, started_at=1.0, ended_at=1.5, missed=12
        ),
        "mexc_core.client",
        "WARNING",
        f"gap (overflow) of 0.500 s, 12 pushes lost on 1 topics: {DEAL}",
    ),
    (
        FrameRejected(
            kind=FrameKind.BINARY,
            reason="truncated",
            size=17,
            offset=3,
            field=None,
            excerpt="",
            consecutive=1,
            total=4,
        ),
        "mexc_core.session",
        "WARNING",
        "frame rejected (binary, 17 bytes, 1 in a row): truncated",
    ),
    (
        StrayPushReceived(
            push=Push(channel=DEAL, body=PublicAggreDealsV3Api()),
            reason=StrayReason.NOT_HELD,
            expected=None,
        ),
        "mexc_core.session",
        "WARNING",
        f"stray push on {DEAL} (not_held)",
    ),
    (
        ListenKeyCreateFailed(error="HTTP 503", retry_at=3.0, rejected=False),
        "mexc_core.listenkey",
        "WARNING",
        "listen key not created (failed): HTTP 503",
    ),
    (ListenKeyRenewed(valid_until=3600.0), "mexc_core.listenkey", "DEBUG", "listen key renewed"),
    (
        ListenKeyRenewalFailed(error="timed out", retry_at=None, valid_until=3600.0),
        "mexc_core.listenkey",
        "WARNING",
        "listen key renewal failed: timed out; no retry before it expires",
    ),
    (
        ListenKeyClosed(deleted=True),
        "mexc_core.listenkey",
        "INFO",
        "listen key closed (deleted)",
    ),
    (
        BookSynced(symbol="BTCUSDT", version=12, snapshot_version=10, bids=5, asks=5, view=None),
        "mexc_core.book",
        "INFO",
        "book BTCUSDT synced at version 12",
    ),
    (
        BookGapDetected(
            symbol="BTCUSDT",
            cause=BookBreak.VERSION_GAP,
            expected=13,
            from_version=15,
            to_version=16,
        ),
        "mexc_core.book",
        "WARNING",
        "book BTCUSDT broke (version_gap): expected version 13, got 15-16",
    ),
    (
        BookCrossed(symbol="BTCUSDT", version=9, best_bid="2", best_ask="1"),
        "mexc_core.book",
        "WARNING",
        "book BTCUSDT crossed at version 9: bid 2 >= ask 1",
    ),
    (
        BookResyncStarted(symbol="BTCUSDT", cause=BookBreak.VERSION_GAP, version=16),
        "mexc_core.book",
        "WARNING",
        "book BTCUSDT resyncing (version_gap)",
    ),
    (
        BookSnapshotFailed(symbol="BTCUSDT", reason="HTTP 429", stale=False, retry_in=10.0),
        "mexc_core.book",
        "WARNING",
        "book BTCUSDT snapshot failed: HTTP 429; retry in 10.0 s",
    ),
]


@pytest.mark.parametrize(
    ("event", "logger", "level", "message"), CASES, ids=[type(c[0]).__name__ for c in CASES]
)
def test_each_event_gets_its_line(
    caplog: pytest.LogCaptureFixture, event: Event, logger: str, level: str, message: str
) -> None:
    caplog.set_level(logging.DEBUG, logger="mexc_core")
    EventLog().event(event)
    assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == [
        (logger, level, message)
    ]
    assert logger in LOGGER_NAMES


def test_events_without_a_line_write_none(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="mexc_core")
    EventLog().event(PongReceived(round_trip=0.1))
    assert caplog.records == []


def test_listen_keys_are_never_logged_in_full(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="mexc_core")
    log = EventLog()
    log.event(ListenKeyCreated(key=KEY, valid_until=3600.0))
    # a server that quotes the key in its reasons does not leak it either
    log.event(ListenKeyInvalidated(text=f"Invalid listen key {KEY}"))
    log.event(
        LinkDisconnected(
            link=2,
            cause=DisconnectCause.HANDSHAKE_REJECTED,
            reason=f"HTTP 400: bad listenKey={KEY}",
            retry_in=1.0,
            topics=(),
        )
    )
    log.event(ListenKeyLost(key=KEY, reason=ListenKeyLostReason.INVALIDATED, detail=KEY))
    log.event(ListenKeyCreated(key=OTHER_KEY, valid_until=7200.0))
    assert "SECRETPART" not in caplog.text
    assert OTHER_KEY not in caplog.text
    assert [r.getMessage() for r in caplog.records] == [
        "listen key bbbb…eeee created",
        "the server invalidated the listen key: Invalid listen key bbbb…eeee",
        "link 2 disconnected (handshake_rejected): HTTP 400: bad listenKey=bbbb…eeee; "
        "retry in 1.0 s; 0 topics wait",
        "listen key bbbb…eeee lost (invalidated): bbbb…eeee; creating a new one",
        "listen key cccc…cccc created",
    ]


def test_per_push_lines_only_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    push = Push(channel=DEAL, body=PublicAggreDealsV3Api(), symbol="BTCUSDT", send_time=7)
    caplog.set_level(logging.INFO, logger="mexc_core")
    assert not EventLog.frames_enabled()
    caplog.set_level(logging.DEBUG, logger="mexc_core.wire")
    assert EventLog.frames_enabled()
    EventLog.frame(push)
    assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == [
        (
            "mexc_core.wire",
            "DEBUG",
            f"push {DEAL} symbol=BTCUSDT send_time=7 body=PublicAggreDealsV3Api",
        )
    ]


def test_nothing_reaches_stderr_until_logging_is_configured() -> None:
    """Python's last-resort handler prints WARNING lines of unconfigured loggers."""
    code = (
        "from mexc_core.aio.logs import EventLog\n"
        "from mexc_core.events import ListenKeyCreateFailed\n"
        "EventLog().event(ListenKeyCreateFailed(error='x', retry_at=1.0, rejected=True))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=60
    )
    assert proc.stderr == ""
