"""``info(run_manager)``: a live table of the run's jobs, with a Chat button on failed jobs.

The table is paged: it holds the row widgets of one page (``page_size`` rows, 50 by default)
and binds them to the page's jobs, so a run of 100,000 jobs costs 50 rows of widgets, not
100,000, and a refresh builds the views of the page only (``rm.job_page``). Rows are updated
in place (only the values that changed are sent to the browser). A tracked task on the
kernel's loop waits for the managers' change notifications and refreshes at most every
``MIN_INTERVAL`` seconds (and every second while jobs run, for their runtimes).

Each row has a Log button (the log viewer, below the table) and a toggle beside its one-line
diagnosis that shows the whole diagnosis under the row. A menu filters the rows by state;
with more jobs than a page, a pager (previous, next) and a box that finds jobs by name show.
The chat or log opened is scrolled into view: ipywidgets has no scroll API, so a small script
(our constant text and a CSS class, nothing from a job) is shown in a zero-height Output
widget and calls ``scrollIntoView`` on the widget's DOM node.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import logging
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
#: Rows per page of the table.
PAGE_SIZE = 50

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
    """The widgets of one row of the page, bound to one job at a time (``bind``); ``update``
    sets only what changed."""

    def __init__(self, table: InfoWidget) -> None:
        self.name = ""
        self._table = table
        self.cells = [_cell(width) for width in _WIDTHS[:-1]]
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
        # The job is read when the button is pressed: the row may show another job by then.
        self.more.observe(lambda _: call(self._toggled), "value")
        self.chat.on_click(lambda _: call(table.open_chat, self.name))
        self.log.on_click(lambda _: call(table.open_log, self.name))
        self.resubmit.on_click(lambda _: call(table.start, table.rm.resubmit, self.name))
        self.cancel.on_click(lambda _: call(table.start, table.rm.cancel_job, self.name))
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

    def bind(self, name: str) -> None:
        """Show job ``name`` in this row (its toggle as the user left it for that job)."""
        if name == self.name:
            return
        if self.name:
            self.box.remove_class(f"adaptive-llm-job-{self.name}")
        self.name = name
        self._view = None
        self.box.add_class(f"adaptive-llm-job-{name}")
        self.cells[0].value = f"<b>{html.escape(name)}</b>"
        self.more.value = name in self._table.expanded

    def _toggled(self) -> None:
        if self.more.value:
            self._table.expanded.add(self.name)
        else:
            self._table.expanded.discard(self.name)
        self._show_detail()

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

    def __init__(self, rm: RunManager, *, page_size: int = PAGE_SIZE) -> None:
        self.rm = rm
        self.page_size = max(1, page_size)  # ``info`` refuses less
        #: The page shown (0: the first).
        self.page = 0
        self.tasks = WidgetTasks(self._show_error)
        #: The row widgets, bound to the page's jobs; built as the pages need them.
        self._pool: list[_Row] = []
        #: The rows shown, by the name of the job each shows.
        self.rows: dict[str, _Row] = {}
        #: Jobs whose whole diagnosis the user opened (kept across pages).
        self.expanded: set[str] = set()
        self._groups_seen = -1
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
        self.filter.observe(lambda _: self.tasks.call(self._first_page), "value")
        self.find = widgets.Text(
            placeholder="find a job",
            layout=widgets.Layout(width="14em"),
        )
        self.find.add_class("adaptive-llm-find")
        self.find.observe(lambda _: self.tasks.call(self._first_page), "value")
        self.previous = widgets.Button(icon="chevron-left", tooltip="The previous page")
        self.previous.add_class("adaptive-llm-page-previous")
        self.next = widgets.Button(icon="chevron-right", tooltip="The next page")
        self.next.add_class("adaptive-llm-page-next")
        for button in (self.previous, self.next):
            button.layout = widgets.Layout(width="32px", height="26px")
        self.previous.on_click(lambda _: self.tasks.call(self.go, self.page - 1))
        self.next.on_click(lambda _: self.tasks.call(self.go, self.page + 1))
        self.page_label = widgets.HTML()
        self.page_label.add_class("adaptive-llm-page")
        self.pager = widgets.HBox(
            [self.find, self.previous, self.page_label, self.next],
            layout=widgets.Layout(align_items="center", display="none"),
        )
        self.pager.add_class("adaptive-llm-pager")
        head = widgets.HBox(
            [_cell(w, f"<b>{h}</b>") for w, h in zip(_WIDTHS, _HEADINGS, strict=True)],
            layout=widgets.Layout(overflow="hidden"),
        )
        head.add_class("adaptive-llm-head")
        self._head = head
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
                    [self.counts, widgets.HBox([self.pager, self.filter])],
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
        """Bring the table up to date: the page's rows bound to its jobs, changed cells
        updated, the counts and the failures by cause."""
        self._seen = version = self.rm.version
        size = self.page_size
        shown = FILTERS.get(self.filter.value)
        match = self.find.value.strip()
        page = self.rm.job_page(self.page * size, size, states=shown, match=match)
        pages = max(1, -(-page.matching // size))
        if self.page >= pages:  # the filter or the run shrank: the last page there is
            self.page = pages - 1
            page = self.rm.job_page(self.page * size, size, states=shown, match=match)
        views = page.views
        while len(self._pool) < len(views):
            self._pool.append(_Row(self))
        rows = {}
        for row, view in zip(self._pool, views, strict=False):
            row.bind(view.name)
            row.update(view)
            rows[view.name] = row
        self.rows = rows
        if len(self.table.children) != len(views) + 1:
            self.table.children = (self._head, *(row.box for row in self._pool[: len(views)]))
        self._pager(page.start, len(views), page.matching, page.total, pages)
        outage = self.rm.outage
        self._set(self.counts, counts_html(page.counts, page.total, outage))
        if version != self._groups_seen:  # one pass over the failures, when something changed
            self._groups_seen = version
            self._set(self.groups, groups_html(self.rm.grouped_views()))
        self.refreshes += 1

    def go(self, page: int) -> None:
        """Show page ``page`` (0: the first; clamped to the pages there are)."""
        self.page = max(0, page)
        self.refresh()

    def _first_page(self) -> None:
        self.page = 0
        self.refresh()

    def _pager(self, start: int, shown: int, matching: int, total: int, pages: int) -> None:
        many = total > self.page_size
        display = "" if many else "none"
        if self.pager.layout.display != display:
            self.pager.layout.display = display
        label = (
            f"{start + 1:,}-{start + shown:,} of {matching:,}" if shown else f"none of {total:,}"
        )
        self._set(self.page_label, label)
        self.previous.disabled = self.page == 0
        self.next.disabled = self.page >= pages - 1

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
            running = self.rm.unfinished > 0
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


def info(run_manager: RunManager, *, page_size: int = PAGE_SIZE) -> InfoWidget:
    """A live table of ``run_manager``'s jobs, ``page_size`` rows a page; call in a cell after
    ``rm.start()``."""
    if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
        raise ValueError(f"page_size must be a whole number of rows, at least 1, not {page_size!r}")
    return InfoWidget(run_manager, page_size=page_size)
