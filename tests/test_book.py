"""The local order book: exact levels, MEXC's sync procedure, and its promise."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mexc_core.book import BookConfig, BookState, LocalBook, OrderBook, Side, TopBook
from mexc_core.client.backoff import Backoff
from mexc_core.errors import ClockError, InvalidConfig, InvalidLevel, StateError
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
    Level,
)
from mexc_core.messages import (
    PublicAggreDepthsV3Api,
    PublicAggreDepthV3ApiItem,
    PublicLimitDepthsV3Api,
    PublicLimitDepthV3ApiItem,
)
from mexc_core.rest import DepthSnapshot
from mexc_core.testing.book import BookMachine

TestBookMachine = BookMachine.TestCase
TestBookMachine.settings = settings(max_examples=150, stateful_step_count=60, deadline=None)

SYMBOL = "BTCUSDT"


def item(price: str, quantity: str) -> PublicAggreDepthV3ApiItem:
    return PublicAggreDepthV3ApiItem(price=price, quantity=quantity)


def diff(
    first: int,
    last: int,
    bids: tuple[tuple[str, str], ...] = (),
    asks: tuple[tuple[str, str], ...] = (),
) -> PublicAggreDepthsV3Api:
    return PublicAggreDepthsV3Api(
        bids=tuple(item(*b) for b in bids),
        asks=tuple(item(*a) for a in asks),
        from_version=str(first),
        to_version=str(last),
    )


def snapshot(
    version: int,
    bids: tuple[tuple[str, str], ...] = (("99.00", "1"),),
    asks: tuple[tuple[str, str], ...] = (("101.00", "2"),),
) -> DepthSnapshot:
    return DepthSnapshot(symbol=SYMBOL, last_update_id=version, bids=bids, asks=asks)


def state_of(book: LocalBook) -> BookState:
    return book.state  # read anew each time (mypy would narrow an attribute)


def drain(book: LocalBook) -> list[Event]:
    return list(book.events())


def new_book(**kwargs: object) -> LocalBook:
    return LocalBook(SYMBOL, BookConfig(**kwargs), rng=random.Random(3))  # type: ignore[arg-type]


def synced_book(version: int = 10, **kwargs: object) -> LocalBook:
    book = new_book(**kwargs)
    book.receive_diff(diff(version, version), 0.0)
    request = book.snapshot_requested(0.0)
    book.snapshot_received(request, snapshot(version), 0.0)
    assert book.synced
    drain(book)
    return book


# ---------------------------------------------------------------- levels


def test_levels_keep_mexc_s_strings_and_order_by_exact_value() -> None:
    levels = OrderBook(SYMBOL)
    levels.load([("100.5", "1"), ("100.25", "2"), ("99", "3")], [("101.125", "4")], 7)
    assert levels.version == 7
    assert levels.bids() == (("100.5", "1"), ("100.25", "2"), ("99", "3"))
    assert levels.bids(2) == (("100.5", "1"), ("100.25", "2"))
    assert levels.asks() == (("101.125", "4"),)
    assert levels.best_bid() == ("100.5", "1")
    assert levels.best_bid().price == "100.5"  # type: ignore[union-attr]
    assert levels.best_ask() == ("101.125", "4")
    assert levels.depth(Side.BID) == 3
    assert len(levels) == 4
    # the same price written another way replaces the level, and keeps the new form
    levels.update([("100.50", "9")], [])
    assert levels.bids(1) == (("100.50", "9"),)
    assert levels.depth(Side.BID) == 3
    # zero deletes, in any form; deleting what is not there changes nothing
    levels.update([("100.500", "0.000"), ("1", "0")], [("101.1250", "0")])
    assert levels.bids() == (("100.25", "2"), ("99", "3"))
    assert levels.asks() == ()
    assert levels.best_ask() is None
    assert "OrderBook BTCUSDT v7 bids=2 asks=0" in repr(levels)


def test_queries_are_exact_decimals() -> None:
    levels = OrderBook(SYMBOL)
    assert levels.spread() is None
    assert levels.mid() is None
    assert levels.best_keys() == (None, None)
    levels.load(
        [("0.3", "0.1"), ("0.2", "0.2"), ("0.1", "0.3")],
        [("0.4", "0.1"), ("0.5", "0.2"), ("0.7", "1")],
        1,
    )
    assert levels.spread() == Decimal("0.1")  # 0.4 - 0.3, not 0.10000000000000003
    assert levels.mid() == Decimal("0.35")
    assert levels.depth_to_price(Side.BID, "0.2") == Decimal("0.3")
    assert levels.depth_to_price(Side.ASK, Decimal("0.5")) == Decimal("0.3")
    assert levels.depth_to_price(Side.ASK, "0.39") == 0
    assert levels.depth_to_price(Side.ASK, "9") == Decimal("1.3")  # the whole side
    assert levels.price_for_size(Side.ASK, "0.25") == Decimal("0.5")
    assert levels.vwap(Side.ASK, "0.3") == (Decimal("0.04") + Decimal("0.1")) / Decimal("0.3")
    assert levels.vwap(Side.BID, "0.1") == Decimal("0.3")
    assert levels.vwap(Side.BID, "5") is None  # more than the side holds
    assert levels.price_for_size(Side.BID, "5") is None
    with pytest.raises(ValueError, match="positive"):
        levels.vwap(Side.BID, "0")
    view = levels.view(2)
    assert view.symbol == SYMBOL
    assert view.version == 1
    assert view.bids == (("0.3", "0.1"), ("0.2", "0.2"))
    assert view.asks == (("0.4", "0.1"), ("0.5", "0.2"))
    levels.update([("0.3", "0")], [])
    assert view.bids[0] == ("0.3", "0.1")  # the view did not change
    assert not levels.is_crossed()
    levels.update([("0.45", "1")], [])
    assert levels.is_crossed()
    bid, ask = levels.best_keys()
    assert bid is not None
    assert ask is not None
    assert bid > ask


@pytest.mark.parametrize(
    ("bids", "what"),
    [
        ([("1e5", "1")], "price '1e5'"),
        ([("-1", "1")], "price '-1'"),
        ([(" 1", "1")], "price ' 1'"),
        ([("1_0", "1")], "price '1_0'"),
        ([("1", "-1")], "quantity '-1'"),
        ([("1", "1e3")], "quantity '1e3'"),
        ([("1", "")], "quantity ''"),
        ([("1", "1.2.3")], "quantity '1.2.3'"),
        ([("1", "\u0663")], "quantity"),
        ([("1", "nan")], "quantity 'nan'"),
        ([("1",)], "not a \\(price, quantity\\)"),
        ([(1, "1")], "price 1"),
        ([("1", 1)], "not a \\(price, quantity\\)"),
        ([("0." + "1" * 70, "1")], "70 decimals"),
    ],
)
def test_bad_levels_raise_and_leave_no_half_book(bids: list[tuple[str, str]], what: str) -> None:
    levels = OrderBook(SYMBOL)
    levels.load([("5", "1")], [("6", "1")], 3)
    with pytest.raises(InvalidLevel, match=what):
        levels.update([("4", "1"), *bids], [])
    assert len(levels) == 0
    assert levels.version == -1


def test_the_price_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("mexc_core.book.levels._CACHE_LIMIT", 4)
    levels = OrderBook(SYMBOL)
    levels.update([(str(p), "1") for p in range(1, 10)], [])
    assert levels.bids(1) == (("9", "1"),)
    assert len(levels._bid_cache) <= 4


_LEVEL = st.tuples(
    st.integers(1, 400).map(lambda t: f"{t / 8:.3f}".rstrip("0").rstrip(".")),
    st.sampled_from(["0", "0.0", "1", "0.5", "2.25", "10"]),
)


@given(st.lists(st.tuples(st.lists(_LEVEL, max_size=6), st.lists(_LEVEL, max_size=6)), max_size=30))
def test_levels_equal_a_dict_of_decimals(
    updates: list[tuple[list[tuple[str, str]], list[tuple[str, str]]]],
) -> None:
    levels = OrderBook(SYMBOL)
    model: dict[Side, dict[Decimal, Decimal]] = {Side.BID: {}, Side.ASK: {}}
    for bids, asks in updates:
        levels.update(bids, asks)
        for side, changes in ((Side.BID, bids), (Side.ASK, asks)):
            for price, quantity in changes:
                if Decimal(quantity):
                    model[side][Decimal(price)] = Decimal(quantity)
                else:
                    model[side].pop(Decimal(price), None)
    for side in Side:
        got = [(Decimal(p), Decimal(q)) for p, q in levels.levels(side)]
        want = sorted(model[side].items(), reverse=side is Side.BID)
        assert got == want


# ---------------------------------------------------------------- the procedure


def test_mexc_s_procedure_from_first_diff_to_live_updates() -> None:
    book = new_book()
    assert state_of(book) is BookState.WAITING
    assert not book.snapshot_due(0.0)
    assert book.next_deadline() is None
    book.receive_diff(diff(8, 9, bids=(("98.00", "1"),)), 0.0)
    book.receive_diff(diff(10, 12, bids=(("98.00", "0"),)), 0.1)
    book.receive_diff(diff(13, 13, asks=(("102.00", "5"),)), 0.2)
    assert state_of(book) is BookState.BUFFERING
    assert book.buffered == 3
    assert book.snapshot_due(0.2)
    assert book.next_deadline() == 0.0
    request = book.snapshot_requested(0.2)
    assert state_of(book) is BookState.SNAPSHOT_PENDING
    assert book.next_deadline() is None
    book.receive_diff(diff(14, 15, bids=(("99.00", "7"),)), 0.3)
    # the snapshot is at 11: 8..9 is held by it, 10..12 straddles it, 13 and 14..15 follow
    book.snapshot_received(request, snapshot(11), 0.4)
    assert book.synced
    assert book.version == 15
    assert drain(book) == [
        BookSynced(symbol=SYMBOL, version=15, snapshot_version=11, bids=1, asks=2)
    ]
    assert book.levels.bids() == (("99.00", "7"),)
    assert book.levels.asks() == (("101.00", "2"), ("102.00", "5"))
    assert book.stats.held_by_snapshot == 1
    assert book.stats.applied == 3
    book.receive_diff(diff(16, 16, bids=(("99.50", "1"),)), 0.5)
    assert drain(book) == [
        BookUpdated(symbol=SYMBOL, version=16, from_version=16, bids=(item("99.50", "1"),), asks=())
    ]
    assert book.levels.best_bid() == ("99.50", "1")
    assert "LocalBook BTCUSDT SYNCED v16" in repr(book)


def test_a_snapshot_older_than_the_stream_is_fetched_again_after_a_backoff() -> None:
    book = new_book()
    book.receive_diff(diff(20, 21), 1.0)
    request = book.snapshot_requested(1.0)
    book.snapshot_received(request, snapshot(18), 1.0)  # 19 is missing between
    (failed,) = drain(book)
    assert isinstance(failed, BookSnapshotFailed)
    assert failed.stale
    assert "older than the first buffered diff (20)" in failed.reason
    assert 0 <= failed.retry_in <= 0.5
    assert state_of(book) is BookState.BUFFERING
    assert book.next_deadline() == 1.0 + failed.retry_in
    assert book.stats.stale_snapshots == 1
    book.receive_diff(diff(22, 22), 1.0 + failed.retry_in)
    assert book.snapshot_due(1.0 + failed.retry_in)
    request = book.snapshot_requested(1.0 + failed.retry_in)
    book.snapshot_received(request, snapshot(19), 2.0)  # exactly before the first diff: fits
    assert book.synced
    assert book.version == 22


def test_right_after_the_snapshot_old_diffs_are_dropped_and_a_straddling_one_applies() -> None:
    book = new_book()
    book.receive_diff(diff(5, 5), 0.0)
    request = book.snapshot_requested(0.0)
    book.snapshot_received(request, snapshot(9), 0.0)  # ahead of the stream
    assert book.version == 9
    drain(book)
    book.receive_diff(diff(6, 7), 0.1)  # the snapshot holds it
    book.receive_diff(diff(8, 10, asks=(("100.50", "1"),)), 0.2)  # straddles 9
    assert drain(book) == [
        BookUpdated(symbol=SYMBOL, version=10, from_version=8, bids=(), asks=(item("100.50", "1"),))
    ]
    assert book.stats.held_by_snapshot == 2  # 5 from the buffer, 6..7 live
    assert book.next_event() is None
    # from now on only 11 is next: an old diff is an overlap, not "held"
    book.receive_diff(diff(9, 10), 0.3)
    gap, resync = drain(book)
    assert gap == BookGapDetected(
        symbol=SYMBOL, cause=BookBreak.OVERLAP, expected=11, from_version=9, to_version=10
    )
    assert resync == BookResyncStarted(symbol=SYMBOL, cause=BookBreak.OVERLAP, version=10)


def test_a_version_gap_clears_the_book_and_the_diff_after_it_starts_the_new_buffer() -> None:
    book = synced_book(10)
    book.receive_diff(diff(13, 14), 1.0)
    assert drain(book) == [
        BookGapDetected(
            symbol=SYMBOL, cause=BookBreak.VERSION_GAP, expected=11, from_version=13, to_version=14
        ),
        BookResyncStarted(symbol=SYMBOL, cause=BookBreak.VERSION_GAP, version=10),
    ]
    assert state_of(book) is BookState.BUFFERING
    assert book.buffered == 1
    assert len(book.levels) == 0
    assert book.snapshot_due(1.0)  # the first resync is immediate
    assert book.stats.resyncs == 1


def test_a_stream_gap_resyncs_a_synced_or_buffering_book_and_is_nothing_when_waiting() -> None:
    book = new_book()
    book.stream_gap(0.0)
    assert drain(book) == []
    book.receive_diff(diff(1, 1), 0.0)
    request = book.snapshot_requested(0.0)
    book.stream_gap(0.1)
    assert drain(book) == [
        BookGapDetected(symbol=SYMBOL, cause=BookBreak.STREAM_GAP),
        BookResyncStarted(symbol=SYMBOL, cause=BookBreak.STREAM_GAP, version=None),
    ]
    assert state_of(book) is BookState.WAITING
    book.snapshot_received(request, snapshot(1), 0.2)  # no longer waited for: ignored
    assert state_of(book) is BookState.WAITING
    assert drain(book) == []
    synced = synced_book(4)
    synced.stream_gap(1.0)
    assert [type(e) for e in drain(synced)] == [BookGapDetected, BookResyncStarted]
    assert state_of(synced) is BookState.WAITING


@pytest.mark.parametrize(("first", "last"), [("x", "5"), ("5", "4"), ("-2", "-1"), ("", "")])
def test_versions_that_are_not_numbers_are_a_break(first: str, last: str) -> None:
    book = synced_book(3)
    book.receive_diff(PublicAggreDepthsV3Api(from_version=first, to_version=last), 1.0)
    gap, resync = drain(book)
    assert isinstance(gap, BookGapDetected)
    assert gap.cause is BookBreak.INVALID_DATA
    assert isinstance(resync, BookResyncStarted)
    assert state_of(book) is BookState.WAITING


def test_bad_levels_in_a_diff_are_a_break_and_the_diff_is_not_kept() -> None:
    book = synced_book(3)
    book.receive_diff(diff(4, 4, bids=(("1e9", "1"),)), 1.0)
    gap, _ = drain(book)
    assert isinstance(gap, BookGapDetected)
    assert (gap.cause, gap.expected, gap.from_version) == (BookBreak.INVALID_DATA, 4, 4)
    assert state_of(book) is BookState.WAITING
    assert book.buffered == 0
    # bad data may come again: the next snapshot waits a little
    book.receive_diff(diff(5, 5), 2.0)
    deadline = book.next_deadline()
    assert deadline is not None
    assert deadline >= 2.0


def test_a_snapshot_that_is_not_a_book_is_asked_again() -> None:
    book = new_book()
    book.receive_diff(diff(1, 1), 0.0)
    request = book.snapshot_requested(0.0)
    book.snapshot_received(request, snapshot(1, bids=(("abc", "1"),)), 0.0)
    (failed,) = drain(book)
    assert isinstance(failed, BookSnapshotFailed)
    assert not failed.stale
    assert "not a book" in failed.reason
    assert state_of(book) is BookState.BUFFERING
    assert len(book.levels) == 0


def test_a_crossed_book_is_reported_and_rebuilt() -> None:
    book = synced_book(10)
    book.receive_diff(diff(11, 11, bids=(("101.00", "1"),)), 1.0)
    assert drain(book) == [
        BookCrossed(symbol=SYMBOL, version=11, best_bid="101.00", best_ask="101.00"),
        BookResyncStarted(symbol=SYMBOL, cause=BookBreak.CROSSED, version=11),
    ]
    assert state_of(book) is BookState.WAITING
    # crossed while replaying the buffer
    book.receive_diff(diff(12, 12, bids=(("105.00", "1"),)), 2.0)
    deadline = book.next_deadline()
    assert deadline is not None
    request = book.snapshot_requested(deadline)
    book.snapshot_received(request, snapshot(11), deadline)
    assert [type(e) for e in drain(book)] == [BookCrossed, BookResyncStarted]
    unchecked = synced_book(10, check_crossed=False)
    unchecked.receive_diff(diff(11, 11, bids=(("101.00", "1"),)), 1.0)
    assert unchecked.synced
    assert unchecked.levels.is_crossed()


def test_failed_snapshots_back_off_and_a_429_waits_at_least_retry_after() -> None:
    book = new_book(rate_limit_pause=7.0)
    book.receive_diff(diff(1, 1), 0.0)
    request = book.snapshot_requested(0.0)
    book.snapshot_failed(request, 0.0, "HTTP 503")
    (first,) = drain(book)
    assert isinstance(first, BookSnapshotFailed)
    assert first == BookSnapshotFailed(
        symbol=SYMBOL, reason="HTTP 503", stale=False, retry_in=first.retry_in
    )
    assert not book.snapshot_due(0.0) or first.retry_in == 0
    request = book.snapshot_requested(first.retry_in)
    book.snapshot_failed(request, 1.0, "HTTP 429", rate_limited=True, retry_after=30.0)
    (limited,) = drain(book)
    assert isinstance(limited, BookSnapshotFailed)
    assert limited.retry_in == 30.0
    assert book.next_deadline() == 31.0
    request = book.snapshot_requested(31.0)
    book.snapshot_failed(request, 31.0, "HTTP 429", rate_limited=True)
    (paused,) = drain(book)
    assert isinstance(paused, BookSnapshotFailed)
    assert paused.retry_in == 7.0
    book.snapshot_failed(request, 31.0, "late")  # no longer waited for
    assert drain(book) == []
    assert book.stats.failed_snapshots == 3
    assert book.stats.snapshots == 3


def test_the_buffer_is_bounded_and_restarts_at_a_hole() -> None:
    book = new_book(max_buffer=3)
    for version in range(1, 6):
        book.receive_diff(diff(version, version), 0.0)
    assert book.buffered == 3
    assert book.stats.dropped_overflow == 2
    book.receive_diff(diff(9, 9), 0.0)  # a hole: the buffer starts again
    assert book.buffered == 1
    request = book.snapshot_requested(0.0)
    book.snapshot_received(request, snapshot(5), 0.0)  # older than 9 - 1
    (failed,) = drain(book)
    assert isinstance(failed, BookSnapshotFailed)
    assert failed.stale


def test_misuse_is_refused() -> None:
    book = new_book()
    with pytest.raises(StateError):
        book.snapshot_requested(0.0)  # nothing buffered
    book.receive_diff(diff(1, 1), 5.0)
    with pytest.raises(ClockError):
        book.receive_diff(diff(2, 2), 4.0)
    book.close()
    book.close()
    assert state_of(book) is BookState.CLOSED
    assert book.buffered == 0
    with pytest.raises(StateError):
        book.receive_diff(diff(2, 2), 6.0)
    with pytest.raises(StateError):
        book.stream_gap(6.0)
    for bad in (
        {"limit": 0},
        {"limit": 5001},
        {"limit": 1.5},
        {"max_buffer": 0},
        {"rate_limit_pause": -1.0},
        {"rate_limit_pause": float("nan")},
    ):
        with pytest.raises(InvalidConfig):
            BookConfig(**bad)
    assert BookConfig().retry == Backoff(initial=0.5, cap=30.0)


def test_views_are_copies_of_the_best_levels_at_the_event_s_version() -> None:
    book = new_book(view_depth=1)
    book.receive_diff(diff(5, 5), 0.0)
    request = book.snapshot_requested(0.0)
    book.snapshot_received(request, snapshot(5, bids=(("99", "1"), ("98", "2"))), 0.0)
    (synced,) = drain(book)
    assert isinstance(synced, BookSynced)
    assert synced.view == BookView(SYMBOL, 5, (Level("99", "1"),), (Level("101.00", "2"),))
    book.receive_diff(diff(6, 6, bids=(("99.5", "3"),)), 0.1)
    book.receive_diff(diff(7, 7, bids=(("99.5", "0"),)), 0.2)
    first, second = drain(book)
    assert isinstance(first, BookUpdated)
    assert isinstance(second, BookUpdated)
    assert first.view is not None
    assert first.view.bids == (Level("99.5", "3"),)  # as it was at version 6
    assert second.view is not None
    assert second.view.bids == (Level("99", "1"),)
    assert synced_book(3).stats.held_by_snapshot == 1
    with pytest.raises(InvalidConfig):
        BookConfig(view_depth=-1)


# ---------------------------------------------------------------- the top of the book


def limit(
    version: str, bids: tuple[tuple[str, str], ...], asks: tuple[tuple[str, str], ...] = ()
) -> PublicLimitDepthsV3Api:
    return PublicLimitDepthsV3Api(
        bids=tuple(PublicLimitDepthV3ApiItem(price=p, quantity=q) for p, q in bids),
        asks=tuple(PublicLimitDepthV3ApiItem(price=p, quantity=q) for p, q in asks),
        version=version,
    )


def test_the_top_book_keeps_the_newest_push_and_nothing_else() -> None:
    assert TopBook(SYMBOL).view is None
    top = TopBook(SYMBOL)
    first = top.update(limit("10", (("99", "1"), ("98.5", "2")), (("101", "3"),)))
    assert first == BookView(
        SYMBOL, 10, (Level("99", "1"), Level("98.5", "2")), (Level("101", "3"),)
    )
    assert top.update(limit("9", (("97", "1"),))) is None  # older: ignored
    assert top.update(limit("10", (("97", "1"),))) is None  # a copy
    assert top.stale == 2
    assert top.view == first
    with pytest.raises(InvalidLevel, match="version 'x'"):
        top.update(limit("x", ()))
    with pytest.raises(InvalidLevel, match="price"):
        top.update(limit("11", (("9e9", "1"),)))
    assert top.view == first
    second = top.update(limit("12", (("98", "4"),)))
    assert second is not None
    assert second.bids == (Level("98", "4"),)
    assert "TopBook BTCUSDT v12 stale=2" in repr(top)
    assert "v None" not in repr(TopBook(SYMBOL))
