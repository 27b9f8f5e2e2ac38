"""The recorder of ``docs/plugins.rst``: a plugin that does I/O in a task of its own.

Its hooks only queue into a bounded stream; its task writes to a database as
slowly as it must. ``Database`` stands for an async driver of yours.
``tests/test_docs_examples.py`` runs it in a client against the simulator.
"""

from __future__ import annotations

# [recorder]
import anyio

from mexc_core.events import Push
from mexc_core.hookspecs import ClientContext, StreamSender, hookimpl


class Database:
    """Stands for yours: an async driver."""

    def __init__(self) -> None:
        self.rows: list[Push] = []

    async def insert(self, push: Push) -> None:
        await anyio.sleep(0.01)  # a round trip
        self.rows.append(push)


class Recorder:
    def __init__(self, database: Database) -> None:
        self.database = database
        self.queue: StreamSender[Push] | None = None

    @hookimpl
    def mexc_client_started(self, context: ClientContext) -> None:
        self.queue, items = context.open_stream(max_buffer=10_000, policy="block")

        async def write() -> None:
            async for push in items:
                await self.database.insert(push)  # as slow as it needs to be

        context.task_group.start_soon(write)

    @hookimpl
    def mexc_aggre_deals_received(self, push: Push) -> None:
        if self.queue is not None:
            self.queue.send_nowait(push)  # never blocks

    @hookimpl
    def mexc_client_stopping(self) -> None:
        if self.queue is not None:
            self.queue.close()  # the task ends after the rest


# [/recorder]
