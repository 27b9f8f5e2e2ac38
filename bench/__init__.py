"""Benchmarks of mexc-core, run as ``python -m bench <name>``.

``decode``: decode throughput of :func:`mexc_core.wire.decode_push` against Google's
upb runtime and the betterproto2 reference, on a realistic seeded corpus
(:mod:`bench.corpus`, :mod:`bench.decode`).
"""
