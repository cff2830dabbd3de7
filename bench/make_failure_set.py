#!/usr/bin/env python3
"""Make the labelled failure set that ``adaptive-llm compare`` scores models on.

Every case is a small program that fails for real: it is written to a scratch workspace and run
as a job of a real ``RunManager`` (the local scheduler, with the case's time and memory limits),
so each log is exactly what the product records for a failed attempt, and each state (FAILED,
TIMEOUT, OUT_OF_MEMORY) is what the runner saw. The labels are written by hand here, next to the
program they describe: the category (from the taxonomy), the culprit ``file:line`` (the line
to change, or none where no line is to blame) and a few key terms a good diagnosis mentions.
A label's line is checked against the program's text (the line holding ``culprit_text``), so a
program edit that moves it fails loudly instead of shipping a wrong label.

Output, in ``adaptive_llm/llm/failures/``: ``<case>.log`` and ``labels.json``. The one change
made to a log is that the scratch workspace's path becomes ``/home/user/project`` (and the
interpreter's prefix ``/usr/local``), so a rerun gives the same labels and the same logs but
for timing (how many steps the time-limited job printed) and the segfault's thread address
(``tests/test_cli_compare.py`` checks that).

Run
    .venv/bin/python bench/make_failure_set.py [--out DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adaptive_llm.jobs.model import Job, Resources  # noqa: E402
from adaptive_llm.jobs.schedulers.local import LocalScheduler  # noqa: E402
from adaptive_llm.managers.run_manager import RunManager  # noqa: E402

OUT = ROOT / "adaptive_llm" / "llm" / "failures"
#: What the scratch workspace's path becomes in the shipped logs.
PROJECT = "/home/user/project"

#: A tiny stand-in for pandas, installed under ``site-packages`` of the workspace, so that its
#: frames are library frames (as real pandas' are) and its KeyError is chained as pandas does.
MINIPANDAS = {
    "vendor/site-packages/minipandas/__init__.py": """\
        from .frame import DataFrame, read_records

        __all__ = ["DataFrame", "read_records"]
        """,
    "vendor/site-packages/minipandas/index.py": """\
        class Index:
            def __init__(self, labels):
                self._labels = list(labels)
                self._engine = {label: i for i, label in enumerate(self._labels)}

            def get_loc(self, key):
                try:
                    return self._engine[key]
                except KeyError as err:
                    raise KeyError(key) from err
        """,
    "vendor/site-packages/minipandas/frame.py": """\
        from .index import Index


        class DataFrame:
            def __init__(self, columns):
                self.columns = Index(columns)
                self._data = [list(values) for values in columns.values()]

            def __getitem__(self, key):
                return self._get_column(key)

            def _get_column(self, key):
                loc = self.columns.get_loc(key)
                return self._data[loc]


        def read_records(records):
            names = list(records[0])
            return DataFrame({name: [r[name] for r in records] for name in names})
        """,
}

#: A stand-in for torch's CUDA allocator error (no GPU here): the message is torch 2.x's.
MINITORCH = {
    "vendor/site-packages/torch/__init__.py": """\
        from . import cuda, nn

        OutOfMemoryError = cuda.OutOfMemoryError
        """,
    "vendor/site-packages/torch/cuda.py": """\
        class OutOfMemoryError(RuntimeError):
            pass


        TOTAL = 15.77 * 2**30


        def allocate(nbytes, in_use):
            if in_use + nbytes > TOTAL:
                free = TOTAL - in_use
                raise OutOfMemoryError(
                    f"CUDA out of memory. Tried to allocate {nbytes / 2**30:.2f} GiB. GPU 0 has a"
                    f" total capacity of {TOTAL / 2**30:.2f} GiB of which {free / 2**20:.2f} MiB"
                    f" is free. Of the allocated memory {in_use / 2**30:.2f} GiB is allocated by"
                    " PyTorch. If reserved but unallocated memory is large try setting"
                    " PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation."
                )
            return in_use + nbytes
        """,
    "vendor/site-packages/torch/nn.py": """\
        from . import cuda


        class Linear:
            def __init__(self, n_in, n_out):
                self.n_in, self.n_out = n_in, n_out
                self.in_use = 14.9 * 2**30

            def __call__(self, batch_size):
                activations = batch_size * self.n_out * 4
                self.in_use = cuda.allocate(activations, self.in_use)
                return self.in_use
        """,
}


@dataclass(frozen=True)
class Case:
    name: str
    command: list[str] | str
    files: dict[str, str]
    category: str
    key_terms: list[str]
    #: The culprit: (file relative to the workspace, a unique snippet of its line), or None.
    culprit: tuple[str, str] | None = None
    time_limit: float | None = None
    memory: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    what: str = ""


PY = sys.executable
VENDOR = {"PYTHONPATH": "vendor/site-packages"}

CASES: list[Case] = [
    Case(
        "exception_in_callback",
        [PY, "report.py"],
        {
            "stats.py": """\
                def mean(values):
                    return sum(values) / len(values)


                def spread(group):
                    avg = mean(group["values"])
                    return max(group["values"]) - avg
                """,
            "report.py": """\
                from stats import spread

                GROUPS = [
                    {"name": "a", "values": [1.0, 2.5, 3.0]},
                    {"name": "b", "values": []},
                    {"name": "c", "values": [4.0]},
                ]


                def main():
                    print("ranking", len(GROUPS), "groups")
                    for group in sorted(GROUPS, key=spread):
                        print(group["name"])


                main()
                """,
        },
        "python_exception",
        ["ZeroDivisionError", "empty"],
        ("stats.py", "return sum(values) / len(values)"),
        what="an exception in user code called back by sorted()",
    ),
    Case(
        "missing_module",
        [PY, "features.py"],
        {
            "features.py": """\
                \"\"\"Scales features with scikit-learn.\"\"\"
                print("computing features")
                from sklearn.preprocessing import StandardScaler

                print(StandardScaler())
                """,
        },
        "missing_module",
        ["sklearn", "scikit-learn"],
        ("features.py", "from sklearn.preprocessing"),
        what="ModuleNotFoundError for a package that is not installed",
    ),
    Case(
        "missing_file",
        [PY, "train.py"],
        {
            "loader.py": """\
                import csv


                def load_rows(path):
                    with open(path, newline="") as fh:
                        return list(csv.DictReader(fh))
                """,
            "train.py": """\
                from loader import load_rows

                print("loading data")
                rows = load_rows("data/train.csv")
                print(len(rows), "rows")
                """,
        },
        "missing_file",
        ["FileNotFoundError", "data/train.csv"],
        ("loader.py", "with open(path"),
        what="FileNotFoundError for a data file that is not there",
    ),
    Case(
        "gpu_out_of_memory",
        [PY, "train_gpu.py"],
        {
            **MINITORCH,
            "train_gpu.py": """\
                import torch

                BATCH_SIZE = 2**22
                model = torch.nn.Linear(1024, 4096)
                for step in range(3):
                    print("step", step, flush=True)
                    model(BATCH_SIZE)
                """,
        },
        "gpu_out_of_memory",
        ["CUDA out of memory", "batch size"],
        ("train_gpu.py", "model(BATCH_SIZE)"),
        env=VENDOR,
        what="torch-style CUDA out of memory raised under the user's training loop",
    ),
    Case(
        "pandas_key_error",
        [PY, "analysis.py"],
        {
            **MINIPANDAS,
            "analysis.py": """\
                import minipandas as pd

                records = [
                    {"item": "apple", "Price": 1.2},
                    {"item": "pear", "Price": 0.8},
                ]
                df = pd.read_records(records)
                total = sum(df["price"])
                print("total", total)
                """,
        },
        "python_exception",
        ["KeyError", "price"],
        ("analysis.py", 'df["price"]'),
        env=VENDOR,
        what="a KeyError for a misspelled column, raised inside a pandas-like library",
    ),
    Case(
        "syntax_error",
        [PY, "pipeline.py"],
        {
            "settings.py": """\
                EPOCHS = 10
                LEARNING_RATE = 0.01
                def describe()
                    return f"{EPOCHS} epochs at {LEARNING_RATE}"
                """,
            "pipeline.py": """\
                import settings

                print(settings.describe())
                """,
        },
        "syntax_error",
        ["SyntaxError", "colon"],
        ("settings.py", "def describe()"),
        what="a SyntaxError in an imported module",
    ),
    Case(
        "command_not_found",
        "bash run.sh",
        {
            "run.sh": """\
                #!/bin/bash
                set -e
                echo "preparing inputs"
                preprocess --input raw/ --output clean/
                echo "done"
                """,
        },
        "missing_file",
        ["command not found", "preprocess", "PATH"],
        ("run.sh", "preprocess --input"),
        what="a shell script calls a program that is not installed (exit 127)",
    ),
    Case(
        "killed_out_of_memory",
        [PY, "grow.py"],
        {
            "grow.py": """\
                print("building the table", flush=True)
                table = []
                for i in range(1000):
                    table.append(bytearray(50 * 2**20))
                print(len(table))
                """,
        },
        "out_of_memory",
        ["MemoryError", "memory"],
        ("grow.py", "table.append(bytearray"),
        memory="300M",
        what="a process over its memory limit (RLIMIT_AS): MemoryError, OUT_OF_MEMORY",
    ),
    Case(
        "segfault",
        [PY, "-X", "faulthandler", "native.py"],
        {
            "native.py": """\
                import ctypes

                print("calling native code", flush=True)
                value = ctypes.string_at(0)
                print(value)
                """,
        },
        "segfault",
        ["Segmentation fault", "ctypes"],
        ("native.py", "ctypes.string_at(0)"),
        what="a native crash: killed by SIGSEGV",
    ),
    Case(
        "time_limit",
        [PY, "simulate.py"],
        {
            "simulate.py": """\
                import time

                for step in range(1, 1001):
                    time.sleep(0.1)
                    print(f"step {step}/1000", flush=True)
                print("simulation done")
                """,
        },
        "time_limit",
        ["time limit"],
        None,
        time_limit=2.0,
        what="a job still running at its time limit (TIMEOUT)",
    ),
]


def culprit_line(case: Case, workspace: Path) -> tuple[str, int] | None:
    if case.culprit is None:
        return None
    rel, snippet = case.culprit
    lines = (workspace / rel).read_text().splitlines()
    found = [n for n, text in enumerate(lines, 1) if snippet in text]
    if len(found) != 1:
        raise SystemExit(f"{case.name}: {snippet!r} is on {len(found)} lines of {rel}, not one")
    return rel, found[0]


def write_files(case: Case, workspace: Path) -> None:
    for rel, text in case.files.items():
        path = workspace / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


async def run_cases(base: Path) -> dict[str, tuple[Any, Path]]:
    """Run every case as a job of one RunManager; the final attempt of each, by name."""
    jobs = []
    for case in CASES:
        workspace = base / case.name
        write_files(case, workspace)
        env = {"PYTHONNOUSERSITE": "1", "PYTHONUNBUFFERED": "1", "LC_ALL": "C", **case.env}
        resources = Resources(time_limit=case.time_limit, memory=case.memory)
        jobs.append(Job(case.name, case.command, cwd=workspace, env=env, resources=resources))
    rm = RunManager(jobs, workdir=base / "run", scheduler=LocalScheduler(kill_grace=1.0))
    rm.start()
    try:
        await rm.wait(timeout=120)
        return {case.name: (rm.job(case.name), base / case.name) for case in CASES}
    finally:
        await rm.close()


def stable(text: str, workspace: Path) -> str:
    """The log with the scratch paths replaced by stable ones (nothing else changes)."""
    text = text.replace(str(workspace.resolve()), PROJECT).replace(str(workspace), PROJECT)
    prefix = sys.base_prefix.rstrip("/")
    if prefix and prefix != "/usr/local":
        text = text.replace(prefix + "/", "/usr/local/")
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    out: Path = args.out
    base = Path(tempfile.mkdtemp(prefix="adaptive-llm-failures-"))
    try:
        results = asyncio.run(run_cases(base))
        out.mkdir(parents=True, exist_ok=True)
        labels = []
        for case in CASES:
            view, workspace = results[case.name]
            attempt_log = Path(view.log_path)
            text = stable(attempt_log.read_text(errors="replace"), workspace)
            (out / f"{case.name}.log").write_text(text)
            found = culprit_line(case, workspace)
            labels.append(
                {
                    "name": case.name,
                    "what": case.what,
                    "log": f"{case.name}.log",
                    "state": view.state.value,
                    "reason": view.reason,
                    "command": case.command
                    if isinstance(case.command, str)
                    else ["python" if part == PY else part for part in case.command],
                    "cwd": PROJECT,
                    "time_limit": case.time_limit,
                    "memory": case.memory,
                    "category": case.category,
                    "file": found[0] if found else None,
                    "line": found[1] if found else None,
                    "key_terms": case.key_terms,
                }
            )
            print(f"{case.name}: {view.state.value} ({view.reason})", file=sys.stderr)
        document = {
            "made_by": "bench/make_failure_set.py",
            "python": ".".join(map(str, sys.version_info[:3])),
            "failures": labels,
        }
        (out / "labels.json").write_text(json.dumps(document, indent=1) + "\n")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"wrote {len(CASES)} logs and labels.json to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
