"""Exact fixed-point numbers of the simulator: scaled integers and their strings.

Prices are integer ticks and quantities integer lots, each with a number of
decimals fixed per market; amounts (price x quantity) are integers with both
scales added. MEXC sends every number as a decimal string, so the only place a
number becomes text is here, and the only arithmetic is integer arithmetic.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Final

__all__ = ("from_text", "rate_text", "scaled_text")

_RATE_DECIMALS: Final = 4


def scaled_text(value: int, scale: int) -> str:
    """``value / 10**scale`` as a decimal string with exactly ``scale`` decimals.

    >>> scaled_text(932205, 1), scaled_text(-5, 2), scaled_text(7, 0)
    ('93220.5', '-0.05', '7')
    """
    if scale == 0:
        return str(value)
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), 10**scale)
    return f"{sign}{whole}.{frac:0{scale}d}"


def from_text(text: str, scale: int) -> int | None:
    """Parse a decimal string into a scaled integer; ``None`` if it is not one.

    More decimals than ``scale`` are refused unless they are zeros, as MEXC refuses
    prices and quantities finer than the pair's precision.

    >>> from_text("93220.50", 1), from_text("0.001", 2), from_text("abc", 2)
    (932205, None, None)
    """
    try:
        number = Decimal(text)
    except (InvalidOperation, ValueError):
        return None
    if not number.is_finite():
        return None
    scaled = number.scaleb(scale)
    if scaled != scaled.to_integral_value():
        return None
    return int(scaled)


def rate_text(numerator: int, denominator: int) -> str:
    """A change ratio as MEXC prints it: four decimals, ``0`` when undefined.

    >>> rate_text(5, 1000), rate_text(-1, 3), rate_text(1, 0)
    ('0.0050', '-0.3333', '0')
    """
    if denominator == 0:
        return "0"
    # Round half away from zero at four decimals, in integers.
    scaled, rest = divmod(abs(numerator) * 10**_RATE_DECIMALS, abs(denominator))
    if 2 * rest >= abs(denominator):
        scaled += 1
    negative = (numerator < 0) != (denominator < 0)
    return scaled_text(-scaled if negative and scaled else scaled, _RATE_DECIMALS)
