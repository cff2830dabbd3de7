"""Reading a store without writing anything beside it (``adaptive-llm status``).

A plain ``mode=ro`` connection to a WAL database creates ``-wal`` and ``-shm`` files where it
can, and fails where it cannot (a colleague's read-only workdir). So:

* no ``-wal`` file (nobody is writing; every change is in the main file): read it as
  immutable, which creates and locks nothing;
* a ``-wal`` file with its ``-shm`` (a RunManager is running, or was killed): a ``mode=ro``
  connection shares them, as a reader must, to see the latest commits;
* a ``-wal`` file without ``-shm`` (or one that cannot be shared): copy the store and its WAL
  to a private temporary directory and read the copy, which sees every commit.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path
from urllib.parse import quote

__all__ = ["open_readonly"]

#: Attempts at a consistent copy of a store whose WAL changes while it is copied.
COPY_ATTEMPTS = 3


def open_readonly(
    path: Path, timeout: float, *, in_place: bool = False
) -> tuple[sqlite3.Connection, Path | None]:
    """A read-only connection to ``path`` and the temporary directory to remove when it is
    closed (None when the store is read in place, as always with ``in_place``: a writer about
    to open the store checks it first, and may create the ``-shm`` it will use anyway)."""
    wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
    if Path(f"{path}-journal").exists():  # an interrupted write in rollback mode
        return _connect(path, "mode=ro", timeout), None
    if _size(wal) == 0:
        return _connect(path, "mode=ro&immutable=1", timeout), None
    if in_place:
        return _connect(path, "mode=ro", timeout), None
    if shm.exists():
        db = _connect(path, "mode=ro", timeout)
        try:
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return db, None
        except sqlite3.OperationalError:  # the -shm cannot be shared (its permissions)
            db.close()
    return _read_copy(path, wal, timeout)


def _connect(path: Path, query: str, timeout: float) -> sqlite3.Connection:
    uri = f"file:{quote(str(path))}?{query}"
    return sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _read_copy(path: Path, wal: Path, timeout: float) -> tuple[sqlite3.Connection, Path]:
    scratch = Path(tempfile.mkdtemp(prefix="adaptive-llm-store-"))
    try:
        copy = scratch / path.name
        for _ in range(COPY_ATTEMPTS):
            before = _stamp(path), _stamp(wal)
            shutil.copyfile(wal, f"{copy}-wal")
            shutil.copyfile(path, copy)
            if (_stamp(path), _stamp(wal)) == before:
                break
        return _connect(copy, "mode=ro", timeout), scratch
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


def _stamp(path: Path) -> tuple[int, int]:
    with contextlib.suppress(OSError):
        info = os.stat(path)
        return info.st_size, info.st_mtime_ns
    return -1, -1
