"""The readable accessors of the records: decimals, UTC times and documented codes.

Every accessor of every generated record works for any value a field can hold (the
shipped strategies draw the whole range), gives ``None`` or ``UNKNOWN`` instead of
raising, and agrees exactly with the wire value it reads.
"""

from __future__ import annotations

import enum
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import assert_type

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mexc_core._readable import EPOCH, decimal_or_none, iso_utc, utc_from_ms, utc_from_s
from mexc_core.events import Push
from mexc_core.messages import (
    ACCESSORS,
    FIELDS,
    RECORD_TYPES,
    WRAPPER_ACCESSORS,
    WRAPPER_FIELDS,
    Accessor,
    AccessorKind,
    AccountChangeType,
    OrderStatus,
    OrderType,
    PrivateAccountV3Api,
    PrivateDealsV3Api,
    PrivateOrdersV3Api,
    PublicAggreDealsV3ApiItem,
    PublicSpotKlineV3Api,
    Record,
    TradeSide,
)
from mexc_core.testing import strategies as mst

MS = timedelta(milliseconds=1)
TYPES = [RECORD_TYPES[name] for name in sorted(RECORD_TYPES)]
ALL = [(cls, acc) for cls in RECORD_TYPES.values() for acc in ACCESSORS[cls]]
DECIMALS = [(cls, acc) for cls, acc in ALL if acc.kind is AccessorKind.DECIMAL]
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def check_accessor(obj: object, acc: Accessor) -> None:
    """``acc`` read on ``obj`` has the right type and agrees with its raw field."""
    raw = getattr(obj, acc.field)
    value = getattr(obj, acc.name)
    if acc.kind is AccessorKind.DECIMAL:
        assert value is None or isinstance(value, Decimal)
        if value is not None:
            assert value.is_finite()
            assert isinstance(raw, str)
            assert value == Fraction(raw)  # exact: no rounding anywhere
        else:
            assert raw is None or decimal_or_none(raw) is None
    elif acc.kind in (AccessorKind.UTC_MS, AccessorKind.UTC_S):
        unit = MS if acc.kind is AccessorKind.UTC_MS else timedelta(seconds=1)
        assert value is None or isinstance(value, datetime)
        if value is not None:
            assert value.tzinfo is UTC
            assert (value - EPOCH) // unit == raw
            assert (value - EPOCH) % unit == timedelta(0)
        else:
            low = (datetime.min.replace(tzinfo=UTC) - EPOCH) // unit
            high = (datetime.max.replace(tzinfo=UTC) - EPOCH) // unit
            assert not raw or not low <= raw <= high
    else:
        assert acc.enum is not None
        assert type(value) is acc.enum
        documented = {m.value for m in acc.enum if m.name != "UNKNOWN"}
        if raw in documented:
            assert value == raw
            assert value.name != "UNKNOWN"
        else:
            assert value.name == "UNKNOWN"


# ---------------------------------------------------------------- every record


def test_every_record_type_lists_its_accessors() -> None:
    assert set(ACCESSORS) == set(RECORD_TYPES.values())
    assert [a.name for a in WRAPPER_ACCESSORS] == ["create_time_utc", "send_time_utc"]
    assert {a.field for a in WRAPPER_ACCESSORS} <= {f.attr for f in WRAPPER_FIELDS}


@pytest.mark.parametrize("cls", TYPES, ids=sorted(RECORD_TYPES))
def test_accessors_are_lazy_properties_not_fields(cls: type[Record]) -> None:
    """The hot path builds the tuple of wire fields only: accessors cost nothing there."""
    record = cls()
    assert len(record) == len(FIELDS[cls])
    for acc in ACCESSORS[cls]:
        assert isinstance(getattr(cls, acc.name), property), acc
        assert acc.name not in cls._fields
        assert acc.field in cls._fields


def test_the_naming_scheme() -> None:
    for _cls, acc in ALL:
        if acc.kind is AccessorKind.DECIMAL:
            assert acc.name == f"{acc.field}_decimal"
        elif acc.kind is not AccessorKind.ENUM:
            assert acc.name == f"{acc.field}_utc"
    enums = {(cls.__name__, acc.field): (acc.name, acc.enum) for cls, acc in ALL if acc.enum}
    assert enums == {
        ("PublicDealsV3ApiItem", "trade_type"): ("side", TradeSide),
        ("PublicAggreDealsV3ApiItem", "trade_type"): ("side", TradeSide),
        ("PrivateDealsV3Api", "trade_type"): ("side", TradeSide),
        ("PrivateOrdersV3Api", "trade_type"): ("side", TradeSide),
        ("PrivateOrdersV3Api", "order_type"): ("order_kind", OrderType),
        ("PrivateOrdersV3Api", "status"): ("order_status", OrderStatus),
        ("PrivateAccountV3Api", "type"): ("change_type", AccountChangeType),
    }


