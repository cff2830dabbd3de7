import pytest

from labdata.samples import blank_corrected


def test_blank_correction(plate):
    samples, blank = plate
    corrected = blank_corrected(samples, blank)
    assert corrected[0].absorbance == pytest.approx(samples[0].absorbance - blank)


def test_well_names(plate):
    samples, _ = plate
    assert [s.well for s in samples][:2] == ["A1", "A2"]
