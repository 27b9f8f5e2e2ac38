"""The whole client core against the simulator, in memory, under ``@given``
(``docs/testing.rst``).

``uv run pytest docs/examples/kit_harness.py``

:class:`~mexc_core.testing.harness.CoreLoop` wires a
:class:`~mexc_core.client.core.ClientCore` to a sans-IO simulator: no sockets, no
threads, virtual time. A minute of the exchange costs milliseconds, and each
example hypothesis draws gets a fresh exchange, so ``@given`` is at home here.
"""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from mexc_core.client.core import CoreConfig
from mexc_core.client.pool import PoolConfig
from mexc_core.events import GapDetected
from mexc_core.session import SessionConfig
from mexc_core.testing.harness import CoreLoop
from mexc_sim import ExchangeConfig, Faults, SimConfig, default_markets

MARKETS = default_markets(6)
SYMBOLS = [market.symbol for market in MARKETS]


def deals(symbol: str) -> str:
    return f"spot@public.aggre.deals.v3.api.pb@100ms@{symbol}"


# [given]
@settings(max_examples=10, deadline=None)
@given(
    symbols=st.lists(st.sampled_from(SYMBOLS), min_size=1, unique=True),
    cap=st.integers(1, 4),
    reset_after=st.floats(1.0, 20.0),
)
def test_every_topic_comes_back_after_a_reset_with_its_gap(
    symbols: list[str], cap: int, reset_after: float
) -> None:
    config = CoreConfig(
        pool=PoolConfig(host="127.0.0.1", session=SessionConfig(max_subscriptions=cap))
    )
    loop = CoreLoop(config, SimConfig(exchange=ExchangeConfig(markets=MARKETS)))
    topics = [deals(symbol) for symbol in symbols]
    links = math.ceil(len(topics) / cap)
    # the first connections are reset at that age; those that replace them are not
    loop.sim.queue_faults(*[Faults(reset_after=reset_after)] * links)
    loop.start()
    loop.subscribe(topics)
    loop.run_for(reset_after + 30.0)  # virtual seconds: milliseconds of real time

    assert len(loop.pool.links()) == links
    assert all(loop.pool.is_carried(topic) for topic in topics)
    gaps = [event for event in loop.events if isinstance(event, GapDetected)]
    assert sorted(topic for gap in gaps for topic in gap.topics) == sorted(topics)
    for topic in topics:
        assert loop.pushes(topic), topic


# [/given]
