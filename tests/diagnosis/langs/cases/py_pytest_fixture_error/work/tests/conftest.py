from pathlib import Path

import pytest

from labdata.samples import load_samples

DATA = Path(__file__).parent / "data"


@pytest.fixture
def plate():
    samples = load_samples(DATA / "plate_01.csv")
    blanks = {s.well: s.absorbance for s in samples if s.well.startswith("H")}
    return samples, blanks["H12"]
