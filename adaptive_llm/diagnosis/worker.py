"""A diagnosis worker process: ``python -m adaptive_llm.diagnosis.worker``.

The notebook kernel's manager (``adaptive_llm.managers.diagnosis_pool``) starts a few of these
so the engine's CPU work runs outside the kernel's process and its GIL. The protocol is one JSON
object per line: the worker prints ``{"ready": pid}`` once, then for each request line
``{"id": n, "path": ..., "options": {...}}`` (the keyword arguments of
:func:`adaptive_llm.diagnosis.diagnose`) one answer line, ``{"id": n, "diagnosis": {...}}``
(``Diagnosis.to_dict()``), or ``{"id": n, "error": "...", "kind": ...}``: ``unreadable`` (the
log cannot be read), ``engine`` (the engine raised on it), ``failed`` (a malformed request).
It exits at the end of its input: when the manager closes it, or when the kernel is gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from typing import Any, TextIO

from adaptive_llm.diagnosis.engine import diagnose
from adaptive_llm.diagnosis.model import DiagnosisError

#: The keyword arguments of ``diagnose`` a request may carry (anything else is refused).
OPTIONS = frozenset({"state", "reason", "workdir", "time_limit", "memory", "max_tokens"})


def answer(request: Any) -> dict[str, Any]:
    """The answer to one decoded request line."""
    ident = request.get("id") if isinstance(request, dict) else None
    path = request.get("path") if isinstance(request, dict) else None
    options = request.get("options", {}) if isinstance(request, dict) else None
    if (
        not isinstance(ident, int)
        or not isinstance(path, str)
        or not isinstance(options, dict)
        or not set(options) <= OPTIONS
    ):
        return {"id": ident, "error": f"malformed request: {request!r:.200}", "kind": "failed"}
    try:
        diag = diagnose(path, **options)
    except DiagnosisError as exc:
        return {"id": ident, "error": str(exc), "kind": "unreadable"}
    except Exception as exc:  # the engine's verdict on this log: the same on every try
        return {"id": ident, "error": f"{type(exc).__name__}: {exc}", "kind": "engine"}
    return {"id": ident, "diagnosis": diag.to_dict()}


def serve(stdin: TextIO, stdout: TextIO) -> None:
    stdout.write(json.dumps({"ready": os.getpid()}) + "\n")
    stdout.flush()
    for line in stdin:
        try:
            request = json.loads(line)
        except ValueError as exc:
            reply: dict[str, Any] = {"id": None, "error": f"bad request: {exc}", "kind": "failed"}
        else:
            reply = answer(request)
        stdout.write(json.dumps(reply, ensure_ascii=True) + "\n")
        stdout.flush()


def main() -> int:
    # Ctrl-C in the terminal reaches the whole process group: the manager stops its workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Answers go to a private copy of the pipe; anything else printed goes to stderr.
    answers = os.dup(sys.stdout.fileno())
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    with (
        contextlib.suppress(BrokenPipeError),  # the manager is gone
        open(sys.stdin.fileno(), encoding="utf-8", errors="replace", closefd=False) as stdin,
        open(answers, "w", encoding="ascii") as stdout,
    ):
        serve(stdin, stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
