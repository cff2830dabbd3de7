"""Reading a model's answer and scoring it against a reference (``adaptive-llm compare``).

An answer is read leniently: the first JSON object in the text (whole, in a fenced block, or
within prose), else a Python dict's repr (small models write one); ``"line": "12"`` and
``"file": "a.py:12"`` count. Text with no object is unreadable: a miss, never an error.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["Answer", "Reference", "Score", "parse_answer", "same_file", "score"]


@dataclass(frozen=True)
class Reference:
    """What an answer is scored against: a label, or the offline engine's diagnosis."""

    category: str | None
    file: str | None = None
    line: int | None = None
    key_terms: tuple[str, ...] = ()
    #: ``"label"`` or ``"offline"``.
    source: str = "label"


@dataclass(frozen=True)
class Answer:
    """A model's (or the offline engine's) answer, as far as it could be read."""

    text: str
    parsed: bool
    category: str | None = None
    file: str | None = None
    line: int | None = None


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)
_FILE_LINE = re.compile(r"^(?P<file>.+?):(?P<line>\d+)(?::\d+)?$")


def parse_answer(text: str) -> Answer:
    """The answer in ``text``: the first JSON object in it (whole, fenced, or within prose)."""
    data = _first_object(text)
    if data is None:
        return Answer(text=text, parsed=False)
    fields = {str(key).strip().lower(): value for key, value in data.items()}
    category = fields.get("category")
    file = fields.get("file") or fields.get("path") or fields.get("location")
    line = _as_int(fields.get("line"))
    if isinstance(file, str) and line is None and (match := _FILE_LINE.match(file.strip())):
        file, line = match["file"], int(match["line"])
    return Answer(
        text=text,
        parsed=True,
        category=_category(category) if isinstance(category, str) else None,
        file=file.strip() if isinstance(file, str) and file.strip() else None,
        line=line,
    )


def _first_object(text: str) -> dict[str, Any] | None:
    candidates = [text.strip(), *(m.group(1).strip() for m in _FENCE.finditer(text))]
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    decoder = json.JSONDecoder()
    starts = [m.start() for m in re.finditer(r"\{", text)][:MAX_OBJECT_STARTS]
    for start in starts:
        try:
            value, _ = decoder.raw_decode(text, start)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    for start in starts:  # a Python dict's repr, as small models like to write
        candidate = _balanced(text, start)
        if candidate is None:
            continue
        try:
            value = ast.literal_eval(candidate)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        if isinstance(value, dict):
            return value
    return None


#: Where an object may start, at most (an answer is bounded by the output limit anyway).
MAX_OBJECT_STARTS = 50
#: The longest candidate read as a Python literal.
MAX_LITERAL_CHARS = 20_000


def _balanced(text: str, start: int) -> str | None:
    """The ``{...}`` that starts at ``start``, braces inside quotes skipped; None if open."""
    depth = 0
    quote: str | None = None
    escaped = False
    for i in range(start, min(len(text), start + MAX_LITERAL_CHARS)):
        ch = text[i]
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[start : i + 1]
    return None


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _category(text: str) -> str:
    return re.sub(r"[\s-]+", "_", text.strip().lower())


def _words(text: str) -> str:
    return " ".join(re.sub(r"[_\-]+", " ", text.lower()).split())


def same_file(answer: str | None, reference: str | None) -> bool:
    """Whether two paths name one file: equal, or one ends with the other at a ``/``."""
    if not answer or not reference:
        return False
    a = answer.replace("\\", "/").strip().removeprefix("./")
    b = reference.replace("\\", "/").strip().removeprefix("./")
    return a == b or a.endswith("/" + b) or b.endswith("/" + a)


@dataclass(frozen=True)
class Score:
    """How an answer agrees with its reference (None: nothing to compare)."""

    category_ok: bool | None
    line_ok: bool | None
    terms_found: int
    terms_total: int


def score(answer: Answer, reference: Reference) -> Score:
    """The agreement of ``answer`` with ``reference``: the same category, the same file and
    line, and how many key terms the answer's text holds (case, ``_`` and ``-`` aside)."""
    words = _words(answer.text)
    return Score(
        category_ok=(
            answer.category == reference.category if reference.category is not None else None
        ),
        line_ok=(
            answer.line == reference.line and same_file(answer.file, reference.file)
            if reference.line is not None
            else None
        ),
        terms_found=sum(_words(term) in words for term in reference.key_terms),
        terms_total=len(reference.key_terms),
    )
