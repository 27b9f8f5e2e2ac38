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
type and plugin hook; ``SEP`` is the ``@`` between a topic's parts;
:func:`body_type` gives the record class a channel's pushes carry. Everything here
is generated from ``codegen/channels.toml``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Final

from mexc_core._generated import channels as _generated
from mexc_core._generated.channels import *  # noqa: F403 - the generated channels are the API
from mexc_core._generated.channels import (
    BY_NAME,
    BY_PREFIX,
    CHANNELS,
    RETIRED,
    TOPIC_TYPES,
    AnyTopic,
)
from mexc_core._generated.records import RECORD_TYPES, Record
from mexc_core._topics import SEP as SEP
from mexc_core._topics import ChannelSpec as ChannelSpec
from mexc_core._topics import Param as Param
from mexc_core._topics import ParamKind as ParamKind
from mexc_core._topics import Topic as Topic
from mexc_core.errors import ArgumentTypeError
from mexc_core.errors import InvalidTopic as InvalidTopic

# concatenated, not unpacked: mypy and ruff's __all__ checks both read this form
__all__ = _generated.__all__ + (  # noqa: RUF005
    "SEP",
    "ChannelSpec",
    "InvalidTopic",
    "Param",
    "ParamKind",
    "Topic",
    "body_type",
    "format_topic",
    "parse",
    "spec_of",
    "topic_names",
)


#: The record class of each channel's bodies, by channel prefix.
_BODY_TYPES: Final[Mapping[str, type[Record]]] = MappingProxyType(
    {spec.prefix: RECORD_TYPES[spec.message] for spec in CHANNELS}
)


def body_type(topic: str) -> type[Record] | None:
    """The record class the pushes of ``topic``'s channel carry, from its prefix;
    ``None`` when the prefix is no channel this schema knows.

    >>> body_type("spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT").__name__
    'PublicAggreDealsV3Api'
    >>> body_type("spot@private.orders.v3.api.pb").__name__
    'PrivateOrdersV3Api'
    >>> body_type("spot@public.future.v3.api.pb@BTCUSDT") is None
    True
    """
    return _BODY_TYPES.get(SEP.join(topic.split(SEP, 2)[:2]))


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


def topic_names(topics: Iterable[str | Topic], *, validate: bool = True) -> list[str]:
    """Topics as strings, without repeats, in their first order.

    Every command that takes topics (session, pool, client) reads them through
    this one function, so they all accept the same things: typed topics and topic
    strings, in any collection but a single string.

    >>> kline = "spot@public.kline.v3.api.pb@BTCUSDT@Min1"
    >>> topic_names([Kline(symbol="BTCUSDT", interval="Min1"), kline])
    ['spot@public.kline.v3.api.pb@BTCUSDT@Min1']

    :param validate: parse every string (an unsubscribe need not: a topic that is
        not held is refused anyway).
    :raises ArgumentTypeError: ``topics`` is one topic (not a collection), or holds
        something that is no topic.
    :raises InvalidTopic: with ``validate``, a string is not a topic MEXC accepts.
    """
    if isinstance(topics, str | Topic):
        raise ArgumentTypeError(
            f"topics must be a collection of topics (str or Topic), not one "
            f"{type(topics).__name__}; wrap it in a list: [{str(topics)!r}]"
        )
    if isinstance(topics, bytes | bytearray | memoryview):
        raise ArgumentTypeError(
            f"topics must be a collection of topics (str or Topic), not "
            f"{type(topics).__name__}; decode it and wrap it in a list"
        )
    if isinstance(topics, Mapping) or not isinstance(topics, Iterable):
        raise ArgumentTypeError(
            f"topics must be a collection of topics (str or Topic), not {type(topics).__name__}"
        )
    names: dict[str, None] = {}
    for index, item in enumerate(topics):
        topic: object = item  # the annotation is what callers should pass, not a fact
        if isinstance(topic, Topic):
            names[str(topic)] = None
        elif type(topic) is str:
            if validate:
                parse(topic)
            names[topic] = None
        else:
            raise ArgumentTypeError(
                f"topics[{index}] must be a str or Topic, not {type(topic).__name__}"
                + ("; decode it first" if isinstance(topic, bytes | bytearray) else "")
            )
    return list(names)
