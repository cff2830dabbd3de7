"""The plain-text job table of ``adaptive-llm status`` and the demo."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def user_cwd() -> Path | None:
    """The directory the user's shell stands in, when it is known: the current directory,
    unless make was told to run elsewhere (``make -C DIR`` puts ``w`` in MAKEFLAGS)."""
    if "MAKELEVEL" in os.environ:
        words = os.environ.get("MAKEFLAGS", "").split()
        flags = words[0] if words and not words[0].startswith("-") and "=" not in words[0] else ""
        if "w" in flags or "--print-directory" in words:
            return None
    try:
        return Path.cwd()
    except OSError:  # the current directory was removed
        return None


def user_path(path: str | os.PathLike[str], cwd: Path | None = None) -> str:
    """``path`` as the user can paste it from where they stand (``cwd``, by default
    :func:`user_cwd`): relative to it when inside it (``adaptive-llm-demo/.adaptive_llm/
    logs/...``), else absolute."""
    absolute = Path(os.path.abspath(os.fspath(path)))
    here = user_cwd() if cwd is None else cwd
    if here is not None and absolute != here and absolute.is_relative_to(here):
        return str(absolute.relative_to(here))
    return str(absolute)


def format_table(rows: list[dict[str, Any]], base: Path | None = None) -> str:
    """A plain-text table of job rows (name, state, attempt, exit, category, location);
    paths are shown relative to ``base`` when inside it, by default as the user can paste
    them here (:func:`user_path`)."""

    def shown(path: object) -> str:
        if path is None:
            return "-"
        text = str(path)
        if base is None:
            return user_path(text)
        if Path(text).is_relative_to(base):
            return str(Path(text).relative_to(base))
        return text

    header = ("JOB", "STATE", "TRY", "EXIT", "CATEGORY", "WHERE", "LOG")
    lines: list[tuple[str, ...]] = [header]
    for row in rows:
        exit_text = f"sig {row['signal']}" if row.get("signal") else _text(row.get("exit_code"))
        loc = row.get("location")
        lines.append(
            (
                row["name"],
                row["state"],
                str(row["attempt"]),
                exit_text,
                _text(row.get("category")),
                f"{shown(loc['file'])}:{loc['line']}" if loc else "-",
                shown(row.get("log_path")),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def _text(value: object) -> str:
    return "-" if value is None else str(value)
