"""What every ``mexc`` command shares (mexc-sim's ``sim`` and ``demo`` too).

- **Exit statuses** (:data:`EXIT_OK` ... :data:`EXIT_INTERRUPTED`) and one way to
  end a command: raise :class:`CommandFailed` with one line naming the problem and
  the fix. :func:`run_command` turns any exception into that line and a status;
  the traceback is printed only with ``--debug``.
- **Argument types** that check what a value means (:func:`positive_int`,
  :func:`port`, :func:`ws_url` ...), so that argparse refuses a bad value with
  status 2 before anything starts.
- **Plugins from the command line**: :func:`add_plugin_arguments` adds
  ``--plugin NAME`` (repeatable), ``--no-plugins`` and
  ``--plugin-option NAME.KEY=VALUE``; :func:`load_plugins` loads what they say, and
  an installed plugin that cannot be loaded is named on stderr and skipped.
- **Metrics**: :func:`add_metrics_argument` adds ``--metrics HOST:PORT``; with it,
  :func:`load_plugins` loads the Prometheus plugin (mexc-plugin-prometheus) and
  binds its address before anything starts, so that a missing plugin or a taken
  port is one line and a status, not a log line later.
- **A clean standard output**: :func:`result_output` gives the stream results are
  printed on; with ``--json`` anything else printed to stdout (by a plugin) is
  sent to stderr, so that stdout holds only JSON lines.
- **Connection progress** on stderr and the give-up rule of ``--attempts`` /
  ``--retry-forever``: :class:`Progress`.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import signal
import socket
import sys
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Final, NoReturn, TextIO, TypeVar

import anyio
import anyio.abc
import pluggy

from mexc_core.aio.client import DEFAULT_URL, Endpoint, MexcClient
from mexc_core.errors import MexcError, SubscriptionError
from mexc_core.events import (
    Event,
    GapDetected,
    LinkConnected,
    LinkDisconnected,
    ListenKeyCreated,
    ListenKeyCreateFailed,
    ListenKeyLost,
    TopicsSubscribed,
)
from mexc_core.plugins import installed_plugins, plugin_manager

__all__ = (
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_NOT_INSTALLED",
    "EXIT_NO_SIMULATOR",
    "EXIT_OK",
    "EXIT_USAGE",
    "PROGRESS_EVENTS",
    "CommandFailed",
    "CommandParser",
    "Interrupted",
    "Progress",
    "add_connection_arguments",
    "add_debug_argument",
    "add_metrics_argument",
    "add_plugin_arguments",
    "follow",
    "host_port",
    "listen_failure",
    "load_plugins",
    "non_negative_float",
    "port",
    "positive_float",
    "positive_int",
    "raise_on_signal",
    "result_output",
    "run_command",
    "say",
    "ws_url",
)

_T = TypeVar("_T")

#: Done: ``--count`` reached, ``--duration`` over, or the output was closed (``| head``).
EXIT_OK: Final = 0
#: The command ran and failed: MEXC refused, no connection, a port in use ...
EXIT_FAILED: Final = 1
#: Bad arguments: nothing was started.
EXIT_USAGE: Final = 2
#: A distribution the command needs is not installed (mexc-sim for ``mexc sim`` and
#: ``mexc demo``, the console plugin for ``mexc demo``, the Prometheus plugin for
#: ``--metrics``).
EXIT_NOT_INSTALLED: Final = 3
#: ``mexc sim`` / ``mexc demo`` without the mexc-sim distribution.
EXIT_NO_SIMULATOR: Final = EXIT_NOT_INSTALLED
#: Stopped by Ctrl-C (SIGINT); SIGTERM gives 143 (128 + the signal's number).
EXIT_INTERRUPTED: Final = 128 + signal.SIGINT


def say(command: str, message: str) -> None:
    """One line on stderr, prefixed with the command: ``mexc watch: ...``."""
    print(f"mexc {command}: {message}", file=sys.stderr, flush=True)


class CommandFailed(Exception):
    """Ends a command: ``message`` (the problem and the fix) on stderr, and ``status``."""

    def __init__(self, message: str, *, status: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class Interrupted(Exception):
    """A signal asked the command to stop; it exits with 128 + the signal's number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.status = 128 + signum


