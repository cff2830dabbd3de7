#!/usr/bin/env python3
"""Cost of polling 1,000 queued SLURM jobs: one ``squeue`` call vs one ``scontrol`` per job.

What runs
    A real SLURM (``make slurm-up``). The bench submits ``--jobs`` held jobs (``sbatch --hold``:
    they stay PENDING, nothing runs), then, in one run:

    1. ``squeue``: the exact call ``SlurmScheduler.poll`` makes (``squeue --noheader
       --states=all --jobs=<all ids> -O ...``), ``--repeats`` times; wall time of the call and,
       separately, of parsing its output into ``AttemptReport`` objects (``parse_squeue`` +
       ``status_from_record``).
    2. ``poll``: ``SlurmScheduler.poll`` end to end on the same 1,000 attempts (call + parse),
       checking that it ran exactly one ``squeue`` and nothing else.
    3. ``baseline``: one ``scontrol -o show job <id>`` per job, one after another (what a poller
       that asks about each job does), with its parsing.

    Every submitted job is cancelled at the end (``scancel``), also on errors.

Run
    .venv/bin/python bench/slurm_poll.py [--jobs 1000] [--repeats 5]

One JSON document on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from adaptive_llm import Attempt, JobState, SlurmScheduler
from adaptive_llm.jobs.schedulers.slurm_parse import (
    SQUEUE_FORMAT,
    parse_key_values,
    parse_squeue,
    status_from_record,
)

NAME = "bench-slurm-poll"


def say(message: str) -> None:
    print(f"[slurm_poll] {message}", file=sys.stderr, flush=True)


async def command(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode(), err.decode()


async def submit_held(count: int, logdir: Path, ids: list[str], concurrency: int = 8) -> None:
    """``count`` held jobs (PENDING, reason JobHeldUser); ``ids`` fills as they are accepted."""
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            code, out, err = await command(
                "sbatch", "--parsable", "--hold", f"--job-name={NAME}", "--mem=10M",
                "--time=1", f"--output={logdir}/%j.log", "--wrap=true",
            )  # fmt: skip
            if code != 0:
                raise RuntimeError(f"sbatch failed: {err.strip()}")
            ids.append(out.strip().split(";")[0])

    results = await asyncio.gather(*(one() for _ in range(count)), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


def stats(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 4),
        "min": round(min(values), 4),
        "max": round(max(values), 4),
    }


async def measure(args: argparse.Namespace, logdir: Path, ids: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    # 1. The squeue call the scheduler makes, and parsing its output.
    call_s: list[float] = []
    parse_s: list[float] = []
    rows = 0
    for _ in range(args.repeats):
        began = time.perf_counter()
        code, text, err = await command(
            "squeue", "--noheader", "--states=all", f"--jobs={','.join(ids)}", "-O", SQUEUE_FORMAT
        )
        call_s.append(time.perf_counter() - began)
        if code != 0:
            raise RuntimeError(f"squeue failed: {err.strip()}")
        began = time.perf_counter()
        statuses = {k: status_from_record(v) for k, v in parse_squeue(text).items()}
        parse_s.append(time.perf_counter() - began)
        rows = len(statuses)
        assert all(s.state is JobState.PENDING for s in statuses.values())
    out["squeue"] = {
        "rows": rows,
        "output_bytes": len(text),
        "call_s": stats(call_s),
        "parse_s": stats(parse_s),
    }
    # 2. SlurmScheduler.poll end to end.
    scheduler = SlurmScheduler()
    attempts = [
        Attempt(NAME, 1, JobState.PENDING, str(logdir / f"{i}.log"), scheduler_id=i) for i in ids
    ]
    poll_s: list[float] = []
    for _ in range(args.repeats):
        began = time.perf_counter()
        result = await scheduler.poll(attempts)
        poll_s.append(time.perf_counter() - began)
        assert len(result) == len(ids)
    out["poll"] = {
        "wall_s": stats(poll_s),
        "commands_per_poll": {k: v / args.repeats for k, v in scheduler.calls.items()},
    }
    # 3. Baseline: one scontrol per job.
    say(f"baseline: {len(ids)} scontrol calls")
    began = time.perf_counter()
    per_call: list[float] = []
    parse_total = 0.0
    for job_id in ids:
        t0 = time.perf_counter()
        code, text, err = await command("scontrol", "-o", "show", "job", job_id)
        t1 = time.perf_counter()
        if code != 0:
            raise RuntimeError(f"scontrol failed: {err.strip()}")
        status_from_record(parse_key_values(text))
        parse_total += time.perf_counter() - t1
        per_call.append(t1 - t0)
    total = time.perf_counter() - began
    out["baseline_scontrol_per_job"] = {
        "calls": len(ids),
        "total_s": round(total, 3),
        "per_call_ms": {k: round(v * 1000, 2) for k, v in stats(per_call).items()},
        "parse_total_s": round(parse_total, 4),
    }
    out["speedup_poll_vs_baseline"] = round(total / statistics.median(poll_s), 1)
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    logdir = Path(tempfile.mkdtemp(prefix="slurm-poll-"))
    ids: list[str] = []
    try:
        say(f"submitting {args.jobs} held jobs")
        began = time.perf_counter()
        await submit_held(args.jobs, logdir, ids)
        submit_s = time.perf_counter() - began
        say(f"submitted in {submit_s:.1f}s; measuring")
        result = await measure(args, logdir, ids)
        result["submit"] = {"jobs": len(ids), "wall_s": round(submit_s, 2), "concurrency": 8}
        return result
    finally:
        if ids:
            for start in range(0, len(ids), 500):
                await command("scancel", *ids[start : start + 500])
            say(f"cancelled {len(ids)} jobs")
        shutil.rmtree(logdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if shutil.which("squeue") is None:
        sys.exit("slurm_poll: SLURM not found; run `make slurm-up` (as root) first")
    check = subprocess.run(["sinfo", "--noheader"], capture_output=True, text=True, check=False)
    if check.returncode != 0:
        sys.exit(f"slurm_poll: SLURM does not answer: {check.stderr.strip()}")
    version = subprocess.run(["squeue", "--version"], capture_output=True, text=True, check=False)
    result: dict[str, Any] = {
        "bench": "slurm_poll",
        "jobs": args.jobs,
        "repeats": args.repeats,
        "slurm": version.stdout.strip(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    result.update(asyncio.run(run(args)))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
