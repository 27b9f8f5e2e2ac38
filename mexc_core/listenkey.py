"""The listen-key lifecycle, sans-IO: create, keep alive, recover, close.

Theory of operation
===================

Private streams need a listen key (``docs/protocol.rst``, "Listen keys"): a key is
valid for 60 minutes after it is created or kept alive (``PUT``), ``DELETE`` ends
it, and MEXC allows 60 keys per account and 5 WebSocket connections per key. A
:class:`ListenKeyManager` owns one key through its whole life. It never does I/O
and never reads a clock: it emits *intents* (:class:`CreateListenKey`,
:class:`KeepAliveListenKey`, :class:`CloseListenKey`, :class:`ListListenKeys`),
which the caller turns into signed requests with :meth:`ListenKeyIntent.build`
(the wall clock is needed only there, to sign), sends, and reports back with
:meth:`ListenKeyManager.receive_result` or :meth:`ListenKeyManager.request_failed`.
Time is ``now`` (monotonic seconds); wake it at :meth:`~ListenKeyManager.next_deadline`.

::

    IDLE --start--> CREATING --created--> ACTIVE --keepalive due--> RENEWING
                     ^   |  \\               ^  \\                     |   |
          create failed  |   \\               +---\\-----renewed--------+   |
          (retry later)--+    \\                  \\--renew failed (retry)--+
                               \\ key lost (expired, rejected, invalidated)
                                +<--------------- from ACTIVE or RENEWING
    any --close--> CLOSING --closed--> CLOSED

Rules the table does not show:

1. A key counts as valid until ``validity`` (60 min) after the *sending* of the
   request that created or renewed it, minus ``safety_margin``: the server's
   clock started no earlier than that. Keepalives go out every
   ``keepalive_interval`` (30 min by default, half the validity, as MEXC
   recommends), so one failed keepalive leaves half an hour for retries.
2. A failed keepalive is retried with capped exponential backoff
   (:class:`~mexc_core.client.backoff.Backoff`, jitter from the injected random
   source) as long as the retry lands before the key's
   safety deadline; a keepalive MEXC *rejects* (4xx other than 429) means the key
   is gone. Either way a key past its deadline is lost: :class:`ListenKeyLost`,
   then a new key is created. The private connections must then reconnect with
   the new key and reconcile over REST (orders, balances, trades), because
   private events in the gap are lost for good.
3. ``Invalid listen key`` on a WebSocket (:meth:`~ListenKeyManager.key_invalidated`)
   loses the key at once.
4. Results of requests the manager no longer waits for (a keepalive answered
   after the key was replaced) are ignored; results for ids it never issued are
   a caller error. When the key is lost, its keepalives not handed out yet are
   dropped, and those in flight are listed once by
   :meth:`~ListenKeyManager.abandoned`: the caller cancels them, so a keepalive
   hanging on a dead key never holds back the new key.
5. :meth:`~ListenKeyManager.close` deletes the key if there is one, once; a
   failed ``DELETE`` still ends in ``CLOSED`` (the key expires by itself).
"""

from __future__ import annotations

import enum
import math
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Final, TypeAlias, final

from mexc_core._clock import checked_now
from mexc_core._machine import Machine, frozen_table
from mexc_core.client.backoff import Backoff, RandomSource
from mexc_core.errors import InvalidConfig, LocalProtocolError
from mexc_core.events import (
    Event,
    ListenKeyClosed,
    ListenKeyCreated,
    ListenKeyCreateFailed,
    ListenKeyLost,
    ListenKeyLostReason,
    ListenKeyRenewalFailed,
    ListenKeyRenewed,
    ListenKeysListed,
)
from mexc_core.rest import (
    ApiError,
    IpBanned,
    ListenKey,
    ListenKeys,
    RateLimited,
    RestClient,
    RestError,
    RestRequest,
    shorten,
)

__all__ = (
    "MAX_CONNECTIONS_PER_KEY",
    "MAX_KEYS_PER_ACCOUNT",
    "RETRY",
    "VALIDITY",
    "CloseListenKey",
    "CreateListenKey",
    "KeepAliveListenKey",
    "ListListenKeys",
    "ListenKeyConfig",
    "ListenKeyInput",
    "ListenKeyIntent",
    "ListenKeyManager",
    "ListenKeyState",
)

