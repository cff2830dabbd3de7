"""Bad and unusual input: a clear diagnosis or DiagnosisError, never a crash or a hang."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from diag_helpers import in_spans

from adaptive_llm.diagnosis import DiagnosisError, diagnose
from adaptive_llm.diagnosis.reader import FULL_READ_LIMIT

TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/work/train.py", line 15, in <module>\n'
    '    lr = config["lr"]\n'
    "KeyError: 'lr'\n"
)


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(DiagnosisError, match="no such file"):
        diagnose(tmp_path / "nope.log")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(DiagnosisError, match="directory"):
        diagnose(tmp_path)


def test_unreadable(tmp_path: Path) -> None:
    """An unreadable log is a clear error; as root, checked in a child that drops to nobody."""
    log = tmp_path / "secret.log"
    log.write_text("x\n")
    log.chmod(0)
    if os.getuid() != 0:
        with pytest.raises(DiagnosisError, match="cannot open"):
            diagnose(log)
        return
    tmp_path.chmod(0o755)
    code = (
        "import os, sys\n"
        "from adaptive_llm.diagnosis import DiagnosisError, diagnose\n"
        "import adaptive_llm.diagnosis.engine, adaptive_llm.diagnosis.reader\n"
        "os.setgid(65534); os.setuid(65534)\n"
        "try:\n"
        "    diagnose(sys.argv[1])\n"
        "except DiagnosisError as exc:\n"
        "    print('ERROR', exc)\n"
    )
    child = subprocess.run(
        [sys.executable, "-c", code, str(log)], capture_output=True, text=True, timeout=60
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.startswith("ERROR") and "cannot open" in child.stdout


def test_empty(tmp_path: Path) -> None:
    log = tmp_path / "empty.log"
    log.write_bytes(b"")
    diag = diagnose(log)
    assert diag.category == "unknown"
    assert diag.summary == "Empty log (0 bytes)"
    assert diag.excerpt.spans == [] and diag.location is None


def test_empty_with_scheduler_state(tmp_path: Path) -> None:
    log = tmp_path / "empty.log"
    log.write_bytes(b"")
    diag = diagnose(log, state="OUT_OF_MEMORY", memory=2 << 30)
    assert diag.category == "out_of_memory"
    assert "4 GiB" in (diag.suggestion or "")


@pytest.mark.parametrize("size", [100_000, FULL_READ_LIMIT + 1_000_000])
def test_binary(tmp_path: Path, size: int) -> None:
    log = tmp_path / "core.bin"
    log.write_bytes(os.urandom(size))
    diag = diagnose(log)
    assert diag.category == "unknown"
    assert diag.summary.startswith("Binary content")
    assert diag.excerpt.spans == []
    assert diag.tokens < 20


def test_invalid_utf8_and_ansi(tmp_path: Path) -> None:
    log = tmp_path / "job.log"
    noise = b"\x1b[32mINFO\x1b[0m caf\xe9 \xff\xfe progress 10%\rprogress 100%\n" * 20
    log.write_bytes(noise + TRACEBACK.encode() + b"\x1b[31mbye \xc3\n")
    diag = diagnose(log)
    assert diag.error_type == "KeyError"
    assert "\x1b" not in diag.excerpt.text
    assert "progress 100%" in diag.excerpt.text and "progress 10%" not in diag.excerpt.text
    assert "\ufffd" in diag.excerpt.text
    assert in_spans(24, diag.excerpt.spans)  # the KeyError line


def test_one_huge_line(tmp_path: Path) -> None:
    log = tmp_path / "line.log"
    with open(log, "wb") as f:
        for _ in range(40):
            f.write(b"x" * (1 << 20))
        f.write(b" RuntimeError: at the very end")
    started = time.perf_counter()
    diag = diagnose(log)
    assert time.perf_counter() - started < 5
    assert diag.excerpt.spans == [(1, 1)]
    assert diag.tokens <= 4000
    assert "at the very end" in diag.excerpt.text


def test_huge_line_then_traceback(tmp_path: Path) -> None:
    log = tmp_path / "line.log"
    with open(log, "wb") as f:
        f.write(b"y" * (20 << 20) + b"\n")
        f.write(TRACEBACK.encode())
    diag = diagnose(log)
    assert diag.error_type == "KeyError"
    assert diag.location is not None and diag.location.line == 15
    assert in_spans(5, diag.excerpt.spans)  # the KeyError line is line 5
    assert diag.tokens <= 4000


def test_log_being_truncated_and_rewritten(tmp_path: Path) -> None:
    """A writer truncates and rewrites the log while it is diagnosed: no crash."""
    log = tmp_path / "job.log"
    body = (b"noise line with some words\n" * 340_000) + TRACEBACK.encode()
    log.write_bytes(body)
    stop = threading.Event()

    def churn() -> None:
        while not stop.is_set():
            with open(log, "r+b") as f:
                f.truncate(len(body) // 3)
            with open(log, "ab") as f:
                f.write(body[len(body) // 3 :])
            time.sleep(0.002)

    writer = threading.Thread(target=churn)
    writer.start()
    try:
        for _ in range(6):
            diag = diagnose(log)
            assert diag.category in ("python_exception", "unknown")
            assert diag.tokens <= 4000
    finally:
        stop.set()
        writer.join()


def test_log_still_being_written(tmp_path: Path) -> None:
    log = tmp_path / "job.log"
    log.write_bytes(b"")
    stop = threading.Event()

    def write() -> None:
        with open(log, "ab") as f:
            while not stop.is_set() and f.tell() < (12 << 20):
                f.write(b"step ok\n" * 1000)
                f.flush()
                time.sleep(0.0005)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        for _ in range(10):
            diag = diagnose(log)
            assert diag.tokens <= 4000
            time.sleep(0.01)
    finally:
        stop.set()
        writer.join()


def test_shrunk_to_nothing(tmp_path: Path) -> None:
    """A file that is emptied between stat and read gives a diagnosis of what was read."""
    log = tmp_path / "job.log"
    log.write_bytes(TRACEBACK.encode())
    diag = diagnose(log)
    log.write_bytes(b"")
    assert diag.error_type == "KeyError"
    assert diagnose(log).summary == "Empty log (0 bytes)"


def test_traceback_before_a_huge_last_line(tmp_path: Path) -> None:
    log = tmp_path / "line.log"
    with open(log, "wb") as f:
        f.write(b"start\n" + TRACEBACK.encode() + b"z" * (12 << 20))
    diag = diagnose(log)
    assert diag.error_type == "KeyError"
    assert in_spans(5, diag.excerpt.spans) and in_spans(6, diag.excerpt.spans)
    assert diag.tokens <= 4000
