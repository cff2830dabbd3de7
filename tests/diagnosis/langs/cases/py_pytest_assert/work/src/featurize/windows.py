"""Sliding windows over a time series."""

from __future__ import annotations


def sliding_windows(series: list[float], size: int, step: int = 1) -> list[list[float]]:
    """Every full window of ``size`` values, ``step`` apart."""
    windows = []
    for start in range(0, len(series) - size, step):
        windows.append(series[start : start + size])
    return windows


def rolling_mean(series: list[float], size: int) -> list[float]:
    return [sum(w) / size for w in sliding_windows(series, size)]
