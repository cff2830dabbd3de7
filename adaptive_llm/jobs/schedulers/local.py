"""Run attempts as local subprocesses, each under a small runner that outlives the kernel.

Restart policy: an attempt started by an earlier process is *re-attached* when its runner is
still alive (its time limit is still enforced by the runner, its exit status is read from the
runner's ``status.json`` when it ends). When the runner is gone without a final status (the
machine rebooted, someone killed it with SIGKILL) the attempt is marked ``LOST`` with that
reason. An attempt that was queued but never started is queued again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..model import Attempt, Job, JobState
from .base import AttemptReport, ResourceCaps, Scheduler, SubmitError, SubmitRequest, check_workdir

log = logging.getLogger(__name__)

RUNNER = Path(__file__).with_name("_runner.py")


def attempt_files(log_path: str | Path) -> tuple[Path, Path]:
    """The spec and status files kept beside an attempt's log."""
    log_file = Path(log_path)
    stem = log_file.with_suffix("")
    return stem.with_suffix(".spec.json"), stem.with_suffix(".status.json")


@dataclass
class _Entry:
    id: str
    spec_path: Path
    status_path: Path
    process: asyncio.subprocess.Process | None = None
    runner_pid: int | None = None
    status: AttemptReport = field(default_factory=lambda: AttemptReport(JobState.PENDING))
    cancel_requested: bool = False
    external: bool = False


class LocalScheduler(Scheduler):
    """Subprocesses on this machine, at most ``max_concurrent`` at a time (default: cores).

    Each attempt runs in its own session and process group, under a runner that is the child
    subreaper of its tree (Linux): a time limit ends the whole tree, ``setsid`` and double
    forks included (SIGTERM, then SIGKILL after ``kill_grace`` seconds), and records
    ``TIMEOUT``; when the command exits, whatever it left running is killed. A memory limit
    is applied as ``RLIMIT_AS`` and a death from it is recorded as ``OUT_OF_MEMORY``.
    """

    name = "local"

    def __init__(
        self,
        max_concurrent: int | None = None,
        *,
        kill_grace: float = 5.0,
        python: str | None = None,
    ) -> None:
        if max_concurrent is not None and max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        self.max_concurrent = max_concurrent or os.cpu_count() or 1
        self.kill_grace = kill_grace
        self.python = python or sys.executable
        self._entries: dict[str, _Entry] = {}
        self._queue: deque[str] = deque()
        self._running: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    # -- interface ----------------------------------------------------------------------------

    async def submit(self, request: SubmitRequest) -> str:
        job = request.job
        check_workdir(job.name, request.cwd)
        log_dir = request.log_path.parent
        try:
            log_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SubmitError(
                f"job {job.name!r}: cannot create log directory {log_dir}: {exc.strerror or exc}"
            ) from exc
        if not os.access(log_dir, os.W_OK | os.X_OK):
            raise SubmitError(f"job {job.name!r}: log directory {log_dir} is not writable")
        spec_path, status_path = attempt_files(request.log_path)
        spec: dict[str, Any] = {
            "job": job.name,
            "attempt": request.attempt,
            "argv": job.argv,
            "cwd": str(request.cwd),
            "env": dict(job.env),
            "log_path": str(request.log_path),
            "status_path": str(status_path),
            "time_limit": job.resources.time_limit,
            "memory": job.resources.memory,
            "kill_grace": self.kill_grace,
        }
        try:
            status_path.unlink(missing_ok=True)
            _atomic_json(spec_path, spec)
        except OSError as exc:
            raise SubmitError(f"job {job.name!r}: cannot write {spec_path}: {exc}") from exc
        entry = _Entry(
            id=f"local-{uuid.uuid4().hex[:12]}", spec_path=spec_path, status_path=status_path
        )
        self._entries[entry.id] = entry
        self._queue.append(entry.id)
        await self._launch_ready()
        return entry.id

    async def poll(self, attempts: Sequence[Attempt]) -> dict[str, AttemptReport]:
        result: dict[str, AttemptReport] = {}
        for attempt in attempts:
            if attempt.scheduler_id is None:
                continue
            entry = self._entries.get(attempt.scheduler_id)
            if entry is None:
                entry = self._recover_one(attempt)
            if entry.external and entry.id in self._running:
                self._check_external(entry)
            elif entry.process is not None and entry.id in self._running:
                entry.status = _read_status(entry.status_path) or entry.status
            result[entry.id] = entry.status
        await self._launch_ready()
        return result

    async def cancel(self, attempt: Attempt) -> None:
        entry = self._entries.get(attempt.scheduler_id or "")
        if entry is None:
            entry = self._recover_one(attempt)
        if entry.status.state.is_final:
            return
        entry.cancel_requested = True
        if entry.id in self._queue:
            self._queue.remove(entry.id)
            entry.status = AttemptReport(
                JobState.CANCELLED, reason="cancelled before it started", ended_at=time.time()
            )
            return
        if entry.runner_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(entry.runner_pid, 15)

    async def resource_caps(self, job: Job) -> ResourceCaps:
        """No time cap; memory up to this machine's physical memory."""
        try:
            memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError):
            return ResourceCaps()
        return ResourceCaps(memory=memory if memory > 0 else None)

    async def adopt(self, attempt: Attempt) -> str | None:
        if not attempt_files(attempt.log_path)[0].exists():
            return None  # never reached submit(): nothing to adopt
        entry = self._recover_one(attempt)
        await self._launch_ready()
        return entry.id

    async def recover(self, attempts: Sequence[Attempt]) -> None:
        runners: dict[str, int] | None = None  # one /proc scan for all of them, when needed
        for attempt in attempts:
            if attempt.scheduler_id not in self._entries:
                if runners is None and not attempt_files(attempt.log_path)[1].exists():
                    runners = _live_runners()
                self._recover_one(attempt, runners)
        await self._launch_ready()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- internals ----------------------------------------------------------------------------

    async def _launch_ready(self) -> None:
        while self._queue and len(self._running) < self.max_concurrent:
            entry = self._entries[self._queue.popleft()]
            try:
                entry.process = await asyncio.create_subprocess_exec(
                    self.python,
                    str(RUNNER),
                    str(entry.spec_path),
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL,
                    start_new_session=True,
                )
            except OSError as exc:
                entry.status = AttemptReport(
                    JobState.FAILED,
                    reason=f"could not start the job runner: {exc}",
                    ended_at=time.time(),
                )
                continue
            entry.runner_pid = entry.process.pid
            entry.status = AttemptReport(JobState.RUNNING, started_at=time.time())
            self._running.add(entry.id)
            task = asyncio.get_running_loop().create_task(self._watch(entry))
            self._tasks.add(task)
            task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("local scheduler watcher failed", exc_info=task.exception())

    async def _watch(self, entry: _Entry) -> None:
        assert entry.process is not None
        await entry.process.wait()
        status = _read_status(entry.status_path)
        if status is None or not status.state.is_final:
            if entry.cancel_requested:
                status = AttemptReport(
                    JobState.CANCELLED, reason="cancelled before it started", ended_at=time.time()
                )
            else:
                code = entry.process.returncode
                status = AttemptReport(
                    JobState.LOST,
                    reason=f"the job runner ended (code {code}) without recording an exit status",
                    ended_at=time.time(),
                )
        entry.status = status
        self._running.discard(entry.id)
        await self._launch_ready()

    def _recover_one(self, attempt: Attempt, runners: dict[str, int] | None = None) -> _Entry:
        spec_path, status_path = attempt_files(attempt.log_path)
        entry = _Entry(
            id=attempt.scheduler_id or f"local-{uuid.uuid4().hex[:12]}",
            spec_path=spec_path,
            status_path=status_path,
            external=True,
        )
        self._entries[entry.id] = entry
        raw = _read_raw_status(status_path)
        if raw is not None:
            entry.runner_pid = raw.get("runner_pid")
            entry.status = _status_from_raw(raw)
            if not entry.status.state.is_final:
                self._running.add(entry.id)
                self._check_external(entry)
        elif spec_path.exists():
            # Launched but still starting (no status yet), or queued and never launched.
            runner_pid = (_live_runners() if runners is None else runners).get(str(spec_path))
            if runner_pid is not None:
                entry.runner_pid = runner_pid
                entry.status = AttemptReport(JobState.RUNNING)
                self._running.add(entry.id)
            else:
                entry.external = False
                self._queue.append(entry.id)
                entry.status = AttemptReport(
                    JobState.PENDING, reason="queued again after a restart"
                )
        else:
            entry.status = AttemptReport(
                JobState.LOST, reason="no record of this attempt was found", ended_at=time.time()
            )
        return entry

    def _check_external(self, entry: _Entry) -> None:
        if entry.runner_pid is not None and _runner_alive(entry.runner_pid, entry.spec_path):
            return
        status = _read_status(entry.status_path)
        if status is None or not status.state.is_final:
            status = AttemptReport(
                JobState.LOST,
                reason=(
                    "the job's runner process vanished without recording an exit status"
                    " (killed, or the machine restarted)"
                ),
                started_at=entry.status.started_at,
                ended_at=time.time(),
            )
        entry.status = status
        self._running.discard(entry.id)


