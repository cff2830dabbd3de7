"""What an edit is: the exact bytes planned (``EditPlan``), what was written (``AppliedEdit``),
and the unified diff that shows it."""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass
from typing import Literal

__all__ = ["AppliedEdit", "EditPlan", "diff", "sha"]


@dataclass(frozen=True)
class EditPlan:
    """A proposed write: exactly the bytes that ``Workspace.apply`` will put in ``path``."""

    path: str
    kind: Literal["create", "overwrite", "edit"]
    before: bytes | None
    after: bytes
    diff: str
    before_sha256: str | None


@dataclass(frozen=True)
class AppliedEdit:
    """A write that happened; ``Workspace.undo`` restores ``before`` (or deletes a created file)."""

    path: str
    kind: Literal["create", "overwrite", "edit"]
    before: bytes | None
    after_sha256: str
    diff: str
    #: Folders the write created for a new file (relative to the root, outermost first).
    created_dirs: tuple[str, ...] = ()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def lines(text: str) -> list[str]:
    """Split on ``\\n`` only, keeping the ends (``str.splitlines`` also splits on ``\\r``...)."""
    parts = text.split("\n")
    return [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def diff(path: str, before: bytes | None, after: bytes) -> str:
    a = lines(before.decode("utf-8", "replace")) if before is not None else []
    b = lines(after.decode("utf-8", "replace"))
    old = "/dev/null" if before is None else f"a/{path}"
    out = []
    for line in difflib.unified_diff(a, b, old, f"b/{path}", lineterm="\n"):
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)
