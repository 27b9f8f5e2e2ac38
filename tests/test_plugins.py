"""Plugin loading and dispatch: pluggy's rules, our order, and isolation of failures."""

from __future__ import annotations

import sys
from pathlib import Path

import pluggy
import pytest

from mexc_core import plugins, wire
from mexc_core.events import (
    GapCause,
    GapDetected,
    ListenKeyRenewalFailed,
    PluginFailed,
    PongReceived,
    Push,
    StrayPushReceived,
    StrayReason,
    TopicsSubscribed,
)
from mexc_core.hookspecs import hookimpl
from mexc_core.messages import (
    PublicAggreDealsV3Api,
    PublicDealsV3Api,
    PublicSpotKlineV3Api,
    UnknownBody,
)
from mexc_core.plugins import Dispatcher, hooks_for, installed_plugins, plugin_manager

DEALS = "spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT"
PUSH = Push(channel=DEALS, body=PublicAggreDealsV3Api(), symbol="BTCUSDT")


class NamedPlugin:
    def __init__(self, name: str, calls: list[tuple[str, str]]) -> None:
        self.name = name
        self.calls = calls

    @hookimpl
    def mexc_push_received(self, push: Push) -> None:
        self.calls.append((self.name, "push"))

    @hookimpl
    def mexc_aggre_deals_received(self, body: PublicAggreDealsV3Api) -> None:
        # a subset of the spec's parameters, in any order
        self.calls.append((self.name, "deals"))

    @hookimpl
    def mexc_subscriptions_wanted(self) -> list[str]:
        return [DEALS]


class First:
    def __init__(self, calls: list[tuple[str, str]]) -> None:
        self.calls = calls

    @hookimpl(tryfirst=True)
    def mexc_push_received(self) -> None:
        self.calls.append(("first", "push"))


class Broken:
    @hookimpl
    def mexc_push_received(self, push: Push) -> None:
        raise ValueError(f"cannot handle {push.symbol}")

    @hookimpl
    def mexc_subscriptions_wanted(self) -> list[str]:
        raise KeyError("no topics")


def test_hooks_for_each_event() -> None:
    assert hooks_for(PUSH) == ("mexc_push_received", "mexc_aggre_deals_received")
    kline = Push(channel="spot@public.kline.v3.api.pb@BTCUSDT@Min1", body=PublicSpotKlineV3Api())
    assert hooks_for(kline)[1] == "mexc_kline_received"
    unknown = Push(channel="spot@public.future.v3.api.pb@SIM", body=PublicSpotKlineV3Api())
    assert hooks_for(unknown) == ("mexc_push_received",)
    gap = GapDetected(topics=(), cause=GapCause.OVERFLOW, started_at=0, ended_at=1)
    assert hooks_for(gap) == ("mexc_stream_gap", "mexc_event_received")
    failed = ListenKeyRenewalFailed(error="x", retry_at=None, valid_until=1.0)
    assert hooks_for(failed)[0] == "mexc_listen_key_failed"
    assert hooks_for(PongReceived(round_trip=0.1)) == ("mexc_event_received",)
    stray = wire.stray_push(unknown, StrayReason.UNKNOWN_CHANNEL)
    assert hooks_for(stray) == ("mexc_push_stray", "mexc_event_received")


