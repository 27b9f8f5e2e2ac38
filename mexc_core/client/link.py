"""One link of the connection pool: a shard and the connection that carries it.

Theory of operation
===================

A *link* is one shard of the pool (:mod:`mexc_core.client.pool`): a stable id, a
set of *home* topics, and at any time at most one connection (one *transport*,
with a pool-unique ``cid``). When the connection fails the link waits out a
backoff and opens a new one, which subscribes every home topic again. Its life
is the table below (:class:`LinkState`, :class:`LinkInput`)::

    WAITING --due--> OPENING --transport up--> HANDSHAKING --websocket open--> OPEN
      ^  |              |                           |                           |  \\
      |  park           +---------- fail -----------+------------ fail ---------+   drain
      |  v                                                                      |    v
     PARKED --unpark--> WAITING                                          retire |  DRAINING
                                                                                v    | retire
                                    any live state --end--> CLOSED <--end-- CLOSING <-+

- ``WAITING``: down, with home topics; it reconnects at its retry time.
- ``PARKED``: a private link that may not connect now: the pool has no listen
  key, or the key's connections are all in use (MEXC allows 5 per key). It
  waits without a timer until the pool can let it connect.
- ``OPENING``: a transport (TCP, TLS) was asked for.
- ``HANDSHAKING``: the transport is up; the WebSocket upgrade is in flight.
- ``OPEN``: the WebSocket is open; its home topics are subscribed.
- ``DRAINING``: its last home topic moved to another link; it still delivers the
  topics it hands over (:mod:`mexc_core.client.handover`) until they switch.
- ``CLOSING``: nothing left to carry; our close handshake is in flight.
- ``CLOSED``: gone for good.

A link *fails* (back to ``WAITING``) only while it has home topics to carry;
one that goes down with nothing to carry, or that the server refused for good,
*ends* instead.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, final

from mexc_core._machine import Machine, frozen_table
from mexc_core.connection import Connection

__all__ = ("Link", "LinkInfo", "LinkInput", "LinkState")


class LinkState(enum.Enum):
    """The state of a link (see the module docstring)."""

    #: Down; reconnects at its retry time.
    WAITING = "waiting"
    #: Down; a private link waiting for a listen key or a free connection of the key.
    PARKED = "parked"
    #: A transport was asked for.
    OPENING = "opening"
    #: The transport is up; the WebSocket upgrade is in flight.
    HANDSHAKING = "handshaking"
    #: The WebSocket is open.
    OPEN = "open"
    #: Open without home topics: delivers what it hands over until the switch.
    DRAINING = "draining"
    #: Our close handshake is in flight.
    CLOSING = "closing"
    #: Gone for good.
    CLOSED = "closed"
    #: A broken rule (a bug of the pool).
    ERROR = "error"


class LinkInput(enum.Enum):
    """What moves a link."""

    #: Its retry time came and it may connect: a transport is asked for.
    DUE = "due"
    #: Its retry time came but it may not connect (no listen key, no free connection).
    PARK = "park"
    #: It may connect again.
    UNPARK = "unpark"
    #: The transport opened.
    TRANSPORT_UP = "transport up"
    #: The WebSocket opened.
    WEBSOCKET_OPEN = "websocket open"
    #: It went down with home topics: it reconnects after a backoff.
    FAIL = "fail"
    #: Its last home topic moved away; it still hands topics over.
    DRAIN = "drain"
    #: Nothing is left to carry: close cleanly.
    RETIRE = "retire"
    #: Gone: closed, refused for good, or down with nothing to carry.
    END = "end"


_L = LinkState
_LI = LinkInput

_LINK_TRANSITIONS: Final[Mapping[tuple[LinkState, LinkInput], LinkState]] = frozen_table(
    {
        (_L.WAITING, _LI.DUE): _L.OPENING,
        (_L.WAITING, _LI.PARK): _L.PARKED,
        (_L.WAITING, _LI.END): _L.CLOSED,
        (_L.PARKED, _LI.UNPARK): _L.WAITING,
        (_L.PARKED, _LI.END): _L.CLOSED,
        (_L.OPENING, _LI.TRANSPORT_UP): _L.HANDSHAKING,
        (_L.OPENING, _LI.FAIL): _L.WAITING,
        (_L.OPENING, _LI.END): _L.CLOSED,
        (_L.HANDSHAKING, _LI.WEBSOCKET_OPEN): _L.OPEN,
        (_L.HANDSHAKING, _LI.FAIL): _L.WAITING,
        (_L.HANDSHAKING, _LI.END): _L.CLOSED,
        (_L.OPEN, _LI.FAIL): _L.WAITING,
        (_L.OPEN, _LI.DRAIN): _L.DRAINING,
        (_L.OPEN, _LI.RETIRE): _L.CLOSING,
        (_L.DRAINING, _LI.RETIRE): _L.CLOSING,
        (_L.DRAINING, _LI.END): _L.CLOSED,
        (_L.CLOSING, _LI.END): _L.CLOSED,
    }
)

#: States with a transport asked for or up (it counts against a listen key's 5).
HOLDS_TRANSPORT: Final = frozenset({_L.OPENING, _L.HANDSHAKING, _L.OPEN, _L.DRAINING, _L.CLOSING})
#: States whose transport is up: bytes flow, the connection's timers run.
TRANSPORT_UP: Final = frozenset({_L.HANDSHAKING, _L.OPEN, _L.DRAINING, _L.CLOSING})
#: States that take new topics.
ACCEPTING: Final = frozenset({_L.WAITING, _L.PARKED, _L.OPENING, _L.HANDSHAKING, _L.OPEN})
#: States still opening: the pool's open deadline runs.
OPENING: Final = frozenset({_L.OPENING, _L.HANDSHAKING})


@final
class Link:
    """The pool's record of one link; its state moves only through the table."""

    __slots__ = (
        "_changed",
        "_conn",
        "_deadline",
        "_retry_at",
        "carried",
        "cid",
        "connects",
        "due",
        "due_version",
        "failures",
        "id",
        "leaving",
        "machine",
        "opened_at",
        "private",
        "topics",
    )

    def __init__(
        self,
        link_id: int,
        *,
        private: bool,
        retry_at: float,
        changed: set[Link] | None = None,
    ) -> None:
        self.id: Final = link_id
        self.private: Final = private
        self.machine: Final = Machine("link", _LINK_TRANSITIONS, LinkState.WAITING, LinkState.ERROR)
        # Where the link reports that its next deadline may have changed: a step,
        # a new retry time, open deadline or connection, or (from the pool) a call
        # into its connection. The pool recomputes only those links' deadlines.
        self._changed: Final[set[Link]] = set() if changed is None else changed
        self._conn: Connection | None = None
        #: The transport's id, while a transport is asked for or up.
        self.cid: int | None = None
        #: Home topics, in the order they came.
        self.topics: dict[str, None] = {}
        #: Topics it hands over to another link (it delivers them until the switch).
        self.leaving: set[str] = set()
        #: Topics its connection holds (acknowledged).
        self.carried: set[str] = set()
        #: Failures in a row (the backoff's attempt number).
        self.failures = 0
        #: Connections it opened so far.
        self.connects = 0
        self._retry_at: float | None = retry_at
        self._deadline: float | None = None
        #: When its current WebSocket opened.
        self.opened_at: float | None = None
        #: The pool's record of its next deadline, and the version of that record.
        self.due: float | None = None
        self.due_version = 0
        self._changed.add(self)

    @property
    def conn(self) -> Connection | None:
        """The connection, while a transport is asked for or up."""
        return self._conn

    @conn.setter
    def conn(self, value: Connection | None) -> None:
        self._conn = value
        self._changed.add(self)

    @property
    def retry_at(self) -> float | None:
        """When it reconnects (``WAITING`` only)."""
        return self._retry_at

    @retry_at.setter
    def retry_at(self, value: float | None) -> None:
        self._retry_at = value
        self._changed.add(self)

    @property
    def deadline(self) -> float | None:
        """When its opening times out (``OPENING`` and ``HANDSHAKING`` only)."""
        return self._deadline

    @deadline.setter
    def deadline(self, value: float | None) -> None:
        self._deadline = value
        self._changed.add(self)

    def next_deadline(self) -> float | None:
        """Its next deadline: the retry, the opening's timeout, or its connection's."""
        state = self.machine.state
        if state is LinkState.WAITING:
            return self._retry_at
        conn_due = None
        if state in TRANSPORT_UP:
            assert self._conn is not None
            conn_due = self._conn.next_deadline()
        if state in OPENING and self._deadline is not None:
            return self._deadline if conn_due is None else min(self._deadline, conn_due)
        return conn_due

    def __repr__(self) -> str:
        return f"<Link {self.id} {self.state.name} topics={len(self.topics)}>"

    @property
    def state(self) -> LinkState:
        """The current state."""
        return self.machine.state

    def step(self, inp: LinkInput) -> LinkState:
        """Move on ``inp`` (a missing pair is a bug: :class:`~mexc_core.errors.StateError`)."""
        self._changed.add(self)
        return self.machine.step(inp)

    def info(self) -> LinkInfo:
        """A snapshot for status displays and tests."""
        return LinkInfo(
            link=self.id,
            state=self.state,
            private=self.private,
            cid=self.cid,
            topics=tuple(self.topics),
            leaving=tuple(sorted(self.leaving)),
            carried=tuple(sorted(self.carried)),
            failures=self.failures,
            retry_at=self.retry_at,
        )


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class LinkInfo:
    """A snapshot of one link, for status displays and tests.

    :ivar link: the id. :ivar state: the state. :ivar private: a listen-key link.
    :ivar cid: the current transport, if any.
    :ivar topics: its home topics. :ivar leaving: topics it hands over.
    :ivar carried: topics its connection holds (acknowledged).
    :ivar failures: failures in a row. :ivar retry_at: when it reconnects.
    """

    link: int
    state: LinkState
    private: bool
    cid: int | None
    topics: tuple[str, ...]
    leaving: tuple[str, ...]
    carried: tuple[str, ...]
    failures: int
    retry_at: float | None
