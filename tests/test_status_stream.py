"""``adaptive-llm status`` streams its rows from the store a batch at a time; what it prints
is what the whole table printed (the JSON byte for byte), whatever the store holds."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import io
import json
import random
import tracemalloc
from pathlib import Path

import pytest

from adaptive_llm import Attempt, Job, JobState, cli
from adaptive_llm.cli import main
from adaptive_llm.cli.table import format_table, stream_table, user_path
from adaptive_llm.diagnosis import Diagnosis, diagnose
from adaptive_llm.managers.causes import FailureTally, causes_text, failures_by_cause
from adaptive_llm.managers.views import build_views
from adaptive_llm.store import Store
from adaptive_llm.store.layout import Layout

TRACEBACKS = [
    'Traceback (most recent call last):\n  File "/w/train.py", line 3, in <module>\n'
    "    main()\nKeyError: 'lr'\n",
    'Traceback (most recent call last):\n  File "/w/load.py", line 9, in load\n'
    "    open(p)\nFileNotFoundError: [Errno 2] No such file or directory: '/d/x.csv'\n",
    "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB\n",
]


def status(workdir: Path, *, as_json: bool) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    argv = ["status", "--workdir", str(workdir)] + (["--json"] if as_json else [])
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def fill(workdir: Path, jobs: int) -> None:
    """``jobs`` jobs recorded in random order: some never submitted, some with two attempts,
    failures with real diagnoses of three causes, a cancelled one; across many batches."""
    rng = random.Random(7)
    store = Store(Layout.of(workdir).store)
    try:
        names = [f"sweep-{i:05d}" for i in range(jobs)]
        rng.shuffle(names)
        store.jobs.upsert([Job(n, ["python", "train.py", "--seed", n[-3:]]) for n in names])
        data = []
        for k, text in enumerate(TRACEBACKS):
            log = workdir / f"t{k}.log"
            log.write_text(text)
            data.append(diagnose(log).to_dict())
        attempts, diagnoses = [], []
        for i, name in enumerate(names):
            if i % 11 == 0:
                continue  # never submitted: PENDING
            log = str(workdir / f"logs/{name}/attempt-1.log")
            state = JobState.FAILED if i % 3 == 0 else JobState.COMPLETED
            if i % 97 == 0:
                state = JobState.CANCELLED
            attempts.append(Attempt(name, 1, state, log, exit_code=1 if i % 3 == 0 else 0))
            if i % 7 == 0:  # a second attempt, the one shown
                attempts.append(Attempt(name, 2, JobState.FAILED, log[:-5] + "2.log", exit_code=2))
                diagnoses.append((name, 2, data[i % 3]))
            elif state is JobState.FAILED:
                diagnoses.append((name, 1, data[i % 3]))
        store.jobs.add_attempts(attempts, "local")
        store.diagnoses.save_many(diagnoses)
    finally:
        store.close()


def whole(workdir: Path) -> tuple[list[dict[str, object]], str]:
    """The rows and the causes as the command computed them before it streamed: every job,
    attempt and diagnosis read at once."""
    store = Store(Layout.of(workdir).store, readonly=True)
    try:
        stored = store.diagnoses.offline()
        views = build_views(
            sorted(store.jobs.all(), key=lambda job: job.name),
            store.jobs.latest_attempts(),
            lambda a: Diagnosis.from_dict(d) if (d := stored.get((a.job, a.number))) else None,
        )
    finally:
        store.close()
    return [v.to_dict() for v in views], causes_text(failures_by_cause(views), show=user_path)


def test_status_json_streamed_is_the_whole_document_byte_for_byte(tmp_path: Path) -> None:
    fill(tmp_path, 1234)  # batches of 500: three of them, the last one short
    rows, _ = whole(tmp_path)
    code, out, err = status(tmp_path, as_json=True)
    assert (code, err) == (0, "")
    assert out == json.dumps({"jobs": rows}, indent=2) + "\n"
    assert len(rows) == 1234 and rows == sorted(rows, key=lambda r: str(r["name"]))
    assert {r["state"] for r in rows} == {"PENDING", "FAILED", "COMPLETED", "CANCELLED"}
    assert any(r["attempt"] == 2 and r["category"] for r in rows)


@pytest.mark.parametrize("chunk", [1, 7, 617, 1234, 5000])
def test_status_json_is_the_same_text_whatever_rows_go_per_dumps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """Rows are encoded ``JSON_CHUNK`` at a time (one ``json.dumps`` each, not one per row):
    one row a chunk, chunks that end inside a store batch and at its end, one chunk for all."""
    fill(tmp_path, 1234)
    rows, _ = whole(tmp_path)
    monkeypatch.setattr(cli, "JSON_CHUNK", chunk)
    code, out, err = status(tmp_path, as_json=True)
    assert (code, err) == (0, "")
    assert out == json.dumps({"jobs": rows}, indent=2) + "\n"


def test_status_json_of_a_store_with_no_jobs(tmp_path: Path) -> None:
    Store(Layout.of(tmp_path).store).close()
    code, out, _ = status(tmp_path, as_json=True)
    assert code == 0 and out == json.dumps({"jobs": []}, indent=2) + "\n"


def test_status_table_streamed_has_every_row_and_the_causes(tmp_path: Path) -> None:
    fill(tmp_path, 1500)
    rows, causes = whole(tmp_path)
    code, out, err = status(tmp_path, as_json=False)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["JOB", "STATE", "TRY", "EXIT", "CATEGORY", "WHERE", "LOG"]
    assert [line.split()[0] for line in lines[1:1501]] == [r["name"] for r in rows]
    assert causes.startswith("Failures by cause:") and out.endswith("\n\n" + causes + "\n")


def test_a_wider_cell_after_the_measured_rows_pushes_only_its_own_line() -> None:
    def row(name: str) -> dict[str, object]:
        return {"name": name, "state": "COMPLETED", "attempt": 1, "exit_code": 0}

    rows = [row("a"), row("bb"), row("a-much-longer-name"), row("c")]
    lines: list[str] = []
    stream_table(rows, lines.append, Path("/"), measure=2)
    assert lines[1].index("COMPLETED") == lines[2].index("COMPLETED") == lines[4].index("COMP")
    assert lines[3].index("COMPLETED") == len("a-much-longer-name") + 2
    # Measured on every row, it is the table format_table prints.
    assert format_table(rows, Path("/")).splitlines()[3].index("COMPLETED") == lines[3].index(
        "COMPLETED"
    )
    whole_lines = format_table(rows, Path("/")).splitlines()
    assert all(
        line.index("COMPLETED") == whole_lines[1].index("COMPLETED") for line in whole_lines[1:]
    )


def sqlite_library() -> ctypes.CDLL | None:
    """The SQLite library the ``sqlite3`` module uses (its memory counters are the process's),
    or None when that is not a shared library ctypes can reach (the counters would be
    another copy's, always 0)."""
    name = ctypes.util.find_library("sqlite3")
    if name is None:
        return None
    lib = ctypes.CDLL(name)
    lib.sqlite3_memory_used.restype = ctypes.c_int64
    lib.sqlite3_memory_highwater.restype = ctypes.c_int64
    lib.sqlite3_memory_highwater.argtypes = [ctypes.c_int]
    return lib


def sqlite_peak_while_streaming(workdir: Path, lib: ctypes.CDLL) -> int:
    """SQLite's peak memory (bytes above what it held before) while every row is streamed."""
    store = Store(Layout.of(workdir).store, readonly=True)
    try:
        before = lib.sqlite3_memory_used()
        assert before > 0, "not the library the sqlite3 module uses"
        lib.sqlite3_memory_highwater(1)  # reset to what is used now
        assert sum(len(batch) for batch in store.jobs.latest_by_name()) > 0
        return int(lib.sqlite3_memory_highwater(0)) - before
    finally:
        store.close()


def test_sqlite_holds_no_more_for_ten_times_the_jobs(tmp_path: Path) -> None:
    """The latest attempt per job is found without building a table of every job first (a
    ``GROUP BY`` subquery joined in was materialized: +1.5 MiB at 40,000 jobs, 4 MiB at
    100,000)."""
    lib = sqlite_library()
    if lib is None:
        pytest.skip("the sqlite3 module's SQLite is not a shared library ctypes can load")
    small, large = tmp_path / "small", tmp_path / "large"
    small.mkdir()
    large.mkdir()
    fill(small, 4_000)
    fill(large, 40_000)
    grown = sqlite_peak_while_streaming(large, lib) - sqlite_peak_while_streaming(small, lib)
    assert grown < 256 * 1024, f"SQLite's peak grew by {grown / 2**20:.2f} MiB"


class Discard(io.TextIOBase):
    """An output that keeps nothing (a ``StringIO`` would hold the whole output)."""

    def write(self, text: str) -> int:
        return len(text)


def python_peak(workdir: Path, *, as_json: bool) -> int:
    """The Python memory ``adaptive-llm status`` allocates at its peak (bytes above what was
    allocated before), its output discarded."""
    argv = ["status", "--workdir", str(workdir)] + (["--json"] if as_json else [])
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        with contextlib.redirect_stdout(Discard()):
            assert main(argv) == 0
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def test_status_memory_does_not_grow_with_the_failed_jobs(tmp_path: Path) -> None:
    """Ten times the jobs (40% of them failed) cost the command almost nothing more: the JSON
    keeps nothing for the causes, the table only the failed jobs' names (it kept every failed
    job's view: +5.4 MiB from 1,500 to 15,000 jobs, in both)."""
    small, large = tmp_path / "small", tmp_path / "large"
    small.mkdir()
    large.mkdir()
    fill(small, 1_500)
    fill(large, 15_000)
    python_peak(small, as_json=False)  # the command's imports, once
    for as_json, bound in ((True, 1.0), (False, 2.0)):
        grown = python_peak(large, as_json=as_json) - python_peak(small, as_json=as_json)
        assert grown < bound * 2**20, f"json={as_json}: grew by {grown / 2**20:.2f} MiB"


def test_failure_tally_is_the_same_whatever_the_order_of_the_views(tmp_path: Path) -> None:
    fill(tmp_path, 700)
    store = Store(Layout.of(tmp_path).store, readonly=True)
    try:
        stored = store.diagnoses.offline()
        views = build_views(
            store.jobs.all(),
            store.jobs.latest_attempts(),
            lambda a: Diagnosis.from_dict(d) if (d := stored.get((a.job, a.number))) else None,
        )
    finally:
        store.close()
    by_name = sorted(views, key=lambda v: v.name)
    sections = failures_by_cause(by_name)
    assert sum(s.failed for s in sections) == sum(v.signature is not None for v in views) > 100
    assert [len(c.jobs) for c in sections[0].causes] == sorted(
        (len(c.jobs) for c in sections[0].causes), reverse=True
    )
    for seed in range(3):
        shuffled = by_name[:]
        random.Random(seed).shuffle(shuffled)
        tally = FailureTally()
        for view in shuffled:
            tally.add(view)
        assert tally.sections() == sections


def test_user_path_is_relative_only_inside_the_directory() -> None:
    here = Path("/home/u/proj")
    assert user_path("/home/u/proj/logs/a.log", here) == "logs/a.log"
    assert user_path("/home/u/proj/x/../logs//a.log", here) == "logs/a.log"
    assert user_path("/home/u/proj", here) == "/home/u/proj"
    assert user_path("/home/u/project/a.log", here) == "/home/u/project/a.log"
    assert user_path("/home/u/a.log", here) == "/home/u/a.log"
    assert user_path("/etc/hosts", Path("/")) == "etc/hosts"
    assert user_path("//net/share/a", Path("/")) == "//net/share/a"  # another root
    assert user_path("/a", Path("relative")) == "/a"
