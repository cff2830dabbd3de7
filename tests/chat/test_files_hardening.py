"""Files and tools, tried as an attacker would: secret files by more names, a path that became a
symlink between the proposal and the approval, folders left behind by an undo, refusals that
look like successes, absurd resource values, a ranged read of a file with a 100 MB line."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from chat_support import ChatScript, StartChat
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

from adaptive_llm import Resources
from adaptive_llm.chat.workspace import Workspace, WorkspaceError
from adaptive_llm.chat.workspace import files as files_module

Files = Callable[..., Path]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "ws"
    r.mkdir()
    (r / "train.py").write_text("lr = 0.1\n")
    return r


# -- the deny list -----------------------------------------------------------------------------

DENIED = [
    ".envrc",
    "prod.env",
    "config/staging.env",
    ".env.local",
    ".kube/config",
    "home/.kube/config",
    ".docker/config.json",
    "service-account.json",
    "keys/service-account-prod.json",
    "service_account_ci.json",
    "client_secret_1234.apps.json",
    "secrets.yaml",
    "deploy/secrets.yml",
    "SECRETS.YAML",
    ".git-credentials",
    ".pypirc",
    ".npmrc",
    ".netrc",
    ".my.cnf",
    ".s3cfg",
    ".vault-token",
    "kubeconfig",
    "cluster.kubeconfig",
    "app/keystore.jks",
    "application_default_credentials.json",
]
#: Names near the denied ones that are ordinary project files: never refused.
ALLOWED = [
    "environment.py",
    "envs/train.py",
    "env.py",
    "my.env.py",
    "credentials.py",
    "src/credentials/loader.py",
    "docker/Dockerfile",
    "kube.yaml",
    "secrets_test.py",
    "service.json",
    "accounts/service.json",
]


@pytest.mark.parametrize("name", DENIED)
async def test_secret_files_are_refused(root: Path, name: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("token = hunter2-secret\n")
    ws = Workspace(root)
    for op in (
        ws.read_file(name),
        ws.read_file(name, 1, 1),
        ws.plan_write(name, "x"),
        ws.plan_edit(name, "hunter2", "x"),
    ):
        with pytest.raises(WorkspaceError, match="protected"):
            await op
    found = await ws.search("hunter2")
    assert found.startswith("0 matches") and "-secret" not in found, found  # the walk skips it


@pytest.mark.parametrize("name", ALLOWED)
async def test_near_names_are_not_refused(root: Path, name: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("value = 1\n")
    ws = Workspace(root)
    assert "value = 1" in await ws.read_file(name)
    assert f"{name}:1: value = 1" in await ws.search("value = 1")


# -- an approved edit writes exactly the file that was shown ------------------------------------


async def test_a_file_that_became_a_symlink_inside_is_refused(root: Path) -> None:
    """The named case: the path is swapped for a link to another file of the workspace with
    the same content (so the content check alone would pass): refused, nothing written."""
    (root / "b.py").write_text("lr = 0.1\n")
    ws = Workspace(root)
    plan = await ws.plan_edit("train.py", "lr = 0.1", "lr = 0.01")
    (root / "train.py").unlink()
    (root / "train.py").symlink_to("b.py")
    with pytest.raises(WorkspaceError, match="symbolic link"):
        await ws.apply(plan)
    assert (root / "b.py").read_text() == "lr = 0.1\n"
    assert (root / "train.py").is_symlink()


async def test_a_new_file_whose_name_became_a_symlink_is_refused(root: Path) -> None:
    ws = Workspace(root)
    plan = await ws.plan_write("notes.txt", "hello\n")
    (root / "target.txt").write_text("")
    (root / "notes.txt").symlink_to("target.txt")
    with pytest.raises(WorkspaceError, match="symbolic link"):
        await ws.apply(plan)
    assert (root / "target.txt").read_text() == ""


@pytest.mark.parametrize("seed", range(12))
async def test_generated_swaps_of_a_component_for_a_symlink(root: Path, seed: int) -> None:
    """A generated family: a file at a random depth; after the proposal one random component
    of its path (a folder or the file) is replaced by a link to an identical copy elsewhere in
    the workspace. Apply is refused and neither the copy nor the original changes."""
    rng = random.Random(seed)
    depth = rng.randint(0, 3)
    parts = [f"d{i}_{rng.randint(0, 99)}" for i in range(depth)] + ["f.py"]
    target = root.joinpath(*parts)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("x = 1\n")
    ws = Workspace(root)
    plan = await ws.plan_edit("/".join(parts), "x = 1", "x = 2")
    swap = rng.randint(0, depth)  # which component becomes a link
    swapped = root.joinpath(*parts[: swap + 1])
    copy = root / f"copy_{seed}"
    swapped.rename(copy)
    swapped.symlink_to(copy)
    with pytest.raises(WorkspaceError, match="symbolic link"):
        await ws.apply(plan)
    copied_file = copy.joinpath(*parts[swap + 1 :])
    assert copied_file.read_text() == "x = 1\n"


async def test_approving_after_a_swap_is_refused_in_the_chat(
    start_chat: StartChat, files: Files
) -> None:
    """Through the product: the user approves what they saw; the path was swapped for a link
    meanwhile; the result says so, status error, and the other file is untouched."""
    train = files("train.py", "lr = 0.1\n")
    other = files("other.py", "lr = 0.1\n")
    turn = AIMessage(
        content="",
        tool_calls=[
            {
                "name": "edit_file",
                "args": {"path": "train.py", "old_text": "lr = 0.1", "new_text": "lr = 0.01"},
                "id": "c1",
            }
        ],
    )
    seen: list[ToolMessage] = []

    def after(messages: list[BaseMessage]) -> str:
        seen.extend(m for m in messages if isinstance(m, ToolMessage))
        return "Done."

    rm = await start_chat(ChatScript([turn, after]))
    first = await rm.llm_manager.chat("j", "fix it")
    assert [a.tool for a in first.approvals] == ["edit_file"]
    train.unlink()
    train.symlink_to("other.py")
    await rm.llm_manager.chat("j", "approve")
    assert other.read_text() == "lr = 0.1\n"
    (answer,) = [m for m in seen if m.tool_call_id == "c1"]
    assert answer.status == "error" and "symbolic link" in answer.text, answer


# -- undo of a created file removes the folders it created -------------------------------------


async def test_undo_of_a_creation_removes_the_folders_it_created(root: Path) -> None:
    (root / "keep").mkdir()
    (root / "keep" / "old.txt").write_text("old\n")
    ws = Workspace(root)
    applied = await ws.apply(await ws.plan_write("keep/a/b/new.py", "x = 1\n"))
    assert applied.created_dirs == ("keep/a", "keep/a/b")
    message = await ws.undo(applied)
    assert not (root / "keep" / "a").exists()
    assert (root / "keep" / "old.txt").read_text() == "old\n"
    assert "keep/a/" in message and "keep/a/b/" in message, message


async def test_undo_keeps_a_created_folder_that_is_no_longer_empty(root: Path) -> None:
    ws = Workspace(root)
    applied = await ws.apply(await ws.plan_write("out/logs/new.txt", "x\n"))
    (root / "out" / "mine.txt").write_text("user's\n")  # written after the edit
    message = await ws.undo(applied)
    assert not (root / "out" / "logs").exists()
    assert (root / "out" / "mine.txt").read_text() == "user's\n"
    assert "kept out/" in message, message


async def test_undo_of_a_creation_in_an_existing_folder_removes_no_folder(root: Path) -> None:
    (root / "empty").mkdir()
    ws = Workspace(root)
    applied = await ws.apply(await ws.plan_write("empty/new.txt", "x\n"))
    assert applied.created_dirs == ()
    await ws.undo(applied)
    assert (root / "empty").is_dir() and not any((root / "empty").iterdir())


async def test_undo_in_the_chat_removes_created_folders(
    start_chat: StartChat, files: Files
) -> None:
    """Through the product (the record survives in the store): approve a new file in new
    folders, then undo: the folders are gone too."""
    workdir = files("train.py", "lr = 0.1\n").parent
    turn = AIMessage(
        content="",
        tool_calls=[
            {
                "name": "write_file",
                "args": {"path": "configs/new/run.yaml", "content": "lr: 0.01\n"},
                "id": "c1",
            }
        ],
    )
    rm = await start_chat(ChatScript([turn, "Done."]))
    await rm.llm_manager.chat("j", "add a config")
    await rm.llm_manager.chat("j", "approve")
    assert (workdir / "configs" / "new" / "run.yaml").read_text() == "lr: 0.01\n"
    message = await rm.llm_manager.undo("j")
    assert not (workdir / "configs").exists(), message


# -- refusals are tool errors --------------------------------------------------------------------


async def test_refused_reads_are_tool_errors(start_chat: StartChat, files: Files) -> None:
    files("train.py", "lr = 0.1\n")
    files(".env", "TOKEN=x\n")
    calls = [
        ("read_file", {"path": ".env"}, "r1"),
        ("read_file", {"path": "../../etc/passwd"}, "r2"),
        ("list_dir", {"path": "/"}, "r3"),
        ("search", {"pattern": "x", "path": "no/such/dir"}, "r4"),
        ("read_file", {"path": "train.py", "start_line": 9}, "r5"),
        ("read_file", {"path": "train.py"}, "ok"),
    ]
    turn = AIMessage(
        content="",
        tool_calls=[{"name": n, "args": a, "id": i} for n, a, i in calls],
    )
    seen: dict[str, ToolMessage] = {}

    def after(messages: list[BaseMessage]) -> str:
        seen.update({m.tool_call_id: m for m in messages if isinstance(m, ToolMessage)})
        return "Done."

    rm = await start_chat(ChatScript([turn, after]))
    answer = await rm.llm_manager.chat("j", "look around")
    assert answer.error is None, answer
    statuses = {k: (m.status, m.text.splitlines()[0].split(":")[0]) for k, m in seen.items()}
    assert statuses == {
        "r1": ("error", "Error"),
        "r2": ("error", "Error"),
        "r3": ("error", "Error"),
        "r4": ("error", "Error"),
        "r5": ("error", "Error"),
        "ok": ("success", "train.py (lines 1-1 of 1)"),
    }, statuses


# -- absurd resource values -----------------------------------------------------------------------

ABSURD: list[dict[str, Any]] = [
    {"time_limit": 1e20},
    {"time_limit": 10**20},
    {"time_limit": 10**400},
    {"time_limit": "100000000000000000000"},
    {"time_limit": "99999999d"},
    {"time_limit": "9" * 5000},
    {"time_limit": "367d"},
    {"memory": 10**20},
    {"memory": "65T"},
    {"memory": "1" * 5000},
    {"cpus": 10**9},
]


@pytest.mark.parametrize("kwargs", ABSURD, ids=lambda k: str(k)[:30])
def test_absurd_resources_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"maximum|too long") as info:
        Resources(**kwargs)
    assert len(str(info.value)) < 200  # a clear message, not the value echoed back
    with pytest.raises(ValueError):  # a stored spec is not trusted more
        Resources.from_dict(kwargs)


def test_the_largest_sensible_resources_are_accepted() -> None:
    r = Resources(time_limit="366d", memory="64T", cpus=4096)
    assert (r.time_limit, r.memory, r.cpus) == (366 * 86400, 64 * 1024**4, 4096)


# -- ranged reads: linear, bounded, off the loop ------------------------------------------------


async def test_a_ranged_read_past_a_huge_line_keeps_the_loop_free(root: Path) -> None:
    """The named case: a file with a 100 MB line; lines after it are read without the event
    loop stalling (a ticker keeps ticking) and the huge line is refused, not held."""
    big = root / "big.log"
    with big.open("wb") as f:
        f.write(b"first\n")
        chunk = b"x" * (1 << 20)
        for _ in range(100):
            f.write(chunk)
        f.write(b"\nthird\nfourth\n")
    ws = Workspace(root)
    ticks: list[float] = []

    async def ticker() -> None:
        loop = asyncio.get_running_loop()
        while True:
            ticks.append(loop.time())
            await asyncio.sleep(0.01)

    task = asyncio.create_task(ticker())
    try:
        out = await ws.read_file("big.log", 3, 4)
        with pytest.raises(WorkspaceError, match=r"over the .* read limit"):
            await ws.read_file("big.log", 2, 2)
    finally:
        task.cancel()
    assert out.splitlines()[1:] == ["   3| third", "   4| fourth"], out
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert len(ticks) > 3 and max(gaps) < 0.5, max(gaps)


def naive(data: bytes, first: int, last: int | None) -> tuple[list[bytes], int]:
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    stop = len(lines) if last is None else last
    return lines[first - 1 : stop], len(lines)


@pytest.mark.parametrize("seed", range(40))
async def test_ranged_reads_match_a_plain_split(
    root: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Generated files (random line lengths, empty lines, a final line with or without a
    newline) read in tiny chunks so every boundary case of the one-pass reader is met."""
    rng = random.Random(seed)
    monkeypatch.setattr(files_module, "READ_CHUNK", rng.randint(1, 9))
    lines = [b"y" * rng.choice([0, 0, 1, 2, 5, 17]) for _ in range(rng.randint(0, 30))]
    data = b"\n".join(lines) + (b"\n" if rng.random() < 0.5 and lines else b"")
    (root / "f.txt").write_bytes(data)
    ws = Workspace(root, max_read_bytes=4096)
    first = rng.randint(1, max(1, len(lines) + 2))
    last = rng.choice([None, first + rng.randint(0, 5)])
    want, total = naive(data, first, last)
    try:
        out = await ws.read_file("f.txt", first, last)
    except WorkspaceError as exc:
        assert not want and ("past the end" in str(exc)), (exc, want)
        return
    if total == 0:
        assert out == "f.txt is empty (0 lines)"
        return
    body = [line.split("| ", 1)[1] if "| " in line else "" for line in out.splitlines()[1:]]
    assert body == [w.decode() for w in want], (out, want)
    assert f"of {total})" in out.splitlines()[0], out
