"""Plugin hook specifications of the ``mexc`` namespace.

Plugins implement any subset with the :data:`hookimpl` marker; pluggy calls them
with keyword arguments, and an implementation may take fewer parameters than
its specification (never others). Three kinds of hooks:

- **Push hooks**, generated from the channel table, one per channel
  (``mexc_aggre_deals_received`` ...), each receiving the whole
  :class:`~mexc_core.events.Push` and its typed body; :func:`mexc_push_received`
  sees every push, whatever its channel, before the channel's own hook. The types
  never lie: a push reaches them only if its body is its channel's message
  type; any other frame (an unknown body, another channel's body, an unknown
  channel, a topic not held) goes to :func:`mexc_push_stray` instead.
- **Lifecycle hooks**: links connected, disconnected (with the reason), rotated;
  subscriptions confirmed and rejected; gaps; listen keys; frames dropped;
  plugins failing. Each receives the event from :mod:`mexc_core.events`;
  :func:`mexc_event_received` sees every event that is not a push.
- **Client hooks**: :func:`mexc_client_started` hands a plugin a task group and
  bounded streams for its own long work; :func:`mexc_subscriptions_wanted`
  lets it declare its topics; :func:`mexc_client_stopping` says goodbye.

Every hook is synchronous and must return fast: it runs on the client's event
loop, between two pushes (pluggy #320; a hook never awaits). A plugin that needs
I/O puts what it receives into a stream opened at startup and does the work in
its own task. A hook that raises is reported (:class:`~mexc_core.events.PluginFailed`,
:func:`mexc_plugin_failed`, a log line) and the plugin stays registered; other
plugins and the client are not affected.

Plugins need nothing else from mexc-core: the events are in
:mod:`mexc_core.events`, and the typed push bodies are re-exported here as
:mod:`messages <mexc_core.messages>` (``from mexc_core.hookspecs import messages``).

pluggy does not check the types of implementations (pluggy #191): :class:`MexcHooks`
mirrors every specification as a typed :class:`~typing.Protocol` (a test keeps the
two identical), for type checkers and plugin tests.

.. versionadded:: 0.1
   The lifecycle and client hooks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar, TypeVarTuple, final

from mexc_core import messages as messages
from mexc_core._generated import hookspecs as _generated
from mexc_core._generated.hookspecs import *  # noqa: F403 - one generated hook per channel
from mexc_core._generated.hookspecs import ChannelHooks
from mexc_core._markers import PROJECT as PROJECT
from mexc_core._markers import hookimpl as hookimpl
from mexc_core._markers import hookspec
from mexc_core.book.sync import BookState as BookState
from mexc_core.client.backpressure import OverflowPolicy as OverflowPolicy
from mexc_core.client.link import LinkInfo as LinkInfo
from mexc_core.client.link import LinkState as LinkState
from mexc_core.client.pool import PoolStats as PoolStats

if TYPE_CHECKING:
    from mexc_core.events import (
        BalanceReconciled,
        BookCrossed,
        BookGapDetected,
        BookResyncStarted,
        BookSynced,
        BookUpdated,
        Event,
        FrameRejected,
        GapDetected,
        LinkConnected,
        LinkDisconnected,
        LinkRotated,
        ListenKeyCreated,
        ListenKeyCreateFailed,
        ListenKeyLost,
        ListenKeyRenewalFailed,
        ListenKeyRenewed,
        OrderReconciled,
        PluginFailed,
        Push,
        ReconcileCompleted,
        ReconcileFailed,
        StrayPushReceived,
        TopicsRejected,
        TopicsSubscribed,
        TradeRecovered,
    )

# concatenated, not unpacked: ruff's __all__ check reads this form
__all__ = _generated.__all__ + (  # noqa: RUF005
    "PROJECT",
    "BookState",
    "ClientContext",
    "ClientStatus",
    "LinkInfo",
    "LinkState",
    "MexcHooks",
    "OverflowPolicy",
    "PoolStats",
    "QueueStatus",
    "StreamReceiver",
    "StreamSender",
    "TaskStarter",
    "hookimpl",
    "hookspec",
    "messages",
    "mexc_balance_reconciled",
    "mexc_book_crossed",
    "mexc_book_gap",
    "mexc_book_resync",
    "mexc_book_synced",
    "mexc_book_updated",
    "mexc_client_started",
    "mexc_client_stopping",
    "mexc_core_input",
    "mexc_event_received",
    "mexc_frame_rejected",
    "mexc_link_connected",
    "mexc_link_disconnected",
    "mexc_link_rotated",
    "mexc_listen_key_created",
    "mexc_listen_key_failed",
    "mexc_listen_key_lost",
    "mexc_listen_key_renewed",
    "mexc_order_reconciled",
    "mexc_plugin_failed",
    "mexc_push_received",
    "mexc_push_stray",
    "mexc_reconcile_completed",
    "mexc_reconcile_failed",
    "mexc_stream_gap",
    "mexc_subscription_confirmed",
    "mexc_subscription_rejected",
    "mexc_subscriptions_wanted",
    "mexc_trade_recovered",
)

T_contra = TypeVar("T_contra", contravariant=True)
T_co = TypeVar("T_co", covariant=True)
T = TypeVar("T")
Args = TypeVarTuple("Args")


# ---------------------------------------------------------------- what a plugin is given


class TaskStarter(Protocol):
    """Starts background tasks: an anyio task group, as far as plugins need one."""

    def start_soon(
        self,
        func: Callable[[*Args], Coroutine[object, object, object]],
        *args: *Args,
        name: object = None,
    ) -> object:
        """Run ``await func(*args)`` in a new task of the client's task group."""
        ...


