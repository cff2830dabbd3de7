"""Fixtures of the diagnosis tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from diag_helpers import Job


@pytest.fixture
def job(tmp_path: Path) -> Job:
    workdir = tmp_path / "work"
    workdir.mkdir()
    return Job(workdir)
