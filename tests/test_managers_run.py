"""RunManager, JobManager and LLMManager: actions, bad input, restarts, diagnosis caching."""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from adaptive_llm import (
    Job,
    JobBusyError,
    JobState,
    LocalScheduler,
    RunManager,
    SubmitError,
    UnknownJobError,
    WorkdirBusyError,
)
from adaptive_llm.store import Store

MakeRM = Callable[..., RunManager]

FAIL = [sys.executable, "-c", "print('about to fail'); raise ValueError('bad value 42')"]


def sleeper_code(pidfile: Path, seconds: float = 1000) -> str:
    """A job that starts a grandchild ``sleep``, writes its pid, then sleeps."""
    return textwrap.dedent(
        f"""
        import subprocess, time
        child = subprocess.Popen(["sleep", "1000"])
        with open({str(pidfile)!r}, "w") as fh:
            fh.write(f"{{child.pid}}\\n")
        print("sleeping", flush=True)
        time.sleep({seconds})
        """
    )


def read_log(path: str) -> str:
    return Path(path).read_text()


# -- actions -----------------------------------------------------------------------------------


async def test_cancel_job_ends_the_process_group(make_rm: MakeRM, workdir: Path, proc: Any) -> None:
    pidfile = workdir / "grandchild.pid"
    rm = make_rm([Job("long", proc.py(sleeper_code(pidfile)))])
    rm.start()
    await proc.until(lambda: rm.job_manager.state("long") is JobState.RUNNING, what="RUNNING")
    grandchild = proc.read_pid(pidfile)
    await rm.cancel_job("long")
    await rm.wait(timeout=30)
    attempt = rm.job_manager.attempts["long"]
    assert attempt.state is JobState.CANCELLED
    assert attempt.reason is not None and "cancel" in attempt.reason
    status = json.loads(Path(attempt.log_path).with_suffix(".status.json").read_text())
    assert proc.wait_gone(status["pid"]), "the job itself survived its cancel"
    assert proc.wait_gone(grandchild), "the job's grandchild survived its cancel"
    assert proc.wait_gone(status["runner_pid"])
    # A user's cancel is not a failure: no diagnosis, nothing to wait for.
    assert await rm.llm_manager.diagnosis("long") is None
    assert rm.store.jobs.attempts("long")[0].state is JobState.CANCELLED
    # Cancelling a finished job is a no-op.
    await rm.cancel_job("long")
    assert rm.job_manager.state("long") is JobState.CANCELLED


async def test_cancel_a_queued_job(make_rm: MakeRM, workdir: Path, proc: Any) -> None:
    marker = workdir / "second-ran"
    jobs = [
        Job("first", proc.py("import time; time.sleep(1.5)")),
        Job("second", proc.py(f"open({str(marker)!r}, 'w').close()")),
    ]
    rm = make_rm(jobs, scheduler=LocalScheduler(max_concurrent=1, kill_grace=0.5))
    rm.start()
    await proc.until(lambda: "second" in rm.job_manager.attempts, what="second submitted")
    assert rm.job_manager.state("second") is JobState.PENDING
    await rm.cancel_job("second")
    await rm.wait(timeout=30)
    assert rm.job_manager.state("first") is JobState.COMPLETED
    assert rm.job_manager.state("second") is JobState.CANCELLED
    assert not marker.exists()


async def test_rm_cancel_ends_every_job(make_rm: MakeRM, workdir: Path, proc: Any) -> None:
    jobs = [Job(f"s{i}", proc.py(sleeper_code(workdir / f"s{i}.pid"))) for i in range(2)]
    rm = make_rm(jobs)
    rm.start()
    await proc.until(
        lambda: all(rm.job_manager.state(j.name) is JobState.RUNNING for j in jobs), what="RUNNING"
    )
    pids = [proc.read_pid(workdir / f"s{i}.pid") for i in range(2)]
    await asyncio.wait_for(rm.cancel(), 30)
    assert not rm.job_manager.is_running
    store = Store(workdir / ".adaptive_llm" / "store.sqlite", readonly=True)
    try:
        assert {a.state for a in store.jobs.attempts()} == {JobState.CANCELLED}
    finally:
        store.close()
    assert all(proc.wait_gone(pid) for pid in pids)


