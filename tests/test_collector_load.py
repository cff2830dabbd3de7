"""What the run keeps per job is not objects Python's garbage collector walks (issue 17).

At 100,000 jobs, each object kept per job is 100,000 more objects in every full collection,
and such a collection holds the notebook's loop for as long as it takes (100-600 ms at that
size). The latest attempts and the cached diagnoses are kept as rows the collector does not
track; these tests count what the collector tracks, and check that what is read back is the
same as what was put in."""

from __future__ import annotations

import asyncio
import copy
import gc
import logging
import pickle
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from adaptive_llm import Job, JobState, RunManager
from adaptive_llm.diagnosis import diagnose, diagnose_without_log
from adaptive_llm.jobs.model import Attempt, AttemptReport
from adaptive_llm.jobs.schedulers.base import Scheduler, SubmitRequest
from adaptive_llm.managers.diagnosis_cache import DiagnosisCache
from adaptive_llm.managers.job_manager import AttemptRows, LatestAttempts

MakeRM = Any


def tracked() -> int:
    """Objects the collector tracks once a full collection is done."""
    gc.collect()
    return len(gc.get_objects())


def attempt(i: int, state: JobState = JobState.RUNNING, **fields: Any) -> Attempt:
    return Attempt(
        f"job-{i:05d}",
        1 + i % 3,
        state,
        f"/logs/job-{i:05d}/attempt-1.log",
        scheduler_id=str(1000 + i),
        submitted_at=1.5 + i,
        **fields,
    )


def test_the_latest_attempts_are_not_objects_the_collector_walks() -> None:
    before = tracked()
    latest = LatestAttempts()
    for i in range(5000):
        latest[f"job-{i:05d}"] = attempt(i, reason="Priority" if i % 2 else None)
    grown = tracked() - before
    assert grown < 50, f"{grown} tracked objects for 5,000 latest attempts"
    # What is read back is equal to what went in, field by field, in every state.
    for i, state in enumerate(JobState):
        original = attempt(i, state, exit_code=i, signal=None, ended_at=9.25)
        latest[original.job] = original
        back = latest[original.job]
        assert back == original and back.state is state and type(back) is Attempt
        assert latest.get(original.job) == original and latest.state(original.job) is state
        assert latest.holds(original) and not latest.holds(attempt(i, state))
    assert latest.get("nope") is None and latest.state("nope") is None
    with pytest.raises(KeyError):
        latest["nope"]
    # An attempt read back is as frozen as any
    with pytest.raises(AttributeError):
        latest["job-00001"].state = JobState.FAILED  # type: ignore[misc]


def test_the_attempts_a_poll_is_given_are_made_as_they_are_read() -> None:
    latest = LatestAttempts({a.job: a for a in (attempt(i) for i in range(10))})
    latest["job-00003"] = attempt(3, JobState.COMPLETED)
    rows = latest.rows_of(latest.unfinished)
    assert isinstance(rows, AttemptRows) and len(rows) == 9
    expected = [attempt(i) for i in range(10) if i != 3]
    assert list(rows) == expected and rows == expected
    assert rows[0] == expected[0] and rows[-1] == expected[-1]
    part = rows[2:5]
    assert isinstance(part, AttemptRows) and list(part) == expected[2:5]
    assert rows[::-1] == expected[::-1] and rows[100:] == []
    with pytest.raises(IndexError):
        rows[9]
    # a snapshot: changing the latest attempts afterwards does not change it
    latest["job-00000"] = attempt(0, JobState.FAILED)
    assert rows[0].state is JobState.RUNNING
    assert [a.job for a in rows if a.scheduler_id] == [a.job for a in expected]


