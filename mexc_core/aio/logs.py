"""Log lines of the client, from the core's events (see :doc:`/logging`).

The sans-IO core does not log: everything worth a log line is already one of its
events, so the anyio client writes the lines as the events come out of the core
(:class:`EventLog`), with the standard :mod:`logging` module under these names:

========================  ===========================================================
``mexc_core.client``      subscriptions confirmed (INFO) and rejected (WARNING), gaps
                          (WARNING)
``mexc_core.connection``  connects, reconnects (INFO), disconnects with their cause
                          and retry delay (WARNING), rotations (INFO)
``mexc_core.session``     rejected frames and stray pushes (WARNING)
``mexc_core.listenkey``   listen keys created, lost, failing (INFO / WARNING);
                          renewals (DEBUG)
``mexc_core.book``        local books synced (INFO), broken, crossed, resyncing,
                          snapshot failures (WARNING)
``mexc_core.wire``        one line per push (DEBUG only; checked once per read, so
                          free when disabled)
``mexc_core.plugins``     plugins that failed (ERROR)
========================  ===========================================================

Listen keys appear shortened (``abcd…wxyz``), as in reprs; every free text an
event carries (a server's reason, an error) is shown with the listen keys seen so
far shortened, in case the server quoted one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final, TypeVar

from mexc_core.events import (
    BookCrossed,
    BookGapDetected,
    BookResyncStarted,
    BookSnapshotFailed,
    BookSynced,
    DisconnectCause,
    Event,
    FrameRejected,
    GapDetected,
    LinkConnected,
    LinkDisconnected,
    LinkRotated,
    ListenKeyClosed,
    ListenKeyCreated,
    ListenKeyCreateFailed,
    ListenKeyInvalidated,
    ListenKeyLost,
    ListenKeyRenewalFailed,
    ListenKeyRenewed,
    Push,
    StrayPushReceived,
    TopicsRejected,
    TopicsSubscribed,
)
from mexc_core.rest import shorten

__all__ = ("LOGGER_NAMES", "EventLog")

# A library's loggers stay silent until the application configures logging: without
# this, Python's last-resort handler would print WARNING lines to stderr.
logging.getLogger("mexc_core").addHandler(logging.NullHandler())

client_log: Final = logging.getLogger("mexc_core.client")
connection_log: Final = logging.getLogger("mexc_core.connection")
gap_log: Final = client_log
session_log: Final = logging.getLogger("mexc_core.session")
listenkey_log: Final = logging.getLogger("mexc_core.listenkey")
book_log: Final = logging.getLogger("mexc_core.book")
frame_log: Final = logging.getLogger("mexc_core.wire")
plugin_log: Final = logging.getLogger("mexc_core.plugins")

#: Every logger the client writes to.
LOGGER_NAMES: Final = tuple(
    log.name
    for log in (
        client_log,
        connection_log,
        session_log,
        listenkey_log,
        book_log,
        frame_log,
        plugin_log,
    )
)

#: Topics named in one line at most; the rest are counted.
_SHOWN_TOPICS: Final = 5

E = TypeVar("E", bound=Event)


def _topics(topics: tuple[str, ...]) -> str:
    if len(topics) <= _SHOWN_TOPICS:
        return ", ".join(topics)
    return f"{', '.join(topics[:_SHOWN_TOPICS])} and {len(topics) - _SHOWN_TOPICS} more"


class EventLog:
    """Writes the log line of each event it is given (see the module docstring)."""

    def __init__(self) -> None:
        self._keys: list[str] = []  # listen keys seen, to shorten in free text
        self._lines: dict[type[Event], Callable[[Event], None]] = {}
        self._on(LinkConnected, self._connected)
        self._on(LinkDisconnected, self._disconnected)
        self._on(LinkRotated, self._rotated)
        self._on(TopicsSubscribed, self._subscribed)
        self._on(TopicsRejected, self._rejected)
        self._on(GapDetected, self._gap)
        self._on(FrameRejected, self._frame_rejected)
        self._on(StrayPushReceived, self._stray)
        self._on(ListenKeyCreated, self._key_created)
        self._on(ListenKeyCreateFailed, self._key_create_failed)
        self._on(ListenKeyRenewed, self._key_renewed)
        self._on(ListenKeyRenewalFailed, self._key_renewal_failed)
        self._on(ListenKeyLost, self._key_lost)
        self._on(ListenKeyInvalidated, self._key_invalidated)
        self._on(ListenKeyClosed, self._key_closed)
        self._on(BookSynced, self._book_synced)
        self._on(BookGapDetected, self._book_gap)
        self._on(BookCrossed, self._book_crossed)
        self._on(BookResyncStarted, self._book_resync)
        self._on(BookSnapshotFailed, self._book_snapshot_failed)

    def _on(self, kind: type[E], line: Callable[[E], None]) -> None:
        self._lines[kind] = line  # type: ignore[assignment]  # looked up by exact type

    def event(self, event: Event) -> None:
        """Log ``event`` (not a push: see :meth:`frame`), if it is worth a line."""
        line = self._lines.get(type(event))
        if line is not None:
            line(event)

    @staticmethod
    def frames_enabled() -> bool:
        """Whether per-push lines are wanted (``mexc_core.wire`` at DEBUG)."""
        return frame_log.isEnabledFor(logging.DEBUG)

    @staticmethod
    def frame(push: Push) -> None:
        """The DEBUG line of one push (call only when :meth:`frames_enabled`)."""
        frame_log.debug(
            "push %s symbol=%s send_time=%s body=%s",
            push.channel,
            push.symbol,
            push.send_time,
            type(push.body).__name__,
        )

    def _text(self, text: str) -> str:
        """``text`` with every listen key seen shortened."""
        for key in self._keys:
            if key in text:
                text = text.replace(key, shorten(key))
        return text

    # -- connections

    def _connected(self, event: LinkConnected) -> None:
        connection_log.info(
            "link %d %s (%s, %d topics)",
            event.link,
            "reconnected" if event.reconnect else "connected",
            "private" if event.private else "public",
            len(event.topics),
        )

    def _disconnected(self, event: LinkDisconnected) -> None:
        retry = "not reconnected" if event.retry_in is None else f"retry in {event.retry_in:.1f} s"
        if event.cause is DisconnectCause.RETIRED:
            connection_log.info("link %d closed: %s", event.link, self._text(event.reason))
            return
        connection_log.warning(
            "link %d disconnected (%s): %s; %s; %d topics wait",
            event.link,
            event.cause.value,
            self._text(event.reason),
            retry,
            len(event.topics),
        )

    def _rotated(self, event: LinkRotated) -> None:
        connection_log.info(
            "link %d rotated to link %d after %.0f s (%d topics)",
            event.old,
            event.new,
            event.age,
            len(event.topics),
        )

    # -- subscriptions

    def _subscribed(self, event: TopicsSubscribed) -> None:
        client_log.info(
            "link %d subscribed %d topics: %s", event.link, len(event.topics), _topics(event.topics)
        )

    def _rejected(self, event: TopicsRejected) -> None:
        client_log.warning(
            "topics not subscribed (%s: %s): %s",
            event.cause.value,
            self._text(event.reason),
            _topics(event.topics),
        )

    # -- gaps

    def _gap(self, event: GapDetected) -> None:
        missed = "" if event.missed is None else f", {event.missed} pushes lost"
        gap_log.warning(
            "gap (%s) of %.3f s%s on %d topics: %s",
            event.cause.value,
            event.ended_at - event.started_at,
            missed,
            len(event.topics),
            _topics(event.topics),
        )

    def _frame_rejected(self, event: FrameRejected) -> None:
        session_log.warning(
            "frame rejected (%s, %d bytes, %d in a row): %s",
            event.kind.value,
            event.size,
            event.consecutive,
            self._text(event.reason),
        )

    def _stray(self, event: StrayPushReceived) -> None:
        session_log.warning("stray push on %s (%s)", event.push.channel, event.reason.value)

    # -- listen keys

    def _key_created(self, event: ListenKeyCreated) -> None:
        self._keys.append(event.key)
        del self._keys[:-8]  # the last few are enough: old keys are not quoted again
        listenkey_log.info("listen key %s created", shorten(event.key))

    def _key_create_failed(self, event: ListenKeyCreateFailed) -> None:
        listenkey_log.warning(
            "listen key not created (%s): %s",
            "refused" if event.rejected else "failed",
            self._text(event.error),
        )

    def _key_renewed(self, event: ListenKeyRenewed) -> None:
        listenkey_log.debug("listen key renewed")

    def _key_renewal_failed(self, event: ListenKeyRenewalFailed) -> None:
        retry = "no retry before it expires" if event.retry_at is None else "retrying"
        listenkey_log.warning("listen key renewal failed: %s; %s", self._text(event.error), retry)

    def _key_lost(self, event: ListenKeyLost) -> None:
        detail = f": {self._text(event.detail)}" if event.detail else ""
        listenkey_log.warning(
            "listen key %s lost (%s)%s; creating a new one",
            shorten(event.key),
            event.reason.value,
            detail,
        )

    def _key_invalidated(self, event: ListenKeyInvalidated) -> None:
        listenkey_log.warning("the server invalidated the listen key: %s", self._text(event.text))

    def _key_closed(self, event: ListenKeyClosed) -> None:
        listenkey_log.info("listen key closed (%s)", "deleted" if event.deleted else "not deleted")

    # -- books

    def _book_synced(self, event: BookSynced) -> None:
        book_log.info("book %s synced at version %d", event.symbol, event.version)

    def _book_gap(self, event: BookGapDetected) -> None:
        book_log.warning(
            "book %s broke (%s): expected version %s, got %s-%s",
            event.symbol,
            event.cause.value,
            event.expected,
            event.from_version,
            event.to_version,
        )

    def _book_crossed(self, event: BookCrossed) -> None:
        book_log.warning(
            "book %s crossed at version %d: bid %s >= ask %s",
            event.symbol,
            event.version,
            event.best_bid,
            event.best_ask,
        )

    def _book_resync(self, event: BookResyncStarted) -> None:
        book_log.warning("book %s resyncing (%s)", event.symbol, event.cause.value)

    def _book_snapshot_failed(self, event: BookSnapshotFailed) -> None:
        book_log.warning(
            "book %s snapshot failed%s: %s; retry in %.1f s",
            event.symbol,
            " (stale)" if event.stale else "",
            self._text(event.reason),
            event.retry_in,
        )
