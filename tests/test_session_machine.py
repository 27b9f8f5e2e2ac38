"""The session against its model, step by step (mexc_core.testing.stateful)."""

from __future__ import annotations

from hypothesis import settings

from mexc_core.testing.stateful import SessionMachine

SessionMachine.TestCase.settings = settings(
    SessionMachine.TestCase.settings, stateful_step_count=60
)
TestSessionMachine = SessionMachine.TestCase