@pytest.mark.parametrize("cls", TYPES, ids=sorted(RECORD_TYPES))
@given(data=st.data())
def test_every_accessor_works_for_any_decoded_value(cls: type[Record], data: st.DataObject) -> None:
    record = data.draw(mst.records(cls, max_items=2))
    for acc in ACCESSORS[cls]:
        check_accessor(record, acc)


@given(mst.pushes(unknown_bodies=True, max_items=2))
def test_push_accessors_work_for_any_push(push: Push) -> None:
    for acc in WRAPPER_ACCESSORS:
        check_accessor(push, acc)


@given(mst.pushes(consistent=True, max_items=2))
def test_a_consistent_push_has_its_times(push: Push) -> None:
    assert push.send_time_utc is not None
    assert push.create_time_utc is not None
    assert push.send_time == (push.send_time_utc - EPOCH) // MS


# ---------------------------------------------------------------- decimals


@given(which=st.sampled_from(DECIMALS), text=mst.decimal_strings())
def test_decimal_round_trips_the_wire_string_exactly(
    which: tuple[type[Record], Accessor], text: str
) -> None:
    cls, acc = which  # every decimal accessor of every record: all share one conversion
    values: dict[str, object] = {acc.field: text}
    record = cls(**values)  # type: ignore[arg-type]
    value = getattr(record, acc.name)
    assert isinstance(value, Decimal)
    assert format(value, "f") == text
    check_accessor(record, acc)


_EXPONENTS = st.integers(-40, 40).map("e{}".format) | st.integers(0, 9).map("E+{}".format)


@given(
    sign=st.sampled_from(["", "+", "-"]),
    whole=st.from_regex(r"[0-9]{0,20}", fullmatch=True),
    frac=st.sampled_from(["", "."]) | st.from_regex(r"\.[0-9]{1,20}", fullmatch=True),
    exp=st.just("") | _EXPONENTS,
)
def test_decimal_reads_every_notation_exactly(sign: str, whole: str, frac: str, exp: str) -> None:
    text = f"{sign}{whole}{frac}{exp}"
    value = decimal_or_none(text)
    if any(c.isdigit() for c in whole + frac):
        assert value == Fraction(text)
    else:
        assert value is None  # "", "+", ".", "-e5": no digits, no number


@pytest.mark.parametrize(
    "text",
    [
        "",
        "NaN",
        "-Infinity",
        "inf",
        " 1",
        "1 ",
        "1_000",
        "\u0661",
        "0x10",
        "1e",
        "1e999999999999999999999",
    ],
)
def test_decimal_is_none_for_what_is_not_a_price(text: str) -> None:
    assert decimal_or_none(text) is None
    assert PrivateDealsV3Api(price=text).price_decimal is None


def test_decimal_examples() -> None:
    deal = PrivateDealsV3Api(price="3.6962", quantity="1", fee_amount="0.0003998377369698171")
    assert deal.price_decimal == Decimal("3.6962")
    assert deal.fee_amount_decimal is not None
    assert str(deal.fee_amount_decimal) == "0.0003998377369698171"
    assert deal.amount_decimal is None  # empty on the wire
    assert decimal_or_none("1E-8") == Decimal("0.00000001")
    assert decimal_or_none(None) is None
    assert PrivateOrdersV3Api().last_deal_quantity_decimal is None  # optional, absent


# ---------------------------------------------------------------- times


@given(st.integers(-62_135_596_800_000, 253_402_300_799_999).filter(bool))
def test_utc_equals_the_milliseconds(ms: int) -> None:
    moment = utc_from_ms(ms)
    assert moment is not None
    assert moment.tzinfo is UTC
    assert (moment - EPOCH) // MS == ms
    assert moment.microsecond % 1000 == 0
    assert ISO.fullmatch(iso_utc(moment))


@pytest.mark.parametrize(
    "ms", [0, None, -62_135_596_800_001, 253_402_300_800_000, 2**63 - 1, -(2**63)]
)
def test_utc_is_none_for_absent_or_impossible_times(ms: int | None) -> None:
    assert utc_from_ms(ms) is None
    assert utc_from_s(ms) is None


