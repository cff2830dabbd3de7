"""Redact secrets from log text before it is shown to a user or sent to an LLM provider.

Every secret found is replaced by a marker ``[REDACTED:<kind>]``; the text around it (key
names, URL schemes, users and hosts, quotes, PEM header lines) is kept, and the number of
``\\n`` characters never changes, so excerpt line numbers still refer to the original file.
``redact`` is idempotent: ``redact(redact(x)) == redact(x)``.

Order relative to cutting: redact first, then cut. The reader redacts each region of the log
it read as a whole (a whole file, or the tail and the regions around anchor hits), *before*
overlong lines are shortened, before the excerpt picks its lines and before anything is cut to
a budget (excerpt lines, summary, message, suggestion); the end of a line too long to read is
redacted with the 64 KiB of the line before it, then cut. The source lines around the culprit
are redacted with 200 lines around them, then cut out. :func:`cut_index` moves a cut off a
marker, so that no cut splits one.

What is redacted, and the ``kind`` used in the marker:

* Private key blocks (``-----BEGIN [RSA|EC|DSA|OPENSSH|ENCRYPTED|PGP ...] PRIVATE KEY-----``)
  with real newlines, ``\\n``/``\\\\n`` escapes (JSON, one-line reprs), in a Python list
  of lines, percent-encoded, or as a base64 blob (``LS0tLS1CRUdJTi...``, a Kubernetes secret);
  also cut ones: no END line, or an END line whose BEGIN was not read. The body becomes
  ``private_key``; BEGIN/END lines stay.
* Tokens recognised by their shape: ``aws_access_key`` (AKIA/ASIA...), ``aws_secret_key``
  (a 40-character mixed-case base64 string on a line that holds an AWS access key id),
  ``github_token``, ``gitlab_token``, ``slack_token``, ``slack_webhook``, ``anthropic_key``,
  ``openai_key``, ``stripe_key`` (sk_/rk_/pk_ live/test), ``stripe_webhook_secret`` (whsec_),
  ``sendgrid_key`` (SG.x.y), ``huggingface_token``, ``google_api_key`` (AIza),
  ``google_oauth_token`` (ya29.), ``google_client_secret`` (GOCSPX-), ``npm_token``,
  ``pypi_token``, ``docker_token``, ``digitalocean_token``, ``shopify_token``,
  ``databricks_token``, ``vault_token`` (hvs./hvb./hvr.), ``grafana_token``, ``sentry_token``,
  ``supabase_token``, ``linear_key``, ``postman_key``, ``age_secret_key``, ``xai_key``,
  ``groq_key``, ``replicate_token``, ``telegram_bot_token``, ``jwt`` (eyJ....eyJ....sig) and
  ``encoded_credentials`` (base64 of JSON holding a password, token or private key: Docker
  configs, service-account files).
* Headers and commands: ``Authorization:`` (``bearer_token``, ``basic_auth``,
  ``authorization``), a bare ``Bearer <token>`` or ``Basic <base64 of user:password>``,
  ``curl -u user:pass`` (``basic_auth``), ``Cookie:``/``Set-Cookie:`` values (``cookie``;
  names and attributes stay), ``mysql -pSECRET`` (``password``), an OAuth ``?code=``.
* Credentials in URLs: ``scheme://user:pass@host`` becomes ``scheme://user:[REDACTED:
  url_password]@host``; the password may hold ``/``, ``@`` and ``:`` (postgres://, mysql://,
  mongodb+srv://, redis://, amqp://...): it runs to the last ``@`` of the URL.
* Values of secret-named keys, in the layouts ``KEY=value``, ``KEY: value``,
  ``"key": "value"``, ``'key': 'value'``, ``:key => 'v'``, ``export KEY=...``,
  ``--key=value``, ``--key value``, ``?key=value&``, ``key<TAB>value``, ``<key>v</key>``,
  Dockerfile ``ENV KEY value`` (also in ``docker build`` output), YAML block scalars
  (``password: |`` and the indented lines below), connection strings (``Password=a b;``,
  ``AccountKey=...;``, ``SharedAccessKey=...;``, SAS ``sig=``, S3 ``X-Amz-Signature=``,
  ``X-Amz-Credential=``, ``X-Amz-Security-Token=``). The key must *end* with a whole secret
  word: password/passwd/passphrase (also glued: ``PGPASSWORD``), pwd, ``_pass``
  (``SMTP_PASS``), token and its compounds, secret, client_secret, secret_key,
  secret_key_base, api_key, private_key(_id), account_key, shared_access_key/signature,
  encryption_key, signing_key, master_key, subscription_key, aws_secret_access_key, auth,
  sig/signature, credential, session_id (``JSESSIONID``, ``PHPSESSID``); prefixes are
  allowed (``DB_PASSWORD``, ``x-api-key``, ``X-Amz-Signature``, camelCase ``dbPassword``).
* High-entropy values (16+ characters, letters and digits, not hex, not a hash after a name,
  not a path, UUID, number or identifier made of words) of keys that merely *contain*
  pass/pwd/secret/token/key/auth/cred/sig/cookie/sess: ``TOKEN_V2``, ``DB_PASSWORD_PROD``,
  ``--webhook-key-2 X``, ``sessioncookie``, ``<token_v2>`` (kind ``secret``).
* Escapes do not hide a secret: a line that holds ``\\``, ``%`` or ``&`` is also read
  decoded (``\\n``, ``\\"``, ``\\\\``, ``\\xNN``, ``\\uNNNN``, ``%2F``/``%3D``/``%2B``,
  ``+`` in percent-encoded text, ``&quot;``), round after round (doubly escaped JSON, a URL
  inside a query string, Python bytes reprs), and what is found in any round is masked in the
  original, escapes included.

False-positive policy (diagnostics must survive):

* Keys that merely contain a secret word keep short or structured values: ``max_tokens=4000``,
  ``token_count=5``, ``tokenizer=gpt2``, ``password_file=/path``, ``auth_method=scram-sha-256``,
  ``PASS: test/unit/x``, ``cache_key=<sha256>``, ``key: maven-<hash>``.
* Values that cannot be secrets are kept: empty values, ``None``/``null``/``true``/type names,
  masks (``***``, as CI runners print them), references (``$VAR``, ``${VAR}``, an env-var
  name like ``GITHUB_TOKEN``), code (``token = get_token()``, ``api_key=api_key``,
  ``os.environ['X']``, ``mod_pass:fun/2``), punctuation, ``auth: ok``, comparisons
  (``token == x``), ``PWD=/a/path``, ``--token is required`` (stop words), .NET's
  ``PublicKeyToken=<hex>``; ``sig``/``signature``/``credential`` need a random-looking value
  of 16+ characters; ``pass`` needs a prefix (``PASS: x`` and ``pass=12`` of test summaries
  stay).
* ``key: value`` unquoted in prose (``Invalid token: Not enough segments``, ``password: 2
  unresolved calls``) is redacted only when the value looks like a secret (a digit, a symbol
  or mixed case); at the start of a line (YAML, headers) it is always redacted.
* No generic entropy detection: git SHAs, sha256 digests, UUIDs, docker digests, paths,
  base64 test data, times and numbers are never redacted unless assigned to a secret-named key.

Speed: a fast pass over the whole text (C-level searches for the key words, ``//``, ``-u``,
``Bearer``, ``Basic``, ``code=``, ``mysql``; a ``translate`` mask for runs of 20+ token
characters with a known prefix) picks the lines that may hold a secret, and a key word only
counts when a key name ends with it (or holds it and a long value follows); only those lines
go through the rules, with the same result as running the rules on every line (tested).
Time is linear; lines over 16 KiB are handled in windows around each candidate.

Known gaps: secrets split across lines (except private keys and YAML block scalars), unquoted
values containing blanks outside connection strings, values over 8 KiB inside lines over
16 KiB, PuTTY ``.ppk`` keys, ``.netrc`` lines, rounds of escapes past four, secrets without a
recognisable shape or key name.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any, AnyStr, Generic

__all__ = ["MARKER_PREFIX", "cut_index", "redact"]

MARKER_PREFIX = "[REDACTED:"
#: Longest marker text (``[REDACTED:`` + the longest kind + ``]``).
_MAX_MARKER = 48

#: A found secret: start, end (in the text searched), kind, rule priority (lower wins).
Span = tuple[int, int, str, int]


class _Lazy(Generic[AnyStr]):
    """A regular expression compiled when first used: importing this module stays cheap, and
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


