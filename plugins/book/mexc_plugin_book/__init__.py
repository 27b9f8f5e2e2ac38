"""mexc-plugin-book: local order books of configured symbols, readable by other plugins.

Written as a third-party plugin: it imports only :mod:`mexc_core.hookspecs` and
:mod:`mexc_core.events`, and mexc-core finds it through the ``mexc.plugins`` entry
point ``book``. It stays quiet unless the application passes
``options={"book": {"symbols": [...]}}`` to the client; it then asks the client to
keep each book (``ClientContext.watch_book``) and keeps the latest view each book
event carries.

A view (:class:`~mexc_core.events.BookView`) is an immutable copy of the best
levels at one version; :meth:`BookPlugin.view` returns the newest one, or ``None``
while the book is not exact (before its first sync, and from a resync until the
next sync).
"""

from __future__ import annotations

from collections.abc import Mapping

from mexc_core.events import BookResyncStarted, BookSynced, BookUpdated, BookView
from mexc_core.hookspecs import ClientContext, hookimpl

__all__ = ("BookOptionsError", "BookPlugin", "plugin")

__version__ = "0.1.0.dev0"

_INTERVALS = ("100ms", "10ms")


class BookOptionsError(ValueError):
    """The ``book`` options are not what the plugin understands."""


class BookPlugin:
    """The plugin (one instance, :data:`plugin`, is registered by the entry point)."""

    def __init__(self) -> None:
        self.symbols: tuple[str, ...] = ()
        self.updates = 0
        self.resyncs = 0
        self._views: dict[str, BookView | None] = {}

    def view(self, symbol: str) -> BookView | None:
        """The newest exact view of ``symbol``'s book, or ``None`` while it is not exact.

        :raises KeyError: ``symbol`` is not one the plugin keeps.
        """
        if symbol not in self._views:
            raise KeyError(f"the book plugin keeps {list(self._views)}, not {symbol!r}")
        return self._views[symbol]

    def synced(self, symbol: str) -> bool:
        """Whether ``symbol``'s book is exact now (as far as the events have told)."""
        return self.view(symbol) is not None

    # ------------------------------------------------------------ client hooks

    @hookimpl
    def mexc_client_started(self, context: ClientContext) -> None:
        """Read the options and ask the client to keep each book."""
        options = context.options.get("book")
        if options is None:
            return
        symbols, interval = _parse(options)
        self.symbols = symbols
        self._views = dict.fromkeys(symbols)
        for symbol in symbols:
            context.watch_book(symbol, interval=interval)

    @hookimpl
    def mexc_book_synced(self, event: BookSynced) -> None:
        """A book is exact: keep its view."""
        if event.symbol in self._views:
            self._views[event.symbol] = event.view

    @hookimpl
    def mexc_book_updated(self, event: BookUpdated) -> None:
        """A diff applied: keep the new view."""
        if event.symbol in self._views:
            self.updates += 1
            self._views[event.symbol] = event.view

    @hookimpl
    def mexc_book_resync(self, event: BookResyncStarted) -> None:
        """A book is rebuilt: no view until it is exact again."""
        if event.symbol in self._views:
            self.resyncs += 1
            self._views[event.symbol] = None


def _parse(options: object) -> tuple[tuple[str, ...], str]:
    if not isinstance(options, Mapping):
        raise BookOptionsError('options["book"] must be a mapping such as {"symbols": ["BTCUSDT"]}')
    symbols = options.get("symbols")
    if (
        not isinstance(symbols, list | tuple)
        or not symbols
        or not all(isinstance(s, str) for s in symbols)
    ):
        raise BookOptionsError('options["book"]["symbols"] must be a non-empty list of symbols')
    interval = options.get("interval", "100ms")
    if interval not in _INTERVALS:
        raise BookOptionsError(f'options["book"]["interval"] must be one of {_INTERVALS}')
    return tuple(dict.fromkeys(symbols)), str(interval)


#: The instance the ``mexc.plugins`` entry point registers.
plugin = BookPlugin()