class Typed:
    """Records what each hook saw, by hook."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, object]] = []

    @hookimpl
    def mexc_push_received(self, push: Push) -> None:
        self.seen.append(("push", push))

    @hookimpl
    def mexc_aggre_deals_received(self, body: PublicAggreDealsV3Api) -> None:
        self.seen.append(("deals", body))

    @hookimpl
    def mexc_push_stray(self, event: StrayPushReceived) -> None:
        self.seen.append(("stray", event))

    @hookimpl
    def mexc_event_received(self, event: object) -> None:
        self.seen.append(("event", event))


@pytest.mark.parametrize(
    ("push", "reason"),
    [
        (Push(channel=DEALS, body=UnknownBody(number=399, data=b"")), StrayReason.UNKNOWN_BODY),
        (Push(channel=DEALS, body=PublicDealsV3Api()), StrayReason.FOREIGN_BODY),
        (
            Push(channel="spot@public.future.v3.api.pb@SIM", body=PublicAggreDealsV3Api()),
            StrayReason.UNKNOWN_CHANNEL,
        ),
    ],
    ids=lambda x: getattr(x, "name", "push"),
)
def test_a_push_made_by_hand_cannot_make_a_typed_hook_lie(push: Push, reason: StrayReason) -> None:
    plugin = Typed()
    dispatcher = Dispatcher(plugin_manager(plugin, entry_points=False))
    assert dispatcher.dispatch(push) == []
    stray = wire.stray_push(push, reason)
    assert plugin.seen == [("stray", stray), ("event", stray)]
    plugin.seen.clear()
    dispatcher.dispatch(PUSH)
    assert plugin.seen == [("push", PUSH), ("deals", PUSH.body)]
    plugin.seen.clear()
    dispatcher.dispatch(stray)  # as the session emits it
    assert plugin.seen == [("stray", stray), ("event", stray)]


def test_dispatch_follows_pluggys_order() -> None:
    calls: list[tuple[str, str]] = []
    pm = plugin_manager(
        First(calls), NamedPlugin("a", calls), NamedPlugin("b", calls), entry_points=False
    )
    dispatcher = Dispatcher(pm)
    assert dispatcher.dispatch(PUSH) == []
    # tryfirst first, then the latest registered first, as pluggy itself calls them
    assert calls == [
        ("first", "push"),
        ("b", "push"),
        ("a", "push"),
        ("b", "deals"),
        ("a", "deals"),
    ]
    assert dispatcher.dispatch(TopicsSubscribed(link=1, topics=())) == []
    results, failed = dispatcher.collect("mexc_subscriptions_wanted", {})
    assert results == [[DEALS], [DEALS]]
    assert failed == []


def test_a_raising_plugin_is_isolated_and_reported_by_decades() -> None:
    calls: list[tuple[str, str]] = []
    pm = plugin_manager(NamedPlugin("a", calls), Broken(), entry_points=False)
    dispatcher = Dispatcher(pm)
    reports: list[PluginFailed] = []
    for _ in range(100):
        reports += dispatcher.dispatch(PUSH)
    assert calls.count(("a", "push")) == 100  # never skipped
    assert [r.failures for r in reports] == [1, 10, 100]
    assert reports[0].hook == "mexc_push_received"
    assert reports[0].error == "ValueError: cannot handle BTCUSDT"
    assert reports[0].plugin == next(n for n, p in pm.list_name_plugin() if isinstance(p, Broken))
    results, failed = dispatcher.collect("mexc_subscriptions_wanted", {})
    assert results == [[DEALS]]
    assert failed[0].error == "KeyError: 'no topics'"


def test_refresh_sees_plugins_registered_later() -> None:
    calls: list[tuple[str, str]] = []
    pm = plugin_manager(entry_points=False)
    dispatcher = Dispatcher(pm)
    dispatcher.dispatch(PUSH)
    pm.register(NamedPlugin("late", calls))
    dispatcher.dispatch(PUSH)
    assert calls == []
    dispatcher.refresh()
    dispatcher.dispatch(PUSH)
    assert calls == [("late", "push"), ("late", "deals")]


def test_misspelt_hooks_and_wrappers_are_refused_at_load_time() -> None:
    class Misspelt:
        @hookimpl
        def mexc_push_recieved(self, push: Push) -> None: ...

    class Extra:
        @hookimpl
        def mexc_push_received(self, push: Push, nonsense: int) -> None: ...

    class Wrapper:
        @hookimpl(wrapper=True)
        def mexc_push_received(self, push: Push) -> object:
            return (yield)

    for plugin in (Misspelt(), Extra(), Wrapper()):
        with pytest.raises(pluggy.PluginValidationError):
            plugin_manager(plugin, entry_points=False)


def test_entry_points_can_be_blocked() -> None:
    pm = plugin_manager(blocked=["console"])
    assert pm.is_blocked("console")
    assert pm.get_plugin("console") is None


BROKEN_PLUGINS = {
    # name: (module, source)
    "misspelt": (
        "fake_misspelt",
        "from mexc_core.hookspecs import hookimpl\n@hookimpl\ndef mexc_push_recieved(push): pass\n",
    ),
    "extra": (
        "fake_extra",
        "from mexc_core.hookspecs import hookimpl\n"
        "@hookimpl\ndef mexc_push_received(push, nonsense): pass\n",
    ),
    "wrapper": (
        "fake_wrapper",
        "from mexc_core.hookspecs import hookimpl\n"
        "@hookimpl(wrapper=True)\ndef mexc_push_received(push):\n    return (yield)\n",
    ),
    "crashing": ("fake_crashing", "raise RuntimeError('no config file')\n"),
    "fine": (
        "fake_fine",
        "from mexc_core.hookspecs import hookimpl\n@hookimpl\ndef mexc_push_received(push): pass\n",
    ),
}


@pytest.fixture
def fake_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Install the plugins of :data:`BROKEN_PLUGINS` on ``sys.path``, with their metadata."""
    for name, (module, source) in BROKEN_PLUGINS.items():
        (tmp_path / f"{module}.py").write_text(source)
        info = tmp_path / f"{module}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[mexc.plugins]\n{name} = {module}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for module, _ in BROKEN_PLUGINS.values():
        monkeypatch.delitem(sys.modules, module, raising=False)