# --- private key blocks (whole text, before anything else) ---------------------------------

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


# --- escapes: a decoded view of a line, with a map back to the original --------------------

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


# --- tokens recognised by their shape ------------------------------------------------------

_DIGIT_RE = _Lazy(r"[0-9]")
_UPPER_RE = _Lazy(r"[A-Z]")
_LOWER_RE = _Lazy(r"[a-z]")


def _random_looking(s: str, *, need_digit: bool = False) -> bool:
    """Mixed case or digits, as generated keys are; identifiers and words are not."""
    digit = _DIGIT_RE.search(s) is not None
    upper = _UPPER_RE.search(s) is not None
    lower = _LOWER_RE.search(s) is not None
    if need_digit:
        return digit and (upper or lower)
    return (upper and lower) or (digit and (upper or lower))


# (kind, pattern, whether the match must look random). One combined regex; every pattern
# starts a run of 20+ characters of [A-Za-z0-9_-] (or a dotted prefix) with a prefix listed in
# _RUN_PREFIXES / _DOT_PREFIXES, which is what the fast pass looks for.
_TOKEN_RULES: tuple[tuple[str, str, bool], ...] = (
    ("aws_access_key", r"(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])", False),
    ("github_token", r"(?:gh[pousr]_[A-Za-z0-9]{30,255}+|github_pat_\w{40,255}+)", True),
    ("gitlab_token", r"gl(?:pat|dt|rt|ptt|ft|soat|cbt|imt|agent)-[\w-]{20,}+(?:\.[\w-]+)*+", True),
    ("grafana_token", r"gl(?:c|sa)_[\w-]{16}[\w=+/-]{14,}+", True),
    ("slack_token", r"(?:xox[abposre]|xapp-\d)-[A-Za-z0-9-]{15,}+", True),
    ("anthropic_key", r"sk-ant-[\w-]{20,}+", True),
    ("openai_key", r"sk-(?:proj-|svcacct-|admin-)?[\w-]{20,}+", True),
    ("stripe_key", r"(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}+", True),
    ("stripe_webhook_secret", r"whsec_[A-Za-z0-9]{24,}+", True),
    ("sendgrid_key", r"SG\.[\w-]{20,}+\.[\w-]{20,}+", False),
    ("huggingface_token", r"hf_[A-Za-z0-9]{30,}+(?![\w-])", True),
    ("google_api_key", r"AIza[\w-]{35}(?![\w-])", False),
    ("google_oauth_token", r"ya29\.[\w-]{20,}+", True),
    ("google_client_secret", r"GOCSPX-[\w-]{20,}+", False),
    ("npm_token", r"npm_[A-Za-z0-9]{36}(?![\w-])", True),
    ("pypi_token", r"pypi-AgEIcHlwaS5vcmc[\w-]{50,}+", False),
    ("docker_token", r"dckr_(?:pat|oat)_[\w-]{20,}+", True),
    ("digitalocean_token", r"do[por]_v1_[a-f0-9]{64}(?![\w-])", False),
    ("shopify_token", r"shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}(?![\w-])", False),
    ("databricks_token", r"dapi[a-f0-9]{32}(?:-\d)?(?![\w-])", True),
    ("vault_token", r"hv[sbr]\.[\w-]{24,}+", True),
    ("sentry_token", r"sntr[ysu]_[\w-]{14}[\w+/=-]{16,}+", True),
    ("supabase_token", r"sbp_[a-f0-9]{40}(?![\w-])", True),
    ("linear_key", r"lin_(?:api|oauth)_[A-Za-z0-9]{32,}+", True),
    ("postman_key", r"PMAK-[a-f0-9]{24}-[a-f0-9]{34}(?![\w-])", False),
    ("age_secret_key", r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}", False),
    ("xai_key", r"xai-[A-Za-z0-9]{40,}+", True),
    ("groq_key", r"gsk_[A-Za-z0-9]{40,}+", True),
    ("replicate_token", r"r8_[A-Za-z0-9]{37}(?![\w-])", True),
    ("telegram_bot_token", r"(?<=[0-9]:)AA[\w-]{33}(?![\w-])", True),
    ("jwt", r"eyJ(?:[\w-]{17,}+\.ey[\w-]{3,}+|[\w-]{5,}+\.ey[\w-]{18,}+)\.[\w-]*+", False),
    ("encoded_credentials", r"eyJ[A-Za-z0-9]{17}[A-Za-z0-9+/]{13,}+={0,2}(?![\w.-])", False),
    ("private_key", r"LS0tLS1CRUdJTi[A-Za-z0-9]{6}[A-Za-z0-9+/]{14,}+={0,2}", False),
)
_TOKEN_RE = _Lazy(
    r"(?=[AGLPSadeghlnprswxy])(?<![A-Za-z0-9_-])(?:"
    + "|".join(f"(?P<{kind}>{pattern})" for kind, pattern, _ in _TOKEN_RULES)
    + ")",
    re.ASCII,
)
_TOKEN_RE_B = _Lazy(_TOKEN_RE.pattern.encode(), re.ASCII)
_TOKEN_CHECKED = frozenset(kind for kind, _, check in _TOKEN_RULES if check)
#: First two characters of a run of 20+ token characters that may start a token.
_RUN_PREFIXES = tuple(
    b"AKIA ASIA ghp_ gho_ ghu_ ghs_ ghr_ github_pat_ glpat- gldt- glrt- glptt- glft- glsoat-"
    b" glcbt- glimt- glagent- glc_ glsa_ xox xapp- sk- sk_live_ sk_test_ rk_live_ rk_test_"
    b" pk_live_ pk_test_ whsec_ hf_ AIza GOCSPX- npm_ pypi- dckr_ dop_v1_ doo_v1_ dor_v1_"
    b" shpat_ shpss_ shpca_ shppa_ dapi sntry_ sntru_ sntrs_ sbp_ lin_api_ lin_oauth_ PMAK-"
    b" AGE-SECRET-KEY-1 xai- gsk_ r8_ eyJ LS0tLS1CRUdJTi".split()
)
#: Tokens whose prefix ends with a dot (the run of token characters starts after it).
_DOT_PREFIXES = (b"SG.", b"ya29.", b"hvs.", b"hvb.", b"hvr.")
_RUN_PREFIX2 = frozenset(p[:2] for p in _RUN_PREFIXES)
_B64_PREFIXES = (b"eyJ", b"LS0tLS1CRUdJTi", b"glc_", b"glsa_", b"sntr")
#: A run of token characters after one of these may be a token behind an escape.
_BEFORE_ESCAPED_RUN = frozenset(b"\\%.:")
_CREDENTIAL_KEYS = _Lazy(
    rb"\"(?:auths?|password|passwd|token|secret|private_key|client_secret|refresh_token"
    rb"|access_token|api_?key)\"\s*:"
)


