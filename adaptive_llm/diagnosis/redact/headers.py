"""Headers, commands and URLs: ``Authorization:``, ``Bearer``/``Basic``, ``curl -u``,
cookies, ``mysql -p``, an OAuth ``code=``, Slack webhooks, ``scheme://user:pass@host``."""

from __future__ import annotations

import re

from .patterns import MARKER_PREFIX, Span, _Lazy
from .shapes import _b64decode_head
from .values import _MASK_RE, _random_looking, _secret_like

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