async def test_resubmit_keeps_old_logs(make_rm: MakeRM, workdir: Path) -> None:
    command = (
        'n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; echo "run $n"; exit 1'
    )
    rm = make_rm([Job("again", command)])
    rm.start()
    await rm.wait(timeout=30)
    first = rm.job_manager.attempts["again"]
    assert first.number == 1 and first.state is JobState.FAILED
    first_diagnosis = rm.llm_manager.cached("again")
    assert first_diagnosis is not None

    second = await rm.resubmit("again")
    assert second.number == 2
    assert second.log_path != first.log_path
    await rm.wait(timeout=30)

    latest = rm.job_manager.attempts["again"]
    assert latest.number == 2 and latest.state is JobState.FAILED and latest.exit_code == 1
    assert Path(first.log_path).name == "attempt-1.log"
    assert Path(latest.log_path).name == "attempt-2.log"
    assert read_log(first.log_path) == "run 1\n"
    assert read_log(latest.log_path) == "run 2\n"
    stored = rm.store.jobs.attempts("again")
    assert [(a.number, a.state) for a in stored] == [(1, JobState.FAILED), (2, JobState.FAILED)]
    transitions = rm.store.jobs.transitions("again")
    for number in (1, 2):
        states = [state for n, state, _, _ in transitions if n == number]
        assert states[0] is JobState.PENDING and states[-1] is JobState.FAILED, transitions
    # Each attempt has its own diagnosis; the first one is kept.
    assert rm.llm_manager.cached("again", 1) is first_diagnosis
    second_diagnosis = rm.llm_manager.cached("again")
    assert second_diagnosis is not None and second_diagnosis is not first_diagnosis
    assert rm.store.diagnoses.get("again", 1) is not None
    assert rm.store.diagnoses.get("again", 2) is not None


async def test_resubmit_with_a_changed_job(make_rm: MakeRM, proc: Any) -> None:
    rm = make_rm([Job("fix", proc.py("raise SystemExit(3)"))])
    rm.start()
    await rm.wait(timeout=30)
    assert rm.job_manager.attempts["fix"].exit_code == 3
    fixed = Job("fix", proc.py("print('fixed')"))
    await rm.resubmit("fix", fixed)
    await rm.wait(timeout=30)
    assert rm.job_manager.state("fix") is JobState.COMPLETED
    assert rm.store.jobs.all() == [fixed]
    with pytest.raises(ValueError, match="other"):
        await rm.resubmit("fix", Job("other", ["true"]))


async def test_resubmit_running_job_is_refused(make_rm: MakeRM, workdir: Path, proc: Any) -> None:
    rm = make_rm([Job("busy", proc.py("import time; time.sleep(1000)"))])
    rm.start()
    await proc.until(lambda: rm.job_manager.state("busy") is JobState.RUNNING, what="RUNNING")
    with pytest.raises(JobBusyError, match="busy"):
        await rm.resubmit("busy")
    assert len(rm.store.jobs.attempts("busy")) == 1


async def test_max_attempts_retries_a_failing_job(make_rm: MakeRM) -> None:
    rm = make_rm([Job("flaky", FAIL, max_attempts=2), Job("once", FAIL)])
    rm.start()
    await rm.wait(timeout=30)
    flaky = rm.store.jobs.attempts("flaky")
    assert [(a.number, a.state) for a in flaky] == [(1, JobState.FAILED), (2, JobState.FAILED)]
    assert all("about to fail" in read_log(a.log_path) for a in flaky)
    assert rm.llm_manager.cached("flaky", 1) is not None
    assert rm.llm_manager.cached("flaky", 2) is not None
    assert [a.number for a in rm.store.jobs.attempts("once")] == [1]
    # Nothing else gets retried later on.
    await asyncio.sleep(0.5)
    assert len(rm.store.jobs.attempts("flaky")) == 2


async def test_wait_timeout_names_the_unfinished_jobs(make_rm: MakeRM, proc: Any) -> None:
    rm = make_rm([Job("sleepy", proc.py("import time; time.sleep(1000)"))])
    with pytest.raises(RuntimeError, match="start"):
        await rm.wait(timeout=1)
    rm.start()
    with pytest.raises(TimeoutError, match="sleepy"):
        await rm.wait(timeout=0.5)


