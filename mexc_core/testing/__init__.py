"""Test support shipped with mexc-core: hypothesis strategies and state machines.

Importing this package needs the ``hypothesis`` distribution; the core never does.
"""
