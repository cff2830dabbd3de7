"""The process holding the RunManager dies (kill -9); a new RunManager on the workdir takes over.

Jobs run under a runner in a session of their own, so they outlive the kernel: the new
RunManager re-attaches to a runner that is still alive and records the job's real outcome; an
attempt whose runner vanished too is marked LOST with a reason.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from adaptive_llm import Attempt, Job, JobState, RunManager
from adaptive_llm.store import Store

MakeRM = Callable[..., RunManager]

LONG = (
    "import time; print('long job started', flush=True); time.sleep(3);"
    " raise RuntimeError('long job failed late')"
)
QUICK = "raise SystemExit('quick job failed at once')"

JOBS = [
    Job("long", [sys.executable, "-c", LONG]),
    Job("quick", [sys.executable, "-c", QUICK]),
]

SCRIPT = """
import asyncio, sys
from adaptive_llm import Job, LocalScheduler, RunManager

LONG = {long!r}
QUICK = {quick!r}

async def main():
    rm = RunManager(
        [Job("long", [sys.executable, "-c", LONG]), Job("quick", [sys.executable, "-c", QUICK])],
        workdir=sys.argv[1],
        scheduler=LocalScheduler(kill_grace=0.5),
        poll_interval=0.1,
    )
    rm.start()
    while rm.job_manager.state("long").value != "RUNNING":
        await asyncio.sleep(0.01)
    print("RUNNING", flush=True)
    await asyncio.sleep(120)

asyncio.run(main())
"""


def status_file(workdir: Path, job: str, number: int = 1) -> Path:
    return workdir / ".adaptive_llm" / "logs" / job / f"attempt-{number}.status.json"


async def crash_a_runmanager(workdir: Path, tmp_path: Path) -> None:
    """Run SCRIPT until the long job is RUNNING, then kill -9 it."""
    script = tmp_path / "holder.py"
    script.write_text(SCRIPT.format(long=LONG, quick=QUICK))
    holder = await asyncio.create_subprocess_exec(
        sys.executable, str(script), str(workdir), stdout=asyncio.subprocess.PIPE
    )
    try:
        assert holder.stdout is not None
        line = await asyncio.wait_for(holder.stdout.readline(), 30)
        assert line.strip() == b"RUNNING", line
    finally:
        if holder.returncode is None:
            holder.send_signal(signal.SIGKILL)
        await holder.wait()
    assert holder.returncode == -signal.SIGKILL


async def runner_status(workdir: Path, proc: Any) -> dict[str, Any]:
    """The long job's status file, once its runner has written RUNNING with pids."""
    path = status_file(workdir, "long")

    def ready() -> bool:
        try:
            return "pid" in json.loads(path.read_text())
        except (OSError, ValueError):
            return False

    await proc.until(ready, timeout=20, what="the runner's status file")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


@pytest.mark.usefixtures("kill_leftovers")
@pytest.mark.parametrize("same_jobs", [False, True], ids=["no-jobs", "same-jobs"])
async def test_crash_then_reattach(
    make_rm: MakeRM, workdir: Path, tmp_path: Path, proc: Any, same_jobs: bool
) -> None:
    await crash_a_runmanager(workdir, tmp_path)
    status = await runner_status(workdir, proc)
    assert not proc.gone(status["runner_pid"]), "the runner died with the kernel"

    rm = make_rm(JOBS if same_jobs else [])
    rm.start()
    # Every job and attempt is known at once, from the store.
    assert set(rm.job_manager.jobs) == {"long", "quick"}
    assert {a.job: a.number for a in rm.store.jobs.attempts()} == {"long": 1, "quick": 1}
    await rm.wait(timeout=60)

    long = rm.job_manager.attempts["long"]
    assert long.number == 1
    assert long.state is JobState.FAILED, long
    assert long.exit_code == 1
    assert "long job failed late" in read(long.log_path)
    quick = rm.job_manager.attempts["quick"]
    assert quick.number == 1 and quick.state is JobState.FAILED and quick.exit_code == 1

    # Nothing was submitted again.
    assert [(a.job, a.number) for a in rm.store.jobs.attempts()] == [("long", 1), ("quick", 1)]
    # Both failures are diagnosed by the new manager.
    long_diagnosis = await rm.llm_manager.diagnosis("long")
    assert long_diagnosis is not None and "long job failed late" in long_diagnosis.excerpt.text
    assert rm.llm_manager.cached("quick") is not None
    assert rm.store.diagnoses.get("long", 1) is not None
    transitions = [state for _, state, _, _ in rm.store.jobs.transitions("long")]
    assert transitions[0] is JobState.PENDING and transitions[-1] is JobState.FAILED
    assert proc.wait_gone(status["runner_pid"])


