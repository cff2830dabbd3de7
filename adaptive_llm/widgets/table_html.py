"""The job table's HTML pieces: escaped text (nothing from a job is markup), one place."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from ..jobs.model import JobState
from ..managers.causes import Cause, cause_parts, failures_by_cause, never_ran_line, run_heading

if TYPE_CHECKING:
    from ..managers.views import JobView

__all__ = [
    "STATE_CLASS",
    "counts_html",
    "diagnosis_full",
    "diagnosis_line",
    "groups_html",
    "one_line",
    "titled",
]

STATE_CLASS = {
    JobState.COMPLETED: "ok",
    JobState.RUNNING: "run",
    JobState.PENDING: "wait",
    JobState.UNKNOWN: "wait",
    JobState.CANCELLED: "wait",
    JobState.TIMEOUT: "warn",
    JobState.OUT_OF_MEMORY: "warn",
}


def _short(path: str) -> str:
    """A source path as read in a table: its file name (the full path is in the chat)."""
    return path.replace("\\", "/").rsplit("/", 1)[-1]


def one_line(text: str, limit: int = 140) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def titled(text: str) -> str:
    """``text`` escaped, whole on hover (its cell may cut it)."""
    return (
        f'<span title="{html.escape(text, quote=True)}">{html.escape(text)}</span>' if text else ""
    )


def diagnosis_line(view: JobView) -> str:
    """The diagnosis cell: one line, cut to the column (the whole text on hover)."""
    location = view.location
    where = f" ({_short(location.file)}:{location.line})" if location else ""
    summary = (view.summary or "") + where
    return (
        f'<span title="{html.escape(summary, quote=True)}">{html.escape(one_line(summary))}</span>'
    )


def diagnosis_full(view: JobView) -> str:
    """The whole diagnosis, shown under the row when its toggle is on."""
    parts = [f"<div><b>{html.escape(view.summary or '')}</b></div>"]
    kind = view.category or ""
    if view.error_type:
        kind += f" · {view.error_type}"
    if kind:
        parts.append(f"<div><i>{html.escape(kind)}</i></div>")
    location = view.location
    if location:
        where = f"{location.file}:{location.line}"
        parts.append(f"<div>at <code>{html.escape(where)}</code></div>")
    if view.suggestion:
        parts.append(f"<div><b>Suggestion:</b> {html.escape(view.suggestion)}</div>")
    return "".join(parts)


def counts_html(counts: dict[str, int], total: int, scheduler_error: str | None) -> str:
    parts = []
    for state in JobState:
        if counts.get(state.value):
            css = STATE_CLASS.get(state, "bad" if state.is_failure else "wait")
            parts.append(
                f'<span class="adaptive-llm-state adaptive-llm-state-{css}">'
                f"{counts[state.value]} {state.value.lower()}</span>"
            )
    text = f"<b>{total} jobs</b>: " + " · ".join(parts)
    if scheduler_error:
        text += f' <span class="adaptive-llm-notice">(scheduler: {html.escape(scheduler_error)})'
        text += "</span>"
    return text


def groups_html(views: list[JobView]) -> str:
    """Failures by cause; for jobs a scheduler runs together (an Airflow DAG run), a heading
    per run with its tasks' states, and the tasks that never ran."""
    sections = failures_by_cause(views)
    if not sections:
        return ""
    runs = any(s.run is not None for s in sections)
    parts = ["<b>Failures by cause</b>"]
    for section in sections:
        items = [_cause_html(cause) for cause in section.causes]
        if section.never_ran:
            items.append(f"<li>{html.escape(never_ran_line(section))}</li>")
        if runs:
            parts.append(f"<div>{html.escape(run_heading(section))}</div>")
        parts.append("<ul>" + "".join(items) + "</ul>")
    return "".join(parts)


def _cause_html(cause: Cause) -> str:
    where = f" at {_short(cause.where.file)}:{cause.where.line}" if cause.where else ""
    head, names = cause_parts(cause)
    return (
        f"<li>{head} <b>{html.escape(cause.what)}</b>{html.escape(where)}"
        f' <span class="adaptive-llm-usage">({html.escape(names)})</span></li>'
    )
