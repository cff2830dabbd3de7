"""Submit jobs, poll the scheduler, record every state change, publish failures."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NoReturn, Self, TypeVar, overload

from ..errors import JobBusyError as JobBusyError
from ..errors import UnknownJobError as UnknownJobError
from ..jobs.model import Attempt, Job, JobState
from ..jobs.schedulers.base import (
    AttemptReport,
    FoundAttempt,
    Scheduler,
    SchedulerError,
    SubmitError,
    SubmitRequest,
    check_workdir,
)
from ..store import Store
from ..store.layout import highest_attempt
from .base import BaseManager, Changes

log = logging.getLogger(__name__)

#: The store's record of a scheduler outage (the error), while the scheduler does not answer.
OUTAGE_KEY = "scheduler_error"
#: Jobs whose new attempts are recorded in one store transaction when submitting many.
SUBMIT_BATCH = 200
#: State changes recorded per store transaction in one poll; the loop runs between batches.
POLL_BATCH = 100
#: While submitting many jobs, record the submitted ones and let the loop run this often (s).
FLUSH_INTERVAL = 0.005


@dataclass(frozen=True)
class FailureEvent:
    """A job's attempt ended in a failure state (FAILED, TIMEOUT, OUT_OF_MEMORY, ...)."""

    job: Job
    attempt: Attempt


#: A latest attempt as the collector sees it: an exact tuple of strings, numbers and None,
#: which Python's garbage collector stops tracking after its first pass (an ``Attempt`` is
#: tracked for its whole life). With 100,000 jobs, 100,000 tracked attempts made each full
#: collection walk 100,000 more objects, and those collections are what stalled the loop.
_Row = tuple[Any, ...]
_T = TypeVar("_T")
_STATE_OF: dict[str, JobState] = {state.value: state for state in JobState}
_FINAL_VALUES = frozenset(state.value for state in JobState if state.is_final)
_FAILURE_VALUES = frozenset(state.value for state in JobState if state.is_failure)


def _row(attempt: Attempt) -> _Row:
    return (
        attempt.job,
        attempt.number,
        attempt.state.value,
        attempt.log_path,
        attempt.scheduler_id,
        attempt.exit_code,
        attempt.signal,
        attempt.reason,
        attempt.submitted_at,
        attempt.started_at,
        attempt.ended_at,
    )


_FIELDS = (
    "job", "number", "state", "log_path", "scheduler_id", "exit_code", "signal", "reason",
    "submitted_at", "started_at", "ended_at",
)  # fmt: skip
if tuple(field.name for field in dataclasses.fields(Attempt)) != _FIELDS:  # pragma: no cover
    # the order ``_row`` writes and ``_attempt`` reads must be every field of ``Attempt``
    raise RuntimeError("Attempt's fields changed: update _FIELDS, _row and _attempt")
_new = object.__new__
_set = object.__setattr__


def _attempt(row: _Row) -> Attempt:
    """The ``Attempt`` of a row (one made by ``_row``, from an attempt already checked): its
    fields set at once, in 0.45x the time of the constructor (0.5 us); a poll over 100,000
    attempts makes each of them."""
    job, number, state, log_path, sid, code, signal, reason, submitted, started, ended = row
    attempt = _new(Attempt)
    _set(attempt, "__dict__", {
        "job": job, "number": number, "state": _STATE_OF[state], "log_path": log_path,
        "scheduler_id": sid, "exit_code": code, "signal": signal, "reason": reason,
        "submitted_at": submitted, "started_at": started, "ended_at": ended,
    })  # fmt: skip
    return attempt


class AttemptRows(Sequence[Attempt]):
    """Attempts made one at a time from their rows, as they are read (``active()``'s
    answer): a poll of 100,000 attempts holds one list of rows, not 100,000 objects."""

    __slots__ = ("_rows",)

    def __init__(self, rows: list[_Row]) -> None:
        self._rows = rows

    def __len__(self) -> int:
        return len(self._rows)

    def rows(self) -> list[_Row]:
        """The rows themselves (see ``_row``), for a pass that needs no ``Attempt``."""
        return self._rows

    @overload
    def __getitem__(self, index: int) -> Attempt: ...
    @overload
    def __getitem__(self, index: slice) -> AttemptRows: ...
    def __getitem__(self, index: int | slice) -> Attempt | AttemptRows:
        if isinstance(index, slice):  # a slice is made as it is read too
            return AttemptRows(self._rows[index])
        return _attempt(self._rows[index])

    def __iter__(self) -> Iterator[Attempt]:
        return map(_attempt, self._rows)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, AttemptRows):
            return self._rows == other._rows
        if isinstance(other, Sequence) and not isinstance(other, str):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"AttemptRows({list(self)!r})"


