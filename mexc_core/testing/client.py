"""Hypothesis state machines for the connection pool and the client core.

Both run against the simulator in memory (:mod:`mexc_core.testing.harness`): the
rules subscribe and unsubscribe (valid topics and one MEXC rejects), let time
pass, reset, blackhole or refuse connections, and, for the client core, drop the
listen key on the exchange's side and close. The invariants are what a user
relies on:

- the topics wanted are exactly those asked for, less those given up and those
  MEXC rejected;
- no connection carries more topics than the cap, and each topic has one home;
- no push reaches the user for a topic not wanted, and no trade twice;
- after every timer, the next deadline is later than now (no busy loop);
- every subscribe ticket completes exactly once, with every topic it asked for.

Run them from a test::

    from mexc_core.testing.client import ClientCoreMachine, PoolMachine
    TestPool = PoolMachine.TestCase
    TestClientCore = ClientCoreMachine.TestCase
"""

from __future__ import annotations

from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from mexc_core.client.core import CoreConfig, CoreState
from mexc_core.client.pool import PoolConfig
from mexc_core.events import Event, Push, SubscribeCompleted, TopicsRejected
from mexc_core.messages import PublicAggreDealsV3Api
from mexc_core.session import SessionConfig
from mexc_core.testing.harness import CoreLoop, Loop
from mexc_sim.exchange import ExchangeConfig, default_markets
from mexc_sim.faults import Faults
from mexc_sim.protocol import SimConfig

__all__ = ("CAP", "TOPICS", "ClientCoreMachine", "PoolMachine")

#: Topics per connection in the machines: small, so several connections are needed.
CAP = 2

_SYMBOLS = ("BTCUSDT", "ETHUSDT", "MXUSDT", "SOLUSDT")
#: The topics the machines play with; the last one MEXC rejects (no such market).
TOPICS: tuple[str, ...] = (
    *(f"spot@public.aggre.deals.v3.api.pb@100ms@{s}" for s in _SYMBOLS),
    "spot@public.aggre.deals.v3.api.pb@100ms@NOPEUSDT",
)
_PRIVATE = "spot@private.orders.v3.api.pb"


def _sim_config() -> SimConfig:
    return SimConfig(exchange=ExchangeConfig(markets=default_markets(len(_SYMBOLS))))


def _faults(kind: str) -> Faults:
    return {
        "reset": Faults(reset_after=1.0),
        "blackhole": Faults(blackhole_after=0.5),
        "close": Faults(close_after=1.0),
        "refuse": Faults(handshake_status=503),
    }[kind]


class _Model:
    """What the user asked for, and what the user was told."""

    def __init__(self) -> None:
        self.wanted: set[str] = set()
        self.trades: dict[str, set[str]] = {}

    def seen(self, event: Event) -> None:
        if isinstance(event, TopicsRejected):
            self.wanted -= set(event.topics)
        elif isinstance(event, Push):
            assert event.channel in self.wanted, f"a push for {event.channel}, not wanted"
            body = event.body
            if isinstance(body, PublicAggreDealsV3Api):
                ids = self.trades.setdefault(event.channel, set())
                for deal in body.deals:
                    assert deal.trade_id not in ids, f"trade {deal.trade_id} delivered twice"
                    ids.add(deal.trade_id)


class _Faulty(RuleBasedStateMachine):
    """Rules shared by both machines: time passes, connections fail."""

    loop: Loop

    @rule(dt=st.floats(0.01, 20.0))
    def time_passes(self, dt: float) -> None:
        self.loop.run_for(dt)

    @rule(kind=st.sampled_from(["reset", "blackhole", "close", "refuse"]))
    def the_next_connection_fails(self, kind: str) -> None:
        self.loop.sim.queue_faults(_faults(kind))

    @precondition(lambda self: bool(self.loop.wires))
    @rule(data=st.data())
    def a_socket_dies(self, data: st.DataObject) -> None:
        cid = data.draw(st.sampled_from(sorted(self.loop.wires)))
        note(f"transport {cid} dies")
        conn = self.loop.wires.pop(cid)
        self.loop.sim.disconnect(conn)
        self.loop.driver.transport_failed(cid, self.loop.now, "reset by the test")
        self.loop.settle()

    @invariant()
    def each_topic_has_one_home_within_the_cap(self) -> None:
        homes: dict[str, int] = {}
        for link in self.loop.pool.links():
            assert len(link.topics) <= CAP, link
            for topic in link.topics:
                assert topic not in homes, f"{topic} on links {homes[topic]} and {link.link}"
                homes[topic] = link.link


