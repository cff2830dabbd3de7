#!/usr/bin/env python3
"""Measure the chat's ranged ``read_file`` on a file with one huge line, against ``sed -n``.

What it measures
    A file of ``first\\n``, one line of ``--line`` bytes (default 100 MiB), then ``third\\n`` and
    ``fourth\\n`` is written to a temporary directory. Then, in the same run:

    * ``ours``: ``Workspace.read_file(path, 3, 4)`` (the lines after the huge one), awaited on
      an event loop while a ticker task records how long the loop was blocked (the longest gap
      between two 1 ms ticks);
    * ``previous``: the algorithm of the first release (split the carry buffer plus each chunk on
      the loop: the carry is copied per chunk), same file, same loop measurement;
    * ``sed``: ``sed -n 3,4p`` on the same file (wall time of the subprocess).

    Each runs once to warm the page cache, then ``--repeat`` times; best wall time and worst loop
    stall are reported, with ratios to ``sed``. Goal (issue #12): linear time, the loop never
    blocked (stall well under 0.1 s).

Run
    .venv/bin/python bench/read_file.py [--line 100MiB] [--repeat 3] [--tmpdir DIR]

    One JSON document on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adaptive_llm._core.units import parse_memory  # noqa: E402
from adaptive_llm.chat.workspace import Workspace  # noqa: E402


async def previous(path: Path, first: int, last: int) -> list[bytes]:
    """The first release's loop: ``(carry + chunk).split(b"\\n")`` on the event loop."""
    picked: list[bytes] = []
    total, carry = 0, b""
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            parts = (carry + chunk).split(b"\n")
            carry = parts.pop()
            for line in parts:
                total += 1
                if first <= total <= last:
                    picked.append(line)
            if total >= last:
                break
            await asyncio.sleep(0)
    return picked


async def measure(run: Callable[[], Awaitable[object]]) -> tuple[float, float]:
    """(wall seconds, longest loop stall in seconds) of one awaited run."""
    loop = asyncio.get_running_loop()
    ticks: list[float] = []
    stop = False

    async def ticker() -> None:
        while not stop:
            ticks.append(loop.time())
            await asyncio.sleep(0.001)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    start = time.perf_counter()
    await run()
    wall = time.perf_counter() - start
    stop = True
    await task
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    return wall, max(gaps, default=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--line", default="100MiB", help="length of the huge line")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tmpdir", default=None)
    args = parser.parse_args()
    size = parse_memory(args.line.removesuffix("iB").removesuffix("B")) or 0
    with tempfile.TemporaryDirectory(dir=args.tmpdir) as tmp:
        path = Path(tmp, "big.log")
        print(f"writing {size} bytes to {path}", file=sys.stderr)
        with path.open("wb") as f:
            f.write(b"first\n")
            block = b"x" * (1 << 20)
            for _ in range(size // len(block)):
                f.write(block)
            f.write(b"x" * (size % len(block)) + b"\nthird\nfourth\n")
        ws = Workspace(tmp)

        async def ours() -> None:
            out = await ws.read_file("big.log", 3, 4)
            assert out.splitlines()[1:] == ["   3| third", "   4| fourth"], out

        async def old() -> None:
            assert await previous(path, 3, 4) == [b"third", b"fourth"]

        async def all_runs() -> dict[str, tuple[float, float]]:
            best: dict[str, tuple[float, float]] = {}
            for name, fn in (("ours", ours), ("previous", old)):
                await measure(fn)  # warm-up
                runs = [await measure(fn) for _ in range(args.repeat)]
                best[name] = (min(r[0] for r in runs), max(r[1] for r in runs))
                print(f"{name}: {best[name]}", file=sys.stderr)
            return best

        best = asyncio.run(all_runs())
        sed_runs = []
        for i in range(args.repeat + 1):
            start = time.perf_counter()
            out = subprocess.run(["sed", "-n", "3,4p", str(path)], capture_output=True, check=True)
            if i:
                sed_runs.append(time.perf_counter() - start)
            assert out.stdout == b"third\nfourth\n"
        sed = min(sed_runs)
    result = {
        "bench": "read_file",
        "python": platform.python_version(),
        "line_bytes": size,
        "repeat": args.repeat,
        "sed_s": round(sed, 4),
        "ours_s": round(best["ours"][0], 4),
        "ours_loop_stall_s": round(best["ours"][1], 4),
        "previous_s": round(best["previous"][0], 4),
        "previous_loop_stall_s": round(best["previous"][1], 4),
        "ours_vs_sed": round(best["ours"][0] / sed, 2),
        "previous_vs_ours": round(best["previous"][0] / best["ours"][0], 1),
        "goal_loop_stall_under_0.1s": best["ours"][1] < 0.1,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
