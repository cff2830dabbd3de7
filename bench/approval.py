#!/usr/bin/env python3
"""Approval round trip of a model reply with 10 gated changes, against applying them in YOLO mode.

What runs
    The real ``RunManager`` (``LocalScheduler``, SQLite store, diagnosis engine) on a temporary
    workdir, and the real chat (``create_agent``, the approval middleware, LangGraph's SQLite
    checkpointer) with ``llm=ScriptedChatModel(callable)``: the callable answers the one
    background LLM diagnosis, and in each measured chat returns a reply with 10 gated tool
    calls, then "Done." once the tool results come back. Every chat is fresh: one job per chat
    (all fail at once: ``exit 1``), each job with its own working directory (the chat's
    workspace) holding the files the changes edit. Nothing is mocked but the provider.

Variants (10 gated changes in one reply)
    * ``distinct``: 10 ``edit_file`` calls, one on each of 10 small files (40 lines);
    * ``same_file``: 10 ``edit_file`` calls on the same file, each planned on the previous
      one's result (``value = k`` becomes ``value = k + 1``);
    * ``mixed``: 9 ``edit_file`` calls on 9 files and one ``set_job_resources`` (fifth).

Measures (milliseconds, ``time.perf_counter``)
    approval mode (YOLO off):
    * ``ask``: from the scripted model returning its reply (recorded inside the callable) until
      ``lm.chat(name, "fix")`` returns with the 10 approvals (plan, record, interrupt, read);
      ``ask_total`` is the whole ``lm.chat`` call (the model's own time is reported apart);
    * ``apply``: from calling ``lm.chat(name, "approve")`` until every change is applied: the
      moment the model is called again with the 10 results (every file is checked there and
      holds its new content, the job its new resources); ``last_write`` is the newest file
      mtime against ``time.time()`` at the call (coarse: the kernel's clock tick);
      ``apply_total`` is the whole call (it includes the model's answer to the results and the
      checkpoint of that turn); files are checked again after it returns.
    YOLO mode (baseline, no approval round trip):
    * ``apply``: from the scripted model returning its reply until it is called again with the
      10 results (everything applied and checked); ``total`` is the whole ``lm.chat`` call.

Each (variant, mode) runs ``--reps`` times (default 20), interleaved, after one warm-up chat
each (the first chat also creates the agent and imports LangChain; reported apart).

Goals (issue 10, "Bench"): ``ask`` <= 50 ms and ``apply`` <= 50 ms (median and p95).

Run
    .venv/bin/python bench/approval.py [--reps 20] [--profile FILE.prof]

One JSON document on stdout; progress on stderr. ``--profile`` writes cProfile stats of the
measured turns of the approval mode (``ask`` and ``apply`` calls) and prints the top entries
by cumulative time to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime
import io
import json
import logging
import os
import platform
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, SystemMessage, ToolMessage

import adaptive_llm
from adaptive_llm import Job, LocalScheduler, RunManager
from adaptive_llm.jobs.model import parse_memory
from adaptive_llm.llm.diagnose import LLM_DIAGNOSIS_PROMPT
from adaptive_llm.testing import ScriptedChatModel

GOAL_MS = 50.0
CHANGES = 10
VARIANTS = ("distinct", "same_file", "mixed")
MODES = ("approval", "yolo")
FILE_LINES = 40
NEW_MEMORY = "2G"
#: What every job runs: it fails at once, so each chat is about a failed, diagnosed job.
FAILING = ["/bin/sh", "-c", "echo 'RuntimeError: boom'; exit 1"]


def log(message: str) -> None:
    print(f"[approval] {message}", file=sys.stderr, flush=True)


# -- the changes -------------------------------------------------------------------------------


def module_text(k: int) -> str:
    """A small Python module; line ``RETRIES = 0`` is the one the edits change."""
    lines = [f'"""Module {k} of the bench."""', "", "import os", "", "RETRIES = 0", ""]
    lines += [f"def step_{i}(x):\n    return x + {i}" for i in range((FILE_LINES - 6) // 2)]
    return "\n".join(lines) + "\n"


def same_file_text() -> str:
    return module_text(0).replace("RETRIES = 0", "value = 0")


def _call(name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "args": args, "id": f"call_{uuid.uuid4().hex[:12]}"}


def _edit(path: str, old: str, new: str) -> dict[str, Any]:
    return _call("edit_file", {"path": path, "old_text": old, "new_text": new})


@dataclass
class Chat:
    """One measured chat: its job, its workspace, the reply and what must hold after it."""

    variant: str
    mode: str
    job: str
    root: Path
    calls: list[dict[str, Any]] = field(default_factory=list)
    #: path (relative to root) -> content expected once every change is applied
    expected: dict[str, str] = field(default_factory=dict)
    resources: bool = False

    def prepare(self) -> None:
        """Write the files the changes edit and build the reply's tool calls."""
        self.root.mkdir(parents=True, exist_ok=True)
        if self.variant == "same_file":
            text = same_file_text()
            (self.root / "config.py").write_text(text)
            for k in range(CHANGES):
                self.calls.append(_edit("config.py", f"value = {k}", f"value = {k + 1}"))
            self.expected["config.py"] = text.replace("value = 0", f"value = {CHANGES}")
            return
        edits = CHANGES - 1 if self.variant == "mixed" else CHANGES
        for k in range(edits):
            path = f"pkg/mod_{k}.py"
            text = module_text(k)
            (self.root / path).parent.mkdir(parents=True, exist_ok=True)
            (self.root / path).write_text(text)
            self.calls.append(_edit(path, "RETRIES = 0", f"RETRIES = {k + 1}"))
            self.expected[path] = text.replace("RETRIES = 0", f"RETRIES = {k + 1}")
        if self.variant == "mixed":
            resources = _call("set_job_resources", {"memory": NEW_MEMORY, "time_limit": "10:00"})
            self.calls.insert(4, resources)
            self.resources = True

    def reply(self) -> AIMessage:
        return AIMessage(
            content=f"I will make {CHANGES} changes.",
            tool_calls=[{**c, "id": f"call_{uuid.uuid4().hex[:12]}"} for c in self.calls],
        )

    def applied(self, rm: RunManager) -> list[str]:
        """What is not (yet) applied: empty when every change is on disk / in the job."""
        wrong = [p for p, text in self.expected.items() if (self.root / p).read_text() != text]
        if self.resources and rm.job_manager.job(self.job).resources.memory != parse_memory(
            NEW_MEMORY
        ):
            wrong.append(f"job:{self.job}")
        return wrong

    def untouched(self, rm: RunManager) -> bool:
        """True while no change is applied (nothing may be before the approval)."""
        files = all((self.root / p).read_text() != t for p, t in self.expected.items())
        memory = rm.job_manager.job(self.job).resources.memory
        return files and not (self.resources and memory == parse_memory(NEW_MEMORY))

    def newest_mtime_ns(self) -> int:
        return max((self.root / p).stat().st_mtime_ns for p in self.expected)


