"""Local order books: exact levels (:mod:`~mexc_core.book.levels`) kept in sync with
MEXC's diff-depth stream by a sans-IO machine (:mod:`~mexc_core.book.sync`)."""

from __future__ import annotations

from mexc_core.book.levels import BookView, Level, OrderBook, Side
from mexc_core.book.sync import (
    MAX_SNAPSHOT_LIMIT,
    BookConfig,
    BookInput,
    BookState,
    BookStats,
    LocalBook,
)
from mexc_core.book.top import TopBook

__all__ = (
    "MAX_SNAPSHOT_LIMIT",
    "BookConfig",
    "BookInput",
    "BookState",
    "BookStats",
    "BookView",
    "Level",
    "LocalBook",
    "OrderBook",
    "Side",
    "TopBook",
)
