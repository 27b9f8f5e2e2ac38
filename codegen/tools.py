"""The pinned tools codegen runs, and the checks that they are the pinned ones.

Generation is byte-for-byte reproducible only if every tool that touches the output
is the same version everywhere: protoc (shipped inside ``grpcio-tools``), the
betterproto2 compiler plugin, and ruff, which that plugin calls to sort imports and
format its output. The pins below must match the ``dev`` dependency group in
``pyproject.toml``; :func:`check_pins` refuses to run with anything else.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from importlib import metadata
from pathlib import Path

PINS: dict[str, str] = {
    "betterproto2-compiler": "0.10.1",
    "betterproto2": "0.10.0",
    "grpcio-tools": "1.85.1",
    "ruff": "0.17.6",
}

PLUGIN = "protoc-gen-python_betterproto2"

# The betterproto2 compiler pipes its output through `ruff check --fix` and
# `ruff format` in the current directory. We run it in an empty directory with this
# configuration, so neither the project's nor a user's ruff settings change the
# bytes it writes.
_ISOLATED_RUFF_CONFIG = 'line-length = 88\ntarget-version = "py311"\n'


class ToolError(RuntimeError):
    """A pinned tool is missing, has the wrong version, or failed."""


def check_pins() -> None:
    """Fail unless every pinned distribution is installed at its pinned version."""
    wrong = []
    for dist, pinned in PINS.items():
        try:
            found = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found = "not installed"
        if found != pinned:
            wrong.append(f"{dist}: pinned {pinned}, found {found}")
    if wrong:
        raise ToolError("codegen needs its pinned tools (run `uv sync`):\n  " + "\n  ".join(wrong))


def _scripts_dir() -> Path:
    return Path(sysconfig.get_path("scripts"))


def _tool_env() -> dict[str, str]:
    env = dict(os.environ)
    # The compiler finds ruff on PATH: make it the ruff of this environment.
    env["PATH"] = str(_scripts_dir()) + os.pathsep + env.get("PATH", "")
    return env


def protoc(proto_root: Path, files: list[str], args: list[str]) -> None:
    """Run the protoc bundled with grpcio-tools on ``files`` (paths relative to root)."""
    plugin = shutil.which(PLUGIN, path=str(_scripts_dir()))
    if plugin is None:  # pragma: no cover - only when the environment is broken
        raise ToolError(f"{PLUGIN} not found in {_scripts_dir()} (run `uv sync`)")
    with tempfile.TemporaryDirectory(prefix="mexc-codegen-cwd-") as cwd:
        Path(cwd, "ruff.toml").write_text(_ISOLATED_RUFF_CONFIG, encoding="utf-8")
        cmd = [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"--proto_path={proto_root}",
            f"--plugin={PLUGIN}={plugin}",
            *args,
            *files,
        ]
        proc = subprocess.run(
            cmd, cwd=cwd, env=_tool_env(), capture_output=True, text=True, check=False
        )
    if proc.returncode != 0:
        raise ToolError(f"protoc failed ({proc.returncode}):\n{proc.stderr}{proc.stdout}")


def ruff_format(source: str) -> str:
    """Format generated Python with the pinned ruff, isolated from any user config."""
    ruff = shutil.which("ruff", path=str(_scripts_dir()))
    if ruff is None:  # pragma: no cover
        raise ToolError("ruff not found in this environment (run `uv sync`)")
    with tempfile.TemporaryDirectory(prefix="mexc-codegen-fmt-") as cwd:
        Path(cwd, "ruff.toml").write_text(
            'line-length = 100\ntarget-version = "py311"\n', encoding="utf-8"
        )
        proc = subprocess.run(
            [ruff, "format", "--stdin-filename", "generated.py", "-"],
            input=source,
            cwd=cwd,
            env=_tool_env(),
            capture_output=True,
            text=True,
            check=False,
        )
    if proc.returncode != 0:
        raise ToolError(f"ruff format failed on generated code:\n{proc.stderr}")
    return proc.stdout
