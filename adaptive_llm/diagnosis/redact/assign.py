"""Values assigned to secret-named keys: ``KEY=value``, ``"key": "value"``, ``--key value``,
``key<TAB>value``, ``<key>v</key>``, ``ENV KEY value``, YAML block scalars, connection
strings; then the weak keys (:mod:`.weak`)."""

from __future__ import annotations

import re

from .patterns import MARKER_PREFIX, Span, _after_marker, _Lazy
from .values import _CODE_RE, _high_entropy, _keep_value, _secret_like
from .weak import _weak_spans
from .words import _WEAK_KEY_RE, _WORD, _word_kind

_UQ = (
    r"(?P<uq>(?:[^\s\"'`,;&(\[{<>|\\]|\\(?![nrt\"'\\]))"
    r"(?:[^\s\"'`,;&<>|\\]|\\(?![nrt\"'\\]))*+)"
)
_VALUE = (
    r"(?:\"(?P<dq>(?:[^\"\\\r\n]|\\[^\r\n])*+)(?:\"|(?=[\r\n])|\Z)"
    r"|'(?P<sq>[^'\r\n]*+)(?:'|(?=[\r\n])|\Z)"
    r"|" + _UQ + ")"
)
_ASSIGN_RE = _Lazy(
    _WORD + r"(?P<kq>[\"'])?[ \t]*(?P<sep>=>|[:=])(?!=|//|(?<=:):)[ \t]*" + _VALUE, re.ASCII
)
_TAB_RE = _Lazy(_WORD + r"\t++" + _VALUE, re.ASCII)  # password<TAB>value (a table)
_FLAG_RE = _Lazy(
    r"(?=-)(?<![\w-])--?(?:[A-Za-z0-9]+[_-])*[A-Za-z0-9]{0,20}?"
    + _WORD
    + r"[ \t]+(?![-=:])"
    + _VALUE,
    re.ASCII,
)
_COOKIE_FLAG_RE = _Lazy(r"(?<![\w-])--cookie(?:=|[ \t]+)" + _VALUE, re.ASCII)
_XML_RE = _Lazy(
    r"<(?P<tag>[\w:.-]*?" + _WORD + r")(?:[ \t][^<>]*)?>(?P<value>[^<\r\n]+)</(?P=tag)>", re.ASCII
)
_DOCKER_ENV_RE = _Lazy(
    r"(?m)(?:^[ \t]*(?i:ENV|ARG)|(?<=[\s:\]>])(?:ENV|ARG))[ \t]+[A-Za-z0-9_.-]*?"
    + _WORD
    + r"[ \t]+(?P<value>[^\s=][^\r\n]*)",
    re.ASCII,
)
_BLOCK_SCALAR_RE = _Lazy(
    r"(?m)^(?P<indent>[ \t]*)(?:[^\r\n]*?[ \t])?[\"']?(?P<key>[A-Za-z0-9_.-]{1,100}+)[\"']?[ \t]*:"
    r"[ \t]*[|>][+-]?[0-9]?[ \t]*(?:#[^\r\n]*)?\r?\n"
    r"(?P<body>(?:(?:[ \t]*+\r?\n)*+(?P=indent)[ \t]+\S[^\r\n]*+(?:\r?\n|\r?\Z))++"
    # not valid YAML, but a log may print it so: one line no deeper than the key
    r"|(?P=indent)\S[^\r\n]*+(?:\r?\n|\r?\Z))",
    re.ASCII,
)
_WORD_END_RE = _Lazy("(?:" + _WORD + r")\Z", re.ASCII)
_DOCKER_HINT_RE = _Lazy(r"(?i)(?:env|arg)[ \t]")
_BLOCK_HINT_RE = _Lazy(r":[ \t]*[|>]")
_CONN_VALUE_RE = _Lazy(
    r"(?:^|(?<=[;\"'\s]))(?P<word>(?i:password|pwd|accountkey|sharedaccesskey"
    r"|sharedaccesssignature))[ \t]*=[ \t]*(?P<value>[^;\r\n\"']+)"
    r"(?=;|[\"']|[ \t]*(?:\r?\n|\r?\Z))",
    re.ASCII,
)
_CONN_CONTEXT_RE = _Lazy(
    r"(?i)(?:server|data source|host|endpoint|accountname|defaultendpointsprotocol|database"
    r"|initial catalog|user id|uid|username)[ \t]*=[^;\r\n]*;"
)

