"""Every code example of the documentation and of the README is run or checked here.

- Python on a page of ``docs/`` comes from a file of ``docs/examples/``
  (``literalinclude``), which runs (here, in ``tests/test_docs.py`` or in
  ``tests/test_connection_examples.py``) and passes ``mypy --strict`` (here). An
  inline block that is not Python-to-run (a hex dump, a string MEXC sends) is
  listed in :data:`INLINE` with the check that keeps it true; any other inline
  block fails the audit.
- The README's Python blocks are regions of ``docs/examples/`` files, verbatim.
- Shell commands (``console`` blocks, the README's ``sh`` blocks) parse with the
  ``mexc`` command's own parsers, the codec commands run, and the other commands
  are the project's known tools. A ``mexc demo --faults`` example must show its
  fault within its ``--duration``; the README's reset demo is run.
- Schema and table fragments (``proto``, ``toml``) are lines of the files or tests
  they describe.
- The conformance-kit examples (``docs/examples/kit_*.py``) are pytest modules,
  run by pytest in a fresh interpreter, as a user would run them; the ``::``
  examples in the kit's docstrings (its API pages) run too.
"""

from __future__ import annotations

import ast
import doctest
import importlib
import inspect
import re
import runpy
import shlex
import signal
import subprocess
import sys
import textwrap
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import anyio
import pytest

import mexc_core.testing
from mexc_core import cli, wire
from mexc_core.events import Push
from mexc_core.plugins import plugin_manager
from mexc_core.session import SessionConfig
from mexc_core.wire import SubscriptionRejected
from mexc_sim import RunningSimulator
from mexc_sim import cli as sim_cli
from mexc_sim.faults import profile
from tests.util import FACTOR

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples"
README = ROOT / "README.md"

DEALS = "spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT"


# ---------------------------------------------------------------- reading blocks


@dataclass(frozen=True)
class Block:
    """One code example of a page."""

    page: str  # relative to the root
    line: int  # 1-based line of the directive, the "::" or the fence
    kind: str  # "literalinclude", "code-block", "literal" (after "::"), "fence"
    language: str
    text: str  # the dedented body; for literalinclude, the path given
    options: dict[str, str] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


_DIRECTIVE = re.compile(r"^(\s*)\.\. (literalinclude|code-block|code|sourcecode)::\s*(.*?)\s*$")
_OTHER_DIRECTIVE = re.compile(r"^\s*\.\. [\w:-]+::")
_OPTION = re.compile(r"^\s+:([\w-]+):\s*(.*?)\s*$")
_FENCE = re.compile(r"^```(\w*)\s*$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _body(lines: list[str], start: int, indent: int) -> tuple[str, int]:
    """The block indented deeper than ``indent`` from ``start``: its text and end."""
    end = start
    while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > indent):
        end += 1
    return textwrap.dedent("\n".join(lines[start:end])).strip("\n") + "\n", end


def rst_blocks(path: Path) -> Iterator[Block]:
    page = path.relative_to(ROOT).as_posix()
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        match = _DIRECTIVE.match(line)
        if match:
            indent, kind, argument = len(match[1]), match[2], match[3]
            kind = "literalinclude" if kind == "literalinclude" else "code-block"
            options: dict[str, str] = {}
            j = i + 1
            while j < len(lines) and (option := _OPTION.match(lines[j])):
                options[option[1]] = option[2]
                j += 1
            if kind == "literalinclude":
                language = options.get("language", "python")
                yield Block(page, i + 1, kind, language, argument, options)
                i = j
                continue
            text, end = _body(lines, j, indent)
            yield Block(page, i + 1, kind, argument or "python", text, options)
            i = end
            continue
        if line.rstrip().endswith("::") and not _OTHER_DIRECTIVE.match(line):
            text, end = _body(lines, i + 1, _indent(line))
            if text.strip():
                yield Block(page, i + 1, "literal", "python", text)
            i = end
            continue
        i += 1


