"""LocalScheduler through a RunManager: real processes ending in every way a job can end."""

from __future__ import annotations

import asyncio
import itertools
import signal
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from adaptive_llm import Job, JobState, LocalScheduler, RunManager

MakeRM = Callable[..., RunManager]


async def run_one(make_rm: MakeRM, job: Job, **kwargs: object) -> RunManager:
    rm = make_rm([job], **kwargs)
    rm.start()
    await rm.wait(timeout=60)
    return rm


def log_text(rm: RunManager, name: str) -> str:
    return Path(rm.job_manager.attempts[name].log_path).read_text()


async def test_success(make_rm: MakeRM, proc: Any) -> None:
    job = Job("ok", proc.py("import sys; print('hello out'); print('hello err', file=sys.stderr)"))
    rm = await run_one(make_rm, job)
    attempt = rm.job_manager.attempts["ok"]
    assert attempt.state is JobState.COMPLETED
    assert attempt.exit_code == 0
    assert attempt.signal is None
    assert attempt.number == 1
    assert attempt.started_at is not None and attempt.ended_at is not None
    assert attempt.ended_at >= attempt.started_at
    text = log_text(rm, "ok")
    assert "hello out" in text and "hello err" in text
    assert Path(attempt.log_path) == rm.log_dir / "ok" / "attempt-1.log"
    assert await rm.llm_manager.diagnosis("ok") is None
    # The store agrees with the in-memory view.
    (stored,) = rm.store.jobs.attempts("ok")
    assert stored.state is JobState.COMPLETED and stored.exit_code == 0
    states = [state for _, state, _, _ in rm.store.jobs.transitions("ok")]
    assert states[0] is JobState.PENDING and states[-1] is JobState.COMPLETED
    rows = {row["name"]: row for row in rm.status()}
    assert rows["ok"]["state"] == "COMPLETED" and rows["ok"]["exit_code"] == 0


async def test_python_exception(make_rm: MakeRM, proc: Any, workdir: Path) -> None:
    (workdir / "boom.py").write_text(
        textwrap.dedent(
            """
            def inner(x):
                return 1 / x

            def outer():
                return inner(0)

            print("starting work")
            outer()
            """
        )
    )
    rm = await run_one(make_rm, Job("boom", [proc.python, "boom.py"]))
    attempt = rm.job_manager.attempts["boom"]
    assert attempt.state is JobState.FAILED
    assert attempt.exit_code == 1
    assert attempt.signal is None
    text = log_text(rm, "boom")
    assert "starting work" in text and "ZeroDivisionError" in text
    # wait() returns only when the diagnosis is cached; asking returns that same object.
    cached = rm.llm_manager.cached("boom")
    assert cached is not None
    first = await rm.llm_manager.diagnosis("boom")
    second = await rm.llm_manager.diagnosis("boom")
    assert first is cached and second is cached
    assert rm.llm_manager.computed == 1
    # The engine (issue 3) refines categories; the runtime's part is the log it was given.
    assert "ZeroDivisionError: division by zero" in cached.excerpt.text
    assert rm.store.diagnoses.get("boom", 1) is not None


async def test_time_limit_ends_the_process_group(make_rm: MakeRM, proc: Any, workdir: Path) -> None:
    pidfile = workdir / "grandchild.pid"
    code = textwrap.dedent(
        f"""
        import subprocess, time
        child = subprocess.Popen(["sleep", "1000"])
        with open({str(pidfile)!r}, "w") as fh:
            fh.write(f"{{child.pid}}\\n")
        time.sleep(1000)
        """
    )
    job = Job("slow", proc.py(code), resources={"time_limit": 1})  # type: ignore[arg-type]
    rm = await run_one(make_rm, job)
    attempt = rm.job_manager.attempts["slow"]
    assert attempt.state is JobState.TIMEOUT
    assert attempt.reason is not None and "time limit" in attempt.reason
    grandchild = proc.read_pid(pidfile)
    assert proc.wait_gone(grandchild), f"grandchild {grandchild} survived the time limit"
    diagnosis = rm.llm_manager.cached("slow")
    assert diagnosis is not None


async def test_time_limit_kills_a_job_that_ignores_sigterm(make_rm: MakeRM, proc: Any) -> None:
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
        " print('ignoring TERM', flush=True); time.sleep(1000)"
    )
    job = Job("stubborn", proc.py(code), resources={"time_limit": 1})  # type: ignore[arg-type]
    rm = await run_one(make_rm, job)
    attempt = rm.job_manager.attempts["stubborn"]
    assert attempt.state is JobState.TIMEOUT
    assert attempt.signal == signal.SIGKILL


async def test_memory_limit(make_rm: MakeRM, proc: Any) -> None:
    code = "print('allocating', flush=True); data = bytearray(2 * 1024**3); print(len(data))"
    job = Job("hog", proc.py(code), resources={"memory": "300M"})  # type: ignore[arg-type]
    rm = await run_one(make_rm, job)
    attempt = rm.job_manager.attempts["hog"]
    assert attempt.state is JobState.OUT_OF_MEMORY, attempt
    assert attempt.reason is not None and "memory" in attempt.reason
    assert "MemoryError" in log_text(rm, "hog")
    diagnosis = rm.llm_manager.cached("hog")
    assert diagnosis is not None and "MemoryError" in diagnosis.excerpt.text


async def test_memory_limit_not_reached(make_rm: MakeRM, proc: Any) -> None:
    code = "data = bytearray(10 * 1024**2); print('fine', len(data))"
    job = Job("small", proc.py(code), resources={"memory": "300M"})  # type: ignore[arg-type]
    rm = await run_one(make_rm, job)
    assert rm.job_manager.attempts["small"].state is JobState.COMPLETED