_LINE_KEY_PREFIX_RE = _Lazy(
    r"[ \t]*(?:[-*>][ \t]+)?(?:(?i:export|set|env)[ \t]+)?[\"']?[\w.-]*", re.ASCII
)
_MAX_KEY_PREFIX = 200
_STOPWORDS = frozenset(
    (
        *("is", "was", "are", "be", "must", "should", "not", "or", "and", "option", "flag"),
        *("argument", "arguments", "required", "missing", "expected", "given", "the", "a"),
        *("an", "to", "with", "without", "for", "of", "in", "on"),
    )
)


def _value_group(m: re.Match[str]) -> str:
    return "dq" if m["dq"] is not None else "sq" if m["sq"] is not None else "uq"


_CLOSERS = {")": "(", "]": "[", "}": "{"}
_FUNCTION_ARITY_RE = _Lazy(r"[a-z_]\w*/\d{1,3}")
_MORE_WORDS_RE = _Lazy(r"[ \t]+[A-Za-z]")
_CALL_RE = _Lazy(r"[A-Za-z_][\w.]*[(\[{].*")


def _unquoted(m: re.Match[str]) -> tuple[str, int] | None:
    """The unquoted value without the closing brackets of the code around it (``f(k=v)``)
    and its end; ``None`` for code (``get_token()``, ``os.environ['X']``)."""
    value, end = m["uq"], m.end("uq")
    if ("(" in value or "[" in value or "{" in value) and _CALL_RE.fullmatch(value):
        return None
    while (
        value
        and value[-1] in _CLOSERS
        and value.count(value[-1]) > value.count(_CLOSERS[value[-1]])
    ):
        value, end = value[:-1], end - 1
    cut = _unbalanced_closer(value) if len(value) > 3 else None
    member = m.start() > 0 and m.string[m.start() - 1] == "."
    if cut is not None and cut <= 2 and member and _CODE_RE.fullmatch(value, 0, cut):
        # Minified code goes on after a bracket it did not open (``e.token=i}else``): a one-
        # or two-letter name assigned to a member is a variable. (Anything else is masked
        # whole: a password may hold a "}".)
        return None
    return value, end


def _unbalanced_closer(value: str) -> int | None:
    """Where ``value`` first closes a bracket it did not open, if anywhere before its end."""
    if not any(c in value for c in _CLOSERS):
        return None
    depth = dict.fromkeys(_CLOSERS.values(), 0)
    for i, c in enumerate(value):
        if c in depth:
            depth[c] += 1
        elif c in _CLOSERS:
            opener = _CLOSERS[c]
            if depth[opener] == 0:
                return i if i > 0 else None
            depth[opener] -= 1
    return None


def _value_of(m: re.Match[str]) -> tuple[str, int, int, bool] | None:
    """The value of an ``_ASSIGN_RE``/``_FLAG_RE`` match: text, start, end, quoted."""
    group = _value_group(m)
    if group != "uq":
        return m[group], m.start(group), m.end(group), True
    trimmed = _unquoted(m)
    if trimmed is None:
        return None
    return trimmed[0], m.start("uq"), trimmed[1], False


def _prose(m: re.Match[str], value: str, start: int, end: int) -> bool:
    """``key: value`` unquoted that is not a YAML or header line (see the package's policy)."""
    secret_like = _secret_like(value)
    if start == m.end("sep") and (not secret_like or _FUNCTION_ARITY_RE.fullmatch(value)):
        return True  # key:value glued, code rather than YAML (elixir_erl_pass:translate/2)
    if secret_like:
        return False
    s = m.string
    if _MORE_WORDS_RE.match(s, end):
        return True  # "rabbit_password: 2 unresolved calls"
    key_start = m.start()
    lo = max(0, key_start - _MAX_KEY_PREFIX)
    line_start = s.rfind("\n", lo, key_start) + 1
    if line_start == 0 and lo > 0:
        return True  # the key is far from the start of its line
    return _LINE_KEY_PREFIX_RE.fullmatch(s, line_start, key_start) is None  # "Invalid token: x"