async def raise_on_signal(*, task_status: anyio.abc.TaskStatus[None]) -> None:
    """Raise :class:`Interrupted` at the first SIGINT or SIGTERM.

    Start it with ``await task_group.start(raise_on_signal)``: the signals are
    caught from the moment that returns.
    """
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        task_status.started()
        async for signum in signals:
            raise Interrupted(signum)


# ---------------------------------------------------------------- running


def _leaves(exc: BaseException) -> Iterator[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _leaves(inner)
    else:
        yield exc


#: Which of several exceptions a group holds decides the outcome, in this order.
_PRECEDENCE: Final = (
    CommandFailed,
    Interrupted,
    KeyboardInterrupt,
    BrokenPipeError,
    MexcError,
)


def _deciding(exc: BaseException) -> BaseException:
    leaves = list(_leaves(exc))
    for kind in _PRECEDENCE:
        for leaf in leaves:
            if isinstance(leaf, kind):
                return leaf
    return leaves[0] if leaves else exc


def _quiet_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the exit's flush is silent."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def run_command(command: str, action: Callable[[], int], *, debug: bool = False) -> int:
    """Run ``action``; any exception becomes one line on stderr and an exit status.

    :param command: the command's name, the prefix of its lines (``watch``).
    :param debug: also print the traceback of a failure.
    """
    try:
        return action()
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001 - every failure becomes one line
        leaf = _deciding(exc)
        if isinstance(leaf, BrokenPipeError):
            _quiet_stdout()
            return EXIT_OK
        if debug and not isinstance(leaf, Interrupted | KeyboardInterrupt):
            traceback.print_exception(exc)
        if isinstance(leaf, CommandFailed):
            say(command, leaf.message)
            return leaf.status
        if isinstance(leaf, Interrupted):
            return leaf.status
        if isinstance(leaf, KeyboardInterrupt):
            return EXIT_INTERRUPTED
        if isinstance(leaf, MexcError):
            say(command, str(leaf))
            return EXIT_FAILED
        hint = "" if debug else "; run it again with --debug for the traceback"
        say(command, f"unexpected error: {type(leaf).__name__}: {leaf}{hint}, and please report it")
        return EXIT_FAILED


def add_debug_argument(parser: argparse.ArgumentParser, *, main: bool = False) -> None:
    """``--debug``: print the traceback of a failure.

    :param main: the top-level parser (``mexc --debug COMMAND``), which holds the
        default; a subcommand's flag then only ever sets it.
    """
    parser.add_argument(
        "--debug",
        action="store_true",
        default=False if main else argparse.SUPPRESS,
        help="print the traceback of a failure too",
    )


@contextlib.contextmanager
def result_output(*, json_only: bool) -> Iterator[TextIO]:
    """The stream to print results on.

    With ``json_only``, everything else that is printed to ``sys.stdout`` while
    the block runs (by plugins) goes to stderr, so that stdout holds only the
    JSON lines printed on the stream yielded.
    """
    out = sys.stdout
    if not json_only:
        yield out
        return
    sys.stdout = sys.stderr
    try:
        yield out
    finally:
        sys.stdout = out


# ---------------------------------------------------------------- argument types


class CommandParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, and status 2.

    ``mexc watch: argument --count: must be 0 or more, not -3 (see mexc watch --help)``
    """

    def error(self, message: str) -> NoReturn:
        """Print ``message`` as one line with the way to the help, and exit with 2."""
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def positive_int(text: str) -> int:
    """An integer of at least 1."""
    value = _parse(int, text, "a whole number")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def non_negative_int(text: str) -> int:
    """An integer of at least 0."""
    value = _parse(int, text, "a whole number")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def positive_float(text: str) -> float:
    """A finite number above 0."""
    value = _parse(float, text, "a number")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number above 0, not {text}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number of at least 0."""
    value = _parse(float, text, "a number")
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of 0 or more, not {text}")
    return value


def port(text: str) -> int:
    """A TCP port: 0 (any free one) to 65535."""
    value = _parse(int, text, "a port number")
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0-65535 (0: any free port), not {value}")
    return value


def host_port(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6), the port 0-65535 (0: any free one)."""
    host, sep, port_text = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host:
        raise argparse.ArgumentTypeError(f"must be HOST:PORT (e.g. 127.0.0.1:9464), not {text!r}")
    return host, port(port_text)


def ws_url(text: str) -> str:
    """A ``ws://`` or ``wss://`` URL the client can connect to."""
    try:
        Endpoint(text)
    except MexcError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _parse(kind: Callable[[str], _T], text: str, what: str) -> _T:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, not {text!r}") from None


def add_connection_arguments(p: argparse.ArgumentParser, *, attempts: int = 5) -> None:
    """``--endpoint``, ``--ca-file``, ``--attempts``, ``--retry-forever``, ``--quiet``."""
    p.add_argument(
        "--endpoint",
        type=ws_url,
        default=DEFAULT_URL,
        help=f"WebSocket URL (default {DEFAULT_URL})",
    )
    p.add_argument("--ca-file", help="trust this CA bundle for wss:// (e.g. a local simulator)")
    p.add_argument(
        "--attempts",
        type=positive_int,
        default=attempts,
        help=f"give up after N failed connection attempts in a row (default {attempts})",
    )
    p.add_argument("--retry-forever", action="store_true", help="never give up connecting")
    p.add_argument("-q", "--quiet", action="store_true", help="report only failures on stderr")


# ---------------------------------------------------------------- the live view

#: ``--view`` choices: the console plugin's live view, lines, or live on a terminal.
VIEWS: Final = ("auto", "live", "lines")


def add_view_argument(p: argparse.ArgumentParser) -> None:
    """``--view auto|live|lines``: the console plugin's live view or printed lines."""
    p.add_argument(
        "--view",
        choices=VIEWS,
        default="auto",
        help="live: the console plugin's view, redrawn in place; lines: printed lines; "
        "auto (default): live on a terminal, lines otherwise (--json: lines)",
    )


def wants_live_view(args: argparse.Namespace) -> bool:
    """Whether ``--view`` (and the terminal) asks for the live view.

    :raises CommandFailed: ``--view live`` with ``--json`` (status 2).
    """
    json_out = bool(getattr(args, "json", False))
    if args.view == "live" and json_out:
        raise CommandFailed(
            "--view live draws a screen and --json prints lines: choose one", status=EXIT_USAGE
        )
    return args.view == "live" or (args.view == "auto" and not json_out and sys.stdout.isatty())


def live_view_options(
    pm: pluggy.PluginManager,
    options: dict[str, dict[str, object]],
    **console: object,
) -> None:
    """Ask the console plugin for its live view (``console`` are its options).

    :raises CommandFailed: the console plugin is not loaded (status 3).
    """
    if not pm.has_plugin("console"):
        raise CommandFailed(
            "the live view is the console plugin's, which is not loaded; "
            "`pip install mexc-plugin-console`, or use --view lines",
            status=EXIT_NOT_INSTALLED,
        )
    options["console"] = {**options.get("console", {}), "view": "live", **console}


# ---------------------------------------------------------------- plugins

#: The installed plugin ``--metrics`` loads (the mexc-plugin-prometheus distribution).
METRICS_PLUGIN: Final = "prometheus"


def _plugin_option(text: str) -> tuple[str, str, object]:
    name_key, sep, raw = text.partition("=")
    name, dot, key = name_key.partition(".")
    if not (sep and dot and name and key):
        raise argparse.ArgumentTypeError(f"must be NAME.KEY=VALUE, not {text!r}")
    try:
        value: object = json.loads(raw)
    except ValueError:
        value = raw
    return name, key, value


def add_plugin_arguments(parser: argparse.ArgumentParser) -> None:
    """``--plugin NAME`` (repeatable), ``--no-plugins``, ``--plugin-option NAME.KEY=VALUE``."""
    group = parser.add_argument_group("plugins (default: every installed plugin)")
    which = group.add_mutually_exclusive_group()
    which.add_argument(
        "--plugin",
        action="append",
        dest="plugins",
        metavar="NAME",
        help="load only this installed plugin (repeatable); `mexc plugins` lists them",
    )
    which.add_argument("--no-plugins", action="store_true", help="load no installed plugin")
    group.add_argument(
        "--plugin-option",
        action="append",
        dest="plugin_options",
        default=[],
        type=_plugin_option,
        metavar="NAME.KEY=VALUE",
        help="an option for a plugin; VALUE is read as JSON when it is JSON "
        "(e.g. console.symbols='[\"BTCUSDT\"]'), else as text",
    )


def add_metrics_argument(parser: argparse.ArgumentParser) -> None:
    """``--metrics HOST:PORT``: serve Prometheus metrics at ``/metrics`` and the
    health at ``/healthz`` (:func:`load_plugins` applies it)."""
    parser.add_argument(
        "--metrics",
        type=host_port,
        metavar="HOST:PORT",
        help="serve Prometheus metrics at http://HOST:PORT/metrics and the health at "
        "/healthz (needs mexc-plugin-prometheus)",
    )


def listen_failure(
    exc: OSError,
    host: str,
    port: int,
    *,
    host_option: str = "--host",
    port_option: str = "--port",
    any_port: str = "--port 0",
) -> CommandFailed:
    """Why ``host:port`` cannot be listened on, and what to do about it.

    :param host_option: the option that gave the host. :param port_option: the
        one that gave the port. :param any_port: how to ask for any free port.
    """
    where = f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return CommandFailed(
            f"port {port} on {host} is in use; pick another with {port_option}, "
            f"or {any_port} for any free one"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return CommandFailed(
            f"cannot listen on {where}: {host} is not an address of this machine; "
            f"use 127.0.0.1 or one of its own addresses with {host_option}"
        )
    if isinstance(exc, socket.gaierror):
        return CommandFailed(
            f"cannot listen on {where}: {host!r} does not resolve; check {host_option}"
        )
    options = host_option if host_option == port_option else f"{host_option} and {port_option}"
    return CommandFailed(f"cannot listen on {where}: {exc.strerror or exc}; check {options}")


def _metrics_socket(address: tuple[str, int]) -> socket.socket:
    """The metrics endpoint's socket, bound and listening (the plugin then owns it)."""
    host, port = address
    try:
        return socket.create_server((host, port))
    except OSError as exc:
        raise listen_failure(
            exc,
            host,
            port,
            host_option="--metrics",
            port_option="--metrics",
            any_port=f"--metrics {host}:0",
        ) from None


def load_plugins(
    command: str, args: argparse.Namespace, *, required: Sequence[str] = ()
) -> tuple[pluggy.PluginManager, dict[str, dict[str, object]]]:
    """The plugin manager and the plugin options the arguments ask for.

    An installed plugin that cannot be loaded is named on stderr and skipped.
    With ``--metrics`` (:func:`add_metrics_argument`), the Prometheus plugin is
    loaded whatever the other arguments say, and given its address bound.

    :param required: installed plugins the command loads whatever the arguments say.
    :raises CommandFailed: ``--plugin`` names a plugin that is not installed, or an
        option names a plugin that is not loaded (status 2); ``--metrics`` without
        the Prometheus plugin (status 3), or on an address that cannot be listened
        on (status 1).
    """
    installed = installed_plugins()
    metrics: tuple[str, int] | None = getattr(args, "metrics", None)
    if metrics is not None:
        if METRICS_PLUGIN not in installed:
            raise CommandFailed(
                "--metrics needs the Prometheus plugin, which is not installed; run "
                "`pip install mexc-plugin-prometheus` (or `uv sync` in the repository)",
                status=EXIT_NOT_INSTALLED,
            )
        required = (*required, METRICS_PLUGIN)
    only: set[str] | None = None
    if args.no_plugins:
        only = set(required)
    elif args.plugins:
        unknown = sorted(set(args.plugins) - set(installed))
        if unknown:
            have = ", ".join(sorted(installed)) or "none"
            raise CommandFailed(
                f"no plugin named {', '.join(map(repr, unknown))} is installed "
                f"(installed: {have}); `mexc plugins` lists them",
                status=EXIT_USAGE,
            )
        only = {*args.plugins, *required}

    def skipped(name: str, exc: Exception) -> None:
        say(
            command,
            f"plugin {name!r} skipped: {type(exc).__name__}: {exc} "
            "(fix or uninstall it, or choose plugins with --plugin / --no-plugins)",
        )

    pm = plugin_manager(only=only, on_load_failure=skipped)
    options: dict[str, dict[str, object]] = {}
    for name, key, value in args.plugin_options:
        if not pm.has_plugin(name):
            raise CommandFailed(
                f"--plugin-option {name}.{key}: no plugin {name!r} is loaded; "
                "`mexc plugins` lists the installed ones",
                status=EXIT_USAGE,
            )
        options.setdefault(name, {})[key] = value
    if metrics is not None:
        if not pm.has_plugin(METRICS_PLUGIN):
            raise CommandFailed(
                "--metrics: the Prometheus plugin cannot be loaded (see the line above); "
                "reinstall mexc-plugin-prometheus",
                status=EXIT_NOT_INSTALLED,
            )
        sock = _metrics_socket(metrics)
        options.setdefault(METRICS_PLUGIN, {})["socket"] = sock
        if not getattr(args, "quiet", False):
            host, port = sock.getsockname()[:2]
            shown = f"[{host}]" if ":" in host else host
            say(command, f"metrics at http://{shown}:{port}/metrics, health at /healthz")
    return pm, options


# ---------------------------------------------------------------- progress


#: The events :class:`Progress` reads.
PROGRESS_EVENTS: Final = (
    LinkConnected,
    LinkDisconnected,
    TopicsSubscribed,
    GapDetected,
    ListenKeyCreated,
    ListenKeyCreateFailed,
    ListenKeyLost,
)


class Progress:
    """Connection progress on stderr, and when to give up connecting.

    A link that fails ``attempts`` times in a row without getting a subscription
    acknowledged ends the command (:class:`CommandFailed`); so does a listen key
    that cannot be created ``attempts`` times in a row. ``attempts=None`` retries
    for ever.

    :param command: the command (the prefix of its lines).
    :param url: the WebSocket endpoint, for the messages.
    :param attempts: failed attempts in a row before giving up, or ``None``.
    :param quiet: print only failures.
    """

    def __init__(self, command: str, url: str, *, attempts: int | None, quiet: bool) -> None:
        self.command = command
        self.url = url
        self.attempts = attempts
        self.quiet = quiet
        self._failures: dict[int | None, int] = {}

    @classmethod
    def from_args(cls, command: str, args: argparse.Namespace) -> Progress:
        """The progress of a command with the connection arguments of ``watch``."""
        attempts = None if args.retry_forever else args.attempts
        return cls(command, args.endpoint, attempts=attempts, quiet=args.quiet)

    def start(self) -> None:
        """Say where the command connects."""
        self._info(f"connecting to {self.url}")

    def _info(self, message: str) -> None:
        if not self.quiet:
            say(self.command, message)

    def _failed(self, key: int | None, what: str, fix: str) -> str:
        count = self._failures.get(key, 0) + 1
        self._failures[key] = count
        if self.attempts is not None and count >= self.attempts:
            tries = "once" if count == 1 else f"{count} times in a row"
            raise CommandFailed(f"{what} (tried {tries}); {fix}")
        return (
            f"attempt {count}" if self.attempts is None else f"attempt {count} of {self.attempts}"
        )

    def observe(self, event: Event) -> None:
        """Report ``event``; :class:`CommandFailed` when it is time to give up."""
        if isinstance(event, LinkConnected):
            again = "reconnected" if event.reconnect else "connected"
            self._info(f"{again} (link {event.link}, {len(event.topics)} topics)")
        elif isinstance(event, TopicsSubscribed):
            self._failures.pop(event.link, None)
            self._info(f"subscribed {len(event.topics)} topics on link {event.link}")
        elif isinstance(event, LinkDisconnected):
            if event.retry_in is None:
                return
            attempt = self._failed(
                event.link,
                f"cannot connect to {self.url}: {event.cause.value}: {event.reason}",
                "check the URL, the network and a proxy, or pass --retry-forever",
            )
            say(
                self.command,
                f"link {event.link} down ({event.cause.value}: {event.reason}); "
                f"retrying in {event.retry_in:.1f} s ({attempt})",
            )
        elif isinstance(event, ListenKeyCreated):
            self._failures.pop(None, None)
            self._info("listen key created")
        elif isinstance(event, ListenKeyCreateFailed):
            fix = (
                "check the API key and secret"
                if event.rejected
                else "check the REST URL (--rest) and the network"
            )
            attempt = self._failed(None, f"cannot create a listen key: {event.error}", fix)
            say(self.command, f"cannot create a listen key: {event.error} ({attempt})")
        elif isinstance(event, ListenKeyLost):
            say(self.command, f"listen key lost ({event.reason.value}); creating a new one")
        elif isinstance(event, GapDetected):
            shown = ", ".join(event.topics[:3]) + (" ..." if len(event.topics) > 3 else "")
            self._info(f"pushes may be missing on {shown} ({event.cause.value})")


async def follow(
    command: str,
    make_client: Callable[[], MexcClient],
    progress: Progress,
    *,
    items: Callable[[MexcClient], AsyncIterator[_T]],
    start: Callable[[MexcClient], Awaitable[object]],
    show: Callable[[_T], bool],
    count: int,
) -> int:
    """Run a client until ``count`` items are shown (0: until a signal).

    Makes the client, opens its ``items`` stream, then calls ``start`` (subscribe, watch a book);
    reports progress on stderr meanwhile, and a refusal as one line per topic.
    ``show`` prints an item and says whether it counts towards ``count``.

    :raises CommandFailed: nothing could be subscribed, or connecting failed
        ``progress.attempts`` times in a row.
    :raises Interrupted: SIGINT or SIGTERM.
    """
    shown = 0
    client = make_client()
    async with client, anyio.create_task_group() as tg:
        await tg.start(raise_on_signal)
        events = client.events(*PROGRESS_EVENTS, max_buffer=1000)
        stream = items(client)

        async def report() -> None:
            async for event in events:
                progress.observe(event)

        progress.start()
        tg.start_soon(report)
        try:
            await start(client)
        except SubscriptionError as exc:
            for topic, (cause, reason) in exc.failures.items():
                say(command, f"{topic}: {cause} ({reason})")
            if not client.topics:
                raise CommandFailed("nothing could be subscribed; see the reasons above") from None
        async for item in stream:
            if show(item):
                shown += 1
                if count and shown >= count:
                    break
        tg.cancel_scope.cancel()
    return EXIT_OK
