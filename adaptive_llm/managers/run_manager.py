"""The RunManager: one run of jobs in a workdir, owning the job and LLM managers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import Counter
from collections.abc import Container, Iterable, Sequence
from itertools import islice
from pathlib import Path
from typing import IO, Any

from .._core.aio import TaskSet, require_running_loop, wait_any, within
from ..diagnosis import Diagnosis
from ..errors import WorkdirBusyError as WorkdirBusyError
from ..jobs.model import Attempt, Job, JobState
from ..jobs.schedulers.base import Scheduler
from ..jobs.schedulers.local import LocalScheduler
from ..llm.limits import ModelLimits
from ..llm.retry import RetryPolicy
from ..store import Store, StoreError
from ..store.layout import Layout
from .causes import grouped
from .job_manager import JobManager
from .llm_manager import LLMManager
from .views import JobPage, JobView, build_views, run_of, shown, shown_counts
from .workdir_lock import release_workdir, take_workdir

log = logging.getLogger(__name__)


#: RunManagers started in this process, by workdir: re-running a notebook cell replaces one.
#: Held strongly while started: a RunManager the notebook no longer references (the cell that
#: made it ran again) still runs its loops until it is closed or replaced.
_ACTIVE: dict[Path, RunManager] = {}


#: Clean-up tasks of replaced RunManagers (kept alive until done).
_DETACHING = TaskSet("closing a replaced RunManager")


class RunManager:
    """Runs ``jobs`` in ``workdir`` and diagnoses their failures, in the background.

    Everything is recorded in ``<workdir>/.adaptive_llm/store.sqlite`` with logs under
    ``<workdir>/.adaptive_llm/logs/<job>/attempt-<n>.log``. A new RunManager on the same workdir
    (after a kernel restart) sees every earlier job, attempt and diagnosis, and re-attaches to
    local jobs that are still running. ``llm`` is the model for LLM diagnoses and chats (see
    :class:`LLMManager`), ``llm_retry`` a :class:`RetryPolicy` for its calls and
    ``llm_limits`` a :class:`ModelLimits` (output tokens, call and turn timeouts).
    ``callbacks`` are LangChain callback handlers given every model call (diagnoses and chat
    turns); ``tools`` are extra LangChain tools for the chat (see the README's "Extra tools").
    """

    def __init__(
        self,
        jobs: Iterable[Job] = (),
        *,
        workdir: str | os.PathLike[str],
        scheduler: Scheduler | None = None,
        llm: Any = None,
        llm_retry: RetryPolicy | None = None,
        llm_limits: ModelLimits | None = None,
        callbacks: Sequence[Any] | None = None,
        tools: Sequence[Any] = (),
        poll_interval: float = 1.0,
        diagnosis_concurrency: int | None = None,
    ) -> None:
        self._jobs = list(jobs)
        seen: set[str] = set()
        for job in self._jobs:  # before anything is created on disk
            if job.name in seen:
                raise ValueError(f"duplicate job name {job.name!r}: job names must be unique")
            seen.add(job.name)
        self.layout = Layout.of(workdir)
        self.workdir = self.layout.workdir
        self.state_dir = self.layout.state_dir
        try:
            self.workdir.mkdir(parents=True, exist_ok=True)
            self.state_dir.mkdir(exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise StoreError(
                f"cannot use workdir {self.workdir}: {self.state_dir} or a parent is a file,"
                " not a directory"
            ) from None
        except OSError as exc:
            raise StoreError(f"cannot create {self.state_dir}: {exc.strerror or exc}") from None
        self.log_dir = self.layout.log_dir
        self.scheduler = scheduler or LocalScheduler()
        self.store = Store(self.layout.store)
        self.job_manager = JobManager(
            self._jobs,
            store=self.store,
            scheduler=self.scheduler,
            workdir=self.workdir,
            log_dir=self.log_dir,
            poll_interval=poll_interval,
        )
        self.llm_manager = LLMManager(
            self.job_manager,
            store=self.store,
            llm=llm,
            concurrency=diagnosis_concurrency,
            retry=llm_retry,
            limits=llm_limits,
            callbacks=callbacks,
            tools=tools,
        )
        self._lock_file: IO[str] | None = None
        self._closed = False

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the managers on the running event loop (a Jupyter cell's, or ``asyncio.run``'s).

        Raises at once, with nothing submitted, when a job's cwd or the log directory is
        unusable, or when another process runs a RunManager on this workdir.
        """
        if self._closed:
            raise RuntimeError("this RunManager was closed; create a new one on the workdir")
        require_running_loop("RunManager.start()")
        self.job_manager.validate(self._jobs)
        self.store.check_writable()  # a locked or read-only store fails here, not later
        self._take_workdir()
        self.job_manager.load()
        self.llm_manager.load()
        self.job_manager.start()
        self.llm_manager.start()

    @property
    def is_started(self) -> bool:
        return self.job_manager.is_started

    @property
    def closed(self) -> bool:
        """True once ``close()`` or ``cancel()`` ended this RunManager (or a newer one on the
        same workdir replaced it)."""
        return self._closed

    # -- the read model -----------------------------------------------------------------------

    @property
    def outage(self) -> str | None:
        """The scheduler's error while it does not answer (unfinished jobs are ``UNKNOWN``)."""
        return self.job_manager.scheduler_error

    def jobs(self) -> list[JobView]:
        """Every job of the run (and those earlier runs left in the store), as it is now."""
        return self._views(self.job_manager.jobs.values())

    def job_page(
        self,
        start: int = 0,
        count: int = 50,
        *,
        states: Container[JobState] | None = None,
        match: str = "",
    ) -> JobPage:
        """``count`` jobs from the ``start``-th of those shown in ``states`` (None: all) whose
        name holds ``match`` (case-insensitive), with counts over all jobs: what a paged
        table needs. Without a filter or a search it costs ``count`` views (the counts are
        kept as attempts change); with one, also a pass over the names."""
        jm = self.job_manager
        jobs, attempts, outage = jm.jobs, jm.attempts, jm.scheduler_error
        needle = match.casefold()
        end = start + max(0, count)
        counts = shown_counts(len(jobs), attempts.states, outage)
        if states is None and not needle and counts is not None:
            # no filter: the counts are kept as attempts change, the page is a slice (its
            # bounds within the jobs: islice takes no negative index and none past maxsize)
            first = min(max(0, start), len(jobs))
            last = min(max(first, end), len(jobs))
            return JobPage(
                views=self._views([jobs[name] for name in islice(jobs, first, last)]),
                start=start,
                matching=len(jobs),
                total=len(jobs),
                counts={state.value: n for state, n in counts.items()},
            )
        counts = Counter()
        chosen: list[str] = []
        matching = 0
        state_of = attempts.state
        for name in jobs:
            state = shown(state_of(name) or JobState.PENDING, outage)
            counts[state] += 1
            if states is not None and state not in states:
                continue
            if needle and needle not in name.casefold():
                continue
            if start <= matching < end:
                chosen.append(name)
            matching += 1
        return JobPage(
            views=self._views([jobs[name] for name in chosen]),
            start=start,
            matching=matching,
            total=len(jobs),
            counts={state.value: n for state, n in counts.items()},
        )

    def grouped_views(self) -> list[JobView]:
        """The views ``failures_by_cause`` groups (see ``causes.grouped``)."""
        jobs, attempts = self.job_manager.jobs, self.job_manager.attempts
        chosen = [
            job
            for name, attempt in attempts.items()
            if (job := jobs.get(name)) is not None and grouped(attempt.state, run_of(job, attempt))
        ]
        return self._views(chosen)

    def _views(self, jobs: Iterable[Job]) -> list[JobView]:
        jm, lm = self.job_manager, self.llm_manager
        counts = self.store.chat.pending_counts()
        approvals = {t.removeprefix("job:"): n for t, n in counts.items() if t.startswith("job:")}
        return build_views(
            jobs,
            jm.attempts,
            lambda attempt: lm.cached_brief(attempt.job, attempt.number),
            outage=jm.scheduler_error,
            approvals=approvals,
        )

    @property
    def unfinished(self) -> int:
        """How many jobs have an attempt that is not final (at once, with 100,000 jobs)."""
        return len(self.job_manager.attempts.unfinished)

    def job(self, name: str) -> JobView:
        """One job's view; ``UnknownJobError`` naming the known jobs if there is none."""
        return self._views([self.job_manager.job(name)])[0]

    @property
    def version(self) -> int:
        """Grows with every change of a job or a diagnosis (see ``changed``)."""
        return self.job_manager.changes.version + self.llm_manager.changes.version

    async def changed(self, timeout: float | None = None, *, since: int | None = None) -> bool:
        """Until a job or a diagnosis changes (True), or ``timeout`` passes (False). With
        ``since`` (a ``version`` read earlier), a change made since then returns at once, so
        a loop that reads the views between waits misses none."""
        if since is not None and self.version != since:
            return True
        return await wait_any([self.job_manager.changes, self.llm_manager.changes], timeout)

    async def wait(self, timeout: float | None = None, *, llm: bool = False) -> None:
        """Until every job is final and every failure has its offline diagnosis cached (with
        ``llm``, also the LLM diagnosis of each failure, or the reason there is none; without
        it, those keep arriving in the background and show when they do).

        Raises ``TimeoutError`` naming what is unfinished when ``timeout`` passes.
        """
        if not self.is_started:
            raise RuntimeError("call rm.start() before rm.wait()")

        async def until_done() -> None:
            while not (self.job_manager.all_final() and self.llm_manager.all_diagnosed(llm=llm)):
                for manager in (self.job_manager, self.llm_manager):
                    if manager.task is not None and manager.task.done():
                        raise RuntimeError(f"{type(manager).__name__} stopped; nothing to wait for")
                await self.changed(timeout=1.0)

        try:
            await within(until_done(), timeout)
        except TimeoutError:
            waiting = [
                f"{name} ({self.job_manager.state(name).value})"
                for name in self.job_manager.jobs
                if not self.job_manager.state(name).is_final
            ]
            what = ", ".join(waiting) or (
                "LLM diagnoses still running (the offline ones are ready; rm.wait() without"
                " llm=True does not wait for them)"
                if llm and self.llm_manager.all_diagnosed()
                else "diagnoses still running"
            )
            raise TimeoutError(f"not finished after {timeout:g}s: {what}") from None

    def cancel(self) -> asyncio.Task[None]:
        """End the run: cancel every pending or running job, then stop the managers.

        Returns the task doing it (await it to know it is done). To stop watching but leave
        jobs running, use ``await rm.close()`` instead.
        """
        return asyncio.get_running_loop().create_task(self._cancel_all())

    async def close(self) -> None:
        """Stop the managers and close the store; running jobs keep running (re-attachable)."""
        if self._closed:
            return
        self._closed = True
        for manager in (self.job_manager, self.llm_manager):
            manager.cancel()
            if manager.task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await manager.task
        await self.llm_manager.aclose()
        await self.scheduler.close()
        self.store.close()
        self._release_workdir()

    # -- actions ------------------------------------------------------------------------------

    async def resubmit(self, name: str, job: Job | None = None) -> Attempt:
        """A new attempt of a finished job; old logs and diagnoses are kept."""
        return await self.job_manager.resubmit(name, job)

    async def cancel_job(self, name: str) -> None:
        """Cancel one job's running attempt."""
        await self.job_manager.cancel_job(name)

    async def diagnosis(self, name: str) -> Diagnosis | None:
        return await self.llm_manager.diagnosis(name)

    def status(self) -> list[dict[str, Any]]:
        """One row per job, by name: state, attempt, exit code, category, location, log path
        (``rm.jobs()`` as dicts). While the scheduler does not answer, unfinished jobs show
        ``UNKNOWN`` with the reason."""
        return [view.to_dict() for view in sorted(self.jobs(), key=lambda v: v.name)]

    # -- internals ----------------------------------------------------------------------------

    async def _cancel_all(self) -> None:
        if self.is_started:
            for attempt in self.job_manager.active():
                await self.scheduler.cancel(attempt)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + getattr(self.scheduler, "kill_grace", 5.0) + 5.0
            while self.job_manager.attempts.unfinished and loop.time() < deadline:
                await self.job_manager.poll_once()
                await asyncio.sleep(0.1)
        await self.close()

    def _take_workdir(self) -> None:
        previous = _ACTIVE.get(self.workdir)
        if previous is not None and previous is not self and not previous._closed:
            log.warning("replacing the RunManager already running on %s", self.workdir)
            previous._detach_now()
        handle = take_workdir(self.layout)
        self._lock_file = handle
        _ACTIVE[self.workdir] = self

    def _detach_now(self) -> None:
        """Synchronously stop this manager's loops and free the workdir (jobs keep running)."""
        self._closed = True
        self.job_manager.cancel()
        self.llm_manager.cancel()
        self._release_workdir()
        # The rest needs awaiting (watchers, the chat's connection); the store closes after it.
        _DETACHING.start(self._finish_detach())

    async def _finish_detach(self) -> None:
        try:
            for manager in (self.job_manager, self.llm_manager):
                if manager.task is not None:
                    with contextlib.suppress(asyncio.CancelledError):
                        await manager.task
            await self.llm_manager.aclose()
            await self.scheduler.close()
        except Exception:
            log.exception("closing a replaced RunManager failed")
        finally:
            self.store.close()

    def _release_workdir(self) -> None:
        if self._lock_file is not None:
            release_workdir(self._lock_file)
            self._lock_file = None
        if _ACTIVE.get(self.workdir) is self:
            del _ACTIVE[self.workdir]
