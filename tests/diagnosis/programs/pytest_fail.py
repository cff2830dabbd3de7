"""Tests run by pytest in a subprocess: one fails with an assertion."""


def mean(values):
    return sum(values) / len(values)


def test_mean():
    assert mean([1, 2, 3]) == 2


def test_mean_float():
    assert mean([1, 2]) == 1  # the failing assertion
