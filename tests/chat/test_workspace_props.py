"""Property tests: no generated path lets any workspace operation escape the root.

Each operation gets a thousand or more generated paths (10,200 in total, plus a regression
set): ``..`` traversal, absolute paths (inside and outside), symlinks in the tree and generated
ones pointing in and out, unicode (RTL marks, combining characters, fullwidth dots), NUL,
backslashes, ``~``, very long names, trailing slashes. Every call either raises
``WorkspaceError`` or touches only a real path inside the root; a sentinel directory outside the
root is snapshotted before and after, and its secret content never shows up in any output.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from adaptive_llm.chat.workspace import Workspace, WorkspaceError

SECRET = "SENTINEL-7f3a9c"
SETTINGS: dict[str, Any] = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}


class Tree:
    """A workspace root with nasty symlinks, next to a sentinel directory outside it."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.root = base / "root"
        self.outside = base / "outside"
        self.outside.mkdir()
        (self.outside / "secret.txt").write_text(SECRET + "\n")
        (self.outside / "dir").mkdir()
        (self.outside / "dir" / "f.txt").write_text(SECRET + " nested\n")
        r = self.root
        (r / "sub" / "deep").mkdir(parents=True)
        (r / "a.txt").write_text("alpha\nbeta\n")
        (r / "sub" / "b.py").write_text("x = 1\n")
        (r / "sub" / "deep" / "c.txt").write_text("gamma\n")
        (r / ".env").write_text(SECRET + "=env\n")
        (r / ".adaptive_llm").mkdir()
        (r / ".adaptive_llm" / "state").write_text(SECRET + " state\n")
        os.mkfifo(r / "fifo")
        links: dict[str, str | Path] = {
            "out_file": self.outside / "secret.txt",
            "out_dir": self.outside,
            "out_rel": "../outside",
            "sub/up": "../..",
            "sub/deep/up2": "../../../outside/dir",
            "in_file": "a.txt",
            "in_dir": "sub",
            "sub/back": "..",
            "loop": "loop",
            "loop_a": "loop_b",
            "loop_b": "loop_a",
            "dangling": "nowhere/x",
            "to_env": ".env",
            "to_root_abs": r,
            "to_etc": "/etc",
        }
        for name, target in links.items():
            (r / name).symlink_to(target)
        self.ws = Workspace(r)

    def snapshot(self) -> dict[str, str]:
        """Everything outside the root: names, types and content hashes of the base dir."""
        snap: dict[str, str] = {}
        for top, dirs, files in os.walk(self.base):
            if Path(top).is_relative_to(self.root):
                dirs[:] = []
                continue
            for name in dirs + files:
                p = Path(top, name)
                if p.is_relative_to(self.root):
                    continue
                data = p.read_bytes() if p.is_file() and not p.is_symlink() else b""
                snap[str(p)] = f"{p.is_symlink()}:{p.is_dir()}:{hashlib.sha256(data).hexdigest()}"
        return snap


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tree]:
    t = Tree(tmp_path_factory.mktemp("props"))
    yield t


# fmt: off
SEGMENTS = [
    "..", ".", "", "...", "\uff0e\uff0e", "\uff0e", "sub", "deep", "a.txt", "b.py", "c.txt", "up",
    "up2", "back", "out_file", "out_dir", "out_rel", "in_file", "in_dir", "loop", "loop_a",
    "dangling", "to_env", "to_root_abs", "to_etc", "fifo", "outside", "root", "secret.txt", "dir",
    "f.txt", ".env", ".ENV", ".adaptive_llm", "state", ".git", "id_rsa", "x.pem", "~", "~root",
    "\x00", "a\x00b", "\\", "..\\..", "a\\b", "\u202e", "\u202etxt.exe", "e\u0301", "\u0301",
    "\uff41.txt", "\u200b", "\ufeff", "\udcff", "\ud800", "x" * 255, "y" * 256, "é" * 128, " ",
    "\n", "\t", "%2e%2e", "....//", "etc", "passwd", "proc", "self", "cwd", "root",
]
# fmt: on


@st.composite
def paths(draw: st.DrawFn) -> str:
    """A path string built from nasty segments, generated text, prefixes and suffixes."""
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.text(max_size=30))
    segs = draw(st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=7))
    if kind == 1:
        segs.insert(draw(st.integers(0, len(segs))), draw(st.text(max_size=10)))
    path = "/".join(segs)
    prefix = draw(st.sampled_from(["", "", "", "/", "//", "ROOT/", "OUT/", "./", "~/", "../"]))
    suffix = draw(st.sampled_from(["", "", "", "/", "/.", "/..", "//"]))
    return prefix + path + suffix


class Check:
    """Runs one operation on a generated path and checks the containment property."""

    def __init__(self, tree: Tree) -> None:
        self.tree = tree
        self.before = tree.snapshot()
        self.loop = asyncio.new_event_loop()

    def close(self) -> None:
        self.loop.run_until_complete(self.loop.shutdown_default_executor())
        self.loop.close()

    def expand(self, path: str) -> str:
        root, out = str(self.tree.root), str(self.tree.outside)
        return path.replace("ROOT/", root + "/", 1).replace("OUT/", out + "/", 1)

    def run(self, path: str, op: Callable[[Workspace, str], Awaitable[object]]) -> None:
        path = self.expand(path)
        try:
            result = self.loop.run_until_complete(op(self.tree.ws, path))
        except WorkspaceError as exc:
            assert str(exc)  # a clear message, never empty
            result = None
        else:
            # "a//b" is "a/b" (POSIX), but not to 3.11's realpath after a symlink loop: the
            # rest of "loop//.." is joined as "/..", giving "/" (the kernel refuses it, ELOOP)
            real = Path(os.path.realpath(os.path.join(self.tree.root, re.sub("/{2,}", "/", path))))
            assert real.is_relative_to(self.tree.root), (path, real)
        if result is not None:
            assert SECRET not in repr(result), path
        assert self.tree.snapshot() == self.before, path


