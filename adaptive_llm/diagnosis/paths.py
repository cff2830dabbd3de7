"""The paths a log prints, as files of the job's workspace.

Logs print paths of the machine that ran the job: absolute ones from a CI runner or a cluster
(``/home/runner/work/repo/repo/src/x.py``, ``/builds/group/proj/...``, ``/scratch/$USER/...``,
``C:\\a\\repo\\src\\x.py``), relative ones (``src/x.c``, ``Lib\\test\\x.py``) and bare names
(a Java frame's ``Loader.java``). :class:`Workspace` maps each to the workspace file with the
longest matching tail, if one exists; a path it cannot map is shown by its repository-relative
tail (the part after a known CI checkout prefix).

Library code is never the user's: site-packages, node_modules, vendored gems and PHP packages,
Cargo's registry and Rust's standard library, Go's GOROOT and module cache, the JDK, the
interpreter's own paths.
"""

from __future__ import annotations

import os
import re
import stat
import sysconfig
from functools import lru_cache

#: Files listed at most when looking a bare file name up in the workspace.
MAX_INDEX_FILES = 20_000
#: Folders never listed (tools' caches and dependencies; hidden folders are skipped too).
SKIP_DIRS = frozenset(
    {"node_modules", "__pycache__", "target", "build", "dist", "venv", "site-packages", "vendor"}
)

#: Folders of installed dependencies, wherever they are (also inside the workspace).
DEPENDENCY = re.compile(
    r"(?:^|/)(?:site-packages|dist-packages|node_modules|bower_components|\.venv|venv"
    r"|\.rustup|\.cargo/registry|\.gradle|\.m2|\.ivy2|gems|vendor/bundle|vendor/composer"
    r"|\.julia/packages|renv/library|Carthage/Checkouts|Pods|third_party|external)/"
)
#: Runtimes and standard libraries, by the absolute paths (or names) logs print for them.
RUNTIME = re.compile(
    r"/lib/python\d[\d.]*/|/Lib/|/lib/R/library/|/share/julia/|/lib/ruby/\d"
    # Go's standard library under GOROOT (go, go1.22.0, go-1.21, Homebrew's libexec), Go modules
    r"|/(?:go[\d.]*|go-[\d.]+|libexec)/src/(?:runtime|internal|testing|reflect|sync|syscall|net"
    r"|os|fmt|encoding)/[^\n]*\.go$|/pkg/mod/[^\n]*\.go$"
    # the Rust standard library (rustc/<commit hash>/library), the JDK, node's own modules
    r"|/rustc/[0-9a-f]{7,}/|^/rustc/|^(?:node:)?internal/|^node:|/jre/lib/"
    r"|^(?:java|javax|jdk|sun|com/sun)/"
)
#: Where CI services check a repository out: the path after the match is repository-relative.
CHECKOUT = re.compile(
    r"^(?:/home/runner/work/[^/]+/[^/]+/|/Users/runner/work/[^/]+/[^/]+/"
    r"|[A-Za-z]:/a/[^/]+/[^/]+/|[A-Za-z]:/a/\d+/s/|/home/vsts/work/\d+/s/"
    r"|/builds/[^/]+/[^/]+/|/(?:home|Users)/travis/build/[^/]+/[^/]+/|/home/circleci/project/"
    r"|/var/lib/jenkins/workspace/[^/]+/|/(?:var/lib/)?buildkite-agent/builds/[^/]+/[^/]+/[^/]+/"
    r"|/workspace/|/github/workspace/|/opt/atlassian/pipelines/agent/build/|/app/|/src/)"
)

_DRIVE = re.compile(r"[A-Za-z]:")


def normalise(path: str) -> str:
    """``path`` with forward slashes, no ``file://`` and no leading ``./``."""
    path = path.strip().strip("'\"`")
    if path.startswith("file://"):
        path = path[len("file://") :]
    path = path.replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return path


@lru_cache(maxsize=4096)  # of the text alone: a log names its few files many times
def is_library(path: str) -> bool:
    """A file of a library, a runtime or the standard library, never the user's code."""
    norm = normalise(path)
    if norm.startswith("<") or DEPENDENCY.search(norm) or RUNTIME.search(norm):
        return True
    return any(norm.startswith(p) for p in interpreter_paths())


def repo_tail(path: str) -> str:
    """The repository-relative part of a CI checkout path; other paths as printed."""
    norm = normalise(path)
    match = CHECKOUT.match(norm)
    return norm[match.end() :] if match and match.end() < len(norm) else norm