#: MEXC: a key lives 60 minutes after creation or its last keepalive.
VALIDITY: Final = 60 * 60.0
#: MEXC: at most 60 valid listen keys per account.
MAX_KEYS_PER_ACCOUNT: Final = 60
#: MEXC: at most 5 WebSocket connections per listen key (the connection pool keeps to it).
MAX_CONNECTIONS_PER_KEY: Final = 5
#: Retries after a failed request: 2 s, 4 s, 8 s ... up to 2 min.
RETRY: Final = Backoff(initial=2.0, cap=120.0)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ListenKeyConfig:
    """Timing of the lifecycle, in seconds (defaults follow MEXC's documentation).

    :ivar validity: how long MEXC keeps a key after creation or keepalive.
    :ivar keepalive_interval: time between keepalives (MEXC recommends 30 min).
    :ivar safety_margin: a key is treated as lost this long before it would expire.
    :ivar retry: the delays between retries after failures (full jitter when the
        manager has a random source, the ceilings otherwise).
    :ivar rejected_retry: delay before creating again after MEXC *refused* to
        create a key (bad credentials, key limit): long, since retrying sooner
        would not help.
    """

    validity: float = VALIDITY
    keepalive_interval: float = 30 * 60.0
    safety_margin: float = 60.0
    retry: Backoff = RETRY
    rejected_retry: float = 300.0

    def __post_init__(self) -> None:
        for name in ("validity", "keepalive_interval"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise InvalidConfig(f"{name} must be a positive number", setting=name)
        if not 0 <= self.safety_margin < self.validity:
            raise InvalidConfig("safety_margin must be in [0, validity)", setting="safety_margin")
        if self.keepalive_interval >= self.validity - self.safety_margin:
            raise InvalidConfig(
                "keepalive_interval must leave time before validity - safety_margin",
                setting="keepalive_interval",
            )
        if not (math.isfinite(self.rejected_retry) and self.rejected_retry > 0):
            raise InvalidConfig("rejected_retry must be positive", setting="rejected_retry")


# ---------------------------------------------------------------- intents


@dataclass(frozen=True, slots=True, kw_only=True)
class _Intent:
    request_id: int


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class CreateListenKey(_Intent):
    """Send ``POST /api/v3/userDataStream``."""

    def build(self, rest: RestClient, wall_ms: int) -> RestRequest[ListenKey]:
        """The signed request, timestamped with the caller's wall clock (ms)."""
        return rest.create_listen_key(wall_ms)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class KeepAliveListenKey(_Intent):
    """Send ``PUT /api/v3/userDataStream`` for ``key``."""

    key: str

    def __repr__(self) -> str:
        return f"KeepAliveListenKey(request_id={self.request_id}, key={shorten(self.key)!r})"

    def build(self, rest: RestClient, wall_ms: int) -> RestRequest[ListenKey]:
        """The signed request, timestamped with the caller's wall clock (ms)."""
        return rest.keepalive_listen_key(self.key, wall_ms)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class CloseListenKey(_Intent):
    """Send ``DELETE /api/v3/userDataStream`` for ``key``."""

    key: str

    def __repr__(self) -> str:
        return f"CloseListenKey(request_id={self.request_id}, key={shorten(self.key)!r})"

    def build(self, rest: RestClient, wall_ms: int) -> RestRequest[ListenKey]:
        """The signed request, timestamped with the caller's wall clock (ms)."""
        return rest.close_listen_key(self.key, wall_ms)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ListListenKeys(_Intent):
    """Send ``GET /api/v3/userDataStream`` (reconciliation)."""

    def build(self, rest: RestClient, wall_ms: int) -> RestRequest[ListenKeys]:
        """The signed request, timestamped with the caller's wall clock (ms)."""
        return rest.list_listen_keys(wall_ms)


ListenKeyIntent: TypeAlias = CreateListenKey | KeepAliveListenKey | CloseListenKey | ListListenKeys


# ---------------------------------------------------------------- the machine


class ListenKeyState(enum.Enum):
    """Where the key is in its life."""

    IDLE = "idle"
    CREATING = "creating"
    ACTIVE = "active"
    RENEWING = "renewing"
    CLOSING = "closing"
    CLOSED = "closed"
    ERROR = "error"


class ListenKeyInput(enum.Enum):
    """What moves the machine."""

    START = "start"
    CREATED = "created"
    CREATE_FAILED = "create failed"
    KEEPALIVE_DUE = "keepalive due"
    RENEWED = "renewed"
    RENEW_FAILED = "renew failed"
    KEY_LOST = "key lost"
    CLOSE = "close"
    CLOSE_DONE = "close done"


_S = ListenKeyState
_I = ListenKeyInput

_TRANSITIONS: Final[Mapping[tuple[ListenKeyState, ListenKeyInput], ListenKeyState]] = frozen_table(
    {
        (_S.IDLE, _I.START): _S.CREATING,
        (_S.CREATING, _I.CREATED): _S.ACTIVE,
        (_S.CREATING, _I.CREATE_FAILED): _S.CREATING,
        (_S.ACTIVE, _I.KEEPALIVE_DUE): _S.RENEWING,
        (_S.RENEWING, _I.RENEWED): _S.ACTIVE,
        (_S.RENEWING, _I.RENEW_FAILED): _S.ACTIVE,
        (_S.ACTIVE, _I.KEY_LOST): _S.CREATING,
        (_S.RENEWING, _I.KEY_LOST): _S.CREATING,
        (_S.IDLE, _I.CLOSE): _S.CLOSED,
        (_S.CREATING, _I.CLOSE): _S.CLOSING,
        (_S.ACTIVE, _I.CLOSE): _S.CLOSING,
        (_S.RENEWING, _I.CLOSE): _S.CLOSING,
        (_S.CLOSING, _I.CLOSE): _S.CLOSING,
        (_S.CLOSING, _I.CLOSE_DONE): _S.CLOSED,
        (_S.CLOSED, _I.CLOSE): _S.CLOSED,
    }
)

#: States without timers.
_UNTIMED: Final = frozenset({_S.IDLE, _S.CLOSING, _S.CLOSED, _S.ERROR})


class ListenKeyManager:
    """One listen key, from creation to deletion. See the module docstring.

    :param config: timings (defaults: MEXC's 60 min validity, keepalive every 30 min).
    :param rng: the source of backoff jitter (``random.Random``, seeded in tests);
        ``None`` means no jitter: every retry waits its full ceiling.
    """

    def __init__(
        self,
        config: ListenKeyConfig | None = None,
        *,
        rng: RandomSource | None = None,
    ) -> None:
        self.config = config or ListenKeyConfig()
        self._rng = rng
        self._machine: Final = Machine(
            "listen key", _TRANSITIONS, ListenKeyState.IDLE, ListenKeyState.ERROR
        )
        self._key: str | None = None
        self._valid_until = math.inf
        self._keepalive_at = math.inf
        self._retry_at = math.inf
        self._failures = 0
        self._refusal: str | None = None
        self._next_id = 1
        self._pending: dict[int, tuple[ListenKeyIntent, float]] = {}
        self._outbox: deque[ListenKeyIntent] = deque()
        self._abandoned: list[int] = []
        self._events: deque[Event] = deque()
        self._last_now = -math.inf

    def __repr__(self) -> str:
        key = shorten(self._key) if self._key else None
        return f"ListenKeyManager(state={self._machine.state.name}, key={key!r})"

    # -- observation

    @property
    def state(self) -> ListenKeyState:
        """The current state."""
        return self._machine.state

    @property
    def key(self) -> str | None:
        """The key to connect with, when one is held (``ACTIVE`` or ``RENEWING``)."""
        if self._machine.state in (ListenKeyState.ACTIVE, ListenKeyState.RENEWING):
            return self._key
        return None

    @property
    def valid_until(self) -> float | None:
        """When the held key stops being trusted (monotonic seconds), or ``None``."""
        return self._valid_until if self.key is not None else None

    def next_event(self) -> Event | None:
        """The next event, or ``None``."""
        return self._events.popleft() if self._events else None

    def events(self) -> Iterator[Event]:
        """Drain the events."""
        while self._events:
            yield self._events.popleft()

    def intents(self) -> list[ListenKeyIntent]:
        """The requests to send now (each once), in order."""
        out = list(self._outbox)
        self._outbox.clear()
        return out

    def abandoned(self) -> list[int]:
        """Ids of requests in flight the manager no longer waits for (rule 4), each
        once: cancel them; their answers would be ignored anyway."""
        out, self._abandoned = self._abandoned, []
        return out

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` must run next, or ``None`` if nothing is scheduled."""
        if self._machine.state in (
            ListenKeyState.IDLE,
            ListenKeyState.CLOSING,
            ListenKeyState.CLOSED,
        ):
            return None
        if self._machine.state is ListenKeyState.ERROR:
            return None
        deadline = min(self._retry_at, self._keepalive_at, self._safe_until())
        return deadline if math.isfinite(deadline) else None

    # -- inputs

    def start(self, now: float) -> None:
        """Create the key.

        :raises StateError: not in ``IDLE``.
        """
        self._clock(now)
        self._move(ListenKeyInput.START)
        self._issue(CreateListenKey(request_id=self._new_id()), now)

    def reconcile(self, now: float) -> None:
        """Ask MEXC for the account's valid keys (answered by :class:`ListenKeysListed`).

        If the held key is not among them it is lost, and a new one is created. A
        reconciliation already in flight is not sent twice.
        """
        self._clock(now)
        self._issue_listing(now)

    def _issue_listing(self, now: float) -> None:
        if any(isinstance(intent, ListListenKeys) for intent, _ in self._pending.values()):
            return
        self._issue(ListListenKeys(request_id=self._new_id()), now)

    def key_invalidated(self, now: float) -> None:
        """A WebSocket said ``Invalid listen key``: the key is lost (rule 3)."""
        self._clock(now)
        if self.key is not None:
            self._lose(ListenKeyLostReason.INVALIDATED, now)

    def close(self, now: float) -> None:
        """Delete the key and stop (rule 5). Calling it again does nothing."""
        self._clock(now)
        before = self._machine.state
        key = self._key if before in (_S.ACTIVE, _S.RENEWING) else None
        self._move(ListenKeyInput.CLOSE)
        if before in (_S.CLOSING, _S.CLOSED, _S.IDLE):
            return
        unsent = {intent.request_id for intent in self._outbox}
        self._abandoned.extend(i for i in self._pending if i not in unsent)
        self._pending.clear()
        self._outbox.clear()
        self._retry_at = self._keepalive_at = math.inf
        if key is None:
            # nothing to delete (a create may be in flight: its key expires unused)
            self._move(ListenKeyInput.CLOSE_DONE)
            self._events.append(ListenKeyClosed(deleted=False))
            return
        self._issue(CloseListenKey(request_id=self._new_id(), key=key), now)

    def receive_result(
        self, request_id: int, result: ListenKey | ListenKeys | RestError, now: float
    ) -> None:
        """Report the answer to an intent: the parsed result, or the :class:`RestError`.

        :raises LocalProtocolError: ``request_id`` was never issued by this manager.
        """
        self._receive(request_id, result, now)

    def request_failed(self, request_id: int, now: float, reason: str = "transport error") -> None:
        """The request could not be completed (connection error, timeout): retry later.

        :raises LocalProtocolError: ``request_id`` was never issued by this manager.
        """
        self._receive(request_id, _TransportFailure(reason), now)

    def _receive(self, request_id: int, result: object, now: float) -> None:
        self._clock(now)
        entry = self._take(request_id)
        if entry is None:
            return
        intent, sent_at = entry
        if isinstance(intent, ListListenKeys):
            self._on_listed(result, now)
        elif isinstance(intent, CloseListenKey):
            self._move(ListenKeyInput.CLOSE_DONE)
            self._events.append(ListenKeyClosed(deleted=isinstance(result, ListenKey)))
        elif isinstance(intent, CreateListenKey):
            self._on_created(result, sent_at, now)
        else:
            self._on_renewed(result, sent_at, now)

    def handle_timer(self, now: float) -> None:
        """Run what is due at ``now``: keepalives, retries, expiry."""
        self._clock(now)
        if self._machine.state in (_S.ACTIVE, _S.RENEWING) and now >= self._safe_until():
            self._lose(ListenKeyLostReason.EXPIRED, now)
            return
        if now < self._retry_at and now < self._keepalive_at:
            return
        # only CREATING (a retry) and ACTIVE (a keepalive or its retry) hold timers
        if self._machine.state is _S.CREATING:
            self._retry_at = math.inf
            self._issue(CreateListenKey(request_id=self._new_id()), now)
        else:
            assert self._machine.state is _S.ACTIVE, self._machine.state
            self._retry_at = self._keepalive_at = math.inf
            self._move(ListenKeyInput.KEEPALIVE_DUE)
            assert self._key is not None
            self._issue(KeepAliveListenKey(request_id=self._new_id(), key=self._key), now)

    # -- internals

    def _safe_until(self) -> float:
        return self._valid_until - self.config.safety_margin

    def _clock(self, now: float) -> None:
        self._machine.check_usable()
        self._last_now = checked_now(now, self._last_now)

    def _move(self, inp: ListenKeyInput) -> None:
        self._machine.step(inp)

    def _new_id(self) -> int:
        request_id = self._next_id
        self._next_id += 1
        return request_id

    def _issue(self, intent: ListenKeyIntent, now: float) -> None:
        self._pending[intent.request_id] = (intent, now)
        self._outbox.append(intent)

    def _take(self, request_id: int) -> tuple[ListenKeyIntent, float] | None:
        if not 0 < request_id < self._next_id:
            raise LocalProtocolError(f"request id {request_id} was not issued by this manager")
        return self._pending.pop(request_id, None)

    def _backoff(self, floor: float = 0.0) -> float:
        delay = self.config.retry.delay(self._failures, self._rng)
        self._failures += 1
        return max(delay, floor)

    def _on_created(self, result: object, sent_at: float, now: float) -> None:
        if isinstance(result, ListenKey):
            self._key = result.key
            self._valid_until = sent_at + self.config.validity
            self._keepalive_at = sent_at + self.config.keepalive_interval
            self._retry_at = math.inf
            self._failures = 0
            self._move(ListenKeyInput.CREATED)
            self._events.append(ListenKeyCreated(key=result.key, valid_until=self._valid_until))
            self._drop_if_stale(now)
            return
        error = _describe(result)
        rejected = isinstance(result, ApiError)
        floor = _retry_after(result)
        if rejected:
            floor = max(floor, self.config.rejected_retry)
        delay = self._backoff(floor)
        self._retry_at = now + delay
        self._move(ListenKeyInput.CREATE_FAILED)
        self._events.append(
            ListenKeyCreateFailed(error=error, retry_at=self._retry_at, rejected=rejected)
        )

    def _on_renewed(self, result: object, sent_at: float, now: float) -> None:
        if isinstance(result, ListenKey):
            self._valid_until = sent_at + self.config.validity
            self._keepalive_at = sent_at + self.config.keepalive_interval
            self._retry_at = math.inf
            self._failures = 0
            self._move(ListenKeyInput.RENEWED)
            self._events.append(ListenKeyRenewed(valid_until=self._valid_until))
            self._drop_if_stale(now)
            return
        if isinstance(result, ApiError):
            # MEXC refused the keepalive. That may mean the key is gone, or only
            # that this request was bad (700003 from a drifting clock, a WAF 403):
            # ask MEXC which keys are valid; the key is lost only if it is not
            # listed, and the keepalive is retried meanwhile (rule 2).
            self._refusal = _describe(result)
            self._issue_listing(now)
        retry_at = now + self._backoff(_retry_after(result))
        self._move(ListenKeyInput.RENEW_FAILED)
        if retry_at >= self._safe_until():
            # no retry can land in time (rule 2): the key will be lost at expiry
            retry_at = math.inf
        self._retry_at = retry_at
        self._events.append(
            ListenKeyRenewalFailed(
                error=_describe(result),
                retry_at=None if math.isinf(retry_at) else retry_at,
                valid_until=self._valid_until,
            )
        )

    def _drop_if_stale(self, now: float) -> None:
        # an answer so late that the key's trusted window, counted from the
        # request's sending, has already passed: the key cannot be trusted
        if now >= self._safe_until():
            self._lose(ListenKeyLostReason.EXPIRED, now, detail="answer arrived too late")

    def _on_listed(self, result: object, now: float) -> None:
        if not isinstance(result, ListenKeys):
            self._events.append(
                ListenKeysListed(count=None, holds_key=None, error=_describe(result))
            )
            return
        holds = None if self._key is None else self._key in result
        self._events.append(ListenKeysListed(count=len(result.keys), holds_key=holds, error=None))
        refusal, self._refusal = self._refusal, None
        if holds is False and self.key is not None:
            if refusal is not None:
                self._lose(ListenKeyLostReason.REJECTED, now, detail=refusal)
            else:
                self._lose(ListenKeyLostReason.NOT_LISTED, now)

    def _lose(self, reason: ListenKeyLostReason, now: float, detail: str = "") -> None:
        self._move(ListenKeyInput.KEY_LOST)
        assert self._key is not None
        self._events.append(ListenKeyLost(key=self._key, reason=reason, detail=detail))
        # forget every request about the old key (rule 4); create a new one at once
        unsent = {intent.request_id for intent in self._outbox}
        for request_id, (intent, _) in list(self._pending.items()):
            if isinstance(intent, KeepAliveListenKey):
                del self._pending[request_id]
                if request_id not in unsent:
                    self._abandoned.append(request_id)
        self._outbox = deque(i for i in self._outbox if not isinstance(i, KeepAliveListenKey))
        self._key = None
        self._valid_until = self._keepalive_at = self._retry_at = math.inf
        self._failures = 0
        self._issue(CreateListenKey(request_id=self._new_id()), now)


@final
@dataclass(frozen=True, slots=True)
class _TransportFailure:
    reason: str


def _describe(result: object) -> str:
    if isinstance(result, _TransportFailure):
        return result.reason
    return str(result)


def _retry_after(result: object) -> float:
    if isinstance(result, RateLimited | IpBanned) and result.retry_after is not None:
        return result.retry_after
    return 0.0