@pytest.mark.usefixtures("kill_leftovers")
async def test_crash_with_the_runner_killed_too_is_lost(
    make_rm: MakeRM, workdir: Path, tmp_path: Path, proc: Any
) -> None:
    await crash_a_runmanager(workdir, tmp_path)
    status = await runner_status(workdir, proc)
    os.kill(status["runner_pid"], signal.SIGKILL)
    os.killpg(status["pid"], signal.SIGKILL)
    assert proc.wait_gone(status["runner_pid"]) and proc.wait_gone(status["pid"])

    rm = make_rm(JOBS)
    rm.start()
    await rm.wait(timeout=60)
    long = rm.job_manager.attempts["long"]
    assert long.number == 1
    assert long.state is JobState.LOST
    assert long.reason is not None and "vanished" in long.reason
    assert long.exit_code is None
    assert rm.job_manager.attempts["quick"].state is JobState.FAILED
    assert [(a.job, a.number) for a in rm.store.jobs.attempts()] == [("long", 1), ("quick", 1)]
    diagnosis = rm.llm_manager.cached("long")
    assert diagnosis is not None
    row = {r["name"]: r for r in rm.status()}["long"]
    assert row["state"] == "LOST" and "vanished" in row["reason"]


def read(path: str) -> str:
    return Path(path).read_text()


SLOW_START_SCRIPT = """
import asyncio, sys
from adaptive_llm import Job, LocalScheduler, RunManager

async def main():
    job = Job("once", [sys.executable, "-c", sys.argv[3]])
    rm = RunManager(
        [job], workdir=sys.argv[1], scheduler=LocalScheduler(python=sys.argv[2]), poll_interval=0.1
    )
    rm.start()
    while "once" not in rm.job_manager.attempts:
        await asyncio.sleep(0.01)
    print("LAUNCHED", flush=True)
    await asyncio.sleep(120)

asyncio.run(main())
"""


@pytest.mark.usefixtures("kill_leftovers")
async def test_crash_before_the_runner_wrote_its_status(
    make_rm: MakeRM, workdir: Path, tmp_path: Path, proc: Any
) -> None:
    """A runner that is still starting up when the kernel dies is re-attached, not run twice."""
    slow_python = tmp_path / "slow-python"
    slow_python.write_text(f'#!/bin/sh\nsleep 1\nexec "{sys.executable}" "$@"\n')
    slow_python.chmod(0o755)
    runs = workdir / "runs.txt"
    code = f"open({str(runs)!r}, 'a').write('ran\\n'); print('job output')"
    script = tmp_path / "holder.py"
    script.write_text(SLOW_START_SCRIPT)
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        str(workdir),
        str(slow_python),
        code,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        line = await asyncio.wait_for(holder.stdout.readline(), 30)
        assert line.strip() == b"LAUNCHED", line
    finally:
        if holder.returncode is None:
            holder.send_signal(signal.SIGKILL)
        await holder.wait()
    assert not status_file(workdir, "once").exists()  # the runner is still starting

    rm = make_rm([])
    rm.start()
    await rm.wait(timeout=60)
    attempt = rm.job_manager.attempts["once"]
    assert attempt.state is JobState.COMPLETED, attempt
    assert read(attempt.log_path) == "job output\n"
    await asyncio.sleep(1.5)  # past the slow start of the first runner
    assert read(str(runs)) == "ran\n", "the attempt ran twice"
    assert [(a.job, a.number) for a in rm.store.jobs.attempts()] == [("once", 1)]


async def test_crash_during_submission_submits_again(
    make_rm: MakeRM, workdir: Path, proc: Any
) -> None:
    """An attempt recorded before the crash but whose scheduler id never was is not stuck."""
    # The state a kill -9 leaves between recording the attempt and submitting it.
    runs = workdir / "runs.txt"
    job = Job("half", proc.py(f"open({str(runs)!r}, 'a').write('ran\\n'); print('half done')"))
    store = Store(workdir / ".adaptive_llm" / "store.sqlite")
    store.jobs.upsert([job])
    log = workdir / ".adaptive_llm" / "logs" / "half" / "attempt-1.log"
    store.jobs.add_attempt(
        Attempt("half", 1, JobState.PENDING, str(log), submitted_at=time.time()), "local"
    )
    store.close()
    rm = make_rm([])
    rm.start()
    await rm.wait(timeout=30)
    attempt = rm.job_manager.attempts["half"]
    assert attempt.state is JobState.COMPLETED, attempt
    assert attempt.scheduler_id is not None
    assert read(attempt.log_path) == "half done\n"
    assert read(str(runs)) == "ran\n"
    assert [(a.job, a.number) for a in rm.store.jobs.attempts()] == [("half", 1)]