def markdown_blocks(path: Path) -> Iterator[Block]:
    page = path.relative_to(ROOT).as_posix()
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if match:
            end = lines.index("```", i + 1)
            yield Block(page, i + 1, "fence", match[1], "\n".join(lines[i + 1 : end]) + "\n")
            i = end
        i += 1


def pages() -> list[Path]:
    return sorted([*DOCS.glob("*.rst"), *DOCS.glob("api/*.rst")])


def all_blocks() -> list[Block]:
    return [b for page in pages() for b in rst_blocks(page)] + list(markdown_blocks(README))


def region(path: Path, name: str) -> str:
    """The lines between ``# [name]`` and ``# [/name]`` of an example."""
    text = path.read_text(encoding="utf-8")
    start = text.index(f"# [{name}]\n") + len(f"# [{name}]\n")
    return text[start : text.index(f"# [/{name}]")].strip("\n") + "\n"


def regions() -> dict[str, str]:
    """Every marked region of every example, by ``file:name``."""
    found: dict[str, str] = {}
    for path in sorted(EXAMPLES.glob("*.py")):
        for name in re.findall(r"^# \[(\w+)\]$", path.read_text(encoding="utf-8"), re.MULTILINE):
            found[f"{path.name}:{name}"] = region(path, name)
    return found


# ---------------------------------------------------------------- checks of inline blocks


def _decodes_as_a_push(text: str) -> None:
    push = wire.decode_push(bytes.fromhex("".join(text.split())))
    assert push.channel.startswith("spot@public.")


def _is_a_mexc_rejection(text: str) -> None:
    msg = ast.literal_eval(text.strip())
    reply = wire.decode_control('{"id":0,"code":0,"msg":' + repr(msg).replace("'", '"') + "}")
    assert isinstance(reply, SubscriptionRejected), reply
    assert reply.topics == ("spot@public.aggre.deals.v3.api.pb@BTCUSDT",)


def _lines_of(*sources: str) -> Callable[[str], None]:
    """Each line of the block (but comments and elisions) is in one of ``sources``."""

    def check(text: str) -> None:
        known = "\n".join((ROOT / source).read_text(encoding="utf-8") for source in sources)
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith(("//", "#")) or line == "...":
                continue
            assert line in known, f"{line!r} is in none of {sources}"

    return check


def _is_a_scrape_config(text: str) -> None:
    """A Prometheus scrape job of the plugin's path on a loopback target."""
    assert "metrics_path: /metrics" in text
    assert re.search(r'targets: \["127\.0\.0\.1:\d+"\]', text)


#: Inline blocks that are not Python to run, by page and first line: their checks.
INLINE: dict[tuple[str, str], Callable[[str], None]] = {
    (
        "docs/protocol.rst",
        "0a2f73706f74407075626c69632e61676772652e64657074682e76332e6170692e7062403130",
    ): _decodes_as_a_push,
    (
        "docs/protocol.rst",
        "0a2f73706f74407075626c69632e61676772652e6465616c732e76332e6170692e7062403130",
    ): _decodes_as_a_push,
    (
        "docs/wire.rst",
        '"Not Subscribed successfully! [spot@public.aggre.deals.v3.api.pb@BTCUSDT].  '
        'Reason： Blocked! "',
    ): _is_a_mexc_rejection,
    # the worked example of adding a channel: what tests/test_codegen_new_channel.py does
    ("docs/codegen.rst", "// spot@public.index.price.v3.api.pb"): _lines_of(
        "tests/test_codegen_new_channel.py"
    ),
    ("docs/codegen.rst", 'import "mexccore/push/v3/PublicIndexPriceV3Api.proto";'): _lines_of(
        "tests/test_codegen_new_channel.py", "proto/mexccore/push/v3/PushDataV3ApiWrapper.proto"
    ),
    ("docs/codegen.rst", "[[channel]]"): _lines_of("tests/test_codegen_new_channel.py"),
    ("docs/plugins.rst", "[project]"): _lines_of("plugins/console/pyproject.toml"),
    ("docs/metrics.rst", "scrape_configs:"): _is_a_scrape_config,
}

