"""The reference model: betterproto2 classes generated from the same ``proto/``.

These dataclasses are the schema's typed reference: encode and decode them with
betterproto2 (``bytes(msg)``, ``Msg.parse(data)``), convert to and from the hot-path
records with :func:`to_reference` / :func:`from_reference`, and use them as the
oracle in property tests. They are far slower than :func:`mexc_core.wire.decode_push`
(see ``bench/``) and are not used on the hot path.
"""

from __future__ import annotations

from mexc_core._generated import convert as _convert
from mexc_core._generated.betterproto.mexccore.push import v3 as _v3
from mexc_core._generated.betterproto.mexccore.push.v3 import *  # noqa: F403 - generated API
from mexc_core._generated.convert import *  # noqa: F403 - generated API

__all__ = _v3.__all__ + _convert.__all__
