"""The workspace's ``search``: a regex or literal text over the text files under a path.

It needs no approval, so its cost is bounded whatever the pattern and the files are.

Engine. Patterns run on RE2 (``google-re2``), never on Python's ``re``: RE2 has no
backtracking, so a match costs at most (bytes searched) x (size of the compiled pattern),
never exponential: ``(a{1,16}){1,16}b`` over ``"a" * 999`` takes microseconds, not years. Each
line is matched on its own (``^`` and ``$`` are line starts and ends, ``.`` and classes never
match a newline; ``\\A`` and ``\\z`` are the start and end of the file); ``\\w``, ``\\d``,
``\\s`` and ``\\b`` are ASCII, ``\\pL`` is any letter.

Refused, with a :class:`WorkspaceError` that says how to rewrite the pattern: an empty
pattern; one over :data:`MAX_PATTERN` characters; what only a backtracking engine can run:
backreferences (``\\1``, ``(?P=name)``), lookahead and lookbehind (``(?=``, ``(?!``, ``(?<=``,
``(?<!``), atomic groups and possessive repeats (``(?>...)``, ``a*+``); Python-only syntax:
``\\Z`` (use ``$``), ``\\N{...}``, ``\\u``, the flags other than ``i``, ``m``, ``s``, ``U``
(``(?x)``, ``(?a)``, comments); counted repetitions over 1000 (``a{2000}``); and a pattern
whose compiled program needs over :data:`COMPILE_MEM` (``\\pL{1000}``), because compiling
holds the GIL and the program's size multiplies the cost of every byte searched. Any other
invalid regex (an unbalanced parenthesis, an unknown escape) is searched as literal text, with
a note in the header.

Bounds. Compiling takes at most ~15 ms (it holds the GIL; its memory is capped). The walk and
the matching run in a worker thread, never on the event loop, and RE2 releases the GIL while
it matches. Each match call gets at most :data:`CALL_BUDGET` / (program size) bytes of whole
lines (at least :data:`MIN_CHUNK`; some 300 KiB for a literal), so no call takes much more
than a tenth of a second of one core even when RE2 falls back from its DFA to its NFA; the
deadline (:data:`SEARCH_SECONDS`) is checked between calls and between files. A line longer
than that is matched on its first part (the header counts such lines). The caller waits for
the worker at most :data:`GRACE_SECONDS` past the deadline, so a read that hangs (a stalled
network file system) cannot hold the search either: the matches found so far are returned.
A directory is listed up to :data:`MAX_DIR_ENTRIES` entries (the header says when it had
more). The walk skips VCS, virtualenv and cache directories and denied names, reads only
regular, small (``max_read_bytes``), non-binary files without following links (a symlinked
file through the workspace's containment check and no-follow opener), and stops at the match
limit.
"""

from __future__ import annotations

import itertools
import os
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import re2  # type: ignore[import-untyped]

from .guard import WorkspaceError, denied, show


class SearchRoot(Protocol):
    """What the search needs of a workspace (``files.Workspace``)."""

    root: Path
    max_read_bytes: int
    max_search_matches: int

    def contained(self, lexical: Path, path: str) -> Path: ...

    def opener(self, real: Path) -> Callable[[str, int], int]: ...

    def rel(self, real: Path) -> str: ...


MAX_PATTERN = 300
SEARCH_SECONDS = 10.0  # the budget of one search: walk, reads and matching
GRACE_SECONDS = 1.0  # how long past it the caller waits for the worker before answering anyway
#: The compiled program's cap: ``.{1000}`` (8,000 instructions) fits, ``\pL{15}`` (a wide Unicode
#: class repeated) does not; compiling or refusing takes <= ~15 ms of GIL (1 MiB took 70-230).
COMPILE_MEM = 256 << 10
MATCH_MEM = 8 << 20  # memory of the pattern used for matching (mostly RE2's DFA cache)
CALL_BUDGET = 4_000_000  # bytes x program instructions per match call: <= ~0.1 s on one core
MIN_CHUNK = 512
MAX_OPEN_DIRS = 64  # directories held open while their subdirectories wait
MAX_DIR_ENTRIES = 50_000  # entries of one directory listed (in the file system's order)
SHOWN = 300  # characters of a matching line in the result
SKIP_DIRS = {".git", ".adaptive_llm", ".venv", "venv", "node_modules", "__pycache__", ".tox"}

_FLAGS_HINT = "the flags are (?i) (?m) (?s) (?U) and the groups (...) (?:...) (?P<name>...)"


@dataclass(frozen=True)
class Pattern:
    """A compiled pattern and how many bytes one match call may search."""

    regex: Any  # re2._Regexp (google-re2 has no type hints)
    chunk: int

    def search(self, data: bytes, start: int, end: int) -> int:
        """Where the first match in ``data[start:end]`` begins, or -1."""
        m = self.regex.search(data, start, end)
        return -1 if m is None else int(m.start())


