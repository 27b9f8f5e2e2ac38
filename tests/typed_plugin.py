"""A plugin as a newcomer writes one: typed hooks that trust their types.

It imports only what a plugin may (:mod:`mexc_core.hookspecs` and
:mod:`mexc_core.events`), is checked by ``mypy --strict`` (the repository's run,
and ``tests/test_stray_pushes.py`` on this file alone), and touches the
channel-specific attributes of each body without a check: ``body.deals`` of
aggregated deals, ``body.to_version`` of diff depth, ``body.closing_price`` of a
kline. If a hook were given a body of another type it would raise
``AttributeError`` (reported as a plugin failure), or worse, with a look-alike
(``PublicDealsV3Api`` also has ``deals``), compute nonsense silently; so it also
writes down the type of every body it is given, for the tests to compare.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

from mexc_core.events import Push, StrayPushReceived, StrayReason
from mexc_core.hookspecs import hookimpl, messages


class TypedPlugin:
    """Sums trades, follows depth versions and candles; counts strays by reason."""

    def __init__(self) -> None:
        self.volume = Decimal(0)
        self.trades = 0
        self.versions: dict[str, int] = {}
        self.closes: dict[str, Decimal] = {}
        self.pushes = 0
        #: ``(hook, channel prefix, body type name)`` of everything the push hooks got.
        self.seen: set[tuple[str, str, str]] = set()
        self.strays: Counter[StrayReason] = Counter()
        self.stray_topics: set[str] = set()

    def _saw(self, hook: str, push: Push) -> None:
        prefix = "@".join(push.channel.split("@", 2)[:2])
        self.seen.add((hook, prefix, type(push.body).__name__))

    @hookimpl
    def mexc_push_received(self, push: Push) -> None:
        self.pushes += 1
        self._saw("push", push)

    @hookimpl
    def mexc_aggre_deals_received(self, push: Push, body: messages.PublicAggreDealsV3Api) -> None:
        self._saw("deals", push)
        for deal in body.deals:
            self.volume += Decimal(deal.quantity)
            self.trades += 1

    @hookimpl
    def mexc_aggre_depth_received(self, push: Push, body: messages.PublicAggreDepthsV3Api) -> None:
        self._saw("depth", push)
        self.versions[push.channel] = int(body.to_version)

    @hookimpl
    def mexc_kline_received(self, push: Push, body: messages.PublicSpotKlineV3Api) -> None:
        self._saw("kline", push)
        self.closes[push.channel] = Decimal(body.closing_price)

    @hookimpl
    def mexc_push_stray(self, event: StrayPushReceived) -> None:
        self.strays[event.reason] += 1
        self.stray_topics.add(event.topic)


#: The message type each of the plugin's hooks may see, by channel prefix.
EXPECTED: dict[str, str] = {
    "spot@public.aggre.deals.v3.api.pb": "PublicAggreDealsV3Api",
    "spot@public.aggre.depth.v3.api.pb": "PublicAggreDepthsV3Api",
    "spot@public.kline.v3.api.pb": "PublicSpotKlineV3Api",
}
