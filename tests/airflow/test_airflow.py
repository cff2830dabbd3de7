"""AirflowScheduler driving the real RunManager against a real Airflow 3 (``.ci/airflow-up``).

Each test writes its own DAG (a new DAG id) into Airflow's dags folder and waits for it to be
parsed. Failing tasks are diagnosed from the logs fetched through the API; a fixed DAG file and
a resubmit (a clear) give try 2; the API server stopped mid-run makes the jobs UNKNOWN, and
they finish once it is back.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from airflow_env import CI_DIR, Airflow, healthy, state_file

from adaptive_llm import Job, JobState, RunManager
from adaptive_llm.jobs.model import Attempt
from adaptive_llm.jobs.schedulers import AirflowScheduler, airflow_job
from adaptive_llm.jobs.schedulers.airflow_api import AirflowAuthError
from adaptive_llm.managers.causes import causes_text, failures_by_cause

MakeRM = Callable[..., RunManager]
DagFile = Callable[[str], tuple[str, Path]]

FAILING_DAG = """
import time
from datetime import timedelta

from airflow.sdk import dag, task


def parse_count(text):
    return int(text)  # MARK helper_exc


@dag(dag_id="{dag_id}", schedule=None, catchup=False)
def pipeline():
    @task
    def helper_exc():
        return parse_count("twelve")

    @task
    def name_error():
        return totl + 1  # MARK name_error

    @task
    def type_error():
        return "rows: " + 3  # MARK type_error

    @task
    def missing_module():
        import not_an_installed_module  # MARK missing_module

        return not_an_installed_module

    @task
    def syntax_exec():
        exec(compile("total = (1,\\n", "generated_step.py", "exec"))  # MARK syntax_exec

    @task(execution_timeout=timedelta(seconds=3))
    def too_slow():
        time.sleep(120)  # MARK too_slow

    @task
    def ok():
        print("all fine")

    @task
    def downstream(value):
        return value

    downstream(helper_exc())
    name_error()
    type_error()
    missing_module()
    syntax_exec()
    too_slow()
    ok()


