"""The store's schema, as numbered steps (``PRAGMA user_version``). A released step is never
edited: a change of the schema is a new step. Each runs in the transaction that opens the
store, so a store is at one version or the next, never between.

1. the first release: jobs, attempts, transitions, diagnoses, LLM diagnoses, chat settings,
   proposals and edits (stores of that release say ``schema_version = 1`` in ``meta`` and have
   ``user_version`` 0);
2. one approval request per model reply: ``approval_items``; ``edits.change_key``;
3. LangGraph's checkpoints leave the store for ``checkpoints.sqlite`` beside it (a second
   writer on the same file contended for its lock);
4. ``edits.created_dirs``: the folders an edit created for a new file (JSON list), so undoing
   the creation removes them too;
5. ``model_usage``: tokens per scope (a chat thread, or ``diagnosis:<signature>``) and model,
   with how many of them were estimated (a provider that reports no usage) and whether the
   model ran on a local server; the chats' counts so far move there (model ``''``: not
   recorded then). ``chat_settings.input_tokens``/``output_tokens`` are no longer written.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

__all__ = ["CURRENT", "STEPS", "version_of"]

V1 = """
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
    undone_at REAL
);
"""


V2 = """
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
    settled_at REAL,
    answered INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS approval_items_request ON approval_items (request, position);
CREATE INDEX IF NOT EXISTS approval_items_open ON approval_items (status, thread);
"""

#: LangGraph's tables (langgraph-checkpoint-sqlite), moved out in step 3.
CHECKPOINT_TABLES = ("checkpoints", "writes")


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {str(r[1]) for r in db.execute(f"PRAGMA table_info({table})").fetchall()}


def _script(db: sqlite3.Connection, sql: str) -> None:
    """Run each statement of ``sql`` in the open transaction (``executescript`` would commit
    it first)."""
    for statement in sql.split(";"):
        if statement.strip():
            db.execute(statement)


def _step1(db: sqlite3.Connection, store: Path) -> None:
    _script(db, V1)
    db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', '1')")


def _step2(db: sqlite3.Connection, store: Path) -> None:
    _script(db, V2)
    if "change_key" not in _columns(db, "edits"):  # also written by a pre-release build
        db.execute("ALTER TABLE edits ADD COLUMN change_key TEXT")


def _step3(db: sqlite3.Connection, store: Path) -> None:
    tables = [
        str(r[0])
        for r in db.execute(
            "SELECT name FROM main.sqlite_master WHERE type='table' AND name IN (?, ?)",
            CHECKPOINT_TABLES,
        )
    ]
    if not tables:
        return
    # The runner attached the checkpoints file as ``cp`` (ATTACH cannot run in a transaction).
    # Copy, then drop: a crash between the two files' commits repeats the step harmlessly.
    for table in tables:
        [sql] = db.execute(
            "SELECT sql FROM main.sqlite_master WHERE type='table' AND name=?", (table,)
        ).fetchone()
        head = f"CREATE TABLE IF NOT EXISTS cp.{table}"
        db.execute(str(sql).replace(f"CREATE TABLE {table}", head, 1))
        db.execute(f"INSERT OR IGNORE INTO cp.{table} SELECT * FROM main.{table}")
        db.execute(f"DROP TABLE main.{table}")


def _step4(db: sqlite3.Connection, store: Path) -> None:
    if "created_dirs" not in _columns(db, "edits"):
        db.execute("ALTER TABLE edits ADD COLUMN created_dirs TEXT")


V5 = """
CREATE TABLE IF NOT EXISTS model_usage (
    scope TEXT NOT NULL,
    model TEXT NOT NULL,
    local INTEGER NOT NULL DEFAULT 0,
    calls INTEGER NOT NULL DEFAULT 0,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    estimated_input_tokens INTEGER NOT NULL DEFAULT 0,
    estimated_output_tokens INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, model, local)
);
INSERT OR IGNORE INTO model_usage (scope, model, input_tokens, output_tokens)
    SELECT thread, '', input_tokens, output_tokens FROM chat_settings
    WHERE input_tokens > 0 OR output_tokens > 0;
"""


def _step5(db: sqlite3.Connection, store: Path) -> None:
    _script(db, V5)


#: Step ``n`` takes a store from version ``n - 1`` to ``n``.
STEPS: list[Callable[[sqlite3.Connection, Path], None]] = [
    _step1,
    _step2,
    _step3,
    _step4,
    _step5,
]
CURRENT = len(STEPS)


def version_of(db: sqlite3.Connection) -> int:
    """The store's schema version (a store of the first release has ``user_version`` 0)."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version == 0:
        has_meta = db.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'"
        ).fetchone()
        if (
            has_meta
            and db.execute("SELECT 1 FROM meta WHERE key='schema_version' AND value='1'").fetchone()
        ):
            return 1
    return version
