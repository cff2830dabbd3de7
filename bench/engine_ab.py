#!/usr/bin/env python3
"""Time per log of two diagnosis engines, interleaved log by log, on the shared corpora.

``eval_corpora.py`` times one engine per run; on a machine whose speed drifts by 10% from one
minute to the next (a shared VM), two runs a few minutes apart do not compare. Here each
engine runs in its own worker process (this checkout, and ``--baseline``: another checkout,
e.g. ``git worktree add /tmp/base <commit>``), and every log is diagnosed by both, one worker
at a time, the order alternating from log to log; each time is the fastest of ``--repeat``
runs (wall and CPU). The workers never run at the same time.

Run
    .venv/bin/python bench/engine_ab.py --baseline /tmp/base [--repeat 3] [--limit N]

One JSON document on stdout: per engine p50 / p95 / max / total of wall and CPU milliseconds,
and the ratios now / baseline (of the p95s, of the totals, and the median per-log ratio).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from eval_corpora import percentile  # bench/eval_corpora.py: the same nearest rank

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPORA = ROOT.parent / "shared" / "corpora"

_WORKER = r"""
import json, sys, time
from adaptive_llm.diagnosis import diagnose
repeat = int(sys.argv[1])
for line in sys.stdin:
    path = line.rstrip("\n")
    wall = cpu = float("inf")
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        diagnose(path)
        w = time.perf_counter() - t
        if w < wall:
            wall, cpu = w, time.process_time() - c
    print(json.dumps([wall, cpu]), flush=True)
"""


def corpus_logs(corpora: Path) -> list[str]:
    """LogChunks' failed logs and CiDiff's ``fail.log``: the logs ``eval_corpora.py`` reads."""
    logs = sorted(str(p) for p in (corpora / "logchunks" / "logs").glob("*/*/failed/*.log"))
    logs += sorted(str(p) for p in (corpora / "cidiff").glob("*/fail.log"))
    return logs


class Worker:
    def __init__(self, name: str, root: Path, repeat: int) -> None:
        env = {**os.environ, "PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1"}
        self.name = name
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(repeat)],
            cwd=root,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def time(self, path: str) -> tuple[float, float]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(path + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            sys.exit(f"engine_ab: the {self.name} worker died (on {path})")
        wall, cpu = json.loads(line)
        return float(wall), float(cpu)

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
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--baseline", type=Path, required=True, help="checkout of the other engine")
    ap.add_argument("--corpora", type=Path, default=DEFAULT_CORPORA)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args(argv)
    if not (args.baseline / "adaptive_llm" / "diagnosis").is_dir():
        sys.exit(f"engine_ab: no adaptive_llm/diagnosis under {args.baseline}")
    logs = corpus_logs(args.corpora)[: args.limit]
    if not logs:
        sys.exit(f"engine_ab: no corpus logs under {args.corpora}")
    workers = {
        "now": Worker("now", ROOT, args.repeat),
        "baseline": Worker("baseline", args.baseline, args.repeat),
    }
    for w in workers.values():  # imports and first compilations out of the way
        for path in logs[:5]:
            w.time(path)
    walls: dict[str, list[float]] = {"now": [], "baseline": []}
    cpus: dict[str, list[float]] = {"now": [], "baseline": []}
    t0 = time.perf_counter()
    for i, path in enumerate(logs):
        order = ("now", "baseline") if i % 2 == 0 else ("baseline", "now")
        for name in order:
            wall, cpu = workers[name].time(path)
            walls[name].append(wall)
            cpus[name].append(cpu)
        if (i + 1) % 200 == 0:
            print(f"  {i + 1}/{len(logs)} logs", file=sys.stderr)
    for w in workers.values():
        w.close()
    now, base = figures(walls["now"], cpus["now"]), figures(walls["baseline"], cpus["baseline"])
    per_log = [a / b for a, b in zip(walls["now"], walls["baseline"], strict=True) if b > 0]
    doc: dict[str, Any] = {
        "logs": len(logs),
        "repeat": args.repeat,
        "baseline": str(args.baseline),
        "seconds": round(time.perf_counter() - t0, 1),
        "loadavg_1min_at_end": round(os.getloadavg()[0], 2),
        "now": now,
        "baseline_engine": base,
        "ratio_now_over_baseline": {
            "wall_p95": round(now["wall_ms_p95"] / base["wall_ms_p95"], 3),
            "wall_total": round(sum(walls["now"]) / sum(walls["baseline"]), 3),
            "per_log_median": round(statistics.median(per_log), 3),
        },
    }
    print(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
