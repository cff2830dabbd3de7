"""``adaptive-llm diagnose`` on ``-``, pipes, FIFOs and devices: read once, within bounds of
time and size, into a private temporary file that is removed; never a hang, never a traceback.

Everything here is real: shell pipelines, ``<(...)``, ``os.pipe`` passed as ``/dev/fd/N``,
FIFOs made with ``os.mkfifo``, a pseudo-terminal, ``/dev/zero``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import pty
import shlex
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from adaptive_llm.diagnosis import cli

LOG = (
    "loading\n"
    "Traceback (most recent call last):\n"
    '  File "train.py", line 2, in <module>\n'
    "    import yaml\n"
    "ModuleNotFoundError: No module named 'yaml'\n"
)
#: Python's start-up and imports, on a busy machine, on top of any bound under test.
SLACK = 8.0

_SCRIPT = Path(sys.executable).with_name("adaptive-llm")
ADL = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "adaptive_llm.cli"]


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    """The TMPDIR of the commands run here: empty again when each has finished."""
    path = tmp_path / "tmp"
    path.mkdir()
    yield path
    assert list(path.iterdir()) == [], "a spooled copy was left behind"


def env(scratch: Path) -> dict[str, str]:
    return {**os.environ, "TMPDIR": str(scratch), "ADL": shlex.join(ADL)}


def sh(script: str, scratch: Path, timeout: float = 60) -> tuple[int, str, str, float]:
    """Run a bash script (``$ADL`` is the command); exit code, stdout, stderr, seconds."""
    started = time.monotonic()
    proc = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env(scratch),
        check=False,
    )
    return proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started


def run(args: list[str], scratch: Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ADL, "diagnose", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env(scratch),
        check=False,
        **kwargs,  # type: ignore[arg-type]
    )


def one_json(out: str) -> dict[str, object]:
    [line] = out.splitlines()
    data = json.loads(line)
    assert isinstance(data, dict)
    assert "adaptive-llm-diagnose-" not in line  # the spooled copy is never shown
    return data


# -- pipes ------------------------------------------------------------------------------------


def test_stdin_from_a_shell_pipe(scratch: Path) -> None:
    code, out, err, _ = sh(f"printf %s {shlex.quote(LOG)} | $ADL diagnose --json -", scratch)
    assert code == 0, err
    data = one_json(out)
    assert data["path"] == "<stdin>"
    assert data["error_type"] == "ModuleNotFoundError"
    assert data["excerpt"]["spans"] == [[1, 5]]  # type: ignore[index]
    code, out, err, _ = sh(f"printf %s {shlex.quote(LOG)} | $ADL diagnose -", scratch)
    assert code == 0 and "No module named 'yaml'" in out and err == "", err


def test_dev_stdin_from_a_shell_pipe(scratch: Path) -> None:
    code, out, err, _ = sh(
        f"printf %s {shlex.quote(LOG)} | $ADL diagnose --json /dev/stdin", scratch
    )
    assert code == 0, err
    data = one_json(out)
    assert data["path"] == "/dev/stdin" and data["error_type"] == "ModuleNotFoundError"


def test_process_substitution(scratch: Path) -> None:
    code, out, err, _ = sh(f"$ADL diagnose --json <(printf %s {shlex.quote(LOG)})", scratch)
    assert code == 0, err
    data = one_json(out)
    assert str(data["path"]).startswith("/dev/fd/") and data["error_type"] == "ModuleNotFoundError"


def test_dash_among_paths_and_after_options(scratch: Path, tmp_path: Path) -> None:
    log = tmp_path / "job.log"
    log.write_text("RuntimeError: boom\n")
    script = f"printf %s {shlex.quote(LOG)} | $ADL diagnose {log} --json -"
    code, out, err, _ = sh(script, scratch)
    assert code == 0, err
    first, second = (json.loads(line) for line in out.splitlines())
    assert first["path"] == str(log) and second["path"] == "<stdin>"
    assert second["error_type"] == "ModuleNotFoundError"


def test_stdin_from_a_file(scratch: Path, tmp_path: Path) -> None:
    log = tmp_path / "job.log"
    log.write_text(LOG)
    code, out, err, _ = sh(f"$ADL diagnose --json - < {log}", scratch)
    assert code == 0, err
    data = one_json(out)
    assert data["path"] == "<stdin>" and data["error_type"] == "ModuleNotFoundError"


def test_stdin_closed(scratch: Path) -> None:
    code, out, err, _ = sh("$ADL diagnose - <&-", scratch)
    assert code == 1 and out == ""
    assert "cannot read <stdin>: it is closed" in err and "Traceback" not in err


def test_empty_pipe(scratch: Path) -> None:
    code, out, err, _ = sh("true | $ADL diagnose --json -", scratch)
    assert code == 0, err
    assert one_json(out)["summary"] == "Empty log (0 bytes)"


def test_dev_fd_of_a_pipe_whose_writer_has_gone(scratch: Path) -> None:
    r, w = os.pipe()
    os.write(w, LOG.encode())
    os.close(w)
    try:
        proc = run(["--json", f"/dev/fd/{r}"], scratch, pass_fds=[r])
    finally:
        os.close(r)
    assert proc.returncode == 0, proc.stderr
    assert one_json(proc.stdout)["error_type"] == "ModuleNotFoundError"


def test_dev_fd_of_a_pipe_written_later(scratch: Path) -> None:
    r, w = os.pipe()

    def write() -> None:
        time.sleep(0.5)
        for line in LOG.splitlines(keepends=True):
            os.write(w, line.encode())
            time.sleep(0.05)
        os.close(w)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        proc = run(["--json", "--timeout", "20", f"/dev/fd/{r}"], scratch, pass_fds=[r])
    finally:
        writer.join()
        os.close(r)
    assert proc.returncode == 0, proc.stderr
    assert one_json(proc.stdout)["error_type"] == "ModuleNotFoundError"
    assert proc.stderr == ""  # read to its end: nothing to say


def writer_process(code: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)


@contextlib.contextmanager
def feeding(code: str) -> Iterator[subprocess.Popen[bytes]]:
    """A writer process whose stdout is the pipe; killed afterwards."""
    writer = writer_process(code)
    try:
        yield writer
    finally:
        writer.kill()
        writer.wait()
        assert writer.stdout is not None
        writer.stdout.close()


def test_a_writer_that_keeps_the_pipe_open_without_writing(scratch: Path) -> None:
    with feeding("import time; time.sleep(60)") as writer:
        started = time.monotonic()
        proc = run(["--timeout", "1", "-"], scratch, stdin=writer.stdout)
        elapsed = time.monotonic() - started
    assert proc.returncode == 1 and proc.stdout == ""
    assert "nothing was written to <stdin> in 1 s" in proc.stderr, proc.stderr
    assert "--timeout" in proc.stderr and "Traceback" not in proc.stderr
    assert elapsed < 1 + SLACK


def test_a_writer_that_writes_then_keeps_the_pipe_open(scratch: Path) -> None:
    code = f"import sys, time; sys.stdout.write({LOG!r}); sys.stdout.flush(); time.sleep(60)"
    with feeding(code) as writer:
        started = time.monotonic()
        proc = run(["--json", "--timeout", "1.5", "-"], scratch, stdin=writer.stdout)
        elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    data = one_json(proc.stdout)
    assert data["error_type"] == "ModuleNotFoundError"
    [note] = data["notes"]  # type: ignore[misc]
    assert "still open after 1.5 s" in note and "read so far" in note
    assert note in proc.stderr
    assert elapsed < 1.5 + SLACK


def test_a_writer_that_never_stops_writing(scratch: Path) -> None:
    """A line every 50 ms, forever: the time bound ends it (the idle bound never does)."""
    code = (
        "import sys, time\n"
        "while True:\n"
        "    print('step', time.time(), flush=True); time.sleep(0.05)\n"
    )
    with feeding(code) as writer:
        started = time.monotonic()
        proc = run(["--timeout", "1.5", "-"], scratch, stdin=writer.stdout)
        elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    assert "<stdin>: still open after 1.5 s" in proc.stderr
    assert "step" in proc.stdout
    assert elapsed < 1.5 + SLACK


def test_interrupted_while_waiting(scratch: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    proc = subprocess.Popen(
        [*ADL, "diagnose", str(fifo)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(scratch),
    )
    deadline = time.monotonic() + 20
    while not list(scratch.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)  # until it waits with its spool made
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130 and "interrupted" in err, err
    assert "Traceback" not in err


# -- FIFOs ------------------------------------------------------------------------------------


def test_fifo_with_a_writer(scratch: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "job.fifo"
    os.mkfifo(fifo)

    def write() -> None:
        with open(fifo, "w") as f:  # waits for the reader, as a job's redirection would
            time.sleep(0.3)
            f.write(LOG)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        proc = run(["--json", "--timeout", "20", str(fifo)], scratch)
    finally:
        with contextlib.suppress(OSError):  # if the command failed to open it: unblock
            os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
        writer.join(timeout=10)
    assert proc.returncode == 0, proc.stderr
    data = one_json(proc.stdout)
    assert data["path"] == str(fifo) and data["error_type"] == "ModuleNotFoundError"


def test_fifo_without_a_writer_returns_within_its_bound(scratch: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "nobody-writes"
    os.mkfifo(fifo)
    started = time.monotonic()
    proc = run(["--timeout", "1", str(fifo)], scratch)
    elapsed = time.monotonic() - started
    assert proc.returncode == 1 and proc.stdout == ""
    assert f"nothing was written to {fifo} in 1 s" in proc.stderr, proc.stderr
    assert "no process has it open for writing" in proc.stderr
    assert elapsed < 1 + SLACK
    proc = run(["--json", "--timeout", "0.5", str(fifo)], scratch)
    assert proc.returncode == 1
    assert one_json(proc.stdout) == {
        "path": str(fifo),
        "error": f"nothing was written to {fifo} in 0.5 s (no process has it open for writing,"
        " or the writer is silent); pass --timeout to wait longer",
    }


def test_the_default_bounds_apply_without_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli.DEFAULT_TIMEOUT == 30 and cli.IDLE_SECONDS == 10
    monkeypatch.setattr(cli, "IDLE_SECONDS", 0.3)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    started = time.monotonic()
    code, _, err = in_process(str(fifo))
    assert code == 1 and "nothing was written" in err and "in 0.3 s" in err
    assert time.monotonic() - started < 5


# -- size bounds, devices ---------------------------------------------------------------------


def in_process(*argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="adaptive-llm")
    cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["diagnose", *argv])
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.run(args)
    return code, out.getvalue(), err.getvalue()


def test_a_long_stream_keeps_its_tail_with_the_inputs_line_numbers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(cli, "PIPE_KEEP", 64 << 10)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    filler = "".join(f"epoch {i} loss {1 / (i + 1):.6f}\n" for i in range(20_000))
    r, w = os.pipe()

    def write_all() -> None:
        data = (filler + LOG).encode()
        while data:
            data = data[os.write(w, data[:65536]) :]
        os.close(w)

    writer = threading.Thread(target=write_all)
    writer.start()
    try:
        code, out, err = in_process("--json", f"/dev/fd/{r}")
    finally:
        writer.join()
        os.close(r)
    assert code == 0, err
    data = one_json(out)
    assert data["error_type"] == "ModuleNotFoundError"
    first, last = data["excerpt"]["spans"][-1]  # type: ignore[index]
    assert last == 20_005 and first <= 20_002  # the traceback's lines in the whole input
    assert "/dev/fd/" in err and "diagnosing its last" in err, err
    assert "line numbers count from the start" in err
    assert list(tmp_path.glob("adaptive-llm-diagnose-*")) == []


def test_dev_zero_stops_at_the_read_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "PIPE_READ_LIMIT", 4 << 20)
    monkeypatch.setattr(cli, "PIPE_KEEP", 1 << 20)
    code, out, err = in_process("--json", "/dev/zero")
    assert code == 0, err
    data = one_json(out)
    assert data["path"] == "/dev/zero" and str(data["summary"]).startswith("Binary content")
    assert "/dev/zero: stopped after reading 4 MiB" in err, err
    assert "diagnosing its last 1 MiB of 4 MiB" in err, err


def test_dev_null_is_an_empty_log() -> None:
    code, out, err = in_process("--json", "/dev/null")
    assert code == 0 and one_json(out)["summary"] == "Empty log (0 bytes)", err


def test_a_terminal(scratch: Path) -> None:
    """``diagnose -`` at a prompt: says how to end the input; Ctrl-D ends it."""
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [*ADL, "diagnose", "--json", "-"],
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env(scratch),
        )
        time.sleep(0.5)
        os.write(master, LOG.encode() + b"\x04")
        out, err = proc.communicate(timeout=30)
    finally:
        os.close(slave)
        os.close(master)
    assert proc.returncode == 0, err
    assert "paste it, then press Ctrl-D" in err
    data = one_json(out)
    assert data["path"] == "<stdin>" and data["error_type"] == "ModuleNotFoundError"


def test_what_cannot_be_read_is_a_clear_error(scratch: Path, tmp_path: Path) -> None:
    short = Path(tempfile.mkdtemp(prefix="acp-"))  # a socket path must be short
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind(str(short / "sock"))
            proc = run(
                ["--json", str(short / "sock"), str(tmp_path), str(tmp_path / "missing")], scratch
            )
    finally:
        for child in short.iterdir():
            child.unlink()
        short.rmdir()
    assert proc.returncode == 1 and proc.stderr == ""
    errors = [json.loads(line)["error"] for line in proc.stdout.splitlines()]
    assert errors == [
        f"is a socket, not a log: {short / 'sock'}",
        f"is a directory: {tmp_path}",
        f"no such file: {tmp_path / 'missing'}",
    ]


def block_device(tmp_path: Path) -> Path | None:
    path = tmp_path / "blk"
    with contextlib.suppress(OSError):
        os.mknod(path, stat.S_IFBLK | 0o600, os.makedev(7, 0))
        return path
    for candidate in sorted(Path("/dev").iterdir()):
        with contextlib.suppress(OSError):
            if stat.S_ISBLK(candidate.stat().st_mode):
                return candidate
    return None


def test_a_block_device_is_refused(tmp_path: Path) -> None:
    device = block_device(tmp_path)
    if device is None:
        pytest.skip("no block device here, and mknod is not permitted")
    code, _, err = in_process(str(device))
    assert code == 1 and f"is a block device, not a log: {device}" in err


def test_a_full_disk_while_spooling_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every write of the spooled copy fails as on a full disk (``/dev/full``)."""
    full = lambda name, mode: open("/dev/full", mode)  # noqa: E731, SIM115
    monkeypatch.setattr(cli, "open", full, raising=False)
    r, w = os.pipe()
    os.write(w, LOG.encode() * 200)
    os.close(w)
    try:
        code, out, err = in_process(f"/dev/fd/{r}")
    finally:
        os.close(r)
    assert code == 1 and out == ""
    assert "cannot copy /dev/fd/" in err and "No space left on device" in err, err
    assert "set TMPDIR" in err
