"""The diagnosis record: what failed, the lines that say why, and where to look."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import DiagnosisError as DiagnosisError

#: The failure taxonomy (documented in README.md, "Diagnosis categories").
CATEGORIES: tuple[str, ...] = (
    "python_exception",
    "missing_module",
    "missing_file",
    "permission_denied",
    "out_of_memory",
    "gpu_out_of_memory",
    "time_limit",
    "segfault",
    "syntax_error",
    "test_failure",
    "compile_error",
    "lint_error",
    "dependency_install",
    "container_build",
    "network",
    "gpu_error",
    "mpi_abort",
    "numerical_error",
    "cancelled",
    "node_failure",
    "unknown",
)


@dataclass(frozen=True)
class Location:
    """The line to open: a file (as written in the log, resolved when possible) and a line."""

    file: str
    line: int
    #: Source lines around ``line`` ("  12 | code"), when the file exists locally.
    source: str | None = None


@dataclass(frozen=True)
class Excerpt:
    """The lines of the log that explain the failure, redacted and within a token budget."""

    text: str
    #: 1-based inclusive line spans of the original file (``\\n``-separated lines).
    spans: list[tuple[int, int]] = field(default_factory=list)


@dataclass(frozen=True)
class Diagnosis:
    """Result of diagnosing one log file. JSON shape is the CLI contract."""

    path: str
    category: str
    summary: str
    excerpt: Excerpt
    signature: str
    tokens: int
    error_type: str | None = None
    message: str | None = None
    location: Location | None = None
    suggestion: str | None = None
    elapsed_ms: float = 0.0
    #: Which engine produced it ("offline" for the rules engine).
    engine: str = "offline"

    def to_dict(self) -> dict[str, Any]:
        """The JSON object printed by ``adaptive-llm diagnose --json`` and stored in SQLite:
        the fields in their order (what ``dataclasses.asdict`` gives, built directly: a
        worker sends one per diagnosis)."""
        loc = self.location
        return {
            "path": self.path,
            "category": self.category,
            "summary": self.summary,
            "excerpt": {
                "text": self.excerpt.text,
                "spans": [[a, b] for a, b in self.excerpt.spans],
            },
            "signature": self.signature,
            "tokens": self.tokens,
            "error_type": self.error_type,
            "message": self.message,
            "location": (
                None if loc is None else {"file": loc.file, "line": loc.line, "source": loc.source}
            ),
            "suggestion": self.suggestion,
            "elapsed_ms": self.elapsed_ms,
            "engine": self.engine,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Diagnosis:
        excerpt = data.get("excerpt") or {}
        loc = data.get("location")
        return cls(
            path=str(data["path"]),
            category=str(data["category"]),
            summary=str(data["summary"]),
            excerpt=Excerpt(
                text=str(excerpt.get("text", "")),
                spans=[(int(a), int(b)) for a, b in excerpt.get("spans", [])],
            ),
            signature=str(data["signature"]),
            tokens=int(data.get("tokens", 0)),
            error_type=data.get("error_type"),
            message=data.get("message"),
            location=(
                Location(file=str(loc["file"]), line=int(loc["line"]), source=loc.get("source"))
                if loc
                else None
            ),
            suggestion=data.get("suggestion"),
            elapsed_ms=float(data.get("elapsed_ms", 0.0)),
            engine=str(data.get("engine", "offline")),
        )
