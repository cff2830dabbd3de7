"""One segment (whole lines): every rule, on the text and on each line decoded, until nothing
changes; the spans found are merged and masked."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from .assign import _assign_spans, _more_assign_spans
from .escapes import _Decoded
from .headers import _header_spans
from .keys import _pem_spans
from .patterns import _MAX_MARKER, MARKER_PREFIX, Span, _Lazy, _marker
from .shapes import _aws_secret_spans, _token_spans

_RULES: tuple[Callable[[str, list[Span]], None], ...] = (
    _token_spans,
    _aws_secret_spans,
    _header_spans,
    _assign_spans,
    _more_assign_spans,
)


def _spans(s: str, *, decoded: bool = False) -> list[Span]:
    spans: list[Span] = []
    if decoded:  # in the text itself, the whole-text pass has read every private key
        _pem_spans(s, spans)
    for rule in _RULES:
        rule(s, spans)
    return spans


_ESCAPE_CHARS_RE = _Lazy(r"[\\%&]")


def _redact_segment(s: str) -> str:
    """All rules over ``s`` (one or more whole lines) until nothing changes: a marker can be
    the context of another secret (``<token>--user u:p``), and ``redact`` is idempotent."""
    out = _redact_once(s)
    for _ in range(_MAX_ROUNDS):
        if out == s:
            break
        s, out = out, _redact_once(out)
    return out


#: Rounds of the rules over a changed segment (one more finds nothing in practice).
_MAX_ROUNDS = 3


def _redact_once(s: str) -> str:
    """All rules over ``s`` (one or more whole lines), and over each line decoded."""
    spans = _spans(s)
    if _ESCAPE_CHARS_RE.search(s):
        start = 0
        for line in s.split("\n"):
            if _ESCAPE_CHARS_RE.search(line):
                decoded = _Decoded(line)
                # Every round: a value a round reveals may be split by the next (%2B -> + -> " ").
                for level, view in enumerate(decoded.views, 1):
                    for a, b, kind, prio in _spans(view, decoded=True):
                        if a < b:
                            oa, ob = decoded.original(a, b, level)
                            spans.append((start + oa, start + ob, kind, prio))
            start += len(line) + 1
    if not spans:
        return s
    return _apply(s, spans)


def _apply(s: str, spans: Iterable[Span]) -> str:
    """``s`` with each span (overlapping ones merged; the kind of the strongest rule) masked."""
    merged: list[Span] = []
    for a, b, kind, prio in sorted(spans, key=lambda x: (x[0], x[3])):
        if a >= b or s[a:b] == _marker(kind):
            continue
        if merged and a < merged[-1][1]:
            la, lb, lkind, lprio = merged[-1]
            merged[-1] = (la, max(lb, b), *((kind, prio) if prio < lprio else (lkind, lprio)))
        else:
            merged.append((a, b, kind, prio))
    out: list[str] = []
    pos = 0
    for a, b, kind, _ in merged:
        a, b = _widen_to_markers(s, a, b)
        a = max(a, pos)
        if a >= b:
            continue
        out.append(s[pos:a])
        part = s[a:b]
        if part.startswith(MARKER_PREFIX) and part.endswith("]") and part.count("]") == 1:
            out.append(part)  # already a marker
        else:
            out.append(_marker(kind) + "\n" * part.count("\n"))
        pos = b
    out.append(s[pos:])
    return "".join(out)


def _widen_to_markers(s: str, a: int, b: int) -> tuple[int, int]:
    """Never replace part of an existing marker: take all of it."""
    start = s.rfind(MARKER_PREFIX, max(0, a - _MAX_MARKER), a + 1)
    if start != -1 and start < a:
        close = s.find("]", start)
        if close != -1 and close >= a:
            a = start
    start = s.rfind(MARKER_PREFIX, max(0, b - _MAX_MARKER), b)
    if start != -1:
        close = s.find("]", start)
        if close != -1 and close >= b:
            b = close + 1
    return a, b
