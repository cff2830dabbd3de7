#!/usr/bin/env python3
"""Measure ``adaptive-llm diagnose`` on huge logs against ``grep -n -m1`` on the same file.

What it measures
    Four logs of ``--size`` bytes (default 1 GiB) are made on the fly in a temporary directory,
    one at a time, and deleted after their measurement:

    * ``end``: plausible noise (training progress lines, warnings, tqdm CR progress), then a
      Python traceback at the very end;
    * ``middle``: noise, a worker thread's traceback half-way, then noise to the end;
    * ``single_line``: one line of ``--size`` bytes (no newline), ending with an error message;
    * ``binary``: random bytes.

    For each log the whole command ``adaptive-llm diagnose PATH --json`` runs as a subprocess
    (wall time, and the peak RSS of that one child from ``os.wait4``), and so does the baseline
    ``grep -n -m1 ANCHOR PATH`` on the same file in the same run. Page caches cannot be dropped
    here, so each command runs once to warm up and then ``--repeat`` times (default 3); the best
    wall time is reported (peak RSS: the maximum over the measured runs). The report says
    whether the engine found the error (category, spans around the error's lines) and the goals
    of issue #3: error at the end <= 0.5 s wall and <= 150 MB RSS for the whole command; error in
    the middle <= 3x grep's time; and those of issue #17 (``goals_17``): <= 0.15 s and <= 50 MB
    at the end, <= 1.2x grep in the middle.

Run
    .venv/bin/python bench/huge_log.py [--size 1GiB] [--repeat 3] [--tmpdir DIR]
        [--case end --case middle ...] [--max-tokens 4000]

    Needs about ``--size`` free bytes in the temporary directory. One JSON document is printed
    on stdout; progress goes to stderr. Quick check: ``--size 64MiB``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
BLOCK = 1 << 20  # 1 MiB write buffers
GOAL_END_WALL_S = 0.5
GOAL_END_RSS_MB = 150.0
GOAL_MIDDLE_RATIO = 3.0
#: Issue #17's goals.
GOAL17_END_WALL_S = 0.15
GOAL17_END_RSS_MB = 50.0
GOAL17_MIDDLE_RATIO = 1.2

END_TRACEBACK = b"""Traceback (most recent call last):
  File "/home/user/project/train.py", line 42, in <module>
    main()
  File "/home/user/project/train.py", line 37, in main
    data = load(cfg.path)
  File "/home/user/project/data.py", line 12, in load
    with open(path) as f:
         ^^^^^^^^^^
FileNotFoundError: [Errno 2] No such file or directory: '/data/missing.csv'
"""

MIDDLE_TRACEBACK = b"""Exception in thread worker-3:
Traceback (most recent call last):
  File "/usr/lib/python3.11/threading.py", line 1045, in _bootstrap_inner
    self.run()
  File "/home/user/project/worker.py", line 88, in run
    batch = self.fetch(idx)
            ^^^^^^^^^^^^^^^
  File "/home/user/project/worker.py", line 61, in fetch
    return decode(raw)
           ^^^^^^^^^^^
ValueError: invalid literal for int() with base 10: 'abc'
"""

SINGLE_LINE_TAIL = b" RuntimeError: single-line failure: device lost"


def parse_size(text: str) -> int:
    """``1GiB``, ``64MiB``, ``512k``, ``1000000`` -> bytes (binary units)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", text, re.IGNORECASE)
    if not m:
        raise argparse.ArgumentTypeError(f"bad size: {text!r}")
    mult = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[m.group(2).lower()]
    return int(float(m.group(1)) * mult)


