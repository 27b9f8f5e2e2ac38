"""Bounded buffers and overflow policies, without I/O (``docs/faults.rst`` section 4).

Theory of operation
===================

A consumer slower than the market must never stall the socket reader (the
keepalive runs there) and must never make memory grow without bound. Every
buffer between the reader and a consumer is therefore bounded, and what happens
when it is full is an explicit :class:`OverflowPolicy`:

``BLOCK`` ("block after the reader")
    Nothing is dropped by the buffer: it takes the item and reports itself
    :attr:`~BoundedBuffer.full`, and the stage feeding it (the client's
    dispatcher, never the socket reader) waits for room before it goes on. The
    reader keeps reading into the client's :class:`Inbox`; if the consumer stays
    stalled until the inbox is full too, the inbox drops pushes and signals the
    gap (:class:`~mexc_core.events.GapDetected`, cause ``OVERFLOW``), never
    silently. For trades and private streams.
``DROP_OLDEST``
    The oldest item makes room for the new one; :attr:`~BoundedBuffer.dropped`
    counts them. For consumers that prefer fresh data and can live with holes
    they are told about.
``CONFLATE``
    Items with the same key (by default the push's channel) replace each other:
    only the latest of each waits, in the place where the first one arrived;
    :attr:`~BoundedBuffer.conflated` counts the replaced ones. For snapshot-like
    channels (tickers, limit depth, klines), where only the latest state
    matters. When more keys than ``capacity`` wait, the oldest key is dropped
    (counted in :attr:`~BoundedBuffer.dropped`).

:class:`BoundedBuffer` holds the policy logic; the anyio streams in
:mod:`mexc_core.aio.streams` add waiting. :class:`Inbox` is the buffer between
the socket readers and the dispatcher: pushes count against its capacity,
lifecycle events always fit (they are few), and when pushes of a topic were
dropped, a :class:`~mexc_core.events.GapDetected` goes out just before the next
push of that topic that fits. Stray pushes
(:class:`~mexc_core.events.StrayPushReceived`) come at the rate of the data, so
they count against the capacity too; one that does not fit is dropped and
counted (the session and pool counters still saw it).

Shedding before decoding
------------------------

Dropping at the inbox comes late: the push was framed, decoded, deduplicated
and routed first, and a core that cannot keep up spends its time decoding
pushes it then throws away. So the client sheds earlier: while the inbox holds
:attr:`Inbox.shed_at` pushes or more (three quarters of its capacity by
default), and until the dispatcher has taken it down to :attr:`Inbox.resume_at`
(a quarter), it runs a *shedding episode*. During an episode each session looks
at a binary frame's channel only (:func:`~mexc_core.wire.peek_channel`: the wrapper's first
field, a few bytes in) and, if the channel is a public topic it receives, counts
the frame in the pool's :class:`Shedder` instead of decoding it. Nothing else is
shed: text frames (acks, rejections, PONGs, errors) are read as always, so the
keepalive works at any load; private links are never shed (orders and balances
matter more than market data); a frame whose channel cannot be peeked, or that
is not a topic the session receives, is decoded and judged as usual. Shed
frames still count as data for the silence watchdog.

Channels whose every push is the whole current state (:data:`CONFLATED_BODIES`:
partial depth, book tickers, mini tickers, klines) are *conflated* instead of
shed: the session keeps the newest frame of each such topic, unread, replacing
the one before (counted in :attr:`Shedder.conflated`), and decodes the kept
frames when the episode ends, so a consumer sees the latest state and no gap:
only states that were already out of date are skipped.

When the episode ends the pool reports it as one
:class:`~mexc_core.events.GapDetected` (cause ``OVERFLOW``) naming every topic
shed, from the episode's start to its end, with ``missed`` the frames shed in
all: each affected topic gets exactly one gap signal per episode, however many
frames it lost, and order books of those topics resynchronise on it as on any
other gap. The inbox's own drop stays as the last resort, for pushes that arrive
in the read that crosses :attr:`Inbox.shed_at` and do not fit.
"""

