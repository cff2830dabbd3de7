"""The store never loses an attempt log: an empty, truncated or damaged store is refused with
a clear error (and left as it was) unless the workdir is new; no attempt number whose files
exist is given again; ``adaptive-llm status`` reads a store without writing anything beside it,
also where the user cannot write.

Every damaged store here is made by hand from a real one (truncated, overwritten, replaced),
and checked through the two doors a user has: ``RunManager(...)`` and ``adaptive-llm status``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import os
import random
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from adaptive_llm import Attempt, Job, JobState, RunManager, StoreError
from adaptive_llm.cli import main
from adaptive_llm.diagnosis import diagnose
from adaptive_llm.store import Store
from adaptive_llm.store.layout import Layout, highest_attempt
from adaptive_llm.store.migrations import CURRENT

PAGE = 4096


# -- helpers ----------------------------------------------------------------------------------


def state(workdir: Path) -> Path:
    return workdir / ".adaptive_llm"


def store_path(workdir: Path) -> Path:
    return state(workdir) / "store.sqlite"


def fill(path: Path, jobs: int = 60) -> None:
    """A store with jobs, attempts and diagnoses in it: many pages, every table used."""
    store = Store(path)
    try:
        store.jobs.upsert([Job(f"job{i}", ["python", f"step{i}.py"]) for i in range(jobs)])
        store.jobs.add_attempts(
            [
                Attempt(f"job{i}", 1, JobState.FAILED, str(path.parent / f"logs/job{i}/a.log"))
                for i in range(jobs)
            ],
            "local",
        )
        log = path.parent / "diagnosed.log"
        log.write_text("Traceback (most recent call last):\nValueError: bad value\n" * 20)
        data = diagnose(log).to_dict()
        log.unlink()
        for i in range(jobs):
            store.diagnoses.save(f"job{i}", 1, {**data, "path": f"job{i}.log"})
        store.set_meta("note", "y" * 3000)
    finally:
        store.close()


def status(workdir: Path, *, as_json: bool = True) -> tuple[int, str, str]:
    """``adaptive-llm status`` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    argv = ["status", "--workdir", str(workdir)] + (["--json"] if as_json else [])
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def snapshot(root: Path) -> dict[str, tuple[int, int, str]]:
    """Every file under ``root``: size, mtime and content hash."""
    files = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            info = path.stat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            files[str(path.relative_to(root))] = (info.st_size, info.st_mtime_ns, digest)
    return files


def refused(workdir: Path) -> str:
    """The StoreError ``RunManager(...)`` raises on ``workdir`` (checked to be clear)."""
    with pytest.raises(StoreError) as info:
        RunManager([Job("a", ["true"])], workdir=workdir)
    message = str(info.value)
    assert str(store_path(workdir)) in message, message
    return message


def status_refuses(workdir: Path) -> str:
    code, out, err = status(workdir)
    assert code == 2 and not out, (code, out, err)
    assert err.startswith("adaptive-llm: ") and "Traceback" not in err, err
    return err


async def run_once(workdir: Path, job: Job) -> list[Attempt]:
    rm = RunManager([job], workdir=workdir, poll_interval=0.05)
    rm.start()
    try:
        await rm.wait(timeout=60)
        return rm.store.jobs.attempts(job.name)
    finally:
        await rm.close()


def stamp_job(name: str = "a") -> Job:
    """A job whose log is different on every run (so an overwrite shows)."""
    return Job(name, [sys.executable, "-c", "import time; print('ran at', time.time_ns())"])


# -- the named case: an empty store with logs beside it ----------------------------------------


async def test_an_emptied_store_is_refused_and_no_log_is_overwritten(tmp_path: Path) -> None:
    [first] = await run_once(tmp_path, stamp_job())
    log = Path(first.log_path)
    kept = log.read_text()
    assert first.number == 1 and kept.startswith("ran at")
    store_path(tmp_path).write_bytes(b"")  # a full disk, a failed copy, `> store.sqlite`
    for suffix in ("-wal", "-shm"):
        Path(f"{store_path(tmp_path)}{suffix}").unlink(missing_ok=True)

    message = refused(tmp_path)
    assert "empty (0 bytes)" in message and "attempt logs" in message
    assert "restore it from a backup" in message and "move it away" in message
    assert store_path(tmp_path).read_bytes() == b""  # nothing was changed
    assert "empty (0 bytes)" in status_refuses(tmp_path)

    # The way out the message gives works, and the next attempt takes a new number.
    [command] = re.findall(r"\((cd .*? broken/)\)", message)
    await asyncio.to_thread(subprocess.run, ["bash", "-c", command], check=True)
    assert (state(tmp_path) / "broken" / "store.sqlite").exists()
    [again] = await run_once(tmp_path, stamp_job())
    assert again.number == 2, again
    assert log.read_text() == kept
    assert Path(again.log_path).name == "attempt-2.log"


