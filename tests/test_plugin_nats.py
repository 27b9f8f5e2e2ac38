"""The NATS plugin without a server: subjects, ids, payloads, options and the lease plan."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mexc_core import wire
from mexc_core.errors import InvalidTopic
from mexc_core.events import BookUpdated, Level, Push
from mexc_core.messages import (
    PublicAggreDealsV3Api,
    PublicAggreDealsV3ApiItem,
    PublicAggreDepthsV3Api,
    PublicLimitDepthsV3Api,
    PublicSpotKlineV3Api,
)
from mexc_core.testing.strategies import pushes, records
from mexc_plugin_nats import NatsOptions, NatsOptionsError
from mexc_plugin_nats.leases import parse_shard_key, plan, shard_key
from mexc_plugin_nats.message import (
    KIND_HEADER,
    BookMessage,
    EventMessage,
    MessageError,
    PushMessage,
    book_message,
    event_message,
    push_message,
    push_msg_id,
    push_subject,
    read,
)

DEPTH = "spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT"
DEALS = "spot@public.aggre.deals.v3.api.pb@10ms@ETHUSDT"


def depth(low: int, high: int, send_time: int = 1) -> Push:
    body = PublicAggreDepthsV3Api(
        asks=(), bids=(), event_type="x", from_version=str(low), to_version=str(high)
    )
    return Push(channel=DEPTH, body=body, symbol="BTCUSDT", create_time=5, send_time=send_time)


def deals(*ids: str) -> Push:
    items = tuple(
        PublicAggreDealsV3ApiItem(price="1", quantity="2", trade_type=1, time=3, trade_id=i)
        for i in ids
    )
    return Push(channel=DEALS, body=PublicAggreDealsV3Api(deals=items, event_type="e"))


# ---------------------------------------------------------------- subjects and ids


@pytest.mark.parametrize(
    ("topic", "subject"),
    [
        (DEPTH, "mexc.push.aggre_depth.BTCUSDT.100ms"),
        (DEALS, "mexc.push.aggre_deals.ETHUSDT.10ms"),
        ("spot@public.kline.v3.api.pb@BTCUSDT@Min15", "mexc.push.kline.BTCUSDT.Min15"),
        ("spot@public.limit.depth.v3.api.pb@BTCUSDT@20", "mexc.push.limit_depth.BTCUSDT.20"),
        ("spot@public.miniTickers.v3.api.pb@UTC+8", "mexc.push.mini_tickers._.UTC+8"),
        ("spot@private.orders.v3.api.pb", "mexc.push.private_orders._"),
    ],
)
def test_subjects_name_channel_symbol_and_parameters(topic: str, subject: str) -> None:
    assert push_subject(topic) == subject
    assert push_subject(topic, "feed").startswith("feed.push.")


def test_a_push_of_no_known_topic_has_no_subject() -> None:
    with pytest.raises(InvalidTopic):
        push_subject("spot@public.nothing.v3.api.pb@BTCUSDT")


def test_depth_ids_are_the_versions_covered() -> None:
    assert push_msg_id(depth(10, 12)) == f"{DEPTH}:10-12"
    # the same diff from another connection (another send time) has the same id
    assert push_msg_id(depth(10, 12, send_time=9)) == push_msg_id(depth(10, 12))
    assert push_msg_id(depth(13, 13)) != push_msg_id(depth(10, 12))


def test_trade_ids_name_the_trades() -> None:
    assert push_msg_id(deals("1", "2")) == push_msg_id(deals("1", "2"))
    assert push_msg_id(deals("1", "2")) != push_msg_id(deals("1", "3"))
    assert push_msg_id(deals("1", "2")).startswith(f"{DEALS}:t:")
    # a trade without its id falls back to the frame's identity
    assert ":h:" in push_msg_id(deals("1", ""))


def test_versioned_snapshots_use_their_version() -> None:
    body = PublicLimitDepthsV3Api(asks=(), bids=(), event_type="x", version="77")
    push = Push(channel="spot@public.limit.depth.v3.api.pb@BTCUSDT@5", body=body)
    assert push_msg_id(push).endswith(":v:77")


@given(st.data())
def test_other_pushes_are_identified_by_body_and_create_time(data: st.DataObject) -> None:
    body = data.draw(records(PublicSpotKlineV3Api))
    topic = "spot@public.kline.v3.api.pb@BTCUSDT@Min1"
    one = Push(channel=topic, body=body, create_time=1, send_time=2)
    assert push_msg_id(one) == push_msg_id(one._replace(send_time=3))
    assert push_msg_id(one) != push_msg_id(one._replace(create_time=2))
    other = data.draw(records(PublicSpotKlineV3Api))
    if other != body:
        assert push_msg_id(one) != push_msg_id(one._replace(body=other))


# ---------------------------------------------------------------- payloads


@settings(max_examples=200)
@given(pushes(consistent=True))
def test_every_push_reads_back_as_published(push: Push) -> None:
    out = push_message(push)
    assert out.headers[KIND_HEADER] == "push"
    assert out.msg_id == push_msg_id(push)
    assert out.subject == push_subject(push.channel)
    got = read(out.headers, out.payload)
    assert isinstance(got, PushMessage)
    assert got.topic == push.channel
    assert got.push == push
    assert out.payload == wire.encode_push(
        push.channel,
        push.body,
        symbol=push.symbol,
        symbol_id=push.symbol_id,
        create_time=push.create_time,
        send_time=push.send_time,
    )


def test_book_updates_read_back() -> None:
    event = BookUpdated(
        symbol="BTCUSDT", version=12, from_version=11, bids=(("1.5", "0"),), asks=(("2", "3"),)
    )
    out = book_message(event)
    assert out.subject == "mexc.book.BTCUSDT"
    assert out.msg_id == "book:BTCUSDT:12"
    assert read(out.headers, out.payload) == BookMessage(
        "BTCUSDT", 12, 11, (Level("1.5", "0"),), (Level("2", "3"),)
    )


def test_events_read_back_and_are_never_shared_between_workers() -> None:
    one = event_message("gap", "w1", 7, {"topics": [DEPTH]})
    two = event_message("gap", "w2", 7, {"topics": [DEPTH]})
    assert one.subject == "mexc.event.w1.gap"
    assert one.msg_id != two.msg_id
    assert read(one.headers, one.payload) == EventMessage("gap", "w1", {"topics": [DEPTH]})


@pytest.mark.parametrize(
    ("headers", "payload", "message"),
    [
        (None, b"", "header is None"),
        ({KIND_HEADER: "other"}, b"", "'other'"),
        ({KIND_HEADER: "push"}, b"\xff\xff", "does not decode"),
        ({KIND_HEADER: "book"}, b"{", "not JSON"),
        ({KIND_HEADER: "book"}, b"[]", "not a JSON object"),
        ({KIND_HEADER: "book"}, b'{"symbol": 1}', "'symbol' is not a string"),
        ({KIND_HEADER: "book"}, b'{"symbol": "A", "version": true}', "'version'"),
        (
            {KIND_HEADER: "book"},
            b'{"symbol":"A","version":1,"from_version":1,"bids":{},"asks":[]}',
            "levels are not a list",
        ),
        (
            {KIND_HEADER: "book"},
            b'{"symbol":"A","version":1,"from_version":1,"bids":[["1"]],"asks":[]}',
            "not [price, quantity]",
        ),
        ({KIND_HEADER: "event"}, b'{"type": "x"}', "'worker'"),
    ],
)
def test_foreign_messages_are_refused_with_the_reason(
    headers: dict[str, str] | None, payload: bytes, message: str
) -> None:
    with pytest.raises(MessageError, match=message.replace("[", r"\[").replace("]", r"\]")):
        read(headers, payload)


# ---------------------------------------------------------------- options


def test_options_default_and_convert() -> None:
    assert NatsOptions.parse({}) == NatsOptions()
    got = NatsOptions.parse(
        {"url": "nats://h:1", "max_buffer": 5, "ack_timeout": 1, "books": False}
    )
    assert (got.url, got.max_buffer, got.ack_timeout, got.books) == ("nats://h:1", 5, 1.0, False)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], "must be a mapping"),
        ({"colour": 1}, "unknown nats option 'colour'"),
        ({"url": "http://x"}, "nats://HOST:PORT"),
        ({"stream": "a.b"}, "'stream' must be a name"),
        ({"worker": ""}, "'worker' must be a name"),
        ({"max_buffer": 0}, "'max_buffer' must be >= 1"),
        ({"max_buffer": True}, "'max_buffer'"),
        ({"ack_timeout": 0}, "'ack_timeout' must be > 0"),
        ({"books": "yes"}, "'books' must be true or false"),
    ],
)
def test_bad_options_are_named(raw: object, message: str) -> None:
    with pytest.raises(NatsOptionsError, match=message):
        NatsOptions.parse(raw)


# ---------------------------------------------------------------- the lease plan


def test_shard_keys_round_trip() -> None:
    assert parse_shard_key(shard_key("BTCUSDT", 1)) == ("BTCUSDT", 1)
    assert parse_shard_key("workers.w1") is None
    assert parse_shard_key("shard.BTCUSDT.x") is None
    assert parse_shard_key("shard..1") is None


def settle(
    workers: list[str],
    symbols: list[str],
    replicas: int,
    holders: dict[tuple[str, int], str],
    rng: random.Random,
    *,
    rounds: int = 60,
) -> list[int]:
    """Let ``workers`` tick in random order until nothing changes; the minimum
    number of holders any symbol had after each single claim or release."""
    minimums = []
    for _ in range(rounds):
        changed = False
        for me in rng.sample(workers, len(workers)):
            decision = plan(me, symbols, replicas, workers, holders)
            for shard in decision.claim:
                assert shard not in holders  # create() would refuse it anyway
                holders[shard] = me
                changed = True
            for shard in decision.release:
                assert holders.pop(shard) == me
                changed = True
                minimums.append(min(sum(1 for s, _ in holders if s == x) for x in symbols))
        if not changed:
            break
    else:  # pragma: no cover - reported with the state when it happens
        pytest.fail(f"the plan did not settle: {holders}")
    return minimums


def check_settled(
    workers: list[str], symbols: list[str], replicas: int, holders: dict[tuple[str, int], str]
) -> None:
    copies = min(replicas, len(workers))
    for symbol in symbols:
        owners = [w for (s, _), w in holders.items() if s == symbol]
        assert len(owners) == len(set(owners)), "a worker holds two slots of one symbol"
        assert len(owners) >= copies
    target = math.ceil(len(symbols) * copies / len(workers))
    for worker in workers:
        assert sum(1 for w in holders.values() if w == worker) <= target


@settings(max_examples=150)
@given(
    st.integers(1, 5),
    st.lists(st.sampled_from(["A", "B", "C", "D", "E", "F", "G"]), min_size=1, unique=True),
    st.integers(1, 3),
    st.randoms(use_true_random=False),
)
def test_workers_cover_every_symbol_and_share_evenly(
    count: int, symbols: list[str], replicas: int, rng: random.Random
) -> None:
    workers = [f"w{i}" for i in range(count)]
    holders: dict[tuple[str, int], str] = {}
    settle(workers, symbols, replicas, holders, rng)
    check_settled(workers, symbols, replicas, holders)


@settings(max_examples=150)
@given(
    st.integers(2, 5),
    st.lists(st.sampled_from(["A", "B", "C", "D", "E", "F", "G"]), min_size=1, unique=True),
    st.integers(2, 3),
    st.randoms(use_true_random=False),
)
def test_a_worker_joining_or_dying_never_leaves_a_symbol_unheld(
    count: int, symbols: list[str], replicas: int, rng: random.Random
) -> None:
    workers = [f"w{i}" for i in range(count)]
    holders: dict[tuple[str, int], str] = {}
    settle(workers[:-1], symbols, replicas, holders, rng)
    # a worker joins: the others hand symbols over, adding holders before removing one
    minimums = settle(workers, symbols, replicas, holders, rng)
    assert all(m >= min(replicas, count - 1) for m in minimums)
    check_settled(workers, symbols, replicas, holders)
    # a worker dies: its leases expire, and the others take its symbols
    dead = rng.choice(workers)
    for shard in [k for k, w in holders.items() if w == dead]:
        del holders[shard]
    assert all(any(s == x for s, _ in holders) for x in symbols), "a symbol lost every holder"
    alive = [w for w in workers if w != dead]
    settle(alive, symbols, replicas, holders, rng)
    check_settled(alive, symbols, replicas, holders)
