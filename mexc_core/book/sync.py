"""A local order book kept in sync with MEXC's diff-depth stream, sans-IO.

Theory of operation
===================

MEXC publishes changes of a book on ``spot@public.aggre.depth.v3.api.pb@100ms@SYMBOL``
(or ``@10ms``): each diff covers the versions ``fromVersion..toVersion`` and sets
absolute quantities (zero deletes a level). The full book comes from REST
(``GET /api/v3/depth?limit=5000``, its version is ``lastUpdateId``). MEXC's
procedure, which :class:`LocalBook` follows:

1. buffer the diffs as they come, noting the first one's ``fromVersion``;
2. fetch a snapshot; if it is older than the first buffered diff
   (``lastUpdateId < fromVersion - 1``), fetch again;
3. drop the buffered diffs with ``toVersion <= lastUpdateId``, load the snapshot
   and apply the rest, the first of which may straddle ``lastUpdateId``;
4. from then on every diff must start where the last ended
   (``fromVersion == previous toVersion + 1``); anything else rebuilds from 2.

Versions are compared as integers. The machine never does I/O and never reads a
clock: it says when it wants a snapshot (:meth:`LocalBook.snapshot_due`,
:meth:`LocalBook.next_deadline`); the owner sends
``RestClient().depth(symbol, limit)``, paced with other books, and reports the
answer (:meth:`~LocalBook.snapshot_received`, :meth:`~LocalBook.snapshot_failed`).

.. mexc-transitions:: mexc_core.book.sync._BOOK_TRANSITIONS
   :title: book

Rules the table does not show:

1. The buffer is bounded (``max_buffer`` diffs): when it is full the oldest diff
   is dropped, and with it the first buffered version moves on; a snapshot older
   than the new first diff is then fetched again. A diff that does not follow the
   last buffered one restarts the buffer with itself: no snapshot could use the
   diffs before it.
2. In ``SYNCED``, right after a snapshot was loaded (no diff applied since), a
   diff the snapshot already holds (``toVersion <= lastUpdateId``) is dropped and
   a diff straddling ``lastUpdateId`` is applied; after that only a diff with
   ``fromVersion == version + 1`` is. Any other diff, a :meth:`~LocalBook.stream_gap`
   (the client's :class:`~mexc_core.events.GapDetected` for the topic), data that
   is not a number, or a crossed book after a diff clears the book:
   :class:`~mexc_core.events.BookGapDetected` or
   :class:`~mexc_core.events.BookCrossed`, then
   :class:`~mexc_core.events.BookResyncStarted`. The diff that broke the sequence
   starts the new buffer.
3. A failed snapshot (HTTP error, transport failure, data that is not a book)
   and a stale one are asked for again after the shared capped exponential
   backoff with jitter, at least ``Retry-After`` after a 429
   (:class:`~mexc_core.events.BookSnapshotFailed`). The attempts count restarts
   once a live diff has been applied to a synced book.
4. Answers to requests the book no longer waits for (after a gap) are ignored.
5. The book is only readable (:attr:`LocalBook.levels`) in ``SYNCED``; in any
   other state it is empty.
"""

from __future__ import annotations

import enum
import math
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final, final

from mexc_core._clock import checked_now
from mexc_core._machine import Machine, frozen_table
from mexc_core.book.levels import OrderBook, Side
from mexc_core.client.backoff import Backoff, RandomSource
from mexc_core.errors import InvalidConfig, InvalidLevel
from mexc_core.events import (
    BookBreak,
    BookCrossed,
    BookGapDetected,
    BookResyncStarted,
    BookSnapshotFailed,
    BookSynced,
    BookUpdated,
    BookView,
    Event,
)
from mexc_core.messages import PublicAggreDepthsV3Api
from mexc_core.rest import DepthSnapshot

__all__ = ("MAX_SNAPSHOT_LIMIT", "BookConfig", "BookInput", "BookState", "BookStats", "LocalBook")