async def test_an_empty_store_in_a_new_workdir_is_made_afresh(tmp_path: Path) -> None:
    state(tmp_path).mkdir()
    store_path(tmp_path).write_bytes(b"")  # created, never written: nothing to lose
    [attempt] = await run_once(tmp_path, stamp_job())
    assert attempt.number == 1 and attempt.state is JobState.COMPLETED


async def test_a_store_that_lost_rows_never_overwrites_a_log(tmp_path: Path) -> None:
    [first] = await run_once(tmp_path, stamp_job())
    kept = Path(first.log_path).read_text()
    db = sqlite3.connect(store_path(tmp_path), isolation_level=None)
    db.execute("DELETE FROM attempts")  # rows lost (a restored backup, a hand edit)
    db.execute("DELETE FROM transitions")
    db.close()
    [second] = await run_once(tmp_path, stamp_job())
    assert second.number == 2
    assert Path(first.log_path).read_text() == kept


async def test_a_moved_away_store_starts_over_above_every_attempt_on_disk(tmp_path: Path) -> None:
    logs = state(tmp_path) / "logs" / "a"
    logs.mkdir(parents=True)
    # Attempts 1 and 3 left logs; attempt 5 only its runner's files; 7 is not ours.
    for name in ("attempt-1.log", "attempt-3.log", "attempt-5.status.json", "attempt-7"):
        (logs / name).write_text("old\n")
    assert highest_attempt(logs) == 5
    [attempt] = await run_once(tmp_path, stamp_job())
    assert attempt.number == 6 and attempt.state is JobState.COMPLETED
    for name in ("attempt-1.log", "attempt-3.log", "attempt-5.status.json"):
        assert (logs / name).read_text() == "old\n"


def test_highest_attempt_of_a_missing_or_odd_directory(tmp_path: Path) -> None:
    assert highest_attempt(tmp_path / "none") == 0
    (tmp_path / "f").write_text("")
    assert highest_attempt(tmp_path / "f") == 0  # a file, not a directory
    (tmp_path / "d").mkdir()
    for name in ("attempt-.log", "attempt-x.log", "xattempt-2.log", "attempt-0009.log"):
        (tmp_path / "d" / name).write_text("")
    assert highest_attempt(tmp_path / "d") == 9


# -- named kinds of damage ---------------------------------------------------------------------


def real_store(workdir: Path) -> bytes:
    """A real store with jobs in ``workdir`` (closed cleanly: no WAL), its bytes; and an
    attempt log beside it."""
    state(workdir).mkdir(parents=True, exist_ok=True)
    fill(store_path(workdir))
    log = state(workdir) / "logs" / "job0" / "attempt-1.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("Traceback (most recent call last):\nValueError: x\n")
    return store_path(workdir).read_bytes()


def newer(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {CURRENT + 1}")
    db.close()


def foreign(path: Path) -> None:
    path.unlink()
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)")
    db.close()


DAMAGE = {
    "random bytes": (lambda p, good: p.write_bytes(random.Random(1).randbytes(3 * PAGE)), "not"),
    "a text file": (lambda p, good: p.write_text("name,state\ntrain,FAILED\n" * 50), "text file"),
    "truncated mid-page": (lambda p, good: p.write_bytes(good[: 5 * PAGE + 123]), "truncated"),
    "truncated at a page": (lambda p, good: p.write_bytes(good[: 5 * PAGE]), "truncated"),
    "only a header": (lambda p, good: p.write_bytes(good[:60]), "truncated"),
    "header, then garbage": (
        lambda p, good: p.write_bytes(good[:100] + random.Random(2).randbytes(len(good) - 100)),
        "",
    ),
    "a newer schema": (lambda p, good: newer(p), "newer adaptive_llm"),
    "someone else's database": (lambda p, good: foreign(p), "not an adaptive_llm store"),
}


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_a_damaged_store_is_a_clear_error_and_left_alone(tmp_path: Path, kind: str) -> None:
    good = real_store(tmp_path)
    damage, words = DAMAGE[kind]
    damage(store_path(tmp_path), good)
    before = snapshot(tmp_path)
    message = refused(tmp_path)
    assert words in message, message
    assert "Nothing was changed" in message or "nothing was changed" in message
    assert words in status_refuses(tmp_path)
    assert snapshot(tmp_path) == before


