"""What the rules share: patterns compiled on first use, the marker, and a found span."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any, AnyStr, Generic

MARKER_PREFIX = "[REDACTED:"
#: Longest marker text (``[REDACTED:`` + the longest kind + ``]``).
_MAX_MARKER = 48

#: A found secret: start, end (in the text searched), kind, rule priority (lower wins).
Span = tuple[int, int, str, int]


class _Lazy(Generic[AnyStr]):
    """A regular expression compiled when first used: importing the package stays cheap, and
    a log without a candidate line never compiles the rules. After the first use, its methods
    are the compiled pattern's own (no extra call)."""

    match: Callable[..., re.Match[AnyStr] | None]
    search: Callable[..., re.Match[AnyStr] | None]
    fullmatch: Callable[..., re.Match[AnyStr] | None]
    finditer: Callable[..., Iterator[re.Match[AnyStr]]]
    findall: Callable[..., list[Any]]
    sub: Callable[..., AnyStr]
    split: Callable[..., list[Any]]

    def __init__(self, pattern: AnyStr, flags: int = 0) -> None:
        self.pattern: AnyStr = pattern
        self.flags = flags

    def __getattr__(self, name: str) -> Any:
        rx = re.compile(self.pattern, self.flags)
        for method in ("match", "search", "fullmatch", "finditer", "findall", "sub", "split"):
            setattr(self, method, getattr(rx, method))
        return getattr(rx, name)


def _marker(kind: str) -> str:
    return f"{MARKER_PREFIX}{kind}]"


def cut_index(text: str, index: int) -> int:
    """``index``, moved back to the start of a marker it would split (cuts never split one)."""
    index = max(0, min(len(text), index))
    start = text.rfind(MARKER_PREFIX, max(0, index - _MAX_MARKER), index)
    if start != -1:
        close = text.find("]", start)
        if close == -1 or close >= index:
            return start
    return index


def _after_marker(s: str, pos: int) -> bool:
    """Whether ``pos`` follows a marker (which stands for text that was part of a word)."""
    return (
        pos > 0
        and s[pos - 1] == "]"
        and s.rfind(MARKER_PREFIX, max(0, pos - _MAX_MARKER), pos) != -1
    )
