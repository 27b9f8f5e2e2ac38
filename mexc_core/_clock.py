"""The one check every clock-driven machine of the core makes on ``now``."""

from __future__ import annotations

import math

from mexc_core.errors import ClockError


def checked_now(now: float, last: float) -> float:
    """Return ``now`` if it is a finite number not before ``last``.

    :raises ClockError: ``now`` is not a finite int or float, or went backwards
        (the core needs a monotonic clock, never the wall clock).
    """
    if type(now) not in (float, int) or not math.isfinite(now):
        raise ClockError(f"now must be a finite number, got {now!r}", now=now, last=last)
    if now < last:
        raise ClockError(
            f"now went backwards ({now!r} after {last!r}): use a monotonic clock",
            now=now,
            last=last,
        )
    return now
