"""A hypothesis state machine for :class:`mexc_core.session.Session`.

The machine plays the MEXC server and the clock. Its rules subscribe and
unsubscribe, acknowledge or reject requests (whole or in parts), let requests go
unanswered, answer PINGs or not, push data and garbage, and let time pass. A
small model, written differently from the session (facts per topic instead of a
transition table), predicts every topic's state and every event; invariants
compare them after each step. Run it from a test::

    from mexc_core.testing.stateful import SessionMachine
    TestSession = SessionMachine.TestCase

Subclass it to change :attr:`SessionMachine.config` or :attr:`SessionMachine.pool`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import ClassVar

from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from mexc_core import wire
from mexc_core.errors import (
    ControlFrameError,
    DecodeError,
    SubscriptionLimitExceeded,
    SubscriptionStateError,
)
from mexc_core.events import (
    Event,
    FailureCause,
    FrameKind,
    FrameRejected,
    HealthCause,
    HealthCheckFailed,
    IdleWithoutSubscriptions,
    ListenKeyInvalidated,
    PongReceived,
    Push,
    RotationDue,
    ServerNoticeReceived,
    StrayReason,
    Subscribed,
    SubscriptionFailed,
    UnexpectedReplyReceived,
    Unsubscribed,
    UnsubscriptionFailed,
)
from mexc_core.messages import (
    Body,
    PublicAggreDealsV3Api,
    PublicAggreDealsV3ApiItem,
    PublicSpotKlineV3Api,
    UnknownBody,
)
from mexc_core.session import Session, SessionConfig, SessionState, SubscriptionState

__all__ = ("POOL", "SessionMachine", "TopicModel")

_S = SubscriptionState

#: Topics the machine plays with: more than the cap, so the cap is reached.
POOL: tuple[str, ...] = tuple(
    f"spot@public.aggre.deals.v3.api.pb@100ms@{sym}USDT"
    for sym in ("BTC", "ETH", "MX", "SOL", "XRP", "DOGE")
)


@dataclass
class TopicModel:
    """What the model knows of the topics, as facts rather than states.

    :ivar intent: topics whose last command was subscribe.
    :ivar in_flight: topic -> method of the request on the wire for it.
    :ivar confirmed: topics whose holding by MEXC was last confirmed by an ack.
    :ivar outcome: topic -> ``"rejected"`` or ``"failed"`` until the next command.
    """

    intent: set[str] = field(default_factory=set)
    in_flight: dict[str, str] = field(default_factory=dict)
    confirmed: set[str] = field(default_factory=set)
    outcome: dict[str, str] = field(default_factory=dict)

    def expected(self, topic: str) -> SubscriptionState:
        """The state the session must report for ``topic``."""
        wanted = topic in self.intent
        method = self.in_flight.get(topic)
        if method == "SUBSCRIPTION":
            return _S.SUBSCRIBING if wanted else _S.CANCELLING
        if method == "UNSUBSCRIPTION":
            return _S.REJOINING if wanted else _S.UNSUBSCRIBING
        outcome = self.outcome.get(topic)
        if outcome == "failed":
            return _S.FAILED
        if outcome == "rejected":
            return _S.REJECTED
        if topic in self.confirmed:
            return _S.ACTIVE if wanted else _S.UNSUBSCRIBE_PENDING
        return _S.PENDING if wanted else _S.UNSUBSCRIBED

    def receives(self, topic: str) -> bool:
        """Whether the session delivers pushes of ``topic``: asked for, on the
        wire, held, or failed (MEXC may hold it); not rejected, not forgotten."""
        if topic in self.in_flight:
            return True
        outcome = self.outcome.get(topic)
        if outcome is not None:
            return outcome == "failed"
        return topic in self.intent or topic in self.confirmed


@dataclass(eq=False)
class _Request:
    """A request on the wire: its unresolved topics, and whether the server may answer."""

    method: str
    topics: list[str]
    deadline: float
    answerable: bool = True


def _push_bytes(topic: str, n: int, body: Body | None = None) -> bytes:
    if body is None:
        body = PublicAggreDealsV3Api(
            deals=(PublicAggreDealsV3ApiItem(price=f"{n}.5", quantity="1", trade_type=1, time=n),),
            event_type="spot@public.aggre.deals.v3.api.pb@100ms",
        )
    return wire.encode_push(topic, body, symbol=topic.rsplit("@", 1)[1], send_time=n)


#: Bodies that are not the pool's channel's (aggregated deals).
_WRONG_BODIES: tuple[Body, ...] = (
    UnknownBody(number=399, data=b"\x0a\x03sim"),
    PublicSpotKlineV3Api(interval="Min1", opening_price="1"),
)


class SessionMachine(RuleBasedStateMachine):
    """Drives a :class:`~mexc_core.session.Session` against a model (see module doc)."""

    config: ClassVar[SessionConfig] = SessionConfig(
        max_subscriptions=4,
        max_topics_per_request=2,
        max_messages_per_second=3,
        ack_timeout=2.0,
        ping_interval=5.0,
        pong_timeout=3.0,
        data_silence_timeout=20.0,
        idle_timeout=12.0,
        rotate_after=60.0,
        max_consecutive_bad_frames=5,
    )
    pool: ClassVar[tuple[str, ...]] = POOL

    def __init__(self) -> None:
        super().__init__()
        self.session = Session(self.config)
        self.now = 0.0
        self.model = TopicModel()
        self.model_requests: list[_Request] = []
        self.sent_at: list[float] = []
        self.ping_waiting = False  # the server holds a PING it has not answered
        self.ping_sent_at: float | None = None
        self.next_ping = math.inf
        self.stale = False
        self.draining = False
        self.opened_at = 0.0
        self.silence_origin: float | None = None
        self.idle_since: float | None = None
        self.bad_in_a_row = 0
        self.bad_total = 0
        self.decoded = 0  # binary frames that decoded: pushes and strays
        self.pushes = 0
        self.expected: list[Event] = []

    # ------------------------------------------------------------ helpers

    @property
    def live(self) -> bool:
        return not self.stale

    def _confirmed_changed(self, *, before: bool) -> None:
        after = bool(self.model.confirmed)
        if after and not before:
            self.idle_since = None
            self.silence_origin = self.now
        elif before and not after:
            self.silence_origin = None
            self.idle_since = self.now

    def _drain(self) -> None:
        """Read the session's requests as the server, and check its events."""
        cfg = self.config
        for text in self.session.messages_to_send():
            note(f"-> {text}")
            window = [s for s in self.sent_at if s + 1.0 > self.now]
            assert len(window) < cfg.max_messages_per_second, "rate limit broken"
            self.sent_at = [*window, self.now]
            request = json.loads(text)
            method = request["method"]
            if method == "PING":
                assert self.ping_sent_at is None, "a second PING while one is in flight"
                assert self.now >= self.next_ping, "PING before it was due"
                self.ping_sent_at = self.now
                self.next_ping = self.now + cfg.ping_interval
                self.ping_waiting = True
                continue
            topics: list[str] = request["params"]
            assert len(topics) <= cfg.max_topics_per_request
            assert len(topics) == 1 or len(text.encode()) <= cfg.max_request_bytes
            for topic in topics:
                want = _S.PENDING if method == "SUBSCRIPTION" else _S.UNSUBSCRIBE_PENDING
                assert self.model.expected(topic) is want, (topic, self.model.expected(topic))
                self.model.in_flight[topic] = method
            self.model_requests.append(_Request(method, list(topics), self.now + cfg.ack_timeout))
        got = list(self.session.events())
        for event in got:
            note(f"<- {event!r}")
        expected, self.expected = self.expected, []
        assert got == expected, f"events {got!r} != expected {expected!r}"

    def _reply(self, msg: str) -> None:
        text = json.dumps({"id": 0, "code": 0, "msg": msg}, ensure_ascii=False)
        note(f"server: {text}")
        self.bad_in_a_row = 0  # any readable frame ends a run of bad ones
        self.session.receive_text(text, self.now)

    # ------------------------------------------------------------ start

    @initialize(early=st.lists(st.sampled_from(POOL), max_size=3, unique=True))
    def start(self, early: list[str]) -> None:
        """Optionally subscribe before the open, then open at t=0."""
        if early:
            note(f"subscribe {early} before the open")
            self.session.subscribe(early, self.now)
            self.model.intent.update(early)
        assert self.session.messages_to_send() == []
        self.session.start(self.now)
        self.opened_at = self.now
        self.next_ping = self.now + self.config.ping_interval
        self.idle_since = self.now
        self._drain()

    # ------------------------------------------------------------ commands

    @rule(topics=st.lists(st.sampled_from(POOL), min_size=1, max_size=3, unique=True))
    def subscribe(self, topics: list[str]) -> None:
        note(f"subscribe {topics} at {self.now:g}")
        counted = {
            t for t in self.pool if self.model.expected(t) not in (_S.UNSUBSCRIBED, _S.REJECTED)
        }
        new = [t for t in topics if t not in counted]
        if len(counted) + len(new) > self.config.max_subscriptions:
            try:
                self.session.subscribe(topics, self.now)
            except SubscriptionLimitExceeded as exc:
                error = exc
            else:
                raise AssertionError("the cap was not enforced")
            assert (error.used, error.requested) == (len(counted), len(new))
            return
        self.session.subscribe(topics, self.now)
        for topic in topics:
            self.model.intent.add(topic)
            self.model.outcome.pop(topic, None)
        self._drain()

    @rule(topics=st.lists(st.sampled_from(POOL), min_size=1, max_size=3, unique=True))
    def unsubscribe(self, topics: list[str]) -> None:
        note(f"unsubscribe {topics} at {self.now:g}")
        if any(self.model.expected(t) is _S.UNSUBSCRIBED for t in topics):
            try:
                self.session.unsubscribe(topics, self.now)
            except SubscriptionStateError:
                return
            raise AssertionError("unsubscribing an unknown topic did not raise")
        self.session.unsubscribe(topics, self.now)
        before = bool(self.model.confirmed)
        for topic in topics:
            self.model.intent.discard(topic)
            if self.model.outcome.pop(topic, None) == "failed":
                # MEXC may hold it: it is unsubscribed on the wire first
                self.model.confirmed.add(topic)
        self._confirmed_changed(before=before)
        self._drain()

    # ------------------------------------------------------------ server replies

    @property
    def requests(self) -> list[_Request]:
        """Requests the server may still answer (not dropped, not timed out)."""
        return [r for r in self.model_requests if r.answerable]

    def _pick(self, data: st.DataObject, *, subscriptions_only: bool) -> tuple[_Request, list[str]]:
        choices = [r for r in self.requests if not subscriptions_only or r.method == "SUBSCRIPTION"]
        req = data.draw(st.sampled_from(choices), label="request")
        part = data.draw(
            st.lists(st.sampled_from(req.topics), min_size=1, unique=True), label="topics"
        )
        note(f"server answers {part} of {req.method} {req.topics}")
        return req, part

    def _settle(self, req: _Request, part: list[str]) -> None:
        for topic in part:
            req.topics.remove(topic)
        if not req.topics:
            self.model_requests.remove(req)

    @precondition(lambda self: bool(self.requests))
    @rule(data=st.data())
    def ack(self, data: st.DataObject) -> None:
        """The server acknowledges a request, or a part of one."""
        req, part = self._pick(data, subscriptions_only=False)
        self._settle(req, part)
        before = bool(self.model.confirmed)
        for topic in part:
            del self.model.in_flight[topic]
            if req.method == "SUBSCRIPTION":
                self.model.confirmed.add(topic)
            else:
                self.model.confirmed.discard(topic)
        self._confirmed_changed(before=before)
        kind = Subscribed if req.method == "SUBSCRIPTION" else Unsubscribed
        self.expected.append(kind(topics=tuple(part)))
        self._reply(",".join(part))
        self._drain()

    @precondition(lambda self: any(r.method == "SUBSCRIPTION" for r in self.requests))
    @rule(data=st.data())
    def reject(self, data: st.DataObject) -> None:
        """The server rejects a subscription, or a part of one ("Blocked!")."""
        req, part = self._pick(data, subscriptions_only=True)
        self._settle(req, part)
        for topic in part:
            del self.model.in_flight[topic]
            if topic in self.model.intent:
                self.model.outcome[topic] = "rejected"
        self.expected.append(
            SubscriptionFailed(topics=tuple(part), cause=FailureCause.REJECTED, reason="Blocked!")
        )
        self._reply(f"Not Subscribed successfully! [{','.join(part)}].  Reason： Blocked! ")
        self._drain()

    @precondition(lambda self: bool(self.requests))
    @rule(data=st.data())
    def drop(self, data: st.DataObject) -> None:
        """The server loses a request: it will never answer it."""
        req = data.draw(st.sampled_from(self.requests), label="request")
        note(f"server drops {req.method} {req.topics}")
        req.answerable = False

    @rule(topic=st.sampled_from(POOL))
    def stray_ack(self, topic: str) -> None:
        """An ack for a topic with nothing in flight changes nothing."""
        if topic in self.model.in_flight:
            return
        self.expected.append(UnexpectedReplyReceived(topics=(topic,), msg=topic))
        self._reply(topic)
        self._drain()

    @precondition(lambda self: self.ping_waiting)
    @rule()
    def pong(self) -> None:
        """The server answers the PING."""
        self.ping_waiting = False
        if self.ping_sent_at is not None:
            self.expected.append(PongReceived(round_trip=self.now - self.ping_sent_at))
            self.ping_sent_at = None
        self._reply("PONG")
        self._drain()

    @rule()
    def stray_pong(self) -> None:
        """A PONG nobody asked for is harmless."""
        if self.ping_sent_at is not None:
            return
        self._reply("PONG")
        self._drain()

    # ------------------------------------------------------------ data

    @rule(data=st.data())
    def push(self, data: st.DataObject) -> None:
        """A push arrives (for any topic: the session does not filter)."""
        topic = data.draw(st.sampled_from(self.pool), label="topic")
        self.pushes += 1
        frame = _push_bytes(topic, self.pushes)
        self._expect_push(wire.decode_push(frame))
        self.session.receive_binary(frame, self.now)
        self._drain()

    @rule(data=st.data())
    def wrong_push(self, data: st.DataObject) -> None:
        """A push with a body its channel does not carry, or on an unknown channel."""
        topic = data.draw(
            st.sampled_from((*self.pool, "spot@public.future.v3.api.pb@SIM")), label="topic"
        )
        body = data.draw(st.sampled_from(_WRONG_BODIES), label="body")
        self.pushes += 1
        frame = _push_bytes(topic, self.pushes, body)
        self._expect_push(wire.decode_push(frame))
        self.session.receive_binary(frame, self.now)
        self._drain()

    def _expect_push(self, push: Push) -> None:
        """A frame decoded: a push, or a stray (rule 6 of the session)."""
        self.decoded += 1
        self.bad_in_a_row = 0
        if self.silence_origin is not None:
            self.silence_origin = self.now
        reason = wire.stray_reason(push)
        if reason is not StrayReason.UNKNOWN_CHANNEL and not self.model.receives(push.channel):
            reason = StrayReason.NOT_HELD
        note(f"push on {push.channel}: {reason}")
        self.expected.append(push if reason is None else wire.stray_push(push, reason))

    def _bad(self, event: FrameRejected) -> None:
        self.expected.append(event)
        limit = self.config.max_consecutive_bad_frames
        if limit is not None and self.bad_in_a_row >= limit and self.live:
            self.stale = True
            self.expected.append(
                HealthCheckFailed(
                    cause=HealthCause.BAD_FRAMES, detail=f"{self.bad_in_a_row} bad frames in a row"
                )
            )

    @rule(frame=st.binary(max_size=40))
    def garbage(self, frame: bytes) -> None:
        """Random bytes in a binary frame: a push if they happen to parse, else rejected."""
        try:
            push = wire.decode_push(frame)
        except DecodeError as exc:
            self.bad_in_a_row += 1
            self.bad_total += 1
            self._bad(
                FrameRejected(
                    kind=FrameKind.BINARY,
                    reason=exc.reason,
                    size=exc.size,
                    offset=exc.offset,
                    field=exc.field,
                    excerpt=exc.excerpt,
                    consecutive=self.bad_in_a_row,
                    total=self.bad_total,
                )
            )
        else:
            self._expect_push(push)
        self.session.receive_binary(frame, self.now)
        self._drain()

    @rule(
        text=st.one_of(
            st.text(max_size=20).map(lambda s: "x" + s),
            st.just("Invalid listen key"),
            st.sampled_from(['{"msg":1}', "{oops", "[1,2]", '{"code":"0","msg":"x"}']),
        )
    )
    def text_noise(self, text: str) -> None:
        """A text frame that is no reply: a notice, or a bad JSON reply."""
        reply = wire.decode_control(text) if not text.startswith(("{", "[")) else None
        if isinstance(reply, wire.ServerNotice):
            self.bad_in_a_row = 0
            if reply.is_invalid_listen_key:
                self.expected.append(ListenKeyInvalidated(text=text))
            else:
                self.expected.append(ServerNoticeReceived(text=text))
        else:
            try:
                wire.decode_control(text)
            except ControlFrameError as exc:
                self.bad_in_a_row += 1
                self.bad_total += 1
                self._bad(
                    FrameRejected(
                        kind=FrameKind.TEXT,
                        reason=exc.reason,
                        size=len(text),
                        offset=None,
                        field=None,
                        excerpt=exc.text,
                        consecutive=self.bad_in_a_row,
                        total=self.bad_total,
                    )
                )
            else:  # pragma: no cover - the strategy only makes bad JSON here
                raise AssertionError(text)
        self.session.receive_text(text, self.now)
        self._drain()

    # ------------------------------------------------------------ time

    def _fire(self, now: float) -> None:
        """What the model expects of ``handle_timer(now)``, in the session's order."""
        self.now = now
        cfg = self.config
        if self.stale:
            return
        before = bool(self.model.confirmed)
        while self.model_requests and self.model_requests[0].deadline <= now:
            mreq = self.model_requests.pop(0)
            for topic in mreq.topics:
                del self.model.in_flight[topic]
                if mreq.method == "SUBSCRIPTION" and topic not in self.model.intent:
                    # a cancelled subscription MEXC may hold: unsubscribed on the wire
                    self.model.confirmed.add(topic)
                    continue
                self.model.outcome[topic] = "failed"
                self.model.confirmed.discard(topic)
            cls = SubscriptionFailed if mreq.method == "SUBSCRIPTION" else UnsubscriptionFailed
            self.expected.append(
                cls(
                    topics=tuple(mreq.topics),
                    cause=FailureCause.ACK_TIMEOUT,
                    reason=f"no reply within {cfg.ack_timeout:g} s",
                )
            )
        self._confirmed_changed(before=before)
        if self.ping_sent_at is not None and self.ping_sent_at + cfg.pong_timeout <= now:
            self.stale = True
            self.expected.append(
                HealthCheckFailed(
                    cause=HealthCause.PONG_TIMEOUT,
                    detail=f"no PONG within {cfg.pong_timeout:g} s of the PING sent at "
                    f"{self.ping_sent_at:g}",
                )
            )
            return
        silence = cfg.data_silence_timeout
        origin = self.silence_origin
        if silence is not None and origin is not None and origin + silence <= now:
            self.stale = True
            self.expected.append(
                HealthCheckFailed(
                    cause=HealthCause.DATA_SILENCE,
                    detail=f"no push for {now - origin:g} s with topics "
                    f"subscribed (limit {silence:g} s)",
                )
            )
            return
        idle = cfg.idle_timeout
        if idle is not None and self.idle_since is not None and self.idle_since + idle <= now:
            self.expected.append(IdleWithoutSubscriptions(idle_for=now - self.idle_since))
            self.idle_since = None
        if not self.draining and self.opened_at + cfg.rotate_after <= now:
            self.draining = True
            age = now - self.opened_at
            self.expected.append(RotationDue(age=age, remaining=24 * 3600.0 - age))

    def _advance(self, target: float, *, late: bool, answer_pings: bool) -> None:
        note(f"advance to {target:g}{' (late)' if late else ''}")
        while True:
            deadline = self.session.next_deadline()
            if late or deadline is None or deadline > target:
                break
            self._fire(deadline)
            self.session.handle_timer(deadline)
            self._drain()
            if answer_pings and self.ping_waiting:
                self.pong()
        self._fire(target)
        self.session.handle_timer(target)
        self._drain()

    @rule(dt=st.floats(min_value=0.0, max_value=4.0), late=st.booleans())
    def advance(self, dt: float, late: bool) -> None:  # noqa: FBT001 - a hypothesis rule
        """Time passes; the caller wakes at each deadline (or once, late)."""
        self._advance(self.now + dt, late=late, answer_pings=False)

    @rule(dt=st.floats(min_value=4.0, max_value=40.0))
    def wait_long(self, dt: float) -> None:
        """Much time passes; the server answers every PING at once meanwhile."""
        self._advance(self.now + dt, late=False, answer_pings=True)

    # ------------------------------------------------------------ invariants

    @invariant()
    def topic_states_match_the_model(self) -> None:
        for topic in self.pool:
            assert self.session.state_of(topic) is self.model.expected(topic), topic

    @invariant()
    def every_decoded_frame_is_a_push_or_a_stray(self) -> None:
        stats = self.session.stats
        assert stats.pushes + stats.strays.total() == self.decoded

    @invariant()
    def the_cap_holds(self) -> None:
        assert 0 <= self.session.used_slots <= self.config.max_subscriptions

    @invariant()
    def no_deadline_in_the_past(self) -> None:
        deadline = self.session.next_deadline()
        assert deadline is None or deadline > self.now

    @invariant()
    def session_state_matches(self) -> None:
        if self.stale:
            assert self.session.state is SessionState.STALE
        elif self.draining:
            assert self.session.state is SessionState.DRAINING
        else:
            assert self.session.state is SessionState.OPEN

    @invariant()
    def a_topic_is_in_one_request_at_most(self) -> None:
        seen = [t for r in self.model_requests for t in r.topics]
        assert len(seen) == len(set(seen))
        assert set(seen) == set(self.model.in_flight)

    @invariant()
    def pings_keep_their_schedule(self) -> None:
        # While live, a PING is never overdue by more than the rate window.
        if self.live:
            assert self.now <= self.next_ping + 1.0
