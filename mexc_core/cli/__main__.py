"""``python -m mexc_core.cli``: the ``mexc`` command."""

import sys

from mexc_core.cli import main

sys.exit(main())
