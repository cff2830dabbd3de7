"""A generated corpus of fake secrets placed in log layouts, with random escapes.

Nothing realistic is stored in the repository (secret scanners, push protection): every secret
is built at run time from a seeded ``random.Random``. Each :class:`Secret` knows its random
parts; a leak is any 8-character run of a random part found in the output (as written, or
after decoding percent-, backslash- and HTML-escapes, as a reader of the output could).

``corpus(seed)`` places every kind of secret in several layouts (``KEY=value``, YAML, JSON,
escaped JSON, Python reprs, CLI flags, URLs, headers, XML, Dockerfile, connection strings,
...) and escapes about half of the lines (JSON, doubly JSON, Python ``repr``, bytes ``repr``,
percent-encoding, HTML); every layout and every kind is used at least once.
"""

from __future__ import annotations

import base64
import html
import json
import random
import re
import string
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass

ALNUM = string.ascii_letters + string.digits
UPPER_DIGITS = string.ascii_uppercase + string.digits
LOWER_DIGITS = string.ascii_lowercase + string.digits
B64 = ALNUM + "+/"
B64URL = ALNUM + "-_"
HEX = "0123456789abcdef"
BECH32 = "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L"
#: Characters a generated password may hold (URL-unsafe ones included).
PASSWORD_CHARS = ALNUM + "!#%^*~+=-_."
#: Length of the runs of a secret's random part that must not survive.
WINDOW = 8


@dataclass(frozen=True)
class Secret:
    kind: str
    value: str
    #: Random substrings of ``value`` (each at least ``WINDOW`` characters).
    parts: tuple[str, ...]
    #: A key name for the layouts that assign the value.
    name: str
    #: Whether the value names itself (a token shape, a URL, a header): bare layouts apply.
    self_identifying: bool = False


@dataclass(frozen=True)
class Placed:
    secret: Secret
    layout: str
    escape: str
    text: str  # one or more whole lines


