"""Emit ``_generated/hookspecs.py``: one pluggy hook specification per channel.

Also a ``typing.Protocol`` mirror of them, ``ChannelHooks``: pluggy does not check
the types of hook implementations (pluggy #191), so :mod:`mexc_core.hookspecs`
keeps a typed mirror of every spec, and a test compares the two signatures.
"""

from __future__ import annotations

from codegen.table import Table
from codegen.writer import BANNER, Writer


def emit(table: Table) -> str:
    w = Writer()
    w(BANNER + '"""Per-channel plugin hook specifications (see :mod:`mexc_core.hookspecs`)."""', "")
    w("from __future__ import annotations", "")
    w("from typing import TYPE_CHECKING, Protocol", "")
    w("from mexc_core._markers import hookspec", "")
    with w.block("if TYPE_CHECKING:"):
        w("from mexc_core._generated.records import (")
        for row in sorted(table.channels, key=lambda r: r.body.message or ""):
            w(f"    {row.body.message},")
        w(")")
        w("from mexc_core.events import Push")
    w.blank()
    w(
        "__all__ = (",
        '    "ChannelHooks",',
        *[f"    {r.hook!r}," for r in sorted(table.channels, key=lambda r: r.hook)],
        ")",
    )
    for row in table.channels:
        shown = "@".join([row.prefix, *(f"<{p.name}>" for p in row.params)])
        w.blank(2)
        w("@hookspec")
        with w.block(f"def {row.hook}(push: Push, body: {row.body.message}) -> None:"):
            w(f'"""A push arrived on ``{shown}``.', "")
            w(f"{row.doc}", "")
            w(":param push: the whole frame: channel, symbol and MEXC's timestamps.")
            w(
                ":param body: ``push.body``, always of this type (a frame with another",
                "    body goes to ``mexc_push_stray``).",
            )
            w('"""')
    w.blank(2)
    with w.block("class ChannelHooks(Protocol):"):
        w('"""The per-channel hooks as a typed protocol: the specs above, as methods."""')
        for row in table.channels:
            w.blank()
            with w.block(f"def {row.hook}(self, push: Push, body: {row.body.message}) -> None:"):
                w(f'"""See :func:`mexc_core.hookspecs.{row.hook}`."""')
    return w.text()
