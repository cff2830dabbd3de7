"""Plate-reader samples."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Sample:
    well: str
    absorbance: float


def load_samples(path: Path) -> list[Sample]:
    with path.open(newline="") as f:
        return [Sample(row["well"], float(row["absorbance"])) for row in csv.DictReader(f)]


def blank_corrected(samples: list[Sample], blank: float) -> list[Sample]:
    return [Sample(s.well, s.absorbance - blank) for s in samples]
