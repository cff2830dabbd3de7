"""A log read by pages, for the log viewer: never the whole file in memory.

``LogFile(path)`` keeps a sparse line index: one mark (line number, byte offset of its
start) per ``MARK`` bytes (some 2 MB of index per GiB of log), built incrementally by
counting newlines block by block, only as far as a page needs (the last page, or a line
near the end, scans the rest once; a log that grows is scanned on from where the index
stopped). A page seeks to the nearest mark and reads at most ``count`` lines from there; a
line longer than ``LINE_BYTES`` is cut (the rest skipped, not kept). ``search`` runs an
RE2 pattern (linear time: a literal, or a regex the workspace search accepts) over the file
block by block, one hit per line, at most ``limit`` hits, until a deadline. Every method
does blocking file I/O: call them in a worker thread (the viewer does, through
:func:`run`), never on the kernel's event loop.
"""

from __future__ import annotations

import asyncio
import bisect
import functools
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

#: Bytes read per block when indexing or searching.
BLOCK = 1 << 20
#: Bytes between two marks of the index (a page skips at most this far line by line).
MARK = 64 << 10
#: Bytes of one line shown; the rest of a longer line is skipped (and counted).
LINE_BYTES = 8 << 10
#: Characters of a search hit's preview.
PREVIEW = 200
#: Seconds a search may take before it returns what it found.
SEARCH_SECONDS = 10.0

_executor: ThreadPoolExecutor | None = None


async def run(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` in the log viewers' worker threads (two), off the event loop."""
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="adaptive-llm-log")
    call = functools.partial(fn, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(_executor, call)


@dataclass(frozen=True)
class Line:
    number: int
    text: str
    #: Bytes of the line not shown (it was longer than ``LINE_BYTES``).
    cut: int = 0


@dataclass(frozen=True)
class Page:
    #: The first line's number (1-based); lines follow in order.
    start: int
    lines: list[Line]
    #: Lines counted so far, and whether that is all of them (the index reached the end).
    total: int
    complete: bool
    size: int


@dataclass(frozen=True)
class Hit:
    line: int
    preview: str


@dataclass(frozen=True)
class Hits:
    hits: list[Hit]
    #: The search stopped early: ``limit`` hits, the deadline, or cancelled.
    stopped: str | None
    scanned: int
    seconds: float


class LogFile:
    """See the module docstring. Thread-safe (one lock around the index)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._marks: list[tuple[int, int]] = [(1, 0)]  # (line number, offset of its start)
        self._line = 1  # the number of the line starting at ``_start``
        self._start = 0
        self._pos = 0  # bytes scanned (>= _start: a long line may be scanned part way)
        self.scans = 0  # blocks read to index (for tests)

    def size(self) -> int:
        try:
            return os.stat(self.path).st_size
        except FileNotFoundError:
            return 0

    def _scan(self, fh: Any, until_line: int | None, size: int) -> None:
        """Extend the index to ``until_line`` (None: to the end of the file as it is now)."""
        if size < self._pos:  # truncated or replaced: start over
            self._reset()
        while self._pos < size and (until_line is None or self._line <= until_line):
            fh.seek(self._pos)
            block = fh.read(min(BLOCK, size - self._pos))
            if not block:
                break
            self.scans += 1
            counted = 0  # the block's bytes whose newlines are counted
            for cut in range(MARK, len(block) + MARK, MARK):
                newline = block.rfind(b"\n", counted, min(cut, len(block)))
                if newline < 0:
                    continue
                self._line += block.count(b"\n", counted, newline + 1)
                counted = newline + 1
                self._start = self._pos + counted
                if self._start - self._marks[-1][1] >= MARK // 2:
                    self._marks.append((self._line, self._start))
            self._pos += len(block)

    def _total(self, size: int) -> int:
        return self._line if size > self._start else self._line - 1

    def page(self, start: int, count: int, *, last: bool = False) -> Page:
        """``count`` lines from line ``start`` (clamped to the file), or the last ``count``
        lines with ``last``."""
        size = self.size()
        with self._lock:
            if size == 0:
                return Page(1, [], 0, True, 0)
            with open(self.path, "rb") as fh:
                self._scan(fh, None if last else max(1, start) + count, size)
                total = self._total(size)
                complete = self._pos >= size
                if last or start > total:
                    start = total - count + 1
                start = max(1, start)
                index = bisect.bisect_right(self._marks, (start, size)) - 1
                line, offset = self._marks[index]
                fh.seek(offset)
                for _ in range(start - line):  # at most ``MARK`` bytes of lines past the mark
                    _skip_line(fh)
                lines = []
                for number in range(start, start + count):
                    data = fh.readline(LINE_BYTES)
                    if not data:
                        break
                    cut = 0 if data.endswith(b"\n") else _skip_line(fh)
                    text = data.rstrip(b"\n").decode("utf-8", "replace")
                    lines.append(Line(number, text, cut))
        return Page(start, lines, total, complete, size)

    def search(
        self,
        pattern: Any,
        limit: int = 1000,
        *,
        seconds: float = SEARCH_SECONDS,
        cancel: threading.Event | None = None,
    ) -> Hits:
        """The lines where ``pattern`` (``chat.workspace.search.Pattern``: RE2) matches, in
        order, at most one hit per line and ``limit`` hits. Blocks end at a newline; a match
        that would cross a block's end inside a line longer than ``BLOCK`` is missed."""
        began = time.monotonic()
        deadline = began + seconds
        hits: list[Hit] = []
        stopped = None
        line, pos = 1, 0
        size = self.size()
        if size == 0:  # also a log not written yet
            return Hits([], None, 0, 0.0)
        step = max(64 << 10, min(BLOCK, pattern.chunk))
        with open(self.path, "rb") as fh:
            while pos < size:
                if cancel is not None and cancel.is_set():
                    stopped = "cancelled"
                    break
                if time.monotonic() > deadline:
                    stopped = f"stopped after {seconds:.0f} s"
                    break
                fh.seek(pos)
                block = fh.read(min(step, size - pos))
                if not block:
                    break
                end = block.rfind(b"\n") + 1 if pos + len(block) < size else len(block)
                end = end or len(block)  # one line longer than the block: take the block
                cursor = at = 0
                while len(hits) < limit:
                    found = pattern.search(block, at, end)
                    if found < 0:
                        break
                    line += block.count(b"\n", cursor, found)
                    begin = block.rfind(b"\n", 0, found) + 1
                    stop = block.find(b"\n", found, end)
                    stop = end if stop < 0 else stop
                    preview = block[begin : min(stop, begin + PREVIEW * 4)]
                    hits.append(Hit(line, preview.decode("utf-8", "replace")[:PREVIEW]))
                    cursor = at = begin
                    if stop >= end:
                        break
                    at = stop + 1
                line += block.count(b"\n", cursor, end)
                pos += end
                if len(hits) >= limit:
                    stopped = f"the first {limit} hits"
                    break
        return Hits(hits, stopped, pos, time.monotonic() - began)


def _skip_line(fh: Any) -> int:
    """Read past the next newline in bounded pieces; the bytes skipped (without it)."""
    skipped = 0
    while True:
        data = fh.readline(BLOCK)
        if not data:
            return skipped
        if data.endswith(b"\n"):
            return skipped + len(data) - 1
        skipped += len(data)
