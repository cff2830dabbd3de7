"""What one poll of an :class:`~.airflow.AirflowScheduler` makes of a task's instances.

A job's task has one task instance per DAG run, or one per map index when it is mapped
(``.expand()``): ``by_task`` groups a list call's answer so; ``report`` is the attempt's state
(a mapped task: FAILED if any index failed, RUNNING while any runs, COMPLETED when all
succeeded); ``plan_clear`` what a resubmission clears (a mapped task: only its failed indexes);
``write_log`` the attempt's log file when it ends (each failed index's tries, headed by its
map index).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..model import AttemptReport, JobState
from .airflow_api import (
    AirflowAuthError,
    AirflowClient,
    AirflowDown,
    AirflowNotFound,
    format_events,
)
from .airflow_model import REASONS, STATES, TaskRef, timed_out, timestamp
from .base import SchedulerError

__all__ = [
    "ClearPlan",
    "DeferredClears",
    "by_task",
    "index_of",
    "is_mapped",
    "plan_clear",
    "report",
    "ti_final",
    "write_log",
]

TI = Mapping[str, Any]
Key = tuple[str, str, str]
log = logging.getLogger(__name__)

#: The failed map indexes named in a reason (the log file holds them all).
SHOWN_INDEXES = 10


def index_of(ti: TI) -> int:
    value = ti.get("map_index")
    return value if isinstance(value, int) else -1


def by_task(tis: Sequence[TI]) -> dict[Key, list[TI]]:
    """The task instances by (DAG, run, task); a mapped task's by map index (its unexpanded
    placeholder, map index -1, dropped once it has expanded)."""
    groups: dict[Key, list[TI]] = {}
    for ti in tis:
        key = (str(ti.get("dag_id")), str(ti.get("dag_run_id")), str(ti.get("task_id")))
        groups.setdefault(key, []).append(ti)
    for key, group in groups.items():
        mapped = sorted((t for t in group if index_of(t) >= 0), key=index_of)
        groups[key] = mapped or group[:1]
    return groups


def is_mapped(group: Sequence[TI]) -> bool:
    return any(index_of(t) >= 0 for t in group)


def ti_final(ti: TI) -> bool:
    return STATES.get(ti.get("state"), JobState.RUNNING).is_final


def _tries(ti: TI) -> int:
    return int(ti.get("try_number") or 0)


@dataclass(frozen=True)
class ClearPlan:
    """What a resubmission does: clear ``targets`` (task ids, or ``(task_id, map_index)``)
    and follow from ``first_try``; no targets: the task runs already (follow it)."""

    first_try: int
    targets: tuple[str | tuple[str, int], ...]


def plan_clear(task_id: str, group: Sequence[TI], since: float | None = None) -> ClearPlan:
    """Clear the task when its instances are all final (a mapped task: only its failed
    indexes, every index when none failed), else follow them as they run. ``since``, for a
    resubmission deferred while Airflow was down, the end of the attempt before it (Unix
    seconds, Airflow's clock): an instance that ended after it was cleared since (by an
    earlier process, or by hand): follow it."""
    if not group:
        return ClearPlan(1, (task_id,))
    fresh = [t for t in group if not ti_final(t)]
    if since is not None:
        fresh += [t for t in group if ti_final(t) and (timestamp(t.get("end_date")) or 0) > since]
    if fresh:
        return ClearPlan(max(min(_tries(t) for t in fresh), 1), ())
    if not is_mapped(group):
        return ClearPlan(max(_tries(group[0]) + 1, 1), (task_id,))
    failed = [t for t in group if t.get("state") in ("failed", "upstream_failed")]
    if not failed:
        return ClearPlan(max(min(_tries(t) for t in group) + 1, 1), (task_id,))
    targets = tuple((task_id, index_of(t)) for t in failed)
    return ClearPlan(max(min(_tries(t) for t in failed) + 1, 1), targets)


def _one(ref: TaskRef, ti: TI, mapped: bool = False) -> AttemptReport:
    state = ti.get("state")
    tries = _tries(ti)
    if mapped and state == "success":
        pass  # an index that succeeded in an earlier attempt (not cleared since) is done
    elif state not in ("upstream_failed", "skipped") and tries < ref.first_try:
        return AttemptReport(JobState.PENDING, reason="cleared; waiting for its next try")
    job_state = STATES.get(state)
    if job_state is None:
        return AttemptReport(JobState.RUNNING, reason=f"Airflow state {state!r}")
    reason = REASONS.get(str(state))
    if reason:
        reason = reason.format(try_number=tries, max_tries=ti.get("max_tries"))
    return AttemptReport(
        job_state,
        exit_code=0 if state == "success" else None,
        reason=reason,
        started_at=timestamp(ti.get("start_date")) if job_state is not JobState.PENDING else None,
        ended_at=timestamp(ti.get("end_date")) if job_state.is_final else None,
    )


def _indexes(indexes: Sequence[int]) -> str:
    shown = ", ".join(f"[{i}]" for i in indexes[:SHOWN_INDEXES])
    return shown + (
        f" and {len(indexes) - SHOWN_INDEXES} more" if len(indexes) > SHOWN_INDEXES else ""
    )


def report(ref: TaskRef, group: Sequence[TI]) -> AttemptReport:
    """The attempt's state from its task instances (one, or one per map index)."""
    if not is_mapped(group):
        return _one(ref, group[0])
    reports = [(index_of(t), _one(ref, t, mapped=True)) for t in group]
    total = len(reports)
    starts = [r.started_at for _, r in reports if r.started_at is not None]
    started = min(starts) if starts else None
    failed = [i for i, r in reports if r.state is JobState.FAILED]
    waiting = [i for i, r in reports if not r.state.is_final]
    if waiting:
        running = any(r.state is JobState.RUNNING for _, r in reports)
        reason = f"{total - len(waiting)} of {total} mapped instances done"
        if failed:
            reason += f", {len(failed)} failed: {_indexes(failed)}"
        state = JobState.RUNNING if running or total > len(waiting) else JobState.PENDING
        return AttemptReport(state, reason=reason, started_at=started)
    ends = [r.ended_at for _, r in reports if r.ended_at is not None]
    ended = max(ends) if ends else time.time()
    if failed:
        reason = f"{len(failed)} of {total} mapped instances failed: {_indexes(failed)}"
        return AttemptReport(JobState.FAILED, reason=reason, started_at=started, ended_at=ended)
    others = [(i, r) for i, r in reports if r.state is not JobState.COMPLETED]
    if not others:
        reason = f"all {total} mapped instances succeeded"
        return AttemptReport(
            JobState.COMPLETED, exit_code=0, reason=reason, started_at=started, ended_at=ended
        )
    state = others[0][1].state
    reason = f"{len(others)} of {total} mapped instances did not succeed: " + ", ".join(
        f"[{i}] {r.reason or r.state.value.lower()}" for i, r in others[:SHOWN_INDEXES]
    )
    return AttemptReport(state, reason=reason, started_at=started, ended_at=ended)


