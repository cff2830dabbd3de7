"""Diagnoses are stored in batches (issue 17), yet each one's outcome is its own: a row the
store refuses fails only its own waiter (never the rows written before it, nor the others of
its transaction), and the manager goes on diagnosing and storing."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

from adaptive_llm import Job, JobState, RunManager, StoreError
from adaptive_llm.diagnosis import diagnose_without_log
from adaptive_llm.managers import llm_manager

MakeRM = Any

FAIL = [sys.executable, "-c", "raise ValueError('bad value 42')"]


def refuse(store: Path, job: str) -> None:
    """A trigger in the real store file: SQLite refuses to write this job's diagnoses."""
    with sqlite3.connect(store) as db:
        db.execute(
            f"CREATE TRIGGER refuse_{job} BEFORE INSERT ON diagnoses WHEN NEW.job = '{job}'"
            f" BEGIN SELECT RAISE(ABORT, 'no diagnosis of {job} here'); END"
        )


async def test_a_refused_row_fails_only_its_own_waiter(
    make_rm: MakeRM, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(llm_manager, "SAVE_BATCH", 2)  # five rows: three transactions
    rm = make_rm([])
    refuse(rm.store.path, "j3")
    data = diagnose_without_log("/nowhere.log", "x", state="FAILED").to_dict()
    names = [f"j{i}" for i in range(1, 6)]
    lm = rm.llm_manager
    outcomes = await asyncio.gather(
        *(lm._save(name, 1, data) for name in names), return_exceptions=True
    )
    # j1, j2 were committed before j3's transaction failed; j4 shared it; j5 came after.
    assert outcomes[:2] == [None, None] and outcomes[3:] == [None, None], outcomes
    assert isinstance(outcomes[2], StoreError)
    assert "'j3' attempt 1 was not stored" in str(outcomes[2])
    assert "no diagnosis of j3 here" in str(outcomes[2])
    stored = {job for job, _ in rm.store.diagnoses.offline()}
    assert stored == {"j1", "j2", "j4", "j5"}
    assert lm._batch is None  # nothing left waiting
    # The next batch is written as usual.
    await lm._save("j6", 1, data)
    assert rm.store.diagnoses.get("j6", 1) is not None


async def test_a_diagnosis_the_store_refuses_stands_for_the_run_and_the_loop_goes_on(
    make_rm: MakeRM, caplog: pytest.LogCaptureFixture
) -> None:
    rm: RunManager = make_rm([Job("a", FAIL), Job("b", FAIL), Job("c", FAIL)])
    refuse(rm.store.path, "b")
    rm.start()
    await rm.wait(timeout=60)  # every failure diagnosed, also the one not stored
    lm = rm.llm_manager
    for name in "abc":
        assert rm.job_manager.state(name) is JobState.FAILED
        diagnosis = lm.cached(name)
        assert diagnosis is not None and diagnosis.error_type == "ValueError", name
    assert rm.store.diagnoses.get("a", 1) is not None
    assert rm.store.diagnoses.get("c", 1) is not None
    assert rm.store.diagnoses.get("b", 1) is None  # not stored: a new run diagnoses it again
    errors = [r.getMessage() for r in caplog.records if "was not stored" in r.getMessage()]
    assert len(errors) == 1 and "'b' attempt 1" in errors[0], errors
    assert lm.is_running
    await rm.resubmit("a")  # a later failure is diagnosed and stored
    await rm.wait(timeout=60)
    assert rm.job("a").attempt == 2
    assert rm.store.diagnoses.get("a", 2) is not None
