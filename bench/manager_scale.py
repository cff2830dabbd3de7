#!/usr/bin/env python3
"""Event-loop health of the real managers with many jobs, a burst of failures and many causes.

What runs
    The real ``RunManager`` (with its ``JobManager``, ``LLMManager``, SQLite ``Store`` and the
    offline diagnosis engine; with ``--llm scripted`` also the LLM diagnosis path, answered by
    ``adaptive_llm.testing.ScriptedChatModel``) on a temporary workdir, driven by
    ``BenchScheduler``: an in-process ``Scheduler`` subclass defined here that accepts every
    submit at once and answers each poll from memory, for every attempt it is asked about (as
    ``squeue`` would). Nothing of ours is mocked; only the cluster (and the LLM) is simulated.
    The script imports the ``adaptive_llm`` of its own checkout (``config.package``).

Phases (one run)
    0. ``--hog N``: N processes spinning like ``while True: pass`` start first and are killed
       (and reaped) at the end, also on an error, Ctrl-C or SIGTERM; a hog whose bench died
       (SIGKILL) stops by itself within milliseconds.
    1. ``submit``: ``rm.start()`` and the JobManager's submission of all jobs.
    2. ``running``: the scheduler reports every job RUNNING; meanwhile "the jobs" write the
       logs of the ones that will fail (small Python tracebacks of ``--causes`` distinct bugs,
       varied paths and numbers), from another process as real jobs would.
    3. ``failure``: in one poll the ``--fail`` jobs are FAILED. Measured from the start of that
       poll until all their diagnoses are cached in the LLMManager (with ``--llm``, also until
       every signature's LLM diagnosis is stored).
    4. ``baseline``: the naive way, for comparison: one task per failure that calls
       ``adaptive_llm.diagnosis.diagnose`` directly on the loop thread and saves the result
       (one store commit each), as the earlier attempt's failure hook did; over at most
       ``BASELINE_MAX`` (1,000) of the failures (``config.baseline`` says how many).
    5. ``drain``: the other jobs complete; ``rm.wait()`` returns; ``rm.close()``.

Causes
    The first six bugs are the original ones (a missing module, a config key, CUDA OOM, a
    missing data file, a shape mismatch, a division by zero); more are made from templates of
    other exception types and messages, each with its own file, function and culprit line.
    Failure ``i`` has bug ``i % causes``; every job prints its own values (names, keys, sizes,
    paths, nodes, seeds), so the signatures come from the bugs. The bench checks that the
    distinct signatures of the cached diagnoses number exactly ``causes``, one per bug.

Measures
    * event-loop lag: a probe task sleeps 10 ms in a loop and records how late it wakes up
      (max, p99 and count per phase and over the whole run). The bench's own synchronous
      work (the simulated cluster changing 100,000 states, its checks) runs in a ``bench``
      phase left out of the figures; its checks over all jobs yield every 2,000 jobs;
    * time from the failing poll until all diagnoses are cached (and the baseline's), and
      with ``--llm`` until all LLM diagnoses are stored, with ``llm_calls`` next to ``causes``;
    * CPU time of each ``JobManager.poll_once`` call: ``time.process_time`` (whole process, as
      specified; includes diagnosis threads running during the poll) and ``time.thread_time``
      (the loop thread only); max and median;
    * submission: wall time and a naive baseline (one ``add_attempt`` + ``set_scheduler_id``
      store transaction pair per job on a scratch store, the pre-batching path), timed over at
      most 10,000 jobs and extrapolated to all;
    * memory: peak RSS, RSS per job (RSS once all jobs are submitted minus RSS just before the
      RunManager is created, over the jobs) and RSS after the failure burst;
    * garbage collections: count, longest and total pause per generation (a full collection
      holds the GIL in C, so it stalls the loop however the managers yield);
    * total wall time; the hogs' pids and CPU seconds.

Goals (issue 17, "Scale"; in ``goals``, each with its figure and ``met``): max lag <= 50 ms
over the whole run, all diagnoses cached <= 10 s from the failing poll, peak RSS <= 500 MB,
and with ``--llm`` one LLM call per cause. (Issue 2 asked for <= 5 s at 10,000 / 1,000.)

Run
    .venv/bin/python bench/manager_scale.py [--jobs 10000] [--fail 1000] [--causes 6]
        [--hog 0] [--llm offline|scripted] [--poll-interval 0.5] [--no-baseline]
    The issue's bench: --jobs 100000 --fail 10000 --causes 50 (quiet, and with --hog 2).
    ``--failures`` is an alias of ``--fail``. Exit status 1 (and a message) when a phase
    times out; 2 for bad arguments.

One JSON document on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import platform
import random
import re
import resource
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

#: This checkout's package, not whichever one the venv has installed (editable: /work/main);
#: ``MANAGER_SCALE_PACKAGE``: another tree's (``bench/manager_ab.py``).
ROOT = Path(__file__).resolve().parent.parent
PACKAGE_ROOT = os.environ.get("MANAGER_SCALE_PACKAGE") or str(ROOT)
BENCH_DIR = str(Path(__file__).resolve().parent)
sys.path.insert(0, PACKAGE_ROOT)

import adaptive_llm  # noqa: E402
from adaptive_llm.diagnosis import diagnose  # noqa: E402
from adaptive_llm.jobs.model import Attempt, Job, JobState  # noqa: E402
from adaptive_llm.jobs.schedulers.base import AttemptReport, Scheduler, SubmitRequest  # noqa: E402
from adaptive_llm.managers.run_manager import RunManager  # noqa: E402
from adaptive_llm.store import Store  # noqa: E402

LAG_GOAL_MS = 50.0
DIAGNOSIS_GOAL_S = 10.0
RSS_GOAL_MB = 500.0
PROBE_INTERVAL = 0.010
#: The inline baseline diagnoses at most this many failures (10,000 on the loop take minutes).
BASELINE_MAX = 1_000
#: The naive submission is timed over at most this many jobs (and extrapolated to all).
NAIVE_SUBMIT_MAX = 10_000
#: Jobs the bench's own checks look at between two turns of the loop.
CHECK_CHUNK = 2_000
#: Attempts the scheduler double answers for between two turns of the loop: about what a
#: 64 KiB pipe read of ``squeue`` output holds (~60 bytes a line), as a real answer arrives.
#: (5,000 until 4 Dec: with the attempts made as they are read, such a chunk is a 30 ms step.)
ANSWER_CHUNK = 1_000


def log(message: str) -> None:
    print(f"[manager_scale] {message}", file=sys.stderr, flush=True)


# -- the scheduler double ----------------------------------------------------------------------


_PENDING = AttemptReport(JobState.PENDING)


class BenchScheduler(Scheduler):
    """An in-memory cluster: submits succeed at once, polls answer for every asked attempt."""

    name = "bench"

    def __init__(self) -> None:
        # What the cluster holds, kept as small as a real one would keep it in the kernel
        # (nothing): one report object per state change shared by the jobs it changes, and
        # (job name, log path) tuples that the garbage collector does not track. A record
        # object per job here would be as many objects again as the managers hold, and the
        # collector's full passes (the loop lag at 100,000 jobs) would measure the double.
        self.status: dict[str, AttemptReport] = {}
        #: scheduler id -> (job name, log path)
        self.requests: dict[str, tuple[str, str]] = {}
        self.polls = 0
        #: ``perf_counter`` when a poll first reported the failure burst.
        self.failure_reported_at: float | None = None
        self._failing: set[str] = set()
        self._next = 0

    async def submit(self, request: SubmitRequest) -> str:
        self._next += 1
        scheduler_id = str(self._next)
        self.requests[scheduler_id] = (request.job.name, str(request.log_path))
        self.status[scheduler_id] = _PENDING
        return scheduler_id

    async def poll(self, attempts: Sequence[Attempt]) -> dict[str, AttemptReport]:
        self.polls += 1
        status = self.status
        result: dict[str, AttemptReport] = {}
        # As a real scheduler's answer arrives (a pipe read in pieces), not in one stretch
        # that would be charged to the managers' lag.
        for begin in range(0, len(attempts), ANSWER_CHUNK):
            if begin:
                await asyncio.sleep(0)
            for a in attempts[begin : begin + ANSWER_CHUNK]:
                if a.scheduler_id:
                    result[a.scheduler_id] = status[a.scheduler_id]
        if self.failure_reported_at is None and any(sid in result for sid in self._failing):
            self.failure_reported_at = time.perf_counter()
        return result

    async def cancel(self, attempt: Attempt) -> None:
        if attempt.scheduler_id:
            now = time.time()
            self.status[attempt.scheduler_id] = AttemptReport(
                JobState.CANCELLED, reason="cancelled", ended_at=now
            )

    # -- what the "cluster" does, driven by the bench ------------------------------------------

    def start_all(self) -> None:
        running = AttemptReport(JobState.RUNNING, started_at=time.time())
        for sid in self.status:
            self.status[sid] = running

    def fail(self, ids: Sequence[str]) -> None:
        failed = AttemptReport(
            JobState.FAILED, exit_code=1, reason="NonZeroExitCode", ended_at=time.time()
        )
        self._failing = set(ids)
        for sid in ids:
            self.status[sid] = failed

    def complete_rest(self) -> None:
        completed = AttemptReport(JobState.COMPLETED, exit_code=0, ended_at=time.time())
        for sid, st in self.status.items():
            if not st.state.is_final:
                self.status[sid] = completed


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


#: Bugs beyond the first six, as a Python traceback ends: ``(exception, message, culprit
#: code)``; the culprit is the deepest frame. (No library frames below it: when a job's
#: frames are not found in its working directory, the engine takes the deepest frame as the
#: culprit, so two bugs ending in one library frame with one message would share a signature.)
#: ``{...}`` fields vary per job (masked by the signature: numbers, quoted values, paths, hex);
#: ``<...>`` fields are fixed per bug (picked when the bug is made: the same bug names the
#: same attribute, key or tool in every job).
_TEMPLATES: list[tuple[str, str, str]] = [
    (
        "ValueError",
        "invalid literal for int() with base 10: '{word}'",
        'step = int(row["<col>"])',
    ),
    (
        "TypeError",
        "unsupported operand type(s) for +: 'Tensor' and 'NoneType'",
        "loss = loss + <attr>",
    ),
    (
        "IndexError",
        "index {n1} is out of bounds for dimension 0 with size {n2}",
        "sample = self.<attr>[idx]",
    ),
    (
        "AttributeError",
        "'NoneType' object has no attribute '<attr>'",
        "self.scheduler.<attr>()",
    ),
    (
        "KeyError",
        "'sample_{n1:05d}'",
        "meta = self.index[key]",
    ),
    (
        "FileNotFoundError",
        "[Errno 2] No such file or directory: '/scratch/{user}/run-{n1}/checkpoint-{n2}.pt'",
        'with open(path, "rb") as fh:',
    ),
    (
        "PermissionError",
        "[Errno 13] Permission denied: '/shared/results/{user}/metrics-{n1}.csv'",
        'with open(out_path, "w") as fh:',
    ),
    (
        "RuntimeError",
        "Expected all tensors to be on the same device, but found at least two devices,"
        " cuda:{rank} and cpu!",
        "logits = self.head(hidden) + self.<attr>",
    ),
    (
        "AssertionError",
        "expected {n1} samples in shard {n2}, got {n3}",
        'assert len(samples) == expected, f"expected {expected} samples, got {len(samples)}"',
    ),
    (
        "json.decoder.JSONDecodeError",
        "Expecting value: line {n1} column {n2} (char {n3})",
        "cfg = json.load(fh)",
    ),
    (
        "OSError",
        "[Errno 28] No space left on device: '/tmp/tmp{hex}/events.out.tfevents.{n1}'",
        "self.writer.flush()",
    ),
    (
        "ImportError",
        "cannot import name '<name>' from '<mod>'"
        " (/opt/venv/lib/python3.11/site-packages/<mod>/__init__.py)",
        "from <mod> import <name>",
    ),
    (
        "UnicodeDecodeError",
        "'utf-8' codec can't decode byte 0x{byte:02x} in position {n1}: invalid start byte",
        "text = raw.decode()",
    ),
    (
        "ConnectionRefusedError",
        "[Errno 111] Connection refused",
        "self.sock.connect((host, port))",
    ),
    (
        "TimeoutError",
        "timed out after {n1} s waiting for rank {rank} to join the barrier",
        "dist.barrier()",
    ),
    (
        "sqlite3.OperationalError",
        "database is locked",
        'db.execute("INSERT INTO runs VALUES (?, ?)", (run_id, score))',
    ),
    (
        "subprocess.CalledProcessError",
        "Command '['<tool>', '--input', '/scratch/{user}/{n1}.bin']' returned non-zero exit"
        " status {code}.",
        "raise subprocess.CalledProcessError(proc.returncode, cmd)",
    ),
    (
        "_pickle.UnpicklingError",
        "invalid load key, '{letter}'.",
        "cache = pickle.load(fh)",
    ),
    (
        "NameError",
        "name '<name>' is not defined",
        "scale = <name> * base_lr",
    ),
    (
        "ZeroDivisionError",
        "float division by zero",
        "throughput = n_samples / elapsed",
    ),
    (
        "NotImplementedError",
        "<cls> does not support gradient checkpointing yet",
        "model.gradient_checkpointing_enable()",
    ),
    (
        "ValueError",
        "operands could not be broadcast together with shapes ({n1},{n2}) ({n3},)",
        "weights = counts * self.<attr>",
    ),
    (
        "OverflowError",
        "cannot convert float infinity to integer",
        "n_steps = int(total / rate)",
    ),
    (
        "numpy.core._exceptions._ArrayMemoryError",
        "Unable to allocate {rank}.{n2} GiB for an array with shape ({n2}, {n3}) and data type"
        " float64",
        "buf = np.zeros((n, dim))",
    ),
    (
        "ValueError",
        "Expected input batch_size ({n1}) to match target batch_size ({n2}).",
        "loss = F.cross_entropy(logits, target)",
    ),
    (
        "RecursionError",
        "maximum recursion depth exceeded while calling a Python object",
        "return self.<attr>(node.parent)",
    ),
    (
        "StopIteration",
        "",
        "batch = next(self.<attr>)",
    ),
    (
        "KeyError",
        "'<col>'",
        'value = record["<col>"]',
    ),
]

_FILES = [
    "data/loader.py", "data/dataset.py", "data/augment.py", "tokenizer.py", "checkpoint.py",
    "optim.py", "schedule.py", "evaluate.py", "dist.py", "utils/io.py", "utils/logging.py",
    "callbacks.py", "features.py", "sampler.py", "export.py", "layers/attention.py",
]  # fmt: skip
_FUNCS = [
    "load", "__getitem__", "collate", "step", "save", "restore", "evaluate", "setup",
    "forward", "encode", "write", "run", "update", "prepare", "sync", "build",
]  # fmt: skip
_WORDS = {
    "col": ["step", "epoch", "label", "target", "weight", "split", "id"],
    "attr": ["aux_loss", "buffer", "cache", "bias", "iterator", "mask", "walk", "shards"],
    "name": ["fused_adam", "rotary_embedding", "BATCH_SCALE", "warmup_steps", "load_shard"],
    "mod": ["transformers", "apex", "xformers", "accelerate", "datasets"],
    "tool": ["ffmpeg", "sox", "bcftools", "samtools", "convert"],
    "cls": ["GPT2Model", "ConvNeXt", "SwinBlock", "Mamba", "UNet2D"],
}

#: Where the first six bugs point (``basename:line``): the made bugs point elsewhere.
_SIX_CULPRITS = {"train.py:7", "config.py:47", "loop.py:54", "train.py:64", "model.py:68"}
_SIX_CULPRITS |= {"metrics.py:75"}


def make_causes(count: int) -> list[tuple[str, list[str]]]:
    """``count`` distinct bugs ``(name, frames)``: the six above, then made ones.

    A made bug is a template (cycled, so exception types vary) with its own file, function,
    culprit line (unique ``basename:line`` over all bugs), call site and fixed names; the
    same ``count`` always makes the same bugs.
    """
    causes = _CAUSES[:count]
    taken = set(_SIX_CULPRITS)
    rng = random.Random(17)
    for k in range(len(causes), count):
        error, message, code = _TEMPLATES[(k - len(_CAUSES)) % len(_TEMPLATES)]
        file, func = rng.choice(_FILES), rng.choice(_FUNCS)
        line = rng.randint(12, 640)
        while f"{file.rsplit('/', 1)[-1]}:{line}" in taken:
            line += 1
        taken.add(f"{file.rsplit('/', 1)[-1]}:{line}")
        fixed = {key: rng.choice(words) for key, words in _WORDS.items()}

        def fill(text: str, fixed: dict[str, str] = fixed) -> str:
            for key, word in fixed.items():
                text = text.replace(f"<{key}>", word)
            return text

        frames = [
            f'  File "{{src}}/train.py", line {rng.randint(60, 220)}, in main',
            f"    {func}(args)" if func != "__getitem__" else "    batch = next(it)",
            f'  File "{{src}}/{file}", line {line}, in {func}',
            "    " + fill(_literal(code)),
            fill(f"{error}: {message}" if message else error),
        ]
        causes.append((f"{k + 1:02d}-{error.rsplit('.', 1)[-1]}", frames))
    return causes


def _literal(text: str) -> str:
    """``text`` as a format string that renders as itself."""
    return text.replace("{", "{{").replace("}", "}}")


def failure_log(
    index: int, job: str, rng: random.Random, causes: Sequence[tuple[str, list[str]]]
) -> tuple[int, str]:
    """A few dozen lines of training output ending in a traceback of bug ``index % len(causes)``;
    returns (that bug's number, text)."""
    number = index % len(causes)
    _cause, frames = causes[number]
    src = f"/home/user/project-{index % 7}/src"
    values: dict[str, Any] = {
        "src": src,
        "mod": rng.choice(["wandb", "einops", "flash_attn", "deepspeed"]),
        # One bug per cause: its culprit line is the same in every job (other values vary).
        "line": 40 + 7 * number,
        "key": rng.choice(["lr", "weight_decay", "betas"]),
        "mib": rng.randint(100, 4000),
        "shard": rng.randint(0, 999),
        "a": rng.choice([256, 512, 768]),
        "b": rng.choice([1024, 2048]),
    }
    if number >= len(_CAUSES):  # what a made bug's message varies with
        values.update(
            n1=rng.randint(1, 99_999),
            n2=rng.randint(1, 4096),
            n3=rng.randint(1, 4096),
            word=rng.choice(["", "1e-4", "step_3", "N/A", "12abc", "-"]),
            user=rng.choice(["alice", "bob", "chen", "dana", "eli"]),
            hex=f"{rng.getrandbits(32):08x}",
            rank=rng.randint(0, 7),
            byte=rng.randint(0x80, 0xFF),
            code=rng.choice([1, 2, 127, 134, 139]),
            letter=rng.choice("<vx{"),
        )
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
    return number, "\n".join(lines) + "\n"


def write_failure_logs(targets: Sequence[tuple[str, str]], seed: int, causes: int) -> int:
    """What the failing jobs ``(name, log path)`` printed; returns the bytes written.

    Runs in another process, as jobs do: a thread here would compete for the GIL with the
    event loop and charge the managers for the bench's own work.
    """
    rng = random.Random(seed)
    bugs = make_causes(causes)
    written = 0
    for i, (name, log_path) in enumerate(targets):
        _number, text = failure_log(i, name, rng, bugs)
        path = Path(log_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        written += path.write_text(text, encoding="utf-8")
    return written


async def write_logs_elsewhere(
    probe: LagProbe, targets: Sequence[tuple[str, str]], seed: int, causes: int, scratch: Path
) -> int:
    """``write_failure_logs`` in a process of its own (started and awaited as asyncio does, so
    no thread of the bench's runs in this process meanwhile: a process pool's management
    thread took the GIL from the loop, and joining it at shutdown held the loop ~50 ms). Its
    start (the list of targets written, the process made) is the bench's own work."""
    spec = scratch / "failure-logs.json"
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); import manager_scale as ms;"
        " s = json.load(open(sys.argv[2]));"
        " print(ms.write_failure_logs(s['targets'], s['seed'], s['causes']))"
    )
    phase, probe.phase = probe.phase, "bench"
    try:
        spec.write_text(json.dumps({"targets": targets, "seed": seed, "causes": causes}))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", code, BENCH_DIR, str(spec),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "MANAGER_SCALE_PACKAGE": PACKAGE_ROOT},
        )  # fmt: skip
        await asyncio.sleep(2 * PROBE_INTERVAL)  # the probe wakes up (late) in this phase
    finally:
        probe.phase = phase
    out, err = await proc.communicate()
    spec.unlink()
    if proc.returncode != 0:
        raise RuntimeError(f"writing the failure logs failed: {err.decode()[-2000:]}")
    return int(out)


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


