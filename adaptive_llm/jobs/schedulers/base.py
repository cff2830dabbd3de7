"""The scheduler interface, shared by local subprocesses and SLURM."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import SchedulerError as SchedulerError
from ...errors import SubmitError as SubmitError
from ..model import Attempt, Job
from ..model import AttemptReport as AttemptReport

#: The former name of ``AttemptReport`` (schedulers written for earlier versions use it).
JobStatus = AttemptReport


def check_workdir(job: str, cwd: Path) -> None:
    """``SubmitError`` if ``cwd``, the working directory of ``job``, is not a directory."""
    if not cwd.is_dir():
        what = "does not exist" if not cwd.exists() else "is not a directory"
        raise SubmitError(f"job {job!r}: working directory {cwd} {what}")


@dataclass(frozen=True)
class SubmitRequest:
    """Everything a scheduler needs to start one attempt."""

    job: Job
    attempt: int
    cwd: Path
    log_path: Path
    #: The job's latest attempt before this one (None for its first): a scheduler that reruns
    #: in place (Airflow clears the task instance) finds it through its scheduler id.
    previous: Attempt | None = None


@dataclass(frozen=True)
class FoundAttempt:
    """A job the scheduler found without being asked to run it (``Scheduler.discover``): its
    definition and its attempt's scheduler id (polled like a submitted one)."""

    job: Job
    scheduler_id: str
    #: Why it is a job (shown until its first poll).
    reason: str | None = None


@dataclass(frozen=True)
class ResourceCaps:
    """Upper bounds for a job's resources on this scheduler."""

    time_limit: float | None = None
    memory: int | None = None


class Scheduler(abc.ABC):
    """Submit, poll all attempts in one call, cancel. All methods are coroutines."""

    #: Short name stored with each attempt ("local", "slurm").
    name: str = "base"

    @abc.abstractmethod
    async def submit(self, request: SubmitRequest) -> str:
        """Start (or queue) an attempt; return the scheduler's id for it.

        Raises ``SubmitError`` with a clear message when the job cannot be submitted; in that
        case nothing was started.
        """

    @abc.abstractmethod
    async def poll(self, attempts: Sequence[Attempt]) -> dict[str, AttemptReport]:
        """The status of every given (non-final) attempt, keyed by scheduler id, in one call.

        An attempt missing from the result is unchanged as far as the scheduler knows.
        Raises ``SchedulerError`` when the scheduler does not answer.
        """

    @abc.abstractmethod
    async def cancel(self, attempt: Attempt) -> None:
        """Ask the scheduler to end an attempt; its final state arrives through ``poll``."""

    async def resource_caps(self, job: Job) -> ResourceCaps:
        """The most time and memory a job could be given here (None: unknown or unlimited).

        Fix recipes use it so that "double the time limit" never asks for more than allowed.
        """
        return ResourceCaps()

    async def resubmit_preview(self, attempt: Attempt) -> list[str] | None:
        """What resubmitting after ``attempt`` would change in the scheduler besides starting a
        new attempt, one line each (Airflow: the task instances a clear resets, from a dry
        run); None when it only starts one. The chat shows it in the resubmission's approval
        and checks it again before applying."""
        return None

    async def job_facts(self, job: Job, root: Path | None = None) -> dict[str, Any]:
        """What the scheduler knows about ``job`` that the chat and the LLM diagnosis should
        see (Airflow: the DAG, its file and source, the task's ``execution_timeout``); paths
        relative to ``root``, the job's working directory (the chat's workspace)."""
        return {}

    async def discover(self) -> Sequence[FoundAttempt]:
        """Jobs found running or ended that nobody submitted here (Airflow with ``watch=True``:
        failed task instances in DAG runs others triggered); the JobManager adds them, with
        their attempt, after each poll. One bounded call (a page) per poll; default: none."""
        return ()

    async def adopt(self, attempt: Attempt) -> str | None:
        """An id for an attempt recorded without one (the process died while submitting it).

        Returns None when the scheduler never received it; the caller then submits it again.
        """
        return None

    async def recover(self, attempts: Sequence[Attempt]) -> None:  # noqa: B027
        """Take over attempts that a previous process started and did not see finish."""

    async def close(self) -> None:  # noqa: B027
        """Release resources; running attempts keep running."""
