"""Public modules declare a tuple ``__all__`` that is complete and honest."""

from __future__ import annotations

import doctest
import importlib
import inspect
import types

import pytest

PUBLIC = [
    "mexc_core",
    "mexc_core.wire",
    "mexc_core.channels",
    "mexc_core.messages",
    "mexc_core.events",
    "mexc_core.errors",
    "mexc_core.reference",
    "mexc_core.hookspecs",
    "mexc_core.rest",
    "mexc_core.listenkey",
    "mexc_core.session",
    "mexc_core.connection",
    "mexc_core.client.backoff",
    "mexc_core.client.shards",
    "mexc_core.client.dedup",
    "mexc_core.client.backpressure",
    "mexc_core.client.pool",
    "mexc_core.client.link",
    "mexc_core.client.handover",
    "mexc_core.client.core",
    "mexc_core.plugins",
    "mexc_core.aio.client",
    "mexc_core.aio.streams",
]


@pytest.mark.parametrize("name", PUBLIC)
def test_all_is_a_tuple_of_existing_sorted_names(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert isinstance(exported, tuple)
    assert len(set(exported)) == len(exported)
    for attr in exported:
        assert hasattr(module, attr), f"{name}.{attr}"


@pytest.mark.parametrize("name", PUBLIC)
def test_public_definitions_are_exported(name: str) -> None:
    """Every public class or function defined in the module is in ``__all__``."""
    module = importlib.import_module(name)
    for attr, value in vars(module).items():
        if attr.startswith("_") or isinstance(value, types.ModuleType):
            continue
        if (inspect.isclass(value) or inspect.isfunction(value)) and (
            value.__module__ == module.__name__
        ):
            assert attr in module.__all__, f"{name}.{attr} is public but not in __all__"


@pytest.mark.parametrize(
    "name",
    [
        "mexc_core.wire",
        "mexc_core._readable",
        "mexc_core.channels",
        "mexc_core.errors",
        "mexc_core.rest",
        "mexc_core.client.backoff",
        "mexc_core.client.shards",
        "mexc_core.plugins",
    ],
)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
