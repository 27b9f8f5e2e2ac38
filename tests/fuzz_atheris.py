"""Coverage-guided fuzzing of the frame-to-plugin path with atheris (run by hand).

The same path as ``tests/test_fuzz.py``: a client core on the in-memory
simulator opens its links and subscribes; atheris's bytes then go into one open
link, cut where the input says, and every event goes through a plugin
:class:`~mexc_core.plugins.Dispatcher` to a recording plugin. Afterwards the
client must carry its topics again, take a new subscription and deliver its
pushes, with no exception escaping and no plugin seeing a broken promise. A
failure is a crash that atheris reports with the input that caused it.

atheris is not a dependency of the project (it ships wheels for Linux only)::

    uv run --with atheris python tests/fuzz_atheris.py -max_total_time=300
    uv run --with atheris python tests/fuzz_atheris.py crash-<hash>   # replay one input

Arguments go to libFuzzer (``-runs=N``, ``-max_total_time=S``, ``-max_len=N``, a
corpus folder); an empty corpus folder is first filled with the real pushes of
``tests/test_fuzz.py`` to start from. Each input runs a fresh client for about 35 s
of virtual time (its recovery is the check), so expect about one input a second.
The pure-Python build is what atheris can instrument: set ``MEXC_CORE_PURE=1``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("MEXC_CORE_PURE", "1")

import atheris  # type: ignore[import-not-found,import-untyped,unused-ignore]

with atheris.instrument_imports():
    from tests.test_fuzz import (
        SEEDS,
        Client,
        check_recovered,
        cut,
        started,
        target,
        ws_frame,
    )


def one_input(data: bytes) -> None:
    """Feed ``data`` to a fresh client: the first bytes choose the link, the
    cut points and whether the rest is raw bytes or frames around seeds."""
    fdp = atheris.FuzzedDataProvider(data)
    client: Client = started(private=fdp.ConsumeBool())
    _, cid = target(client, fdp.ConsumeIntInRange(0, 3))
    points = [fdp.ConsumeIntInRange(0, 4096) for _ in range(fdp.ConsumeIntInRange(0, 8))]
    mode = fdp.ConsumeIntInRange(0, 2)
    rest = fdp.ConsumeBytes(fdp.remaining_bytes())
    if mode == 1:  # the bytes as one binary message
        rest = ws_frame(0x2, rest)
    elif mode == 2:  # a real push with the bytes spliced into it
        seed = SEEDS[len(rest) % len(SEEDS)]
        at = (rest[0] if rest else 0) % (len(seed) + 1)
        rest = ws_frame(0x2, seed[:at] + rest[1:] + seed[at + len(rest) :])
    since = len(client.loop.events)
    for piece in cut(rest, points):
        client.feed(cid, piece)
    check_recovered(client, since)


def seed_corpus(folder: Path) -> None:
    """Fill an empty corpus folder with real pushes, framed (mode 1), to start from."""
    if folder.is_dir() and not any(folder.iterdir()):
        for i, seed in enumerate(SEEDS):
            (folder / f"seed-{i}").write_bytes(bytes([0, 0, 0, 1]) + seed)


def main() -> None:
    """Run atheris on :func:`one_input` with the command line's libFuzzer options."""
    for arg in sys.argv[1:]:
        if not arg.startswith("-"):
            seed_corpus(Path(arg))
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
