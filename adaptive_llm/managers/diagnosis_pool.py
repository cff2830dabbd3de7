"""Diagnoses in worker processes, off the kernel's GIL.

The diagnosis engine is pure Python: run in a thread of the kernel, it holds the GIL and a busy
kernel (or a burst of 10,000 failures) makes the event loop late. :class:`DiagnosisPool` keeps
up to ``size`` worker processes (``python -m adaptive_llm.diagnosis.worker``), started when the
first diagnosis needs one and reused; each serves one diagnosis at a time over a pipe of JSON
lines, and the loop only reads and decodes the answer.

- A worker that crashes, or takes longer than ``timeout`` (it is killed), gives that one
  diagnosis an error (:class:`WorkerError`: transient, the next try may succeed); the next
  diagnosis starts a new worker.
- The engine raising on a log is its verdict on that log, the same on every try and in either
  place: :class:`EngineError`, from a worker and from a thread alike.
- A worker that cannot start at all (no interpreter, an import that fails) is not retried for
  every job: the pool falls back to the kernel's threads (said in the log once) and tries
  workers again after ``retry_start`` seconds, doubling up to ``START_RETRY_MAX``. A diagnosis
  in a thread is bounded by ``timeout`` too: its caller gets a ``WorkerError`` (the thread
  cannot be stopped and goes on); while ``size`` threads are held so, further diagnoses get a
  ``WorkerError`` at once instead of more threads.
- ``close()`` ends the workers (end of input, then a kill after a grace period) and reaps them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .._core.aio import within
from ..diagnosis import Diagnosis, DiagnosisError, diagnose

log = logging.getLogger(__name__)

#: Longest answer line read from a worker (a diagnosis of a few thousand tokens is ~20 KB).
MAX_ANSWER = 32 << 20
#: Seconds a worker may take to start and say it is ready.
START_TIMEOUT = 30.0
#: Seconds a closed worker gets to exit before it is killed.
CLOSE_GRACE = 2.0
#: Default bound of one diagnosis in a worker (the engine takes seconds on a 1 GiB log).
DIAGNOSIS_TIMEOUT = 300.0
#: Seconds before workers are tried again once they could not start (doubling) ...
START_RETRY = 30.0
#: ... up to this.
START_RETRY_MAX = 600.0


_PATH_VARIABLE = "ADAPTIVE_LLM_WORKER_SYS_PATH"
_BOOT = (
    "import json, os, sys\n"
    f"sys.path[:] = json.loads(os.environ.pop({_PATH_VARIABLE!r}))\n"
    "from adaptive_llm.diagnosis.worker import main\n"
    "sys.exit(main())\n"
)


def _absolute(path: str | os.PathLike[str], options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The paths as the worker reads them (it shares this process's working directory, but
    ``os.chdir`` in a notebook must not change what a queued diagnosis reads)."""
    if options.get("workdir") is not None:
        options = {**options, "workdir": os.path.abspath(os.fspath(options["workdir"]))}
    return os.path.abspath(os.fspath(path)), options


class WorkerError(Exception):
    """A diagnosis worker crashed, hung, or answered nonsense: this diagnosis has no result
    (transient: another try may give one)."""


class EngineError(Exception):
    """The diagnosis engine raised on this log (``"TypeError: ..."``): the same on every try,
    in a worker or in a thread."""


def _engine(path: str, options: dict[str, Any]) -> Diagnosis:
    """``diagnose`` as a worker runs it: the engine's own exception is an ``EngineError``."""
    try:
        return diagnose(path, **options)
    except DiagnosisError:
        raise
    except Exception as exc:
        raise EngineError(f"{type(exc).__name__}: {exc}") from exc


