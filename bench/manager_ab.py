#!/usr/bin/env python3
"""``manager_scale.py`` on this checkout's package and on another commit's, alternating.

Each round runs this checkout's ``bench/manager_scale.py`` twice with the same arguments: once
importing this checkout's ``adaptive_llm`` and once a commit's (``--ref``, extracted with
``git archive``; ``MANAGER_SCALE_PACKAGE`` puts it first on the bench's path). The
order alternates round by round, so a machine that gets busier or quieter during the run is
charged to both. The scale bench reports which package it imported (``config.package``); this
script checks it is the one asked for.

Prints JSON: each run's figures (max loop lag over the whole run and per phase, the time until
all diagnoses are cached, full collections and the longest, peak RSS, LLM calls), the median
of each side, and the ratios this checkout / the other.

Usage::

    .venv/bin/python bench/manager_ab.py --ref 007f706 --rounds 2 -- \\
        --jobs 100000 --fail 10000 --causes 50 --llm scripted [--hog 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCALE = ROOT / "bench" / "manager_scale.py"

sys.path.insert(0, str(ROOT / "bench"))
from engine_ab import extract  # noqa: E402  (the same git archive of a commit's package)


def figures(doc: dict[str, Any]) -> dict[str, Any]:
    lag = doc["lag"]
    gen2 = doc["gc"]["gen2"]
    return {
        "max_lag_ms": doc["max_lag_ms"],
        "lag_by_phase_ms": {
            phase: lag[phase]["max_ms"]
            for phase in ("start", "submit", "running", "failure", "drain", "close")
            if phase in lag and "max_ms" in lag[phase]
        },
        "all_diagnosed_s": doc["all_diagnosed_s"],
        "engine_ms_per_log": doc["failure"].get("engine_ms_per_log_mean"),
        "full_collections": gen2["collections"],
        "full_collection_max_ms": gen2["max_ms"],
        "peak_rss_mib": doc["peak_rss_mib"],
        "llm_calls": doc["llm_calls"],
        "causes": doc["causes"],
        "package": doc["config"]["package"],
    }


def run(package_root: Path | None, args: list[str]) -> dict[str, Any]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    if package_root is not None:  # the scale bench puts it first on its path
        env["MANAGER_SCALE_PACKAGE"] = str(package_root)
    proc = subprocess.run(
        [sys.executable, str(SCALE), *args], env=env, capture_output=True, text=True, cwd=ROOT
    )
    if proc.returncode != 0:
        raise SystemExit(f"manager_scale.py failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    doc = figures(json.loads(proc.stdout))
    expected = (package_root or ROOT) / "adaptive_llm"
    if Path(doc["package"]).resolve() != expected.resolve():
        raise SystemExit(f"imported {doc['package']}, not {expected}")
    return doc


def median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(float(r[key]) for r in runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", default="007f706", help="the other commit (default 007f706)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("scale_args", nargs="*", help="arguments for manager_scale.py")
    args = parser.parse_args()
    sides: dict[str, list[dict[str, Any]]] = {"this": [], "ref": []}
    with tempfile.TemporaryDirectory(prefix="manager-ab-") as tmp:
        other = extract(args.ref, Path(tmp))
        for round_ in range(args.rounds):
            order = ["this", "ref"] if round_ % 2 == 0 else ["ref", "this"]
            for side in order:
                print(f"[manager_ab] round {round_ + 1}: {side}", file=sys.stderr, flush=True)
                root = None if side == "this" else other
                sides[side].append(run(root, args.scale_args))
    keys = ["max_lag_ms", "all_diagnosed_s", "full_collections", "peak_rss_mib"]
    medians = {side: {k: median(runs, k) for k in keys} for side, runs in sides.items()}
    out = {
        "ref": args.ref,
        "args": args.scale_args,
        "runs": sides,
        "median": medians,
        "ratio_this_over_ref": {
            k: round(medians["this"][k] / medians["ref"][k], 3) if medians["ref"][k] else None
            for k in keys
        },
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
