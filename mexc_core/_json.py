"""JSON as a type: what ``json.loads`` can return, so no ``Any`` leaks from it.

Every JSON document the core reads (MEXC's control frames, REST bodies) goes
through :func:`loads`, and every field read from it is checked and narrowed
where it is read (``isinstance``), never assumed.
"""

from __future__ import annotations

import json
from typing import TypeAlias, cast

__all__ = ("JSON", "JSONObject", "loads")

#: Any JSON value.
JSON: TypeAlias = "dict[str, JSON] | list[JSON] | str | int | float | bool | None"
#: A JSON object.
JSONObject: TypeAlias = "dict[str, JSON]"


def loads(text: str | bytes | bytearray) -> JSON:
    """``json.loads``, typed.

    :raises ValueError: not JSON (``json.JSONDecodeError`` is one).
    :raises RecursionError: nested deeper than the interpreter allows.
    """
    return cast("JSON", json.loads(text))
