"""The ``mexc_sim`` fixture on a fast clock (``docs/simulator.rst``).

``uv run pytest docs/examples/kit_sim_speed.py``

With ``@pytest.mark.mexc_sim(speed=100)`` the simulator's clock runs a hundred
times faster than the wall clock: its markets, its idle rules and its listen keys'
hour all come sooner, while the code under test keeps the wall clock. To run a
client core and the simulator on one virtual clock instead, use the in-memory
harness (``docs/testing.rst``).
"""

from __future__ import annotations

import time

import pytest

from mexc_sim import RunningSimulator


# [speed]
@pytest.mark.mexc_sim(speed=100)  # 30 simulated seconds in 0.3 s
def test_thirty_simulated_seconds_pass_in_a_moment(mexc_sim: RunningSimulator) -> None:
    start = mexc_sim.now()
    time.sleep(0.3)
    assert mexc_sim.now() - start >= 30.0
    book = mexc_sim.call(mexc_sim.server.exchange.book, "BTCUSDT")  # the truth, now
    assert book.version > 0


# [/speed]
