#!/usr/bin/env python3
"""What the diagnosis worker's one-request-at-a-time protocol costs on small logs (#17).

``DiagnosisPool`` sends a worker (``python -m adaptive_llm.diagnosis.worker``) one request line
and waits for its answer line before it sends the next: between two diagnoses the worker
sleeps until its answer was read and the next request written, and each request wakes it
again. Here one worker is driven directly (blocking pipes, no event loop), with ``k``
requests in flight (``k`` lines written, then ``k`` answers read): ``k = 1`` is the pool's
protocol, larger ``k`` what pipelining would give. Per ``k``: wall time per log, the engine's
own time per log (the answers' ``elapsed_ms``), the gap between them (protocol, JSON,
wake-ups) and the worker's CPU time per log (``/proc``: the engine and the protocol's work, not
its waits). Rounds alternate over the values of ``k``; each figure is the best round.

The logs are ``manager_scale.py``'s failing jobs' (``engine_ab.bench_logs``), diagnosed with the
LLM manager's options.

Run
    .venv/bin/python bench/worker_ipc.py [--logs 1000] [--in-flight 1 2 4 16] [--rounds 3]

One JSON document on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from engine_ab import ROOT, Request, bench_logs  # bench/engine_ab.py: the same logs


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drive(
    proc: subprocess.Popen[str], requests: list[Request], k: int
) -> tuple[float, float, float]:
    """Seconds of wall time, of engine time and of the worker's CPU time for all
    ``requests``, ``k`` in flight."""
    assert proc.stdin is not None and proc.stdout is not None
    engine_ms = 0.0
    cpu0 = cpu_seconds(proc.pid)
    t0 = time.perf_counter()
    for i in range(0, len(requests), k):
        chunk = requests[i : i + k]
        lines = (
            json.dumps({"id": i + j, "path": path, "options": options})
            for j, (path, options) in enumerate(chunk)
        )
        proc.stdin.write("".join(line + "\n" for line in lines))
        proc.stdin.flush()
        for _ in chunk:
            reply = json.loads(proc.stdout.readline())
            engine_ms += float(reply["diagnosis"]["elapsed_ms"])
    return time.perf_counter() - t0, engine_ms / 1000, cpu_seconds(proc.pid) - cpu0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--logs", type=int, default=1000)
    ap.add_argument("--causes", type=int, default=50)
    ap.add_argument("--in-flight", type=int, nargs="+", default=[1, 2, 4, 16])
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory(prefix="worker_ipc-") as tmp:
        requests = bench_logs(args.logs, args.causes, Path(tmp))
        proc = subprocess.Popen(
            [sys.executable, "-m", "adaptive_llm.diagnosis.worker"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None and proc.stdin is not None
        proc.stdout.readline()  # {"ready": pid}
        drive(proc, requests[:50], 1)  # imports and first compilations out of the way
        best: dict[int, tuple[float, float, float]] = {}
        for _ in range(args.rounds):
            for k in args.in_flight:
                wall, engine, cpu = drive(proc, requests, k)
                if k not in best or wall < best[k][0]:
                    best[k] = (wall, engine, cpu)
        proc.stdin.close()
        proc.wait(timeout=60)
    n = len(requests)
    figures: dict[str, Any] = {
        str(k): {
            "wall_us_per_log": round(wall / n * 1e6, 1),
            "engine_us_per_log": round(engine / n * 1e6, 1),
            "gap_us_per_log": round((wall - engine) / n * 1e6, 1),
            "worker_cpu_us_per_log": round(cpu / n * 1e6, 1),
        }
        for k, (wall, engine, cpu) in sorted(best.items())
    }
    doc = {
        "logs": n,
        "rounds": args.rounds,
        "loadavg_1min_at_end": round(os.getloadavg()[0], 2),
        "in_flight": figures,
    }
    print(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
