"""Weak keys: keys that merely *contain* a secret word (``TOKEN_V2``, ``DB_PASSWORD_PROD``)
have their value masked only when it is high-entropy."""

from __future__ import annotations

import re

from .patterns import MARKER_PREFIX, Span, _after_marker, _Lazy
from .values import _high_entropy
from .words import _NAMED_KEY_RE, _WEAK_KEY_RE, _WEAK_WORDS

_WEAK_RE = _Lazy(
    r"(?=[A-Za-z_-])(?<![\w.-])-{0,2}(?P<key>[A-Za-z_][\w.-]{0,100}+)(?P<kq>\\*[\"'])?[ \t]*"
    r"(?P<sep>[:=])(?![=/])[ \t]*(?:\\*[\"'])?(?P<value>[A-Za-z0-9+/_.~-]{16,}+={0,3})",
    re.ASCII,
)

_LONG_VALUE_RE = _Lazy(r"[A-Za-z0-9+/_.~-]{16}")

_WEAK_RE_B = _Lazy(_WEAK_RE.pattern.encode(), re.ASCII)
_WEAK_FLAG_RE = _Lazy(
    r"(?=-)(?<![\w-])--?(?P<key>[A-Za-z][\w.-]{0,100}+)[ \t]+"
    r"(?P<value>[A-Za-z0-9+/_.~-]{16,}+={0,3})",
    re.ASCII,
)
_WEAK_FLAG_RE_B = _Lazy(_WEAK_FLAG_RE.pattern.encode(), re.ASCII)
_WEAK_ENV_RE = _Lazy(
    r"(?m)(?:^[ \t]*(?i:ENV|ARG)|(?<=[\s:\]>])(?:ENV|ARG))[ \t]+(?P<key>[A-Za-z_][\w.-]{0,100}+)"
    r"[ \t]+(?P<value>[A-Za-z0-9+/_.~-]{16,}+={0,3})",
    re.ASCII,
)
_WEAK_ENV_TAIL_RE_B = _Lazy(rb"[ \t]+([A-Za-z0-9+/_.~-]{16,}+={0,3})")
_WEAK_TAB_RE = _Lazy(
    r"(?<![\w.-])(?P<key>[A-Za-z_][\w.-]{0,100}+)\t++(?P<value>[A-Za-z0-9+/_.~-]{16,}+={0,3})",
    re.ASCII,
)
_WEAK_XML_RE = _Lazy(
    r"<(?P<key>[A-Za-z_][\w:.-]{0,100}+)>(?P<value>[A-Za-z0-9+/_.~-]{16,}+={0,3})</(?P=key)>",
    re.ASCII,
)
_WEAK_XML_TAIL_RE_B = _Lazy(rb"([A-Za-z0-9+/_.~-]{16,}+={0,3})</")


def _weak_span(m: re.Match[str], key_re: _Lazy[str], spans: list[Span]) -> bool:
    """Mask the value of a key holding a secret word if it is high-entropy (and whole)."""
    if m.string.startswith(MARKER_PREFIX, m.end("value")) or _after_marker(m.string, m.start()):
        return False  # next to a marker: judged with what the marker replaced, before
    key = m["key"]
    if key_re.search(key) and not _NAMED_KEY_RE.search(key) and _high_entropy(m["value"]):
        spans.append((m.start("value"), m.end("value"), "secret", 6))
        return True
    return False


def _weak_spans(s: str, low: str, docker: bool, spans: list[Span]) -> None:
    """High-entropy values of keys that merely contain a secret word (``low``: ``s``
    lowercased; ``docker``: whether ``s`` may hold Dockerfile ``ENV``/``ARG`` lines)."""
    weak = any(w in low for w in _WEAK_WORDS) and _LONG_VALUE_RE.search(s) is not None
    weak_rules = (
        (_WEAK_RE, _WEAK_KEY_RE),
        (_WEAK_FLAG_RE, _WEAK_KEY_RE),
        (_WEAK_ENV_RE if docker else None, _WEAK_KEY_RE),
        (_WEAK_XML_RE, _WEAK_KEY_RE),
        (_WEAK_TAB_RE if "\t" in s else None, _WEAK_KEY_RE),
    )
    for rx, key_re in weak_rules:
        if not weak or rx is None:
            continue
        wm = rx.search(s)
        while wm is not None:
            # A value may hold the next key=value ("a=b=c"): unless masked, look on from it.
            nxt = wm.end("value") if _weak_span(wm, key_re, spans) else wm.start("value")
            wm = rx.search(s, max(nxt, wm.start() + 1))
