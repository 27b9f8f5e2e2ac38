"""Channels: every template and every allowed value round-trips; bad topics say why."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mexc_core import channels, errors
from mexc_core.channels import (
    CHANNELS,
    AggreDeals,
    AggreDepth,
    ChannelSpec,
    InvalidTopic,
    Kline,
    LimitDepth,
    MiniTickers,
    format_topic,
    parse,
    spec_of,
)
from mexc_core.messages import BODY_FIELDS, RECORD_TYPES
from mexc_core.testing import strategies as mst

SYMBOLS = ("BTCUSDT", "ETHUSDT", "MXUSDT", "1INCHUSDT")


def _combinations(spec: ChannelSpec) -> list[dict[str, object]]:
    choices: list[tuple[object, ...]] = []
    for p in spec.params:
        if p.kind.pattern is not None:
            choices.append(SYMBOLS)
        else:
            choices.append(tuple(p.kind.from_text(v) for v in p.kind.values))
    names = [p.name for p in spec.params]
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*choices)]


def test_the_registry_has_12_current_and_3_legacy_channels() -> None:
    assert len([c for c in CHANNELS if not c.legacy]) == 12
    assert [c.name for c in CHANNELS if c.legacy] == ["deals", "increase_depth", "book_ticker"]
    assert {c.body_number for c in CHANNELS} == {f.number for f in BODY_FIELDS}
    for c in CHANNELS:
        assert c.message in RECORD_TYPES
        assert c.hook == f"mexc_{c.name}_received"
        assert channels.TOPIC_TYPES[c.name].spec is c


@pytest.mark.parametrize("spec", CHANNELS, ids=[c.name for c in CHANNELS])
def test_every_allowed_value_round_trips(spec: ChannelSpec) -> None:
    topic_type = channels.TOPIC_TYPES[spec.name]
    combos = _combinations(spec)
    assert combos
    for values in combos:
        text = spec.format(**values)
        assert format_topic(spec.name, **values) == text
        topic = parse(text)
        assert type(topic) is topic_type
        assert topic == topic_type(**values)  # type: ignore[arg-type]
        assert str(topic) == text
        assert spec_of(text) is spec


def test_documented_examples() -> None:
    assert str(AggreDeals(symbol="BTCUSDT")) == "spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT"
    assert str(Kline(symbol="BTCUSDT", interval="Min15")) == (
        "spot@public.kline.v3.api.pb@BTCUSDT@Min15"
    )
    assert str(LimitDepth(symbol="BTCUSDT", level=5)) == (
        "spot@public.limit.depth.v3.api.pb@BTCUSDT@5"
    )
    assert str(MiniTickers(timezone="UTC+8")) == "spot@public.miniTickers.v3.api.pb@UTC+8"
    assert str(channels.Account()) == "spot@private.account.v3.api.pb"
    assert channels.PrivateOrders.spec.private
    assert AggreDepth.body_type.__name__ == "PublicAggreDepthsV3Api"


@pytest.mark.parametrize(
    ("topic", "part", "allowed_contains"),
    [
        ("spot@public.aggre.deals.v3.api.pb@1s@BTCUSDT", "interval", "100ms"),
        ("spot@public.kline.v3.api.pb@BTCUSDT@Min2", "interval", "Month1"),
        ("spot@public.limit.depth.v3.api.pb@BTCUSDT@15", "level", "20"),
        ("spot@public.limit.depth.v3.api.pb@BTCUSDT@05", "level", "5"),
        ("spot@public.miniTickers.v3.api.pb@UTC+14", "timezone", "UTC+12:45"),
        ("spot@public.aggre.deals.v3.api.pb@BTCUSDT", "shape", "{interval}"),
        ("spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT@x", "shape", "{symbol}"),
        ("spot@private.orders.v3.api.pb@BTCUSDT", "shape", "spot@private.orders.v3.api.pb"),
        ("spot@public.nope.v3.api.pb@BTCUSDT", "channel", "spot@public.kline.v3.api.pb"),
        ("spot@public.miniTicker.v3.api@BTCUSDT@UTC+0", "channel", "spot@public.miniTicker"),
        ("", "channel", "spot@public.kline.v3.api.pb"),
    ],
)
def test_bad_topics_name_the_part_and_the_allowed_values(
    topic: str, part: str, allowed_contains: str
) -> None:
    with pytest.raises(InvalidTopic) as info:
        parse(topic)
    assert info.value.part == part
    assert info.value.topic == topic
    assert any(allowed_contains in a for a in info.value.allowed)
    assert repr(topic) in str(info.value) or part == "channel"


def test_lower_case_symbols_are_refused_with_a_hint() -> None:
    with pytest.raises(InvalidTopic, match="upper case: 'BTCUSDT'") as info:
        parse("spot@public.aggre.depth.v3.api.pb@100ms@btcusdt")
    assert info.value.part == "symbol"
    with pytest.raises(InvalidTopic, match="symbol"):
        AggreDepth(symbol="btcusdt")


def test_an_invalid_symbol_gets_no_case_hint_when_upper_case_does_not_help() -> None:
    with pytest.raises(InvalidTopic) as info:
        parse("spot@public.aggre.depth.v3.api.pb@100ms@btc-usdt")
    assert info.value.part == "symbol"
    assert "MEXC wants" not in str(info.value)
    assert str(info.value).endswith("(must match [A-Z0-9]{2,32})")


def test_format_topic_takes_a_spec_as_well_as_a_name() -> None:
    spec = channels.TOPIC_TYPES["kline"].spec
    by_spec = format_topic(spec, symbol="BTCUSDT", interval="Min15")
    assert by_spec == format_topic("kline", symbol="BTCUSDT", interval="Min15")
    assert by_spec == "spot@public.kline.v3.api.pb@BTCUSDT@Min15"
    with pytest.raises(InvalidTopic) as info:
        format_topic(spec, symbol="BTCUSDT")
    assert info.value.part == "interval"


def test_retired_json_channel_names_the_replacement() -> None:
    with pytest.raises(InvalidTopic, match="retired JSON channel") as info:
        parse("spot@public.deals.v3.api@BTCUSDT")
    assert "aggre_deals" in str(info.value)


@pytest.mark.parametrize(
    ("make", "part"),
    [
        (lambda: AggreDepth(symbol="BTCUSDT", interval="1s"), "interval"),  # type: ignore[arg-type]
        (lambda: LimitDepth(symbol="BTCUSDT", level="5"), "level"),  # type: ignore[arg-type]
        (lambda: LimitDepth(symbol="BTCUSDT", level=True), "level"),  # type: ignore[arg-type]
        (lambda: Kline(symbol=5, interval="Min1"), "symbol"),  # type: ignore[arg-type]
        (lambda: format_topic("kline", symbol="BTCUSDT"), "interval"),
        (lambda: format_topic("kline", symbol="BTCUSDT", interval="Min1", x=1), "x"),
        (lambda: format_topic("nope"), "channel"),
        (lambda: spec_of(5), "channel"),  # type: ignore[arg-type]
    ],
)
def test_bad_parameters_raise_invalid_topic(make: object, part: str) -> None:
    with pytest.raises(InvalidTopic) as info:
        make()  # type: ignore[operator]
    assert info.value.part == part
    assert isinstance(info.value, ValueError)


def test_topics_are_frozen_and_hashable() -> None:
    topic = AggreDepth(symbol="BTCUSDT")
    with pytest.raises(AttributeError):
        topic.symbol = "ETHUSDT"  # type: ignore[misc]
    assert {topic, AggreDepth(symbol="BTCUSDT")} == {topic}


@given(mst.topics())
def test_strategy_topics_round_trip(topic: channels.AnyTopic) -> None:
    assert parse(str(topic)) == topic


@given(st.text())
def test_any_string_parses_or_raises_invalid_topic(text: str) -> None:
    try:
        topic = parse(text)
    except InvalidTopic:
        return
    assert str(topic) == text


@pytest.mark.parametrize("topics", [5, None, 3.5])
def test_topic_names_refuses_what_is_no_collection_with_a_typed_error(topics: object) -> None:
    with pytest.raises(errors.ArgumentTypeError, match="must be a collection of topics"):
        channels.topic_names(topics)  # type: ignore[arg-type]
