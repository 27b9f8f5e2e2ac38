"""Every state table of the core, swept by one set of rules.

The tables are found, not listed: every module of ``mexc_core`` is imported and
every module-level table made by :func:`mexc_core._machine.frozen_table` is
checked, so a new machine is swept (and must be documented) from its first day.

The conventions checked: the first member of a state enum is the initial state;
a member named ``ERROR`` is the terminal state a broken rule leads to;
every other state can be reached from the initial one; every input is used; the
docs render the table with the ``mexc-transitions`` directive. (A machine may
also move to ``ERROR`` on purpose, as the connection does on a peer's protocol
error.)
"""

from __future__ import annotations

import enum
import importlib
import pkgutil
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

import mexc_core
from mexc_core._machine import Machine, frozen_table, render_transitions
from mexc_core.errors import LocalProtocolError, StateError

DOCS = Path(__file__).resolve().parent.parent / "docs"

Table = Mapping[tuple[Any, Any], Any]


def _is_table(value: object) -> bool:
    if not isinstance(value, MappingProxyType) or not value:
        return False
    key = next(iter(value))
    return (
        isinstance(key, tuple)
        and len(key) == 2
        and all(isinstance(part, enum.Enum) for part in key)
    )


def _tables() -> dict[str, Table]:
    found: dict[str, Table] = {}
    for info in pkgutil.walk_packages(mexc_core.__path__, "mexc_core."):
        if info.name.startswith(("mexc_core._generated", "mexc_core.testing")):
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if _is_table(value) and all(value is not seen for seen in found.values()):
                found[f"{info.name}.{name}"] = value
    return found


TABLES = _tables()
#: The tables whose machines have an ``ERROR`` state (the per-topic subscription
#: table has none: the session checks each of its pairs itself).
WITH_ERROR = sorted(p for p in TABLES if "ERROR" in next(iter(TABLES[p]))[0].__class__.__members__)


def _enums(table: Table) -> tuple[type[enum.Enum], type[enum.Enum]]:
    state, inp = next(iter(table))
    return type(state), type(inp)


def test_the_tables_are_found() -> None:
    names = {name.rsplit(".", 1)[1] for name in TABLES}
    assert names >= {
        "_SESSION_TRANSITIONS",
        "_SUBSCRIPTION_TRANSITIONS",
        "_TRANSITIONS",
        "_LINK_TRANSITIONS",
        "_HANDOVER_TRANSITIONS",
        "_ROTATION_TRANSITIONS",
        "_POOL_TRANSITIONS",
        "_TOPIC_TRANSITIONS",
        "_CORE_TRANSITIONS",
        "_KEY_TRANSITIONS",
        "_BOOK_TRANSITIONS",
        "_RECONCILE_TRANSITIONS",
    }
    assert len(TABLES) == 13  # the two _TRANSITIONS: connection and listen key
    assert len(WITH_ERROR) == 12


@pytest.mark.parametrize("path", sorted(TABLES))
def test_every_table_follows_the_conventions(path: str) -> None:
    table = TABLES[path]
    states, inputs = _enums(table)
    members = list(states)
    initial = members[0]
    error = getattr(states, "ERROR", None)
    # one state enum, one input enum
    assert all(type(s) is states and type(i) is inputs for s, i in table)
    assert all(type(n) is states for n in table.values())
    # the error state is terminal
    if error is not None:
        assert not [pair for pair in table if pair[0] is error]
    # every other state is reachable from the initial state
    reached, frontier = {initial}, [initial]
    while frontier:
        state = frontier.pop()
        for (src, _inp), nxt in table.items():
            if src is state and nxt not in reached:
                reached.add(nxt)
                frontier.append(nxt)
    assert set(members) - {error} <= reached, f"unreachable: {set(members) - reached}"
    # every input moves something
    assert {inp for _s, inp in table} == set(inputs)
    # the rendered table names every state and input, and the docs render it
    rendered = render_transitions(table)
    for member in (*members, *inputs):
        assert f"``{member.name}``" in rendered
    directive = f".. mexc-transitions:: {path}"
    pages = [p for p in DOCS.glob("*.rst") if directive in p.read_text(encoding="utf-8")]
    assert pages, f"no page of docs/ renders {path}"
    for page in DOCS.glob("*.rst"):  # a pasted copy would drift: the directive renders it
        assert "   * - ``" + members[-1].name + "``" not in page.read_text(encoding="utf-8")


def _cells(text: str) -> list[list[str]]:
    """The rows of a rendered list-table, each a list of cell texts."""
    rows: list[list[str]] = []
    for line in text.splitlines():
        if line.startswith("   * - "):
            rows.append([line.removeprefix("   * - ")])
        elif line.startswith("     - "):
            rows[-1].append(line.removeprefix("     - "))
    return rows


@pytest.mark.parametrize("path", sorted(TABLES))
def test_a_rendered_table_has_every_state_and_input_and_every_pair(path: str) -> None:
    table = TABLES[path]
    states, inputs = _enums(table)
    header, *body = _cells(render_transitions(table, title="corner"))
    assert header == ["corner", *(f"``{i.name}``" for i in inputs)]
    assert [row[0] for row in body] == [f"``{s.name}``" for s in states]  # ERROR included
    for state, row in zip(states, body, strict=True):
        for inp, cell in zip(inputs, row[1:], strict=True):
            nxt = table.get((state, inp))
            assert cell == (nxt.name if nxt is not None else "—"), (state, inp)


@pytest.mark.parametrize("path", WITH_ERROR)
def test_a_missing_pair_is_an_error_for_inputs_and_a_refusal_for_commands(path: str) -> None:
    table = TABLES[path]
    states, inputs = _enums(table)
    error = states["ERROR"]
    missing = [
        (state, inp)
        for state in states
        for inp in inputs
        if state is not error and (state, inp) not in table
    ]
    assert missing, f"{path}: every pair is allowed"
    state, inp = missing[0]
    machine = Machine("sweep", table, state, error)
    assert not machine.allows(inp)
    with pytest.raises(StateError) as refused:
        machine.require(inp, "do it")
    assert machine.state is state  # a caller's mistake changes nothing
    assert refused.value.state == state.name
    assert "cannot do it" in str(refused.value)
    with pytest.raises(StateError):
        machine.step(inp)
    assert machine.state is error  # a broken rule is final
    with pytest.raises(StateError, match="after an earlier failure"):
        machine.check_usable()
    assert repr(machine) == f"<Machine sweep {error.name}>"


def test_a_usable_machine_steps_through_its_table() -> None:
    class S(enum.Enum):
        A = "a"
        B = "b"
        ERROR = "error"

    class In(enum.Enum):
        GO = "go"

    table = frozen_table({(S.A, In.GO): S.B})
    machine = Machine("tiny", table, S.A, S.ERROR)
    machine.check_usable()
    assert machine.allows(In.GO)
    machine.require(In.GO)
    assert machine.step(In.GO) is S.B
    assert "| ``B``" not in render_transitions(table)  # (a list-table, not a grid)


def test_tables_that_are_empty_or_mixed_are_refused() -> None:
    class S(enum.Enum):
        A = "a"

    class T(enum.Enum):
        X = "x"

    class In(enum.Enum):
        GO = "go"

    with pytest.raises(LocalProtocolError, match="at least one"):
        frozen_table({})
    with pytest.raises(LocalProtocolError, match="does not"):
        frozen_table({(S.A, In.GO): S.A, (T.X, In.GO): T.X})
    with pytest.raises(LocalProtocolError, match="no states"):
        render_transitions({})
