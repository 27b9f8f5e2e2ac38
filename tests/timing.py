"""The one factor every real-time wait in the tests is scaled by.

Set ``MEXC_TEST_TIME_FACTOR`` (default 1) above 1 on a slow machine: timeouts of
loopback tests stretch instead of failing. Protocol timing is tested on virtual
clocks and does not use it.
"""

from __future__ import annotations

import os

FACTOR = float(os.environ.get("MEXC_TEST_TIME_FACTOR", "1"))