class StreamSender(Protocol[T_contra]):
    """The sending end of a plugin's bounded stream; its hooks call :meth:`send_nowait`."""

    def send_nowait(self, item: T_contra) -> None:
        """Queue ``item`` according to the stream's overflow policy; never blocks."""
        ...

    def close(self) -> None:
        """No more items: the receiver ends once it has taken the queued ones."""
        ...


class StreamReceiver(Protocol[T_co]):
    """The receiving end of a plugin's bounded stream, for its own task."""

    @property
    def dropped(self) -> int:
        """Items dropped by the overflow policy so far."""
        ...

    async def receive(self) -> T_co:
        """The next item, waiting for one.

        :raises anyio.EndOfStream: the stream was closed and is empty.
        """
        ...

    def __aiter__(self) -> AsyncIterator[T_co]:
        """Iterate until the stream is closed."""
        ...


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class QueueStatus:
    """One bounded queue of the client, as :meth:`ClientContext.status` saw it.

    :ivar name: ``"inbox"`` (between the socket readers and the dispatcher), or the
        name a stream was opened with (``"pushes"``, ``"events"``, a plugin's).
    :ivar depth: items queued. :ivar capacity: the bound.
    :ivar dropped: items the overflow policy dropped so far (the inbox: pushes,
        each reported in a :class:`~mexc_core.events.GapDetected`).
    :ivar conflated: items replaced by a newer one of the same key (``CONFLATE``).
    :ivar policy: the overflow policy (``None`` for the inbox, which drops the
        newest pushes and reports the gap).
    """

    name: str
    depth: int
    capacity: int
    dropped: int
    conflated: int = 0
    policy: OverflowPolicy | None = None


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ClientStatus:
    """A snapshot of the client for monitoring (:meth:`ClientContext.status`).

    :ivar stats: a copy of the pool's counters.
    :ivar links: every link of the pool (one shard of the topics each).
    :ivar books: the state of each watched local order book, by symbol.
    :ivar queues: the inbox, then every open stream.
    :ivar running: the client runs (``False`` once it is closing).
    """

    stats: PoolStats
    links: tuple[LinkInfo, ...]
    books: tuple[tuple[str, BookState], ...]
    queues: tuple[QueueStatus, ...]
    running: bool


