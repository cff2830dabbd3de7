"""Redact secrets from log text before it is shown to a user or sent to an LLM provider.

Every secret found is replaced by a marker ``[REDACTED:<kind>]``; the text around it (key
names, URL schemes, users and hosts, quotes, PEM header lines) is kept, and the number of
``\\n`` characters never changes, so excerpt line numbers still refer to the original file.
``redact`` is idempotent: ``redact(redact(x)) == redact(x)``.

What is redacted, and the ``kind`` used in the marker:

* Private key blocks (``-----BEGIN [RSA|EC|DSA|OPENSSH|ENCRYPTED|PGP ...] PRIVATE KEY-----``,
  also JSON-escaped with ``\\n``, also truncated ones without an END line): the body becomes
  ``private_key``; BEGIN/END lines stay; the body keeps its newlines (blank lines).
* Tokens recognised by their shape: ``aws_access_key`` (AKIA/ASIA...), ``aws_secret_key``
  (a 40-character base64 string on a line that held an AWS access key id), ``github_token``
  (ghp_/gho_/ghu_/ghs_/ghr_/github_pat_), ``gitlab_token`` (glpat-, gldt-, glrt-, ...),
  ``slack_token`` (xoxb-/xoxp-/xoxa-/..., xapp-), ``slack_webhook``
  (hooks.slack.com/services/...), ``anthropic_key`` (sk-ant-), ``openai_key`` (sk-, sk-proj-),
  ``huggingface_token`` (hf_), ``stripe_key``, ``google_api_key`` (AIza...), ``npm_token``,
  ``pypi_token``, ``jwt`` (eyJ....eyJ....sig).
* ``Authorization:`` headers (``bearer_token``, ``basic_auth``, ``authorization``), a bare
  ``Bearer <token>`` (``bearer_token``), ``curl -u user:pass`` (``basic_auth``).
* Credentials in URLs: ``scheme://user:pass@host`` becomes
  ``scheme://user:[REDACTED:url_password]@host``.
* Values assigned to secret-named keys, in the layouts ``KEY=value``, ``KEY: value``,
  ``"key": "value"``, ``'key': 'value'``, ``:key => 'v'``, ``export KEY=...``, ``--key=value``,
  ``--key value``, ``?key=value&``, case-insensitive. The key must *end* with a whole
  secret word: password/passwd/pwd/passphrase (kind ``password``), token, access_token,
  refresh_token, auth_token, session_token, id_token, secret, client_secret, secret_key,
  api_key/apikey/api-key, private_key, private_key_id, aws_secret_access_key
  (``aws_secret_key``), auth; prefixes are allowed (``DB_PASSWORD``, ``GITHUB_TOKEN``,
  ``x-api-key``, camelCase ``dbPassword``).

False-positive policy (diagnostics must survive):

* Keys that merely contain a secret word are not secret: ``max_tokens=4000``,
  ``num_tokens``, ``token_count=5``, ``tokenizer=...``, ``password_file=/path``,
  ``auth_method=...`` are left alone (the key must end with the secret word).
* Values that cannot be secrets are kept: empty values, ``None``/``null``/``true``/type names,
  masks (``***``), references (``$VAR``, ``${VAR}``), code (``token = get_token()``,
  ``api_key=api_key``, ``token=self.token``), ``auth: ok``/``yes``/``enabled``,
  comparisons (``token == x``), ``PWD=/a/path``, and ``--token is required`` (stop words).
* ``key: value`` with an unquoted value in the middle of a prose line (``Invalid token:
  Not enough segments``) is redacted only when the value looks like a secret (has a digit,
  a symbol or mixed case); at the start of a line (YAML, headers) it is always redacted.
  The same holds for ``Authorization: <value>`` without a known scheme.
* No generic entropy detection: git SHAs, sha256 digests, UUIDs, paths, times and numbers are
  never redacted unless assigned to a secret-named key.

Known gaps: secrets split across lines, unquoted values containing ``, ; & ( ) [ ] { } < >``
or whitespace (only the part before such a character is redacted), ``mysql -pSECRET``,
Dockerfile ``ENV KEY value``, XML ``<password>x</password>``, secrets without a
recognisable shape or key name.
"""

from __future__ import annotations

import re

__all__ = ["MARKER_PREFIX", "redact"]

MARKER_PREFIX = "[REDACTED:"


def _marker(kind: str) -> str:
    return f"{MARKER_PREFIX}{kind}]"


# --- private key blocks --------------------------------------------------------------------