# -- the scripted model ------------------------------------------------------------------------


class Script:
    """The ``ScriptedChatModel`` callable: the diagnosis call, then per chat a reply and a
    "Done." to the tool results. Records when the reply leaves and when the results arrive."""

    def __init__(self) -> None:
        self.chat: Chat | None = None
        self.rm: RunManager | None = None
        self.replied_at: float | None = None
        self.results_at: float | None = None
        self.model_s = 0.0
        self.results_missing: list[str] = []
        self.diagnosis_calls = 0

    def start(self, chat: Chat) -> None:
        self.chat, self.replied_at, self.results_at = chat, None, None
        self.model_s, self.results_missing = 0.0, []

    def __call__(self, messages: list[BaseMessage]) -> AIMessage | str:
        began = time.perf_counter()
        if any(
            isinstance(m, SystemMessage) and m.text.startswith(LLM_DIAGNOSIS_PROMPT[:60])
            for m in messages
        ):
            self.diagnosis_calls += 1
            return "Scripted diagnosis: the job exits with status 1."
        chat = self.chat
        assert chat is not None and self.rm is not None
        if messages and isinstance(messages[-1], ToolMessage):
            # The results of the 10 changes: everything must be applied by now.
            self.results_at = began
            self.results_missing = chat.applied(self.rm)
            results = [m for m in messages if isinstance(m, ToolMessage)]
            failed = [m.text for m in results[-CHANGES:] if m.status != "success"]
            if failed:
                self.results_missing.append(f"failed results: {failed[:2]}")
            return "Done."
        reply = chat.reply()
        self.replied_at = time.perf_counter()
        self.model_s += self.replied_at - began
        return reply


# -- the run -----------------------------------------------------------------------------------