class Gen:
    """Random strings that surely have a digit, an upper and a lower letter when possible."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def s(self, n: int, alphabet: str = ALNUM) -> str:
        while True:
            out = "".join(self.rng.choice(alphabet) for _ in range(n))
            classes = [str.isdigit, str.isupper, str.islower]
            if all(any(f(c) for c in out) for f in classes if any(f(c) for c in alphabet)):
                return out

    def b64(self, nbytes: int) -> str:
        while True:
            out = base64.b64encode(self.rng.randbytes(nbytes)).decode()
            if any(c.isdigit() for c in out) and any(c.isupper() for c in out):
                return out


def _pem(g: Gen, label: str, lines: int = 12) -> tuple[str, tuple[str, ...]]:
    body = [g.s(64, B64) for _ in range(lines - 1)] + [g.s(24, B64) + "=="]
    text = "\n".join([f"-----BEGIN {label}-----", *body, f"-----END {label}-----"])
    return text, tuple(body)


def _secrets(g: Gen) -> list[Secret]:
    out: list[Secret] = []

    def add(kind: str, value: str, parts: Iterable[str], name: str, bare: bool = False) -> None:
        out.append(Secret(kind, value, tuple(p for p in parts if len(p) >= WINDOW), name, bare))

    # Cloud
    r = g.s(16, UPPER_DIGITS)
    add("aws_access_key", "AKIA" + r, [r], "AWS_ACCESS_KEY_ID", True)
    r = g.s(16, UPPER_DIGITS)
    add("aws_temp_key", "ASIA" + r, [r], "AWS_ACCESS_KEY_ID", True)
    r = g.s(18, B64) + "/" + g.s(10, B64) + "+" + g.s(10, B64)
    add("aws_secret", r, [r], "AWS_SECRET_ACCESS_KEY")
    r = g.b64(220)
    add("aws_session_token", r, [r], "AWS_SESSION_TOKEN")
    key = g.b64(64)
    conn = (
        "DefaultEndpointsProtocol=https;AccountName=acct" + g.s(6, LOWER_DIGITS)
        + ";AccountKey=" + key + ";EndpointSuffix=core.windows.net"
    )  # fmt: skip
    add("azure_storage", conn, [key], "AZURE_STORAGE_CONNECTION_STRING", True)
    key = g.b64(32)
    sb = (
        "Endpoint=sb://ns" + g.s(5, LOWER_DIGITS) + ".servicebus.windows.net/;"
        "SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=" + key
    )
    add("servicebus", sb, [key], "SERVICEBUS_CONNECTION", True)
    key = g.b64(32)
    eh = (
        "Endpoint=sb://hub" + g.s(5, LOWER_DIGITS) + ".servicebus.windows.net/;"
        "SharedAccessKeyName=send;SharedAccessKey=" + key + ";EntityPath=events"
    )
    add("eventhub", eh, [key], "EVENTHUB_CONNECTION", True)
    sig = g.b64(32)
    sas = (
        "https://acct.blob.core.windows.net/data/model.bin?sv=2022-11-02&ss=b&srt=o&sp=r"
        "&se=2026-12-31T00:00:00Z&spr=https&sig=" + urllib.parse.quote(sig, safe="")
    )
    add("azure_sas", sas, [sig], "SAS_URL", True)
    kid, tok, sig = g.s(16, UPPER_DIGITS), g.b64(160), g.s(64, HEX)
    s3 = (
        "https://bucket.s3.amazonaws.com/ckpt/model.pt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=ASIA" + kid + "%2F20261201%2Fus-east-1%2Fs3%2Faws4_request"
        "&X-Amz-Date=20261201T101010Z&X-Amz-Expires=3600&X-Amz-Security-Token="
        + urllib.parse.quote(tok, safe="") + "&X-Amz-SignedHeaders=host&X-Amz-Signature=" + sig
    )  # fmt: skip
    add("s3_presigned", s3, [kid, tok, sig], "PRESIGNED_URL", True)
    kid, sig = g.s(16, UPPER_DIGITS), g.b64(20)
    s3v2 = (
        "https://bucket.s3.amazonaws.com/data.csv?AWSAccessKeyId=AKIA" + kid
        + "&Expires=1790000000&Signature=" + urllib.parse.quote(sig, safe="")
    )  # fmt: skip
    add("s3_presigned_v2", s3v2, [kid, sig], "DOWNLOAD_URL", True)
    kid = g.s(40, HEX)
    pem, body = _pem(g, "PRIVATE KEY", 14)
    sa = json.dumps(
        {
            "type": "service_account",
            "project_id": "proj-" + g.s(6, LOWER_DIGITS),
            "private_key_id": kid,
            "private_key": pem + "\n",
            "client_email": "svc@proj.iam.gserviceaccount.com",
        }
    )
    add("gcp_service_account", sa, [kid, *body], "GOOGLE_CREDENTIALS", True)
    r = g.s(35, B64URL)
    add("google_api_key", "AIza" + r, [r], "GOOGLE_API_KEY", True)
    r = g.s(120, B64URL)
    add("google_oauth_token", "ya29." + r, [r], "GOOGLE_ACCESS_TOKEN", True)
    r = g.s(28, B64URL)
    add("google_client_secret", "GOCSPX-" + r, [r], "GOOGLE_CLIENT_SECRET", True)
    # Forges, registries, chat
    r = g.s(36)
    add("github_classic", "gh" + "p_" + r, [r], "GITHUB_TOKEN", True)
    r = g.s(36)
    add("github_app", "gh" + "s_" + r, [r], "GH_TOKEN", True)
    a, b = g.s(22), g.s(59)
    add("github_fine", "github_" + "pat_" + a + "_" + b, [a, b], "GH_PAT", True)
    r = g.s(20, ALNUM + "_-")
    add("gitlab", "gl" + "pat-" + r, [r], "GITLAB_TOKEN", True)
    a, b, c = g.s(12, string.digits), g.s(13, string.digits), g.s(24)
    add(
        "slack_bot", "xo" + "xb-" + a + "-" + b + "-" + c, [a + "-" + b, c], "SLACK_BOT_TOKEN", True
    )
    a, b, c = g.s(8, UPPER_DIGITS), g.s(10, UPPER_DIGITS), g.s(24)
    hook = "https://hooks.slack.com/services/T" + a + "/B" + b + "/" + c
    add("slack_webhook", hook, [c, b], "SLACK_WEBHOOK_URL", True)
    r = g.s(36)
    add("npm", "npm_" + r, [r], "NPM_TOKEN", True)
    r = g.s(70, B64URL)
    add("pypi", "pypi-AgEIcHlwaS5vcmc" + r, [r], "TWINE_PASSWORD", True)
    r = g.s(27, ALNUM + "_")
    add("docker_hub", "dckr_pat_" + r, [r], "DOCKERHUB_TOKEN", True)
    r = g.s(34, string.ascii_letters)
    add("huggingface", "hf_" + r, [r], "HF_TOKEN", True)
    # AI providers
    r = g.s(120, B64URL)
    add("openai", "sk-" + "proj-" + r, [r], "OPENAI_API_KEY", True)
    r = g.s(93, B64URL)
    add("anthropic", "sk-" + "ant-api03-" + r + "AA", [r], "ANTHROPIC_API_KEY", True)
    r = g.s(52)
    add("groq", "gsk_" + r, [r], "GROQ_API_KEY", True)
    r = g.s(80)
    add("xai", "xai-" + r, [r], "XAI_API_KEY", True)
    r = g.s(37)
    add("replicate", "r8_" + r, [r], "REPLICATE_API_TOKEN", True)
    # Payments, mail
    r = g.s(24)
    add("stripe_live", "sk_" + "live_" + r, [r], "STRIPE_SECRET_KEY", True)
    r = g.s(24)
    add("stripe_restricted", "rk_" + "live_" + r, [r], "STRIPE_KEY", True)
    r = g.s(32)
    add("stripe_webhook", "whsec_" + r, [r], "STRIPE_WEBHOOK_SECRET", True)
    a, b = g.s(22, B64URL), g.s(43, B64URL)
    add("sendgrid", "SG." + a + "." + b, [a, b], "SENDGRID_API_KEY", True)
    # Other services
    r = g.s(90, B64URL)
    add("vault", "hvs." + r, [r], "VAULT_TOKEN", True)
    r = g.s(64, HEX)
    add("digitalocean", "dop_v1_" + r, [r], "DIGITALOCEAN_TOKEN", True)
    r = g.s(32, HEX)
    add("databricks", "dapi" + r, [r], "DATABRICKS_TOKEN", True)
    r = g.s(58, BECH32)
    add("age", "AGE-SECRET-KEY-1" + r, [r], "SOPS_AGE_KEY", True)
    a, r = g.s(9, string.digits), g.s(33, B64URL)
    add("telegram", a + ":AA" + r, [r], "TELEGRAM_BOT_TOKEN", True)
    # JWT and headers
    p, s = g.s(80, B64URL), g.s(43, B64URL)
    add("jwt", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ" + p + "." + s, [p, s], "ID_TOKEN", True)
    r = base64.b64encode(("deploy:" + g.s(18)).encode()).decode()
    add("basic_auth", "Authorization: Basic " + r, [r[12:]], "AUTH_HEADER", True)
    r = g.s(48, B64URL)
    add("bearer", "Authorization: Bearer " + r, [r], "AUTH_HEADER", True)
    a, b = g.s(32), g.s(32)
    add("cookie", "Cookie: sessionid=" + a + "; csrftoken=" + b, [a, b], "COOKIE_HEADER", True)
    r = g.s(40, B64URL)
    add("set_cookie", "Set-Cookie: session=" + r + "; Path=/; HttpOnly; Secure", [r], "SC", True)
    # Private keys
    for kind, label in (
        ("pem_rsa", "RSA PRIVATE KEY"),
        ("pem_pkcs8", "PRIVATE KEY"),
        ("pem_ec", "EC PRIVATE KEY"),
        ("pem_openssh", "OPENSSH PRIVATE KEY"),
        ("pem_encrypted", "ENCRYPTED PRIVATE KEY"),
    ):
        pem, body = _pem(g, label)
        add(kind, pem, body, "PRIVATE_KEY", True)
    pem, body = _pem(g, "PGP PRIVATE KEY BLOCK", 10)
    pgp = pem.replace("BLOCK-----\n", "BLOCK-----\nVersion: GnuPG v2\n\n", 1)
    add("pgp", pgp, body, "GPG_PRIVATE_KEY", True)
    pem, body = _pem(g, "RSA PRIVATE KEY", 10)
    b64pem = base64.b64encode((pem + "\n").encode()).decode()
    add("k8s_tls_key", b64pem, [b64pem[80:]], "tls.key", True)
    dockercfg = json.dumps({"auths": {"registry.example.com": {"auth": g.b64(24)}}})
    b64cfg = base64.b64encode(dockercfg.encode()).decode()
    add("docker_config", b64cfg, [b64cfg[40:]], ".dockerconfigjson", True)
    # Database URLs with passwords holding / @ :
    for scheme in ("postgres", "postgresql", "mysql", "mongodb+srv", "redis", "amqp", "rediss"):
        a, b, c = g.s(8, PASSWORD_CHARS), g.s(8), g.s(8)
        pw = a + "/" + b + "@" + c + ":" + g.s(3, string.digits)
        url = f"{scheme}://app_user:{pw}@db-{g.s(4, LOWER_DIGITS)}.internal:5432/prod"
        add("url_" + scheme.replace("+", "_"), url, [a, b, c], "DATABASE_URL", True)
    # Values that only their key names: passwords, keys, high-entropy values
    for name in (
        "DB_PASSWORD", "PGPASSWORD", "MYSQL_ROOT_PASSWORD", "SMTP_PASS", "REDIS_PASSWD",
        "MYSQL_PWD", "admin_password", "ldapPassword", "KEYSTORE_PASSPHRASE", "passwd",
    ):  # fmt: skip
        r = g.s(16, PASSWORD_CHARS)
        add("password", r, [r], name)
    r = g.s(128, HEX)
    add("secret_key_base", r, [r], "SECRET_KEY_BASE")
    r = g.b64(32)
    add("encryption_key", r, [r], "ENCRYPTION_KEY")
    r = g.s(50, ALNUM + "!@#%^*(-_=+)")
    add("django_secret", r, [r], "DJANGO_SECRET_KEY")
    r = g.b64(32)
    add("signing_key", r, [r], "JWT_SIGNING_KEY")
    r = g.s(40)
    add("client_secret", r, [r], "OAUTH_CLIENT_SECRET")
    r = g.s(32, HEX)
    add("session_id", r, [r], "sessionid")
    r = g.s(32, HEX)
    add("jsession", r, [r], "JSESSIONID")
    r = g.s(40)
    add("api_key", r, [r], "x-api-key")
    r = g.s(32, HEX)
    add("hex_api_key", r, [r], "DATADOG_API_KEY")
    r = g.s(44, B64URL)
    add("webhook_secret", r, [r], "GITHUB_WEBHOOK_SECRET")
    for name in (
        "TOKEN_V2", "DB_PASSWORD_PROD", "webhook_key_2", "api_key_primary", "sessionCookie",
        "x-functions-key", "signing_secret_v1", "CLIENT_SECRET_2", "authKeyProd",
        "SECRET_SAUCE",
    ):  # fmt: skip
        r = g.s(32)
        add("high_entropy", r, [r], name)
    return out


# --- layouts -------------------------------------------------------------------------------


def _lname(name: str) -> str:
    return name.lower().replace("-", "_")


def _flag(name: str) -> str:
    return _lname(name).replace("_", "-").lstrip(".")


def _header(name: str) -> str:
    return "-".join(p.capitalize() for p in re.split(r"[_.-]+", name.strip("._-")) if p)


_NAMED: dict[str, Callable[[str, str], str]] = {
    "env": lambda n, v: f"{n}={v}",
    "export": lambda n, v: f"export {n}={v}",
    "export_quoted": lambda n, v: f'export {n}="{v}"',
    "env_single_quoted": lambda n, v: f"{n}='{v}'",
    "declare": lambda n, v: f'declare -x {n}="{v}"',
    "docker_e": lambda n, v: f"+ docker run --rm -e {n}={v} trainer:latest",
    "docker_inspect_env": lambda n, v: f'            "Env": ["{n}={v}", "PATH=/usr/bin"],',
    "yaml": lambda n, v: f"  {_lname(n)}: {v}",
    "yaml_quoted": lambda n, v: f'  {_lname(n)}: "{v}"',
    "yaml_block": lambda n, v: f"{_lname(n)}: |\n  {v}\nreplicas: 2",
    "k8s_string_data": lambda n, v: f"stringData:\n  {_lname(n)}: {v}",
    "json": lambda n, v: json.dumps({_lname(n): v, "region": "eu-west-1"}),
    "json_in_log": lambda n, v: (
        "2026-12-01 10:00:00,123 INFO cfg="
        + json.dumps({_lname(n): v, "debug": False}, separators=(",", ":"))
    ),
    "escaped_json": lambda n, v: "payload=" + json.dumps(json.dumps({_lname(n): v})),
    "python_dict": lambda n, v: repr({_lname(n): v, "port": 5432}),
    "python_kwargs": lambda n, v: f"connect(host='db', {_lname(n)}={v!r})",
    "bytes_repr": lambda n, v: "read " + repr(f"{n}={v}\nOTHER=1\n".encode()),
    "frame_locals": lambda n, v: f"    {_lname(n)} = {v!r}",
    "cli_flag": lambda n, v: f"+ python train.py --{_flag(n)} {v} --epochs 3",
    "cli_flag_eq": lambda n, v: f"+ ./deploy.sh --{_flag(n)}={v}",
    "helm_set": lambda n, v: f"+ helm upgrade app ./chart --set {_lname(n)}={v}",
    "url_query": lambda n, v: (
        "GET https://api.example.com/v1/items?" + urllib.parse.urlencode({_lname(n): v, "page": 2})
    ),
    "url_encoded_redirect": lambda n, v: (
        "redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb%3F"
        + _lname(n)
        + "%3D"
        + urllib.parse.quote(v, safe="")
    ),
    "logfmt": lambda n, v: f'level=info msg="loaded config" {_lname(n)}={v} elapsed=3ms',
    "ini": lambda n, v: f"{_lname(n)} = {v}",
    "toml": lambda n, v: f'{_lname(n)} = "{v}"',
    "terraform_plan": lambda n, v: f'      + {_lname(n)} = "{v}"',
    "java_properties": lambda n, v: f"spring.datasource.{_lname(n)}={v}",
    "xml": lambda n, v: f"<{_lname(n)}>{html.escape(v, quote=False)}</{_lname(n)}>",
    "dockerfile_env": lambda n, v: f"Step 4/9 : ENV {n} {v}",
    "windows_set": lambda n, v: f"C:\\build> set {n}={v}",
    "html_json": lambda n, v: html.escape(json.dumps({_lname(n): v})),
    "percent_json": lambda n, v: "body=" + urllib.parse.quote(json.dumps({_lname(n): v})),
    "header": lambda n, v: f"{_header(n)}: {v}",
    "curl_header": lambda n, v: f"+ curl -sS -H '{_header(n)}: {v}' https://api.example.com/v2",
    "http_dump": lambda n, v: (
        "sent " + repr(f"GET /v1 HTTP/1.1\r\nHost: api.example.com\r\n{_header(n)}: {v}\r\n\r\n")
    ),
    "gha_env": lambda n, v: f"  {n}: {v}",
    "mysql_flag": lambda n, v: f"+ mysql -h db -u root --password={v} prod",
    "mysql_p": lambda n, v: f"+ mysql -uroot -p{v} prod < dump.sql",
    "tab_table": lambda n, v: f"{_lname(n)}\t{v}",
    "oauth_redirect": lambda n, v: (
        "GET https://app.example.com/cb?code="
        + urllib.parse.quote(v, safe="")
        + "&state=af0ifjsldkj"
    ),
    "exception": lambda n, v: f"ValueError: invalid {_lname(n)}={v!r}",
}
_BARE: dict[str, Callable[[str], str]] = {
    "prose": lambda v: f"INFO using {v} for the upload",
    "exception_repr": lambda v: f"RuntimeError: request failed for {v!r}",
    "json_value": lambda v: json.dumps({"value": v, "id": 3}),
    "argv_list": lambda v: repr(["--config", "cfg.yaml", v]),
    "escaped_in_message": lambda v: '{"msg": ' + json.dumps(f'got "{v}" back') + "}",
    "after_newline_escape": lambda v: "data " + repr(f"first line\n{v}\n".encode()),
    "lines_list_repr": lambda v: "lines = " + repr(v.splitlines(keepends=True)),
    "raw": lambda v: v,
}
#: Layouts that read fine only for self-identifying values' own text (multi-line keys).
LAYOUTS = sorted(_NAMED) + sorted("bare_" + k for k in _BARE)


def _escape_json(s: str) -> str:
    return json.dumps(s)[1:-1]


ESCAPES: dict[str, Callable[[str], str]] = {
    "none": lambda s: s,
    "json": _escape_json,
    "json2": lambda s: _escape_json(_escape_json(s)),
    "repr": lambda s: repr(s)[1:-1],
    "bytes_repr": lambda s: repr(s.encode())[2:-1],
    "percent": lambda s: urllib.parse.quote(s, safe=""),
    "html": html.escape,
}


def place(secret: Secret, layout: str, escape: str) -> Placed:
    if layout.startswith("bare_"):
        text = _BARE[layout[5:]](secret.value)
    else:
        text = _NAMED[layout](secret.name, secret.value)
    if escape != "none":
        text = "logged " + ESCAPES[escape](text)
    return Placed(secret, layout, escape, text)


def corpus(seed: int = 20261201, per_secret: int = 4) -> list[Placed]:
    """Every secret in ``per_secret`` layouts (every layout used), half of them escaped."""
    g = Gen(seed)
    rng = random.Random(seed + 1)
    secrets = _secrets(g)
    named, bare = sorted(_NAMED), sorted("bare_" + k for k in _BARE)
    out: list[Placed] = []
    cycle = 0
    for secret in secrets:
        pool = named + bare if secret.self_identifying else named
        for _ in range(per_secret):
            layout = pool[cycle % len(pool)] if cycle < 4 * len(pool) else rng.choice(pool)
            cycle += 1
            escape = "none" if rng.random() < 0.5 else rng.choice(sorted(ESCAPES))
            out.append(place(secret, layout, escape))
    return out


# --- leak checks ---------------------------------------------------------------------------

_BACKSLASH = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|[\\\"'/nrt])")
_SIMPLE = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "'": "'", "/": "/"}


def _unbackslash(s: str) -> str:
    def sub(m: re.Match[str]) -> str:
        t = m[1]
        return chr(int(t[1:], 16)) if t[0] in "xu" else _SIMPLE[t]

    return _BACKSLASH.sub(sub, s)


def readings(text: str) -> list[str]:
    """``text`` and what a reader could decode from it (a few rounds of every escape)."""
    seen = [text]
    current = text
    for _ in range(4):
        current = _unbackslash(urllib.parse.unquote(html.unescape(current)))
        if current == seen[-1]:
            break
        seen.append(current)
    return seen


def leaks(secret: Secret, texts: Iterable[str]) -> list[str]:
    """The ``WINDOW``-character runs of the secret's random parts found in ``texts``."""
    found: list[str] = []
    views = [r for t in texts for r in readings(t)]
    for part in secret.parts:
        for i in range(len(part) - WINDOW + 1):
            run = part[i : i + WINDOW]
            if any(run in v for v in views):
                found.append(run)
                break
    return found
