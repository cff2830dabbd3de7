"""The fast pass: which lines (or windows of long lines) may hold a secret."""

from __future__ import annotations

import re

from .patterns import _Lazy
from .shapes import (
    _B64_PREFIXES,
    _BEFORE_ESCAPED_RUN,
    _DOT_PREFIXES,
    _RUN_PREFIX2,
    _RUN_PREFIXES,
    _TOKEN_RE_B,
)
from .values import _high_entropy
from .weak import _WEAK_ENV_TAIL_RE_B, _WEAK_FLAG_RE_B, _WEAK_RE_B, _WEAK_XML_TAIL_RE_B
from .words import _WEAK_KEY, _WORD

#: Lines longer than this are handled in windows around each candidate.
_SEGMENT_MAX = 16 << 10
_WINDOW = 8 << 10
_KEY_NEEDLES = (
    b"pass", b"pwd", b"token", b"secret", b"key", b"auth", b"cookie", b"sig", b"cred", b"sess",
)  # fmt: skip
_RUN_TABLE = bytes(
    1 if (48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122 or c in b"_-") else 0 for c in range(256)
)
_RUN = b"\x01" * 20
_RUN_START = b"\x00" + _RUN
#: Longest key name looked at (as in ``_WEAK_RE``).
_MAX_KEY = 100
_IDENT_TAIL_RE = _Lazy(rb"[a-z0-9_.-]{0,%d}+" % _MAX_KEY)
_SEPARATOR_RE = _Lazy(
    rb"(?:\\*+[\"'`]|&quot;|&#34;|&#x22;|&#39;|&apos;|%2[27]|\\+[ux]00(?:22|27)|\\+x2[27])?"
    rb"(?:[ \t+]|%20|\\+[ux]0*20)*(?:[=:>]|%3[ad]|\\+[ux]0*3[ad]|&gt;)"
)
_IDENT_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789_.-")
#: Key names the rules mask any value of: ending with a secret word, headers.
_GATE_STRONG_RE = _Lazy(
    (
        "(?:" + _WORD + r")\Z|(?<![\w-])(?:(?i:set-)?(?i:cookie2?)"
        r"|(?i:(?:proxy-)?authorization))\Z"
    ).encode(),
    re.ASCII,
)
_WEAK_KEY_RE_B = _Lazy(_WEAK_KEY.encode(), re.ASCII)
_ENCODED_PRIVATE = (b"private ", b"private%20", b"private+", b"private\\x20", b"private\\u0020")
_CURL_RE = _Lazy(rb"-u(?:ser)?(?:[ \t=]+\\*[\"']?)?[^\s:\"']*:")
_BEARER_GATE_RE = _Lazy(rb"bearer(?:[ \t]|%20)")
_BLOCK_INDICATORS = ("|", ">", "|-", ">-", "|+", ">+")


def _candidates(text: str) -> list[tuple[int, int]]:
    """Character ranges (whole lines, or windows of long lines) that may hold a secret."""
    raw = text.encode("ascii", "replace")  # one byte per character: positions agree
    low = raw.lower()
    hits: list[int] = []
    for needle in _KEY_NEEDLES:
        p = low.find(needle)
        covered = -1  # hits before this are in the line (or window) of a confirmed hit
        while p != -1:
            ok, end = _confirm_key(raw, low, p, len(needle))
            if ok:
                hits.append(p)
                covered = _line_or_window_end(low, p)
            else:
                covered = end  # the rest of this key name: the same answer
            p = low.find(needle, max(p + len(needle), covered))
    for needle in (b"//", b"%2f%2f", b"%252f%252f", b"\\/\\/"):  # scheme://u:p@host, escaped
        p = low.find(needle)
        ats = [-1, -1, -1]  # the next "@", "%40" and "%2540" at or after p
        while p != -1:
            if low[p - 1 : p] == b":" or low.endswith(_ENCODED_COLONS, max(0, p - 6), p):
                for i, at_sign in enumerate((b"@", b"%40", b"%2540")):
                    if ats[i] != -2 and ats[i] < p:
                        found = low.find(at_sign, p)
                        ats[i] = -2 if found == -1 else found
                at = min((a for a in ats if a >= 0), default=-1)
                if at != -1 and at - p <= _WINDOW and low.find(b"\n", p, at) == -1:
                    hits.append(p)
            p = low.find(needle, p + len(needle))
    for needle, check in ((b"bearer", _BEARER_GATE_RE), (b"-u", _CURL_RE)):
        p = low.find(needle)
        while p != -1:
            if check.match(low, p):
                hits.append(p)
                p = low.find(needle, _line_or_window_end(low, p))
            else:
                p = low.find(needle, p + 1)
    p = low.find(b"hooks.slack")
    while p != -1:
        hits.append(p)
        p = low.find(b"hooks.slack", _line_or_window_end(low, p))
    for needle in (b"mysql", b"mariadb"):  # mysql -uroot -pSECRET: a -p glued to a value
        p = low.find(needle)
        while p != -1:
            end = _line_or_window_end(low, p)
            if _MYSQL_P_GATE_RE.search(low, p, end):
                hits.append(p)
            p = low.find(needle, end)
    for needle in (b"code=", b"code%3d"):  # ?code=, &code=, &amp;code=, #code=, %3Fcode%3D
        p = low.find(needle)
        while p != -1:
            if p > 0 and (low[p - 1] in b"?&#;" or low.endswith(_ENCODED_QUERY, 0, p)):
                hits.append(p)
            p = low.find(needle, p + 5)
    p = low.find(b"basic")
    while p != -1:  # Basic <base64>
        if _BASIC_GATE_RE.match(low, p):
            hits.append(p)
        p = low.find(b"basic", p + 5)
    _run_hits(raw, hits)
    if not hits:
        return []
    return _segments(text, sorted(hits))


