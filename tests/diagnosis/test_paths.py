"""Paths printed on another machine, mapped to the workspace (``diagnosis/paths.py``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from adaptive_llm.diagnosis.paths import Workspace, is_library, realpath, repo_tail


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    for rel in (
        "src/solver.c",
        "src/main/java/com/acme/Loader.java",
        "src/main/java/com/acme/io/Reader.java",
        "src/test/java/com/acme/io/Reader.java",
        "crates/core/src/lib.rs",
        "pkg/stats/quantile_test.go",
        "node_modules/left-pad/index.js",
        "tests/test_x.py",
    ):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x\n")
    return tmp_path


@pytest.mark.parametrize(
    ("printed", "expected"),
    [
        ("/home/runner/work/proj/proj/src/solver.c", "src/solver.c"),
        ("/builds/group/proj/src/solver.c", "src/solver.c"),
        ("/scratch/alice/runs/42/src/solver.c", "src/solver.c"),
        ("C:\\a\\proj\\proj\\src\\solver.c", "src/solver.c"),
        ("src\\solver.c", "src/solver.c"),
        ("./src/solver.c", "src/solver.c"),
        ("../src/solver.c", "src/solver.c"),
        ("file:///home/u/proj/src/solver.c", "src/solver.c"),
        ("solver.c", "src/solver.c"),  # the one file of that name
        ("com/acme/Loader.java", "src/main/java/com/acme/Loader.java"),  # a JVM frame's package
        ("src/lib.rs", "crates/core/src/lib.rs"),  # printed from the crate's folder
        ("quantile_test.go", "pkg/stats/quantile_test.go"),
        ("Reader.java", None),  # two files of that name: not guessed
        ("com/acme/io/Reader.java", None),  # still two
        ("/usr/lib/gcc/x86_64-linux-gnu/12/include/solver.h", None),
        ("/etc/passwd", None),
        ("<string>", None),
    ],
)
def test_local(ws: Path, printed: str, expected: str | None) -> None:
    found = Workspace(str(ws)).local(printed)
    assert found == (os.path.join(os.path.realpath(ws), expected) if expected else None)


def test_user_files_are_the_workspace_s_and_not_its_dependencies(ws: Path) -> None:
    w = Workspace(str(ws))
    assert w.is_user("/home/runner/work/p/p/src/solver.c")
    assert not w.is_user("/home/runner/work/p/p/node_modules/left-pad/index.js")
    assert not w.is_user("/usr/lib/python3.11/json/decoder.py")
    assert not w.is_user("/opt/elsewhere/nothing_like_it.py")
    assert w.is_user(str(ws / "gone.py"))  # inside the workspace, even if deleted since


def test_a_symlink_out_of_the_workspace_is_not_followed(
    ws: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("outside") / "secret.py"
    outside.write_text("token = 1\n")
    (ws / "link").symlink_to(outside.parent)
    assert Workspace(str(ws)).local("/home/runner/work/p/p/link/secret.py") is None


@pytest.mark.parametrize(
    ("printed", "tail"),
    [
        ("/home/runner/work/repo/repo/src/x.py", "src/x.py"),
        ("/Users/travis/build/owner/repo/Tests/T.swift", "Tests/T.swift"),
        ("/builds/group/proj/lib/a.rb", "lib/a.rb"),
        ("D:\\a\\repo\\repo\\src\\x.cs", "src/x.cs"),
        ("/scratch/alice/x.py", "/scratch/alice/x.py"),
    ],
)
def test_repo_tail(printed: str, tail: str) -> None:
    assert repo_tail(printed) == tail


def test_libraries_of_many_languages() -> None:
    for path in (
        "/usr/lib/python3.11/json/decoder.py",
        "/home/u/.venv/lib/python3.11/site-packages/torch/nn/modules/module.py",
        "/app/node_modules/jest-circus/build/utils.js",
        "node:internal/modules/cjs/loader",
        "/rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/panicking.rs",
        "/root/.cargo/registry/src/index.crates.io/serde-1.0/src/de.rs",
        "/usr/local/go/src/runtime/panic.go",
        "/usr/local/bundle/gems/rspec-core-3.12.0/lib/rspec/core.rb",
    ):
        assert is_library(path), path
    assert not is_library("/home/runner/work/p/p/src/train.py")


def test_realpath_is_os_realpath(tmp_path: Path) -> None:
    """The shortcut for missing components resolves every path as ``os.path.realpath`` does:
    links (to folders, files, missing targets, loops), files used as folders, ``.`` and
    ``..``, doubled slashes, relative paths."""
    root = tmp_path / "root"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "src" / "pkg" / "mod.py").write_text("x = 1\n")
    (root / "link").symlink_to(root / "src")
    (root / "dangling").symlink_to(root / "nowhere" / "deeper")
    (root / "loop").symlink_to(root / "loop")
    (root / "filelink").symlink_to(root / "src" / "pkg" / "mod.py")
    (root / "rel").symlink_to("src/pkg")
    names = ["src", "pkg", "mod.py", "link", "dangling", "loop", "filelink", "rel", "missing"]
    names += [".", "..", ""]
    paths = {str(root), "/", "//", "relative/path", "", str(root) + "/"}
    for a in names:
        for b in names:
            for c in ("mod.py", "x", "..", ""):
                paths.add(f"{root}/{a}/{b}/{c}")
                paths.add(f"{root}//{a}/{b}")
    paths.add("/home/user/project-0/src/train.py")
    for path in sorted(paths):
        assert realpath(path) == os.path.realpath(path), path


def test_inside_the_workspace_is_a_common_path_with_its_root(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "ab" / "c").mkdir(parents=True)
    (tmp_path / "ab" / "in").symlink_to(tmp_path / "a" / "b")
    (tmp_path / "a" / "out").symlink_to(tmp_path / "ab")
    paths = ["/", "/x", str(tmp_path), f"{tmp_path}/a", f"{tmp_path}/a/", f"{tmp_path}/a/b/f.py"]
    paths += [f"{tmp_path}/ab", f"{tmp_path}/ab/c", f"{tmp_path}/a/../ab", f"{tmp_path}/ab/in/f"]
    paths += [f"{tmp_path}/a/out/c", f"{tmp_path}//a//b", f"{tmp_path}/a/./b", "/home/u/a/b.py"]
    for root in (str(tmp_path / "a"), "/", str(tmp_path / "ab" / "in")):
        ws = Workspace(root)
        assert ws.root is not None
        for path in paths:
            real = os.path.realpath(path)
            expected = os.path.commonpath([real, ws.root]) == ws.root
            assert ws._inside(path) == expected, (root, path)
