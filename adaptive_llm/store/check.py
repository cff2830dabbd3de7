"""Is this file a store we may open? Checked before SQLite touches it, and just after.

SQLite takes a 0-byte file for a new database (and, if a ``-wal`` file is beside it, deletes
that), so an emptied store would silently start over and the next attempt would overwrite the
logs of the lost ones. A store is therefore opened only when it is absent (a new one is
made), or empty in a new workdir, or an SQLite file that looks whole: the header, the size
the header claims, a bounded ``PRAGMA quick_check`` and the schema version. Anything else is
a :class:`StoreError` that names the file, says what is wrong and what to do, and changes
nothing.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sqlite3
import stat
import time
from pathlib import Path
from urllib.parse import quote

from ..errors import StoreError
from .layout import CHECKPOINTS_NAME, LOGS_NAME, first_attempt_file
from .migrations import CURRENT, version_of

__all__ = [
    "CHECK_SECONDS",
    "check_contents",
    "check_file",
    "damaged",
    "leftovers",
    "what_to_do",
]

MAGIC = b"SQLite format 3\x00"
#: The integrity check stops after this long (a large store is checked in part).
CHECK_SECONDS = 0.25
#: Tables every adaptive_llm store has (a version-0 file without them is someone else's).
OUR_TABLES = frozenset({"meta", "jobs", "attempts"})


def what_to_do(path: Path) -> str:
    """The way out of a store that cannot be used: restore it, or move it away (with its
    WAL files, which belong to it) so that a new store is made; the logs are kept."""
    names = [path.name] + [
        f"{path.name}{suffix}" for suffix in ("-wal", "-shm") if Path(f"{path}{suffix}").exists()
    ]
    files = " ".join(shlex.quote(name) for name in names)
    return (
        f"restore it from a backup, or move it away (cd {shlex.quote(str(path.parent))} &&"
        " mkdir -p broken &&"
        f" mv {files} broken/) and a new store is made on the next run; attempt logs are kept"
        " and their numbers are not reused. Nothing was changed"
    )


def damaged(path: Path, detail: str) -> StoreError:
    return StoreError(f"store {path} is damaged ({detail}); {what_to_do(path)}")


def leftovers(store: Path) -> list[str]:
    """What the state directory of ``store`` holds besides the store (attempt logs, chats,
    writes in its WAL), in words; empty for a new workdir."""
    found: list[str] = []
    example = first_attempt_file(store.parent / LOGS_NAME)
    if example is not None:
        found.append(f"attempt logs ({example})")
    if _has_tables(store.with_name(CHECKPOINTS_NAME)):
        found.append(f"chat history ({CHECKPOINTS_NAME})")
    with contextlib.suppress(OSError):
        if Path(f"{store}-wal").stat().st_size > 0:
            found.append(f"writes not yet checkpointed into it ({store.name}-wal)")
    return found


def _has_tables(path: Path) -> bool:
    """Whether the SQLite file ``path`` holds any table (True if it cannot be read)."""
    try:
        if path.stat().st_size == 0:
            return False
    except OSError:
        return False
    try:
        db = sqlite3.connect(f"file:{quote(str(path))}?mode=ro&immutable=1", uri=True)
        try:
            return bool(db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0])
        finally:
            db.close()
    except sqlite3.Error:
        return True


def check_file(path: Path, *, readonly: bool) -> bool:
    """Raise ``StoreError`` unless ``path`` may be opened as a store; True when it is to be
    made (absent, or empty in a new workdir)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            raise StoreError(
                f"store {path} is a symbolic link to a missing file ({os.readlink(path)});"
                " restore the file it points to, or remove the link to start a new store"
            ) from None
        if readonly:
            raise StoreError(f"no adaptive_llm store at {path}") from None
        return True
    except OSError as exc:
        raise StoreError(f"cannot read store {path}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise StoreError(
            f"store {path} is a directory, not a store file; move it away (it is not ours)"
            " and a new store is made on the next run"
        )
    if not stat.S_ISREG(info.st_mode):
        raise StoreError(
            f"store {path} is not a regular file ({_kind(info.st_mode)}); move it away and a"
            " new store is made on the next run"
        )
    if info.st_size == 0:
        return _empty(path, readonly)
    _check_header(path, info.st_size)
    return False


