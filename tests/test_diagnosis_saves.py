"""Diagnoses are stored in batches (issue 17), yet each one's outcome is its own: a row the
store refuses fails only its own waiter (never the rows written before it, nor the others of
its transaction), and the manager goes on diagnosing and storing."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from adaptive_llm import Job, JobState, RunManager, StoreError
from adaptive_llm.diagnosis import diagnose_without_log
from adaptive_llm.jobs.model import Attempt, AttemptReport
from adaptive_llm.jobs.schedulers.base import Scheduler, SubmitRequest
from adaptive_llm.managers import llm_manager

MakeRM = Any

FAIL = [sys.executable, "-c", "raise ValueError('bad value 42')"]


def refuse(store: Path, job: str) -> None:
    """A trigger in the real store file: SQLite refuses to write this job's diagnoses."""
    with sqlite3.connect(store) as db:
        db.execute(
            f"CREATE TRIGGER refuse_{job} BEFORE INSERT ON diagnoses WHEN NEW.job = '{job}'"
            f" BEGIN SELECT RAISE(ABORT, 'no diagnosis of {job} here'); END"
        )


async def test_a_refused_row_fails_only_its_own_waiter(
    make_rm: MakeRM, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(llm_manager, "SAVE_BATCH", 2)  # five rows: three transactions
    rm = make_rm([])
    refuse(rm.store.path, "j3")
    data = diagnose_without_log("/nowhere.log", "x", state="FAILED").to_dict()
    names = [f"j{i}" for i in range(1, 6)]
    lm = rm.llm_manager
    outcomes = await asyncio.gather(
        *(lm._save(name, 1, data) for name in names), return_exceptions=True
    )
    # j1, j2 were committed before j3's transaction failed; j4 shared it; j5 came after.
    assert outcomes[:2] == [None, None] and outcomes[3:] == [None, None], outcomes
    assert isinstance(outcomes[2], StoreError)
    assert "'j3' attempt 1 was not stored" in str(outcomes[2])
    assert "no diagnosis of j3 here" in str(outcomes[2])
    stored = {job for job, _ in rm.store.diagnoses.offline()}
    assert stored == {"j1", "j2", "j4", "j5"}
    assert lm._batch is None  # nothing left waiting
    # The next batch is written as usual.
    await lm._save("j6", 1, data)
    assert rm.store.diagnoses.get("j6", 1) is not None


async def test_a_diagnosis_the_store_refuses_stands_for_the_run_and_the_loop_goes_on(
    make_rm: MakeRM, caplog: pytest.LogCaptureFixture
) -> None:
    rm: RunManager = make_rm([Job("a", FAIL), Job("b", FAIL), Job("c", FAIL)])
    refuse(rm.store.path, "b")
    rm.start()
    await rm.wait(timeout=60)  # every failure diagnosed, also the one not stored
    lm = rm.llm_manager
    for name in "abc":
        assert rm.job_manager.state(name) is JobState.FAILED
        diagnosis = lm.cached(name)
        assert diagnosis is not None and diagnosis.error_type == "ValueError", name
    assert rm.store.diagnoses.get("a", 1) is not None
    assert rm.store.diagnoses.get("c", 1) is not None
    assert rm.store.diagnoses.get("b", 1) is None  # not stored: a new run diagnoses it again
    errors = [r.getMessage() for r in caplog.records if "was not stored" in r.getMessage()]
    assert len(errors) == 1 and "'b' attempt 1" in errors[0], errors
    assert lm.is_running
    await rm.resubmit("a")  # a later failure is diagnosed and stored
    await rm.wait(timeout=60)
    assert rm.job("a").attempt == 2
    assert rm.store.diagnoses.get("a", 2) is not None


class _FailAtOnce(Scheduler):
    """A cluster where every job fails as soon as it is submitted, its log written."""

    name = "fail-at-once"

    def __init__(self) -> None:
        self.ids = 0

    async def submit(self, request: SubmitRequest) -> str:
        request.log_path.parent.mkdir(parents=True, exist_ok=True)
        request.log_path.write_text(
            f'Traceback (most recent call last):\n  File "train.py", line 3, in <module>\n'
            f"KeyError: 'shard-{request.job.name}'\n"
        )
        self.ids += 1
        return str(self.ids)

    async def poll(self, attempts: Sequence[Attempt]) -> dict[str, AttemptReport]:
        failed = AttemptReport(JobState.FAILED, exit_code=1, ended_at=time.time())
        return {a.scheduler_id: failed for a in attempts if a.scheduler_id}

    async def cancel(self, attempt: Attempt) -> None:
        return None


async def test_a_burst_of_failures_waits_in_a_queue_not_in_a_task_each(make_rm: MakeRM) -> None:
    """300 jobs fail in one poll: the diagnoses wait in a queue taken by as many runners as
    the pool has workers, each written row cached by a callback, so the loop holds about a
    dozen tasks, not 300 (each task is objects the garbage collector walks, and 10,000 of
    them stalled the loop); every one is diagnosed and stored."""
    names = [f"job{i:03d}" for i in range(300)]
    rm: RunManager = make_rm(
        [Job(name, ["python", "train.py"]) for name in names], scheduler=_FailAtOnce()
    )
    most = 0

    async def count_tasks() -> None:
        nonlocal most
        while True:
            most = max(most, len(asyncio.all_tasks()))
            await asyncio.sleep(0)

    counter = asyncio.create_task(count_tasks())
    try:
        rm.start()
        await rm.wait(timeout=120)
    finally:
        counter.cancel()
    lm = rm.llm_manager
    for name in names:
        diagnosis = lm.cached(name)
        assert diagnosis is not None and diagnosis.error_type == "KeyError", name
    assert len(rm.store.diagnoses.offline()) == 300
    assert most < 30, f"{most} tasks at once for 300 failures"
    # Asked for again while queued or done: the one diagnosis, not a second computation.
    computed = lm.computed
    assert (await lm.diagnosis("job007")) is lm.cached("job007")
    assert lm.computed == computed == 300


async def test_closing_during_a_burst_leaves_no_diagnosis_waiting(make_rm: MakeRM) -> None:
    """Closed while most of a burst is still queued: close returns, whoever waits for a
    queued diagnosis is told (cancelled, not left waiting), and every diagnosis cached is
    stored."""
    names = [f"job{i:03d}" for i in range(200)]
    rm: RunManager = make_rm(
        [Job(name, ["python", "train.py"]) for name in names], scheduler=_FailAtOnce()
    )
    lm = rm.llm_manager
    rm.start()
    deadline = time.monotonic() + 60
    while lm.computed < 5:
        assert time.monotonic() < deadline, "no diagnosis began"
        await asyncio.sleep(0.01)
    waiting = asyncio.ensure_future(lm.diagnosis(names[-1]))
    await asyncio.sleep(0)
    await asyncio.wait_for(rm.close(), 30)
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(waiting, 5)
    assert lm._inflight == {} and not lm._queue
    with sqlite3.connect(rm.store.path) as db:
        stored = [job for (job,) in db.execute("SELECT job FROM diagnoses")]
    assert 5 <= len(stored) < 200
    # cached only once written (closing writes what was pending: some are written, not cached)
    assert {name for name in names if lm.cached(name) is not None} <= set(stored)


async def test_a_manager_replaced_as_its_runners_are_made_still_answers(make_rm: MakeRM) -> None:
    """A RunManager replaced by a newer one on its workdir in the very step its diagnosis
    loop made its runners (cancelled before they began, so they ran no code of their own):
    they do not stay counted, so a diagnosis asked of it afterwards is answered (here: the
    pool is closed), not left waiting for a runner that never comes."""
    names = ["a", "b", "c"]
    jobs = [Job(name, ["python", "train.py"]) for name in names]
    first: RunManager = make_rm(jobs, scheduler=_FailAtOnce(), diagnosis_concurrency=2)
    first.start()
    await first.wait(timeout=60)
    await first.close()
    with sqlite3.connect(first.store.path) as db:  # failed attempts a new run diagnoses
        db.execute("DELETE FROM diagnoses")
    second: RunManager = make_rm(jobs, scheduler=_FailAtOnce(), diagnosis_concurrency=2)
    second.start()
    lm = second.llm_manager
    await asyncio.sleep(0)  # its diagnosis loop queues the three failures for two runners
    assert len(lm._queue) == 3 and len(lm._inflight) == 3
    third: RunManager = make_rm(jobs, scheduler=_FailAtOnce(), diagnosis_concurrency=2)
    third.start()  # replaces it at once
    assert second.closed and lm._inflight == {}
    diagnosis = await asyncio.wait_for(lm.diagnosis("a"), 30)
    assert diagnosis is not None and lm._inflight == {}
    await third.wait(timeout=60)  # the newer one diagnoses them all
    assert {name for name, _ in third.store.diagnoses.offline()} == set(names)


async def test_a_store_that_fails_as_a_queued_diagnosis_is_taken_tells_its_waiter(
    make_rm: MakeRM, proc: Any
) -> None:
    """The runner reads a queued attempt from the store (it holds only its key): when the
    store fails there, whoever waits for the diagnosis gets the store's error (not left
    waiting), and the runners go on with the next ones."""
    rm: RunManager = make_rm([Job("a", FAIL)])
    jm, lm = rm.job_manager, rm.llm_manager
    jm.start()  # the jobs only: no diagnosis is made until one is asked for
    await proc.until(lambda: jm.state("a") is JobState.FAILED, what="attempt 1 failed")
    await jm.resubmit("a")
    await proc.until(lambda: jm.state("a") is JobState.FAILED, what="attempt 2 failed")
    waiting = asyncio.ensure_future(lm.diagnosis("a", 1))  # not the latest: read from the store
    await asyncio.sleep(0)  # queued; its runner has not begun
    with sqlite3.connect(rm.store.path) as db:
        db.execute("ALTER TABLE attempts RENAME TO attempts_away")
    try:
        with pytest.raises(StoreError):
            await asyncio.wait_for(waiting, 10)
    finally:
        with sqlite3.connect(rm.store.path) as db:
            db.execute("ALTER TABLE attempts_away RENAME TO attempts")
    assert lm._inflight == {} and not lm._queue
    diagnosis = await asyncio.wait_for(lm.diagnosis("a", 1), 30)  # asked again: answered
    assert diagnosis is not None and diagnosis.error_type == "ValueError"
