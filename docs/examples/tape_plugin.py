"""The plugin of the README: print every trade.

``tests/test_docs_examples.py`` registers it with pluggy and feeds it the trade
push of test vector V2 (``docs/protocol.rst``, "Wire test vectors"), as the
client would.
"""

from __future__ import annotations

# [plugin]
from mexc_core.events import Push
from mexc_core.hookspecs import hookimpl, messages


class Tape:
    @hookimpl
    def mexc_aggre_deals_received(self, push: Push, body: messages.PublicAggreDealsV3Api) -> None:
        for deal in body.deals:
            print(push.symbol, deal.price, deal.quantity)


# [/plugin]
