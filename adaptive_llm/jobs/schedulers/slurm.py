"""Run attempts as SLURM batch jobs: ``sbatch`` to submit, one ``squeue`` call per poll.

Jobs that left ``squeue`` (finished more than ``MinJobAge`` ago) are read once with
``scontrol show job``, else from ``sacct`` when accounting exists, else from the job-completion
file (``JobCompType=jobcomp/filetxt``); a job none of them knows is ``LOST``. When the controller
does not answer, ``poll`` raises ``SchedulerError`` and backs off (1 s doubling up to
``retry_max``): the JobManager keeps every job and polls again until SLURM answers.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..._core.aio import within
from ..model import Attempt, Job, JobState
from ..sbatch import (
    DEFAULT_MEMORY,
    SbatchError,
    parse_slurm_memory,
    parse_slurm_time,
    render_sbatch,
)
from ..sbatch_options import check_extra
from .base import (
    AttemptReport,
    ResourceCaps,
    Scheduler,
    SchedulerError,
    SubmitError,
    SubmitRequest,
    check_workdir,
)
from .slurm_parse import (
    INVALID_ID,
    SACCT_FORMAT,
    SQUEUE_FORMAT,
    controller_down,
    id_chunks,
    parse_key_values,
    parse_sacct,
    parse_squeue,
    read_jobcomp,
    status_from_record,
)

log = logging.getLogger(__name__)

#: Jobs gone from squeue asked about in one poll (one ``scontrol show job`` each, then sacct
#: or the jobcomp file); the others are asked by the next polls, so that 10,000 gone after a
#: restart are not 10,000 commands in one poll. (A listing of every job slurmctld has would be
#: one command, but its output grows with the whole cluster's jobs, not the run's.)
FINISHED_PER_POLL = 64


class SlurmScheduler(Scheduler):
    """SLURM through its command-line tools (``sbatch``, ``squeue``, ``scontrol``, ``scancel``).

    ``partition`` and ``account`` apply to jobs that set none in ``resources.extra``; jobs
    without a memory request ask for ``default_memory`` (otherwise a job takes the whole node).
    Every command has a ``command_timeout``. ``calls`` counts the commands run, by tool.
    """

    name = "slurm"

    def __init__(
        self,
        *,
        partition: str | None = None,
        account: str | None = None,
        default_memory: int | str = DEFAULT_MEMORY,
        command_timeout: float = 30.0,
        retry_max: float = 30.0,
        jobcomp_path: str | os.PathLike[str] | None = None,
    ) -> None:
        #: Checked as ``resources.extra`` is: each lands in an ``#SBATCH`` line.
        self.defaults = check_extra({"partition": partition or None, "account": account or None})
        self.default_memory = (
            parse_slurm_memory(default_memory)
            if isinstance(default_memory, str)
            else default_memory
        )
        self.command_timeout = command_timeout
        self.retry_max = retry_max
        self.jobcomp_path = Path(jobcomp_path) if jobcomp_path else None
        self.calls: collections.Counter[str] = collections.Counter()
        self._config: dict[str, str] | None = None
        self._backoff = 0.0
        self._retry_at = 0.0
        self._last_error = ""

    # -- interface ----------------------------------------------------------------------------

    async def submit(self, request: SubmitRequest) -> str:
        job = request.job
        check_workdir(job.name, request.cwd)
        script = request.log_path.with_suffix(".sbatch")
        try:
            request.log_path.parent.mkdir(parents=True, exist_ok=True)
            text = render_sbatch(
                job,
                log_path=request.log_path,
                cwd=request.cwd,
                default_memory=self.default_memory,
                defaults=self.defaults,
            )
            script.write_text(text, encoding="utf-8")
        except SbatchError as exc:
            raise SubmitError(str(exc)) from exc
        except OSError as exc:
            raise SubmitError(f"job {job.name!r}: cannot write {script}: {exc}") from exc
        code, out, err = await self._run("sbatch", "--parsable", str(script))
        if code != 0:
            message = err.strip() or out.strip() or f"exit code {code}"
            if controller_down(message):
                raise SchedulerError(f"sbatch: SLURM did not answer: {message}")
            raise SubmitError(f"job {job.name!r}: sbatch refused it: {message}")
        job_id = out.strip().split(";")[0]
        if not job_id.isdigit():
            raise SubmitError(f"job {job.name!r}: unexpected sbatch output {out.strip()!r}")
        return job_id

    async def poll(self, attempts: Sequence[Attempt]) -> dict[str, AttemptReport]:
        by_id = {a.scheduler_id: a for a in attempts if a.scheduler_id}
        if not by_id:
            return {}
        now = time.monotonic()
        if now < self._retry_at:
            wait = self._retry_at - now
            raise SchedulerError(f"{self._last_error} (trying again in {wait:.0f}s)")
        try:
            result = await self._poll(by_id)
        except SchedulerError as exc:
            self._backoff = min(max(self._backoff * 2, 1.0), self.retry_max)
            self._retry_at = time.monotonic() + self._backoff
            self._last_error = str(exc)
            raise
        self._backoff = 0.0
        return result

    async def cancel(self, attempt: Attempt) -> None:
        if not attempt.scheduler_id:
            return
        code, out, err = await self._run("scancel", attempt.scheduler_id)
        message = (err or out).strip()
        if code != 0 and controller_down(message):
            raise SchedulerError(f"scancel {attempt.scheduler_id}: SLURM did not answer: {message}")
        if code != 0 and INVALID_ID not in message.lower():
            raise SchedulerError(f"scancel {attempt.scheduler_id} failed: {message}")

    # -- polling ------------------------------------------------------------------------------

    async def _poll(self, by_id: Mapping[str, Attempt]) -> dict[str, AttemptReport]:
        rows: dict[str, dict[str, str]] = {}
        for ids in id_chunks(list(by_id)):  # one squeue per IDS_PER_CALL jobs
            code, out, err = await self._run(
                "squeue", "--noheader", "--states=all", f"--jobs={','.join(ids)}",
                "-O", SQUEUE_FORMAT,
            )  # fmt: skip
            if code != 0 and INVALID_ID not in err.lower():  # that error: none of them queued
                raise SchedulerError(f"squeue failed: {err.strip() or f'exit code {code}'}")
            if code == 0:
                rows.update(parse_squeue(out))
        result = {
            job_id: status_from_record(row, by_id[job_id].log_path)
            for job_id, row in rows.items()
            if job_id in by_id
        }
        gone = [job_id for job_id in by_id if job_id not in rows]
        if gone:
            result.update(await self._finished(gone, by_id))
        return result

    async def _finished(
        self, ids: Sequence[str], by_id: Mapping[str, Attempt]
    ) -> dict[str, AttemptReport]:
        """Jobs no longer in squeue, the first ``FINISHED_PER_POLL`` of them (the others get no
        report: the next polls ask them): scontrol (one call each), then sacct or the jobcomp
        file."""
        ids = ids[:FINISHED_PER_POLL]
        records: dict[str, dict[str, str]] = {}
        for job_id in ids:
            code, out, err = await self._run("scontrol", "-o", "show", "job", job_id)
            if code == 0 and out.strip():
                records[job_id] = parse_key_values(out.splitlines()[0])
            elif code != 0 and INVALID_ID not in err.lower():
                raise SchedulerError(f"scontrol show job {job_id} failed: {err.strip()}")
        unknown = [job_id for job_id in ids if job_id not in records]
        if unknown:
            config = await self._slurm_config()
            if config.get("AccountingStorageType", "accounting_storage/none") != (
                "accounting_storage/none"
            ):
                records.update(await self._sacct(unknown))
            unknown = [job_id for job_id in unknown if job_id not in records]
        if unknown:
            path = await self._jobcomp_file()
            if path is not None:
                names = {job_id: by_id[job_id].job for job_id in unknown}
                records.update(await asyncio.to_thread(read_jobcomp, path, names))
        result: dict[str, AttemptReport] = {}
        for job_id in ids:
            record = records.get(job_id)
            if record is None:
                result[job_id] = AttemptReport(
                    JobState.LOST,
                    reason=(
                        f"SLURM no longer knows job {job_id}: it left the queue (MinJobAge) and"
                        " no accounting or job-completion record has it"
                    ),
                    ended_at=time.time(),
                )
            else:
                result[job_id] = status_from_record(record, by_id[job_id].log_path)
        return result

    async def _sacct(self, ids: Sequence[str]) -> dict[str, dict[str, str]]:
        records: dict[str, dict[str, str]] = {}
        for chunk in id_chunks(ids):
            code, out, err = await self._run(
                "sacct", "--noheader", "--parsable2", "--allocations",
                f"--jobs={','.join(chunk)}", f"--format={SACCT_FORMAT}",
            )  # fmt: skip
            if code != 0:
                log.warning("sacct failed: %s", err.strip())
                return records
            records.update(parse_sacct(out, chunk))
        return records

    async def _jobcomp_file(self) -> Path | None:
        if self.jobcomp_path is not None:
            return self.jobcomp_path
        config = await self._slurm_config()
        if config.get("JobCompType") == "jobcomp/filetxt" and config.get("JobCompLoc"):
            return Path(config["JobCompLoc"])
        return None

    async def _slurm_config(self) -> dict[str, str]:
        """``scontrol show config`` as a dict (read once)."""
        if self._config is None:
            code, out, err = await self._run("scontrol", "show", "config")
            if code != 0:
                raise SchedulerError(f"scontrol show config failed: {err.strip()}")
            config: dict[str, str] = {}
            for line in out.splitlines():
                key, sep, value = line.partition("=")
                if sep:
                    config[key.strip()] = value.strip()
            self._config = config
        return self._config

    async def time_limit_max(self, partition: str | None = None) -> float | None:
        """The partition's MaxTime in seconds (None when unlimited), for resource recipes."""
        name = partition or self.defaults.get("partition")
        args = ["-o", "show", "partition"] + ([name] if name else [])
        code, out, err = await self._run("scontrol", *args)
        if code != 0:
            problem = err.strip() or out.strip() or f"exit code {code}"
            raise SchedulerError(f"scontrol show partition {name or ''} failed: {problem}")
        for line in out.splitlines():
            record = parse_key_values(line)
            if name is None and record.get("Default") != "YES":
                continue
            return parse_slurm_time(record.get("MaxTime", "UNLIMITED"))
        return None

    async def memory_max(self, partition: str | None = None) -> int | None:
        """The largest node memory of the partition in bytes (``sinfo`` %m, MiB)."""
        name = partition or self.defaults.get("partition")
        args = ["-h", "-o", "%m"] + (["-p", name] if name else [])
        code, out, err = await self._run("sinfo", *args)
        if code != 0:
            raise SchedulerError(f"sinfo failed: {err.strip() or out.strip() or code}")
        sizes = [int(v.rstrip("+")) for v in out.split() if v.rstrip("+").isdigit()]
        return max(sizes) * 1024**2 if sizes else None

    async def resource_caps(self, job: Job) -> ResourceCaps:
        """The partition's MaxTime and its largest node's memory."""
        partition = job.resources.extra.get("partition")
        return ResourceCaps(
            time_limit=await self.time_limit_max(partition),
            memory=await self.memory_max(partition),
        )

    # -- commands -----------------------------------------------------------------------------

    async def _run(self, tool: str, *args: str) -> tuple[int, str, str]:
        """Run one SLURM command with a timeout; never blocks the event loop."""
        self.calls[tool] += 1
        try:
            proc = await asyncio.create_subprocess_exec(
                tool,
                *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except FileNotFoundError:
            raise SchedulerError(f"{tool} not found: is SLURM installed on this host?") from None
        except OSError as exc:
            raise SchedulerError(f"cannot run {tool}: {exc}") from exc
        try:
            out, err = await within(proc.communicate(), self.command_timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise SchedulerError(
                f"{tool} did not answer within {self.command_timeout:g}s (slurmctld down?)"
            ) from None
        code = proc.returncode if proc.returncode is not None else -1
        return code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
