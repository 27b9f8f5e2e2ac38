"""The embedding guide shows the state tables exactly as the code has them."""

from __future__ import annotations

from pathlib import Path

import pytest

from mexc_core.connection import _TRANSITIONS as CONNECTION_TRANSITIONS
from mexc_core.session import (
    _SESSION_TRANSITIONS,
    _SUBSCRIPTION_TRANSITIONS,
    render_transitions,
)

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "embedding.rst"


@pytest.mark.parametrize(
    "rendered",
    [
        render_transitions(_SESSION_TRANSITIONS, title="session"),
        render_transitions(_SUBSCRIPTION_TRANSITIONS, title="topic"),
        render_transitions(CONNECTION_TRANSITIONS, title="connection"),
    ],
    ids=["session", "subscription", "connection"],
)
def test_the_guide_has_the_current_table(rendered: str) -> None:
    assert rendered in GUIDE.read_text(encoding="utf-8"), (
        "docs/embedding.rst is stale: paste the output of mexc_core.session.render_transitions"
    )


def test_the_guide_includes_both_examples() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    for name in ("embed_blocking.py", "embed_selectors.py"):
        assert f"examples/{name}" in text
        assert (GUIDE.parent / "examples" / name).is_file()
