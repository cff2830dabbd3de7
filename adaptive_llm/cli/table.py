"""The plain-text job table of ``adaptive-llm status`` and the demo."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def format_table(rows: list[dict[str, Any]], base: Path | None = None) -> str:
    """A plain-text table of job rows (name, state, attempt, exit, category, location);
    paths inside ``base`` are shown relative to it."""

    def shown(path: object) -> str:
        if path is None:
            return "-"
        text = str(path)
        if base is not None and Path(text).is_relative_to(base):
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