async def test_killed_by_a_signal(make_rm: MakeRM, proc: Any) -> None:
    code = (
        "import os, signal; print('about to die', flush=True); os.kill(os.getpid(), signal.SIGKILL)"
    )
    rm = await run_one(make_rm, Job("killed", proc.py(code)))
    attempt = rm.job_manager.attempts["killed"]
    assert attempt.state is JobState.FAILED
    assert attempt.signal == signal.SIGKILL
    assert attempt.exit_code is None
    assert attempt.reason is not None and "SIGKILL" in attempt.reason
    assert rm.llm_manager.cached("killed") is not None


async def test_segfault(make_rm: MakeRM, proc: Any) -> None:
    code = "import ctypes; ctypes.string_at(0)"
    rm = await run_one(make_rm, Job("segv", proc.py(code)))
    attempt = rm.job_manager.attempts["segv"]
    assert attempt.state is JobState.FAILED
    assert attempt.signal == signal.SIGSEGV
    assert attempt.reason is not None and "SIGSEGV" in attempt.reason


async def test_unknown_command(make_rm: MakeRM) -> None:
    rm = await run_one(make_rm, Job("nocmd", ["adaptive-llm-no-such-command-xyz", "--flag"]))
    attempt = rm.job_manager.attempts["nocmd"]
    assert attempt.state is JobState.FAILED
    assert attempt.exit_code == 127
    text = log_text(rm, "nocmd")
    assert "command not found" in text and "adaptive-llm-no-such-command-xyz" in text
    diagnosis = rm.llm_manager.cached("nocmd")
    assert diagnosis is not None
    described = " ".join(
        part or "" for part in (diagnosis.summary, diagnosis.message, diagnosis.excerpt.text)
    )
    assert "not found" in described


async def test_unknown_command_in_a_shell_string(make_rm: MakeRM) -> None:
    rm = await run_one(make_rm, Job("nocmd-sh", "adaptive-llm-no-such-command-xyz"))
    attempt = rm.job_manager.attempts["nocmd-sh"]
    assert attempt.state is JobState.FAILED
    assert attempt.exit_code == 127
    assert "not found" in log_text(rm, "nocmd-sh")


async def test_shell_string_command(make_rm: MakeRM) -> None:
    command = "echo one && echo two >&2; for i in 1 2 3; do echo line$i; done | wc -l; exit 3"
    rm = await run_one(make_rm, Job("shell", command))
    attempt = rm.job_manager.attempts["shell"]
    assert attempt.state is JobState.FAILED
    assert attempt.exit_code == 3
    lines = log_text(rm, "shell").split()
    assert lines[:2] == ["one", "two"] or set(lines[:2]) == {"one", "two"}
    assert "3" in lines


async def test_env_and_cwd_are_honoured(make_rm: MakeRM, proc: Any, workdir: Path) -> None:
    (workdir / "sub").mkdir()
    code = "import os; print('cwd=' + os.getcwd()); print('FOO=' + os.environ['FOO'])"
    jobs = [
        Job("relative", proc.py(code), cwd="sub", env={"FOO": "bar baz"}),
        Job("default", proc.py(code), env={"FOO": "x"}),
        Job("absolute", proc.py(code), cwd=workdir / "sub", env={"FOO": "abs"}),
    ]
    rm = make_rm(jobs)
    rm.start()
    await rm.wait(timeout=60)
    resolved = rm.workdir
    assert log_text(rm, "relative").splitlines() == [f"cwd={resolved / 'sub'}", "FOO=bar baz"]
    assert log_text(rm, "default").splitlines() == [f"cwd={resolved}", "FOO=x"]
    assert log_text(rm, "absolute").splitlines()[1] == "FOO=abs"
    # The job's own environment is added to (not instead of) the parent's.
    assert all(rm.job_manager.state(j.name) is JobState.COMPLETED for j in jobs)


async def test_concurrency_limit(make_rm: MakeRM, proc: Any, workdir: Path) -> None:
    code = textwrap.dedent(
        """
        import os, sys, time
        start = time.time()
        time.sleep(0.4)
        with open(sys.argv[1], "w") as fh:
            fh.write(f"{start} {time.time()}")
        """
    )
    script = workdir / "stamp.py"
    script.write_text(code)
    jobs = [Job(f"j{i}", [proc.python, str(script), f"j{i}.ts"]) for i in range(3)]
    rm = make_rm(jobs, scheduler=LocalScheduler(max_concurrent=1, kill_grace=0.5))
    rm.start()
    # While queued, a job is PENDING, never RUNNING alongside another.
    seen_running: list[int] = []

    async def watch() -> None:
        while not rm.job_manager.all_final():
            running = [j.name for j in jobs if rm.job_manager.state(j.name) is JobState.RUNNING]
            seen_running.append(len(running))
            await asyncio.sleep(0.02)

    await watch()
    await rm.wait(timeout=60)
    assert max(seen_running, default=0) <= 1
    spans = sorted(tuple(map(float, (workdir / f"j{i}.ts").read_text().split())) for i in range(3))
    for (_, end), (next_start, _) in itertools.pairwise(spans):
        assert next_start >= end, f"jobs overlapped: {spans}"
    assert all(rm.job_manager.state(j.name) is JobState.COMPLETED for j in jobs)


async def test_earlier_attempt_files_are_separate(make_rm: MakeRM, proc: Any) -> None:
    """Each attempt has its own log, spec and status file beside it."""
    rm = await run_one(make_rm, Job("files", proc.py("print('x')")))
    log = Path(rm.job_manager.attempts["files"].log_path)
    assert log.with_suffix(".status.json").exists()
    assert log.with_suffix(".spec.json").exists()
    assert log_text(rm, "files") == "x\n"
