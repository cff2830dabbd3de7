"""The store's SQLite connection: opening (WAL), short transactions, clear errors, and the
schema brought up to date by numbered steps (:mod:`.migrations`) when a store is opened.

All writes go through short transactions on the caller's thread (the event loop's, in a
notebook); each call is a few milliseconds at most, batched where many rows change at once.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import StoreError
from .check import check_contents, check_file, what_to_do
from .layout import CHECKPOINTS_NAME
from .migrations import CURRENT, STEPS, version_of
from .readonly import open_readonly

__all__ = ["Database"]


class Database:
    """One connection to a store file (``readonly``: never written, never migrated)."""

    def __init__(self, path: str | Path, *, readonly: bool = False, timeout: float = 5.0) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self._scratch: Path | None = None
        new = check_file(self.path, readonly=readonly)  # absent, empty, damaged: before SQLite
        # A hot rollback journal (a store of the first release, interrupted) needs a writer.
        hot_journal = Path(f"{self.path}-journal").exists()
        if not readonly and not new and not hot_journal:
            self._check_before_writing(timeout)
        try:
            if readonly:
                self._db, self._scratch = open_readonly(self.path, timeout)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        except sqlite3.DatabaseError as exc:
            raise StoreError(_explain(self.path, exc)) from exc
        except OSError as exc:
            raise StoreError(f"cannot open store {self.path}: {exc.strerror or exc}") from exc
        try:
            self._db.row_factory = sqlite3.Row
            self.version = version_of(self._db)
            if readonly or new or hot_journal:
                self.version = check_contents(self._db, self.path, readonly=readonly, new=new)
            if readonly:
                self._db.execute("SELECT count(*) FROM jobs").fetchone()
            else:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.execute("PRAGMA foreign_keys=ON")
                self.version = self._migrate()
        except BaseException as exc:
            self.close()
            if isinstance(exc, sqlite3.DatabaseError):
                raise StoreError(_explain(self.path, exc)) from exc
            if isinstance(exc, OSError):
                raise StoreError(f"cannot open store {self.path}: {exc.strerror or exc}") from exc
            raise

    def _check_before_writing(self, timeout: float) -> None:
        """Check an existing store through a read-only connection: a writable one would, on
        closing, checkpoint its WAL into a damaged file and delete the WAL."""
        try:
            probe, _ = open_readonly(self.path, timeout, in_place=True)
            try:
                check_contents(probe, self.path, readonly=False, new=False)
            finally:
                probe.close()
        except sqlite3.DatabaseError as exc:
            raise StoreError(_explain(self.path, exc)) from exc

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
        if self._scratch is not None:  # the private copy of a store read where it lies
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``; any SQLite error inside (a full disk, a store
        damaged since it was opened) rolls back and becomes a ``StoreError``."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as exc:
            raise StoreError(_explain(self.path, exc)) from exc
        try:
            yield self._db
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):  # SQLite may have rolled back already
                self._db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.DatabaseError):
                raise StoreError(_explain(self.path, exc)) from exc
            raise
        else:
            try:
                self._db.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                raise StoreError(_explain(self.path, exc)) from exc

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Rows of a read query (a clear ``StoreError`` on a broken store)."""
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise StoreError(_explain(self.path, exc)) from exc

    def iter_rows(
        self, sql: str, params: Sequence[Any] = (), *, batch: int = 500
    ) -> Iterator[list[sqlite3.Row]]:
        """The rows of a read query, ``batch`` at a time (a whole table is never held in
        memory); a clear ``StoreError`` on a broken store."""
        try:
            cursor = self._db.execute(sql, params)
            while rows := cursor.fetchmany(batch):
                yield rows
        except sqlite3.DatabaseError as exc:
            raise StoreError(_explain(self.path, exc)) from exc

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One write statement in its own transaction; the rows it changed."""
        with self.transaction() as db:
            return int(db.execute(sql, params).rowcount)


def _explain(path: Path, exc: sqlite3.DatabaseError) -> str:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return (
            f"store {path} is locked by another process (another RunManager or tool writing"
            f" to it?); try again when it is done ({text})"
        )
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return f"store {path} is not a valid adaptive_llm database ({text}); {what_to_do(path)}"
    if "disk is full" in text or "disk I/O" in text:
        return f"cannot write store {path} ({text}); free some space and try again"
    if "readonly" in text or "unable to open" in text:
        return f"cannot write store {path} ({text}); check the workdir's permissions"
    return f"store {path}: {text}"