from __future__ import annotations

import enum
import math
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Mapping
from types import MappingProxyType
from typing import Final, Generic, TypeVar, final

from mexc_core._generated.records import (
    PublicAggreBookTickerV3Api,
    PublicBookTickerBatchV3Api,
    PublicBookTickerV3Api,
    PublicLimitDepthsV3Api,
    PublicMiniTickersV3Api,
    PublicMiniTickerV3Api,
    PublicSpotKlineV3Api,
)
from mexc_core.errors import InvalidConfig
from mexc_core.events import Event, GapCause, GapDetected, Push, StrayPushReceived

__all__ = (
    "CONFLATED_BODIES",
    "BoundedBuffer",
    "Inbox",
    "OverflowPolicy",
    "Shedder",
    "channel_key",
)

#: The body types of channels conflated rather than shed in an episode: each push
#: carries the whole current state of its topic (a snapshot of the best levels, the
#: best bid and ask, a ticker, the current kline), so the newest one is all a
#: consumer needs.
CONFLATED_BODIES: Final[frozenset[type]] = frozenset(
    {
        PublicLimitDepthsV3Api,
        PublicAggreBookTickerV3Api,
        PublicBookTickerBatchV3Api,
        PublicBookTickerV3Api,
        PublicMiniTickersV3Api,
        PublicMiniTickerV3Api,
        PublicSpotKlineV3Api,
    }
)

T = TypeVar("T")


class OverflowPolicy(enum.Enum):
    """What a full buffer does with one more item (see the module docstring)."""

    #: Keep it and report the buffer full: the feeding stage waits (never the reader).
    BLOCK = "block"
    #: Drop the oldest item for it, and count the drop.
    DROP_OLDEST = "drop_oldest"
    #: Replace the waiting item with the same key; only the latest per key waits.
    CONFLATE = "conflate"


def channel_key(item: object) -> Hashable:
    """The default conflation key: a push's channel; any other item is its own key."""
    if isinstance(item, Push):
        return item.channel
    return item if isinstance(item, Hashable) else id(item)


def _check_capacity(capacity: object) -> None:
    if type(capacity) is not int or capacity < 1:
        raise InvalidConfig(f"capacity must be an int >= 1, got {capacity!r}", setting="capacity")


@final
class BoundedBuffer(Generic[T]):
    """A FIFO buffer of at most ``capacity`` items with an overflow policy.

    :param capacity: the bound (``BLOCK`` may hold a few more, see :meth:`offer`).
    :param policy: what to do when full (a member or its value, e.g. ``"conflate"``).
    :raises ValueError: ``policy`` is no policy.
    :param key: for ``CONFLATE``, the key of an item (default :func:`channel_key`).
    :raises InvalidConfig: ``capacity`` is not a positive int.
    """

    __slots__ = ("_items", "_key", "capacity", "conflated", "dropped", "policy")

    def __init__(
        self,
        capacity: int,
        policy: OverflowPolicy | str = OverflowPolicy.BLOCK,
        *,
        key: Callable[[T], Hashable] | None = None,
    ) -> None:
        _check_capacity(capacity)
        policy = OverflowPolicy(policy)
        self.capacity: Final = capacity
        self.policy: Final = policy
        #: Items dropped to make room (``DROP_OLDEST``, or keys evicted by ``CONFLATE``).
        self.dropped = 0
        #: Items replaced by a newer one with the same key (``CONFLATE``).
        self.conflated = 0
        self._key: Callable[[T], Hashable] = key or channel_key
        self._items: OrderedDict[Hashable, T] | deque[T] = (
            OrderedDict() if policy is OverflowPolicy.CONFLATE else deque()
        )

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return (
            f"<BoundedBuffer {self.policy.name} {len(self)}/{self.capacity} "
            f"dropped={self.dropped} conflated={self.conflated}>"
        )

    @property
    def full(self) -> bool:
        """Whether the buffer holds ``capacity`` items or more (``BLOCK``: wait for room)."""
        return len(self._items) >= self.capacity

    def offer(self, item: T) -> None:
        """Add ``item`` according to the policy (never raises, never blocks).

        With ``BLOCK`` the item is always kept, even above ``capacity``: the
        caller must wait for room (:attr:`full` false) before offering more, so
        the excess is bounded by what one step of the caller offers.
        """
        items = self._items
        if isinstance(items, OrderedDict):
            key = self._key(item)
            if key in items:
                items[key] = item
                self.conflated += 1
                return
            if len(items) >= self.capacity:
                items.popitem(last=False)
                self.dropped += 1
            items[key] = item
            return
        if self.policy is OverflowPolicy.DROP_OLDEST and len(items) >= self.capacity:
            items.popleft()
            self.dropped += 1
        items.append(item)

    def take(self) -> T:
        """Remove and return the oldest item.

        :raises IndexError: the buffer is empty.
        """
        items = self._items
        if isinstance(items, OrderedDict):
            if not items:
                raise IndexError("take from an empty buffer")
            return items.popitem(last=False)[1]
        return items.popleft()