class GcPauses:
    """Records how long each garbage collection took, per generation (``gc.callbacks``).

    A collection runs in C holding the GIL, on whichever thread allocated: a full (gen 2) one
    over a large heap stalls the loop for as long as it takes."""

    def __init__(self) -> None:
        self.pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
        #: Objects the collector tracks after each full collection.
        self.tracked: list[int] = []
        self._began = 0.0

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.pauses[info["generation"]].append(time.perf_counter() - self._began)
            if info["generation"] == 2:  # what it walked (counted after the pause is timed)
                self.tracked.append(len(gc.get_objects()))

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            f"gen{generation}": {
                "collections": len(values),
                "max_ms": round(max(values, default=0.0) * 1000, 1),
                "total_ms": round(sum(values) * 1000, 1),
            }
            for generation, values in self.pauses.items()
        }
        out["gen2"]["tracked_objects_after"] = self.tracked
        return out


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


async def until(
    predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.005
) -> None:
    deadline = time.perf_counter() + timeout
    while not predicate():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        await asyncio.sleep(interval)


async def until_all(
    items: Sequence[str], ok: Callable[[str], bool], timeout: float, what: str
) -> None:
    """Until ``ok(item)`` holds for every item, checked ``CHECK_CHUNK`` at a time with the loop
    running in between, so that the bench's own checks over 100,000 jobs do not stall the
    loop it measures. An item found ok is not checked again (the conditions only grow)."""
    deadline = time.perf_counter() + timeout
    done = 0
    while done < len(items):
        end = min(done + CHECK_CHUNK, len(items))
        while done < end and ok(items[done]):
            done += 1
        if done < end:
            if time.perf_counter() > deadline:
                raise TimeoutError(
                    f"timed out after {timeout:g}s waiting for {what} ({done}/{len(items)})"
                )
            await asyncio.sleep(0.005)
        else:
            await asyncio.sleep(0)