def test_start_needs_a_running_loop(workdir: Path) -> None:
    rm = RunManager([Job("a", ["true"])], workdir=workdir)
    try:
        with pytest.raises(RuntimeError, match="running event loop"):
            rm.start()
        assert rm.store.jobs.attempts() == []
    finally:
        asyncio.run(rm.close())


# -- bad input ---------------------------------------------------------------------------------


async def test_unknown_job_is_a_clear_error(make_rm: MakeRM) -> None:
    rm = make_rm([Job("real", ["true"])])
    rm.start()
    for action in (rm.cancel_job, rm.resubmit, rm.llm_manager.diagnosis, rm.diagnosis):
        with pytest.raises(UnknownJobError, match="'ghost'") as info:
            await action("ghost")
        assert "real" in str(info.value)  # lists the jobs that exist
    assert rm.llm_manager.cached("ghost") is None


def test_duplicate_job_names(workdir: Path) -> None:
    jobs = [Job("same", ["true"]), Job("other", ["true"]), Job("same", ["false"])]
    with pytest.raises(ValueError, match="duplicate job name 'same'"):
        RunManager(jobs, workdir=workdir)
    assert not (workdir / ".adaptive_llm" / "store.sqlite").exists()


async def test_missing_cwd_fails_at_start_with_nothing_created(
    make_rm: MakeRM, workdir: Path
) -> None:
    rm = make_rm([Job("ok", ["true"]), Job("lost", ["true"], cwd="no/such/dir")])
    with pytest.raises(SubmitError, match=r"'lost'.*does not exist") as info:
        rm.start()
    assert str(workdir / "no" / "such" / "dir") in str(info.value)
    assert not rm.is_started
    assert rm.store.jobs.attempts() == []
    assert rm.store.jobs.all() == []
    assert not (workdir / ".adaptive_llm" / "logs").exists()


async def test_cwd_that_is_a_file(make_rm: MakeRM, workdir: Path) -> None:
    (workdir / "afile").write_text("")
    rm = make_rm([Job("j", ["true"], cwd="afile")])
    with pytest.raises(SubmitError, match="not a directory"):
        rm.start()
    assert rm.store.jobs.attempts() == []


async def test_log_directory_unusable(make_rm: MakeRM, workdir: Path) -> None:
    logs = workdir / ".adaptive_llm" / "logs"
    logs.parent.mkdir()
    logs.write_text("a file where the log directory should be")
    rm = make_rm([Job("j", ["true"])])
    with pytest.raises(SubmitError, match="log directory") as info:
        rm.start()
    assert str(logs) in str(info.value)
    assert rm.store.jobs.attempts() == []
    assert logs.read_text() == "a file where the log directory should be"


async def test_job_log_directory_unusable(make_rm: MakeRM, workdir: Path) -> None:
    job_logs = workdir / ".adaptive_llm" / "logs" / "j"
    job_logs.parent.mkdir(parents=True)
    job_logs.write_text("in the way")
    rm = make_rm([Job("j", ["true"])])
    with pytest.raises(SubmitError, match="log directory"):
        rm.start()
    assert rm.store.jobs.attempts() == []


# -- one RunManager per workdir ----------------------------------------------------------------

HOLDER = """
import asyncio, sys
from adaptive_llm import RunManager

async def main():
    rm = RunManager([], workdir=sys.argv[1])
    rm.start()
    print("READY", flush=True)
    await asyncio.sleep(120)

asyncio.run(main())
"""


async def test_second_process_on_the_workdir_is_refused(
    make_rm: MakeRM, workdir: Path, tmp_path: Path, proc: Any
) -> None:
    script = tmp_path / "holder.py"
    script.write_text(HOLDER)
    holder = await asyncio.create_subprocess_exec(
        sys.executable, str(script), str(workdir), stdout=asyncio.subprocess.PIPE
    )
    try:
        assert holder.stdout is not None
        line = await asyncio.wait_for(holder.stdout.readline(), 30)
        assert line.strip() == b"READY"
        rm = make_rm([Job("mine", proc.py("print('ran')"))])
        with pytest.raises(WorkdirBusyError) as info:
            rm.start()
        assert str(holder.pid) in str(info.value)
        assert rm.store.jobs.attempts() == []
    finally:
        if holder.returncode is None:
            holder.kill()
        await holder.wait()
    # Once the other process is gone, the same RunManager can start.
    rm.start()
    await rm.wait(timeout=30)
    assert rm.job_manager.state("mine") is JobState.COMPLETED


