"""Reconnect delays: capped exponential backoff with full jitter, seeded."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mexc_core.client.backoff import Backoff, FailureKind, classify_handshake_status
from mexc_core.errors import ArgumentTypeError, InvalidConfig


class Fixed:
    """A random source that always says ``value``."""

    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


def test_ceiling_grows_then_caps() -> None:
    backoff = Backoff(initial=0.5, factor=2.0, cap=30.0)
    assert [backoff.ceiling(n) for n in range(8)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert backoff.ceiling(10_000) == 30.0
    # a factor that overflows a float still caps
    assert Backoff(initial=1, factor=3.0, cap=5).ceiling(1000) == 5.0
    assert Backoff(initial=2, factor=1, cap=5).ceiling(50) == 2.0


@given(attempt=st.integers(0, 2000), seed=st.integers())
def test_full_jitter_stays_within_the_ceiling(attempt: int, seed: int) -> None:
    backoff = Backoff()
    delay = backoff.delay(attempt, random.Random(seed))
    assert 0.0 <= delay <= backoff.ceiling(attempt)


def test_the_same_seed_gives_the_same_delays() -> None:
    backoff = Backoff()
    first = [backoff.delay(n, random.Random(7)) for n in range(5)]
    assert first == [backoff.delay(n, random.Random(7)) for n in range(5)]


def test_after_each_kind_of_failure() -> None:
    backoff = Backoff(initial=1, cap=8, rate_limit_pause=60, configuration_pause=300)
    assert backoff.after(FailureKind.TRANSIENT, 3, Fixed(0.5)) == 4.0
    assert backoff.after(FailureKind.FATAL, 0, Fixed(0.5)) is None
    assert backoff.after(FailureKind.RATE_LIMITED, 0, Fixed(0.5)) == 60.0
    assert backoff.after(FailureKind.RATE_LIMITED, 0, Fixed(0.5), retry_after=10.0) == 10.0
    # the jittered delay wins when it is longer than Retry-After
    assert backoff.after(FailureKind.RATE_LIMITED, 5, Fixed(0.99), retry_after=1.0) == 8 * 0.99
    assert backoff.after(FailureKind.TLS_VERIFICATION, 0, Fixed(0.0)) == 150.0
    assert backoff.after(FailureKind.TLS_VERIFICATION, 0, Fixed(1.0)) == 300.0


def test_handshake_statuses() -> None:
    assert classify_handshake_status(429) is FailureKind.RATE_LIMITED
    assert classify_handshake_status(403) is FailureKind.FATAL
    assert classify_handshake_status(502) is FailureKind.TRANSIENT
    assert classify_handshake_status(301) is FailureKind.TRANSIENT


@pytest.mark.parametrize(
    ("kwargs", "setting"),
    [
        ({"initial": 0}, "initial"),
        ({"cap": float("inf")}, "cap"),
        ({"rate_limit_pause": "1"}, "rate_limit_pause"),
        ({"configuration_pause": -1}, "configuration_pause"),
        ({"factor": 0.5}, "factor"),
        ({"factor": "2"}, "factor"),
        ({"initial": 10, "cap": 5}, "cap"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, object], setting: str) -> None:
    with pytest.raises(InvalidConfig) as info:
        Backoff(**kwargs)  # type: ignore[arg-type]
    assert info.value.setting == setting


def test_bad_attempts_are_refused() -> None:
    with pytest.raises(ArgumentTypeError):
        Backoff().ceiling(1.0)  # type: ignore[arg-type]
    with pytest.raises(InvalidConfig):
        Backoff().ceiling(-1)
