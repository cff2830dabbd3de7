"""Watching DAG runs that others triggered (scheduled runs, the UI, the API): their failed task
instances become jobs (``AirflowScheduler(..., watch=True)``, through ``Scheduler.discover``).

One ``taskInstances/list`` page per poll: the failed task instances of the watched DAGs in runs
due since ``since`` (``run_after``), that ended since the last page's latest end, oldest first.
A run whose id starts with ``adaptive_llm__`` was triggered by this product: not a find.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from .airflow_api import AirflowClient
from .airflow_model import TaskRef, airflow_job, timestamp
from .airflow_poll import Key
from .base import FoundAttempt

__all__ = ["RUN_PREFIX", "Watch", "found_name", "since_time"]

#: The run ids this product chooses (``AirflowScheduler._run_of``).
RUN_PREFIX = "adaptive_llm__"
#: Failed task instances asked for per poll.
WATCH_PAGE = 50
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def since_time(since: float | datetime | str | None) -> float:
    """``since`` as Unix seconds: a number, a datetime (naive: UTC) or an ISO 8601 text;
    None: now."""
    if since is None:
        return time.time()
    if isinstance(since, int | float):
        return float(since)
    if isinstance(since, str):
        since = datetime.fromisoformat(since.replace("Z", "+00:00"))
    if not isinstance(since, datetime):
        raise TypeError(f"since must be a time, a datetime or an ISO 8601 text, got {since!r}")
    return (since if since.tzinfo else since.replace(tzinfo=UTC)).timestamp()


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


def found_name(dag_id: str, task_id: str, run_id: str) -> str:
    """A found task's job name: ``<dag>.<task>.<run id>`` (characters a job name cannot hold
    as ``_``; at most 128 characters, the run id's end kept)."""
    stem = f"{dag_id}.{task_id}."
    run = _UNSAFE.sub("_", run_id).strip("_.") or "run"
    room = max(128 - len(stem), 8)
    return (stem[: 128 - room] + run[-room:])[:128]


class Watch:
    """The watched DAGs' failures since ``since`` (Unix seconds), one page per call."""

    def __init__(self, dags: Sequence[str], since: float, *, page: int = WATCH_PAGE) -> None:
        self.dags = list(dags)
        self.since = since
        self.page = page
        self._cursor = since
        self._seen: set[Key] = set()

    async def discover(
        self, client: AirflowClient, cwd: Path | None, ours: set[str]
    ) -> list[FoundAttempt]:
        body = {
            "dag_ids": self.dags,
            "state": ["failed"],
            "run_after_gte": _iso(self.since),
            "end_date_gte": _iso(self._cursor),
            "order_by": "end_date",
            "page_limit": self.page,
        }
        page, _ = await client.task_instance_page(body)
        found: list[FoundAttempt] = []
        for ti in page:
            dag_id, run_id = str(ti.get("dag_id")), str(ti.get("dag_run_id"))
            task_id = str(ti.get("task_id"))
            ended = timestamp(ti.get("end_date"))
            if ended is not None:
                self._cursor = max(self._cursor, ended)
            key = (dag_id, run_id, task_id)
            if key in self._seen or run_id.startswith(RUN_PREFIX) or run_id in ours:
                continue
            self._seen.add(key)  # a mapped task's failed indexes: one job
            job = airflow_job(dag_id, task_id, name=found_name(dag_id, task_id, run_id), cwd=cwd)
            first = max(int(ti.get("try_number") or 0), 1)
            found.append(
                FoundAttempt(
                    job,
                    str(TaskRef(dag_id, run_id, task_id, first)),
                    reason=f"found failed in DAG run {run_id} (triggered outside adaptive_llm)",
                )
            )
        return found