async def test_new_runmanager_in_the_same_process_replaces_the_old(
    make_rm: MakeRM, proc: Any
) -> None:
    job = Job("cell", proc.py("import time; time.sleep(1); print('done')"))
    first = make_rm([job])
    first.start()
    await proc.until(lambda: first.job_manager.state("cell") is JobState.RUNNING, what="RUNNING")
    second = make_rm([job])  # the notebook cell, run again
    second.start()
    await asyncio.sleep(0.05)
    assert not first.job_manager.is_running
    assert not first.llm_manager.is_running
    with pytest.raises(RuntimeError, match="closed"):
        first.start()
    await second.wait(timeout=30)
    assert second.job_manager.state("cell") is JobState.COMPLETED
    (attempt,) = second.store.jobs.attempts("cell")  # re-attached, not run twice
    assert read_log(attempt.log_path) == "done\n"


# -- diagnoses ---------------------------------------------------------------------------------


async def test_concurrent_diagnosis_requests_compute_once(make_rm: MakeRM, proc: Any) -> None:
    rm = make_rm([Job("bad", FAIL)])
    rm.start()
    await proc.until(lambda: rm.job_manager.state("bad").is_final, what="failure")
    results = await asyncio.gather(*(rm.llm_manager.diagnosis("bad") for _ in range(20)))
    first = results[0]
    assert first is not None
    assert all(result is first for result in results)
    assert rm.llm_manager.computed == 1
    await rm.wait(timeout=30)
    # the cache keeps it as text (see DiagnosisCache): an equal diagnosis, not recomputed
    assert rm.llm_manager.cached("bad") == first
    assert rm.llm_manager.computed == 1
    assert "bad value 42" in first.excerpt.text


async def test_diagnoses_survive_a_restart(make_rm: MakeRM, workdir: Path) -> None:
    rm = make_rm([Job("bad", FAIL), Job("good", ["true"])])
    rm.start()
    await rm.wait(timeout=30)
    before = rm.llm_manager.cached("bad")
    assert before is not None
    await rm.close()

    again = make_rm([])
    again.start()
    # Known at once: the store is read on start, nothing is recomputed.
    assert set(again.job_manager.jobs) == {"bad", "good"}
    cached = again.llm_manager.cached("bad")
    assert cached is not None and cached.to_dict() == before.to_dict()
    assert (await again.llm_manager.diagnosis("bad")) is cached
    await again.wait(timeout=30)
    assert again.llm_manager.computed == 0
    assert again.job_manager.state("bad") is JobState.FAILED
    assert again.job_manager.state("good") is JobState.COMPLETED
    assert len(again.store.jobs.attempts()) == 2  # nothing was run again
    rows = {row["name"]: row for row in again.status()}
    assert rows["bad"]["summary"] == before.summary
    assert rows["good"]["summary"] is None


# -- one submit path, the read model, waiting --------------------------------------------------


async def test_a_refused_resubmit_is_recorded_as_a_failed_attempt(
    make_rm: MakeRM, workdir: Path
) -> None:
    """Resubmit goes through the batch path: a refused submit is a FAILED attempt with its
    reason (and a diagnosis), not an exception that leaves nothing behind."""
    cwd = workdir / "sub"
    cwd.mkdir()
    rm = make_rm([Job("j", ["true"], cwd="sub")])
    rm.start()
    await rm.wait(timeout=30)
    cwd.rmdir()  # the working directory is gone: the scheduler refuses the next attempt
    with pytest.raises(SubmitError, match="does not exist"):
        await rm.resubmit("j")
    [first, second] = rm.store.jobs.attempts("j")
    assert first.state is JobState.COMPLETED
    assert second.number == 2 and second.state is JobState.FAILED
    assert "could not submit" in (second.reason or "")
    view = rm.job("j")
    assert view.state is JobState.FAILED and view.attempt == 2
    await rm.wait(timeout=30)
    diagnosis = await rm.llm_manager.diagnosis("j")
    assert diagnosis is not None and "could not submit" in diagnosis.summary
    assert rm.job("j").summary == diagnosis.summary


