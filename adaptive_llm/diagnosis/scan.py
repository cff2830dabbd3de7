"""One pass over a large file: find anchor bytes and give them exact line numbers.

Counting newlines (needed for the line numbers of everything after them) and ``bytes.find``
hold the GIL, so one Python process doing both scans about 1.2 GB/s (:func:`scan`, used for
files below :data:`HELPED_MIN`). Larger files get helper processes instead (:class:`FileScan`):

* ``wc -l`` (vectorised, about three times faster than ``bytes.count``) counts the whole file;
  it starts when the file is opened, while the tail is still being read and judged;
* two Python children (standard library only, started with ``-I -S``; this module imports
  nothing from the package) find the anchors in a memory map, one half each, and report each
  hit as they find it;
* each hit is numbered as it arrives, by another ``wc -l`` from the hit to the end of the file
  (the newlines before it are the total minus that), or, when the previous hit is much closer
  than the end, by counting the gap since the previous hit here.

Any trouble (no ``wc``, no ``/proc``, the file changing size) falls back to :func:`scan`, and a
child that failed (killed by SIGBUS when the file is truncated under its map) has its half
searched here: the result is exact or not given. When only the newline count is needed (the
tail already held the failure), the ``wc -l`` started at open time gives it.
"""

from __future__ import annotations

import os
import sys
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the child imports only what it runs
    import mmap
    import subprocess
    from collections.abc import Iterable, Iterator
    from types import TracebackType
    from typing import TypeAlias

#: From this size on a file gets helper processes (``wc -l``, two finding children).
HELPED_MIN = 64 << 20
#: The helpers are only used when the part of the file after the scanned range (the tail
#: already read) is at most this large: ``wc`` counts to the end of the file.
HELPED_REST = 8 << 20
#: Chunk size of the scan.
CHUNK_BYTES = 8 << 20
#: Hits kept (the first few and the last ones).
MAX_HITS_FIRST = 16
MAX_HITS_LAST = 48
#: Hits of one anchor taken per chunk of the scan.
HITS_PER_WINDOW = 4 * MAX_HITS_LAST
#: Bytes of the log's tail sampled to pick each anchor's rarest byte, and how often that
#: byte may occur in a chunk before the anchor itself is searched instead.
PROBE_SAMPLE = 256 << 10
PROBE_BUDGET = 2048
#: ``wc -l`` counts about this many times faster than ``bytes.count``: a hit is numbered by a
#: ``wc`` to the end of the file unless the previous hit is this many times closer.
WC_SPEEDUP = 3

Hit = tuple[int, int]  # (byte offset, 1-based line number)
#: How a hit is numbered: newlines since the previous hit (counted), or a running ``wc -l``
#: from the hit to the end of the file.
Step: TypeAlias = "int | subprocess.Popen[bytes]"