async def op_read(ws: Workspace, p: str) -> object:
    return await ws.read_file(p, 1, 5) if len(p) % 2 else await ws.read_file(p)


async def op_list(ws: Workspace, p: str) -> object:
    return await ws.list_dir(p)


async def op_search(ws: Workspace, p: str) -> object:
    return await ws.search("SENTINEL|alpha|x", p)


async def op_plan_edit(ws: Workspace, p: str) -> object:
    return await ws.plan_edit(p, "a", "A")


async def op_plan_write(ws: Workspace, p: str) -> object:
    return await ws.plan_write(p, "written\n")


async def op_apply(ws: Workspace, p: str) -> object:
    """Plan a write and apply it; then undo, so the tree inside stays as it was."""
    plan = await ws.plan_write(p, "applied\n")
    applied = await ws.apply(plan)
    real = ws.root / applied.path
    assert real.resolve().is_relative_to(ws.root) and real.read_bytes() == b"applied\n"
    await ws.undo(applied)
    return applied


OPS = {
    "read_file": (op_read, 2000),
    "list_dir": (op_list, 1200),
    "search": (op_search, 1200),
    "plan_edit": (op_plan_edit, 1800),
    "plan_write": (op_plan_write, 1800),
    "apply": (op_apply, 1200),
}


@pytest.mark.parametrize("name", OPS)
def test_no_path_escapes(tree: Tree, name: str) -> None:
    op, examples = OPS[name]
    check = Check(tree)

    @settings(max_examples=examples, **SETTINGS)
    @given(paths())
    @example("loop//..")  # found in a clean clone's run (4 Dec): the oracle's realpath was wrong
    @example("out_dir//..")
    def prop(path: str) -> None:
        check.run(path, op)

    try:
        prop()
    finally:
        check.close()


@st.composite
def placed_links(draw: st.DrawFn) -> tuple[str, str, str]:
    """(where to place a symlink, its target, the path to use): targets point in and out."""
    where = draw(st.sampled_from(["gen/l", "gen/d/l", "gen/l2"]))
    target = draw(
        st.sampled_from(["OUT", "OUT/secret.txt", "../..", "../../..", "ROOT/a.txt", "ROOT"])
        | st.sampled_from(["../a.txt", "../sub", "..", ".", "l", "/", "/etc/passwd"])
        | st.builds(
            "/".join, st.lists(st.sampled_from(["..", "sub", "out_dir", "gen"]), max_size=5)
        )
    )
    tail = draw(st.sampled_from(["", "/secret.txt", "/a.txt", "/f.txt", "/dir/f.txt", "/new.txt"]))
    return where, target, where + tail


@settings(max_examples=1000, **SETTINGS)
@given(placed_links(), st.sampled_from(list(OPS)))
def test_generated_symlinks(tree: Tree, link: tuple[str, str, str], name: str) -> None:
    where, target, path = link
    check = Check(tree)
    gen = tree.root / "gen"
    place = tree.root / where
    place.parent.mkdir(parents=True, exist_ok=True)
    place.symlink_to(check.expand(target + "/").rstrip("/") or "/")
    try:
        check.run(path, OPS[name][0])
    finally:
        check.close()
        for p in sorted(gen.rglob("*"), key=lambda q: -len(q.parts)):
            p.unlink() if p.is_symlink() or not p.is_dir() else p.rmdir()
        gen.rmdir()


# fmt: off
REGRESSION = [
    "../../../../../../etc/passwd", "/etc/passwd", "//etc/passwd", "sub/../../outside/secret.txt",
    "out_file", "out_dir/secret.txt", "out_rel/dir/f.txt", "sub/up/outside/secret.txt",
    "sub/deep/up2/f.txt", "in_dir/back/out_file", "to_etc/passwd", "to_root_abs/../outside",
    "loop", "loop_a/x", "dangling", "to_env", ".env", ".adaptive_llm/state", "fifo", "fifo/",
    "\uff0e\uff0e/\uff0e\uff0e/outside", "\u202e/..", "a.txt\x00.png",
    "..\\..\\outside\\secret.txt", "~/.ssh", "~", "", "/", ".", "..", "./..",
    "sub/.././../outside", "x" * 4096, "a/" * 3000, "\ud800", "sub/deep/../../..",
    "OUT/secret.txt", "ROOT/../outside/secret.txt", "ROOT/out_file",
    "in_dir/back/in_dir/back/../../outside", "/proc/self/root/etc/passwd", "/proc/self/cwd",
]
# fmt: on


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", OPS)
def test_regression_paths(tree: Tree, name: str) -> None:
    check = Check(tree)
    try:
        for path in REGRESSION:
            check.run(path, OPS[name][0])
    finally:
        check.close()
