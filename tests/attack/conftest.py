"""Markers for the independent attack tests of issue #12."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "attack_slow: an attack test that takes several seconds")
