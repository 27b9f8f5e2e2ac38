"""Test support shipped with mexc-core: hypothesis strategies and state machines.

- :mod:`mexc_core.testing.strategies`: hypothesis strategies for every message,
  push and topic (needs the ``hypothesis`` distribution, the ``testing`` extra).
- :mod:`mexc_core.testing.stateful`: rule-based state machines of the core.

The exchange simulator and its pytest fixtures (``mexc_sim``, ``mexc_sim_process``
...) are the mexc-sim distribution (:mod:`mexc_sim`, :mod:`mexc_sim.pytest_plugin`),
which the ``testing`` extra installs; mexc-core registers no pytest plugin.

The core never imports this package.
"""
