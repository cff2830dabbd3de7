"""``log_viewer(rm, name)``: a job's whole log in the notebook, by pages.

Opens on the diagnosis excerpt: its lines highlighted, and the line that states the error
(the excerpt's last line naming the error type or message; else the excerpt's first line)
marked and in view with the lines above it; else on the first page. First / Prev / Next /
Last, a line number to go to, and a dropdown of the job's attempts (each attempt's own log
and diagnosis). Search takes literal text, or an RE2 pattern with *regex* ticked (linear
time: what would need backtracking is refused with a hint); its hits are listed
``HITS_SHOWN`` at a time, choosing one shows its line. Terminal colours (SGR codes) are
rendered, everything else in a line is escaped and the page sanitised (nh3). Pages and
searches are read in worker threads (``log_file``), never on the kernel's loop, and hold
one page (at most ``PAGE_LINES`` lines of at most ``LINE_BYTES`` bytes each) in memory,
whatever the log's size.
"""

from __future__ import annotations

import html
import threading
import warnings
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets  # type: ignore[import-untyped]

from ..chat.workspace.search import compile_pattern
from ..errors import WorkspaceError
from .log_file import Hits, LogFile, Page, run
from .render import ansi_html, sanitize, style_tag
from .tasks import WidgetTasks

if TYPE_CHECKING:
    from ..diagnosis import Diagnosis
    from ..jobs.model import Attempt
    from ..managers.run_manager import RunManager

#: Lines on one page.
PAGE_LINES = 200
#: Lines shown above a line the viewer jumps to (``ERROR_CONTEXT`` above the error's line).
CONTEXT = 5
ERROR_CONTEXT = 15
#: Lines of the excerpt read to find the error's line.
MAX_EXCERPT_LINES = 5000
#: Search hits listed at a time, and kept in all.
HITS_SHOWN = 50
MAX_HITS = 1000


def _button(text: str, icon: str, css: str, tooltip: str = "") -> widgets.Button:
    button = widgets.Button(description=text, icon=icon, tooltip=tooltip)
    button.layout = widgets.Layout(width="auto")
    button.add_class(f"adaptive-llm-log-{css}")
    return button