class Workspace:
    """Maps the paths of one log to the files of one workspace (``root``; None: no mapping)."""

    def __init__(self, root: str | None) -> None:
        self.root = realpath(root) if root else None
        #: ``root`` as the start of a path inside it.
        self._prefix = "" if self.root is None else self.root.rstrip("/") + "/"
        self._index: dict[str, list[str]] | None = None
        self._known: dict[str, str | None] = {}
        self._user: dict[str, bool] = {}
        #: The file:line each log line names (``location.py`` fills it while it searches).
        self.line_hits: dict[str, tuple[str, int] | None] = {}

    def local(self, path: str) -> str | None:
        """The workspace file ``path`` names (absolute, normalised), or None.

        An absolute path inside the workspace that exists is itself; any other path is looked
        up by its tails, longest first (``src/x.py`` for ``/home/runner/work/r/r/src/x.py``);
        a bare name only when one file of the workspace has it.
        """
        if path in self._known:
            return self._known[path]
        found = self._local(path)
        self._known[path] = found
        return found

    def _local(self, path: str) -> str | None:
        norm = normalise(path)
        if not norm or norm.startswith("<"):
            return None
        if self.root is None:
            return os.path.normpath(norm) if os.path.isabs(norm) and _is_file(norm) else None
        if os.path.isabs(norm) and _is_file(norm) and self._inside(norm):
            return os.path.normpath(norm)
        parts = [p for p in norm.split("/") if p and p != "."]
        if parts and _DRIVE.fullmatch(parts[0]):
            parts = parts[1:]
        for i in range(max(1, len(parts) - 1)):  # tails of two parts at least, or the name
            if ".." in parts[i:]:
                continue
            candidate = self._prefix + "/".join(parts[i:])  # os.path.join(root, *parts[i:])
            if _is_file(candidate) and self._inside(candidate):
                return os.path.normpath(candidate)
        return self._by_name(parts) if parts else None

    def _by_name(self, parts: list[str]) -> str | None:
        """The one workspace file whose path ends with ``parts`` (a bare name, or a relative
        path printed from a subfolder: a Java package path, a crate's ``src/lib.rs``)."""
        assert self.root is not None
        matches = [
            rel
            for rel in self._files().get(parts[-1], [])
            if rel.split("/")[-len(parts) :] == parts
        ]
        return os.path.join(self.root, matches[0]) if len(matches) == 1 else None

    def _files(self) -> dict[str, list[str]]:
        """Workspace files by name (at most :data:`MAX_INDEX_FILES`, dependencies skipped)."""
        if self._index is None:
            assert self.root is not None
            index: dict[str, list[str]] = {}
            count = 0
            stack = [""]
            while stack and count < MAX_INDEX_FILES:
                rel = stack.pop()
                try:
                    with os.scandir(os.path.join(self.root, rel)) as entries:
                        for entry in entries:
                            name = entry.name
                            if entry.is_dir(follow_symlinks=False):
                                if not name.startswith(".") and name not in SKIP_DIRS:
                                    stack.append(f"{rel}/{name}" if rel else name)
                            elif entry.is_file(follow_symlinks=False):
                                index.setdefault(name, []).append(f"{rel}/{name}" if rel else name)
                                count += 1
                except OSError:
                    continue
            self._index = index
        return self._index

    def _inside(self, path: str) -> bool:
        assert self.root is not None
        real = realpath(path)
        # os.path.commonpath([real, root]) == root, for these normalised absolute paths
        return real == self.root or real.startswith(self._prefix)

    def is_user(self, path: str) -> bool:
        """A file of the user's code: not a library's, and (with a workspace) one of its files."""
        known = self._user.get(path)
        if known is None:
            known = self._user[path] = self._is_user(path)
        return known

    def _is_user(self, path: str) -> bool:
        if is_library(path):
            return False
        if self.root is None:
            return True
        norm = normalise(path)
        if os.path.isabs(norm) and self._inside(norm):  # the workspace's, even if gone since
            rel = os.path.relpath(realpath(norm), self.root)
        else:
            found = self.local(path)
            if found is None:
                return False
            rel = normalise(os.path.relpath(found, self.root))
        return not DEPENDENCY.search(rel)


def realpath(path: str) -> str:
    """``os.path.realpath(path)``, with fewer system calls for a path that does not exist.

    Logs name files of other machines (``/home/runner/work/...``): once a component of such
    a path is missing, nothing below it exists and can be a link, so the rest is joined as it
    is, where ``os.path.realpath`` would look each component up in turn. Any other case (a
    link, a relative path, ``..``, another error) is ``os.path.realpath``'s.
    """
    if not path.startswith("/"):
        return os.path.realpath(path)
    names = [name for name in path.split("/") if name and name != "."]
    if ".." in names:
        return os.path.realpath(path)
    done = ""
    for i, name in enumerate(names):
        done = f"{done}/{name}"
        try:
            mode = os.lstat(done).st_mode
        except (FileNotFoundError, NotADirectoryError):
            return "/".join([done, *names[i + 1 :]])
        except (OSError, ValueError):
            return os.path.realpath(path)
        if stat.S_ISLNK(mode):
            return os.path.realpath(path)
    return done or "/"


def _is_file(path: str) -> bool:
    try:
        return os.path.isfile(path)
    except (OSError, ValueError):
        return False


@lru_cache(maxsize=1)
def interpreter_paths() -> tuple[str, ...]:
    paths = {sysconfig.get_paths().get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    return tuple(sorted(p for p in paths if p))
