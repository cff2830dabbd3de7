"""What the workspace refuses, and how it names things: the deny list and refusal errors.

The deny list (reads and writes, case-insensitive, any component of the real path) is
described in :mod:`adaptive_llm.chat.workspace.files`.
"""

from __future__ import annotations

import fnmatch

from ...errors import WorkspaceError as WorkspaceError

_DENY_ANY = {".adaptive_llm", ".git", ".ssh", ".gnupg", ".aws"}
_DENY_NAMES = {".env", ".netrc", "_netrc", ".git-credentials", ".pgpass", ".npmrc", ".pypirc"}
_DENY_NAMES |= {".htpasswd", "credentials.json"}
_DENY_GLOBS = (
    ".env.*",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed*",
)


def denied(name: str) -> bool:
    """Whether a path component is on the deny list (secrets, VCS and internal state)."""
    low = name.lower()
    if low in _DENY_ANY or low in _DENY_NAMES:
        return True
    return any(fnmatch.fnmatchcase(low, g) for g in _DENY_GLOBS)


def show(name: str) -> str:
    """A name safe to print on one line (control characters escaped)."""
    return name if name.isprintable() else repr(name)[1:-1]