def _stats(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    # Interpolated between the samples around 95% (nearest rank would be the max for n <= 20).
    p95 = statistics.quantiles(ordered, n=20, method="inclusive")[18] if len(ordered) > 1 else 0
    return {
        "median_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(p95, 2),
        "min_ms": round(ordered[0], 2),
        "max_ms": round(ordered[-1], 2),
        "n": len(ordered),
    }


async def measure(
    rm: RunManager, script: Script, chat: Chat, profiler: cProfile.Profile | None
) -> dict[str, float]:
    lm = rm.llm_manager
    script.start(chat)
    out: dict[str, float] = {}
    if chat.mode == "yolo":
        lm.set_yolo(chat.job, True)
        began = time.perf_counter()
        reply = await lm.chat(chat.job, "fix")
        ended = time.perf_counter()
        assert reply.error is None and not reply.approvals, (reply.error, reply.approvals)
        assert script.replied_at is not None and script.results_at is not None
        assert not script.results_missing, script.results_missing
        assert not chat.applied(rm), chat.applied(rm)
        out["apply"] = (script.results_at - script.replied_at) * 1000
        out["total"] = (ended - began) * 1000
        out["model"] = script.model_s * 1000
        return out

    if profiler is not None:
        profiler.enable()
    began = time.perf_counter()
    reply = await lm.chat(chat.job, "fix")
    ended = time.perf_counter()
    if profiler is not None:
        profiler.disable()
    assert reply.error is None, reply.error
    assert len(reply.approvals) == CHANGES, [a.summary for a in reply.approvals]
    assert script.replied_at is not None and script.results_at is None
    assert chat.untouched(rm), "a change was applied before its approval"
    out["ask"] = (ended - script.replied_at) * 1000
    out["ask_total"] = (ended - began) * 1000
    out["model"] = script.model_s * 1000

    if profiler is not None:
        profiler.enable()
    wall = time.time()
    began = time.perf_counter()
    reply = await lm.chat(chat.job, "approve")
    ended = time.perf_counter()
    if profiler is not None:
        profiler.disable()
    assert reply.error is None and reply.text == "Done.", (reply.error, reply.text)
    assert script.results_at is not None
    assert not script.results_missing, script.results_missing
    assert not chat.applied(rm), chat.applied(rm)
    out["apply"] = (script.results_at - began) * 1000
    out["last_write"] = (chat.newest_mtime_ns() / 1e9 - wall) * 1000
    out["apply_total"] = (ended - began) * 1000
    return out


async def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    wall0 = time.perf_counter()
    plan: list[tuple[int, str, str]] = [
        (rep, variant, mode)
        for rep in range(-1, args.reps)  # rep -1: one warm-up chat per (variant, mode)
        for variant in VARIANTS
        for mode in MODES
    ]
    chats: list[tuple[int, Chat]] = []
    jobs = []
    for rep, variant, mode in plan:
        name = f"{variant}-{mode}-{'warm' if rep < 0 else rep}".replace("_", "-")
        chat = Chat(variant, mode, name, workdir / "chats" / name)
        chat.prepare()
        chats.append((rep, chat))
        jobs.append(Job(name, FAILING, cwd=chat.root))

    script = Script()
    rm = RunManager(
        jobs,
        workdir=workdir,
        scheduler=LocalScheduler(8, kill_grace=0.5),  # the jobs only fail: start them fast
        poll_interval=0.1,
        llm=ScriptedChatModel(script),
    )
    script.rm = rm
    log(f"{len(jobs)} jobs fail at once")
    t0 = time.perf_counter()
    rm.start()
    await rm.wait(timeout=120)
    setup_s = time.perf_counter() - t0

    other = OtherLoad()  # from here on (the job runners are gone): the measured chats only
    profiler = cProfile.Profile() if args.profile else None
    samples: dict[tuple[str, str], dict[str, list[float]]] = {}
    warm: dict[str, dict[str, float]] = {}
    log(f"{len(chats)} chats ({args.reps} per variant and mode, after one warm-up each)")
    try:
        for rep, chat in chats:
            figures = await measure(rm, script, chat, profiler if rep >= 0 else None)
            if rep < 0:
                warm[f"{chat.variant}/{chat.mode}"] = {k: round(v, 2) for k, v in figures.items()}
                continue
            into = samples.setdefault((chat.variant, chat.mode), {})
            for key, value in figures.items():
                into.setdefault(key, []).append(value)
    finally:
        await rm.close()  # also closes the checkpointer's thread (else the process never exits)
    busy = other.percent()

    result: dict[str, Any] = {
        "other_processes_cpu_percent": busy,
        "setup_s": round(setup_s, 3),
        "warm_up": warm,
    }
    for variant in VARIANTS:
        approval, yolo = samples[(variant, "approval")], samples[(variant, "yolo")]
        ask, apply = statistics.median(approval["ask"]), statistics.median(approval["apply"])
        result[variant] = {
            "approval": {key: _stats(values) for key, values in approval.items()},
            "yolo": {key: _stats(values) for key, values in yolo.items()},
            "ratios": {
                # the two approval steps together (the user's time excluded) against YOLO
                "ask_plus_apply_over_yolo_apply": round(
                    (ask + apply) / statistics.median(yolo["apply"]), 2
                ),
                "apply_over_yolo_apply": round(apply / statistics.median(yolo["apply"]), 2),
            },
            "goal_met": {
                "ask": _stats(approval["ask"])["p95_ms"] <= GOAL_MS,
                "apply": _stats(approval["apply"])["p95_ms"] <= GOAL_MS,
                "ask_median": ask <= GOAL_MS,
                "apply_median": apply <= GOAL_MS,
            },
        }
    result["diagnosis_model_calls"] = script.diagnosis_calls
    result["wall_s"] = round(time.perf_counter() - wall0, 3)
    if profiler is not None:
        profiler.dump_stats(args.profile)
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text).strip_dirs().sort_stats("cumulative")
        stats.print_stats(45)
        print(text.getvalue(), file=sys.stderr)
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).strip_dirs().sort_stats("tottime").print_stats(30)
        print(text.getvalue(), file=sys.stderr)
    return result


