"""bench/manager_scale.py end to end with tiny numbers: many causes, a CPU hog, scripted LLM."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "manager_scale.py"


def test_manager_scale_diagnoses_every_failure_once_per_cause_under_a_hog(proc: Any) -> None:
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--jobs", "300", "--fail", "40", "--causes", "5",
         "--hog", "1", "--llm", "scripted", "--poll-interval", "0.1", "--no-baseline"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)  # one JSON document, nothing else on stdout
    assert doc["config"]["package"] == str(ROOT / "adaptive_llm")  # this checkout's code
    failure = doc["failure"]
    assert failure["diagnoses_cached"] == failure["diagnoses_stored"] == 40
    assert doc["distinct_signatures"] == failure["distinct_signatures"] == 5
    assert failure["causes_with_one_signature"] == 5
    assert failure["signatures_match_causes"] is True
    assert doc["llm_calls"] == doc["llm"]["model_calls"] == 5  # one call per signature
    assert doc["goals"]["llm_calls"]["met"] is True
    assert doc["llm"]["all_diagnosed_llm"] is True
    hog = doc["config"]["hog"]
    assert len(hog["pids"]) == hog["processes"] == 1
    assert hog["cpu_s"][0] > 0  # it did burn a CPU
    assert all(proc.gone(pid) for pid in hog["pids"])
    assert doc["memory"]["rss_all_submitted_mib"] > 0
    assert doc["gc"]["gen0"]["collections"] > 0  # the pause recorder saw the run's collections
    assert "baseline_inline" not in doc and doc["config"]["baseline"] == "skipped"


def test_manager_scale_refuses_more_causes_than_failures() -> None:
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--jobs", "100", "--fail", "10", "--causes", "50"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 2
    assert "--causes must be between 1 and --fail (10)" in out.stderr
    assert "Traceback" not in out.stderr
    assert out.stdout == ""
