"""``python -m mexc_core.cli``: the ``mexc`` command."""

import sys

from mexc_core.cli import main

if __name__ == "__main__":
    sys.exit(main())
