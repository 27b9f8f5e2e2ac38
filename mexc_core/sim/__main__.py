"""``python -m mexc_core.sim [options]``: the same as ``mexc sim [options]``."""

from __future__ import annotations

import sys

from mexc_core.cli import main

if __name__ == "__main__":
    sys.exit(main(["sim", *sys.argv[1:]]))
