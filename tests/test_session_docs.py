"""The state tables in the docs are rendered from the code's transition tables.

docs/embedding.rst shows them with the ``mexc-transitions`` directive
(docs/_ext/mexc_docs.py), which calls :func:`mexc_core._machine.render_transitions`
at build time; tests/test_docs.py builds the docs and checks the HTML.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from pathlib import Path

import pytest

from mexc_core._machine import render_transitions
from mexc_core.connection import _TRANSITIONS as CONNECTION_TRANSITIONS
from mexc_core.connection import ConnectionInput, ConnectionState
from mexc_core.errors import LocalProtocolError
from mexc_core.session import (
    _SESSION_TRANSITIONS,
    _SUBSCRIPTION_TRANSITIONS,
    SessionInput,
    SessionState,
    SubscriptionInput,
    SubscriptionState,
)

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "embedding.rst"

Table = Mapping[tuple[enum.Enum, enum.Enum], enum.Enum]

#: (path given to the directive, table, state enum, input enum)
TABLES: list[tuple[str, Table, type[enum.Enum], type[enum.Enum]]] = [
    ("mexc_core.session._SESSION_TRANSITIONS", _SESSION_TRANSITIONS, SessionState, SessionInput),  # type: ignore[list-item]
    (
        "mexc_core.session._SUBSCRIPTION_TRANSITIONS",
        _SUBSCRIPTION_TRANSITIONS,  # type: ignore[list-item]
        SubscriptionState,
        SubscriptionInput,
    ),
    (
        "mexc_core.connection._TRANSITIONS",
        CONNECTION_TRANSITIONS,  # type: ignore[list-item]
        ConnectionState,
        ConnectionInput,
    ),
]
IDS = ["session", "subscription", "connection"]


def _cells(text: str) -> list[list[str]]:
    """The rows of a rendered list-table, each a list of cell texts."""
    rows: list[list[str]] = []
    for line in text.splitlines():
        if line.startswith("   * - "):
            rows.append([line.removeprefix("   * - ")])
        elif line.startswith("     - "):
            rows[-1].append(line.removeprefix("     - "))
    return rows


@pytest.mark.parametrize(("path", "table", "states", "inputs"), TABLES, ids=IDS)
def test_the_guide_renders_the_table_from_the_code(
    path: str, table: Table, states: type[enum.Enum], inputs: type[enum.Enum]
) -> None:
    del table, inputs
    text = GUIDE.read_text(encoding="utf-8")
    assert re.search(rf"^\.\. mexc-transitions:: {re.escape(path)}$", text, re.MULTILINE)
    for state in states:  # a pasted copy would drift: the directive renders it
        assert f"   * - ``{state.name}``" not in text, f"a pasted table row for {state.name}"


@pytest.mark.parametrize(("path", "table", "states", "inputs"), TABLES, ids=IDS)
def test_a_rendered_table_has_every_state_and_input_and_every_pair(
    path: str, table: Table, states: type[enum.Enum], inputs: type[enum.Enum]
) -> None:
    del path
    rows = _cells(render_transitions(table, title="corner"))
    header, *body = rows
    assert header == ["corner", *(f"``{i.name}``" for i in inputs)]
    assert [row[0] for row in body] == [f"``{s.name}``" for s in states]  # ERROR included
    for state, row in zip(states, body, strict=True):
        for inp, cell in zip(inputs, row[1:], strict=True):
            nxt = table.get((state, inp))
            assert cell == (nxt.name if nxt is not None else "—"), (state, inp)


def test_an_empty_table_cannot_be_rendered() -> None:
    with pytest.raises(LocalProtocolError, match="empty"):
        render_transitions({})


def test_the_guide_includes_both_examples() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    for name in ("embed_blocking.py", "embed_selectors.py"):
        assert f"examples/{name}" in text
        assert (GUIDE.parent / "examples" / name).is_file()
