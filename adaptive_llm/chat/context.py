"""What the chat knows of a run: the small ``RunView`` protocol, and the job context it builds.

The chat layer never imports the managers: whatever owns the run (the ``LLMManager``) hands
it an object with these methods. No LangChain here, so the LLM diagnosis can build the same
job context without loading the chat stack.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..diagnosis import Diagnosis
from ..diagnosis.redact import redact
from ..jobs.model import Attempt, Job
from ..jobs.sbatch import batch_script_of, script_header
from ..jobs.schedulers.base import ResourceCaps

__all__ = ["GENERAL", "ChatContext", "RunView", "job_context", "thread_of"]

GENERAL = "general"


class RunView(Protocol):
    """The run as the chat sees it (implemented by the managers)."""

    @property
    def workdir(self) -> Path: ...

    def job(self, name: str) -> Job:
        """The job; ``LookupError`` (``UnknownJobError``) naming the known ones if none."""
        ...

    def latest_attempt(self, name: str) -> Attempt | None: ...

    def cached_diagnosis(self, name: str) -> Diagnosis | None: ...

    async def last_failure_diagnosis(self, name: str) -> Diagnosis | None: ...

    def llm_diagnosis_text(self, name: str) -> str | None: ...

    def update_job(self, job: Job) -> None:
        """Change the job's definition for its next attempts."""
        ...

    async def resubmit(self, name: str) -> Attempt: ...

    async def resource_caps(self, name: str) -> ResourceCaps: ...

    async def resubmit_preview(self, name: str) -> list[str] | None:
        """What a resubmission would change in the scheduler besides a new attempt (Airflow:
        the task instances it clears, from a dry run), or None."""
        ...

    async def scheduler_facts(self, name: str) -> dict[str, Any]:
        """What the scheduler knows about the job (Airflow: its DAG file and source)."""
        ...


@dataclass(frozen=True)
class ChatContext:
    """The chat a model or tool call belongs to (LangGraph's runtime context)."""

    thread: str
    job: str | None


def thread_of(job: str | None) -> str:
    """The conversation's thread id: ``job:<name>``, or ``general``."""
    return f"job:{job}" if job else GENERAL


def root_of(run: RunView, job: str | None) -> Path:
    """The chat's workspace: the job's working directory, or the run's workdir."""
    if job is None:
        return run.workdir
    return run.job(job).resolved_cwd(run.workdir)


def job_context(
    run: RunView,
    name: str,
    caps: ResourceCaps | None = None,
    facts: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The facts about a job that a model (or the offline assistant) is given (``facts``: the
    scheduler's, e.g. an Airflow task's DAG; their text is redacted)."""
    job = run.job(name)
    attempt = run.latest_attempt(name)
    diagnosis = run.cached_diagnosis(name)
    root = root_of(run, name)
    context: dict[str, Any] = {
        "job": name,
        "state": attempt.state.value if attempt else "PENDING",
        "attempt": attempt.number if attempt else 0,
        "reason": attempt.reason if attempt else None,
        "command": job.command if isinstance(job.command, str) else list(job.command),
        "cwd": str(root),
        "resources": job.resources.to_dict(),
        "log": attempt.log_path if attempt else None,
    }
    script = batch_script_of(job, run.workdir)
    if script is not None:
        with contextlib.suppress(ValueError):  # a script outside the workspace: not editable
            rel = script.resolve().relative_to(Path(root).resolve())
            header = [redact(line) for line in script_header(script)]  # e.g. --export=TOKEN
            context["batch_script"] = {"path": rel.as_posix(), "header": header}
    if diagnosis is not None:
        data = diagnosis.to_dict()
        data.pop("path", None)
        # How long the engine took means nothing to the model, and a value that changes with
        # each computation would defeat the providers' prompt caches from there on.
        data.pop("elapsed_ms", None)
        context["diagnosis"] = data
    if caps is not None:
        context["max_time_limit"] = caps.time_limit
        context["max_memory"] = caps.memory
    for key, value in (facts or {}).items():
        context.setdefault(key, _redacted(value))
    llm_text = run.llm_diagnosis_text(name)
    if llm_text:
        context["llm_diagnosis"] = llm_text
    return context


def _redacted(value: Any) -> Any:
    """``value`` with every string redacted (a DAG's source may hold a password)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {k: _redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(v) for v in value]
    return value
