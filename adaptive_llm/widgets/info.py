"""``info(run_manager)``: a live table of the run's jobs, with a Chat button on failed jobs.

One row widget per job, created once and updated in place (only the values that changed are
sent to the browser). A tracked task on the kernel's loop waits for the managers' change
notifications and refreshes at most every ``MIN_INTERVAL`` seconds (and every second while
jobs run, for their runtimes).

Each row has a Log button (the log viewer, below the table) and a toggle beside its one-line
diagnosis that shows the whole diagnosis under the row. A menu
filters the rows by state. The chat or log opened is scrolled into view: ipywidgets has no
scroll API, so a small script (our constant text and a CSS class, nothing from a job) is
shown in a zero-height Output widget and calls ``scrollIntoView`` on the widget's DOM node.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import logging
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets  # type: ignore[import-untyped]

from ..jobs.model import JobState, format_duration
from .chat import ChatWidget, WidgetTasks, chat_widget
from .log_viewer import LogViewer, log_viewer
from .render import style_tag
from .scroll import Scroller
from .table_html import (
    STATE_CLASS,
    counts_html,
    diagnosis_full,
    diagnosis_line,
    groups_html,
    one_line,
    titled,
)

if TYPE_CHECKING:
    from ..managers.run_manager import RunManager
    from ..managers.views import JobView

log = logging.getLogger(__name__)

#: Minimum seconds between two refreshes of the table.
MIN_INTERVAL = 0.25
#: Refresh at least this often while a job runs (its runtime ticks).
TICK = 1.0

_WIDTHS = ("120px", "100px", "66px", "60px", "120px", "1 1 160px", "330px")
#: The state filter's choices: label -> which states it shows (None: all).
FILTERS: dict[str, frozenset[JobState] | None] = {
    "all": None,
    "failed": frozenset(s for s in JobState if s.is_failure),
    "running": frozenset({JobState.RUNNING}),
    "waiting": frozenset({JobState.PENDING, JobState.UNKNOWN}),
    "completed": frozenset({JobState.COMPLETED}),
    "cancelled": frozenset({JobState.CANCELLED}),
}
_tables = itertools.count(1)
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


class _Row:
    """The widgets of one job's row; ``update`` sets only what changed."""

    def __init__(self, table: InfoWidget, name: str) -> None:
        self.name = name
        self.cells = [_cell(width) for width in _WIDTHS[:-1]]
        self.cells[0].value = f"<b>{html.escape(name)}</b>"
        self.cells[5].add_class("adaptive-llm-diagnosis-cell")
        self.more = widgets.ToggleButton(
            value=False,
            icon="caret-right",
            tooltip="The whole diagnosis",
            layout=widgets.Layout(width="24px", height="22px", padding="0", display="none"),
        )
        self.more.add_class("adaptive-llm-diagnosis-toggle")
        self.detail = widgets.HTML(layout=widgets.Layout(display="none"))
        self.detail.add_class("adaptive-llm-diagnosis-full")
        self._view: JobView | None = None
        self.chat = widgets.Button(description="Chat", icon="comments", button_style="info")
        self.chat.add_class("adaptive-llm-chat-button")
        self.resubmit = widgets.Button(description="Resubmit", icon="redo")
        self.resubmit.add_class("adaptive-llm-resubmit")
        self.cancel = widgets.Button(description="Cancel", icon="stop")
        self.cancel.add_class("adaptive-llm-cancel")
        self.log = widgets.Button(description="Log", icon="file-alt", tooltip="The whole log")
        self.log.add_class("adaptive-llm-log-button")
        for button in (self.log, self.chat, self.resubmit, self.cancel):
            button.layout = widgets.Layout(width="auto", height="26px", flex="0 0 auto")
        call = table.tasks.call
        self.more.observe(lambda _: call(self._show_detail), "value")
        self.chat.on_click(lambda _: call(table.open_chat, name))
        self.log.on_click(lambda _: call(table.open_log, name))
        self.resubmit.on_click(lambda _: call(table.start, table.rm.resubmit, name))
        self.cancel.on_click(lambda _: call(table.start, table.rm.cancel_job, name))
        actions = widgets.HBox(
            [self.log, self.chat, self.resubmit, self.cancel],
            layout=widgets.Layout(flex=f"0 0 {_WIDTHS[-1]}"),
        )
        diagnosis = widgets.HBox(
            [self.more, self.cells[5]],
            layout=widgets.Layout(flex=_WIDTHS[5], min_width="0", align_items="center"),
        )
        self.cells[5].layout.flex = "1 1 auto"
        line = widgets.HBox(  # never scrolls sideways: a narrow notebook cuts the diagnosis
            [*self.cells[:5], diagnosis, actions],
            layout=widgets.Layout(align_items="center", overflow="hidden"),
        )
        self.box = widgets.VBox([line, self.detail])
        self.box.add_class("adaptive-llm-row")
        self.box.add_class(f"adaptive-llm-job-{name}")

    def update(self, view: JobView) -> None:
        state = view.state
        css = STATE_CLASS.get(state, "bad" if state.is_failure else "wait")
        values = [
            f'<span class="adaptive-llm-state adaptive-llm-state-{css}">{state.value}</span>',
            str(view.attempt) if view.attempt else "-",
            _runtime(view.runtime),
            titled(one_line(_exit_text(view), 60)),
            "",
        ]
        self._view = view
        if view.summary is not None:
            values[4] = diagnosis_line(view)
        elif state.is_failure:
            values[4] = '<span class="adaptive-llm-state-wait">diagnosing…</span>'
        for cell, value in zip(self.cells[1:], values, strict=True):
            if cell.value != value:
                cell.value = value
        more = "inline-flex" if view.summary is not None else "none"
        if self.more.layout.display != more:
            self.more.layout.display = more
        self._show_detail()
        failed = state.is_failure
        show = "inline-flex" if failed else "none"
        if self.chat.layout.display != show:
            self.chat.layout.display = show
        self.log.disabled = not view.attempt
        self.resubmit.disabled = not state.is_final or not view.attempt
        self.cancel.disabled = state.is_final

    def _show_detail(self) -> None:
        """The whole diagnosis under the row while the toggle is on (and there is one)."""
        view = self._view
        on = bool(self.more.value and view is not None and view.summary is not None)
        value = diagnosis_full(view) if on and view is not None else ""
        if self.detail.value != value:
            self.detail.value = value
        display = "" if on else "none"
        if self.detail.layout.display != display:
            self.detail.layout.display = display
        icon = "caret-down" if on else "caret-right"
        if self.more.icon != icon:
            self.more.icon = icon


