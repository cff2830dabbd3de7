"""What the workspace refuses, and how it names things: the deny list and refusal errors.

The deny list applies to reads, writes, listings' ``[protected]`` marks and search, to any
component of the real path, case-insensitively:

- whole directories: the workspace's own state ``.adaptive_llm``, ``.git``, and the usual homes
  of credentials: ``.ssh``, ``.gnupg``, ``.aws``, ``.azure``, ``.kube`` (kubeconfig),
  ``.docker`` (``config.json`` holds registry auth);
- file names: ``.env``, ``.envrc`` (direnv), ``.netrc``/``_netrc``, ``.git-credentials``,
  ``.pgpass``, ``.my.cnf``, ``.npmrc``, ``.pypirc``, ``.htpasswd``, ``.boto``, ``.s3cfg``,
  ``.dockercfg``, ``.vault-token``, ``kubeconfig``, ``credentials.json``, ``secrets.json``,
  ``application_default_credentials.json`` (gcloud);
- patterns: ``.env.*`` and ``*.env`` (``prod.env``; ``.env.example`` too: it is often a copy),
  ``*.kubeconfig``, ``*.pem``, ``*.key``, ``*.p12``, ``*.pfx``, ``*.jks``, ``*.keystore``,
  ``id_rsa*``/``id_dsa*``/``id_ecdsa*``/``id_ed25519*``, ``service-account*.json``,
  ``service_account*.json``, ``client_secret*.json``, ``secrets.y*ml``, ``*.tfstate``;
- editor and backup copies of any of these (``.pypirc~``, ``secrets.yml.bak``, ``*.orig``,
  ``*.old``, ``*.swp``, ...).

A denied name is refused whatever it holds: the point is that the model never sees (and so
never sends to a provider) what such files usually hold. A file's content is not inspected
for this; a *hard link* to a secret placed inside the workspace under an innocent name is
the same file and is read like any other (see the README).
"""

from __future__ import annotations

import fnmatch

from ...errors import WorkspaceError as WorkspaceError

_DENY_ANY = {".adaptive_llm", ".git", ".ssh", ".gnupg", ".aws", ".azure", ".kube", ".docker"}
_DENY_NAMES = {
    ".env",
    ".envrc",
    ".netrc",
    "_netrc",
    ".git-credentials",
    ".pgpass",
    ".my.cnf",
    ".npmrc",
    ".pypirc",
    ".htpasswd",
    ".boto",
    ".s3cfg",
    ".dockercfg",
    ".vault-token",
    "kubeconfig",
    "credentials.json",
    "secrets.json",
    "application_default_credentials.json",
}
_DENY_GLOBS = (
    ".env.*",
    "*.env",
    "*.kubeconfig",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed*",
    "service-account*.json",
    "service_account*.json",
    "client_secret*.json",
    "secrets.y*ml",
    "*.tfstate",  # Terraform state holds the secrets of what it created
)


#: Suffixes of editor and backup copies: a copy of a denied file is denied too.
_BACKUP_SUFFIXES = (
    "~",
    ".bak",
    ".orig",
    ".old",
    ".swp",
    ".swo",
    ".save",
    ".backup",
    ".copy",
    ".tmp",
    ".prev",
)


def denied(name: str) -> bool:
    """Whether a path component is on the deny list (secrets, VCS and internal state), also
    as an editor or backup copy (``.pypirc~``, ``secrets.yml.bak``, ``server.key.orig``)."""
    low = name.lower()
    while True:
        if low in _DENY_ANY or low in _DENY_NAMES:
            return True
        if any(fnmatch.fnmatchcase(low, g) for g in _DENY_GLOBS):
            return True
        stripped = next((low[: -len(s)] for s in _BACKUP_SUFFIXES if low.endswith(s)), None)
        if not stripped:
            return False
        low = stripped


def show(name: str) -> str:
    """A name safe to print on one line (control characters escaped)."""
    return name if name.isprintable() else repr(name)[1:-1]
