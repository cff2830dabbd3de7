"""The facts the chat and the LLM diagnosis get about an Airflow job: its DAG (file, source,
the task's line and ``execution_timeout``), from the local dags folder or Airflow's API."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from ..model import Job
from .airflow_api import AirflowClient, AirflowNotFound
from .airflow_dag import dag_facts
from .airflow_model import task_of

__all__ = ["job_facts"]


async def job_facts(
    client: AirflowClient, job: Job, dags_folder: Path | None, root: Path | None = None
) -> dict[str, Any]:
    """The task's DAG: its id, file (the path in ``root``, the chat's workspace, when the
    dags folder is local), the source around the task and its ``execution_timeout``."""
    dag_id, task_id = task_of(job)
    try:
        dag = await client.dag(dag_id)
    except AirflowNotFound:
        return {"airflow": {"dag_id": dag_id, "task_id": task_id, "error": "unknown DAG"}}
    fileloc = str(dag.get("fileloc") or "")
    found = await asyncio.to_thread(_local_source, fileloc, dags_folder, root)
    source, dag_file = found if found is not None else (None, None)
    origin = "the local DAG file" if source is not None else "Airflow's API"
    if source is None:
        source = await client.dag_source(dag_id)
    details = {"fileloc": fileloc or None, "is_paused": dag.get("is_paused")}
    facts = dag_facts(
        dag_id,
        task_id,
        source,
        dag_file=dag_file,
        source_from=origin,
        ui=f"{client.url}/dags/{dag_id}",
        details=details,
    )
    return {"airflow": facts}


#: The most of a local DAG file read for the job's facts.
_SOURCE_BYTES = 2 << 20


def _local_source(
    fileloc: str, dags_folder: Path | None, root: Path | None
) -> tuple[str, str | None] | None:
    """The DAG file on this machine (Airflow's ``fileloc`` inside the local dags folder): its
    text, and its path relative to ``root`` (None when outside it); None when not local."""
    if not fileloc or dags_folder is None:
        return None
    path = Path(fileloc)
    try:
        path.resolve().relative_to(dags_folder.resolve())
        with path.open("rb") as handle:
            text = handle.read(_SOURCE_BYTES).decode("utf-8")
    except (ValueError, OSError, UnicodeDecodeError):
        return None
    try:
        relative = path.resolve().relative_to(root.resolve()).as_posix() if root else None
    except ValueError:
        relative = None
    return text, relative