#: The most levels ``GET /api/v3/depth`` returns (``limit``).
MAX_SNAPSHOT_LIMIT: Final = 5000


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class BookConfig:
    """Settings of a :class:`LocalBook`.

    :ivar limit: levels per side asked of the REST snapshot (1..5000). MEXC's
        own procedure asks 5000: levels beyond the snapshot that never change
        never appear in the local book.
    :ivar max_buffer: diffs kept while waiting for a snapshot (oldest dropped
        first). 2000 diffs is 20 s of the 10 ms stream.
    :ivar retry: the delays between snapshot attempts.
    :ivar rate_limit_pause: the wait after a 429 without ``Retry-After``.
    :ivar check_crossed: resync when a diff leaves the best bid at or above the
        best ask.
    :ivar view_depth: levels per side copied into every
        :class:`~mexc_core.events.BookSynced` and
        :class:`~mexc_core.events.BookUpdated` (``view``), for consumers that read
        the events later than the book moves (0: no copies, the fastest).
    """

    limit: int = MAX_SNAPSHOT_LIMIT
    max_buffer: int = 2000
    retry: Backoff = field(default_factory=lambda: Backoff(initial=0.5, cap=30.0))
    rate_limit_pause: float = 10.0
    check_crossed: bool = True
    view_depth: int = 0

    def __post_init__(self) -> None:
        if type(self.limit) is not int or not 1 <= self.limit <= MAX_SNAPSHOT_LIMIT:
            raise InvalidConfig(f"limit must be an int in 1..{MAX_SNAPSHOT_LIMIT}", setting="limit")
        if type(self.max_buffer) is not int or self.max_buffer < 1:
            raise InvalidConfig("max_buffer must be a positive int", setting="max_buffer")
        if type(self.view_depth) is not int or self.view_depth < 0:
            raise InvalidConfig("view_depth must be an int >= 0", setting="view_depth")
        if not (math.isfinite(self.rate_limit_pause) and self.rate_limit_pause >= 0):
            raise InvalidConfig(
                "rate_limit_pause must be a finite number >= 0", setting="rate_limit_pause"
            )


class BookState(enum.Enum):
    """Where a local book is in MEXC's procedure."""

    #: No diff buffered: subscribing, or just after a gap.
    WAITING = "waiting"
    #: Diffs buffered; a snapshot is wanted (now, or after a backoff).
    BUFFERING = "buffering"
    #: Diffs buffered; the snapshot request is out.
    SNAPSHOT_PENDING = "snapshot_pending"
    #: Exact: every diff since the snapshot applied in order.
    SYNCED = "synced"
    #: Closed for good.
    CLOSED = "closed"
    #: A broken rule (a bug).
    ERROR = "error"


class BookInput(enum.Enum):
    """What moves a local book."""

    #: A diff arrived (buffered, applied, or starting a new buffer).
    DIFF = "diff"
    #: The stream broke (a version gap or overlap, a stream gap, bad data, a
    #: crossed book): the book is cleared.
    BREAK = "break"
    #: The owner sent the snapshot request.
    SNAPSHOT_REQUESTED = "snapshot_requested"
    #: The snapshot fitted the buffered diffs: the book is built.
    SNAPSHOT_LOADED = "snapshot_loaded"
    #: The snapshot failed or was older than the stream: ask again later.
    SNAPSHOT_UNUSABLE = "snapshot_unusable"
    #: :meth:`LocalBook.close`.
    CLOSE = "close"


_S, _I = BookState, BookInput
_BOOK_TRANSITIONS: Final[Mapping[tuple[BookState, BookInput], BookState]] = frozen_table(
    {
        (_S.WAITING, _I.DIFF): _S.BUFFERING,
        (_S.WAITING, _I.BREAK): _S.WAITING,
        (_S.WAITING, _I.CLOSE): _S.CLOSED,
        (_S.BUFFERING, _I.DIFF): _S.BUFFERING,
        (_S.BUFFERING, _I.BREAK): _S.WAITING,
        (_S.BUFFERING, _I.SNAPSHOT_REQUESTED): _S.SNAPSHOT_PENDING,
        (_S.BUFFERING, _I.CLOSE): _S.CLOSED,
        (_S.SNAPSHOT_PENDING, _I.DIFF): _S.SNAPSHOT_PENDING,
        (_S.SNAPSHOT_PENDING, _I.BREAK): _S.WAITING,
        (_S.SNAPSHOT_PENDING, _I.SNAPSHOT_LOADED): _S.SYNCED,
        (_S.SNAPSHOT_PENDING, _I.SNAPSHOT_UNUSABLE): _S.BUFFERING,
        (_S.SNAPSHOT_PENDING, _I.CLOSE): _S.CLOSED,
        (_S.SYNCED, _I.DIFF): _S.SYNCED,
        (_S.SYNCED, _I.BREAK): _S.WAITING,
        (_S.SYNCED, _I.CLOSE): _S.CLOSED,
        (_S.CLOSED, _I.CLOSE): _S.CLOSED,
    }
)


