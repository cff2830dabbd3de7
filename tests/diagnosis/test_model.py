"""The diagnosis record's JSON object: every field, in field order, the same as before."""

from __future__ import annotations

import dataclasses
import json

import pytest

from adaptive_llm.diagnosis.model import Diagnosis, Excerpt, Location

_WITH = Diagnosis(
    path="/logs/job.log",
    category="python_exception",
    summary="ValueError: bad at train.py:3",
    excerpt=Excerpt(text="a\nb", spans=[(1, 2), (5, 5)]),
    signature="0123456789abcdef",
    tokens=2,
    error_type="ValueError",
    message="bad",
    location=Location("/src/train.py", 3, "> 3 | x()"),
    suggestion="look",
    elapsed_ms=1.5,
)
_WITHOUT = Diagnosis("/l", "unknown", "No failure", Excerpt(text=""), "fedcba9876543210", 0)


@pytest.mark.parametrize("diag", [_WITH, _WITHOUT])
def test_to_dict_is_every_field_as_json(diag: Diagnosis) -> None:
    expected = dataclasses.asdict(diag)
    expected["excerpt"]["spans"] = [list(span) for span in diag.excerpt.spans]
    data = diag.to_dict()
    assert list(data) == [f.name for f in dataclasses.fields(Diagnosis)]
    assert data == expected
    assert json.dumps(data) == json.dumps(expected)
    assert Diagnosis.from_dict(json.loads(json.dumps(data))) == diag