def test_utc_examples() -> None:
    deal = PublicAggreDealsV3ApiItem(time=1736409765051)
    assert deal.time_utc == datetime(2025, 1, 9, 8, 2, 45, 51000, tzinfo=UTC)
    assert iso_utc(deal.time_utc) == "2025-01-09T08:02:45.051Z"
    kline = PublicSpotKlineV3Api(window_start=1736410500, window_end=1736411400)
    assert kline.window_start_utc == datetime(2025, 1, 9, 8, 15, tzinfo=UTC)
    assert kline.window_end_utc == datetime(2025, 1, 9, 8, 30, tzinfo=UTC)
    assert utc_from_s(253_402_300_799) == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert utc_from_s(253_402_300_800) is None
    push = Push(channel="c", body=PublicSpotKlineV3Api(), create_time=1736410707571)
    assert push.create_time_utc == datetime(2025, 1, 9, 8, 18, 27, 571000, tzinfo=UTC)
    assert push.send_time_utc is None


# ---------------------------------------------------------------- enums


def test_enum_values_are_mexcs() -> None:
    """The values of MEXC's docs (user-data streams: tradeType, orderType, status)."""
    assert {m.name: m.value for m in TradeSide} == {"UNKNOWN": 0, "BUY": 1, "SELL": 2}
    assert {m.name: m.value for m in OrderType} == {
        "UNKNOWN": 0,
        "LIMIT_ORDER": 1,
        "POST_ONLY": 2,
        "IMMEDIATE_OR_CANCEL": 3,
        "FILL_OR_KILL": 4,
        "MARKET_ORDER": 5,
        "STOP_LIMIT": 100,
    }
    assert {m.name: m.value for m in OrderStatus} == {
        "UNKNOWN": 0,
        "NOT_TRADED": 1,
        "FULLY_TRADED": 2,
        "PARTIALLY_TRADED": 3,
        "CANCELED": 4,
        "PARTIALLY_CANCELED": 5,
    }
    assert AccountChangeType.UNKNOWN.value == ""
    assert AccountChangeType("CONTRACT_TRANSFER") is AccountChangeType.CONTRACT_TRANSFER
    assert len(AccountChangeType) == 13


@pytest.mark.parametrize("cls", [TradeSide, OrderType, OrderStatus, AccountChangeType])
@given(value=st.integers() | st.text() | st.none())
def test_unknown_codes_do_not_crash(cls: type[enum.Enum], value: object) -> None:
    member = cls(value)
    assert type(member) is cls
    if member.name == "UNKNOWN":
        assert value not in {m.value for m in cls if m.name != "UNKNOWN"}


def test_enum_examples() -> None:
    order = PrivateOrdersV3Api(order_type=5, trade_type=2, status=2)
    assert order.side is TradeSide.SELL
    assert order.order_kind is OrderType.MARKET_ORDER
    assert order.order_status is OrderStatus.FULLY_TRADED
    assert int(order.side) == order.trade_type == 2  # an IntEnum of the wire value
    future = PrivateOrdersV3Api(order_type=7, trade_type=3, status=9)
    assert future.side is TradeSide.UNKNOWN
    assert future.order_kind is OrderType.UNKNOWN
    assert future.order_status is OrderStatus.UNKNOWN
    assert future.trade_type == 3  # the raw field keeps the value
    assert PrivateAccountV3Api(type="SUGAR").change_type is AccountChangeType.SUGAR
    assert PrivateAccountV3Api(type="NEW_KIND").change_type is AccountChangeType.UNKNOWN
    assert PrivateAccountV3Api().change_type is AccountChangeType.UNKNOWN


def test_types_are_precise_for_mypy() -> None:
    """mypy checks these statically (``assert_type``); at run time they are no-ops."""
    deal = PublicAggreDealsV3ApiItem(price="1", trade_type=1, time=1)
    assert_type(deal.side, TradeSide)
    assert_type(deal.price_decimal, Decimal | None)
    assert_type(deal.time_utc, datetime | None)
    order = PrivateOrdersV3Api()
    assert_type(order.order_kind, OrderType)
    assert_type(order.order_status, OrderStatus)
    assert_type(order.last_deal_quantity_decimal, Decimal | None)
    assert_type(PrivateAccountV3Api().change_type, AccountChangeType)
    assert_type(PublicSpotKlineV3Api().window_start_utc, datetime | None)
    push = Push(channel="c", body=PublicSpotKlineV3Api())
    assert_type(push.send_time_utc, datetime | None)
    assert_type(push.create_time_utc, datetime | None)
