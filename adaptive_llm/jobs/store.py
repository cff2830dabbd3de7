"""One SQLite file per workdir: jobs, attempts, state history, diagnoses.

All writes go through short transactions on the caller's thread (the event loop's, in a
notebook); each call is a few milliseconds at most, batched where many rows change at once.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Container, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import StoreError as StoreError
from .model import Attempt, Job, JobState

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    name TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS attempts (
    job TEXT NOT NULL REFERENCES jobs(name),
    number INTEGER NOT NULL,
    state TEXT NOT NULL,
    scheduler TEXT NOT NULL,
    scheduler_id TEXT,
    log_path TEXT NOT NULL,
    exit_code INTEGER,
    signal INTEGER,
    reason TEXT,
    submitted_at REAL,
    started_at REAL,
    ended_at REAL,
    PRIMARY KEY (job, number)
);
CREATE TABLE IF NOT EXISTS transitions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job TEXT NOT NULL,
    number INTEGER NOT NULL,
    state TEXT NOT NULL,
    reason TEXT,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS transitions_job ON transitions (job, number);
CREATE TABLE IF NOT EXISTS diagnoses (
    job TEXT NOT NULL,
    number INTEGER NOT NULL,
    engine TEXT NOT NULL,
    category TEXT NOT NULL,
    signature TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (job, number, engine)
);
CREATE INDEX IF NOT EXISTS diagnoses_signature ON diagnoses (signature);
CREATE TABLE IF NOT EXISTS llm_diagnoses (
    signature TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    job TEXT NOT NULL,
    number INTEGER NOT NULL,
    text TEXT,
    error TEXT,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS chat_settings (
    thread TEXT PRIMARY KEY,
    yolo INTEGER NOT NULL DEFAULT 0,
    allow_commands INTEGER NOT NULL DEFAULT 0,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS proposals (
    tool_call_id TEXT PRIMARY KEY,
    thread TEXT NOT NULL,
    tool TEXT NOT NULL,
    request TEXT NOT NULL,
    plan BLOB,
    status TEXT NOT NULL,
    decided_by TEXT,
    feedback TEXT,
    result TEXT,
    created_at REAL NOT NULL,
    decided_at REAL
);
CREATE TABLE IF NOT EXISTS approval_items (
    key TEXT PRIMARY KEY,
    request TEXT NOT NULL,
    thread TEXT NOT NULL,
    position INTEGER NOT NULL,
    count INTEGER NOT NULL,
    call_id TEXT NOT NULL,
    tool TEXT NOT NULL,
    shown TEXT NOT NULL,
    plan BLOB,
    after TEXT NOT NULL,
    builds_on TEXT NOT NULL,
    status TEXT NOT NULL,
    decided_by TEXT,
    reason TEXT,
    feedback TEXT,
    result TEXT,
    created_at REAL NOT NULL,
    decided_at REAL,
    settled_at REAL
);
CREATE INDEX IF NOT EXISTS approval_items_request ON approval_items (request, position);
CREATE INDEX IF NOT EXISTS approval_items_open ON approval_items (status, thread);
CREATE TABLE IF NOT EXISTS edits (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    thread TEXT NOT NULL,
    tool_call_id TEXT NOT NULL,
    path TEXT NOT NULL,
    kind TEXT NOT NULL,
    diff TEXT NOT NULL,
    before BLOB,
    after_sha256 TEXT NOT NULL,
    approved_by TEXT NOT NULL,
    at REAL NOT NULL,
    undone_at REAL,
    change_key TEXT
);
"""


@dataclass(frozen=True)
class AttemptUpdate:
    """A state change of one attempt, as observed by a poll."""

    job: str
    number: int
    state: JobState
    exit_code: int | None = None
    signal: int | None = None
    reason: str | None = None
    started_at: float | None = None
    ended_at: float | None = None
    scheduler_id: str | None = None


