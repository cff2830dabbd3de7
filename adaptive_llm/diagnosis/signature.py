"""A stable signature of a failure: one bug in 1,000 jobs gives one value, different bugs differ.

The signature hashes the category, the exception type, the message with everything that
varies between runs of the same bug masked (quoted values, numbers, paths, hex, UUIDs and other
ids, timestamps, addresses) and the culprit location as ``basename:line``. The location is what
tells two bugs with the same message apart; masking is what makes repeated runs agree.

A culprit in a library's code (no frame of the job's workdir in the stack) is not enough: two
call sites of one library function fail at the same line. The signature then holds the library
file's name without its line (another release of the library moves it) and the failure's call
site: the stack's frames outside libraries (``train.py:12``, wherever the job ran), else the
chain of library functions.
"""

from __future__ import annotations

import hashlib
import os
import re

from adaptive_llm.diagnosis.model import Location
from adaptive_llm.diagnosis.rules import QUOTED

_MASKS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"\b\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?(?:Z|[+-]\d\d:?\d\d)?"),
        "<ts>",
    ),
    (re.compile(r"\b\d\d:\d\d:\d\d(?:[.,]\d+)?\b"), "<ts>"),
    (re.compile(r"\b[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\b"), "<uuid>"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "<hex>"),
    (re.compile(r"\b(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{12,}\b"), "<hex>"),
    (QUOTED, "<str>"),  # not from an apostrophe on: "can't open 'x'" masks 'x' alone
    (re.compile(r"(?:[A-Za-z]:)?(?:[\w.~-]*[/\\])+[\w.-]+"), "<path>"),
    (re.compile(r"\b\d+(?:\.\d+)?\b|\b(?i:nan|inf|infinity)\b"), "<n>"),  # nan, inf: numbers
    (re.compile(r"\b[A-Za-z_-]*\d[\w-]*\b"), "<id>"),
    (re.compile(r"\s+"), " "),
)


def normalize_message(message: str | None) -> str:
    """``message`` with run-specific values masked (``KeyError: 'lr'`` -> ``KeyError: <str>``)."""
    text = (message or "")[:500]
    for pattern, repl in _MASKS:
        text = pattern.sub(repl, text)
    return text.strip()


def signature(
    category: str,
    error_type: str | None,
    message: str | None,
    location: Location | None,
    site: tuple[str, ...] = (),
) -> str:
    """16 hex digits identifying the failure (blake2b of its normalized parts).

    ``site``: the call site of a failure located in a library's code (see
    ``location.call_site``); the library file's line is then left out.
    """
    where = f"{os.path.basename(location.file)}:{location.line}" if location else ""
    if location and site:
        where = "\x1e".join([os.path.basename(location.file), *site])
    parts = ["v1", category, error_type or "", normalize_message(message), where]
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).hexdigest()