@pytest.mark.usefixtures("fake_installed")
def test_a_broken_installed_plugin_is_skipped_and_reported() -> None:
    assert installed_plugins()["fine"] == "fake_fine"
    failures: dict[str, Exception] = {}
    pm = plugin_manager(on_load_failure=failures.__setitem__)
    assert set(failures) == {"misspelt", "extra", "wrapper", "crashing"}
    assert "mexc_push_recieved" in str(failures["misspelt"])
    assert "nonsense" in str(failures["extra"])
    assert "is a wrapper" in str(failures["wrapper"])
    assert str(failures["crashing"]) == "no config file"
    assert pm.has_plugin("fine")
    assert pm.has_plugin("console")  # the real ones still load
    for name in failures:  # nothing of the broken ones stays behind
        assert not pm.has_plugin(name)
    # of the fake ones, only the fine one implements a hook (installed ones may too)
    implementing = {impl.plugin_name for impl in pm.hook.mexc_push_received.get_hookimpls()}
    assert implementing & set(BROKEN_PLUGINS) == {"fine"}
    pm.check_pending()


@pytest.mark.usefixtures("fake_installed")
def test_without_a_handler_a_broken_installed_plugin_raises() -> None:
    with pytest.raises(RuntimeError, match="no config file"):
        plugin_manager(only=["crashing"])
    with pytest.raises(pluggy.PluginValidationError):
        plugin_manager(only=["wrapper"])


@pytest.mark.usefixtures("fake_installed")
def test_only_loads_the_plugins_named() -> None:
    failures: dict[str, Exception] = {}
    pm = plugin_manager(only=["fine"], on_load_failure=failures.__setitem__)
    assert failures == {}  # the broken ones were not even imported
    assert [name for name, _ in pm.list_name_plugin() if name == "fine"] == ["fine"]
    assert not pm.has_plugin("console")
    assert not plugin_manager(only=[]).list_name_plugin()


def test_push_plans_per_channel_stay_bounded_and_keep_delivering(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[str, str]] = []
    dispatcher = Dispatcher(plugin_manager(NamedPlugin("a", calls), entry_points=False))
    monkeypatch.setattr(plugins, "_MAX_PLANS", 2)
    channels = [f"spot@public.aggre.deals.v3.api.pb@100ms@S{i}USDT" for i in range(5)]
    for channel in channels * 2:
        assert dispatcher.dispatch(Push(channel=channel, body=PublicAggreDealsV3Api())) == []
    assert calls == [("a", "push"), ("a", "deals")] * 10
    assert len(dispatcher._plans) <= 2


def test_a_lifecycle_hook_that_keeps_raising_is_reported_by_decades() -> None:
    class Grumpy:
        @hookimpl
        def mexc_subscription_confirmed(self, event: TopicsSubscribed) -> None:
            raise RuntimeError("no")

    dispatcher = Dispatcher(plugin_manager(Grumpy(), entry_points=False))
    event = TopicsSubscribed(link=1, topics=())
    reports = [len(dispatcher.dispatch(event)) for _ in range(10)]
    assert reports == [1, 0, 0, 0, 0, 0, 0, 0, 0, 1]  # the 1st and the 10th
