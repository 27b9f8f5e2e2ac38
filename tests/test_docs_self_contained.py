"""The project speaks for itself: no file points at documents its users do not have.

Every fact the code needs is in ``docs/`` (the protocol, the faults, the rules of
the code); a comment or page that cites a file outside the repository leaves its
reader with nothing. The fault numbers cited across the repository exist on the
faults page, and the protocol page holds MEXC's signing test vector.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from mexc_core.rest import sign

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

# Built from pieces so this file does not match itself.
_OUTSIDE = re.compile(
    "|".join(
        [
            "shared" + "/",
            "MEXC_" + "PROTOCOL",
            "FAULTS" + r"\.md",
            "DESIGN" + r"\.md",
            "STYLE" + r"\.md",
            r"\bspec" + "/",
        ]
    )
)
_FAULT_CITATION = re.compile(r"faults(?:\.rst)?[`\"]*,? (?:section |fault )?(\d+)(?:-(\d+))?")
_SKIP_SUFFIXES = {".lock", ".png", ".ico", ".pb", ".bin"}


def tracked_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    paths = [ROOT / name.decode() for name in listed if name]
    return [p for p in paths if p.is_file() and p.suffix not in _SKIP_SUFFIXES]


def text_of(path: Path) -> str | None:
    data = path.read_bytes()
    if b"\0" in data:
        return None
    return data.decode("utf-8", "replace")


def test_no_file_points_outside_the_repository() -> None:
    hits = []
    for path in tracked_files():
        text = text_of(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if _OUTSIDE.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not hits, "references to files users do not have:\n" + "\n".join(hits)


def test_every_cited_fault_is_on_the_faults_page() -> None:
    page = (DOCS / "faults.rst").read_text(encoding="utf-8")
    sections = {int(n) for n in re.findall(r"^\.\. _fault-(\d+):$", page, re.M)}
    assert sections == set(range(1, 18))
    cited: set[int] = set()
    for path in tracked_files():
        text = text_of(path)
        if text is None:
            continue
        for first, last in _FAULT_CITATION.findall(text):
            cited.update(range(int(first), int(last or first) + 1))
    assert cited, "no code cites the faults page"
    assert cited <= sections


def test_the_protocol_page_holds_the_signing_vector_the_code_reproduces() -> None:
    page = (DOCS / "protocol.rst").read_text(encoding="utf-8")
    total = (
        "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=11"
        "&recvWindow=5000&timestamp=1644489390087"
    )
    expected = sign("45d0b3c26f2644f19bfb98b07741b2f5", total)
    assert expected == "fd3e4e8543c5188531eb7279d68ae7d26a573d0fc5ab0d18eb692451654d837a"
    assert total in page
    assert expected in page


@pytest.mark.parametrize(
    ("line", "bad"),
    [
        ("see " + "spec" + "/FAULTS" + ".md 5", True),
        ("(" + "STYLE" + ".md 2)", True),
        ("../" + "shared" + "/DESIGN" + ".md", True),
        ("see docs/faults.rst 5", False),
        ("a spectrum/of things", False),
    ],
)
def test_the_pattern_sees_what_it_must(line: str, bad: bool) -> None:
    assert bool(_OUTSIDE.search(line)) is bad