def stored_diagnoses(store: Path) -> int:
    """How many offline diagnoses the store file holds: counted by SQLite, not read into
    10,000 rows and dicts that the collector would walk as if the managers held them."""
    with contextlib.closing(sqlite3.connect(store)) as db:
        return int(
            db.execute("SELECT count(*) FROM diagnoses WHERE engine = 'offline'").fetchone()[0]
        )


def rss_bytes() -> int:
    """This process's resident set size now (Linux; elsewhere the peak so far)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return pages * os.sysconf("SC_PAGE_SIZE")


def mib(value: float) -> float:
    return round(value / 2**20, 1)


class Hogs:
    """``count`` processes that burn a CPU each (started before the run, killed after it).

    Each spins like ``while True: pass``, checking every few milliseconds that the bench is
    still its parent, so that a bench killed with SIGKILL leaves no hog behind either.
    """

    CODE = (
        "import os\n"
        "parent = os.getppid()\n"
        "while os.getppid() == parent:\n"
        "    for _ in range(200_000):\n"
        "        pass\n"
    )

    def __init__(self, count: int) -> None:
        self.count = count
        self.procs: list[subprocess.Popen[bytes]] = []
        self.cpu_s: list[float | None] = []
        self.pids: list[int] = []

    def start(self) -> None:
        for _ in range(self.count):
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", self.CODE],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                )
            )
        if self.procs:
            log(f"{self.count} CPU hog(s) running: pids {[p.pid for p in self.procs]}")

    def stop(self) -> None:
        """Kill and reap every hog (idempotent); records the CPU time each burned."""
        if not self.procs:
            return
        self.cpu_s = [_cpu_seconds(p.pid) for p in self.procs]
        for p in self.procs:
            if p.poll() is None:
                p.kill()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                log(f"hog {p.pid} did not exit after SIGKILL")
        self.pids = [p.pid for p in self.procs]
        self.procs = []

    def report(self) -> dict[str, Any]:
        return {
            "processes": self.count,
            "pids": self.pids,
            "cpu_s": [None if c is None else round(c, 1) for c in self.cpu_s],
        }


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of ``pid`` (Linux ``/proc``), None when unreadable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def scripted_model() -> Any:
    """A ``ScriptedChatModel`` that answers every LLM diagnosis with a short text."""
    from adaptive_llm.testing import ScriptedChatModel

    def answer(messages: list[Any]) -> str:
        facts = messages[-1].text if messages else ""
        error = re.search(r'"error_type": "([^"]+)"', facts)
        kind = error.group(1) if error else "the error"
        return (
            f"**{kind}** at the culprit line shown in the excerpt (scripted answer): fix the"
            " input or the code there and resubmit."
        )

    return ScriptedChatModel(answer)


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


def state_of(jm: Any, name: str) -> JobState:
    """The state of a job's latest attempt, without making the ``Attempt`` where the package
    can (``bench/manager_ab.py`` runs this bench on older trees, whose attempts are a dict)."""
    state = getattr(jm.attempts, "state", None)
    return state(name) if callable(state) else jm.attempts[name].state


def is_cached(llm: Any, name: str) -> bool:
    """Whether the first attempt's diagnosis is cached: its signature, where the package can
    tell (``cached`` makes the diagnosis from its text each time), else ``cached``."""
    signature = getattr(llm, "cached_signature", None)
    if callable(signature):
        return signature(name, 1) is not None
    return llm.cached(name) is not None


async def own_work(probe: LagProbe, work: Callable[[], Any]) -> Any:
    """Run the bench's own synchronous ``work`` (the simulated cluster, the checks) in the
    ``bench`` phase, which the lag figures leave out: it would be charged to the managers."""
    phase, probe.phase = probe.phase, "bench"
    try:
        result = work()
        await asyncio.sleep(2 * PROBE_INTERVAL)  # the probe wakes up (late) in this phase
    finally:
        probe.phase = phase
    return result


async def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    wall0 = time.perf_counter()
    scale = max(1.0, args.jobs / 10_000)  # timeouts grow with the run
    jobs = [
        Job(name=f"job-{i:06d}", command=["python", "train.py", str(i)]) for i in range(args.jobs)
    ]
    scheduler = BenchScheduler()
    model = scripted_model() if args.llm == "scripted" else None
    memory: dict[str, Any] = {}
    rss_before = rss_bytes()
    memory["rss_before_run_manager_mib"] = mib(rss_before)
    rm = RunManager(
        jobs, workdir=workdir, scheduler=scheduler, poll_interval=args.poll_interval, llm=model
    )
    try:
        with GcPauses() as pauses:
            result = await _phases(
                args, rm, scheduler, model, jobs, memory, rss_before, scale, wall0
            )
        result["gc"] = pauses.summary()
        return result
    finally:
        if not rm.closed:
            await asyncio.wait_for(rm.close(), 30)


async def _phases(
    args: argparse.Namespace,
    rm: RunManager,
    scheduler: BenchScheduler,
    model: Any,
    jobs: list[Job],
    memory: dict[str, Any],
    rss_before: int,
    scale: float,
    wall0: float,
) -> dict[str, Any]:
    timer = PollTimer(rm.job_manager.poll_once)
    rm.job_manager.poll_once = timer  # type: ignore[method-assign]
    probe = LagProbe()
    probe_task = asyncio.create_task(probe.run())
    await asyncio.sleep(0.05)
    result: dict[str, Any] = {"memory": memory}
    jm, llm = rm.job_manager, rm.llm_manager
    names = [job.name for job in jobs]

    # 1. submit
    log(f"submitting {args.jobs} jobs")
    probe.phase = "start"
    t0 = time.perf_counter()
    rm.start()
    start_call = time.perf_counter() - t0
    await asyncio.sleep(0.02)
    probe.phase = "submit"
    await until(lambda: len(jm.attempts) == args.jobs, 120 * scale, "all attempts")
    await until_all(
        names, lambda n: bool(jm.attempts[n].scheduler_id), 120 * scale, "all submissions"
    )
    submit_s = time.perf_counter() - t0
    result["submit"] = {"start_call_s": round(start_call, 3), "all_submitted_s": round(submit_s, 3)}
    rss_submitted = rss_bytes()
    memory["rss_all_submitted_mib"] = mib(rss_submitted)
    memory["rss_per_job_kib"] = round((rss_submitted - rss_before) / args.jobs / 1024, 2)

    # 2. running; the failing jobs write their logs meanwhile
    probe.phase = "running"

    def pick() -> list[str]:
        ids = sorted(scheduler.requests, key=int)
        scheduler.start_all()
        return random.Random(args.seed).sample(ids, args.failures)

    failing: list[str] = await own_work(probe, pick)
    failing_jobs = [scheduler.requests[s][0] for s in failing]
    t0 = time.perf_counter()
    targets = [
        (name, scheduler.requests[s][1]) for name, s in zip(failing_jobs, failing, strict=True)
    ]
    written = await write_logs_elsewhere(probe, targets, args.seed, args.causes, rm.workdir)
    result["failure_logs"] = {
        "written_s": round(time.perf_counter() - t0, 3),
        "causes": args.causes,
        "bytes_mean": round(written / args.failures),
    }
    await until_all(names, lambda n: state_of(jm, n) is JobState.RUNNING, 60 * scale, "running")
    await asyncio.sleep(2 * args.poll_interval)

    # 3. the failure burst
    log(f"{args.failures} jobs fail in one poll ({args.causes} causes)")
    computed_before = llm.computed
    await own_work(probe, lambda: scheduler.fail(failing))
    probe.phase = "failure"
    await until(
        lambda: llm.computed - computed_before >= args.failures, 120 * scale, "all diagnoses"
    )
    # (the signature, not the diagnosis: ``cached`` makes a diagnosis from its text each time)
    await until_all(failing_jobs, lambda n: is_cached(llm, n), 60, "cached diagnoses")
    done = time.perf_counter()
    assert scheduler.failure_reported_at is not None
    diag_s = done - scheduler.failure_reported_at

    def tally() -> dict[str, Any]:
        diagnoses = [llm.cached(name) for name in failing_jobs]
        per_cause: dict[int, set[str]] = {}
        for i, d in enumerate(diagnoses):
            if d is not None:
                per_cause.setdefault(i % args.causes, set()).add(d.signature)
        elapsed = [d.elapsed_ms for d in diagnoses if d is not None]
        signatures = {d.signature for d in diagnoses if d is not None}
        return {
            "all_diagnosed_s": round(diag_s, 3),
            "diagnoses_cached": sum(d is not None for d in diagnoses),
            "diagnoses_stored": stored_diagnoses(rm.store.path),
            "causes": args.causes,
            "distinct_signatures": len(signatures),
            # each bug gives one signature, and no two bugs share one
            "causes_with_one_signature": sum(len(s) == 1 for s in per_cause.values()),
            "signatures_match_causes": len(signatures) == args.causes
            and all(len(s) == 1 for s in per_cause.values()),
            "categories": sorted({d.category for d in diagnoses if d is not None}),
            "engine_ms_per_log_mean": round(statistics.mean(elapsed), 3) if elapsed else None,
            "diagnosis_concurrency": llm.concurrency,
            "_signatures": signatures,
        }

    failure = await own_work(probe, tally)
    signatures: set[str] = failure.pop("_signatures")
    result["failure"] = failure
    if model is not None:  # the LLM diagnoses: one call per signature, in the background
        await until(lambda: model.calls >= len(signatures), 120 * scale, "the LLM diagnoses")
        await until(
            lambda: signatures <= rm.store.diagnoses.llm_signatures(answered=True),
            60,
            "the LLM diagnoses stored",
            interval=0.02,
        )
        llm_s = time.perf_counter() - scheduler.failure_reported_at
        complete = await own_work(probe, lambda: llm.all_diagnosed(llm=True))
        result["llm"] = {
            "model": "scripted",
            "all_llm_diagnosed_s": round(llm_s, 3),
            "all_diagnosed_llm": complete,
        }
    await asyncio.sleep(0.5)  # let the probe see the tail of the burst
    memory["rss_after_failures_mib"] = mib(rss_bytes())

    # 4. baseline: inline on the loop thread, one task per failure (at most BASELINE_MAX)
    if not args.no_baseline:
        sample = failing_jobs[:BASELINE_MAX]
        log(f"baseline: diagnose() inline on the loop, {len(sample)} failures")
        probe.phase = "baseline"
        await asyncio.sleep(0.05)
        store = rm.store
        targets_b = [(name, jm.attempts[name], jm.jobs[name]) for name in sample]
        remaining = len(targets_b)
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
        tasks = [asyncio.create_task(inline(*t)) for t in targets_b]
        await finished.wait()
        base_s = time.perf_counter() - t0
        await asyncio.gather(*tasks)
        await asyncio.sleep(0.3)
        result["baseline_inline"] = {
            "failures": len(sample),
            "capped": len(sample) < args.failures,
            "all_diagnosed_s": round(base_s, 3),
        }

    # 5. drain
    probe.phase = "drain"
    await own_work(probe, scheduler.complete_rest)
    t0 = time.perf_counter()
    await rm.wait(timeout=120 * scale)
    result["drain"] = {"rm_wait_s": round(time.perf_counter() - t0, 3)}
    probe.phase = "close"
    await rm.close()
    probe.stop()
    await probe_task
    result["llm_calls"] = llm.llm_calls
    if model is not None:
        result["llm"]["model_calls"] = model.calls

    sample_jobs = jobs[:NAIVE_SUBMIT_MAX]
    naive_s = naive_submit_seconds(sample_jobs, rm.workdir)
    result["naive_submit"] = {
        "jobs": len(sample_jobs),
        "measured_s": round(naive_s, 3),
        # at the measured rate, for every job of the run
        "estimated_s": round(naive_s * len(jobs) / len(sample_jobs), 3),
    }
    result["polls"] = timer.summary()
    result["lag"] = {
        "whole_run": probe.summary(["start", "submit", "running", "failure", "drain", "close"]),
        "background": probe.summary(["submit", "running", "failure", "drain", "close"]),
        **{phase: probe.summary([phase]) for phase in probe.samples},
    }
    result["wall_s"] = round(time.perf_counter() - wall0, 3)
    return result


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument(
        "--fail", "--failures", dest="failures", type=int, default=1_000, metavar="N",
        help="jobs that fail in one poll (default 1000)",
    )  # fmt: skip
    parser.add_argument(
        "--causes", type=int, default=6, metavar="N",
        help="distinct bugs among the failures, each its own signature (default 6)",
    )  # fmt: skip
    parser.add_argument(
        "--hog", type=int, default=0, metavar="N", help="CPU-burning processes while it runs"
    )
    parser.add_argument(
        "--llm", choices=["offline", "scripted"], default="offline",
        help="scripted: LLM diagnoses by a ScriptedChatModel (default: offline engine only)",
    )  # fmt: skip
    parser.add_argument("--poll-interval", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--workdir", help="keep the run here (default: a temporary directory)")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    if not 1 <= args.failures <= args.jobs:
        parser.error(f"--fail must be between 1 and --jobs ({args.jobs}), got {args.failures}")
    if not 1 <= args.causes <= args.failures:
        parser.error(
            f"--causes must be between 1 and --fail ({args.failures}): each cause needs a"
            f" failure, got {args.causes}"
        )
    if args.hog < 0:
        parser.error("--hog must be 0 or more")
    if not args.poll_interval > 0:
        parser.error("--poll-interval must be positive")
    return args


def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds through main's finally: the hogs are killed


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, _terminate)
    hogs = Hogs(args.hog)
    try:
        hogs.start()
        if args.workdir:
            figures = asyncio.run(run(args, Path(args.workdir)))
        else:
            with tempfile.TemporaryDirectory(prefix="manager_scale-") as tmp:
                figures = asyncio.run(run(args, Path(tmp)))
    except TimeoutError as exc:
        log(f"failed: {exc}")
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        hogs.stop()

    whole = figures["lag"]["whole_run"]
    failure_lag = figures["lag"].get("failure", {})
    failure = figures["failure"]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    max_lag = whole.get("max_ms", 0.0)
    goals: dict[str, Any] = {
        "max_lag": {"goal_ms": LAG_GOAL_MS, "ms": max_lag, "met": max_lag <= LAG_GOAL_MS},
        "all_diagnoses": {
            "goal_s": DIAGNOSIS_GOAL_S,
            "s": failure["all_diagnosed_s"],
            "met": failure["all_diagnosed_s"] <= DIAGNOSIS_GOAL_S,
        },
        "peak_rss": {
            "goal_mb": RSS_GOAL_MB,
            "mb": round(peak / 1e6, 1),
            "met": peak <= RSS_GOAL_MB * 1e6,
        },
    }
    if args.llm != "offline":
        goals["llm_calls"] = {
            "goal": "one per cause",
            "causes": args.causes,
            "llm_calls": figures["llm_calls"],
            "met": figures["llm_calls"] == args.causes,
        }
    goals["all_met"] = all(goal["met"] for goal in goals.values())
    out: dict[str, Any] = {
        "config": {
            "jobs": args.jobs,
            "failures": args.failures,
            "causes": args.causes,
            "llm": args.llm,
            "hog": hogs.report(),
            "poll_interval_s": args.poll_interval,
            "probe_interval_ms": PROBE_INTERVAL * 1000,
            "baseline": "skipped"
            if args.no_baseline
            else f"inline over {min(args.failures, BASELINE_MAX)} of the failures"
            + (f" (capped at {BASELINE_MAX})" if args.failures > BASELINE_MAX else ""),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "package": str(Path(adaptive_llm.__file__).parent),
        },
        "goals": goals,
        "max_lag_ms": whole.get("max_ms"),
        "max_background_lag_ms": figures["lag"]["background"].get("max_ms"),
        "failure_phase_max_lag_ms": failure_lag.get("max_ms"),
        "all_diagnosed_s": failure["all_diagnosed_s"],
        "causes": args.causes,
        "distinct_signatures": failure["distinct_signatures"],
        "llm_calls": figures["llm_calls"],
        "peak_rss_mib": mib(peak),
        "gc_gen2_max_ms": figures["gc"]["gen2"]["max_ms"],
        "rss_per_job_kib": figures["memory"]["rss_per_job_kib"],
        **figures,
    }
    base = figures.get("baseline_inline")
    if base is not None:
        base_lag = figures["lag"].get("baseline", {}).get("max_ms")
        base["max_lag_ms"] = base_lag
        out["ratios"] = {
            "baseline_over_managers_lag": _ratio(base_lag, failure_lag.get("max_ms")),
            # per failure: the baseline may cover fewer failures than the managers did
            "baseline_over_managers_diagnosis_time_per_failure": _ratio(
                base["all_diagnosed_s"] / base["failures"],
                failure["all_diagnosed_s"] / args.failures,
            ),
            "naive_over_managers_submit_time": _ratio(
                figures["naive_submit"]["estimated_s"], figures["submit"]["all_submitted_s"]
            ),
        }
    print(json.dumps(out, indent=2))
    return 0


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or not b:
        return None
    return round(a / b, 2)


if __name__ == "__main__":
    sys.exit(main())
