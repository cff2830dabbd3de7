"""Diagnoses in worker processes (issue 17): the same result as in the kernel, workers started
lazily and reused, a crashed or hung worker is one diagnosis's error (never a lost job, never a
stuck manager), a worker that cannot start falls back to threads, and ``close`` reaps them."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from adaptive_llm import DiagnosisError, Job, JobState, RunManager
from adaptive_llm._core.aio import within
from adaptive_llm.diagnosis import Diagnosis, diagnose
from adaptive_llm.managers.diagnosis_pool import DiagnosisPool, EngineError, WorkerError

CASES = Path(__file__).parent / "diagnosis" / "langs" / "cases"
FAIL = [sys.executable, "-c", "print('about to fail'); raise ValueError('bad value 42')"]


def same(a: Diagnosis, b: Diagnosis) -> bool:
    return dataclasses.replace(a, elapsed_ms=0.0) == dataclasses.replace(b, elapsed_ms=0.0)


def pids(pool: DiagnosisPool) -> list[int]:
    return [w.process.pid for w in (*pool._idle, *pool._busy) if w.alive]


async def until(check: Any, what: str, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def test_the_pool_gives_what_the_engine_gives_and_reuses_its_workers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    logs = sorted(CASES.glob("*/output.log"))[:24]
    assert logs
    pool = DiagnosisPool(2)
    assert pool.workers == 0  # nothing started before the first diagnosis
    try:
        results = await asyncio.gather(*(pool.run(p, max_tokens=2000) for p in logs))
        for path, got in zip(logs, results, strict=True):
            assert same(got, diagnose(path, max_tokens=2000)), path
        assert pool.started == 2 and pool.workers == 2
        # A relative path and workdir are read from this process's working directory.
        monkeypatch.chdir(logs[0].parent)
        got = await pool.run("output.log", workdir=".", state="FAILED")
        want = diagnose(logs[0], workdir=logs[0].parent, state="FAILED")
        assert same(got, want)
        assert pool.started == 2
    finally:
        await pool.close()
    assert pool.workers == 0


async def test_an_unreadable_log_is_a_diagnosis_error_and_the_worker_stays(
    tmp_path: Path,
) -> None:
    pool = DiagnosisPool(1)
    try:
        with pytest.raises(DiagnosisError, match="no such file"):
            await pool.run(tmp_path / "missing.log")
        (tmp_path / "dir.log").mkdir()
        with pytest.raises(DiagnosisError):
            await pool.run(tmp_path / "dir.log")
        good = tmp_path / "good.log"
        good.write_text("Traceback (most recent call last):\nValueError: x\n")
        assert (await pool.run(good)).error_type == "ValueError"
        assert pool.started == 1
    finally:
        await pool.close()


async def test_a_killed_worker_is_this_diagnosis_error_and_the_next_one_works(
    tmp_path: Path,
) -> None:
    log = tmp_path / "job.log"
    log.write_text("Traceback (most recent call last):\nKeyError: 'lr'\n")
    pool = DiagnosisPool(1)
    try:
        await pool.run(log)
        (pid,) = pids(pool)
        os.kill(pid, signal.SIGSTOP)  # it cannot answer: the kill comes while it is busy
        task = asyncio.ensure_future(pool.run(log))
        await until(lambda: pool._busy, "the request to be sent")
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(WorkerError, match="stopped: killed by SIGKILL"):
            await task
        again = await pool.run(log)
        assert again.error_type == "KeyError"
        assert pool.started == 2 and pids(pool) != [pid]
    finally:
        await pool.close()


async def test_a_hung_worker_is_stopped_after_the_timeout(tmp_path: Path) -> None:
    log = tmp_path / "job.log"
    log.write_text("Traceback (most recent call last):\nKeyError: 'lr'\n")
    pool = DiagnosisPool(1, timeout=1.0)
    try:
        await pool.run(log)
        (pid,) = pids(pool)
        os.kill(pid, signal.SIGSTOP)
        with pytest.raises(WorkerError, match="longer than 1 s"):
            await pool.run(log)
        assert pool.workers == 0
        with pytest.raises(ProcessLookupError):  # killed and reaped, not left stopped
            os.kill(pid, 0)
        assert (await pool.run(log)).error_type == "KeyError"
    finally:
        await pool.close()


@pytest.mark.parametrize(
    "command",
    [["/nonexistent/python3"], [sys.executable, "-c", "import sys; sys.exit(3)"]],
    ids=["no-interpreter", "exits-at-once"],
)
async def test_workers_that_cannot_start_fall_back_to_threads(
    tmp_path: Path, command: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    log = tmp_path / "job.log"
    log.write_text("Traceback (most recent call last):\nKeyError: 'lr'\n")
    pool = DiagnosisPool(2, command=command)
    try:
        first, second = await asyncio.gather(pool.run(log), pool.run(log))
        assert first.error_type == second.error_type == "KeyError"
        assert pool.fallback_reason is not None
        assert pool.started == 0 and pool.workers == 0
        warnings = [r for r in caplog.records if "kernel's threads" in r.getMessage()]
        assert len(warnings) == 1  # said once, not once per diagnosis
    finally:
        await pool.close()


async def test_close_stops_a_running_diagnosis_and_reaps_every_worker(tmp_path: Path) -> None:
    log = tmp_path / "job.log"
    log.write_text("Traceback (most recent call last):\nKeyError: 'lr'\n")
    pool = DiagnosisPool(2)
    await asyncio.gather(pool.run(log), pool.run(log))
    workers = list(pool._idle)
    os.kill(workers[-1].process.pid, signal.SIGSTOP)  # the one taken next
    task = asyncio.ensure_future(pool.run(log))
    await until(lambda: pool._busy, "the request to be sent")
    await pool.close()
    with pytest.raises(WorkerError):
        await task
    assert all(w.process.returncode is not None for w in workers)
    with pytest.raises(WorkerError, match="closed"):
        await pool.run(log)


async def test_a_crashed_worker_loses_no_job_and_a_new_run_diagnoses_again(
    workdir: Path,
) -> None:
    rm = RunManager([Job("bad", FAIL)], workdir=workdir, poll_interval=0.1)
    lm = rm.llm_manager
    # The worker is started and stopped (SIGSTOP) before the job fails: its diagnosis hangs,
    # and the pool's bound stops it.
    lm.pool.timeout = 1.0
    warm = workdir / "warm.log"
    warm.write_text("ValueError: warm\n")
    await lm.pool.run(warm)
    (pid,) = pids(lm.pool)
    os.kill(pid, signal.SIGSTOP)
    rm.start()
    try:
        await rm.wait(timeout=60)
        assert rm.job_manager.state("bad") is JobState.FAILED
        diagnosis = lm.cached("bad")
        assert diagnosis is not None and "longer than 1 s" in diagnosis.summary
        assert rm.store.diagnoses.get("bad", 1) is None  # not kept: a new run tries again
    finally:
        await rm.close()
    again = RunManager([], workdir=workdir, poll_interval=0.1)
    again.start()
    try:
        await again.wait(timeout=60)
        found = again.llm_manager.cached("bad")
        assert found is not None and found.error_type == "ValueError"
        assert "bad value 42" in (found.message or "")
        assert again.store.diagnoses.get("bad", 1) is not None
        assert len(again.store.jobs.attempts("bad")) == 1  # the job was not run again
    finally:
        await again.close()


async def test_a_diagnosis_cancelled_while_its_worker_starts_leaves_no_worker(
    tmp_path: Path,
) -> None:
    log = tmp_path / "job.log"
    log.write_text("Traceback (most recent call last):\nKeyError: 'lr'\n")
    pool = DiagnosisPool(1)
    task = asyncio.ensure_future(pool.run(log))
    await until(lambda: pool._starting, "the worker to be started")
    (worker,) = pool._starting
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await pool.close()
    # reaped by close itself, not later by the child watcher (when the loop may be closed)
    assert worker.process.returncode is not None

    def gone() -> bool:
        try:
            os.kill(worker.process.pid, 0)
        except ProcessLookupError:
            return True
        return False

    await until(gone, "the starting worker to be ended and reaped")


NO_WORKERS = ["/nonexistent/python3"]
#: Options on which the real engine raises (its own exception, the same on every try).
RAISES = {"max_tokens": "many"}


async def test_the_engine_raising_is_the_same_engine_error_in_a_worker_and_in_a_thread(
    tmp_path: Path,
) -> None:
    log = tmp_path / "job.log"
    log.write_text("Traceback (most recent call last):\nKeyError: 'lr'\n")
    in_worker, in_thread = DiagnosisPool(1), DiagnosisPool(1, command=NO_WORKERS)
    try:
        errors = []
        for pool in (in_worker, in_thread):
            with pytest.raises(EngineError, match=r"^TypeError: '>' not supported") as caught:
                await pool.run(log, **RAISES)
            errors.append(str(caught.value))
            assert (await pool.run(log)).error_type == "KeyError"  # and the pool goes on
        assert errors[0] == errors[1]
        assert in_worker.fallback_reason is None and in_worker.started == 1  # not a crash
        assert in_thread.fallback_reason is not None
    finally:
        await in_worker.close()
        await in_thread.close()


@pytest.mark.parametrize("where", ["worker", "thread"])
async def test_the_engine_raising_is_a_stored_diagnosis_in_a_worker_and_in_a_thread(
    workdir: Path, where: str
) -> None:
    """A worker that crashes or hangs is transient (not stored, see above); the engine's own
    exception is its verdict on the log, kept like any diagnosis wherever it ran."""
    rm = RunManager([Job("bad", FAIL)], workdir=workdir, poll_interval=0.1)
    lm = rm.llm_manager
    lm.max_tokens = RAISES["max_tokens"]  # type: ignore[assignment]
    if where == "thread":
        lm.pool.command = NO_WORKERS
    rm.start()
    try:
        await rm.wait(timeout=60)
        diagnosis = lm.cached("bad")
        assert diagnosis is not None
        assert "the diagnosis engine failed: TypeError: '>' not supported" in diagnosis.summary
        stored = rm.store.diagnoses.get("bad", 1)
        assert stored is not None and stored["summary"] == diagnosis.summary
        assert (lm.pool.fallback_reason is None) == (where == "worker")
    finally:
        await rm.close()


async def test_workers_that_could_not_start_are_tried_again_after_a_back_off(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = tmp_path / "job.log"
    log.write_text("Traceback (most recent call last):\nKeyError: 'lr'\n")
    fixed, tries = tmp_path / "fixed", tmp_path / "tries"
    # A real start command that fails (exit 3) until ``fixed`` exists, counting its starts.
    script = f'echo x >> {tries}; test -e {fixed} || exit 3; exec "$0" "$@"'
    command = ["sh", "-c", script, *DiagnosisPool(1).command]

    def started() -> int:
        return len(tries.read_text().splitlines()) if tries.exists() else 0

    pool = DiagnosisPool(1, command=command, retry_start=1.0)
    try:
        assert (await pool.run(log)).error_type == "KeyError"  # in a thread
        assert pool.fallback_reason is not None and started() == 1
        await pool.run(log)
        assert started() == 1  # not tried again for every diagnosis
        await asyncio.sleep(1.1)
        await pool.run(log)
        assert started() == 2 and pool.fallback_reason is not None  # tried again, failed
        await asyncio.sleep(1.1)
        await pool.run(log)
        assert started() == 2  # the back-off doubled: 2 s now
        fixed.touch()
        await asyncio.sleep(1.0)
        assert (await pool.run(log)).error_type == "KeyError"
        assert started() == 3 and pool.fallback_reason is None
        assert pool.started == 1 and pool.workers == 1  # back in a worker process
        await pool.run(log)
        assert started() == 3 and pool.started == 1  # and it is reused
        warnings = [r for r in caplog.records if "kernel's threads" in r.getMessage()]
        assert len(warnings) == 1
    finally:
        await pool.close()


async def test_a_diagnosis_in_a_thread_is_bounded_in_time_and_so_are_stuck_threads(
    tmp_path: Path,
) -> None:
    fifo = tmp_path / "job.log"
    os.mkfifo(fifo)  # nobody writes: the engine blocks opening it, in a thread it cannot leave
    good = tmp_path / "good.log"
    good.write_text("Traceback (most recent call last):\nKeyError: 'lr'\n")
    pool = DiagnosisPool(2, command=NO_WORKERS, timeout=0.5)

    def threads() -> int:
        return sum(t.name.startswith("adaptive-llm-diagnosis") for t in threading.enumerate())

    def release() -> None:  # a writer that opens and closes: the blocked readers read EOF
        with contextlib.suppress(OSError):  # ENXIO: no reader has it open (yet, or any more)
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))

    try:
        loop = asyncio.get_running_loop()
        began = loop.time()
        slow = [pool.run(fifo) for _ in range(2)]
        outcomes = await within(asyncio.gather(*slow, return_exceptions=True), 10)
        assert loop.time() - began < 5
        assert [type(o) for o in outcomes] == [WorkerError] * 2, outcomes
        for outcome in outcomes:
            assert "longer than 0.5 s" in str(outcome) and "thread" in str(outcome)
        assert pool.stuck_threads == 2 and threads() == 2
        # Two threads hold the two first; a third is refused at once (not a third thread).
        # (Asked for together with them, it may start while only one of them is stuck: then
        # it runs in a thread of its own, as it should, and this would race.)
        began = loop.time()
        with pytest.raises(WorkerError, match="all still held"):
            await within(pool.run(fifo), 1)
        assert loop.time() - began < 0.4 and threads() == 2
        with pytest.raises(WorkerError, match="all still held"):
            await within(pool.run(good), 1)
        assert threads() == 2
        while pool.stuck_threads:
            release()
            await asyncio.sleep(0.05)
        assert (await within(pool.run(good), 10)).error_type == "KeyError"
        assert threads() <= 4  # 2 * size at most, ever
    finally:
        deadline = asyncio.get_running_loop().time() + 10
        while pool.stuck_threads and asyncio.get_running_loop().time() < deadline:
            release()
            await asyncio.sleep(0.05)
        await pool.close()