#: Languages of blocks that show commands, checked by :func:`check_commands`.
SHELL = frozenset({"console", "sh"})
#: Blocks that are pictures, not code.
PICTURES = frozenset({"text"})


def _first_line(block: Block) -> str:
    return block.text.strip().splitlines()[0].strip()


def test_the_reader_finds_the_blocks_of_every_kind() -> None:
    blocks = all_blocks()
    kinds = {(b.kind, b.language) for b in blocks}
    assert {
        ("literalinclude", "python"),
        ("code-block", "console"),
        ("code-block", "proto"),
        ("literal", "python"),
        ("fence", "python"),
        ("fence", "sh"),
    } <= kinds
    assert len([b for b in blocks if b.page == "README.md" and b.language == "python"]) == 3
    sample = list(rst_blocks(DOCS / "client.rst"))
    assert sample[0].kind == "literalinclude"
    assert sample[0].text == "examples/watch_trades.py"
    assert sample[0].options["start-after"] == "# [client]"


def test_every_inline_block_is_an_example_file_or_checked() -> None:
    """Python to read is never typed into a page: it would not run, nor be type-checked."""
    unchecked = [
        f"{b.where}: {b.kind} {b.language}: {_first_line(b)!r}"
        for b in all_blocks()
        if b.kind != "literalinclude"
        and b.page != "README.md"
        and b.language not in SHELL | PICTURES
        and (b.page, _first_line(b)) not in INLINE
    ]
    assert not unchecked, "inline code no test runs; move it to docs/examples:\n" + "\n".join(
        unchecked
    )


@pytest.mark.parametrize(("page", "first"), sorted(INLINE))
def test_inline_blocks_say_what_is_true(page: str, first: str) -> None:
    found = [b for b in rst_blocks(ROOT / page) if _first_line(b) == first]
    assert len(found) == 1, f"no block of {page} starts with {first!r} any more"
    INLINE[page, first](found[0].text)


def test_every_included_file_and_marker_exists() -> None:
    for block in all_blocks():
        if block.kind != "literalinclude":
            continue
        path = (ROOT / block.page).parent / block.text
        assert path.is_file(), block.where
        text = path.read_text(encoding="utf-8")
        for option in ("start-after", "end-before"):
            if option in block.options:
                assert block.options[option] in text, f"{block.where}: {block.options[option]}"
        if "pyobject" in block.options:
            assert re.search(rf"^(def|class) {block.options['pyobject']}\b", text, re.M)


def test_the_readme_python_is_example_code_verbatim() -> None:
    """Each Python block of the README is a marked region of a ``docs/examples`` file."""
    known = regions()
    for block in markdown_blocks(README):
        if block.language == "python":
            assert block.text in known.values(), f"README.md:{block.line} is in no example"


# ---------------------------------------------------------------- commands

#: Commands of the project's tooling the pages show (``uv run`` left out), by prefix.
TOOLS = (
    "uv sync",
    "pip install mexc-core[testing]",
    "pytest",
    "python -m codegen",
    "ruff check",
    "ruff format --check",
    "mypy",
    "sphinx-build -W --keep-going -b html docs ",
    "python -m bench ",
    "bash .ci/run",
    "pip install mexc-plugin-nats",
    "nats stream add",
    "uv build",
    "uv pip install --no-deps -e ",
)


def commands(block: Block) -> Iterator[str]:
    """The commands of a shell block: ``$`` lines of a console, every line of sh."""
    text = block.text.replace("\\\n", " ")
    for raw in text.splitlines():
        line = raw.strip()
        if block.language == "console":
            if not line.startswith("$ "):
                continue  # output
            line = line[2:]
        if not line or line.startswith("#"):
            continue
        line = line.split("  #", 1)[0].strip()
        yield from (part.strip() for part in line.split("&&"))


