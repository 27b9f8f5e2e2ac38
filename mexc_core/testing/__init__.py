"""Test support shipped with mexc-core: hypothesis strategies, state machines, pytest fixtures.

- :mod:`mexc_core.testing.strategies`: hypothesis strategies for every message,
  push and topic (needs the ``hypothesis`` distribution, the ``testing`` extra).
- :mod:`mexc_core.testing.stateful`: rule-based state machines of the core.
- :mod:`mexc_sim.pytest_plugin`: the ``mexc_sim`` fixtures, registered
  with pytest through the ``pytest11`` entry point ``mexc``; they run the exchange
  simulator (:mod:`mexc_sim`).

The core never imports this package.
"""
