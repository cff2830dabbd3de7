"""``info(run_manager)``: a live table of the run's jobs, with a Chat button on failed jobs.

One row widget per job, created once and updated in place (only the values that changed are
sent to the browser). A tracked task on the kernel's loop waits for the managers' change
notifications and refreshes at most every ``MIN_INTERVAL`` seconds (and every second while
jobs run, for their runtimes).
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets  # type: ignore[import-untyped]

from ..jobs.model import JobState, format_duration
from ..managers.causes import Cause, failures_by_cause, never_ran_line, run_heading
from .chat import ChatWidget, WidgetTasks, chat_widget
from .render import style_tag

if TYPE_CHECKING:
    from ..managers.run_manager import RunManager
    from ..managers.views import JobView

log = logging.getLogger(__name__)

#: Minimum seconds between two refreshes of the table.
MIN_INTERVAL = 0.25
#: Refresh at least this often while a job runs (its runtime ticks).
TICK = 1.0

_STATE_CLASS = {
    JobState.COMPLETED: "ok",
    JobState.RUNNING: "run",
    JobState.PENDING: "wait",
    JobState.UNKNOWN: "wait",
    JobState.CANCELLED: "wait",
    JobState.TIMEOUT: "warn",
    JobState.OUT_OF_MEMORY: "warn",
}
_WIDTHS = ("140px", "120px", "64px", "70px", "160px", "1 1 200px", "270px")
_HEADINGS = ("job", "state", "attempt", "runtime", "exit", "diagnosis", "")


def _cell(width: str, value: str = "") -> widgets.HTML:
    layout = widgets.Layout(flex=width if " " in width else f"0 0 {width}", min_width="0")
    cell = widgets.HTML(value, layout=layout)
    cell.add_class("adaptive-llm-cell")
    return cell


def _exit_text(view: JobView) -> str:
    if view.reason:
        return view.reason
    if view.signal:
        return f"signal {view.signal}"
    if view.exit_code is not None and view.state.is_final:
        return f"exit {view.exit_code}"
    return ""


def _runtime(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f"{seconds:.1f}s" if seconds < 60 else format_duration(seconds)


def _short(path: str) -> str:
    """A source path as read in a table: its file name (the full path is in the chat)."""
    return path.replace("\\", "/").rsplit("/", 1)[-1]


def _one_line(text: str, limit: int = 140) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


class _Row:
    """The widgets of one job's row; ``update`` sets only what changed."""

    def __init__(self, table: InfoWidget, name: str) -> None:
        self.name = name
        self.cells = [_cell(width) for width in _WIDTHS[:-1]]
        self.cells[0].value = f"<b>{html.escape(name)}</b>"
        self.chat = widgets.Button(description="Chat", icon="comments", button_style="info")
        self.chat.add_class("adaptive-llm-chat-button")
        self.resubmit = widgets.Button(description="Resubmit", icon="redo")
        self.resubmit.add_class("adaptive-llm-resubmit")
        self.cancel = widgets.Button(description="Cancel", icon="stop")
        self.cancel.add_class("adaptive-llm-cancel")
        for button in (self.chat, self.resubmit, self.cancel):
            button.layout = widgets.Layout(width="auto", height="26px", flex="0 0 auto")
        call = table.tasks.call
        self.chat.on_click(lambda _: call(table.open_chat, name))
        self.resubmit.on_click(lambda _: call(table.start, table.rm.resubmit, name))
        self.cancel.on_click(lambda _: call(table.start, table.rm.cancel_job, name))
        actions = widgets.HBox(
            [self.chat, self.resubmit, self.cancel],
            layout=widgets.Layout(flex=f"0 0 {_WIDTHS[-1]}"),
        )
        self.box = widgets.HBox([*self.cells, actions])
        self.box.add_class("adaptive-llm-row")
        self.box.add_class(f"adaptive-llm-job-{name}")

    def update(self, view: JobView) -> None:
        state = view.state
        css = _STATE_CLASS.get(state, "bad" if state.is_failure else "wait")
        values = [
            f'<span class="adaptive-llm-state adaptive-llm-state-{css}">{state.value}</span>',
            str(view.attempt) if view.attempt else "-",
            _runtime(view.runtime),
            html.escape(_one_line(_exit_text(view), 60)),
            "",
        ]
        if view.summary is not None:
            location = view.location
            where = f" ({_short(location.file)}:{location.line})" if location else ""
            summary = view.summary + where
            values[4] = (
                f'<span title="{html.escape(summary, quote=True)}">'
                f"{html.escape(_one_line(summary))}</span>"
            )
        elif state.is_failure:
            values[4] = '<span class="adaptive-llm-state-wait">diagnosing…</span>'
        for cell, value in zip(self.cells[1:], values, strict=True):
            if cell.value != value:
                cell.value = value
        failed = state.is_failure
        show = "inline-flex" if failed else "none"
        if self.chat.layout.display != show:
            self.chat.layout.display = show
        self.resubmit.disabled = not state.is_final or not view.attempt
        self.cancel.disabled = state.is_final


