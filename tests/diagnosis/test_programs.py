"""Diagnoses of logs made by really running failing programs (no mocks)."""

from __future__ import annotations

import os
import resource
import shutil
import sys
from pathlib import Path

import pytest
from diag_helpers import PROGRAMS, Job, in_spans, line_of, log_lines

from adaptive_llm.diagnosis import Diagnosis, diagnose


def _check_explained(diag: Diagnosis, log: Path, *needles: str) -> None:
    """Each needle's log line lies inside the excerpt's spans and its text is in the excerpt."""
    for needle in needles:
        n = line_of(log, needle)
        assert in_spans(n, diag.excerpt.spans), (needle, n, diag.excerpt.spans)
        assert log_lines(log)[n - 1].strip() in diag.excerpt.text


def _check_location(diag: Diagnosis, job: Job, program: str, needle: str) -> None:
    assert diag.location is not None, diag
    assert os.path.basename(diag.location.file) == program
    assert diag.location.line == job.source_line(program, needle)
    assert diag.location.source is not None
    assert f"> {diag.location.line} |" in diag.location.source.replace(">  ", "> ")


def test_exception_inside_stdlib_points_at_user_frame(job: Job) -> None:
    assert job.run("stdlib_json.py") == 1
    diag = diagnose(job.log, workdir=job.workdir)
    assert diag.category == "python_exception"
    assert diag.error_type == "json.decoder.JSONDecodeError"
    assert diag.message is not None and "Expecting property name" in diag.message
    _check_location(diag, job, "stdlib_json.py", "the culprit line")
    assert "json/decoder.py" not in diag.location.file  # type: ignore[union-attr]
    _check_explained(diag, job.log, "Traceback (most recent call last)", "JSONDecodeError:")
    assert diag.summary.startswith("json.decoder.JSONDecodeError: Expecting property name")
    assert diag.summary.endswith(f"at stdlib_json.py:{diag.location.line}")  # type: ignore[union-attr]


def test_without_workdir_prefers_frames_outside_the_interpreter(job: Job) -> None:
    job.run("stdlib_json.py")
    diag = diagnose(job.log)
    _check_location(diag, job, "stdlib_json.py", "the culprit line")


@pytest.mark.parametrize(
    ("mode", "final", "marker", "raise_line"),
    [
        ("context", "ValueError", "During handling of the above exception", "raise ValueError"),
        ("cause", "RuntimeError", "The above exception was the direct cause", "raise RuntimeError"),
    ],
)
def test_chained_exceptions(job: Job, mode: str, final: str, marker: str, raise_line: str) -> None:
    assert job.run("chained.py", mode) == 1
    diag = diagnose(job.log, workdir=job.workdir)
    assert diag.category == "python_exception"
    assert diag.error_type == final
    _check_location(diag, job, "chained.py", raise_line)
    _check_explained(diag, job.log, "KeyError: 'lr'", marker, f"{final}:")
    assert len(diag.excerpt.spans) == 1  # one block: both parts of the chain


def test_worker_traceback_followed_by_noise(job: Job) -> None:
    assert job.run("worker_noise.py", "700") == 0
    lines = log_lines(job.log)
    assert len(lines) > 700
    diag = diagnose(job.log, workdir=job.workdir)
    assert diag.category == "python_exception"
    assert diag.error_type == "ZeroDivisionError"
    _check_location(diag, job, "worker_noise.py", 'return 10 / item["weight"]')
    _check_explained(diag, job.log, "Exception in thread worker-1", "ZeroDivisionError:", "done")
    assert diag.tokens <= 4000


def test_syntax_error_in_script(job: Job) -> None:
    (job.workdir / "broken.py").write_text("x = 1\n\ndef f(:\n    return x\n")
    assert job.run("broken.py") == 1
    diag = diagnose(job.log, workdir=job.workdir)
    assert diag.category == "syntax_error"
    assert diag.error_type == "SyntaxError"
    assert diag.location is not None
    assert os.path.basename(diag.location.file) == "broken.py"
    assert diag.location.line == 3
    _check_explained(diag, job.log, "SyntaxError:", 'broken.py", line 3')


def test_syntax_error_in_imported_module(job: Job) -> None:
    (job.workdir / "broken.py").write_text("x = 1\n\ndef f(:\n    return x\n")
    assert job.run("importer.py") == 1
    diag = diagnose(job.log, workdir=job.workdir)
    assert diag.category == "syntax_error"
    assert diag.location is not None
    assert (os.path.basename(diag.location.file), diag.location.line) == ("broken.py", 3)


