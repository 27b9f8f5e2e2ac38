"""How long each channel may stay silent before the pool treats it as lost.

Theory of operation
===================

A connection can live (PONGs come back) while one of its streams has stopped:
the server dropped the subscription, or a stream of its own is stuck. The
connection pool (:mod:`mexc_core.client.pool`) watches every topic it carries
with a *silence limit*: no push of the topic for that long, since its last push
or its subscription, makes it report :class:`~mexc_core.events.TopicSilent` and
replace the link (``docs/faults.rst`` section 2).

The limit of a topic is, first match wins:

1. an override for the whole topic in ``PoolConfig.silence``;
2. an override for its channel's short name (``"aggre_deals"``) there;
3. the channel's default below, unless ``PoolConfig.silence_defaults`` is off.

``None`` means not watched. The defaults are generous multiples of each
channel's cadence, and only channels that push on a timer whatever the market
does are watched by default: a kline every second, a mini ticker every 3 s.
Channels that push only on change (trades, diff depth, book tickers, the
private streams, the changed-pairs ticker batch) may legitimately stay quiet on
an illiquid pair or an idle account, so they are opt-in: give them a limit of
your own when you know the pair is busy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from mexc_core.channels import spec_of
from mexc_core.errors import InvalidConfig

__all__ = ("DEFAULT_SILENCE", "check_overrides", "silence_limit")

#: The default silence limit of each channel, in seconds (``None``: not watched).
#: Every channel of the registry has an entry (a test checks it).
DEFAULT_SILENCE: Final[Mapping[str, float | None]] = MappingProxyType(
    {
        # pushed every second, trades or not (MEXC: "updated every second")
        "kline": 10.0,
        # one pair's ticker every 3 s
        "mini_ticker": 30.0,
        # pushed on change only: quiet on an illiquid pair or an idle account
        "mini_tickers": None,
        "aggre_deals": None,
        "aggre_depth": None,
        "limit_depth": None,
        "aggre_book_ticker": None,
        "book_ticker_batch": None,
        "account": None,
        "private_deals": None,
        "private_orders": None,
        "increase_depth_batch": None,
        "deals": None,
        "increase_depth": None,
        "book_ticker": None,
    }
)


def check_overrides(overrides: tuple[tuple[str, float | None], ...]) -> None:
    """Check ``PoolConfig.silence``: pairs of a channel name or topic and a limit.

    :raises InvalidConfig: not such pairs, or a limit that is not a positive
        finite number of seconds or ``None``.
    """
    if type(overrides) is not tuple:
        raise InvalidConfig(
            f"silence must be a tuple of (channel or topic, seconds) pairs, got {overrides!r}",
            setting="silence",
        )
    for pair in overrides:
        if type(pair) is not tuple or len(pair) != 2 or type(pair[0]) is not str:
            raise InvalidConfig(
                f"silence entries are (channel or topic, seconds) pairs, got {pair!r}",
                setting="silence",
            )
        limit = pair[1]
        if limit is not None and (
            type(limit) not in (int, float) or not math.isfinite(limit) or limit <= 0
        ):
            raise InvalidConfig(
                f"the silence limit of {pair[0]!r} must be a positive number of seconds "
                f"or None, got {limit!r}",
                setting="silence",
            )


def silence_limit(
    topic: str, overrides: Mapping[str, float | None], *, defaults: bool = True
) -> float | None:
    """The silence limit of ``topic`` (see the module docstring), or ``None``."""
    if topic in overrides:
        return overrides[topic]
    name = spec_of(topic).name
    if name in overrides:
        return overrides[name]
    return DEFAULT_SILENCE.get(name) if defaults else None