@final
class Shedder:
    """Counts the pushes sessions leave unread during shedding episodes.

    One per pool, shared by its public sessions (see "Shedding before decoding"
    in the module docstring). The pool starts and ends episodes
    (:meth:`start`, :meth:`stop`); sessions check :attr:`active` and
    :meth:`count` what they shed.
    """

    __slots__ = ("_counts", "_since", "active", "conflated", "episodes", "shed")

    def __init__(self) -> None:
        #: Whether an episode runs: sessions shed while it is true.
        self.active = False
        #: Frames shed, in total.
        self.shed = 0
        #: Frames of conflated topics replaced by a newer one unread, in total.
        self.conflated = 0
        #: Episodes started, in total.
        self.episodes = 0
        self._counts: dict[str, int] = {}
        self._since = 0.0

    def __repr__(self) -> str:
        state = "shedding" if self.active else "idle"
        return (
            f"<Shedder {state} shed={self.shed} conflated={self.conflated} "
            f"episodes={self.episodes}>"
        )

    @property
    def counts(self) -> Mapping[str, int]:
        """Frames shed per topic in the running episode (read it, do not write)."""
        return MappingProxyType(self._counts)

    def start(self, now: float) -> None:
        """Start an episode at ``now`` (nothing happens if one runs)."""
        if not self.active:
            self.active = True
            self.episodes += 1
            self._since = now

    def count(self, topic: str) -> None:
        """One frame of ``topic`` was shed."""
        self.shed += 1
        counts = self._counts
        counts[topic] = counts.get(topic, 0) + 1

    def stop(self, now: float) -> tuple[dict[str, int], float]:
        """End the episode: the frames shed per topic (in the order topics were
        first shed), and when the episode began. No episode: nothing shed."""
        counts, self._counts = self._counts, {}
        since = self._since if self.active else now
        self.active = False
        return counts, since


