"""Signatures, spans, the token budget, the large-file path, classification and suggestions."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from diag_helpers import PROGRAMS, Job, in_spans, log_lines

from adaptive_llm._core.units import format_duration
from adaptive_llm._core.units import format_size as format_bytes
from adaptive_llm.diagnosis import CATEGORIES, diagnose
from adaptive_llm.diagnosis.excerpt import estimate_tokens
from adaptive_llm.diagnosis.reader import FULL_READ_LIMIT, clean_lines
from adaptive_llm.diagnosis.signature import normalize_message
from adaptive_llm.diagnosis.suggest import suggest

KEYERROR_PROGRAM = """\
import sys

print("job", sys.argv[2], "starting at 2026-11-21T10:%02d:00" % (len(sys.argv[2]) % 60))
config = {"batch": 1}
{pad}value = config[sys.argv[1]]
"""


def _keyerror_log(tmp_path: Path, name: str, key: str, job_id: str, pad: int = 0) -> Path:
    """Run a program failing with KeyError(key) at line 5 (+pad) and return its log."""
    work = tmp_path / name
    work.mkdir()
    (work / "train.py").write_text(KEYERROR_PROGRAM.replace("{pad}", "\n" * pad))
    job = Job(work)
    assert job.run("train.py", key, job_id) == 1
    return job.log


def test_signature_same_bug_across_jobs(tmp_path: Path) -> None:
    a = diagnose(_keyerror_log(tmp_path, "a", "lr", "job-1234"), workdir=tmp_path / "a")
    b = diagnose(_keyerror_log(tmp_path, "b", "momentum", "job-98765"), workdir=tmp_path / "b")
    assert a.error_type == b.error_type == "KeyError"
    assert a.location is not None and a.location.line == 5
    assert a.signature == b.signature
    assert len(a.signature) == 16 and int(a.signature, 16) >= 0


def test_signature_differs_for_different_bugs(tmp_path: Path) -> None:
    base = diagnose(_keyerror_log(tmp_path, "a", "lr", "1"), workdir=tmp_path / "a")
    moved = diagnose(_keyerror_log(tmp_path, "b", "lr", "1", pad=3), workdir=tmp_path / "b")
    assert moved.location is not None and moved.location.line == 8
    assert base.signature != moved.signature
    other = tmp_path / "other.log"
    other.write_text(
        "Traceback (most recent call last):\n"
        f'  File "{tmp_path}/a/train.py", line 5, in <module>\n'
        "ValueError: 'lr'\n"
    )
    assert diagnose(other, workdir=tmp_path / "a").signature != base.signature


def test_normalize_message() -> None:
    assert normalize_message("'lr'") == normalize_message("'weight_decay'")
    assert normalize_message("job 123 at 0x7ffd1234 on 2026-01-01 10:00:00") == (
        "job <n> at <hex> on <ts>"
    )
    assert normalize_message("No such file: /data/run_17/x.csv") == "No such file: <path>"
    assert normalize_message("KeyError") != normalize_message("IndexError")


def test_spans_are_line_numbers_of_the_original_file(tmp_path: Path) -> None:
    lines = [f"\x1b[34mINFO\x1b[0m step {i} ok\r\n" for i in range(3000)]
    lines[1200] = "ERROR: could not open shard 17\n"
    lines[2500] = "src/model.c:42:7: error: expected ';' before '}' token\n"
    log = tmp_path / "job.log"
    log.write_text("".join(lines))
    diag = diagnose(log, max_tokens=800)
    assert in_spans(1201, diag.excerpt.spans) and in_spans(2501, diag.excerpt.spans)
    assert in_spans(3000, diag.excerpt.spans)  # the last line, always
    original = log_lines(log)
    excerpt = diag.excerpt.text.split("\n")
    # Runs of similar lines are collapsed to their first and last line and a note, so the
    # first and the last line of every span are always there.
    for a, b in diag.excerpt.spans:
        for n in (a, b):
            assert clean_lines(original[n - 1].encode())[0] in excerpt
    assert "ERROR: could not open shard 17" in excerpt
    assert "similar lines" in diag.excerpt.text
    assert diag.category == "compile_error"
    assert diag.location is not None and diag.location.file == "src/model.c"


@pytest.mark.parametrize("max_tokens", [0, 50, 300, 4000])
def test_token_budget(tmp_path: Path, max_tokens: int) -> None:
    log = tmp_path / "job.log"
    body = "".join(f"line {i}: error: something {'x' * (i % 300)}\n" for i in range(5000))
    log.write_text(body)
    diag = diagnose(log, max_tokens=max_tokens)
    assert diag.tokens <= max_tokens
    assert diag.tokens == estimate_tokens(diag.excerpt.text)
    if max_tokens >= 300:
        assert diag.tokens > max_tokens // 2  # the budget is used
        assert in_spans(5000, diag.excerpt.spans)


def _big_log(path: Path, middle: str, tail_noise: int) -> int:
    """Noise, ``middle`` (returns its first line number), then noise; > FULL_READ_LIMIT."""
    noise = "".join(f"epoch 1 step {i} loss=0.{i % 997:03d} lr=0.001\n" for i in range(20000))
    n_noise = noise.count("\n")
    written, line = 0, 1
    with open(path, "w") as f:
        while written < FULL_READ_LIMIT // 2:
            f.write(noise)
            written += len(noise)
            line += n_noise
        start = line
        f.write(middle)
        for _ in range(tail_noise):
            f.write(noise)
    return start


def test_large_file_error_in_the_middle(tmp_path: Path) -> None:
    tb = (
        "Exception in thread worker-3:\n"
        "Traceback (most recent call last):\n"
        '  File "/job/worker.py", line 88, in run\n'
        "    batch = next(it)\n"
        "StopIteration: shard 12 exhausted\n"
    )
    log = tmp_path / "big.log"
    start = _big_log(log, tb, tail_noise=12)
    assert log.stat().st_size > FULL_READ_LIMIT
    diag = diagnose(log)
    assert diag.error_type == "StopIteration"
    assert diag.location is not None and diag.location.line == 88
    original = log_lines(log)
    for n in range(start, start + 5):
        assert in_spans(n, diag.excerpt.spans)
        assert original[n - 1] in diag.excerpt.text
    assert in_spans(len(original) - 1, diag.excerpt.spans)  # the last line


def test_large_file_error_at_the_end(tmp_path: Path) -> None:
    log = tmp_path / "big.log"
    start = _big_log(log, "", tail_noise=1)
    with open(log, "a") as f:
        f.write("Traceback (most recent call last):\n")
        f.write('  File "/job/train.py", line 3, in <module>\n')
        f.write("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB\n")
    diag = diagnose(log)
    assert diag.category == "gpu_out_of_memory"
    n = len(log_lines(log)) - 1
    assert in_spans(n, diag.excerpt.spans) and in_spans(n - 2, diag.excerpt.spans)
    assert start > 1


@pytest.mark.parametrize(
    ("state", "text", "category"),
    [
        ("TIMEOUT", "working\n", "time_limit"),
        ("OUT_OF_MEMORY", "Traceback (most recent call last):\nKeyError: 'x'\n", "out_of_memory"),
        ("CANCELLED", "working\n", "cancelled"),
        ("NODE_FAIL", "working\n", "node_failure"),
        (None, "FileNotFoundError: [Errno 2] No such file or directory: 'd.csv'\n", "missing_file"),
        (None, "ImportError: No module named yaml\n", "missing_module"),
        (None, "npm ERR! code ERESOLVE\nnpm ERR! unable to resolve\n", "dependency_install"),
        (None, "requests.exceptions.ConnectionError: Connection refused\n", "network"),
        (None, "thread 'main' panicked at src/main.rs:2:5:\nboom\n", "unknown"),
        (None, "--- FAIL: TestAdd (0.00s)\n    add_test.go:9: got 3\nFAIL\n", "test_failure"),
        (None, "[slurm] oom-kill event(s) in StepId=12.batch\n", "out_of_memory"),
        (None, "all good\n", "unknown"),
    ],
)
def test_categories(tmp_path: Path, state: str | None, text: str, category: str) -> None:
    log = tmp_path / "job.log"
    log.write_text(text)
    diag = diagnose(log, state=state)
    assert diag.category == category
    assert diag.category in CATEGORIES


def test_missing_file_suggests_similar_names(tmp_path: Path) -> None:
    (tmp_path / "train_data.csv").write_text("x")
    log = tmp_path / "job.log"
    log.write_text(
        "Traceback (most recent call last):\n"
        f'  File "{tmp_path}/run.py", line 1, in <module>\n'
        "FileNotFoundError: [Errno 2] No such file or directory: 'train_dat.csv'\n"
    )
    diag = diagnose(log, workdir=tmp_path)
    assert diag.category == "missing_file"
    assert diag.suggestion is not None
    assert "train_dat.csv" in diag.suggestion and "train_data.csv" in diag.suggestion


@pytest.mark.parametrize(
    ("module", "command"),
    [
        ("sklearn", "pip install scikit-learn"),
        ("cv2", "pip install opencv-python"),
        ("yaml", "pip install PyYAML"),
        ("PIL.Image", "pip install Pillow"),
        ("requests", "pip install requests"),
    ],
)
def test_install_suggestion(module: str, command: str) -> None:
    msg = f"No module named '{module}'"
    assert suggest("missing_module", "ModuleNotFoundError", msg) == command


def test_formatting() -> None:
    assert format_duration(5) == "5s"
    assert format_duration(5400) == "1h30m"
    assert format_bytes(512 << 20) == "512 MiB"
    assert format_bytes(3 << 29) == "1.5 GiB"


def test_redaction_applies_to_excerpt_summary_and_source(tmp_path: Path) -> None:
    token = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    (tmp_path / "run.py").write_text(f'TOKEN = "{token}"\nraise ValueError(TOKEN)\n')
    log = tmp_path / "job.log"
    log.write_text(
        "Traceback (most recent call last):\n"
        f'  File "{tmp_path}/run.py", line 2, in <module>\n'
        f"ValueError: {token}\n"
    )
    diag = diagnose(log, workdir=tmp_path)
    assert diag.location is not None and diag.location.source is not None
    for text in (diag.excerpt.text, diag.summary, diag.message or "", diag.location.source):
        assert token not in text


def test_pytest_program_is_not_collected() -> None:
    """The failing test program only runs in a subprocess (see test_programs)."""
    assert (PROGRAMS / "pytest_fail.py").exists()
    assert shutil.which(sys.executable)


def test_split_scan_in_two_processes_gives_the_same_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Huge files are scanned by this process and a child; force it on a small file."""
    from adaptive_llm.diagnosis import scan

    tb = 'Traceback (most recent call last):\n  File "/j/w.py", line 7, in f\nKeyError: 3\n'
    log = tmp_path / "big.log"
    start = _big_log(log, tb, tail_noise=12)
    single = diagnose(log)
    monkeypatch.setattr(scan, "HELPED_MIN", 1)
    split = diagnose(log)
    assert split.excerpt == single.excerpt and split.signature == single.signature
    assert in_spans(start + 2, split.excerpt.spans)


def test_a_failure_without_a_log_is_one_cause_per_reason() -> None:
    from adaptive_llm.diagnosis import diagnose_without_log

    a = diagnose_without_log("/w/a.log", "no log", state="FAILED", reason="could not submit: x")
    b = diagnose_without_log("/w/b.log", "no log", state="FAILED", reason="could not submit: x")
    c = diagnose_without_log("/w/c.log", "no log", state="TIMEOUT", reason="time limit")
    assert a.signature == b.signature != c.signature
    assert c.category == "time_limit" and "TIMEOUT" in c.summary and c.suggestion
    assert a.excerpt.text == "" and a.message == "no log"
