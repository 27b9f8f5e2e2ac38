"""The conformance kit's state machines, run and extended (``docs/testing.rst``).

``uv run pytest docs/examples/kit_machines.py``

Each shipped machine is a hypothesis ``RuleBasedStateMachine``: run it as it is,
with your own settings, or subclass it to add invariants about your own code.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import settings
from hypothesis.stateful import invariant, run_state_machine_as_test

from mexc_core.book import OrderBook
from mexc_core.testing.book import BookMachine
from mexc_core.testing.client import ClientCoreMachine, PoolMachine
from mexc_core.testing.listenkey import ListenKeyMachine
from mexc_core.testing.stateful import SessionMachine

# [run]
#: Few, short runs for an example; the defaults (100 runs of 50 steps) find more.
QUICK = settings(max_examples=10, stateful_step_count=20, deadline=None)


def test_the_session() -> None:
    run_state_machine_as_test(SessionMachine, settings=QUICK)


def test_the_listen_key_manager() -> None:
    run_state_machine_as_test(ListenKeyMachine, settings=QUICK)


def test_the_order_book() -> None:
    run_state_machine_as_test(BookMachine, settings=QUICK)


def test_the_pool_and_the_client_core() -> None:
    run_state_machine_as_test(PoolMachine, settings=QUICK)
    run_state_machine_as_test(ClientCoreMachine, settings=QUICK)


# [/run]


# [extend]
def imbalance(book: OrderBook, depth: int = 5) -> Decimal | None:
    """Your code: the share of bid quantity in the top ``depth`` levels of both sides."""
    bids = sum((Decimal(level.quantity) for level in book.bids(depth)), Decimal(0))
    asks = sum((Decimal(level.quantity) for level in book.asks(depth)), Decimal(0))
    if bids + asks == 0:
        return None
    return bids / (bids + asks)


class ImbalanceMachine(BookMachine):
    """The shipped book machine, with one more invariant: yours."""

    @invariant()
    def imbalance_is_a_share_whenever_the_book_is_synced(self) -> None:
        share = imbalance(self.book.levels)
        if self.book.synced and share is not None:
            assert 0 <= share <= 1
        if not self.book.synced:
            assert share is None  # a book that is not synced holds nothing


TestImbalance = ImbalanceMachine.TestCase
TestImbalance.settings = QUICK
# [/extend]
