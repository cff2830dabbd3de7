"""Diagnose every failed attempt in the background; serve cached diagnoses at once.

One diagnosis per attempt, however often it is asked for: concurrent requests share the
same in-flight computation. Diagnoses run in a small pool of worker processes (bounded
concurrency; threads if workers cannot start) so that reading a large log never stalls the
notebook's event loop, and are kept in the store, so a restarted kernel finds them again.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from collections import deque
from collections.abc import AsyncIterator, Collection, Sequence
from typing import TYPE_CHECKING, Any

from .._core.aio import within
from ..chat.context import job_context
from ..diagnosis import (
    DEFAULT_MAX_TOKENS,
    Diagnosis,
    DiagnosisError,
    diagnose_without_log,
)
from ..errors import StoreError
from ..jobs.model import Attempt, Job
from ..llm.limits import ModelLimits
from ..llm.provider import uses_model
from ..llm.retry import RetryPolicy
from ..store import Store
from .base import BaseManager, Changes
from .diagnosis_cache import Brief, DiagnosisCache, Key, dumps
from .diagnosis_pool import DiagnosisPool, EngineError, WorkerError
from .job_manager import JobManager
from .run_view import ManagerRunView

if TYPE_CHECKING:
    from ..chat.events import Approval, ChatEvent, ChatMessage, ChatReply, Usage
    from ..chat.service import ChatService

log = logging.getLogger(__name__)

#: Failures scheduled for diagnosis between two turns of the event loop.
SCHEDULE_BATCH = 32
#: Diagnoses ending within this many seconds of the first are stored in one go ...
SAVE_DELAY = 0.02
#: ... this many per transaction.
SAVE_BATCH = 100

#: A diagnosis to store: job, attempt number, ``Diagnosis.to_dict()``, its JSON text if made.
_Row = tuple[str, int, dict[str, Any], str | None]

#: The usage scope of a signature's LLM diagnosis (``diagnosis:<signature>``).
DIAGNOSIS_SCOPE = "diagnosis:"


class LLMManager(BaseManager):
    """Precomputes and caches a diagnosis for each failed attempt of the run's jobs.

    Diagnoses come from the offline engine and need no model. With ``llm`` (a model name for
    ``init_chat_model``, a dict of its arguments, a LangChain chat model; default from
    ``ADAPTIVE_LLM_MODEL``) each distinct failure signature also gets one LLM diagnosis, in
    the background, and chats use that model; without one, chats use the offline assistant.
    ``retry`` (a ``RetryPolicy``; default 4 attempts, 1 s back-off doubling) governs the LLM
    diagnosis calls; ``limits`` (a ``ModelLimits``) bounds every call's output and time.
    """

    def __init__(
        self,
        job_manager: JobManager,
        *,
        store: Store,
        llm: Any = None,
        concurrency: int | None = None,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        retry: RetryPolicy | None = None,
        limits: ModelLimits | None = None,
        callbacks: Sequence[Any] | None = None,
        tools: Sequence[Any] = (),
    ) -> None:
        super().__init__()
        #: LangChain callback handlers for every model call (diagnoses and chat turns).
        self.callbacks = list(callbacks or ())
        #: Extra LangChain tools for the chat, each declared (checked now: a clear error).
        self.tools = list(tools)
        if self.tools:
            from ..chat.tools import check_tools

            check_tools(self.tools)
        self.retry = retry or RetryPolicy()
        if limits is not None and not isinstance(limits, ModelLimits):
            raise TypeError(f"llm_limits must be a ModelLimits, got {limits!r}")
        #: Output tokens and wall time of every model call (diagnoses and chat turns).
        self.limits = limits or ModelLimits()
        self.job_manager = job_manager
        self.store = store
        self.llm = llm if llm is not None else os.environ.get("ADAPTIVE_LLM_MODEL") or None
        self.concurrency = concurrency or min(4, os.cpu_count() or 1)
        self.max_tokens = max_tokens
        self.changes = Changes()
        self._cache = DiagnosisCache()
        #: The diagnoses asked for and not yet cached, each with the future of its result
        #: once someone waits for it (None until then: a burst of 10,000 failures is 10,000
        #: keys, not 10,000 futures).
        self._inflight: dict[Key, asyncio.Future[Diagnosis] | None] = {}
        #: Those of them waiting for the engine, taken in order by ``concurrency`` runners
        #: (keys, which the garbage collector does not track, not tasks or objects).
        self._queue: deque[Key] = deque()
        #: Failures the job manager reported, not yet looked at by the loop.
        self._failures: deque[Key] = deque()
        #: The definition each reported failure ran with, until its diagnosis begins (the
        #: job may be changed meanwhile: its diagnosis speaks of the limits it ran with).
        #: References to jobs the run holds anyway, in one dict: no object per failure.
        self._ran_with: dict[Key, Job] = {}
        self._failed = asyncio.Event()
        self._runners = 0
        #: Counts the ``cancel`` calls: a runner made before the last one no longer counts
        #: (cancelled before it began, it runs not even its ``finally``).
        self._generation = 0
        #: Worker processes for the offline engine (started at the first diagnosis).
        self.pool = DiagnosisPool(self.concurrency)
        job_manager.listen(self._on_failure)
        self._loaded = False
        #: How many diagnoses were computed (not served from cache) in this process.
        self.computed = 0
        #: How many LLM diagnosis calls were made in this process (one per signature).
        self.llm_calls = 0
        self._llm_inflight: dict[str, asyncio.Task[None]] = {}
        #: Diagnoses waiting to be written together, each with the future of its own outcome.
        self._batch: list[tuple[_Row, asyncio.Future[None]]] | None = None
        #: Signatures whose LLM diagnosis (or its failure) is stored: asked on every change.
        self._llm_done: set[str] = set()
        self._llm_semaphore = asyncio.Semaphore(2)
        self._llm_model: Any = None
        self._chat: ChatService | None = None
        #: Until the changes approved before a restart are applied (``_finish_decided``).
        self._finishing = True

    # -- public -------------------------------------------------------------------------------

    def load(self) -> None:
        """Read the diagnoses earlier runs stored, so they are served without recomputing."""
        if not self._loaded:
            self._load()
            self._loaded = True

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

    async def last_failure_diagnosis(self, name: str) -> Diagnosis | None:
        """The diagnosis of the job's most recent failed attempt (even after a later success)."""
        self.job_manager.job(name)
        for attempt in reversed(self.store.jobs.attempts(name)):
            if attempt.state.is_failure:
                return await self.diagnosis(name, attempt.number)
        return None

    def cached(self, name: str, attempt: int | None = None) -> Diagnosis | None:
        """The diagnosis if it is already there, without computing anything."""
        target = self._attempt(name, attempt)
        if target is None:
            return None
        return self._cache.get((name, target.number))

    def cached_brief(self, name: str, attempt: int) -> Brief | None:
        """What a job's view shows of a cached diagnosis, without decoding the diagnosis."""
        return self._cache.brief((name, attempt))

    def cached_signature(self, name: str, attempt: int) -> str | None:
        """The failure signature of a cached diagnosis, without making the diagnosis."""
        return self._cache.signature((name, attempt))

    def all_diagnosed(self, *, llm: bool = False) -> bool:
        """Every job whose latest attempt failed has its offline diagnosis cached (with
        ``llm`` and a model, also its signature's LLM diagnosis or the reason it failed), and
        the changes approved before a restart are applied."""
        if self._finishing or self._inflight or self._batch is not None or self._failures:
            return False  # at once, also with 100,000 jobs
        signature = self._cache.signature
        for key in self.job_manager.attempts.failed():
            found = signature(key)
            if found is None:
                return False
            if llm and self.uses_model and found not in self._llm_done:
                return False
        return True

    @property
    def retry(self) -> RetryPolicy:
        """How LLM calls are retried on rate limits, server errors and timeouts."""
        return self._retry

    @retry.setter
    def retry(self, policy: RetryPolicy) -> None:
        if not isinstance(policy, RetryPolicy):
            raise TypeError(
                f"retry must be a RetryPolicy (from adaptive_llm import RetryPolicy),"
                f" got {policy!r}"
            )
        self._retry = policy

    @property
    def uses_model(self) -> bool:
        return uses_model(self.llm)

    def llm_diagnosis_text(self, name: str) -> str | None:
        """The LLM's diagnosis for the job's latest failure, or why there is none."""
        diagnosis = self.cached(name)
        if diagnosis is None or not self.uses_model:
            return None
        record = self.store.diagnoses.llm(diagnosis.signature)
        if record is None:
            return None
        if record["error"]:
            return f"(LLM diagnosis unavailable: {record['error']}; the offline diagnosis stands)"
        shared = (
            "" if record["job"] == name else f" (shared with job {record['job']}: same failure)"
        )
        return f"{record['text']}{shared}"

    # -- chat ---------------------------------------------------------------------------------

    def require_job(self, name: str | None) -> None:
        """``UnknownJobError`` now if ``name`` (None: the general chat) is not a job."""
        if name is not None:
            self.job_manager.job(name)

    def chat_service(self) -> ChatService:
        if self._chat is None:
            from ..chat.service import ChatService

            self._chat = ChatService(
                ManagerRunView(self.job_manager, self),
                self.store,
                self.llm,
                self.limits,
                callbacks=self.callbacks,
                tools=self.tools,
            )
        return self._chat

    async def chat(
        self, name: str | None, text: str, *, shown: Collection[str] | None = None
    ) -> ChatReply:
        """Send a message to the chat on job ``name`` (None: the general chat).

        While changes wait for you, ``approve`` (``yes``, ``y``) approves all of them,
        ``approve 1 3`` single ones by number, ``reject [reason]`` (``no``) or ``reject 2
        [reason]`` declines them, and any other message declines them as feedback. ``shown``
        (the ``key`` of each change on your screen) limits the answer to those.
        """
        return await self.chat_service().chat(name, text, shown)

    def chat_stream(
        self, name: str | None, text: str, *, shown: Collection[str] | None = None
    ) -> AsyncIterator[ChatEvent]:
        """Like ``chat``, as events: token, tool_call, tool_result, approval, done, error."""
        return self.chat_service().stream(name, text, shown)

    def set_yolo(self, name: str | None, on: bool) -> None:
        """Apply edits without asking in this chat (from the next tool call on)."""
        self.chat_service().set_flag(name, "yolo", on)

    def allow_commands(self, name: str | None, on: bool) -> None:
        """Run commands without asking in this chat (they ask even in YOLO mode otherwise)."""
        self.chat_service().set_flag(name, "allow_commands", on)

    async def undo(self, name: str | None) -> str:
        """Undo the chat's last applied edit, byte-exact; refuses if the file changed since."""
        return await self.chat_service().undo(name)

    async def clear_chat(self, name: str | None) -> str:
        """Start the chat on ``name`` afresh (a chat the model can no longer follow, or one
        you are done with): its messages are deleted, changes still waiting are rejected;
        applied edits stay recorded and can still be undone."""
        return await self.chat_service().clear(name)

    async def fork_chat(self, name: str | None, into: str | None) -> str:
        """Copy the chat on ``name`` into the chat on ``into`` (a job whose chat is empty;
        None: the general chat) to go on there, the first left as it is: e.g. a variant of
        the job, or a second try from the same point. A reply still waiting for your
        decisions stays behind; YOLO mode and commands are off in the copy."""
        return await self.chat_service().fork(name, into)

    async def history(self, name: str | None) -> list[ChatMessage]:
        return await self.chat_service().history(name)

    async def pending(self, name: str | None, *, waiting: bool = False) -> list[Approval]:
        """Every change waiting for your decision (``waiting``: also the approved ones that
        wait for an earlier change of the same reply to be decided)."""
        return await self.chat_service().pending(name, waiting=waiting)

    async def open_changes(self, name: str | None) -> list[Approval]:
        """Every change of the reply the chat waits on, with its status (pending, approved,
        done, failed, rejected): what the chat widget shows while a reply is decided."""
        return await self.chat_service().open_changes(name)

    def chat_settings(self, name: str | None) -> dict[str, int]:
        """The chat's flags and token counts: yolo, allow_commands, input/output_tokens."""
        return self.chat_service().settings(name)

    def usage(self, name: str | None) -> Usage:
        """The tokens of the chat on ``name`` (None: the general chat) and their cost; see
        ``Usage`` for which counts are estimated. LLM diagnoses: ``diagnosis_usage``."""
        return self.chat_service().usage(name)

    def diagnosis_usage(self, name: str | None = None) -> Usage:
        """The tokens of the LLM diagnoses and their cost: of the one call made for the
        failure signature of job ``name``'s latest failure (shared by every job failing the
        same way), or, with None, of every LLM diagnosis this workdir's store has counted
        (all runs, retries included)."""
        from ..chat.events import Usage

        if name is None:
            return Usage.of(self.store.chat.usage(prefix=DIAGNOSIS_SCOPE))
        self.job_manager.job(name)
        for attempt in reversed(self.store.jobs.attempts(name)):
            signature = self._cache.signature((name, attempt.number))
            if attempt.state.is_failure and signature is not None:
                return Usage.of(self.store.chat.usage(DIAGNOSIS_SCOPE + signature))
        return Usage.of(())

    async def aclose(self) -> None:
        await self.pool.close()
        if self._chat is not None:
            await self._chat.close()

    def close(self) -> None:
        """Stop the diagnosis workers now (``aclose`` also waits for them)."""
        self.pool.kill()

    # -- loop ---------------------------------------------------------------------------------

    async def _manage(self) -> None:
        self.load()
        await self._finish_decided()
        # Catch up on failures that an earlier process saw but did not diagnose.
        attempts = self.job_manager.attempts
        for scheduled, key in enumerate(list(attempts.failed()), 1):
            if key not in self._cache:
                self._enqueue(key)
            elif self.uses_model:  # its LLM diagnosis failed or never ended: ask again
                cached = self._cache.get(key)
                attempt = self._attempt(*key)  # this number's (a resubmit may have come since)
                if cached is not None and attempt is not None:
                    self._schedule_llm(self.job_manager.jobs[key[0]], attempt, cached)
            if scheduled % SCHEDULE_BATCH == 0:
                await asyncio.sleep(0)  # a burst of failures must not stall the loop
        while True:
            await self._failed.wait()
            self._failed.clear()
            while self._failures:
                key = self._failures.popleft()
                if key not in self._cache:
                    self._enqueue(key)
                else:
                    self._ran_with.pop(key, None)

    def _on_failure(self, job: Job, attempt: Attempt) -> None:
        """The job manager's report of a failure (during its poll): noted for the loop,
        which diagnoses it once the stored diagnoses are loaded."""
        key = (job.name, attempt.number)
        self._failures.append(key)
        self._ran_with[key] = job
        self._failed.set()

    # -- internals ----------------------------------------------------------------------------

    async def _finish_decided(self) -> None:
        """Apply changes a user approved before a crash, before anything else happens
        (``rm.wait()`` waits for it)."""
        try:
            await self._finish_decided_threads()
        finally:
            self._finishing = False

    async def _finish_decided_threads(self) -> None:
        for thread in self.store.chat.threads_to_finish():
            name = thread.removeprefix("job:") if thread.startswith("job:") else None
            if name is not None and name not in self.job_manager.jobs:
                continue
            try:
                await self.chat_service().finish_decided(name)
            except Exception:
                log.exception("finishing the decided changes of %s failed", thread)
        self.changes.notify()

    def _load(self) -> None:
        for (job, number), data in self.store.diagnoses.offline().items():
            try:
                self._cache.setdefault((job, number), Diagnosis.from_dict(data))
            except (KeyError, TypeError, ValueError):
                log.warning("ignoring unreadable stored diagnosis of %s attempt %d", job, number)
        # A diagnosis that failed (a server down, a timeout) is tried again by a new run; in
        # this one, the failure stands (and says why) so a dead server is not asked again.
        self._llm_done.update(self.store.diagnoses.llm_signatures(answered=True))

    def _attempt(self, name: str, number: int | None) -> Attempt | None:
        latest = self.job_manager.attempts.get(name)
        if number is None or (latest is not None and latest.number == number):
            return latest
        for attempt in self.store.jobs.attempts(name):
            if attempt.number == number:
                return attempt
        return None

    async def _ensure(self, job: Job, attempt: Attempt) -> Diagnosis:
        cached = self._cache.get((job.name, attempt.number))
        if cached is not None:
            return cached
        return await asyncio.shield(self._schedule(job, attempt))

    def _schedule(self, job: Job, attempt: Attempt) -> asyncio.Future[Diagnosis]:
        """The one future of this attempt's diagnosis (queued for the engine if new)."""
        key = (job.name, attempt.number)
        self._enqueue(key)
        future = self._inflight[key]
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._inflight[key] = future  # until ``_finish`` settles it (or ``cancel``)
        return future

    def _enqueue(self, key: Key) -> None:
        """Queue this attempt's diagnosis for the engine unless it is queued or running."""
        if key in self._inflight:
            return
        self._inflight[key] = None
        self._queue.append(key)
        if self._runners < self.concurrency:
            self._runners += 1
            self._spawn(self._run_queue(self._generation), name="diagnoses")

    async def _run_queue(self, generation: int) -> None:
        """Run the engine on queued attempts until none is left; each result is queued for
        the store and cached when its row is written (a callback, not a task each), so the
        next diagnosis need not wait for the store. (Cancelled, it leaves the futures to
        ``cancel``.)"""
        try:
            while self._queue and generation == self._generation:
                key = self._queue.popleft()
                if key not in self._inflight:
                    self._ran_with.pop(key, None)
                    continue  # cancelled meanwhile
                try:
                    found = self._job_and_attempt(key)
                except Exception as exc:  # the store failed: its waiter is told, not left
                    log.exception("reading the attempt of %s %d for its diagnosis failed", *key)
                    self.last_error = exc
                    self._settle(key, exc)
                    continue
                if found is None:
                    self._settle(key, None)
                    continue
                job, attempt = found
                result, transient = await self._engine(job, attempt)
                if transient:  # not stored
                    self._finish(job, attempt, result, True, generation)
                    continue
                try:
                    data = result.to_dict()
                    text = dumps(data)
                    written = self._save_soon(job.name, attempt.number, data, text)
                except Exception as exc:  # never a runner lost, never a waiter left waiting
                    log.exception("queueing the diagnosis of %s for the store failed", job.name)
                    self.last_error = exc
                    self._finish(job, attempt, result, True, generation)
                    continue
                written.add_done_callback(
                    functools.partial(self._written, job, attempt, result, text, generation)
                )
        finally:
            if generation == self._generation:
                self._runners -= 1

    def cancel(self) -> bool:
        """Stop the loop and its tasks; whoever waits for a diagnosis not yet cached is
        cancelled, not left waiting (a task cancelled before it began settles nothing)."""
        stopped = super().cancel()
        # Its runners are cancelled, and one cancelled before it began never runs the
        # ``finally`` that uncounts it: none counts now, so a diagnosis asked for later
        # gets a runner of its own (counted, those would have been ``concurrency`` forever).
        self._generation += 1
        self._runners = 0
        self._queue.clear()
        reported = set(self._failures)  # the others are diagnosed again from their key
        self._ran_with = {key: job for key, job in self._ran_with.items() if key in reported}
        inflight, self._inflight = self._inflight, {}
        for future in inflight.values():
            if future is not None:
                future.cancel()
        return stopped

    def _job_and_attempt(self, key: Key) -> tuple[Job, Attempt] | None:
        """The job and the attempt of a queued diagnosis (None if it is no longer a failed
        attempt of a job of this run)."""
        name, number = key
        job = self._ran_with.pop(key, None) or self.job_manager.jobs.get(name)
        attempt = self._attempt(name, number)
        if job is None or attempt is None or not attempt.state.is_failure:
            return None
        return job, attempt

    def _settle(self, key: Key, result: Diagnosis | Exception | None) -> None:
        """The diagnosis of ``key`` is no longer in flight: its waiter (if any) gets
        ``result`` (an exception: raised to it; None: there is nothing to diagnose, a
        ``DiagnosisError``)."""
        future = self._inflight.pop(key, None)
        if future is not None and not future.done():
            if isinstance(result, Diagnosis):
                future.set_result(result)
            else:
                future.set_exception(
                    result
                    or DiagnosisError(f"job {key[0]!r} attempt {key[1]} has no failure to diagnose")
                )
                future.exception()  # retrieved: not logged a second time when it is freed

    async def _engine(self, job: Job, attempt: Attempt) -> tuple[Diagnosis, bool]:
        """The engine's diagnosis of the attempt, and whether it is transient (a worker's
        crash or timeout: not stored, a new run tries again)."""
        try:
            return await self._run_engine(job, attempt), False
        except DiagnosisError as exc:
            return self._without_log(job, attempt, str(exc)), False
        except EngineError as exc:  # its verdict on this log, in a worker or a thread: kept
            log.warning(
                "diagnosis of %s attempt %d: the engine failed: %s",
                job.name,
                attempt.number,
                exc,
            )
            return self._without_log(job, attempt, f"the diagnosis engine failed: {exc}"), False
        except WorkerError as exc:
            # A crashed or hung worker: this diagnosis says so, in this run only (not
            # stored: a new run tries again).
            log.warning("diagnosis of %s attempt %d: %s", job.name, attempt.number, exc)
            return self._without_log(job, attempt, str(exc)), True
        except Exception as exc:  # the engine must never take the manager down
            log.exception("diagnosis of %s attempt %d failed", job.name, attempt.number)
            return (
                self._without_log(job, attempt, f"the diagnosis engine failed: {exc!r}"),
                False,
            )

    def _written(
        self,
        job: Job,
        attempt: Attempt,
        result: Diagnosis,
        text: str,
        generation: int,
        written: asyncio.Future[None],
    ) -> None:
        """The diagnosis's row was written (or refused, or the writer was cancelled)."""
        if written.cancelled():  # closing: nobody is left waiting
            future = self._inflight_of((job.name, attempt.number), generation)
            if future is not None:
                future.cancel()
            return
        exc = written.exception()
        if isinstance(exc, StoreError):  # it stands in this run; a new run diagnoses it again
            log.error("%s; it is kept for this run only", exc)
            self.last_error = exc
        elif exc is not None:
            log.error("storing the diagnosis of %s failed: %r", job.name, exc)
            self.last_error = exc
        self._finish(job, attempt, result, False, generation, text)

    def _inflight_of(self, key: Key, generation: int) -> asyncio.Future[Diagnosis] | None:
        """``key`` is no longer in flight: the future of its waiter, if any. A diagnosis
        begun before the last ``cancel`` has none (a later request for the same attempt is
        its own, with its own future)."""
        if generation != self._generation:
            return None
        return self._inflight.pop(key, None)

    def _finish(
        self,
        job: Job,
        attempt: Attempt,
        result: Diagnosis,
        transient: bool,
        generation: int,
        text: str | None = None,
    ) -> None:
        """Cache the diagnosis (once it is written, unless transient) and say so."""
        key = (job.name, attempt.number)
        future = self._inflight_of(key, generation)
        try:
            self._cache.put(key, result, text)
            self.computed += 1
            if self.uses_model and not transient:  # no lasting LLM answer about a worker crash
                self._schedule_llm(job, attempt, result)
            self.changes.notify()
            self.job_manager.changes.notify()
        except Exception as exc:  # to those waiting for it, and logged
            log.exception("finishing the diagnosis of %s failed", job.name)
            self.last_error = exc
            if future is not None and not future.done():
                future.set_exception(exc)
                future.exception()  # retrieved: not logged a second time when it is freed
            return
        if future is not None and not future.done():
            future.set_result(result)

    async def _save(self, job: str, number: int, data: dict[str, Any]) -> None:
        """Store a diagnosis; those that end within ``SAVE_DELAY`` of each other are written
        together, ``SAVE_BATCH`` per transaction (a burst of 10,000 failures is not 10,000
        transactions). Returns once it is written; raises ``StoreError`` (naming the job)
        when this diagnosis could not be written, whatever became of the others."""
        await asyncio.shield(self._save_soon(job, number, data))

    def _save_soon(
        self, job: str, number: int, data: dict[str, Any], text: str | None = None
    ) -> asyncio.Future[None]:
        """Queue a diagnosis for the next batch: the future of its own outcome (see
        ``_save``; cancelled if the writer is)."""
        if self._batch is None:
            batch: list[tuple[_Row, asyncio.Future[None]]] = []
            self._batch = batch
            writer = self._spawn(self._write_batch(batch), name="save-diagnoses")
            writer.add_done_callback(lambda _: self._abandon(batch))
        written: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._batch.append(((job, number, data, text), written))
        return written

    def _abandon(self, batch: list[tuple[_Row, asyncio.Future[None]]]) -> None:
        """A writer cancelled before it ran: its waiters are cancelled, not left waiting."""
        if self._batch is batch:
            self._batch = None
        for _, written in batch:
            if not written.done():
                written.cancel()

    async def _write_batch(self, batch: list[tuple[_Row, asyncio.Future[None]]]) -> None:
        cancelled: asyncio.CancelledError | None = None

        async def breathe() -> None:  # the loop runs between transactions (not once closing)
            nonlocal cancelled
            if cancelled is None:
                try:
                    await asyncio.sleep(0)
                except asyncio.CancelledError as exc:
                    cancelled = exc

        try:
            await asyncio.sleep(SAVE_DELAY)
        except asyncio.CancelledError as exc:  # closing: write them now, never leave them waiting
            cancelled = exc
        if self._batch is batch:
            self._batch = None
        for start in range(0, len(batch), SAVE_BATCH):
            if start:
                await breathe()
            chunk = batch[start : start + SAVE_BATCH]
            try:
                self.store.diagnoses.save_many([row for row, _ in chunk])
            except Exception as exc:
                if len(chunk) == 1:
                    _fail(chunk[0], exc)
                    continue
                # One row may spoil the transaction: each alone, so that each waiter gets its
                # own row's outcome (the rows before this transaction are written already).
                for index, (row, written) in enumerate(chunk):
                    if index:
                        await breathe()
                    try:
                        self.store.diagnoses.save_many([row])
                    except Exception as alone:
                        _fail((row, written), alone)
                    else:
                        _succeed(written)
            else:
                for _, written in chunk:
                    _succeed(written)
        if cancelled is not None:
            raise cancelled

    def _schedule_llm(self, job: Job, attempt: Attempt, diagnosis: Diagnosis) -> None:
        """One LLM diagnosis per distinct signature; later jobs with it reuse the first."""
        signature = diagnosis.signature
        if signature in self._llm_inflight or signature in self._llm_done:
            return
        task = self._spawn(self._llm_diagnose(job, attempt, diagnosis), name=f"llm-{job.name}")
        self._llm_inflight[signature] = task
        task.add_done_callback(lambda _: self._llm_inflight.pop(signature, None))

    async def _llm_diagnose(self, job: Job, attempt: Attempt, diagnosis: Diagnosis) -> None:
        from ..llm.diagnose import diagnose_with_model
        from ..llm.limits import limit_output
        from ..llm.provider import ModelError, model_label, resolve_model
        from ..llm.usage import CallUsage, is_local_model

        label = "unknown"
        scope = DIAGNOSIS_SCOPE + diagnosis.signature
        async with self._llm_semaphore:
            try:
                if self._llm_model is None:
                    model = resolve_model(self.llm)
                    self._llm_model = limit_output(model, self.limits.max_output_tokens)
                label = model_label(self._llm_model)
                local = is_local_model(self._llm_model)

                def count(call: CallUsage) -> None:  # each try that got an answer
                    self.store.chat.add_usage(
                        scope,
                        call.input_tokens,
                        call.output_tokens,
                        model=label,
                        local=local,
                        estimated_input_tokens=call.input_tokens if call.input_estimated else 0,
                        estimated_output_tokens=call.output_tokens if call.output_estimated else 0,
                    )

                view = ManagerRunView(self.job_manager, self)
                facts = job_context(view, job.name, facts=await _scheduler_facts(view, job.name))
                facts.pop("llm_diagnosis", None)
                self.llm_calls += 1
                text = await diagnose_with_model(
                    self._llm_model,
                    facts,
                    retry=self.retry,
                    timeout=self.limits.call_timeout,
                    callbacks=self.callbacks,
                    on_usage=count,
                    metadata={
                        "job": job.name,
                        "attempt": attempt.number,
                        "signature": diagnosis.signature,
                    },
                )
                error = None
                if text is None:
                    error = "the model returned an empty answer"
            except ModelError as exc:
                text, error = None, str(exc)
            self.store.diagnoses.save_llm(
                diagnosis.signature, label, job.name, attempt.number, text, error
            )
            self._llm_done.add(diagnosis.signature)
        self.changes.notify()

    def _without_log(self, job: Job, attempt: Attempt, problem: str) -> Diagnosis:
        return diagnose_without_log(
            attempt.log_path,
            problem,
            state=attempt.state.value,
            reason=attempt.reason,
            time_limit=job.resources.time_limit,
            memory=job.resources.memory,
        )

    async def _run_engine(self, job: Job, attempt: Attempt) -> Diagnosis:
        return await self.pool.run(
            attempt.log_path,
            state=attempt.state.value,
            reason=attempt.reason,
            workdir=job.resolved_cwd(self.job_manager.workdir),
            time_limit=job.resources.time_limit,
            memory=job.resources.memory,
            max_tokens=self.max_tokens,
        )


def _succeed(written: asyncio.Future[None]) -> None:
    if not written.done():
        written.set_result(None)


def _fail(item: tuple[_Row, asyncio.Future[None]], exc: Exception) -> None:
    (job, number, _, _), written = item
    if not written.done():
        written.set_exception(
            StoreError(f"the diagnosis of job {job!r} attempt {number} was not stored: {exc}")
        )
        written.exception()  # retrieved here: its waiter raises it


async def _scheduler_facts(view: ManagerRunView, name: str) -> dict[str, Any]:
    """The scheduler's facts on a job for its LLM diagnosis (an Airflow task's DAG), bounded;
    none when the scheduler does not answer (the diagnosis goes on without them)."""
    try:
        return await within(view.scheduler_facts(name), 10.0)
    except Exception as exc:
        log.warning("no scheduler facts for the LLM diagnosis of %s: %s", name, exc or "timeout")
        return {}
