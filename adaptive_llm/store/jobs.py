"""The jobs aggregate: job definitions, their attempts and every state change."""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Container, Iterable, Iterator, Sequence

from ..jobs.model import Attempt, Job, JobState
from .db import Database

__all__ = ["JobRepository"]

log = logging.getLogger(__name__)


class JobRepository:
    """Jobs, attempts and transitions (``store.jobs``)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def upsert(self, jobs: Iterable[Job]) -> None:
        now = time.time()
        rows = [(job.name, json.dumps(job.to_dict()), now, now) for job in jobs]
        with self._db.transaction() as db:
            db.executemany(
                "INSERT INTO jobs (name, spec, created_at, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(name) DO UPDATE SET spec=excluded.spec,"
                " updated_at=excluded.updated_at"
                " WHERE jobs.spec != excluded.spec",
                rows,
            )

    def all(self, skip: Container[str] = ()) -> list[Job]:
        """Every recorded job but those named in ``skip``; a stored definition that is no
        longer valid (hand-edited, or refused by a newer check) is left out with a warning,
        so one bad row never stops a run from loading."""
        jobs = []
        for name, spec in self._specs(skip):
            try:
                jobs.append(Job.from_dict(json.loads(spec)))
            except (ValueError, TypeError, KeyError) as exc:
                log.warning("ignoring the stored definition of job %r: %s", name, exc)
        return jobs

    def _specs(self, skip: Container[str]) -> list[tuple[str, str]]:
        rows = self._db.rows("SELECT name, spec FROM jobs")
        return [(str(r["name"]), str(r["spec"])) for r in rows if r["name"] not in skip]

    # -- attempts -----------------------------------------------------------------------------

    def add_attempt(self, attempt: Attempt, scheduler: str) -> None:
        self.add_attempts([attempt], scheduler)

    def add_attempts(self, attempts: Sequence[Attempt], scheduler: str) -> None:
        """Record new attempts (and their first transition) in one transaction."""
        if not attempts:
            return
        now = time.time()
        with self._db.transaction() as db:
            db.executemany(
                "INSERT INTO attempts (job, number, state, scheduler, scheduler_id, log_path,"
                " reason, submitted_at, ended_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        a.job,
                        a.number,
                        a.state.value,
                        scheduler,
                        a.scheduler_id,
                        a.log_path,
                        a.reason,
                        a.submitted_at,
                        a.ended_at,
                    )
                    for a in attempts
                ],
            )
            db.executemany(
                "INSERT INTO transitions (job, number, state, reason, at) VALUES (?, ?, ?, ?, ?)",
                [(a.job, a.number, a.state.value, a.reason, now) for a in attempts],
            )

    def delete_attempt(self, job: str, number: int) -> None:
        """Forget an attempt that never reached the scheduler (a refused submit)."""
        self.delete_attempts([(job, number)])

    def delete_attempts(self, keys: Sequence[tuple[str, int]]) -> None:
        """Forget attempts that never reached the scheduler, in one transaction."""
        if not keys:
            return
        with self._db.transaction() as db:
            db.executemany("DELETE FROM transitions WHERE job=? AND number=?", keys)
            db.executemany("DELETE FROM attempts WHERE job=? AND number=?", keys)

    def set_scheduler_id(self, job: str, number: int, scheduler_id: str) -> None:
        self.set_scheduler_ids([(job, number, scheduler_id)])

    def set_scheduler_ids(self, rows: Sequence[tuple[str, int, str]]) -> None:
        """Record the scheduler ids of submitted attempts ``(job, number, id)``, in one go."""
        if not rows:
            return
        with self._db.transaction() as db:
            db.executemany(
                "UPDATE attempts SET scheduler_id=? WHERE job=? AND number=?",
                [(sid, job, number) for job, number, sid in rows],
            )

    def update_attempts(self, attempts: Sequence[Attempt]) -> None:
        """Record many attempts' new states in one transaction (one poll's worth): each row
        becomes exactly the attempt given (``Attempt.with_report`` merged the report)."""
        if not attempts:
            return
        now = time.time()
        with self._db.transaction() as db:
            db.executemany(
                "UPDATE attempts SET state=?, exit_code=?, signal=?, reason=?, started_at=?,"
                " ended_at=?, scheduler_id=coalesce(?, scheduler_id) WHERE job=? AND number=?",
                [
                    (
                        a.state.value,
                        a.exit_code,
                        a.signal,
                        a.reason,
                        a.started_at,
                        a.ended_at,
                        a.scheduler_id,
                        a.job,
                        a.number,
                    )
                    for a in attempts
                ],
            )
            db.executemany(
                "INSERT INTO transitions (job, number, state, reason, at) VALUES (?, ?, ?, ?, ?)",
                [(a.job, a.number, a.state.value, a.reason, now) for a in attempts],
            )

    def attempts(self, job: str | None = None) -> list[Attempt]:
        """All attempts (of one job), oldest first."""
        if job is None:
            rows = self._db.rows("SELECT * FROM attempts ORDER BY job, number")
        else:
            rows = self._db.rows("SELECT * FROM attempts WHERE job=? ORDER BY number", (job,))
        return _attempts(rows)

    def schedulers(self) -> set[str]:
        """The names of the schedulers the recorded attempts ran on (``local``, ``slurm``...)."""
        return {
            str(r["scheduler"]) for r in self._db.rows("SELECT DISTINCT scheduler FROM attempts")
        }

    def latest_attempts(self) -> dict[str, Attempt]:
        rows = self._db.rows(
            "SELECT a.* FROM attempts a JOIN (SELECT job, max(number) AS n FROM attempts"
            " GROUP BY job) m ON a.job = m.job AND a.number = m.n"
        )
        return {a.job: a for a in _attempts(rows)}

    def latest_by_name(
        self, *, batch: int = 500, engine: str = "offline"
    ) -> Iterator[list[tuple[Job, Attempt | None, str | None]]]:
        """Every job by name with its latest attempt and that attempt's stored diagnosis
        (``engine``'s, as JSON text), ``batch`` jobs at a time, in one read: what
        ``adaptive-llm status`` streams. Rows no longer valid are left out with a warning,
        as in :meth:`all` and :meth:`attempts`.

        The latest attempt is found per job by a correlated ``max(number)`` on the attempts'
        key, in the jobs' key order: nothing is materialized, so SQLite's memory stays bounded
        and the first rows come at once (a ``GROUP BY`` subquery joined in was built whole
        first, about 4 MiB and its own index per 100,000 jobs)."""
        sql = (
            "SELECT j.name AS job_name, j.spec AS job_spec, a.*, d.data AS diagnosis"
            " FROM jobs j"
            " LEFT JOIN attempts a ON a.job = j.name"
            " AND a.number = (SELECT max(number) FROM attempts WHERE job = j.name)"
            " LEFT JOIN diagnoses d ON d.job = a.job AND d.number = a.number AND d.engine = ?"
            " ORDER BY j.name"
        )
        for rows in self._db.iter_rows(sql, (engine,), batch=batch):
            out: list[tuple[Job, Attempt | None, str | None]] = []
            for row in rows:
                name = row["job_name"]
                try:
                    job = Job.from_dict(json.loads(row["job_spec"]))
                except (ValueError, TypeError, KeyError) as exc:
                    log.warning("ignoring the stored definition of job %r: %s", name, exc)
                    continue
                attempt = None
                if row["job"] is not None:
                    try:
                        attempt = _attempt(row)
                    except (ValueError, TypeError) as exc:
                        log.warning(
                            "ignoring stored attempt %r of job %r: %s", row["number"], name, exc
                        )
                diagnosis = row["diagnosis"] if attempt is not None else None
                out.append((job, attempt, None if diagnosis is None else str(diagnosis)))
            yield out

    def scheduler_of(self, job: str, number: int) -> str | None:
        rows = self._db.rows(
            "SELECT scheduler FROM attempts WHERE job=? AND number=?", (job, number)
        )
        return str(rows[0]["scheduler"]) if rows else None

    def transitions(self, job: str) -> list[tuple[int, JobState, str | None, float]]:
        rows = self._db.rows(
            "SELECT number, state, reason, at FROM transitions WHERE job=? ORDER BY id", (job,)
        )
        return [(r["number"], JobState(r["state"]), r["reason"], r["at"]) for r in rows]


def _attempts(rows: Iterable[sqlite3.Row]) -> list[Attempt]:
    """The attempts of ``rows``; a row no longer valid (hand-edited: an unknown state) is
    left out with a warning, as a job definition is."""
    attempts = []
    for row in rows:
        try:
            attempts.append(_attempt(row))
        except (ValueError, TypeError) as exc:
            log.warning("ignoring stored attempt %r of job %r: %s", row["number"], row["job"], exc)
    return attempts


def _attempt(row: sqlite3.Row) -> Attempt:
    return Attempt(
        job=row["job"],
        number=row["number"],
        state=JobState(row["state"]),
        log_path=row["log_path"],
        scheduler_id=row["scheduler_id"],
        exit_code=row["exit_code"],
        signal=row["signal"],
        reason=row["reason"],
        submitted_at=row["submitted_at"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
    )
