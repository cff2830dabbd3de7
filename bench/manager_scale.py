#!/usr/bin/env python3
"""Event-loop health of the real managers with 10,000 jobs and a burst of 1,000 failures.

What runs
    The real ``RunManager`` (with its ``JobManager``, ``LLMManager``, SQLite ``Store`` and the
    offline diagnosis engine) on a temporary workdir, driven by ``BenchScheduler``: an
    in-process ``Scheduler`` subclass defined here that accepts every submit at once and answers
    each poll from memory, for every attempt it is asked about (as ``squeue`` would). Nothing
    of ours is mocked; only the cluster is simulated.

Phases (one run)
    1. ``submit``: ``rm.start()`` and the JobManager's submission of all jobs (10,000).
    2. ``running``: the scheduler reports every job RUNNING; meanwhile "the jobs" write the
       logs of the ones that will fail (1,000 small Python tracebacks, a handful of distinct
       causes, varied paths and numbers), from another process as real jobs would.
    3. ``failure``: in one poll the 1,000 jobs are FAILED. Measured from the start of that poll
       until all 1,000 diagnoses are cached in the LLMManager.
    4. ``baseline``: the naive way, for comparison: one task per failure that calls
       ``adaptive_llm.diagnosis.diagnose`` directly on the loop thread and saves the result
       (one store commit each), as the earlier attempt's failure hook did.
    5. ``drain``: the other jobs complete; ``rm.wait()`` returns; ``rm.close()``.

Measures
    * event-loop lag: a probe task sleeps 10 ms in a loop and records how late it wakes up
      (max, p99 and count per phase and over the whole run);
    * time from the failing poll until all 1,000 diagnoses are cached (and the baseline's);
    * CPU time of each ``JobManager.poll_once`` call: ``time.process_time`` (whole process, as
      specified; includes diagnosis threads running during the poll) and ``time.thread_time``
      (the loop thread only); max and median;
    * submission: wall time and a naive baseline (one ``add_attempt`` + ``set_scheduler_id``
      store transaction pair per job on a scratch store, the pre-batching path);
    * total wall time and peak RSS.

Goals (issue 2, "Bench"): max lag <= 50 ms, all diagnoses <= 5 s.

Run
    .venv/bin/python bench/manager_scale.py [--jobs 10000] [--failures 1000]
        [--poll-interval 0.5] [--no-baseline]

One JSON document on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from adaptive_llm.diagnosis import diagnose
from adaptive_llm.jobs.model import Attempt, Job, JobState
from adaptive_llm.jobs.schedulers.base import AttemptReport, Scheduler, SubmitRequest
from adaptive_llm.managers.run_manager import RunManager
from adaptive_llm.store import Store

LAG_GOAL_MS = 50.0
DIAGNOSIS_GOAL_S = 5.0
PROBE_INTERVAL = 0.010


def log(message: str) -> None:
    print(f"[manager_scale] {message}", file=sys.stderr, flush=True)


# -- the scheduler double ----------------------------------------------------------------------


class BenchScheduler(Scheduler):
    """An in-memory cluster: submits succeed at once, polls answer for every asked attempt."""

    name = "bench"

    def __init__(self) -> None:
        self.status: dict[str, AttemptReport] = {}
        self.requests: dict[str, SubmitRequest] = {}
        self.polls = 0
        #: ``perf_counter`` when a poll first reported the failure burst.
        self.failure_reported_at: float | None = None
        self._failing: set[str] = set()
        self._next = 0

    async def submit(self, request: SubmitRequest) -> str:
        self._next += 1
        scheduler_id = str(self._next)
        self.requests[scheduler_id] = request
        self.status[scheduler_id] = AttemptReport(JobState.PENDING)
        return scheduler_id

    async def poll(self, attempts: Sequence[Attempt]) -> dict[str, AttemptReport]:
        self.polls += 1
        status = self.status
        result = {a.scheduler_id: status[a.scheduler_id] for a in attempts if a.scheduler_id}
        if self.failure_reported_at is None and any(sid in result for sid in self._failing):
            self.failure_reported_at = time.perf_counter()
        return result  # type: ignore[return-value]

    async def cancel(self, attempt: Attempt) -> None:
        if attempt.scheduler_id:
            now = time.time()
            self.status[attempt.scheduler_id] = AttemptReport(
                JobState.CANCELLED, reason="cancelled", ended_at=now
            )

    # -- what the "cluster" does, driven by the bench ------------------------------------------

    def start_all(self) -> None:
        now = time.time()
        for sid in self.status:
            self.status[sid] = AttemptReport(JobState.RUNNING, started_at=now)

    def fail(self, ids: Sequence[str]) -> None:
        now = time.time()
        self._failing = set(ids)
        for sid in ids:
            self.status[sid] = AttemptReport(
                JobState.FAILED, exit_code=1, reason="NonZeroExitCode", ended_at=now
            )

    def complete_rest(self) -> None:
        now = time.time()
        for sid, st in self.status.items():
            if not st.state.is_final:
                self.status[sid] = AttemptReport(JobState.COMPLETED, exit_code=0, ended_at=now)


# -- failure logs ----------------------------------------------------------------------------

_CAUSES: list[tuple[str, list[str]]] = [
    (
        "module",
        [
            '  File "{src}/train.py", line 7, in <module>',
            "    import {mod}",
            "ModuleNotFoundError: No module named '{mod}'",
        ],
    ),
    (
        "key",
        [
            '  File "{src}/train.py", line 88, in main',
            "    cfg = load_config(args.config)",
            '  File "{src}/config.py", line {line}, in load_config',
            '    lr = raw["optimizer"]["{key}"]',
            "KeyError: '{key}'",
        ],
    ),
    (
        "oom",
        [
            '  File "{src}/train.py", line 120, in main',
            "    loss = step(model, batch)",
            '  File "{src}/loop.py", line {line}, in step',
            "    out = model(batch)",
            '  File "/opt/venv/lib/python3.11/site-packages/torch/nn/modules/module.py",'
            " line 1553, in _call_impl",
            "    return forward_call(*args, **kwargs)",
            "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate {mib} MiB"
            " (GPU 0; 39.39 GiB total capacity; 37.12 GiB already allocated)",
        ],
    ),
    (
        "file",
        [
            '  File "{src}/train.py", line 64, in main',
            "    data = np.load(args.data)",
            '  File "/opt/venv/lib/python3.11/site-packages/numpy/lib/npyio.py", line 427, in load',
            '    fid = stack.enter_context(open(os_fspath(file), "rb"))',
            "FileNotFoundError: [Errno 2] No such file or directory:"
            " '/scratch/data/shard-{shard}.npy'",
        ],
    ),
    (
        "shape",
        [
            '  File "{src}/train.py", line 120, in main',
            "    loss = step(model, batch)",
            '  File "{src}/model.py", line {line}, in forward',
            "    h = self.proj(x) + residual",
            "RuntimeError: The size of tensor a ({a}) must match the size of tensor b ({b})"
            " at non-singleton dimension 1",
        ],
    ),
    (
        "zero",
        [
            '  File "{src}/train.py", line 131, in main',
            "    report(metrics)",
            '  File "{src}/metrics.py", line {line}, in report',
            '    print(f"acc={{correct / total:.3f}}")',
            "ZeroDivisionError: division by zero",
        ],
    ),
]


def failure_log(index: int, job: str, rng: random.Random) -> tuple[str, str]:
    """A few dozen lines of training output ending in a traceback; returns (cause, text)."""
    cause, frames = _CAUSES[index % len(_CAUSES)]
    src = f"/home/user/project-{index % 7}/src"
    values = {
        "src": src,
        "mod": rng.choice(["wandb", "einops", "flash_attn", "deepspeed"]),
        # One bug per cause: its culprit line is the same in every job (other values vary).
        "line": 40 + 7 * (index % len(_CAUSES)),
        "key": rng.choice(["lr", "weight_decay", "betas"]),
        "mib": rng.randint(100, 4000),
        "shard": rng.randint(0, 999),
        "a": rng.choice([256, 512, 768]),
        "b": rng.choice([1024, 2048]),
    }
    lines = [
        f"job {job} starting on node{rng.randint(1, 64):03d}",
        f"python 3.11.9, torch 2.5.1, seed {rng.randint(0, 10**6)}",
    ]
    for step in range(rng.randint(20, 45)):
        lines.append(
            f"epoch {step // 10} step {step * 50:5d} loss {rng.uniform(0.1, 3.0):.4f}"
            f" lr {rng.uniform(1e-5, 1e-3):.2e} {rng.uniform(50, 400):.1f} samples/s"
        )
    lines.append("Traceback (most recent call last):")
    lines.extend(frame.format(**values) for frame in frames)
    return cause, "\n".join(lines) + "\n"


def write_failure_logs(targets: Sequence[tuple[str, str]], seed: int) -> dict[str, int]:
    """What the failing jobs ``(name, log path)`` printed.

    Runs in another process, as jobs do: a thread here would compete for the GIL with the
    event loop and charge the managers for the bench's own work.
    """
    rng = random.Random(seed)
    causes: dict[str, int] = {}
    for i, (name, log_path) in enumerate(targets):
        cause, text = failure_log(i, name, rng)
        causes[cause] = causes.get(cause, 0) + 1
        path = Path(log_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return causes


# -- measurement -----------------------------------------------------------------------------


class LagProbe:
    """Sleeps ``PROBE_INTERVAL`` in a loop and records each wake-up's overshoot, per phase.

    The ``start`` phase is the synchronous ``rm.start()`` call (run in the user's cell, not in
    the background) plus the first 20 ms of submission.
    """

    def __init__(self) -> None:
        self.phase = "setup"
        self.samples: dict[str, list[float]] = {}
        #: Loop-thread CPU time between going to sleep and waking up, per phase: the work that
        #: held the loop, independent of how busy the machine is (lag also counts waiting for
        #: a CPU core or for the GIL).
        self.cpu: dict[str, list[float]] = {}
        self._stop = False

    async def run(self) -> None:
        while not self._stop:
            began, cpu = time.perf_counter(), time.thread_time()
            await asyncio.sleep(PROBE_INTERVAL)
            late = time.perf_counter() - began - PROBE_INTERVAL
            # Charged to the phase at wake-up: what ran just before is what made it late.
            self.samples.setdefault(self.phase, []).append(max(0.0, late))
            self.cpu.setdefault(self.phase, []).append(time.thread_time() - cpu)

    def stop(self) -> None:
        self._stop = True

    def summary(self, phases: Sequence[str] | None = None) -> dict[str, Any]:
        values = [v for p, vs in self.samples.items() if phases is None or p in phases for v in vs]
        if not values:
            return {"samples": 0}
        ordered = sorted(values)
        cpu = [v for p, vs in self.cpu.items() if phases is None or p in phases for v in vs]
        return {
            "max_ms": round(ordered[-1] * 1000, 2),
            "loop_cpu_max_ms": round(max(cpu) * 1000, 2),
            "p99_ms": round(ordered[int(0.99 * (len(ordered) - 1))] * 1000, 2),
            "median_ms": round(statistics.median(ordered) * 1000, 2),
            "samples": len(ordered),
        }


class PollTimer:
    """Wraps ``JobManager.poll_once`` to record CPU time per call."""

    def __init__(self, poll_once: Callable[[], Awaitable[int]]) -> None:
        self._poll_once = poll_once
        self.process: list[float] = []
        self.thread: list[float] = []
        self.wall: list[float] = []
        self.changed: list[int] = []

    async def __call__(self) -> int:
        p0, t0, w0 = time.process_time(), time.thread_time(), time.perf_counter()
        changed = await self._poll_once()
        self.process.append(time.process_time() - p0)
        self.thread.append(time.thread_time() - t0)
        self.wall.append(time.perf_counter() - w0)
        self.changed.append(changed)
        return changed

    def summary(self) -> dict[str, Any]:
        if not self.process:
            return {"polls": 0}

        def ms(values: list[float], how: Callable[[list[float]], float]) -> float:
            return round(how(values) * 1000, 2)

        return {
            "polls": len(self.process),
            "process_cpu_max_ms": ms(self.process, max),
            "process_cpu_median_ms": ms(self.process, statistics.median),
            "thread_cpu_max_ms": ms(self.thread, max),
            "thread_cpu_median_ms": ms(self.thread, statistics.median),
            "wall_max_ms": ms(self.wall, max),
            "max_changes_in_one_poll": max(self.changed),
        }


async def until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.perf_counter() + timeout
    while not predicate():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        await asyncio.sleep(0.005)


def naive_submit_seconds(jobs: Sequence[Job], workdir: Path) -> float:
    """One ``add_attempt`` and one ``set_scheduler_id`` transaction per job (scratch store)."""
    store = Store(workdir / "naive.sqlite")
    try:
        store.jobs.upsert(jobs)
        began = time.perf_counter()
        for i, job in enumerate(jobs):
            attempt = Attempt(
                job=job.name,
                number=1,
                state=JobState.PENDING,
                log_path=str(workdir / job.name / "attempt-1.log"),
                submitted_at=time.time(),
            )
            store.jobs.add_attempt(attempt, "bench")
            store.jobs.set_scheduler_id(job.name, 1, str(i + 1))
        return time.perf_counter() - began
    finally:
        store.close()


# -- the run ---------------------------------------------------------------------------------


async def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    wall0 = time.perf_counter()
    jobs = [
        Job(name=f"job-{i:05d}", command=["python", "train.py", str(i)]) for i in range(args.jobs)
    ]
    scheduler = BenchScheduler()
    rm = RunManager(jobs, workdir=workdir, scheduler=scheduler, poll_interval=args.poll_interval)
    timer = PollTimer(rm.job_manager.poll_once)
    rm.job_manager.poll_once = timer  # type: ignore[method-assign]
    probe = LagProbe()
    probe_task = asyncio.create_task(probe.run())
    await asyncio.sleep(0.05)
    result: dict[str, Any] = {}
    jm, llm = rm.job_manager, rm.llm_manager

    # 1. submit
    log(f"submitting {args.jobs} jobs")
    probe.phase = "start"
    t0 = time.perf_counter()
    rm.start()
    start_call = time.perf_counter() - t0
    await asyncio.sleep(0.02)
    probe.phase = "submit"
    await until(
        lambda: len(jm.attempts) == args.jobs and all(a.scheduler_id for a in jm.attempts.values()),
        120,
        "all submissions",
    )
    submit_s = time.perf_counter() - t0
    result["submit"] = {"start_call_s": round(start_call, 3), "all_submitted_s": round(submit_s, 3)}

    # 2. running; the failing jobs write their logs meanwhile
    probe.phase = "running"
    ids = sorted(scheduler.requests, key=int)
    failing = random.Random(args.seed).sample(ids, args.failures)
    scheduler.start_all()
    t0 = time.perf_counter()
    targets = [
        (scheduler.requests[s].job.name, str(scheduler.requests[s].log_path)) for s in failing
    ]
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        causes = await asyncio.get_running_loop().run_in_executor(
            pool, write_failure_logs, targets, args.seed
        )
    result["failure_logs"] = {
        "written_s": round(time.perf_counter() - t0, 3),
        "causes": causes,
        "bytes_mean": round(
            statistics.mean(scheduler.requests[s].log_path.stat().st_size for s in failing)
        ),
    }
    await until(
        lambda: all(a.state is JobState.RUNNING for a in jm.attempts.values()), 60, "running"
    )
    await asyncio.sleep(2 * args.poll_interval)

    # 3. the failure burst
    log(f"{args.failures} jobs fail in one poll")
    failing_jobs = [scheduler.requests[s].job.name for s in failing]
    probe.phase = "failure"
    computed_before = llm.computed
    scheduler.fail(failing)
    await until(
        lambda: (
            llm.computed - computed_before >= args.failures
            and all(llm.cached(name) is not None for name in failing_jobs)
        ),
        120,
        "all diagnoses",
    )
    done = time.perf_counter()
    assert scheduler.failure_reported_at is not None
    diag_s = done - scheduler.failure_reported_at
    diagnoses = [llm.cached(name) for name in failing_jobs]
    elapsed = [d.elapsed_ms for d in diagnoses if d is not None]
    stored = len(rm.store.diagnoses.offline())
    result["failure"] = {
        "all_diagnosed_s": round(diag_s, 3),
        "diagnoses_cached": sum(d is not None for d in diagnoses),
        "diagnoses_stored": stored,
        "distinct_signatures": len({d.signature for d in diagnoses if d is not None}),
        "causes_written": len(causes),
        "categories": sorted({d.category for d in diagnoses if d is not None}),
        "engine_ms_per_log_mean": round(statistics.mean(elapsed), 3) if elapsed else None,
        "diagnosis_concurrency": llm.concurrency,
    }
    await asyncio.sleep(0.5)  # let the probe see the tail of the burst

    # 4. baseline: inline on the loop thread, one task per failure
    if not args.no_baseline:
        log("baseline: diagnose() inline on the loop")
        probe.phase = "baseline"
        await asyncio.sleep(0.05)
        store = rm.store
        targets = [(name, jm.attempts[name], jm.jobs[name]) for name in failing_jobs]
        remaining = len(targets)
        finished = asyncio.Event()

        async def inline(name: str, attempt: Attempt, job: Job) -> None:
            nonlocal remaining
            d = diagnose(
                attempt.log_path,
                state=attempt.state.value,
                reason=attempt.reason,
                workdir=job.resolved_cwd(rm.workdir),
                time_limit=job.resources.time_limit,
                memory=job.resources.memory,
            )
            data = d.to_dict()
            data["engine"] = "bench-inline"
            store.diagnoses.save(name, attempt.number, data)
            remaining -= 1
            if not remaining:
                finished.set()

        t0 = time.perf_counter()
        tasks = [asyncio.create_task(inline(*t)) for t in targets]
        await finished.wait()
        base_s = time.perf_counter() - t0
        await asyncio.gather(*tasks)
        await asyncio.sleep(0.3)
        result["baseline_inline"] = {"all_diagnosed_s": round(base_s, 3)}

    # 5. drain
    probe.phase = "drain"
    scheduler.complete_rest()
    t0 = time.perf_counter()
    await rm.wait(timeout=120)
    result["drain"] = {"rm_wait_s": round(time.perf_counter() - t0, 3)}
    probe.phase = "close"
    await rm.close()
    probe.stop()
    await probe_task

    result["naive_submit_s"] = round(naive_submit_seconds(jobs, workdir), 3)
    result["polls"] = timer.summary()
    result["lag"] = {
        "whole_run": probe.summary(["start", "submit", "running", "failure", "drain", "close"]),
        "background": probe.summary(["submit", "running", "failure", "drain", "close"]),
        **{phase: probe.summary([phase]) for phase in probe.samples},
    }
    result["wall_s"] = round(time.perf_counter() - wall0, 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--failures", type=int, default=1_000)
    parser.add_argument("--poll-interval", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--workdir", help="keep the run here (default: a temporary directory)")
    args = parser.parse_args()
    if args.workdir:
        figures = asyncio.run(run(args, Path(args.workdir)))
    else:
        with tempfile.TemporaryDirectory(prefix="manager_scale-") as tmp:
            figures = asyncio.run(run(args, Path(tmp)))

    whole = figures["lag"]["whole_run"]
    failure_lag = figures["lag"].get("failure", {})
    out: dict[str, Any] = {
        "config": {
            "jobs": args.jobs,
            "failures": args.failures,
            "poll_interval_s": args.poll_interval,
            "probe_interval_ms": PROBE_INTERVAL * 1000,
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
        "goals": {
            "max_lag_ms": LAG_GOAL_MS,
            "all_diagnoses_s": DIAGNOSIS_GOAL_S,
            "max_lag_met": whole.get("max_ms", 0.0) <= LAG_GOAL_MS,
            "all_diagnoses_met": figures["failure"]["all_diagnosed_s"] <= DIAGNOSIS_GOAL_S,
        },
        "max_lag_ms": whole.get("max_ms"),
        "max_background_lag_ms": figures["lag"]["background"].get("max_ms"),
        "failure_phase_max_lag_ms": failure_lag.get("max_ms"),
        "all_diagnosed_s": figures["failure"]["all_diagnosed_s"],
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        **figures,
    }
    base = figures.get("baseline_inline")
    if base is not None:
        base_lag = figures["lag"].get("baseline", {}).get("max_ms")
        base["max_lag_ms"] = base_lag
        out["ratios"] = {
            "baseline_over_managers_lag": _ratio(base_lag, failure_lag.get("max_ms")),
            "baseline_over_managers_diagnosis_time": _ratio(
                base["all_diagnosed_s"], figures["failure"]["all_diagnosed_s"]
            ),
            "naive_over_managers_submit_time": _ratio(
                figures["naive_submit_s"], figures["submit"]["all_submitted_s"]
            ),
        }
    print(json.dumps(out, indent=2))


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or not b:
        return None
    return round(a / b, 2)


if __name__ == "__main__":
    main()
