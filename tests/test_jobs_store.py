"""The SQLite store: round trips, and clear errors (never silent loss) when it is unusable."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import replace
from pathlib import Path

import pytest

from adaptive_llm import Attempt, Job, JobState, RunManager, StoreError
from adaptive_llm.jobs.model import AttemptReport
from adaptive_llm.managers.views import build_views
from adaptive_llm.store import Store


def store_path(workdir: Path) -> Path:
    return workdir / ".adaptive_llm" / "store.sqlite"


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = Store(path)
    job = Job("a", ["echo", "hi"], resources={"time_limit": 5})  # type: ignore[arg-type]
    store.jobs.upsert([job])
    store.jobs.upsert([job])  # idempotent
    now = time.time()
    first = Attempt(
        "a", 1, JobState.PENDING, "/logs/a/attempt-1.log", submitted_at=now, reason="queued"
    )
    store.jobs.add_attempt(first, "local")
    store.jobs.set_scheduler_id("a", 1, "local-1")
    running = first.with_report(AttemptReport(JobState.RUNNING, started_at=now))
    assert running.reason is None  # a reason describes one state: "queued" is over
    store.jobs.update_attempts([running])
    failed = running.with_report(
        AttemptReport(JobState.FAILED, exit_code=2, reason="exit code 2", ended_at=now + 1)
    )
    store.jobs.update_attempts([failed])
    store.close()

    store = Store(path, readonly=True)
    assert store.jobs.all() == [job]
    (attempt,) = store.jobs.attempts("a")
    assert attempt == replace(failed, scheduler_id="local-1")
    assert attempt.state is JobState.FAILED
    assert attempt.exit_code == 2
    assert attempt.scheduler_id == "local-1"
    assert attempt.started_at == now and attempt.ended_at == now + 1
    assert store.jobs.scheduler_of("a", 1) == "local"
    assert [s for _, s, _, _ in store.jobs.transitions("a")] == [
        JobState.PENDING,
        JobState.RUNNING,
        JobState.FAILED,
    ]
    (view,) = build_views(store.jobs.all(), store.jobs.latest_attempts(), lambda attempt: None)
    assert view.name == "a" and view.state is JobState.FAILED and view.exit_code == 2
    store.close()


def test_readonly_store_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no adaptive_llm store"):
        Store(tmp_path / "missing.sqlite", readonly=True)
    assert not (tmp_path / "missing.sqlite").exists()


def test_corrupt_store_is_a_clear_error_and_left_alone(workdir: Path) -> None:
    path = store_path(workdir)
    path.parent.mkdir()
    garbage = b"this is not sqlite at all\x00\xff" * 200
    path.write_bytes(garbage)
    with pytest.raises(StoreError) as info:
        RunManager([Job("a", ["true"])], workdir=workdir)
    message = str(info.value)
    assert str(path) in message
    assert "corrupt" in message or "not a valid" in message
    assert path.read_bytes() == garbage


def test_store_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 999")
    db.close()
    with pytest.raises(StoreError, match="newer"):
        Store(path)


def test_locked_store_is_a_clear_error_without_loss(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = Store(path)
    store.jobs.upsert([Job("kept", ["true"])])
    store.close()

    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match="locked") as info:
            locked = Store(path, timeout=0.2)
            try:
                locked.jobs.upsert([Job("new", ["true"])])
            finally:
                locked.close()
        assert str(path) in str(info.value)
    finally:
        other.execute("ROLLBACK")
        other.close()

    store = Store(path)
    assert [job.name for job in store.jobs.all()] == ["kept"]
    store.jobs.upsert([Job("new", ["true"])])
    assert sorted(job.name for job in store.jobs.all()) == ["kept", "new"]
    store.close()


def test_locked_fresh_store_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("CREATE TABLE unrelated (x)")
    other.execute("BEGIN EXCLUSIVE")
    other.execute("INSERT INTO unrelated VALUES (1)")
    try:
        with pytest.raises(StoreError, match="locked"):
            Store(path, timeout=0.2)
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_a_stored_job_that_is_no_longer_valid_is_skipped_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A hostile (or hand-edited) stored spec is refused by the same checks as a new Job; the
    other jobs still load."""
    path = tmp_path / "s.sqlite"
    store = Store(path)
    store.jobs.upsert([Job("good", ["true"]), Job("bad", ["true"])])
    store.close()
    db = sqlite3.connect(path)
    spec = Job("bad", ["true"]).to_dict()
    spec["resources"]["extra"] = {"partition": "debug\nrm -rf ~"}
    db.execute("UPDATE jobs SET spec=? WHERE name='bad'", (json.dumps(spec),))
    db.commit()
    db.close()
    store = Store(path)
    try:
        assert [job.name for job in store.jobs.all()] == ["good"]
    finally:
        store.close()
    assert "ignoring the stored definition of job 'bad'" in caplog.text


def test_a_report_becomes_the_same_attempt_in_memory_and_in_the_store(tmp_path: Path) -> None:
    """A later report without an exit code, a signal or an end keeps them; one without a
    reason clears it; the first start stays (``Attempt.with_report``, stored as is)."""
    base = Attempt("b", 1, JobState.RUNNING, "/l", started_at=10.0, reason="x", exit_code=None)
    later = base.with_report(AttemptReport(JobState.FAILED, exit_code=3, ended_at=20.0))
    again = later.with_report(AttemptReport(JobState.FAILED, started_at=15.0))
    assert (again.exit_code, again.ended_at, again.started_at, again.reason) == (
        3,
        20.0,
        10.0,
        None,
    )
    store = Store(tmp_path / "s.sqlite")
    store.jobs.upsert([Job("b", ["true"])])
    store.jobs.add_attempt(base, "local")
    store.jobs.update_attempts([again])
    assert store.jobs.attempts("b") == [again]
    store.close()