def shell_blocks() -> list[Block]:
    return [b for b in all_blocks() if b.language in SHELL]


def bare(command: str) -> list[str]:
    """The command without ``uv run`` and its options (``--with-editable ./plugin``).

    Leading environment assignments (``MEXC_CORE_PURE=1 uv run ...``) go too.
    """
    argv = shlex.split(command)
    while len(argv) > 1 and re.fullmatch(r"[A-Z_]+=\S*", argv[0]):
        argv = argv[1:]
    if argv[:2] == ["uv", "run"]:
        argv = argv[2:]
        while argv and argv[0] in {"--with", "--with-editable"}:
            argv = argv[2:]
    return argv


def mexc_commands() -> list[list[str]]:
    found = []
    for block in shell_blocks():
        for command in commands(block):
            argv = bare(command)
            if argv[0] == "mexc":
                found.append(argv[1:])
    return found


def test_every_command_shown_is_a_known_one() -> None:
    unknown = []
    for block in shell_blocks():
        for command in commands(block):
            argv = bare(command)
            if argv[0] == "mexc" or " ".join(argv).startswith(TOOLS):
                continue
            if argv[0] == "export" and all(re.fullmatch(r"[A-Z_]+=\S+", a) for a in argv[1:]):
                continue  # environment for the next command
            unknown.append(f"{block.where}: {command}")
    assert not unknown, "\n".join(unknown)
    assert (ROOT / "codegen" / "__main__.py").is_file()
    assert (ROOT / ".ci" / "run").is_file()
    assert len(mexc_commands()) >= 15


def test_every_mexc_command_shown_parses() -> None:
    for shown in mexc_commands():
        argv = [arg.replace("PORT", "8765") for arg in shown]
        if argv == ["--version"]:  # prints and exits, as argparse's version action does
            with pytest.raises(SystemExit) as exited:
                cli.build_parser().parse_args(argv)
            assert exited.value.code == 0
        elif argv[0] in sim_cli.COMMANDS:
            build, _ = sim_cli.COMMANDS[argv[0]]
            build(f"mexc {argv[0]}").parse_args(argv[1:])
        else:
            cli.build_parser().parse_args(argv)


def test_the_codec_commands_shown_run(capsys: pytest.CaptureFixture[str]) -> None:
    ran = 0
    for argv in mexc_commands():
        if argv[0] in {"channels", "topic", "decode"}:
            assert cli.main(argv) == 0, argv
            ran += 1
    assert ran >= 5
    assert "BTCUSDT" in capsys.readouterr().out


def _demos() -> list[tuple[float, str]]:
    found = []
    for argv in mexc_commands():
        if argv[0] == "demo" and "--faults" in argv:
            args = sim_cli.build_demo_parser().parse_args(argv[1:])
            found.append((args.duration, args.faults))
    return found


def test_a_demo_with_faults_shows_its_fault_within_its_duration() -> None:
    """``mexc demo --duration 5 --faults reset`` once showed nothing: the reset was at 30 s."""
    demos = _demos()
    assert (5.0, "reset") in demos
    keepalive = SessionConfig().ping_interval + SessionConfig().pong_timeout
    for duration, name in demos:
        plan = profile(name)
        strikes = [
            t
            for t in (
                plan.reset_after,
                plan.close_after,
                None if plan.blackhole_after is None else plan.blackhole_after + keepalive,
            )
            if t is not None
        ]
        assert strikes, f"--faults {name} has no fault on a schedule: a demo may show nothing"
        assert min(strikes) < duration, (name, duration, strikes)


