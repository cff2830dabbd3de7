"""``adaptive-llm diagnose PATH...``: the offline diagnosis of job logs, as text or JSON lines.

A ``PATH`` is a log file, ``-`` (standard input), or a pipe, FIFO or character device
(``/dev/stdin``, ``<(zcat job.log.gz)``): those are read once, within bounds of time and size
(:data:`PIPE_READ_LIMIT`, ``--timeout``, :data:`IDLE_SECONDS`), into a private temporary
file that is diagnosed like any log and removed. Opening never blocks (a FIFO nobody writes
to is opened without waiting) and what stopped the reading early is said on stderr.

A log inside a RunManager workdir (``<workdir>/.adaptive_llm/logs/<job>/attempt-<n>.log``)
is diagnosed with what that workdir's store records of the attempt (:class:`Recorded`: its
state and reason, the job's cwd, its limits), as the RunManager's own diagnosis was; the
``adaptive-llm`` command looks it up (``recorded`` of :func:`run`), options given win.

Imports only the standard library and ``adaptive_llm.diagnosis`` so the command starts fast.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import select
import shutil
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from adaptive_llm._core.units import format_size, parse_duration, parse_memory
from adaptive_llm.diagnosis.engine import DEFAULT_MAX_TOKENS, diagnose
from adaptive_llm.diagnosis.model import Diagnosis, DiagnosisError, Excerpt

#: The longest a pipe, FIFO or device is read (seconds; ``--timeout``).
DEFAULT_TIMEOUT = 30.0
#: Reading stops after this long without new data (a writer that keeps the pipe open).
IDLE_SECONDS = 10.0
#: The most read from one pipe; the last :data:`PIPE_KEEP` bytes of it are diagnosed.
PIPE_READ_LIMIT = 1 << 30
PIPE_KEEP = 64 << 20
_CHUNK = 1 << 16
STDIN_NAME = "<stdin>"


@dataclasses.dataclass(frozen=True)
class Recorded:
    """What a run's store records of the attempt that wrote a log."""

    job: str
    attempt: int
    #: The workdir whose store it is.
    store_workdir: str
    state: str | None = None
    reason: str | None = None
    #: The job's working directory (its code).
    cwd: str | None = None
    time_limit: float | None = None
    memory: int | None = None


#: Finds what a store records of the log at a path (None: not a run's log, or unknown).
RecordedLookup = Callable[[str], "Recorded | None"]


@dataclasses.dataclass
class Source:
    """What the reader reads for one ``PATH``: the file itself, or a spooled copy of a pipe."""

    shown: str
    path: str
    #: Lines of the input before the spooled copy's first line (its head was dropped).
    line_offset: int = 0
    notes: list[str] = dataclasses.field(default_factory=list)