class ClientContext(Protocol):
    """What :func:`mexc_client_started` gives a plugin."""

    @property
    def options(self) -> Mapping[str, object]:
        """The application's options for plugins (``MexcClient(options=...)``), by
        convention keyed by plugin name: an installed plugin that is not asked
        for by name should stay quiet."""
        ...

    @property
    def task_group(self) -> TaskStarter:
        """The client's task group: tasks started here end when the client closes."""
        ...

    def open_stream(
        self,
        *,
        max_buffer: int = 1000,
        policy: OverflowPolicy | str = OverflowPolicy.BLOCK,
        key: Callable[[T], Hashable] | None = None,
        name: str = "",
    ) -> tuple[StreamSender[T], StreamReceiver[T]]:
        """A bounded stream (see :mod:`mexc_core.client.backpressure` for the policies).

        With ``BLOCK``, a full stream makes the client's dispatcher wait for room
        before it delivers the next push to anyone (the socket readers and the
        keepalive go on); the other policies never wait.

        :param max_buffer: the bound. :param policy: what a full stream does.
        :param key: the ``CONFLATE`` key (default: a push's channel).
        :param name: for logs and metrics.
        """
        ...

    def watch_book(self, symbol: str, *, interval: str = "100ms") -> None:
        """Keep the local order book of ``symbol``; its events reach the
        ``mexc_book_*`` hooks (with a view of the best levels in each).

        :raises InvalidTopic: ``symbol`` or ``interval`` is not one MEXC accepts.
        """
        ...

    def status(self) -> ClientStatus:
        """A snapshot of the links, books, queues and counters, for monitoring.

        Cheap enough to take at every scrape of a metrics endpoint; call it on the
        client's event loop (a hook, or a task of :attr:`task_group`).

        .. versionadded:: 0.1
        """
        ...


# ---------------------------------------------------------------- client hooks


@hookspec
def mexc_client_started(context: ClientContext) -> None:
    """The client is running: start background tasks and open streams here.

    Fires once, after the plugins are loaded and before the first subscription.

    :param context: the task group and a factory of bounded streams.
    """


@hookspec
def mexc_subscriptions_wanted() -> Iterable[str] | None:
    """Topics this plugin wants; the client subscribes to them all at start.

    Every plugin's answer counts (this is not a ``firstresult`` hook); ``None``
    adds nothing.

    :returns: topic strings (``str(topic)`` of a typed topic works too).
    """


@hookspec
def mexc_client_stopping() -> None:
    """The client is closing: no more pushes will come. Close your streams here."""


@hookspec
def mexc_core_input(method: str, arguments: Mapping[str, object], at: float) -> None:
    """The client fed its sans-IO core, or took bytes out of it: for recorders.

    It sees everything the client's core depends on, in the order it happened,
    so that feeding the same calls to a new core (with the same settings and
    random seed) gives the same events (``mexc replay``). The client calls it
    only when a plugin implements it; it runs on the socket readers' path, so
    it must return at once (append to a buffer).

    ``method`` is the core's method, ``arguments`` its keyword arguments:

    - ``start``, ``close``: none;
    - ``subscribe``, ``unsubscribe``: ``topics`` (a tuple of strings);
    - ``watch_book``: ``symbol``, ``interval``; ``unwatch_book``: ``symbol``;
    - ``transport_opened``: ``cid`` and ``link`` (the pool's link id);
    - ``transport_failed``: ``cid``, ``reason``, ``kind`` (a
      :class:`~mexc_core.client.backoff.FailureKind` value);
    - ``receive_data``: ``cid``, ``data`` (the bytes read, ``b""`` at EOF);
    - ``data_to_send``: ``cid``, ``data`` (the bytes written, raw frames included);
    - ``rest_response``: ``call_id``, ``method``, ``path`` (no query: it may carry a
      signature), ``status``, ``headers``, ``body``: the raw HTTP answer to a REST
      call, whatever the call was for (read it with the call's own parser);
    - ``rest_failed``: ``call_id``, ``reason``;
    - ``handle_timer``: none.

    New methods may be added; ignore those you do not know.

    :param method: what was called.
    :param arguments: its arguments (read them, do not keep the mapping).
    :param at: the client's monotonic time of the call (the core's ``now``).

    .. versionadded:: 0.1
    """


