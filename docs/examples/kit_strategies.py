"""The conformance kit's strategies against your own code (``docs/testing.rst``).

``uv run pytest docs/examples/kit_strategies.py``

``describe`` stands for your code: it must take every push MEXC can send, of every
channel, with any field empty or at its extreme, and bodies from a future schema.
"""

from __future__ import annotations

from hypothesis import given

from mexc_core import channels, wire
from mexc_core.channels import AnyTopic
from mexc_core.events import Push
from mexc_core.messages import PublicAggreDealsV3Api, UnknownBody
from mexc_core.testing import strategies as mst


# [given]
def describe(push: Push) -> str:
    """Your code: one line per push, for a log."""
    if isinstance(push.body, PublicAggreDealsV3Api):
        return f"{push.symbol}: {len(push.body.deals)} trades"
    if isinstance(push.body, UnknownBody):
        return f"{push.channel}: unknown body {push.body.number}"
    return f"{push.channel}: {type(push.body).__name__}"


@given(mst.pushes(unknown_bodies=True))
def test_describe_takes_any_push(push: Push) -> None:
    assert describe(push)


@given(mst.pushes(consistent=True))
def test_a_push_survives_the_wire(push: Push) -> None:
    frame = wire.encode_push(
        push.channel,
        push.body,
        symbol=push.symbol,
        create_time=push.create_time,
        send_time=push.send_time,
    )
    assert wire.decode_push(frame) == push


@given(mst.topics())
def test_every_topic_parses_back(topic: AnyTopic) -> None:
    assert channels.parse(str(topic)) == topic


# [/given]
