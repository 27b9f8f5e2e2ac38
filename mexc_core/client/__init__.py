"""The client core, without I/O: the machines that run many MEXC connections as one.

- :mod:`~mexc_core.client.pool`: topics over sharded, self-healing connections
  (reconnects, rotation before MEXC's 24 h cut-off, gaps);
- :mod:`~mexc_core.client.shards`: placing topics under the per-connection cap;
- :mod:`~mexc_core.client.dedup`: dropping pushes two connections both delivered;
- :mod:`~mexc_core.client.backoff`: capped exponential backoff with injected jitter;
- :mod:`~mexc_core.client.backpressure`: bounded buffers with explicit overflow policies.
"""