class Store:
    """The SQLite store. Open with ``Store(path)``; ``close()`` when done."""

    def __init__(self, path: str | Path, *, readonly: bool = False, timeout: float = 5.0) -> None:
        self.path = Path(path)
        self.readonly = readonly
        if readonly and not self.path.exists():
            raise StoreError(f"no adaptive_llm store at {self.path}")
        try:
            if readonly:
                uri = f"file:{self.path}?mode=ro"
                self._db = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            if not readonly:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.execute("PRAGMA foreign_keys=ON")
                self._db.executescript(_SCHEMA)
                self._add_columns()
                self._check_version()
            else:
                self._db.execute("SELECT count(*) FROM jobs").fetchone()
        except sqlite3.DatabaseError as exc:
            raise StoreError(_explain(self.path, exc)) from exc
        except OSError as exc:
            raise StoreError(f"cannot open store {self.path}: {exc}") from exc

    def _check_version(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None:
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
        elif int(row["value"]) > SCHEMA_VERSION:
            raise StoreError(
                f"store {self.path} was written by a newer adaptive_llm (schema {row['value']});"
                " upgrade adaptive_llm"
            )

    def _add_columns(self) -> None:
        """Columns added since schema 1 was first written (until migrations are versioned)."""
        have = {r["name"] for r in self._db.execute("PRAGMA table_info(edits)").fetchall()}
        if "change_key" not in have:
            self._db.execute("ALTER TABLE edits ADD COLUMN change_key TEXT")

    def check_writable(self) -> None:
        """Raise ``StoreError`` now if the store cannot be written (locked, read-only)."""
        with self.transaction():
            pass

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as exc:
            raise StoreError(_explain(self.path, exc)) from exc
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            try:
                self._db.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                raise StoreError(_explain(self.path, exc)) from exc

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise StoreError(_explain(self.path, exc)) from exc

    # -- generic access for feature modules (chat records) ----------------------------------

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Rows of a read query (a clear ``StoreError`` on a broken store)."""
        return self._query(sql, params)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """One write statement in its own transaction."""
        with self.transaction() as db:
            db.execute(sql, params)

    # -- run facts ----------------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM meta WHERE key=?", (key,))
        return str(rows[0]["value"]) if rows else None

    def set_meta(self, key: str, value: str | None) -> None:
        """Record a fact about the run (None removes it)."""
        with self.transaction() as db:
            if value is None:
                db.execute("DELETE FROM meta WHERE key=?", (key,))
            else:
                db.execute(
                    "INSERT INTO meta (key, value) VALUES (?, ?)"
                    " ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                    (key, value),
                )

    # -- jobs ---------------------------------------------------------------------------------

    def upsert_jobs(self, jobs: Iterable[Job]) -> None:
        now = time.time()
        rows = [(job.name, json.dumps(job.to_dict()), now, now) for job in jobs]
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO jobs (name, spec, created_at, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(name) DO UPDATE SET spec=excluded.spec,"
                " updated_at=excluded.updated_at"
                " WHERE jobs.spec != excluded.spec",
                rows,
            )

    def jobs(self, skip: Container[str] = ()) -> list[Job]:
        """Every recorded job, except those named in ``skip`` (already known to the caller)."""
        return [
            Job.from_dict(json.loads(r["spec"]))
            for r in self._query("SELECT name, spec FROM jobs")
            if r["name"] not in skip
        ]

    # -- attempts -----------------------------------------------------------------------------

    def add_attempt(self, attempt: Attempt, scheduler: str) -> None:
        self.add_attempts([attempt], scheduler)

    def add_attempts(self, attempts: Sequence[Attempt], scheduler: str) -> None:
        """Record new attempts (and their first transition) in one transaction."""
        if not attempts:
            return
        now = time.time()
        with self.transaction() as db:
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
        with self.transaction() as db:
            db.executemany("DELETE FROM transitions WHERE job=? AND number=?", keys)
            db.executemany("DELETE FROM attempts WHERE job=? AND number=?", keys)

    def set_scheduler_id(self, job: str, number: int, scheduler_id: str) -> None:
        self.set_scheduler_ids([(job, number, scheduler_id)])

    def set_scheduler_ids(self, rows: Sequence[tuple[str, int, str]]) -> None:
        """Record the scheduler ids of submitted attempts ``(job, number, id)``, in one go."""
        if not rows:
            return
        with self.transaction() as db:
            db.executemany(
                "UPDATE attempts SET scheduler_id=? WHERE job=? AND number=?",
                [(sid, job, number) for job, number, sid in rows],
            )

    def update_attempts(self, updates: Sequence[AttemptUpdate]) -> None:
        """Record many state changes in one transaction (one poll's worth)."""
        if not updates:
            return
        now = time.time()
        with self.transaction() as db:
            db.executemany(
                "UPDATE attempts SET state=?, exit_code=coalesce(?, exit_code),"
                " signal=coalesce(?, signal), reason=coalesce(?, reason),"
                " started_at=coalesce(started_at, ?), ended_at=coalesce(?, ended_at),"
                " scheduler_id=coalesce(?, scheduler_id) WHERE job=? AND number=?",
                [
                    (
                        u.state.value,
                        u.exit_code,
                        u.signal,
                        u.reason,
                        u.started_at,
                        u.ended_at,
                        u.scheduler_id,
                        u.job,
                        u.number,
                    )
                    for u in updates
                ],
            )
            db.executemany(
                "INSERT INTO transitions (job, number, state, reason, at) VALUES (?, ?, ?, ?, ?)",
                [(u.job, u.number, u.state.value, u.reason, now) for u in updates],
            )

    def attempts(self, job: str | None = None) -> list[Attempt]:
        """All attempts (of one job), oldest first."""
        if job is None:
            rows = self._query("SELECT * FROM attempts ORDER BY job, number")
        else:
            rows = self._query("SELECT * FROM attempts WHERE job=? ORDER BY number", (job,))
        return [_attempt(r) for r in rows]

    def latest_attempts(self) -> dict[str, Attempt]:
        rows = self._query(
            "SELECT a.* FROM attempts a JOIN (SELECT job, max(number) AS n FROM attempts"
            " GROUP BY job) m ON a.job = m.job AND a.number = m.n"
        )
        return {r["job"]: _attempt(r) for r in rows}

    def scheduler_of(self, job: str, number: int) -> str | None:
        rows = self._query("SELECT scheduler FROM attempts WHERE job=? AND number=?", (job, number))
        return str(rows[0]["scheduler"]) if rows else None

    def transitions(self, job: str) -> list[tuple[int, JobState, str | None, float]]:
        rows = self._query(
            "SELECT number, state, reason, at FROM transitions WHERE job=? ORDER BY id", (job,)
        )
        return [(r["number"], JobState(r["state"]), r["reason"], r["at"]) for r in rows]

    # -- diagnoses ----------------------------------------------------------------------------

    def save_diagnosis(self, job: str, number: int, data: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO diagnoses (job, number, engine, category, signature, data,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    job,
                    number,
                    data.get("engine", "offline"),
                    data["category"],
                    data["signature"],
                    json.dumps(data),
                    time.time(),
                ),
            )

    def diagnosis(self, job: str, number: int, engine: str = "offline") -> dict[str, Any] | None:
        rows = self._query(
            "SELECT data FROM diagnoses WHERE job=? AND number=? AND engine=?",
            (job, number, engine),
        )
        return json.loads(rows[0]["data"]) if rows else None

    def diagnoses(self, engine: str = "offline") -> dict[tuple[str, int], dict[str, Any]]:
        rows = self._query("SELECT job, number, data FROM diagnoses WHERE engine=?", (engine,))
        return {(r["job"], r["number"]): json.loads(r["data"]) for r in rows}

    # -- LLM diagnoses, one per failure signature ---------------------------------------------

    def llm_diagnosis(self, signature: str) -> dict[str, Any] | None:
        rows = self._query("SELECT * FROM llm_diagnoses WHERE signature=?", (signature,))
        return dict(rows[0]) if rows else None

    def llm_signatures(self) -> set[str]:
        """Signatures that have a stored LLM diagnosis (or the reason it failed)."""
        return {str(r["signature"]) for r in self._query("SELECT signature FROM llm_diagnoses")}

    def save_llm_diagnosis(
        self, signature: str, model: str, job: str, number: int, text: str | None, error: str | None
    ) -> None:
        self.execute(
            "INSERT OR REPLACE INTO llm_diagnoses (signature, model, job, number, text, error,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (signature, model, job, number, text, error, time.time()),
        )


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


def _explain(path: Path, exc: sqlite3.DatabaseError) -> str:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return (
            f"store {path} is locked by another process (another RunManager or tool writing"
            f" to it?); try again when it is done ({text})"
        )
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return (
            f"store {path} is not a valid adaptive_llm database ({text}); it may be corrupt."
            " Move it aside to start afresh; nothing was changed"
        )
    if "readonly" in text or "unable to open" in text:
        return f"cannot write store {path} ({text}); check the workdir's permissions"
    return f"store {path}: {text}"
