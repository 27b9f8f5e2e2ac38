"""Plugins, without I/O: loading them, and calling their hooks for each event.

Theory of operation
===================

:func:`plugin_manager` builds the pluggy manager of the ``mexc`` project: the
specifications of :mod:`mexc_core.hookspecs`, every plugin installed under the
entry-point group ``mexc.plugins`` (a distribution declares
``[project.entry-points."mexc.plugins"] name = "module"``), the plugins given,
and :meth:`~pluggy.PluginManager.check_pending` so that a misspelt hook fails at
load time instead of never being called.

A :class:`Dispatcher` maps each event to its hooks (:func:`hooks_for`) and calls
them. A channel's typed hook and ``mexc_push_received`` only ever see a
:class:`~mexc_core.events.Push` whose body is its channel's message type: the
session reports any other frame as a :class:`~mexc_core.events.StrayPushReceived`
(for ``mexc_push_stray``), and the dispatcher checks again, with
:func:`mexc_core.wire.stray_reason`, the pushes it is handed directly (a replay, a
test), so that a hand-made push cannot make a typed hook lie either.

The dispatcher does not go through pluggy's multi-call loop: it calls every
implementation itself, in pluggy's order (``tryfirst`` first, then the latest
registered first), so that one plugin raising neither stops the others nor
reaches the client: the exception is counted and reported as a
:class:`~mexc_core.events.PluginFailed` at the 1st, 10th, 100th ... failure of
that plugin in that hook, which :meth:`Dispatcher.dispatch` returns for the
caller to log and to pass to :func:`~mexc_core.hookspecs.mexc_plugin_failed`.
Hook wrappers are refused: a notification has nothing to wrap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Final, Protocol

import pluggy

from mexc_core import hookspecs, wire
from mexc_core._markers import PROJECT
from mexc_core.channels import BY_PREFIX
from mexc_core.channels import body_type as channel_body_type
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

__all__ = (
    "ENTRY_POINT_GROUP",
    "LIFECYCLE_HOOKS",
    "Dispatcher",
    "HookCall",
    "HookFunction",
    "LoadFailureHandler",
    "hooks_for",
    "installed_plugins",
    "plugin_manager",
)

#: The entry-point group plugins are discovered in.
ENTRY_POINT_GROUP: Final = "mexc.plugins"

#: The hook of each lifecycle event type (besides ``mexc_event_received``).
LIFECYCLE_HOOKS: Final[Mapping[type[Event], str]] = {
    LinkConnected: "mexc_link_connected",
    LinkDisconnected: "mexc_link_disconnected",
    LinkRotated: "mexc_link_rotated",
    TopicsSubscribed: "mexc_subscription_confirmed",
    TopicsRejected: "mexc_subscription_rejected",
    GapDetected: "mexc_stream_gap",
    FrameRejected: "mexc_frame_rejected",
    StrayPushReceived: "mexc_push_stray",
    ListenKeyCreated: "mexc_listen_key_created",
    ListenKeyRenewed: "mexc_listen_key_renewed",
    ListenKeyCreateFailed: "mexc_listen_key_failed",
    ListenKeyRenewalFailed: "mexc_listen_key_failed",
    ListenKeyLost: "mexc_listen_key_lost",
    PluginFailed: "mexc_plugin_failed",
    BookSynced: "mexc_book_synced",
    BookUpdated: "mexc_book_updated",
    BookGapDetected: "mexc_book_gap",
    BookCrossed: "mexc_book_crossed",
    BookResyncStarted: "mexc_book_resync",
    OrderReconciled: "mexc_order_reconciled",
    BalanceReconciled: "mexc_balance_reconciled",
    TradeRecovered: "mexc_trade_recovered",
    ReconcileCompleted: "mexc_reconcile_completed",
    ReconcileFailed: "mexc_reconcile_failed",
}

_SEP: Final = "@"


def installed_plugins() -> dict[str, str]:
    """The plugins installed under ``mexc.plugins``: entry-point name -> its target."""
    return {ep.name: ep.value for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


#: Called with an installed plugin's name and why it cannot be loaded.
LoadFailureHandler = Callable[[str, Exception], None]


def plugin_manager(
    *plugins: object,
    entry_points: bool = True,
    blocked: Iterable[str] = (),
    only: Iterable[str] | None = None,
    on_load_failure: LoadFailureHandler | None = None,
) -> pluggy.PluginManager:
    """The ``mexc`` plugin manager, loaded and checked.

    :param plugins: plugin objects (modules, instances) to register besides the
        installed ones.
    :param entry_points: load the plugins installed under ``mexc.plugins``.
    :param blocked: entry-point names not to load.
    :param only: load only the installed plugins of these names (``None``: all).
    :param on_load_failure: skip an installed plugin that cannot be loaded (its
        import raises, or it fails the checks below) and tell this function,
        instead of raising; the plugins given in ``plugins`` are always checked
        strictly.
    :raises pluggy.PluginValidationError: a plugin implements a hook that does not
        exist, with parameters its specification does not have, or as a wrapper.
    """
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    for name in blocked:
        pm.set_blocked(name)
    if entry_points:
        wanted = None if only is None else frozenset(only)
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            if pm.is_blocked(ep.name) or (wanted is not None and ep.name not in wanted):
                continue
            try:
                _register(pm, ep.load(), ep.name)
            except Exception as exc:
                if on_load_failure is None:
                    raise
                on_load_failure(ep.name, exc)
    for plugin in plugins:
        _register(pm, plugin, None)
    return pm


def _register(pm: pluggy.PluginManager, plugin: object, name: str | None) -> None:
    """Register ``plugin`` and check it; a plugin that fails is unregistered."""
    try:
        pm.register(plugin, name=name)
        pm.check_pending()
        for caller in pm.get_hookcallers(plugin) or ():
            for impl in caller.get_hookimpls():
                if impl.plugin is plugin and (impl.hookwrapper or impl.wrapper):
                    raise pluggy.PluginValidationError(
                        impl.plugin,
                        f"{impl.plugin_name}: {caller.name} is a wrapper; mexc hooks are "
                        "notifications and do not take wrappers",
                    )
    except pluggy.PluginValidationError:
        if pm.is_registered(plugin):
            pm.unregister(plugin)
        raise


def hooks_for(event: Event) -> tuple[str, ...]:
    """The hooks called for ``event``, in order.

    >>> hooks_for(TopicsSubscribed(link=1, topics=()))
    ('mexc_subscription_confirmed', 'mexc_event_received')

    For a push, the generic hook and its channel's typed hook, by the channel
    alone: :meth:`Dispatcher.dispatch` sends a push whose body is not its
    channel's (:func:`mexc_core.wire.stray_reason`) to ``mexc_push_stray``
    instead, as a :class:`~mexc_core.events.StrayPushReceived`.
    """
    if isinstance(event, Push):
        spec = BY_PREFIX.get(_SEP.join(event.channel.split(_SEP, 2)[:2]))
        if spec is None:
            return ("mexc_push_received",)
        return ("mexc_push_received", spec.hook)
    own = LIFECYCLE_HOOKS.get(type(event))
    if own is None:
        return ("mexc_event_received",)
    return (own, "mexc_event_received")


class HookFunction(Protocol):
    """A hook implementation: called with the arguments it names, in order."""

    def __call__(self, *args: object) -> object:
        """Run the hook."""
        ...


@dataclass(frozen=True, slots=True)
class HookCall:
    """One implementation of one hook, ready to call."""

    plugin: str
    hook: str
    function: HookFunction
    argnames: tuple[str, ...]


def _is_decade(count: int) -> bool:
    """1, 10, 100, ...: when a repeated failure is reported again."""
    while count % 10 == 0:
        count //= 10
    return count == 1


#: A channel's body type (``None``: an unknown channel) and the calls of its
#: pushes, each with the indexes of its arguments in ``(push, body)``.
_PushPlan = tuple[type | None, tuple[tuple["HookCall", tuple[int, ...]], ...]]
#: Where each argument of a push hook is found in ``(push, body)``.
_PUSH_ARGS: Final = {"push": 0, "body": 1}
#: Channels whose plans are kept at most (subscriptions are far fewer).
_MAX_PLANS: Final = 100_000


class Dispatcher:
    """Calls the hooks of each event, isolating plugins that raise.

    :param pm: the plugin manager (see :func:`plugin_manager`). Plugins
        registered later are seen after :meth:`refresh`.
    """

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm: Final = pm
        #: Failures per ``(plugin, hook)``.
        self.failures: dict[tuple[str, str], int] = {}
        self._calls: dict[str, tuple[HookCall, ...]] = {}
        # per channel: its body type and the calls of its pushes, resolved once
        self._plans: dict[str, _PushPlan] = {}

    def refresh(self) -> None:
        """Forget the cached implementations (after registering or removing plugins)."""
        self._calls.clear()
        self._plans.clear()

    def _plan(self, push: Push) -> _PushPlan:
        plan = self._plans.get(push.channel)
        if plan is None:
            calls = tuple(
                (call, tuple(_PUSH_ARGS[name] for name in call.argnames))
                for hook in hooks_for(push)
                for call in self.calls(hook)
            )
            plan = (channel_body_type(push.channel), calls)
            if len(self._plans) >= _MAX_PLANS:
                self._plans.clear()  # hand-made pushes of endless channels stay bounded
            self._plans[push.channel] = plan
        return plan

    def _dispatch_push(self, push: Push) -> list[PluginFailed]:
        expected, calls = self._plan(push)
        body = push.body
        if type(body) is not expected:
            reason = wire.stray_reason(push)
            assert reason is not None  # the body is not its channel's
            return self.dispatch(wire.stray_push(push, reason))
        failed: list[PluginFailed] = []
        both = (push, body)
        for call, picks in calls:
            try:
                call.function(*[both[i] for i in picks])
            except Exception as exc:  # noqa: BLE001 - isolating plugins is the point
                report = self._failed(call, exc)
                if report is not None:
                    failed.append(report)
        return failed

    def calls(self, hook: str) -> tuple[HookCall, ...]:
        """The implementations of ``hook``, in calling order."""
        found = self._calls.get(hook)
        if found is None:
            caller: pluggy.HookCaller = getattr(self.pm.hook, hook)
            found = tuple(
                HookCall(
                    plugin=impl.plugin_name,
                    hook=hook,
                    function=impl.function,
                    argnames=tuple(impl.argnames),
                )
                for impl in reversed(caller.get_hookimpls())
            )
            self._calls[hook] = found
        return found

    def dispatch(self, event: Event) -> list[PluginFailed]:
        """Call every hook of ``event``; the failures to report.

        A :class:`~mexc_core.events.Push` whose body is not its channel's message
        type is dispatched as the :class:`~mexc_core.events.StrayPushReceived` it
        is (sessions never emit one; this guards pushes made by hand).
        """
        if isinstance(event, Push):
            return self._dispatch_push(event)
        failed: list[PluginFailed] = []
        kwargs = {"event": event}
        for hook in hooks_for(event):
            failed += self.call(hook, kwargs)
        return failed

    def call(self, hook: str, kwargs: Mapping[str, object]) -> list[PluginFailed]:
        """Call every implementation of ``hook`` with (a subset of) ``kwargs``."""
        return self.collect(hook, kwargs)[1]

    def collect(
        self, hook: str, kwargs: Mapping[str, object]
    ) -> tuple[list[object], list[PluginFailed]]:
        """Call ``hook``; the results that are not ``None``, and the failures to report."""
        results: list[object] = []
        failed: list[PluginFailed] = []
        for call in self.calls(hook):
            try:
                result = call.function(*[kwargs[name] for name in call.argnames])
            except Exception as exc:  # noqa: BLE001 - isolating plugins is the point
                report = self._failed(call, exc)
                if report is not None:
                    failed.append(report)
            else:
                if result is not None:
                    results.append(result)
        return results, failed

    def _failed(self, call: HookCall, exc: Exception) -> PluginFailed | None:
        key = (call.plugin, call.hook)
        count = self.failures.get(key, 0) + 1
        self.failures[key] = count
        if not _is_decade(count):
            return None
        return PluginFailed(
            plugin=call.plugin,
            hook=call.hook,
            error=f"{type(exc).__name__}: {exc}",
            failures=count,
        )