def test_latest_attempts_copies_are_equal_and_their_own() -> None:
    latest = LatestAttempts({a.job: a for a in (attempt(i) for i in range(4))})
    for twin in (latest.copy(), copy.copy(latest), copy.deepcopy(latest)):
        assert twin == latest and twin.states == latest.states
        twin["job-00000"] = attempt(0, JobState.COMPLETED)
        assert twin != latest and latest["job-00000"].state is JobState.RUNNING
    back = pickle.loads(pickle.dumps(latest))
    assert back == latest and list(back.unfinished) == list(latest.unfinished)
    assert latest == {a.job: a for a in (attempt(i) for i in range(4))}  # a Mapping's ==


def _diagnoses(tmp_path: Path) -> list[Any]:
    """Real diagnoses of several shapes: located or not, with or without spans."""
    logs = {
        "py.log": 'Traceback (most recent call last):\n  File "train.py", line 7, in <module>\n'
        "    main()\nKeyError: 'shard-7'\n",
        "oom.log": "epoch 1\nslurmstepd: error: Detected 1 oom_kill event in StepId=12.0\n",
        "empty.log": "",
        "utf.log": "ünïcödé → error: ошибка 'x'\n" * 3,
    }
    out = []
    for name, text in logs.items():
        path = tmp_path / name
        path.write_text(text)
        out.append(diagnose(path, state="FAILED", workdir=tmp_path))
    out.append(diagnose_without_log(str(tmp_path / "gone.log"), "the log is missing"))
    return out


def test_cached_diagnoses_are_not_objects_the_collector_walks(tmp_path: Path) -> None:
    made = _diagnoses(tmp_path)
    cache = DiagnosisCache(decoded=8)
    before = tracked()
    for i in range(2000):
        cache.put((f"job-{i:05d}", 1), made[i % len(made)])
    grown = tracked() - before
    assert grown < 50, f"{grown} tracked objects for 2,000 cached diagnoses"
    for i, original in enumerate(made):
        key = (f"job-{i:05d}", 1)
        back = cache.get(key)
        assert back == original, original.path
        assert cache.get(key) is back  # among the last read: the same object
        assert cache.signature(key) == original.signature
        brief = cache.brief(key)  # what a view shows, without decoding
        assert brief is not None
        for field in ("signature", "category", "summary", "error_type", "suggestion"):
            assert getattr(brief, field) == getattr(original, field), field
        if original.location is None:
            assert brief.location is None
        else:
            assert brief.location is not None
            assert (brief.location.file, brief.location.line) == (
                original.location.file,
                original.location.line,
            )
    assert cache.get(("nope", 1)) is None and cache.signature(("nope", 1)) is None
    assert cache.brief(("nope", 1)) is None
    assert ("job-00000", 1) in cache and len(cache) == 2000
    # kept made for the last ``decoded`` read only
    for i in range(20):
        cache.get((f"job-{i:05d}", 1))
    assert len(cache._decoded) == 8
    # a put replaces what is kept made
    cache.put(("job-00019", 1), made[0])
    assert cache.get(("job-00019", 1)) == made[0]


class _Cluster(Scheduler):
    """Jobs run at once; every tenth fails with a traceback in its log, the rest end well."""

    name = "test-cluster"

    def __init__(self) -> None:
        self.ids = 0
        self.polls = 0

    async def submit(self, request: SubmitRequest) -> str:
        self.ids += 1
        if self.ids % 10 == 0:
            request.log_path.parent.mkdir(parents=True, exist_ok=True)
            request.log_path.write_text(
                'Traceback (most recent call last):\n  File "train.py", line 3, in <module>\n'
                f"KeyError: 'shard-{self.ids % 7}'\n"
            )
        return str(self.ids)

    async def poll(self, attempts: Sequence[Attempt]) -> dict[str, AttemptReport]:
        self.polls += 1
        now = time.time()
        out = {}
        for a in attempts:
            if a.scheduler_id is None:
                continue
            if self.polls == 1:
                out[a.scheduler_id] = AttemptReport(JobState.RUNNING, started_at=now)
            elif int(a.scheduler_id) % 10 == 0:
                out[a.scheduler_id] = AttemptReport(JobState.FAILED, exit_code=1, ended_at=now)
            else:
                out[a.scheduler_id] = AttemptReport(JobState.COMPLETED, exit_code=0, ended_at=now)
        return out

    async def cancel(self, attempt: Attempt) -> None:
        return None


