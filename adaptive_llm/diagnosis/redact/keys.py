"""Private key blocks: masked in the whole text before anything else (with real newlines,
``\\n`` escapes, lists of lines, cut blocks), and found again in decoded views."""

from __future__ import annotations

import re

from .patterns import MARKER_PREFIX, Span, _Lazy, _marker

_PEM_LABEL = r"-----{}[ +](?:[A-Z0-9]{{1,12}}[ +]){{0,3}}PRIVATE[ +]KEY(?:[ +]BLOCK)?-----"
_PEM_RE = _Lazy(
    "(?P<begin>" + _PEM_LABEL.format("BEGIN") + ")"
    r"(?P<body>(?:[A-Za-z0-9+/=\s\\:,.'\"]|-(?!-)|\[REDACTED:private_key\])*+)"
    "(?P<end>" + _PEM_LABEL.format("END") + ")?"
)
_PEM_END_RE = _Lazy(_PEM_LABEL.format("END"))
# Without an END line (a truncated excerpt): only the lines that look like key material.
_PEM_TRUNCATED_BODY_RE = _Lazy(
    r"(?:(?:\r?\n|\\+n)?[ \t]*(?:[A-Za-z0-9+/=]{8,}+|[A-Z][A-Za-z-]{1,20}: [^\r\n\\]*+)[ \t]*"
    r"(?=\r?\n|\\+n|\r?\Z))++"
)
# One piece of key material before an END line whose BEGIN line is missing.
_PEM_PIECE_RE = _Lazy(
    r"[ \t'\",]*(?:[A-Za-z0-9+/=]+|[A-Z][A-Za-z-]{1,20}: [^\r\n\\]*)?[ \t\r'\",]*"
)  # one line of a key; quotes and commas: a list of lines (['MIIE...\\n', '...'])
_PEM_SPLIT_RE = _Lazy(r"(?<!\\)\\++n|\n")
#: How far back from an END line key material is looked for.
_PEM_MAX_BODY = 64 << 10


def _pem_body(body: str) -> str:
    newlines = body.count("\n")
    if newlines == 0:
        return _marker("private_key")
    return "\n" + _marker("private_key") + "\n" * (newlines - 1)


def _sub_pem(m: re.Match[str]) -> str:
    body = m["body"]
    if m["end"] is not None:
        if _is_marker_body(body):
            return m[0]
        return m["begin"] + _pem_body(body) + m["end"]
    key = _PEM_TRUNCATED_BODY_RE.match(m.string, m.end("begin"))
    if key is None:
        return m[0]
    end = min(key.end(), m.end()) - m.end("begin")
    if _is_marker_body(body[:end]):
        return m[0]
    return m["begin"] + _pem_body(body[:end]) + body[end:]


def _is_marker_body(body: str) -> bool:
    return _PEM_SPLIT_RE.sub("", body).strip() in ("", _marker("private_key"))


def _redact_headless_pem(text: str) -> str:
    """Key material before an END line whose BEGIN line is not in ``text`` (a cut region)."""
    out: list[str] = []
    pos = 0
    for m in _PEM_END_RE.finditer(text):
        start = _headless_start(text, max(pos, m.start() - _PEM_MAX_BODY), m.start())
        if start >= m.start():
            continue
        body = text[start : m.start()]
        cut = _trailing_separators(body)
        masked, keep = body[:cut], body[cut:]
        out.append(text[pos:start])
        out.append(_marker("private_key") + "\n" * masked.count("\n") + keep)
        pos = m.start()
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


def _trailing_separators(body: str) -> int:
    """Where the newlines, ``\\n`` escapes and blanks at the end of ``body`` start."""
    i = len(body)
    while i > 0:
        if body[i - 1] in " \t\r\n":
            i -= 1
        elif body[i - 1] == "n" and i >= 2 and body[i - 2] == "\\":
            i -= 2
            while i > 0 and body[i - 1] == "\\":
                i -= 1
        else:
            break
    return i


_PEM_TAIL_RE = _Lazy(r"[A-Za-z0-9+/=]{16,}[ \t\r]*\Z")


def _headless_start(text: str, lo: int, end: int) -> int:
    """Start of the key material that runs up to ``end`` (``end`` when there is none)."""
    bounds: list[tuple[int, int]] = []
    prev = lo
    for sep in _PEM_SPLIT_RE.finditer(text, lo, end):
        bounds.append((prev, sep.start()))
        prev = sep.end()
    bounds.append((prev, end))
    start, material = end, False
    for a, b in reversed(bounds):
        piece = text[a:b]
        if MARKER_PREFIX in piece or "-----" in piece:
            break
        if _PEM_PIECE_RE.fullmatch(piece):
            material = material or bool(piece.strip())
            start = a
            continue
        tail = _PEM_TAIL_RE.search(piece)  # the end of a string's opening: "key": "MIIE...
        if tail is not None:
            start, material = a + tail.start(), True
        break
    return start if material else end


def _pem_spans(s: str, spans: list[Span]) -> None:
    """Private keys the whole-text pass could not read (percent-encoded, in a decoded view)."""
    if "-----" not in s:
        return
    for m in _PEM_RE.finditer(s):
        if m["end"] is not None:
            body_end = m.start("end")
        else:
            key = _PEM_TRUNCATED_BODY_RE.match(s, m.end("begin"))
            if key is None:
                continue
            body_end = min(key.end(), m.end())
        body_start = m.end("begin")
        if _is_marker_body(s[body_start:body_end]):
            continue
        lead = _PEM_LEAD_RE.match(s, body_start, body_end)
        spans.append((lead.end() if lead else body_start, body_end, "private_key", 0))


_PEM_LEAD_RE = _Lazy(r"\r?\n|\\++n")