async def write_log(
    client: AirflowClient, ref: TaskRef, group: Sequence[TI], done: AttemptReport, path: Path
) -> AttemptReport:
    """Write the attempt's tries' logs to ``path`` (a mapped task: each failed index's tries,
    headed by its map index); TIMEOUT when the last try (of each failed index) timed out."""
    mapped = is_mapped(group)
    shown = [t for t in group if t.get("state") == "failed"] if mapped else list(group[:1])
    header = f"# Airflow task {ref.dag_id}.{ref.task_id}"
    chunks: list[str] = []
    problems: list[str] = []
    killed: list[bool] = []
    for ti in shown:
        index = index_of(ti)
        name = f"{header}[{index}], run {ref.run_id}" if mapped else f"{header}, run {ref.run_id}"
        last = _tries(ti)
        first = max(min(ref.first_try, last), 1) if mapped else ref.first_try
        for number in range(first, last + 1):
            try:
                events = await client.log_events(
                    ref.dag_id, ref.run_id, ref.task_id, number, map_index=index
                )
            except (AirflowAuthError, AirflowDown):
                raise  # poll again later: nothing is recorded before the log is written
            except SchedulerError as exc:  # not found, or an error Airflow answered
                what = f"try {number}" + (f" of [{index}]" if mapped else "")
                problems.append(f"Airflow could not serve the log of {what}: {exc}")
                chunks.append(f"{name}, try {number}: no log ({exc})\n")
                continue
            chunks.append(f"{name}, try {number}\n{format_events(events)}")
            if number == last:
                killed.append(timed_out(events))
    if not chunks:
        if mapped and done.state is JobState.COMPLETED:
            chunks.append(f"{header}, run {ref.run_id}: {done.reason}\n")
        else:
            chunks.append(f"{header}, run {ref.run_id}: it never ran ({done.reason or 'no try'})\n")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(path.write_text, "\n".join(chunks), encoding="utf-8")
    except OSError as exc:
        problems.append(f"cannot write the log to {path}: {exc}")
    state, reason = done.state, done.reason
    if state is JobState.FAILED and killed and all(killed):
        state = JobState.TIMEOUT
        if mapped:
            reason = f"{reason}; killed by their execution_timeout (AirflowTaskTimeout)"
        else:
            reason = "killed by its execution_timeout (AirflowTaskTimeout)"
    if problems:
        reason = "; ".join([reason, *problems] if reason else problems)
    return AttemptReport(
        state,
        exit_code=done.exit_code,
        reason=reason,
        started_at=done.started_at,
        ended_at=done.ended_at or time.time(),
    )


