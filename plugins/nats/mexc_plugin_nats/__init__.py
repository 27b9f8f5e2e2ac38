"""mexc-plugin-nats: publish pushes, book updates and lifecycle events to NATS JetStream.

Written as a third-party plugin: it imports only mexc-core's public modules, and
mexc-core finds it through the ``mexc.plugins`` entry point ``nats``. It stays
quiet unless the application passes ``options={"nats": {...}}`` to the client
(:class:`NatsOptions` lists the keys); ``mexc worker`` (:mod:`mexc_plugin_nats.worker`)
runs it with symbols shared between workers.

Subjects, payloads and deduplication ids are described in
:mod:`mexc_plugin_nats.message`; :func:`~mexc_plugin_nats.message.read` reads
them back.

Delivery: each message waits in a bounded buffer (``max_buffer``) until JetStream
acknowledges it; a message not acknowledged in time, or refused while NATS is
unreachable, is published again (its deduplication id makes a repeat harmless).
When the buffer is full the *oldest* message is dropped and counted
(:attr:`NatsPlugin.dropped`), and an ``overflow`` lifecycle event with the count is
published once NATS keeps up again. The connection to NATS reconnects for ever.

nats-py runs on asyncio only, so the client must run on the asyncio backend.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import anyio

from mexc_core.errors import InvalidTopic
from mexc_core.events import (
    BookUpdated,
    GapDetected,
    LinkConnected,
    LinkDisconnected,
    Push,
)
from mexc_core.hookspecs import ClientContext, hookimpl
from mexc_plugin_nats.message import (
    BookMessage,
    EventMessage,
    MessageError,
    Outgoing,
    PushMessage,
    book_message,
    event_message,
    push_message,
    read,
)

if TYPE_CHECKING:
    import nats.aio.client
    import nats.js
    from nats.js.api import PubAck

__all__ = (
    "BookMessage",
    "EventMessage",
    "MessageError",
    "NatsOptions",
    "NatsOptionsError",
    "NatsPlugin",
    "PushMessage",
    "connect",
    "ensure_stream",
    "plugin",
    "read",
)

__version__ = "0.1.0.dev0"

log = logging.getLogger("mexc_plugin_nats")

#: The NATS server the plugin publishes to unless told otherwise.
DEFAULT_NATS_URL: Final = "nats://127.0.0.1:4222"
#: Tries to reach NATS when starting, before giving up (then: reconnect for ever).
CONNECT_ATTEMPTS: Final = 5
#: Messages published and not yet acknowledged, at most.
PUBLISH_WINDOW: Final = 1000
#: JetStream's duplicate window for the stream the plugin creates (seconds).
DUPLICATE_WINDOW: Final = 120.0


class NatsOptionsError(ValueError):
    """The ``nats`` options are not what the plugin understands."""


@dataclass(frozen=True, slots=True)
class NatsOptions:
    """The plugin's options (the client's ``options["nats"]`` mapping).

    :ivar url: the NATS server, e.g. ``nats://127.0.0.1:4222``.
    :ivar stream: the JetStream stream (created when missing, on ``PREFIX.>``).
    :ivar prefix: the first subject token.
    :ivar worker: this process's id in lifecycle events and leases.
    :ivar max_buffer: messages waiting for JetStream's acknowledgement at most.
    :ivar ack_timeout: seconds before an unacknowledged message is published again.
    :ivar books: publish the updates of the books the client keeps.
    """

    url: str = DEFAULT_NATS_URL
    stream: str = "MEXC"
    prefix: str = "mexc"
    worker: str = "worker"
    max_buffer: int = 100_000
    ack_timeout: float = 5.0
    books: bool = True

    @classmethod
    def parse(cls, raw: object) -> NatsOptions:
        """Check and convert the ``nats`` options.

        :raises NatsOptionsError: an unknown key or a value of the wrong type.
        """
        if not isinstance(raw, Mapping):
            raise NatsOptionsError(f"nats options must be a mapping, not {type(raw).__name__}")
        known = {"url", "stream", "prefix", "worker", "max_buffer", "ack_timeout", "books"}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise NatsOptionsError(
                f"unknown nats option {unknown[0]!r}; known: {', '.join(sorted(known))}"
            )
        values: dict[str, object] = {}
        url = raw.get("url", DEFAULT_NATS_URL)
        if not isinstance(url, str) or not url.startswith(("nats://", "tls://")):
            raise NatsOptionsError(f"nats option 'url' must be nats://HOST:PORT, not {url!r}")
        values["url"] = url
        for key in ("stream", "prefix", "worker"):
            if key in raw:
                value = raw[key]
                if not isinstance(value, str) or not value or any(c in value for c in " .*>"):
                    raise NatsOptionsError(f"nats option {key!r} must be a name, not {value!r}")
                values[key] = value
        if "max_buffer" in raw:
            value = raw["max_buffer"]
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise NatsOptionsError(f"nats option 'max_buffer' must be >= 1, not {value!r}")
            values["max_buffer"] = value
        if "ack_timeout" in raw:
            value = raw["ack_timeout"]
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise NatsOptionsError(f"nats option 'ack_timeout' must be > 0, not {value!r}")
            values["ack_timeout"] = float(value)
        if "books" in raw:
            value = raw["books"]
            if not isinstance(value, bool):
                raise NatsOptionsError(f"nats option 'books' must be true or false, not {value!r}")
            values["books"] = value
        return cls(**values)  # type: ignore[arg-type]


async def connect(
    url: str, name: str, *, attempts: int = CONNECT_ATTEMPTS
) -> nats.aio.client.Client:
    """Connect to NATS: ``attempts`` tries at first, then reconnecting for ever.

    Errors after the first connection are logged (logger ``mexc_plugin_nats``) in
    one line each, not printed with a traceback.

    :raises nats.errors.NoServersError: no server answered ``attempts`` tries.
    """
    import nats  # noqa: PLC0415 - nats-py loads on use

    async def quiet(exc: Exception) -> None:
        log.warning("nats %s: %s", name, exc or type(exc).__name__)

    nc = await nats.connect(
        url,
        name=name,
        connect_timeout=2,
        reconnect_time_wait=0.5,
        max_reconnect_attempts=attempts,
        error_cb=quiet,
    )
    # once connected, a lost server is waited for: never give up
    nc.options["max_reconnect_attempts"] = -1
    return nc


async def ensure_stream(js: nats.js.JetStreamContext, name: str, prefix: str) -> None:
    """Create the stream ``name`` on ``prefix.>`` unless it exists."""
    from nats.js.api import StreamConfig  # noqa: PLC0415 - nats-py loads on use
    from nats.js.errors import NotFoundError  # noqa: PLC0415

    try:
        await js.stream_info(name)
    except NotFoundError:
        await js.add_stream(
            StreamConfig(name=name, subjects=[f"{prefix}.>"], duplicate_window=DUPLICATE_WINDOW)
        )


class NatsPlugin:
    """The plugin (one instance, :data:`plugin`, is registered by the entry point).

    :ivar published: messages JetStream acknowledged.
    :ivar dropped: messages dropped because the buffer was full.
    :ivar republished: messages published again (no acknowledgement in time).
    """

    def __init__(self, connection: nats.aio.client.Client | None = None) -> None:
        self.options: NatsOptions | None = None
        self.published = 0
        self.dropped = 0
        self.republished = 0
        self.skipped = 0
        self._connection = connection
        self._buffer: deque[Outgoing] = deque()
        self._inflight: deque[tuple[Outgoing, asyncio.Future[PubAck], float]] = deque()
        self._ready: asyncio.Event | None = None
        self._sequence = itertools.count(1)
        self._unreported = 0
        self.connected = False

    def __repr__(self) -> str:
        return (
            f"<NatsPlugin {self.options.url if self.options else 'idle'} "
            f"published={self.published} buffered={self.buffered} dropped={self.dropped}>"
        )

    @property
    def buffered(self) -> int:
        """Messages waiting to be published or acknowledged."""
        return len(self._buffer) + len(self._inflight)

    # ------------------------------------------------------------ client hooks

    @hookimpl
    def mexc_client_started(self, context: ClientContext) -> None:
        """Read the options and start publishing."""
        raw = context.options.get("nats")
        if raw is None:
            return
        self.options = NatsOptions.parse(raw)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            raise NatsOptionsError(
                "the nats plugin needs the asyncio backend (nats-py runs on asyncio)"
            ) from None
        context.task_group.start_soon(self._run, name="nats publisher")

    @hookimpl
    def mexc_push_received(self, push: Push) -> None:
        """Publish a push."""
        if self.options is not None:
            try:
                self._offer(push_message(push, self.options.prefix))
            except InvalidTopic:
                self.skipped += 1

    @hookimpl
    def mexc_book_updated(self, event: BookUpdated) -> None:
        """Publish a book update."""
        if self.options is not None and self.options.books:
            self._offer(book_message(event, self.options.prefix))

    @hookimpl
    def mexc_link_connected(self, event: LinkConnected) -> None:
        """Publish a link-up event."""
        self._event("link_connected", {"link": event.link})

    @hookimpl
    def mexc_link_disconnected(self, event: LinkDisconnected) -> None:
        """Publish a link-down event."""
        self._event("link_disconnected", {"link": event.link, "cause": str(event.cause)})

    @hookimpl
    def mexc_stream_gap(self, event: GapDetected) -> None:
        """Publish a gap event."""
        self._event("gap", {"topics": list(event.topics), "cause": event.cause.value})

    def event(self, type_: str, fields: Mapping[str, object]) -> None:
        """Publish a lifecycle event of this worker (``fields`` must be JSON)."""
        self._event(type_, fields)

    # ------------------------------------------------------------ publishing

    def _event(self, type_: str, fields: Mapping[str, object]) -> None:
        if self.options is not None:
            self._offer(
                event_message(
                    type_, self.options.worker, next(self._sequence), fields, self.options.prefix
                )
            )

    def _offer(self, message: Outgoing) -> None:
        assert self.options is not None
        if self.buffered >= self.options.max_buffer and self._buffer:
            self._buffer.popleft()
            self.dropped += 1
            self._unreported += 1
        self._buffer.append(message)
        if self._ready is not None:
            self._ready.set()

    async def _run(self) -> None:
        options = self.options
        assert options is not None
        nc = self._connection
        own = nc is None
        if nc is None:
            nc = await connect(options.url, f"mexc {options.worker}")
        try:
            js = nc.jetstream(timeout=options.ack_timeout)
            await ensure_stream(js, options.stream, options.prefix)
            self.connected = True
            await self._publish_forever(js, options)
        finally:
            self.connected = False
            self._ready = None
            # not acknowledged: they go first when the client starts again
            while self._inflight:
                self._buffer.appendleft(self._inflight.pop()[0])
            if own:
                # the client is stopping (this task is cancelled): close for real
                with anyio.CancelScope(shield=True), anyio.move_on_after(2):
                    await nc.close()

    async def _publish_forever(self, js: nats.js.JetStreamContext, options: NatsOptions) -> None:
        from nats.errors import Error as NatsError  # noqa: PLC0415

        loop = asyncio.get_running_loop()
        inflight = self._inflight
        ready = self._ready = asyncio.Event()  # of this event loop (a client may restart)
        while True:
            self._reap(loop.time(), options.ack_timeout)
            if self._buffer and len(inflight) < PUBLISH_WINDOW:
                message = self._buffer.popleft()
                try:
                    future = await js.publish_async(
                        message.subject,
                        message.payload,
                        wait_stall=options.ack_timeout,
                        headers=dict(message.headers),
                    )
                except (NatsError, TimeoutError):
                    # NATS is away: the message waits at the front and goes again
                    self._buffer.appendleft(message)
                    self.republished += 1
                    await asyncio.sleep(0.2)
                    continue
                inflight.append((message, future, loop.time()))
                continue
            if not self._buffer and not inflight and self._unreported:
                count, self._unreported = self._unreported, 0
                self._event("overflow", {"dropped": count})
                continue
            ready.clear()
            waiting: list[asyncio.Future[Any]] = [asyncio.ensure_future(ready.wait())]
            if inflight:
                waiting.append(inflight[0][1])
            timeout = (
                max(0.0, inflight[0][2] + options.ack_timeout - loop.time()) if inflight else None
            )
            await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            waiting[0].cancel()

    def _reap(self, now: float, ack_timeout: float) -> None:
        """Count the acknowledged messages; put back the refused and the late ones."""
        inflight = self._inflight
        while inflight:
            message, future, sent = inflight[0]
            if future.done():
                inflight.popleft()
                if future.cancelled() or future.exception() is not None:
                    self._buffer.appendleft(message)
                    self.republished += 1
                else:
                    self.published += 1
            elif now - sent >= ack_timeout:
                inflight.popleft()
                future.cancel()
                self._buffer.appendleft(message)
                self.republished += 1
            else:
                return


#: The instance the ``mexc.plugins`` entry point registers.
plugin: Final = NatsPlugin()