async def test_a_run_keeps_no_tracked_object_per_job_or_diagnosis(make_rm: MakeRM) -> None:
    """3,000 jobs run and 300 fail: once all is diagnosed, the run holds about as many
    tracked objects as before its jobs ran (it held one ``Attempt`` per job and four objects
    per diagnosis: 4,200 more here), a second round of them adds none, and every job's state
    and diagnosis reads back right."""
    n = 3000
    jobs = [Job(f"job-{i:05d}", ["python", "train.py", str(i)]) for i in range(n)]
    rm: RunManager = make_rm(jobs, scheduler=_Cluster(), poll_interval=0.05)
    before = tracked()
    rm.start()
    await rm.wait(timeout=120)
    base = tracked()  # the run's jobs are all final and diagnosed: what it keeps from now on
    # the managers' own (tasks, workers, the store): about 300, whatever the jobs
    assert base - before < 1000, f"{base - before} tracked objects for 3,000 jobs"
    # The same run holds no more for a second round: 3,000 new attempts, 300 new diagnoses.
    rm.scheduler.polls = 0  # type: ignore[attr-defined]
    for job in jobs:
        await rm.resubmit(job.name)
    await rm.wait(timeout=120)
    grown = tracked() - base
    assert grown < 300, f"{grown} more tracked objects after 3,000 attempts and 300 diagnoses"
    failed = [f"job-{i:05d}" for i in range(n) if (n + i + 1) % 10 == 0]
    assert len(failed) == 300
    for name in failed:
        assert rm.job_manager.state(name) is JobState.FAILED
        diagnosis = rm.llm_manager.cached(name)
        assert diagnosis is not None and diagnosis.error_type == "KeyError", name
        assert rm.job(name).attempt == 2
    assert rm.job_manager.state("job-00000") is JobState.COMPLETED
    assert rm.job_manager.all_final()


async def test_all_final_needs_an_attempt_for_every_job(make_rm: MakeRM, proc: Any) -> None:
    rm: RunManager = make_rm([Job("a", proc.py("pass")), Job("b", proc.py("pass"))])
    jm = rm.job_manager
    assert not jm.all_final()  # no attempt yet
    rm.start()
    await rm.wait(timeout=60)
    assert jm.all_final()
    jm.jobs["c"] = Job("c", proc.py("pass"))  # known, never submitted
    assert not jm.all_final()


async def test_a_failure_listener_that_raises_is_logged_and_the_poll_goes_on(
    make_rm: MakeRM, proc: Any, caplog: pytest.LogCaptureFixture
) -> None:
    fail = proc.py("raise SystemExit(3)")
    rm: RunManager = make_rm([Job("a", fail), Job("b", fail)])
    heard: list[str] = []

    def broken(job: Job, attempt: Attempt) -> None:
        heard.append(job.name)
        raise RuntimeError("listener bug")

    rm.job_manager.listen(broken)
    events = rm.job_manager.subscribe()
    with caplog.at_level(logging.ERROR):
        rm.start()
        await rm.wait(timeout=60)
    assert sorted(heard) == ["a", "b"]
    assert sorted([events.get_nowait().job.name, events.get_nowait().job.name]) == ["a", "b"]
    assert sum("a failure listener raised" in r.getMessage() for r in caplog.records) == 2
    for name in "ab":  # and the manager's own listener diagnosed both
        assert rm.job_manager.state(name) is JobState.FAILED
        assert rm.llm_manager.cached(name) is not None


