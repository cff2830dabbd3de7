"""The store's SQLite connection: opening (WAL), short transactions, clear errors, and the
schema brought up to date by numbered steps (:mod:`.migrations`) when a store is opened.

All writes go through short transactions on the caller's thread (the event loop's, in a
notebook); each call is a few milliseconds at most, batched where many rows change at once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import StoreError
from .layout import CHECKPOINTS_NAME
from .migrations import CURRENT, STEPS, version_of

__all__ = ["Database"]


class Database:
    """One connection to a store file (``readonly``: never written, never migrated)."""

    def __init__(self, path: str | Path, *, readonly: bool = False, timeout: float = 5.0) -> None:
        self.path = Path(path)
        self.readonly = readonly
        if readonly and not self.path.exists():
            raise StoreError(f"no adaptive_llm store at {self.path}")
        try:
            if readonly:
                self._db = _open_readonly(self.path, timeout)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            if readonly:
                self.version = version_of(self._db)
                self._db.execute("SELECT count(*) FROM jobs").fetchone()
            else:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.execute("PRAGMA foreign_keys=ON")
                self.version = self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(_explain(self.path, exc)) from exc
        except OSError as exc:
            raise StoreError(f"cannot open store {self.path}: {exc}") from exc
        if self.version > CURRENT:
            self._db.close()
            raise StoreError(
                f"store {self.path} was written by a newer adaptive_llm (schema {self.version},"
                f" this one knows {CURRENT}); upgrade adaptive_llm"
            )

    def _migrate(self) -> int:
        """Run the steps from the store's version to the current one, each in its own
        transaction with the version it reaches."""
        version = version_of(self._db)
        if version >= CURRENT:
            return version
        self._db.execute("ATTACH DATABASE ? AS cp", (str(self.path.with_name(CHECKPOINTS_NAME)),))
        try:
            for number in range(version + 1, CURRENT + 1):
                with self.transaction() as db:
                    STEPS[number - 1](db, self.path)
                    db.execute(f"PRAGMA user_version = {number}")
        finally:
            self._db.execute("DETACH DATABASE cp")
        return CURRENT

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

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Rows of a read query (a clear ``StoreError`` on a broken store)."""
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise StoreError(_explain(self.path, exc)) from exc

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One write statement in its own transaction; the rows it changed."""
        with self.transaction() as db:
            return int(db.execute(sql, params).rowcount)


def _open_readonly(path: Path, timeout: float) -> sqlite3.Connection:
    """A read-only connection, also to a store in a directory the user cannot write: a WAL
    database then has no ``-shm`` to share, so it is read as immutable (a snapshot)."""
    uri = f"file:{path}?mode=ro"
    db = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None)
    try:
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return db
    except sqlite3.OperationalError:
        db.close()
    uri = f"file:{path}?mode=ro&immutable=1"
    return sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None)


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
