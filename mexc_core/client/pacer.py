"""Pacing of REST book snapshots within MEXC's request budget, without I/O.

After a reconnect, every local book needs a snapshot at once; hundreds of
``GET /api/v3/depth?limit=5000`` at the same moment would get the client's IP
rate-limited (429) or banned (418). A :class:`SnapshotPacer` spends a budget of
*weight* over a sliding window and says when the next request fits.

The figures (:class:`SnapshotPacing`, all adjustable):

- MEXC documents ``GET /api/v3/depth`` at weight 1 and a limit of 500 requests
  per 10 s per IP-limited endpoint; MEXC support advises 20 requests per second
  per endpoint. A 5000-level snapshot is a response of a few hundred kilobytes,
  so this client charges by size instead of trusting the flat figure: weight 1 up
  to 100 levels, 2 up to 500, 5 up to 1000 and 10 up to 5000.
- The budget is 200 weight per 10 s: 20 small snapshots a second (MEXC's
  advice), 2 full ones, leaving most of MEXC's 500 for the user's own calls.
- A 429 or 418 stops every snapshot until its ``Retry-After`` (10 s without
  one); the books that failed retry with their own backoff after that.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from itertools import accumulate
from typing import Final, final

from mexc_core.errors import InvalidConfig

__all__ = ("SnapshotPacer", "SnapshotPacing", "snapshot_weight")

#: ``(most levels, weight)``, smallest first: what a snapshot of ``limit`` levels costs.
WEIGHTS: Final = ((100, 1), (500, 2), (1000, 5), (5000, 10))


def snapshot_weight(limit: int) -> int:
    """The weight this client charges for a snapshot of ``limit`` levels.

    >>> snapshot_weight(100), snapshot_weight(5000)
    (1, 10)
    """
    for most, weight in WEIGHTS:
        if limit <= most:
            return weight
    return WEIGHTS[-1][1]


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class SnapshotPacing:
    """The snapshot budget (see the module docstring).

    :ivar budget: weight that may be spent in any ``window``.
    :ivar window: the window, in seconds.
    :ivar rate_limit_pause: the pause after a 429 or 418 without ``Retry-After``.
    """

    budget: int = 200
    window: float = 10.0
    rate_limit_pause: float = 10.0

    def __post_init__(self) -> None:
        if type(self.budget) is not int or self.budget < WEIGHTS[-1][1]:
            raise InvalidConfig(
                f"budget must be an int of at least {WEIGHTS[-1][1]} (one full snapshot)",
                setting="budget",
            )
        for name in ("window", "rate_limit_pause"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise InvalidConfig(f"{name} must be a positive number", setting=name)


class SnapshotPacer:
    """Spends :class:`SnapshotPacing`'s budget over a sliding window.

    :param pacing: the budget.
    """

    def __init__(self, pacing: SnapshotPacing | None = None) -> None:
        self.pacing: Final = pacing or SnapshotPacing()
        self._spent: deque[tuple[float, int]] = deque()  # (when, weight), oldest first
        self._total = 0
        self._paused_until = -math.inf

    def __repr__(self) -> str:
        return f"<SnapshotPacer spent={self._total}/{self.pacing.budget}>"

    @property
    def spent(self) -> int:
        """Weight spent in the current window (as of the last call)."""
        return self._total

    def available_at(self, weight: int, now: float) -> float:
        """The earliest time, ``now`` or later, a request of ``weight`` fits."""
        self._expire(now)
        at = max(now, self._paused_until)
        excess = self._total + weight - self.pacing.budget
        if excess <= 0:
            return at
        # The oldest requests that must leave the window first: as no weight
        # exceeds the budget, the whole window always frees enough.
        freed = accumulate(weight for _, weight in self._spent)
        oldest = next(i for i, total in enumerate(freed) if total >= excess)
        return max(at, self._spent[oldest][0] + self.pacing.window)

    def spend(self, weight: int, now: float) -> None:
        """A request of ``weight`` is sent at ``now``."""
        self._expire(now)
        self._spent.append((now, weight))
        self._total += weight

    def pause(self, now: float, retry_after: float | None) -> float:
        """MEXC answered 429 or 418: no request before ``retry_after`` seconds (the
        pacing's pause without it). Returns the pause's end."""
        wait = self.pacing.rate_limit_pause if retry_after is None else retry_after
        self._paused_until = max(self._paused_until, now + wait)
        return self._paused_until

    def _expire(self, now: float) -> None:
        spent, window = self._spent, self.pacing.window
        while spent and spent[0][0] + window <= now:  # the sum available_at uses
            self._total -= spent.popleft()[1]
