#!/usr/bin/env python3
"""Time per log of two diagnosis engines, interleaved log by log, on the shared corpora or on
the small logs of ``manager_scale.py``.

``eval_corpora.py`` times one engine per run; on a machine whose speed drifts by 10% from one
minute to the next (a shared VM), two runs a few minutes apart do not compare. Here each
engine runs in its own worker process (this checkout, and ``--baseline``: another checkout,
e.g. ``git worktree add /tmp/base <commit>``), and every log is diagnosed by both, one worker
at a time, the order alternating from log to log; each time is the fastest of ``--repeat``
runs (wall and CPU). The workers never run at the same time. The baseline is a checkout
(``--baseline``) or a commit, extracted with ``git archive`` (``--baseline-ref``).

``--bench-logs N``: instead of the corpora, the logs of ``manager_scale.py``'s failing jobs
(a few dozen lines of training output and a traceback, ~2 KB; its generator, ``--causes``
bugs), ``N`` of them in a temporary workdir as the job manager lays them out, each diagnosed
with the options the LLM manager passes (state, reason, the workdir, limits): the fixed cost
per small log that a burst of 10,000 failures pays 10,000 times (#17).

Both workers also say what they found: ``same_results`` counts the logs whose diagnoses
(``to_dict()`` without the time taken) are equal, ``different`` names the first few others.

Run
    .venv/bin/python bench/engine_ab.py --baseline /tmp/base [--repeat 3] [--limit N]
    .venv/bin/python bench/engine_ab.py --baseline-ref HEAD~1 --bench-logs 2000

One JSON document on stdout: per engine p50 / p95 / max / total of wall and CPU milliseconds
and the mean per log in microseconds, and the ratios now / baseline (of the p95s, of the
totals, of the mean CPU, and the median per-log ratio).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from eval_corpora import percentile  # bench/eval_corpora.py: the same nearest rank

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPORA = ROOT.parent / "shared" / "corpora"

_WORKER = r"""
import hashlib, json, sys, time
from adaptive_llm.diagnosis import diagnose
repeat = int(sys.argv[1])
for line in sys.stdin:
    path, options = json.loads(line)
    wall = cpu = float("inf")
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        d = diagnose(path, **options)
        w = time.perf_counter() - t
        if w < wall:
            wall, cpu = w, time.process_time() - c
    found = d.to_dict()
    found.pop("elapsed_ms", None)
    digest = hashlib.sha256(json.dumps(found, sort_keys=True).encode()).hexdigest()
    print(json.dumps([wall, cpu, digest]), flush=True)
"""

#: A diagnosis request: the log's path and the keyword arguments of ``diagnose``.
Request = tuple[str, dict[str, Any]]


def corpus_logs(corpora: Path) -> list[str]:
    """LogChunks' failed logs and CiDiff's ``fail.log``: the logs ``eval_corpora.py`` reads."""
    logs = sorted(str(p) for p in (corpora / "logchunks" / "logs").glob("*/*/failed/*.log"))
    logs += sorted(str(p) for p in (corpora / "cidiff").glob("*/fail.log"))
    return logs


def bench_logs(count: int, causes: int, into: Path) -> list[Request]:
    """``count`` logs of ``manager_scale.py``'s failing jobs under ``into`` (a workdir laid out
    as the job manager does), with the options the LLM manager diagnoses them with."""
    from manager_scale import write_failure_logs  # bench/manager_scale.py: the same logs

    workdir = into / "workdir"
    targets = [
        (f"job-{i:06d}", str(workdir / ".adaptive_llm" / "logs" / f"job-{i:06d}" / "attempt-1.log"))
        for i in range(count)
    ]
    write_failure_logs(targets, 2, causes)
    options = {
        "state": "FAILED",
        "reason": "NonZeroExitCode",
        "workdir": str(workdir),
        "time_limit": 3600.0,
        "memory": 4 << 30,
        "max_tokens": 4000,
    }
    return [(path, options) for _name, path in targets]


def extract(ref: str, into: Path) -> Path:
    """The package at commit ``ref`` (``git archive``), as a checkout to run."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, "adaptive_llm"], check=True, capture_output=True
    ).stdout
    tar = into / "tree.tar"
    tar.write_bytes(archive)
    with tarfile.open(tar) as fh:
        fh.extractall(into / "tree", filter="data")
    return into / "tree"