pipeline()
"""

#: task -> (state, category, exception type) of its first attempt.
EXPECTED = {
    "helper_exc": (JobState.FAILED, "python_exception", "ValueError"),
    "name_error": (JobState.FAILED, "python_exception", "NameError"),
    "type_error": (JobState.FAILED, "python_exception", "TypeError"),
    "missing_module": (JobState.FAILED, "missing_module", "ModuleNotFoundError"),
    "syntax_exec": (JobState.FAILED, "syntax_error", "SyntaxError"),
    "too_slow": (JobState.TIMEOUT, "time_limit", "AirflowTaskTimeout"),
}


def scheduler(airflow: Airflow, **kwargs: Any) -> AirflowScheduler:
    kwargs.setdefault("username", airflow.username)
    kwargs.setdefault("password", airflow.password)
    kwargs.setdefault("dags_folder", airflow.dags)
    kwargs.setdefault("retry_max", 2.0)
    kwargs.setdefault("timeout", 10.0)
    return AirflowScheduler(airflow.url, **kwargs)


def line_of(path: Path, mark: str) -> int:
    lines = path.read_text().splitlines()
    return next(i for i, text in enumerate(lines, 1) if f"# MARK {mark}" in text)


async def until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g}s: {what}")
        await asyncio.sleep(0.2)


async def test_failures_diagnosed_then_fixed_and_cleared(
    airflow: Airflow, dag_file: DagFile, make_rm: MakeRM
) -> None:
    dag_id, path = dag_file(FAILING_DAG)
    sched = scheduler(airflow, dags=[dag_id])
    await sched.wait_for_dag(dag_id, timeout=240)
    jobs = await sched.jobs(dag_id)
    assert sorted(j.name for j in jobs) == sorted(
        f"{dag_id}.{t}" for t in [*EXPECTED, "ok", "downstream"]
    )
    assert all(j.command == ("airflow-task", dag_id, j.name.split(".")[1]) for j in jobs)
    sched.log_batch = 3  # seven tries end at about the same time: reported over polls
    rm = make_rm(jobs, scheduler=sched, poll_interval=0.5)
    rm.start()
    await rm.wait(timeout=150)

    # One DAG run for all eight tasks, one list call per poll.
    runs = {rm.job_manager.attempts[j.name].scheduler_id.split("/")[1] for j in jobs}  # type: ignore[union-attr]
    assert len(runs) == 1 and next(iter(runs)).startswith("adaptive_llm__")
    assert sched.client.calls["POST /dags/{dag}/dagRuns"] == 1
    assert sched.polls > 0 and sched.client.calls["POST /ti/list"] == sched.polls
    assert sched.client.calls["GET /ti/logs/{try}"] == 7  # each finished try, once

    ok = rm.job(f"{dag_id}.ok")
    assert ok.state is JobState.COMPLETED, ok.reason
    assert "all fine" in Path(rm.job_manager.attempts[ok.name].log_path).read_text()
    down = rm.job_manager.attempts[f"{dag_id}.downstream"]
    assert down.state is JobState.CANCELLED and "upstream task failed" in (down.reason or "")
    assert await rm.diagnosis(f"{dag_id}.downstream") is None
    # The whole DAG run's failures at a glance: one section, one cause per failing task.
    (section,) = failures_by_cause(rm.jobs())
    assert section.run == f"{dag_id} run {next(iter(runs))}"
    assert section.states == {"COMPLETED": 1, "FAILED": 5, "TIMEOUT": 1, "CANCELLED": 1}
    assert sorted(c.jobs for c in section.causes) == sorted((f"{dag_id}.{t}",) for t in EXPECTED)
    assert section.never_ran == (f"{dag_id}.downstream",)
    text = causes_text([section], base=path.parent)
    assert f"  DAG {section.run} (8 tasks: " in text
    assert f"1 job failed with NameError at {path.name}:{line_of(path, 'name_error')}" in text
    assert f"1 never ran: an upstream task failed ({dag_id}.downstream)" in text

    for task, (state, category, exc_type) in EXPECTED.items():
        name = f"{dag_id}.{task}"
        attempt = rm.job_manager.attempts[name]
        assert attempt.state is state, (task, attempt.state, attempt.reason)
        text = Path(attempt.log_path).read_text()
        assert "Traceback (most recent call last):" in text, task
        assert f"\n{exc_type}: " in text, task
        line = line_of(path, task)
        assert f'File "{path}", line {line}, in ' in text, task
        diagnosis = await rm.diagnosis(name)
        assert diagnosis is not None, task
        assert (diagnosis.category, diagnosis.error_type) == (category, exc_type), task
        assert diagnosis.location is not None, task
        where = ("generated_step.py", 1) if task == "syntax_exec" else (str(path), line)
        assert (diagnosis.location.file, diagnosis.location.line) == where, task
    syntax_log = Path(rm.job_manager.attempts[f"{dag_id}.syntax_exec"].log_path).read_text()
    assert 'File "generated_step.py", line 1\n    total = (1,\n            ^\n' in syntax_log
    timeout_reason = rm.job_manager.attempts[f"{dag_id}.too_slow"].reason or ""
    assert "execution_timeout" in timeout_reason

    # Fix the DAG file, preview the clear, clear it: try 2 succeeds.
    name = f"{dag_id}.name_error"
    first = rm.job_manager.attempts[name]
    assert await sched.clear_preview(first) == [f"{dag_id}.name_error@{next(iter(runs))}"]
    path.write_text(path.read_text().replace("totl + 1", "1 + 1"))
    second = await rm.resubmit(name)
    assert second.number == 2 and second.scheduler_id == first.scheduler_id[:-1] + "2"  # type: ignore[index]
    await rm.wait(timeout=240)  # a loaded 2-core CI machine
    done = rm.job_manager.attempts[name]
    assert done.number == 2 and done.state is JobState.COMPLETED, done.reason
    second_log = Path(done.log_path).read_text()
    assert ", try 2\n" in second_log and "Traceback" not in second_log
    assert "NameError" in Path(first.log_path).read_text()  # the first try's log is kept
    assert rm.job(f"{dag_id}.type_error").state is JobState.FAILED  # the others are untouched
    assert sched.client.calls["POST /dags/{dag}/dagRuns"] == 1  # a clear, not a new run


async def test_api_server_stopped_mid_run(
    airflow: Airflow, dag_file: DagFile, make_rm: MakeRM, workdir: Path
) -> None:
    pid_file = Path(str(state_file()).removesuffix(".env") + ".api-server.pid")
    if not pid_file.exists():
        pytest.skip("this Airflow was not started by .ci/airflow-up: its API server is not ours")
    dag_id, _ = dag_file(
        """
