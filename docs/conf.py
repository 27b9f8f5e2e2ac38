"""Sphinx configuration of the mexc-core documentation.

Built warning-free in CI with ``uv run sphinx-build -W --keep-going -b html docs docs/_build/html``.
No extension here reaches the network (no intersphinx): the build runs offline.
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
# The repository root for `codegen` (not an installed package) and `mexc_core`;
# sim/ for `mexc_sim` (the simulator's own distribution, a workspace member);
# _ext for the local extension that renders tables from the live schema.
for entry in (str(DOCS / "_ext"), str(ROOT / "sim"), str(ROOT)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

import mexc_core  # noqa: E402 - needs the path above

project = "mexc-core"
author = "mexc-core developers"
copyright = "mexc-core developers"
release = mexc_core.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "mexc_docs",
]

exclude_patterns = ["_build"]
templates_path: list[str] = []

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autodoc_class_signature = "mixed"
# Show the unions by name in signatures instead of spelling out every member.
autodoc_type_aliases = {
    "Body": "mexc_core.messages.Body",
    "Record": "mexc_core.messages.Record",
    "AnyTopic": "mexc_core.channels.AnyTopic",
    "Interval": "mexc_core.channels.Interval",
    "KlineInterval": "mexc_core.channels.KlineInterval",
    "Level": "mexc_core.channels.Level",
    "Timezone": "mexc_core.channels.Timezone",
    "ControlReply": "mexc_core.wire.ControlReply",
}

html_theme = "alabaster"
html_title = f"mexc-core {release}"
html_theme_options = {
    "description": "A sans-IO framework for the MEXC Spot V3 WebSocket API",
    "page_width": "1180px",
    "sidebar_width": "230px",
    "fixed_sidebar": True,
    "show_relbars": True,
}
html_sidebars = {"**": ["about.html", "navigation.html", "relations.html", "searchbox.html"]}
html_show_sourcelink = False
