"""Shared test configuration: hypothesis profiles picked with HYPOTHESIS_PROFILE.

- ``dev`` (default): hypothesis defaults, a local example database.
- ``ci``: derandomised (the same examples every run), no deadline, more examples.
- ``nightly``: many more examples, for long runs.

Under coverage (``uv run pytest``: ``--cov`` is in addopts) the pure-Python build
runs: compiled modules cannot be measured. ``--no-cov`` runs the installed build, the
compiled one where it was built (docs/build.rst).
"""

from __future__ import annotations

import os
import sys

import coverage
import pytest

if coverage.Coverage.current() is not None:
    if "mexc_core" in sys.modules:  # pragma: no cover (a plugin imported it first)
        raise pytest.UsageError("mexc_core was imported before the tests chose its build")
    os.environ.setdefault("MEXC_CORE_PURE", "1")
from hypothesis import HealthCheck, settings

settings.register_profile("dev", deadline=None)
settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    max_examples=200,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "nightly", deadline=None, max_examples=5000, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Every anyio test runs on both backends."""
    return str(request.param)
