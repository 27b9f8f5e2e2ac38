"""Emit ``_generated/enums.py``: the documented codes of ``codegen/readable.toml``.

Each becomes an ``enum.IntEnum`` (``int32`` codes) or ``enum.StrEnum`` (``string``
codes) with the documented members plus ``UNKNOWN``, whose value is the proto3
default. ``_missing_`` maps every other value to ``UNKNOWN``, so ``TradeSide(7)``
and ``TradeSide(None)`` never raise; the record's raw field keeps the value.
"""

from __future__ import annotations

from codegen.readable import Readable
from codegen.writer import BANNER, Writer


def emit(readable: Readable) -> str:
    w = Writer()
    w(BANNER + '"""The documented codes of MEXC\'s push messages, as enums."""', "")
    w("from __future__ import annotations", "")
    w("import enum", "")
    names = sorted(e.name for e in readable.enums)
    w("__all__ = (", *[f'    "{n}",' for n in names], ")")
    for spec in readable.enums:
        base = "enum.IntEnum" if spec.wire == "int32" else "enum.StrEnum"
        w.blank(2)
        with w.block(f"class {spec.name}({base}):"):
            w(f'"""{spec.doc}', "")
            w(
                f"``UNKNOWN`` ({spec.unknown!r}, the proto3 default) is an absent field or any",
                "value MEXC does not document: converting a value never raises.",
                '"""',
                "",
            )
            w("#: absent, or a value MEXC does not document")
            w(f"UNKNOWN = {spec.unknown!r}")
            for member in spec.members:
                w(f"#: {member.doc}")
                w(f"{member.name} = {member.value!r}")
            w("")
            w("@classmethod")
            with w.block(f"def _missing_(cls, value: object) -> {spec.name}:"):
                w("return cls.UNKNOWN")
    return w.text()