@pytest.mark.slow
def test_the_readme_reset_demo_shows_the_reset_and_the_recovery() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mexc_core.cli", "demo", "--duration", "5", "--faults", "reset"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120 * FACTOR,
    )
    lines = proc.stdout.splitlines()
    assert any(line.startswith("-- link 1 down (lost") for line in lines), proc.stdout
    assert "-- link 1 reconnected: 15 topics" in lines, proc.stdout
    assert any(line.startswith("-- gap of ") for line in lines), proc.stdout
    assert re.search(r"\(([1-9]\d*) reconnects,", lines[-1]), lines[-1]


@pytest.mark.slow
def test_the_simulator_prints_what_its_page_shows() -> None:
    """The output under ``mexc sim`` in docs/simulator.rst, but for the free port."""
    block = next(b for b in rst_blocks(DOCS / "simulator.rst") if b.language == "console")
    command, *shown = block.text.strip().splitlines()
    argv = shlex.split(command.removeprefix("$ uv run mexc sim "))
    argv[argv.index("--port") + 1] = "0"
    process = subprocess.Popen(
        [sys.executable, "-m", "mexc_sim", *argv], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        printed = [process.stdout.readline().rstrip("\n") for _ in shown]
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(30)
        if process.stdout is not None:
            process.stdout.close()
    port = re.compile(r"127\.0\.0\.1:\d+")
    assert [port.sub("127.0.0.1:PORT", line) for line in printed] == [
        port.sub("127.0.0.1:PORT", line) for line in shown
    ]


# ---------------------------------------------------------------- running the examples


def _load(name: str) -> ModuleType:
    """Import an example file as a module (not as ``__main__``)."""
    path = EXAMPLES / name
    spec = importlib.util.spec_from_file_location(f"docs_example_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_codec_example_prints_the_vector(capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_path(str(EXAMPLES / "codec_quickstart.py"), run_name="__main__")
    assert capsys.readouterr().out.splitlines() == [
        '{"method":"SUBSCRIPTION","params":["spot@public.aggre.depth.v3.api.pb@10ms@BTCUSDT"]}',
        "BTCUSDT 10023 1778075380572",
    ]


V2 = bytes.fromhex(
    "0a2f73706f74407075626c69632e61676772652e6465616c732e76332e6170692e7062403130"
    "306d7340425443555344541a074254435553445430bca9d9d0c432d2134a0a1f0a0839333232"
    "302e3030120a302e3034343338323433180220bba9d9d0c432122773706f74407075626c6963"
    "2e61676772652e6465616c732e76332e6170692e7062403130306d73"
)


def test_the_readme_plugin_prints_trades(capsys: pytest.CaptureFixture[str]) -> None:
    tape = _load("tape_plugin.py").Tape()
    pm = plugin_manager(tape, entry_points=False)  # checks hook names and parameters
    push = wire.decode_push(V2)
    pm.hook.mexc_aggre_deals_received(push=push, body=push.body)
    assert capsys.readouterr().out == "BTCUSDT 93220.00 0.04438243\n"


@pytest.mark.slow
@pytest.mark.mexc_sim(speed=10)
def test_the_first_client_example_prints_trades(
    mexc_sim: RunningSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    example = _load("watch_trades.py")
    out = ""

    async def scenario() -> None:
        nonlocal out
        async with anyio.create_task_group() as tg:
            tg.start_soon(example.main, mexc_sim.ws_url)
            with anyio.fail_after(30 * FACTOR):
                while not out.strip():
                    await anyio.sleep(0.05)
                    out += capsys.readouterr().out
            tg.cancel_scope.cancel()

    anyio.run(scenario)
    symbol, price, quantity = out.splitlines()[0].split()
    assert symbol == "BTCUSDT"
    assert Decimal(price) > 0
    assert Decimal(quantity) > 0


@pytest.mark.slow
def test_the_recorder_writes_every_trade_it_queued(mexc_sim: RunningSimulator) -> None:
    example = _load("recorder_plugin.py")
    database = example.Database()
    recorder = example.Recorder(database)

    async def scenario() -> None:
        from mexc_core.aio.client import MexcClient  # noqa: PLC0415 - slow tests only

        async with MexcClient(mexc_sim.ws_url, plugins=[recorder], entry_points=False) as client:
            await client.subscribe([DEALS])
            with anyio.fail_after(30 * FACTOR):
                while len(database.rows) < 2:
                    await anyio.sleep(0.05)

    anyio.run(scenario)
    rows: list[Push] = database.rows
    assert all(isinstance(row, Push) and row.channel == DEALS for row in rows)


@pytest.mark.slow
def test_the_book_plugin_example_reads_a_book(mexc_sim: RunningSimulator) -> None:
    example = _load("book_plugin.py")
    price = anyio.run(example.best_bid, mexc_sim.ws_url, mexc_sim.rest_url)
    assert Decimal(price) > 0


@pytest.mark.slow
def test_the_metrics_example_scrapes_its_endpoint(mexc_sim: RunningSimulator) -> None:
    example = _load("metrics_scrape.py")
    samples = anyio.run(example.scrape_once, mexc_sim.ws_url, DEALS)
    assert samples["mexc_messages_total{'channel': 'public.aggre.deals.v3.api.pb'}"] >= 3
    assert samples["mexc_link_up{'link': '1', 'private': 'false'}"] == 1.0
    assert samples["mexc_healthy{}"] == 1.0


#: The kit's examples: pytest modules, and how many tests each holds.
KIT = {
    "kit_strategies.py": 3,
    "kit_machines.py": 5,
    "kit_harness.py": 1,
    "kit_sim_given.py": 1,
    "kit_plugin.py": 2,
    "kit_sim_speed.py": 1,
    "kit_proxy.py": 1,
}


def test_every_kit_example_is_listed() -> None:
    assert {p.name for p in EXAMPLES.glob("kit_*.py")} == set(KIT)


def run_pytest(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """pytest in a fresh interpreter, as a user runs it (no coverage, no cache)."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--no-cov", "-q", "-p", "no:cacheprovider", *args],
        capture_output=True,
        text=True,
        timeout=600 * FACTOR,
        check=False,
        cwd=cwd,
    )


@pytest.mark.slow
def test_the_kit_examples_pass_under_pytest() -> None:
    proc = run_pytest(*(str(EXAMPLES / name) for name in sorted(KIT)))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(rf"\b{sum(KIT.values())} passed\b", proc.stdout), proc.stdout


@pytest.mark.slow
def test_every_example_passes_mypy_strict() -> None:
    """What the pages and the README show type-checks as users' code would."""
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", str(EXAMPLES)],
        capture_output=True,
        text=True,
        timeout=600 * FACTOR,
        check=False,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ---------------------------------------------------------------- the kit's docstrings


def docstring_examples() -> list[tuple[str, str]]:
    found = []
    names = sorted(
        name
        for name in {"mexc_core.testing", *_kit_modules()}
        if importlib.import_module(name).__doc__
    )
    for name in names:
        doc = textwrap.dedent(importlib.import_module(name).__doc__ or "")
        lines = doc.splitlines()
        for i, line in enumerate(lines):
            if line.rstrip().endswith("::") and not line.lstrip().startswith(".."):
                text, _ = _body(lines, i + 1, _indent(line))
                if text.strip():
                    found.append((name, text))
    return found


def _kit_modules() -> list[str]:
    import pkgutil  # noqa: PLC0415

    return [
        info.name
        for info in pkgutil.iter_modules(mexc_core.testing.__path__, "mexc_core.testing.")
        if not info.name.rsplit(".", 1)[1].startswith("_")
    ]


def test_the_kit_docstrings_show_examples() -> None:
    shown = {name for name, _ in docstring_examples()}
    assert {
        "mexc_core.testing.strategies",
        "mexc_core.testing.stateful",
        "mexc_core.testing.book",
        "mexc_core.testing.client",
        "mexc_core.testing.listenkey",
        "mexc_core.testing.harness",
    } <= shown


@pytest.mark.parametrize(("module", "code"), docstring_examples())
def test_the_kit_docstring_examples_run(module: str, code: str) -> None:
    namespace: dict[str, object] = {"__name__": f"docstring_of_{module}"}
    exec(compile(code, f"<docstring of {module}>", "exec"), namespace)


# ---------------------------------------------------------------- what the pages name

#: The first-party plugins' packages.
_PLUGINS = "|".join(f"mexc_plugin_{p.name}" for p in sorted((ROOT / "plugins").iterdir()))
#: A dotted name of the project's packages (a module, or an attribute of one).
_DOTTED = re.compile(rf"(?<![\w./-])((?:mexc_core|mexc_sim|{_PLUGINS})(?:\.\w+)*)(?!\w)")
#: Paths the pages name that are not in the tree, and why.
_NOT_IN_THE_TREE = {
    "proto/mexccore/push/v3/PublicIndexPriceV3Api.proto": "the worked example creates it",
    "docs/_build/html": "the docs build writes it",
}
#: A path of the repository, as pages cite files.
_PATH = re.compile(
    r"(?<![\w./-])((?:docs|tests|mexc_core|sim|plugins|proto|codegen|bench|\.ci)/[\w./*<>-]*\w)"
)


def texts_of_pages() -> list[tuple[str, str]]:
    return [(p.relative_to(ROOT).as_posix(), p.read_text(encoding="utf-8")) for p in pages()] + [
        ("README.md", README.read_text(encoding="utf-8"))
    ]


def _on_the_fixture(attrs: list[str]) -> bool:
    """Whether ``mexc_sim.<attrs>`` is an attribute path of the ``mexc_sim`` fixture's value."""
    kind: object = RunningSimulator
    for attr in attrs:
        # class annotations, or those of the constructor (``self.sim = sim``)
        hints: dict[str, object] = {}
        if isinstance(kind, type):
            init = vars(kind).get("__init__")
            hints = {**(typing.get_type_hints(init) if init else {}), **typing.get_type_hints(kind)}
        if attr in hints:
            # ``Simulator | None`` is a Simulator once set
            kind = next((a for a in typing.get_args(hints[attr]) if a is not type(None)), None)
            kind = kind or hints[attr]
        elif hasattr(kind, attr):
            kind = getattr(kind, attr)
        else:
            return False
    return True


def resolves(dotted: str) -> bool:
    """Whether a page's dotted name is a module or attribute (or the fixture's)."""
    parts = dotted.split(".")
    if parts[0] == "mexc_sim" and len(parts) > 1 and _on_the_fixture(parts[1:]):
        return True
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def test_every_name_the_pages_give_exists() -> None:
    """A page once promised a local order book that was not there: names must resolve."""
    missing = sorted(
        {
            f"{page}: {name}"
            for page, text in texts_of_pages()
            for name in _DOTTED.findall(text)
            if not resolves(name)
        }
    )
    assert not missing, "\n".join(missing)
    assert resolves("mexc_core.book.sync.LocalBook")
    assert not resolves("mexc_core.book.sync.NoSuchBook")


def test_every_path_the_pages_give_exists() -> None:
    missing = []
    for page, text in texts_of_pages():
        for path in _PATH.findall(text):
            if "<" in path or "*" in path or path in _NOT_IN_THE_TREE:
                continue  # a pattern (plugins/<name>/), or said above
            if not (ROOT / path).exists() and not ((ROOT / page).parent / path).exists():
                missing.append(f"{page}: {path}")
    assert not missing, "\n".join(missing)


def test_the_index_lists_what_exists() -> None:
    index = (DOCS / "index.rst").read_text(encoding="utf-8")
    today = index[index.index("What exists today") : index.index("What is coming")]
    for page in re.findall(r":doc:`(\w+)`", today):
        assert (DOCS / f"{page}.rst").is_file(), page
        assert f"\n   {page}\n" in index, f"{page} is not in the toctree"
    assert ":doc:`book`" in today
    assert ":doc:`testing`" in today
    assert "book" in [argv[0] for argv in mexc_commands()]  # `mexc book SYMBOL`


def test_the_embedding_tables_call_the_core_as_the_examples_do() -> None:
    """Every ``conn.x(...)`` / ``core.x(...)`` of docs/embedding.rst binds to the real
    signature, and passes ``now`` where the method takes it (the table once showed
    ``conn.close()`` while the examples, rightly, call ``close(now=now)``)."""
    from mexc_core.client.core import ClientCore  # noqa: PLC0415
    from mexc_core.connection import Connection  # noqa: PLC0415
    from mexc_core.session import Session  # noqa: PLC0415

    owners: dict[str, type] = {"conn": Connection, "core": ClientCore, "session": Session}
    page = (DOCS / "embedding.rst").read_text(encoding="utf-8")
    calls = re.findall(r"``(conn|core|session)\.(\w+)\(([^)`]*)\)", page)
    assert len(calls) >= 15
    for owner, name, arguments in calls:
        method = getattr(owners[owner], name)
        args = [a.strip() for a in arguments.split(",") if a.strip()]
        positional = [a for a in args if "=" not in a]
        keywords = dict(a.split("=", 1) for a in args if "=" in a)
        signature = inspect.signature(method)
        signature.bind(None, *positional, **keywords)  # raises if the page is wrong
        if "now" in signature.parameters:
            assert "now" in positional or "now" in keywords, f"{owner}.{name}({arguments})"


# ---------------------------------------------------------------- sketches on the API pages


def api_modules() -> list[str]:
    """The modules whose docstrings the API pages render (``automodule``)."""
    found: set[str] = set()
    for page in pages():
        found |= set(re.findall(r"^\.\. automodule:: (\S+)", page.read_text("utf-8"), re.M))
    return sorted(found)


def sketches() -> list[tuple[str, str]]:
    """The ``::`` blocks of those docstrings that are code (not state diagrams); the
    kit's, which run whole, are run above."""
    found = []
    for name in api_modules():
        if name.startswith("mexc_core.testing"):
            continue
        lines = textwrap.dedent(importlib.import_module(name).__doc__ or "").splitlines()
        for i, line in enumerate(lines):
            if line.rstrip().endswith("::") and not line.lstrip().startswith(".."):
                text, _ = _body(lines, i + 1, _indent(line))
                if text.strip() and "-->" not in text:
                    found.append((name, text))
    return found


def test_the_api_pages_show_sketches() -> None:
    shown = {name for name, _ in sketches()}
    assert {"mexc_core.connection", "mexc_core.session", "mexc_core.client.core"} <= shown


@pytest.mark.parametrize(("module", "code"), sketches())
def test_every_sketch_on_an_api_page_calls_what_exists(module: str, code: str) -> None:
    """A sketch has free names (``sock``, ``now``) and cannot run; it must parse,
    run as a doctest when it is one, and call only methods its objects have."""
    if code.lstrip().startswith(">>>"):
        namespace = vars(importlib.import_module(module)).copy()
        test = doctest.DocTestParser().get_doctest(code, namespace, module, module, 0)
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
        runner.run(test)
        assert runner.summarize(verbose=False).failed == 0
        return
    tree = ast.parse(code)
    namespace = {
        **vars(importlib.import_module(module)),
        **vars(importlib.import_module("mexc_core")),
    }
    kinds: dict[str, type] = {}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name)
            and isinstance(namespace.get(node.value.func.id), type)
        ):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    kinds[target.id] = namespace[node.value.func.id]
            for argument in node.value.args:
                if isinstance(argument, ast.Call) and isinstance(argument.func, ast.Name):
                    assert argument.func.id in namespace, argument.func.id
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in kinds
        ):
            assert hasattr(kinds[node.value.id], node.attr), f"{node.value.id}.{node.attr}"
