"""``adaptive-llm log NAME [--workdir DIR] [--attempt N]``: an attempt's whole log.

The lines the diagnosis quotes (its excerpt) are marked with a ``>`` gutter (and highlighted
on a terminal). On a terminal the log goes through ``$PAGER`` (default ``less -R``); piped,
it is printed plain. The log is streamed in bounded chunks, never read whole. The store is
opened read-only, as ``adaptive-llm status`` does, so this works while a notebook runs.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..jobs.model import Attempt

#: Bytes read at a time (a line longer than this is written in pieces).
CHUNK = 1 << 16
MARK = "> "
PLAIN = "  "


def add_parser(sub: Any) -> None:
    log = sub.add_parser(
        "log",
        help="print a job's log, the diagnosis's lines marked with >",
        description="Print an attempt's whole log (paged on a terminal: $PAGER, else less -R),"
        " the lines the diagnosis quotes marked with '>'.",
    )
    log.add_argument("name", metavar="NAME", help="the job")
    log.add_argument("--workdir", default=".", help="the RunManager's workdir (default: .)")
    log.add_argument(
        "--attempt", type=int, metavar="N", default=None, help="attempt N (default: the latest)"
    )


def _fail(message: str) -> int:
    print(f"adaptive-llm: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    from ..store import Store, StoreError
    from ..store.layout import STATE_DIR, STORE_NAME, Layout

    layout = Layout.of(args.workdir)
    try:
        os.lstat(layout.store)
    except (FileNotFoundError, NotADirectoryError):
        return _fail(
            f"no jobs recorded in {layout.workdir} (no {STATE_DIR}/{STORE_NAME});"
            " pass the RunManager's workdir with --workdir"
        )
    except OSError as exc:
        return _fail(f"cannot read {layout.state_dir}: {exc.strerror}")
    try:
        store = Store(layout.store, readonly=True)
    except StoreError as exc:
        return _fail(str(exc))
    try:
        names = sorted(job.name for job in store.jobs.all())
        if args.name not in names:
            known = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
            where = layout.workdir
            return _fail(f"no job named {args.name!r} in {where} (jobs: {known or 'none'})")
        attempts = store.jobs.attempts(args.name)
        if not attempts:
            return _fail(f"job {args.name!r} has no attempt yet: no log")
        chosen = _choose(attempts, args.attempt)
        if chosen is None:
            numbers = ", ".join(str(a.number) for a in attempts)
            return _fail(f"job {args.name!r} has no attempt {args.attempt} (attempts: {numbers})")
        data = store.diagnoses.get(args.name, chosen.number)
    except StoreError as exc:
        return _fail(str(exc))
    finally:
        store.close()
    spans = _spans(data)
    path = Path(chosen.log_path)
    try:
        log = path.open("rb")
    except FileNotFoundError:
        present = [f"attempt {a.number}" for a in attempts if Path(a.log_path).is_file()]
        there = f"logs there: {', '.join(present)}" if present else "no attempt's log is there"
        return _fail(
            f"no log for job {args.name!r} attempt {chosen.number}: {path} is missing ({there})"
        )
    except OSError as exc:
        return _fail(f"cannot read {path}: {exc.strerror or exc}")
    with log:
        if sys.stdout.isatty():
            return _page(log, spans, _header(chosen, spans))
        out = sys.stdout.buffer
        try:
            _write_plain(log, spans, out)
            out.flush()
        except BrokenPipeError:  # `adaptive-llm log j | head`: the reader had enough
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return 1
    return 0


def _choose(attempts: Sequence[Attempt], number: int | None) -> Attempt | None:
    if number is None:
        return attempts[-1]
    return next((a for a in attempts if a.number == number), None)


def _spans(data: dict[str, Any] | None) -> list[tuple[int, int]]:
    """The diagnosis's excerpt: 1-based inclusive line spans, sorted."""
    try:
        raw = (data or {}).get("excerpt", {}).get("spans", [])
        return sorted((int(a), int(b)) for a, b in raw)
    except (AttributeError, TypeError, ValueError):
        return []


def _header(attempt: Attempt, spans: list[tuple[int, int]]) -> str:
    lines = ", ".join(f"{a}-{b}" if a != b else str(a) for a, b in spans)
    marked = f"lines marked > are the diagnosis's excerpt ({lines})" if spans else "no excerpt"
    return (
        f"job {attempt.job}, attempt {attempt.number} ({attempt.state.value}):"
        f" {attempt.log_path}; {marked}"
    )


def _pieces(log: IO[bytes], spans: list[tuple[int, int]]) -> Any:
    """``(gutter or None, marked, piece)`` per chunk of the log, in order; the gutter comes
    with a line's first piece only."""
    number, span, start = 1, 0, True
    while piece := log.readline(CHUNK):
        while span < len(spans) and spans[span][1] < number:
            span += 1
        marked = span < len(spans) and spans[span][0] <= number
        yield ((MARK if marked else PLAIN) if start else None), marked, piece
        start = piece.endswith(b"\n")
        if start:
            number += 1


def _write_plain(log: IO[bytes], spans: list[tuple[int, int]], out: IO[bytes]) -> None:
    for gutter, _marked, piece in _pieces(log, spans):
        if gutter is not None:
            out.write(gutter.encode())
        out.write(piece)


def _page(log: IO[bytes], spans: list[tuple[int, int]], header: str) -> int:
    """Through the user's pager, the marked lines highlighted (rich renders the colours)."""
    from rich.console import Console
    from rich.text import Text

    argv = shlex.split(os.environ.get("PAGER") or "less -R") or ["less", "-R"]
    env = dict(os.environ)
    env.setdefault("LESS", "FRX")  # as git: one screen is printed, colours pass through
    try:
        pager = subprocess.Popen(argv, stdin=subprocess.PIPE, env=env)
    except OSError:  # no pager: straight to the terminal
        pager = None
    stream = pager.stdin if pager is not None and pager.stdin is not None else sys.stdout.buffer
    text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", write_through=True)
    console = Console(file=text, force_terminal=True, soft_wrap=True, highlight=False)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the pager's
    try:
        console.print(Text(header, "dim"))
        for gutter, marked, piece in _pieces(log, spans):
            line = piece.decode("utf-8", errors="replace")
            if marked:
                console.print(Text((gutter or "") + line, "bold yellow"), end="")
            else:
                text.write((gutter or "") + line)
        text.flush()
    except BrokenPipeError:  # the user left the pager early
        pass
    finally:
        if pager is not None:
            with contextlib.suppress(BrokenPipeError):
                text.close()
            pager.wait()
        else:
            text.detach()  # sys.stdout stays open
        signal.signal(signal.SIGINT, previous)
    return 0
