"""Diagnoses of real failures in many languages: the category and the line to open.

Each case of ``langs/cases`` (see ``langs/harness.py``) is checked twice: on its recorded log,
through ``adaptive-llm diagnose --json`` with the workspace copied to a new folder (the log's
absolute paths are from another machine), and live, running the real tool now. Without the tool
the live test skips, and under ``CI=true`` it fails (``.ci/run`` installs the tools), unless the
case is ``optional`` (a tool no registry here ships).
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from langs.harness import Case, load_cases, missing, run

from adaptive_llm.cli import main
from adaptive_llm.diagnosis import CATEGORIES, diagnose

CASES = load_cases()


def _check(case: Case, found: dict[str, Any], workspace: Path) -> None:
    where = found.get("location")
    assert found["category"] == case.category, (found["category"], found["summary"])
    assert found["suggestion"] or case.category == "unknown", "a next step for every category"
    if case.file is None:
        return
    assert where is not None, f"no location; summary: {found['summary']}"
    expected = (workspace / case.file).resolve()
    assert (Path(where["file"]).resolve(), where["line"]) == (expected, case.line), (
        where["file"],
        where["line"],
        found["summary"],
    )
    assert where.get("source"), "the workspace file's lines are attached"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_recorded_log(case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    workspace = tmp_path / "project"
    shutil.copytree(case.work, workspace)
    assert main(["diagnose", "--json", "--workdir", str(workspace), str(case.log)]) == 0
    _check(case, json.loads(capsys.readouterr().out), workspace)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_live(case: Case, tmp_path: Path) -> None:
    gone = missing(case)
    if gone:
        reason = f"{', '.join(gone)} not found (.ci/run installs it)"
        if os.environ.get("CI") == "true" and not case.optional:
            pytest.fail(reason)
        pytest.skip(reason)
    workspace = tmp_path / "project"
    code, output = run(case, workspace)
    assert code != 0, output[-2000:]
    log = tmp_path / f"{case.name}.log"
    found = diagnose(log, workdir=workspace).to_dict()
    _check(case, found, workspace)


def test_the_cases_cover_many_languages_and_categories() -> None:
    languages = Counter(c.language for c in CASES)
    assert len(CASES) >= 60 and len(languages) >= 12, languages
    assert {c.category for c in CASES} <= set(CATEGORIES)
    for case in CASES:
        assert case.log.is_file(), f"{case.name}: record it (langs/record.py)"
        assert case.file is None or (case.work / case.file).is_file(), case.name
    located = [c for c in CASES if c.file is not None]
    assert len(located) >= 0.9 * len(CASES), "most cases name the line to open"
