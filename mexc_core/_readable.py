"""Conversions behind the readable accessors of the generated records.

The records keep MEXC's wire values (prices as strings, times as integers); the
generated properties (``deal.price_decimal``, ``deal.time_utc``, ``deal.side``) call
the functions here when they are read, never at decode time, so the hot path does
not pay for them. Every function is total: any value a field can hold gives a
result, ``None`` when the wire value carries no usable number or time.

Which field gets which accessor is decided in ``codegen/readable.toml``; the
generated :data:`~mexc_core.messages.ACCESSORS` lists them per record type.
"""

from __future__ import annotations

import enum
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Final, NamedTuple

__all__ = (
    "Accessor",
    "AccessorKind",
    "decimal_or_none",
    "iso_utc",
    "utc_from_ms",
    "utc_from_s",
)

#: A decimal number as MEXC writes one: ASCII digits, an optional sign, fraction
#: and exponent (Java's ``BigDecimal.toString`` may use the E notation). Python's
#: ``Decimal`` also accepts spaces, underscores, non-ASCII digits, ``NaN`` and
#: ``Infinity``; none of these is a price, so they read as ``None``.
_DECIMAL: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MS: Final = timedelta(milliseconds=1)
_S: Final = timedelta(seconds=1)
# The instants a datetime can hold, in ms and s since the epoch (years 1 to 9999).
_MIN_MS: Final = (datetime.min.replace(tzinfo=UTC) - EPOCH) // _MS
_MAX_MS: Final = (datetime.max.replace(tzinfo=UTC) - EPOCH) // _MS
_MIN_S: Final = (datetime.min.replace(tzinfo=UTC) - EPOCH) // _S
_MAX_S: Final = (datetime.max.replace(tzinfo=UTC) - EPOCH) // _S


class AccessorKind(enum.Enum):
    """What a readable accessor turns its wire field into."""

    #: A decimal string (price, quantity, amount, rate) as :class:`~decimal.Decimal`.
    DECIMAL = "decimal"
    #: Milliseconds since the epoch as a timezone-aware UTC :class:`~datetime.datetime`.
    UTC_MS = "utc_ms"
    #: Seconds since the epoch (kline windows) as a UTC :class:`~datetime.datetime`.
    UTC_S = "utc_s"
    #: A documented code (``tradeType``, ``status``) as a member of an enum.
    ENUM = "enum"


class Accessor(NamedTuple):
    """One readable accessor of a record type (see :data:`~mexc_core.messages.ACCESSORS`).

    :ivar name: the property's name, e.g. ``price_decimal``, ``time_utc``, ``side``.
    :ivar field: the wire field it reads, e.g. ``price``, ``time``, ``trade_type``.
    :ivar kind: what it converts the field into.
    :ivar enum: the enum type for :attr:`AccessorKind.ENUM`, else ``None``.
    """

    name: str
    field: str
    kind: AccessorKind
    enum: type[enum.Enum] | None = None


def decimal_or_none(text: str | None) -> Decimal | None:
    """The exact :class:`~decimal.Decimal` a wire string spells, or ``None``.

    ``None`` when the field is absent (``None``), empty (MEXC's "no value", e.g. an
    empty ask in a book ticker) or not a finite decimal number.
    The decimal keeps every digit of the string: ``format(d, "f")`` gives back a wire
    string in plain notation, ``"93220.00"`` included.

    >>> decimal_or_none("93220.00"), decimal_or_none(""), decimal_or_none("NaN")
    (Decimal('93220.00'), None, None)
    """
    if not text or _DECIMAL.fullmatch(text) is None:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:  # an exponent beyond what Decimal can hold
        return None


def utc_from_ms(ms: int | None) -> datetime | None:
    """Milliseconds since the epoch as an aware UTC datetime, or ``None``.

    ``None`` for an absent field (``None``), for 0 (proto3 cannot tell an absent time
    from zero, and MEXC never sends the epoch) and for instants a datetime cannot
    hold. The conversion is exact: no float is involved.

    >>> utc_from_ms(1736409765051)
    datetime.datetime(2025, 1, 9, 8, 2, 45, 51000, tzinfo=datetime.timezone.utc)
    """
    if not ms or not _MIN_MS <= ms <= _MAX_MS:
        return None
    return EPOCH + ms * _MS


def utc_from_s(seconds: int | None) -> datetime | None:
    """Seconds since the epoch as an aware UTC datetime, or ``None`` (as :func:`utc_from_ms`)."""
    if not seconds or not _MIN_S <= seconds <= _MAX_S:
        return None
    return EPOCH + seconds * _S


def iso_utc(moment: datetime) -> str:
    """An aware UTC datetime in ISO 8601 with milliseconds and ``Z``.

    >>> iso_utc(datetime(2025, 1, 9, 8, 2, 45, 51000, tzinfo=UTC))
    '2025-01-09T08:02:45.051Z'
    """
    return moment.isoformat(timespec="milliseconds").removesuffix("+00:00") + "Z"
