"""What an Airflow job is: ``airflow_job``, the task a scheduler id names (``TaskRef``), how
Airflow's task-instance states map to ours, and the settings' variable names."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..model import Job, JobState
from .base import SubmitError

#: The first word of an Airflow job's command.
COMMAND = "airflow-task"
#: The variables ``from_env`` reads (``.ci/airflow-up`` prints them).
URL_ENV = "ADAPTIVE_LLM_AIRFLOW_URL"
USERNAME_ENV = "ADAPTIVE_LLM_AIRFLOW_USERNAME"
PASSWORD_ENV = "ADAPTIVE_LLM_AIRFLOW_PASSWORD"
TOKEN_ENV = "ADAPTIVE_LLM_AIRFLOW_TOKEN"
DAGS_ENV = "ADAPTIVE_LLM_AIRFLOW_DAGS"

ID_RE = re.compile(r"[A-Za-z0-9_.-]{1,250}")
TIMEOUT_TYPES = ("AirflowTaskTimeout",)

STATES: dict[str | None, JobState] = {
    None: JobState.PENDING,
    "scheduled": JobState.PENDING,
    "queued": JobState.PENDING,
    "up_for_retry": JobState.PENDING,
    "awaiting_input": JobState.RUNNING,
    "running": JobState.RUNNING,
    "deferred": JobState.RUNNING,
    "up_for_reschedule": JobState.RUNNING,
    "restarting": JobState.RUNNING,
    "success": JobState.COMPLETED,
    "failed": JobState.FAILED,
    "upstream_failed": JobState.CANCELLED,
    "skipped": JobState.CANCELLED,
    "removed": JobState.LOST,
}
REASONS = {
    "upstream_failed": "never ran: an upstream task failed (Airflow: upstream_failed)",
    "skipped": "skipped by Airflow",
    "removed": "the task is no longer in the DAG (Airflow: removed)",
    "up_for_retry": "try {try_number} failed; Airflow retries it (up to {max_tries} retries)",
}


def airflow_job(
    dag_id: str,
    task_id: str,
    *,
    name: str | None = None,
    cwd: str | os.PathLike[str] | None = None,
    max_attempts: int = 1,
) -> Job:
    """A job that is the task ``task_id`` of the DAG ``dag_id`` (named ``dag_id.task_id``)."""
    for what, value in (("DAG id", dag_id), ("task id", task_id)):
        if not isinstance(value, str) or not ID_RE.fullmatch(value):
            raise ValueError(f"invalid Airflow {what} {value!r}: letters, digits, '.', '_', '-'")
    return Job(
        name or f"{dag_id}.{task_id}"[:128],
        (COMMAND, dag_id, task_id),
        cwd=cwd,
        max_attempts=max_attempts,
    )


def task_of(job: Job) -> tuple[str, str]:
    """(dag_id, task_id) of an Airflow job; ``SubmitError`` for any other job."""
    command = job.command
    if isinstance(command, str) or len(command) != 3 or command[0] != COMMAND:
        raise SubmitError(
            f"job {job.name!r} is not an Airflow task (its command is {job.command_text!r}):"
            " make it with airflow_job(dag_id, task_id)"
        )
    return command[1], command[2]


@dataclass(frozen=True)
class TaskRef:
    """What an attempt's scheduler id names: a task of a DAG run, from a try on.

    A resubmission made while Airflow did not answer has no try yet: its id is
    ``<dag>/<run>/<task>#clear@<ms>``, ``clear_since`` the end of the previous attempt (Unix
    milliseconds, by Airflow's clock: its ``end_date``); the first poll Airflow answers clears
    the task unless it runs or ended after that (cleared since: then it follows it)."""

    dag_id: str
    run_id: str
    task_id: str
    first_try: int
    clear_since: int | None = None

    def __str__(self) -> str:
        tail = f"clear@{self.clear_since}" if self.clear_since is not None else self.first_try
        return f"{self.dag_id}/{self.run_id}/{self.task_id}#{tail}"

    @property
    def task(self) -> tuple[str, str, str]:
        return self.dag_id, self.run_id, self.task_id

    def at(self, first_try: int) -> TaskRef:
        """The same task from ``first_try`` on (no clear pending)."""
        return TaskRef(self.dag_id, self.run_id, self.task_id, first_try)

    @classmethod
    def parse(cls, text: str | None) -> TaskRef | None:
        if not text or "/" not in text or "#" not in text:
            return None
        dag_id, _, rest = text.partition("/")
        rest, _, first = rest.rpartition("#")
        run_id, _, task_id = rest.rpartition("/")
        if not (dag_id and run_id and task_id):
            return None
        since = first.removeprefix("clear@")
        if since != first and since.isdigit():
            return cls(dag_id, run_id, task_id, 0, int(since))
        if not first.isdigit():
            return None
        return cls(dag_id, run_id, task_id, int(first))


def timed_out(events: Sequence[Mapping[str, Any]]) -> bool:
    for event in events:
        for stack in event.get("error_detail") or []:
            if isinstance(stack, Mapping) and stack.get("exc_type") in TIMEOUT_TYPES:
                return True
    return False


def timestamp(value: Any) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
