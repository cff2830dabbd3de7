"""The read model: one frozen ``JobView`` per job, the one place a job's displayed state is
computed. ``rm.jobs()``, ``rm.status()``, the job table and ``adaptive-llm status`` all use
it, so they agree (during a scheduler outage an unfinished job is ``UNKNOWN`` everywhere)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..diagnosis.model import Location
from ..jobs.model import Attempt, Job, JobState
from ..jobs.schedulers.airflow_model import COMMAND as AIRFLOW_COMMAND
from ..jobs.schedulers.airflow_model import TaskRef

__all__ = ["JobPage", "JobView", "Where", "build_views", "run_of", "shown", "shown_state"]


@dataclass(frozen=True)
class Where:
    """The line to open."""

    file: str
    line: int


@dataclass(frozen=True)
class JobView:
    """What a job looks like now: its latest attempt and that attempt's diagnosis."""

    name: str
    #: The state to show: the attempt's, or ``UNKNOWN`` while the scheduler does not answer.
    state: JobState
    #: The latest attempt's number (0: never submitted).
    attempt: int
    runtime: float | None
    exit_code: int | None
    signal: int | None
    reason: str | None
    category: str | None
    summary: str | None
    error_type: str | None
    location: Where | None
    suggestion: str | None
    #: The failure's signature: jobs failing for the same cause share it.
    signature: str | None
    log_path: str | None
    command: str
    #: Changes proposed in the job's chat that wait for the user's decision.
    pending_approvals: int = 0
    #: The run the job's latest attempt belongs to when a scheduler runs jobs together
    #: (Airflow: ``<dag_id> run <run_id>``, the DAG run of its task); else None.
    run: str | None = None

    @property
    def is_final(self) -> bool:
        return self.state.is_final

    @property
    def diagnosed(self) -> bool:
        return self.category is not None

    def to_dict(self) -> dict[str, Any]:
        """The row of ``rm.status()`` and ``adaptive-llm status --json``."""
        return {
            "name": self.name,
            "state": self.state.value,
            "attempt": self.attempt,
            "exit_code": self.exit_code,
            "signal": self.signal,
            "reason": self.reason,
            "runtime": round(self.runtime, 3) if self.runtime else None,
            "category": self.category,
            "summary": self.summary,
            "location": (
                {"file": self.location.file, "line": self.location.line} if self.location else None
            ),
            "suggestion": self.suggestion,
            "log_path": self.log_path,
            "command": self.command,
            "pending_approvals": self.pending_approvals,
            "run": self.run,
        }


class Diagnosed(Protocol):
    """What a view reads of a diagnosis: a ``Diagnosis``, or the cache's ``Brief`` of one."""

    @property
    def signature(self) -> str: ...
    @property
    def category(self) -> str: ...
    @property
    def summary(self) -> str: ...
    @property
    def error_type(self) -> str | None: ...
    @property
    def location(self) -> Location | None: ...
    @property
    def suggestion(self) -> str | None: ...


def build_views(
    jobs: Iterable[Job],
    attempts: Mapping[str, Attempt],
    diagnosis: Callable[[Attempt], Diagnosed | None],
    *,
    outage: str | None = None,
    approvals: Mapping[str, int] | None = None,
) -> list[JobView]:
    """A view per job, in the order of ``jobs``. ``diagnosis`` gives a failed attempt's
    diagnosis (None while it is computed); ``outage`` is the scheduler's error while it does
    not answer; ``approvals`` the pending changes per job."""
    views = []
    for job in jobs:
        attempt = attempts.get(job.name)
        state = shown_state(attempt, outage)
        reason = attempt.reason if attempt else None
        if state is JobState.UNKNOWN and outage is not None:
            reason = f"scheduler not answering: {outage}"
        found = diagnosis(attempt) if attempt is not None and attempt.state.is_failure else None
        location = found.location if found else None
        views.append(
            JobView(
                name=job.name,
                state=state,
                attempt=attempt.number if attempt else 0,
                runtime=attempt.runtime if attempt else None,
                exit_code=attempt.exit_code if attempt else None,
                signal=attempt.signal if attempt else None,
                reason=reason,
                category=found.category if found else None,
                summary=found.summary if found else None,
                error_type=found.error_type if found else None,
                location=Where(location.file, location.line) if location else None,
                suggestion=found.suggestion if found else None,
                signature=found.signature if found else None,
                log_path=attempt.log_path if attempt else None,
                command=job.command_text,
                pending_approvals=(approvals or {}).get(job.name, 0),
                run=run_of(job, attempt),
            )
        )
    return views


def shown_state(attempt: Attempt | None, outage: str | None) -> JobState:
    """The state a job shows: its latest attempt's (``PENDING`` before its first), or
    ``UNKNOWN`` while the scheduler does not answer (``outage``) and it is not final."""
    return shown(attempt.state if attempt is not None else JobState.PENDING, outage)


def shown(state: JobState, outage: str | None) -> JobState:
    """What a job in ``state`` shows (see ``shown_state``)."""
    return JobState.UNKNOWN if outage is not None and not state.is_final else state


def shown_counts(
    jobs: int, states: Mapping[JobState, int], outage: str | None
) -> Counter[JobState] | None:
    """Jobs by shown state (see ``shown_state``) from the counts of their latest attempts'
    states: ``jobs`` jobs, those without an attempt ``PENDING``. None if the attempts are
    more than the jobs (then only a pass over the jobs can tell)."""
    counts: Counter[JobState] = Counter()
    for state, n in states.items():
        counts[shown(state, outage)] += n
    pending = jobs - sum(states.values())
    if pending < 0:
        return None
    if pending:
        counts[shown(JobState.PENDING, outage)] += pending
    return counts


@dataclass(frozen=True)
class JobPage:
    """One page of the jobs (``rm.job_page``): the views of the jobs shown, and counts over
    all of them, so a table of 100,000 jobs builds 50 views, not 100,000."""

    #: The views of the page's jobs, in the run's order.
    views: list[JobView]
    #: The index (among the matching jobs) of the page's first job.
    start: int
    #: How many jobs match the filter (all of them without one).
    matching: int
    #: How many jobs there are.
    total: int
    #: Jobs by shown state over all jobs (``{"FAILED": 3, "COMPLETED": 97}``).
    counts: dict[str, int]


def run_of(job: Job, attempt: Attempt | None) -> str | None:
    """The run an attempt belongs to, for a scheduler that runs jobs together (an Airflow
    task's DAG run: ``<dag_id> run <run_id>``)."""
    command = job.command
    if attempt is None or isinstance(command, str) or not command:
        return None
    if command[0] != AIRFLOW_COMMAND:
        return None
    ref = TaskRef.parse(attempt.scheduler_id)
    return f"{ref.dag_id} run {ref.run_id}" if ref is not None else None