def test_missing_module(job: Job) -> None:
    assert job.run("missing_module.py") == 1
    diag = diagnose(job.log, workdir=job.workdir)
    assert diag.category == "missing_module"
    assert diag.error_type == "ModuleNotFoundError"
    _check_location(diag, job, "missing_module.py", "the culprit line")
    assert diag.suggestion == "pip install adaptive_llm_no_such_module_xyz"
    _check_explained(diag, job.log, "No module named")


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def test_memory_error_under_a_memory_limit(job: Job) -> None:
    assert job.run("memory_error.py", preexec_fn=_limit_memory) == 1
    diag = diagnose(job.log, workdir=job.workdir, memory=1 << 30)
    assert diag.category == "out_of_memory"
    assert diag.error_type == "MemoryError"
    _check_location(diag, job, "memory_error.py", "the culprit line")
    assert diag.suggestion is not None
    assert "1 GiB" in diag.suggestion and "2 GiB" in diag.suggestion
    _check_explained(diag, job.log, "MemoryError")


def test_segfault_with_faulthandler(job: Job) -> None:
    code = job.run("segfault.py", python_args=("-X", "faulthandler"))
    assert code is not None and code < 0
    diag = diagnose(job.log, workdir=job.workdir)
    assert diag.category == "segfault"
    _check_location(diag, job, "segfault.py", "the culprit line")
    _check_explained(diag, job.log, "Fatal Python error: Segmentation fault")


def test_segfault_reported_by_the_shell(job: Job) -> None:
    assert job.run("segfault.py", shell=True) == 128 + 11
    diag = diagnose(job.log, workdir=job.workdir, reason="exit code 139")
    assert diag.category == "segfault"
    assert "Segmentation fault" in diag.summary
    _check_explained(diag, job.log, "Segmentation fault")


def test_time_limit_from_scheduler_state(job: Job) -> None:
    assert job.run("sleeper.py", timeout=1.0) is None
    diag = diagnose(job.log, state="TIMEOUT", reason="time limit of 1s reached", time_limit=1.0)
    assert diag.category == "time_limit"
    assert diag.summary.startswith("Time limit of 1s reached")
    assert diag.suggestion is not None and "2s" in diag.suggestion
    last = len(log_lines(job.log).copy()) - 1  # the file ends with a newline
    assert in_spans(last, diag.excerpt.spans)


def test_time_limit_from_slurm_message(job: Job) -> None:
    job.run("sleeper.py", timeout=0.5)
    with open(job.log, "a") as f:
        f.write(
            "slurmstepd: error: *** JOB 4242 ON node17 CANCELLED AT 2026-11-21T10:00:00 "
            "DUE TO TIME LIMIT ***\n"
        )
    for state in (None, "CANCELLED"):
        diag = diagnose(job.log, state=state, time_limit=3600)
        assert diag.category == "time_limit"
        assert "2h" in (diag.suggestion or "")
        _check_explained(diag, job.log, "DUE TO TIME LIMIT")


@pytest.mark.skipif(sys.platform != "linux", reason="uses setuid to drop root")
def test_permission_error(job: Job) -> None:
    secret = job.workdir / "secret.cfg"
    secret.write_text("x")
    secret.chmod(0)
    if os.getuid() == 0:
        job.workdir.chmod(0o755)
        job.workdir.parent.chmod(0o755)
    assert job.run("permission.py", str(secret)) == 1
    diag = diagnose(job.log, workdir=job.workdir)
    assert diag.category == "permission_denied"
    assert diag.error_type == "PermissionError"
    _check_location(diag, job, "permission.py", "the culprit line")
    assert diag.suggestion is not None and "secret.cfg" in diag.suggestion
    _check_explained(diag, job.log, "PermissionError:")


def test_pytest_failure(job: Job) -> None:
    shutil.copy(PROGRAMS / "pytest_fail.py", job.workdir)
    code = job.run("-m", "pytest", "-q", "-p", "no:cacheprovider", "pytest_fail.py")
    assert code == 1, job.log.read_text()
    diag = diagnose(job.log, workdir=job.workdir)
    assert diag.category == "test_failure"
    assert diag.location is not None
    assert os.path.basename(diag.location.file) == "pytest_fail.py"
    _check_explained(diag, job.log, "assert 1.5 == 1", "1 failed")


def test_killed_reported_by_the_shell(job: Job) -> None:
    assert job.run("killed.py", shell=True) == 128 + 9
    diag = diagnose(job.log, memory=4 << 30)
    assert diag.category == "out_of_memory"
    assert "Killed" in diag.summary
    assert "8 GiB" in (diag.suggestion or "")
    _check_explained(diag, job.log, "Killed")
