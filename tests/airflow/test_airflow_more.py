"""AirflowScheduler on a real Airflow 3, continued (#14): a resubmission while Airflow is down is
deferred (and survives a restart of this process), mapped tasks are one job each, and a
watching scheduler turns failures in DAG runs triggered by others into diagnosed jobs.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from airflow_env import CI_DIR, Airflow, healthy, state_file
from test_airflow import DagFile, MakeRM, line_of, scheduler, until

from adaptive_llm import JobState, RunManager
from adaptive_llm.jobs.schedulers import airflow_job
from adaptive_llm.jobs.schedulers.airflow_model import TaskRef

ONE_TASK_DAG = """
from airflow.sdk import dag, task


@dag(dag_id="{dag_id}", schedule=None, catchup=False)
def pipeline():
    @task
    def parse():
        return int("twelve")  # MARK parse

    parse()


pipeline()
"""

MAPPED_DAG = """
from airflow.sdk import dag, task

BROKEN = (1, 3)


@dag(dag_id="{dag_id}", schedule=None, catchup=False)
def pipeline():
    @task
    def items():
        return [0, 1, 2, 3]

    @task
    def square(n):
        if n in BROKEN:
            raise ValueError(f"item {n} is broken")  # MARK square
        return n * n

    square.expand(n=items())


pipeline()
"""

WATCHED_DAG = """
from airflow.sdk import dag, task


@dag(dag_id="{dag_id}", schedule=None, catchup=False)
def pipeline():
    @task
    def load():
        row = {"id": 1}
        return row["amount"]  # MARK load

    @task
    def fine():
        print("fine")

    load()
    fine()


