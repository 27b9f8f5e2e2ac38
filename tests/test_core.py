"""The sans-IO client core: subscribe tickets, the listen key wired to the pool.

Every scenario runs in virtual time against the in-memory simulator
(:mod:`mexc_core.testing.harness`): sockets and REST calls are answered at once.
"""

from __future__ import annotations

import random

import pytest

from mexc_core.client.core import ClientCore, CoreConfig, CoreState, RestCall
from mexc_core.client.pool import OpenTransport, PoolConfig
from mexc_core.errors import ListenKeyRequired, StateError
from mexc_core.events import (
    DisconnectCause,
    Event,
    FailureCause,
    GapDetected,
    LinkDisconnected,
    ListenKeyClosed,
    ListenKeyCreated,
    ListenKeyCreateFailed,
    ListenKeyInvalidated,
    Push,
    SubscribeCompleted,
    SubscribeFailure,
)
from mexc_core.listenkey import CreateListenKey, ListenKeyState
from mexc_core.rest import Credentials
from mexc_core.testing.harness import CoreLoop
from mexc_sim.exchange import ExchangeConfig, default_markets
from mexc_sim.faults import Faults
from mexc_sim.protocol import SimConfig

MARKETS = default_markets(4)
DEALS = [f"spot@public.aggre.deals.v3.api.pb@100ms@{m.symbol}" for m in MARKETS]
ORDERS = "spot@private.orders.v3.api.pb"
BAD = "spot@public.aggre.deals.v3.api.pb@100ms@NOPEUSDT"


def sim_config(**kwargs: object) -> SimConfig:
    return SimConfig(exchange=ExchangeConfig(markets=MARKETS, **kwargs))  # type: ignore[arg-type]


def completions(loop: CoreLoop) -> list[SubscribeCompleted]:
    return [e for e in loop.events if isinstance(e, SubscribeCompleted)]


def of(loop: CoreLoop, kind: type[Event]) -> list[Event]:
    return loop.of(kind)


def test_a_ticket_completes_when_every_topic_has_an_answer() -> None:
    loop = CoreLoop(sim=sim_config())
    loop.start()
    ticket = loop.subscribe_ticket([DEALS[0], BAD, DEALS[0]])
    loop.run_for(1.0)
    (done,) = completions(loop)
    assert done.ticket == ticket == 1
    assert done.topics == (DEALS[0], BAD)  # in order, without repeats
    assert done.confirmed == (DEALS[0],)
    assert done.failures == (
        SubscribeFailure(topic=BAD, cause=FailureCause.REJECTED, reason="Blocked!"),
    )
    assert not done.ok
    assert loop.core.open_tickets() == ()
    # a topic carried already is confirmed at once
    again = loop.subscribe_ticket([DEALS[0]])
    (_, second) = completions(loop)
    assert (second.ticket, second.confirmed, second.ok) == (again, (DEALS[0],), True)
    loop.run_for(10.0)
    assert any(isinstance(e, Push) and e.channel == DEALS[0] for e in loop.events)


def test_a_ticket_waits_through_reconnects_and_unsubscribe_cancels_it() -> None:
    loop = CoreLoop(sim=sim_config())
    loop.start()
    loop.muted.add(1)  # the first transport hears nothing: the open times out
    ticket = loop.subscribe_ticket(DEALS[:2])
    loop.run_for(0.5)
    assert loop.core.open_tickets() == (ticket,)
    loop.core.unsubscribe([DEALS[1]], loop.now)
    loop.run_for(30.0)
    (done,) = completions(loop)
    assert done.confirmed == (DEALS[0],)
    assert done.cancelled == (DEALS[1],)
    assert done.failures == ()
    downs = [e for e in loop.events if isinstance(e, LinkDisconnected)]
    assert downs
    assert downs[0].cause is DisconnectCause.CONNECT_FAILED


def test_the_core_survives_a_reset_with_a_signalled_gap() -> None:
    loop = CoreLoop(sim=sim_config())
    loop.sim.queue_faults(Faults(reset_after=3.0))
    loop.start()
    loop.subscribe_ticket(DEALS[:1])
    loop.run_for(20.0)
    (gap,) = loop.of(GapDetected)
    assert isinstance(gap, GapDetected)
    assert gap.topics == (DEALS[0],)
    assert loop.pool.is_carried(DEALS[0])
    (done,) = completions(loop)
    assert done.ok


