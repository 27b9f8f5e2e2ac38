"""A local MEXC: the exchange simulator that tests, demos and benchmarks run against.

The exchange logic is sans-IO and seeded (:mod:`~mexc_sim.market`,
:mod:`~mexc_sim.exchange`, :mod:`~mexc_sim.feeds`,
:mod:`~mexc_sim.session`, :mod:`~mexc_sim.rest`,
:mod:`~mexc_sim.protocol`): time is passed in, randomness comes from the
seed. :mod:`~mexc_sim.server` serves it on a socket with anyio; ``mexc sim``
(:mod:`mexc_sim.cli`) runs it from the command line, and
:mod:`mexc_sim.pytest_plugin` gives pytest fixtures.

mexc-sim is a distribution of its own, built on mexc-core; mexc-core never imports
it. Importing this package is cheap: the names below are loaded from their
modules on first use, so the pytest plugin costs nothing until a fixture runs.

Quick start::

    from mexc_sim import serve_in_thread

    with serve_in_thread(speed=10.0) as sim:
        print(sim.ws_url, sim.rest_url, sim.api_key, sim.api_secret)
        book = sim.call(sim.server.exchange.book, "BTCUSDT")   # the truth
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mexc_sim.exchange import (
        DEFAULT_API_KEY as DEFAULT_API_KEY,
    )
    from mexc_sim.exchange import (
        DEFAULT_API_SECRET as DEFAULT_API_SECRET,
    )
    from mexc_sim.exchange import (
        Exchange as Exchange,
    )
    from mexc_sim.exchange import (
        ExchangeConfig as ExchangeConfig,
    )
    from mexc_sim.exchange import (
        ExchangeError as ExchangeError,
    )
    from mexc_sim.exchange import (
        UserAccount as UserAccount,
    )
    from mexc_sim.exchange import (
        default_markets as default_markets,
    )
    from mexc_sim.exchange import (
        market_spec as market_spec,
    )
    from mexc_sim.faults import (
        PROFILES as PROFILES,
    )
    from mexc_sim.faults import (
        Faults as Faults,
    )
    from mexc_sim.faults import (
        RestFaults as RestFaults,
    )
    from mexc_sim.faults import (
        profile as profile,
    )
    from mexc_sim.market import (
        BookSnapshot as BookSnapshot,
    )
    from mexc_sim.market import (
        Market as Market,
    )
    from mexc_sim.market import (
        MarketSpec as MarketSpec,
    )
    from mexc_sim.protocol import (
        SimConfig as SimConfig,
    )
    from mexc_sim.protocol import (
        SimConnection as SimConnection,
    )
    from mexc_sim.protocol import (
        Simulator as Simulator,
    )
    from mexc_sim.protocol import (
        TransportAction as TransportAction,
    )
    from mexc_sim.rest import (
        HttpCall as HttpCall,
    )
    from mexc_sim.rest import (
        RestApi as RestApi,
    )
    from mexc_sim.rest import (
        RestResponse as RestResponse,
    )
    from mexc_sim.rest import (
        sign as sign,
    )
    from mexc_sim.server import (
        RunningSimulator as RunningSimulator,
    )
    from mexc_sim.server import (
        ScaledClock as ScaledClock,
    )
    from mexc_sim.server import (
        SimServer as SimServer,
    )
    from mexc_sim.server import (
        serve_in_thread as serve_in_thread,
    )
    from mexc_sim.session import (
        ServerSession as ServerSession,
    )
    from mexc_sim.session import (
        WsRules as WsRules,
    )
    from mexc_sim.session import (
        rejection_text as rejection_text,
    )

#: Where each public name lives: ``mexc_sim.X`` imports ``mexc_sim.<module>`` on first use.
_LAZY: dict[str, str] = {
    "DEFAULT_API_KEY": "exchange",
    "DEFAULT_API_SECRET": "exchange",
    "Exchange": "exchange",
    "ExchangeConfig": "exchange",
    "ExchangeError": "exchange",
    "UserAccount": "exchange",
    "default_markets": "exchange",
    "market_spec": "exchange",
    "PROFILES": "faults",
    "Faults": "faults",
    "RestFaults": "faults",
    "profile": "faults",
    "BookSnapshot": "market",
    "Market": "market",
    "MarketSpec": "market",
    "SimConfig": "protocol",
    "SimConnection": "protocol",
    "Simulator": "protocol",
    "TransportAction": "protocol",
    "HttpCall": "rest",
    "RestApi": "rest",
    "RestResponse": "rest",
    "sign": "rest",
    "RunningSimulator": "server",
    "ScaledClock": "server",
    "SimServer": "server",
    "serve_in_thread": "server",
    "ServerSession": "session",
    "WsRules": "session",
    "rejection_text": "session",
}

__all__ = (
    "DEFAULT_API_KEY",
    "DEFAULT_API_SECRET",
    "PROFILES",
    "BookSnapshot",
    "Exchange",
    "ExchangeConfig",
    "ExchangeError",
    "Faults",
    "HttpCall",
    "Market",
    "MarketSpec",
    "RestApi",
    "RestFaults",
    "RestResponse",
    "RunningSimulator",
    "ScaledClock",
    "ServerSession",
    "SimConfig",
    "SimConnection",
    "SimServer",
    "Simulator",
    "TransportAction",
    "UserAccount",
    "WsRules",
    "default_markets",
    "market_spec",
    "profile",
    "rejection_text",
    "serve_in_thread",
    "sign",
)


def __getattr__(name: str) -> object:
    """Import a public name from its module on first use (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mexc_sim' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"mexc_sim.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
