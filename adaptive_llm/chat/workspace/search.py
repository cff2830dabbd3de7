"""The workspace's ``search``: a guarded regex over the text files under a path.

A pattern is refused when it is too long or repeats a variable-length part inside a repetition
(``(a+)+``, ``(a|aa)*``: exponential time in Python's engine); an invalid regex is searched as
literal text. The walk skips VCS, virtualenv and cache directories and denied names, reads only
regular, small, non-binary files through the workspace's no-follow opener, matches the first
:data:`LINE_SCAN` characters of each line, and stops at the match limit or after
:data:`SEARCH_SECONDS`.
"""

from __future__ import annotations

import importlib
import os
import re
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from .guard import WorkspaceError, denied, show


class SearchRoot(Protocol):
    """What the search needs of a workspace (``files.Workspace``)."""

    max_read_bytes: int
    max_search_matches: int

    def contained(self, lexical: Path, path: str) -> Path: ...

    def opener(self, real: Path) -> Callable[[str, int], int]: ...

    def rel(self, real: Path) -> str: ...


MAX_PATTERN = 300
LINE_SCAN = 1000  # characters of each line that a pattern is matched against
SEARCH_SECONDS = 10.0
SKIP_DIRS = {".git", ".adaptive_llm", ".venv", "venv", "node_modules", "__pycache__", ".tox"}
_parser: Any = importlib.import_module("re._parser")


def compile_pattern(pattern: str) -> tuple[re.Pattern[str], str]:
    """The compiled pattern and a note for the result's header (empty, or why it is literal)."""
    if not pattern:
        raise WorkspaceError("empty search pattern")
    if len(pattern) > MAX_PATTERN:
        raise WorkspaceError(f"search pattern is over {MAX_PATTERN} characters; shorten it")
    try:
        if risky(pattern):
            raise WorkspaceError(
                "pattern repeats a variable-length part, like (a+)+ or (a|b)*, which can"
                " take exponential time; simplify it"
            )
        return re.compile(pattern), ""
    except (re.error, RecursionError, OverflowError) as exc:
        return re.compile(re.escape(pattern)), f" (invalid regex: {exc}; searched literally)"


def risky(pattern: str) -> bool:
    """True for nested variable repetition like ``(a+)+`` or ``(a|aa)*`` (exponential time)."""

    def walk(items: Any, in_rep: bool) -> bool:
        for op, av in items:
            if str(op) in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
                lo, hi, sub = av
                if in_rep and lo != hi:
                    return True
                if walk(sub, in_rep or hi == _parser.MAXREPEAT or hi > 16):
                    return True
            elif (str(op) == "BRANCH" and in_rep) or any(walk(c, in_rep) for c in children(av)):
                return True
        return False

    def children(av: Any) -> Iterator[Any]:
        if isinstance(av, _parser.SubPattern):
            yield av
        elif isinstance(av, list | tuple):
            for x in av:
                yield from children(x)

    return bool(walk(_parser.parse(pattern), False))


def _files(real: Path) -> Iterator[Path]:
    if not real.is_dir():
        yield real
        return
    for top, dirs, files in os.walk(real):
        dirs[:] = sorted(d for d in dirs if d.lower() not in SKIP_DIRS and not denied(d))
        yield from (Path(top, f) for f in sorted(files) if not denied(f))


def search_tree(ws: SearchRoot, real: Path, rx: re.Pattern[str], note: tuple[str, str]) -> str:
    """Matching lines under ``real`` (resolved inside ``ws``) as ``file:line: text``."""
    hits: list[str] = []
    skipped = 0
    deadline = time.monotonic() + SEARCH_SECONDS
    timed_out = full = False
    for file in _files(real):
        if time.monotonic() > deadline:
            timed_out = True
            break
        try:
            target = ws.contained(file, str(file))
            st = os.stat(target)
            if not stat.S_ISREG(st.st_mode) or st.st_size > ws.max_read_bytes:
                skipped += 1
                continue
            with open(target, "rb", opener=ws.opener(target)) as f:
                data = f.read(ws.max_read_bytes + 1)
        except (WorkspaceError, OSError):
            skipped += 1
            continue
        if b"\x00" in data or len(data) > ws.max_read_bytes:
            skipped += 1
            continue
        rel = show(ws.rel(file))
        for n, line in enumerate(data.decode("utf-8", "replace").split("\n"), 1):
            if rx.search(line[:LINE_SCAN]):
                hits.append(f"{rel}:{n}: {show(line.rstrip(chr(13))[:300])}")
                if len(hits) >= ws.max_search_matches:
                    full = True
                    break
        if full:
            break
    head = f"{len(hits)} matches for {note[0]!r} in {ws.rel(real)}{note[1]}"
    if full:
        head += f" [stopped at {ws.max_search_matches} matches; narrow the pattern or path]"
    if timed_out:
        head += f" [stopped after {SEARCH_SECONDS:.0f} s; narrow the path]"
    if skipped:
        head += f" [{skipped} binary, oversized, special or outside files skipped]"
    return "\n".join([head, *hits])
