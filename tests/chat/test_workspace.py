"""Workspace operations: containment, refusals, byte-exact edits, atomic apply and undo."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest

from adaptive_llm.chat.workspace import AppliedEdit, EditPlan, Workspace, WorkspaceError


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    (r / "sub").mkdir(parents=True)
    (r / "train.py").write_text("import os\n\nlr = 0.1\nepochs = 3\n")
    (r / "sub" / "h.py").write_text("hello\nworld\n")
    return r


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    o = tmp_path / "outside"
    o.mkdir()
    (o / "secret.txt").write_text("TOP-SECRET\n")
    return o


@pytest.fixture
def ws(root: Path) -> Workspace:
    return Workspace(root)


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def temp_files(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.name.endswith(".tmp")]


# -- containment -------------------------------------------------------------------------------

REFUSED = {
    "../x": "outside the workspace",
    "sub/../../x": "outside the workspace",
    "/etc/passwd": "outside the workspace",
    "": "empty path",
    "   ": "empty path",
    "a\x00b": "NUL byte",
    "sub\\h.py": "backslash",
    "..\\..\\etc\\passwd": "backslash",
    "~": "'~' is not expanded",
    "~/.bashrc": "'~' is not expanded",
    "x" * 300: "too long",
    "a/" * 2100: "too long",
    ".env": "protected",
    ".env.local": "protected",
    ".ENV": "protected",
    "certs/server.pem": "protected",
    "tls.key": "protected",
    "id_rsa": "protected",
    "keys/id_ed25519.pub": "protected",
    ".netrc": "protected",
    ".git-credentials": "protected",
    "credentials.json": "protected",
    ".git/config": "protected",
    ".ssh/config": "protected",
    ".adaptive_llm/store.sqlite": "internal state",
    ".adaptive_llm": "internal state",
    "\ud800": "cannot be encoded",
}


@pytest.mark.parametrize(("path", "message"), REFUSED.items(), ids=range(len(REFUSED)))
async def test_refused_paths_for_every_operation(ws: Workspace, path: str, message: str) -> None:
    with pytest.raises(WorkspaceError, match=message):
        ws.resolve(path)
    for op in (
        ws.read_file(path),
        ws.list_dir(path),
        ws.search("x", path),
        ws.plan_edit(path, "a", "b"),
        ws.plan_write(path, "x"),
    ):
        with pytest.raises(WorkspaceError):
            await op


def test_outside_message_names_path_and_root(ws: Workspace, root: Path) -> None:
    with pytest.raises(WorkspaceError) as err:
        ws.resolve("../x")
    assert str(err.value) == f"path '../x' is outside the workspace {root}"


async def test_absolute_path_inside_root_is_accepted(ws: Workspace, root: Path) -> None:
    assert ws.resolve(str(root / "train.py")) == root / "train.py"
    assert "lr = 0.1" in await ws.read_file(str(root / "train.py"))
    assert ws.resolve("sub/./../train.py") == root / "train.py"
    assert ws.resolve(".") == root
    assert (
        ws.resolve("\uff0e\uff0e/x") == root / "\uff0e\uff0e" / "x"
    )  # fullwidth dots are a plain name


async def test_symlinks_in_to_out_refused_in_to_in_allowed(
    ws: Workspace, root: Path, outside: Path
) -> None:
    (root / "out_file").symlink_to(outside / "secret.txt")
    (root / "out_dir").symlink_to(outside)
    (root / "sub" / "up").symlink_to("../..")
    (root / "in_file").symlink_to("sub/h.py")
    (root / "in_dir").symlink_to("sub")
    (root / "innocent.txt").symlink_to(".env")
    (root / ".env").write_text("KEY=secret\n")
    for path in ("out_file", "out_dir/secret.txt", "sub/up/outside/secret.txt", "innocent.txt"):
        with pytest.raises(WorkspaceError):
            await ws.read_file(path)
        with pytest.raises(WorkspaceError):
            await ws.plan_write(path, "pwned")
    assert "   1| hello" in await ws.read_file("in_file")
    assert "   2| world" in await ws.read_file("in_dir/h.py")
    plan = await ws.plan_edit("in_dir/h.py", "hello", "HELLO")
    assert plan.path == "sub/h.py"  # the real path, relative
    await ws.apply(plan)
    assert (root / "sub" / "h.py").read_text() == "HELLO\nworld\n"
    assert (outside / "secret.txt").read_text() == "TOP-SECRET\n"


async def test_symlink_loop_and_dangling(ws: Workspace, root: Path) -> None:
    (root / "loop").symlink_to("loop")
    (root / "dangling").symlink_to("nowhere/x")
    with pytest.raises(WorkspaceError):
        await ws.read_file("loop")
    with pytest.raises(WorkspaceError, match="no such file"):
        await ws.read_file("dangling")


def test_root_must_be_a_directory(root: Path) -> None:
    with pytest.raises(WorkspaceError):
        Workspace(root / "train.py")


# -- read_file ---------------------------------------------------------------------------------


async def test_read_file_numbered(ws: Workspace) -> None:
    out = await ws.read_file("train.py")
    assert out.splitlines() == [
        "train.py (lines 1-4 of 4)",
        "   1| import os",
        "   2| ",
        "   3| lr = 0.1",
        "   4| epochs = 3",
    ]


async def test_read_file_ranges(ws: Workspace, root: Path) -> None:
    (root / "long.txt").write_text("".join(f"line {i}\n" for i in range(1, 10001)))
    out = await ws.read_file("long.txt", 9998, 20000)
    assert out.splitlines()[1:] == [" 9998| line 9998", " 9999| line 9999", "10000| line 10000"]
    assert "end_line 20000 clamped; the file has 10000 lines" in out
    assert "(lines 1-2 of 10000)" in await ws.read_file("long.txt", None, 2)
    assert "   5| line 5" in await ws.read_file("long.txt", -3, 5)
    with pytest.raises(WorkspaceError, match=r"past the end: long\.txt has 10000 lines"):
        await ws.read_file("long.txt", 10001)
    with pytest.raises(WorkspaceError, match="before start_line"):
        await ws.read_file("long.txt", 5, 2)


async def test_read_file_refusals(ws: Workspace, root: Path) -> None:
    (root / "data.bin").write_bytes(b"abc\x00def")
    with pytest.raises(WorkspaceError, match=r"'data\.bin' looks binary \(NUL bytes\); not shown"):
        await ws.read_file("data.bin")
    with pytest.raises(WorkspaceError, match=r"no such file: foo\.py"):
        await ws.read_file("foo.py")
    with pytest.raises(WorkspaceError, match="is a directory"):
        await ws.read_file("sub")
    with pytest.raises(WorkspaceError, match="names a directory"):
        await ws.read_file("train.py/")
    (root / "empty.txt").write_text("")
    assert await ws.read_file("empty.txt") == "empty.txt is empty (0 lines)"


async def test_big_file_refused_unless_ranged(ws: Workspace, root: Path) -> None:
    (root / "big.log").write_bytes(b"x" * 99 + b"\n" * 1 + (b"y" * 99 + b"\n") * 124_000)
    with pytest.raises(WorkspaceError) as err:
        await ws.read_file("big.log")
    assert str(err.value) == (
        "'big.log' is 11.8 MiB, over the 1 MiB read limit; use start_line/end_line"
    )
    out = await ws.read_file("big.log", 2, 3)
    assert out.splitlines()[0] == "big.log (lines 2-3)"  # total unknown: stopped early
    with pytest.raises(WorkspaceError, match="ask for fewer"):
        await ws.read_file("big.log", 1, 100_000)


async def test_invalid_utf8_and_crlf(ws: Workspace, root: Path) -> None:
    (root / "latin.txt").write_bytes(b"caf\xe9\r\nok\r\n")
    out = await ws.read_file("latin.txt")
    assert "CRLF line endings" in out and "not valid UTF-8" in out
    assert "   1| caf\ufffd" in out.splitlines()


@pytest.mark.timeout(10)
async def test_fifo_never_opened(ws: Workspace, root: Path) -> None:
    os.mkfifo(root / "pipe")
    with pytest.raises(WorkspaceError, match="is a device/FIFO/socket: refused"):
        await ws.read_file("pipe")
    with pytest.raises(WorkspaceError, match="device/FIFO/socket"):
        await ws.plan_write("pipe", "x")
    with pytest.raises(WorkspaceError, match="device/FIFO/socket"):
        await ws.plan_edit("pipe", "a", "b")
    with pytest.raises(WorkspaceError, match="device/FIFO/socket"):
        await ws.search("x", "pipe")
    assert "pipe  [device/FIFO/socket]" in await ws.list_dir()
    assert "hello" in await ws.search("hello")  # the walk skips the FIFO
    with pytest.raises(WorkspaceError, match="device/FIFO/socket"):
        await ws.apply(EditPlan("pipe", "create", None, b"x", "", None))
    (root / "null").symlink_to("/dev/null")
    with pytest.raises(WorkspaceError, match="outside the workspace"):
        await ws.read_file("null")


async def test_socket_and_device_refused(ws: Workspace, root: Path) -> None:
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(root / "s.sock"))
    try:
        with pytest.raises(WorkspaceError, match="device/FIFO/socket: refused"):
            await ws.read_file("s.sock")
    finally:
        sock.close()
    try:
        os.mknod(root / "dev", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    except OSError:
        pytest.skip("cannot create a device node here")
    with pytest.raises(WorkspaceError, match="device/FIFO/socket: refused"):
        await ws.read_file("dev")


@pytest.mark.timeout(10)
async def test_fifo_swapped_in_after_lstat_is_not_blocking(root: Path, outside: Path) -> None:
    os.mkfifo(root / "pipe")
    with pytest.raises(WorkspaceError, match="not a regular file"):
        ws = Workspace(root)
        ws.opener(root / "pipe")("ignored", os.O_RDONLY)
    (root / "sub" / "h.py").unlink()
    (root / "sub").rmdir()
    (root / "sub").symlink_to(outside)  # swapped in after resolve(): the walk refuses it
    (outside / "h.py").write_text("TOP-SECRET\n")
    with pytest.raises(WorkspaceError, match="not a plain directory"):
        ws.opener(root / "sub" / "h.py")("ignored", os.O_RDONLY)


# -- list_dir ----------------------------------------------------------------------------------


async def test_list_dir(ws: Workspace, root: Path, outside: Path) -> None:
    (root / ".adaptive_llm").mkdir()
    (root / ".adaptive_llm" / "x").write_text("internal")
    (root / "b.txt").write_text("x" * 1500)
    (root / "a.txt").write_text("")
    (root / ".env").write_text("K=v\n")
    (root / "away").symlink_to(outside)
    (root / "near").symlink_to("sub")
    (root / "new\nline").write_text("")
    assert (await ws.list_dir()).splitlines() == [
        "./ (8 entries)",
        "sub/",
        ".env  4 B  [protected]",
        "a.txt  0 B",
        f"away -> {outside}  [outside the workspace]",
        "b.txt  1.5 KiB",
        "near -> sub",
        "new\\nline  0 B",
        "train.py  31 B",
    ]
    assert (await ws.list_dir("sub")).splitlines() == ["sub/ (1 entries)", "h.py  12 B"]
    assert (await ws.list_dir("near")).startswith("sub/ (1 entries)")
    with pytest.raises(WorkspaceError, match="not a directory"):
        await ws.list_dir("train.py")
    with pytest.raises(WorkspaceError, match="no such directory"):
        await ws.list_dir("nope")
    with pytest.raises(WorkspaceError):
        await ws.list_dir("away")


async def test_list_dir_capped(root: Path) -> None:
    for i in range(30):
        (root / f"f{i:02}").write_text("")
    out = (await Workspace(root, max_list_entries=10).list_dir()).splitlines()
    assert len(out) == 12 and out[-1] == "... and 22 more entries"


# -- search ------------------------------------------------------------------------------------


async def test_search_regex_and_literal_fallback(ws: Workspace, root: Path) -> None:
    out = await ws.search(r"^(lr|epochs) =")
    assert out.splitlines()[1:] == ["train.py:3: lr = 0.1", "train.py:4: epochs = 3"]
    (root / "odd.txt").write_text("call f(x[0]\n")
    out = await ws.search("f(x[0")
    assert "invalid regex" in out and "searched literally" in out
    assert "odd.txt:1: call f(x[0]" in out
    assert "0 matches" in await ws.search("zzz")
    assert (await ws.search("hello", "sub/h.py")).splitlines()[1] == "sub/h.py:1: hello"


async def test_search_skips(ws: Workspace, root: Path, outside: Path) -> None:
    for d in (".git", ".venv", "node_modules", "__pycache__", ".adaptive_llm", "deep/.git"):
        (root / d).mkdir(parents=True)
        (root / d / "f.py").write_text("NEEDLE\n")
    (root / ".env").write_text("NEEDLE=1\n")
    (root / "server.pem").write_text("NEEDLE\n")
    (root / "blob.bin").write_bytes(b"NEEDLE\x00")
    (root / "huge.txt").write_text("NEEDLE\n" * 200_000)
    (root / "escape").symlink_to(outside / "secret.txt")
    (outside / "secret.txt").write_text("NEEDLE\n")
    (root / "dirlink").symlink_to(outside)
    (root / "ok.py").write_text("x = 'NEEDLE'\n")
    out = await ws.search("NEEDLE")
    assert out.splitlines()[1:] == ["ok.py:1: x = 'NEEDLE'"]
    assert "3 binary, oversized, special or outside files skipped" in out


async def test_search_caps_and_guards(root: Path) -> None:
    (root / "many.txt").write_text("hit\n" * 50)
    (root / "many2.txt").write_text("hit\n" * 50)
    ws = Workspace(root, max_search_matches=7)
    out = await ws.search("hit")
    assert len(out.splitlines()) == 8 and "stopped at 7 matches" in out
    (root / "aaa.txt").write_text("a" * 5000 + "!\n")
    for nested in ("(a+)+$", "(a|aa)*b", "(x*)*", r"(\w+\s?)+$", "((ab)*c?)+"):  # RE2: linear
        assert "matches for" in (await ws.search(nested, "aaa.txt")).splitlines()[0]
    with pytest.raises(WorkspaceError, match="over 300 characters"):
        await ws.search("a" * 301)
    with pytest.raises(WorkspaceError, match="empty search pattern"):
        await ws.search("")
    with pytest.raises(WorkspaceError, match="over the limit of 1000"):
        await ws.search("a{2000}")
    (root / "long.txt").write_text("b" * 100_000 + "X\n")
    assert "long.txt:1: bbb" in await ws.search("bX$")  # a long line is matched whole


# -- plan_edit / plan_write --------------------------------------------------------------------


async def test_plan_edit_refusals(ws: Workspace, root: Path) -> None:
    with pytest.raises(WorkspaceError, match="old_text is empty"):
        await ws.plan_edit("train.py", "", "x")
    with pytest.raises(WorkspaceError, match="identical"):
        await ws.plan_edit("train.py", "lr", "lr")
    with pytest.raises(WorkspaceError) as err:
        await ws.plan_edit("train.py", "nope", "x")
    assert str(err.value) == "old_text not found in train.py; read the file again"
    (root / "t.py").write_text("x = 1\nx = 1\nx = 1\n")
    with pytest.raises(WorkspaceError) as err:
        await ws.plan_edit("t.py", "x = 1", "x = 2")
    assert str(err.value) == "old_text occurs 3 times in t.py; include more context so it is unique"
    (root / "aaa").write_text("aaa")
    with pytest.raises(WorkspaceError, match="occurs 2 times"):  # overlapping occurrences
        await ws.plan_edit("aaa", "aa", "b")
    with pytest.raises(WorkspaceError, match=r"no such file: new\.py"):
        await ws.plan_edit("new.py", "a", "b")
    (root / "b.bin").write_bytes(b"a\x00b")
    with pytest.raises(WorkspaceError, match="looks binary"):
        await ws.plan_edit("b.bin", "a", "c")
    (root / "big.txt").write_bytes(b"a" * 2_000_000)
    with pytest.raises(WorkspaceError, match="over the 1 MiB read limit"):
        await ws.plan_edit("big.txt", "a", "b")


async def test_plan_edit_diff_and_bytes(ws: Workspace, root: Path) -> None:
    plan = await ws.plan_edit("train.py", "lr = 0.1", "lr = 0.01")
    assert plan.kind == "edit" and plan.path == "train.py"
    assert plan.before == (root / "train.py").read_bytes()
    assert plan.after == b"import os\n\nlr = 0.01\nepochs = 3\n"
    assert plan.diff.splitlines() == [
        "--- a/train.py",
        "+++ b/train.py",
        "@@ -1,4 +1,4 @@",
        " import os",
        " ",
        "-lr = 0.1",
        "+lr = 0.01",
        " epochs = 3",
    ]
    assert (root / "train.py").read_text().count("lr = 0.1") == 1  # nothing written yet


async def test_diff_never_truncated(ws: Workspace, root: Path) -> None:
    body = "".join(f"line {i}\n" for i in range(5000))
    plan = await ws.plan_write("gen.txt", body)
    assert plan.kind == "create" and plan.before is None and plan.before_sha256 is None
    assert plan.diff.startswith("--- /dev/null\n+++ b/gen.txt\n@@ -0,0 +1,5000 @@\n")
    assert plan.diff.count("\n+line ") == 5000


async def test_plan_write(ws: Workspace, root: Path) -> None:
    plan = await ws.plan_write("train.py", "x = 1")
    assert plan.kind == "overwrite" and plan.diff.endswith("+x = 1\n\\ No newline at end of file\n")
    with pytest.raises(WorkspaceError, match="already has exactly this content"):
        await ws.plan_write("sub/h.py", "hello\nworld\n")
    with pytest.raises(WorkspaceError, match="is a file"):
        await ws.plan_write("train.py/x.py", "x")
    with pytest.raises(WorkspaceError, match="names a directory"):
        await ws.plan_write("newdir/", "x")
    with pytest.raises(WorkspaceError, match="over the 1 MiB limit"):
        await ws.plan_write("huge.txt", "x" * ((1 << 20) + 1))
    with pytest.raises(WorkspaceError, match="is a directory"):
        await ws.plan_write("sub", "x")


# -- apply / undo ------------------------------------------------------------------------------

EXACT = [
    (b"a\r\nb\r\nc\r\n", "b"),
    (b"a\r\nb\r\nc", "c"),
    (b"no newline at end", "end"),
    (b"mixed\r\nends\nhere\r", "ends"),
    (b"caf\xe9 latin-1\nline 2\n", "line 2"),
    (b"\xef\xbb\xbfbom first\nline 2\n", "bom"),
]


@pytest.mark.parametrize(("content", "old"), EXACT)
async def test_edit_and_undo_byte_exact(
    ws: Workspace, root: Path, content: bytes, old: str
) -> None:
    f = root / "f.txt"
    f.write_bytes(content)
    plan = await ws.plan_edit("f.txt", old, "Z")
    applied = await ws.apply(plan)
    assert f.read_bytes() == plan.after == content.replace(old.encode(), b"Z", 1)
    assert isinstance(applied, AppliedEdit) and applied.before == content
    assert await ws.undo(applied) == "restored f.txt to its content before the edit"
    assert f.read_bytes() == content
    assert temp_files(root) == []


async def test_crlf_file_edit_with_lf_old_text(ws: Workspace, root: Path) -> None:
    (root / "w.bat").write_bytes(b"echo a\r\necho b\r\necho c")
    plan = await ws.plan_edit("w.bat", "echo a\necho b", "echo A\necho B\necho b2")
    assert plan.after == b"echo A\r\necho B\r\necho b2\r\necho c"


async def test_apply_keeps_mode_and_new_file_mode(ws: Workspace, root: Path) -> None:
    run = root / "run.sh"
    run.write_text("#!/bin/sh\necho hi\n")
    run.chmod(0o750)
    await ws.apply(await ws.plan_edit("run.sh", "hi", "ho"))
    assert stat.S_IMODE(run.stat().st_mode) == 0o750
    old = os.umask(0o027)
    try:
        await ws.apply(await ws.plan_write("deep/er/new.py", "x = 1\n"))
    finally:
        os.umask(old)
    assert stat.S_IMODE((root / "deep/er/new.py").stat().st_mode) == 0o640
    assert (root / "deep/er/new.py").read_text() == "x = 1\n"


async def test_apply_refuses_stale(ws: Workspace, root: Path) -> None:
    plan = await ws.plan_edit("train.py", "lr = 0.1", "lr = 0.2")
    (root / "train.py").write_text("changed\n")
    with pytest.raises(WorkspaceError) as err:
        await ws.apply(plan)
    assert str(err.value) == "'train.py' changed since the edit was proposed; read it again"
    assert (root / "train.py").read_text() == "changed\n"
    create = await ws.plan_write("fresh.py", "a")
    (root / "fresh.py").write_text("someone else")
    with pytest.raises(WorkspaceError, match="changed since the edit was proposed"):
        await ws.apply(create)
    overwrite = await ws.plan_write("sub/h.py", "new")
    (root / "sub/h.py").unlink()
    with pytest.raises(WorkspaceError, match="changed since"):
        await ws.apply(overwrite)
    assert not (root / "sub/h.py").exists() and temp_files(root) == []


async def test_apply_refuses_symlink_swapped_in(ws: Workspace, root: Path, outside: Path) -> None:
    plan = await ws.plan_write("sub/new.txt", "pwned")
    (root / "sub" / "h.py").unlink()
    (root / "sub").rmdir()
    (root / "sub").symlink_to(outside)
    with pytest.raises(WorkspaceError):
        await ws.apply(plan)
    assert names(outside) == ["secret.txt"]
    forged = EditPlan("../outside/x.txt", "create", None, b"pwned", "", None)
    with pytest.raises(WorkspaceError, match="outside the workspace"):
        await ws.apply(forged)
    with pytest.raises(WorkspaceError, match="invalid edit plan"):
        await ws.apply(EditPlan("y.txt", "create", None, b"x", "", "abc"))


async def test_apply_failure_leaves_no_temp_file(
    ws: Workspace, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = await ws.plan_edit("train.py", "epochs = 3", "epochs = 4")

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="No space left"):
        await ws.apply(plan)
    monkeypatch.undo()
    assert temp_files(root) == [] and "epochs = 3" in (root / "train.py").read_text()
    await ws.apply(plan)
    assert temp_files(root) == [] and "epochs = 4" in (root / "train.py").read_text()


async def test_undo_created_file_and_stale_undo(ws: Workspace, root: Path) -> None:
    applied = await ws.apply(await ws.plan_write("made.txt", "x"))
    assert await ws.undo(applied) == "deleted made.txt (undid its creation)"
    assert not (root / "made.txt").exists()
    applied = await ws.apply(await ws.plan_edit("train.py", "lr = 0.1", "lr = 0.3"))
    (root / "train.py").write_text("edited by hand\n")
    with pytest.raises(WorkspaceError) as err:
        await ws.undo(applied)
    assert str(err.value) == "'train.py' changed since the edit was applied; not undone"
    assert (root / "train.py").read_text() == "edited by hand\n"
    applied = await ws.apply(await ws.plan_write("gone.txt", "x"))
    (root / "gone.txt").unlink()
    with pytest.raises(WorkspaceError, match="changed since the edit was applied"):
        await ws.undo(applied)


async def test_undo_keeps_mode(ws: Workspace, root: Path) -> None:
    (root / "train.py").chmod(0o600)
    applied = await ws.apply(await ws.plan_write("train.py", "new\n"))
    await ws.undo(applied)
    assert stat.S_IMODE((root / "train.py").stat().st_mode) == 0o600
    assert (root / "train.py").read_text() == "import os\n\nlr = 0.1\nepochs = 3\n"