def _assign_spans(s: str, spans: list[Span]) -> None:
    for m in _ASSIGN_RE.finditer(s):
        found = _value_of(m)
        if found is None:
            continue
        value, start, end, quoted = found
        if not quoted and m["kq"] is None and m["sep"] == ":" and _prose(m, value, start, end):
            continue
        if m["word"] == "Token" and s.endswith("PublicKey", 0, m.start("word")):
            continue  # .NET's PublicKeyToken=b77a5c561934e089: a hash of a public key
        if _keep_value(m["word"], value, quoted):
            continue
        spans.append((start, end, _word_kind(m["word"]), 5))
    for m in _TAB_RE.finditer(s) if "\t" in s else ():
        found = _value_of(m)
        if found is not None and not _keep_value(m["word"], found[0], found[3]):
            spans.append((found[1], found[2], _word_kind(m["word"]), 5))
    for m in _FLAG_RE.finditer(s):
        if _after_marker(s, m.start()):
            continue  # the flag's dash followed what the marker replaced (a word)
        found = _value_of(m)
        if found is None:
            continue
        value, start, end, quoted = found
        if _keep_value(m["word"], value, quoted) or (not quoted and value.lower() in _STOPWORDS):
            continue
        spans.append((start, end, _word_kind(m["word"]), 5))


def _more_assign_spans(s: str, spans: list[Span]) -> None:
    """The rarer layouts (``--cookie``, XML, ``ENV``, YAML block scalars, connection
    strings), then the weak keys."""
    low = s.lower()
    if "--cookie" in s:
        for m in _COOKIE_FLAG_RE.finditer(s):
            found = _value_of(m)
            if found is not None and not _keep_value("cookie", found[0], found[3]):
                spans.append((found[1], found[2], "cookie", 4))
    if "</" in s:
        for m in _XML_RE.finditer(s):
            if not _keep_value(m["word"], m["value"], True):
                spans.append((m.start("value"), m.end("value"), _word_kind(m["word"]), 4))
    docker = "env" in low or "arg" in low
    for m in _DOCKER_ENV_RE.finditer(s) if docker and _DOCKER_HINT_RE.search(s) else ():
        value = m["value"].rstrip()
        if not _keep_value(m["word"], value, False):
            spans.append(
                (m.start("value"), m.start("value") + len(value), _word_kind(m["word"]), 4)
            )
    for m in _BLOCK_SCALAR_RE.finditer(s) if _BLOCK_HINT_RE.search(s) else ():
        body = m["body"]
        if not body.strip() or MARKER_PREFIX in body:
            continue
        strong = _WORD_END_RE.search(m["key"])
        if strong is None and not (_WEAK_KEY_RE.search(m["key"]) and _high_entropy(body.strip())):
            continue
        end = m.start("body") + len(body.rstrip("\r\n"))
        spans.append((m.start("body"), end, _word_kind(strong["word"]) if strong else "secret", 4))
    if ";" in s and _CONN_CONTEXT_RE.search(s):
        for m in _CONN_VALUE_RE.finditer(s):
            line_end = s.find("\n", m.end())
            line = s[s.rfind("\n", 0, m.start()) + 1 : len(s) if line_end == -1 else line_end]
            if not _CONN_CONTEXT_RE.search(line):
                continue  # a connection string is one line
            value = m["value"].rstrip()
            if not _keep_value(m["word"], value, True):
                end = m.start("value") + len(value)
                spans.append((m.start("value"), end, _word_kind(m["word"]), 4))
    _weak_spans(s, low, docker, spans)
