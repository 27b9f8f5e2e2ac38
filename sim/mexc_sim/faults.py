"""Fault injection: what the simulator can do wrong, on purpose (``docs/faults.rst`` of mexc-core).

:class:`Faults` describes the faults of one WebSocket connection (the simulator
applies its default plan to every connection, or a plan queued for the next
ones); :class:`RestFaults` those of the REST endpoints, changeable while the
simulator runs. Every fault is either scheduled (at a connection age, or at the
n-th push, counting from 1) or drawn at random from a seeded generator, so a
failing test replays exactly.

Connection faults and the ``docs/faults.rst`` section each one serves:

======================  ======  =====================================================
knob                    fault   effect
======================  ======  =====================================================
``reset_after``         1       abort the TCP connection (RST) at this age
``blackhole_after``     2       half-open: from this age on, answer nothing at all
``no_pong``             3       never answer ``PING``
``stall_after``         4, 2    hold pushes for ``stall_for`` seconds, then flush
``oversize_at``         5       send an 11 MiB frame instead of the n-th push
``garbage_at``          6       send bytes that are no protobuf instead
``truncate_at``         6       send the n-th push cut in half
``unknown_body_at``     7       send a wrapper with an unknown body field (399)
``unknown_field_at``    7       add an unknown wrapper field (7) to the n-th push
``unknown_channel_at``  7       send the n-th push on a channel nobody subscribed to
``foreign_body_at``     7       send the n-th push with a body of another channel's
                                type (deals get a ``PublicDealsV3Api`` body ...)
``unheld_topic_at``     7       send the n-th push on a topic of its channel that the
                                connection does not hold (symbol ``STRAYUSDT``;
                                pushes of topics without a symbol are left alone)
``depth_skip_at``       8       drop the n-th diff-depth push (a version gap)
``depth_duplicate_at``  8       send the n-th diff-depth push twice
``depth_reorder_at``    8       swap the n-th and (n+1)-th diff-depth pushes
``close_after``         10      clean close (1000) at this age
``silence``             2, 15   per topic, the age from which that topic's pushes stop
                                while the connection and its other topics live on
``handshake_status``    14      refuse the WebSocket upgrade with this HTTP status
``random_rate``         6-8     each push suffers one of ``random_kinds`` with
                                this probability (seeded)
======================  ======  =====================================================

Each fault that reaches the wire is counted by kind (``garbage``, ``unknown_body``,
``depth_skip`` ...) in :attr:`mexc_sim.session.ServerSession.injected`, which the
:class:`~mexc_sim.protocol.Simulator` shares between all its connections
(``Simulator.injected``): a test compares what the client saw with what was done.

A topic can also be silenced, or given its voice back, on a live connection
(:meth:`mexc_sim.session.ServerSession.silence`), and every session records
whether the client answers its WebSocket pings
(:attr:`~mexc_sim.session.ServerSession.ws_pongs`).

Subscription rejections (11), the idle rules (15) and listen-key expiry (9) are
the simulator's normal behaviour, with :meth:`mexc_sim.exchange.Exchange.expire_listen_key`
to expire a key at will; REST faults (17 and the stale snapshot of 8) are in
:class:`RestFaults`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Final, final

__all__ = (
    "DRIFT_KINDS",
    "PROFILES",
    "RANDOM_KINDS",
    "SOAK_PERIOD",
    "SOAK_PROFILES",
    "STRAY_KINDS",
    "Faults",
    "RestFaults",
    "profile",
    "soak_plans",
)

#: The push faults ``random_rate`` draws from.
RANDOM_KINDS: Final = (
    "garbage",
    "truncate",
    "unknown_body",
    "unknown_field",
    "unknown_channel",
    "depth_skip",
    "depth_duplicate",
    "foreign_body",
    "unheld_topic",
)

#: The random kinds of the ``drift`` profile: every push the schema or the session
#: does not expect (unknown bodies, fields and channels, foreign bodies, topics
#: not held).
DRIFT_KINDS: Final = (
    "unknown_body",
    "unknown_field",
    "unknown_channel",
    "foreign_body",
    "unheld_topic",
)

#: Bytes of the oversized frame (docs/faults.rst section 5: above a 1-4 MiB client limit).
OVERSIZE_BYTES: Final = 11 * 1024 * 1024


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Faults:
    """The faults of one WebSocket connection (see the module docstring).

    Ages are simulator seconds since the connection opened; push numbers count
    the pushes of this connection from 1 (diff-depth numbers count only
    ``aggre.depth`` pushes).
    """

    reset_after: float | None = None
    blackhole_after: float | None = None
    close_after: float | None = None
    no_pong: bool = False
    stall_after: float | None = None
    stall_for: float = 0.0
    handshake_status: int | None = None
    silence: Mapping[str, float] = field(default_factory=dict)
    garbage_at: AbstractSet[int] = frozenset()
    truncate_at: AbstractSet[int] = frozenset()
    oversize_at: AbstractSet[int] = frozenset()
    unknown_body_at: AbstractSet[int] = frozenset()
    unknown_field_at: AbstractSet[int] = frozenset()
    unknown_channel_at: AbstractSet[int] = frozenset()
    foreign_body_at: AbstractSet[int] = frozenset()
    unheld_topic_at: AbstractSet[int] = frozenset()
    depth_skip_at: AbstractSet[int] = frozenset()
    depth_duplicate_at: AbstractSet[int] = frozenset()
    depth_reorder_at: AbstractSet[int] = frozenset()
    random_rate: float = 0.0
    random_kinds: tuple[str, ...] = RANDOM_KINDS
    seed: int | str = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.random_rate <= 1.0:
            raise ValueError(f"random_rate must be in [0, 1], got {self.random_rate}")
        unknown = set(self.random_kinds) - set(RANDOM_KINDS)
        if unknown:
            raise ValueError(f"unknown random fault kinds {sorted(unknown)}; use {RANDOM_KINDS}")
        for name in (
            "garbage_at",
            "truncate_at",
            "oversize_at",
            "unknown_body_at",
            "unknown_field_at",
            "unknown_channel_at",
            "foreign_body_at",
            "unheld_topic_at",
            "depth_skip_at",
            "depth_duplicate_at",
            "depth_reorder_at",
        ):
            value = getattr(self, name)
            if not isinstance(value, frozenset):
                object.__setattr__(self, name, frozenset(value))
        # a read-only copy, so that a plan cannot change under the connections it serves
        object.__setattr__(self, "silence", MappingProxyType(dict(self.silence)))

    @property
    def any(self) -> bool:
        """Whether this plan injects anything."""
        return self != Faults(seed=self.seed)


@dataclass(slots=True)
class RestFaults:
    """Faults of the REST endpoints, changeable while the simulator runs.

    :ivar errors: per path, statuses the next requests get instead of an answer
        (``500``, ``503``, ``504``, ``429`` with ``Retry-After``), one per request.
    :ivar hang: per path, how many next requests get no answer at all (a timeout).
    :ivar delay: seconds (simulator time) before every answer.
    :ivar stale_snapshot: ``/api/v3/depth`` answers with the book this many
        versions old (a snapshot older than the stream, docs/faults.rst section 8).
    :ivar keepalive_idle: close a keep-alive HTTP connection (a FIN, no
        ``Connection: close`` before) once it has been idle this many simulator
        seconds, as servers and load balancers do; ``None`` keeps it open.
    :ivar close_delimited: answer without ``Content-Length`` (or chunks) and end the
        body by closing the connection (HTTP/1.1 allows it, RFC 9112 section 6.3).
    """

    errors: dict[str, deque[int]] = field(default_factory=dict)
    hang: dict[str, int] = field(default_factory=dict)
    delay: float = 0.0
    stale_snapshot: int = 0
    keepalive_idle: float | None = None
    close_delimited: bool = False

    def fail(self, path: str, status: int, count: int = 1) -> None:
        """Answer the next ``count`` requests to ``path`` with ``status``."""
        self.errors.setdefault(path, deque()).extend([status] * count)

    def take_error(self, path: str) -> int | None:
        """The forced status of this request to ``path``, if any (consumed)."""
        queue = self.errors.get(path)
        if not queue:
            return None
        return queue.popleft()

    def take_hang(self, path: str) -> bool:
        """Whether this request to ``path`` gets no answer (consumed)."""
        left = self.hang.get(path, 0)
        if left <= 0:
            return False
        self.hang[path] = left - 1
        return True


#: Named fault plans for ``mexc sim --faults`` and ``mexc demo --faults``. The
#: scheduled ones strike every connection within its first seconds, so that a
#: short demo (``mexc demo --duration 5 --faults reset``) shows the fault and the
#: recovery, and then strike every new connection again.
PROFILES: Final[dict[str, Faults]] = {
    "none": Faults(),
    "flaky": Faults(random_rate=0.01, seed="flaky"),
    "gaps": Faults(random_rate=0.05, random_kinds=("depth_skip", "depth_duplicate")),
    "garbage": Faults(random_rate=0.02, random_kinds=("garbage", "truncate")),
    "drift": Faults(random_rate=0.1, random_kinds=DRIFT_KINDS),
    "nopong": Faults(no_pong=True),
    "reset": Faults(reset_after=3.0),
    # half-open from 2 s; a client's keepalive finds it within 9 s (docs/faults.rst section 2)
    "blackhole": Faults(blackhole_after=2.0),
    "short-lived": Faults(close_after=3.0),
}


def profile(name: str, *, seed: int | str = 0) -> Faults:
    """The named fault plan, reseeded.

    :raises KeyError: no such profile (the message lists them).
    """
    try:
        plan = PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown fault profile {name!r}; profiles: {', '.join(PROFILES)}") from None
    return replace(plan, seed=f"{seed}/{plan.seed}")


#: Simulator seconds each plan of a soak profile stays the default of new connections.
SOAK_PERIOD: Final = 30.0

#: Network faults, one plan per period: resets, clean closes, half-open links
#: (found by the keepalive), short-lived connections, and a calm period in which
#: the client's reconnect backoff starts over.
_NETWORK_PLANS: Final = (
    Faults(reset_after=20.0),
    Faults(close_after=25.0),
    Faults(blackhole_after=15.0),
    Faults(close_after=5.0),
    Faults(),
)
#: The random kind that replaces a push by one of a topic of its channel the
#: connection does not hold: the client reports a stray push (``not_held``) but no
#: gap, since MEXC's late pushes of a topic just unsubscribed look the same (the
#: soak profile ``strays``; ``docs/reliability.rst``, "Known limits"). A push on an
#: unknown channel is a gap of every topic of its link, and is in ``protocol``.
STRAY_KINDS: Final = ("unheld_topic",)
#: Protocol faults on every push (garbage, truncated frames, unknown bodies and
#: fields, foreign bodies, skipped and duplicated diffs) and a swapped pair of
#: diffs every 97 depth pushes. Listen-key invalidation is no connection fault:
#: ``mexc soak`` expires the key itself.
_PROTOCOL: Final = Faults(
    random_rate=0.004,
    random_kinds=tuple(k for k in RANDOM_KINDS if k not in STRAY_KINDS),
    depth_reorder_at=frozenset(range(40, 1_000_000, 97)),
    seed="protocol",
)

#: The fault plans of ``mexc soak --faults NAME``: the soak makes each the plan of
#: new connections in turn, for :data:`SOAK_PERIOD` simulator seconds each, and
#: starts over (``docs/reliability.rst``).
SOAK_PROFILES: Final[dict[str, tuple[Faults, ...]]] = {
    "none": (Faults(),),
    "network": _NETWORK_PLANS,
    "protocol": (_PROTOCOL,),
    "all": tuple(
        replace(
            _PROTOCOL,
            reset_after=plan.reset_after,
            close_after=plan.close_after,
            blackhole_after=plan.blackhole_after,
        )
        for plan in _NETWORK_PLANS
    ),
    "strays": (Faults(random_rate=0.004, random_kinds=STRAY_KINDS, seed="strays"),),
}


def soak_plans(name: str, *, seed: int | str = 0) -> tuple[Faults, ...]:
    """The plans of soak profile ``name``, reseeded.

    :raises KeyError: no such profile (the message lists them).
    """
    try:
        plans = SOAK_PROFILES[name]
    except KeyError:
        raise KeyError(
            f"unknown soak fault profile {name!r}; profiles: {', '.join(SOAK_PROFILES)}"
        ) from None
    return tuple(replace(plan, seed=f"{seed}/{plan.seed}/{n}") for n, plan in enumerate(plans))
