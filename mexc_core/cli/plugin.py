"""``mexc plugin new NAME [--dir DIR]``: write a ready project for a plugin of your own.

The project (``docs/plugin_guide.rst`` walks through it) is the distribution
``mexc-plugin-NAME`` with the package ``mexc_plugin_NAME``: a typed plugin class
with a channel hook, lifecycle hooks and options read from ``context.options``,
its ``mexc.plugins`` entry point ``NAME``, tests that run it in a real client
against the simulator's pytest fixtures, and the configuration of pytest, mypy
(strict) and ruff. It passes its own tests, ``ruff check`` and ``mypy`` as
written (``tests/test_plugin_template.py`` holds it to that).

The files are package data, ``mexc_core/cli/templates/plugin/*.tmpl``; a
``{{key}}`` in them is replaced by the value of :class:`Names` (no template
engine). Nothing is written over: the target directory must not exist or be
empty; a new one is written into a temporary directory beside it first, so that
a failure leaves nothing behind.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Final

from mexc_core import __version__
from mexc_core.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    CommandFailed,
    CommandParser,
    add_debug_argument,
)
from mexc_core.plugins import installed_plugins

__all__ = ("FILES", "Names", "add_parser", "plugin_name", "render", "write_project")

#: What a plugin name may be: a lowercase Python identifier, without ``__``. It is
#: the entry point's name, the key of the plugin's options and the end of its
#: package name, so one spelling serves everywhere.
_NAME = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")
#: The longest name accepted (the distribution name adds 12 characters).
MAX_NAME: Final = 40

#: The template's files (in ``templates/plugin``, each with ``.tmpl`` added) and
#: where each is written in the project; ``{{package}}`` in a path is substituted.
FILES: Final = (
    ("pyproject.toml", "pyproject.toml"),
    ("README.md", "README.md"),
    ("gitignore", ".gitignore"),
    ("plugin.py", "src/{{package}}/__init__.py"),
    ("py.typed", "src/{{package}}/py.typed"),
    ("test_plugin.py", "tests/test_plugin.py"),
)

_KEY = re.compile(r"\{\{(\w+)\}\}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Names:
    """Every name of a new plugin project, derived from the plugin's name."""

    #: The plugin's name: ``alerts``.
    name: str
    #: The distribution: ``mexc-plugin-alerts``.
    distribution: str
    #: The import package: ``mexc_plugin_alerts``.
    package: str
    #: The mexc-core release the project needs at least (the one that wrote it).
    mexc_core_version: str

    @classmethod
    def of(cls, name: str) -> Names:
        """The names of the plugin ``name`` (already checked by :func:`plugin_name`)."""
        return cls(
            name=name,
            distribution="mexc-plugin-" + name.replace("_", "-"),
            package="mexc_plugin_" + name,
            mexc_core_version=__version__,
        )


def _suggestion(text: str) -> str:
    words = re.findall(r"[a-z0-9]+", text.lower())
    while words and not words[0][0].isalpha():
        words[0] = words[0].lstrip("0123456789")
        if not words[0]:
            words.pop(0)
    return "_".join(words)[:MAX_NAME].rstrip("_") or "my_plugin"


def plugin_name(text: str) -> str:
    """A plugin's name, as argparse's ``type``: refused with a suggestion when bad."""
    if len(text) <= MAX_NAME and _NAME.fullmatch(text):
        return text
    raise argparse.ArgumentTypeError(
        "must be lowercase letters, digits and single underscores, starting with a letter "
        f"and at most {MAX_NAME} long (such as {_suggestion(text)!r}), not {text!r}"
    )


def render(text: str, names: Names) -> str:
    """``text`` with every ``{{key}}`` replaced by that name.

    :raises KeyError: a key that :class:`Names` does not have (a bug of the template).
    """
    values = {
        "name": names.name,
        "distribution": names.distribution,
        "package": names.package,
        "mexc_core_version": names.mexc_core_version,
    }
    return _KEY.sub(lambda match: values[match.group(1)], text)


def _template_text(name: str) -> str:
    return (
        resources.files("mexc_core.cli")
        .joinpath("templates", "plugin", f"{name}.tmpl")
        .read_text(encoding="utf-8")
    )