class PoolMachine(_Faulty):
    """:class:`~mexc_core.client.pool.ConnectionPool` under random commands and faults."""

    def __init__(self) -> None:
        super().__init__()
        self.model = _Model()
        session = SessionConfig(max_subscriptions=CAP)
        self.loop = Loop(PoolConfig(host="127.0.0.1", session=session), _sim_config())
        self.loop.on_event = self.model.seen

    @rule(topics=st.lists(st.sampled_from(TOPICS), min_size=1, max_size=3))
    def subscribe(self, topics: list[str]) -> None:
        self.model.wanted |= set(topics)
        self.loop.subscribe(topics)

    @rule(topics=st.lists(st.sampled_from(TOPICS), min_size=1, max_size=3))
    def unsubscribe(self, topics: list[str]) -> None:
        self.model.wanted -= set(topics)
        self.loop.unsubscribe(topics)

    @invariant()
    def the_wanted_topics_are_those_asked_for(self) -> None:
        assert set(self.loop.pool.topics) == self.model.wanted


class ClientCoreMachine(_Faulty):
    """:class:`~mexc_core.client.core.ClientCore`, with a listen key, under random
    commands, faults and listen-key losses."""

    loop: CoreLoop

    def __init__(self) -> None:
        super().__init__()
        self.model = _Model()
        self.tickets: dict[int, tuple[str, ...]] = {}
        self.completed: dict[int, SubscribeCompleted] = {}
        session = SessionConfig(max_subscriptions=CAP)
        config = CoreConfig(pool=PoolConfig(host="127.0.0.1", session=session))
        self.loop = CoreLoop(config, _sim_config(), credentials=True)
        self.loop.on_event = self._seen

    def _seen(self, event: Event) -> None:
        self.model.seen(event)
        if isinstance(event, SubscribeCompleted):
            assert event.ticket in self.tickets, f"ticket {event.ticket} was never given"
            assert event.ticket not in self.completed, f"ticket {event.ticket} completed twice"
            assert event.topics == self.tickets[event.ticket]
            outcomes = [*event.confirmed, *(f.topic for f in event.failures), *event.cancelled]
            assert sorted(outcomes) == sorted(event.topics), event
            self.completed[event.ticket] = event

    @property
    def running(self) -> bool:
        return self.loop.core.state is CoreState.RUNNING

    @initialize()
    def start(self) -> None:
        self.loop.start()

    @precondition(lambda self: self.running)
    @rule(
        topics=st.lists(st.sampled_from((*TOPICS, _PRIVATE)), min_size=1, max_size=3),
    )
    def subscribe(self, topics: list[str]) -> None:
        self.model.wanted |= set(topics)
        ticket = self.loop.core.subscribe(topics, self.loop.now)
        self.tickets[ticket] = tuple(dict.fromkeys(topics))
        self.loop.settle()

    @precondition(lambda self: self.running)
    @rule(topics=st.lists(st.sampled_from((*TOPICS, _PRIVATE)), min_size=1, max_size=3))
    def unsubscribe(self, topics: list[str]) -> None:
        self.model.wanted -= set(topics)
        self.loop.unsubscribe(topics)

    @precondition(lambda self: self.running and self.loop.pool.listen_key is not None)
    @rule()
    def the_exchange_drops_the_listen_key(self) -> None:
        key = self.loop.pool.listen_key
        assert key is not None
        self.loop.sim.exchange.expire_listen_key(key, self.loop.now)
        self.loop.settle()

    @precondition(lambda self: self.running)
    @rule()
    def close(self) -> None:
        self.loop.core.close(self.loop.now)
        self.loop.settle()
        self.loop.run_for(30.0)
        assert self.loop.core.finished, self.loop.core
        assert not self.loop.wires
        assert set(self.completed) == set(self.tickets)

    @invariant()
    def the_wanted_topics_are_those_asked_for(self) -> None:
        if self.running:
            assert set(self.loop.core.topics) == self.model.wanted

    @invariant()
    def open_tickets_are_those_not_completed(self) -> None:
        assert set(self.loop.core.open_tickets()) == set(self.tickets) - set(self.completed)