def _options(max_mem: int) -> Any:
    options = re2.Options()
    options.log_errors = False  # RE2 would print "DFA out of memory" to the kernel's stderr
    options.never_capture = True  # only whether and where a line matches
    options.never_nl = True  # a match never spans lines
    options.max_mem = max_mem
    return options


def _compile(pattern: str) -> Pattern:
    text = "(?m)" + pattern  # ^ and $ at each line; the context of a chunk is the whole file
    re2.compile(text, _options(COMPILE_MEM))  # bounds the time a too-big pattern holds the GIL
    regex = re2.compile(text, _options(MATCH_MEM))
    re2.purge()  # re2's module cache would keep up to 128 patterns and their DFA memory
    size = max(1, int(regex.programsize))
    return Pattern(regex, max(MIN_CHUNK, CALL_BUDGET // size))


def compile_pattern(pattern: str) -> tuple[Pattern, str]:
    """The compiled pattern and a note for the result's header (empty, or why it is literal).

    Raises ``WorkspaceError`` for what is refused (see the module docstring)."""
    if not pattern:
        raise WorkspaceError("empty search pattern")
    if len(pattern) > MAX_PATTERN:
        raise WorkspaceError(f"search pattern is over {MAX_PATTERN} characters; shorten it")
    try:
        pattern.encode()
    except UnicodeEncodeError:
        raise WorkspaceError("search pattern is not valid Unicode (a lone surrogate)") from None
    try:
        return _compile(pattern), ""
    except re2.error as exc:
        message = _message(exc)
    refusal = unsupported(message)
    if refusal is not None:
        raise WorkspaceError(f"search pattern refused: {refusal}")
    literal = _compile(re2.escape(pattern))
    return literal, f" (invalid regex: {message}; searched literally)"


def _message(exc: Exception) -> str:
    raw = exc.args[0] if exc.args else str(exc)
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return text.replace(": (?m)", ": ", 1)


def unsupported(message: str) -> str | None:
    """Why RE2's ``message`` means a feature the search cannot run (with how to rewrite it),
    or None when the pattern is just invalid (then it is searched literally)."""
    kind, _, arg = message.partition(": ")
    linear = "the search runs in linear time, without backtracking"
    if kind == "invalid escape sequence":
        if arg[1:2].isdigit():
            return (
                f"backreferences like {arg} are not supported ({linear}); search for the"
                " repeated text itself, or for one part and read the lines"
            )
        if arg == "\\Z":
            return "\\Z is not supported; use $ for the end of a line (or \\z, end of file)"
        if arg in ("\\N", "\\u", "\\U"):
            return f"{arg} escapes are not supported; write the character, or \\x{{e9}}"
        return None
    if kind == "invalid perl operator":
        if arg in ("(?=", "(?!", "(?<=", "(?<!"):
            return (
                f"lookahead and lookbehind like {arg}...) are not supported ({linear}); put the"
                " context in the pattern (foo(?=bar) -> foobar) or search the simpler pattern"
            )
        if arg == "(?P":
            return f"named backreferences (?P=name) are not supported ({linear})"
        if arg == "(?>":
            return "atomic groups (?>...) are not supported; write (?:...): nothing backtracks"
        return f"the group or flag {arg}...) is not supported; {_FLAGS_HINT}"
    if kind == "bad repetition operator" and len(arg) > 1 and arg.endswith("+"):
        return f"possessive repeats ({arg}) are not supported; drop the +: nothing backtracks"
    if kind == "invalid repetition size":
        return (
            f"the counted repetition {arg} is over the limit of 1000 (nested counts multiply);"
            " use a smaller count"
        )
    if message.startswith("pattern too large"):
        return (
            f"the pattern is too large once compiled (over {COMPILE_MEM >> 10} KiB: counted"
            " repetitions of wide classes, like \\pL{20} or .{2000}); use smaller counts"
        )
    return None


_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK


def _open_dir(root: Path, parts: tuple[str, ...]) -> int:
    """A descriptor of root/parts, opened one component at a time, never following links."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in parts:
            sub = os.open(part, _DIR, dir_fd=fd)
            os.close(fd)
            fd = sub
    except BaseException:
        os.close(fd)
        raise
    return fd


class _Parent:
    """A listed directory: its subdirectories to visit, and its descriptor while they wait
    (``-1``: closed, or never kept; they are then opened from the root)."""

    __slots__ = ("fd", "pending", "subdirs")

    def __init__(self, fd: int, pending: int, subdirs: list[tuple[str, ...]]) -> None:
        self.fd, self.pending, self.subdirs = fd, pending, subdirs

    def release(self) -> None:
        """One subdirectory was opened (or could not be): the last one closes the parent."""
        self.pending -= 1
        if self.pending <= 0:
            self.close()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


@dataclass
class _Scan:
    """One search's state: filled by the worker thread, read by the caller."""

    ws: SearchRoot
    real: Path
    pattern: Pattern
    deadline: float
    hits: list[str] = field(default_factory=list)
    skipped: int = 0
    long_lines: int = 0
    big_dirs: int = 0
    matching: float = 0.0  # seconds inside match calls
    matched: int = 0  # bytes given to match calls
    full: bool = False
    timed_out: bool = False
    stop: bool = False  # set by the caller when it stops waiting
    error: BaseException | None = None

    def late(self) -> bool:
        if self.stop or time.monotonic() > self.deadline:
            self.timed_out = True
        return self.timed_out

    def run(self) -> None:
        try:
            if self.real.is_dir():
                self.walk(self.real.relative_to(self.ws.root).parts)
            else:
                self.found(self.ws.rel(self.real), self.read_linked(self.real))
        except BaseException as exc:  # handed to the caller's thread
            self.error = exc

    def walk(self, top: tuple[str, ...]) -> None:
        """Files in ``os.walk`` order (top down, sorted): a directory is opened relative to its
        parent's descriptor (kept open while it has children to visit, at most
        ``MAX_OPEN_DIRS``; beyond, from the root one component at a time), never following
        links, its files relative to it (``O_NOFOLLOW``); a symlinked file goes through the
        workspace's containment and opener; a symlinked directory, a skipped or a denied name
        is not entered."""
        stack: list[tuple[tuple[str, ...], _Parent | None]] = [(top, None)]
        held: list[_Parent] = []
        try:
            while stack and not self.late():
                parts, parent = stack.pop()
                try:
                    if parent is not None and parent.fd >= 0:
                        dfd = os.open(parts[-1], _DIR, dir_fd=parent.fd)
                    else:
                        dfd = _open_dir(self.ws.root, parts)
                except OSError:
                    continue  # gone, unreadable, or swapped for a symlink since it was listed
                finally:
                    if parent is not None:
                        parent.release()
                node = self.list_dir(dfd, parts, open_dirs=sum(p.fd >= 0 for p in held))
                if node is None:
                    return  # the search is over
                if node.subdirs:
                    held = [p for p in held if p.fd >= 0]
                    if node.fd >= 0:
                        held.append(node)
                    stack.extend((sub, node) for sub in reversed(node.subdirs))
        finally:
            for p in held:
                p.close()

    def list_dir(self, dfd: int, parts: tuple[str, ...], open_dirs: int) -> _Parent | None:
        """Search the files of the open directory ``dfd``; its subdirectories to visit, with
        ``dfd`` kept open for them if any (and fewer than ``MAX_OPEN_DIRS`` are); None when the
        search is over. Takes ``dfd`` over."""
        keep = False
        try:
            with os.scandir(dfd) as it:
                entries = list(itertools.islice(it, MAX_DIR_ENTRIES + 1))
            if len(entries) > MAX_DIR_ENTRIES:  # bounds the memory, and the sort (GIL)
                entries.pop()
                self.big_dirs += 1
            entries.sort(key=lambda e: e.name)
            subdirs: list[tuple[str, ...]] = []
            for entry in entries:
                name = entry.name
                if denied(name):
                    continue
                try:
                    link = entry.is_symlink()
                    is_dir = entry.is_dir()  # a symlinked directory too: never entered
                except OSError:
                    link = is_dir = False
                if is_dir:
                    if not link and name.lower() not in SKIP_DIRS:
                        subdirs.append((*parts, name))
                    continue
                if self.late():
                    return None
                rel = "/".join((*parts, name))
                if link:
                    data = self.read_linked(Path(self.ws.root, rel))
                else:
                    data = self.read_at(dfd, name)
                if self.found(rel, data):
                    return None
            keep = bool(subdirs) and open_dirs < MAX_OPEN_DIRS
            return _Parent(dfd if keep else -1, len(subdirs), subdirs)
        finally:
            if not keep:
                os.close(dfd)

    def found(self, rel: str, data: bytes | None) -> bool:
        """Match one file's content (None: skipped); True when the search is over."""
        if data is None:
            self.skipped += 1
        elif data:
            self.match(rel, data)
        return self.full or self.timed_out

    def read_at(self, dfd: int, name: str) -> bytes | None:
        limit = self.ws.max_read_bytes
        try:
            fd = os.open(name, _FILE, dir_fd=dfd)
        except OSError:
            return None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
                return None
            with open(fd, "rb", closefd=False) as f:
                return self.checked(f.read((st.st_size or limit) + 1))  # +1: it grew
        except OSError:
            return None
        finally:
            os.close(fd)

    def read_linked(self, file: Path) -> bytes | None:
        """A file reached through a symlink (or named directly): contained, then opened."""
        limit = self.ws.max_read_bytes
        try:
            target = self.ws.contained(file, str(file))
            st = os.stat(target)
            if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
                return None
            with open(target, "rb", opener=self.ws.opener(target)) as f:
                return self.checked(f.read((st.st_size or limit) + 1))
        except (WorkspaceError, OSError):
            return None

    def checked(self, data: bytes) -> bytes | None:
        if b"\x00" in data or len(data) > self.ws.max_read_bytes:
            return None
        return data

    def match(self, rel: str, data: bytes) -> None:
        """Append the matching lines of ``data``, one bounded match call at a time."""
        size = self.pattern.chunk
        last = len(data) - 1 if data.endswith(b"\n") else len(data)  # end of the last line
        pos, counted, line = 0, 0, 1  # pos: a line start; line: the number of line `counted`
        while pos <= last:
            if self.late():
                return
            end = last if last - pos <= size else data.rfind(b"\n", pos, pos + size + 1)
            long = end < 0
            if long:  # a line longer than a chunk: its first `size` bytes only
                end = pos + size
                self.long_lines += 1
            at = pos
            while at <= end:
                t0 = time.perf_counter()
                start = self.pattern.search(data, at, end)
                self.matching += time.perf_counter() - t0
                self.matched += end - at
                if start < 0:
                    break
                nl = data.rfind(b"\n", at, start)
                begin = at if nl < 0 else nl + 1
                line += data.count(b"\n", counted, begin)
                counted = begin
                stop = data.find(b"\n", start)
                stop = len(data) if stop < 0 else stop
                self.hits.append(f"{show(rel)}:{line}: {_shown(data[begin:stop])}")
                if len(self.hits) >= self.ws.max_search_matches:
                    self.full = True
                    return
                at = stop + 1
                if self.late():
                    return
            if long:
                nl = data.find(b"\n", max(at - 1, end))
                pos = len(data) if nl < 0 else nl + 1
            else:
                pos = max(at, end + 1)

    def report(self, note: tuple[str, str]) -> str:
        most = self.ws.max_search_matches
        hits = self.hits[:most]
        head = f"{len(hits)} matches for {note[0]!r} in {self.ws.rel(self.real)}{note[1]}"
        if self.full:
            head += f" [stopped at {most} matches; narrow the pattern or path]"
        if self.timed_out:
            head += f" [stopped after {SEARCH_SECONDS:g} s; narrow the path]"
            if self.matching > SEARCH_SECONDS / 2:  # the pattern, not the tree, took the time
                rate = _size(int(self.matched / self.matching))
                head += f" [the pattern matched only {rate}/s; simplify its repetitions]"
        if self.skipped:
            head += f" [{self.skipped} binary, oversized, special or outside files skipped]"
        if self.big_dirs:
            head += (
                f" [{self.big_dirs} directories over {MAX_DIR_ENTRIES} entries: only"
                f" {MAX_DIR_ENTRIES} of each searched; narrow the path]"
            )
        if self.long_lines:
            head += (
                f" [{self.long_lines} lines longer than {_size(self.pattern.chunk)}"
                " matched on their first part only]"
            )
        return "\n".join([head, *hits])


def _shown(raw: bytes) -> str:
    text = raw[: 4 * SHOWN].decode("utf-8", "replace").rstrip("\r")
    return show(text[:SHOWN])


def _size(n: int) -> str:
    if n >= 1 << 20:
        return f"{n >> 20} MiB"
    return f"{n >> 10} KiB" if n >= 1 << 10 else f"{n} bytes"


def search_tree(ws: SearchRoot, real: Path, pattern: Pattern, note: tuple[str, str]) -> str:
    """Matching lines under ``real`` (resolved inside ``ws``) as ``file:line: text``.

    Blocking (call it in a thread): the walk runs in a daemon thread of its own, and this
    returns within ``SEARCH_SECONDS + GRACE_SECONDS`` even if that thread is stuck in a read.
    """
    scan = _Scan(ws, real, pattern, time.monotonic() + SEARCH_SECONDS)
    worker = threading.Thread(target=scan.run, name="adaptive_llm-search", daemon=True)
    worker.start()
    worker.join(SEARCH_SECONDS + GRACE_SECONDS)
    if worker.is_alive():
        scan.stop = True  # it stops at its next check; until then it only holds its thread
        scan.timed_out = True
    if scan.error is not None:
        raise scan.error
    return scan.report(note)
