"""Airflow 3 as a scheduler: a job is a task of a DAG run, an attempt is a try (REST API v2).

The contract:

- **A job names a task.** ``airflow_job(dag_id, task_id)`` is a ``Job`` whose command is the
  argv ``("airflow-task", dag_id, task_id)`` (nothing runs it here: Airflow runs the task; the
  command only names it, and shows in the job table as ``airflow-task etl extract``). Its cwd is
  the local dags folder when there is one, so the diagnosis takes the DAG file for the user's
  code and the chat's workspace holds it. ``await scheduler.jobs(dag_id)`` makes one per task.
- **Submit, first attempt: trigger a DAG run.** The first job of a DAG submitted through this
  scheduler triggers a run (``conf`` from ``conf={dag_id: {...}}``); the other jobs of that DAG
  join it, so N tasks are one run, not N runs. The run id is ``adaptive_llm__<time>_<random>``,
  chosen here: while Airflow is down a job is still submitted (its id names the run) and the
  run is triggered by the first poll Airflow answers (a 409 means it was, and is fine).
- **Resubmit: clear the task instance** in the run of the job's previous attempt (only that
  task: neither upstream nor downstream; resubmit a downstream job to clear it too). The new
  attempt follows the try that comes after the previous one's. ``await
  scheduler.clear_preview(attempt)`` lists what a clear would touch (a dry run). While Airflow
  does not answer, a resubmission is accepted: its id says "clear pending" and the first poll
  Airflow answers clears the task (unless it runs, or ended after the previous attempt did:
  cleared since, it follows it).
- **Mapped tasks** (``.expand()``): one job covers every map index: FAILED if any index
  failed (TIMEOUT if those timed out), RUNNING while any runs, COMPLETED when all succeeded;
  its log holds each failed index's tries; a resubmission clears only the failed indexes.
- **Scheduler id**: ``<dag_id>/<run_id>/<task_id>#<first try>`` (``#clear@<ms>`` while a
  deferred clear is pending); a poll needs nothing else, so a new process re-attaches to the
  attempts an earlier one started.
- **Watch** (``watch=True``): failed task instances in runs of the watched DAGs that others
  triggered (scheduled runs, the UI, the API) since ``since`` (default: the scheduler's start)
  become jobs named ``<dag>.<task>.<run id>``, found by ``discover`` (one list page per poll).
- **Poll: one** ``POST /api/v2/dags/~/dagRuns/~/taskInstances/list`` (per 100 task instances)
  for every active attempt. States: none/scheduled/queued/up_for_retry -> PENDING (up_for_retry
  with the reason "try N failed; Airflow retries it"), running/deferred/up_for_reschedule/
  restarting -> RUNNING, success -> COMPLETED, failed -> FAILED (TIMEOUT when the try ended in
  ``AirflowTaskTimeout``: its ``execution_timeout``), upstream_failed -> CANCELLED ("never ran:
  an upstream task failed"; one diagnosis per cause, the upstream's), skipped -> CANCELLED,
  removed -> LOST. Airflow's own retries stay inside one attempt.
- **Logs**: when an attempt ends, each of its tries' logs is fetched through the API (JSON
  events) and written to the attempt's log file as text, the failure's ``error_detail`` as a
  Python traceback, so the diagnosis engine reads it unchanged. A log Airflow cannot serve
  leaves a one-line note in the file and in the reason.
- **Cancel** marks the task instance ``skipped`` (Airflow stops a running try): CANCELLED.
- **Errors**: Airflow down or unreachable: ``poll`` raises ``SchedulerError`` and backs off (1 s
  doubling to ``retry_max``); the JobManager keeps every job, UNKNOWN until Airflow answers.
  Refused credentials, an unknown DAG or task, a paused DAG: a one-line ``SubmitError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import secrets
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from ..model import Attempt, Job, JobState
from .airflow_api import (
    AirflowAuthError,
    AirflowClient,
    AirflowConflict,
    AirflowDown,
    AirflowNotFound,
)
from .airflow_facts import job_facts
from .airflow_model import (
    DAGS_ENV,
    ID_RE,
    PASSWORD_ENV,
    TOKEN_ENV,
    URL_ENV,
    USERNAME_ENV,
    TaskRef,
    airflow_job,
    task_of,
)
from .airflow_poll import (
    DeferredClears,
    by_task,
    index_of,
    is_mapped,
    plan_clear,
    report,
    ti_final,
    write_log,
)
from .airflow_watch import Watch, since_time
from .base import (
    AttemptReport,
    FoundAttempt,
    Scheduler,
    SchedulerError,
    SubmitError,
    SubmitRequest,
)

__all__ = ["DAGS_ENV", "URL_ENV", "AirflowScheduler", "TaskRef", "airflow_job", "task_of"]

log = logging.getLogger(__name__)

#: How long a clear waits for Airflow to mark the DAG run ended (about a second after its last
#: task): a clear that lands while the scheduler ends the run leaves the cleared task in a
#: failed run, never scheduled again (Airflow's clear takes no lock on the run). A run still
#: running after that has tasks that run on: the cleared task runs in it.
RUN_SETTLE_SECONDS = 5.0
#: Logs of ended tries fetched at once in a poll, and at most per poll.
LOG_CONCURRENCY = 8
LOG_BATCH = 64


class AirflowScheduler(Scheduler):
    """Airflow 3 at ``url`` over its REST API v2 (see the module's docstring for the contract).

    ``dags``: the DAG ids this scheduler may run (empty: any). Auth: ``username`` and
    ``password`` (a token is fetched from ``/auth/token``), or ``token``. ``conf``: the
    ``conf`` of each triggered run, by DAG id. ``dags_folder``: the local dags folder, the cwd
    of ``jobs()``. ``timeout`` bounds every API call; ``retry_max`` the back-off while Airflow
    does not answer. ``client.calls`` counts the API calls, by path. ``watch=True``: failed
    task instances in runs of ``dags`` that others triggered become jobs (``discover``), from
    ``since`` on (Unix seconds, a datetime or ISO 8601 text; default: now), e.g. last night's
    scheduled runs with ``since="2026-12-01T18:00Z"``.
    """

    name = "airflow"
    #: Ended tries whose logs one poll fetches (and reports); the rest wait for the next poll.
    log_batch = LOG_BATCH

    def __init__(
        self,
        url: str,
        *,
        dags: Sequence[str] = (),
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        conf: Mapping[str, Mapping[str, Any]] | None = None,
        dags_folder: str | os.PathLike[str] | None = None,
        timeout: float = 30.0,
        retry_max: float = 30.0,
        watch: bool = False,
        since: float | datetime | str | None = None,
    ) -> None:
        self.client = AirflowClient(
            url, username=username, password=password, token=token, timeout=timeout
        )
        self.url = self.client.url
        if isinstance(dags, str):
            dags = [dags]
        for dag_id in dags:
            if not isinstance(dag_id, str) or not ID_RE.fullmatch(dag_id):
                raise ValueError(f"invalid Airflow DAG id {dag_id!r}")
        self.dags = tuple(dags)
        if watch and not self.dags:
            raise ValueError("watch=True needs dags=[...]: the DAGs whose runs are watched")
        self.watch = Watch(self.dags, since_time(since)) if watch else None
        self.conf = {k: dict(v) for k, v in (conf or {}).items()}
        self.dags_folder = Path(dags_folder) if dags_folder else None
        self.retry_max = retry_max
        self.polls = 0
        self._runs: dict[str, str] = {}  # DAG id -> the run this scheduler triggered
        self._triggered: set[tuple[str, str]] = set()  # (DAG id, run id) known to Airflow
        self._tasks: dict[str, list[str]] = {}  # DAG id -> its task ids (checked DAGs)
        self._deferred = DeferredClears()  # resubmissions made while Airflow was down
        self._lock = asyncio.Lock()
        self._backoff = 0.0
        self._retry_at = 0.0
        self._last_error = ""

    @classmethod
    def from_env(cls, **kwargs: Any) -> AirflowScheduler:
        """One configured by ``ADAPTIVE_LLM_AIRFLOW_URL``, ``..._USERNAME`` and ``..._PASSWORD``
        (or ``..._TOKEN``) and ``..._DAGS`` (the dags folder), as ``.ci/airflow-up`` prints."""
        url = os.environ.get(URL_ENV, "").strip()
        if not url:
            raise ValueError(f"${URL_ENV} is not set (start an Airflow with .ci/airflow-up)")
        kwargs.setdefault("token", os.environ.get(TOKEN_ENV) or None)
        if kwargs["token"] is None:
            kwargs.setdefault("username", os.environ.get(USERNAME_ENV) or None)
            kwargs.setdefault("password", os.environ.get(PASSWORD_ENV))
        kwargs.setdefault("dags_folder", os.environ.get(DAGS_ENV) or None)
        return cls(url, **kwargs)

    def __repr__(self) -> str:
        return f"AirflowScheduler({self.url!r}, dags={list(self.dags)!r})"

    # -- jobs ---------------------------------------------------------------------------------

    async def jobs(self, dag_id: str, *, max_attempts: int = 1) -> list[Job]:
        """One job per task of the DAG, cwd the dags folder (if set)."""
        await self._check_dag(dag_id)
        return [
            airflow_job(dag_id, task_id, cwd=self.dags_folder, max_attempts=max_attempts)
            for task_id in self._tasks[dag_id]
        ]

    async def wait_for_dag(self, dag_id: str, timeout: float = 60.0) -> None:
        """Until Airflow has parsed the DAG (a new DAG file takes a few seconds)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if not (await self.client.dag(dag_id)).get("is_stale"):
                    return  # stale: its file was gone when last looked at
                raise AirflowNotFound(f"DAG {dag_id!r} is stale")
            except AirflowNotFound:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"Airflow at {self.url} did not list DAG {dag_id!r} within {timeout:g}s"
                        " (is the file in its dags folder, and does it import?)"
                    ) from None
                await asyncio.sleep(1.0)

    async def dag_source(self, dag_id: str) -> str:
        """The DAG file's source as Airflow parsed it."""
        return await self.client.dag_source(dag_id)

    async def clear_preview(self, attempt: Attempt) -> list[str]:
        """What clearing the attempt's task would clear (a dry run): ``dag.task@run`` each."""
        ref = TaskRef.parse(attempt.scheduler_id)
        if ref is None:
            return []
        cleared = await self.client.clear(
            ref.dag_id, ref.run_id, await self._targets(ref), dry_run=True
        )
        return [
            f"{t.get('dag_id')}.{t.get('task_id')}{_index(t)}@{t.get('dag_run_id')}"
            for t in cleared
        ]

    async def resubmit_preview(self, attempt: Attempt) -> list[str] | None:
        """The task instances a resubmission clears (Airflow's dry run), each with its state
        now; ``SchedulerError`` when Airflow does not answer (nothing is shown as cleared that
        was not asked)."""
        ref = TaskRef.parse(attempt.scheduler_id)
        if ref is None:
            return None
        try:
            targets = await self._targets(ref)
            cleared = await self.client.clear(ref.dag_id, ref.run_id, targets, dry_run=True)
        except AirflowNotFound as exc:
            raise SchedulerError(f"Airflow cannot clear {ref}: {exc}") from None
        return [
            f"clear {t.get('dag_id')}.{t.get('task_id')}{_index(t)} in run {t.get('dag_run_id')}"
            f" (now {t.get('state') or 'no state'}; Airflow runs it again)"
            for t in cleared
        ]

    async def job_facts(self, job: Job, root: Path | None = None) -> dict[str, Any]:
        """The task's DAG: its id, file (the path in ``root``, the chat's workspace, when the
        dags folder is local), the source around the task and its ``execution_timeout``."""
        return await job_facts(self.client, job, self.dags_folder, root)

    # -- interface ----------------------------------------------------------------------------

    async def submit(self, request: SubmitRequest) -> str:
        job = request.job
        dag_id, task_id = task_of(job)
        if self.dags and dag_id not in self.dags:
            raise SubmitError(
                f"job {job.name!r}: DAG {dag_id!r} is not one this scheduler runs"
                f" (dags={list(self.dags)})"
            )
        try:
            async with self._lock:  # the jobs of one DAG join one run
                try:
                    await self._check_dag(dag_id)
                except AirflowDown as exc:  # checked when the run is triggered, in a poll
                    log.warning("%s; job %s is submitted when Airflow answers", exc, job.name)
                if dag_id in self._tasks and task_id not in self._tasks[dag_id]:
                    known = ", ".join(self._tasks[dag_id][:20])
                    raise SubmitError(
                        f"job {job.name!r}: DAG {dag_id!r} has no task {task_id!r} (tasks: {known})"
                    )
                previous = TaskRef.parse(
                    request.previous.scheduler_id if request.previous else None
                )
                if previous is not None and (previous.dag_id, previous.task_id) == (
                    dag_id,
                    task_id,
                ):
                    try:
                        return str(await self._clear(previous))
                    except AirflowDown as exc:  # cleared by the first poll Airflow answers
                        log.warning("%s; job %s is cleared when Airflow answers", exc, job.name)
                        # Airflow's end of the previous try (ms, rounded up): a task that
                        # ends after it was cleared since, by an earlier poll or by hand.
                        ended = request.previous.ended_at if request.previous else None
                        since = math.ceil((ended or time.time()) * 1000)
                        return str(TaskRef(dag_id, previous.run_id, task_id, 0, since))
                return str(TaskRef(dag_id, await self._run_of(dag_id), task_id, 1))
        except AirflowAuthError as exc:
            raise SubmitError(f"job {job.name!r}: {exc}") from None
        except AirflowNotFound as exc:
            raise SubmitError(f"job {job.name!r}: Airflow: {exc}") from None

    async def poll(self, attempts: Sequence[Attempt]) -> dict[str, AttemptReport]:
        refs = {a.scheduler_id: TaskRef.parse(a.scheduler_id) for a in attempts if a.scheduler_id}
        if not refs:
            return {}
        now = time.monotonic()
        if now < self._retry_at:
            wait = self._retry_at - now
            raise SchedulerError(f"{self._last_error} (trying again in {wait:.0f}s)")
        self.polls += 1
        try:
            result = await self._poll(refs, {a.scheduler_id: a for a in attempts})
        except SchedulerError as exc:
            self._failed(exc)
            deferred = [
                a.job
                for a in attempts
                if (r := refs.get(a.scheduler_id or "")) is not None
                and r.clear_since is not None
                and not self._deferred.done(a.scheduler_id or "")
            ]
            if deferred:
                names = ", ".join(deferred[:5]) + (" ..." if len(deferred) > 5 else "")
                raise SchedulerError(
                    f"{exc} (resubmitted, cleared when it answers: {names})"
                ) from None
            raise
        self._backoff = 0.0
        return result

    async def discover(self) -> list[FoundAttempt]:
        """With ``watch=True``: the watched DAGs' failed task instances in runs others
        triggered, not found before (one list page per call)."""
        if self.watch is None:
            return []
        now = time.monotonic()
        if now < self._retry_at:
            raise SchedulerError(
                f"{self._last_error} (trying again in {self._retry_at - now:.0f}s)"
            )
        try:
            found = await self.watch.discover(
                self.client, self.dags_folder, set(self._runs.values())
            )
        except SchedulerError as exc:
            self._failed(exc)
            raise
        for item in found:
            ref = TaskRef.parse(item.scheduler_id)
            if ref is not None:
                self._triggered.add((ref.dag_id, ref.run_id))
        return found

    def _failed(self, exc: SchedulerError) -> None:
        self._backoff = min(max(self._backoff * 2, 1.0), self.retry_max)
        self._retry_at = time.monotonic() + self._backoff
        self._last_error = str(exc)

    async def cancel(self, attempt: Attempt) -> None:
        ref = TaskRef.parse(attempt.scheduler_id)
        if ref is None:
            return
        if ref.clear_since is not None and not self._deferred.done(str(attempt.scheduler_id)):
            self._deferred.cancelled.add(str(attempt.scheduler_id))  # not cleared: nothing ran
            return
        group = await self._instances(ref)
        indexes = [index_of(t) for t in group if is_mapped(group) and not ti_final(t)]
        try:
            for index in indexes or [-1]:
                await self.client.set_state(ref.dag_id, ref.run_id, ref.task_id, "skipped", index)
        except AirflowNotFound:
            return

    async def close(self) -> None:
        await self.client.aclose()

    # -- internals ----------------------------------------------------------------------------

    async def _check_dag(self, dag_id: str) -> None:
        """The DAG exists and is not paused; its task ids cached."""
        if dag_id in self._tasks:
            return
        try:
            dag = await self.client.dag(dag_id)
        except AirflowNotFound:
            known = ", ".join(await self.client.dag_ids()) or "none"
            raise SubmitError(f"unknown DAG id {dag_id!r} at {self.url} (DAGs: {known})") from None
        if dag.get("is_stale"):
            raise SubmitError(
                f"DAG {dag_id!r} is stale in Airflow (its file was not found when last parsed)"
            )
        if dag.get("is_paused"):
            raise SubmitError(f"DAG {dag_id!r} is paused in Airflow: unpause it first")
        self._tasks[dag_id] = await self.client.task_ids(dag_id)

    async def _run_of(self, dag_id: str) -> str:
        """The DAG's run for this scheduler's first attempts. Its id is chosen here, so an
        attempt has its id even while Airflow is down: the run is then triggered by a poll."""
        run_id = self._runs.get(dag_id)
        if run_id is None:
            stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
            run_id = f"adaptive_llm__{stamp}_{secrets.token_hex(3)}"
            self._runs[dag_id] = run_id
            with contextlib.suppress(AirflowDown):
                await self._trigger(dag_id, run_id)
        return run_id

    async def _trigger(self, dag_id: str, run_id: str) -> None:
        """Trigger the run unless it was (a 409: an earlier process or call triggered it)."""
        if (dag_id, run_id) in self._triggered:
            return
        try:
            await self.client.trigger(dag_id, run_id, self.conf.get(dag_id, {}))
            log.info("triggered DAG %s: run %s", dag_id, run_id)
        except AirflowConflict:
            pass
        self._triggered.add((dag_id, run_id))

    async def _instances(self, ref: TaskRef) -> list[Mapping[str, Any]]:
        """The task's instances in its run (each map index of a mapped task): one list call."""
        tis = await self.client.task_instances([ref.dag_id], [ref.run_id], [ref.task_id])
        return by_task(tis).get(ref.task, [])

    async def _targets(self, ref: TaskRef) -> list[str | tuple[str, int]]:
        """What a resubmission after ``ref`` clears (a mapped task: its failed indexes)."""
        plan = plan_clear(ref.task_id, await self._instances(ref))
        return list(plan.targets) or [ref.task_id]

    async def _clear(self, previous: TaskRef) -> TaskRef:
        """Clear the task in its run (a mapped task: its failed indexes) unless it runs; the
        new attempt starts at the try after the last one."""
        plan = plan_clear(previous.task_id, await self._instances(previous))
        if plan.targets:
            await self._settle(previous)
            await self.client.clear(previous.dag_id, previous.run_id, plan.targets, dry_run=False)
            log.info("cleared %s in run %s", plan.targets, previous.run_id)
        return previous.at(plan.first_try)

    async def _settle(self, ref: TaskRef) -> None:
        """Until the DAG run is not ``queued``/``running``, or :data:`RUN_SETTLE_SECONDS`."""
        deadline = time.monotonic() + RUN_SETTLE_SECONDS
        while await self.client.dag_run_state(ref.dag_id, ref.run_id) in ("queued", "running"):
            if time.monotonic() >= deadline:
                return
            await asyncio.sleep(0.25)

    async def _poll(
        self, refs: Mapping[str, TaskRef | None], attempts: Mapping[str | None, Attempt]
    ) -> dict[str, AttemptReport]:
        result: dict[str, AttemptReport] = {}
        valid = {sid: ref for sid, ref in refs.items() if ref is not None}
        for sid in refs.keys() - valid.keys():
            result[sid] = AttemptReport(
                JobState.LOST, reason=f"{sid!r} is not an Airflow task instance id"
            )
        if not valid:
            return result
        groups = by_task(
            await self.client.task_instances(
                [r.dag_id for r in valid.values()],
                [r.run_id for r in valid.values()],
                [r.task_id for r in valid.values()],
            )
        )
        ended: list[tuple[str, TaskRef, Any, AttemptReport]] = []
        for sid, ref in valid.items():
            group = groups.get(ref.task, [])
            if ref.clear_since is not None:  # a resubmission made while Airflow was down
                deferred = await self._deferred.resolve(self.client, sid, ref, group)
                if isinstance(deferred, AttemptReport):
                    result[sid] = deferred
                    continue
                ref = deferred
            if not group and attempts[sid].started_at is not None:
                # It ran, and Airflow no longer lists it: its DAG run was deleted (never
                # triggered again: that would bring the deleted run back).
                result[sid] = AttemptReport(
                    JobState.LOST,
                    reason=f"Airflow no longer has run {ref.run_id} of DAG {ref.dag_id} (deleted?)",
                    ended_at=time.time(),
                )
                continue
            if not group and (ref.dag_id, ref.run_id) not in self._triggered:
                # Submitted while Airflow was down (or by a process that died before): trigger
                # it now; a run that exists already is a 409, taken as done.
                try:
                    await self._check_dag(ref.dag_id)
                    if ref.task_id not in self._tasks[ref.dag_id]:
                        raise SubmitError(f"DAG {ref.dag_id!r} has no task {ref.task_id!r}")
                    await self._trigger(ref.dag_id, ref.run_id)
                except (AirflowNotFound, SubmitError) as exc:
                    result[sid] = AttemptReport(
                        JobState.FAILED,
                        reason=f"could not trigger DAG {ref.dag_id!r}: {exc}",
                        ended_at=time.time(),
                    )
                continue
            if not group:
                continue  # the run's task instances are not created yet
            now = report(ref, group)
            if now.state.is_final:
                ended.append((sid, ref, group, now))
            else:
                result[sid] = now
        # The logs of the tries that ended, fetched LOG_CONCURRENCY at a time and at most
        # ``log_batch`` per poll: the others are reported by the next polls (unchanged till then).
        gate = asyncio.Semaphore(LOG_CONCURRENCY)

        async def logged(sid: str, ref: TaskRef, group: Any, now: AttemptReport) -> None:
            async with gate:
                path = Path(attempts[sid].log_path)
                result[sid] = await write_log(self.client, ref, group, now, path)

        try:
            async with asyncio.TaskGroup() as tasks:  # an outage ends them all: polled again
                for item in ended[: self.log_batch]:
                    tasks.create_task(logged(*item))
        except ExceptionGroup as group:  # the first error, as the callers expect it
            raise group.exceptions[0] from None
        return result


def _index(ti: Mapping[str, Any]) -> str:
    """``[i]`` for a map index of a mapped task, else nothing."""
    return f"[{index_of(ti)}]" if index_of(ti) >= 0 else ""