async def test_wait_holds_a_constant_number_of_tasks(make_rm: MakeRM, proc: Any) -> None:
    """``rm.wait()`` (and ``rm.changed``) cancel their waiters: a long wait with many wake-ups
    leaves no tasks piling up."""
    rm = make_rm([Job("slow", proc.py("import time; time.sleep(3)"))], poll_interval=0.05)
    rm.start()
    waiter = asyncio.ensure_future(rm.wait(timeout=30))
    counts = []
    for _ in range(25):
        await asyncio.sleep(0.1)
        rm.job_manager.changes.notify()  # wake-ups, as many state changes would
        counts.append(len(asyncio.all_tasks()))
    await waiter
    assert max(counts[5:]) <= min(counts[5:]) + 2, counts
    for _ in range(200):
        assert not await rm.changed(timeout=0)
    assert len(asyncio.all_tasks()) <= counts[-1], "changed() left waiters behind"


async def test_jobs_view_agrees_with_status(make_rm: MakeRM) -> None:
    rm = make_rm([Job("ok", ["true"]), Job("bad", FAIL)])
    rm.start()
    await rm.wait(timeout=30)
    views = {v.name: v for v in rm.jobs()}
    assert views["ok"].state is JobState.COMPLETED and views["ok"].category is None
    assert views["bad"].state is JobState.FAILED and views["bad"].category == "python_exception"
    assert views["bad"].location is None or views["bad"].location.line > 0
    assert [row["name"] for row in rm.status()] == ["bad", "ok"]
    assert {row["name"]: row["state"] for row in rm.status()} == {
        "ok": "COMPLETED",
        "bad": "FAILED",
    }
    with pytest.raises(UnknownJobError):
        rm.job("nope")
    version = rm.version
    assert await rm.changed(timeout=5, since=version - 1)  # a change since then: at once
    assert not rm.closed
    await rm.close()
    assert rm.closed


def test_the_latest_attempts_know_which_jobs_are_unfinished() -> None:
    from adaptive_llm.jobs.model import Attempt
    from adaptive_llm.managers.job_manager import LatestAttempts

    def at(name: str, state: JobState) -> Attempt:
        return Attempt(name, 1, state, f"/logs/{name}.log")

    latest = LatestAttempts({"a": at("a", JobState.RUNNING), "b": at("b", JobState.FAILED)})
    assert list(latest.unfinished) == ["a"]
    latest["a"] = at("a", JobState.COMPLETED)
    latest["c"] = at("c", JobState.PENDING)
    assert list(latest.unfinished) == ["c"]
    latest["b"] = at("b", JobState.PENDING)  # resubmitted: unfinished again
    assert list(latest.unfinished) == ["c", "b"]  # in the order they became so
    del latest["c"]
    assert list(latest.unfinished) == ["b"] and set(latest) == {"a", "b"}


def test_every_way_of_changing_the_latest_attempts_keeps_the_unfinished_right() -> None:
    import copy
    import pickle

    from adaptive_llm.jobs.model import Attempt
    from adaptive_llm.managers.job_manager import LatestAttempts

    def at(name: str, state: JobState) -> Attempt:
        return Attempt(name, 1, state, f"/logs/{name}.log")

    def right(latest: LatestAttempts) -> list[str]:
        assert type(latest) is LatestAttempts
        assert set(latest.unfinished) == {n for n, a in latest.items() if not a.state.is_final}
        # the counts by state too (a paged table's counts come from them)
        assert latest.states == dict(Counter(a.state for a in latest.values()))
        return list(latest.unfinished)

    run, done = JobState.RUNNING, JobState.COMPLETED
    latest = LatestAttempts({"a": at("a", run), "b": at("b", done)})
    latest |= {"c": at("c", run), "a": at("a", done)}
    assert right(latest) == ["c"]
    latest.update({"d": at("d", run)}, e=at("e", run))
    latest.update([("e", at("e", done))])
    assert right(latest) == ["c", "d"]
    assert latest.setdefault("c", at("c", done)).state is run  # there: unchanged
    assert latest.setdefault("f", at("f", run)).state is run
    assert right(latest) == ["c", "d", "f"]
    assert latest.pop("c").state is run and latest.pop("nope", None) is None
    with pytest.raises(KeyError):
        latest.pop("nope")
    assert right(latest) == ["d", "f"]
    assert latest.popitem()[0] == "f" and right(latest) == ["d"]
    del latest["d"]
    assert right(latest) == []
    latest["g"] = at("g", run)
    # Copies have their own unfinished: changing one leaves the other as it was.
    for twin in (
        latest.copy(),
        copy.copy(latest),
        copy.deepcopy(latest),
        pickle.loads(pickle.dumps(latest)),
        latest | {},
        {} | latest,
    ):
        assert right(twin) == ["g"] and twin == latest
        twin["g"] = at("g", done)
        assert right(twin) == [] and right(latest) == ["g"]
    merged = latest | {"h": at("h", run)}
    assert right(merged) == ["g", "h"] and right(latest) == ["g"]
    assert right({"h": at("h", run)} | latest) == ["h", "g"]
    # Bad input is a clear error and changes nothing.
    with pytest.raises(TypeError, match="must be an Attempt"):
        latest.update({"i": at("i", run), "j": "RUNNING"})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="must be an Attempt"):
        latest["j"] = None  # type: ignore[assignment]
    with pytest.raises(TypeError, match="holds attempts"):
        LatestAttempts.fromkeys(["x"])
    assert right(latest) == ["g"] and set(latest) == {"a", "b", "e", "g"}
    latest.clear()
    assert right(latest) == [] and not latest