def _line_or_window_end(low: bytes, p: int) -> int:
    """Where the line of ``p`` ends, or ``p + _WINDOW`` if sooner: a segment around ``p``
    covers what a later hit before this point would add."""
    nl = low.find(b"\n", p, p + _WINDOW)
    return p + _WINDOW if nl == -1 else nl


def _confirm_key(raw: bytes, low: bytes, p: int, n: int) -> tuple[bool, int]:
    """Whether the key word at ``p`` is part of a secret-looking key name followed by a value
    (a separator, or a blank after a flag, an XML tag, a Dockerfile ``ENV``), and where the
    rest of its key name ends when that name is short enough to answer for all of it."""
    tail = _IDENT_TAIL_RE.match(low, p + n)
    e = tail.end() if tail else p + n
    skip = e if e - p - n < _MAX_KEY else p + n
    if (
        n == 3
        and (low.endswith(_ENCODED_PRIVATE, max(0, p - 14), p) or low.startswith(b"key-----", p))
        and _ESCAPED_LINE_RE.match(low, p)
    ):
        return True, skip  # a private key that only a decoded view reads
    if e >= len(low):
        return False, skip
    c = low[e]
    sep = _SEPARATOR_RE.match(low, e) if c in _SEPARATOR_START else None
    escaped = sep is not None and (b"%" in sep[0] or b"\\" in sep[0] or b"&" in sep[0])
    if sep is None and (c in _ESCAPE_START or _ESCAPE_NEAR_RE.match(low, e)):
        escaped = True  # an escaped quote or separator (&#x27;: , %253D, ...)
    separated = sep is not None or escaped
    if (
        sep is not None
        and not escaped
        and low[sep.end() - 1] in b"=:"
        and not low.endswith(_STRONG_SUFFIXES, max(0, p - 20), e)
        and not _BLOCK_AFTER_RE_B.match(low, sep.end())
        and not _LONG_VALUE_AT_RE_B.match(low, sep.end())
        and not _ESCAPE_CHARS_B_RE.search(low, sep.end(), sep.end() + 24)
    ):
        return False, skip  # token_count=5: only the high-entropy rule, and a short value
    blank = not separated and (c in (32, 9, 43) or _BLANK_RE.match(low, e) is not None)
    escaped = escaped or (blank and c not in (32, 9))  # +, %20: a blank once decoded
    if not separated and not blank:
        return False, skip
    s, lo = p, max(0, p - _MAX_KEY)
    while s > lo and low[s - 1] in _IDENT_BYTES:
        s -= 1
    s = _after_escape(low, s, p)
    env = blank and _ENV_BEFORE_RE.search(low, max(0, s - 12), s) is not None
    dot_dash = low.rfind(b".-", s, p)
    dash = s if low[s : s + 1] == b"-" else dot_dash + 1 if dot_dash != -1 else -1  # x.--flag
    if blank and not env and dash < 0 and c != 9 and not (s > 0 and low[s - 1] == 60):
        return False, skip  # a blank after a word of prose ("tests passed here")
    ident = raw[s:e]
    if low.endswith(_STRONG_SUFFIXES, s, e) and _GATE_STRONG_RE.search(ident):
        return True, skip  # key=value, --password value, <password attr="x">, ENV KEY value
    # Only the high-entropy rule acts on this key: it needs a long value.
    tab = blank and not env and c == 9 and dash < 0
    flag = blank and not env and not tab
    if _WEAK_KEY_RE_B.search(ident) is None or (flag and dash < 0):
        return False, skip
    near = raw[max(0, s - 6) : e + 96]
    if escaped or b"\\" in near or b"%" in near or b"&" in near:
        return True, skip  # escaped: decoded, the key and value may differ
    xml_end = sep.end() if sep is not None and sep[0].endswith(b">") else -1
    if env or tab or xml_end != -1:  # ENV KEY value, key<TAB>value, <key>value</key>
        tail_re, at = (_WEAK_ENV_TAIL_RE_B, e) if env or tab else (_WEAK_XML_TAIL_RE_B, xml_end)
        tail_m = tail_re.match(raw, at)
        return tail_m is not None and _high_entropy(tail_m[1].decode("ascii")), skip
    if sep is not None and _BLOCK_AFTER_RE_B.match(low, sep.end()):
        return True, skip  # key: |  (a YAML block scalar below)
    m = _WEAK_FLAG_RE_B.match(raw, dash) if flag else _WEAK_RE_B.match(raw, s)
    if m is None or _WEAK_KEY_RE_B.search(m["key"]) is None:
        return False, skip
    return _high_entropy(m["value"].decode("ascii")), skip


