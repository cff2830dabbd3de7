#!/usr/bin/env python3
"""Measure the chat's ``search`` tool on a large tree against ``grep -rn`` on the same tree.

What it measures
    A tree of ``--files`` text files (default 10,000 in 100 directories) totalling ``--size``
    bytes (default 1 GiB) is written to a temporary directory and deleted after the run. File
    sizes are uniform between 1 KiB and twice the mean (about 210 KiB for the defaults), so
    every file is under the search's 1 MiB read limit and both tools read every byte. The
    text is plausible source code and logs whose vocabulary never contains ``ab`` (so the
    pathological pattern below has no match), plus:

    * 50 files with one ``NEEDLE_RARE <n>`` line each (the "rare" patterns: 50 matches,
      under the search's 200-match limit, so it reads the whole tree as grep does);
    * 20 files with lines of ``"a" * 999 + "!"`` (the input of issue #12).

    Each case times ``Workspace.search`` (in this process, on its event loop, with a ticker
    task measuring the longest time the loop went without running it) and ``grep -rn`` (with
    ``-F`` for literals, ``-E`` for regexes, in the same ERE text) as a subprocess, in the same
    run. Page caches cannot be dropped here: one warm-up run each, then the best of
    ``--repeat``. Cases: literal and regex with no match (the whole tree is read), literal and
    regex with 50 matches (same), the pathological ``(a{1,16}){1,16}b``, and a capped case
    (ours stops at 200 matches; grep reads everything: not a like-for-like figure). An
    ``adversarial`` case searches a separate 2 MiB tree of lines of ``c`` then random ``a``/``b``
    text with a pattern that drives RE2 from its DFA to its NFA (tens of KiB/s): ours must
    stop at its deadline and say why; grep gets ``--grep-timeout`` seconds.

    The ``gil`` section runs one slow RE2 match call and one slow Python ``re`` match (a
    backtracking one that stays under a second) in a worker thread while the event loop ticks,
    and reports the longest gap of the loop: whether the call holds the GIL.

Run
    .venv/bin/python bench/search.py [--files 10000] [--size 1GiB] [--repeat 3]
        [--tmpdir DIR] [--case NAME ...] [--keep]

    Needs about ``--size`` free bytes in the temporary directory (under /tmp by default). One
    JSON document is printed on stdout; progress goes to stderr. Quick check:
    ``--files 1000 --size 64MiB --repeat 1``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import json
import os
import platform
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import re2  # type: ignore[import-untyped]

import adaptive_llm
from adaptive_llm.chat.workspace import Workspace
from adaptive_llm.chat.workspace import search as search_mod

KIB = 1 << 10
READ_LIMIT = 1 << 20  # Workspace's default max_read_bytes
PATHOLOGICAL = "(a{1,16}){1,16}b"
ADVERSARIAL = "([ab]{0,30}a[ab]{0,30}){30}c"

#: name -> (pattern, grep flag, path under the tree, comparable with grep)
CASES: dict[str, tuple[str, str, str, bool]] = {
    "literal_none": ("zq_no_such_token", "-F", ".", True),
    "literal_rare": ("NEEDLE_RARE", "-F", ".", True),
    "regex_none": ("[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:,]+ FATAL", "-E", ".", True),
    "regex_rare": ("NEEDLE_[A-Z]+ [0-9]+$", "-E", ".", True),
    "pathological": (PATHOLOGICAL, "-E", ".", True),
    "capped": ("loss=[0-9.]+", "-E", ".", False),
    "adversarial": (ADVERSARIAL, "-E", "../ab", False),
}

WORDS = (  # noqa: SIM905
    "def return import from class self value index count total train model epoch step "
    "loss rate batch worker shard config path file open read write data result error "
    "warning info debug output input queue thread process memory device cuda tensor "
    "float int str list dict none true false yield async await lambda assert raise try "
    "except finally with print format items keys update append extend sorted range len"
).split()


def parse_size(text: str) -> int:
    """``1GiB``, ``64MiB``, ``512k``, ``1000000`` -> bytes (binary units)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", text, re.IGNORECASE)
    if not m:
        raise argparse.ArgumentTypeError(f"bad size: {text!r}")
    mult = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[m.group(2).lower()]
    return int(float(m.group(1)) * mult)


def corpus(seed: int = 7, size: int = 4 << 20) -> bytes:
    """About ``size`` bytes of source-like and log-like lines; ``ab`` never occurs."""
    rng = random.Random(seed)
    assert not any("ab" in w for w in WORDS)
    out: list[str] = []
    n = 0
    step = 0
    while n < size:
        step += 1
        r = rng.random()
        if r < 0.45:
            ws = rng.sample(WORDS, rng.randint(3, 9))
            line = (
                " " * (4 * rng.randint(0, 3))
                + f"{ws[0]} = {'_'.join(ws[1:3])}({', '.join(ws[3:])})"
            )
        elif r < 0.85:
            ts = f"2024-05-01 12:{step // 60 % 60:02d}:{step % 60:02d},{rng.randrange(1000):03d}"
            lvl = rng.choice(["INFO", "INFO", "DEBUG", "WARNING"])
            line = (
                f"{ts} {lvl} trainer: epoch {step // 5000} step {step} "
                f"loss={rng.uniform(0.1, 2.5):.4f} lr={rng.uniform(1e-5, 1e-3):.2e}"
            )
        else:
            line = "# " + " ".join(rng.choices(WORDS, k=rng.randint(4, 14)))
        line += "\n"
        out.append(line)
        n += len(line)
    text = "".join(out).encode()
    assert b"ab" not in text and b"FATAL" not in text and b"NEEDLE" not in text
    return text


