"""Gap signals on virtual time: a rejected frame and a silent stream.

``uv run python docs/examples/gap_signals.py``

The connection pool runs against the simulator in memory
(:class:`~mexc_core.testing.harness.Loop`). The simulator cuts one push in half;
at 10 s the server silently stops the kline stream, and the pool replaces the
connection 10 s later. Each loss is one :class:`~mexc_core.events.GapDetected`
per topic.
"""

from __future__ import annotations

from mexc_core.client.pool import PoolConfig
from mexc_core.events import GapDetected, TopicSilent
from mexc_core.testing.harness import Loop
from mexc_sim import ExchangeConfig, Faults, SimConfig, default_markets

DEALS = "spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT"
KLINE = "spot@public.kline.v3.api.pb@BTCUSDT@Min1"

# [config]
config = PoolConfig(
    host="127.0.0.1",
    # trades of this pair are busy: watch them too (klines are watched by default)
    silence=(("aggre_deals", 5.0),),
)
# [/config]
sim = SimConfig(
    exchange=ExchangeConfig(markets=default_markets(1)),
    faults=Faults(truncate_at={12}),
)
loop = Loop(config, sim)
loop.subscribe([DEALS, KLINE])
loop.run_for(10.0)
# the server drops the kline stream of the live connection without a word
for session in loop.sim.sessions.values():
    del session.topics[KLINE]
    session.exchange.unsubscribe(session, KLINE, account=None)
loop.sim.queue_faults(Faults())  # the next connection is a healthy one
loop.run_for(30.0)

for event in loop.events:
    if isinstance(event, TopicSilent):
        print(f"{event.topic} silent since {event.last_data:.1f} s (limit {event.limit:g} s)")
    elif isinstance(event, GapDetected):
        topics = ", ".join(topic.split("@")[1] for topic in event.topics)
        print(f"gap {event.cause.value}: {topics} {event.started_at:.1f}-{event.ended_at:.1f} s")
print(f"{loop.pool.stats.gaps} gaps, {loop.pool.stats.gaps_folded} folded")