def _usable(target: Path) -> bool:
    """Whether ``target`` exists (an empty directory); refuse a file, a directory
    with something in it, and a place below a file."""
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise CommandFailed(
                    f"{parent} is not a directory; choose another place with --dir",
                    status=EXIT_USAGE,
                )
            break
    if target.is_dir():
        try:
            empty = not any(target.iterdir())
        except OSError as exc:
            raise CommandFailed(
                f"cannot read {target}: {exc.strerror or exc}; choose another place with --dir"
            ) from None
        if not empty:
            raise CommandFailed(
                f"{target} exists and is not empty; choose a new directory with --dir, "
                "or remove that one",
                status=EXIT_USAGE,
            )
        return True
    if target.exists():
        raise CommandFailed(
            f"{target} exists and is not a directory; choose another with --dir",
            status=EXIT_USAGE,
        )
    return False


def write_project(names: Names, target: Path) -> list[Path]:
    """Write the project of ``names`` into ``target``; the files written, relative.

    A new directory is written beside ``target`` first and renamed when complete;
    an existing empty directory (``--dir .``) is written in place and emptied
    again if writing fails.

    :raises CommandFailed: ``target`` is a file or a non-empty directory, or lies
        below a file (status 2); it cannot be written (status 1): nothing is left
        behind then.
    """
    existing = _usable(target)
    files = [(source, Path(render(path, names))) for source, path in FILES]
    try:
        if existing:
            root = target
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            root = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    except OSError as exc:
        raise CommandFailed(
            f"cannot create {target}: {exc.strerror or exc}; choose a writable place with --dir"
        ) from None
    try:
        for source, path in files:
            out = root / path
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(render(_template_text(source), names), encoding="utf-8")
        if not existing:
            root.chmod(0o777 & ~_umask())  # mkdtemp made it private
            root.rename(target)
    except OSError as exc:
        _remove(root, keep=existing)
        raise CommandFailed(
            f"cannot write {target}: {exc.strerror or exc}; choose a writable place with --dir"
        ) from None
    return [path for _, path in files]


def _remove(root: Path, *, keep: bool) -> None:
    """Remove ``root`` (with ``keep``: only what is in it), as far as possible."""
    if not keep:
        shutil.rmtree(root, ignore_errors=True)
        return
    for child in root.iterdir():
        if child.is_dir():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def _umask() -> int:
    """The process's umask (mkdtemp makes its directory 0700; the project should not be)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _cmd_new(args: argparse.Namespace) -> int:
    names = Names.of(args.name)
    installed = installed_plugins()
    if names.name in installed:
        raise CommandFailed(
            f"a plugin named {names.name!r} is installed already ({installed[names.name]}), "
            "and plugins are chosen by name; choose another name",
            status=EXIT_USAGE,
        )
    target: Path = args.dir if args.dir is not None else Path(names.distribution)
    written = write_project(names, target)
    print(f"wrote the project of the plugin {names.name!r} into {target}:")
    for path in written:
        print(f"  {target / path}")
    print(
        f"next, in a checkout of mexc-core: `uv pip install --no-deps -e {target}` and "
        f"`uv run pytest {target / 'tests'}`; with mexc-core from your package index: "
        f'`uv sync` and `uv run pytest` in {target}. The guide: "Writing a plugin, start '
        'to finish" (docs/plugin_guide.rst)'
    )
    return EXIT_OK


def add_parser(sub: argparse._SubParsersAction[CommandParser]) -> None:
    """The ``plugin`` subcommand group: ``mexc plugin new NAME``."""
    group = sub.add_parser(
        "plugin",
        help="create a plugin project of your own (mexc plugin new NAME)",
        description="Tools for writing plugins; `mexc plugins` lists the installed ones.",
    )
    add_debug_argument(group)
    commands = group.add_subparsers(dest="plugin_command", required=True, metavar="COMMAND")
    p = commands.add_parser(
        "new",
        help="write a ready project for a new plugin",
        description="Write the project of a new plugin: pyproject.toml (entry point in "
        "mexc.plugins), README.md, src/mexc_plugin_NAME/ (a typed plugin class) and "
        "tests/ that run it against the simulator. Nothing is written over.",
    )
    p.add_argument(
        "name",
        type=plugin_name,
        metavar="NAME",
        help="the plugin's name (lowercase, e.g. alerts): its entry point, --plugin NAME, "
        "and its key in the client's options",
    )
    p.add_argument(
        "--dir",
        type=Path,
        metavar="DIR",
        help="the project's directory, new or empty (default: ./mexc-plugin-NAME)",
    )
    add_debug_argument(p)
    # errors read `mexc plugin new: ...` (main prefixes them with the command)
    p.set_defaults(run=_cmd_new, command="plugin new")
