"""The store's schema steps (PRAGMA user_version): every step from every earlier version keeps
the data, a newer store is refused, and a read-only reader needs no write access."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from adaptive_llm import Job, StoreError
from adaptive_llm.store import Store
from adaptive_llm.store.migrations import CURRENT, STEPS, V1

CONFIG = {"configurable": {"thread_id": "job:a", "checkpoint_ns": ""}}


def build(path: Path, version: int) -> None:
    """A store as a release at ``version`` left it, with a row in every table it has."""
    db = sqlite3.connect(path, isolation_level=None)
    if version >= 1:
        db.executescript(V1)
        db.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '1')")
        spec = json.dumps(Job("a", ["true"]).to_dict())
        db.execute("INSERT INTO jobs VALUES ('a', ?, 1.0, 1.0)", (spec,))
        db.execute(
            "INSERT INTO attempts (job, number, state, scheduler, scheduler_id, log_path,"
            " exit_code) VALUES ('a', 1, 'FAILED', 'local', '42', '/x/attempt-1.log', 3)"
        )
        db.execute(
            "INSERT INTO edits (thread, tool_call_id, path, kind, diff, before, after_sha256,"
            " approved_by, at) VALUES ('job:a', 'c1', 'x.py', 'edit', 'd', X'00', 'sha',"
            " 'user', 1.0)"
        )
        db.execute("INSERT INTO chat_settings (thread, yolo) VALUES ('job:a', 1)")
    db.close()
    if version >= 1:
        asyncio.run(_old_checkpoint(path))  # the first release kept them in the store file
    if version >= 2:
        db = sqlite3.connect(path, isolation_level=None)
        for number in range(2, version + 1):
            db.execute("ATTACH DATABASE ? AS cp", (str(path.with_name("checkpoints.sqlite")),))
            db.execute("BEGIN")
            STEPS[number - 1](db, path)
            db.execute(f"PRAGMA user_version = {number}")
            db.execute("COMMIT")
            db.execute("DETACH DATABASE cp")
        db.close()


async def _old_checkpoint(path: Path) -> None:
    import aiosqlite
    from langgraph.checkpoint.base import empty_checkpoint
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    async with aiosqlite.connect(path) as conn:
        saver = AsyncSqliteSaver(conn)
        await saver.setup()
        checkpoint = empty_checkpoint()
        checkpoint["channel_values"] = {"messages": ["hello from the first release"]}
        await saver.aput(CONFIG, checkpoint, {"step": 1}, {})


async def _read_checkpoint(path: Path) -> object:
    import aiosqlite
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    async with aiosqlite.connect(path) as conn:
        found = await AsyncSqliteSaver(conn).aget_tuple(CONFIG)
    return found.checkpoint["channel_values"] if found else None


def tables(path: Path) -> set[str]:
    db = sqlite3.connect(path)
    try:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        db.close()


@pytest.mark.parametrize("start", range(CURRENT))
def test_every_step_from_every_earlier_version_keeps_the_data(tmp_path: Path, start: int) -> None:
    path = tmp_path / "store.sqlite"
    build(path, start)
    store = Store(path)
    try:
        assert store.version == CURRENT
        db = sqlite3.connect(path)
        assert db.execute("PRAGMA user_version").fetchone()[0] == CURRENT
        db.close()
        have = tables(path)
        assert {"jobs", "attempts", "diagnoses", "approval_items", "edits"} <= have
        assert not have & {"checkpoints", "writes"}  # they live beside the store now
        if start >= 1:
            [job] = store.jobs.all()
            assert job.name == "a"
            [attempt] = store.jobs.attempts("a")
            assert attempt.exit_code == 3 and attempt.scheduler_id == "42"
            [edit] = store.chat.edits("job:a")
            assert edit.tool_call_id == "c1" and edit.change_key is None
            assert store.chat.settings("job:a")["yolo"] == 1
            values = asyncio.run(_read_checkpoint(store.checkpoints))
            assert values == {"messages": ["hello from the first release"]}
        store.chat.add_edit(
            thread="job:a", tool_call_id="c2", path="y.py", kind="edit", diff="", before=None,
            after_sha256="s", approved_by="yolo", change_key="job:a/m/0",
        )  # fmt: skip
        assert store.chat.edits("job:a")[-1].change_key == "job:a/m/0"
    finally:
        store.close()
    # Opening again changes nothing (and finds everything).
    again = Store(path)
    assert again.version == CURRENT and len(again.chat.edits("job:a")) == (2 if start else 1)
    again.close()


def test_a_store_from_a_newer_release_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    build(path, CURRENT)
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {CURRENT + 1}")
    db.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="newer adaptive_llm"):
        Store(path)
    assert path.read_bytes() == before


def test_a_read_only_open_does_not_migrate(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    build(path, 1)
    store = Store(path, readonly=True)
    try:
        assert store.version == 1
        assert [j.name for j in store.jobs.all()] == ["a"]
        assert store.chat.pending_counts() == {}
    finally:
        store.close()
    assert "approval_items" not in tables(path)


@pytest.mark.skipif(not hasattr(os, "setuid"), reason="needs setuid")
def test_status_on_a_store_the_user_cannot_write(tmp_path: Path) -> None:
    """`adaptive-llm status` reads a workdir that belongs to someone else (a shared project
    directory): no write access to the store, its WAL files or its directory."""
    shared = Path(tempfile.mkdtemp(prefix="adaptive-llm-shared-"))  # reachable by anyone
    workdir = shared / "project"
    state = workdir / ".adaptive_llm"
    state.mkdir(parents=True)
    build(state / "store.sqlite", 1)
    Store(state / "store.sqlite").close()  # migrated, in WAL mode, as its owner left it
    for path in (shared, workdir, state):
        path.chmod(0o755)
    for file in state.iterdir():
        file.chmod(0o644)
    result = status_as_a_colleague(workdir, tmp_path)
    assert result.returncode == 0, result.stderr
    [row] = json.loads(result.stdout)["jobs"]
    assert row["name"] == "a" and row["state"] == "FAILED" and row["exit_code"] == 3
    assert not any(p.name.endswith("-journal") for p in state.iterdir())
    subprocess.run(["rm", "-rf", str(shared)], check=True)


def test_status_on_a_workdir_the_user_cannot_read_is_a_clear_error(tmp_path: Path) -> None:
    shared = Path(tempfile.mkdtemp(prefix="adaptive-llm-shared-"))
    state = shared / ".adaptive_llm"
    state.mkdir()
    build(state / "store.sqlite", 1)
    shared.chmod(0o755)
    state.chmod(0o700)  # private to its owner; a colleague (nobody, when run as root) is refused
    if os.geteuid() == 0:
        os.chown(state, 0, 0)
    try:
        result = status_as_a_colleague(shared, tmp_path)
    finally:
        subprocess.run(["rm", "-rf", str(shared)], check=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "cannot read" in result.stderr


def status_as_a_colleague(workdir: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``adaptive-llm status --json`` on ``workdir`` as another user (nobody, when the tests
    run as root, after running it once as root on a copy so every import is loaded: the
    interpreter lives in /root)."""
    drop = ""
    if os.geteuid() == 0:
        drop = "os.setgid(65534); os.setuid(65534)"
    warm = tmp_path / "warm"
    (warm / ".adaptive_llm").mkdir(parents=True, exist_ok=True)
    build(warm / ".adaptive_llm" / "store.sqlite", 1)
    code = (
        "import contextlib, io, os, sys\n"
        "from adaptive_llm.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['status', '--json', '--workdir', sys.argv[2]])\n"
        f"{drop}\n"
        "sys.exit(main(['status', '--json', '--workdir', sys.argv[1]]))\n"
    )
    command = [sys.executable, "-c", code, str(workdir), str(warm)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
