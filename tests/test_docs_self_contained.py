"""The project speaks for itself: no file points at documents its users do not have.

Every fact the code needs is in ``docs/`` (the protocol, the faults, the rules of
the code); a comment or page that cites a file outside the repository leaves its
reader with nothing. The fault sections and protocol sections cited across the
repository exist, and the protocol page holds MEXC's signing test vector.

The tree is read with :mod:`pathlib` (no git needed), leaving out what is not
source: virtual environments, caches, build output, lock files and binary files.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from mexc_core.rest import sign

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

#: Directory names that never hold project source.
_SKIP_DIRS = frozenset(
    {
        ".git",
        ".venv",
        "venv",
        "__pycache__",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        ".hypothesis",
        ".tox",
        ".nox",
        "node_modules",
        "htmlcov",
        "dist",
        "build",
    }
)
#: Paths (relative to the root) that are build output.
_SKIP_PATHS = frozenset({Path("docs/_build")})
_SKIP_SUFFIXES = frozenset({".lock", ".png", ".jpg", ".ico", ".gif", ".pdf", ".pb", ".bin"})

# Every pattern is built from pieces so that this file does not match itself.
_OUTSIDE = re.compile(
    "|".join(
        [
            "shared" + "/",
            "MEXC_" + "PROTOCOL",
            "FAULTS" + r"\.md",
            "DESIGN" + r"\.md",
            "STYLE" + r"\.md",
            r"\bspec" + "/",
            # the outside documents by their titles or section numbers
            "(?i:fact" + " sheet)",
            "(?i:fault" + " catalogue)",
            r"(?i:\bspec(?:'s)?" + r" (?:section|vectors?|samples?)\b)",
        ]
    )
)
#: "docs/faults.rst section 5", ":doc:`faults`, section 3", "faults.rst`` sections 12-14".
_FAULT_CITATION = re.compile(
    "faults" + r"(?:\.rst)?`*,?\s+(?:sections?\s+)?(\d+)(?:\s*-\s*(\d+))?(?![\d.])"
)
#: ``docs/protocol.rst``, "Signing" (and "Other section"), possibly across comment lines.
_COMMENT_BREAK = r"\s*(?:#:?\s*)?"
_PROTOCOL_CITATION = re.compile(
    "protocol" + r"\.rst`*," + _COMMENT_BREAK + r'"([^"]{1,80})"'
    rf'(?:{_COMMENT_BREAK}and{_COMMENT_BREAK}"([^"]{{1,80}})")?'
)
#: A numbered section heading of the faults page: "5. An oversized frame" and its underline.
_FAULT_HEADING = re.compile(r"^(\d+)\. \S.*\n-{3,}$", re.MULTILINE)
#: Any section heading of the protocol page.
_HEADING = re.compile(r"^(\S.*)\n[-=~]{3,}$", re.MULTILINE)


def source_files() -> Iterator[Path]:
    """Every text file of the project, found by walking the tree."""
    for path in sorted(ROOT.rglob("*")):
        rel = path.relative_to(ROOT)
        if any(part in _SKIP_DIRS or part.endswith(".egg-info") for part in rel.parts):
            continue
        if any(rel.is_relative_to(skip) for skip in _SKIP_PATHS):
            continue
        if not path.is_file() or path.suffix in _SKIP_SUFFIXES:
            continue
        if path.name.startswith(".coverage"):
            continue
        yield path


def text_of(path: Path) -> str | None:
    """The file's text, or None for a binary file."""
    data = path.read_bytes()
    if b"\0" in data:
        return None
    return data.decode("utf-8", "replace")


def texts() -> Iterator[tuple[Path, str]]:
    for path in source_files():
        text = text_of(path)
        if text is not None:
            yield path, text


def outside_references(text: str) -> list[tuple[int, str]]:
    return [
        (number, line.strip())
        for number, line in enumerate(text.splitlines(), 1)
        if _OUTSIDE.search(line)
    ]


def cited_faults(text: str) -> set[int]:
    cited: set[int] = set()
    for first, last in _FAULT_CITATION.findall(text):
        cited.update(range(int(first), int(last or first) + 1))
    return cited


def cited_protocol_sections(text: str) -> set[str]:
    names: set[str] = set()
    for match in _PROTOCOL_CITATION.finditer(text):
        for name in match.groups():
            if name:
                names.add(" ".join(re.sub(r"\s*\n\s*#?:?", " ", name).split()))
    return names


def fault_sections() -> set[int]:
    page = (DOCS / "faults.rst").read_text(encoding="utf-8")
    return {int(n) for n in _FAULT_HEADING.findall(page)}