class FileScan:
    """The scan of one large open file; owns (and always reaps) its helper processes.

    Create it when the file is opened (the whole-file ``wc -l`` starts at once), then call
    :meth:`run` once the range to scan and the anchors are known.
    """

    def __init__(self, fd: int, size: int) -> None:
        self.fd, self.size = fd, size
        self._procs: list[subprocess.Popen[bytes]] = []
        self._wc: str | None = None
        self._whole: subprocess.Popen[bytes] | None = None
        self._whole_count: int | None = None
        #: Halves searched in this process because their child failed (for tests and benches).
        self.searched_here = 0
        if size >= HELPED_MIN:
            import shutil

            self._wc = shutil.which("wc")
            self._whole = self._start_wc(0)

    def __enter__(self) -> FileScan:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop and reap every helper still running."""
        for proc in self._procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        self._procs.clear()

    def run(
        self, end: int, anchors: tuple[bytes, ...], sample: bytes = b""
    ) -> tuple[list[Hit], int]:
        """Anchor hits in ``[0, end)`` (the first few and the last ones) and its newline count.

        ``sample`` (some of the log, such as its tail) tells which byte of each anchor is rare.
        """
        if self._whole is not None and self.size - end <= HELPED_REST:
            probe = probes(anchors, sample) if sample else ()
            result = self._helped(end, anchors, probe) if anchors else self._count_only(end)
            if result is not None:
                return result
        self.close()  # do not compete with the scan here
        return scan(self.fd, 0, end, anchors)

    def _count_only(self, end: int) -> tuple[list[Hit], int] | None:
        lines = self._lines_before(end)
        return None if lines is None else ([], lines)

    def _helped(
        self, end: int, anchors: tuple[bytes, ...], probe: tuple[int, ...]
    ) -> tuple[list[Hit], int] | None:
        from concurrent.futures import ThreadPoolExecutor

        halves = ((0, end // 2), (end // 2, end))
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = [pool.submit(self._half, lo, hi, end, anchors, probe) for lo, hi in halves]
            parts = [f.result() for f in futures]
        whole = self._total()
        if whole is None or parts[0] is None or parts[1] is None:
            return None
        hits: list[Hit] = []
        before = 0
        for offset, step in parts[0] + parts[1]:
            if isinstance(step, int):
                before += step
            else:
                rest = _wc_output(step)
                if rest is None:
                    return None
                before = whole - rest
            hits.append((offset, before + 1))
        lines = self._lines_before(end)
        return None if lines is None else (_keep(hits), lines)

    def _half(
        self, lo: int, hi: int, end: int, anchors: tuple[bytes, ...], probe: tuple[int, ...]
    ) -> list[tuple[int, Step]] | None:
        """Hits of ``[lo, hi)`` found by a child (or here if it fails), each with its step."""
        child = self._start_child(lo, hi, end, anchors, probe)
        if child is not None and child.stdout is not None:
            steps = self._number(lo, _reported(child.stdout), end)
            child.wait()
            if steps is not None and child.returncode == 0:
                return steps
        self.searched_here += 1
        offsets = find_hits(self.fd, lo, hi, anchors, probe, limit=end)
        return self._number(lo, iter(offsets), end)

    def _number(self, lo: int, offsets: Iterator[int], end: int) -> list[tuple[int, Step]] | None:
        """A step per offset as it arrives; None if the offsets stop short (a failed child)."""
        steps: list[tuple[int, Step]] = []
        prev = 0 if lo == 0 else None  # the newlines before ``lo`` are not known in the 2nd half
        try:
            for offset in offsets:
                if prev is not None and end - offset >= WC_SPEEDUP * (offset - prev):
                    step: Step | None = count_newlines(self.fd, prev, offset)
                else:
                    step = self._start_wc(offset)
                if step is None:
                    return None
                steps.append((offset, step))
                prev = offset
        except ValueError:  # a garbled report
            return None
        return steps

    def _total(self) -> int | None:
        """The whole file's newline count from the ``wc -l`` started at open time."""
        if self._whole_count is None and self._whole is not None:
            self._whole_count = _wc_output(self._whole)
        return self._whole_count

    def _lines_before(self, end: int) -> int | None:
        """Newlines in ``[0, end)``: the whole count minus the rest (None: the file changed)."""
        whole = self._total()
        if whole is None or os.fstat(self.fd).st_size != self.size:
            return None
        return whole - os.pread(self.fd, self.size - end, end).count(b"\n")

    def _start_wc(self, offset: int) -> subprocess.Popen[bytes] | None:
        """``wc -l`` over ``[offset, end of file)`` (None: cannot here).

        ``wc`` gets its own open file description of the same file (through ``/proc``), so
        several can read from different offsets at once and a rotated path does not matter.
        """
        import subprocess

        if self._wc is None:
            return None
        try:
            own = os.open(f"/proc/self/fd/{self.fd}", os.O_RDONLY)
        except OSError:
            return None
        try:
            a, b = os.fstat(own), os.fstat(self.fd)
            if (a.st_dev, a.st_ino) != (b.st_dev, b.st_ino):
                return None
            os.lseek(own, offset, os.SEEK_SET)
            proc = subprocess.Popen([self._wc, "-l"], stdin=own, stdout=subprocess.PIPE)
        except OSError:
            return None
        finally:
            os.close(own)
        self._procs.append(proc)
        return proc

    def _start_child(
        self, lo: int, hi: int, limit: int, anchors: tuple[bytes, ...], probe: tuple[int, ...]
    ) -> subprocess.Popen[bytes] | None:
        """A Python child finding the anchors in ``[lo, hi)`` of the (inherited) file that
        end by ``limit`` (the end of the whole range searched)."""
        import subprocess

        cmd = [sys.executable, "-I", "-S", os.path.abspath(__file__), str(self.fd), str(lo)]
        try:
            proc = subprocess.Popen(
                [
                    *cmd,
                    str(hi),
                    str(limit),
                    *(a.hex() + (f":{probe[i]}" if probe else "") for i, a in enumerate(anchors)),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                pass_fds=(self.fd,),
            )
        except OSError:
            return None
        self._procs.append(proc)
        return proc


def _reported(stream: Iterable[bytes]) -> Iterator[int]:
    """The offsets a child prints, one per line; raises ValueError unless it ends with ``end``."""
    for line in stream:
        if line == b"end\n":
            return
        yield int(line)
    raise ValueError("the child stopped before the end of its report")


def _wc_output(proc: subprocess.Popen[bytes]) -> int | None:
    import subprocess

    try:
        out, _ = proc.communicate(timeout=120)
        return int(out.split()[0]) if proc.returncode == 0 else None
    except (subprocess.SubprocessError, IndexError, ValueError):
        return None


def _keep(items: list[Hit]) -> list[Hit]:
    """The first few and the last hits."""
    return items[:MAX_HITS_FIRST] + items[MAX_HITS_FIRST:][-MAX_HITS_LAST:]


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


def probes(anchors: tuple[bytes, ...], sample: bytes) -> tuple[int, ...]:
    """For each anchor, the index of its byte least frequent in ``sample`` (part of the log).

    Searching for one byte is ``memchr`` (an order of magnitude faster than a substring
    search); each occurrence of a rare byte is then checked for the whole anchor.
    """
    sample = sample[-PROBE_SAMPLE:]
    out = []
    for anchor in anchors:
        counts = {b: sample.count(b) for b in set(anchor)}
        out.append(min(range(len(anchor)), key=lambda i: (counts[anchor[i]], -i)))
    return tuple(out)


def _search(
    buf: bytes | bytearray | mmap.mmap,
    start: int,
    stop: int,
    anchors: tuple[bytes, ...],
    probe: tuple[int, ...] = (),
) -> list[int]:
    """Sorted positions in ``[start, stop)`` of ``buf`` where an anchor starts.

    An anchor may run past ``stop`` (up to the end of ``buf``); each anchor is taken at most
    ``HITS_PER_WINDOW`` times (a log of nothing but error lines stays fast). With ``probe``
    (see :func:`probes`) the probe byte is looked for first; where it is not rare after all
    (more than ``PROBE_BUDGET`` times), the anchor itself is searched.
    """
    found: set[int] = set()
    for i, anchor in enumerate(anchors):
        limit = min(len(buf), stop + len(anchor) - 1)
        hits = _probe_search(buf, start, limit, anchor, probe[i]) if probe else None
        if hits is None:
            hits = []
            pos = buf.find(anchor, start, limit)
            while pos != -1 and len(hits) < HITS_PER_WINDOW:
                hits.append(pos)
                pos = buf.find(anchor, pos + len(anchor), limit)
        found.update(hits)
    return sorted(found)


def _probe_search(
    buf: bytes | bytearray | mmap.mmap, start: int, limit: int, anchor: bytes, k: int
) -> list[int] | None:
    """Starts of ``anchor`` in ``buf[start:limit]`` found through its byte ``k`` (None: that
    byte is too frequent here)."""
    byte, m = anchor[k : k + 1], len(anchor)
    hits: list[int] = []
    pos = buf.find(byte, start + k, limit - (m - 1 - k))
    seen = 0
    while pos != -1:
        seen += 1
        if seen > PROBE_BUDGET:
            return None
        if buf.find(anchor, pos - k, pos - k + m) != -1:
            hits.append(pos - k)
            if len(hits) >= HITS_PER_WINDOW:
                break
        pos = buf.find(byte, pos + 1, limit - (m - 1 - k))
    return hits


def find_hits(
    fd: int,
    lo: int,
    hi: int,
    anchors: tuple[bytes, ...],
    probe: tuple[int, ...] = (),
    *,
    limit: int | None = None,
) -> list[int]:
    """Offsets in ``[lo, hi)`` where an anchor starts (first few and last ones), by ``pread``.

    An anchor may run past ``hi`` but not past ``limit`` (the end of the whole range searched,
    of which ``[lo, hi)`` is a part): as in one search of that range."""
    overlap = max((len(a) for a in anchors), default=1) - 1
    stop = hi + overlap if limit is None else max(hi, min(hi + overlap, limit))
    first: list[int] = []
    last: deque[int] = deque(maxlen=MAX_HITS_LAST)
    for start in range(lo, hi, CHUNK_BYTES):
        n = min(CHUNK_BYTES, hi - start)
        buf = os.pread(fd, min(n + overlap, stop - start), start)
        for pos in _search(buf, 0, min(n, len(buf)), anchors, probe):
            (first if len(first) < MAX_HITS_FIRST else last).append(start + pos)
        if len(buf) < n:
            break  # truncated meanwhile
    return first + list(last)


def count_newlines(fd: int, start: int, end: int) -> int:
    """Newlines in ``[start, end)`` of ``fd``, counted here."""
    return sum(buf.count(b"\n", 0, n) for _, buf, n in _chunks(fd, start, end))


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
    """Find anchors in ``[lo, hi)`` of the inherited ``fd`` that end by ``limit``; print their
    offsets, then ``end``.

    The first few hits are printed as soon as they are found (the parent starts numbering them
    at once), the last ones at the end. The file is mapped (no copy) and each chunk's pages are
    dropped from this process after its search, so its resident memory stays at a chunk's
    size. A file truncated meanwhile kills this process with SIGBUS: the parent then searches
    this half itself.
    """
    import mmap

    fd, lo, hi, limit = int(argv[0]), int(argv[1]), int(argv[2]), int(argv[3])
    anchors = tuple(bytes.fromhex(a.partition(":")[0]) for a in argv[4:])
    probe = tuple(int(a.partition(":")[2]) for a in argv[4:] if ":" in a)
    overlap = max((len(a) for a in anchors), default=1) - 1
    stop = min(os.fstat(fd).st_size, hi + overlap, max(hi, limit))
    out = sys.stdout
    first = 0
    last: deque[int] = deque(maxlen=MAX_HITS_LAST)
    if stop > lo:
        with mmap.mmap(fd, stop, access=mmap.ACCESS_READ) as view:
            for start in range(lo, hi, CHUNK_BYTES):
                window = min(hi, start + CHUNK_BYTES)
                for pos in _search(view, start, window, anchors, probe):
                    if first < MAX_HITS_FIRST:
                        first += 1
                        out.write(f"{pos}\n")
                        out.flush()
                    else:
                        last.append(pos)
                page = start - start % mmap.PAGESIZE
                view.madvise(mmap.MADV_DONTNEED, page, min(stop, window) - page)
    out.write("".join(f"{pos}\n" for pos in last) + "end\n")
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