class _Worker:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.served = 0

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    async def ask(self, ident: int, path: str, options: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        line = json.dumps({"id": ident, "path": path, "options": options}) + "\n"
        try:
            self.process.stdin.write(line.encode("utf-8", "surrogateescape"))
            await self.process.stdin.drain()
            raw = await self.process.stdout.readline()
        except (ConnectionError, OSError) as exc:
            raise WorkerError(await self._ended(f"the pipe broke ({exc})")) from None
        except (asyncio.LimitOverrunError, ValueError):
            raise WorkerError(f"the answer was longer than {MAX_ANSWER >> 20} MiB") from None
        if not raw:
            raise WorkerError(await self._ended("it stopped"))
        try:
            reply = json.loads(raw)
        except ValueError:
            raise WorkerError(f"unreadable answer: {raw[:200]!r}") from None
        if not isinstance(reply, dict) or reply.get("id") != ident:
            raise WorkerError(f"an answer to another request: {raw[:200]!r}")
        self.served += 1
        return reply

    async def _ended(self, what: str) -> str:
        with contextlib.suppress(TimeoutError):
            await within(self.process.wait(), 5.0)
        code = self.process.returncode
        if code is None:
            return f"the diagnosis worker (pid {self.process.pid}): {what}"
        how = f"exit status {code}"
        if code < 0:
            with contextlib.suppress(ValueError):
                how = f"killed by {signal.Signals(-code).name}"
        return f"the diagnosis worker (pid {self.process.pid}) stopped: {how}"

    async def stop(self, grace: float = CLOSE_GRACE) -> None:
        if self.process.stdin is not None and not self.process.stdin.is_closing():
            self.process.stdin.close()
        try:
            await within(self.process.wait(), grace)
        except TimeoutError:
            self.kill()
            with contextlib.suppress(TimeoutError):
                await within(self.process.wait(), 5.0)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()


class DiagnosisPool:
    """Up to ``size`` diagnosis workers; ``run`` is ``diagnose`` in one of them."""

    def __init__(
        self,
        size: int,
        *,
        timeout: float = DIAGNOSIS_TIMEOUT,
        command: list[str] | None = None,
        retry_start: float = START_RETRY,
    ) -> None:
        self.size = max(1, size)
        self.timeout = timeout
        self.retry_start = retry_start
        self.command = command or [sys.executable, "-c", _BOOT]
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        #: Workers started but not ready yet (``close`` stops them too).
        self._starting: set[_Worker] = set()
        self._slots = asyncio.Semaphore(self.size)
        self._ids = 0
        self._closed = False
        #: Set while workers cannot start here: diagnoses run in the kernel's threads instead
        #: (until a start tried again succeeds).
        self.fallback_reason: str | None = None
        #: When workers are tried again (the loop's clock), and the back-off after that.
        self._retry_at = 0.0
        self._retry_delay = retry_start
        self._threads: ThreadPoolExecutor | None = None
        #: Thread diagnoses whose caller gave up on them (timeout) and that still run.
        self.stuck_threads = 0
        #: Workers started so far (a crash or a timeout starts a new one).
        self.started = 0

    @property
    def workers(self) -> int:
        """Worker processes alive now."""
        return sum(1 for w in (*self._idle, *self._busy) if w.alive)

    async def run(self, path: str | os.PathLike[str], **options: Any) -> Diagnosis:
        """``diagnose(path, **options)`` in a worker. Raises ``DiagnosisError`` for a log that
        cannot be read, ``WorkerError`` when the worker failed."""
        if self._closed:
            raise WorkerError("the diagnosis pool is closed")
        path, options = _absolute(path, options)
        async with self._slots:
            worker = None if self._in_fallback() else await self._take()
            if worker is None:
                return await self._in_thread(path, options)
            self._ids += 1
            ident = self._ids
            try:
                reply = await within(worker.ask(ident, path, options), self.timeout)
            except TimeoutError:
                worker.kill()
                self._busy.discard(worker)
                await worker.stop(0)
                raise WorkerError(
                    f"the diagnosis took longer than {self.timeout:g} s; its worker was stopped"
                ) from None
            except BaseException:
                self._busy.discard(worker)
                worker.kill()
                await worker.stop(0)
                raise
            self._busy.discard(worker)
            if self._closed:
                await worker.stop()
            else:
                self._idle.append(worker)
        if "diagnosis" in reply:
            try:
                return Diagnosis.from_dict(reply["diagnosis"])
            except (KeyError, TypeError, ValueError) as exc:
                raise WorkerError(f"unreadable diagnosis from the worker: {exc!r}") from None
        error = str(reply.get("error", "no answer"))
        if reply.get("kind") == "unreadable":
            raise DiagnosisError(error)
        if reply.get("kind") == "engine":
            raise EngineError(error)
        raise WorkerError(f"the diagnosis worker failed: {error}")

    def _in_fallback(self) -> bool:
        """Whether diagnoses run in threads now (workers could not start, and it is not yet
        time to try them again)."""
        return (
            self.fallback_reason is not None and asyncio.get_running_loop().time() < self._retry_at
        )

    async def _take(self) -> _Worker | None:
        """An idle live worker, or a new one; None when workers cannot start (fallback)."""
        while self._idle:
            worker = self._idle.pop()
            if worker.alive:
                self._busy.add(worker)
                return worker
            await worker.stop(0)
        new = await self._start()
        if new is not None:
            self._busy.add(new)
        return new

    async def _start(self) -> _Worker | None:
        # The worker imports what this process imports: the same adaptive_llm, installed or
        # not, and the same standard library (its sys.path is this one's).
        paths = [os.fspath(p) for p in sys.path if isinstance(p, (str, os.PathLike))]
        env = {**os.environ, _PATH_VARIABLE: json.dumps(paths)}
        try:
            process = await asyncio.create_subprocess_exec(
                *self.command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                env=env,
                limit=MAX_ANSWER,
                start_new_session=False,
            )
        except OSError as exc:
            self._fall_back(f"cannot start {self.command[0]}: {exc}")
            return None
        worker = _Worker(process)
        assert process.stdout is not None
        # those killed while they started and reaped since need no reaping by ``close``
        self._starting = {w for w in self._starting if w.process.returncode is None}
        self._starting.add(worker)
        try:
            raw = await within(process.stdout.readline(), START_TIMEOUT)
            ready = json.loads(raw) if raw else None
        except (TimeoutError, ValueError, asyncio.LimitOverrunError):
            ready = None
        except BaseException:  # cancelled while it starts: it must not outlive this
            worker.kill()  # and it stays among the starting ones, so ``close`` reaps it
            raise
        self._starting.discard(worker)
        if self._closed:
            await worker.stop(0)
            raise WorkerError("the diagnosis pool is closed")
        if not isinstance(ready, dict) or "ready" not in ready:
            worker.kill()
            reason = await worker._ended("it did not start")
            self._fall_back(reason)
            return None
        self.started += 1
        if self.fallback_reason is not None:
            log.info("diagnosis workers start again; diagnoses run in them, not in threads")
            self.fallback_reason = None
            self._retry_delay = self.retry_start
        return worker

    def _fall_back(self, reason: str) -> None:
        now = asyncio.get_running_loop().time()
        if self.fallback_reason is None:
            log.warning(
                "diagnoses run in the kernel's threads, not in worker processes (tried again"
                " in %g s): %s",
                self._retry_delay,
                reason,
            )
        elif now < self._retry_at:  # another start of the same try
            self.fallback_reason = reason
            return
        else:
            self._retry_delay = min(2 * self._retry_delay, START_RETRY_MAX)
            log.info(
                "diagnosis workers still cannot start (tried again in %g s): %s",
                self._retry_delay,
                reason,
            )
        self.fallback_reason = reason
        self._retry_at = now + self._retry_delay

    async def _in_thread(self, path: str, options: dict[str, Any]) -> Diagnosis:
        if self.stuck_threads >= self.size:
            raise WorkerError(
                f"the {self.size} diagnosis thread(s) are all still held by diagnoses that took"
                f" longer than {self.timeout:g} s (a thread cannot be stopped); not started"
            )
        if self._threads is None:
            # ``size`` for the diagnoses running (the slots) and ``size`` for stuck ones: a
            # diagnosis never waits in the executor's queue behind a stuck thread.
            self._threads = ThreadPoolExecutor(
                max_workers=2 * self.size, thread_name_prefix="adaptive-llm-diagnosis"
            )
        loop = asyncio.get_running_loop()
        done = self._threads.submit(_engine, path, options)
        try:
            return await within(asyncio.wrap_future(done), self.timeout)
        except TimeoutError:
            raise WorkerError(
                f"the diagnosis took longer than {self.timeout:g} s (in a thread of the kernel,"
                " which goes on until the engine returns)"
            ) from None
        finally:
            if not done.done():  # its caller is gone; the thread is not, until it returns
                self.stuck_threads += 1

                def ended(_: object) -> None:
                    with contextlib.suppress(RuntimeError):  # the loop is closed
                        loop.call_soon_threadsafe(self._unstick)

                done.add_done_callback(ended)

    def _unstick(self) -> None:
        self.stuck_threads -= 1

    def kill(self) -> None:
        """Kill every worker now, without waiting (``close`` waits and reaps them)."""
        self._closed = True
        for worker in (*self._idle, *self._busy, *self._starting):
            worker.kill()
        if self._threads is not None:
            self._threads.shutdown(wait=False, cancel_futures=True)

    async def close(self) -> None:
        """Stop every worker (the running diagnoses' callers get a ``WorkerError``)."""
        self._closed = True
        idle, self._idle = self._idle, []
        busy = [*self._busy, *self._starting]
        for worker in busy:
            worker.kill()
        await asyncio.gather(*(w.stop() for w in (*idle, *busy)), return_exceptions=True)
        if self._threads is not None:
            self._threads.shutdown(wait=False, cancel_futures=True)