def noise_block(seed: int = 7, size: int = BLOCK) -> bytes:
    """About ``size`` bytes of plausible job output, whole lines, no failure words."""
    rng = random.Random(seed)
    out: list[bytes] = []
    n = 0
    step = 0
    while n < size:
        step += 1
        r = rng.random()
        ts = f"2024-05-01 12:{step // 3600 % 60:02d}:{step % 60:02d},{rng.randrange(1000):03d}"
        if r < 0.80:
            line = (
                f"{ts} INFO trainer: epoch {step // 5000} step {step}/50000 "
                f"loss={rng.uniform(0.1, 2.5):.4f} lr={rng.uniform(1e-5, 1e-3):.2e} "
                f"throughput={rng.uniform(50, 400):.1f} samples/s\n"
            )
        elif r < 0.90:
            done = rng.randrange(101)
            bar = "#" * (done // 10)
            line = (
                f"  {done:3d}%|{bar:<10}| {done * 10}/1000 [00:{done % 60:02d}<00:12, "
                f"{rng.uniform(10, 90):.1f}it/s]\r"
                f" 100%|##########| 1000/1000 [00:30<00:00, 33.3it/s]\n"
            )
        elif r < 0.97:
            line = (
                f"{ts} DEBUG dataloader: worker {rng.randrange(8)} prefetched batch "
                f"{step} from shard-{rng.randrange(1000):04d}.tar ({rng.randrange(10**6)} bytes)\n"
            )
        else:
            line = f"{ts} WARNING dataloader: slow batch {step}: {rng.uniform(0.5, 3):.2f}s\n"
        b = line.encode()
        out.append(b)
        n += len(b)
    return b"".join(out)


@dataclass
class LogFile:
    path: Path
    size: int
    anchor: str  # what grep looks for
    error_lines: tuple[int, int] | None  # \n-lines of the error (first, last), None: no error
    expect: str  # what the engine should say


def _write_noise(fh: Any, nbytes: int, block: bytes) -> int:
    """Write whole blocks (and a cut of one at a line end); return the lines written."""
    lines = 0
    full, rest = divmod(nbytes, len(block))
    per_block = block.count(b"\n")
    for _ in range(full):
        fh.write(block)
    lines += full * per_block
    if rest:
        cut = block.rfind(b"\n", 0, rest) + 1
        fh.write(block[:cut])
        lines += block[:cut].count(b"\n")
    return lines


def make_end(path: Path, size: int) -> LogFile:
    block = noise_block()
    with path.open("wb") as fh:
        lines = _write_noise(fh, max(0, size - len(END_TRACEBACK)), block)
        fh.write(END_TRACEBACK)
    n = END_TRACEBACK.count(b"\n")
    return LogFile(path, path.stat().st_size, "Traceback", (lines + 1, lines + n), "missing_file")


def make_middle(path: Path, size: int) -> LogFile:
    block = noise_block()
    with path.open("wb") as fh:
        lines = _write_noise(fh, size // 2, block)
        fh.write(MIDDLE_TRACEBACK)
        _write_noise(fh, max(0, size - size // 2 - len(MIDDLE_TRACEBACK)), noise_block(seed=8))
    n = MIDDLE_TRACEBACK.count(b"\n")
    return LogFile(
        path, path.stat().st_size, "Traceback", (lines + 1, lines + n), "python_exception"
    )


def make_single_line(path: Path, size: int) -> LogFile:
    unit = b"step=000123 loss=0.4321 lr=1.0e-04 acc=0.9876; "
    block = unit * (BLOCK // len(unit))
    body = max(0, size - len(SINGLE_LINE_TAIL))
    with path.open("wb") as fh:
        full, rest = divmod(body, len(block))
        for _ in range(full):
            fh.write(block)
        fh.write(block[:rest])
        fh.write(SINGLE_LINE_TAIL)
    return LogFile(path, path.stat().st_size, "RuntimeError", (1, 1), "no crash, bounded output")


def make_binary(path: Path, size: int) -> LogFile:
    block = random.Random(11).randbytes(BLOCK)
    with path.open("wb") as fh:
        full, rest = divmod(size, BLOCK)
        for _ in range(full):
            fh.write(block)
        fh.write(block[:rest])
    return LogFile(path, path.stat().st_size, "Traceback", None, "says binary, no crash")


CASES: dict[str, Callable[[Path, int], LogFile]] = {
    "end": make_end,
    "middle": make_middle,
    "single_line": make_single_line,
    "binary": make_binary,
}


@dataclass
class Run:
    wall_s: float
    cpu_s: float
    maxrss_mb: float
    returncode: int
    stdout: bytes
    stderr: bytes


#: GNU time reports the peak RSS of exactly its child. Without it, ``os.wait4`` gives the
#: child's own peak, but on Linux that includes the RSS the spawning Python had when it forked
#: (kept across exec), so a floor of ~20 MB; the floor is measured with ``true`` and reported.
GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
CAPTURE_LIMIT = 1 << 20


def run_measured(
    cmd: list[str], workdir: Path, capture: bool = False, env: dict[str, str] | None = None
) -> Run:
    """Run ``cmd``; wall time, CPU time (with its helper processes) and its peak RSS.

    With ``capture`` stdout goes through a pipe of which the first MiB is kept (``grep`` of a
    1 GiB line prints 1 GiB); otherwise to /dev/null.
    """
    rss_file = workdir / "rss.txt"
    full = [GNU_TIME, "-f", "%M", "-o", str(rss_file), *cmd] if GNU_TIME else cmd
    err_path = workdir / "cmd.err"
    kept = bytearray()
    with err_path.open("wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            full,
            stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        if proc.stdout is not None:
            while chunk := proc.stdout.read(1 << 16):
                if len(kept) < CAPTURE_LIMIT:
                    kept += chunk[: CAPTURE_LIMIT - len(kept)]
            proc.stdout.close()
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    maxrss_kib = float(usage.ru_maxrss)  # KiB on Linux
    if GNU_TIME:
        try:
            maxrss_kib = float(rss_file.read_text().split()[-1])
        except (OSError, ValueError, IndexError):
            maxrss_kib = float("nan")
    return Run(
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        maxrss_mb=maxrss_kib / 1024,
        returncode=proc.returncode,
        stdout=bytes(kept),
        stderr=err_path.read_bytes()[-4000:],
    )


def measure(
    cmd: list[str], workdir: Path, repeat: int, env: dict[str, str] | None = None
) -> tuple[Run, dict[str, Any]]:
    """One warm-up run (its output is kept and judged), then ``repeat`` measured runs."""
    warm = run_measured(cmd, workdir, capture=True, env=env)
    runs = [run_measured(cmd, workdir, env=env) for _ in range(max(1, repeat))]
    best = min(runs, key=lambda r: r.wall_s)
    return warm, {
        "best_wall_s": round(best.wall_s, 4),
        "walls_s": [round(r.wall_s, 4) for r in runs],
        "cpu_s_of_best": round(best.cpu_s, 3),
        "peak_rss_mb": round(max(r.maxrss_mb for r in runs), 1),
        "returncode": best.returncode,
    }


def engine_command() -> list[str]:
    """``adaptive-llm`` next to this interpreter, else on PATH, else ``python -m``."""
    local = Path(sys.executable).parent / "adaptive-llm"
    if local.exists():
        return [str(local)]
    found = shutil.which("adaptive-llm")
    if found:
        return [found]
    return [sys.executable, "-m", "adaptive_llm.cli"]


def check_engine(cmd: list[str]) -> None:
    """Exit with a clear message when the engine's CLI cannot run at all."""
    try:
        proc = subprocess.run(
            [*cmd, "diagnose", "--help"], capture_output=True, timeout=60, cwd=REPO_ROOT
        )
    except OSError as exc:
        sys.exit(f"huge_log: cannot run {cmd}: {exc}")
    if proc.returncode != 0:
        sys.exit(
            f"huge_log: `{' '.join(cmd)} diagnose --help` failed (exit {proc.returncode}); "
            "is the engine/CLI there (adaptive_llm/cli.py, `pip install -e .`)?\n"
            + proc.stderr.decode("utf-8", "replace")[-2000:]
        )


def judge(log: LogFile, run: Run) -> dict[str, Any]:
    """What the engine said, and whether its spans hold the error's lines."""
    text = run.stdout.decode("utf-8", "replace").strip()
    out: dict[str, Any] = {"stdout_bytes": len(run.stdout)}
    if run.returncode != 0 or not text:
        out["stderr_tail"] = run.stderr.decode("utf-8", "replace")[-800:]
    try:
        d = json.loads(text.splitlines()[0]) if text else None
    except json.JSONDecodeError:
        d = None
        out["stdout_head"] = text[:300]
    if not isinstance(d, dict):
        out["found"] = False
        return out
    spans = [(int(a), int(b)) for a, b in (d.get("excerpt") or {}).get("spans", [])]
    out.update(
        category=d.get("category"),
        error_type=d.get("error_type"),
        summary=str(d.get("summary"))[:200],
        location=d.get("location") and {k: d["location"].get(k) for k in ("file", "line")},
        tokens=d.get("tokens"),
        elapsed_ms=d.get("elapsed_ms"),
        spans=spans[:20],
    )
    if log.error_lines is not None:
        first, last = log.error_lines
        covered = [ln for ln in (first, last) if any(a <= ln <= b for a, b in spans)]
        out["error_lines"] = [first, last]
        out["found"] = len(covered) == 2
    else:
        out["found"] = None
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size", type=parse_size, default=1 << 30, help="log size (default 1GiB)")
    ap.add_argument("--repeat", type=int, default=3, help="measured runs after one warm-up")
    ap.add_argument("--tmpdir", type=Path, default=None)
    ap.add_argument("--case", choices=list(CASES), action="append")
    ap.add_argument("--max-tokens", type=int, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the generated logs")
    ap.add_argument(
        "--engine-cmd",
        default=None,
        help="engine command prefix, split on spaces (default: adaptive-llm of this venv)",
    )
    args = ap.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    base = args.engine_cmd.split() if args.engine_cmd else engine_command()
    check_engine(base)
    grep = shutil.which("grep")
    if grep is None:
        sys.exit("huge_log: grep not found")

    floor = run_measured(["true"], Path(tempfile.gettempdir())).maxrss_mb
    # As an installed package: bytecode cached by the warm-up run, read by the measured runs
    # (a PYTHONDONTWRITEBYTECODE environment would otherwise recompile every module each run).
    engine_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cases = args.case or list(CASES)
    results: dict[str, Any] = {}
    tmp = Path(tempfile.mkdtemp(prefix="huge_log_", dir=args.tmpdir))
    engine_env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    try:
        for name in cases:
            t0 = time.perf_counter()
            lf = CASES[name](tmp / f"{name}.log", args.size)
            gen_s = time.perf_counter() - t0
            log(f"{name}: generated {lf.size / 2**20:.0f} MiB in {gen_s:.1f}s; measuring ...")
            cmd = [*base, "diagnose", str(lf.path), "--json"]
            if args.max_tokens:
                cmd += ["--max-tokens", str(args.max_tokens)]
            eng_run, eng = measure(cmd, tmp, args.repeat, engine_env)
            eng.update(judge(lf, eng_run))
            grep_run, grp = measure([grep, "-n", "-m1", lf.anchor, str(lf.path)], tmp, args.repeat)
            grp["output"] = grep_run.stdout.decode("utf-8", "replace")[:120].strip()
            ratio = eng["best_wall_s"] / grp["best_wall_s"] if grp["best_wall_s"] else None
            res: dict[str, Any] = {
                "size_bytes": lf.size,
                "generate_s": round(gen_s, 1),
                "expect": lf.expect,
                "engine": eng,
                "grep": grp,
                "engine_over_grep": round(ratio, 2) if ratio is not None else None,
            }
            if name == "end":
                res["goals"] = {
                    "wall_le_0.5s": eng["best_wall_s"] <= GOAL_END_WALL_S,
                    "rss_le_150MB": eng["peak_rss_mb"] <= GOAL_END_RSS_MB,
                    "found": eng.get("found"),
                }
                res["goals_17"] = {
                    "wall_le_0.15s": eng["best_wall_s"] <= GOAL17_END_WALL_S,
                    "rss_le_50MB": eng["peak_rss_mb"] <= GOAL17_END_RSS_MB,
                }
            elif name == "middle":
                res["goals"] = {
                    "le_3x_grep": ratio is not None and ratio <= GOAL_MIDDLE_RATIO,
                    "found": eng.get("found"),
                }
                res["goals_17"] = {
                    "le_1.2x_grep": ratio is not None and ratio <= GOAL17_MIDDLE_RATIO,
                }
            results[name] = res
            log(
                f"  engine {eng['best_wall_s']:.3f}s {eng['peak_rss_mb']:.0f}MB "
                f"category={eng.get('category')} found={eng.get('found')} | "
                f"grep {grp['best_wall_s']:.3f}s {grp['peak_rss_mb']:.0f}MB"
            )
            if not args.keep:
                lf.path.unlink()
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            log(f"kept logs in {tmp}")

    doc = {
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "loadavg_1min_at_end": round(os.getloadavg()[0], 2),
        },
        "command": [*base, "diagnose", "PATH", "--json"],
        "baseline": "grep -n -m1 ANCHOR PATH",
        "method": (
            f"page cache warm (cannot drop caches): 1 warm-up run, then best wall of "
            f"{args.repeat}; stdout to /dev/null in measured runs; peak RSS = max over the "
            f"measured runs, of the command alone; CPU = user + system of the command and its "
            f"helper processes; the engine's bytecode is cached by the warm-up run "
            f"(PYTHONPYCACHEPREFIX), as for an installed package"
        ),
        "rss_tool": "GNU time %M" if GNU_TIME else "os.wait4 ru_maxrss (includes the floor)",
        "rss_floor_mb_of_true": round(floor, 1),
        "size_bytes": args.size,
        "goals": {
            "end": f"<= {GOAL_END_WALL_S} s wall, <= {GOAL_END_RSS_MB:.0f} MB RSS",
            "middle": f"<= {GOAL_MIDDLE_RATIO:.0f}x grep wall",
        },
        "goals_17": {
            "end": f"<= {GOAL17_END_WALL_S} s wall, <= {GOAL17_END_RSS_MB:.0f} MB RSS",
            "middle": f"<= {GOAL17_MIDDLE_RATIO}x grep wall",
        },
        "cases": results,
    }
    print(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
