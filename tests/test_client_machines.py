"""The pool and the client core under random commands and faults (the shipped
machines of :mod:`mexc_core.testing.client`), in virtual time."""

from __future__ import annotations

from hypothesis import settings

from mexc_core.testing.client import ClientCoreMachine, PoolMachine

PoolMachine.TestCase.settings = settings(max_examples=30, stateful_step_count=25, deadline=None)
ClientCoreMachine.TestCase.settings = settings(
    max_examples=30, stateful_step_count=25, deadline=None
)
TestPool = PoolMachine.TestCase
TestClientCore = ClientCoreMachine.TestCase
