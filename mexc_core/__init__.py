"""mexc-core: a sans-IO framework for the MEXC Spot V3 WebSocket API."""

from __future__ import annotations

__all__ = ("__version__",)

__version__ = "0.1.0.dev0"
