#!/usr/bin/env python3
"""Measure the chat's ``run_command`` (``run_shell``): huge output, escaped children, overhead.

What it measures
    * ``huge_output``: a command printing ``--size`` bytes (default 1 GB of
      ``0123456789\\n`` lines: ``yes 0123456789 | head -c SIZE``) through ``run_shell``. Wall
      time; the calling process's memory (its peak resident growth, sampled every 5 ms, and
      ``VmHWM`` before and after); the wrapper's peak RSS (its ``VmHWM``, sampled while it
      runs); the event loop's lag meanwhile (a probe sleeping 10 ms in a loop). Baselines in
      the same run: ``sh -c 'CMD > /dev/null'`` and ``sh -c 'CMD | cat > /dev/null'`` (the cost
      of a pipe alone), wall time from ``os.wait4``. Best of ``--repeat`` runs (warm caches).
    * ``setsid``: ``setsid sleep 25 & echo started`` with a 2 s timeout (issue #12: the
      escaped child held the chat 25 s): the return time, and whether the sleep is gone.
    * ``setsid_timeout``: the same while the command itself runs into its 2 s timeout
      (``...; sleep 30``): the return time.
    * ``storm``: 127 processes, each in a session of its own, ignoring TERM and HUP, each
      restarting its children when they die; the command ends after 1 s: the return time past
      that second, processes killed, and whether any is left.
    * ``overhead``: ``true`` through ``run_shell`` against ``sh -c true`` started with
      asyncio (median of 20): what the wrapper process costs per command.

Run
    .venv/bin/python bench/commands.py [--size 1GB] [--repeat 3] [--case huge_output ...]

One JSON document on stdout; progress on stderr. Quick check: ``--size 50MB``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from adaptive_llm.chat.actions.command import COMMAND_KILL_GRACE, run_shell

UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30}


def parse_size(text: str) -> int:
    match = re.fullmatch(r"(\d+)\s*([a-z]*?)b?", text.strip().lower())
    if not match or match.group(2) not in UNITS:
        raise argparse.ArgumentTypeError(f"bad size: {text!r}")
    return int(match.group(1)) * UNITS[match.group(2)]


def say(message: str) -> None:
    print(f"[commands] {message}", file=sys.stderr, flush=True)


def status_kib(pid: int | str, field: str) -> int:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat.rpartition(b")")[2].split()[0] not in (b"Z", b"X")


class Sampler:
    """Every 5 ms: this process's RSS growth, and the peak RSS of its reaper children."""

    def __init__(self) -> None:
        self.base_kib = status_kib("self", "VmRSS")
        self.caller_peak_kib = 0
        self.wrapper_peak_kib = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = str(os.getpid())
        while not self._done.wait(0.005):
            grown = status_kib("self", "VmRSS") - self.base_kib
            self.caller_peak_kib = max(self.caller_peak_kib, grown)
            for name in os.listdir("/proc"):
                if not name.isdigit():
                    continue
                try:
                    stat = Path(f"/proc/{name}/stat").read_bytes()
                    if stat.rpartition(b")")[2].split()[1] != me.encode():
                        continue
                    if b"from reaper import main" not in Path(f"/proc/{name}/cmdline").read_bytes():
                        continue
                except (OSError, IndexError):
                    continue
                hwm = status_kib(name, "VmHWM")
                self.wrapper_peak_kib = max(self.wrapper_peak_kib, hwm)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()