# ---------------------------------------------------------------- push hooks


@hookspec
def mexc_push_received(push: Push) -> None:
    """Any push arrived, on any channel (called before the channel's own hook).

    :param push: the decoded frame; ``push.body`` is the message type of
        ``push.channel`` (frames that break this go to :func:`mexc_push_stray`).
    """


@hookspec
def mexc_push_stray(event: StrayPushReceived) -> None:
    """A frame decoded but is no push of its channel, and reached no push hook:
    its body is of a type this schema does not know (MEXC changed the schema) or
    another channel's, its channel is unknown, or its topic is not held.

    Counted per reason in the client's stats (``stats.strays``). On a topic
    that needs continuity (diff depth, private streams) such a frame is data
    the topic lost.

    :param event: the decoded frame (``event.push``), the reason, the topic and the
        message type its channel carries.
    """


# ---------------------------------------------------------------- lifecycle hooks


@hookspec
def mexc_link_connected(event: LinkConnected) -> None:
    """A connection (a *link*, one shard of the topics) opened its WebSocket.

    :param event: the link, whether it is a reconnect, and the topics it subscribes.
    """


@hookspec
def mexc_link_disconnected(event: LinkDisconnected) -> None:
    """A link went down: why, and when it reconnects (if it does).

    :param event: the cause, a readable reason, the retry delay and the topics.
    """


@hookspec
def mexc_link_rotated(event: LinkRotated) -> None:
    """A link was replaced before MEXC's 24 h cut-off, without a gap.

    :param event: the old and new link, the old one's age and the topics moved.
    """


@hookspec
def mexc_subscription_confirmed(event: TopicsSubscribed) -> None:
    """MEXC acknowledged topics (again after every reconnect or move).

    :param event: the link and the topics.
    """


@hookspec
def mexc_subscription_rejected(event: TopicsRejected) -> None:
    """Topics could not be subscribed and were given up.

    :param event: the topics, the cause (rejected, no ack, connection refused) and
        MEXC's reason.
    """


@hookspec
def mexc_stream_gap(event: GapDetected) -> None:
    """Pushes of some topics may be missing between two instants.

    Fires when the gap closes: after a reconnect resubscribed the topics, or after
    the client's own buffers overflowed; or at once when a push is known lost on
    a live connection (a rejected frame, a mismatched body, a version break).
    Once per topic per outage (see :class:`~mexc_core.events.GapDetected`).
    Resynchronise what needs continuity (order books from a snapshot, private
    state over REST).

    :param event: the topics, the cause and the interval.
    """


@hookspec
def mexc_frame_rejected(event: FrameRejected) -> None:
    """A frame could not be decoded and was dropped (on a depth channel: a gap).

    :param event: what was wrong, where, and an excerpt.
    """


@hookspec
def mexc_listen_key_created(event: ListenKeyCreated) -> None:
    """A listen key was created; private links (re)connect with it.

    :param event: the key (shortened in its repr) and its validity.
    """


@hookspec
def mexc_listen_key_renewed(event: ListenKeyRenewed) -> None:
    """A listen-key keepalive succeeded.

    :param event: the new validity.
    """


@hookspec
def mexc_listen_key_failed(event: ListenKeyCreateFailed | ListenKeyRenewalFailed) -> None:
    """Creating or renewing the listen key failed; it is retried.

    :param event: the error and the time of the retry.
    """