pipeline()
"""


async def _restart_airflow() -> None:
    restart = await asyncio.to_thread(
        subprocess.run,
        ["bash", str(CI_DIR / "airflow-up")],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert restart.returncode == 0, restart.stderr[-6000:]


async def test_resubmit_while_down_is_cleared_when_airflow_answers(
    airflow: Airflow, dag_file: DagFile, make_rm: MakeRM, workdir: Path
) -> None:
    pid_file = Path(str(state_file()).removesuffix(".env") + ".api-server.pid")
    if not pid_file.exists():
        pytest.skip("this Airflow was not started by .ci/airflow-up: its API server is not ours")
    dag_id, path = dag_file(ONE_TASK_DAG)
    sched = scheduler(airflow, dags=[dag_id])
    await sched.wait_for_dag(dag_id, timeout=240)
    name = f"{dag_id}.parse"
    rm = make_rm(await sched.jobs(dag_id), scheduler=sched, poll_interval=0.3)
    rm.start()
    await rm.wait(timeout=90)
    first = rm.job_manager.attempts[name]
    assert first.state is JobState.FAILED, first.reason
    path.write_text(path.read_text().replace('int("twelve")', 'int("12")'))

    os.killpg(int(pid_file.read_text()), signal.SIGTERM)
    try:
        await until(lambda: not healthy(airflow.url, 1.0), 30, "the API server stops")
        second = await rm.resubmit(name)  # accepted, not refused
        ref = TaskRef.parse(second.scheduler_id)
        assert ref is not None and ref.clear_since is not None, second.scheduler_id
        assert (ref.dag_id, ref.task_id) == (dag_id, "parse")
        assert ref.run_id == first.scheduler_id.split("/")[1]  # type: ignore[union-attr]
        assert first.ended_at is not None and ref.clear_since / 1000 > first.ended_at  # not it
        await until(lambda: rm.outage is not None, 30, "the outage is seen")
        view = rm.job(name)
        assert view.state is JobState.UNKNOWN and view.attempt == 2
        assert f"cleared when it answers: {name}" in (view.reason or ""), view.reason
        # The kernel restarts while Airflow is down: the deferred clear is in the store.
        await rm.close()
    finally:
        await _restart_airflow()
    again = make_rm(
        [airflow_job(dag_id, "parse", cwd=airflow.dags)],
        scheduler=scheduler(airflow, dags=[dag_id]),
        poll_interval=0.3,
    )
    again.start()
    assert again.job_manager.attempts[name].scheduler_id == second.scheduler_id
    await again.wait(timeout=120)
    done = again.job_manager.attempts[name]
    assert done.number == 2 and done.state is JobState.COMPLETED, done.reason
    text = Path(done.log_path).read_text()
    assert ", try 2\n" in text and "Traceback" not in text
    ti = await again.scheduler.client.task_instance(dag_id, ref.run_id, "parse")  # type: ignore[attr-defined]
    assert ti["state"] == "success" and ti["try_number"] == 2  # cleared once, not twice


async def test_mapped_task_is_one_job_and_clears_its_failed_indexes(
    airflow: Airflow, dag_file: DagFile, make_rm: MakeRM
) -> None:
    dag_id, path = dag_file(MAPPED_DAG)
    sched = scheduler(airflow, dags=[dag_id])
    await sched.wait_for_dag(dag_id, timeout=240)
    rm = make_rm(await sched.jobs(dag_id), scheduler=sched, poll_interval=0.3)
    rm.start()
    await rm.wait(timeout=120)
    name = f"{dag_id}.square"
    assert rm.job(f"{dag_id}.items").state is JobState.COMPLETED
    first = rm.job_manager.attempts[name]
    assert first.state is JobState.FAILED, first.reason
    assert first.reason == "2 of 4 mapped instances failed: [1], [3]"
    text = Path(first.log_path).read_text()
    run_id = first.scheduler_id.split("/")[1]  # type: ignore[union-attr]
    for index in (1, 3):
        assert f"# Airflow task {dag_id}.square[{index}], run {run_id}, try 1\n" in text
        assert f"ValueError: item {index} is broken" in text
    assert "square[0]" not in text and "square[2]" not in text
    diagnosis = await rm.diagnosis(name)
    assert diagnosis is not None and diagnosis.error_type == "ValueError"
    assert diagnosis.location is not None
    assert (diagnosis.location.file, diagnosis.location.line) == (
        str(path),
        line_of(path, "square"),
    )
    assert sched.client.calls["POST /ti/list"] == sched.polls  # one list call per poll

    preview = await sched.resubmit_preview(first)
    assert preview is not None and len(preview) == 2, preview
    # Airflow's dry run lists them in no set order (PostgreSQL's rows are not by map index).
    preview = sorted(preview)
    assert preview[0].startswith(f"clear {dag_id}.square[1] in run {run_id} (now failed")
    assert preview[1].startswith(f"clear {dag_id}.square[3] in run {run_id} (now failed")
    path.write_text(path.read_text().replace("BROKEN = (1, 3)", "BROKEN = ()"))
    second = await rm.resubmit(name)
    assert second.scheduler_id == first.scheduler_id[:-1] + "2"  # type: ignore[index]
    await rm.wait(timeout=120)
    done = rm.job_manager.attempts[name]
    assert done.number == 2 and done.state is JobState.COMPLETED, done.reason
    assert done.reason == "all 4 mapped instances succeeded"
    tis = await sched.client.task_instances([dag_id], [run_id], ["square"])
    tries = {t["map_index"]: (t["state"], t["try_number"]) for t in tis}
    assert tries == {0: ("success", 1), 1: ("success", 2), 2: ("success", 1), 3: ("success", 2)}
    assert rm.job(f"{dag_id}.items").attempt == 1  # only the failed indexes were cleared


async def _trigger_directly(airflow: Airflow, dag_id: str) -> str:
    """Trigger a run through Airflow's REST API, as the UI or another tool would."""
    async with httpx.AsyncClient(base_url=airflow.url, timeout=20) as http:
        login = await http.post(
            "/auth/token", json={"username": airflow.username, "password": airflow.password}
        )
        login.raise_for_status()
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        answer = await http.post(
            f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None}, headers=headers
        )
        answer.raise_for_status()
        return str(answer.json()["dag_run_id"])


