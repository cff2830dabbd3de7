"""``adaptive-llm status`` ends with the failures by cause (the job table's block), with paths
one can paste from where one stands; local jobs have no run section."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from adaptive_llm import Job, RunManager
from adaptive_llm.managers.causes import failures_by_cause

SAME = "import sys\nrows = {}\nprint(rows['lr'])\n"
OTHER = "raise RuntimeError('disk quota exceeded')\n"


async def test_status_lists_failures_by_cause_with_pasteable_paths(
    make_rm: Callable[..., RunManager], workdir: Path, tmp_path: Path
) -> None:
    code = workdir / "code"
    code.mkdir()
    (code / "train.py").write_text(SAME)
    (code / "other.py").write_text(OTHER)
    jobs = [
        Job("a", [sys.executable, "train.py"], cwd=code),
        Job("b", [sys.executable, "train.py"], cwd=code),
        Job("c", [sys.executable, "other.py"], cwd=code),
        Job("ok", [sys.executable, "-c", "print('fine')"], cwd=code),
    ]
    rm = make_rm(jobs)
    rm.start()
    await rm.wait(timeout=60)
    (section,) = failures_by_cause(rm.jobs())
    assert section.run is None and section.states == {} and section.never_ran == ()
    assert [c.jobs for c in section.causes] == [("a", "b"), ("c",)]
    await rm.close()

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "adaptive_llm.cli", "status", "--workdir", str(workdir)],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PWD": str(elsewhere)},
    )
    assert done.returncode == 0, done.stderr
    block = done.stdout.split("\n\nFailures by cause:\n", 1)[1].splitlines()
    train = (code / "train.py").resolve()
    assert block[0] == f"  2 jobs failed with the same KeyError at {train}:3 (a, b)"
    assert block[1].startswith(
        f"  1 job failed with RuntimeError at {(code / 'other.py').resolve()}:1"
    )
    assert len(block) == 2  # no section headings without a DAG run; "ok" is not there
    assert Path(block[0].split(" at ")[1].rsplit(":", 1)[0]).is_file()  # pasteable
