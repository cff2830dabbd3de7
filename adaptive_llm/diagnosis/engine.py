"""``diagnose()``: read, find signals, excerpt, classify, locate, sign, suggest."""

from __future__ import annotations

import dataclasses
import logging
import os
import time

from adaptive_llm._core.units import format_duration
from adaptive_llm._core.units import format_size as format_bytes
from adaptive_llm.diagnosis.classify import classify
from adaptive_llm.diagnosis.excerpt import build_excerpt, estimate_tokens
from adaptive_llm.diagnosis.location import culprit
from adaptive_llm.diagnosis.model import Diagnosis, Excerpt, Location
from adaptive_llm.diagnosis.reader import LogText, read_log
from adaptive_llm.diagnosis.redact import cut_index, redact
from adaptive_llm.diagnosis.signals import (
    MatchMemo,
    Signal,
    find_signals,
    group_signals,
    is_terminal,
    primary_signal,
)
from adaptive_llm.diagnosis.signature import signature
from adaptive_llm.diagnosis.suggest import suggest

_logger = logging.getLogger(__name__)

#: Default excerpt budget in estimated tokens (~4 characters per token, see ``excerpt.py``).
DEFAULT_MAX_TOKENS = 4000
#: Longest summary line.
SUMMARY_CHARS = 200

_CATEGORY_TEXT = {
    "time_limit": "Time limit reached",
    "out_of_memory": "Out of memory",
    "gpu_out_of_memory": "GPU out of memory",
    "segfault": "Segmentation fault (native crash)",
    "cancelled": "Job cancelled",
    "node_failure": "Node failure",
    "test_failure": "Test failure",
    "compile_error": "Compile error",
    "dependency_install": "Dependency installation failed",
    "network": "Network error",
    "permission_denied": "Permission denied",
    "missing_file": "Missing file",
    "missing_module": "Missing module",
    "syntax_error": "Syntax error",
}


def diagnose(
    path: str | os.PathLike[str],
    *,
    state: str | None = None,
    reason: str | None = None,
    workdir: str | os.PathLike[str] | None = None,
    time_limit: float | None = None,
    memory: int | None = None,
    max_tokens: int = DEFAULT_MAX_TOKENS,
) -> Diagnosis:
    """Diagnose the log at ``path``: the lines that explain the failure, classified and located.

    ``state``/``reason`` are the scheduler's final state (SLURM names) and reason text,
    ``workdir`` the job's working directory (the user's code), ``time_limit`` (seconds) and
    ``memory`` (bytes) its limits. Raises :class:`DiagnosisError` only when the path cannot be
    read at all; any content (empty, binary, huge, changing) gives a diagnosis.
    """
    t0 = time.perf_counter()
    p = os.fspath(path)
    wd = os.fspath(workdir) if workdir is not None else None
    memo: MatchMemo = {}  # the tail of a large file is matched once, not twice
    log = read_log(p, is_terminal=lambda regions: is_terminal(regions, memo))
    if log.binary or not log.regions:
        diag = _no_text(log, state, reason, time_limit, memory)
    else:
        try:
            diag = _diagnose_text(
                log, state, reason, wd, time_limit, memory, max(0, max_tokens), memo
            )
        except Exception as exc:  # a bug here must not cost the user the log's last lines
            _logger.exception("diagnosis of %s failed; falling back to the log's tail", p)
            diag = _fallback(log, exc, max(0, max_tokens))
    elapsed = (time.perf_counter() - t0) * 1000
    return dataclasses.replace(diag, elapsed_ms=round(elapsed, 2))


def _diagnose_text(
    log: LogText,
    state: str | None,
    reason: str | None,
    workdir: str | None,
    time_limit: float | None,
    memory: int | None,
    max_tokens: int,
    memo: MatchMemo | None = None,
) -> Diagnosis:
    signals = find_signals(log, memo)
    primary = primary_signal(signals)
    verdict = classify(primary, signals, state=state, reason=reason)
    location, site = culprit(log, primary, signals, workdir, verdict.category)
    if location is not None and location.source is not None:  # redacted with context already
        location = Location(location.file, location.line, redact(location.source))
    spans, text, tokens = _fit_excerpt(log, signals, max_tokens)
    message = redact(verdict.message) if verdict.message else None
    summary = _summary(
        verdict.category,
        verdict.error_type,
        message,
        primary,
        location,
        state,
        reason,
        time_limit,
        memory,
    )
    return Diagnosis(
        path=log.path,
        category=verdict.category,
        summary=redact(summary),
        excerpt=Excerpt(text=text, spans=spans),
        signature=signature(verdict.category, verdict.error_type, message, location, site),
        tokens=tokens,
        error_type=verdict.error_type,
        message=message,
        location=location,
        suggestion=suggest(
            verdict.category,
            verdict.error_type,
            message,
            location=location,
            workdir=workdir,
            time_limit=time_limit,
            memory=memory,
        ),
    )