_PEM_LABEL = r"-----{} (?:[A-Z0-9]{{1,12}} ){{0,3}}PRIVATE KEY(?: BLOCK)?-----"
_PEM_RE = re.compile(
    "(?P<begin>" + _PEM_LABEL.format("BEGIN") + ")"
    r"(?P<body>(?:[A-Za-z0-9+/=\s\\:,.]|-(?!-)|\[REDACTED:private_key\])*+)"
    "(?P<end>" + _PEM_LABEL.format("END") + ")?"
)
# Without an END line (a truncated excerpt): only the lines that look like key material.
_PEM_TRUNCATED_BODY_RE = re.compile(
    r"(?:(?:\r?\n|\\n)?[ \t]*(?:[A-Za-z0-9+/=]{8,}+|[A-Z][A-Za-z-]{1,20}: [^\r\n\\]*+)[ \t]*"
    r"(?=\r?\n|\\n|\Z))++"
)


def _pem_body(body: str) -> str:
    newlines = body.count("\n")
    if newlines == 0:
        return _marker("private_key")
    return "\n" + _marker("private_key") + "\n" * (newlines - 1)


def _sub_pem(m: re.Match[str]) -> str:
    body = m["body"]
    if m["end"] is not None:
        return m["begin"] + _pem_body(body) + m["end"]
    key = _PEM_TRUNCATED_BODY_RE.match(m.string, m.end("begin"))
    if key is None:
        return m[0]
    end = min(key.end(), m.end()) - m.end("begin")
    return m["begin"] + _pem_body(body[:end]) + body[end:]


# --- tokens recognised by their shape ------------------------------------------------------


_DIGIT_RE = re.compile(r"[0-9]")
_UPPER_RE = re.compile(r"[A-Z]")
_LOWER_RE = re.compile(r"[a-z]")


def _random_looking(s: str, *, need_digit: bool = False) -> bool:
    """Mixed case or digits, as generated keys are; identifiers and words are not."""
    digit = _DIGIT_RE.search(s) is not None
    upper = _UPPER_RE.search(s) is not None
    lower = _LOWER_RE.search(s) is not None
    if need_digit:
        return digit and (upper or lower)
    return (upper and lower) or (digit and (upper or lower))


# (kind, pattern, whether the match must look random). One combined pass; the leading
# character set lets the regex engine skip quickly over text that cannot start a token.
_TOKEN_RULES: tuple[tuple[str, str, bool], ...] = (
    ("aws_access_key", r"(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])", False),
    ("github_token", r"(?:gh[pousr]_[A-Za-z0-9]{30,255}+|github_pat_\w{40,255}+)", True),
    ("gitlab_token", r"gl(?:pat|dt|rt|ptt|ft|soat|cbt)-[\w-]{20,}+(?:\.[\w-]+)*+", True),
    ("slack_token", r"(?:xox[abposre]|xapp-\d)-[A-Za-z0-9-]{10,}+", True),
    ("anthropic_key", r"sk-ant-[\w-]{20,}+", True),
    ("openai_key", r"sk-(?:proj-|svcacct-|admin-)?[\w-]{20,}+", True),
    ("stripe_key", r"(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}+", True),
    ("huggingface_token", r"hf_[A-Za-z0-9]{30,}+(?![\w-])", True),
    ("google_api_key", r"AIza[\w-]{35}(?![\w-])", False),
    ("npm_token", r"npm_[A-Za-z0-9]{36}(?![\w-])", True),
    ("pypi_token", r"pypi-AgEIcHlwaS5vcmc[\w-]{50,}+", False),
    ("jwt", r"eyJ[\w-]{5,}+\.ey[\w-]{3,}+\.[\w-]*+", False),
)
_TOKEN_RE = re.compile(
    r"(?=[Agxsrphne])(?<![A-Za-z0-9_-])(?:"
    + "|".join(f"(?P<{kind}>{pattern})" for kind, pattern, _ in _TOKEN_RULES)
    + ")",
    re.ASCII,
)
_TOKEN_CHECKED = frozenset(kind for kind, _, check in _TOKEN_RULES if check)


def _sub_token(m: re.Match[str]) -> str:
    kind = m.lastgroup or "token"
    if kind in _TOKEN_CHECKED and not _random_looking(m[0], need_digit=kind == "openai_key"):
        return m[0]
    return _marker(kind)