class LogViewer(widgets.VBox):  # type: ignore[misc]
    """See the module docstring. ``await viewer.idle()`` waits for the reads started."""

    def __init__(self, rm: RunManager, name: str, attempt: int | None = None) -> None:
        self.rm = rm
        self.name = name
        self.tasks = WidgetTasks(self._show_error)
        self.attempts: list[Attempt] = []
        self.diagnosis: Diagnosis | None = None
        #: The line that states the error (in the excerpt), once found.
        self.error_line: int | None = None
        self.file: LogFile | None = None
        self.page: Page | None = None
        self.hits: Hits | None = None
        self.hit_page = 0
        self.target: int | None = None  # the line a hit or "go to" asked for
        self._request = 0
        self._loading = False
        self._cancel = threading.Event()
        self.title = widgets.HTML(f"<b>Log · {html.escape(name)}</b>")
        self.attempt_menu = widgets.Dropdown(layout=widgets.Layout(width="16em"))
        self.attempt_menu.add_class("adaptive-llm-log-attempt")
        self.close_button = _button("Close", "times", "close")
        self.info = widgets.HTML()
        self.info.add_class("adaptive-llm-usage")
        self.first = _button("", "angle-double-left", "first", "First page")
        self.prev = _button("", "angle-left", "prev", "Previous page")
        self.next = _button("", "angle-right", "next", "Next page")
        self.last = _button("", "angle-double-right", "last", "Last page")
        self.excerpt_button = _button("Excerpt", "crosshairs", "to-excerpt", "The diagnosis")
        self.line_box = widgets.BoundedIntText(
            min=1, max=1 << 62, value=1, layout=widgets.Layout(width="9em")
        )
        self.go = _button("Go", "arrow-right", "go", "Go to this line")
        self.query = widgets.Text(placeholder="search the log", layout=widgets.Layout(width="18em"))
        self.query.add_class("adaptive-llm-log-query")
        self.regex = widgets.Checkbox(value=False, description="regex", indent=False)
        self.regex.layout = widgets.Layout(width="auto")
        self.find = _button("Find", "search", "find")
        self.results = widgets.Select(rows=6, layout=widgets.Layout(width="100%"))
        self.results.add_class("adaptive-llm-log-results")
        self.results.layout.display = "none"
        self.hits_label = widgets.HTML()
        self.hits_label.add_class("adaptive-llm-log-hits")
        self.hits_prev = _button("", "angle-up", "hits-prev", "Earlier hits")
        self.hits_next = _button("", "angle-down", "hits-next", "Later hits")
        self.body = widgets.HTML()
        self.body.add_class("adaptive-llm-log-body")
        row = widgets.Layout(align_items="center", flex_flow="row wrap")
        super().__init__(
            [
                widgets.HTML(style_tag()),
                widgets.HBox(
                    [self.title, self.attempt_menu, self.info, self.close_button], layout=row
                ),
                widgets.HBox(
                    [
                        *(self.first, self.prev, self.next, self.last, self.excerpt_button),
                        *(self.line_box, self.go, self.query, self.regex, self.find),
                    ],
                    layout=row,
                ),
                widgets.HBox([self.hits_label, self.hits_prev, self.hits_next], layout=row),
                self.results,
                self.body,
            ]
        )
        self.add_class("adaptive-llm-log")
        self.first.on_click(lambda _: self.tasks.call(self.show, 1))
        self.prev.on_click(lambda _: self.tasks.call(self._step, -1))
        self.next.on_click(lambda _: self.tasks.call(self._step, 1))
        self.last.on_click(lambda _: self.tasks.call(self.show_last))
        self.excerpt_button.on_click(lambda _: self.tasks.call(self.show_excerpt))
        self.go.on_click(lambda _: self.tasks.call(self.go_to, self.line_box.value))
        self.find.on_click(lambda _: self.tasks.call(self.search))
        with warnings.catch_warnings():  # Enter searches (as the chat's input sends)
            warnings.simplefilter("ignore", DeprecationWarning)
            self.query.on_submit(lambda _: self.tasks.call(self.search))
        self.query.observe(self._on_query, "value")
        self.hits_prev.on_click(lambda _: self.tasks.call(self._hits_step, -1))
        self.hits_next.on_click(lambda _: self.tasks.call(self._hits_step, 1))
        self.results.observe(lambda c: self.tasks.call(self._on_result, c), "value")
        self.attempt_menu.observe(
            lambda c: None if self._loading else self.tasks.call(self._on_attempt, c), "value"
        )
        self.reload(attempt)

    # -- actions ------------------------------------------------------------------------------

    def reload(self, attempt: int | None = None) -> None:
        """List the job's attempts again and show ``attempt`` (default: the latest)."""
        self.attempts = self.rm.store.jobs.attempts(self.name)
        options = [
            (f"attempt {a.number} · {a.state.value}", a.number) for a in reversed(self.attempts)
        ]
        numbers = [a.number for a in self.attempts]
        chosen = attempt if attempt in numbers else (numbers[-1] if numbers else None)
        if chosen is None:
            self.attempt_menu.options = [("no attempt yet", 0)]
            self.body.value = "<i>This job has not run yet: no log.</i>"
            return
        self._loading = True  # one open below, not one per change of the menu
        try:
            self.attempt_menu.options = options
            self.attempt_menu.value = chosen
        finally:
            self._loading = False
        self.tasks.start(self._open(chosen), "log-open")

    def show(self, start: int, *, last: bool = False) -> None:
        """Show the page beginning at line ``start`` (or the last page)."""
        if self.file is not None:
            self._request += 1
            self.tasks.start(self._show(self._request, start, last), "log-page")

    def show_last(self) -> None:
        self.show(1, last=True)

    def show_excerpt(self) -> None:
        """Show the error's line with the lines above it (within the excerpt)."""
        spans = self.diagnosis.excerpt.spans if self.diagnosis else []
        self.target = None
        if not spans:
            self.show(1)
        elif self.error_line is None or self.error_line == spans[0][0]:
            self.show(max(1, spans[0][0] - CONTEXT))
        else:
            span = next((a for a, b in spans if a <= self.error_line <= b), spans[0][0])
            self.show(max(1, span, self.error_line - ERROR_CONTEXT))

    def go_to(self, line: int) -> None:
        """Show line ``line`` (marked) with a few lines above it."""
        self.target = int(line)
        self.show(max(1, self.target - CONTEXT))

    def search(self, text: str | None = None, *, regex: bool | None = None) -> None:
        """Search the log for the query's text (or ``text``); a regex when ticked."""
        query = self.query.value if text is None else text
        use_regex = self.regex.value if regex is None else regex
        if self.file is None or not query:
            return
        try:
            pattern, note = compile_pattern(query if use_regex else _literal(query))
        except WorkspaceError as exc:
            self.hits_label.value = f"<i>{html.escape(str(exc))}</i>"
            return
        self._cancel.set()  # a search still running stops
        self._cancel = threading.Event()
        self.hits_label.value = "<i>searching…</i>"
        self.tasks.start(self._search(pattern, note, self._cancel), "log-search")

    async def idle(self) -> None:
        await self.tasks.idle()

    def close(self) -> None:
        """Stop a running search."""
        self._cancel.set()

    # -- tasks --------------------------------------------------------------------------------

    async def _open(self, number: int) -> None:
        attempt = next(a for a in self.attempts if a.number == number)
        self._cancel.set()
        self.file = LogFile(attempt.log_path)
        self.hits = None
        self._show_hits()
        self.diagnosis = await self.rm.llm_manager.diagnosis(self.name, number)
        self.excerpt_button.disabled = not (self.diagnosis and self.diagnosis.excerpt.spans)
        self.error_line = await self._error_line(self.file, self.diagnosis)
        self.show_excerpt()

    @staticmethod
    async def _error_line(file: LogFile, diagnosis: Diagnosis | None) -> int | None:
        """The excerpt's last line naming the error type (or its message), else its first."""
        spans = diagnosis.excerpt.spans if diagnosis else []
        if diagnosis is None or not spans:
            return None
        needles = [n for n in (diagnosis.error_type, diagnosis.message) if n]
        found: int | None = None
        budget = MAX_EXCERPT_LINES
        for start, end in spans:
            count = min(end - start + 1, budget)
            if count <= 0 or not needles:
                break
            budget -= count
            page: Page = await run(file.page, start, count)
            for line in page.lines:
                if any(needle in line.text for needle in needles):
                    found = line.number
        return found if found is not None else spans[0][0]

    async def _show(self, request: int, start: int, last: bool) -> None:
        assert self.file is not None
        page: Page = await run(self.file.page, start, PAGE_LINES, last=last)
        if request != self._request:  # a later click asked for another page
            return
        self.page = page
        self.body.value = self._render(page)
        self.line_box.value = max(1, page.start)
        total = f"{page.total:,}" + ("" if page.complete else "+")
        end = page.start + len(page.lines) - 1
        self.info.value = (
            f"lines {page.start:,}-{max(end, page.start):,} of {total} · {_size(page.size)}"
        )
        self.prev.disabled = self.first.disabled = page.start <= 1
        self.next.disabled = self.last.disabled = page.complete and end >= page.total

    async def _search(self, pattern: Any, note: str, cancel: threading.Event) -> None:
        assert self.file is not None
        hits: Hits = await run(self.file.search, pattern, MAX_HITS, cancel=cancel)
        if cancel.is_set():
            return
        self.hits, self.hit_page = hits, 0
        self._show_hits(note)
        if self.page is not None:
            self.body.value = self._render(self.page)

    # -- display ------------------------------------------------------------------------------

    def _render(self, page: Page) -> str:
        excerpt = self.diagnosis.excerpt.spans if self.diagnosis else []
        matched = {hit.line for hit in self.hits.hits} if self.hits else set()
        out = []
        for line in page.lines:
            classes = ["adaptive-llm-log-line"]
            if any(a <= line.number <= b for a, b in excerpt):
                classes.append("adaptive-llm-log-excerpt")
            if line.number == self.error_line:
                classes.append("adaptive-llm-log-error")
            if line.number in matched:
                classes.append("adaptive-llm-log-match")
            if line.number == self.target:
                classes.append("adaptive-llm-log-target")
            cut = (
                f' <span class="adaptive-llm-log-cut">… {line.cut:,} more bytes</span>'
                if line.cut
                else ""
            )
            out.append(
                f'<span class="{" ".join(classes)}"><span class="adaptive-llm-log-no">'
                f"{line.number}</span>{ansi_html(line.text)}{cut}</span>"
            )
        if not page.lines:
            out.append('<span class="adaptive-llm-log-line"><i>(empty log)</i></span>')
        return sanitize(f'<pre class="adaptive-llm-log-page">{"".join(out)}</pre>')

    def _show_hits(self, note: str = "") -> None:
        hits = self.hits
        if hits is None:
            self.hits_label.value = ""
            self.results.options = []
            self.results.layout.display = "none"
            self.hits_prev.layout.display = self.hits_next.layout.display = "none"
            return
        first = self.hit_page * HITS_SHOWN
        shown = hits.hits[first : first + HITS_SHOWN]
        count = f"{len(hits.hits):,} line{'s' if len(hits.hits) != 1 else ''}"
        stopped = f" ({hits.stopped})" if hits.stopped else ""
        where = f"; {first + 1}-{first + len(shown)} listed" if len(hits.hits) > HITS_SHOWN else ""
        self.hits_label.value = html.escape(f"{count} found{stopped}{where}{note}")
        self.results.options = [(f"{h.line:>8}: {h.preview}", h.line) for h in shown]
        self.results.value = None
        self.results.layout.display = "" if shown else "none"
        many = len(hits.hits) > HITS_SHOWN
        self.hits_prev.layout.display = self.hits_next.layout.display = "" if many else "none"
        self.hits_prev.disabled = self.hit_page == 0
        self.hits_next.disabled = first + HITS_SHOWN >= len(hits.hits)

    def _hits_step(self, step: int) -> None:
        if self.hits is not None:
            pages = max(1, -(-len(self.hits.hits) // HITS_SHOWN))
            self.hit_page = min(max(0, self.hit_page + step), pages - 1)
            self._show_hits()

    def _step(self, step: int) -> None:
        start = self.page.start if self.page else 1
        self.show(max(1, start + step * PAGE_LINES))

    def _on_result(self, change: dict[str, Any]) -> None:
        if change["new"] is not None:
            self.go_to(int(change["new"]))

    def _on_attempt(self, change: dict[str, Any]) -> None:
        if change["new"]:
            self.tasks.start(self._open(int(change["new"])), "log-open")

    def _on_query(self, change: dict[str, Any]) -> None:
        if not change["new"] and self.hits is not None:
            self.tasks.call(self._clear_hits)

    def _clear_hits(self) -> None:
        self.hits = None
        self._show_hits()
        if self.page is not None:
            self.body.value = self._render(self.page)

    def _show_error(self, exc: BaseException) -> None:
        self.info.value = f"<b>Error:</b> {html.escape(str(exc) or type(exc).__name__)}"


def _literal(text: str) -> str:
    import re2  # type: ignore[import-untyped]

    return str(re2.escape(text))


def _size(size: int) -> str:
    if size < 1024:
        return f"{size:,} bytes"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024 or unit == "GiB":
            break
    return f"{value:.1f} {unit}"


def log_viewer(run_manager: RunManager, name: str, attempt: int | None = None) -> LogViewer:
    """The log of job ``name``'s latest (or given) attempt, ready to display in a cell."""
    run_manager.job_manager.job(name)  # UnknownJobError at once, not in a task
    return LogViewer(run_manager, name, attempt)
