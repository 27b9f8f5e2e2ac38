"""Plugin hook specifications of the ``mexc`` namespace.

Plugins implement any subset with the :data:`hookimpl` marker; the per-channel
hooks (``mexc_aggre_deals_received`` ...) are generated from the channel table, one
per channel, each receiving the whole :class:`~mexc_core.events.Push` and its typed
body. :func:`mexc_push_received` sees every push, whatever its channel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mexc_core._generated import hookspecs as _generated
from mexc_core._generated.hookspecs import *  # noqa: F403 - one generated hook per channel
from mexc_core._markers import PROJECT as PROJECT
from mexc_core._markers import hookimpl as hookimpl
from mexc_core._markers import hookspec

if TYPE_CHECKING:
    from mexc_core.events import Push

# concatenated, not unpacked: ruff's __all__ check reads this form
__all__ = _generated.__all__ + ("PROJECT", "hookimpl", "hookspec", "mexc_push_received")  # noqa: RUF005


@hookspec
def mexc_push_received(push: Push) -> None:
    """Any push arrived, on any channel (called before the channel's own hook).

    :param push: the decoded frame; ``push.body`` may be an
        :class:`~mexc_core.messages.UnknownBody` when MEXC added a body type.
    """
