"""Serve a client's metrics and scrape them (``docs/metrics.rst``).

``tests/test_docs_examples.py`` runs ``scrape_once`` against the simulator.
"""

from __future__ import annotations

# [metrics]
import urllib.request

import anyio
import anyio.to_thread
from prometheus_client.parser import text_string_to_metric_families

from mexc_core.aio.client import MexcClient
from mexc_plugin_prometheus import plugin as prometheus


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - our own endpoint
        return str(answer.read().decode())


async def scrape_once(url: str, topic: str) -> dict[str, float]:
    # port 0: any free port; the plugin says which one it took
    options = {"prometheus": {"listen": "127.0.0.1:0"}}
    async with MexcClient(url, options=options) as client:
        await client.subscribe([topic])
        async with client.pushes(topic) as pushes:
            for _ in range(3):  # a few pushes, then look at the figures
                await pushes.receive()
        assert prometheus.address is not None
        host, port = prometheus.address
        text = await anyio.to_thread.run_sync(get, f"http://{host}:{port}/metrics")
    return {
        f"{sample.name}{sample.labels}": sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name in ("mexc_messages_total", "mexc_link_up", "mexc_healthy")
    }


# [/metrics]
