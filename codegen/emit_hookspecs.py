"""Emit ``_generated/hookspecs.py``: one pluggy hook specification per channel."""

from __future__ import annotations

from codegen.table import Table
from codegen.writer import BANNER, Writer


def emit(table: Table) -> str:
    w = Writer()
    w(BANNER + '"""Per-channel plugin hook specifications (see :mod:`mexc_core.hookspecs`)."""', "")
    w("from __future__ import annotations", "")
    w("from typing import TYPE_CHECKING", "")
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
            w(":param body: ``push.body``, typed for this channel.")
            w('"""')
    return w.text()