def test_a_directory_in_place_of_the_store(tmp_path: Path) -> None:
    store_path(tmp_path).mkdir(parents=True)
    assert "is a directory" in refused(tmp_path)
    assert "is a directory" in status_refuses(tmp_path)


def test_a_fifo_in_place_of_the_store_does_not_hang(tmp_path: Path) -> None:
    state(tmp_path).mkdir()
    os.mkfifo(store_path(tmp_path))
    started = time.monotonic()
    assert "a FIFO" in refused(tmp_path)
    assert "a FIFO" in status_refuses(tmp_path)
    assert time.monotonic() - started < 5


def test_a_socket_in_place_of_the_store(tmp_path: Path) -> None:
    state(tmp_path).mkdir()
    short = Path(tempfile.mkdtemp(prefix="als-"))  # socket paths are limited to ~100 bytes
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind(str(short / "s"))
            store_path(tmp_path).symlink_to(short / "s")
            assert "a socket" in refused(tmp_path)
    finally:
        shutil.rmtree(short)


def test_a_dangling_symlink_in_place_of_the_store(tmp_path: Path) -> None:
    state(tmp_path).mkdir()
    store_path(tmp_path).symlink_to(tmp_path / "elsewhere" / "store.sqlite")
    assert "symbolic link to a missing file" in refused(tmp_path)
    assert "symbolic link to a missing file" in status_refuses(tmp_path)
    assert not (tmp_path / "elsewhere").exists()  # SQLite did not create the target


def test_an_empty_store_without_logs_is_a_clear_status(tmp_path: Path) -> None:
    state(tmp_path).mkdir()
    store_path(tmp_path).write_bytes(b"")
    assert "empty (0 bytes)" in status_refuses(tmp_path)
    assert store_path(tmp_path).read_bytes() == b""


def test_an_empty_store_with_writes_in_its_wal_is_refused_and_the_wal_kept(
    tmp_path: Path,
) -> None:
    """SQLite deletes the WAL of a 0-byte database when it opens it; we never let it."""
    state(tmp_path).mkdir()
    store_path(tmp_path).write_bytes(b"")
    wal = Path(f"{store_path(tmp_path)}-wal")
    wal.write_bytes(b"\x37\x7f\x06\x82" + b"\x00" * 4092)
    assert "store.sqlite-wal" in refused(tmp_path)
    assert wal.stat().st_size == 4096


def test_the_advice_names_the_wal_files_to_move_with_the_store(tmp_path: Path) -> None:
    real_store(tmp_path)
    path = store_path(tmp_path)
    path.write_bytes(path.read_bytes()[:123])
    Path(f"{path}-shm").write_bytes(b"")
    message = refused(tmp_path)
    assert "mv store.sqlite store.sqlite-shm broken/" in message


def test_a_store_damaged_while_open_is_a_store_error(tmp_path: Path) -> None:
    """Writes that SQLite refuses later (here: the disk is full) are StoreErrors too."""
    store = Store(tmp_path / "s.sqlite")
    try:
        pages = store._db._db.execute("PRAGMA page_count").fetchone()[0]
        store._db._db.execute(f"PRAGMA max_page_count = {pages + 1}")
        with pytest.raises(StoreError, match="full"):
            store.jobs.upsert([Job(f"j{i}", ["x" * 1000]) for i in range(200)])
        assert store.jobs.all() == []  # rolled back
        store.jobs.upsert([Job("small", ["true"])])  # and the store is usable again
    finally:
        store.close()


def test_an_attempt_row_with_an_unknown_state_is_skipped(tmp_path: Path) -> None:
    real_store(tmp_path)
    db = sqlite3.connect(store_path(tmp_path), isolation_level=None)
    db.execute("UPDATE attempts SET state='EXPLODED' WHERE job='job1'")
    db.close()
    code, out, err = status(tmp_path)
    assert code == 0, err
    rows = {row["name"]: row for row in json.loads(out)["jobs"]}
    assert rows["job0"]["state"] == "FAILED" and "job1" in rows


# -- generated damage --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def good_store(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return real_store(tmp_path_factory.mktemp("good"))


