"""Moving a topic between connections without a gap or a repeat, without I/O.

Theory of operation
===================

The connection pool (:mod:`mexc_core.client.pool`) sometimes moves a topic from
one link to another while the topic keeps flowing: every topic of a link about to
reach MEXC's 24 h cut-off (a *rotation*), and the topics of an emptied link after
unsubscribing (*consolidation*). It moves them make-before-break: the new home
subscribes the topic while the old link (the *source*) still carries it and
delivers its pushes. A :class:`Handover` is that move for one topic::

    SUBSCRIBING --acked--> ALIGNING --aligned / timeout / hold full--> SWITCHED
         ^                    |
         +---- target lost ---+            any live state --sources lost--> ABANDONED
         +---- retargeted ----+

- ``SUBSCRIBING``: the new home (the *target*) asked MEXC for the topic; the
  sources deliver as before.
- ``ALIGNING``: MEXC acknowledged the topic on the target. The target's pushes
  are *held*, not delivered, until one of them is a push the sources already
  delivered (the deduplicator's :meth:`~mexc_core.client.dedup.Deduplicator.seen`):
  from there on the target's stream continues the sources' stream. Either
  socket may be read first, so the check runs both ways: on a held push when it
  arrives, and on the oldest held push after each push of a source.
- ``SWITCHED``: aligned, or ``switch_timeout`` after the ack (a quiet topic, or
  pushes that carry nothing to compare), or more than ``max_held`` pushes held.
  The sources let the topic go and the held pushes are delivered, through the
  deduplicator, so the consumer sees one stream without a hole or a repeat.
- ``ABANDONED``: every source went down before the switch. The held pushes are
  delivered and the target carries on alone; the pool reports a gap if nothing
  carried the topic meanwhile.

If the target goes down while aligning, the hand-over returns to ``SUBSCRIBING``
and drops what it held: the sources still deliver, so nothing is lost, and the
target subscribes again when it reconnects. If the topic is moved again before
the switch (the target itself is rotated or emptied), the hand-over is
*retargeted*: the new target replaces the old one, which never delivered the
topic and simply drops it.

A :class:`Rotation` follows one link's rotation as a whole: it is ``ROTATED``
(:class:`~mexc_core.events.LinkRotated` is reported) when the old link closes
with every topic carried by the new one, ``BROKEN`` when the old link went down
before that.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable, Mapping
from typing import Final, final

from mexc_core._machine import Machine, frozen_table
from mexc_core.events import Push

__all__ = (
    "Handover",
    "HandoverInput",
    "HandoverState",
    "Rotation",
    "RotationInput",
    "RotationState",
)


class HandoverState(enum.Enum):
    """Where the move of one topic stands."""

    #: The target subscribes; the sources deliver.
    SUBSCRIBING = "subscribing"
    #: The target is acknowledged; its pushes are held until they meet the sources'.
    ALIGNING = "aligning"
    #: Done: the sources let the topic go, the held pushes were delivered.
    SWITCHED = "switched"
    #: Every source went down before the switch.
    ABANDONED = "abandoned"
    #: A broken rule (a bug): nothing more happens.
    ERROR = "error"


class HandoverInput(enum.Enum):
    """What moves a hand-over."""

    #: MEXC acknowledged the topic on the target.
    ACKED = "acked"
    #: The target's connection went down.
    TARGET_LOST = "target lost"
    #: The topic moves on to another target before the switch.
    RETARGETED = "retargeted"
    #: A held push repeats one the sources delivered.
    ALIGNED = "aligned"
    #: The target holds more than ``max_held`` pushes.
    HOLD_FULL = "hold full"
    #: ``switch_timeout`` passed since the ack.
    TIMEOUT = "timeout"
    #: The last source went down.
    SOURCES_LOST = "sources lost"


_H = HandoverState
_HI = HandoverInput

_HANDOVER_TRANSITIONS: Final[Mapping[tuple[HandoverState, HandoverInput], HandoverState]] = (
    frozen_table(
        {
            (_H.SUBSCRIBING, _HI.ACKED): _H.ALIGNING,
            (_H.SUBSCRIBING, _HI.TARGET_LOST): _H.SUBSCRIBING,
            (_H.SUBSCRIBING, _HI.RETARGETED): _H.SUBSCRIBING,
            (_H.SUBSCRIBING, _HI.SOURCES_LOST): _H.ABANDONED,
            (_H.ALIGNING, _HI.TARGET_LOST): _H.SUBSCRIBING,
            (_H.ALIGNING, _HI.RETARGETED): _H.SUBSCRIBING,
            (_H.ALIGNING, _HI.ALIGNED): _H.SWITCHED,
            (_H.ALIGNING, _HI.HOLD_FULL): _H.SWITCHED,
            (_H.ALIGNING, _HI.TIMEOUT): _H.SWITCHED,
            (_H.ALIGNING, _HI.SOURCES_LOST): _H.ABANDONED,
        }
    )
)


@final
class Handover:
    """The make-before-break move of ``topic`` to link ``target`` (module docstring).

    :param topic: the topic moved.
    :param source: the link it leaves (more join with :meth:`add_source`).
    :param target: the link it moves to.
    :param max_held: pushes of the target held back at most while aligning.
    """

    __slots__ = ("_machine", "held", "max_held", "sources", "switch_at", "target", "topic")

    def __init__(self, topic: str, source: int, target: int, *, max_held: int) -> None:
        self.topic: Final = topic
        #: The links the topic leaves; they deliver until the switch.
        self.sources: set[int] = {source}
        #: The link the topic moves to.
        self.target = target
        self.max_held: Final = max_held
        #: When an acknowledged target switches without aligning (``ALIGNING`` only).
        self.switch_at: float | None = None
        #: The target's pushes held back while aligning, oldest first.
        self.held: deque[Push] = deque()
        self._machine: Final = Machine(
            "hand-over", _HANDOVER_TRANSITIONS, HandoverState.SUBSCRIBING, HandoverState.ERROR
        )

    def __repr__(self) -> str:
        return (
            f"<Handover {self.topic} {sorted(self.sources)}->{self.target} "
            f"{self._machine.state.name} held={len(self.held)}>"
        )

    @property
    def state(self) -> HandoverState:
        """The current state."""
        return self._machine.state

    def acked(self, switch_at: float) -> None:
        """MEXC acknowledged the topic on the target; it switches at ``switch_at`` at the latest."""
        self._machine.step(HandoverInput.ACKED)
        self.switch_at = switch_at

    def target_lost(self) -> None:
        """The target went down: wait for its next acknowledgement, drop what it held."""
        self._machine.step(HandoverInput.TARGET_LOST)
        self.switch_at = None
        self.held.clear()

    def retarget(self, target: int) -> None:
        """Move the topic on to ``target`` instead; the old target simply drops it."""
        self._machine.step(HandoverInput.RETARGETED)
        self.target = target
        self.switch_at = None
        self.held.clear()

    def from_target(self, push: Push, seen: Callable[[Push], bool]) -> bool:
        """Hold a push of the target; ``True`` when the hand-over switched with it.

        :param seen: whether the sources already delivered a push.
        """
        self.held.append(push)
        if self._machine.state is not HandoverState.ALIGNING:
            # Not acknowledged yet (a push ahead of MEXC's ack): it cannot switch
            # before the ack, so it keeps only the newest pushes.
            if len(self.held) > self.max_held:
                self.held.popleft()
            return False
        if seen(push):
            self._machine.step(HandoverInput.ALIGNED)
            return True
        if len(self.held) > self.max_held:
            self._machine.step(HandoverInput.HOLD_FULL)
            return True
        return False

    def after_source(self, seen: Callable[[Push], bool]) -> bool:
        """A source delivered a push; ``True`` when that aligned the target (switched)."""
        if self._machine.state is HandoverState.ALIGNING and self.held and seen(self.held[0]):
            self._machine.step(HandoverInput.ALIGNED)
            return True
        return False

    def timer(self, now: float) -> bool:
        """``True`` when the switch deadline passed at ``now`` (switched)."""
        if self.switch_at is not None and self.switch_at <= now:
            self._machine.step(HandoverInput.TIMEOUT)
            return True
        return False

    def source_lost(self, link: int) -> None:
        """Source ``link`` went down before the switch: the hand-over is abandoned."""
        self.sources.discard(link)
        self._machine.step(HandoverInput.SOURCES_LOST)

    def release(self) -> list[Push]:
        """Take the held pushes, to deliver once the hand-over is over."""
        held = list(self.held)
        self.held.clear()
        return held


class RotationState(enum.Enum):
    """Where the rotation of one link stands."""

    #: The new link takes the old link's topics.
    ROTATING = "rotating"
    #: Every topic moved without a gap; the old link is closed.
    ROTATED = "rotated"
    #: The old link went down before every topic was carried by the new one.
    BROKEN = "broken"
    #: A broken rule (a bug).
    ERROR = "error"


class RotationInput(enum.Enum):
    """What ends a rotation."""

    #: The old link closed with every topic carried elsewhere.
    COMPLETED = "completed"
    #: The old link went down with some topic carried by nobody.
    FAILED = "failed"


_R = RotationState
_RI = RotationInput

_ROTATION_TRANSITIONS: Final[Mapping[tuple[RotationState, RotationInput], RotationState]] = (
    frozen_table(
        {
            (_R.ROTATING, _RI.COMPLETED): _R.ROTATED,
            (_R.ROTATING, _RI.FAILED): _R.BROKEN,
        }
    )
)


@final
class Rotation:
    """The replacement of link ``old`` by link ``new`` before MEXC's 24 h cut-off.

    :param old: the link replaced. :param new: the link taking its topics.
    :param topics: the topics moved. :param opened_at: when the old link opened.
    """

    __slots__ = ("_machine", "new", "old", "opened_at", "topics")

    def __init__(self, old: int, new: int, topics: tuple[str, ...], opened_at: float) -> None:
        self.old: Final = old
        self.new: Final = new
        self.topics: Final = topics
        self.opened_at: Final = opened_at
        self._machine: Final = Machine(
            "rotation", _ROTATION_TRANSITIONS, RotationState.ROTATING, RotationState.ERROR
        )

    def __repr__(self) -> str:
        return f"<Rotation {self.old}->{self.new} {self._machine.state.name}>"

    @property
    def state(self) -> RotationState:
        """The current state."""
        return self._machine.state

    def end(self, *, complete: bool) -> RotationState:
        """The old link is gone; ``complete`` when every topic is carried elsewhere."""
        return self._machine.step(RotationInput.COMPLETED if complete else RotationInput.FAILED)
