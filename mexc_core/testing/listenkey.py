"""A hypothesis state machine for :class:`mexc_core.listenkey.ListenKeyManager`.

Run it from a test::

    from mexc_core.testing.listenkey import ListenKeyMachine
    TestListenKeys = ListenKeyMachine.TestCase
"""

from __future__ import annotations

from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from mexc_core import events, listenkey, rest
from mexc_core.listenkey import (
    CloseListenKey,
    CreateListenKey,
    KeepAliveListenKey,
    ListenKeyConfig,
    ListenKeyManager,
    ListenKeyState,
)
from mexc_core.rest import ApiError, ListenKey, ListenKeys, RateLimited, ServerError

__all__ = ("ListenKeyMachine",)


class ListenKeyMachine(RuleBasedStateMachine):
    """The manager against a model MEXC that keeps keys 60 minutes, over hours.

    Time is a rule. The model server extends a key from the moment it answers,
    which is never before the manager sent the request, so the manager must never
    trust a key longer than the server keeps it. Answers may be lost, refused with
    a 5xx or a 429, or come late; the server may drop the key; the caller may
    reconcile or close at any time.
    """

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.manager = ListenKeyManager(ListenKeyConfig())
        self.server: dict[str, float] = {}  # key -> expiry
        self.inflight: list[listenkey.ListenKeyIntent] = []
        self.serial = 0
        self.lost = 0
        self.created = 0

    @initialize()
    def start(self) -> None:
        self.manager.start(self.now)
        self._collect()

    def _collect(self) -> None:
        self.inflight.extend(self.manager.intents())
        for event in self.manager.events():
            note(repr(event))
            if isinstance(event, events.ListenKeyLost):
                self.lost += 1
            if isinstance(event, events.ListenKeyCreated):
                self.created += 1

    def _valid(self, key: str) -> bool:
        return self.server.get(key, -1.0) > self.now

    @rule(dt=st.floats(0.0, 2400.0))
    def time_passes(self, dt: float) -> None:
        target = self.now + dt
        while True:
            deadline = self.manager.next_deadline()
            if deadline is None or deadline > target:
                break
            self.now = max(self.now, deadline)
            self.manager.handle_timer(self.now)
            self._collect()
        self.now = target
        self.manager.handle_timer(self.now)
        self._collect()

    @precondition(lambda self: bool(self.inflight))
    @rule(outcome=st.sampled_from(["ok", "ok", "ok", "5xx", "429", "transport"]))
    def server_answers(self, outcome: str) -> None:
        intent = self.inflight.pop(0)
        result: ListenKey | ListenKeys | rest.RestError
        if outcome == "5xx":
            result = ServerError("HTTP 503", status=503)
        elif outcome == "429":
            result = RateLimited("HTTP 429", status=429, retry_after=30.0)
        elif outcome == "transport":
            self.manager.request_failed(intent.request_id, self.now)
            self._collect()
            return
        elif isinstance(intent, CreateListenKey):
            self.serial += 1
            key = f"{self.serial:064d}"
            self.server[key] = self.now + listenkey.VALIDITY
            result = ListenKey(key)
        elif isinstance(intent, KeepAliveListenKey):
            if self._valid(intent.key):
                self.server[intent.key] = self.now + listenkey.VALIDITY
                result = ListenKey(intent.key)
            else:
                result = ApiError("HTTP 400", status=400, code=730001, msg="invalid listen key")
        elif isinstance(intent, CloseListenKey):
            self.server.pop(intent.key, None)
            result = ListenKey(intent.key)
        else:
            result = ListenKeys(tuple(k for k in self.server if self._valid(k)))
        self.manager.receive_result(intent.request_id, result, self.now)
        self._collect()

    @precondition(lambda self: self.manager.key is not None)
    @rule()
    def server_drops_the_key(self) -> None:
        key = self.manager.key
        assert key is not None
        self.server.pop(key)
        self.manager.key_invalidated(self.now)
        self._collect()

    @rule()
    def reconcile(self) -> None:
        if self.manager.state in (ListenKeyState.CLOSING, ListenKeyState.CLOSED):
            return
        self.manager.reconcile(self.now)
        self._collect()

    @precondition(lambda self: self.manager.state is not ListenKeyState.CLOSED)
    @rule()
    def close(self) -> None:
        self.manager.close(self.now)
        self.inflight = [i for i in self.inflight if isinstance(i, CloseListenKey)]
        self._collect()

    @invariant()
    def never_trusts_a_key_longer_than_the_server_keeps_it(self) -> None:
        key = self.manager.key
        if key is None:
            return
        valid_until = self.manager.valid_until
        assert valid_until is not None
        if key in self.server:
            assert valid_until <= self.server[key] + 1e-9
        # a held key is always inside its trusted window
        assert self.now < valid_until - self.manager.config.safety_margin + 1e-9

    @invariant()
    def something_is_always_scheduled_or_awaited(self) -> None:
        state = self.manager.state
        assert state is not ListenKeyState.ERROR
        if state in (ListenKeyState.ACTIVE, ListenKeyState.RENEWING, ListenKeyState.CREATING):
            assert self.manager.next_deadline() is not None or self.inflight

    @invariant()
    def no_request_flood(self) -> None:
        assert len(self.inflight) <= 4
