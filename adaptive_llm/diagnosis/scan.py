"""One pass over a large file: count its newlines and find anchor bytes, in two processes.

Counting newlines (needed for the line numbers of everything after them) and ``bytes.find``
hold the GIL, so a single process scans about 2-3 GB/s. Above :data:`SPLIT_MIN` bytes the
first half of the range is scanned by a child Python process running this file (standard
library only, started with ``-I -S``) while this process scans the second half. Any trouble
with the child (no second CPU, spawn failure, the file replaced meanwhile) falls back to
scanning its half here. This module imports nothing from the package, so the child starts in
milliseconds. When only the newline count is needed (the tail already held the failure),
``wc -l`` counts it, about four times faster than ``bytes.count``, with the same fallback.
"""

from __future__ import annotations

import json
import os
import sys
from collections import deque
from collections.abc import Iterator

#: Counting newlines only (the tail held the failure): ``wc -l`` from this size on, when the
#: part after the counted range (already read) is at most FAST_COUNT_REST bytes.
FAST_COUNT_MIN = 64 << 20
FAST_COUNT_REST = 8 << 20
#: Chunk size of the scan.
CHUNK_BYTES = 8 << 20
#: Hits kept (the first few and the last ones).
MAX_HITS_FIRST = 16
MAX_HITS_LAST = 48
#: Ranges at least this large are split between two processes.
SPLIT_MIN = 192 << 20

Hit = tuple[int, int]  # (byte offset, 1-based line number)


def scan_file(path: str, fd: int, end: int, anchors: tuple[bytes, ...]) -> tuple[list[Hit], int]:
    """Anchor hits in ``[0, end)`` of the open file ``fd`` and its newline count."""
    if not anchors and end >= FAST_COUNT_MIN:
        lines = count_newlines_wc(fd, end)
        if lines is not None:
            return [], lines
    if end >= SPLIT_MIN and (os.cpu_count() or 1) >= 2:
        result = _split_scan(path, fd, end, anchors)
        if result is not None:
            return result
    return scan(fd, 0, end, anchors)


