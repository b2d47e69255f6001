"""What this machine can afford: how many movies EASE can model in its memory.

EASE inverts a dense movies x movies matrix, so its memory grows with the square of the movies it
models. Fitting at 25M ratings over 10,000 movies peaked ~2.6 GB above the index (the sparse and
dense Gram matrix, the inverse and LAPACK's copy, the float32 weights: ~26 bytes per cell), so a
budget of half the machine's memory at 32 bytes per cell keeps a safe margin.
"""

from __future__ import annotations

import math
import os

BYTES_PER_CELL = 32  # peak bytes of fitting EASE per cell of its movies x movies matrix
MEMORY_SHARE = 0.5  # of the machine's memory, what one fit may take


def memory_budget() -> int:
    """Bytes a fit may take: ``MEMORY_SHARE`` of the machine's physical memory."""
    return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") * MEMORY_SHARE)


def movies_that_fit(budget: int) -> int:
    """How many movies an EASE fit within ``budget`` bytes can model."""
    return math.isqrt(max(budget, 0) // BYTES_PER_CELL)
