"""bench/engine_ab.py end to end on a tiny corpus: both workers run, every log is timed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_engine_ab_times_every_log_with_both_engines(tmp_path: Path) -> None:
    corpora = tmp_path / "corpora"
    failed = corpora / "logchunks" / "logs" / "Python" / "a@b" / "failed"
    failed.mkdir(parents=True)
    (failed / "1.log").write_text(
        'Traceback (most recent call last):\n  File "x.py", line 2\nKeyError: 1\n'
    )
    (failed / "2.log").write_text("ok\n" * 50 + "error: it broke\n")
    (corpora / "cidiff" / "c_1").mkdir(parents=True)
    (corpora / "cidiff" / "c_1" / "fail.log").write_text("src/a.c:3:5: error: boom\n")
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "engine_ab.py"), "--baseline", str(ROOT),
         "--corpora", str(corpora), "--repeat", "1"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    doc = json.loads(out.stdout)
    assert doc["logs"] == 3
    for engine in ("now", "baseline_engine"):
        assert (
            0
            < doc[engine]["wall_ms_p50"]
            <= doc[engine]["wall_ms_p95"]
            <= doc[engine]["wall_ms_max"]
        )
    assert doc["ratio_now_over_baseline"]["wall_total"] > 0


def test_engine_ab_refuses_a_baseline_without_the_engine(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "engine_ab.py"), "--baseline", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode != 0
    assert "no adaptive_llm/diagnosis" in out.stderr
