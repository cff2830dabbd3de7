"""The chat on Airflow tasks, against a real Airflow 3: the job's facts carry the DAG file, the
offline assistant's fix of an ``execution_timeout`` goes through the approval gate (the DAG
file's diff and the clear's dry run on screen), the cleared task's second try succeeds, and a
clear that would no longer be what the user saw is refused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from airflow_env import Airflow
from test_airflow import scheduler

from adaptive_llm import JobState, RunManager

MakeRM = Callable[..., RunManager]
DagFile = Callable[[str], tuple[str, Path]]

SLOW_DAG = """
import time
from datetime import timedelta

from airflow.sdk import dag, task


@dag(dag_id="{dag_id}", schedule=None, catchup=False)
def pipeline():
    @task(execution_timeout=timedelta(seconds=2))
    def fixed_in_chat():
        time.sleep(3)

    @task(execution_timeout=timedelta(seconds=2))
    def changed_meanwhile():
        time.sleep(3)

    fixed_in_chat()
    changed_meanwhile()


pipeline()
"""


async def test_the_chat_fixes_a_timeout_and_clears_the_task_through_the_approval_gate(
    airflow: Airflow, dag_file: DagFile, make_rm: MakeRM
) -> None:
    dag_id, path = dag_file(SLOW_DAG)
    sched = scheduler(airflow, dags=[dag_id])
    await sched.wait_for_dag(dag_id, timeout=240)
    rm = make_rm(await sched.jobs(dag_id), scheduler=sched, poll_interval=0.5)
    rm.start()
    await rm.wait(timeout=150)
    lm = rm.llm_manager
    name = f"{dag_id}.fixed_in_chat"
    first = rm.job_manager.attempts[name]
    assert first.state is JobState.TIMEOUT, first.reason
    run_id = (first.scheduler_id or "").split("/")[1]
    original = path.read_text()

    reply = await lm.chat(name, "Why did it fail, and can you fix it?")

    assert reply.error is None, reply
    # The job's facts: the DAG file in the workspace (the dags folder), the task's line.
    facts = lm.chat_service().job_context(name)["airflow"]
    assert facts["dag_file"] == path.name and facts["dag_id"] == dag_id
    lines = path.read_text().splitlines()
    assert lines[facts["task_line"] - 1].strip() == "def fixed_in_chat():"
    assert facts["dag_source"]["text"] == path.read_text()
    assert "execution_timeout=timedelta(seconds=2)" in reply.text
    edit, resubmit = reply.approvals
    assert (edit.tool, edit.path) == ("edit_file", path.name)
    assert edit.diff is not None
    assert "-    @task(execution_timeout=timedelta(seconds=2))\n" in edit.diff
    assert "+    @task(execution_timeout=timedelta(seconds=4))\n" in edit.diff
    assert edit.diff.count("\n-    @task") == 1  # only this task's line
    assert resubmit.tool == "resubmit_job"
    assert resubmit.diff == (
        "The scheduler's dry run: this resubmission will\n"
        f"  • clear {name} in run {run_id} (now failed; Airflow runs it again)\n"
    )
    assert path.read_text() == original  # nothing changed before the answer

    done = await lm.chat(name, "approve", shown=[a.key for a in reply.approvals])

    assert done.error is None, done
    assert await lm.pending(name) == []
    await rm.wait(timeout=240)
    second = rm.job_manager.attempts[name]
    assert second.number == 2 and second.state is JobState.COMPLETED, second.reason
    assert ", try 2\n" in Path(second.log_path).read_text()
    assert sched.client.calls["POST /dags/{dag}/dagRuns"] == 1  # a clear, not a new run

    # The other task: its state changes in Airflow between the approval and its answer, so
    # the clear would not be what was shown: refused, nothing cleared.
    other = f"{dag_id}.changed_meanwhile"
    proposed = await lm.chat(other, "fix it")
    assert [a.tool for a in proposed.approvals] == ["edit_file", "resubmit_job"], proposed
    assert "(now failed;" in (proposed.approvals[1].diff or "")
    before = rm.job_manager.attempts[other]
    ref = (before.scheduler_id or "").split("#")[0].split("/")
    await sched.client.set_state(ref[0], ref[1], ref[2], "success")

    answer = await lm.chat(other, "approve", shown=[a.key for a in proposed.approvals])

    results = {e.data.get("name"): e for e in answer.events if e.type in ("tool_result", "applied")}
    refusal: Any = results["resubmit_job"]
    assert refusal.data["status"] == "error", answer.events
    assert "Not resubmitted: the scheduler would now do something else" in refusal.text
    assert "(now success;" in refusal.text
    assert rm.job_manager.attempts[other].number == before.number  # nothing submitted
    ti = await sched.client.task_instance(ref[0], ref[1], ref[2])
    assert ti["state"] == "success" and int(ti["try_number"]) == 1  # and nothing cleared
