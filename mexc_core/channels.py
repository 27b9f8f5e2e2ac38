"""MEXC Spot V3 WebSocket channels: typed topics, parsing and formatting.

Each channel of MEXC's documentation is a frozen dataclass whose fields are the
topic's parameters, validated on construction; ``str()`` gives the topic string::

    >>> from mexc_core.channels import AggreDepth, parse
    >>> str(AggreDepth(symbol="BTCUSDT", interval="10ms"))
    'spot@public.aggre.depth.v3.api.pb@10ms@BTCUSDT'
    >>> parse("spot@public.limit.depth.v3.api.pb@ETHUSDT@20")
    LimitDepth(symbol='ETHUSDT', level=20)

A bad topic raises :class:`~mexc_core.errors.InvalidTopic` naming the bad part and
the allowed values. The registry (``CHANNELS``, ``BY_NAME``, ``BY_PREFIX``,
``BY_BODY_NUMBER``) maps each channel to its template, wrapper body field, message
type and plugin hook. Everything here is generated from ``codegen/channels.toml``.
"""

from __future__ import annotations

from mexc_core._generated.channels import (
    ACCOUNT,
    AGGRE_BOOK_TICKER,
    AGGRE_DEALS,
    AGGRE_DEPTH,
    BOOK_TICKER,
    BOOK_TICKER_BATCH,
    BY_BODY_NUMBER,
    BY_NAME,
    BY_PREFIX,
    CHANNELS,
    DEALS,
    INCREASE_DEPTH,
    INCREASE_DEPTH_BATCH,
    KIND_INTERVAL,
    KIND_KLINE_INTERVAL,
    KIND_LEVEL,
    KIND_SYMBOL,
    KIND_TIMEZONE,
    KLINE,
    LIMIT_DEPTH,
    MINI_TICKER,
    MINI_TICKERS,
    PRIVATE_DEALS,
    PRIVATE_ORDERS,
    RETIRED,
    TOPIC_TYPES,
    Account,
    AggreBookTicker,
    AggreDeals,
    AggreDepth,
    AnyTopic,
    BookTicker,
    BookTickerBatch,
    Deals,
    IncreaseDepth,
    IncreaseDepthBatch,
    Interval,
    Kline,
    KlineInterval,
    Level,
    LimitDepth,
    MiniTicker,
    MiniTickers,
    PrivateDeals,
    PrivateOrders,
    Timezone,
)
from mexc_core._topics import SEP, ChannelSpec, Param, ParamKind, Topic
from mexc_core.errors import InvalidTopic

__all__ = (
    "ACCOUNT",
    "AGGRE_BOOK_TICKER",
    "AGGRE_DEALS",
    "AGGRE_DEPTH",
    "BOOK_TICKER",
    "BOOK_TICKER_BATCH",
    "BY_BODY_NUMBER",
    "BY_NAME",
    "BY_PREFIX",
    "CHANNELS",
    "DEALS",
    "INCREASE_DEPTH",
    "INCREASE_DEPTH_BATCH",
    "KIND_INTERVAL",
    "KIND_KLINE_INTERVAL",
    "KIND_LEVEL",
    "KIND_SYMBOL",
    "KIND_TIMEZONE",
    "KLINE",
    "LIMIT_DEPTH",
    "MINI_TICKER",
    "MINI_TICKERS",
    "PRIVATE_DEALS",
    "PRIVATE_ORDERS",
    "RETIRED",
    "TOPIC_TYPES",
    "Account",
    "AggreBookTicker",
    "AggreDeals",
    "AggreDepth",
    "AnyTopic",
    "BookTicker",
    "BookTickerBatch",
    "ChannelSpec",
    "Deals",
    "IncreaseDepth",
    "IncreaseDepthBatch",
    "Interval",
    "InvalidTopic",
    "Kline",
    "KlineInterval",
    "Level",
    "LimitDepth",
    "MiniTicker",
    "MiniTickers",
    "Param",
    "ParamKind",
    "PrivateDeals",
    "PrivateOrders",
    "Timezone",
    "Topic",
    "format_topic",
    "parse",
    "spec_of",
)


def spec_of(topic: str) -> ChannelSpec:
    """The channel of a topic string, from its fixed prefix (parameters unchecked).

    :raises InvalidTopic: the prefix is no channel we know; for a channel MEXC
        retired, the message names its replacement.
    """
    if type(topic) is not str:
        raise InvalidTopic(f"a topic is a str, not {type(topic).__name__}", part="channel")
    parts = topic.split(SEP, 2)
    prefix = SEP.join(parts[:2])
    spec = BY_PREFIX.get(prefix)
    if spec is not None:
        return spec
    replacement = RETIRED.get(prefix)
    if replacement is not None:
        new = BY_NAME[replacement]
        raise InvalidTopic(
            f"{prefix!r} is a retired JSON channel (MEXC answers it with 'Blocked!'); "
            f"use {new.template!r} ({new.name})",
            topic=topic,
            part="channel",
            allowed=(new.prefix,),
        )
    allowed = tuple(BY_PREFIX)
    raise InvalidTopic(
        f"unknown channel {prefix!r} in {topic!r}; known channels: {', '.join(allowed)}",
        topic=topic,
        part="channel",
        allowed=allowed,
    )


def parse(topic: str) -> AnyTopic:
    """Parse and validate a topic string into its typed topic.

    :raises InvalidTopic: unknown or retired channel, wrong number of parts, or a
        parameter that is not allowed (the message names it and the allowed values).
    """
    spec = spec_of(topic)
    values = spec.parse_values(topic, topic.split(SEP))
    return TOPIC_TYPES[spec.name](**values)  # type: ignore[arg-type]


def format_topic(channel: str | ChannelSpec, /, **params: object) -> str:
    """Build a validated topic string from a channel (name or spec) and parameters.

    >>> format_topic("kline", symbol="BTCUSDT", interval="Min15")
    'spot@public.kline.v3.api.pb@BTCUSDT@Min15'

    :raises InvalidTopic: unknown channel, missing, unknown or disallowed parameters.
    """
    if isinstance(channel, ChannelSpec):
        return channel.format(**params)
    spec = BY_NAME.get(channel)
    if spec is None:
        raise InvalidTopic(
            f"unknown channel name {channel!r}; known: {', '.join(BY_NAME)}",
            part="channel",
            allowed=tuple(BY_NAME),
        )
    return spec.format(**params)
