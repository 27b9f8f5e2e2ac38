"""Hypothesis strategies for every message, push and topic of the MEXC schema.

They are derived from the generated schema metadata (:data:`mexc_core.messages.FIELDS`)
and channel registry, so they follow the schema when it changes. Use them to test
your own code against every shape MEXC can send::

    from hypothesis import given
    from mexc_core.testing import strategies as mst

    @given(mst.pushes())
    def test_my_handler_never_crashes(push): ...
"""

from __future__ import annotations

from typing import TypeVar, cast

from hypothesis import strategies as st

from mexc_core._generated.channels import TOPIC_TYPES
from mexc_core._topics import ChannelSpec, ParamKind
from mexc_core.channels import CHANNELS, AnyTopic
from mexc_core.events import Push
from mexc_core.messages import (
    BODY_FIELDS,
    FIELDS,
    RECORD_TYPES,
    Body,
    FieldInfo,
    Record,
    UnknownBody,
)

__all__ = (
    "bodies",
    "decimal_strings",
    "pushes",
    "records",
    "scalar_values",
    "symbols",
    "topic_strings",
    "topics",
)

R = TypeVar("R", bound=Record)
T = TypeVar("T")

_INT_RANGES = {"int32": 32, "int64": 64}


def scalar_values(kind: str) -> st.SearchStrategy[str | bool | int]:
    """Every value a field of this scalar kind can hold (``string`` is any Unicode)."""
    if kind == "string":
        return st.text()
    if kind == "bool":
        return st.booleans()
    bits = _INT_RANGES[kind]
    return st.integers(-(1 << (bits - 1)), (1 << (bits - 1)) - 1)


def decimal_strings() -> st.SearchStrategy[str]:
    """Decimal numbers as MEXC writes prices and quantities: plain notation, every digit
    kept (``"93220.00"``, ``"0.04438243"``, ``"-3"``).

    ``records()`` draws any text for string fields; use this where a test needs
    values that read as numbers (``record._replace(price=...)``).
    """
    numbers = st.decimals(allow_nan=False, allow_infinity=False, places=None)
    return numbers.map(lambda d: format(d, "f"))


def _field_values(info: FieldInfo, max_items: int) -> st.SearchStrategy[object]:
    if info.kind == "message":
        assert info.message is not None
        item = records(RECORD_TYPES[info.message], max_items=max_items)
        return st.lists(item, max_size=max_items).map(tuple)
    values = scalar_values(info.kind)
    return st.none() | values if info.optional else values


_RECORDS: dict[tuple[type, int], st.SearchStrategy[Record]] = {}


def records(cls: type[R], *, max_items: int = 4) -> st.SearchStrategy[R]:
    """Any record of type ``cls``: every field drawn over its whole value range.

    :param max_items: the most items drawn for a repeated field.
    """
    key = (cls, max_items)
    cached = _RECORDS.get(key)
    if cached is not None:
        # cached under ``cls`` itself, so it draws ``cls`` records
        return cast("st.SearchStrategy[R]", cached)
    infos: tuple[FieldInfo, ...] = FIELDS[cls]  # type: ignore[index]
    fields = {f.attr: _field_values(f, max_items) for f in infos}
    strategy = st.builds(cls, **fields)
    _RECORDS[key] = strategy
    return strategy


def _body_records(message: str, max_items: int) -> st.SearchStrategy[Body]:
    # the messages of the wrapper's body fields are the members of ``Body``
    return cast("st.SearchStrategy[Body]", records(RECORD_TYPES[message], max_items=max_items))


def bodies(*, max_items: int = 4) -> st.SearchStrategy[Body]:
    """Any body of a known type (one of the 15 wrapper body messages)."""
    choices = [_body_records(f.message, max_items) for f in BODY_FIELDS if f.message]
    return st.one_of(choices)


def symbols() -> st.SearchStrategy[str]:
    """Valid trading-pair symbols (upper case letters and digits)."""
    return st.from_regex(r"[A-Z][A-Z0-9]{1,11}", fullmatch=True)


def _kind_values(kind: ParamKind) -> st.SearchStrategy[str | int]:
    if kind.pattern is not None:
        return symbols()
    return st.sampled_from([kind.from_text(v) for v in kind.values])


def _topics_of(spec: ChannelSpec) -> st.SearchStrategy[AnyTopic]:
    values = {p.name: _kind_values(p.kind) for p in spec.params}
    return st.builds(TOPIC_TYPES[spec.name], **values)


def topics(*specs: ChannelSpec) -> st.SearchStrategy[AnyTopic]:
    """Valid typed topics of the given channels (all channels by default)."""
    return st.one_of([_topics_of(s) for s in (specs or CHANNELS)])


def topic_strings(*specs: ChannelSpec) -> st.SearchStrategy[str]:
    """Valid topic strings of the given channels (all channels by default)."""
    return topics(*specs).map(str)


def _optional(values: st.SearchStrategy[T]) -> st.SearchStrategy[T | None]:
    return st.none() | values


def pushes(
    *, consistent: bool = False, unknown_bodies: bool = False, max_items: int = 4
) -> st.SearchStrategy[Push]:
    """Any push frame MEXC could send, as a :class:`Push`.

    :param consistent: make the channel a valid topic of the body's channel and the
        symbol the topic's symbol, as MEXC does; otherwise any text.
    :param unknown_bodies: also draw :class:`UnknownBody` bodies (field >= 300).
    :param max_items: the most items drawn for a repeated field.
    """
    if consistent:
        return st.one_of([_consistent_push(spec, max_items) for spec in CHANNELS])
    body = bodies(max_items=max_items)
    if unknown_bodies:
        unknown = st.builds(
            UnknownBody,
            number=st.integers(316, 2**29 - 1).filter(lambda n: not 19000 <= n <= 19999),
            data=st.binary(max_size=64),
        )
        body = body | unknown
    return st.builds(
        Push,
        channel=st.text(),
        body=body,
        symbol=_optional(st.text()),
        symbol_id=_optional(st.text()),
        create_time=_optional(scalar_values("int64")),
        send_time=_optional(scalar_values("int64")),
        unknown_fields=st.just(()),
    )


def _consistent_push(spec: ChannelSpec, max_items: int) -> st.SearchStrategy[Push]:
    def build(topic: AnyTopic, body: Body, times: tuple[int, int]) -> Push:
        symbol = getattr(topic, "symbol", None)
        return Push(
            channel=str(topic),
            body=body,
            symbol=symbol,
            create_time=times[0],
            send_time=times[1],
        )

    ms = st.integers(1_600_000_000_000, 2_000_000_000_000)
    return st.builds(
        build,
        _topics_of(spec),
        _body_records(spec.message, max_items),
        st.tuples(ms, ms),
    )