#: Bytes a separator may start with (see ``_SEPARATOR_RE``), and escapes.
_SEPARATOR_START = frozenset(b"\\\"'`&%\t +=:>")
_ESCAPE_START = frozenset(b"%&\\")
#: Every key name the rules mask any value of ends with one of these (lowercase).
_STRONG_SUFFIXES = (
    *(b"key", b"secret", b"token", b"password", b"passwd", b"passphrase", b"pwd", b"pass"),
    *(b"auth", b"id", b"sig", b"signature", b"credential", b"base", b"cookie", b"cookie2"),
    b"authorization",
)


def _after_escape(low: bytes, s: int, p: int) -> int:
    """The start of a key name that follows an escape (``%22key``, ``\\nkey``, ``\\x22key``)."""
    if s == 0:
        return s
    before = low[s - 1]
    if before == 37 and _HEX2_RE.match(low, s):  # %22password, %2522password, %5Cnpassword
        shift = _percent_shift(low, s)
        if s + shift <= p:
            return s + shift
    if before == 92:  # \npassword, \x22password, \u0022password
        shift = {110: 1, 114: 1, 116: 1, 120: 3, 117: 5}.get(low[s], 0)
        if s + shift <= p:
            return s + shift
    return s


_HEX2_RE = _Lazy(rb"[0-9a-f]{2}")
_ENCODED_QUERY = (b"%3f", b"%26", b"%23", b"%253f", b"%2526")
_MYSQL_P_GATE_RE = _Lazy(rb"-p[^\s'\"]")  # no boundary: %20-pX
_BASIC_GATE_RE = _Lazy(rb"basic(?:[ \t+]|%20)+[a-z0-9+/%]{12}")


def _percent_shift(low: bytes, s: int) -> int:
    """Length of the rest of a percent escape at ``s`` (after its ``%``)."""
    if low.startswith(b"25", s) and _HEX2_RE.match(low, s + 2):
        return 4  # %25XX: encoded twice
    if low.startswith(b"5c", s) and low[s + 2 : s + 3] in (b"n", b"r", b"t"):
        return 3  # %5Cn: an escaped newline, percent-encoded
    return 2


_ENCODED_COLONS = (b"%3a", b"%253a", b"\\u003a", b"\\x3a", b"&#58;")
_BLOCK_AFTER_RE_B = _Lazy(rb"[ \t]*[|>]")
_LONG_VALUE_AT_RE_B = _Lazy(rb"[ \t]*(?:\\*[\"'])?[a-z0-9+/_.~-]{16}")
_ESCAPE_CHARS_B_RE = _Lazy(rb"[\\%&]")
_ESCAPED_LINE_RE = _Lazy(rb"[^\n]{0,8192}?[%\\&]")
_BLANK_RE = _Lazy(rb"[ \t+]|%20|\\+[ux]0*20")  # + is a blank in a query string
_ESCAPE_NEAR_RE = _Lazy(rb"[^\n]{0,3}?[%&\\]")
_ENV_BEFORE_RE = _Lazy(rb"(?:env|arg)(?:[ \t]|%20)+\Z")


