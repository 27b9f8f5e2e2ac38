"""Events: frozen, slotted, keyword-only records of what happened.

Inbound facts are named in the past tense; the exception is :class:`Push`, the
one event on the hot path, named after what it is (and built as a tuple:
see there). Events are built complete and
never change; containers inside them are tuples, so events hash and compare.
"""

from __future__ import annotations

from typing import NamedTuple, final

from mexc_core._generated.records import Body, UnknownField

__all__ = ("Event", "Push")


class Event:
    """Base class of every event of mexc-core."""

    __slots__ = ()


class _PushFields(NamedTuple):
    channel: str
    body: Body
    symbol: str | None
    symbol_id: str | None
    create_time: int | None
    send_time: int | None
    unknown_fields: tuple[UnknownField, ...]


@final
class Push(_PushFields, Event):
    """One binary push frame from MEXC, decoded.

    The frame is a ``PushDataV3ApiWrapper``; its body is the record of the channel's
    message type (:mod:`mexc_core.messages`), or :class:`~mexc_core.messages.UnknownBody`
    for a body type this schema does not know.

    :ivar channel: the full channel, e.g. ``spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT``.
    :ivar body: the decoded body record.
    :ivar symbol: the trading pair, or ``None`` when absent on the wire.
    :ivar symbol_id: MEXC's id of the pair, or ``None``.
    :ivar create_time: when MEXC generated the message (ms since the epoch), or ``None``.
    :ivar send_time: when MEXC pushed it (ms since the epoch), or ``None``.
    :ivar unknown_fields: fields anywhere in the frame that the schema does not
        know: MEXC changed the schema. Empty in the normal case.

    Unlike the other events, :class:`Push` is an immutable tuple (a ``NamedTuple``
    with ``__slots__ = ()``) rather than a frozen dataclass: it is built once per
    frame on the hot path, and a frozen dataclass costs about 15 times as much to
    build (measured: 3.1 us against 0.2 us on the CI machine). Construct it with
    keywords; ``push._replace(...)`` gives a modified copy.
    """

    __slots__ = ()

    def __new__(
        cls,
        *,
        channel: str,
        body: Body,
        symbol: str | None = None,
        symbol_id: str | None = None,
        create_time: int | None = None,
        send_time: int | None = None,
        unknown_fields: tuple[UnknownField, ...] = (),
    ) -> Push:
        return tuple.__new__(
            cls, (channel, body, symbol, symbol_id, create_time, send_time, unknown_fields)
        )