def test_the_walk_sees_the_project_and_nothing_else() -> None:
    found = {p.relative_to(ROOT).as_posix() for p in source_files()}
    assert {"README.md", "pyproject.toml", "proto/README.md", "codegen/channels.toml"} <= found
    assert "docs/protocol.rst" in found
    assert Path(__file__).relative_to(ROOT).as_posix() in found
    assert not any(name.startswith((".venv/", ".git/", "docs/_build/")) for name in found)
    assert not any("__pycache__" in name or name.endswith(".lock") for name in found)


def test_no_file_points_outside_the_repository() -> None:
    hits = [
        f"{path.relative_to(ROOT)}:{number}: {line}"
        for path, text in texts()
        for number, line in outside_references(text)
    ]
    assert not hits, "references to files users do not have:\n" + "\n".join(hits)


def test_the_faults_page_numbers_its_sections() -> None:
    assert fault_sections() == set(range(1, 18))


def test_every_cited_fault_is_a_section_of_the_faults_page() -> None:
    sections = fault_sections()
    missing: list[str] = []
    seen: set[int] = set()
    for path, text in texts():
        cited = cited_faults(text)
        seen |= cited
        missing += [f"{path.relative_to(ROOT)}: section {n}" for n in sorted(cited - sections)]
    assert seen, "nothing cites the faults page by section"
    assert not missing, "cited fault sections missing from docs/faults.rst:\n" + "\n".join(missing)


def test_every_cited_protocol_section_is_a_heading_of_the_protocol_page() -> None:
    page = (DOCS / "protocol.rst").read_text(encoding="utf-8")
    headings = set(_HEADING.findall(page))
    missing: list[str] = []
    seen: set[str] = set()
    for path, text in texts():
        cited = cited_protocol_sections(text)
        seen |= cited
        missing += [f"{path.relative_to(ROOT)}: {name!r}" for name in sorted(cited - headings)]
    assert seen, "nothing cites the protocol page by section"
    assert not missing, "cited sections missing from docs/protocol.rst:\n" + "\n".join(missing)


def test_the_protocol_page_holds_the_signing_vector_the_code_reproduces() -> None:
    page = (DOCS / "protocol.rst").read_text(encoding="utf-8")
    total = (
        "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=11"
        "&recvWindow=5000&timestamp=1644489390087"
    )
    expected = "fd3e4e8543c5188531eb7279d68ae7d26a573d0fc5ab0d18eb692451654d837a"
    assert sign("45d0b3c26f2644f19bfb98b07741b2f5", total) == expected
    assert "45d0b3c26f2644f19bfb98b07741b2f5" in page
    assert total in page
    assert expected in page


@pytest.mark.parametrize(
    ("line", "bad"),
    [
        ("see " + "spec" + "/FAULTS" + ".md 5", True),
        ("(" + "STYLE" + ".md 2)", True),
        ("../" + "shared" + "/DESIGN" + ".md", True),
        ("the " + "MEXC_" + "PROTOCOL sheet", True),
        ("the protocol " + "fact" + " sheet, section 2.1", True),
        ("# " + "Spec" + " section 5, vector V1", True),
        ("see docs/faults.rst section 5", False),
        ('see docs/protocol.rst, "Signing"', False),
        ("a spectrum/of things", False),
        ("the hook spec's parameters", False),
    ],
)
def test_the_outside_pattern_sees_what_it_must(line: str, bad: bool) -> None:
    assert bool(outside_references(line)) is bad


# The samples below name the pages through these, so the scans above skip them.
_FAULTS = "docs/" + "faults.rst"
_PROTOCOL = "docs/" + "protocol.rst"


@pytest.mark.parametrize(
    ("text", "cited"),
    [
        (f"(``{_FAULTS}`` section 5)", {5}),
        (f"``{_FAULTS}`` sections 12-14", {12, 13, 14}),
        ("(:doc:`" + "faults`, section 3)", {3}),
        (":doc:`" + "faults` section 10", {10}),
        (f"{_FAULTS} section 18", {18}),
        ("the faults page", set()),
    ],
)
def test_fault_citations_are_read(text: str, cited: set[int]) -> None:
    assert cited_faults(text) == cited


@pytest.mark.parametrize(
    ("text", "cited"),
    [
        (f'(``{_PROTOCOL}``, "Signing")', {"Signing"}),
        (
            f'(``{_PROTOCOL}``, "Frames and control messages" and\n"Limits and timeouts")',
            {"Frames and control messages", "Limits and timeouts"},
        ),
        (f'(``{_PROTOCOL}``, "Limits and\n#: timeouts")', {"Limits and timeouts"}),
        (f'{_PROTOCOL}, "Nope"', {"Nope"}),
    ],
)
def test_protocol_citations_are_read(text: str, cited: set[str]) -> None:
    assert cited_protocol_sections(text) == cited
