"""Unit conversions for the weather-station feed."""

from __future__ import annotations

FACTORS: dict[str, float] = {"mm": 1.0, "cm": 10.0, "in": 25.4}


def to_mm(value: float, unit: str) -> float:
    factor = FACTORS.get(unit)
    return value * factor


def parse_reading(text: str) -> tuple[float, str]:
    number, unit = text.split()
    return float(number), unit