def _run_hits(raw: bytes, hits: list[int]) -> None:
    """Starts of runs of 20+ token characters with a token's prefix."""
    mask = raw.translate(_RUN_TABLE)
    if mask.startswith(_RUN) and _token_start(raw, 0):
        hits.append(0)
    p = mask.find(_RUN_START)  # a non-token character, then 20 token characters
    prefixes, escapes = _RUN_PREFIX2, _BEFORE_ESCAPED_RUN
    while p != -1:
        q = p + 1
        if (raw[q : q + 2] in prefixes or raw[p] in escapes) and _token_start(raw, q):
            hits.append(q)
        p = mask.find(_RUN_START, p + 21)


def _token_start(raw: bytes, p: int) -> bool:
    # Base64 bodies may end at a "+" that a decoded view reads as a blank: no check for them.
    if (
        raw[p : p + 2] in _RUN_PREFIX2
        and raw.startswith(_RUN_PREFIXES, p)
        and (raw.startswith(_B64_PREFIXES, p) or _TOKEN_RE_B.match(raw, p) is not None)
    ):
        return True
    if p == 0 or raw[p - 1] not in _BEFORE_ESCAPED_RUN:
        return False
    before = raw[p - 1 : p]
    if before == b"\\":  # \nghp_..., \x3dghp_..., \u003dghp_...
        c = raw[p : p + 1]
        shift = 1 if c in (b"n", b"r", b"t") else 3 if c == b"x" else 5 if c == b"u" else 0
        return bool(shift) and raw.startswith(_RUN_PREFIXES, p + shift)
    if before == b"%":  # %3Dghp_..., %253Dghp_... (encoded twice), %5Cnghp_ (\n)
        shift = _percent_shift(raw[p : p + 4].lower(), 0)
        if raw.startswith(b"AA", p + shift) and raw[p : p + shift].lower().endswith(b"3a"):
            return True  # 123456789%3AAA...: a Telegram bot token
        return raw.startswith(_RUN_PREFIXES, p + shift)
    if before == b".":  # SG.x.y, ya29.x, hvs.x, and a JWT's payload
        return raw.endswith(_DOT_PREFIXES, max(0, p - 6), p) or raw.startswith(b"ey", p)
    if before == b":":  # a Telegram bot token: 123456789:AA...
        return raw.startswith(b"AA", p) and raw[p - 2 : p - 1].isdigit()
    return False


def _segments(text: str, hits: list[int]) -> list[tuple[int, int]]:
    """Merged ranges of the lines (or windows of long lines) holding ``hits``."""
    out: list[tuple[int, int]] = []
    line_start = line_end = -1
    for p in hits:
        if p >= line_end:
            line_start = text.rfind("\n", 0, p) + 1
            nl = text.find("\n", p)
            line_end = len(text) if nl == -1 else nl
        a, b = line_start, line_end
        if b - a > _SEGMENT_MAX:
            if out and out[-1][0] <= p and p + _WINDOW <= out[-1][1]:
                continue  # inside the window of an earlier hit, with its context
            a, b = _window(text, a, b, p)
        elif text[a:b].rstrip().endswith(_BLOCK_INDICATORS):
            b = _block_end(text, a, b)
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _window(text: str, line_start: int, line_end: int, p: int) -> tuple[int, int]:
    """A window of a long line around ``p``, ending at whitespace or a separator if possible."""
    lo = max(line_start, p - _WINDOW)
    hi = min(line_end, p + 2 * _WINDOW)
    if lo > line_start:
        cut = max(text.rfind(c, max(line_start, lo - _WINDOW), lo) for c in " \t,;&")
        lo = cut + 1 if cut != -1 else max(line_start, lo - _WINDOW)
    if hi < line_end:
        cuts = [text.find(c, hi, min(line_end, hi + _WINDOW)) for c in " \t,;&"]
        found = [c for c in cuts if c != -1]
        hi = min(found) if found else min(line_end, hi + _WINDOW)
    return lo, hi


def _block_end(text: str, line_start: int, line_end: int) -> int:
    """End of a YAML block scalar's body below the key line."""
    line = text[line_start:line_end]
    indent = len(line) - len(line.lstrip(" \t"))
    end = line_end
    for i in range(500):
        if end >= len(text):
            break
        nxt = text.find("\n", end + 1)
        nxt = len(text) if nxt == -1 else nxt
        body = text[end + 1 : nxt]
        if body.strip() and len(body) - len(body.lstrip(" \t")) <= indent:
            if i == 0:
                end = nxt  # one line no deeper than the key (as assign._BLOCK_SCALAR_RE reads)
            break
        end = nxt
    return end
