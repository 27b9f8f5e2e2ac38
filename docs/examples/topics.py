"""Typed topics: build, parse and validate MEXC channel names.

Run it with ``uv run python docs/examples/topics.py``.
"""

from __future__ import annotations

from mexc_core.channels import (
    BY_BODY_NUMBER,
    BY_NAME,
    Account,
    AggreDepth,
    Kline,
    LimitDepth,
    format_topic,
    parse,
    spec_of,
)
from mexc_core.errors import InvalidTopic


def typed_topics() -> None:
    # [build]
    # Parameters are keyword-only and typed: mypy rejects interval="1s" here.
    depth = AggreDepth(symbol="BTCUSDT", interval="10ms")
    print(f"{depth!r:50} -> {depth}")
    print(f"{AggreDepth(symbol='ETHUSDT')!r:50} -> default interval")
    print(f"{Kline(symbol='BTCUSDT', interval='Min15')!r:50} -> {Kline.spec.hook}")
    print(f"{LimitDepth(symbol='BTCUSDT', level=20)!r:50} -> {LimitDepth.body_type.__name__}")
    print(f"{Account()!r:50} -> private: {Account.spec.private}")
    # [/build]

    # [parse]
    # Strings from configuration or from MEXC's replies go through parse().
    topic = parse("spot@public.limit.depth.v3.api.pb@ETHUSDT@5")
    print(f"parsed:     {topic!r}")
    assert topic == LimitDepth(symbol="ETHUSDT", level=5)
    print(f"formatted:  {format_topic('kline', symbol='BTCUSDT', interval='Day1')}")
    spec = spec_of("spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT")
    print(f"spec_of:    {spec.name}: body {spec.body_field} ({spec.body_number}) -> {spec.hook}")
    print(f"registry:   BY_BODY_NUMBER[313] = {BY_BODY_NUMBER[313].name}")
    print(f"registry:   BY_NAME['kline'].message = {BY_NAME['kline'].message}")
    # [/parse]


def validation_errors() -> None:
    # [errors]
    bad = [
        "spot@public.aggre.deals.v3.api.pb@1s@BTCUSDT",  # interval not allowed
        "spot@public.aggre.deals.v3.api.pb@100ms@btcusdt",  # lower-case symbol
        "spot@public.aggre.deals.v3.api.pb@BTCUSDT",  # interval missing
        "spot@public.limit.depth.v3.api.pb@BTCUSDT@7",  # level not allowed
        "spot@public.deals.v3.api@BTCUSDT",  # retired JSON channel
    ]
    for text in bad:
        try:
            parse(text)
        except InvalidTopic as exc:
            print(f"{exc.part:9} allowed={exc.allowed[:3]}")
            print(f"          {exc}")
        else:
            raise AssertionError(text)
    try:
        format_topic("kline", symbol="BTCUSDT")  # no default for the candle width
    except InvalidTopic as exc:
        print(f"{exc.part:9} {exc}")
    # [/errors]


if __name__ == "__main__":
    typed_topics()
    validation_errors()
