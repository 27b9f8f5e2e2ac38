"""The reference model: betterproto2 classes generated from the same ``proto/``.

These dataclasses are the schema's typed reference: encode and decode them with
betterproto2 (``bytes(msg)``, ``Msg.parse(data)``), convert to and from the hot-path
records with :func:`to_reference` / :func:`from_reference`, and use them as the
oracle in property tests. They are far slower than :func:`mexc_core.wire.decode_push`
(see ``bench/``) and are not used on the hot path.
"""

from __future__ import annotations

from mexc_core._generated.betterproto.mexccore.push.v3 import (
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
    PushDataV3ApiWrapper,
)
from mexc_core._generated.convert import (
    from_reference,
    push_from_reference,
    push_to_reference,
    to_reference,
)

__all__ = (
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
    "PushDataV3ApiWrapper",
    "from_reference",
    "push_from_reference",
    "push_to_reference",
    "to_reference",
)
