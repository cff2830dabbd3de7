#!/usr/bin/env python3
"""The job table and ``adaptive-llm status`` with 100,000 jobs, kernel side.

What runs
    The real ``RunManager`` (JobManager, LLMManager, SQLite store, offline diagnoses in worker
    processes) on a temporary workdir with ``--jobs`` jobs, driven by an in-process scheduler
    double (every submit accepted at once, polls answered from memory, as ``squeue`` would).
    ``--fail`` of them fail with small Python tracebacks of ``--causes`` bugs; the bench waits
    until all are diagnosed. Nothing of ours is mocked. The widgets are real ipywidgets
    objects; there is no browser, so what is measured is the kernel's side: building the
    widgets and their values (what would be sent), not the front end's drawing.

Measures (one run)
    * ``first_render``: ``info(rm)`` (wall time, widgets created, RSS grown);
    * ``update_1000``: 1,000 running jobs complete (the first page's among them); after the
      poll that records them, one ``table.refresh()`` (the live task's work for that change;
      the live task is stopped first, so the refresh measured is the one that does it);
    * ``refresh_unchanged``, ``page_turn`` (to the middle page), ``filter_failed`` and
      ``find`` (a job's name typed in the find box): one refresh each;
    * ``status`` and ``status_json``: ``adaptive-llm status [--json] --workdir W`` as a
      subprocess after the run is closed: time to the first row, whole wall time, and the
      peak memory three ways: ``ru_maxrss`` of the command (``os.wait4`` in a small wrapper),
      its ``VmHWM`` read as it exits, tracemalloc's peak (a second run, traced; Python's
      allocations only). ``status_empty``, ``status_json_empty``: the same on a store with
      no jobs (the imports alone). The command runs with ``PYTHONSAFEPATH=1`` and reports
      the package it imported; the bench stops if that is not the tree it meant (run from
      the checkout, ``-m`` put the current directory first and the baseline was this code).
    * the baseline, in the same run: ``--baseline-ref`` (default ``1e67c0b``, the last commit
      before the paged table and the streamed status) is extracted with ``git archive``. Its
      ``status`` runs on the same 100,000-job workdir; its table (one row of widgets per job)
      runs in a child process at ``--baseline-jobs`` (default 5,000: at 100,000 it builds
      1.7 M widgets), next to this checkout's table at the same size, for ratios.

Run
    .venv/bin/python bench/job_table.py [--jobs 100000] [--fail 1000] [--causes 20]
        [--baseline-ref REF | --no-baseline] [--baseline-jobs 5000]

One JSON document on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
#: ``--package DIR`` (a child measuring another tree) is read before the package is imported.
if "--package" in sys.argv:
    PACKAGE_ROOT = Path(sys.argv[sys.argv.index("--package") + 1]).resolve()
else:
    PACKAGE_ROOT = REPO
sys.path.insert(0, str(PACKAGE_ROOT))

import ipywidgets.widgets.widget as widget_module  # type: ignore[import-untyped]  # noqa: E402

import adaptive_llm  # noqa: E402
from adaptive_llm import info  # noqa: E402
from adaptive_llm.jobs.model import Job, JobState  # noqa: E402
from adaptive_llm.jobs.schedulers.base import AttemptReport  # noqa: E402
from adaptive_llm.managers.run_manager import RunManager  # noqa: E402

# The scale bench's cluster double and helpers (it imports the package already imported here,
# so a child measuring another tree keeps that tree's code).
sys.path.insert(1, str(Path(__file__).resolve().parent))
from manager_scale import BenchScheduler, rss_bytes, until  # noqa: E402

PAGE = 50


def log(message: str) -> None:
    print(f"[job_table] {message}", file=sys.stderr, flush=True)


def traceback_text(cause: int, job: int) -> str:
    return (
        "epoch 1 step 10 loss 0.5\nTraceback (most recent call last):\n"
        f'  File "/home/u/proj/stage{cause}.py", line {10 + cause}, in run_{cause}\n'
        f"    value = table[key_{cause}]\n"
        f"KeyError: 'column_{cause}_{job}'\n"
    )


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return round((time.perf_counter() - t0) * 1000, 2)


async def table_figures(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    names = [f"job-{i:06d}" for i in range(args.jobs)]
    jobs = [Job(n, ["python", "train.py", "--seed", str(i)]) for i, n in enumerate(names)]
    failing = set(names[1 : 1 + 2 * args.fail : 2])  # some on the first page
    scheduler = BenchScheduler()
    rm = RunManager(jobs, workdir=workdir, scheduler=scheduler, poll_interval=0.2)
    jm, lm = rm.job_manager, rm.llm_manager
    log(f"{args.jobs} jobs: submitting")
    rm.start()
    await until(lambda: sum(bool(a.scheduler_id) for a in jm.attempts.values()) == args.jobs,
                600, "submissions")  # fmt: skip
    scheduler.start_all()
    ids = {name: sid for sid, (name, _) in scheduler.requests.items()}
    for name, log_path in scheduler.requests.values():
        if name in failing:
            path = Path(log_path)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(traceback_text(int(name[4:]) % args.causes, int(name[4:])))  # noqa: ASYNC240
    scheduler.fail([ids[name] for name in failing])
    log(f"{len(failing)} failures: diagnosing")
    await until(lambda: all(lm.cached(n) is not None for n in failing), 600, "diagnoses")

    figures: dict[str, Any] = {"jobs": args.jobs, "failures": len(failing)}
    gc.collect()
    widgets0, rss0 = len(widget_module._instances), rss_bytes()
    made: list[Any] = []
    figures["first_render_ms"] = timed(lambda: made.append(info(rm)))
    table = made[0]
    figures["widgets_created"] = len(widget_module._instances) - widgets0
    figures["rss_grown_mib"] = round((rss_bytes() - rss0) / 2**20, 1)
    table._loop_task.cancel()  # the refreshes measured are the ones below
    await asyncio.sleep(0)

    # 1,000 running jobs complete, the first page's running ones among them.
    running = [n for n in names if n not in failing]
    done = set(running[:1000])
    completed = AttemptReport(JobState.COMPLETED, exit_code=0, ended_at=time.time())
    for name in done:
        scheduler.status[ids[name]] = completed
    await until(lambda: all(jm.attempts[n].state is JobState.COMPLETED for n in done), 60,
                "the update")  # fmt: skip
    figures["update_1000_ms"] = timed(table.refresh)
    shown = {name: row for name, row in table.rows.items() if name in done}
    if hasattr(table, "page"):
        shown = {name: row for name, row in shown.items() if name in list(table.rows)[:PAGE]}
    figures["update_checked"] = bool(shown) and all(
        "COMPLETED" in row.cells[1].value for row in shown.values()
    )
    figures["refresh_unchanged_ms"] = timed(table.refresh)
    if hasattr(table, "go"):
        figures["page_turn_ms"] = timed(lambda: table.go(args.jobs // PAGE // 2))
        figures["filter_failed_ms"] = timed(lambda: setattr(table.filter, "value", "failed"))
        table.filter.value = "all"
        figures["find_ms"] = timed(lambda: setattr(table.find, "value", names[args.jobs // 2]))
        figures["find_checked"] = list(table.rows) == [names[args.jobs // 2]]
    else:  # the old table: a filter shows or hides every row
        figures["filter_failed_ms"] = timed(lambda: setattr(table.filter, "value", "failed"))
    table.close()
    await rm.close()
    return figures


#: Runs the command from a small process and reports its peak RSS as the kernel counted it
#: (``ru_maxrss`` of ``os.wait4``): a child forked from this 250 MB bench would count this
#: bench's pages until its exec, this wrapper's 9 MB are below any command's.
_WRAPPER = (
    "import os, sys\n"
    "pid = os.spawnv(os.P_NOWAIT, sys.argv[1], sys.argv[1:])\n"
    "_, status, usage = os.wait4(pid, 0)\n"
    "sys.stderr.write('maxrss=%d exit=%d' % (usage.ru_maxrss, os.waitstatus_to_exitcode(status)))\n"
)

#: The command itself (``python -c _COMMAND status ...``), which writes to the file named by
#: ``$JOB_TABLE_REPORT``, as it exits: the package it imported, its ``VmHWM`` from
#: ``/proc/self/status`` and, when run with ``PYTHONTRACEMALLOC=1``, tracemalloc's peak.
_COMMAND = """
import atexit, json, os, runpy, sys, tracemalloc