def _live_runners() -> dict[str, int]:
    """Spec path -> pid of every runner process alive on this machine (Linux ``/proc``)."""
    runner = str(RUNNER).encode()
    found: dict[str, int] = {}
    try:
        pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return found  # no /proc (macOS): an unstarted attempt is queued again
    for pid in pids:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if runner in argv:
            index = argv.index(runner)
            if index + 1 < len(argv):
                found[os.fsdecode(argv[index + 1])] = pid
    return found


def _runner_alive(pid: int, spec_path: Path) -> bool:
    """True when ``pid`` is still our runner for this spec (guards against pid reuse)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True  # no /proc (macOS): trust the pid
    if not cmdline:
        return False  # a zombie
    return str(spec_path).encode() in cmdline


def _atomic_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, path)


def _read_raw_status(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _status_from_raw(raw: dict[str, Any]) -> AttemptReport:
    try:
        state = JobState(raw.get("state", "UNKNOWN"))
    except ValueError:
        state = JobState.UNKNOWN
    return AttemptReport(
        state=state,
        exit_code=raw.get("exit_code"),
        signal=raw.get("signal"),
        reason=raw.get("reason"),
        started_at=raw.get("started_at"),
        ended_at=raw.get("ended_at"),
    )


def _read_status(path: Path) -> AttemptReport | None:
    raw = _read_raw_status(path)
    return _status_from_raw(raw) if raw is not None else None