class LatestAttempts(MutableMapping[str, Attempt]):
    """The latest attempt of each job by name, knowing at once how many are not final and
    how many are in each state.

    A mapping, not a dict: each attempt is kept as a row the garbage collector does not
    track, and read as an equal ``Attempt`` (a new object each time: compare attempts with
    ``==``, not ``is``). Every way of changing it (``[]=``, ``del``, ``update``, ``|=``,
    ``setdefault``, ``pop``, ``popitem``, ``clear``) keeps ``unfinished`` and ``states``
    right; ``copy()``, ``|``, ``copy.copy`` and pickling give a ``LatestAttempts`` with its
    own."""

    __slots__ = ("_rows", "states", "unfinished")

    def __init__(self, items: Mapping[str, Attempt] | None = None) -> None:
        self._rows: dict[str, _Row] = {}
        #: Names of the jobs whose latest attempt is not final (a dict: in the order they
        #: became so).
        self.unfinished: dict[str, None] = {}
        #: How many latest attempts are in each state (states with none left out).
        self.states: dict[JobState, int] = {}
        self.update(items or {})

    # -- reading ------------------------------------------------------------------------------

    def __getitem__(self, name: str) -> Attempt:
        return _attempt(self._rows[name])

    @overload
    def get(self, name: str, /) -> Attempt | None: ...
    @overload
    def get(self, name: str, default: Attempt, /) -> Attempt: ...
    @overload
    def get(self, name: str, default: _T, /) -> Attempt | _T: ...
    def get(self, name: str, default: Any = None, /) -> Any:
        row = self._rows.get(name)
        return default if row is None else _attempt(row)

    def __contains__(self, name: object) -> bool:
        return name in self._rows

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LatestAttempts):
            return self._rows == other._rows
        return super().__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"LatestAttempts({dict(self.items())!r})"

    def state(self, name: str) -> JobState | None:
        """The state of ``name``'s latest attempt (None without one), no ``Attempt`` made."""
        row = self._rows.get(name)
        return None if row is None else _STATE_OF[row[2]]

    def holds(self, attempt: Attempt) -> bool:
        """Whether ``attempt`` (equal in every field) is still its job's latest."""
        return self._holds(_row(attempt))

    def _holds(self, row: _Row) -> bool:
        return self._rows.get(row[0]) == row

    def failed(self) -> Iterator[tuple[str, int]]:
        """(job, attempt number) of each latest attempt in a failure state, in order."""
        failures = _FAILURE_VALUES
        for name, row in self._rows.items():
            if row[2] in failures:
                yield name, row[1]

    def rows_of(self, names: Iterable[str]) -> AttemptRows:
        """The latest attempts of ``names`` (each must have one), made as they are read."""
        return AttemptRows(list(map(self._rows.__getitem__, names)))

    # -- changing -----------------------------------------------------------------------------

    def __setitem__(self, name: str, attempt: Attempt) -> None:
        if not isinstance(attempt, Attempt):
            raise TypeError(f"the latest attempt of {name!r} must be an Attempt, got {attempt!r}")
        self._put(name, _row(attempt))

    def put(self, rows: Iterable[_Row]) -> None:
        """Set latest attempts from rows made by ``_row`` (what a batch keeps between
        the loop's turns instead of ``Attempt`` objects), each under its job's name."""
        for row in rows:
            self._put(row[0], row)

    def _put(self, name: str, row: _Row) -> None:
        old = self._rows.get(name)
        self._rows[name] = row
        if old is not None:
            self._uncount(old)
        state = _STATE_OF[row[2]]
        self.states[state] = self.states.get(state, 0) + 1
        if row[2] in _FINAL_VALUES:
            self.unfinished.pop(name, None)
        else:
            self.unfinished[name] = None

    def _uncount(self, row: _Row) -> None:
        state = _STATE_OF[row[2]]
        left = self.states[state] - 1
        if left:
            self.states[state] = left
        else:
            del self.states[state]

    def __delitem__(self, name: str) -> None:
        old = self._rows.pop(name)
        self._uncount(old)
        self.unfinished.pop(name, None)

    def update(self, *args: Any, **kwargs: Attempt) -> None:
        items = dict(*args, **kwargs)
        for name, attempt in items.items():  # all or nothing
            if not isinstance(attempt, Attempt):
                raise TypeError(
                    f"the latest attempt of {name!r} must be an Attempt, got {attempt!r}"
                )
        for name, attempt in items.items():
            self[name] = attempt

    def __ior__(self, other: Mapping[str, Attempt]) -> Self:
        self.update(other)
        return self

    def __or__(self, other: Mapping[str, Attempt]) -> LatestAttempts:
        if not isinstance(other, Mapping):
            return NotImplemented
        merged = self.copy()
        merged.update(other)
        return merged

    def __ror__(self, other: Mapping[str, Attempt]) -> LatestAttempts:
        if not isinstance(other, Mapping):
            return NotImplemented
        merged = LatestAttempts(other)
        merged.update(self)
        return merged

    def copy(self) -> LatestAttempts:
        twin = LatestAttempts()
        twin._rows = dict(self._rows)
        twin.unfinished = dict(self.unfinished)
        twin.states = dict(self.states)
        return twin

    __copy__ = copy

    def __deepcopy__(self, memo: dict[int, Any]) -> LatestAttempts:
        return self.copy()  # rows hold only strings, numbers and None

    def __reduce__(self) -> tuple[Any, ...]:  # pickle: through __init__
        return (type(self), (dict(self.items()),))

    def setdefault(self, name: str, attempt: Attempt) -> Attempt:
        if name not in self._rows:
            self[name] = attempt
        return self[name]

    def pop(self, name: str, *default: Any) -> Any:
        if name not in self._rows:
            if default:
                return default[0]
            raise KeyError(name)
        attempt = self[name]
        del self[name]
        return attempt

    def popitem(self) -> tuple[str, Attempt]:
        if not self._rows:
            raise KeyError("popitem(): no latest attempts")
        name, row = self._rows.popitem()
        self._uncount(row)
        self.unfinished.pop(name, None)
        return name, _attempt(row)

    def clear(self) -> None:
        self._rows.clear()
        self.unfinished.clear()
        self.states.clear()

    @classmethod
    def fromkeys(cls, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("LatestAttempts holds attempts: build it from a mapping of them")


class JobManager(BaseManager):
    """Owns the jobs of a run: their definitions, latest attempts and the polling loop."""

    def __init__(
        self,
        jobs: Iterable[Job],
        *,
        store: Store,
        scheduler: Scheduler,
        workdir: Path,
        log_dir: Path,
        poll_interval: float = 1.0,
    ) -> None:
        super().__init__()
        self.store = store
        self.scheduler = scheduler
        self.workdir = workdir
        self.log_dir = log_dir
        self.poll_interval = poll_interval
        self.jobs: dict[str, Job] = {}
        for job in jobs:
            if job.name in self.jobs:
                raise ValueError(f"duplicate job name {job.name!r}: job names must be unique")
            self.jobs[job.name] = job
        #: Latest attempt of each job that has one.
        self.attempts: LatestAttempts = LatestAttempts()
        #: Set when the scheduler did not answer the last poll (cleared when it answers).
        self.scheduler_error: str | None = None
        self.changes = Changes()
        self._subscribers: list[asyncio.Queue[FailureEvent]] = []
        self._listeners: list[Callable[[Job, Attempt], None]] = []
        self._wake = asyncio.Event()
        self._loaded = False
        self._unrecorded: list[Job] = []
        #: Jobs whose automatic retry (max_attempts) is being submitted: not final yet.
        self._retrying: set[str] = set()

    # -- setup --------------------------------------------------------------------------------

    def load(self) -> None:
        """Read what earlier runs left in the store (the given jobs are recorded by the loop,
        in batches, before any of them is submitted)."""
        self._unrecorded = list(self.jobs.values())
        self.store.set_meta(OUTAGE_KEY, None)  # an earlier process's outage: polled anew
        for job in self.store.jobs.all(skip=self.jobs):
            self.jobs[job.name] = job
        self.attempts = self._stored_attempts()
        self._loaded = True

    def _stored_attempts(self) -> LatestAttempts:
        """The stored latest attempts of the known jobs (a job whose stored definition is no
        longer valid is left out with a warning by the store, and so are its attempts)."""
        jobs = self.jobs
        latest = self.store.jobs.latest_attempts()
        return LatestAttempts({name: a for name, a in latest.items() if name in jobs})

    async def _record_jobs(self) -> None:
        """Store the run's job definitions, ``SUBMIT_BATCH`` per transaction, yielding between
        batches so that 10,000 jobs never hold the notebook's event loop."""
        while self._unrecorded:
            batch, self._unrecorded = (
                self._unrecorded[:SUBMIT_BATCH],
                self._unrecorded[SUBMIT_BATCH:],
            )
            self.store.jobs.upsert(batch)
            await asyncio.sleep(0)

    def unrecorded(self) -> list[Job]:
        """Jobs of this run not yet written to the store (right after ``start()``)."""
        return list(self._unrecorded)

    def validate(self, jobs: Iterable[Job]) -> None:
        """Raise ``SubmitError`` for a job whose cwd or log directory is unusable."""
        jobs = list(jobs)
        # Each distinct cwd once, named by its first job, in the jobs' order: a sweep of
        # 100,000 jobs in one directory is two passes at C speed, not 100,000 paths made.
        first = {job.cwd: job for job in reversed(jobs)}
        checked: set[Path] = set()
        for raw in dict.fromkeys(job.cwd for job in jobs):
            job = first[raw]
            cwd = job.resolved_cwd(self.workdir)
            if cwd in checked:
                continue
            checked.add(cwd)
            check_workdir(job.name, cwd)
        probe = self.log_dir
        while not probe.exists():
            probe = probe.parent
        if not probe.is_dir():
            raise SubmitError(f"cannot create log directory {self.log_dir}: {probe} is a file")
        if probe == self.log_dir:  # one scandir, not a stat per job
            names = {job.name for job in jobs}
            for entry in os.scandir(self.log_dir):
                if entry.name in names and not entry.is_dir():
                    raise SubmitError(
                        f"job {entry.name!r}: cannot create log directory"
                        f" {self.log_dir / entry.name}: a file is in the way"
                    )

    # -- public -------------------------------------------------------------------------------

    def subscribe(self) -> asyncio.Queue[FailureEvent]:
        """A queue that receives every failure from now on."""
        queue: asyncio.Queue[FailureEvent] = asyncio.Queue()
        self._subscribers.append(queue)
        return queue

    def listen(self, callback: Callable[[Job, Attempt], None]) -> None:
        """Call ``callback(job, attempt)`` for every failure from now on, as it is recorded
        (in the poll: it must be quick and not block; what it raises is logged). Unlike
        ``subscribe``, nothing is held per failure until it is taken."""
        self._listeners.append(callback)

    def job(self, name: str) -> Job:
        try:
            return self.jobs[name]
        except KeyError:
            known = ", ".join(sorted(self.jobs)[:10]) or "none"
            raise UnknownJobError(f"no job named {name!r} (jobs: {known})") from None

    def state(self, name: str) -> JobState:
        """The job's state; ``UNKNOWN`` for an unfinished job while the scheduler is down."""
        self.job(name)
        attempt = self.attempts.get(name)
        if attempt is None:
            return JobState.PENDING
        if self.scheduler_error is not None and not attempt.state.is_final:
            return JobState.UNKNOWN
        return attempt.state

    def all_final(self) -> bool:
        if self._retrying or self.attempts.unfinished:  # at once, also with 100,000 jobs
            return False
        # Latest attempts are only ever kept for known jobs: with none unfinished, as many as
        # there are jobs means all are final, and fewer that some job has none yet.
        if len(self.attempts) == len(self.jobs):
            return True
        if len(self.attempts) < len(self.jobs):
            return False
        state = self.attempts.state  # more than the jobs: only a pass can tell
        return all((s := state(name)) is not None and s.is_final for name in self.jobs)

    async def resubmit(self, name: str, job: Job | None = None) -> Attempt:
        """Start a new attempt of a finished job (optionally with a changed definition)."""
        current = self.job(name)
        attempt = self.attempts.get(name)
        if attempt is not None and not attempt.state.is_final:
            raise JobBusyError(
                f"job {name!r} is still {attempt.state.value.lower()}; cancel it first"
            )
        if job is not None:
            if job.name != name:
                raise ValueError(f"resubmit({name!r}) was given a job named {job.name!r}")
            if job != current:
                self.store.jobs.upsert([job])
                self.jobs[name] = job
        return await self._submit(self.jobs[name])

    def update_job(self, job: Job) -> None:
        """Change a job's definition for its next attempts (e.g. more time or memory)."""
        self.job(job.name)
        self.store.jobs.upsert([job])
        self.jobs[job.name] = job
        self.changes.notify()

    async def cancel_job(self, name: str) -> None:
        """Ask the scheduler to end the job's running attempt (no-op when it is final)."""
        self.job(name)
        attempt = self.attempts.get(name)
        if attempt is None or attempt.state.is_final:
            return
        await self.scheduler.cancel(attempt)
        self._wake.set()

    def active(self) -> AttemptRows:
        """The latest attempts that are not final (made as they are read, see
        ``AttemptRows``)."""
        attempts = self.attempts
        return attempts.rows_of(attempts.unfinished)

    # -- loop ---------------------------------------------------------------------------------

    async def _manage(self) -> None:
        if not self._loaded:
            self.load()
        await self._record_jobs()
        forgotten = await self._adopt_orphans()
        active = self.active()
        if active:
            await self.scheduler.recover(active)
        await self._submit_many(
            [j for j in self.jobs.values() if j.name not in self.attempts or j.name in forgotten]
        )
        while True:
            try:
                await self.poll_once()
                await self.discover_once()
            except SchedulerError as exc:
                if self.scheduler_error is None:
                    log.warning("scheduler did not answer: %s; jobs are kept", exc)
                if self.scheduler_error != str(exc):
                    self.store.set_meta(OUTAGE_KEY, str(exc))  # `adaptive-llm status` sees it
                self.scheduler_error = str(exc)
                self.changes.notify()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):  # not wait_for: it can lose a cancel (3.11)
                async with asyncio.timeout(self.poll_interval):
                    await self._wake.wait()

    async def _adopt_orphans(self) -> set[str]:
        """Attempts recorded without a scheduler id (a crash while submitting them): adopt
        them if the scheduler has them, otherwise forget them so they are submitted again."""
        orphans = [a for a in self.active() if a.scheduler_id is None]
        forget: list[Attempt] = []
        for attempt in orphans:
            scheduler_id = await self.scheduler.adopt(attempt)
            if scheduler_id is None:
                forget.append(attempt)
                continue
            self.store.jobs.set_scheduler_id(attempt.job, attempt.number, scheduler_id)
            self.attempts[attempt.job] = replace(attempt, scheduler_id=scheduler_id)
        if forget:
            self.store.jobs.delete_attempts([(a.job, a.number) for a in forget])
            self.attempts = self._stored_attempts()
        return {a.job for a in forget}

    async def poll_once(self) -> int:
        """Poll every active attempt once; record and publish changes. Returns the count.

        Changes are recorded in batches of ``POLL_BATCH`` (one transaction each) and the loop
        runs between batches, so thousands of jobs changing at once do not stall it.
        """
        active = self.active()
        if not active:
            return 0
        statuses = await self.scheduler.poll(active)
        self._answered()
        # The changed attempts by their index in ``active`` (made again when recorded) and
        # their reports, in two lists: no object per change is held across the loop's
        # turns. With 100,000 jobs changing at once, 100,000 attempts held that long are
        # promoted to the garbage collector's oldest generation and bring a full
        # collection, which is what stalls the loop at that scale.
        changes: list[int] = []
        reports: list[AttemptReport] = []
        get = statuses.get
        for index, row in enumerate(active.rows()):
            if index and index % (10 * POLL_BATCH) == 0:
                await asyncio.sleep(0)
            # read from the row, no attempt made: (state's value, scheduler id, reason)
            status = get(row[4] or "")
            if status is not None and (status.state != row[2] or status.reason != row[7]):
                changes.append(index)
                reports.append(status)
        del statuses
        count = 0
        retries: list[Job] = []
        rows = active.rows()
        for begin in range(0, len(changes), POLL_BATCH):
            if begin:
                await asyncio.sleep(0)
            changed: list[Attempt] = []
            for index in range(begin, min(begin + POLL_BATCH, len(changes))):
                row = rows[changes[index]]
                if not self.attempts._holds(row):
                    continue  # changed meanwhile (a concurrent poll or a resubmit)
                changed.append(_attempt(row).with_report(reports[index]))
            self.store.jobs.update_attempts(changed)
            for attempt in changed:
                self.attempts[attempt.job] = attempt
                if attempt.state.is_failure:
                    job = self.jobs[attempt.job]
                    self._publish(job, attempt)
                    if attempt.number < job.max_attempts:
                        retries.append(job)
            if changed:
                count += len(changed)
                self.changes.notify()
        if retries:
            names = {job.name for job in retries}
            self._retrying |= names
            task = self._spawn(self._submit_many(retries), name=f"retry-{len(retries)}-jobs")
            task.add_done_callback(lambda _: self._retrying.difference_update(names))
        return count

    async def discover_once(self) -> list[Attempt]:
        """Add the jobs the scheduler found without being asked (``Scheduler.discover``, one
        bounded call); the attempts added."""
        found = await self.scheduler.discover()
        if self.scheduler_error is not None and not self.attempts.unfinished:
            self._answered()  # nothing to poll: this call was the scheduler's answer
        return self.add_found(found) if found else []

    def add_found(self, found: Sequence[FoundAttempt]) -> list[Attempt]:
        """Add found jobs, each with an attempt that has its scheduler id already, recorded in
        the store like submitted ones (a new process polls them on). A job found before (its
        name and command known) is skipped; a name another job holds gets a ``-2`` suffix."""
        jobs: list[Job] = []
        attempts: list[Attempt] = []
        for item in found:
            job = item.job
            known = self.jobs.get(job.name)
            if known is not None:
                if known.command == job.command:
                    continue  # found by an earlier poll or process
                name = self._free_name(job.name)
                log.warning("found job %r: another job has that name; it is %r", job.name, name)
                job = replace(job, name=name)
            self.jobs[job.name] = job
            jobs.append(job)
            attempt = self._new_attempt(job, scheduler_id=item.scheduler_id, reason=item.reason)
            attempts.append(attempt)
        if not jobs:
            return []
        self.store.jobs.upsert(jobs)
        self.store.jobs.add_attempts(attempts, self.scheduler.name)
        for attempt in attempts:
            self.attempts[attempt.job] = attempt
        log.info(
            "added %d job(s) the scheduler found: %s", len(jobs), ", ".join(j.name for j in jobs)
        )
        self.changes.notify()
        self._wake.set()
        return attempts

    def _free_name(self, name: str) -> str:
        for number in range(2, 10_000):
            candidate = f"{name[: 127 - len(str(number))]}-{number}"
            if candidate not in self.jobs:
                return candidate
        raise ValueError(f"no free job name like {name!r}")

    # -- internals ----------------------------------------------------------------------------

    def _answered(self) -> None:
        """The scheduler answered: the outage (if any) is over."""
        if self.scheduler_error is not None:
            self.store.set_meta(OUTAGE_KEY, None)
            self.scheduler_error = None
            self.changes.notify()

    def _publish(self, job: Job, attempt: Attempt) -> None:
        for callback in self._listeners:
            try:
                callback(job, attempt)
            except Exception:  # a listener's bug must not stop the poll recording the rest
                log.exception(
                    "a failure listener raised on %s attempt %d", job.name, attempt.number
                )
        if self._subscribers:
            event = FailureEvent(job, attempt)
            for queue in self._subscribers:
                queue.put_nowait(event)

    def _new_attempt(self, job: Job, number: int | None = None, **fields: Any) -> Attempt:
        """The job's next attempt, log at ``<job>/attempt-<n>.log``: numbered after its latest
        and after every attempt with files on disk, so that no log is overwritten even when
        the store lost attempts (``number`` reuses one that was never submitted)."""
        if number is None:
            previous = self.attempts.get(job.name)
            number = max(previous.number if previous else 0, self._on_disk(job.name)) + 1
        fields.setdefault("state", JobState.PENDING)
        fields.setdefault("submitted_at", time.time())
        log_path = self.log_dir / job.name / f"attempt-{number}.log"
        return Attempt(job=job.name, number=number, log_path=str(log_path), **fields)

    def _on_disk(self, name: str) -> int:
        """The highest attempt number with files in the job's log directory (0 if none)."""
        return highest_attempt(self.log_dir / name)

    async def _submit(self, job: Job) -> Attempt:
        """Submit one job through the batch path: a refused submit is recorded as a FAILED
        attempt (diagnosed like any failure), then raised as ``SubmitError``."""
        [attempt] = await self._submit_batch([job], outcome=True)
        if attempt.scheduler_id is None:
            raise SubmitError(attempt.reason or "the scheduler refused the job")
        return attempt

    async def _submit_many(self, jobs: Sequence[Job]) -> None:
        """Submit many jobs with few store transactions, letting the loop run meanwhile.

        A refused submit is recorded as a failed attempt (visible in the store and the
        diagnosis, never silent). New attempts are recorded ``SUBMIT_BATCH`` at a time before
        their submission; scheduler ids are recorded (and the attempts published) every
        ``FLUSH_INTERVAL``.
        """
        for begin in range(0, len(jobs), SUBMIT_BATCH):
            await self._submit_batch(jobs[begin : begin + SUBMIT_BATCH])
            await asyncio.sleep(0)

    async def _submit_batch(self, jobs: Sequence[Job], *, outcome: bool = False) -> list[Attempt]:
        """Record, submit and publish ``jobs``' next attempts; with ``outcome``, each job's
        attempt (submitted, or FAILED when the scheduler refused it) in order.

        Between the loop's turns the batch holds its attempts as rows (``_row``), not as
        ``Attempt`` objects: objects alive across the turns of a submission of 100,000 jobs
        are promoted to the collector's oldest generation and bring its full collections."""
        loop = asyncio.get_running_loop()
        now = time.time()
        latest = self.attempts
        previous = [latest.get(job.name) for job in jobs]
        new = [self._new_attempt(job, submitted_at=now) for job in jobs]
        self.store.jobs.add_attempts(new, self.scheduler.name)
        rows = [_row(attempt) for attempt in new]
        del new
        submitted: list[_Row] = []
        results: list[Attempt] = []
        handled = 0
        try:
            # The loop runs between the batch's transaction and its submits (in the ``try``:
            # cancelled here, the batch's attempts are forgotten like any never submitted).
            await asyncio.sleep(0)
            flushed = loop.time()
            for index, job in enumerate(jobs):
                attempt = _attempt(rows[index])
                request = SubmitRequest(
                    job=job,
                    attempt=attempt.number,
                    cwd=job.resolved_cwd(self.workdir),
                    log_path=Path(attempt.log_path),
                    previous=previous[index],
                )
                previous[index] = None
                try:
                    scheduler_id = await self.scheduler.submit(request)
                except SubmitError as exc:
                    handled += 1
                    self.store.jobs.delete_attempt(job.name, attempt.number)
                    log.error("%s", exc)
                    failed = self._record_submit_failure(job, str(exc), attempt.number)
                    if outcome:
                        results.append(failed)
                    continue
                handled += 1
                done = replace(attempt, scheduler_id=scheduler_id)
                submitted.append(_row(done))
                if outcome:
                    results.append(done)
                if loop.time() - flushed > FLUSH_INTERVAL:
                    self._record_submitted(submitted)
                    submitted = []
                    await asyncio.sleep(0)
                    flushed = loop.time()
        finally:
            self._record_submitted(submitted)
            # Never handed to the scheduler (cancelled, or it raised): forget them.
            self.store.jobs.delete_attempts([(row[0], row[1]) for row in rows[handled:]])
        return results

    def _record_submitted(self, rows: Sequence[_Row]) -> None:
        if not rows:
            return
        self.store.jobs.set_scheduler_ids([(row[0], row[1], row[4] or "") for row in rows])
        self.attempts.put(rows)
        self.changes.notify()
        self._wake.set()

    def _record_submit_failure(self, job: Job, reason: str, number: int) -> Attempt:
        now = time.time()
        attempt = self._new_attempt(
            job,
            number,
            state=JobState.FAILED,
            reason=f"could not submit: {reason}",
            submitted_at=now,
            ended_at=now,
        )
        self.store.jobs.add_attempt(attempt, self.scheduler.name)
        self.attempts[job.name] = attempt
        self._publish(job, attempt)
        self.changes.notify()
        return attempt
