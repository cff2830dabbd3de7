"""Counting a large log's newlines with ``wc -l`` gives exactly what Python counts."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from adaptive_llm.diagnosis import diagnose, scan


def _python_count(path: Path, end: int) -> int:
    return path.read_bytes()[:end].count(b"\n")


def test_wc_count_matches_python(tmp_path: Path) -> None:
    rng = random.Random(7)
    log = tmp_path / "big.log"
    log.write_bytes(b"".join(b"x" * rng.randrange(0, 200) + b"\n" for _ in range(20_000)) + b"tail")
    size = log.stat().st_size
    fd = os.open(log, os.O_RDONLY)
    try:
        for end in (0, 1, size // 2, size - 5000, size):
            assert scan.count_newlines_wc(fd, end) == _python_count(log, end)
    finally:
        os.close(fd)


def test_without_wc_the_caller_counts_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "big.log"
    log.write_bytes(b"a\n" * 1000)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    fd = os.open(log, os.O_RDONLY)
    try:
        assert scan.count_newlines_wc(fd, 100) is None
    finally:
        os.close(fd)


def test_large_log_spans_are_exact_with_the_fast_count(tmp_path: Path) -> None:
    """A log above the fast-count size with its traceback in the tail: the spans name the
    traceback's real line numbers."""
    log = tmp_path / "huge.log"
    noise = b"".join(
        b"epoch %d step %d loss 0.%04d\n" % (i // 100, i, i % 9973) for i in range(4000)
    )
    with log.open("wb") as fh:
        while fh.tell() < scan.FAST_COUNT_MIN + (1 << 20):
            fh.write(noise)
        fh.write(
            b"Traceback (most recent call last):\n"
            b'  File "/w/train.py", line 3, in <module>\n'
            b"    main()\n"
            b"ZeroDivisionError: division by zero\n"
        )
    lines = log.read_bytes().split(b"\n")
    error_line = next(i for i, text in enumerate(lines, 1) if text.startswith(b"ZeroDivision"))
    diagnosis = diagnose(log)
    assert diagnosis.error_type == "ZeroDivisionError"
    assert any(a <= error_line <= b for a, b in diagnosis.excerpt.spans)
    assert diagnosis.excerpt.spans[-1][1] == error_line