def cut_points(size: int) -> list[int]:
    rng = random.Random(12)
    pages = [n * PAGE for n in range(1, size // PAGE)]
    return sorted({*rng.sample(range(1, size), 40), *pages, 1, 99, 100, 101, size - 1})


def test_every_truncation_of_a_real_store_is_refused(tmp_path: Path, good_store: bytes) -> None:
    assert len(good_store) >= 8 * PAGE
    workdir = tmp_path / "w"
    real_store(workdir)
    for cut in cut_points(len(good_store)):
        store_path(workdir).write_bytes(good_store[:cut])
        message = refused(workdir)
        assert "truncated" in message or "damaged" in message or "not" in message, (cut, message)
        status_refuses(workdir)
        assert store_path(workdir).read_bytes() == good_store[:cut]


def test_truncations_of_a_store_whose_wal_holds_writes_are_refused_and_left_alone(
    tmp_path: Path,
) -> None:
    """A killed writer left its last commits in the WAL: the file may lag behind its header
    legitimately, so the integrity check finds what is missing; the refused store's WAL is
    not checkpointed into it (a writable connection would do that on closing)."""
    workdir = tmp_path / "w"
    real_store(workdir)
    killed_writer(workdir, jobs=[f"late{i}" for i in range(200)])
    wal = Path(f"{store_path(workdir)}-wal")
    good, good_wal = store_path(workdir).read_bytes(), wal.read_bytes()
    rng = random.Random(5)
    pages = [n * PAGE for n in range(1, len(good) // PAGE)]
    for cut in sorted({*rng.sample(range(1, len(good)), 10), *rng.sample(pages, 12)}):
        store_path(workdir).write_bytes(good[:cut])
        wal.write_bytes(good_wal)
        refused(workdir)
        status_refuses(workdir)
        assert store_path(workdir).read_bytes() == good[:cut], cut
        assert wal.read_bytes() == good_wal, cut


@pytest.mark.parametrize("seed", range(12))
def test_random_garbage_is_refused(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    real_store(tmp_path)
    size = rng.choice([1, 17, 100, PAGE, 3 * PAGE, rng.randrange(1, 64 * PAGE)])
    data = rng.randbytes(size)
    if seed % 2:  # past the magic: SQLite's own checks must catch it
        data = b"SQLite format 3\x00" + data
    store_path(tmp_path).write_bytes(data)
    refused(tmp_path)
    status_refuses(tmp_path)
    assert store_path(tmp_path).read_bytes() == data


@pytest.mark.parametrize("seed", range(16))
def test_random_overwrites_inside_a_store_never_raise_anything_else(
    tmp_path: Path, good_store: bytes, seed: int
) -> None:
    """Bytes changed inside pages may go unnoticed (a changed character in a stored text);
    whatever happens, it is a StoreError or a working store, never another exception."""
    rng = random.Random(seed)
    real_store(tmp_path)
    data = bytearray(good_store)
    for _ in range(rng.choice([1, 4, 32])):
        at = rng.randrange(100, len(data) - 64)
        data[at : at + rng.randrange(1, 64)] = rng.randbytes(64)[: rng.randrange(1, 64)]
    data = data[: len(good_store)].ljust(len(good_store), b"\x00")
    store_path(tmp_path).write_bytes(bytes(data))
    code, _, err = status(tmp_path)
    assert code in (0, 2) and "Traceback" not in err, err
    try:
        rm = RunManager([Job("a", ["true"])], workdir=tmp_path)
    except StoreError as exc:
        assert str(store_path(tmp_path)) in str(exc)
    else:
        rm.store.close()


# -- reading a store the user cannot write -----------------------------------------------------


def make_read_only(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)


def make_writable(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


@contextlib.contextmanager
def shared_workdir() -> Iterator[Path]:
    """A workdir any user can reach (pytest's tmp_path is private to its owner)."""
    shared = Path(tempfile.mkdtemp(prefix="adaptive-llm-shared-"))
    shared.chmod(0o755)
    try:
        yield shared / "project"
    finally:
        make_writable(shared)
        shutil.rmtree(shared)


def killed_writer(workdir: Path, *, jobs: list[str]) -> None:
    """A process that recorded ``jobs`` and was killed: its writes are in the WAL only."""
    code = (
        "import os, sys\n"
        "from adaptive_llm import Job\n"
        "from adaptive_llm.store import Store\n"
        "store = Store(sys.argv[1])\n"
        "store.jobs.upsert([Job(n, ['true']) for n in sys.argv[2:]])\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", code, str(store_path(workdir)), *jobs], check=True)
    assert Path(f"{store_path(workdir)}-wal").stat().st_size > 0


def status_as_someone_else(workdir: Path, warm: Path) -> subprocess.CompletedProcess[str]:
    """``adaptive-llm status --json`` run by a user who cannot write ``workdir``: the tests'
    user when it is not root (the files are read-only); when it is root, whom permissions do
    not stop, the same command after dropping to nobody, having run it once on ``warm`` (a
    copy) so that every module is imported: the interpreter lives where nobody may not read."""
    drop = "os.setgid(65534); os.setuid(65534)" if os.geteuid() == 0 else ""
    shutil.copytree(workdir, warm)
    code = (
        "import contextlib, io, os, sys\n"
        "from adaptive_llm.cli import main\n"
        "quiet = io.StringIO()\n"
        "with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):\n"
        "    main(['status', '--json', '--workdir', sys.argv[2]])\n"
        f"{drop}\n"
        "sys.exit(main(['status', '--json', '--workdir', sys.argv[1]]))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code, str(workdir), str(warm)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def names(out: str) -> list[str]:
    return sorted(row["name"] for row in json.loads(out)["jobs"])


@pytest.mark.parametrize("leftover", ["none", "wal and shm", "wal only"])
def test_status_reads_a_store_without_changing_the_workdir(tmp_path: Path, leftover: str) -> None:
    """Whatever the store's WAL files, status writes and creates nothing in the workdir (as
    root too: checked by the files' bytes and times, not by permissions) and sees every
    commit, also those only in the WAL."""
    workdir = tmp_path / "w"
    real_store(workdir)
    expected = sorted([f"job{i}" for i in range(60)])
    if leftover != "none":
        killed_writer(workdir, jobs=["late"])
        expected = sorted([*expected, "late"])
        if leftover == "wal only":
            Path(f"{store_path(workdir)}-shm").unlink()
    make_read_only(workdir)
    try:
        before = snapshot(workdir)
        code, out, err = status(workdir)
        assert code == 0, err
        assert names(out) == expected
        after = snapshot(workdir)
        if leftover == "wal and shm":  # a reader takes its read mark in the shared index
            before.pop(".adaptive_llm/store.sqlite-shm")
            after.pop(".adaptive_llm/store.sqlite-shm")
        assert after == before
    finally:
        make_writable(workdir)


@pytest.mark.skipif(not hasattr(os, "setuid"), reason="needs setuid")
@pytest.mark.parametrize("leftover", ["none", "wal and shm", "wal only"])
def test_status_as_a_user_who_cannot_write(tmp_path: Path, leftover: str) -> None:
    """Truly read-only: the files and directories are read-only and, when the tests run as
    root, the command runs as nobody (root's writes are not stopped by permissions)."""
    with shared_workdir() as workdir:
        real_store(workdir)
        expected = sorted([f"job{i}" for i in range(60)])
        if leftover != "none":
            killed_writer(workdir, jobs=["late"])
            expected = sorted([*expected, "late"])
            if leftover == "wal only":
                Path(f"{store_path(workdir)}-shm").unlink()
        make_read_only(workdir.parent)
        before = snapshot(workdir)
        result = status_as_someone_else(workdir, tmp_path / "warm")
        assert result.returncode == 0, result.stderr
        assert names(result.stdout) == expected
        assert snapshot(workdir) == before


@pytest.mark.skipif(not hasattr(os, "setuid"), reason="needs setuid")
def test_a_damaged_store_as_a_user_who_cannot_write(tmp_path: Path) -> None:
    with shared_workdir() as workdir:
        good = real_store(workdir)
        store_path(workdir).write_bytes(good[: 3 * PAGE + 7])
        make_read_only(workdir.parent)
        result = status_as_someone_else(workdir, tmp_path / "warm")
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert "truncated" in result.stderr


def test_status_leaves_no_temporary_copy_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workdir = tmp_path / "w"
    real_store(workdir)
    killed_writer(workdir, jobs=["late"])
    Path(f"{store_path(workdir)}-shm").unlink()
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr(tempfile, "tempdir", None)
    code, out, err = status(workdir)
    assert code == 0 and "late" in names(out), err
    assert list(scratch.iterdir()) == []


def test_layout_names_the_store(tmp_path: Path) -> None:
    assert Layout.of(tmp_path).store == store_path(tmp_path.resolve())