def add_parser(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Register the ``diagnose`` subcommand."""
    parser = subparsers.add_parser(
        "diagnose",
        help="explain why a job failed, from its log (offline)",
        description="Find the lines of each log that explain a failure, classify it, name the "
        "line to open and suggest a next step. Secrets are redacted.",
    )
    parser.add_argument(
        "paths", nargs="+", metavar="PATH", help="log file(s); - reads one from stdin"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per line per path")
    parser.add_argument(
        "--max-tokens",
        type=int,
        default=DEFAULT_MAX_TOKENS,
        metavar="N",
        help="excerpt budget in estimated tokens, ~4 characters each (default: %(default)s)",
    )
    parser.add_argument(
        "--workdir", metavar="DIR", help="the job's working directory (its code), for locations"
    )
    parser.add_argument(
        "--state",
        metavar="STATE",
        help="scheduler state, e.g. FAILED, TIMEOUT, OUT_OF_MEMORY (default, for a log in a"
        " workdir: the attempt's recorded state)",
    )
    parser.add_argument(
        "--time-limit",
        type=_limit(parse_duration),
        metavar="TIME",
        help="the job's time limit (seconds or e.g. 05:00, 2h), for the suggestion",
    )
    parser.add_argument(
        "--memory",
        type=_limit(parse_memory),
        metavar="SIZE",
        help="the job's memory limit (bytes or e.g. 4G), for the suggestion",
    )
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help="for - (stdin), pipes and FIFOs: stop reading after SECONDS (default: %(default)s)"
        f" or after {IDLE_SECONDS:g} s without data, and diagnose what was read",
    )


def _limit(parse: Callable[[str], float | int | None]) -> Callable[[str], float | int | None]:
    def parsed(text: str) -> float | int | None:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parsed


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value < 1e6:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds: {text!r}")
    return value


def run(args: argparse.Namespace, recorded: RecordedLookup | None = None) -> int:
    """Diagnose ``args.paths``; exit code 1 if any path could not be read, else 0.
    ``recorded`` finds what a run's store knows of a log file's attempt."""
    if sys.stdout is None:  # started with stdout closed (``>&-``): nowhere to write
        print("adaptive-llm diagnose: standard output is closed", file=sys.stderr or sys.__stderr__)
        return 1
    try:
        return _run(args, recorded)
    except BrokenPipeError:  # the reader went away (``| head``): stop quietly
        _silence_stdout()
        return 1
    except OSError as exc:  # a full disk (``> /dev/full``), a vanished output file
        _silence_stdout()
        if sys.stderr is not None:
            print(
                f"adaptive-llm diagnose: cannot write the output: {exc.strerror or exc}",
                file=sys.stderr,
            )
        return 1


def _silence_stdout() -> None:
    """No second error when Python flushes what is left of stdout at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def _run(args: argparse.Namespace, recorded: RecordedLookup | None = None) -> int:
    failed = False
    out = sys.stdout
    timeout = getattr(args, "timeout", DEFAULT_TIMEOUT)
    for path in args.paths:
        shown = STDIN_NAME if path == "-" else os.fspath(path)
        try:
            with source(os.fspath(path), timeout) as src:
                for note in src.notes:
                    print(f"adaptive-llm diagnose: {note}", file=sys.stderr)
                known = recorded(src.path) if recorded and src.path == path else None
                diag = _diagnose(src, args, known)
        except DiagnosisError as exc:
            failed = True
            if args.json:
                out.write(json.dumps({"path": shown, "error": str(exc)}) + "\n")
            else:
                print(f"adaptive-llm diagnose: {exc}", file=sys.stderr)
            continue
        if args.json:
            data = diag.to_dict()
            if src.notes:
                data["notes"] = src.notes
            if known is not None:
                data["recorded"] = dataclasses.asdict(known)
            out.write(json.dumps(data, ensure_ascii=False) + "\n")
        else:
            write_report(diag, out, several=len(args.paths) > 1, recorded=known)
        out.flush()
    return 1 if failed else 0


def _diagnose(src: Source, args: argparse.Namespace, known: Recorded | None = None) -> Diagnosis:
    """The diagnosis of ``src``: with the options given, else with what is recorded."""
    time_limit: float | None = getattr(args, "time_limit", None)
    memory: int | None = getattr(args, "memory", None)
    if known is not None:
        time_limit = known.time_limit if time_limit is None else time_limit
        memory = known.memory if memory is None else memory
    try:
        diag = diagnose(
            src.path,
            state=args.state or (known.state if known else None),
            reason=known.reason if known and args.state in (None, known.state) else None,
            workdir=args.workdir or (known.cwd if known else None),
            time_limit=time_limit,
            memory=memory,
            max_tokens=max(0, args.max_tokens),
        )
    except DiagnosisError as exc:  # name what the user gave, not the spooled copy
        raise DiagnosisError(str(exc).replace(src.path, src.shown)) from exc
    if src.path == src.shown and not src.line_offset:
        return diag
    spans = [(a + src.line_offset, b + src.line_offset) for a, b in diag.excerpt.spans]
    return dataclasses.replace(
        diag, path=src.shown, excerpt=Excerpt(text=diag.excerpt.text, spans=spans)
    )


@contextlib.contextmanager
def source(path: str, timeout: float = DEFAULT_TIMEOUT) -> Iterator[Source]:
    """What to diagnose for ``path``: a regular file (or a directory or a missing path,
    which the reader refuses) as it is; ``-`` (stdin), a pipe, FIFO or character device
    read once into a private temporary file, removed afterwards. Raises ``DiagnosisError``
    for what cannot be read (a socket, a block device, nothing written in time)."""
    if path == "-":
        with _stdin(timeout) as src:
            yield src
        return
    try:
        mode = os.stat(path).st_mode
    except OSError:  # missing, unreadable, a loop: the reader says which
        mode = stat.S_IFREG
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        yield Source(path, path)
        return
    if stat.S_ISSOCK(mode):
        raise DiagnosisError(f"is a socket, not a log: {path}")
    if stat.S_ISBLK(mode):
        raise DiagnosisError(f"is a block device, not a log: {path}")
    try:  # never blocks, even on a FIFO that no process has open for writing
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise DiagnosisError(f"cannot open {path}: {exc.strerror or exc}") from exc
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):  # replaced by a file meanwhile
            yield Source(path, path)
            return
        os.set_blocking(fd, True)  # our own open file: reads wait for poll(), never block
        with _spooled(fd, path, timeout) as src:
            yield src
    finally:
        os.close(fd)


@contextlib.contextmanager
def _stdin(timeout: float) -> Iterator[Source]:
    try:
        mode = os.fstat(0).st_mode
    except OSError:
        raise DiagnosisError(f"cannot read {STDIN_NAME}: it is closed") from None
    if stat.S_ISDIR(mode):
        raise DiagnosisError(f"cannot read {STDIN_NAME}: it is a directory")
    if stat.S_ISREG(mode) and os.path.exists("/dev/fd/0"):  # `diagnose - < job.log`
        yield Source(STDIN_NAME, "/dev/fd/0")
        return
    if os.isatty(0):
        print(
            "adaptive-llm diagnose: reading a log from the terminal; paste it, then press"
            f" Ctrl-D (it stops after {min(IDLE_SECONDS, timeout):g} s without input)",
            file=sys.stderr,
        )
    with _spooled(0, STDIN_NAME, timeout) as src:
        yield src


