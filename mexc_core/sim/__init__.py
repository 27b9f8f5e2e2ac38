"""A local MEXC: the exchange simulator that tests, demos and benchmarks run against.

The exchange logic is sans-IO and seeded (:mod:`~mexc_core.sim.market`,
:mod:`~mexc_core.sim.exchange`, :mod:`~mexc_core.sim.feeds`,
:mod:`~mexc_core.sim.session`, :mod:`~mexc_core.sim.rest`,
:mod:`~mexc_core.sim.protocol`): time is passed in, randomness comes from the
seed. :mod:`~mexc_core.sim.server` serves it on a socket with anyio; ``mexc sim``
runs it from the command line, and :mod:`mexc_core.testing.pytest_plugin` gives
pytest fixtures.

Quick start::

    from mexc_core.sim import serve_in_thread

    with serve_in_thread(speed=10.0) as sim:
        print(sim.ws_url, sim.rest_url, sim.api_key, sim.api_secret)
        book = sim.call(sim.server.exchange.book, "BTCUSDT")   # the truth
"""

from __future__ import annotations

from mexc_core.sim.exchange import (
    DEFAULT_API_KEY,
    DEFAULT_API_SECRET,
    Account,
    ApiError,
    Exchange,
    ExchangeConfig,
    default_markets,
    market_spec,
)
from mexc_core.sim.faults import PROFILES, Faults, RestFaults, profile
from mexc_core.sim.market import BookSnapshot, Market, MarketSpec
from mexc_core.sim.protocol import SimConfig, SimConnection, Simulator, TransportAction
from mexc_core.sim.rest import RestApi, RestRequest, RestResponse, sign
from mexc_core.sim.server import RunningSimulator, ScaledClock, SimServer, serve_in_thread
from mexc_core.sim.session import ServerSession, WsRules, rejection_text

__all__ = (
    "DEFAULT_API_KEY",
    "DEFAULT_API_SECRET",
    "PROFILES",
    "Account",
    "ApiError",
    "BookSnapshot",
    "Exchange",
    "ExchangeConfig",
    "Faults",
    "Market",
    "MarketSpec",
    "RestApi",
    "RestFaults",
    "RestRequest",
    "RestResponse",
    "RunningSimulator",
    "ScaledClock",
    "ServerSession",
    "SimConfig",
    "SimConnection",
    "SimServer",
    "Simulator",
    "TransportAction",
    "WsRules",
    "default_markets",
    "market_spec",
    "profile",
    "rejection_text",
    "serve_in_thread",
    "sign",
)