def _empty(path: Path, readonly: bool) -> bool:
    found = leftovers(path)
    if found:
        raise StoreError(
            f"store {path} is empty (0 bytes), but the workdir has {' and '.join(found)}: the"
            f" store was lost (a full disk, an interrupted copy?); {what_to_do(path)}"
        )
    if readonly:
        raise StoreError(f"store {path} is empty (0 bytes): no job was recorded in it")
    return True  # a new workdir whose store was created but never written: made now


def _check_header(path: Path, size: int) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        try:
            head = os.pread(fd, 100, 0)
        finally:
            os.close(fd)
    except OSError as exc:
        raise StoreError(f"cannot read store {path}: {exc.strerror or exc}") from None
    if not head.startswith(MAGIC):
        raise StoreError(
            f"store {path} is not a valid store, not even an SQLite database"
            f" ({_describe(head)}); {what_to_do(path)}"
        )
    if len(head) < 100:
        raise damaged(path, f"truncated to {size} bytes, shorter than its header")
    page = int.from_bytes(head[16:18], "big")
    page = 65536 if page == 1 else page
    if page < 512 or page & (page - 1):
        raise damaged(path, f"its header gives an impossible page size ({page})")
    if size % page:
        raise damaged(path, f"truncated: {size} bytes is not a whole number of {page}-byte pages")
    pages = int.from_bytes(head[28:32], "big")
    header_valid = pages > 0 and head[24:28] == head[92:96]
    wal_size = 0
    with contextlib.suppress(OSError):
        wal_size = Path(f"{path}-wal").stat().st_size
    # With writes in the WAL the file may lag behind its header until the next checkpoint.
    if header_valid and wal_size == 0 and size < pages * page:
        raise damaged(path, f"truncated: {size // page} of its {pages} pages are left")


def check_contents(db: sqlite3.Connection, path: Path, *, readonly: bool, new: bool) -> int:
    """The schema version of an opened store, after checking it is ours, not newer and not
    damaged (within ``CHECK_SECONDS``); raises ``StoreError`` (or ``sqlite3.DatabaseError``,
    which the caller explains) otherwise. ``new``: the store is being made (no file was
    there, or an empty one in a new workdir)."""
    version = version_of(db)
    if version > CURRENT:
        raise StoreError(
            f"store {path} was written by a newer adaptive_llm (schema {version}, this one"
            f" knows {CURRENT}); upgrade adaptive_llm (pip install -U adaptive_llm) to use it."
            " Nothing was changed"
        )
    tables = {str(r[0]) for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if version == 0 and tables and not tables & OUR_TABLES:
        shown = ", ".join(sorted(tables)[:5])
        raise StoreError(
            f"{path} is an SQLite database but not an adaptive_llm store (its tables: {shown});"
            " use another workdir, or move the file away. Nothing was changed"
        )
    if not tables and not new:
        found = leftovers(path)
        if found:
            raise StoreError(
                f"store {path} has no tables, but the workdir has {' and '.join(found)}: the"
                f" store was lost; {what_to_do(path)}"
            )
        if readonly:
            raise StoreError(f"store {path} is empty: no job was recorded in it")
    problem = _quick_check(db)
    if problem is not None:
        raise damaged(path, problem)
    return version


def _quick_check(db: sqlite3.Connection) -> str | None:
    """The first problem ``PRAGMA quick_check`` finds in ``CHECK_SECONDS`` (None if none)."""
    deadline = time.monotonic() + CHECK_SECONDS
    db.set_progress_handler(lambda: time.monotonic() > deadline, 10_000)
    try:
        rows = db.execute("PRAGMA quick_check(1)").fetchall()
    except sqlite3.OperationalError as exc:
        if "interrupt" in str(exc):
            return None  # a large store: checked in part, in bounded time
        raise
    finally:
        db.set_progress_handler(None, 0)
    result = str(rows[0][0]) if rows else "ok"
    if result == "ok":
        return None
    lines = [line for line in result.splitlines() if line and not line.startswith("***")]
    return "; ".join(lines) or result


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return "not a file"


def _describe(head: bytes) -> str:
    """What the first bytes of a file that is not SQLite look like."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not just a character cut at the 100th byte
            return "it holds other binary data"
        text = head[: exc.start].decode("utf-8")
    if text.isprintable() or all(c.isprintable() or c in "\t\r\n" for c in text):
        first = text.strip().splitlines()[0][:40] if text.strip() else ""
        return f"it is a text file, starting {first!r}" if first else "it holds only whitespace"
    return "it holds other binary data"