@dataclass(slots=True)
class BookStats:
    """Counters of a local book (read them, do not write)."""

    #: Diffs applied to the synced book (replayed from the buffer included).
    applied: int = 0
    #: Diffs buffered while waiting for a snapshot.
    buffered: int = 0
    #: Buffered diffs dropped because the buffer was full.
    dropped_overflow: int = 0
    #: Diffs dropped because the snapshot already held them.
    held_by_snapshot: int = 0
    #: Times the book was cleared to be rebuilt.
    resyncs: int = 0
    #: Snapshot requests sent.
    snapshots: int = 0
    #: Snapshots older than the stream.
    stale_snapshots: int = 0
    #: Snapshot requests that failed, or answered with data that is not a book.
    failed_snapshots: int = 0


@final
@dataclass(frozen=True, slots=True)
class _Diff:
    first: int
    last: int
    body: PublicAggreDepthsV3Api


class LocalBook:
    """One symbol's order book, exact or saying it is not (see the module docstring).

    :param symbol: the symbol (``BTCUSDT``).
    :param config: settings.
    :param rng: the source of backoff jitter (``random.Random``, seeded in tests).

    Expected exceptions: :class:`~mexc_core.errors.StateError` for an input after
    :meth:`close` or a snapshot request when none is wanted, and
    :class:`~mexc_core.errors.ClockError` on a bad ``now``. Bad data never
    raises: it breaks the stream and the book resyncs.
    """

    def __init__(self, symbol: str, config: BookConfig | None = None, *, rng: RandomSource) -> None:
        self.symbol: Final = symbol
        self.config: Final = config or BookConfig()
        self._rng = rng
        self._machine: Final = Machine("book", _BOOK_TRANSITIONS, _S.WAITING, _S.ERROR)
        self._levels: Final = OrderBook(symbol)
        self._buffer: deque[_Diff] = deque(maxlen=self.config.max_buffer)
        self._events: deque[Event] = deque()
        self._now = -math.inf
        self._due = math.inf  # when a snapshot is wanted, in BUFFERING
        self._attempt = 0
        self._request = 0  # the id of the request out, in SNAPSHOT_PENDING
        self._next_request = 0
        self._snapshot_version = -1
        self.stats: Final = BookStats()

    def __repr__(self) -> str:
        return f"<LocalBook {self.symbol} {self.state.name} v{self._levels.version}>"

    # ------------------------------------------------------------ reading state

    @property
    def state(self) -> BookState:
        """The current state."""
        return self._machine.state

    @property
    def synced(self) -> bool:
        """Whether the book is exact now."""
        return self._machine.state is _S.SYNCED

    @property
    def levels(self) -> OrderBook:
        """The levels: exact in ``SYNCED``, empty otherwise. Read, never write."""
        return self._levels

    @property
    def version(self) -> int | None:
        """The version the book is exact at, or ``None`` when it is not synced."""
        return self._levels.version if self._machine.state is _S.SYNCED else None

    @property
    def buffered(self) -> int:
        """Diffs waiting for a snapshot."""
        return len(self._buffer)

    def next_event(self) -> Event | None:
        """The next event, or ``None``."""
        return self._events.popleft() if self._events else None

    def events(self) -> Iterator[Event]:
        """Drain the events, in order."""
        events = self._events
        while events:
            yield events.popleft()

    def snapshot_due(self, now: float) -> bool:
        """Whether a snapshot should be requested now."""
        return self._machine.state is _S.BUFFERING and now >= self._due

    def next_deadline(self) -> float | None:
        """When a snapshot will be wanted, if the book waits to ask for one."""
        return self._due if self._machine.state is _S.BUFFERING else None

    # ------------------------------------------------------------ inputs

    def receive_diff(self, body: PublicAggreDepthsV3Api, now: float) -> None:
        """A push of the diff-depth topic of this symbol.

        :raises StateError: the book is closed.
        """
        self._clock(now)
        self._machine.require(_I.DIFF, "take diffs")
        try:
            first, last = int(body.from_version), int(body.to_version)
        except ValueError:
            first = last = -1
        if not 0 <= first <= last:
            self._break(BookBreak.INVALID_DATA)
            return
        diff = _Diff(first, last, body)
        if self._machine.state is _S.SYNCED:
            self._apply_live(diff)
        else:
            self._buffer_diff(diff, now)

    def stream_gap(self, now: float, cause: BookBreak = BookBreak.STREAM_GAP) -> None:
        """The client lost pushes of the depth topic (a reconnect, an overflow), or
        its deduplication saw the versions break (``cause``
        :attr:`~BookBreak.VERSION_GAP` or :attr:`~BookBreak.OVERLAP`).

        :raises StateError: the book is closed.
        """
        self._clock(now)
        self._machine.require(_I.BREAK, "take a stream gap")
        self._break(cause)

    def snapshot_requested(self, now: float) -> int:
        """The owner sends the snapshot request now; returns its id.

        :raises StateError: no snapshot is wanted (see :meth:`snapshot_due`).
        """
        self._clock(now)
        self._machine.require(_I.SNAPSHOT_REQUESTED, "send a snapshot request")
        self._machine.step(_I.SNAPSHOT_REQUESTED)
        self._next_request += 1
        self._request = self._next_request
        self.stats.snapshots += 1
        return self._request

    def snapshot_received(self, request_id: int, snapshot: DepthSnapshot, now: float) -> None:
        """The answer to request ``request_id``; ignored unless the book waits for it."""
        self._clock(now)
        if not self._waits_for(request_id):
            return
        last = snapshot.last_update_id
        buffer = self._buffer
        if last < buffer[0].first - 1:
            self.stats.stale_snapshots += 1
            self._retry(
                f"snapshot at {last} is older than the first buffered diff ({buffer[0].first})",
                stale=True,
            )
            return
        while buffer and buffer[0].last <= last:
            buffer.popleft()
            self.stats.held_by_snapshot += 1
        try:
            self._levels.load(snapshot.bids, snapshot.asks, last)
        except InvalidLevel as exc:
            self.stats.failed_snapshots += 1
            self._retry(f"snapshot is not a book: {exc}", stale=False)
            return
        self._snapshot_version = last
        self._machine.step(_I.SNAPSHOT_LOADED)
        pending = list(buffer)
        buffer.clear()
        for diff in pending:  # the first may straddle `last`; the rest follow it
            if not self._apply(diff, live=False):
                return
        levels = self._levels
        self._events.append(
            BookSynced(
                symbol=self.symbol,
                version=levels.version,
                snapshot_version=last,
                bids=levels.depth(Side.BID),
                asks=levels.depth(Side.ASK),
                view=self._view(),
            )
        )

    def snapshot_failed(
        self,
        request_id: int,
        now: float,
        reason: str,
        *,
        rate_limited: bool = False,
        retry_after: float | None = None,
    ) -> None:
        """Request ``request_id`` failed; ignored unless the book waits for it.

        :param rate_limited: MEXC answered 429 (or 418): wait ``retry_after``
            seconds, or ``rate_limit_pause`` without it.
        """
        self._clock(now)
        if not self._waits_for(request_id):
            return
        self.stats.failed_snapshots += 1
        floor = 0.0
        if rate_limited:
            floor = self.config.rate_limit_pause if retry_after is None else retry_after
        self._retry(reason, stale=False, floor=floor)

    def close(self) -> None:
        """Stop: the book is cleared and takes no more input. Calling it again does nothing."""
        self._machine.step(_I.CLOSE)
        self._levels.clear()
        self._buffer.clear()

    # ------------------------------------------------------------ internals

    def _clock(self, now: float) -> None:
        self._now = checked_now(now, self._now)

    def _waits_for(self, request_id: int) -> bool:
        return self._machine.state is _S.SNAPSHOT_PENDING and request_id == self._request

    def _buffer_diff(self, diff: _Diff, now: float) -> None:
        buffer = self._buffer
        if self._machine.state is _S.WAITING:
            attempt = self._attempt  # after failures, the next snapshot waits too
            self._due = now if not attempt else now + self._delay(attempt - 1)
        elif buffer[-1].last + 1 != diff.first:
            buffer.clear()  # no snapshot could use the diffs before this one
        elif len(buffer) == buffer.maxlen:
            self.stats.dropped_overflow += 1
        self._machine.step(_I.DIFF)
        buffer.append(diff)
        self.stats.buffered += 1

    def _apply_live(self, diff: _Diff) -> None:
        version = self._levels.version
        if version == self._snapshot_version and diff.last <= version:
            self.stats.held_by_snapshot += 1  # the snapshot holds it already
            return
        if self._apply(diff, live=True):
            self._attempt = 0

    def _apply(self, diff: _Diff, *, live: bool) -> bool:
        """Apply ``diff`` to the synced book; ``False`` if it broke the book."""
        levels = self._levels
        version = levels.version
        fresh = version == self._snapshot_version
        fits = diff.first <= version + 1 <= diff.last if fresh else diff.first == version + 1
        if not fits:
            cause = BookBreak.VERSION_GAP if diff.first > version + 1 else BookBreak.OVERLAP
            self._break(cause, expected=version + 1, diff=diff)
            return False
        body = diff.body
        try:
            levels.update(body.bids, body.asks)
        except InvalidLevel:
            self._break(BookBreak.INVALID_DATA, expected=version + 1, diff=diff, restart=False)
            return False
        levels.version = diff.last  # (SYNCED, DIFF) -> SYNCED: receive_diff checked it
        self.stats.applied += 1
        if self.config.check_crossed and levels.is_crossed():
            bid, ask = levels.best_bid(), levels.best_ask()
            assert bid is not None
            assert ask is not None
            self._events.append(
                BookCrossed(
                    symbol=self.symbol, version=diff.last, best_bid=bid.price, best_ask=ask.price
                )
            )
            self._break(BookBreak.CROSSED, reported=True)
            return False
        if live:
            self._events.append(
                BookUpdated(
                    symbol=self.symbol,
                    version=diff.last,
                    from_version=diff.first,
                    bids=body.bids,
                    asks=body.asks,
                    view=self._view(),
                )
            )
        return True

    def _break(
        self,
        cause: BookBreak,
        *,
        expected: int | None = None,
        diff: _Diff | None = None,
        restart: bool = True,
        reported: bool = False,
    ) -> None:
        """Clear the book; a diff that broke the sequence starts the new buffer."""
        was = self.version
        if cause is not BookBreak.INVALID_DATA and self._machine.state is _S.WAITING:
            return  # a stream gap with nothing held: nothing to rebuild
        if cause in (BookBreak.CROSSED, BookBreak.INVALID_DATA):
            self._attempt += 1  # bad data may come again: back off the snapshots
        if not reported:
            self._events.append(
                BookGapDetected(
                    symbol=self.symbol,
                    cause=cause,
                    expected=expected,
                    from_version=None if diff is None else diff.first,
                    to_version=None if diff is None else diff.last,
                )
            )
        self._events.append(BookResyncStarted(symbol=self.symbol, cause=cause, version=was))
        self.stats.resyncs += 1
        self._machine.step(_I.BREAK)
        self._levels.clear()
        self._buffer.clear()
        self._snapshot_version = -1
        if diff is not None and restart:
            self._buffer_diff(diff, self._now)

    def _view(self) -> BookView | None:
        depth = self.config.view_depth
        return self._levels.view(depth) if depth else None

    def _delay(self, attempt: int) -> float:
        return self.config.retry.delay(attempt, self._rng)

    def _retry(self, reason: str, *, stale: bool, floor: float = 0.0) -> None:
        self._machine.step(_I.SNAPSHOT_UNUSABLE)
        delay = max(floor, self._delay(self._attempt))
        self._attempt += 1
        self._due = self._now + delay
        self._events.append(
            BookSnapshotFailed(symbol=self.symbol, reason=reason, stale=stale, retry_in=delay)
        )
