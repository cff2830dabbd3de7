"""Bounded reading of a log: whole when small, else tail first and one anchor scan.

Only regions of the file are ever held in memory (the scan itself is ``scan.py``: chunked,
at most once over the file, split between two processes for huge files). Lines are cleaned
(ANSI codes, control characters and CI timestamps removed, a CR-overwritten line reduced to
what a terminal shows), then **redacted** (``redact``: each region as a whole, so a secret
is seen whole, across lines for private keys), and only then overlong lines are shortened.
Every line a ``LogText`` holds is redacted: nothing downstream (signals, excerpt, summary,
location) can cut a secret in half before it is recognised. Lines keep their 1-based line
numbers over the ``\\n``-separated lines of the file.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field

from adaptive_llm.diagnosis.model import DiagnosisError
from adaptive_llm.diagnosis.redact import cut_index, redact
from adaptive_llm.diagnosis.scan import CHUNK_BYTES, FileScan

#: Files up to this size are read whole.
FULL_READ_LIMIT = 8 << 20
#: How much of the end of a larger file is read first.
TAIL_BYTES = 1 << 20
#: Bytes read before and after an anchor hit in the middle of a large file.
HIT_BEFORE = 12 << 10
HIT_AFTER = 24 << 10
#: Lines longer than this many characters are shortened to their head and tail (after
#: redaction).
MAX_LINE_CHARS = 2000
#: When the tail of a large file is the end of one very long line, this much of the line is
#: redacted before its last ``MAX_LINE_CHARS`` characters are kept (a private key's BEGIN line
#: or a key name before the cut is seen).
TAIL_LINE_CONTEXT = 64 << 10

#: Byte anchors of failure signals in the middle of a large file. A strong signal at the end
#: of the file makes the scan unnecessary, so these target errors a program printed and
#: survived (worker tracebacks, error lines, failed tests, panics).
ANCHORS: tuple[bytes, ...] = (
    b"Traceback (most recent call last)",
    b"rror:",
    b"ERROR",
    b"FAIL",
    b"panic",
    b"Killed",
    b"fault",
)
#: Each anchor is one pass over the data, so larger files are scanned for fewer of them:
#: above ``LARGE_FILE`` for tracebacks and error lines, above ``HUGE_FILE`` for tracebacks only
#: (a gigabyte log is a long-running job's; what it survived is a worker's traceback).
LARGE_FILE = 64 << 20
LARGE_ANCHORS: tuple[bytes, ...] = (b"Traceback (most recent call last)", b"rror:")
HUGE_FILE = 256 << 20
HUGE_ANCHORS: tuple[bytes, ...] = (b"Traceback (most recent call last)",)

_ANSI = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b\n]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]")
#: GitHub Actions' timestamp before every line; ``gh run view --log`` puts the job's and the
#: step's names before it (``build<TAB>Run tests<TAB>2024-...Z ``).
_CI_TIMESTAMP = re.compile(
    rb"^(?:[^\t\n]{1,200}\t[^\t\n]{1,200}\t)?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z ?",
    re.MULTILINE,
)
_CONTROL = bytes(c for c in range(32) if c not in (9, 10, 13, 27)) + b"\x7f"
_BINARY_CONTROL = bytes(c for c in range(32) if c not in (8, 9, 10, 12, 13, 27))


@dataclass
class Region:
    """Consecutive cleaned lines of the log; ``lines[0]`` is line ``start`` (1-based)."""

    start: int
    lines: list[str]

    @property
    def end(self) -> int:
        return self.start + len(self.lines) - 1


@dataclass
class LogText:
    """What was read of a log: sorted, non-overlapping regions and facts about the file."""

    path: str
    size: int
    regions: list[Region] = field(default_factory=list)
    binary: bool = False
    #: Whether every line of the file is in ``regions``.
    complete: bool = True
    #: Number of lines of the file (as read).
    total_lines: int = 0
    notes: list[str] = field(default_factory=list)


def open_log(path: str) -> tuple[int, int]:
    """Open ``path`` for reading; return ``(fd, size)`` or raise :class:`DiagnosisError`."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError as exc:
        raise DiagnosisError(f"no such file: {path}") from exc
    except IsADirectoryError as exc:
        raise DiagnosisError(f"is a directory: {path}") from exc
    except OSError as exc:
        raise DiagnosisError(f"cannot open {path}: {exc.strerror or exc}") from exc
    st = os.fstat(fd)
    if stat.S_ISDIR(st.st_mode):
        os.close(fd)
        raise DiagnosisError(f"is a directory: {path}")
    return fd, st.st_size if stat.S_ISREG(st.st_mode) else -1