@hookspec
def mexc_listen_key_lost(event: ListenKeyLost) -> None:
    """The listen key is gone (expired, rejected, invalidated); a new one is made.

    Private events in between are lost: reconcile over REST once the private
    link is subscribed again (:func:`mexc_stream_gap` follows).

    :param event: the lost key (shortened) and why.
    """


@hookspec
def mexc_plugin_failed(event: PluginFailed) -> None:
    """Another plugin's hook raised (reported at the 1st, 10th, 100th ... failure).

    An exception raised here is only logged.

    :param event: which plugin, which hook, the error and the count.
    """


@hookspec
def mexc_book_synced(event: BookSynced) -> None:
    """A local order book is exact (again), built from a snapshot and the diffs after it.

    :param event: the symbol, the version, the sizes, and with a view depth the
        best levels at that version (``event.view``).
    """


@hookspec
def mexc_book_updated(event: BookUpdated) -> None:
    """A diff was applied to a synced local book.

    :param event: the symbol, the new version, the levels the diff set, and with a
        view depth the best levels at that version (``event.view``), consistent
        with the event even though the book may have moved on since.
    """


@hookspec
def mexc_book_gap(event: BookGapDetected) -> None:
    """The depth stream of a book broke (a version gap, an overlap, a reconnect,
    bad data): the book is cleared and rebuilt; :func:`mexc_book_resync` follows.

    :param event: the symbol, the cause and the versions involved.
    """


@hookspec
def mexc_book_crossed(event: BookCrossed) -> None:
    """A diff left a local book crossed (best bid at or above best ask): the book
    is wrong, cleared and rebuilt; :func:`mexc_book_resync` follows.

    :param event: the symbol, the version and the two prices.
    """


@hookspec
def mexc_book_resync(event: BookResyncStarted) -> None:
    """A local book is cleared and will be rebuilt from a new snapshot; read
    nothing from it until :func:`mexc_book_synced`.

    :param event: the symbol, the cause and the last version it was exact at.
    """


@hookspec
def mexc_order_reconciled(event: OrderReconciled) -> None:
    """An order changed while the private streams were not listened to (read
    over REST after a gap, a private reconnect or a listen key lost): it is new,
    (partly) filled or cancelled. Reported once; see :doc:`/reconcile`.

    :param event: the order's symbol, ids, status and filled quantity now and as last seen.
    """


@hookspec
def mexc_balance_reconciled(event: BalanceReconciled) -> None:
    """An asset's balance changed while the private streams were not listened to.

    :param event: the asset, its free and locked amounts now and as last seen.
    """


@hookspec
def mexc_trade_recovered(event: TradeRecovered) -> None:
    """One of the account's fills that no push delivered, read over REST
    (``GET /api/v3/myTrades``); oldest first, each once.

    :param event: the fill: symbol, ids, price, quantity, fee, time.
    """


@hookspec
def mexc_reconcile_completed(event: ReconcileCompleted) -> None:
    """A reconciliation ended; its :func:`mexc_order_reconciled`,
    :func:`mexc_balance_reconciled` and :func:`mexc_trade_recovered` calls came before.

    :param event: why it ran, the counts, the requests and their weight.
    """


@hookspec
def mexc_reconcile_failed(event: ReconcileFailed) -> None:
    """A reconciliation failed (a REST error or timeout); it starts again at
    ``event.retry_at``. What it reported before stands.

    :param event: why it ran, the error, the retry time, whether MEXC rate-limited it.
    """


@hookspec
def mexc_event_received(event: Event) -> None:
    """Any event that is not a push, including those without a hook of their own.

    :param event: the event (see :mod:`mexc_core.events`).
    """


# ---------------------------------------------------------------- the typed mirror


