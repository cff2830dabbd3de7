"""The run's SQLite store: one file per workdir (:mod:`.layout`), opened and migrated by
:mod:`.db`, read and written through one repository per aggregate: ``store.jobs`` (jobs,
attempts, transitions), ``store.diagnoses`` (offline and LLM diagnoses) and ``store.chat``
(the changes of each model reply, edits, settings). No SQL leaves this package.

A store is opened only when it is absent (a new one is made), empty in a new workdir, or looks
whole (:mod:`.check`); an emptied, truncated, damaged, foreign or newer store is a clear
``StoreError`` that changes nothing. Read-only opens write nothing beside it (:mod:`.readonly`).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import StoreError
from .chat import ChatRepository
from .db import Database
from .diagnoses import DiagnosisRepository
from .jobs import JobRepository
from .layout import CHECKPOINTS_NAME, Layout

__all__ = [
    "ChatRepository",
    "DiagnosisRepository",
    "JobRepository",
    "Layout",
    "Store",
    "StoreError",
]


class Store:
    """The store of one run. ``Store(path)`` opens (and migrates) it; ``readonly=True`` only
    reads it, also where the user cannot write; ``close()`` when done."""

    def __init__(self, path: str | Path, *, readonly: bool = False, timeout: float = 5.0) -> None:
        self._db = Database(path, readonly=readonly, timeout=timeout)
        self.path = self._db.path
        #: The chats' conversations (LangGraph's checkpointer) live beside the store.
        self.checkpoints = self.path.with_name(CHECKPOINTS_NAME)
        self.readonly = readonly
        #: The schema version of the file (older than current only when read-only).
        self.version = self._db.version
        self.jobs = JobRepository(self._db)
        self.diagnoses = DiagnosisRepository(self._db)
        self.chat = ChatRepository(self._db)

    def check_writable(self) -> None:
        """Raise ``StoreError`` now if the store cannot be written (locked, read-only)."""
        with self._db.transaction():
            pass

    def close(self) -> None:
        self._db.close()

    def meta(self, key: str) -> str | None:
        rows = self._db.rows("SELECT value FROM meta WHERE key=?", (key,))
        return str(rows[0]["value"]) if rows else None

    def set_meta(self, key: str, value: str | None) -> None:
        """Record a fact about the run (None removes it)."""
        with self._db.transaction() as db:
            if value is None:
                db.execute("DELETE FROM meta WHERE key=?", (key,))
            else:
                db.execute(
                    "INSERT INTO meta (key, value) VALUES (?, ?)"
                    " ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                    (key, value),
                )