@final
class Inbox:
    """The bounded queue between the socket readers and the dispatcher.

    :param capacity: pushes, overflow gaps and stray pushes it holds; lifecycle
        events do not count.
    :raises InvalidConfig: ``capacity`` is not an int >= 2.

    The client sheds pushes unread from :attr:`shed_at` queued pushes on until
    :attr:`resume_at` (see "Shedding before decoding" in the module docstring).
    Each event is put with the time its bytes were read; :attr:`read_at` is that
    time for the event :meth:`take` returned last (the client's read-to-hook
    latency).
    """

    def __init__(self, capacity: int) -> None:
        _check_capacity(capacity)
        if capacity < 2:
            raise InvalidConfig(
                f"an inbox needs room for a push and its gap: capacity >= 2, got {capacity}",
                setting="capacity",
            )
        self.capacity: Final = capacity
        #: Pushes dropped because the inbox was full, in total.
        self.dropped = 0
        #: Stray pushes dropped because the inbox was full, in total.
        self.strays_dropped = 0
        #: Queued pushes from which the client sheds before decoding.
        self.shed_at: Final = max(1, capacity * 3 // 4)
        #: Queued pushes at or below which a shedding episode ends.
        self.resume_at: Final = capacity // 4
        #: When the bytes of the event last taken were read (``-inf`` before any).
        self.read_at = -math.inf
        self._items: deque[Event] = deque()
        # (events put before it, read time): one mark per distinct read time
        self._marks: deque[tuple[int, float]] = deque()
        self._mark = -math.inf
        self._put = 0
        self._taken = 0
        self._pushes = 0
        # topic -> (time of the first drop, pushes dropped since)
        self._gaps: dict[str, tuple[float, int]] = {}

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        pushes = f"{self._pushes}/{self.capacity} pushes"
        return f"<Inbox {pushes}, {len(self)} items, dropped={self.dropped}>"

    @property
    def backlog(self) -> int:
        """Pushes, overflow gaps and stray pushes queued (what counts against capacity)."""
        return self._pushes

    @property
    def pending_gaps(self) -> tuple[str, ...]:
        """Topics with pushes dropped and no push admitted since."""
        return tuple(self._gaps)

    def put(self, event: Event, now: float) -> bool:
        """Queue ``event``; ``False`` if it was a push or a stray push and was
        dropped (inbox full).

        A push that follows drops of its topic needs room for itself and for the
        :class:`~mexc_core.events.GapDetected` that goes before it: both count
        against ``capacity``, so the inbox never holds more than ``capacity``
        pushes, overflow gaps and stray pushes, plus the lifecycle events. The
        pool's gap at the end of a shedding episode counts too, but always fits
        (the episode ends when the backlog is down to :attr:`resume_at`).

        ``now`` is when the event's bytes were read (see :attr:`read_at`).
        """
        if now != self._mark:
            self._mark = now
            marks = self._marks
            if marks and marks[-1][0] == self._put:
                marks[-1] = (self._put, now)  # nothing was queued at the last read time
            else:
                marks.append((self._put, now))
        if not isinstance(event, Push):
            kind = type(event)
            if kind is StrayPushReceived:
                if self._pushes >= self.capacity:
                    self.strays_dropped += 1
                    return False
                self._pushes += 1
            elif isinstance(event, GapDetected) and event.cause is GapCause.OVERFLOW:
                self._pushes += 1  # a shedding episode's gap: it always fits
            self._items.append(event)
            self._put += 1
            return True
        topic = event.channel
        gap = self._gaps.get(topic)
        if self._pushes + (1 if gap is None else 2) > self.capacity:
            self.dropped += 1
            since, count = gap or (now, 0)
            self._gaps[topic] = (since, count + 1)
            return False
        if gap is not None:
            del self._gaps[topic]
            self._items.append(
                GapDetected(
                    topics=(topic,),
                    cause=GapCause.OVERFLOW,
                    started_at=gap[0],
                    ended_at=now,
                    missed=gap[1],
                )
            )
            self._pushes += 1
            self._put += 1
        self._items.append(event)
        self._pushes += 1
        self._put += 1
        return True

    def take(self) -> Event | None:
        """The oldest event, or ``None`` when empty."""
        if not self._items:
            return None
        event = self._items.popleft()
        marks = self._marks
        taken = self._taken
        while marks and marks[0][0] <= taken:
            self.read_at = marks.popleft()[1]
        self._taken = taken + 1
        if (
            isinstance(event, Push)
            or type(event) is StrayPushReceived
            or (isinstance(event, GapDetected) and event.cause is GapCause.OVERFLOW)
        ):
            self._pushes -= 1
        return event