class MexcHooks(ChannelHooks, Protocol):
    """Every hook specification above as a typed method (pluggy #191).

    A plugin class may declare that it implements some of these with the same
    signatures; ``tests/test_hookspecs.py`` keeps this mirror identical to the
    specifications.
    """

    def mexc_client_started(self, context: ClientContext) -> None:
        """See :func:`mexc_client_started`."""

    def mexc_subscriptions_wanted(self) -> Iterable[str] | None:
        """See :func:`mexc_subscriptions_wanted`."""

    def mexc_client_stopping(self) -> None:
        """See :func:`mexc_client_stopping`."""

    def mexc_core_input(self, method: str, arguments: Mapping[str, object], at: float) -> None:
        """See :func:`mexc_core_input`."""

    def mexc_push_received(self, push: Push) -> None:
        """See :func:`mexc_push_received`."""

    def mexc_push_stray(self, event: StrayPushReceived) -> None:
        """See :func:`mexc_push_stray`."""

    def mexc_link_connected(self, event: LinkConnected) -> None:
        """See :func:`mexc_link_connected`."""

    def mexc_link_disconnected(self, event: LinkDisconnected) -> None:
        """See :func:`mexc_link_disconnected`."""

    def mexc_link_rotated(self, event: LinkRotated) -> None:
        """See :func:`mexc_link_rotated`."""

    def mexc_subscription_confirmed(self, event: TopicsSubscribed) -> None:
        """See :func:`mexc_subscription_confirmed`."""

    def mexc_subscription_rejected(self, event: TopicsRejected) -> None:
        """See :func:`mexc_subscription_rejected`."""

    def mexc_stream_gap(self, event: GapDetected) -> None:
        """See :func:`mexc_stream_gap`."""

    def mexc_frame_rejected(self, event: FrameRejected) -> None:
        """See :func:`mexc_frame_rejected`."""

    def mexc_listen_key_created(self, event: ListenKeyCreated) -> None:
        """See :func:`mexc_listen_key_created`."""

    def mexc_listen_key_renewed(self, event: ListenKeyRenewed) -> None:
        """See :func:`mexc_listen_key_renewed`."""

    def mexc_listen_key_failed(self, event: ListenKeyCreateFailed | ListenKeyRenewalFailed) -> None:
        """See :func:`mexc_listen_key_failed`."""

    def mexc_listen_key_lost(self, event: ListenKeyLost) -> None:
        """See :func:`mexc_listen_key_lost`."""

    def mexc_plugin_failed(self, event: PluginFailed) -> None:
        """See :func:`mexc_plugin_failed`."""

    def mexc_book_synced(self, event: BookSynced) -> None:
        """See :func:`mexc_book_synced`."""

    def mexc_book_updated(self, event: BookUpdated) -> None:
        """See :func:`mexc_book_updated`."""

    def mexc_book_gap(self, event: BookGapDetected) -> None:
        """See :func:`mexc_book_gap`."""

    def mexc_book_crossed(self, event: BookCrossed) -> None:
        """See :func:`mexc_book_crossed`."""

    def mexc_book_resync(self, event: BookResyncStarted) -> None:
        """See :func:`mexc_book_resync`."""

    def mexc_order_reconciled(self, event: OrderReconciled) -> None:
        """See :func:`mexc_order_reconciled`."""

    def mexc_balance_reconciled(self, event: BalanceReconciled) -> None:
        """See :func:`mexc_balance_reconciled`."""

    def mexc_trade_recovered(self, event: TradeRecovered) -> None:
        """See :func:`mexc_trade_recovered`."""

    def mexc_reconcile_completed(self, event: ReconcileCompleted) -> None:
        """See :func:`mexc_reconcile_completed`."""

    def mexc_reconcile_failed(self, event: ReconcileFailed) -> None:
        """See :func:`mexc_reconcile_failed`."""

    def mexc_event_received(self, event: Event) -> None:
        """See :func:`mexc_event_received`."""