def test_private_topics_follow_the_listen_key_through_its_loss() -> None:
    loop = CoreLoop(sim=sim_config(), credentials=True)
    loop.start()
    keys = loop.core.listen_keys
    assert keys is not None
    assert keys.state is ListenKeyState.ACTIVE
    first = keys.key
    assert first is not None
    ticket = loop.subscribe_ticket([ORDERS, DEALS[0]])
    loop.run_for(2.0)
    (done,) = completions(loop)
    assert (done.ticket, set(done.confirmed)) == (ticket, {ORDERS, DEALS[0]})
    assert loop.pool.is_carried(ORDERS)
    # MEXC invalidates the key: the socket says so, the manager makes a new one,
    # the private link reconnects with it, and the hole is a signalled gap
    loop.sim.exchange.expire_listen_key(first, loop.now)
    loop.run_for(5.0)
    assert loop.of(ListenKeyInvalidated)
    created = [e for e in loop.events if isinstance(e, ListenKeyCreated)]
    assert len(created) == 2
    assert keys.key is not None
    assert keys.key != first
    assert loop.pool.listen_key == keys.key
    assert loop.pool.is_carried(ORDERS)
    gaps = [e for e in loop.events if isinstance(e, GapDetected)]
    assert [g.topics for g in gaps] == [(ORDERS,)]
    # closing deletes the key, then the core is finished
    loop.core.close(loop.now)
    loop.run_for(1.0)
    assert loop.core.finished
    assert loop.core.state is CoreState.CLOSED
    (closed,) = loop.of(ListenKeyClosed)
    assert isinstance(closed, ListenKeyClosed)
    assert closed.deleted
    assert loop.rest_calls.count("/api/v3/userDataStream") == 3  # create x2, delete
    assert loop.wires == {}


def test_a_refused_listen_key_fails_the_private_topics_of_open_tickets() -> None:
    loop = CoreLoop(sim=sim_config(api_secret="not-the-secret-the-core-signs-with"))
    loop.core = ClientCore(
        CoreConfig(pool=PoolConfig(host="127.0.0.1")),
        credentials=Credentials(loop.sim.config.exchange.api_key, "a-wrong-secret"),
        rng=random.Random(0),
    )
    loop.pool = loop.core.pool
    loop.driver = loop.core
    ticket = loop.core.subscribe([ORDERS, DEALS[0]], loop.now)  # before start: taken
    loop.start()
    loop.run_for(1.0)
    (failed, *_) = loop.of(ListenKeyCreateFailed)
    assert isinstance(failed, ListenKeyCreateFailed)
    assert failed.rejected
    (done,) = completions(loop)
    assert done.ticket == ticket
    assert done.confirmed == (DEALS[0],)
    (failure,) = done.failures
    assert (failure.topic, failure.cause) == (ORDERS, FailureCause.LISTEN_KEY_REFUSED)
    assert failure.reason == failed.error
    assert ORDERS in loop.core.topics  # still wanted: the key is retried, slowly


def test_a_private_topic_needs_credentials() -> None:
    core = ClientCore(rng=random.Random(0))
    with pytest.raises(ListenKeyRequired):
        core.subscribe([ORDERS], 0.0)
    assert core.open_tickets() == ()
    assert core.topics == ()


def test_commands_follow_the_life_of_the_core() -> None:
    core = ClientCore(rng=random.Random(0))
    assert "IDLE" in repr(core)
    core.start(0.0)
    with pytest.raises(StateError, match="cannot start in state RUNNING"):
        core.start(0.0)
    ticket = core.subscribe(DEALS[:1], 0.0)
    before = core.has_output
    (intent,) = core.intents()
    assert isinstance(intent, OpenTransport)
    assert core.intents() == []
    assert (before, core.has_output) == (True, False)
    assert core.data_to_send(intent.cid) == b""
    core.close(1.0)
    core.close(1.0)  # again: nothing more
    events = list(core.events())
    (done,) = [e for e in events if isinstance(e, SubscribeCompleted)]
    assert (done.ticket, done.cancelled) == (ticket, (DEALS[0],))
    assert core.finished
    assert core.next_event() is None
    with pytest.raises(StateError, match="cannot subscribe in state CLOSED"):
        core.subscribe(DEALS[:1], 2.0)
    with pytest.raises(StateError, match="cannot unsubscribe"):
        core.unsubscribe(DEALS[:1], 2.0)
    assert core.stats.pushes == 0


def test_rest_answers_the_core_no_longer_waits_for_are_ignored() -> None:
    creds = Credentials("key-0123456789", "secret-0123456789")
    core = ClientCore(credentials=creds, rng=random.Random(0))
    core.start(0.0)
    (call,) = core.intents()
    assert isinstance(call, RestCall)
    assert isinstance(call.intent, CreateListenKey)
    request = call.request(1_700_000_000_000)
    assert request.method == "POST"
    assert "secret-0123456789" not in repr(call)
    assert core.next_deadline() is None  # waiting for the answer only
    core.rest_failed(call.call_id, 1.0, "connection refused")
    failed = [e for e in core.events() if isinstance(e, ListenKeyCreateFailed)]
    assert [f.rejected for f in failed] == [False]
    deadline = core.next_deadline()
    assert deadline is not None
    assert deadline > 1.0
    core.handle_timer(deadline)
    (retry,) = core.intents()
    assert isinstance(retry, RestCall)
    core.close(deadline)
    core.rest_failed(retry.call_id, deadline + 1, "late")  # the manager ignores it
    core.rest_failed(retry.call_id, deadline + 1, "again")  # the core does not know it
    core.rest_result(retry.call_id, request.parse(200, {}, b'{"listenKey":"k"}'), deadline + 1)
    assert core.finished