def read_log(
    path: str,
    *,
    is_terminal: Callable[[list[Region]], bool] | None = None,
) -> LogText:
    """Read the parts of ``path`` worth diagnosing.

    ``is_terminal`` decides whether the tail of a large file already holds the failure; if
    not, the rest of the file is scanned once for :data:`ANCHORS`.
    """
    fd, size = open_log(path)
    try:
        if size < 0:  # a pipe or device: read a bounded amount
            data = _pread_upto(fd, 0, FULL_READ_LIMIT)
            return _from_bytes(path, len(data), data, complete=len(data) < FULL_READ_LIMIT)
        if size <= FULL_READ_LIMIT:
            data = _pread_upto(fd, 0, size)
            log = _from_bytes(path, size, data, complete=True)
            if len(data) < size:
                log.notes.append(f"file shrank while being read ({size} -> {len(data)} bytes)")
            return log
        return _read_large(path, fd, size, is_terminal)
    except OSError as exc:
        raise DiagnosisError(f"cannot read {path}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)


def clean_lines(data: bytes, limit: int | None = MAX_LINE_CHARS) -> list[str]:
    """Decode ``\\n``-separated bytes into cleaned, redacted display lines (one per line).

    Besides ANSI codes and control characters, the ISO timestamp that CI runners (GitHub
    Actions) put before every line is removed: it is noise, and rules anchor at line starts.
    The text is redacted as a whole, then lines longer than ``limit`` are shortened.
    """
    lines = redact(clean_text(data)).split("\n")
    if limit is not None and max(map(len, lines)) > limit:
        for i, line in enumerate(lines):
            if len(line) > limit:
                lines[i] = shorten(line, limit)
    return lines


def clean_text(data: bytes) -> str:
    """The cleaned text of ``\\n``-separated bytes, *not yet redacted* (see :func:`clean_lines`)."""
    if b"\x1b" in data:
        data = _ANSI.sub(b"", data)
    if _CI_TIMESTAMP.match(data) or _CI_TIMESTAMP.match(data, data.find(b"\n", len(data) // 2) + 1):
        data = _CI_TIMESTAMP.sub(b"", data)
    data = data.translate(None, _CONTROL)
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
    text = data.decode("utf-8", "replace")
    if "\r" in text:
        lines = text.split("\n")
        for i, line in enumerate(lines):
            if "\r" in line:
                lines[i] = _last_cr_segment(line)
        text = "\n".join(lines)
    return text


def shorten(line: str, limit: int) -> str:
    """Keep the head and the tail of an overlong line, saying how much was cut.

    ``line`` must be redacted already; the cuts never split a ``[REDACTED:...]`` marker.
    """
    half = max(1, (limit - 40) // 2)
    head = cut_index(line, half)
    tail = cut_index(line, len(line) - half)
    if tail <= head:
        return line
    return f"{line[:head]} [... {tail - head} characters cut ...] {line[tail:]}"


def looks_binary(sample: bytes) -> bool:
    """Binary data: many control bytes or mostly undecodable bytes."""
    if not sample:
        return False
    controls = len(sample) - len(sample.translate(None, _BINARY_CONTROL))
    if controls > len(sample) // 10:
        return True
    text = sample.decode("utf-8", "replace")
    return text.count("\ufffd") > len(text) // 3


def _last_cr_segment(line: str) -> str:
    """What a terminal shows for a line overwritten with CR: its last non-blank segment."""
    for part in reversed(line.split("\r")):
        if part.strip():
            return part
    return ""


def _from_bytes(path: str, size: int, data: bytes, *, complete: bool) -> LogText:
    log = LogText(path=path, size=size, complete=complete)
    # The head and the tail (one sample when the data is no longer than one).
    if looks_binary(data[:65536]) or (len(data) > 65536 and looks_binary(data[-65536:])):
        log.binary = True
        log.total_lines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
        return log
    if data.endswith(b"\n"):
        data = data[:-1]
    if data:
        lines = clean_lines(data)
        log.regions.append(Region(1, lines))
        log.total_lines = len(lines)
    return log


def _pread_upto(fd: int, offset: int, n: int) -> bytes:
    """Read up to ``n`` bytes at ``offset``; fewer if the file is shorter (or was truncated)."""
    parts: list[bytes] = []
    while n > 0:
        part = os.pread(fd, min(n, CHUNK_BYTES), offset)
        if not part:
            break
        parts.append(part)
        offset += len(part)
        n -= len(part)
    return b"".join(parts)


def _align(data: bytes, at_file_start: bool, at_file_end: bool) -> tuple[int, int]:
    """Byte range of the whole lines inside ``data`` (partial first/last lines dropped)."""
    lo = 0 if at_file_start else data.find(b"\n") + 1
    hi = len(data) if at_file_end else data.rfind(b"\n") + 1
    if (lo == 0 and not at_file_start) or hi <= lo:
        return 0, 0
    return lo, hi


def _read_large(
    path: str, fd: int, size: int, is_terminal: Callable[[list[Region]], bool] | None
) -> LogText:
    with FileScan(fd, size) as file_scan:  # counting the newlines starts now
        return _read_large_with(path, fd, size, is_terminal, file_scan)


def _read_large_with(
    path: str,
    fd: int,
    size: int,
    is_terminal: Callable[[list[Region]], bool] | None,
    file_scan: FileScan,
) -> LogText:
    log = LogText(path=path, size=size, complete=False)
    tail_start = size - TAIL_BYTES
    raw = _pread_upto(fd, tail_start, TAIL_BYTES)
    if looks_binary(raw[-65536:]) or looks_binary(_pread_upto(fd, 0, 65536)):
        log.binary = True
        return log
    if len(raw) < TAIL_BYTES:
        log.notes.append("file shrank while being read")
    nl = raw.find(b"\n")
    if nl == -1 or (nl == len(raw) - 1 and raw.count(b"\n") == 1):
        # The tail is (the end of) one very long line that started before it: redact a long
        # stretch of it, then keep its end.
        text = raw[:-1] if raw.endswith(b"\n") else raw
        window = clean_lines(text[-TAIL_LINE_CONTEXT:], limit=None)[-1]
        line = window[cut_index(window, len(window) - MAX_LINE_CHARS) :]
        tail_lines, body_start, aligned = (
            [f"[... line continues from before ...] {line}"],
            tail_start,
            False,
        )
    else:
        body = raw[nl + 1 :]
        tail_lines = clean_lines(body[:-1] if body.endswith(b"\n") else body)
        body_start, aligned = tail_start + nl + 1, True
    if is_terminal is not None and is_terminal([Region(1, tail_lines)]):
        anchors: tuple[bytes, ...] = ()
    else:
        anchors = (
            HUGE_ANCHORS if size > HUGE_FILE else LARGE_ANCHORS if size > LARGE_FILE else ANCHORS
        )
    hits, before = file_scan.run(body_start, anchors, raw)
    log.regions = [*_hit_regions(fd, hits, body_start, aligned), Region(before + 1, tail_lines)]
    log.total_lines = log.regions[-1].end
    return log


def _hit_regions(
    fd: int, hits: list[tuple[int, int]], limit: int, limit_ends_line: bool
) -> list[Region]:
    """Read whole lines around each hit (merged), numbered from the hits' line numbers.

    ``limit`` is where the tail starts; unless ``limit_ends_line``, the line running into it
    belongs to the tail and is left out here.
    """
    spans: list[list[int]] = []  # [lo, hi, offset, line] of merged byte ranges
    for offset, line in sorted(hits):
        lo, hi = max(0, offset - HIT_BEFORE), min(limit, offset + HIT_AFTER)
        if spans and lo <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], hi)
        else:
            spans.append([lo, hi, offset, line])
    regions: list[Region] = []
    for lo, hi, offset, line in spans:
        data = _pread_upto(fd, lo, hi - lo)
        a, b = _align(data, lo == 0, hi >= limit and limit_ends_line)
        if b <= a or offset < lo + a:
            continue
        first_line = line - data.count(b"\n", a, offset - lo)
        chunk = data[a:b]
        if chunk.endswith(b"\n"):
            chunk = chunk[:-1]
        regions.append(Region(first_line, clean_lines(chunk)))
    return regions
