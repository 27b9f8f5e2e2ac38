"""``mexc replay DIR``: feed a recording through the client core and print its pushes.

:class:`Replayer` drives a new sans-IO :class:`~mexc_core.client.core.ClientCore`,
built with the settings and the random seed the recording names, with the
recorded inputs in their order and at their recorded times (a virtual clock):
the commands, the bytes read on each transport, the raw REST answers (read with
the replaying core's own calls' parsers), the timers. The core then makes the
decisions it made live, and gives the same events, books included. The one
thing changed is the WebSocket handshake's ``Sec-WebSocket-Accept``, which
answers a random nonce that wsproto draws afresh: the replay computes it for the
nonce the replaying core sent. The bytes the core writes are not compared (the
frame masks are random too).

Pushes are printed as ``mexc watch`` prints them (``--json``: the same keys,
in the recorded order); every event goes to the plugins' event hooks. With
``--speed X`` the replay keeps the recorded pace, X times faster; ``--max``
replays as fast as it can. A progress bar goes to stderr when it is a terminal.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import random
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Final

from mexc_core.aio.client import DEFAULT_VIEW_DEPTH, Endpoint
from mexc_core.book.sync import BookConfig
from mexc_core.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    CommandFailed,
    CommandParser,
    add_debug_argument,
    add_plugin_arguments,
    load_plugins,
    positive_float,
    result_output,
    say,
)
from mexc_core.cli.record import recorder_module
from mexc_core.cli.watch import push_line
from mexc_core.client.backoff import FailureKind
from mexc_core.client.core import ClientCore, CoreConfig, RestCall
from mexc_core.client.pool import PoolConfig
from mexc_core.errors import MexcError
from mexc_core.events import Event, Push
from mexc_core.listenkey import ListenKeyConfig
from mexc_core.plugins import Dispatcher
from mexc_core.rest import Credentials, RestError

if TYPE_CHECKING:
    from mexc_plugin_record import Recording

__all__ = ("Replayer", "add_parser", "run")

_WS_GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, section 1.3
_KEY: Final = re.compile(rb"(?im)^sec-websocket-key:[ \t]*(\S+)")
_ACCEPT: Final = re.compile(rb"(?im)^(sec-websocket-accept:[ \t]*)\S+")
#: Placeholder credentials: a recording of private topics replays without the
#: real ones (nothing is signed or sent; the REST answers are recorded).
_REPLAY_CREDENTIALS: Final = ("replay-api-key", "replay-api-secret")


def add_parser(sub: argparse._SubParsersAction[CommandParser]) -> None:
    """The ``replay`` subcommand."""
    p = sub.add_parser(
        "replay",
        help="replay a recording of `mexc record` through the client core",
        description="Feed a recording through a new client core and the plugins, and print "
        "the pushes as `mexc watch` does. Needs the mexc-plugin-record distribution.",
    )
    p.add_argument("directory", metavar="DIR", help="the directory `mexc record --out` wrote")
    p.add_argument("--json", action="store_true", help="one JSON object per push")
    pace = p.add_mutually_exclusive_group()
    pace.add_argument(
        "--speed",
        type=positive_float,
        default=1.0,
        metavar="X",
        help="replay X times faster than recorded (default 1: the recorded pace)",
    )
    pace.add_argument("--max", action="store_true", help="replay as fast as possible")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_plugin_arguments(p)
    add_debug_argument(p)
    p.set_defaults(run=run)


def _accept(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key + _WS_GUID).digest())  # noqa: S324 - RFC 6455


class Replayer:
    """A client core fed with recorded inputs (see the module docstring).

    :param meta: the recording's description (its first record): the endpoint,
        the random seed, whether private topics were recorded.
    :raises ValueError: ``meta`` lacks the endpoint or the seed.
    """

    def __init__(self, meta: Mapping[str, object]) -> None:
        url, seed = meta.get("endpoint"), meta.get("seed")
        if not isinstance(url, str) or not isinstance(seed, int):
            raise ValueError(
                "the recording does not name its endpoint and random seed "
                '(options["record"]["meta"]: {"endpoint": URL, "seed": N}, as `mexc record` '
                "writes them)"
            )
        endpoint = Endpoint(url)
        # the settings MexcClient gives its core by default (what `mexc record` runs)
        pool = replace(PoolConfig(), host=endpoint.host_header, path=endpoint.path)
        config = CoreConfig(pool, ListenKeyConfig(), BookConfig(view_depth=DEFAULT_VIEW_DEPTH))
        credentials = Credentials(*_REPLAY_CREDENTIALS) if meta.get("private") else None
        self.core: Final = ClientCore(config, credentials=credentials, rng=random.Random(seed))
        self._calls: dict[int, RestCall] = {}
        self._keys: dict[int, bytes] = {}  # cid -> the nonce its handshake sent
        self._answers: dict[int, bytearray] = {}  # cid -> handshake answer held so far
        self._open: set[int] = set()  # cids whose handshake answer went in

    def feed(self, method: str, arguments: Mapping[str, object], at: float) -> None:
        """Make the call the recording holds; unknown methods are skipped.

        :raises MexcError: the core refuses it (the recording does not match).
        """
        core = self.core
        if method == "receive_data":
            self._receive(_int(arguments["cid"]), _bytes(arguments["data"]), at)
        elif method == "rest_response":
            self._rest(arguments, at)
        elif method == "handle_timer":
            core.handle_timer(at)
        elif method == "transport_opened":
            core.transport_opened(_int(arguments["cid"]), at)
        elif method == "transport_failed":
            kind = FailureKind(str(arguments.get("kind", FailureKind.TRANSIENT.value)))
            core.transport_failed(_int(arguments["cid"]), at, str(arguments["reason"]), kind=kind)
        elif method == "rest_failed":
            core.rest_failed(_int(arguments["call_id"]), at, str(arguments["reason"]))
        elif method in ("subscribe", "unsubscribe"):
            topics = arguments["topics"]
            assert isinstance(topics, list | tuple)
            getattr(core, method)([str(t) for t in topics], at)
        elif method == "watch_book":
            core.watch_book(str(arguments["symbol"]), at, interval=str(arguments["interval"]))
        elif method == "unwatch_book":
            core.unwatch_book(str(arguments["symbol"]), at)
        elif method == "start":
            core.start(at)
        elif method == "close":
            core.close(at)
        self._drain()

    def events(self) -> Iterator[Event]:
        """The events of the calls so far, in order."""
        return self.core.events()

    def _drain(self) -> None:
        core = self.core
        for intent in core.intents():
            if isinstance(intent, RestCall):
                self._calls[intent.call_id] = intent
        for cid in core.writable():
            data = core.data_to_send(cid)
            if cid not in self._keys:
                found = _KEY.search(data)
                if found is not None:
                    self._keys[cid] = found.group(1)

    def _receive(self, cid: int, data: bytes, at: float) -> None:
        if cid not in self._open:
            held = self._answers.setdefault(cid, bytearray())
            held += data
            end = held.find(b"\r\n\r\n")
            if end < 0 and data:
                return  # the answer's head is not whole yet
            head, rest = bytes(held[: end + 4]), bytes(held[end + 4 :])
            key = self._keys.get(cid)
            if end >= 0 and key is not None:
                head = _ACCEPT.sub(lambda m: m.group(1) + _accept(key), head, count=1)
            del self._answers[cid]
            self._open.add(cid)
            data = head + rest if end >= 0 else bytes(held)
        self.core.receive_data(cid, data, at)

    def _rest(self, arguments: Mapping[str, object], at: float) -> None:
        call = self._calls.pop(_int(arguments["call_id"]), None)
        if call is None:
            return  # answered after the core gave the call up
        headers = arguments["headers"]
        assert isinstance(headers, Mapping)
        request = call.request(0)
        body = _bytes(arguments["body"])
        try:
            result: object = request.parse(_int(arguments["status"]), headers, body)
        except RestError as exc:
            result = exc
        self.core.rest_result(call.call_id, result, at)  # type: ignore[arg-type]


def _int(value: object) -> int:
    assert isinstance(value, int)
    return value


def _bytes(value: object) -> bytes:
    assert isinstance(value, bytes)
    return value


class _Bar:
    """A one-line progress bar on stderr, redrawn at most 5 times a second."""

    def __init__(self, total: int, *, shown: bool) -> None:
        self.total = total
        self.shown = shown
        self._last = 0.0

    def update(self, done: int, *, final: bool = False) -> None:
        now = time.monotonic()
        if not self.shown or (not final and now - self._last < 0.2):
            return
        self._last = now
        total = max(self.total, done, 1)
        filled = 30 * done // total
        bar = "#" * filled + "-" * (30 - filled)
        end = "\n" if final else ""
        print(f"\rmexc replay: [{bar}] {done}/{total} records", end=end, file=sys.stderr)
        sys.stderr.flush()


def replay(
    recording: Recording,
    *,
    show: Callable[[Event], None],
    speed: float | None,
    bar: _Bar | None = None,
) -> tuple[int, int]:
    """Feed ``recording`` through a :class:`Replayer`, ``show`` every event.

    :param speed: the pace (1: as recorded), or ``None``: as fast as possible.
    :returns: the records fed and the pushes shown.
    :raises CommandFailed: the recording has no description or does not replay.
    """
    replayer: Replayer | None = None
    fed = pushes = 0
    start_at: float | None = None
    started = time.monotonic()
    for record in recording.records():
        method, arguments = record.call()
        if method == "meta":  # a recording starts (a directory may hold several)
            try:
                replayer = Replayer(arguments)
            except (ValueError, MexcError) as exc:
                raise CommandFailed(f"{recording.directory}: {exc}") from None
            continue
        if replayer is None:
            raise CommandFailed(
                f"{recording.directory} does not start with its description; "
                "record it again with `mexc record`"
            )
        if speed is not None:
            if start_at is None:
                start_at = record.at
            wait = (record.at - start_at) / speed - (time.monotonic() - started)
            if wait > 0:
                time.sleep(wait)
        try:
            replayer.feed(method, arguments, record.at)
        except MexcError as exc:
            raise CommandFailed(
                f"the recording does not replay at record {fed + 1} ({method}): {exc}; "
                "was it made by `mexc record` with this version?"
            ) from None
        fed += 1
        for event in replayer.events():
            if type(event) is Push:
                pushes += 1
            show(event)
        if bar is not None:
            bar.update(fed)
    if bar is not None:
        bar.update(fed, final=True)
    return fed, pushes


def run(args: argparse.Namespace) -> int:
    """Run ``mexc replay``."""
    module = recorder_module("replay")
    recording_type: type[Recording] = module.Recording  # type: ignore[attr-defined]
    error: type[Exception] = module.RecordingError  # type: ignore[attr-defined]
    try:
        recording = recording_type(args.directory)
    except error as exc:
        raise CommandFailed(
            f"{exc}; give the directory `mexc record --out DIR` wrote", status=EXIT_USAGE
        ) from None
    pm, _ = load_plugins("replay", args)
    dispatcher = Dispatcher(pm)
    bar = _Bar(recording.indexed_records(), shown=not args.quiet and sys.stderr.isatty())
    with result_output(json_only=args.json) as out:

        def show(event: Event) -> None:
            for failure in dispatcher.dispatch(event):
                say("replay", f"plugin {failure.plugin} failed in {failure.hook}: {failure.error}")
            if type(event) is Push:
                print(push_line(event, as_json=args.json), file=out, flush=True)

        try:
            fed, pushes = replay(
                recording, show=show, speed=None if args.max else args.speed, bar=bar
            )
        except error as exc:
            raise CommandFailed(
                f"{exc}; the records before the damage replayed", status=EXIT_FAILED
            ) from None
    for tail in recording.torn:
        say(
            "replay",
            f"{tail.segment}: cut a torn tail of {tail.size} bytes at byte {tail.offset} "
            f"({tail.why}: a crash while recording)",
        )
    if not args.quiet:
        say("replay", f"replayed {fed} records, {pushes} pushes")
    return EXIT_OK
