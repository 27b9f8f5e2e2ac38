"""The top of a book from MEXC's partial-depth stream: no snapshot, no procedure.

``spot@public.limit.depth.v3.api.pb@SYMBOL@(5|10|20)`` pushes the best 5, 10 or
20 levels per side whole, with a ``version``. Each push replaces the last, so a
:class:`TopBook` needs no REST snapshot and cannot drift: it only keeps the
newest push. A push older than the one held (a reordered pair, a copy from a
rotation's overlap) is ignored and counted; a push whose levels or version are
not numbers is refused with :class:`~mexc_core.errors.InvalidLevel` and changes
nothing.

For the whole book, exact at every version, use
:class:`~mexc_core.book.sync.LocalBook`.
"""

from __future__ import annotations

from typing import Final

from mexc_core.book.levels import OrderBook
from mexc_core.errors import InvalidLevel
from mexc_core.events import BookView
from mexc_core.messages import PublicLimitDepthsV3Api

__all__ = ("TopBook",)


class TopBook:
    """The newest top-N levels of one symbol (see the module docstring).

    :param symbol: the symbol, for the views.
    """

    def __init__(self, symbol: str) -> None:
        self.symbol: Final = symbol
        self.view: BookView | None = None
        #: Pushes ignored because they were older than the view held.
        self.stale = 0

    def __repr__(self) -> str:
        version = None if self.view is None else self.view.version
        return f"<TopBook {self.symbol} v{version} stale={self.stale}>"

    def update(self, body: PublicLimitDepthsV3Api) -> BookView | None:
        """Take a push; the new view, or ``None`` if the push was older than the view held.

        :raises InvalidLevel: the version, a price or a quantity is not a number
            (the view held does not change).
        """
        try:
            version = int(body.version)
        except ValueError:
            version = -1
        if version < 0:
            raise InvalidLevel(f"version {body.version!r} is not a number", value=body.version)
        if self.view is not None and version <= self.view.version:
            self.stale += 1
            return None
        levels = OrderBook(self.symbol)  # checks every level and orders them exactly
        levels.load(body.bids, body.asks, version)
        self.view = levels.view()
        return self.view
