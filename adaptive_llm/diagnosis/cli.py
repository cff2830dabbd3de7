"""``adaptive-llm diagnose PATH...``: the offline diagnosis of job logs, as text or JSON lines.

Imports only the standard library and ``adaptive_llm.diagnosis`` so the command starts fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, TextIO

from adaptive_llm.diagnosis.engine import DEFAULT_MAX_TOKENS, diagnose
from adaptive_llm.diagnosis.model import Diagnosis, DiagnosisError


def add_parser(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Register the ``diagnose`` subcommand."""
    parser = subparsers.add_parser(
        "diagnose",
        help="explain why a job failed, from its log (offline)",
        description="Find the lines of each log that explain a failure, classify it, name the "
        "line to open and suggest a next step. Secrets are redacted.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="log file(s)")
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
        "--state", metavar="STATE", help="scheduler state, e.g. FAILED, TIMEOUT, OUT_OF_MEMORY"
    )


def run(args: argparse.Namespace) -> int:
    """Diagnose ``args.paths``; exit code 1 if any path could not be read, else 0."""
    try:
        return _run(args)
    except BrokenPipeError:  # the reader went away (``| head``): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


def _run(args: argparse.Namespace) -> int:
    failed = False
    out = sys.stdout
    for path in args.paths:
        try:
            diag = diagnose(
                path,
                state=args.state,
                workdir=args.workdir,
                max_tokens=max(0, args.max_tokens),
            )
        except DiagnosisError as exc:
            failed = True
            if args.json:
                out.write(json.dumps({"path": os.fspath(path), "error": str(exc)}) + "\n")
            else:
                print(f"adaptive-llm diagnose: {exc}", file=sys.stderr)
            continue
        if args.json:
            out.write(json.dumps(diag.to_dict(), ensure_ascii=False) + "\n")
        else:
            write_report(diag, out, several=len(args.paths) > 1)
        out.flush()
    return 1 if failed else 0


def write_report(diag: Diagnosis, out: TextIO, *, several: bool = False) -> None:
    """A readable report of one diagnosis."""
    if several:
        out.write(f"==> {diag.path} <==\n")
    out.write(f"{diag.summary}\n")
    out.write(f"  category:   {diag.category}\n")
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