async def test_watch_diagnoses_failures_of_runs_triggered_by_others(
    airflow: Airflow, dag_file: DagFile, make_rm: MakeRM, workdir: Path
) -> None:
    dag_id, path = dag_file(WATCHED_DAG)
    probe = scheduler(airflow)
    await probe.wait_for_dag(dag_id, timeout=240)
    await probe.close()
    with pytest.raises(ValueError, match="watch=True needs dags"):
        scheduler(airflow, watch=True)
    began = time.time()
    sched = scheduler(airflow, dags=[dag_id], watch=True)
    rm = make_rm([], scheduler=sched, poll_interval=0.3)
    rm.start()
    run_id = await _trigger_directly(airflow, dag_id)
    assert not run_id.startswith("adaptive_llm__")

    await until(lambda: len(rm.jobs()) == 1, 90, "the failed task becomes a job")
    (view,) = rm.jobs()
    assert view.name.startswith(f"{dag_id}.load.") and view.attempt == 1
    assert rm.job_manager.jobs[view.name].command == ("airflow-task", dag_id, "load")
    await rm.wait(timeout=60)
    attempt = rm.job_manager.attempts[view.name]
    assert attempt.state is JobState.FAILED, attempt.reason
    assert attempt.scheduler_id == f"{dag_id}/{run_id}/load#1"
    diagnosis = await rm.diagnosis(view.name)
    assert diagnosis is not None and diagnosis.error_type == "KeyError", diagnosis
    assert diagnosis.location is not None
    assert (diagnosis.location.file, diagnosis.location.line) == (str(path), line_of(path, "load"))
    assert rm.job(view.name).run == f"{dag_id} run {run_id}"
    assert sched.client.calls.get("POST /dags/{dag}/dagRuns", 0) == 0  # it triggered nothing
    await rm.close()

    # A new process watching since before that run: the job is in the store, found once.
    later = RunManager(
        [], workdir=workdir, scheduler=scheduler(airflow, dags=[dag_id], watch=True, since=began)
    )
    later.start()
    try:
        await later.job_manager.discover_once()
        assert [v.name for v in later.jobs()] == [view.name]
        assert later.job(view.name).state is JobState.FAILED
    finally:
        await later.close()


LONG_DAG = """
import time

from airflow.sdk import dag, task


@dag(dag_id="{dag_id}", schedule=None, catchup=False)
def pipeline():
    @task
    def long_one():
        time.sleep(60)

    long_one()


pipeline()
"""


async def test_a_deleted_dag_run_is_lost_not_triggered_again(
    airflow: Airflow, dag_file: DagFile, make_rm: MakeRM, workdir: Path
) -> None:
    """The kernel stops while a task runs; someone deletes its DAG run in Airflow. The next
    process's poll says the attempt is LOST, and does not bring the run back."""
    dag_id, _ = dag_file(LONG_DAG)
    first = scheduler(airflow, dags=[dag_id])
    await first.wait_for_dag(dag_id, timeout=240)
    rm = make_rm(await first.jobs(dag_id), scheduler=first, poll_interval=0.5)
    rm.start()
    name = f"{dag_id}.long_one"
    await until(lambda: rm.job(name).state is JobState.RUNNING, 120, "the task runs")
    ref = TaskRef.parse(rm.job_manager.attempts[name].scheduler_id)
    assert ref is not None
    await rm.close()  # the kernel stops; the task goes on in Airflow
    run_path = f"/api/v2/dags/{dag_id}/dagRuns/{ref.run_id}"
    # Someone stops the run and deletes it (Airflow deletes no running run).
    await first.client.request("PATCH", run_path, "PATCH /dagRuns/{run}", body={"state": "failed"})
    await first.client.request("DELETE", run_path, "DELETE /dagRuns/{run}")

    again = scheduler(airflow, dags=[dag_id])
    rm2 = make_rm(await again.jobs(dag_id), scheduler=again, poll_interval=0.5)
    rm2.start()
    await until(lambda: rm2.job(name).state is JobState.LOST, 60, "the attempt is lost")
    assert "no longer has run" in (rm2.job(name).reason or "")
    assert again.client.calls.get("POST /dags/{dag}/dagRuns", 0) == 0  # not triggered again
    runs = await again.client.request(
        "GET", f"/api/v2/dags/{dag_id}/dagRuns", "GET /dagRuns", params={"limit": 10}
    )
    assert runs.get("dag_runs") == [], runs
    await rm2.close()
