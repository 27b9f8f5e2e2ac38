"""The typed records that push bodies decode into, one per message of the schema.

Each is an immutable ``NamedTuple`` generated from ``proto/``: attributes are the
snake_case field names (``from_version``, ``last_order_create_time``), absent
fields take proto3 defaults (``""``, ``0``, ``False``, ``()``) and absent
``optional`` fields are ``None``. Prices and quantities stay strings, exactly as
MEXC sends them; convert with :class:`decimal.Decimal` where you do arithmetic.
"""

from __future__ import annotations

from mexc_core._generated.records import (
    BODY_FIELDS,
    FIELDS,
    RECORD_TYPES,
    WRAPPER_FIELDS,
    Body,
    FieldInfo,
    Record,
    PrivateAccountV3Api,
    PrivateDealsV3Api,
    PrivateOrdersV3Api,
    PublicAggreBookTickerV3Api,
    PublicAggreDealsV3Api,
    PublicAggreDealsV3ApiItem,
    PublicAggreDepthsV3Api,
    PublicAggreDepthV3ApiItem,
    PublicBookTickerBatchV3Api,
    PublicBookTickerV3Api,
    PublicDealsV3Api,
    PublicDealsV3ApiItem,
    PublicIncreaseDepthsBatchV3Api,
    PublicIncreaseDepthsV3Api,
    PublicIncreaseDepthV3ApiItem,
    PublicLimitDepthsV3Api,
    PublicLimitDepthV3ApiItem,
    PublicMiniTickersV3Api,
    PublicMiniTickerV3Api,
    PublicSpotKlineV3Api,
    UnknownBody,
    UnknownField,
)

__all__ = (
    "BODY_FIELDS",
    "FIELDS",
    "RECORD_TYPES",
    "WRAPPER_FIELDS",
    "Body",
    "FieldInfo",
    "Record",
    "PrivateAccountV3Api",
    "PrivateDealsV3Api",
    "PrivateOrdersV3Api",
    "PublicAggreBookTickerV3Api",
    "PublicAggreDealsV3Api",
    "PublicAggreDealsV3ApiItem",
    "PublicAggreDepthV3ApiItem",
    "PublicAggreDepthsV3Api",
    "PublicBookTickerBatchV3Api",
    "PublicBookTickerV3Api",
    "PublicDealsV3Api",
    "PublicDealsV3ApiItem",
    "PublicIncreaseDepthV3ApiItem",
    "PublicIncreaseDepthsBatchV3Api",
    "PublicIncreaseDepthsV3Api",
    "PublicLimitDepthV3ApiItem",
    "PublicLimitDepthsV3Api",
    "PublicMiniTickerV3Api",
    "PublicMiniTickersV3Api",
    "PublicSpotKlineV3Api",
    "UnknownBody",
    "UnknownField",
)