def _token_spans(s: str, spans: list[Span]) -> None:
    for m in _TOKEN_RE.finditer(s):
        kind = m.lastgroup or "token"
        value = m[0]
        if kind in _TOKEN_CHECKED and not _random_looking(value, need_digit=kind == "openai_key"):
            continue
        if kind == "encoded_credentials" and not _decodes_to_credentials(value):
            continue
        if kind == "private_key" and not _decodes_to_private_key(value):
            continue
        spans.append((m.start(), m.end(), kind, 0))


def _b64decode_head(value: str, chars: int) -> bytes:
    head = value[: chars - chars % 4]
    try:
        return base64.b64decode(head + "=" * (-len(head) % 4), validate=False)
    except (binascii.Error, ValueError):
        return b""


def _decodes_to_credentials(value: str) -> bool:
    """Base64 of JSON with a password, token or key in it (a Docker config, a key file)."""
    return _CREDENTIAL_KEYS.search(_b64decode_head(value, 4096)) is not None


def _decodes_to_private_key(value: str) -> bool:
    return b"PRIVATE KEY" in _b64decode_head(value, 64)


_AWS_SECRET_RE = _Lazy(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")


def _aws_secret_spans(s: str, spans: list[Span]) -> None:
    """A 40-character base64 string on a line that held an AWS access key id."""
    key_lines = {s.count("\n", 0, a) for a, _, kind, _ in spans if kind == "aws_access_key"}
    if not key_lines:
        return
    for m in _AWS_SECRET_RE.finditer(s):
        value = m[0]
        if not (_random_looking(value, need_digit=True) and _UPPER_RE.search(value)):
            continue  # base64 has both cases; a 40-digit hex string is a hash
        if s.count("\n", 0, m.start()) in key_lines:
            spans.append((m.start(), m.end(), "aws_secret_key", 1))


# --- headers, URLs, cookies ----------------------------------------------------------------

_SLACK_WEBHOOK_RE = _Lazy(r"hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/-]+")
_URL_RE = _Lazy(
    r"(?=[A-Za-z])(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{0,30}+://[^\s:/@\"'<>\[\]\\]*+:"
    r"(?!\d{1,5}[/?#])(?P<value>(?:(?!://)[^\s\"'<>\\]){0,1024})@(?=[A-Za-z0-9\[])"
)
_AUTH_HEADER_RE = _Lazy(
    r"(?=[AaPp])(?<![A-Za-z0-9_-])(?i:(?:proxy-)?authorization)[\"']?[ \t]*[:=][ \t]*[\"']?"
    r"(?:(?P<scheme>(?i:bearer|basic|token|digest|bot|oauth|negotiate|ntlm|jwt|apikey|sso-key"
    r"|aws4-hmac-sha256|sharedaccesssignature))[ \t]+)?(?P<value>[^\s\"',;]+)"
)
_BEARER_RE = _Lazy(
    r"(?=[Bb])(?<![A-Za-z0-9_-])(?i:bearer)[ \t]+(?P<value>[\w.~+/-]{8,}+=*)", re.ASCII
)
_CURL_USER_RE = _Lazy(
    r"(?=-)(?<![\w-])(?:-u[ \t]*|--user(?:[ \t]+|=))[\"']?[^\s:\"'@\[\]=]++:(?P<value>[^\s\"']++)"
)
_COOKIE_RE = _Lazy(
    r"(?=[SsCc])(?<![\w-])(?P<set>(?i:set-))?(?i:cookie2?)[\"']?[ \t]*:[ \t]*[\"']?"
    r"(?P<body>[^\r\n\"']*)"
)
_COOKIE_PAIR_RE = _Lazy(r"(?:^|(?<=;))[ \t]*+(?P<name>[^=;\s]++)=(?P<value>[^;\r\n]*+)")


def _value_span(m: re.Match[str], group: str, kind: str, prio: int, spans: list[Span]) -> None:
    if m[group] and not m[group].startswith(MARKER_PREFIX):
        spans.append((m.start(group), m.end(group), kind, prio))


_OAUTH_CODE_RE = _Lazy(r"(?<=[?&#;])code=(?P<value>[^&\s#\"'<>]{8,})")
_MYSQL_RE = _Lazy(r"(?<![\w-])-p(?P<value>[^\s'\"]+)")
_BASIC_RE = _Lazy(r"(?<![A-Za-z0-9_-])(?i:basic)[ \t]+(?P<value>[A-Za-z0-9+/]{12,}={0,2})")
_MYSQL_LINE_RE = _Lazy(r"(?i)mysql|mariadb")


def _header_spans(s: str, spans: list[Span]) -> None:
    if "code=" in s:  # an OAuth authorization code in a redirect (?code=...&state=...)
        for m in _OAUTH_CODE_RE.finditer(s):
            if _secret_like(m["value"]):
                _value_span(m, "value", "oauth_code", 3, spans)
    if "asic" in s:  # a bare "Basic <base64 of user:password>"
        for m in _BASIC_RE.finditer(s):
            if b":" in _b64decode_head(m["value"], 256):
                _value_span(m, "value", "basic_auth", 3, spans)
    if "-p" in s and _MYSQL_LINE_RE.search(s):  # mysql -uroot -pSECRET db
        for m in _MYSQL_RE.finditer(s):
            line_start = s.rfind("\n", 0, m.start()) + 1
            if _MYSQL_LINE_RE.search(s, line_start, m.start()):
                _value_span(m, "value", "password", 3, spans)
    if "hooks.slack.com" in s:
        for m in _SLACK_WEBHOOK_RE.finditer(s):
            start = s.index("/", m.start() + 16) + 1
            spans.append((start, m.end(), "slack_webhook", 1))
    if "://" in s:
        for m in _URL_RE.finditer(s):
            _value_span(m, "value", "url_password", 2, spans)
    for m in _AUTH_HEADER_RE.finditer(s):
        value = m["value"]
        scheme = (m["scheme"] or "").lower()
        if (
            value.startswith(MARKER_PREFIX)
            or _MASK_RE.fullmatch(value)  # masked already: GitHub Actions prints ***
            or (not scheme and not _secret_like(value))
        ):
            continue
        kind = {"bearer": "bearer_token", "basic": "basic_auth"}.get(scheme, "authorization")
        spans.append((m.start("value"), m.end("value"), kind, 3))
    for m in _BEARER_RE.finditer(s):
        value = m["value"]
        if _random_looking(value) or len(value) >= 20:
            _value_span(m, "value", "bearer_token", 3, spans)
    for m in _CURL_USER_RE.finditer(s):
        if not m["value"].isdigit():  # docker -u 1000:1000
            _value_span(m, "value", "basic_auth", 3, spans)
    for m in _COOKIE_RE.finditer(s):
        body_start = m.start("body")
        # Set-Cookie: only the first pair; the rest are attributes (Path, Expires, HttpOnly).
        pairs = (
            [p for p in [_COOKIE_PAIR_RE.match(m["body"])] if p]
            if m["set"]
            else _COOKIE_PAIR_RE.finditer(m["body"])
        )
        for pair in pairs:
            value = pair["value"].strip()
            if value and not value.startswith(MARKER_PREFIX):
                a = body_start + pair.start("value")
                spans.append((a, a + len(pair["value"].rstrip()), "cookie", 3))


# --- values assigned to secret-named keys --------------------------------------------------

_WORDS = (
    r"secret[_-]?access[_-]?key|aws[_-]?secret[_-]?key|client[_-]?secret"
    r"|private[_-]?key[_-]?id|private[_-]?key|secret[_-]?key[_-]?base|secret[_-]?key"
    r"|account[_-]?key|shared[_-]?access[_-]?key|shared[_-]?access[_-]?signature"
    r"|encryption[_-]?key|signing[_-]?key|master[_-]?key|subscription[_-]?key"
    r"|(?:access|refresh|auth|session|id)[_-]?token|api[_-]?key"
    r"|sess(?:ion)?[_-]?id|signature|sig|credential"
    r"|token|secret|password|passwd|passphrase|pwd|(?<=[_.-])pass|auth"
)
_CAMEL_WORDS = (
    r"SecretAccessKey|ClientSecret|PrivateKeyId|PrivateKey|SecretKeyBase|SecretKey|AccountKey"
    r"|SharedAccessKey|SharedAccessSignature|EncryptionKey|SigningKey|MasterKey"
    r"|SubscriptionKey|AccessToken|RefreshToken|AuthToken|SessionToken|IdToken|ApiKey|APIKey"
    r"|SessionId|Signature|Credential|Token|Secret|Password|Passwd|Passphrase"
)
_WORD = (
    r"(?=[AaCcEeIiMmPpRrSsTt])"
    rf"(?P<word>(?<![A-Za-z0-9])(?i:{_WORDS})|(?<=[a-z0-9])(?:{_CAMEL_WORDS})"
    # glued to a prefix: PGPASSWORD, mysqlpassword, JSESSIONID, PHPSESSID
    r"|(?<=[A-Za-z0-9])(?i:password|passwd|passphrase|sess(?:ion)?[_-]?id))"
    r"(?![A-Za-z0-9])"
)
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
_WEAK_RE = _Lazy(
    r"(?=[A-Za-z_-])(?<![\w.-])-{0,2}(?P<key>[A-Za-z_][\w.-]{0,100}+)(?P<kq>\\*[\"'])?[ \t]*"
    r"(?P<sep>[:=])(?![=/])[ \t]*(?:\\*[\"'])?(?P<value>[A-Za-z0-9+/_.~-]{16,}+={0,3})",
    re.ASCII,
)
#: A key that merely contains one of these words (as a part: ``DB_PASSWORD_PROD``,
#: ``tokenV2``) has its value masked when the value is high-entropy.
_WEAK_KEY = r"(?i:pass|pwd|secret|token|key|auth|cred|sig|cookie|sess)"
_WEAK_KEY_RE = _Lazy(_WEAK_KEY)
#: Keys whose only secret word is a "key" that names or identifies something: GHC's
#: ``-this-package-key KJOG5Az39JY3gSdTOt6p98``, ``cache_key``, ``partition-key``.
_NAMED_KEY_RE = _Lazy(
    r"(?i)\A[\w.-]*?(?<![a-z])(?:package|cache|sort|partition|primary|foreign|public|routing"
    r"|object|row|dedup|idempotency|lookup|hash|index|shard|bucket|group|map|dict|unit)"
    r"[_.-]?keys?\Z"
)
_LONG_VALUE_RE = _Lazy(r"[A-Za-z0-9+/_.~-]{16}")
_WEAK_WORDS = ("pass", "pwd", "secret", "token", "key", "auth", "cred", "sig", "cookie", "sess")
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

_KINDS = {
    "secretaccesskey": "aws_secret_key",
    "awssecretkey": "aws_secret_key",
    "clientsecret": "client_secret",
    "privatekeyid": "private_key_id",
    "privatekey": "private_key",
    "secretkeybase": "secret_key",
    "secretkey": "secret_key",
    "accountkey": "account_key",
    "sharedaccesskey": "shared_access_key",
    "sharedaccesssignature": "sas_token",
    "encryptionkey": "encryption_key",
    "signingkey": "signing_key",
    "masterkey": "master_key",
    "subscriptionkey": "api_key",
    "accesstoken": "access_token",
    "refreshtoken": "refresh_token",
    "authtoken": "auth_token",
    "sessiontoken": "session_token",
    "idtoken": "id_token",
    "apikey": "api_key",
    "sessionid": "session_id",
    "sessid": "session_id",
    "signature": "signature",
    "sig": "signature",
    "credential": "credential",
    "token": "token",
    "secret": "secret",
    "password": "password",
    "passwd": "password",
    "passphrase": "password",
    "pwd": "password",
    "pass": "password",
    "auth": "auth",
}
_SUFFIXES = sorted(_KINDS, key=len, reverse=True)
#: Words whose values must look random to be masked (they name many harmless things too).
_RANDOM_ONLY = frozenset(("signature", "sig", "credential"))
#: Words whose values must at least not be a number or a word.
_LOOSE = frozenset(("pass", "sessionid", "sessid"))
_PLACEHOLDERS = frozenset(
    (
        *("none", "null", "nil", "true", "false", "undefined", "str", "string", "bytes"),
        *("int", "optional", "secretstr", "required", "redacted", "hidden", "masked"),
        *("empty", "unset", "changeme", "default", "ok", "yes", "no", "on", "off"),
        *("enabled", "disabled"),
    )
)
_MASK_RE = _Lazy(r"[*xX•.#_-]+|<[^>]*>|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|\$\{\{.*|%\(.*")
_ALNUM_RE = _Lazy(r"[A-Za-z0-9]")
_ENV_NAME_RE = _Lazy(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")
_MASK_START = frozenset("*xX•.#_-<$%")
_CODE_RE = _Lazy(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
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
_WIN_PATH_RE = _Lazy(r"[A-Za-z]:\\")
_WORD_RE = _Lazy(r"[A-Za-z][a-z]*|[A-Z]+")
_HEX_RE = _Lazy(r"(?:0x)?[0-9a-fA-F]+|(?i:sha\d+|md5|blake2b?)[:=-][0-9a-fA-F]+")
_UUID_RE = _Lazy(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_PATHLIKE_RE = _Lazy(r"[~.]?/|[\w.-]+/[\w.-]+/|[\w-]+(?:\.[\w-]+){2,}")
_ALPHA_PIECE_RE = _Lazy(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")


def _norm(word: str) -> str:
    """The key of ``_KINDS`` for a matched word: ``DB-Password`` and ``PGPASSWORD`` ->
    ``password``, ``JSESSIONID`` -> ``sessionid``."""
    key = _NORM.get(word)
    if key is None:
        norm = word.lower().replace("_", "").replace("-", "")
        if norm not in _KINDS:
            norm = next((k for k in _SUFFIXES if norm.endswith(k)), "secret")
        key = _NORM[word] = norm
    return key


_NORM: dict[str, str] = {}


def _word_kind(word: str) -> str:
    return _KINDS[_norm(word)]


def _secret_like(value: str) -> bool:
    """A value that cannot be a word of prose: long enough, with a digit, symbol or mixed case."""
    v = value.rstrip(".,:;!?")
    return len(v) >= 6 and _WORD_RE.fullmatch(v) is None


def _high_entropy(value: str) -> bool:
    """A generated-looking value: 16+ characters, letters and digits, not hex/UUID/path/words."""
    v = value.strip("\"'")
    if len(v) < 16 or v.startswith(MARKER_PREFIX):
        return False
    if _HEX_RE.fullmatch(v) or _UUID_RE.fullmatch(v) or _PATHLIKE_RE.match(v):
        return False
    digits = len(_DIGITS_RE.findall(v))
    letters = len(_LETTERS_RE.findall(v))
    if digits < 2 or letters < 4 or not _random_looking(v):
        return False
    if _wordy(v, letters):
        return False  # words: ModelV2Layer3Output, build_2024_01_17_final, TestLinks/d3d9
    rest = _HEX_RUN_RE.sub("", v)
    if len(rest) < len(v) and (len(rest) < 8 or _wordy(rest, len(_LETTERS_RE.findall(rest)))):
        return False  # a name and a hash: maven-linux-3f2a9c..., sha256-4f53cd...
    n = len(v)
    entropy = -sum(k / n * math.log2(k / n) for k in Counter(v).values())
    return entropy >= 3.3


_DIGITS_RE = _Lazy(r"[0-9]")
_HEX_RUN_RE = _Lazy(r"[0-9a-fA-F]{8,}")
_LETTERS_RE = _Lazy(r"[A-Za-z]")
_VOWELS_RE = _Lazy(r"[aeiouAEIOU]")


def _wordy(value: str, letters: int) -> bool:
    """Mostly made of words (runs of 4+ letters with vowels), as identifiers and names are;
    random strings have few such runs, and few vowels in them."""
    joined = "".join(p for p in _ALPHA_PIECE_RE.findall(value) if len(p) >= 4)
    return len(joined) >= 0.5 * letters and len(_VOWELS_RE.findall(joined)) >= 0.25 * len(joined)


def _keep_value(word: str, value: str, quoted: bool) -> bool:
    """True when ``value`` cannot be a secret (see the false-positive policy above)."""
    if not value or value.isspace() or value == "$" or value.startswith(MARKER_PREFIX):
        return True  # ("$" of "${X}")
    if value.lower() in _PLACEHOLDERS or (value[0] in _MASK_START and _MASK_RE.fullmatch(value)):
        return True
    if not _ALNUM_RE.search(value):
        return True  # punctuation: the end of code around it ("Password:"),
    if _ENV_NAME_RE.fullmatch(value):
        return True  # the name of a variable that holds it (server-password: GITHUB_TOKEN)
    key = _norm(word)
    if key == "pwd" and (value.startswith(("/", "~")) or _WIN_PATH_RE.match(value)):
        return True
    if key in _RANDOM_ONLY and (len(value) < 16 or not _random_looking(value, need_digit=True)):
        return True
    if key in _LOOSE and (value.isdigit() or not _secret_like(value)):
        return True
    if not quoted and _CODE_RE.fullmatch(value):
        last = value.rsplit(".", 1)[-1].lower().replace("_", "").replace("-", "")
        if last.endswith(key) or value.startswith(("self.", "args.", "cls.", "os.")):
            return True
    return False


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
    """``key: value`` unquoted that is not a YAML or header line (see the policy above)."""
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


def _after_marker(s: str, pos: int) -> bool:
    """Whether ``pos`` follows a marker (which stands for text that was part of a word)."""
    return (
        pos > 0
        and s[pos - 1] == "]"
        and s.rfind(MARKER_PREFIX, max(0, pos - _MAX_MARKER), pos) != -1
    )


def _weak_span(m: re.Match[str], key_re: _Lazy[str], spans: list[Span]) -> bool:
    """Mask the value of a key holding a secret word if it is high-entropy (and whole)."""
    if m.string.startswith(MARKER_PREFIX, m.end("value")) or _after_marker(m.string, m.start()):
        return False  # next to a marker: judged with what the marker replaced, before
    key = m["key"]
    if key_re.search(key) and not _NAMED_KEY_RE.search(key) and _high_entropy(m["value"]):
        spans.append((m.start("value"), m.end("value"), "secret", 6))
        return True
    return False


def _more_assign_spans(s: str, spans: list[Span]) -> None:
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


# --- one segment: all rules, on the text and on its decoded view ---------------------------

_RULES: tuple[Callable[[str, list[Span]], None], ...] = (
    _token_spans,
    _aws_secret_spans,
    _header_spans,
    _assign_spans,
    _more_assign_spans,
)


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


# --- the fast pass: which lines may hold a secret ------------------------------------------

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
                end = nxt  # one line no deeper than the key (see _BLOCK_SCALAR_RE's "flat")
            break
        end = nxt
    return end


def redact(text: str) -> str:
    """Return ``text`` with secrets replaced by ``[REDACTED:<kind>]`` markers.

    Line structure is preserved exactly (same number of ``\\n``); see the module docstring
    for what is redacted, in which order, and what is deliberately left alone.
    """
    return _redact(text, gate=True)


def _redact(text: str, *, gate: bool) -> str:
    if not text:
        return text
    if "-----BEGIN" in text:
        text = _PEM_RE.sub(_sub_pem, text)
    if "-----END" in text:
        text = _redact_headless_pem(text)
    if not gate:
        return _redact_segment(text)
    out: list[str] = []
    pos = 0
    for a, b in _candidates(text):
        out.append(text[pos:a])
        out.append(_redact_segment(text[a:b]))
        pos = b
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)
