"""The ``adaptive-llm`` command as a user runs it: demo, status, diagnose."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from adaptive_llm import Job, RunManager
from adaptive_llm.jobs.model import Attempt, JobState
from adaptive_llm.store import Store

CLI = [sys.executable, "-m", "adaptive_llm.cli"]


def run_cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)


def test_demo_approve_all_then_status_json(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    demo = run_cli("demo", "--headless", "--approve-all", "--workdir", str(workdir))
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "All 4 jobs ended as the demo intends:" in demo.stdout
    assert "[change 1 of 2] Change the resources of job simulate" in demo.stdout
    assert "simulate: attempt 2 COMPLETED" in demo.stdout

    status = run_cli("status", "--workdir", str(workdir), "--json")
    assert status.returncode == 0, status.stderr
    jobs = {row["name"]: row for row in json.loads(status.stdout)["jobs"]}
    assert jobs["prepare_data"]["state"] == "COMPLETED"
    assert jobs["train"]["state"] == "FAILED"
    assert jobs["train"]["category"] == "python_exception"
    assert jobs["train"]["location"]["file"].endswith("data_utils.py")
    assert jobs["simulate"]["state"] == "COMPLETED"
    assert jobs["simulate"]["attempt"] == 2
    for row in jobs.values():
        assert Path(row["log_path"]).is_file()
    # The commands the demo prints at its end run as printed (from a shell in this directory).
    printed = [line.split(":", 1)[1].strip() for line in demo.stdout.splitlines()
               if line.startswith(("  jobs and diagnoses:", "  diagnose any log:"))]  # fmt: skip
    assert len(printed) == 2, demo.stdout
    for command in printed:
        ran = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=120)
        assert ran.returncode == 0, (command, ran.stderr)
    # The first, timed-out attempt's log is kept beside the second one.
    assert (workdir / ".adaptive_llm/logs/simulate/attempt-1.log").is_file()

    # A real failed job's log from the demo, diagnosed from the command line.
    train_log = jobs["train"]["log_path"]
    diag = run_cli("diagnose", train_log, "--json", "--workdir", str(workdir))
    assert diag.returncode == 0, diag.stderr
    data = json.loads(diag.stdout.splitlines()[0])
    assert data["category"] == "python_exception"
    assert data["error_type"] == "KeyError"
    assert data["location"]["line"] == 7
    assert data["suggestion"]


def test_demo_refuses_a_foreign_directory(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    result = run_cli("demo", "--headless", "--workdir", str(tmp_path))
    assert result.returncode != 0
    assert "not a demo workspace" in (result.stderr + result.stdout)
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_status_without_a_store_is_a_clear_error(tmp_path: Path) -> None:
    result = run_cli("status", "--workdir", str(tmp_path))
    assert result.returncode == 2
    assert "no jobs recorded" in result.stderr
    assert "Traceback" not in result.stderr


def _heavy_modules_after(code: str, packages: tuple[str, ...]) -> str:
    """Run ``code`` in a fresh interpreter; its stdout ends with the ``packages`` it imported."""
    code += (
        "\nimport sys\n"
        f"print('HEAVY', sorted(m for m in sys.modules if m.split('.')[0] in {packages!r}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_diagnose_does_not_import_langchain_or_widgets(tmp_path: Path) -> None:
    log = tmp_path / "job.log"
    log.write_text('Traceback (most recent call last):\n  File "x.py", line 1\nValueError: bad\n')
    code = (
        "from adaptive_llm.cli import main\n"
        f"assert main(['diagnose', {str(log)!r}, '--json']) == 0\n"
    )
    heavy = ("langchain", "langchain_core", "langgraph", "ipywidgets", "aiosqlite")
    assert "HEAVY []" in _heavy_modules_after(code, heavy)


async def test_attempt_recorded_without_scheduler_id_is_submitted_again(tmp_path: Path) -> None:
    """A crash between recording an attempt and handing it to the scheduler loses no job."""
    job = Job("orphan", [sys.executable, "-c", "print('ran')"])
    state = tmp_path / ".adaptive_llm"
    store = Store(state / "store.sqlite")
    store.jobs.upsert([job])
    store.jobs.add_attempt(
        Attempt(
            job="orphan",
            number=1,
            state=JobState.PENDING,
            log_path=str(state / "logs/orphan/attempt-1.log"),
            submitted_at=time.time(),
        ),
        "local",
    )
    store.close()

    rm = RunManager([], workdir=tmp_path, poll_interval=0.1)
    rm.start()
    try:
        await rm.wait(timeout=30)
        attempts = rm.store.jobs.attempts("orphan")
        assert [a.state for a in attempts] == [JobState.COMPLETED]
        assert attempts[0].scheduler_id is not None
        assert Path(attempts[0].log_path).read_text() == "ran\n"
    finally:
        await rm.close()


def test_run_manager_without_a_model_imports_no_langchain(tmp_path: Path) -> None:
    """Creating a RunManager (with a retry policy) is light: LangChain loads for a chat only."""
    code = (
        "from adaptive_llm import RetryPolicy, RunManager\n"
        "policy = RetryPolicy(attempts=2, initial_delay=0.1, max_delay=1.0)\n"
        f"rm = RunManager([], workdir={str(tmp_path)!r}, llm_retry=policy)\n"
        "assert rm.llm_manager.retry is policy\n"
    )
    heavy = ("langchain", "langchain_core", "langgraph")
    assert "HEAVY []" in _heavy_modules_after(code, heavy)


def test_output_cut_short_by_a_pipe_is_no_traceback(tmp_path: Path) -> None:
    """`adaptive-llm status --json | head -c 10`: the reader stops early (far more output
    than a pipe holds); a quiet stop, no BrokenPipeError trace."""
    from adaptive_llm import Job

    store = Store(tmp_path / ".adaptive_llm" / "store.sqlite")
    store.jobs.upsert([Job(f"job-{i}", ["true"]) for i in range(2000)])
    store.close()
    command = (
        f"{sys.executable} -m adaptive_llm.cli status --json --workdir {tmp_path} | head -c 10"
    )
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60)
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, result.stderr
    assert result.stdout.startswith('{\n  "jobs"')
