"""Failures by cause: the failed jobs grouped by their diagnosis's signature, and, for jobs a
scheduler runs together (an Airflow DAG run), one section per run with its tasks' states, so a
whole DAG run's failures show at a glance. The job table and ``adaptive-llm status`` both
render :func:`failures_by_cause`."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..jobs.model import JobState
from .views import JobView, Where

__all__ = ["Cause", "FailureTally", "RunFailures", "causes_text", "failures_by_cause", "grouped"]

#: The reason Airflow's ``upstream_failed`` gives (see ``airflow_model.REASONS``).
_UPSTREAM = "upstream task failed"


@dataclass(frozen=True)
class Cause:
    """Jobs whose failures share one signature: what failed, where, and which jobs."""

    what: str
    where: Where | None
    jobs: tuple[str, ...]


@dataclass(frozen=True)
class RunFailures:
    """The failures of one run (``run`` None: the jobs outside any run), by cause."""

    run: str | None
    causes: list[Cause]
    #: Jobs of the run by state, e.g. ``{"FAILED": 5, "COMPLETED": 1}`` (runs only).
    states: dict[str, int] = field(default_factory=dict)
    #: Jobs that never ran because an upstream job failed (Airflow's ``upstream_failed``).
    never_ran: tuple[str, ...] = ()

    @property
    def failed(self) -> int:
        return sum(len(c.jobs) for c in self.causes)


def grouped(state: JobState, run: str | None) -> bool:
    """Whether :func:`failures_by_cause` needs the view of a job in ``state`` (of ``run``):
    the failed and cancelled jobs, and every job of a run (for the run's states). The rest
    can be left out of its input without changing its result."""
    return state.is_failure or state is JobState.CANCELLED or run is not None


def failures_by_cause(views: Iterable[JobView]) -> list[RunFailures]:
    """The runs with failures first (most failed jobs first, then by name), then the jobs
    outside any run; causes by the number of their jobs, then by name."""
    tally = FailureTally()
    for view in views:
        tally.add(view)
    return tally.sections()


class FailureTally:
    """:func:`failures_by_cause` of views given one at a time, keeping only what its result
    is made of: per run and signature the cause (of the job first by name) and the jobs'
    names, per run the jobs by state and the names that never ran. ``adaptive-llm status``
    streams 100,000 views through it; what it holds is the failed jobs' names, not their
    views."""

    def __init__(self) -> None:
        self._causes: dict[str | None, dict[str, _Found]] = defaultdict(dict)
        self._states: dict[str | None, Counter[str]] = defaultdict(Counter)
        self._never: dict[str | None, list[str]] = defaultdict(list)

    def add(self, view: JobView) -> None:
        run = view.run
        self._states[run][view.state.value] += 1
        if view.signature is not None:
            found = self._causes[run].get(view.signature)
            if found is None:
                self._causes[run][view.signature] = _Found(view)
            else:
                found.add(view)
        if view.state is JobState.CANCELLED and _UPSTREAM in (view.reason or ""):
            self._never[run].append(view.name)

    def sections(self) -> list[RunFailures]:
        sections = []
        for run, states in self._states.items():
            causes = [found.cause() for found in self._causes.get(run, {}).values()]
            causes.sort(key=lambda c: (-len(c.jobs), c.jobs[0]))
            never = tuple(sorted(self._never.get(run, ())))
            if not causes and not never:
                continue
            sections.append(
                RunFailures(run, causes, dict(states) if run is not None else {}, never)
            )
        sections.sort(key=lambda s: (s.run is None, -s.failed, s.run or ""))
        return sections


class _Found:
    """The jobs of one signature in one run: the cause as its job first by name has it, and
    every job's name."""

    __slots__ = ("first", "names", "what", "where")

    def __init__(self, view: JobView) -> None:
        self.names = [view.name]
        self._take(view)

    def _take(self, view: JobView) -> None:
        self.first = view.name
        self.what = view.error_type or (view.category or "unknown").replace("_", " ")
        self.where = view.location

    def add(self, view: JobView) -> None:
        self.names.append(view.name)
        if view.name < self.first:
            self._take(view)

    def cause(self) -> Cause:
        return Cause(self.what, self.where, tuple(sorted(self.names)))


def short_path(path: str, base: Path | None = None) -> str:
    """A location's file as shown: relative to ``base`` when inside it, else its last two
    parts."""
    if base is not None and Path(path).is_relative_to(base):
        return str(Path(path).relative_to(base))
    parts = Path(path).parts
    return str(Path(*parts[-2:])) if len(parts) > 2 else path


def run_heading(section: RunFailures) -> str:
    """``DAG run etl run manual__1 (8 tasks: 5 failed, 1 timeout, 1 cancelled, 1 completed)``."""
    if section.run is None:
        return "Other jobs"
    total = sum(section.states.values())
    order = [s.value for s in JobState]
    states = ", ".join(
        f"{n} {state.lower()}"
        for state, n in sorted(section.states.items(), key=lambda kv: order.index(kv[0]))
    )
    return f"DAG {section.run} ({total} tasks: {states})"


def cause_line(
    cause: Cause,
    base: Path | None = None,
    *,
    names: int = 8,
    show: Callable[[str], str] | None = None,
) -> str:
    """``2 jobs failed with the same KeyError at train.py:12 (a, b)``; ``show`` turns a
    location's absolute file into what is printed (default: :func:`short_path`)."""
    file = cause.where.file if cause.where else ""
    shown_file = show(file) if show is not None and Path(file).is_absolute() else None
    where = f" at {shown_file or short_path(file, base)}:{cause.where.line}" if cause.where else ""
    head, shown = cause_parts(cause, names)
    return f"{head} {cause.what}{where} ({shown})"


def cause_parts(cause: Cause, names: int = 8) -> tuple[str, str]:
    """``("2 jobs failed with the same", "a, b")``: the words before the cause and its jobs
    (at most ``names``), for the plain-text line and the job table's alike."""
    shown = ", ".join(cause.jobs[:names]) + (", …" if len(cause.jobs) > names else "")
    count = len(cause.jobs)
    return (f"{count} jobs failed with the same" if count > 1 else "1 job failed with"), shown


def never_ran_line(section: RunFailures, *, names: int = 8) -> str:
    shown = ", ".join(section.never_ran[:names]) + (", …" if len(section.never_ran) > names else "")
    count = len(section.never_ran)
    return f"{count} never ran: an upstream task failed ({shown})"


def causes_text(
    sections: list[RunFailures],
    base: Path | None = None,
    *,
    show: Callable[[str], str] | None = None,
) -> str:
    """The plain-text block ``adaptive-llm status`` prints after its table ("" if none);
    ``show``: how an absolute file is printed (the command line: a path one can paste)."""
    if not sections:
        return ""
    lines = ["Failures by cause:"]
    runs = any(s.run is not None for s in sections)
    for section in sections:
        indent = "  "
        if runs:
            lines.append(f"  {run_heading(section)}")
            indent = "    "
        lines += [f"{indent}{cause_line(c, base, show=show)}" for c in section.causes]
        if section.never_ran:
            lines.append(f"{indent}{never_ran_line(section)}")
    return "\n".join(lines)
