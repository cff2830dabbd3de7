"""What the user's message means while changes wait for them.

``approve`` / ``yes`` / ``y`` / ``ok`` approve everything shown; ``approve 1 3`` (or
``approve 1,3``) single changes by their number; ``reject [reason]`` / ``no`` reject everything
shown, ``reject 2 [reason]`` single ones; ``all`` may stand for the numbers. Any other message
rejects everything shown and is passed to the model as the user's feedback.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["Answer", "parse_answer"]

_APPROVE_RE = re.compile(
    r"^(?:approve|approved|yes|y|ok|okay)(?:\s+(?P<which>all|\d+(?:\s*,?\s*\d+)*))?\s*[.!]*$",
    re.IGNORECASE,
)
_REJECT_RE = re.compile(
    r"^(?:reject|rejected|no)\b(?:\s+(?P<which>all\b|\d+(?:\s*,?\s*\d+)*(?=\s|$|[:,.;!-])))?"
    r"[\s:,.;!-]*(?P<reason>.*)$",
    re.IGNORECASE | re.DOTALL,
)


@dataclass(frozen=True)
class Answer:
    kind: Literal["approve", "reject", "feedback"]
    #: The changes' numbers, or None for everything shown.
    numbers: frozenset[int] | None = None
    reason: str | None = None
    feedback: str | None = None


def _numbers(which: str | None) -> frozenset[int] | None:
    if not which or which.lower() == "all":
        return None
    return frozenset(int(n) for n in re.findall(r"\d+", which))


def parse_answer(text: str) -> Answer:
    stripped = text.strip()
    match = _APPROVE_RE.match(stripped)
    if match:
        return Answer("approve", _numbers(match["which"]))
    match = _REJECT_RE.match(stripped)
    if match:
        return Answer("reject", _numbers(match["which"]), reason=match["reason"].strip() or None)
    return Answer("feedback", feedback=stripped)