class Worker:
    def __init__(self, name: str, root: Path, repeat: int, cwd: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1"}
        self.name = name
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(repeat)],
            cwd=cwd,  # the same for both: without a workdir, suggestions look at the cwd
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def time(self, request: Request) -> tuple[float, float, str]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            sys.exit(f"engine_ab: the {self.name} worker died (on {request[0]})")
        wall, cpu, digest = json.loads(line)
        return float(wall), float(cpu), str(digest)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def figures(walls: list[float], cpus: list[float]) -> dict[str, float]:
    ms = [w * 1000 for w in walls]
    cpu_ms = [c * 1000 for c in cpus]
    return {
        "wall_ms_p50": round(percentile(ms, 50), 2),
        "wall_ms_p95": round(percentile(ms, 95), 2),
        "wall_ms_max": round(max(ms), 2),
        "wall_s_total": round(sum(walls), 3),
        "cpu_ms_p50": round(percentile(cpu_ms, 50), 2),
        "cpu_ms_p95": round(percentile(cpu_ms, 95), 2),
        "wall_us_mean": round(sum(walls) / len(walls) * 1e6, 1),
        "cpu_us_mean": round(sum(cpus) / len(cpus) * 1e6, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    base = ap.add_mutually_exclusive_group(required=True)
    base.add_argument("--baseline", type=Path, help="checkout of the other engine")
    base.add_argument("--baseline-ref", help="commit of the other engine (git archive)")
    ap.add_argument("--corpora", type=Path, default=DEFAULT_CORPORA)
    ap.add_argument("--bench-logs", type=int, default=0, help="manager_scale's logs, not corpora")
    ap.add_argument("--causes", type=int, default=50, help="with --bench-logs: distinct bugs")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="engine_ab-") as tmp:
        baseline = args.baseline or extract(args.baseline_ref, Path(tmp))
        if not (baseline / "adaptive_llm" / "diagnosis").is_dir():
            sys.exit(f"engine_ab: no adaptive_llm/diagnosis under {baseline}")
        if args.bench_logs > 0:
            requests = bench_logs(args.bench_logs, args.causes, Path(tmp))
        else:
            requests = [(path, {}) for path in corpus_logs(args.corpora)]
            if not requests:
                sys.exit(f"engine_ab: no corpus logs under {args.corpora}")
        cwd = Path(tmp) / "cwd"
        cwd.mkdir()
        doc = compare(requests[: args.limit], baseline, args.repeat, cwd)
    doc["baseline"] = args.baseline_ref or str(args.baseline)
    doc["logs_from"] = f"manager_scale.py ({args.causes} causes)" if args.bench_logs else "corpora"
    print(json.dumps(doc, indent=2))
    return 0


def compare(requests: list[Request], baseline: Path, repeat: int, cwd: Path) -> dict[str, Any]:
    workers = {
        "now": Worker("now", ROOT, repeat, cwd),
        "baseline": Worker("baseline", baseline, repeat, cwd),
    }
    for w in workers.values():  # imports and first compilations out of the way
        for request in requests[:5]:
            w.time(request)
    walls: dict[str, list[float]] = {"now": [], "baseline": []}
    cpus: dict[str, list[float]] = {"now": [], "baseline": []}
    same, different = 0, []
    t0 = time.perf_counter()
    for i, request in enumerate(requests):
        order = ("now", "baseline") if i % 2 == 0 else ("baseline", "now")
        digests = {}
        for name in order:
            wall, cpu, digests[name] = workers[name].time(request)
            walls[name].append(wall)
            cpus[name].append(cpu)
        if digests["now"] == digests["baseline"]:
            same += 1
        elif len(different) < 10:
            different.append(request[0])
        if (i + 1) % 200 == 0:
            print(f"  {i + 1}/{len(requests)} logs", file=sys.stderr)
    for w in workers.values():
        w.close()
    now, base = figures(walls["now"], cpus["now"]), figures(walls["baseline"], cpus["baseline"])
    per_log = [a / b for a, b in zip(walls["now"], walls["baseline"], strict=True) if b > 0]
    return {
        "logs": len(requests),
        "repeat": repeat,
        "seconds": round(time.perf_counter() - t0, 1),
        "loadavg_1min_at_end": round(os.getloadavg()[0], 2),
        "same_results": same,
        "different": different,
        "now": now,
        "baseline_engine": base,
        "ratio_now_over_baseline": {
            "wall_p95": round(now["wall_ms_p95"] / base["wall_ms_p95"], 3),
            "wall_total": round(sum(walls["now"]) / sum(walls["baseline"]), 3),
            "cpu_mean": round(sum(cpus["now"]) / sum(cpus["baseline"]), 3),
            "per_log_median": round(statistics.median(per_log), 3),
        },
    }


if __name__ == "__main__":
    raise SystemExit(main())