_AWS_SECRET_ON_LINE_RE = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
_SLACK_WEBHOOK_RE = re.compile(
    r"(?P<keep>hooks\.slack\.com/(?:services|workflows|triggers)/)[A-Za-z0-9_/-]+"
)
_URL_RE = re.compile(
    r"(?<![A-Za-z0-9+.-])(?P<keep>[A-Za-z][A-Za-z0-9+.-]{0,30}+://[^\s:/@\"'<>\[\]]*+:)"
    r"(?P<value>[^\s/@\"'<>]++)@"
)
_AUTH_HEADER_RE = re.compile(
    r"(?=[AaPp])(?<![A-Za-z0-9_-])(?i:(?:proxy-)?authorization)[\"']?[ \t]*[:=][ \t]*[\"']?"
    r"(?:(?P<scheme>(?i:bearer|basic|token|digest|bot|oauth|negotiate|ntlm|jwt|apikey|sso-key"
    r"|aws4-hmac-sha256))[ \t]+)?(?P<value>[^\s\"',;]+)"
)
_BEARER_RE = re.compile(
    r"(?=[Bb])(?<![A-Za-z0-9_-])(?i:bearer)[ \t]+(?P<value>[\w.~+/-]{8,}+=*)", re.ASCII
)
_CURL_USER_RE = re.compile(
    r"(?=-)(?<![\w-])(?:-u|--user)[ \t]+[\"']?[^\s:\"'@\[\]=]++:(?P<value>[^\s\"']++)"
)

# --- values assigned to secret-named keys --------------------------------------------------

_WORDS = (
    r"secret[_-]?access[_-]?key|aws[_-]?secret[_-]?key|client[_-]?secret"
    r"|private[_-]?key[_-]?id|private[_-]?key|secret[_-]?key"
    r"|(?:access|refresh|auth|session|id)[_-]?token|api[_-]?key"
    r"|token|secret|password|passwd|passphrase|pwd|auth"
)
_CAMEL_WORDS = (
    r"SecretAccessKey|ClientSecret|PrivateKeyId|PrivateKey|SecretKey|AccessToken"
    r"|RefreshToken|AuthToken|SessionToken|IdToken|ApiKey|APIKey|Token|Secret|Password"
    r"|Passwd|Passphrase"
)
_WORD = (
    rf"(?=[AaCcIiPpRrSsTt])"
    rf"(?P<word>(?<![A-Za-z0-9])(?i:{_WORDS})|(?<=[a-z0-9])(?:{_CAMEL_WORDS}))"
)
_VALUE = (
    r"(?:\"(?P<dq>(?:[^\"\\\r\n]|\\[^\r\n])*+)(?:\"|(?=[\r\n])|\Z)"
    r"|'(?P<sq>[^'\r\n]*+)(?:'|(?=[\r\n])|\Z)"
    r"|(?P<uq>[^\s\"'`,;&()\[\]{}<>|]++)(?!\())"
)
_ASSIGN_RE = re.compile(
    _WORD + r"(?P<kq>[\"'])?[ \t]*(?P<sep>=>|[:=])(?!=|//|(?<=:):)[ \t]*" + _VALUE, re.ASCII
)
_FLAG_RE = re.compile(
    r"(?=-)(?<![\w-])--?(?:[A-Za-z0-9]+[_-])*" + _WORD + r"[ \t]+(?![-=:])" + _VALUE, re.ASCII
)

