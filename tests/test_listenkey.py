"""The listen-key lifecycle: unit rules and a stateful test against a model MEXC."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from hypothesis import settings

from mexc_core import errors, events, rest
from mexc_core.listenkey import (
    CloseListenKey,
    CreateListenKey,
    KeepAliveListenKey,
    ListenKeyConfig,
    ListenKeyManager,
    ListenKeyState,
    ListListenKeys,
)
from mexc_core.rest import ApiError, ListenKey, ListenKeys, RateLimited, ServerError
from mexc_core.testing.listenkey import ListenKeyMachine

KEY = "a" * 64
KEY2 = "b" * 64


E = TypeVar("E", bound=events.Event)


def one(manager: ListenKeyManager, kind: type[E]) -> E:
    """The single pending event, which must be a ``kind``."""
    (event,) = manager.events()
    assert isinstance(event, kind), event
    return event


def state_of(manager: ListenKeyManager) -> ListenKeyState:
    # a call, so mypy does not carry a narrowed state from one assert to the next
    return manager.state


def started(**config: Any) -> tuple[ListenKeyManager, CreateListenKey]:
    manager = ListenKeyManager(ListenKeyConfig(**config))
    manager.start(0.0)
    (intent,) = manager.intents()
    assert isinstance(intent, CreateListenKey)
    return manager, intent


def active() -> ListenKeyManager:
    manager, create = started()
    manager.receive_result(create.request_id, ListenKey(KEY), 1.0)
    list(manager.events())
    return manager


def test_create_then_keepalive_every_30_minutes() -> None:
    manager, create = started()
    assert manager.next_deadline() is None  # waiting for the answer, nothing timed
    assert manager.valid_until is None
    manager.receive_result(create.request_id, ListenKey(KEY), 0.5)
    (created,) = manager.events()
    assert created == events.ListenKeyCreated(key=KEY, valid_until=3600.0)
    assert KEY not in repr(created)
    assert manager.key == KEY
    assert state_of(manager) is ListenKeyState.ACTIVE
    assert manager.next_deadline() == 1800.0
    manager.handle_timer(1799.0)
    assert manager.intents() == []
    manager.handle_timer(1800.0)
    (keepalive,) = manager.intents()
    assert keepalive == KeepAliveListenKey(request_id=2, key=KEY)
    assert KEY not in repr(keepalive)
    assert state_of(manager) is ListenKeyState.RENEWING
    manager.receive_result(keepalive.request_id, ListenKey(KEY), 1801.0)
    assert list(manager.events()) == [events.ListenKeyRenewed(valid_until=5400.0)]
    assert manager.next_deadline() == 3600.0


def test_a_failed_keepalive_is_retried_with_backoff_before_expiry() -> None:
    manager = active()
    manager.handle_timer(1800.0)
    (keepalive,) = manager.intents()
    manager.receive_result(keepalive.request_id, ServerError("HTTP 503", status=503), 1801.0)
    failed = one(manager, events.ListenKeyRenewalFailed)
    assert failed.retry_at == 1803.0  # the first ceiling, 2 s, without jitter
    assert manager.key == KEY  # still valid
    manager.handle_timer(1803.0)
    (retry,) = manager.intents()
    manager.request_failed(retry.request_id, 1804.0, "timeout")
    failed = one(manager, events.ListenKeyRenewalFailed)
    assert failed.retry_at == 1808.0  # doubled
    assert failed.error == "timeout"
    manager.handle_timer(1808.0)
    (retry,) = manager.intents()
    manager.receive_result(retry.request_id, ListenKey(KEY), 1809.0)
    assert list(manager.events()) == [events.ListenKeyRenewed(valid_until=5408.0)]


def test_retry_after_is_honoured() -> None:
    manager = active()
    manager.handle_timer(1800.0)
    (keepalive,) = manager.intents()
    limited = RateLimited("HTTP 429", status=429, retry_after=60.0)
    manager.receive_result(keepalive.request_id, limited, 1801.0)
    failed = one(manager, events.ListenKeyRenewalFailed)
    assert failed.retry_at == 1861.0


def test_a_refused_keepalive_is_checked_before_the_key_is_given_up() -> None:
    manager = active()
    manager.handle_timer(1800.0)
    (keepalive,) = manager.intents()
    refused = ApiError("HTTP 400", status=400, code=730002, msg="invalid")
    manager.receive_result(keepalive.request_id, refused, 1801.0)
    failed = one(manager, events.ListenKeyRenewalFailed)
    assert failed.retry_at == 1803.0
    (listing,) = manager.intents()
    assert isinstance(listing, ListListenKeys)
    manager.receive_result(listing.request_id, ListenKeys((KEY2,)), 1801.5)
    listed, lost = manager.events()
    assert isinstance(listed, events.ListenKeysListed)
    assert lost == events.ListenKeyLost(
        key=KEY, reason=events.ListenKeyLostReason.REJECTED, detail="HTTP 400"
    )
    assert KEY not in repr(lost)
    assert manager.key is None
    (create,) = manager.intents()
    assert isinstance(create, CreateListenKey)
    manager.receive_result(create.request_id, ListenKey(KEY2), 1802.0)
    assert manager.key == KEY2


def test_a_refused_keepalive_of_a_listed_key_is_only_retried() -> None:
    """700003 (a drifting clock) or a WAF 403 must not tear down healthy streams."""
    manager = active()
    manager.handle_timer(1800.0)
    (keepalive,) = manager.intents()
    skew = ApiError("HTTP 400 code 700003", status=400, code=700003, msg="recvWindow")
    manager.receive_result(keepalive.request_id, skew, 1801.0)
    (listing,) = manager.intents()
    manager.receive_result(listing.request_id, ListenKeys((KEY,)), 1801.5)
    assert [type(e).__name__ for e in manager.events()] == [
        "ListenKeyRenewalFailed",
        "ListenKeysListed",
    ]
    assert manager.key == KEY
    manager.handle_timer(1803.0)
    (retry,) = manager.intents()
    assert isinstance(retry, KeepAliveListenKey)
    manager.receive_result(retry.request_id, ListenKey(KEY), 1804.0)
    assert one(manager, events.ListenKeyRenewed).valid_until == 5403.0


def test_a_long_outage_does_not_overflow_the_backoff() -> None:
    """Found in review: 2.0 ** failures overflowed after 1,024 failures (34 h)."""
    manager, first = started()
    request_id = first.request_id
    now = 0.0
    for _ in range(2000):
        now += 1.0
        manager.request_failed(request_id, now)
        failed = one(manager, events.ListenKeyCreateFailed)
        assert failed.retry_at - now == 120.0 or now < 200  # capped at retry_max
        now = failed.retry_at
        manager.handle_timer(now)
        (retry,) = manager.intents()
        request_id = retry.request_id


def test_error_is_terminal() -> None:
    manager = active()
    with pytest.raises(errors.StateError):
        manager.start(2.0)
    calls: list[Callable[[], None]] = [
        lambda: manager.reconcile(3.0),
        lambda: manager.handle_timer(3.0),
        lambda: manager.key_invalidated(3.0),
        lambda: manager.close(3.0),
    ]
    for call in calls:
        with pytest.raises(errors.StateError):
            call()
    assert manager.intents() == []


def test_expiry_without_successful_keepalive_loses_the_key() -> None:
    manager = active()
    manager.handle_timer(1800.0)
    (keepalive,) = manager.intents()  # never answered
    assert manager.next_deadline() == 3600.0 - 60.0
    manager.handle_timer(3540.0)
    lost = one(manager, events.ListenKeyLost)
    assert lost.reason is events.ListenKeyLostReason.EXPIRED
    (create,) = manager.intents()
    assert isinstance(create, CreateListenKey)
    # the late answer to the old keepalive is ignored
    manager.receive_result(keepalive.request_id, ListenKey(KEY), 3541.0)
    assert list(manager.events()) == []
    assert state_of(manager) is ListenKeyState.CREATING


def test_no_retry_that_lands_after_the_deadline() -> None:
    manager = active()
    manager.handle_timer(1800.0)
    (keepalive,) = manager.intents()
    manager.receive_result(
        keepalive.request_id, RateLimited("429", status=429, retry_after=3000.0), 1801.0
    )
    failed = one(manager, events.ListenKeyRenewalFailed)
    assert failed.retry_at is None
    assert manager.next_deadline() == 3540.0


def test_invalid_listen_key_on_the_socket_loses_the_key() -> None:
    manager = active()
    manager.key_invalidated(10.0)
    lost = one(manager, events.ListenKeyLost)
    assert lost.reason is events.ListenKeyLostReason.INVALIDATED
    assert isinstance(manager.intents()[0], CreateListenKey)
    manager.key_invalidated(11.0)  # no key held: nothing more
    assert list(manager.events()) == []


def test_create_failures_back_off_and_refusals_wait_long() -> None:
    manager, create = started()
    manager.request_failed(create.request_id, 1.0)
    failed = one(manager, events.ListenKeyCreateFailed)
    assert failed == events.ListenKeyCreateFailed(
        error="transport error", retry_at=3.0, rejected=False
    )
    manager.handle_timer(3.0)
    (retry,) = manager.intents()
    manager.receive_result(retry.request_id, ApiError("HTTP 401", status=401, code=10072), 4.0)
    refused = one(manager, events.ListenKeyCreateFailed)
    assert refused.rejected
    assert refused.retry_at == 304.0


class FixedRandom:
    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


def test_jitter_is_injected() -> None:
    manager = ListenKeyManager(rng=FixedRandom(0.25))
    manager.start(0.0)
    (create,) = manager.intents()
    manager.request_failed(create.request_id, 0.0)
    failed = one(manager, events.ListenKeyCreateFailed)
    assert failed.retry_at == 0.5  # a quarter of the 2 s ceiling (full jitter)


def test_reconcile() -> None:
    manager = active()
    manager.reconcile(5.0)
    (listing,) = manager.intents()
    assert isinstance(listing, ListListenKeys)
    manager.receive_result(listing.request_id, ListenKeys((KEY, KEY2)), 6.0)
    assert list(manager.events()) == [events.ListenKeysListed(count=2, holds_key=True, error=None)]
    manager.reconcile(7.0)
    (listing,) = manager.intents()
    manager.receive_result(listing.request_id, ServerError("503", status=503), 8.0)
    listed = one(manager, events.ListenKeysListed)
    assert listed.error == "503"
    manager.reconcile(9.0)
    (listing,) = manager.intents()
    manager.receive_result(listing.request_id, ListenKeys((KEY2,)), 10.0)
    missing, lost = manager.events()
    assert isinstance(missing, events.ListenKeysListed)
    assert missing.holds_key is False
    assert isinstance(lost, events.ListenKeyLost)
    assert lost.reason is events.ListenKeyLostReason.NOT_LISTED


def test_losing_the_key_forgets_its_keepalive_but_not_a_reconciliation() -> None:
    manager = active()
    manager.reconcile(5.0)
    manager.reconcile(6.0)  # one already in flight: not sent twice
    manager.handle_timer(1800.0)
    listing, keepalive = manager.intents()
    assert isinstance(listing, ListListenKeys)
    assert isinstance(keepalive, KeepAliveListenKey)
    manager.key_invalidated(1801.0)
    assert one(manager, events.ListenKeyLost).reason is events.ListenKeyLostReason.INVALIDATED
    (create,) = manager.intents()
    assert isinstance(create, CreateListenKey)
    manager.receive_result(keepalive.request_id, ListenKey(KEY), 1802.0)  # about the old key
    assert list(manager.events()) == []
    assert state_of(manager) is ListenKeyState.CREATING
    manager.receive_result(listing.request_id, ListenKeys((KEY2,)), 1803.0)  # still answered
    assert list(manager.events()) == [events.ListenKeysListed(count=1, holds_key=None, error=None)]


def test_close_deletes_once() -> None:
    manager = active()
    manager.close(5.0)
    (delete,) = manager.intents()
    assert delete == CloseListenKey(request_id=2, key=KEY)
    assert manager.key is None
    manager.close(6.0)
    assert manager.intents() == []
    manager.receive_result(delete.request_id, ListenKey(KEY), 7.0)
    assert list(manager.events()) == [events.ListenKeyClosed(deleted=True)]
    assert state_of(manager) is ListenKeyState.CLOSED
    assert manager.next_deadline() is None


def test_close_without_a_key_and_failed_delete() -> None:
    manager, _ = started()
    manager.close(1.0)
    assert list(manager.events()) == [events.ListenKeyClosed(deleted=False)]
    assert state_of(manager) is ListenKeyState.CLOSED
    idle = ListenKeyManager()
    idle.close(0.0)
    assert state_of(idle) is ListenKeyState.CLOSED
    other = active()
    other.close(2.0)
    (delete,) = other.intents()
    other.request_failed(delete.request_id, 3.0)
    assert list(other.events()) == [events.ListenKeyClosed(deleted=False)]


def test_misuse() -> None:
    manager = active()
    with pytest.raises(errors.StateError):
        manager.start(2.0)
    assert state_of(manager) is ListenKeyState.ERROR
    fresh = ListenKeyManager()
    with pytest.raises(errors.LocalProtocolError, match="not issued"):
        fresh.receive_result(1, ListenKey(KEY), 0.0)
    fresh.handle_timer(5.0)
    with pytest.raises(errors.ClockError):
        fresh.handle_timer(4.0)
    with pytest.raises(errors.ClockError):
        fresh.handle_timer(math.nan)


@pytest.mark.parametrize(
    "config",
    [
        {"validity": 0},
        {"keepalive_interval": math.inf},
        {"safety_margin": -1},
        {"keepalive_interval": 3600},
        {"rejected_retry": 0},
    ],
)
def test_bad_config(config: dict[str, Any]) -> None:
    with pytest.raises(errors.InvalidConfig):
        ListenKeyConfig(**config)


def test_intents_build_signed_requests() -> None:
    client = rest.RestClient(rest.Credentials("key", "secret"))
    assert CreateListenKey(request_id=1).build(client, 5).method == "POST"
    assert ListListenKeys(request_id=1).build(client, 5).method == "GET"
    put = KeepAliveListenKey(request_id=1, key=KEY).build(client, 5)
    assert (put.method, put.signed) == ("PUT", True)
    assert f"listenKey={KEY}" in put.query
    assert CloseListenKey(request_id=1, key=KEY).build(client, 5).method == "DELETE"
    assert KEY not in repr(ListenKeyManager()) + repr(active())


# ---------------------------------------------------------------- stateful


class ListenKeyLifecycle(ListenKeyMachine):
    """The shipped machine (:mod:`mexc_core.testing.listenkey`), run here."""


ListenKeyLifecycle.TestCase.settings = settings(stateful_step_count=40)
TestListenKeyLifecycle = ListenKeyLifecycle.TestCase


def test_an_answer_that_arrives_too_late_is_not_trusted() -> None:
    """Found by the stateful test: a create answered 59 minutes after it was sent."""
    manager, create = started()
    manager.receive_result(create.request_id, ListenKey(KEY), 3541.0)
    created, lost = manager.events()
    assert isinstance(created, events.ListenKeyCreated)
    assert isinstance(lost, events.ListenKeyLost)
    assert lost.reason is events.ListenKeyLostReason.EXPIRED
    assert manager.key is None
    assert isinstance(manager.intents()[0], CreateListenKey)


def test_odds_and_ends() -> None:
    assert KEY not in repr(CloseListenKey(request_id=3, key=KEY))
    manager = active()
    assert manager.next_event() is None
    with pytest.raises(errors.StateError):
        manager.start(2.0)
    assert manager.next_deadline() is None  # ERROR: nothing scheduled
    renewing = active()
    renewing.handle_timer(1800.0)
    renewing.handle_timer(1900.0)  # a keepalive in flight: nothing else to do
    assert len(renewing.intents()) == 1