def _fit_excerpt(
    log: LogText, signals: list[Signal], max_tokens: int
) -> tuple[list[tuple[int, int]], str, int]:
    """Build the excerpt, redact it, and shrink the budget if redaction made it too long."""
    groups = group_signals(signals)
    budget = max_tokens
    for _ in range(4):
        spans, raw = build_excerpt(log, groups, budget)
        text = redact(raw)
        tokens = estimate_tokens(text)
        if tokens <= max_tokens:
            return spans, text, tokens
        budget = max(0, int(budget * max_tokens / tokens) - 8)
    return [], "", 0


def _summary(
    category: str,
    error_type: str | None,
    message: str | None,
    primary: Signal | None,
    location: Location | None,
    state: str | None,
    reason: str | None,
    time_limit: float | None,
    memory: int | None,
) -> str:
    where = f" at {os.path.basename(location.file)}:{location.line}" if location else ""
    if category == "time_limit" and time_limit:
        head = f"Time limit of {format_duration(time_limit)} reached"
    elif category == "out_of_memory" and memory and error_type is None:
        head = f"Out of memory (limit {format_bytes(memory)})"
        if primary is not None:
            head += f": {primary.text}"
    elif error_type:
        head = f"{error_type}: {message}" if message else error_type
    elif category in _CATEGORY_TEXT:
        label = _CATEGORY_TEXT[category]
        detail = primary.text if primary else (reason or state or "")
        if not detail:
            head = label
        elif label.split()[0].lower() in detail.lower():
            head = detail
        else:
            head = f"{label}: {detail}"
    elif primary is not None:
        head = primary.text
    else:
        head = "No failure signal found in the log"
        if state or reason:
            head += f" (scheduler: {' '.join(x for x in (state, reason) if x)})"
    head = " ".join(head.split())
    if len(head) + len(where) > SUMMARY_CHARS:  # the parts are redacted: never split a marker
        head = head[: cut_index(head, max(20, SUMMARY_CHARS - len(where) - 3))] + "..."
    return head + where


def _no_text(
    log: LogText,
    state: str | None,
    reason: str | None,
    time_limit: float | None,
    memory: int | None,
) -> Diagnosis:
    verdict = classify(None, [], state=state, reason=reason)
    if log.binary:
        summary = f"Binary content, not a text log ({format_bytes(log.size)})"
        note = "[binary content not shown]"
    else:
        summary = "Empty log (0 bytes)" if log.size == 0 else "Log has no text"
        note = ""
    if verdict.category != "unknown":
        summary += f"; scheduler says {' '.join(x for x in (state, reason) if x)}"
    return Diagnosis(
        path=log.path,
        category=verdict.category,
        summary=redact(summary),
        excerpt=Excerpt(text=note, spans=[]),
        signature=signature(verdict.category, None, summary.split(" (")[0], None),
        tokens=estimate_tokens(note),
        suggestion=suggest(verdict.category, None, None, time_limit=time_limit, memory=memory),
    )


def diagnose_without_log(
    path: str,
    problem: str,
    *,
    state: str | None = None,
    reason: str | None = None,
    time_limit: float | None = None,
    memory: int | None = None,
) -> Diagnosis:
    """A diagnosis from the scheduler's account alone, when the log cannot be read (never
    written, deleted, a submit that was refused): same taxonomy and signature scheme as any
    other, so 200 jobs that could not be submitted for one reason are one cause."""
    verdict = classify(None, [], state=state, reason=reason)
    told = reason or (state or "failed").lower()
    summary = redact(f"{state or 'FAILED'}: {told} ({problem})")
    problem = redact(problem)
    return Diagnosis(
        path=path,
        category=verdict.category,
        summary=summary,
        excerpt=Excerpt(text="", spans=[]),
        signature=signature(verdict.category, None, f"{state}: {told}", None),
        tokens=0,
        message=problem,
        suggestion=suggest(verdict.category, None, None, time_limit=time_limit, memory=memory),
    )


def _fallback(log: LogText, exc: Exception, max_tokens: int) -> Diagnosis:
    """The last lines of the log, when the engine itself failed."""
    spans, raw = build_excerpt(log, [], max_tokens)
    text = redact(raw)
    while estimate_tokens(text) > max_tokens and spans:
        spans, raw = build_excerpt(log, [], max(0, max_tokens // 2))
        text, max_tokens = redact(raw), max_tokens // 2
    summary = f"Diagnosis engine error ({type(exc).__name__}); the last lines of the log are shown"
    return Diagnosis(
        path=log.path,
        category="unknown",
        summary=summary,
        excerpt=Excerpt(text=text, spans=spans),
        signature=signature("unknown", None, None, None),
        tokens=estimate_tokens(text),
    )