@contextlib.contextmanager
def _spooled(fd: int, shown: str, timeout: float) -> Iterator[Source]:
    try:
        scratch = Path(tempfile.mkdtemp(prefix="adaptive-llm-diagnose-"))
    except OSError as exc:
        raise _spool_error(shown, exc) from exc
    try:
        yield _spool(fd, shown, timeout, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _spool_error(shown: str, exc: OSError) -> DiagnosisError:
    return DiagnosisError(
        f"cannot copy {shown} to a temporary file in {tempfile.gettempdir()}:"
        f" {exc.strerror or exc}; set TMPDIR to a directory with room"
    )


def _spool(fd: int, shown: str, timeout: float, scratch: Path) -> Source:
    """Read ``fd`` until its end, ``timeout``, :data:`IDLE_SECONDS` without data or
    :data:`PIPE_READ_LIMIT`, keeping its last :data:`PIPE_KEEP` bytes in two alternating
    halves under ``scratch``; the diagnosable copy, with notes on what stopped it."""
    idle = min(IDLE_SECONDS, timeout)
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI)
    names = [scratch / "0", scratch / "1"]
    files: list[BinaryIO] = []
    sizes, lines = [0, 0], [0, 0]
    current, total, dropped_lines = 0, 0, 0
    start = last = time.monotonic()
    stop = ""
    try:
        files.extend(open(name, "w+b") for name in names)  # noqa: SIM115 - closed below
        while True:
            now = time.monotonic()
            if total >= PIPE_READ_LIMIT:
                stop = f"stopped after reading {format_size(total)}, the most read from a pipe"
                break
            if now - start >= timeout:
                stop = f"still open after {timeout:g} s"
                break
            if now - last >= idle:
                stop = f"nothing new for {idle:g} s and the writer has not closed it"
                break
            wait = min(start + timeout, last + idle) - now
            if not poller.poll(max(1, int(wait * 1000) + 1)):
                continue
            try:
                data = os.read(fd, _CHUNK)
            except BlockingIOError:  # stdin shared with a non-blocking reader
                continue
            except OSError as exc:
                raise DiagnosisError(f"cannot read {shown}: {exc.strerror or exc}") from exc
            if not data:
                break
            last = time.monotonic()
            if sizes[current] >= PIPE_KEEP // 2:  # drop the older half, write over it
                current = 1 - current
                dropped_lines += lines[current]
                files[current].seek(0)
                files[current].truncate()
                sizes[current] = lines[current] = 0
            files[current].write(data)
            sizes[current] += len(data)
            lines[current] += data.count(b"\n")
            total += len(data)
        path = names[current]
        if sizes[1 - current]:  # the older half, then the newer
            files[current].seek(0)
            shutil.copyfileobj(files[current], files[1 - current])
            path = names[1 - current]
        for file in files:
            file.flush()
    except OSError as exc:  # writing the copy: a full disk
        raise _spool_error(shown, exc) from exc
    finally:
        for file in files:
            with contextlib.suppress(OSError):  # the error, if any, was raised above
                file.close()
    src = Source(shown, str(path), line_offset=dropped_lines)
    if stop and not total:
        raise DiagnosisError(
            f"nothing was written to {shown} in {idle:g} s (no process"
            " has it open for writing, or the writer is silent); pass --timeout to wait longer"
        )
    kept = sizes[0] + sizes[1]
    if stop:
        src.notes.append(f"{shown}: {stop}; diagnosing the {format_size(total)} read so far")
    if kept < total:
        src.notes.append(
            f"{shown}: diagnosing its last {format_size(kept)} of {format_size(total)} read"
            " (line numbers count from the start of the input)"
        )
    return src


def write_report(
    diag: Diagnosis, out: TextIO, *, several: bool = False, recorded: Recorded | None = None
) -> None:
    """A readable report of one diagnosis (``recorded``: what the store said of its attempt)."""
    if several:
        out.write(f"==> {diag.path} <==\n")
    out.write(f"{diag.summary}\n")
    out.write(f"  category:   {diag.category}\n")
    if recorded is not None:
        state = f", {recorded.state}" if recorded.state else ""
        out.write(
            f"  attempt:    {recorded.job} attempt {recorded.attempt}{state}"
            f" (recorded in {recorded.store_workdir})\n"
        )
    if diag.location is not None:
        out.write(f"  open:       {diag.location.file}:{diag.location.line}\n")
    if diag.suggestion:
        out.write(f"  suggestion: {diag.suggestion}\n")
    out.write(f"  signature:  {diag.signature}\n")
    if diag.location is not None and diag.location.source:
        out.write("\n" + _indent(diag.location.source) + "\n")
    spans = ", ".join(f"{a}-{b}" if a != b else str(a) for a, b in diag.excerpt.spans)
    out.write(
        f"\nExcerpt (lines {spans or 'none'}; ~{diag.tokens} tokens, {diag.elapsed_ms:.0f} ms):\n"
    )
    out.write(_indent(diag.excerpt.text) + "\n\n")


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.split("\n"))
