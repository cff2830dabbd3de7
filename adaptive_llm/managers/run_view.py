"""The run as the chat layer sees it: the managers behind ``chat.context.RunView``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from ..diagnosis import Diagnosis
from ..jobs.model import Attempt, Job
from ..jobs.schedulers.base import ResourceCaps
from .job_manager import JobManager

__all__ = ["ManagerRunView"]


class _Diagnoses(Protocol):
    def cached(self, name: str, attempt: int | None = None) -> Diagnosis | None: ...

    async def last_failure_diagnosis(self, name: str) -> Diagnosis | None: ...

    def llm_diagnosis_text(self, name: str) -> str | None: ...


class ManagerRunView:
    """``RunView`` over a ``JobManager`` and the ``LLMManager``'s diagnoses."""

    def __init__(self, jobs: JobManager, diagnoses: _Diagnoses) -> None:
        self._jm = jobs
        self._lm = diagnoses

    @property
    def workdir(self) -> Path:
        return self._jm.workdir

    def job(self, name: str) -> Job:
        return self._jm.job(name)

    def latest_attempt(self, name: str) -> Attempt | None:
        return self._jm.attempts.get(name)

    def cached_diagnosis(self, name: str) -> Diagnosis | None:
        return self._lm.cached(name)

    async def last_failure_diagnosis(self, name: str) -> Diagnosis | None:
        return await self._lm.last_failure_diagnosis(name)

    def llm_diagnosis_text(self, name: str) -> str | None:
        return self._lm.llm_diagnosis_text(name)

    def update_job(self, job: Job) -> None:
        self._jm.update_job(job)

    async def resubmit(self, name: str) -> Attempt:
        return await self._jm.resubmit(name)

    async def resource_caps(self, name: str) -> ResourceCaps:
        return await self._jm.scheduler.resource_caps(self._jm.job(name))

    async def resubmit_preview(self, name: str) -> list[str] | None:
        attempt = self._jm.attempts.get(name)
        if attempt is None:
            return None
        return await self._jm.scheduler.resubmit_preview(attempt)

    async def scheduler_facts(self, name: str) -> dict[str, Any]:
        job = self._jm.job(name)
        return await self._jm.scheduler.job_facts(job, job.resolved_cwd(self._jm.workdir))