def build_tree(root: Path, files: int, total: int, seed: int = 11) -> dict[str, Any]:
    """The main tree: ``files`` files of sizes uniform in [1 KiB, 2 x mean - 1 KiB]."""
    rng = random.Random(seed)
    block = corpus()
    mean = total // files
    top = max(KIB + 1, min(2 * mean - KIB, READ_LIMIT - 4 * KIB))
    written = 0
    needles = patho = 0
    per_dir = 100
    for i in range(files):
        d = root / f"pkg{i // per_dir:03d}"
        if i % per_dir == 0:
            d.mkdir(parents=True, exist_ok=True)
        size = rng.randint(KIB, top)
        start = rng.randrange(0, len(block) - size - 1)
        start = block.rfind(b"\n", 0, start) + 1
        end = block.find(b"\n", start + size)
        body = block[start : end + 1 if end >= 0 else len(block)]
        extra = b""
        if i % 200 == 0:
            extra += f"NEEDLE_RARE {i}\n".encode()
            needles += 1
        if i % 500 == 7:
            extra += (b"a" * 999 + b"!\n") * 3
            patho += 1
        mid = body.find(b"\n", len(body) // 2) + 1
        data = body[:mid] + extra + body[mid:]
        (d / f"mod{i % per_dir:03d}.{'py' if i % 3 else 'log'}").write_bytes(data)
        written += len(data)
    return {"files": files, "bytes": written, "needle_files": needles, "issue12_files": patho}


def build_ab(root: Path, seed: int = 13) -> int:
    rng = random.Random(seed)
    root.mkdir(parents=True)
    n = 0
    for i in range(2):
        # a "c" first on each line: the pattern's last literal is everywhere, so grep cannot
        # skip the lines by looking for it, and nothing matches
        lines = ["c" + "".join(rng.choice("ab") for _ in range(4000)) for _ in range(256)]
        data = ("\n".join(lines) + "\n").encode()
        (root / f"ab{i}.txt").write_bytes(data)
        n += len(data)
    return n


async def ticking(work: Callable[[], Awaitable[Any]], period: float = 0.005) -> tuple[Any, float]:
    """``await work()`` while a task ticks every ``period``: (result, longest gap in s)."""
    gaps = [0.0]
    done = asyncio.Event()

    async def tick() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(period)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(tick())
    await asyncio.sleep(0)
    try:
        result = await work()
    finally:
        done.set()
        await task  # its last tick measures the gap that ends when the work does
    return result, max(gaps)


def run_ours(ws: Workspace, pattern: str, path: str, repeat: int) -> dict[str, Any]:
    async def one() -> tuple[str, float, float]:
        t0 = time.perf_counter()
        out, gap = await ticking(lambda: ws.search(pattern, path))
        return out, time.perf_counter() - t0, gap

    warm = asyncio.run(one())
    runs = [asyncio.run(one()) for _ in range(max(1, repeat))]
    best = min(runs, key=lambda r: r[1])
    head = warm[0].splitlines()[0]
    return {
        "best_wall_s": round(best[1], 3),
        "walls_s": [round(r[1], 3) for r in runs],
        "matches": len(warm[0].splitlines()) - 1,
        "header": head[:300],
        "max_loop_gap_ms": round(1000 * max(r[2] for r in [warm, *runs]), 1),
    }


def run_grep(
    grep: str, flag: str, pattern: str, where: Path, repeat: int, timeout: float
) -> dict[str, Any]:
    cmd = [grep, "-rn", flag, "--", pattern, "."]

    def one() -> tuple[float, int, int | None]:
        """(wall, lines printed, exit code or None when killed at ``timeout``)."""
        t0 = time.perf_counter()
        lines = 0
        proc = subprocess.Popen(cmd, cwd=where, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert proc.stdout is not None
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            while chunk := proc.stdout.read(1 << 16):
                lines += chunk.count(b"\n")
            code = proc.wait()
        finally:
            killer.cancel()
            proc.stdout.close()
        wall = time.perf_counter() - t0
        return wall, lines, None if code == -9 else code

    warm = one()
    runs = [warm] if warm[2] is None else [one() for _ in range(max(1, repeat))]
    best = min(runs, key=lambda r: r[0])
    return {
        "command": " ".join(["grep", "-rn", flag, repr(pattern), "."]),
        "best_wall_s": round(best[0], 3),
        "walls_s": [round(r[0], 3) for r in runs],
        "matches": warm[1] if warm[2] is not None else None,
        "returncode": best[2],
        "timed_out": warm[2] is None,
    }


def gil_probe() -> dict[str, Any]:
    """The loop's longest gap while a worker thread runs one slow match call of each engine."""
    opts = re2.Options()
    opts.log_errors = False
    opts.never_capture = True
    opts.max_mem = 8 << 20
    rng = random.Random(5)
    text = bytes(rng.choice(b"ab") for _ in range(48 * KIB))
    slow_re2 = re2.compile("(?:[ab]{0,30}a[ab]{0,30}){30}c", opts)
    n = 18
    backtrack = re.compile("(a|aa)*c")  # fixed input below: exponential in n, no model input
    while n < 40:  # the Python re case: grow until one match takes >= 0.3 s
        t0 = time.perf_counter()
        backtrack.search("a" * n)
        if time.perf_counter() - t0 >= 0.3:
            break
        n += 1

    def measure(label: str, call: Callable[[], object]) -> dict[str, Any]:
        async def work() -> float:
            t0 = time.perf_counter()
            await asyncio.to_thread(call)
            return time.perf_counter() - t0

        took, gap = asyncio.run(ticking(work))
        return {"engine": label, "call_s": round(took, 3), "max_loop_gap_ms": round(1000 * gap, 1)}

    return {
        "method": "the call runs in asyncio.to_thread; a task on the loop sleeps 5 ms in a loop",
        "re2": measure("re2 Match (NFA, 48 KiB of a/b)", lambda: slow_re2.search(text)),
        "python_re": measure(
            f"re.search('(a|aa)*c', 'a' * {n}) (backtracking)",
            lambda: backtrack.search("a" * n),
        ),
    }


def _commit() -> str | None:
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--size", type=parse_size, default=1 << 30, help="tree size (default 1GiB)")
    ap.add_argument("--repeat", type=int, default=3, help="measured runs after one warm-up")
    ap.add_argument("--tmpdir", type=Path, default=None)
    ap.add_argument("--case", choices=list(CASES), action="append")
    ap.add_argument("--grep-timeout", type=float, default=60.0)
    ap.add_argument("--keep", action="store_true", help="keep the generated tree")
    args = ap.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    grep = shutil.which("grep")
    if grep is None:
        sys.exit("search bench: grep not found")
    version = subprocess.run([grep, "--version"], capture_output=True, text=True, check=False)
    tmp = Path(tempfile.mkdtemp(prefix="search_bench_", dir=args.tmpdir))
    results: dict[str, Any] = {}
    try:
        t0 = time.perf_counter()
        tree = build_tree(tmp / "tree", args.files, args.size)
        tree["ab_tree_bytes"] = build_ab(tmp / "ab")
        tree["generate_s"] = round(time.perf_counter() - t0, 1)
        log(f"tree: {tree}")
        ws = Workspace(tmp)
        for name in args.case or list(CASES):
            pattern, flag, sub, comparable = CASES[name]
            path = os.path.normpath(f"tree/{sub}")
            log(f"{name}: {pattern!r} ...")
            ours = run_ours(ws, pattern, path, args.repeat)
            theirs = run_grep(grep, flag, pattern, tmp / path, args.repeat, args.grep_timeout)
            ratio = ours["best_wall_s"] / theirs["best_wall_s"] if theirs["best_wall_s"] else None
            results[name] = {
                "pattern": pattern,
                "path": path,
                "comparable": comparable,
                "ours": ours,
                "grep": theirs,
                "ours_over_grep": round(ratio, 2) if ratio is not None else None,
                "same_matches": ours["matches"] == theirs["matches"],
            }
            log(
                f"  ours {ours['best_wall_s']}s ({ours['matches']} matches, loop gap "
                f"{ours['max_loop_gap_ms']} ms) | grep {theirs['best_wall_s']}s "
                f"({theirs['matches']} matches{', timed out' if theirs['timed_out'] else ''})"
            )
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            log(f"kept the tree in {tmp}")
    log("gil probe ...")
    gil = gil_probe()
    _, idle = asyncio.run(ticking(lambda: asyncio.sleep(2.0)))
    gil["idle_loop_max_gap_ms"] = round(1000 * idle, 1)  # the machine's own jitter, no work
    doc = {
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "commit": _commit(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "grep": version.stdout.splitlines()[0] if version.stdout else None,
            "loadavg_1min_at_end": round(os.getloadavg()[0], 2),
        },
        "method": (
            "page cache warm (cannot drop caches): 1 warm-up run each, then best wall of "
            f"{args.repeat}; ours: Workspace.search awaited on a fresh event loop in this "
            "process (max_read_bytes 1 MiB, 200 matches), a ticker task on that loop gives "
            "max_loop_gap_ms; grep: a subprocess, output to a pipe, counted"
        ),
        "search_limits": {
            "seconds": search_mod.SEARCH_SECONDS,
            "call_budget": search_mod.CALL_BUDGET,
            "max_pattern": search_mod.MAX_PATTERN,
        },
        "tree": tree,
        "cases": results,
        "gil": gil,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
