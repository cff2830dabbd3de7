"""The plain-text job table of ``adaptive-llm status`` and the demo."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
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
    absolute = os.path.abspath(os.fspath(path))
    here = user_cwd() if cwd is None else cwd
    if here is None:
        return absolute
    # Strings, not Paths: a Path interns every part it parses, and status has 100,000 paths.
    inside = os.fspath(here)
    inside = inside if inside.endswith("/") else inside + "/"
    same_root = absolute.startswith("//") == inside.startswith("//")  # POSIX's own "//"
    if same_root and absolute.startswith(inside) and len(absolute) > len(inside):
        return absolute[len(inside) :]
    return absolute


def format_table(rows: list[dict[str, Any]], base: Path | None = None) -> str:
    """A plain-text table of job rows (name, state, attempt, exit, category, location);
    paths are shown relative to ``base`` when inside it, by default as the user can paste
    them here (:func:`user_path`)."""
    lines: list[str] = []
    stream_table(rows, lines.append, base, measure=len(rows))
    return "\n".join(lines)


#: ``stream_table`` sizes its columns on this many rows.
MEASURED_ROWS = 1000


def stream_table(
    rows: Iterable[dict[str, Any]],
    write: Callable[[str], object],
    base: Path | None = None,
    *,
    measure: int = MEASURED_ROWS,
) -> None:
    """``format_table`` a line at a time (``write`` gets each line, no newline): the columns
    are as wide as their widest cell in the heading and the first ``measure`` rows, and a
    wider cell later pushes the rest of its line right, so 100,000 rows print as they come,
    with the first ones at once."""

    here = user_cwd() if base is None else None  # once, not per row

    def shown(path: object) -> str:
        if path is None:
            return "-"
        text = str(path)
        if base is None:
            return user_path(text, here)
        if Path(text).is_relative_to(base):
            return str(Path(text).relative_to(base))
        return text

    def cells(row: dict[str, Any]) -> tuple[str, ...]:
        exit_text = f"sig {row['signal']}" if row.get("signal") else _text(row.get("exit_code"))
        loc = row.get("location")
        return (
            row["name"],
            row["state"],
            str(row["attempt"]),
            exit_text,
            _text(row.get("category")),
            f"{shown(loc['file'])}:{loc['line']}" if loc else "-",
            shown(row.get("log_path")),
        )

    header = ("JOB", "STATE", "TRY", "EXIT", "CATEGORY", "WHERE", "LOG")
    first: list[tuple[str, ...]] = [header]
    it = iter(rows)
    for row in it:
        first.append(cells(row))
        if len(first) > measure:
            break
    widths = [max(len(line[i]) for line in first) for i in range(len(header))]

    def line(values: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(values, widths, strict=True)).rstrip()

    for values in first:
        write(line(values))
    for row in it:
        write(line(cells(row)))


def _text(value: object) -> str:
    return "-" if value is None else str(value)