class InfoWidget(widgets.VBox):  # type: ignore[misc]
    """``info(run_manager)``: see the module docstring."""

    def __init__(self, rm: RunManager) -> None:
        self.rm = rm
        self.tasks = WidgetTasks(self._show_error)
        self.rows: dict[str, _Row] = {}
        self._last: list[JobView] = []
        self._seen = 0
        self.chats: dict[str, ChatWidget] = {}
        self.logs: dict[str, LogViewer] = {}
        self._id = next(_tables)
        self.refreshes = 0
        self.counts = widgets.HTML()
        self.counts.add_class("adaptive-llm-counts")
        self.groups = widgets.HTML()
        self.groups.add_class("adaptive-llm-groups")
        self.notice = widgets.HTML()
        self.notice.add_class("adaptive-llm-notice")
        self.filter = widgets.Dropdown(
            options=list(FILTERS),
            value="all",
            description="show",
            layout=widgets.Layout(width="12em"),
        )
        self.filter.add_class("adaptive-llm-filter")
        self.filter.observe(lambda _: self.tasks.call(self.refresh), "value")
        head = widgets.HBox(
            [_cell(w, f"<b>{h}</b>") for w, h in zip(_WIDTHS, _HEADINGS, strict=True)],
            layout=widgets.Layout(overflow="hidden"),
        )
        head.add_class("adaptive-llm-head")
        self.table = widgets.VBox([head])
        self.chat_area = widgets.VBox()
        self.chat_area.add_class("adaptive-llm-chat-area")
        self.log_area = widgets.VBox()
        self.log_area.add_class("adaptive-llm-log-area")
        self.scroller = Scroller(self.tasks)
        super().__init__(
            [
                widgets.HTML(style_tag()),
                widgets.HBox(
                    [self.counts, self.filter],
                    layout=widgets.Layout(justify_content="space-between", align_items="center"),
                ),
                self.table,
                self.groups,
                self.notice,
                self.log_area,
                self.chat_area,
                self.scroller,
            ]
        )
        self.add_class("adaptive-llm-info")
        self.add_class(f"adaptive-llm-info-{self._id}")
        self.refresh()
        self._loop_task = self.tasks.start(self._watch(), "info-watch", background=True)

    # -- actions ------------------------------------------------------------------------------

    def start(self, action: Any, name: str) -> asyncio.Task[Any]:
        """Run ``await action(name)`` (resubmit, cancel) in a task; errors shown as a notice."""
        self.notice.value = ""
        return self.tasks.start(action(name), f"{action.__name__}-{name}")

    def open_chat(self, name: str) -> ChatWidget:
        """Show the chat on ``name`` below the table, scrolled into view with its input
        focused: one chat per job (opened again, the same widget, not a second one)."""
        chat = self.chats.get(name)
        if chat is None:
            chat = self.chats[name] = chat_widget(self.rm.llm_manager, name)
            chat.add_class(f"adaptive-llm-target-{len(self.chats)}")
        if self.chat_area.children != (chat,):
            self.chat_area.children = (chat,)
        self.scroll_to(chat, ".adaptive-llm-chat-input input")
        return chat

    def open_log(self, name: str) -> LogViewer:
        """Show the log viewer of ``name`` below the table, scrolled into view (opened again,
        the same viewer, showing the job's attempts as they are now)."""
        viewer = self.logs.get(name)
        if viewer is None:
            viewer = self.logs[name] = log_viewer(self.rm, name)
            viewer.add_class(f"adaptive-llm-target-log-{len(self.logs)}")
            viewer.close_button.on_click(lambda _: self.tasks.call(self.close_log))
        elif viewer.attempts[-1:] != self.rm.store.jobs.attempts(name)[-1:]:
            viewer.reload()
        if self.log_area.children != (viewer,):
            self.log_area.children = (viewer,)
        self.scroll_to(viewer)
        return viewer

    def close_log(self) -> None:
        """Take the log viewer away (it stays cached for the next Log click)."""
        for viewer in self.log_area.children:
            viewer.close()
        self.log_area.children = ()

    def scroll_to(self, widget: widgets.DOMWidget, focus: str = "") -> None:
        """Scroll the browser to ``widget`` (shown in this table), focusing ``focus`` in it."""
        target = next(c for c in widget._dom_classes if c.startswith("adaptive-llm-target-"))
        self.scroller.scroll_to(f".adaptive-llm-info-{self._id} .{target}", focus)

    def close(self) -> None:
        """Stop the live updates (and the log viewers' searches)."""
        self._loop_task.cancel()
        for viewer in self.logs.values():
            viewer.close()

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
            shown = FILTERS.get(self.filter.value)
            display = "" if shown is None or view.state in shown else "none"
            if row.box.layout.display != display:
                row.box.layout.display = display
            counts[view.state.value] += 1
        if added:
            self.table.children = (*self.table.children, *added)
        self._last = views
        outage = self.rm.outage
        self._set(self.counts, counts_html(counts, len(views), outage))
        self._set(self.groups, groups_html(views))
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


def info(run_manager: RunManager) -> InfoWidget:
    """A live table of ``run_manager``'s jobs; call in a cell after ``rm.start()``."""
    return InfoWidget(run_manager)
