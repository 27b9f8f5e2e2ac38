"""State machines as tables: one way to step them, one way to show them.

Every machine of the core (session, subscription, connection, listen key, link,
hand-over, pool, client core) is an :class:`enum.Enum` of states, an
:class:`enum.Enum` of inputs and a module-level table mapping ``(state, input)``
to the next state. :class:`Machine` holds the current state of one instance and
moves it through its table; :func:`render_transitions` turns a table into the
reST table the documentation shows, so the docs are the code.

Two ways to move, for the two kinds of input:

- :meth:`Machine.step` is for inputs the machine produces or receives itself
  (bytes, timers, replies): a pair missing from the table is a broken rule, the
  machine enters its terminal error state and :class:`~mexc_core.errors.StateError`
  is raised; every later :meth:`Machine.check_usable` raises too.
- :meth:`Machine.require` is for a caller's command: a pair missing from the
  table raises :class:`~mexc_core.errors.StateError` and changes nothing, so a
  caller's mistake (subscribing on a closed pool) leaves the machine usable.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, Generic, TypeVar, final

from mexc_core.errors import LocalProtocolError, StateError

__all__ = ("Machine", "frozen_table", "render_transitions")

S = TypeVar("S", bound=enum.Enum)
In = TypeVar("In", bound=enum.Enum)

#: What a missing cell shows in a rendered table.
MISSING: Final = "—"


def frozen_table(table: dict[tuple[S, In], S]) -> Mapping[tuple[S, In], S]:
    """``table`` as a read-only mapping, checked to use one state and one input enum.

    :raises LocalProtocolError: the table is empty, or mixes enums.
    """
    if not table:
        raise LocalProtocolError("a transition table needs at least one transition")
    (state, inp), _ = next(iter(table.items()))
    states, inputs = type(state), type(inp)
    for (s, i), nxt in table.items():
        if type(s) is not states or type(nxt) is not states or type(i) is not inputs:
            raise LocalProtocolError(
                f"a transition table maps ({states.__name__}, {inputs.__name__}) "
                f"to {states.__name__}; ({s!r}, {i!r}) -> {nxt!r} does not"
            )
    return MappingProxyType(table)


@final
class Machine(Generic[S, In]):
    """The current state of one machine, moved only through its table.

    :param name: the machine's name, for errors (``"session"``, ``"link"``).
    :param table: the transitions (see :func:`frozen_table`).
    :param initial: the state to start in.
    :param error: the terminal state a broken rule leads to.
    """

    __slots__ = ("error", "name", "state", "table")

    def __init__(self, name: str, table: Mapping[tuple[S, In], S], initial: S, error: S) -> None:
        self.name: Final = name
        self.table: Final = table
        self.error: Final = error
        #: The current state (read it; move it with :meth:`step`).
        self.state = initial

    def __repr__(self) -> str:
        return f"<Machine {self.name} {self.state.name}>"

    def allows(self, inp: In) -> bool:
        """Whether ``inp`` has a transition from the current state."""
        return (self.state, inp) in self.table

    def step(self, inp: In) -> S:
        """Move on ``inp``; returns the new state.

        :raises StateError: ``inp`` is not allowed in the current state; the
            machine is now in its error state.
        """
        nxt = self.table.get((self.state, inp))
        if nxt is None:
            old, self.state = self.state, self.error
            raise StateError(
                f"{self.name}: {inp.name} is not allowed in state {old.name}",
                machine=self.name,
                state=old.name,
                input=inp.name,
            )
        self.state = nxt
        return nxt

    def require(self, inp: In, what: str = "") -> None:
        """Check that a command ``inp`` is allowed now, without moving.

        :param what: the command, for the message (default: the input's name).
        :raises StateError: it is not; the state is unchanged.
        """
        if (self.state, inp) not in self.table:
            raise StateError(
                f"{self.name}: cannot {what or inp.name} in state {self.state.name}",
                machine=self.name,
                state=self.state.name,
                input=inp.name,
            )

    def check_usable(self, what: str = "any") -> None:
        """:raises StateError: the machine is in its error state (an earlier broken rule)."""
        if self.state is self.error:
            raise StateError(
                f"the {self.name} is in {self.error.name} after an earlier failure",
                machine=self.name,
                state=self.error.name,
                input=what,
            )


def render_transitions(table: Mapping[tuple[S, In], S], *, title: str = "state") -> str:
    """Render a transition table as a reST ``list-table``: states down, inputs across.

    Every member of the state enum is a row and every member of the input enum a
    column, in definition order, so a state that accepts nothing (``ERROR``) shows
    as a row of dashes. A cell holds the next state, or ``—`` where the pair is
    missing (an error). The docs show the tables through this function (the
    ``mexc-transitions`` directive), so they cannot drift.

    :raises LocalProtocolError: ``table`` is empty (its enums cannot be known).
    """
    if not table:
        raise LocalProtocolError("an empty transition table has no states to render")
    first_state, first_input = next(iter(table))
    states = list(type(first_state))
    inputs = list(type(first_input))
    lines = [
        ".. list-table::",
        "   :header-rows: 1",
        "   :stub-columns: 1",
        "",
        f"   * - {title}",
    ]
    lines.extend(f"     - ``{i.name}``" for i in inputs)
    for state in states:
        lines.append(f"   * - ``{state.name}``")
        for inp in inputs:
            nxt = table.get((state, inp))
            lines.append(f"     - {nxt.name if nxt is not None else MISSING}")
    return "\n".join(lines) + "\n"