_KINDS = {
    "secretaccesskey": "aws_secret_key",
    "awssecretkey": "aws_secret_key",
    "clientsecret": "client_secret",
    "privatekeyid": "private_key_id",
    "privatekey": "private_key",
    "secretkey": "secret_key",
    "accesstoken": "access_token",
    "refreshtoken": "refresh_token",
    "authtoken": "auth_token",
    "sessiontoken": "session_token",
    "idtoken": "id_token",
    "apikey": "api_key",
    "token": "token",
    "secret": "secret",
    "password": "password",
    "passwd": "password",
    "passphrase": "password",
    "pwd": "password",
    "auth": "auth",
}
_PLACEHOLDERS = frozenset(
    (
        *("none", "null", "nil", "true", "false", "undefined", "str", "string", "bytes"),
        *("int", "optional", "secretstr", "required", "redacted", "hidden", "masked"),
        *("empty", "unset", "changeme", "default", "ok", "yes", "no", "on", "off"),
        *("enabled", "disabled"),
    )
)
_MASK_RE = re.compile(r"[*xX•.#_-]+|<[^>]*>|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|\$\{\{.*|%\(.*")
_CODE_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_LINE_KEY_PREFIX_RE = re.compile(
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
_WIN_PATH_RE = re.compile(r"[A-Za-z]:\\")
_WORD_RE = re.compile(r"[A-Za-z][a-z]*|[A-Z]+")


def _secret_like(value: str) -> bool:
    """A value that cannot be a word of prose: long enough, with a digit, symbol or mixed case."""
    v = value.rstrip(".,:;!?")
    return len(v) >= 6 and _WORD_RE.fullmatch(v) is None


def _keep_value(m: re.Match[str], value: str, quoted: bool) -> bool:
    """True when ``value`` cannot be a secret (see the false-positive policy above)."""
    if not value.strip() or value == "$" or value.startswith(MARKER_PREFIX):  # "$" of "${X}"
        return True
    if value.lower() in _PLACEHOLDERS or _MASK_RE.fullmatch(value):
        return True
    word = m["word"].lower().replace("_", "").replace("-", "")
    if word == "pwd" and (value.startswith(("/", "~")) or _WIN_PATH_RE.match(value)):
        return True
    if not quoted and _CODE_RE.fullmatch(value):
        last = value.rsplit(".", 1)[-1].lower().replace("_", "").replace("-", "")
        if last.endswith(word) or value.startswith(("self.", "args.", "cls.", "os.")):
            return True
    return False


def _sub_assign(m: re.Match[str]) -> str:
    quoted = m["uq"] is None
    group = "dq" if m["dq"] is not None else "sq" if m["sq"] is not None else "uq"
    value = m[group]
    if _keep_value(m, value, quoted):
        return m[0]
    if not quoted and m["kq"] is None and m["sep"] == ":" and not _secret_like(value):
        text, start = m.string, m.start()
        lo = max(0, start - _MAX_KEY_PREFIX)
        line_start = text.rfind("\n", lo, start) + 1
        if line_start == 0 and lo > 0:
            return m[0]  # the key is far from the start of its line: prose
        if _LINE_KEY_PREFIX_RE.fullmatch(text, line_start, start) is None:
            return m[0]  # "Invalid token: Not enough segments"
    return _replace_group(m, group, _KINDS[m["word"].lower().replace("_", "").replace("-", "")])


def _sub_flag(m: re.Match[str]) -> str:
    quoted = m["uq"] is None
    group = "dq" if m["dq"] is not None else "sq" if m["sq"] is not None else "uq"
    value = m[group]
    if _keep_value(m, value, quoted) or (not quoted and value.lower() in _STOPWORDS):
        return m[0]
    return _replace_group(m, group, _KINDS[m["word"].lower().replace("_", "").replace("-", "")])


def _replace_group(m: re.Match[str], group: str, kind: str) -> str:
    start, end = m.start(group) - m.start(), m.end(group) - m.start()
    whole = m[0]
    return whole[:start] + _marker(kind) + whole[end:]


def _sub_url(m: re.Match[str]) -> str:
    if m["value"].startswith(MARKER_PREFIX):
        return m[0]
    return m["keep"] + _marker("url_password") + "@"


def _sub_auth_header(m: re.Match[str]) -> str:
    value = m["value"]
    scheme = (m["scheme"] or "").lower()
    if value.startswith(MARKER_PREFIX) or (not scheme and not _secret_like(value)):
        return m[0]
    kind = {"bearer": "bearer_token", "basic": "basic_auth"}.get(scheme, "authorization")
    return _replace_group(m, "value", kind)


def _sub_bearer(m: re.Match[str]) -> str:
    value = m["value"]
    if not (_random_looking(value) or len(value) >= 20):
        return m[0]
    return _replace_group(m, "value", "bearer_token")


def _sub_curl_user(m: re.Match[str]) -> str:
    value = m["value"]
    if value.startswith(MARKER_PREFIX) or value.isdigit():
        return m[0]  # docker -u 1000:1000
    return _replace_group(m, "value", "basic_auth")


def _sub_aws_secret_lines(text: str) -> str:
    marker = _marker("aws_access_key")
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if marker in line:
            lines[i] = _AWS_SECRET_ON_LINE_RE.sub(_sub_aws_secret, line)
    return "\n".join(lines)


def _sub_aws_secret(m: re.Match[str]) -> str:
    value = m[0]
    if not _random_looking(value, need_digit=True) or not _random_looking(value):
        return value
    return _marker("aws_secret_key")


def redact(text: str) -> str:
    """Return ``text`` with secrets replaced by ``[REDACTED:<kind>]`` markers.

    Line structure is preserved exactly (same number of ``\\n``); see the module docstring
    for what is redacted and what is deliberately left alone.
    """
    if "-----BEGIN" in text:
        text = _PEM_RE.sub(_sub_pem, text)
    text = _TOKEN_RE.sub(_sub_token, text)
    if "[REDACTED:aws_access_key]" in text:
        text = _sub_aws_secret_lines(text)
    if "hooks.slack.com" in text:
        text = _SLACK_WEBHOOK_RE.sub(lambda m: m["keep"] + _marker("slack_webhook"), text)
    if "://" in text:
        text = _URL_RE.sub(_sub_url, text)
    text = _AUTH_HEADER_RE.sub(_sub_auth_header, text)
    text = _BEARER_RE.sub(_sub_bearer, text)
    text = _CURL_USER_RE.sub(_sub_curl_user, text)
    text = _FLAG_RE.sub(_sub_flag, text)
    return _ASSIGN_RE.sub(_sub_assign, text)
