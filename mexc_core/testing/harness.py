"""A connection pool or a whole client core wired to the simulator in memory.

No sockets and virtual time: bytes go straight from the core's transports to
simulator connections and back, with no latency; REST calls are answered by the
simulator's REST API at once; time moves only in :meth:`Loop.run_until`, from
deadline to deadline of both sides. Whole scenarios (sharding, faults, rotation,
listen-key loss) run in milliseconds::

    from mexc_core.testing.harness import CoreLoop
    loop = CoreLoop(credentials=True)
    loop.start()
    loop.subscribe_ticket(["spot@private.orders.v3.api.pb"])
    loop.run_for(60.0)

After every timer, the loop checks that the driven core's next deadline is later
than now (a real loop that sleeps until it would otherwise spin). It needs the
simulator (``pip install mexc-core[testing]``).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from mexc_core.client.core import ClientCore, CoreConfig, RestCall
from mexc_core.client.pool import (
    AbortTransport,
    CloseTransport,
    ConnectionPool,
    LinkState,
    OpenTransport,
    PoolConfig,
)
from mexc_core.events import Event, Push
from mexc_core.rest import Credentials, RestError
from mexc_sim.protocol import SimConfig, SimConnection, Simulator, TransportAction
from mexc_sim.rest import HttpCall

#: What a loop drives: a pool, or a whole client core (the same inputs and outputs).
Driver = ConnectionPool | ClientCore


__all__ = ("CoreLoop", "Driver", "Loop")


class Loop:
    """One pool, one simulator, and the wires between them."""

    def __init__(
        self,
        config: PoolConfig | None = None,
        sim: SimConfig | None = None,
        *,
        seed: int = 0,
        listen_key: str | None = None,
        private: bool = False,
    ) -> None:
        self.sim = Simulator(sim)
        self.pool = ConnectionPool(
            config or PoolConfig(host="127.0.0.1"),
            rng=random.Random(seed),
            listen_key=listen_key,
            private=private,
        )
        self.driver: Driver = self.pool
        self.now = 0.0
        self.wires: dict[int, SimConnection] = {}
        self.events: list[Event] = []
        self.opened: list[int] = []
        self.refuse_next = 0  # transports to fail instead of opening
        self.hold_open = False  # leave OpenTransport intents unanswered
        self.pending_opens: list[OpenTransport] = []
        self.on_event: Callable[[Event], None] | None = None
        self.rest_calls: list[str] = []  # paths of the REST calls answered
        self.rest_times: list[tuple[float, str]] = []  # (when, path) of each REST call
        #: Set to a list to hold REST calls there unanswered (a test answers them).
        self.held_rest: list[RestCall] | None = None
        self.muted: set[int] = set()  # transports whose bytes are lost both ways
        self.deaf: set[int] = set()  # transports that lose the pool's bytes once open
        self.newest_first = False  # read the newest transport first (a socket race)

    # ------------------------------------------------------------ reading

    def pushes(self, topic: str | None = None) -> list[Push]:
        """The pushes delivered so far (of ``topic`` only, if given), in order."""
        return [
            e for e in self.events if isinstance(e, Push) and (topic is None or e.channel == topic)
        ]

    def of(self, kind: type[Event]) -> list[Event]:
        """The events of type ``kind`` reported so far, in order."""
        return [e for e in self.events if isinstance(e, kind)]

    # ------------------------------------------------------------ moving bytes

    def settle(self) -> None:
        """Carry out intents and shuttle bytes until nothing moves."""
        # only the transports the driver marks may have bytes: any other with
        # bytes is a missed mark, which would stall a real driver
        marked: set[int] = set()
        for _ in range(10_000):
            moved = self._intents()
            wires = list(self.wires.items())
            for cid, conn in reversed(wires) if self.newest_first else wires:
                if cid in self.muted:
                    self.driver.data_to_send(cid)
                    conn.data_to_send()
                    continue
                marked.update(self.driver.writable())
                out = self.driver.data_to_send(cid)
                assert not out or cid in marked, f"transport {cid} had bytes but was not marked"
                marked.discard(cid)
                if out and cid in self.deaf and self._websocket_open(cid):
                    out = b""  # half-open: the server never hears the subscription
                if out:
                    conn.receive_data(out, self.now)
                    moved = True
                data = conn.data_to_send()
                if data:
                    self.driver.receive_data(cid, data, self.now)
                    moved = True
                if conn.action in (TransportAction.CLOSE, TransportAction.ABORT):
                    moved = True
                    self._transport_action(cid, conn)
            self._collect()
            if not moved:
                return
        raise AssertionError("the loop does not settle")

    def _websocket_open(self, cid: int) -> bool:
        return any(link.cid == cid and link.state is LinkState.OPEN for link in self.pool.links())

    def _transport_action(self, cid: int, conn: SimConnection) -> None:
        # (a BLACKHOLE peer hears nothing and says nothing: only timers notice)
        action = conn.action
        del self.wires[cid]
        self.sim.disconnect(conn)
        if action is TransportAction.CLOSE:
            self.driver.receive_data(cid, b"", self.now)
        else:
            self.driver.transport_failed(cid, self.now, "connection reset by peer")

    def _intents(self) -> bool:
        intents = self.driver.intents()
        for intent in intents:
            if isinstance(intent, OpenTransport):
                if self.refuse_next:
                    self.refuse_next -= 1
                    self.driver.transport_failed(intent.cid, self.now, "connection refused")
                elif self.hold_open:
                    self.pending_opens.append(intent)
                else:
                    self.wires[intent.cid] = self.sim.connect(self.now)
                    self.opened.append(intent.cid)
                    self.driver.transport_opened(intent.cid, self.now)
            elif isinstance(intent, CloseTransport):
                conn = self.wires.pop(intent.cid, None)
                if conn is not None:
                    if intent.data:
                        conn.receive_data(intent.data, self.now)
                    conn.receive_data(b"", self.now)
                    self.sim.disconnect(conn)
            elif isinstance(intent, AbortTransport):
                conn = self.wires.pop(intent.cid, None)
                if conn is not None:
                    self.sim.disconnect(conn)
            elif self.held_rest is not None:
                self.held_rest.append(intent)
            else:
                self._rest_call(intent)
        return bool(intents)

    def _rest_call(self, call: RestCall) -> None:
        """Answer a REST call of the client core from the simulator, at once."""
        core = self.driver
        assert isinstance(core, ClientCore)
        request = call.request(self.sim.exchange.epoch_ms(self.now))
        headers = {name.lower(): value for name, value in request.headers}
        answer = self.sim.rest.handle(
            HttpCall(
                method=request.method,
                path=request.path,
                query=request.query,
                headers=headers,
                body=request.body,
            ),
            self.now,
        )
        self.rest_calls.append(request.path)
        self.rest_times.append((self.now, request.path))
        if answer.hang:
            core.rest_failed(call.call_id, self.now, "timed out")
            return
        try:
            result = request.parse(answer.status, dict(answer.headers), answer.body)
        except RestError as exc:
            core.rest_result(call.call_id, exc, self.now)
        else:
            core.rest_result(call.call_id, result, self.now)

    def _collect(self) -> None:
        for event in self.driver.events():
            self.events.append(event)
            if self.on_event is not None:
                self.on_event(event)

    # ------------------------------------------------------------ time

    def run_until(self, end: float, *, max_step: float = 1.0) -> None:
        """Advance virtual time to ``end``, stopping at every deadline on the way."""
        self.settle()
        while self.now < end:
            times = [end, self.now + max_step]
            deadlines = (self.driver.next_deadline(), self.sim.next_deadline())
            times.extend(max(d, self.now) for d in deadlines if d is not None)
            self.now = min(times)
            for conn in self.sim.advance(self.now):
                del conn  # output is picked up by settle()
            self.driver.handle_timer(self.now)
            self.settle()
            deadline = self.driver.next_deadline()
            # a deadline at or before now after its timer ran would spin a real loop
            assert deadline is None or deadline > self.now, (deadline, self.now)
            self._check_pool_deadline()

    def _check_pool_deadline(self) -> None:
        """The pool's heap of deadlines agrees with asking every link afresh."""
        pool = self.pool
        times = [h.switch_at for h in pool._handovers.values()]
        times += [link.next_deadline() for link in pool._links.values()]
        times.append(pool._silence_at)
        found = [t for t in times if t is not None]
        assert pool.next_deadline() == (min(found) if found else None)

    def run_for(self, seconds: float, *, max_step: float = 1.0) -> None:
        """Advance virtual time by ``seconds`` (see :meth:`run_until`)."""
        self.run_until(self.now + seconds, max_step=max_step)

    def subscribe(self, topics: list[str]) -> None:
        """Ask the driven pool or core for ``topics`` now, and let the bytes flow."""
        self.driver.subscribe(topics, self.now)
        self.settle()

    def unsubscribe(self, topics: list[str]) -> None:
        """Give ``topics`` up now, and let the bytes flow."""
        self.driver.unsubscribe(topics, self.now)
        self.settle()


class CoreLoop(Loop):
    """The same wires, driving a whole :class:`ClientCore` (listen keys over the
    simulator's REST API, answered at once; a hanging answer is a failed call)."""

    def __init__(
        self,
        config: CoreConfig | None = None,
        sim: SimConfig | None = None,
        *,
        seed: int = 0,
        credentials: bool = False,
    ) -> None:
        super().__init__(None, sim, seed=seed)
        cfg = self.sim.config.exchange
        self.core = ClientCore(
            config or CoreConfig(pool=PoolConfig(host="127.0.0.1")),
            credentials=Credentials(cfg.api_key, cfg.api_secret) if credentials else None,
            rng=random.Random(seed),
        )
        self.pool = self.core.pool
        self.driver = self.core

    def start(self) -> None:
        """Start the core (with credentials, it creates the listen key)."""
        self.core.start(self.now)
        self.settle()

    def subscribe_ticket(self, topics: list[str]) -> int:
        """Subscribe ``topics``; returns the ticket that their
        :class:`~mexc_core.events.SubscribeCompleted` will carry."""
        ticket = self.core.subscribe(topics, self.now)
        self.settle()
        return ticket
