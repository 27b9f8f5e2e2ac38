"""mexc-core: a sans-IO framework for the MEXC Spot V3 WebSocket API.

The root re-exports what a user of the sans-IO core needs, as h11 does: the
client core and its configuration, the connection and session for a socket of
your own, the listen-key manager and REST signing, local order books, topics, and every
event and error. The anyio client lives in :mod:`mexc_core.aio.client` (importing
``mexc_core`` never imports anyio); the hypothesis strategies and state machines
in :mod:`mexc_core.testing`.
"""

from __future__ import annotations

# first: it picks the compiled or the pure-Python hot modules before any is imported
import mexc_core._build  # noqa: F401
from mexc_core import errors, events
from mexc_core._build import BuildInfo, build_info
from mexc_core.book import BookConfig, BookState, LocalBook, OrderBook, Side
from mexc_core.channels import ChannelSpec, Topic, format_topic, parse, spec_of, topic_names
from mexc_core.client.core import (
    ClientCore,
    CoreConfig,
    CoreIntent,
    CoreState,
    FetchBookSnapshot,
    RestCall,
    RestResult,
)
from mexc_core.client.pacer import SnapshotPacing
from mexc_core.client.pool import (
    AbortTransport,
    CloseTransport,
    ConnectionPool,
    OpenTransport,
    PoolConfig,
    PoolStats,
)
from mexc_core.connection import Connection, ConnectionState
from mexc_core.errors import *  # noqa: F403 (the names of errors.__all__, below)
from mexc_core.events import *  # noqa: F403 (the names of events.__all__, below)
from mexc_core.listenkey import ListenKeyConfig, ListenKeyManager, ListenKeyState
from mexc_core.rest import Credentials, RestClient, RestError, RestRequest
from mexc_core.session import Session, SessionConfig, SessionState
from mexc_core.wire import decode_control, decode_push

__version__ = "0.1.0.dev0"

__all__: tuple[str, ...] = (
    "AbortTransport",
    "BookConfig",
    "BookState",
    "BuildInfo",
    "ChannelSpec",
    "ClientCore",
    "CloseTransport",
    "Connection",
    "ConnectionPool",
    "ConnectionState",
    "CoreConfig",
    "CoreIntent",
    "CoreState",
    "Credentials",
    "FetchBookSnapshot",
    "ListenKeyConfig",
    "ListenKeyManager",
    "ListenKeyState",
    "LocalBook",
    "OpenTransport",
    "OrderBook",
    "PoolConfig",
    "PoolStats",
    "RestCall",
    "RestClient",
    "RestError",
    "RestRequest",
    "RestResult",
    "Session",
    "SessionConfig",
    "SessionState",
    "Side",
    "SnapshotPacing",
    "Topic",
    "__version__",
    "build_info",
    "decode_control",
    "decode_push",
    "format_topic",
    "parse",
    "spec_of",
    "topic_names",
)
# extended, so mypy and ruff read every name as exported
__all__ += events.__all__
__all__ += errors.__all__
