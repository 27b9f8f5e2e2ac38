"""anyio adapters: the thin I/O layer around the sans-IO core.

They move bytes and sleep until the core's next deadline; every protocol decision
is made in the core. They run on asyncio and trio alike.
"""
