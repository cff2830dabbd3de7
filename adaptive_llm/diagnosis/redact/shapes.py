"""Tokens recognised by their shape (a known prefix and alphabet), and AWS secret keys."""

from __future__ import annotations

import base64
import binascii
import re

from .patterns import Span, _Lazy
from .values import _UPPER_RE, _random_looking

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
