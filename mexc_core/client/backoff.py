"""Reconnect delays, without I/O: capped exponential backoff with full jitter.

Theory of operation
===================

A connection that fails is retried after a delay drawn by :meth:`Backoff.delay`:
uniform between 0 and ``min(cap, initial * factor ** attempt)`` ("full jitter",
from AWS's *Exponential Backoff And Jitter*): many clients that lose their
connections at the same moment spread their reconnects instead of storming the
exchange together, and a connection that keeps failing waits longer and longer,
up to ``cap``.

What kind of failure it was changes the delay (:meth:`Backoff.after`,
``docs/faults.rst`` sections 12-14):

- a transient failure (reset, EOF, timeout, refused, DNS, a 5xx answer to the
  upgrade): the jittered delay above;
- ``429 Too Many Requests``: at least the server's ``Retry-After``, otherwise
  ``rate_limit_pause``;
- a certificate or host name that does not verify: a configuration problem, so a
  long pause (between half and all of ``configuration_pause``), never a storm;
- any other 4xx answer to the upgrade: fatal, no retry (``None``).

The randomness is passed in (:class:`RandomSource`: a ``random.Random`` will do),
so a test seeds it and gets the same delays every run.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Final, Protocol, final

from mexc_core.errors import ArgumentTypeError, InvalidConfig

__all__ = ("Backoff", "FailureKind", "RandomSource", "classify_handshake_status")

#: The largest exponent ever used: ``factor ** 1024`` overflows a float for any factor >= 2.
_MAX_EXPONENT: Final = 1023


class RandomSource(Protocol):
    """Where jitter comes from: ``random.Random`` (seeded in tests) satisfies it."""

    def random(self) -> float:
        """A float in ``[0, 1)``."""
        ...


class FailureKind(enum.Enum):
    """How a connection attempt or a live connection failed, for the retry decision."""

    #: Reset, EOF, a timeout, refused, DNS, a 5xx upgrade answer: retry with backoff.
    TRANSIENT = "transient"
    #: The upgrade was answered ``429``: wait at least ``Retry-After``.
    RATE_LIMITED = "rate_limited"
    #: TLS certificate or host name verification failed: a configuration problem.
    TLS_VERIFICATION = "tls_verification"
    #: The upgrade was refused with a 4xx other than 429: retrying will not help.
    FATAL = "fatal"


def classify_handshake_status(status: int) -> FailureKind:
    """The kind of failure an HTTP status answering the WebSocket upgrade means.

    >>> classify_handshake_status(429), classify_handshake_status(404)
    (<FailureKind.RATE_LIMITED: 'rate_limited'>, <FailureKind.FATAL: 'fatal'>)
    >>> classify_handshake_status(503)
    <FailureKind.TRANSIENT: 'transient'>
    """
    if status == 429:
        return FailureKind.RATE_LIMITED
    if 400 <= status < 500:
        return FailureKind.FATAL
    return FailureKind.TRANSIENT


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Backoff:
    """Capped exponential backoff with full jitter; every duration in seconds.

    :ivar initial: the ceiling of the first delay (attempt 0).
    :ivar factor: how much the ceiling grows per failed attempt.
    :ivar cap: the largest ceiling.
    :ivar rate_limit_pause: the pause after a 429 without ``Retry-After``.
    :ivar configuration_pause: the pause after a TLS verification failure (drawn
        between half of it and all of it).
    """

    initial: float = 0.5
    factor: float = 2.0
    cap: float = 30.0
    rate_limit_pause: float = 60.0
    configuration_pause: float = 300.0

    def __post_init__(self) -> None:
        for name in ("initial", "cap", "rate_limit_pause", "configuration_pause"):
            value = getattr(self, name)
            if type(value) not in (int, float) or not math.isfinite(value) or value <= 0:
                raise InvalidConfig(
                    f"{name} must be a positive number of seconds, got {value!r}", setting=name
                )
        factor = self.factor
        if type(factor) not in (int, float) or not math.isfinite(factor) or factor < 1:
            raise InvalidConfig(f"factor must be a number >= 1, got {factor!r}", setting="factor")
        if self.cap < self.initial:
            raise InvalidConfig(
                f"cap ({self.cap}) must not be below initial ({self.initial})", setting="cap"
            )

    def ceiling(self, attempt: int) -> float:
        """The largest delay of retry number ``attempt`` (0 for the first retry).

        >>> [Backoff(initial=1, cap=10).ceiling(n) for n in range(6)]
        [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
        """
        if type(attempt) is not int:
            raise ArgumentTypeError(f"attempt must be an int, not {type(attempt).__name__}")
        if attempt < 0:
            raise InvalidConfig(f"attempt must be >= 0, got {attempt}", setting="attempt")
        exponent = min(attempt, _MAX_EXPONENT)
        try:
            grown = self.initial * self.factor**exponent
        except OverflowError:
            return float(self.cap)
        return float(min(self.cap, grown))

    def delay(self, attempt: int, rng: RandomSource | None) -> float:
        """A full-jitter delay for retry number ``attempt``: uniform in ``[0, ceiling)``.

        Without a random source (``None``), the ceiling itself: deterministic.
        """
        ceiling = self.ceiling(attempt)
        return ceiling if rng is None else ceiling * rng.random()

    def after(
        self,
        kind: FailureKind,
        attempt: int,
        rng: RandomSource,
        *,
        retry_after: float | None = None,
    ) -> float | None:
        """The delay before retrying after a failure of ``kind``, or ``None`` to give up.

        :param attempt: failures in a row before this one (0 for the first).
        :param retry_after: the server's ``Retry-After``, for ``RATE_LIMITED``.
        """
        if kind is FailureKind.FATAL:
            return None
        if kind is FailureKind.TLS_VERIFICATION:
            return self.configuration_pause * (0.5 + 0.5 * rng.random())
        jittered = self.delay(attempt, rng)
        if kind is FailureKind.RATE_LIMITED:
            floor = retry_after if retry_after is not None else self.rate_limit_pause
            return max(floor, jittered)
        return jittered
