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

from .candidates import _candidates
from .keys import _PEM_RE, _redact_headless_pem, _sub_pem
from .patterns import MARKER_PREFIX, cut_index
from .segment import _redact_segment

# The package, in the order a text goes through it: ``keys`` (private key blocks, on the whole
# text), ``candidates`` (the fast pass: which lines may hold a secret), ``segment`` (every
# rule on those lines and on their decoded views, from ``escapes``; the spans merged and
# masked). The rules: ``shapes`` (tokens by shape), ``headers`` (headers, commands, URLs),
# ``assign`` (values of secret-named keys) and ``weak`` (high-entropy values of keys holding a
# secret word); what they share: ``words`` (key names), ``values`` (what a value looks like),
# ``patterns`` (``_Lazy``, markers, spans).

__all__ = ["MARKER_PREFIX", "cut_index", "redact"]


def redact(text: str) -> str:
    """Return ``text`` with secrets replaced by ``[REDACTED:<kind>]`` markers.

    Line structure is preserved exactly (same number of ``\\n``); see the package docstring
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