class LagProbe:
    """The event loop's worst lateness, from a task sleeping 10 ms in a loop."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            t0 = time.perf_counter()
            await asyncio.sleep(0.01)
            self.worst = max(self.worst, time.perf_counter() - t0 - 0.01)

    def __enter__(self) -> LagProbe:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


def baseline(shell_command: str) -> float:
    """Wall seconds of ``sh -c shell_command`` (its status from ``os.wait4``)."""
    t0 = time.perf_counter()
    pid = os.posix_spawn("/bin/sh", ["sh", "-c", shell_command], os.environ)
    os.wait4(pid, 0)
    return time.perf_counter() - t0


async def huge_output(size: int, repeat: int, workdir: Path) -> dict[str, Any]:
    command = f"yes 0123456789 | head -c {size}"
    runs = []
    hwm_before = status_kib("self", "VmHWM")
    for i in range(repeat):
        with Sampler() as sampler, LagProbe() as probe:
            t0 = time.perf_counter()
            out = await run_shell(command, str(workdir), timeout=600)
            wall = time.perf_counter() - t0
        cut = re.search(r"\[\.\.\. (\d+) bytes cut \.\.\.\]", out)
        runs.append(
            {
                "wall_s": round(wall, 3),
                "caller_rss_growth_peak_mb": round(sampler.caller_peak_kib / 1024, 1),
                "wrapper_peak_rss_mb": round(sampler.wrapper_peak_kib / 1024, 1),
                "loop_lag_max_ms": round(probe.worst * 1000, 1),
                "answer_chars": len(out),
                "bytes_cut": int(cut.group(1)) if cut else 0,
                "status": out.rsplit("\n", 1)[-1],
            }
        )
        say(f"huge_output run {i + 1}: {runs[-1]}")
    hwm_after = status_kib("self", "VmHWM")
    devnull = min(baseline(f"{command} > /dev/null") for _ in range(repeat))
    pipe = min(baseline(f"{command} | cat > /dev/null") for _ in range(repeat))
    best = min(runs, key=lambda run: run["wall_s"])
    return {
        "size_bytes": size,
        "command": command,
        "run_shell": {
            "best_wall_s": best["wall_s"],
            "caller_rss_growth_peak_mb": max(r["caller_rss_growth_peak_mb"] for r in runs),
            "caller_vmhwm_mb_before_after": [
                round(hwm_before / 1024, 1),
                round(hwm_after / 1024, 1),
            ],
            "wrapper_peak_rss_mb": max(r["wrapper_peak_rss_mb"] for r in runs),
            "loop_lag_max_ms": max(r["loop_lag_max_ms"] for r in runs),
            "answer_chars": best["answer_chars"],
            "bytes_cut": best["bytes_cut"],
            "status": best["status"],
            "runs": runs,
        },
        "baseline_devnull_wall_s": round(devnull, 3),
        "baseline_pipe_wall_s": round(pipe, 3),
        "over_devnull": round(best["wall_s"] / devnull, 2),
        "over_pipe": round(best["wall_s"] / pipe, 2),
    }


async def escaped(workdir: Path, *, keep_running: bool) -> dict[str, Any]:
    command = "setsid sleep 25 & echo started $!" + ("; sleep 30" if keep_running else "")
    t0 = time.perf_counter()
    out = await run_shell(command, str(workdir), timeout=2)
    wall = time.perf_counter() - t0
    match = re.search(r"started (\d+)", out)
    pid = int(match.group(1)) if match else None
    return {
        "command": command,
        "timeout_s": 2,
        "kill_grace_s": COMMAND_KILL_GRACE,
        "return_s": round(wall, 3),
        "status": out.rsplit("\n", 1)[-1],
        "sleep_gone": pid is not None and not alive(pid),
    }


def marked(marker: str) -> list[int]:
    needle = f"BENCH_MARK={marker}".encode()
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                env = Path(f"/proc/{name}/environ").read_bytes()
            except OSError:
                continue
            if needle in env.split(b"\0") and alive(int(name)):
                found.append(int(name))
    return found


async def storm(workdir: Path) -> dict[str, Any]:
    marker = uuid.uuid4().hex
    script = workdir / "storm.sh"
    script.write_text(
        "trap '' TERM HUP\n"
        'd=$1; [ "$d" -gt 0 ] || exec sleep 30\n'
        f"while :; do setsid sh {script} $((d-1)) & setsid sh {script} $((d-1)) & wait; done\n"
    )
    command = f"export BENCH_MARK={marker}; setsid sh {script} 6 & sleep 1; echo done"
    t0 = time.perf_counter()
    out = await run_shell(command, str(workdir), timeout=30)
    wall = time.perf_counter() - t0
    left = marked(marker)
    for pid in left:  # the bench must not leave a storm behind, whatever happened
        os.kill(pid, 9)
    killed = re.search(r"killed (\d+) process", out)
    return {
        "processes": 127,
        "return_s_after_the_commands_1s": round(wall - 1.0, 3),
        "killed": int(killed.group(1)) if killed else 0,
        "left": len(left),
        "status": out.rsplit("\n", 1)[-1],
    }


async def overhead(workdir: Path, n: int = 20) -> dict[str, Any]:
    wrapped, plain = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        await run_shell("true", str(workdir), timeout=10)
        wrapped.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            "/bin/sh", "-c", "true", stdout=asyncio.subprocess.PIPE
        )
        await proc.communicate()
        plain.append(time.perf_counter() - t0)
    return {
        "run_shell_true_median_ms": round(statistics.median(wrapped) * 1000, 1),
        "plain_sh_true_median_ms": round(statistics.median(plain) * 1000, 1),
    }


CASES = ("huge_output", "setsid", "setsid_timeout", "storm", "overhead")


async def amain(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench_commands_") as tmp:
        workdir = Path(tmp)
        for name in args.case or CASES:
            say(f"{name} ...")
            if name == "huge_output":
                results[name] = await huge_output(args.size, args.repeat, workdir)
            elif name in ("setsid", "setsid_timeout"):
                results[name] = await escaped(workdir, keep_running=name == "setsid_timeout")
            elif name == "storm":
                results[name] = await storm(workdir)
            else:
                results[name] = await overhead(workdir)
            say(f"{name}: {json.dumps(results[name])[:300]}")
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size", type=parse_size, default=10**9, help="output size (default 1GB)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of huge_output and baselines")
    ap.add_argument("--case", choices=CASES, action="append")
    args = ap.parse_args(argv)
    if not sys.platform.startswith("linux"):
        sys.exit("commands: needs Linux (/proc, the subreaper)")
    results = asyncio.run(amain(args))
    doc = {
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "loadavg_1min_at_end": round(os.getloadavg()[0], 2),
        },
        "method": (
            "run_shell as the chat calls it, in this process's event loop; memory from "
            "/proc/<pid>/status sampled every 5 ms (caller: VmRSS growth over its value before "
            "the run; wrapper: VmHWM); baselines started with posix_spawn, timed to os.wait4; "
            "best wall of --repeat runs, page cache warm"
        ),
        "cases": results,
    }
    print(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
