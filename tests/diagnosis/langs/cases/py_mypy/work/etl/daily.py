"""Daily precipitation totals."""

from __future__ import annotations

from etl.units import parse_reading, to_mm


def daily_total(readings: list[str]) -> float:
    total = 0.0
    for text in readings:
        value, unit = parse_reading(text)
        total += to_mm(value, unit)
    return total


def summary(readings: list[str]) -> str:
    return "total: " + daily_total(readings) + " mm"