import time
from airflow.sdk import dag, task


@dag(dag_id="{dag_id}", schedule=None, catchup=False)
def pipeline():
    @task
    def quick():
        print("quick")

    @task
    def long():
        time.sleep(20)
        print("long done")

    quick()
    long()


pipeline()
"""
    )
    later_id, _ = dag_file(
        """
from airflow.sdk import dag, task


@dag(dag_id="{dag_id}", schedule=None, catchup=False)
def pipeline():
    @task
    def later():
        print("submitted while the API server was down")

    later()


pipeline()
"""
    )
    sched = scheduler(airflow, dags=[dag_id])
    await sched.wait_for_dag(dag_id, timeout=240)
    await sched.wait_for_dag(later_id, timeout=240)
    jobs = await sched.jobs(dag_id)
    rm = make_rm(jobs, scheduler=sched, poll_interval=0.3)
    rm.start()
    long_job = f"{dag_id}.long"
    # Once quick has finished: a try that ends while the API server is down cannot report its
    # state to Airflow (AirflowRuntimeError: API_SERVER_ERROR) and fails; one that runs on does.
    await until(
        lambda: (
            rm.job(long_job).state is JobState.RUNNING
            and rm.job(f"{dag_id}.quick").state is JobState.COMPLETED
        ),
        90,
        "quick done and the long task running",
    )
    scheduler_id = rm.job_manager.attempts[long_job].scheduler_id

    pid = int(pid_file.read_text())
    os.killpg(pid, signal.SIGTERM)
    try:
        await until(lambda: not healthy(airflow.url, 1.0), 30, "the API server stops")
        await until(lambda: rm.outage is not None, 30, "the outage is seen")
        assert "did not answer" in (rm.outage or "")
        assert rm.job(long_job).state is JobState.UNKNOWN
        assert {v.name for v in rm.jobs()} == {j.name for j in jobs}
        # A job submitted now is kept: its run is triggered when Airflow answers again.
        later = make_rm(
            [airflow_job(later_id, "later", cwd=airflow.dags)],
            scheduler=scheduler(airflow, dags=[later_id]),
            poll_interval=0.3,
            workdir=workdir / "later",
        )
        later.start()
        later_job = f"{later_id}.later"
        await until(lambda: later.job(later_job).state is JobState.UNKNOWN, 30, "UNKNOWN")
        assert later.job_manager.attempts[later_job].scheduler_id is not None
    finally:
        restart = await asyncio.to_thread(
            subprocess.run,
            ["bash", str(CI_DIR / "airflow-up")],
            capture_output=True,
            text=True,
            timeout=240,
        )
    assert restart.returncode == 0, restart.stderr[-6000:]
    await rm.wait(timeout=120)
    assert rm.outage is None
    attempt = rm.job_manager.attempts[long_job]
    assert attempt.number == 1 and attempt.scheduler_id == scheduler_id  # the same try
    # Whether the try survives depends on how long its heartbeats failed (Airflow may end it):
    # the job ends as Airflow says it ended, with its log.
    run_id = scheduler_id.split("/")[1]  # type: ignore[union-attr]
    ti = await sched.client.task_instance(dag_id, run_id, "long")
    expected = {"success": JobState.COMPLETED, "failed": JobState.FAILED}[ti["state"]]
    assert attempt.state is expected, attempt.reason
    assert "Worker startup parse complete" in Path(attempt.log_path).read_text()
    assert rm.job(f"{dag_id}.quick").state is JobState.COMPLETED
    await later.wait(timeout=120)
    done = later.job_manager.attempts[later_job]
    assert done.number == 1 and done.state is JobState.COMPLETED, done.reason


async def test_refusals_are_one_line(airflow: Airflow, make_rm: MakeRM, workdir: Path) -> None:
    wrong = scheduler(airflow, password="not-the-password")
    rm = make_rm([airflow_job("any_dag", "any_task")], scheduler=wrong)
    rm.start()
    await rm.wait(timeout=30)
    attempt = rm.job_manager.attempts["any_dag.any_task"]
    assert attempt.state is JobState.FAILED
    reason = attempt.reason or ""
    assert f"Airflow at {airflow.url} refused the password of user {airflow.username!r}" in reason
    assert "\n" not in reason and "not-the-password" not in reason
    await rm.close()
    with pytest.raises(AirflowAuthError, match="refused the password") as caught:
        await wrong.poll([Attempt("j", 1, JobState.RUNNING, "/dev/null", "d/r/t#1")])
    assert "not-the-password" not in str(caught.value)
    await wrong.close()

    good = scheduler(airflow)
    rm = make_rm(
        [airflow_job("no_such_dag_here", "t"), Job("plain", ["true"])],
        scheduler=good,
        workdir=workdir / "second",
    )
    rm.start()
    await rm.wait(timeout=30)
    unknown = rm.job_manager.attempts["no_such_dag_here.t"].reason or ""
    assert "unknown DAG id 'no_such_dag_here'" in unknown and "\n" not in unknown
    plain = rm.job_manager.attempts["plain"].reason or ""
    assert "is not an Airflow task" in plain and "airflow_job(dag_id, task_id)" in plain
    with pytest.raises(ValueError, match="invalid Airflow task id"):
        airflow_job("dag", "bad/id")


def test_demo_fixes_and_clears_one_task(
    airflow: Airflow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    from adaptive_llm.cli import main
    from adaptive_llm.cli.demo_airflow import DAG_FILE

    for key, value in {
        "URL": airflow.url,
        "USERNAME": airflow.username,
        "PASSWORD": airflow.password,
        "DAGS": str(airflow.dags),
    }.items():
        monkeypatch.setenv(f"ADAPTIVE_LLM_AIRFLOW_{key}", value)
    argv = ["demo", "--scheduler", "airflow", "--headless", "--approve-all"]
    try:
        code = main([*argv, "--workdir", str(tmp_path / "demo")])
    finally:
        (airflow.dags / DAG_FILE).unlink(missing_ok=True)
    out = capsys.readouterr().out
    assert code == 0, out[-3000:]
    assert "adaptive_llm_demo.slow_report: attempt 2 COMPLETED" in out
    assert "The scheduler's dry run: this resubmission will" in out
    assert "+    @task(execution_timeout=timedelta(seconds=6))" in out
    assert "All 7 tasks ended as the demo intends: 1 succeeded, 6 failed as planned" in out
    assert airflow.password not in out


async def test_cancel_marks_the_running_try_skipped(
    airflow: Airflow, dag_file: DagFile, make_rm: MakeRM
) -> None:
    dag_id, _ = dag_file(
        """
import time
from airflow.sdk import dag, task


@dag(dag_id="{dag_id}", schedule=None, catchup=False)
def pipeline():
    @task
    def sleepy():
        time.sleep(120)

    sleepy()


pipeline()
"""
    )
    sched = scheduler(airflow, dags=[dag_id])
    await sched.wait_for_dag(dag_id, timeout=240)
    rm = make_rm(await sched.jobs(dag_id), scheduler=sched, poll_interval=0.3)
    rm.start()
    name = f"{dag_id}.sleepy"
    await until(lambda: rm.job(name).state is JobState.RUNNING, 90, "sleepy runs")
    await rm.cancel_job(name)
    await rm.wait(timeout=30)
    attempt = rm.job_manager.attempts[name]
    assert attempt.state is JobState.CANCELLED and attempt.reason == "skipped by Airflow"
    assert await rm.diagnosis(name) is None
