"""Test support shipped with mexc-core: the conformance kit (``docs/testing.rst``).

- :mod:`mexc_core.testing.strategies`: hypothesis strategies for every message,
  push and topic of the schema.
- :mod:`mexc_core.testing.stateful`, :mod:`mexc_core.testing.listenkey`,
  :mod:`mexc_core.testing.book`, :mod:`mexc_core.testing.client`: rule-based state
  machines of the session, the listen-key manager, the order book, the pool and
  the client core.
- :mod:`mexc_core.testing.harness`: a pool or a whole client core wired to the
  simulator in memory, on virtual time.

The exchange simulator and its pytest fixtures (``mexc_sim``, ``mexc_sim_module``
...) are the mexc-sim distribution (:mod:`mexc_sim`, :mod:`mexc_sim.pytest_plugin`);
mexc-core registers no pytest plugin.

The kit needs ``hypothesis`` and ``mexc-sim``, which the ``testing`` extra installs
(``pip install 'mexc-core[testing]'``); without them, importing any module of this
package raises one :class:`ModuleNotFoundError` that says so.

The core never imports this package.
"""

from __future__ import annotations

import importlib.util

#: What the kit imports beyond mexc-core: module name -> distribution.
REQUIRES = {"hypothesis": "hypothesis", "mexc_sim": "mexc-sim"}
#: The extra of mexc-core that installs :data:`REQUIRES`.
EXTRA = "testing"


def missing() -> list[str]:
    """The distributions of :data:`REQUIRES` that cannot be imported."""
    return [dist for module, dist in REQUIRES.items() if importlib.util.find_spec(module) is None]


def _check() -> None:
    absent = missing()
    if absent:
        # One line, naming the fix; ModuleNotFoundError so that `except ImportError`
        # and pytest.importorskip treat it as the missing module it is.
        raise ModuleNotFoundError(
            f"mexc_core.testing needs {' and '.join(absent)}: "
            f"install the {EXTRA!r} extra, pip install 'mexc-core[{EXTRA}]'",
            name=absent[0].replace("-", "_"),
        )


_check()

__all__ = ("EXTRA", "REQUIRES", "missing")
