"""Percentiles of latency samples (linear interpolation between closest ranks, as numpy's default)."""

from __future__ import annotations

import math


def percentile(values, p: float) -> float | None:
    ordered = sorted(v for v in values if v is not None)
    if not ordered:
        return None
    if len(ordered) == 1:
        return float(ordered[0])
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (rank - low))


def summary(values) -> dict:
    """``{"n", "p50", "p95", "p99", "max", "mean"}`` of ``values`` (None where there is none)."""
    values = [v for v in values if v is not None]
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": max(values) if values else None,
        "mean": sum(values) / len(values) if values else None,
    }
