"""``adaptive-llm status`` streams its rows from the store a batch at a time; what it prints
is what the whole table printed (the JSON byte for byte), whatever the store holds."""

from __future__ import annotations

import contextlib
import io
import json
import random
from pathlib import Path

from adaptive_llm import Attempt, Job, JobState
from adaptive_llm.cli import main
from adaptive_llm.cli.table import format_table, stream_table, user_path
from adaptive_llm.diagnosis import Diagnosis, diagnose
from adaptive_llm.managers.causes import causes_text, failures_by_cause
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
