"""Escapes: a decoded view of a line (round after round), with a map back to the original."""

from __future__ import annotations

from bisect import bisect_right

from .patterns import _Lazy

_ESCAPE_RE = _Lazy(
    r"\\(?:x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|[nrt\"'\\/])|%[0-9A-Fa-f]{2}"
    r"|&(?:quot|apos|amp|lt|gt|#34|#39|#x22|#x27);"
)
#: In percent-encoded text ``+`` is a blank too (a query string).
_ESCAPE_PLUS_RE = _Lazy(_ESCAPE_RE.pattern + r"|\+")
_PERCENT_RE = _Lazy(r"%[0-9A-Fa-f]{2}")
_ENTITIES = {
    "&quot;": '"',
    "&apos;": "'",
    "&amp;": "&",
    "&lt;": "<",
    "&gt;": ">",
    "&#34;": '"',
    "&#39;": "'",
    "&#x22;": '"',
    "&#x27;": "'",
}
_SIMPLE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "'": "'", "\\": "\\", "/": "/"}
#: Rounds of decoding (doubly escaped JSON inside a percent-encoded query needs three).
_DECODE_ROUNDS = 4
#: A round with more escapes than this is not decoded (binary data, not a secret's escapes).
_MAX_ESCAPES = 100_000


def _unescape(token: str) -> str:
    if token == "+":
        return " "
    if token[0] == "%":
        return chr(int(token[1:], 16))
    if token[0] == "&":
        return _ENTITIES[token]
    if token[1] in "xu":
        return chr(int(token[2:], 16))
    return _SIMPLE_ESCAPES[token[1]]


class _Decoded:
    """``text`` decoded once, twice, ... (``views``), and where each character came from."""

    def __init__(self, text: str) -> None:
        self.views: list[str] = []
        # One map per round: (decoded starts, original starts, original lengths, is escape).
        self.rounds: list[tuple[list[int], list[int], list[int], list[bool]]] = []
        for _ in range(_DECODE_ROUNDS):
            decoded = self._round(self.views[-1] if self.views else text)
            if decoded is None:
                break
            self.views.append(decoded)

    def _round(self, text: str) -> str | None:
        dstarts: list[int] = []
        ostarts: list[int] = []
        olens: list[int] = []
        escape: list[bool] = []
        parts: list[str] = []
        pos = dpos = 0
        escapes = _ESCAPE_PLUS_RE if _PERCENT_RE.search(text) else _ESCAPE_RE
        for n, m in enumerate(escapes.finditer(text)):
            if n >= _MAX_ESCAPES:
                return None
            if m.start() > pos:
                dstarts.append(dpos)
                ostarts.append(pos)
                olens.append(m.start() - pos)
                escape.append(False)
                parts.append(text[pos : m.start()])
                dpos += m.start() - pos
            dstarts.append(dpos)
            ostarts.append(m.start())
            olens.append(m.end() - m.start())
            escape.append(True)
            parts.append(_unescape(m[0]))
            dpos += 1
            pos = m.end()
        if not escape:
            return None
        if pos < len(text):
            dstarts.append(dpos)
            ostarts.append(pos)
            olens.append(len(text) - pos)
            escape.append(False)
            parts.append(text[pos:])
        self.rounds.append((dstarts, ostarts, olens, escape))
        return "".join(parts)

    def original(self, start: int, end: int, level: int) -> tuple[int, int]:
        """The original range that ``[start, end)`` of ``views[level - 1]`` came from."""
        for dstarts, ostarts, olens, escape in reversed(self.rounds[:level]):
            i = bisect_right(dstarts, start) - 1
            new_start = ostarts[i] + (0 if escape[i] else start - dstarts[i])
            j = bisect_right(dstarts, end - 1) - 1
            new_end = ostarts[j] + (olens[j] if escape[j] else end - dstarts[j])
            start, end = new_start, new_end
        return start, end
