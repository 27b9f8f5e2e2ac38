"""The typed records that push bodies decode into, one per message of the schema.

Each is an immutable ``NamedTuple`` generated from ``proto/``: attributes are the
snake_case field names (``from_version``, ``last_order_create_time``), absent
fields take proto3 defaults (``""``, ``0``, ``False``, ``()``) and absent
``optional`` fields are ``None``. Prices and quantities stay strings, exactly as
MEXC sends them, and times stay integers.

Each record also has readable accessors, computed when read (never at decode
time): ``<field>_decimal`` gives a price, quantity or amount as an exact
:class:`~decimal.Decimal`, ``<field>_utc`` a time as an aware UTC
:class:`~datetime.datetime`, and documented codes read as enums
(``deal.side`` is a :class:`TradeSide`; ``order.order_kind`` an :class:`OrderType`,
``order.order_status`` an :class:`OrderStatus`, ``account.change_type`` an
:class:`AccountChangeType`). An accessor gives ``None`` (or the enum's ``UNKNOWN``)
instead of raising when the wire holds no usable value. ``ACCESSORS`` lists them
per record type; :doc:`/records` explains them.

``FIELDS`` describes every field of every record (proto name, number, kind),
``BODY_FIELDS`` the wrapper's body oneof, ``RECORD_TYPES`` maps message names to
record types. Everything here is re-exported from ``mexc_core._generated.records``,
so a message added to ``proto/`` appears here on regeneration.
"""

from __future__ import annotations

from mexc_core._generated import records as _records
from mexc_core._generated.records import *  # noqa: F403 - the generated records are the API

__all__ = _records.__all__