def report():
    import adaptive_llm
    out = {"package": os.path.dirname(adaptive_llm.__file__)}
    try:
        with open("/proc/self/status") as fh:
            out["vmhwm_kib"] = next(int(l.split()[1]) for l in fh if l.startswith("VmHWM:"))
    except (OSError, StopIteration):
        pass
    if tracemalloc.is_tracing():
        out["tracemalloc_peak"] = tracemalloc.get_traced_memory()[1]
    with open(os.environ["JOB_TABLE_REPORT"], "w") as fh:
        json.dump(out, fh)

atexit.register(report)
sys.argv[0] = "adaptive-llm"
runpy.run_module("adaptive_llm.cli", run_name="__main__", alter_sys=True)
"""


def _command(
    workdir: Path, package: Path, as_json: bool, *, trace: bool
) -> tuple[subprocess.Popen[bytes], Path]:
    report = Path(tempfile.mkstemp(prefix="job_table-report-")[1])
    # PYTHONSAFEPATH: the current directory (this checkout, when the bench runs from it)
    # must not come before PYTHONPATH, or every tree measured is this one.
    env = {**os.environ, "PYTHONPATH": str(package), "PYTHONSAFEPATH": "1",
           "JOB_TABLE_REPORT": str(report)}  # fmt: skip
    env.pop("PYTHONTRACEMALLOC", None)
    if trace:
        env["PYTHONTRACEMALLOC"] = "1"
    argv = [sys.executable, "-c", _COMMAND, "status", "--workdir", str(workdir)]
    proc = subprocess.Popen(
        [sys.executable, "-S", "-c", _WRAPPER, *argv, *(["--json"] if as_json else [])],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    return proc, report


def _read_report(report: Path, package: Path) -> dict[str, Any]:
    try:
        found: dict[str, Any] = json.loads(report.read_text() or "{}")
    finally:
        report.unlink(missing_ok=True)
    imported = found.get("package")
    if imported is None or Path(imported).resolve() != (package / "adaptive_llm").resolve():
        raise SystemExit(f"job_table: status imported {imported}, not {package}/adaptive_llm")
    return found


def status_figures(workdir: Path, package: Path, as_json: bool) -> dict[str, Any]:
    """``adaptive-llm status`` of ``package`` on ``workdir``: first row, whole, and its peak
    memory three ways: the kernel's ``ru_maxrss`` (``os.wait4``), ``VmHWM`` read by the
    command as it exits, and tracemalloc's peak (Python's allocations only, imports
    included; a second run, traced)."""
    t0 = time.perf_counter()
    proc, report = _command(workdir, package, as_json, trace=False)
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    first_s = time.perf_counter() - t0
    if as_json:  # the first row, not the document's opening line
        first += proc.stdout.readline()
        first_s = time.perf_counter() - t0
    size = len(first)
    while chunk := proc.stdout.read(1 << 20):
        size += len(chunk)
    wrapper = proc.stderr.read().decode(errors="replace").rsplit("maxrss=", 1)[-1].split()
    proc.wait()
    wall_s = time.perf_counter() - t0
    found = _read_report(report, package)

    traced, report = _command(workdir, package, as_json, trace=True)
    traced.communicate()
    peak = _read_report(report, package).get("tracemalloc_peak")
    return {
        "first_row_s": round(first_s, 3),
        "wall_s": round(wall_s, 3),
        "peak_rss_mib": round(int(wrapper[0]) / 1024, 1),
        "vmhwm_mib": round(found["vmhwm_kib"] / 1024, 1) if "vmhwm_kib" in found else None,
        "tracemalloc_peak_mib": None if peak is None else round(peak / 2**20, 1),
        "bytes": size,
        "exit": int(wrapper[1].removeprefix("exit=")),
        "package": found["package"],
    }


def empty_store(into: Path) -> Path:
    """A workdir whose store records no jobs: what ``status`` costs for its imports alone."""
    from adaptive_llm.store import Store
    from adaptive_llm.store.layout import Layout

    Store(Layout.of(into).store).close()
    return into


def extract(ref: str, into: Path) -> Path:
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref, "adaptive_llm"],
                             check=True, capture_output=True).stdout  # fmt: skip
    tar = into / "tree.tar"
    tar.write_bytes(archive)
    with tarfile.open(tar) as fh:
        fh.extractall(into / "tree", filter="data")
    return into / "tree"


def child(package: Path, jobs: int, args: argparse.Namespace) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--child", "--package", str(package), "--jobs", str(jobs),
            "--fail", str(min(args.fail, jobs // 4)), "--causes", str(args.causes)]  # fmt: skip
    out = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=1800).stdout
    return dict(json.loads(out))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--fail", type=int, default=1_000)
    parser.add_argument("--causes", type=int, default=20)
    parser.add_argument("--baseline-ref", default="1e67c0b")
    parser.add_argument("--baseline-jobs", type=int, default=5_000)
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--package", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.jobs < 2 * PAGE or not 0 < args.fail <= args.jobs // 4 or args.causes < 1:
        parser.error("need --jobs >= 100, 0 < --fail <= jobs/4, --causes >= 1")
    return args


def main() -> int:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="job_table-") as tmp:
        work = Path(tmp) / "work"
        figures = asyncio.run(table_figures(args, work))
        if args.child:
            print(json.dumps(figures))
            return 0
        out: dict[str, Any] = {
            "config": {
                "jobs": args.jobs,
                "failures": args.fail,
                "causes": args.causes,
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "package": str(Path(adaptive_llm.__file__).parent),
                "baseline_ref": None if args.no_baseline else args.baseline_ref,
            },
            "table": figures,
        }
        log("adaptive-llm status")
        out["status"] = status_figures(work, REPO, as_json=False)
        out["status_json"] = status_figures(work, REPO, as_json=True)
        empty = empty_store(Path(tmp) / "empty")
        out["status_empty"] = status_figures(empty, REPO, as_json=False)
        out["status_json_empty"] = status_figures(empty, REPO, as_json=True)
        if not args.no_baseline:
            old = extract(args.baseline_ref, Path(tmp))
            log(f"the baseline ({args.baseline_ref}): status, and the table at "
                f"{args.baseline_jobs} jobs")  # fmt: skip
            base_status = status_figures(work, old, as_json=False)
            base_json = status_figures(work, old, as_json=True)
            base_empty = status_figures(empty, old, as_json=False)
            now_small = child(REPO, args.baseline_jobs, args)
            old_small = child(old, args.baseline_jobs, args)
            out["baseline"] = {
                "status": base_status,
                "status_json": base_json,
                "status_empty": base_empty,
                "table_now": now_small,
                "table_before": old_small,
            }
            out["ratios"] = {
                "status_first_row": _ratio(
                    out["status"]["first_row_s"], base_status["first_row_s"]
                ),
                "status_wall": _ratio(out["status"]["wall_s"], base_status["wall_s"]),
                "status_rss": _ratio(out["status"]["peak_rss_mib"], base_status["peak_rss_mib"]),
                "status_json_rss": _ratio(
                    out["status_json"]["peak_rss_mib"], base_json["peak_rss_mib"]
                ),
                "status_tracemalloc": _ratio(
                    out["status"]["tracemalloc_peak_mib"], base_status["tracemalloc_peak_mib"]
                ),
                "status_json_tracemalloc": _ratio(
                    out["status_json"]["tracemalloc_peak_mib"], base_json["tracemalloc_peak_mib"]
                ),
                f"first_render_at_{args.baseline_jobs}": _ratio(
                    now_small["first_render_ms"], old_small["first_render_ms"]
                ),
                f"update_1000_at_{args.baseline_jobs}": _ratio(
                    now_small["update_1000_ms"], old_small["update_1000_ms"]
                ),
                f"widgets_at_{args.baseline_jobs}": _ratio(
                    now_small["widgets_created"], old_small["widgets_created"]
                ),
            }
        out["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(out, indent=2))
    return 0


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


if __name__ == "__main__":
    sys.exit(main())
