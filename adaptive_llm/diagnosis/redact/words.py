"""Secret words: which key names hold a secret, and the marker kind each name gives."""

from __future__ import annotations

from .patterns import _Lazy

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

_WEAK_WORDS = ("pass", "pwd", "secret", "token", "key", "auth", "cred", "sig", "cookie", "sess")

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