async def test_waiting_for_a_diagnosis_queued_in_a_burst_gets_it(make_rm: MakeRM) -> None:
    """A failure queued without a waiter (the burst's way) still answers one who asks."""
    jobs = [Job(f"job-{i:05d}", ["python", "train.py"]) for i in range(200)]
    rm: RunManager = make_rm(jobs, scheduler=_Cluster(), poll_interval=0.05)
    rm.start()
    target = "job-00009"  # the 10th submitted: fails
    deadline = time.monotonic() + 60
    while rm.job_manager.state(target) is not JobState.FAILED:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    answers = await asyncio.gather(*(rm.llm_manager.diagnosis(target) for _ in range(5)))
    assert all(a is not None and a.error_type == "KeyError" for a in answers)
    assert rm.llm_manager.computed <= 20  # each failure once: 20 of the 200 fail
    await rm.wait(timeout=60)
    assert rm.llm_manager.computed == 20


async def test_a_submission_cancelled_before_its_first_submit_leaves_no_attempt(
    make_rm: MakeRM,
) -> None:
    """Cancelled while the loop runs between a batch's insert and its submits (closing mid
    submission), the batch's recorded attempts are forgotten: none is left in the store
    without a scheduler id, and the job can be submitted again in this process."""
    rm: RunManager = make_rm([Job("a", ["python", "train.py"])], scheduler=_Cluster())
    rm.start()
    await rm.wait(timeout=60)
    jm = rm.job_manager
    assert [a.number for a in rm.store.jobs.attempts("a")] == [1]
    task = asyncio.ensure_future(jm.resubmit("a"))
    await asyncio.sleep(0)  # the resubmit runs to its first turn of the loop
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [a.number for a in rm.store.jobs.attempts("a")] == [1]
    again = await jm.resubmit("a")
    assert again.number == 2 and again.scheduler_id is not None


class _TimeOutAtOnce(Scheduler):
    """Every job hits its time limit at the first poll."""

    name = "time-out-at-once"

    def __init__(self) -> None:
        self.ids = 0

    async def submit(self, request: SubmitRequest) -> str:
        self.ids += 1
        return str(self.ids)

    async def poll(self, attempts: Sequence[Attempt]) -> dict[str, AttemptReport]:
        report = AttemptReport(JobState.TIMEOUT, ended_at=time.time())
        return {a.scheduler_id: report for a in attempts if a.scheduler_id}

    async def cancel(self, attempt: Attempt) -> None:
        return None


async def test_a_failure_is_diagnosed_with_the_limits_it_ran_with(make_rm: MakeRM) -> None:
    """A failure waits in the queue as its key; the job changed before its diagnosis begins
    (more time, as its diagnosis will suggest) does not change what the diagnosis says of
    the attempt that failed."""
    job = Job("a", ["python", "train.py"], resources={"time_limit": "1:00"})
    rm: RunManager = make_rm([job], scheduler=_TimeOutAtOnce())
    jm = rm.job_manager

    def more_time(failed: Job, attempt: Attempt) -> None:  # after the manager's own listener
        jm.update_job(failed.with_resources(time_limit="3:00:00"))

    jm.listen(more_time)
    rm.start()
    await rm.wait(timeout=60)
    assert jm.jobs["a"].resources.time_limit == 3 * 3600
    diagnosis = rm.llm_manager.cached("a")
    assert diagnosis is not None and diagnosis.category == "time_limit"
    assert "time limit of 1m" in (diagnosis.suggestion or ""), diagnosis.suggestion
    assert rm.llm_manager._ran_with == {}


def test_a_diagnosis_holding_a_path_is_cached_with_the_path_as_text(tmp_path: Path) -> None:
    """A caller's ``Path`` (not a string) in a diagnosis is kept as its text, not refused."""
    cache = DiagnosisCache()
    made = diagnose_without_log(tmp_path / "gone.log", "the log is missing")  # type: ignore[arg-type]
    cache.put(("a", 1), made)
    back = cache.get(("a", 1))
    assert back is not None and back.path == str(tmp_path / "gone.log")
    assert back.summary == made.summary and cache.signature(("a", 1)) == made.signature
