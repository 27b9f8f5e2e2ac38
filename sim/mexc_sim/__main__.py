"""``python -m mexc_sim [options]``: the same as ``mexc sim [options]``."""

from __future__ import annotations

import sys

from mexc_sim.cli import main

if __name__ == "__main__":
    sys.exit(main())
