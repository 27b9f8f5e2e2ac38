"""Plugin hook specifications of the ``mexc`` namespace.

Plugins implement any subset with the :data:`hookimpl` marker; the per-channel
hooks (``mexc_aggre_deals_received`` ...) are generated from the channel table, one
per channel, each receiving the whole :class:`~mexc_core.events.Push` and its typed
body. :func:`mexc_push_received` sees every push, whatever its channel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mexc_core._generated.hookspecs import (
    mexc_account_received,
    mexc_aggre_book_ticker_received,
    mexc_aggre_deals_received,
    mexc_aggre_depth_received,
    mexc_book_ticker_batch_received,
    mexc_book_ticker_received,
    mexc_deals_received,
    mexc_increase_depth_batch_received,
    mexc_increase_depth_received,
    mexc_kline_received,
    mexc_limit_depth_received,
    mexc_mini_ticker_received,
    mexc_mini_tickers_received,
    mexc_private_deals_received,
    mexc_private_orders_received,
)
from mexc_core._markers import PROJECT, hookimpl, hookspec

if TYPE_CHECKING:
    from mexc_core.events import Push

__all__ = (
    "PROJECT",
    "hookimpl",
    "hookspec",
    "mexc_account_received",
    "mexc_aggre_book_ticker_received",
    "mexc_aggre_deals_received",
    "mexc_aggre_depth_received",
    "mexc_book_ticker_batch_received",
    "mexc_book_ticker_received",
    "mexc_deals_received",
    "mexc_increase_depth_batch_received",
    "mexc_increase_depth_received",
    "mexc_kline_received",
    "mexc_limit_depth_received",
    "mexc_mini_ticker_received",
    "mexc_mini_tickers_received",
    "mexc_private_deals_received",
    "mexc_private_orders_received",
    "mexc_push_received",
)


@hookspec
def mexc_push_received(push: Push) -> None:
    """Any push arrived, on any channel (called before the channel's own hook).

    :param push: the decoded frame; ``push.body`` may be an
        :class:`~mexc_core.messages.UnknownBody` when MEXC added a body type.
    """