class InfoWidget(widgets.VBox):  # type: ignore[misc]
    """``info(run_manager)``: see the module docstring."""

    def __init__(self, rm: RunManager) -> None:
        self.rm = rm
        self.tasks = WidgetTasks(self._show_error)
        self.rows: dict[str, _Row] = {}
        self._last: list[JobView] = []
        self._seen = 0
        self.chats: dict[str, ChatWidget] = {}
        self.refreshes = 0
        self.counts = widgets.HTML()
        self.counts.add_class("adaptive-llm-counts")
        self.groups = widgets.HTML()
        self.groups.add_class("adaptive-llm-groups")
        self.notice = widgets.HTML()
        self.notice.add_class("adaptive-llm-notice")
        head = widgets.HBox(
            [_cell(w, f"<b>{h}</b>") for w, h in zip(_WIDTHS, _HEADINGS, strict=True)]
        )
        head.add_class("adaptive-llm-head")
        self.table = widgets.VBox([head])
        self.chat_area = widgets.VBox()
        self.chat_area.add_class("adaptive-llm-chat-area")
        super().__init__(
            [
                widgets.HTML(style_tag()),
                self.counts,
                self.table,
                self.groups,
                self.notice,
                self.chat_area,
            ]
        )
        self.add_class("adaptive-llm-info")
        self.refresh()
        self._loop_task = self.tasks.start(self._watch(), "info-watch", background=True)

    # -- actions ------------------------------------------------------------------------------

    def start(self, action: Any, name: str) -> asyncio.Task[Any]:
        """Run ``await action(name)`` (resubmit, cancel) in a task; errors shown as a notice."""
        self.notice.value = ""
        return self.tasks.start(action(name), f"{action.__name__}-{name}")

    def open_chat(self, name: str) -> ChatWidget:
        """Show the chat on ``name`` below the table (the same widget when opened again)."""
        chat = self.chats.get(name)
        if chat is None:
            chat = self.chats[name] = chat_widget(self.rm.llm_manager, name)
        self.chat_area.children = (chat,)
        return chat

    def close(self) -> None:
        """Stop the live updates."""
        self._loop_task.cancel()

    # -- updates ------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Bring the table up to date: new rows appended, changed cells updated."""
        self._seen = self.rm.version
        views = self.rm.jobs()
        added = []
        counts: dict[str, int] = defaultdict(int)
        for view in views:
            row = self.rows.get(view.name)
            if row is None:
                row = self.rows[view.name] = _Row(self, view.name)
                added.append(row.box)
            row.update(view)
            counts[view.state.value] += 1
        if added:
            self.table.children = (*self.table.children, *added)
        self._last = views
        outage = self.rm.outage
        self._set(self.counts, _counts_html(counts, len(views), outage))
        self._set(self.groups, _groups_html(views))
        self.refreshes += 1

    @staticmethod
    def _set(widget: widgets.HTML, value: str) -> None:
        if widget.value != value:
            widget.value = value

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        seen = self._seen
        while True:
            changed = await self.rm.changed(timeout=TICK, since=seen)
            began = loop.time()
            running = any(not row_view.is_final for row_view in self._last)
            if changed or running:
                seen = self.rm.version
                try:
                    self.refresh()
                except Exception:  # a display problem must not end the live updates
                    log.exception("refreshing the job table failed")
            if self.rm.closed:
                return
            await asyncio.sleep(max(0.0, MIN_INTERVAL - (loop.time() - began)))

    def _show_error(self, exc: BaseException) -> None:
        self.notice.value = f"<b>Error:</b> {html.escape(str(exc) or type(exc).__name__)}"


def _counts_html(counts: dict[str, int], total: int, scheduler_error: str | None) -> str:
    parts = []
    for state in JobState:
        if counts.get(state.value):
            css = _STATE_CLASS.get(state, "bad" if state.is_failure else "wait")
            parts.append(
                f'<span class="adaptive-llm-state adaptive-llm-state-{css}">'
                f"{counts[state.value]} {state.value.lower()}</span>"
            )
    text = f"<b>{total} jobs</b>: " + " · ".join(parts)
    if scheduler_error:
        text += f' <span class="adaptive-llm-notice">(scheduler: {html.escape(scheduler_error)})'
        text += "</span>"
    return text


def _groups_html(views: list[JobView]) -> str:
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
    names = ", ".join(cause.jobs[:8]) + (", …" if len(cause.jobs) > 8 else "")
    count = len(cause.jobs)
    head = f"{count} jobs failed with the same" if count > 1 else "1 job failed with"
    return (
        f"<li>{head} <b>{html.escape(cause.what)}</b>{html.escape(where)}"
        f' <span class="adaptive-llm-usage">({html.escape(names)})</span></li>'
    )


def info(run_manager: RunManager) -> InfoWidget:
    """A live table of ``run_manager``'s jobs; call in a cell after ``rm.start()``."""
    return InfoWidget(run_manager)
