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

__all__ = ["Cause", "RunFailures", "causes_text", "failures_by_cause", "grouped"]

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
    members: dict[str | None, list[JobView]] = defaultdict(list)
    for view in views:
        members[view.run].append(view)
    sections = []
    for run, group in members.items():
        by_signature: dict[str, list[JobView]] = defaultdict(list)
        for view in group:
            if view.signature is not None:
                by_signature[view.signature].append(view)
        causes = [_cause(found) for found in by_signature.values()]
        causes.sort(key=lambda c: (-len(c.jobs), c.jobs[0]))
        never = tuple(
            sorted(
                v.name
                for v in group
                if v.state is JobState.CANCELLED and _UPSTREAM in (v.reason or "")
            )
        )
        if not causes and not never:
            continue
        states = dict(Counter(v.state.value for v in group)) if run is not None else {}
        sections.append(RunFailures(run, causes, states, never))
    sections.sort(key=lambda s: (s.run is None, -s.failed, s.run or ""))
    return sections


def _cause(views: list[JobView]) -> Cause:
    views = sorted(views, key=lambda v: v.name)
    first = views[0]
    what = first.error_type or (first.category or "unknown").replace("_", " ")
    return Cause(what, first.location, tuple(v.name for v in views))


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
