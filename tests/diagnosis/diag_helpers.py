"""Test helpers: run the failing programs of ``programs/`` for real and capture their logs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

PROGRAMS = Path(__file__).parent / "programs"


def log_lines(path: Path) -> list[str]:
    """The ``\\n``-separated lines of a log (1-based: ``lines[n - 1]``)."""
    return path.read_bytes().decode("utf-8", "replace").split("\n")


def line_of(path: Path, needle: str) -> int:
    """1-based number of the first line of ``path`` containing ``needle``."""
    for n, line in enumerate(log_lines(path), 1):
        if needle in line:
            return n
    raise AssertionError(f"{needle!r} not in {path}")


def in_spans(n: int, spans: list[tuple[int, int]]) -> bool:
    return any(a <= n <= b for a, b in spans)


class Job:
    """A program copied into a fresh working directory and run with its output to a log."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.log = workdir / "job.log"

    def run(
        self,
        program: str,
        *args: str,
        python_args: tuple[str, ...] = (),
        shell: bool = False,
        timeout: float | None = None,
        preexec_fn: Callable[[], None] | None = None,
    ) -> int | None:
        """Run ``program`` (from ``programs/``); return its exit code (None if killed)."""
        if (PROGRAMS / program).exists():
            shutil.copy(PROGRAMS / program, self.workdir / program)
        cmd = [sys.executable, *python_args, program, *args]
        if shell:  # like a job script: the shell reports signals ("Segmentation fault")
            cmd = ["bash", "-c", " ".join(cmd) + "; exit $?"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        with open(self.log, "wb") as out:
            proc = subprocess.Popen(
                cmd,
                cwd=self.workdir,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                preexec_fn=preexec_fn,
            )
            try:
                return proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                return None

    def source_line(self, program: str, needle: str) -> int:
        return line_of(self.workdir / program, needle)
