"""Publish a symbol into NATS JetStream, then read the stream back (``docs/nats.rst``).

``tests/test_nats_jetstream.py`` runs both against a real ``nats-server`` and the
simulator.
"""

from __future__ import annotations

# [publish]
import anyio
import nats

from mexc_core.aio.client import MexcClient
from mexc_core.messages import PublicAggreDepthsV3Api
from mexc_plugin_nats import PushMessage, read
from mexc_plugin_nats import plugin as nats_plugin


async def publish(url: str, nats_url: str, messages: int) -> int:
    """Publish BTCUSDT's diff depth until JetStream acknowledged ``messages`` (the
    pushes, and the plugin's lifecycle events such as ``link_connected``)."""
    options = {"nats": {"url": nats_url, "stream": "MEXC", "worker": "docs"}}
    async with MexcClient(url, options=options) as client:
        await client.subscribe(["spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT"])
        with anyio.fail_after(60):
            while nats_plugin.published < messages:
                await anyio.sleep(0.05)
    return nats_plugin.published


# [/publish]
# [read]
async def versions(nats_url: str) -> list[tuple[int, int]]:
    """The (fromVersion, toVersion) of every diff-depth push in the stream, in order."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe("mexc.push.aggre_depth.BTCUSDT.>", stream="MEXC")
        out: list[tuple[int, int]] = []
        while True:
            try:
                batch = await sub.fetch(100, timeout=1)
            except nats.errors.TimeoutError:
                return out  # the stream is read to its end
            for msg in batch:
                message = read(msg.headers, msg.data)
                assert isinstance(message, PushMessage)
                body = message.push.body
                assert isinstance(body, PublicAggreDepthsV3Api)
                out.append((int(body.from_version), int(body.to_version)))
                await msg.ack()
    finally:
        await nc.close()


# [/read]
