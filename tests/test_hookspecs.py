"""The hook specifications: typed, documented, and mirrored by a Protocol (pluggy #191)."""

from __future__ import annotations

import inspect

import pluggy

from mexc_core import hookspecs
from mexc_core.channels import CHANNELS

SPECS = {
    name: value
    for name, value in vars(hookspecs).items()
    if name.startswith("mexc_") and callable(value)
}


def test_every_spec_is_registered_and_named_by_the_convention() -> None:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    hooks = {name for name in vars(pm.hook) if name.startswith("mexc_")}
    assert hooks == set(SPECS)
    assert {c.hook for c in CHANNELS} <= hooks
    for name in hooks:
        # mexc_<subject>_<event>
        assert name.count("_") >= 2, name
        assert name in hookspecs.__all__


def test_the_protocol_mirrors_every_spec_exactly() -> None:
    mirror = {
        name: value for name, value in vars(hookspecs.MexcHooks).items() if name.startswith("mexc_")
    }
    for base in hookspecs.MexcHooks.__mro__[1:]:
        mirror.update(
            {n: v for n, v in vars(base).items() if n.startswith("mexc_") and n not in mirror}
        )
    assert set(mirror) == set(SPECS)
    for name, spec in SPECS.items():
        want = inspect.signature(spec)
        got = inspect.signature(mirror[name])
        params = list(got.parameters.values())
        assert params[0].name == "self", name
        assert [(p.name, p.annotation, p.kind) for p in params[1:]] == [
            (p.name, p.annotation, p.kind) for p in want.parameters.values()
        ], name
        assert got.return_annotation == want.return_annotation, name


def test_every_spec_is_documented() -> None:
    for name, spec in SPECS.items():
        doc = inspect.getdoc(spec) or ""
        assert doc, name
        for param in inspect.signature(spec).parameters:
            assert f":param {param}:" in doc, (name, param)
