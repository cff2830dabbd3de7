"""``adaptive-llm demo --scheduler airflow``: a DAG whose tasks fail in distinct ways, on a real
Airflow 3 (``eval "$(.ci/airflow-up)"`` starts one and sets the variables read here).

The DAG file is written into Airflow's local dags folder (``$ADAPTIVE_LLM_AIRFLOW_DAGS``); its
tasks run as one DAG run; each failed try's log is fetched through the API and diagnosed
offline. With ``--approve-all`` the chat (the offline assistant, through the same approval gate
as in the notebook) fixes the task killed by its ``execution_timeout``: it proposes doubling the
timeout in the DAG file (the diff) and resubmitting (Airflow's dry run of the clear), both are
approved, the task is cleared, and its second try succeeds.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from ..errors import AdaptiveLLMError
from ..jobs.model import JobState
from ..jobs.schedulers.airflow import DAGS_ENV, URL_ENV, AirflowScheduler
from ..managers.run_manager import RunManager
from .demo import (
    DEFAULT_WORKDIR,
    activate_hint,
    command_name,
    create_workspace,
    describe,
    fix_in_chat,
    shell_arg,
)
from .table import user_path

DAG_ID = "adaptive_llm_demo"
DAG_FILE = f"{DAG_ID}.py"
#: The task the chat fixes with ``--approve-all``: it runs 4 s, its timeout is 3 s.
FIXED_TASK = "slow_report"

DAG_SOURCE = f'''\
"""The adaptive-llm demo DAG (written by `adaptive-llm demo --scheduler airflow`)."""

import time
from datetime import timedelta

from airflow.sdk import dag, task


def parse_count(text):
    return int(text)


@dag(dag_id="{DAG_ID}", schedule=None, catchup=False, tags=["adaptive-llm"])
def adaptive_llm_demo():
    @task
    def extract():
        print("extracted 3 rows")
        return ["a", "b", "c"]

    @task
    def count_rows():
        rows = ["a", "b", "c"]
        return len(rowz)

    @task
    def parse_header():
        return parse_count("twelve")

    @task
    def label():
        return "rows: " + 3

    @task
    def generated_step():
        exec(compile("total = (1,\\n", "generated_step.py", "exec"))

    @task
    def load_model():
        import not_an_installed_module

        return not_an_installed_module

    @task(execution_timeout=timedelta(seconds=3))
    def slow_report():
        time.sleep(4)

    extract()
    count_rows()
    parse_header()
    label()
    generated_step()
    load_model()
    slow_report()


adaptive_llm_demo()
'''

#: task -> (state, category) expected.
EXPECTED = {
    "extract": (JobState.COMPLETED, None),
    "count_rows": (JobState.FAILED, "python_exception"),
    "parse_header": (JobState.FAILED, "python_exception"),
    "label": (JobState.FAILED, "python_exception"),
    "generated_step": (JobState.FAILED, "syntax_error"),
    "load_model": (JobState.FAILED, "missing_module"),
    "slow_report": (JobState.TIMEOUT, "time_limit"),
}


def run_airflow_demo(*, workdir: Path, approve_all: bool = False) -> int:
    try:
        scheduler = AirflowScheduler.from_env(dags=[DAG_ID], retry_max=5.0)
    except ValueError as exc:
        print(f"adaptive-llm demo: {exc}", file=sys.stderr)
        return 2
    if scheduler.dags_folder is None or not scheduler.dags_folder.is_dir():
        print(
            f"adaptive-llm demo: ${DAGS_ENV} must name Airflow's local dags folder (the demo"
            f" writes its DAG file there); .ci/airflow-up prints it with ${URL_ENV}",
            file=sys.stderr,
        )
        return 2
    workdir = workdir.expanduser().resolve()
    create_workspace(workdir)
    print(
        f"adaptive-llm demo: DAG {DAG_ID} ({len(EXPECTED)} tasks) on Airflow at {scheduler.url},"
        f" workdir {workdir}\n"
    )
    try:
        ok = asyncio.run(_run(workdir, scheduler, approve_all=approve_all))
    except (AdaptiveLLMError, TimeoutError, OSError) as exc:
        print(f"\nadaptive-llm demo: {exc}", file=sys.stderr)
        return 1
    return 0 if ok else 1


async def _run(workdir: Path, scheduler: AirflowScheduler, *, approve_all: bool) -> bool:
    from ..managers.causes import causes_text, failures_by_cause
    from .table import format_table

    assert scheduler.dags_folder is not None
    path = scheduler.dags_folder / DAG_FILE
    await asyncio.to_thread(path.write_text, DAG_SOURCE, encoding="utf-8")
    print(f"wrote {user_path(path)}; waiting for Airflow to parse it ...")
    try:
        await scheduler.wait_for_dag(DAG_ID, timeout=120)
        jobs = await scheduler.jobs(DAG_ID)
    except BaseException:
        await scheduler.close()
        raise
    rm = RunManager(jobs, workdir=workdir, scheduler=scheduler, poll_interval=0.5)
    rm.start()
    problems: list[str] = []
    try:
        await rm.wait(timeout=300)
        rows = rm.status()
        print(format_table(rows))
        print(f"\n{causes_text(failures_by_cause(rm.jobs()), show=user_path)}")
        for name in [row["name"] for row in rows]:  # the table's order
            task = name.removeprefix(f"{DAG_ID}.")
            if task not in EXPECTED:
                continue
            state, category = EXPECTED[task]
            view = rm.job(name)
            diagnosis = await rm.llm_manager.diagnosis(name)
            if diagnosis is not None:
                print()
                print(describe(name, view.state, diagnosis, workdir))
            got = diagnosis.category if diagnosis else None
            if view.state is not state or got != category:
                problems.append(
                    f"{name}: expected {state.value}/{category}, got {view.state.value}/{got}"
                )
        if approve_all and not problems:
            problems += await fix_in_chat(rm, f"{DAG_ID}.{FIXED_TASK}")
    finally:
        await rm.close()
    print()
    if problems:
        print("Unexpected outcomes:\n  " + "\n  ".join(problems))
        return False
    succeeded = sum(state is JobState.COMPLETED for state, _ in EXPECTED.values())
    line = (
        f"All {len(EXPECTED)} tasks ended as the demo intends: {succeeded} succeeded,"
        f" {len(EXPECTED) - succeeded} failed as planned"
    )
    if approve_all:
        line += f"; then {FIXED_TASK}, fixed in the chat and cleared, succeeded on its second try"
    print(line + ".")
    cli = command_name()
    if not approve_all:
        again = "" if user_path(workdir) == DEFAULT_WORKDIR else f" --workdir {shell_arg(workdir)}"
        print(f"  fix and clear one task:  {cli} demo --scheduler airflow --approve-all{again}")
    print(f"  jobs and diagnoses:      {cli} status --workdir {shell_arg(workdir)}")
    hint = activate_hint()
    if hint:
        print(hint)
    return True