def fsync_probe(directory: Path, n: int = 20) -> dict[str, float]:
    """This disk's latency for what an edit costs: write 1 KiB to a new file and fsync it."""
    times = []
    for i in range(n):
        began = time.perf_counter()
        fd = os.open(directory / f"probe-{i}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, b"x" * 1024)
            os.fsync(fd)
        finally:
            os.close(fd)
        times.append((time.perf_counter() - began) * 1000)
    return {"median_ms": round(statistics.median(times), 2), "max_ms": round(max(times), 2)}


class OtherLoad:
    """CPU the rest of the machine used while the chats were measured (``/proc/stat`` minus
    this process), in % of all cores: ``user`` is other programs (near zero on a quiet
    machine); ``all`` also counts the kernel's work, including the journal and block I/O that
    this bench's own fsyncs cause."""

    def __init__(self) -> None:
        self.began = time.perf_counter()
        self.system = self._system()
        self.own = os.times()

    @staticmethod
    def _system() -> tuple[float, float] | None:
        try:
            fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        except OSError:
            return None
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
        tick = os.sysconf("SC_CLK_TCK")
        return (user + nice) / tick, (user + nice + system + irq + softirq + steal) / tick

    def percent(self) -> dict[str, float] | None:
        now, own = self._system(), os.times()
        if now is None or self.system is None:
            return None
        user = (now[0] - self.system[0]) - (own.user - self.own.user)
        total = (now[1] - self.system[1]) - (
            own.user + own.system - self.own.user - self.own.system
        )
        cores = (time.perf_counter() - self.began) * (os.cpu_count() or 1)
        return {
            "user": round(max(0.0, 100 * user / cores), 1),
            "all": round(max(0.0, 100 * total / cores), 1),
        }


def _commit() -> str | None:
    """The checkout of the ``adaptive_llm`` measured (``-dirty``: with uncommitted changes)."""
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=Path(adaptive_llm.__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--profile", help="write cProfile stats of the approval turns here")
    parser.add_argument("--workdir", help="keep the run here (default: a temporary directory)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore", message=r"(?s)Pydantic serializer warnings")
    started = datetime.datetime.now(datetime.UTC)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="approval-") as tmp:
        workdir = Path(args.workdir) if args.workdir else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=workdir) as probe:
            fsync = fsync_probe(Path(probe))
        figures = asyncio.run(run(args, workdir))
    load_after = os.getloadavg()
    out: dict[str, Any] = {
        "config": {
            "changes_per_reply": CHANGES,
            "reps": args.reps,
            "variants": list(VARIANTS),
            "date": started.isoformat(timespec="seconds"),
            "commit": _commit(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "langchain": _version("langchain"),
            "langgraph": _version("langgraph"),
            "profiled": bool(args.profile),
            # Other work on the machine skews every figure: the 1-minute load, before / after.
            "loadavg_1min_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
            "other_processes_cpu_percent": figures.pop("other_processes_cpu_percent"),
            "fsync_1kib_file": fsync,
        },
        "goals": {
            "ask_ms": GOAL_MS,
            "apply_ms": GOAL_MS,
            "met": all(
                figures[v]["goal_met"]["ask"] and figures[v]["goal_met"]["apply"] for v in VARIANTS
            ),
        },
        "summary_ms": {
            v: {
                "ask_median_p95": [
                    figures[v]["approval"]["ask"]["median_ms"],
                    figures[v]["approval"]["ask"]["p95_ms"],
                ],
                "apply_median_p95": [
                    figures[v]["approval"]["apply"]["median_ms"],
                    figures[v]["approval"]["apply"]["p95_ms"],
                ],
                "yolo_apply_median_p95": [
                    figures[v]["yolo"]["apply"]["median_ms"],
                    figures[v]["yolo"]["apply"]["p95_ms"],
                ],
            }
            for v in VARIANTS
        },
        **figures,
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
