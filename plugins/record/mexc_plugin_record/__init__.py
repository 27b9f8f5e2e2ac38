"""mexc-plugin-record: lossless recordings of a client's traffic, for replay.

Written as a third-party plugin: it imports only :mod:`mexc_core.hookspecs`, and
mexc-core finds it through the ``mexc.plugins`` entry point ``record``. It stays
quiet unless the application passes ``options={"record": {"out": DIR}}`` to the
client; it then writes every input of the client's core
(:func:`~mexc_core.hookspecs.mexc_core_input`: the bytes read and written on each
WebSocket, with their transport ids and times, the raw REST answers, the timers
and the commands) into DIR, in the format of :mod:`mexc_plugin_record.segments`.

Options (``options["record"]``):

- ``out`` (required): the directory (created if missing; an existing recording
  there is continued in new segments);
- ``block_bytes``, ``block_seconds``, ``segment_bytes``, ``segment_seconds``,
  ``level``, ``sync``: see :class:`~mexc_plugin_record.segments.SegmentWriter`;
- ``meta``: a JSON-able mapping written first, as the recording's description
  (``mexc record`` puts the endpoint, the random seed and the topics there).

A crash loses at most the block being filled (``block_bytes`` or
``block_seconds`` of traffic); what was written before stays readable.
"""

from __future__ import annotations

from collections.abc import Mapping

from mexc_core.hookspecs import ClientContext, hookimpl
from mexc_plugin_record.segments import (
    CorruptRecording,
    Kind,
    Record,
    Recording,
    RecordingError,
    SegmentWriter,
    TornTail,
    encode_input,
    encode_meta,
)

__all__ = (
    "CorruptRecording",
    "Kind",
    "Record",
    "RecordOptionsError",
    "RecordPlugin",
    "Recording",
    "RecordingError",
    "SegmentWriter",
    "TornTail",
    "plugin",
)

__version__ = "0.1.0.dev0"

_LIMITS = ("block_bytes", "block_seconds", "segment_bytes", "segment_seconds", "level")
#: Inputs kept until the client starts (the core starts before the plugins hear of it).
_EARLY_MAX = 10_000


class RecordOptionsError(ValueError):
    """The ``record`` options are not what the plugin understands."""


class RecordPlugin:
    """The plugin (one instance, :data:`plugin`, is registered by the entry point)."""

    def __init__(self) -> None:
        self.writer: SegmentWriter | None = None
        self._early: list[tuple[bytes, float]] | None = []

    def counts(self) -> dict[str, int]:
        """What was written: records (by kind), blocks, segments, bytes."""
        writer = self.writer
        if writer is None:
            return {}
        stats = writer.stats
        return {
            "records": stats.records,
            **{kind: stats.by_kind.get(kind, 0) for kind in ("input", "received", "sent")},
            "blocks": stats.blocks,
            "segments": stats.segments,
            "raw_bytes": stats.raw_bytes,
            "written_bytes": stats.written_bytes,
        }

    # ------------------------------------------------------------ client hooks

    @hookimpl
    def mexc_core_input(self, method: str, arguments: Mapping[str, object], at: float) -> None:
        """Write one input (kept aside until the client has started)."""
        writer = self.writer
        if writer is not None and not writer.closed:
            writer.append(encode_input(method, arguments, at), at)
        elif self._early is not None and len(self._early) < _EARLY_MAX:
            self._early.append((encode_input(method, arguments, at), at))

    @hookimpl
    def mexc_client_started(self, context: ClientContext) -> None:
        """Open the recording if the options ask for one."""
        early, self._early = self._early or [], None
        options = context.options.get("record")
        if options is None:
            return
        out, limits, sync, meta = _parse(options)
        writer = SegmentWriter(out, sync=sync, **limits)  # type: ignore[arg-type]
        at = early[0][1] if early else 0.0
        writer.append(encode_meta({"format": 1, **meta}, at), at)
        for record, when in early:
            writer.append(record, when)
        self.writer = writer

    @hookimpl
    def mexc_client_stopping(self) -> None:
        """Write what is buffered and close the recording (ready for another client)."""
        if self.writer is not None:
            self.writer.close()
        self._early = []


def _parse(
    options: object,
) -> tuple[str, dict[str, float], bool, Mapping[str, object]]:
    if not isinstance(options, Mapping):
        raise RecordOptionsError('options["record"] must be a mapping such as {"out": "rec/"}')
    out = options.get("out")
    if not isinstance(out, str) or not out:
        raise RecordOptionsError('options["record"]["out"] must be a directory name')
    limits: dict[str, float] = {}
    for name in _LIMITS:
        if name in options:
            value = options[name]
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise RecordOptionsError(f'options["record"]["{name}"] must be a number above 0')
            limits[name] = value
    meta = options.get("meta", {})
    if not isinstance(meta, Mapping):
        raise RecordOptionsError('options["record"]["meta"] must be a mapping')
    return out, limits, bool(options.get("sync", False)), meta


#: The instance the ``mexc.plugins`` entry point registers.
plugin = RecordPlugin()
