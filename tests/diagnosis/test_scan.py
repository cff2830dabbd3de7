"""The helped scan of large logs (``wc -l`` and finding children) is exact.

Every result is compared with the in-process scan, which counts each newline itself. The
helpers are switched on for small files by lowering ``HELPED_MIN``.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adaptive_llm.diagnosis import diagnose, scan

TB = b"Traceback (most recent call last):"
ANCHORS = (TB, b"rror:")


def _noise(rng: random.Random, n: int) -> bytes:
    words = [b"epoch", b"step", b"loss=0.31", b"lr=1e-4", b"(warmup)", b"\r", b"T", b""]
    out = []
    for _ in range(n):
        out.append(b" ".join(rng.choice(words) for _ in range(rng.randrange(0, 12))) + b"\n")
    return b"".join(out)


def _log(path: Path, parts: list[bytes]) -> bytes:
    data = b"".join(parts)
    path.write_bytes(data)
    return data


@pytest.fixture
def helped(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(scan, "HELPED_MIN", 1)
    yield


def _both(
    path: Path, end: int, anchors: tuple[bytes, ...], searched_here: int = 0
) -> tuple[object, object]:
    """(helped result, in-process result) for ``[0, end)`` of ``path``."""
    fd = os.open(path, os.O_RDONLY)
    try:
        with scan.FileScan(fd, os.fstat(fd).st_size) as fs:
            helped = fs.run(end, anchors, sample=os.pread(fd, 1 << 16, 0))
            assert fs._procs, "the helpers did not run"
            assert fs.searched_here == searched_here
        return helped, scan.scan(fd, 0, end, anchors)
    finally:
        os.close(fd)


def _children_of_this_process() -> set[str]:
    out: set[str] = set()
    for task in os.listdir(f"/proc/{os.getpid()}/task"):
        try:
            with open(f"/proc/{os.getpid()}/task/{task}/children") as fh:
                out.update(fh.read().split())
        except FileNotFoundError:  # a thread (of an earlier test) ended meanwhile
            continue
    return out


@pytest.mark.parametrize("where", [0.0, 0.1, 0.49, 0.5, 0.51, 0.75, 0.999])
def test_one_hit_anywhere_is_numbered_exactly(tmp_path: Path, helped: None, where: float) -> None:
    rng = random.Random(int(where * 1000))
    noise = _noise(rng, 30_000)
    cut = noise.find(b"\n", int(len(noise) * where)) + 1
    data = _log(tmp_path / "a.log", [noise[:cut], TB + b"\n  File x\n", noise[cut:]])
    before = _children_of_this_process()
    helped_result, own = _both(tmp_path / "a.log", len(data) - 100, ANCHORS)
    assert helped_result == own
    hits, lines = own  # type: ignore[misc]
    assert (cut, noise[:cut].count(b"\n") + 1) in hits
    assert lines == data[: len(data) - 100].count(b"\n")
    assert _children_of_this_process() <= before  # every helper was reaped


def test_many_hits_keep_the_first_and_last_with_exact_lines(tmp_path: Path, helped: None) -> None:
    rng = random.Random(3)
    parts = []
    for i in range(150):  # more than are kept, fewer than a chunk's cap
        parts.append(_noise(rng, rng.randrange(0, 800)))
        parts.append(b"ValueError: bad record %d\n" % i if i % 3 else TB + b"\n")
    data = _log(tmp_path / "m.log", parts)
    helped_result, own = _both(tmp_path / "m.log", len(data), ANCHORS)
    assert helped_result == own
    hits, _ = own  # type: ignore[misc]
    assert len(hits) == scan.MAX_HITS_FIRST + scan.MAX_HITS_LAST
    for offset, line in hits:
        assert data[:offset].count(b"\n") + 1 == line


def test_an_anchor_across_the_halves_is_found_once(tmp_path: Path, helped: None) -> None:
    noise = b"x" * 4000 + b"\n"
    data = noise * 50 + TB + b"\n" + noise * 50
    (tmp_path / "h.log").write_bytes(data)
    start = data.index(TB)
    for end in range(2 * start - len(TB) + 2, 2 * start + 4):  # the middle inside the anchor
        helped_result, own = _both(tmp_path / "h.log", end, (TB,))
        assert helped_result == own == ([(start, 51)], data[:end].count(b"\n"))


def test_crlf_log_and_no_hits(tmp_path: Path, helped: None) -> None:
    data = _log(tmp_path / "c.log", [_noise(random.Random(5), 20_000).replace(b"\n", b"\r\n")])
    assert _both(tmp_path / "c.log", len(data), ANCHORS) == (
        ([], data.count(b"\n")),
        ([], data.count(b"\n")),
    )


def test_a_failing_child_has_its_half_searched_here(
    tmp_path: Path, helped: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    noise = _noise(random.Random(9), 20_000)
    data = _log(tmp_path / "f.log", [noise, TB + b"\n", noise])
    monkeypatch.setattr(scan.sys, "executable", "/bin/false")
    helped_result, own = _both(tmp_path / "f.log", len(data), ANCHORS, searched_here=2)
    assert helped_result == own and own[0] == [(len(noise), noise.count(b"\n") + 1)]  # type: ignore[index]


def test_without_wc_or_when_the_file_grows_the_scan_runs_here(
    tmp_path: Path, helped: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    noise = _noise(random.Random(2), 20_000)
    log = tmp_path / "g.log"
    data = _log(log, [noise, TB + b"\n", noise])
    expected = ([(len(noise), noise.count(b"\n") + 1)], data.count(b"\n"))
    fd = os.open(log, os.O_RDONLY)
    try:
        with scan.FileScan(fd, len(data)) as fs:
            with log.open("ab") as fh:  # still being written
                fh.write(b"more\n" * 1000)
            assert fs.run(len(data), ANCHORS) == expected
        monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
        with scan.FileScan(fd, len(data) + 5000) as fs:
            assert fs._procs == []
            assert fs.run(len(data), ANCHORS) == expected
    finally:
        os.close(fd)


def test_count_only(tmp_path: Path, helped: None) -> None:
    data = _log(tmp_path / "n.log", [_noise(random.Random(4), 30_000)])
    fd = os.open(tmp_path / "n.log", os.O_RDONLY)
    try:
        for end in (0, 1, len(data) // 2, len(data) - 5000, len(data)):
            with scan.FileScan(fd, len(data)) as fs:
                assert fs.run(end, ()) == ([], data[:end].count(b"\n"))
    finally:
        os.close(fd)


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(
        st.sampled_from([b"a", b"(", b"T", b"\n", TB, TB[:10], b"rror:", b"r"]), max_size=80
    ),
    start=st.integers(0, 40),
    cut=st.integers(0, 40),
    budget=st.sampled_from([1, 3, 2048]),
)
def test_probe_search_finds_what_the_plain_search_finds(
    pieces: list[bytes], start: int, cut: int, budget: int
) -> None:
    buf = b"".join(pieces)
    stop = max(start, len(buf) - cut)
    plain = scan._search(buf, start, stop, ANCHORS)
    old = scan.PROBE_BUDGET
    scan.PROBE_BUDGET = budget
    try:
        for probe in [scan.probes(ANCHORS, buf), (0, 0), (len(TB) - 1, 4), (10, 2)]:
            assert scan._search(buf, start, stop, ANCHORS, probe) == plain
    finally:
        scan.PROBE_BUDGET = old


def test_probes_pick_the_rarest_byte() -> None:
    sample = b"epoch 1 step 2 loss=0.3 lr=1e-4\n" * 100 + b"(x)"
    (k,) = scan.probes((TB,), sample)
    assert TB[k : k + 1] in (b"T", b"b", b"k", b"(", b")", b":", b"m", b"n", b"c", b"a", b"l")
    assert sample.count(TB[k : k + 1]) == min(sample.count(bytes([b])) for b in TB)


def test_large_log_spans_are_exact_with_the_helpers(tmp_path: Path, helped: None) -> None:
    """Through the engine: a traceback in the middle of a large log, then noise; and one in
    the tail (count only). The spans name the real line numbers."""
    noise = b"".join(
        b"epoch %d step %d loss 0.%04d\n" % (i // 100, i, i % 9973) for i in range(4000)
    )
    error = (
        b"Traceback (most recent call last):\n"
        b'  File "/w/train.py", line 3, in <module>\n'
        b"    main()\n"
        b"ZeroDivisionError: division by zero\n"
    )
    for tail_noise in (40, 0):
        log = tmp_path / f"huge{tail_noise}.log"
        with log.open("wb") as fh:
            while fh.tell() < (9 << 20):
                fh.write(noise)
            fh.write(error)
            fh.write(noise * tail_noise)
        lines = log.read_bytes().split(b"\n")
        error_line = next(i for i, text in enumerate(lines, 1) if text.startswith(b"ZeroDivision"))
        diagnosis = diagnose(log)
        assert diagnosis.error_type == "ZeroDivisionError"
        assert any(a <= error_line <= b for a, b in diagnosis.excerpt.spans)
        assert diagnosis.excerpt.spans[-1][1] == len(lines) - 1


@pytest.mark.parametrize("child", ["working", "failing"])
def test_a_range_ending_inside_an_anchor_has_no_hit_there(
    tmp_path: Path, helped: None, monkeypatch: pytest.MonkeyPatch, child: str
) -> None:
    """As in the in-process scan, a hit is an anchor wholly before the range's end: the
    children (and the search here when they fail) may read past the end of their half, not
    past the end of the range (the tail after it is judged on its own)."""
    noise = _noise(random.Random(31), 20_000)
    data = _log(tmp_path / "b.log", [noise, TB + b"\n", noise, TB, b"\n", noise])
    if child == "failing":
        monkeypatch.setattr(scan.sys, "executable", "/bin/false")
    for at in (len(noise), data.rindex(TB)):
        for end in (at, at + 1, at + len(TB) // 2, at + len(TB) - 1, at + len(TB)):
            helped_result, own = _both(
                tmp_path / "b.log", end, ANCHORS, searched_here=2 if child == "failing" else 0
            )
            assert helped_result == own, (at, end)
            whole = (at, data[:at].count(b"\n") + 1) in own[0]  # type: ignore[index]
            assert whole == (end >= at + len(TB)), (at, end)
