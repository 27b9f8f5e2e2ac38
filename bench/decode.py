"""Decode throughput: our specialised decoder against Google's upb and betterproto2.

Each implementation parses every frame of the same corpus and then reads every
field: the wrapper's, the body's and those of every item of every repeated field,
so that values an implementation materialises lazily (upb builds Python strings
and item objects on access) are paid for. The field readers are built from one
schema model (:mod:`codegen.schema`), so all three read the same fields the same
way: one :func:`operator.attrgetter` call per message, plus, for upb only, a
``HasField`` check per field with explicit presence (the other two give ``None``
for an absent ``optional`` field; upb needs ``HasField`` to tell the same thing).

Before timing, the values the readers extract are compared field by field on a
sample; a mismatch aborts the run with :class:`BenchError`.

Timing: :func:`time.perf_counter` around a whole pass over the frames, with the
garbage collector collected before and disabled during the pass; the passes of
the implementations alternate, and each keeps its best of ``repeat``.
betterproto2 is about a hundred times slower than upb, so it runs on a prefix
of the corpus only, and its ratio is taken against upb on that same prefix.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import platform
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from operator import attrgetter
from typing import Any, Final

import betterproto2
from google.protobuf import descriptor_pb2

from bench.corpus import Corpus, build
from codegen import oracle, schema
from mexc_core import messages, reference
from mexc_core.wire import decode_push

__all__ = ("BenchError", "DecodeReport", "Timing", "format_table", "measure", "run", "to_json")

OURS: Final = "mexc_core"
UPB: Final = "upb"
BETTERPROTO: Final = "betterproto2"

#: betterproto2 runs on the first ``max(SUBSET_MIN, SUBSET_SHARE * messages)`` frames.
SUBSET_SHARE: Final = 0.05
SUBSET_MIN: Final = 2000
#: Frames compared field by field before timing (plus the first of each channel kind).
CHECK_FRAMES: Final = 1000


class BenchError(RuntimeError):
    """The implementations disagree on a frame, or a reader misses a field."""


# ---------------------------------------------------------------- field readers

Getter = Callable[[Any], tuple[Any, ...]]


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    """How to read every field of one message type with one implementation.

    :ivar names: the proto names of the fields ``get`` returns, in order.
    :ivar get: returns the values of those fields, as a tuple.
    :ivar present: fields read through ``HasField`` first (upb's ``optional`` fields).
    :ivar nested: ``(index into get's result, plan of the items)`` per repeated
        message field.
    """

    names: tuple[str, ...]
    get: Getter
    present: tuple[str, ...]
    nested: tuple[tuple[int, Plan], ...]


def _getter(attrs: tuple[str, ...]) -> Getter:
    """A C-level reader of ``attrs`` that always returns a tuple."""
    if len(attrs) == 1:
        (single,) = attrs
        return lambda msg: (getattr(msg, single),)
    getter: Getter = attrgetter(*attrs)
    return getter


def _touch(msg: Any, plan: Plan) -> None:
    """Read every field of ``msg`` and of its items (the timed reader)."""
    values = plan.get(msg)
    for name in plan.present:
        if msg.HasField(name):
            getattr(msg, name)
    for index, item_plan in plan.nested:
        for item in values[index]:
            _touch(item, item_plan)


def _extract(msg: Any, plan: Plan) -> dict[str, object]:
    """Every field of ``msg`` by proto name, items included (the sanity check's reader)."""
    values = plan.get(msg)
    out: dict[str, object] = dict(zip(plan.names, values, strict=True))
    for name in plan.present:
        out[name] = getattr(msg, name) if msg.HasField(name) else None
    for index, item_plan in plan.nested:
        out[plan.names[index]] = [_extract(item, item_plan) for item in values[index]]
    return out


class _Planner:
    """Builds the :class:`Plan` of each message for one implementation.

    :param model: the schema.
    :param proto_names: read fields by their proto names with ``HasField`` for
        explicit presence (upb); otherwise by snake_case attribute (ours, betterproto2).
    :param declared: the attribute names a message class declares, to prove the
        plan reads all of them.
    """

    def __init__(
        self,
        model: schema.Schema,
        *,
        proto_names: bool,
        declared: Callable[[str], tuple[str, ...]],
    ) -> None:
        self._model = model
        self._proto_names = proto_names
        self._declared = declared
        self._plans: dict[str, Plan] = {}

    def plan(self, name: str) -> Plan:
        """The plan of message ``name``; the wrapper's leaves out the body oneof.

        :raises BenchError: the message class has fields the schema lacks, or the
            reverse (so the reader would not read every field).
        """
        if name not in self._plans:
            if name == schema.WRAPPER:
                wrapper = self._model.wrapper
                self._plans[name] = self._build(tuple(f for f in wrapper.fields if not f.oneof))
            else:
                fields = self._model.messages[name].fields
                plan = self._build(fields)
                differ = {self._attr(f) for f in fields} ^ set(self._declared(name))
                if differ:
                    raise BenchError(f"{name}: the reader and the class differ on {sorted(differ)}")
                self._plans[name] = plan
        return self._plans[name]

    def _attr(self, field: schema.Field) -> str:
        """The name ``field`` is read by with this implementation."""
        return field.name if self._proto_names else field.attr

    def _build(self, fields: tuple[schema.Field, ...]) -> Plan:
        direct = tuple(f for f in fields if not (self._proto_names and f.optional))
        return Plan(
            names=tuple(f.name for f in direct),
            get=_getter(tuple(self._attr(f) for f in direct)),
            present=tuple(f.name for f in fields if self._proto_names and f.optional),
            nested=tuple(
                (index, self.plan(f.message))
                for index, f in enumerate(direct)
                if f.message is not None
            ),
        )


# ---------------------------------------------------------------- implementations


@dataclasses.dataclass(frozen=True, slots=True)
class Decoder:
    """One implementation under test.

    :ivar name: its key in the report.
    :ivar run: decodes every frame and reads every field (the timed function).
    :ivar extract: one frame's fields by proto name, for the sanity check.
    """

    name: str
    run: Callable[[Sequence[bytes]], None]
    extract: Callable[[bytes], dict[str, object]]


def _ours(model: schema.Schema) -> Decoder:
    """:func:`mexc_core.wire.decode_push` and its NamedTuple records."""

    def declared(name: str) -> tuple[str, ...]:
        fields: tuple[str, ...] = getattr(messages, name)._fields
        return fields

    planner = _Planner(model, proto_names=False, declared=declared)
    wrapper = planner.plan(schema.WRAPPER)
    bodies = {
        getattr(messages, f.message): (f.name, planner.plan(f.message))
        for f in model.body_fields()
        if f.message is not None
    }
    plans = {cls: plan for cls, (_, plan) in bodies.items()}

    def run(frames: Sequence[bytes]) -> None:
        touch = _touch
        for data in frames:
            push = decode_push(data)
            touch(push, wrapper)
            body = push.body
            touch(body, plans[type(body)])

    def extract(data: bytes) -> dict[str, object]:
        push = decode_push(data)
        if push.unknown_fields:
            raise BenchError(f"our decoder saw unknown fields {push.unknown_fields}")
        name, plan = bodies[type(push.body)]
        out = _extract(push, wrapper)
        out[name] = _extract(push.body, plan)
        return out

    return Decoder(OURS, run, extract)


def _upb(model: schema.Schema) -> Decoder:
    """Google's runtime: ``FromString``, then fields by proto name."""
    classes = oracle.classes()

    def declared(name: str) -> tuple[str, ...]:
        return tuple(f.name for f in classes[name].DESCRIPTOR.fields)

    planner = _Planner(model, proto_names=True, declared=declared)
    wrapper = planner.plan(schema.WRAPPER)
    plans = {f.name: planner.plan(f.message) for f in model.body_fields() if f.message}
    parse = classes[schema.WRAPPER].FromString

    def run(frames: Sequence[bytes]) -> None:
        touch = _touch
        for data in frames:
            msg = parse(data)
            touch(msg, wrapper)
            which = msg.WhichOneof("body")
            touch(getattr(msg, which), plans[which])

    def extract(data: bytes) -> dict[str, object]:
        msg = parse(data)
        which = msg.WhichOneof("body")
        if which is None:
            raise BenchError("upb found no body")
        out = _extract(msg, wrapper)
        out[which] = _extract(getattr(msg, which), plans[which])
        return out

    return Decoder(UPB, run, extract)


def _betterproto(model: schema.Schema) -> Decoder:
    """The betterproto2 reference classes: ``parse``, then fields by attribute."""

    def declared(name: str) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(getattr(reference, name)))

    planner = _Planner(model, proto_names=False, declared=declared)
    wrapper = planner.plan(schema.WRAPPER)
    bodies = {f.attr: (f.name, planner.plan(f.message)) for f in model.body_fields() if f.message}
    plans = {attr: plan for attr, (_, plan) in bodies.items()}
    parse = reference.PushDataV3ApiWrapper.parse
    which_one_of = betterproto2.which_one_of

    def run(frames: Sequence[bytes]) -> None:
        touch = _touch
        for data in frames:
            msg = parse(data)
            touch(msg, wrapper)
            attr, body = which_one_of(msg, "body")
            touch(body, plans[attr])

    def extract(data: bytes) -> dict[str, object]:
        msg = parse(data)
        attr, body = which_one_of(msg, "body")
        name, plan = bodies[attr]
        out = _extract(msg, wrapper)
        out[name] = _extract(body, plan)
        return out

    return Decoder(BETTERPROTO, run, extract)


def decoders() -> tuple[Decoder, Decoder, Decoder]:
    """Ours, upb and betterproto2, with readers built from ``proto/``."""
    fds = descriptor_pb2.FileDescriptorSet.FromString(oracle.descriptor_set())
    model = schema.from_descriptor_set(fds)
    return _ours(model), _upb(model), _betterproto(model)


# ---------------------------------------------------------------- sanity check


def _difference(a: object, b: object, path: str) -> str:
    """Where ``a`` and ``b`` (extracted frames) first differ, and how."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(a.keys() | b.keys()):
            if key not in a or key not in b or a[key] != b[key]:
                return _difference(a.get(key), b.get(key), f"{path}.{key}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for index, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                return _difference(x, y, f"{path}[{index}]")
    return f"{path}: {a!r} != {b!r}"


def check(corpus: Corpus, impls: Sequence[Decoder]) -> int:
    """Compare what the implementations read, field by field, on a sample.

    The sample is the first :data:`CHECK_FRAMES` frames plus the first frame of
    every channel kind.

    :returns: the number of frames compared.
    :raises BenchError: two implementations disagree on a frame.
    """
    sample = dict.fromkeys(range(min(CHECK_FRAMES, len(corpus.frames))))
    sample.update(dict.fromkeys(corpus.kinds.index(kind) for kind in dict.fromkeys(corpus.kinds)))
    first, *others = impls
    for index in sample:
        data = corpus.frames[index]
        expected = first.extract(data)
        for impl in others:
            got = impl.extract(data)
            if got != expected:
                where = _difference(expected, got, "PushDataV3ApiWrapper")
                raise BenchError(
                    f"{first.name} and {impl.name} disagree on frame {index} "
                    f"({corpus.kinds[index]}): {where}"
                )
    return len(sample)


# ---------------------------------------------------------------- timing


@dataclasses.dataclass(frozen=True, slots=True)
class Timing:
    """The best pass of one implementation over some frames.

    :ivar frames: frames per pass.
    :ivar seconds: the best pass, in seconds.
    """

    frames: int
    seconds: float

    @property
    def us_per_msg(self) -> float:
        """Microseconds per frame."""
        return self.seconds / self.frames * 1e6

    @property
    def msgs_per_s(self) -> float:
        """Frames per second."""
        return self.frames / self.seconds


def _best_of(
    jobs: Sequence[tuple[Callable[[Sequence[bytes]], None], Sequence[bytes]]], repeat: int
) -> list[Timing]:
    """Time each ``(run, frames)`` job ``repeat`` times, alternating; keep each best."""
    best = [float("inf")] * len(jobs)
    for _ in range(repeat):
        for index, (run, frames) in enumerate(jobs):
            gc.collect()
            gc.disable()
            try:
                start = time.perf_counter()
                run(frames)
                elapsed = time.perf_counter() - start
            finally:
                gc.enable()
            best[index] = min(best[index], elapsed)
    return [Timing(len(frames), seconds) for (_, frames), seconds in zip(jobs, best, strict=True)]


@dataclasses.dataclass(frozen=True, slots=True)
class DecodeReport:
    """Everything one run measured.

    :ivar corpus: the frames.
    :ivar repeat: passes per measurement (the best is kept).
    :ivar checked: frames compared field by field before timing.
    :ivar overall: timing per implementation over the corpus (betterproto2: its prefix).
    :ivar upb_on_subset: upb over betterproto2's prefix, for a like-for-like ratio.
    :ivar per_channel: per channel kind, timings of ours and upb over its frames.
    """

    corpus: Corpus
    repeat: int
    checked: int
    overall: dict[str, Timing]
    upb_on_subset: Timing
    per_channel: dict[str, dict[str, Timing]]

    def ratio_to_upb(self, name: str) -> float:
        """How many times longer than upb ``name`` takes per frame, on the same frames."""
        base = self.upb_on_subset if name == BETTERPROTO else self.overall[UPB]
        return self.overall[name].us_per_msg / base.us_per_msg


def measure(corpus: Corpus, *, repeat: int) -> DecodeReport:
    """Check the implementations agree on ``corpus``, then time them.

    :raises BenchError: the implementations disagree (see :func:`check`).
    """
    ours, upb, bp = decoders()
    checked = check(corpus, (ours, upb, bp))
    frames = corpus.frames
    subset = frames[: max(SUBSET_MIN, round(len(frames) * SUBSET_SHARE))]
    t_ours, t_upb, t_bp, t_upb_subset = _best_of(
        [(ours.run, frames), (upb.run, frames), (bp.run, subset), (upb.run, subset)], repeat
    )
    per_channel: dict[str, dict[str, Timing]] = {}
    for kind, group in corpus.by_kind().items():
        if group:
            t_kind_ours, t_kind_upb = _best_of([(ours.run, group), (upb.run, group)], repeat)
            per_channel[kind] = {OURS: t_kind_ours, UPB: t_kind_upb}
    return DecodeReport(
        corpus=corpus,
        repeat=repeat,
        checked=checked,
        overall={OURS: t_ours, UPB: t_upb, BETTERPROTO: t_bp},
        upb_on_subset=t_upb_subset,
        per_channel=per_channel,
    )


# ---------------------------------------------------------------- output


def _machine() -> dict[str, object]:
    """What the numbers depend on besides the code."""
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "protobuf": metadata.version("protobuf"),
        "protobuf_backend": oracle.backend(),
        "betterproto2": metadata.version("betterproto2"),
    }


def format_table(report: DecodeReport) -> str:
    """The human-readable report: machine, corpus mix and the timings."""
    corpus = report.corpus
    frames = len(corpus.frames)
    info = _machine()
    sizes: dict[str, list[int]] = {kind: [] for kind in corpus.mix()}
    for kind, data in zip(corpus.kinds, corpus.frames, strict=True):
        sizes[kind].append(len(data))
    lines = [
        f"decode benchmark: {frames} frames, seed {corpus.seed}, best of {report.repeat}; "
        f"{report.checked} frames checked field by field first",
        f"{info['implementation']} {info['python']} on {info['machine']} ({info['cpus']} CPUs); "
        f"protobuf {info['protobuf']} ({info['protobuf_backend']} backend); "
        f"betterproto2 {info['betterproto2']}",
        "",
        f"{'channel kind':<20}{'frames':>9}{'share':>9}{'bytes/frame':>13}",
    ]
    for kind, count in corpus.mix().items():
        mean = sum(sizes[kind]) / count if count else 0.0
        lines.append(f"{kind:<20}{count:>9}{count / frames:>9.1%}{mean:>13.1f}")
    total_bytes = sum(len(data) for data in corpus.frames)
    lines += [
        f"{'all':<20}{frames:>9}{1:>9.1%}{total_bytes / frames:>13.1f}",
        "",
        f"{'implementation':<20}{'frames':>9}{'us/msg':>10}{'msgs/s':>12}{'x upb':>9}",
    ]
    for name, timing in report.overall.items():
        lines.append(
            f"{name:<20}{timing.frames:>9}{timing.us_per_msg:>10.2f}"
            f"{timing.msgs_per_s:>12,.0f}{report.ratio_to_upb(name):>9.2f}"
        )
    subset = report.overall[BETTERPROTO].frames
    lines += [
        f"({BETTERPROTO} is timed on the first {subset} frames only ({subset / frames:.1%}); "
        f"its ratio is against upb on those frames: {report.upb_on_subset.us_per_msg:.2f} us/msg)",
        "",
        "per channel kind: each kind's frames decoded as one stream of that kind alone",
        f"{'per channel kind':<20}{'frames':>9}{OURS + ' us':>14}{'upb us':>10}{'x upb':>9}",
    ]
    for kind, timings in report.per_channel.items():
        ours, upb = timings[OURS], timings[UPB]
        lines.append(
            f"{kind:<20}{ours.frames:>9}{ours.us_per_msg:>14.2f}{upb.us_per_msg:>10.2f}"
            f"{ours.us_per_msg / upb.us_per_msg:>9.2f}"
        )
    return "\n".join(lines)


def to_json(report: DecodeReport) -> str:
    """The one-line machine-readable report, starting ``{"bench": "decode"``."""
    frames = len(report.corpus.frames)
    implementations = {
        name: {
            "frames": timing.frames,
            "us_per_msg": round(timing.us_per_msg, 4),
            "msgs_per_s": round(timing.msgs_per_s, 1),
            "ratio_to_upb": round(report.ratio_to_upb(name), 4),
        }
        for name, timing in report.overall.items()
    }
    per_channel = {
        kind: {
            "frames": timings[OURS].frames,
            f"{OURS}_us_per_msg": round(timings[OURS].us_per_msg, 4),
            f"{UPB}_us_per_msg": round(timings[UPB].us_per_msg, 4),
            "ratio_to_upb": round(timings[OURS].us_per_msg / timings[UPB].us_per_msg, 4),
        }
        for kind, timings in report.per_channel.items()
    }
    document = {
        "bench": "decode",
        "messages": frames,
        "seed": report.corpus.seed,
        "repeat": report.repeat,
        "checked": report.checked,
        "implementations": implementations,
        "betterproto2_subset": report.overall[BETTERPROTO].frames,
        "per_channel": per_channel,
        "mix": {kind: round(count / frames, 6) for kind, count in report.corpus.mix().items()},
        "mean_frame_bytes": round(sum(map(len, report.corpus.frames)) / frames, 2),
        **_machine(),
    }
    return json.dumps(document)


def run(*, messages: int, repeat: int, seed: int, json_only: bool) -> None:
    """Build the corpus, measure, and print the table (unless ``json_only``) and JSON line.

    :raises BenchError: the implementations disagree on the corpus.
    """
    report = measure(build(messages, seed), repeat=repeat)
    if not json_only:
        print(format_table(report))
        print()
    print(to_json(report))
