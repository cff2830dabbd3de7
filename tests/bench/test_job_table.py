"""bench/job_table.py end to end with tiny numbers: the paged table's figures and checks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "job_table.py"


def run(*extra: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--jobs", "400", "--fail", "40", "--causes", "4", *extra],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert isinstance(doc, dict)
    return doc


def test_job_table_bench_measures_one_page_of_widgets_and_a_streamed_status() -> None:
    doc = run("--no-baseline")
    assert doc["config"]["package"] == str(ROOT / "adaptive_llm")  # this checkout's code
    table = doc["table"]
    assert table["jobs"] == 400 and table["failures"] == 40
    assert table["update_checked"] is True and table["find_checked"] is True
    assert 0 < table["widgets_created"] < 400 * 10  # one page of rows, not a row per job
    for key in ("first_render_ms", "update_1000_ms", "page_turn_ms", "filter_failed_ms"):
        assert table[key] > 0
    for key in ("status", "status_json"):
        figures = doc[key]
        assert figures["exit"] == 0 and figures["bytes"] > 400 * 40  # every row printed
        assert 0 < figures["first_row_s"] <= figures["wall_s"]
        assert figures["package"] == str(ROOT / "adaptive_llm")
    for key in ("status", "status_json", "status_empty", "status_json_empty"):
        figures = doc[key]
        # The peak three ways: the kernel's two counters agree; Python's allocations are
        # part of them (the interpreter's own memory and the libraries' are not traced).
        assert figures["exit"] == 0
        assert abs(figures["peak_rss_mib"] - figures["vmhwm_mib"]) < 2
        assert 0 < figures["tracemalloc_peak_mib"] < figures["vmhwm_mib"]
    assert doc["status_empty"]["bytes"] < 200 < doc["status"]["bytes"]  # the heading alone
    assert "baseline" not in doc


def test_job_table_bench_compares_with_a_baseline_tree_in_the_same_run() -> None:
    doc = run("--baseline-ref", "HEAD", "--baseline-jobs", "200")
    baseline = doc["baseline"]
    assert baseline["table_now"]["jobs"] == baseline["table_before"]["jobs"] == 200
    assert baseline["status"]["exit"] == 0 and baseline["status"]["bytes"] > 0
    # The baseline's status ran the extracted tree, not this checkout (the bench runs from
    # it, and ``-m`` put the current directory before PYTHONPATH: both ran this code).
    for key in ("status", "status_json", "status_empty"):
        assert Path(baseline[key]["package"]).parent.name == "tree"
        assert baseline[key]["package"] != str(ROOT / "adaptive_llm")
    # The page's widgets do not grow with the jobs (200 or 400 jobs: the same page); the
    # baseline here is HEAD's tree extracted with git archive, so it builds the same page.
    now, before = baseline["table_now"], baseline["table_before"]
    assert now["widgets_created"] == before["widgets_created"] == doc["table"]["widgets_created"]
    assert doc["ratios"]["widgets_at_200"] == 1.0