def count_newlines_wc(fd: int, end: int) -> int | None:
    """Newlines in ``[0, end)`` counted by ``wc -l`` (vectorised: about 4x ``bytes.count``).

    ``wc`` reads the same open file (a duplicate of ``fd``, so a rotated path does not
    matter); the few bytes after ``end`` (the tail already read) are counted here. None when
    ``wc`` is missing or fails, or the file changed size meanwhile: the caller counts itself.
    """
    import shutil
    import subprocess  # only large files get here

    wc = shutil.which("wc")
    size = os.fstat(fd).st_size
    if wc is None or size - end > FAST_COUNT_REST:
        return None
    dup = os.dup(fd)
    try:
        os.lseek(dup, 0, os.SEEK_SET)
        done = subprocess.run([wc, "-l"], stdin=dup, capture_output=True, timeout=120, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    finally:
        os.close(dup)
    if done.returncode != 0 or os.fstat(fd).st_size != size:
        return None
    try:
        total = int(done.stdout.split()[0])
    except (IndexError, ValueError):
        return None
    return total - os.pread(fd, size - end, end).count(b"\n")


def scan(fd: int, start: int, end: int, anchors: tuple[bytes, ...]) -> tuple[list[Hit], int]:
    """Hits in ``[start, end)`` with line numbers counted from ``start``; the newline count."""
    first: list[Hit] = []
    last: deque[Hit] = deque(maxlen=MAX_HITS_LAST)
    overlap = max((len(a) for a in anchors), default=1) - 1
    lines = 0
    carry, carry_offset = b"", 0

    def keep(hit: Hit) -> None:
        if len(first) < MAX_HITS_FIRST:
            first.append(hit)
        else:
            last.append(hit)

    for offset, buf, n in _chunks(fd, start, end):
        if carry:  # anchors across the boundary with the previous chunk
            for hit in _crossing(carry, bytes(buf[: min(n, overlap)]), anchors):
                keep((carry_offset + hit, lines - carry.count(b"\n", hit) + 1))
        found: set[int] = set()
        for anchor in anchors:
            pos = buf.find(anchor, 0, n)
            while pos != -1 and len(found) < 4 * MAX_HITS_LAST:
                found.add(pos)
                pos = buf.find(anchor, pos + len(anchor), n)
        prev, seen = 0, lines
        for pos in sorted(found):
            seen += buf.count(b"\n", prev, pos)
            prev = pos
            keep((offset + pos, seen + 1))
        lines += buf.count(b"\n", 0, n)
        if overlap:
            carry, carry_offset = bytes(buf[max(0, n - overlap) : n]), offset + max(0, n - overlap)
    return first + list(last), lines


def _crossing(before: bytes, after: bytes, anchors: tuple[bytes, ...]) -> list[int]:
    """Positions in ``before`` of anchors that start there and end in ``after``."""
    joined = before + after
    out = []
    for anchor in anchors:
        pos = joined.find(anchor, max(0, len(before) - len(anchor) + 1))
        if pos != -1 and pos < len(before):
            out.append(pos)
    return sorted(set(out))[:1]


def _split_scan(
    path: str, fd: int, end: int, anchors: tuple[bytes, ...]
) -> tuple[list[Hit], int] | None:
    """Scan ``[0, end)`` with a child process taking the first half (None: cannot spawn)."""
    import subprocess  # only huge files get here

    mid = end // 2
    st = os.fstat(fd)
    cmd = [sys.executable, "-I", "-S", os.path.abspath(__file__), path, str(st.st_dev)]
    cmd += [str(st.st_ino), str(mid), *(a.hex() for a in anchors)]
    try:
        child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    except OSError:
        return None
    try:
        hits2, lines2 = scan(fd, mid, end, anchors)
        out, _ = child.communicate(timeout=600)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    try:
        data = json.loads(out)
        hits1, lines1 = [(int(o), int(n)) for o, n in data["hits"]], int(data["lines"])
    except (ValueError, KeyError, TypeError):  # the child failed: scan its half here
        hits1, lines1 = scan(fd, 0, mid, anchors)
    overlap = max((len(a) for a in anchors), default=1) - 1
    if overlap:
        lo = max(0, mid - overlap)
        before, after = os.pread(fd, mid - lo, lo), os.pread(fd, overlap, mid)
        for pos in _crossing(before, after, anchors):
            hits1.append((lo + pos, lines1 - before.count(b"\n", pos) + 1))
    hits = hits1 + [(o, n + lines1) for o, n in hits2]
    kept = hits[:MAX_HITS_FIRST] + hits[MAX_HITS_FIRST:][-MAX_HITS_LAST:]
    return kept, lines1 + lines2


def _chunks(fd: int, start: int, end: int) -> Iterator[tuple[int, bytearray, int]]:
    """Yield ``(offset, buffer, length)`` chunks of ``[start, end)``.

    The next chunk is read in a thread (``preadv`` releases the GIL) while the caller works on
    the current one; a yielded buffer is valid until the next iteration. Stops early at the
    end of file (a file truncated while read).
    """
    if start >= end:
        return
    from concurrent.futures import Future, ThreadPoolExecutor

    size = min(CHUNK_BYTES, end - start)
    buffers = [bytearray(size), bytearray(size)]

    def fill(i: int, offset: int) -> int:
        want = min(size, end - offset)
        view = memoryview(buffers[i])
        got = 0
        while got < want:
            n = os.preadv(fd, [view[got:want]], offset + got)
            if n <= 0:
                break
            got += n
        return got

    with ThreadPoolExecutor(max_workers=1) as pool:
        offset, current = start, 0
        pending: Future[int] | None = pool.submit(fill, 0, offset)
        while pending is not None:
            got = pending.result()
            want = min(size, end - offset)
            nxt = offset + got
            pending = pool.submit(fill, 1 - current, nxt) if got == want and nxt < end else None
            if got:
                yield offset, buffers[current], got
            offset, current = nxt, 1 - current


def _child(argv: list[str]) -> int:
    """Scan ``[0, mid)`` of the file the parent has open (same device and inode) as JSON."""
    path, dev, ino, mid = argv[0], int(argv[1]), int(argv[2]), int(argv[3])
    anchors = tuple(bytes.fromhex(a) for a in argv[4:])
    fd = os.open(path, os.O_RDONLY)
    st = os.fstat(fd)
    if (st.st_dev, st.st_ino) != (dev, ino):
        return 3  # the path names another file now (rotated)
    hits, lines = scan(fd, 0, mid, anchors)
    sys.stdout.write(json.dumps({"hits": hits, "lines": lines}))
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
