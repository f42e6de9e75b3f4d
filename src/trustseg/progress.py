"""Progress of long loops (random starts, bootstrap replicates) in the log.

Messages go to the ``trustseg`` logger at INFO level: silent in library use
unless the caller configures logging, and written to each job's log file in
the workflow (see :func:`trustseg.stages.configure_logging`).
"""

from __future__ import annotations

import logging
import math
import time

logger = logging.getLogger("trustseg")


class Progress:
    """Log progress about every 10% of ``total`` steps, with an estimate of the time left."""

    def __init__(self, total: int, what: str):
        self.total, self.what = int(total), what
        self.start = time.perf_counter()
        self.every = max(1, math.ceil(self.total / 10))

    def update(self, done: int) -> None:
        """Report that ``done`` of the steps are finished (logs on every tenth or so)."""
        if self.total <= 0 or done <= 0 or (done % self.every and done != self.total):
            return
        elapsed = time.perf_counter() - self.start
        left = elapsed / done * (self.total - done)
        logger.info("%s: %d/%d done (%.0f%%), %.1fs elapsed, about %.1fs left",
                    self.what, done, self.total, 100 * done / self.total, elapsed, left)
