"""The pluggy markers of the ``mexc`` hook namespace."""

from __future__ import annotations

from typing import Final

import pluggy

__all__ = ("PROJECT", "hookimpl", "hookspec")

#: The pluggy project name; entry points are looked up in the group ``mexc.plugins``.
PROJECT: Final = "mexc"

hookspec: Final = pluggy.HookspecMarker(PROJECT)
hookimpl: Final = pluggy.HookimplMarker(PROJECT)
