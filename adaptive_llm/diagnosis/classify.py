"""Classify a failure into the taxonomy of ``model.CATEGORIES``.

Taxonomy: ``python_exception`` (an uncaught exception without a more specific class),
``missing_module`` (ModuleNotFoundError, ImportError "No module named"), ``missing_file``
(FileNotFoundError, "No such file or directory"), ``permission_denied``, ``out_of_memory``
(MemoryError, OOM kill, SLURM memory limit, a bare "Killed" = SIGKILL, usually the OOM killer),
``gpu_out_of_memory`` (CUDA out of memory), ``time_limit``, ``segfault`` (SIGSEGV/SIGBUS,
aborts with core dumps), ``syntax_error``, ``test_failure`` (pytest, unittest, jest, cargo,
go test, maven/gradle, rspec, ScalaTest...), ``compile_error``, ``dependency_install`` (pip,
npm, apt, maven resolution), ``network``, ``cancelled``, ``node_failure`` and ``unknown``.

Order of evidence: the scheduler's final state (it knows about time limits, cancellations and
node failures better than any log line), then the scheduler's reason text, then the primary
signal of the log. A specific exception type beats a generic rule (``FileNotFoundError`` ->
``missing_file`` even though it came from a traceback).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from adaptive_llm.diagnosis.rules import unquoted
from adaptive_llm.diagnosis.signals import Signal

#: Scheduler states (SLURM names) that decide the category on their own.
STATE_CATEGORIES: dict[str, str] = {
    "TIMEOUT": "time_limit",
    "DEADLINE": "time_limit",
    "OUT_OF_MEMORY": "out_of_memory",
    "OOM": "out_of_memory",
    "CANCELLED": "cancelled",
    "PREEMPTED": "cancelled",
    "NODE_FAIL": "node_failure",
    "LOST": "node_failure",
    "BOOT_FAIL": "node_failure",
}

#: Exception types (last dotted component) with a more specific category than an exception.
EXCEPTION_CATEGORIES: dict[str, str] = {
    "FileNotFoundError": "missing_file",
    "NotADirectoryError": "missing_file",
    "IsADirectoryError": "missing_file",
    "ModuleNotFoundError": "missing_module",
    "MemoryError": "out_of_memory",
    "FloatingPointError": "numerical_error",
    "PermissionError": "permission_denied",
    "SyntaxError": "syntax_error",
    "IndentationError": "syntax_error",
    "TabError": "syntax_error",
    "ConnectionError": "network",
    "ConnectionRefusedError": "network",
    "ConnectionResetError": "network",
    "ConnectionAbortedError": "network",
    "URLError": "network",
    "gaierror": "network",
    "ReadTimeout": "network",
    "ConnectTimeout": "network",
    "SSLError": "network",
    "MaxRetryError": "network",
    "NewConnectionError": "network",
}

_NUMERIC_TYPES = frozenset(
    {"ValueError", "RuntimeError", "ArithmeticError", "AssertionError", "ArgumentError"}
)
_GPU_WORDS = re.compile(
    r"\bCUDA error\b|\bNCCL error\b|\bcuDNN error\b|CUBLAS_STATUS_|CUDNN_STATUS_"
    r"|illegal memory access|no CUDA-capable device|CUDA driver version is insufficient"
)
_NAN_WORDS = re.compile(r"\b(?:[Nn]a[Nn]s?|[Ii]nf(?:s|inity)?|non-finite|not finite)\b")
#: Messages of a value that could not be read (parsed, converted): whatever the value was
#: (``'nan'``, ``inf`` after the colon), the failure is the input's, not a computation's.
_PARSE_FAILURE = re.compile(
    r"(?i)invalid literal|could not convert string|(?:could not|cannot|unable to|failed to)"
    r" (?:parse|interpret)|invalid (?:\w+ )?(?:value|choice|input|syntax|format|argument)s?"
    r"(?! encountered)|is not a valid|does not match format"
)

_REASON_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)time ?limit|timed out|timeout"), "time_limit"),
    (re.compile(r"(?i)out of memory|\boom|memory limit"), "out_of_memory"),  # not "bloom"
    (re.compile(r"(?i)SIGSEGV|SIGBUS|signal 11\b|signal 7\b|segmentation"), "segfault"),
    (re.compile(r"(?i)cancel|preempt"), "cancelled"),
    (re.compile(r"(?i)node fail|NODE_FAIL"), "node_failure"),
)


#: A test runner's own failure lines (a summary, a failed test's header) score at least this.
_TEST_RUNNER_SCORE = 76


@dataclass(frozen=True)
class Verdict:
    category: str
    error_type: str | None
    message: str | None


def classify(
    primary: Signal | None,
    signals: list[Signal],
    *,
    state: str | None = None,
    reason: str | None = None,
) -> Verdict:
    """The category, exception type and message of the failure."""
    error_type = primary.error_type if primary else None
    message = (primary.message if primary and primary.error_type else None) or (
        primary.text if primary else None
    )
    text_category = _category_from_signal(primary, signals)
    state_key = (state or "").strip().upper().split(" ")[0]
    category = STATE_CATEGORIES.get(state_key)
    if category == "cancelled" and text_category == "time_limit":
        category = "time_limit"  # SLURM reports "CANCELLED ... DUE TO TIME LIMIT" sometimes
    if category is None and reason and (primary is None or primary.score < 100):
        said = unquoted(reason)  # "could not trigger DAG 'timeout_probe': ..." is no timeout
        for pattern, cat in _REASON_RULES:
            if pattern.search(said):
                category = cat
                break
    if category is None:
        category = text_category
        if category == "python_exception" and any(
            s.category == "test_failure" and s.score >= _TEST_RUNNER_SCORE for s in signals
        ):  # an exception inside a test: the test runner's failure is what the job reports
            category = "test_failure"
    if state_key == "COMPLETED" and primary is None:
        category = "unknown"
    return Verdict(category, error_type, message)


def _category_from_signal(primary: Signal | None, signals: list[Signal]) -> str:
    if primary is None:
        return "unknown"
    specific = exception_category(primary.error_type, primary.message)
    if specific is not None:
        return specific
    if primary.category is not None:
        return primary.category
    if primary.error_type is not None and primary.error_type != "panic":
        return "python_exception"  # a Rust or Go panic is not one: its neighbours may tell
    # A generic signal (an error word, an exit status): borrow the category of the strongest
    # categorised signal near it, else of the strongest categorised signal anywhere.
    near = [s for s in signals if s.category and abs(s.line - primary.line) <= 50]
    pool = near or [s for s in signals if s.category]
    if pool:
        best = max(pool, key=lambda s: (s.score, s.line))
        return best.category or "unknown"
    return "unknown"


def exception_category(error_type: str | None, message: str | None) -> str | None:
    """The category implied by an exception type and the words of its message: the values it
    quotes are left out (``invalid literal for int(): 'nan'`` is a parse failure whatever the
    value, ``Function 'X' returned nan values`` a numerical error whatever ``X``)."""
    if not error_type:
        return None
    short = error_type.rsplit(".", 1)[-1]
    msg = unquoted(message or "")
    if short == "OutOfMemoryError" or "out of memory" in msg.lower():
        return "gpu_out_of_memory" if "cuda" in (error_type + msg).lower() else "out_of_memory"
    if _GPU_WORDS.search(msg):
        return "gpu_error"  # RuntimeError: CUDA error: an illegal memory access was encountered
    if short == "ImportError" and "No module named" in msg:
        return "missing_module"
    if short == "OSError" and "No such file or directory" in msg:
        return "missing_file"
    if short == "OSError" and "Permission denied" in msg:
        return "permission_denied"
    if short in _NUMERIC_TYPES and _NAN_WORDS.search(msg) and not _PARSE_FAILURE.search(msg):
        return "numerical_error"  # "Input contains NaN", "returned nan values", "loss is inf"
    if "Cannot find module '" in msg or short in ("LoadError", "ClassNotFoundException"):
        return "missing_module"
    return EXCEPTION_CATEGORIES.get(short)
