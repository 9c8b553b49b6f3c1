"""Percentiles for the benchmarks and the console's figures, in one definition."""
from __future__ import annotations

import statistics
from typing import Iterable


def percentile(values: Iterable[float], pct: int) -> float:
    """The ``pct``-th percentile (1–99) of ``values``, interpolated between closest ranks.

    The same definition as ``statistics.quantiles(..., method="inclusive")`` (and numpy's
    default): the 50th is the median, the 100th would be the maximum. Raises
    ``ValueError`` for no values or a ``pct`` outside 1–99.
    """
    data = list(values)
    if not data:
        raise ValueError("no values")
    if not 1 <= pct <= 99:
        raise ValueError(f"percentile must be between 1 and 99, not {pct}")
    if len(data) == 1:
        return float(data[0])
    return statistics.quantiles(data, n=100, method="inclusive")[pct - 1]