async def test_the_page_counts_kept_as_attempts_change_are_those_of_a_pass(
    make_rm: MakeRM, workdir: Path, proc: Any
) -> None:
    """Without a filter, ``job_page`` takes its counts from those the latest attempts keep
    and its page as a slice; a search makes it pass over every job. Both say the same, in
    every state: no attempt yet, running, final, and while the scheduler does not answer."""
    pidfile = workdir / "slow.pid"
    jobs = [Job(f"job{i}", proc.py("raise SystemExit(1)" if i % 2 else "pass")) for i in range(7)]
    jobs.append(Job("job-slow", proc.py(sleeper_code(pidfile))))
    rm = make_rm(jobs)

    def same() -> dict[str, int]:
        latest = rm.job_manager.attempts
        assert latest.states == {s: n for s, n in Counter(a.state for a in latest.values()).items()}
        kept, passed = rm.job_page(2, 4), rm.job_page(2, 4, match="JOB")
        assert kept.counts == passed.counts
        assert [v.name for v in kept.views] == [v.name for v in passed.views]
        assert (kept.matching, kept.total, kept.start) == (passed.matching, passed.total, 2)
        assert sum(kept.counts.values()) == kept.total == len(jobs)
        return kept.counts

    assert same() == {"PENDING": 8}
    rm.start()
    await proc.until(
        lambda: (
            rm.job_manager.state("job-slow") is JobState.RUNNING
            and all(rm.job_manager.state(f"job{i}").is_final for i in range(7))
        ),
        what="the short jobs final, the slow one running",
    )
    assert same() == {"COMPLETED": 4, "FAILED": 3, "RUNNING": 1}
    rm.job_manager.scheduler_error = "the scheduler does not answer"
    assert same() == {"COMPLETED": 4, "FAILED": 3, "UNKNOWN": 1}
    rm.job_manager.scheduler_error = None
    assert [v.name for v in rm.job_page(7, 50).views] == ["job-slow"]
    assert rm.job_page(50, 5).views == []
    await rm.cancel_job("job-slow")
    await rm.wait(timeout=30)
    assert same() == {"COMPLETED": 4, "FAILED": 3, "CANCELLED": 1}


async def test_a_page_before_the_first_job_is_empty_with_or_without_a_search(
    make_rm: MakeRM,
) -> None:
    """A page that ends before the first job (a negative start) is empty, and one that
    starts past any index a slice can take is empty too: the kept-counts path (no filter)
    answers as the pass over the jobs does, not with islice's ValueError."""
    rm = make_rm([Job(f"job{i}", ["true"]) for i in range(5)])
    for start, count in [(-20, 10), (-3, 5), (2**63, 5), (-(2**63), 2**62)]:
        kept, passed = rm.job_page(start, count), rm.job_page(start, count, match="job")
        assert [v.name for v in kept.views] == [v.name for v in passed.views], (start, count)
        assert (kept.matching, kept.total, kept.counts) == (5, 5, {"PENDING": 5})
        assert (passed.matching, passed.total, passed.counts) == (5, 5, {"PENDING": 5})
    assert [v.name for v in rm.job_page(-3, 5).views] == ["job0", "job1"]