class DeferredClears:
    """Resubmissions accepted while Airflow did not answer (ids ``...#clear@<ms>``): the
    first poll Airflow answers clears each task, once; ``resolved`` the tries each follows."""

    def __init__(self) -> None:
        self.resolved: dict[str, TaskRef] = {}
        #: Cancelled before Airflow answered: reported CANCELLED, never cleared.
        self.cancelled: set[str] = set()

    def done(self, sid: str) -> bool:
        return sid in self.resolved

    async def resolve(
        self, client: AirflowClient, sid: str, ref: TaskRef, group: Sequence[TI]
    ) -> TaskRef | AttemptReport:
        """The tries a deferred resubmission follows, clearing the task first when it is
        still final (the first poll Airflow answers); a report while there is none yet."""
        resolved = self.resolved.get(sid)
        if resolved is not None:
            return resolved
        if sid in self.cancelled:
            reason = "cancelled before Airflow answered (the task was not cleared)"
            return AttemptReport(JobState.CANCELLED, reason=reason, ended_at=time.time())
        if not group:
            return AttemptReport(JobState.PENDING, reason="its task instance is not listed yet")
        since = ref.clear_since / 1000 if ref.clear_since is not None else None
        plan = plan_clear(ref.task_id, group, since)
        if plan.targets:
            try:
                await client.clear(ref.dag_id, ref.run_id, plan.targets, dry_run=False)
            except AirflowNotFound as exc:
                reason = f"could not clear {ref.dag_id}.{ref.task_id} in run {ref.run_id}: {exc}"
                return AttemptReport(JobState.FAILED, reason=reason, ended_at=time.time())
            log.info("cleared %s in run %s (resubmitted while Airflow was down)", plan.targets,
                     ref.run_id)  # fmt: skip
        self.resolved[sid] = resolved = ref.at(plan.first_try)
        if plan.targets:  # the states listed are from before the clear
            return AttemptReport(JobState.PENDING, reason="cleared; waiting for its next try")
        return resolved
