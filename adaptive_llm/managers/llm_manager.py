"""Diagnose every failed attempt in the background; serve cached diagnoses at once.

One diagnosis per attempt, however often it is asked for: concurrent requests share the
same in-flight computation. Diagnoses run in a small thread pool (bounded concurrency) so
that reading a large log never stalls the notebook's event loop, and are kept in the store,
so a restarted kernel finds them again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..diagnosis import DEFAULT_MAX_TOKENS, Diagnosis, DiagnosisError, Excerpt, diagnose
from ..jobs.model import Attempt, Job, JobState
from ..jobs.store import Store
from .base import BaseManager, Changes
from .job_manager import FailureEvent, JobManager

log = logging.getLogger(__name__)

_STATE_CATEGORY = {
    JobState.TIMEOUT: "time_limit",
    JobState.OUT_OF_MEMORY: "out_of_memory",
    JobState.CANCELLED: "cancelled",
    JobState.NODE_FAIL: "node_failure",
    JobState.PREEMPTED: "node_failure",
}


class LLMManager(BaseManager):
    """Precomputes and caches a diagnosis for each failed attempt of the run's jobs.

    ``llm`` (a model name for ``init_chat_model``, a LangChain chat model, or None) is kept
    for the chat agent; diagnoses come from the offline engine and need no model.
    """

    def __init__(
        self,
        job_manager: JobManager,
        *,
        store: Store,
        llm: Any = None,
        concurrency: int | None = None,
        max_tokens: int = DEFAULT_MAX_TOKENS,
    ) -> None:
        super().__init__()
        self.job_manager = job_manager
        self.store = store
        self.llm = llm if llm is not None else os.environ.get("ADAPTIVE_LLM_MODEL") or None
        self.concurrency = concurrency or min(4, os.cpu_count() or 1)
        self.max_tokens = max_tokens
        self.changes = Changes()
        self._cache: dict[tuple[str, int], Diagnosis] = {}
        self._inflight: dict[tuple[str, int], asyncio.Task[Diagnosis]] = {}
        self._semaphore = asyncio.Semaphore(self.concurrency)
        self._executor: ThreadPoolExecutor | None = None
        self._events = job_manager.subscribe()
        #: How many diagnoses were computed (not served from cache) in this process.
        self.computed = 0

    # -- public -------------------------------------------------------------------------------

    async def diagnosis(self, name: str, attempt: int | None = None) -> Diagnosis | None:
        """The diagnosis of the job's latest (or given) attempt; None if it did not fail.

        Returns at once when it is cached; otherwise computes it (once, even when asked
        concurrently).
        """
        job = self.job_manager.job(name)
        target = self._attempt(name, attempt)
        if target is None or not target.state.is_failure:
            return None
        return await self._ensure(job, target)

    def cached(self, name: str, attempt: int | None = None) -> Diagnosis | None:
        """The diagnosis if it is already there, without computing anything."""
        target = self._attempt(name, attempt)
        if target is None:
            return None
        return self._cache.get((name, target.number))

    def all_diagnosed(self) -> bool:
        """Every job whose latest attempt failed has its diagnosis cached."""
        return all(
            (a.job, a.number) in self._cache
            for a in self.job_manager.attempts.values()
            if a.state.is_failure
        )

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    # -- loop ---------------------------------------------------------------------------------

    async def _manage(self) -> None:
        if not self._cache:
            self._load()
        # Catch up on failures that an earlier process saw but did not diagnose.
        for job_name, attempt in list(self.job_manager.attempts.items()):
            if attempt.state.is_failure and (job_name, attempt.number) not in self._cache:
                self._schedule(self.job_manager.jobs[job_name], attempt)
        while True:
            event: FailureEvent = await self._events.get()
            if (event.job.name, event.attempt.number) not in self._cache:
                self._schedule(event.job, event.attempt)

    # -- internals ----------------------------------------------------------------------------

    def _load(self) -> None:
        for (job, number), data in self.store.diagnoses().items():
            try:
                self._cache[(job, number)] = Diagnosis.from_dict(data)
            except (KeyError, TypeError, ValueError):
                log.warning("ignoring unreadable stored diagnosis of %s attempt %d", job, number)

    def _attempt(self, name: str, number: int | None) -> Attempt | None:
        latest = self.job_manager.attempts.get(name)
        if number is None or (latest is not None and latest.number == number):
            return latest
        for attempt in self.store.attempts(name):
            if attempt.number == number:
                return attempt
        return None

    async def _ensure(self, job: Job, attempt: Attempt) -> Diagnosis:
        cached = self._cache.get((job.name, attempt.number))
        if cached is not None:
            return cached
        return await asyncio.shield(self._schedule(job, attempt))

    def _schedule(self, job: Job, attempt: Attempt) -> asyncio.Task[Diagnosis]:
        """The one task computing this attempt's diagnosis (started if not running)."""
        key = (job.name, attempt.number)
        task = self._inflight.get(key)
        if task is None:
            task = self._spawn(self._compute(job, attempt), name=f"diagnose-{job.name}")
            self._inflight[key] = task
            task.add_done_callback(lambda _: self._inflight.pop(key, None))
        return task

    async def _compute(self, job: Job, attempt: Attempt) -> Diagnosis:
        async with self._semaphore:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=self.concurrency, thread_name_prefix="adaptive-llm-diagnosis"
                )
            loop = asyncio.get_running_loop()
            try:
                result = await loop.run_in_executor(self._executor, self._run_engine, job, attempt)
            except DiagnosisError as exc:
                result = _without_log(attempt, str(exc))
            except Exception as exc:  # the engine must never take the manager down
                log.exception("diagnosis of %s attempt %d failed", job.name, attempt.number)
                result = _without_log(attempt, f"the diagnosis engine failed: {exc!r}")
        self.store.save_diagnosis(job.name, attempt.number, result.to_dict())
        self._cache[(job.name, attempt.number)] = result
        self.computed += 1
        self.changes.notify()
        self.job_manager.changes.notify()
        return result

    def _run_engine(self, job: Job, attempt: Attempt) -> Diagnosis:
        return diagnose(
            attempt.log_path,
            state=attempt.state.value,
            reason=attempt.reason,
            workdir=job.resolved_cwd(self.job_manager.workdir),
            time_limit=job.resources.time_limit,
            memory=job.resources.memory,
            max_tokens=self.max_tokens,
        )


def _without_log(attempt: Attempt, problem: str) -> Diagnosis:
    """A diagnosis from the scheduler's account alone, when the log cannot be read."""
    category = _STATE_CATEGORY.get(attempt.state, "unknown")
    reason = attempt.reason or attempt.state.value.lower()
    signature = hashlib.sha1(f"{category}|{attempt.state.value}|nolog".encode()).hexdigest()[:16]
    return Diagnosis(
        path=attempt.log_path,
        category=category,
        summary=f"{attempt.state.value}: {reason} ({problem})",
        excerpt=Excerpt(text="", spans=[]),
        signature=signature,
        tokens=0,
        message=problem,
        elapsed_ms=0.0,
    )
