"""The log viewer and the table's new parts in Python: a real RunManager, real failing jobs."""

from __future__ import annotations

import asyncio
import gc
import re
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psutil
from test_widgets import assert_inert, html_text

from adaptive_llm import Job, RunManager, info, log_viewer
from adaptive_llm.widgets import log_file
from adaptive_llm.widgets.info import InfoWidget
from adaptive_llm.widgets.log_viewer import (
    CONTEXT,
    ERROR_CONTEXT,
    HITS_SHOWN,
    PAGE_LINES,
    LogViewer,
)

MakeRm = Callable[..., RunManager]
PY = sys.executable
TRAIN = """\
import sys
for i in range(1, 3001):
    print(f"epoch {i} loss={1 / i:.4f}")
config = {}
print(config['lr'])
"""
ANSI = (
    "printf '\\033[1;31mERROR\\033[0m plain \\033[32mgreen\\033[0m <script>alert(1)</script>"
    " \\033[2Kerased \\033[38;5;21mblue256\\033[0m\\n'; echo 'RuntimeError: boom'; exit 1"
)


async def started(make_rm: MakeRm, jobs: Sequence[Job], **kwargs: Any) -> RunManager:
    rm = make_rm(jobs, **kwargs)
    rm.start()
    await rm.wait(timeout=60)
    return rm


def numbers(viewer: LogViewer, css: str = "adaptive-llm-log-line") -> list[int]:
    """The line numbers on the page whose line has the class ``css``."""
    assert viewer.page is not None
    lines = re.findall(
        r'<span class="(adaptive-llm-log-line[^"]*)"><span class="adaptive-llm-log-no">(\d+)<',
        viewer.body.value,
    )
    return [int(number) for classes, number in lines if css in classes.split()]


def count_lines(path: Path) -> int:
    with path.open("rb") as fh:
        data = b""
        count = 0
        while block := fh.read(1 << 20):
            count += block.count(b"\n")
            data = block
    return count + (1 if data and not data.endswith(b"\n") else 0)


async def test_log_button_opens_the_excerpt_and_the_table_expands_and_filters(
    make_rm: MakeRm, workdir: Path
) -> None:
    (workdir / "train.py").write_text(TRAIN)
    ok = Job("ok", ["/bin/sh", "-c", "echo fine"])
    rm = await started(make_rm, [Job("train", [PY, "train.py"]), ok])
    table = info(rm)
    try:
        table.refresh()
        row = table.rows["train"]
        # The diagnosis cell: one line; its toggle shows the whole diagnosis under the row.
        assert "KeyError" in row.cells[5].value
        assert "adaptive-llm-diagnosis-cell" in row.cells[5]._dom_classes
        view = rm.job("train")
        assert view.suggestion and view.location and view.summary
        assert row.more.layout.display != "none" and row.detail.layout.display == "none"
        assert "adaptive-llm-diagnosis-toggle" in row.more._dom_classes
        row.more.value = True  # clicked
        assert row.detail.layout.display == "" and row.more.icon == "caret-down"
        full = html_text(row.detail.value)
        assert view.summary in full and view.suggestion in full
        assert f"{view.location.file}:{view.location.line}" in full
        assert "<script" not in row.detail.value
        table.refresh()  # stays open across updates
        assert row.detail.layout.display == "" and row.detail.value
        row.more.value = False
        assert row.detail.layout.display == "none"
        assert table.rows["ok"].more.layout.display == "none"  # nothing to expand

        assert "adaptive-llm-log-button" in row.log._dom_classes and not row.log.disabled
        row.log.click()
        [viewer] = table.log_area.children
        assert isinstance(viewer, LogViewer)
        await viewer.idle()
        spans = viewer.diagnosis.excerpt.spans if viewer.diagnosis else []
        assert spans and spans[0][0] > 300  # the end of the log (its excerpt: the tail)
        # The error's line, marked, is in view with the traceback above it.
        total = count_lines(Path(view.log_path or ""))
        assert viewer.error_line == total  # KeyError: 'lr', the log's last line
        assert numbers(viewer, "adaptive-llm-log-error") == [total]
        assert viewer.page is not None and viewer.page.start == total - ERROR_CONTEXT
        highlighted = numbers(viewer, "adaptive-llm-log-excerpt")
        assert highlighted[0] == viewer.page.start and highlighted[-1] == total
        assert "KeyError" in viewer.body.value and f"of {total:,}" in viewer.info.value
        # Scrolled into view: the script names this table and the viewer's class.
        assert f"adaptive-llm-info-{table._id}" in table.scroller.script
        assert "scrollIntoView" in table.scroller.script
        assert table.open_log("train") is viewer  # the same viewer, not a second one
        viewer.first.click()
        await viewer.idle()
        assert numbers(viewer)[:2] == [1, 2] and len(numbers(viewer)) == PAGE_LINES
        assert "epoch 1 loss=1.0000" in viewer.body.value and viewer.prev.disabled
        viewer.next.click()
        await viewer.idle()
        assert numbers(viewer)[0] == PAGE_LINES + 1
        viewer.last.click()
        await viewer.idle()
        assert numbers(viewer)[-1] == total and viewer.next.disabled
        viewer.close_button.click()
        assert table.log_area.children == ()

        # The state filter: the page shows the jobs in the chosen states only.
        assert {"ok", "train"} <= set(table.rows)
        table.filter.value = "failed"
        assert "ok" not in table.rows and "train" in table.rows
        assert len(table.table.children) == len(table.rows) + 1  # the heading and the rows
        table.filter.value = "completed"
        assert "train" not in table.rows and "ok" in table.rows
        table.filter.value = "all"
        assert {"ok", "train"} <= set(table.rows)
    finally:
        table.close()


async def test_chat_opens_once_per_job_scrolled_into_view(make_rm: MakeRm) -> None:
    boom = Job("boom", ["/bin/sh", "-c", "echo 'RuntimeError: boom'; exit 1"])
    rm = await started(make_rm, [boom])
    table: InfoWidget = info(rm)
    try:
        table.rows["boom"].chat.click()
        [chat] = table.chat_area.children
        first = table.scroller.scrolls
        assert "scrollIntoView" in table.scroller.script
        target = next(c for c in chat._dom_classes if c.startswith("adaptive-llm-target-"))
        assert target in table.scroller.script and ".adaptive-llm-chat-input input" in (
            table.scroller.script
        )
        table.rows["boom"].chat.click()  # again: the same chat, focused, not a second one
        assert table.chat_area.children == (chat,) and table.scroller.scrolls == first + 1
        await chat.idle()
    finally:
        table.close()


async def test_ansi_colours_rendered_everything_else_escaped(make_rm: MakeRm) -> None:
    rm = await started(make_rm, [Job("ansi", ["/bin/sh", "-c", ANSI])])
    viewer = log_viewer(rm, "ansi")
    await viewer.idle()
    body = viewer.body.value
    assert '<span class="adaptive-llm-ansi-bold adaptive-llm-ansi-fg-red">ERROR</span>' in body
    assert '<span class="adaptive-llm-ansi-fg-green">green</span>' in body
    assert '<span class="adaptive-llm-ansi-fg-blue">blue256</span>' in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body and "<script" not in body
    text = html_text(body)
    assert "\\x1b[2Kerased" in text and "\x1b" not in text  # other escapes shown, inert
    assert_inert(body)


async def test_search_literal_regex_refused_and_paged(make_rm: MakeRm, workdir: Path) -> None:
    script = (
        "for i in range(1, 2001):\n    print(f'row {i} value=[{i % 7}]')\nraise SystemExit(3)\n"
    )
    (workdir / "rows.py").write_text(script)
    rm = await started(make_rm, [Job("rows", [PY, "rows.py"])])
    viewer = log_viewer(rm, "rows")
    await viewer.idle()
    viewer.query.value = "value=[3]"  # literal: the brackets are text
    viewer.find.click()
    await viewer.idle()
    assert viewer.hits is not None
    lines = [h.line for h in viewer.hits.hits]
    assert lines == [i for i in range(1, 2001) if i % 7 == 3]
    assert len(viewer.results.options) == HITS_SHOWN and "286 lines found" in (
        viewer.hits_label.value
    )
    viewer.hits_next.click()
    assert viewer.results.options[0][1] == lines[HITS_SHOWN]
    viewer.results.value = lines[HITS_SHOWN]  # choosing a hit shows its line, marked
    await viewer.idle()
    assert numbers(viewer, "adaptive-llm-log-target") == [lines[HITS_SHOWN]]
    assert lines[HITS_SHOWN] in numbers(viewer, "adaptive-llm-log-match")

    viewer.search(r"^row 1\d{3} value=\[0\]$", regex=True)
    await viewer.idle()
    assert viewer.hits is not None
    assert [h.line for h in viewer.hits.hits] == [i for i in range(1000, 2000) if i % 7 == 0]
    viewer.search(r"(a)\1", regex=True)  # backtracking: refused, with a hint
    await viewer.idle()
    assert "backreferences" in viewer.hits_label.value
    viewer.regex.value = False
    viewer.query.value = "no such text"
    viewer.query._submission_callbacks(viewer.query)  # Enter in the search box
    await viewer.idle()
    assert "0 lines found" in viewer.hits_label.value


async def test_earlier_attempts_are_selectable(make_rm: MakeRm, workdir: Path) -> None:
    (workdir / "flaky.py").write_text(
        "import pathlib, sys\np = pathlib.Path('ran')\nfirst = not p.exists()\np.touch()\n"
        "print('first try' if first else 'second try')\n"
        "if first:\n    raise ValueError('bad input')\n"
    )
    rm = await started(make_rm, [Job("flaky", [PY, "flaky.py"])])
    await rm.resubmit("flaky")
    await rm.wait(timeout=30)
    viewer = log_viewer(rm, "flaky")
    await viewer.idle()
    assert [v for _, v in viewer.attempt_menu.options] == [2, 1]
    assert "attempt 2 · COMPLETED" in viewer.attempt_menu.options[0][0]
    assert "second try" in viewer.body.value and viewer.diagnosis is None
    viewer.attempt_menu.value = 1
    await viewer.idle()
    assert "first try" in viewer.body.value and "ValueError" in viewer.body.value
    assert viewer.diagnosis is not None and numbers(viewer, "adaptive-llm-log-excerpt")
    first = log_viewer(rm, "flaky", attempt=1)
    await first.idle()
    assert first.attempt_menu.value == 1 and "first try" in first.body.value


BIG = """\
import sys
line = "step {:06d} loss=0.{:03d} \\x1b[32mok\\x1b[0m lr=3e-4\\n"
block = "".join(line.format(i, i % 997) for i in range(20000))
out = sys.stdout
for n in range(BLOCKS):
    out.write(block)
    if n == BLOCKS // 2:
        out.write("checkpoint needle saved\\n")
out.flush()
config = {}
print(config["lr"])
"""


async def test_a_200_mb_log_is_paged_bounded_in_time_and_memory(
    make_rm: MakeRm, workdir: Path
) -> None:
    blocks = 250  # 20,000 lines of 43 bytes each: 205 MiB
    (workdir / "big.py").write_text(BIG.replace("BLOCKS", str(blocks)))
    rm = await started(make_rm, [Job("big", [PY, "big.py"])])
    log = Path(rm.job("big").log_path or "")
    size = log.stat().st_size
    assert size > 200 * 1024 * 1024
    total_lines = count_lines(log)

    process = psutil.Process()
    rss = process.memory_info().rss
    tracemalloc.start()  # memory: everything a viewer does, traced
    try:
        viewer = log_viewer(rm, "big")
        await viewer.idle()
        viewer.go_to(total_lines // 2)
        await viewer.idle()
        viewer.search("needle")
        await viewer.idle()
        viewer.show_last()
        await viewer.idle()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    grown = process.memory_info().rss - rss

    lag = [0.0]

    async def ticker() -> None:  # the kernel's loop stays free while pages are read
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(0.01)
            lag[0] = max(lag[0], loop.time() - before - 0.01)

    # Time and loop lag: a new viewer, untraced. The objects of the tests before are frozen:
    # a full collection of them (0.3-0.6 s here, in whichever thread allocates) is not the
    # viewer's doing.
    gc.collect()
    gc.freeze()
    tick = asyncio.create_task(ticker())
    try:
        began = time.perf_counter()
        viewer = log_viewer(rm, "big")  # opens on the excerpt: the end of the file
        await viewer.idle()
        opened = time.perf_counter() - began
        assert viewer.page is not None and viewer.page.complete
        assert viewer.page.total == total_lines
        assert "KeyError" in viewer.body.value and numbers(viewer, "adaptive-llm-log-excerpt")
        assert numbers(viewer, "adaptive-llm-log-error") == [total_lines]
        assert len(viewer.file._marks) < size // log_file.MARK * 2 + 2  # type: ignore[union-attr]

        began = time.perf_counter()
        viewer.go_to(total_lines // 2)  # the middle: a seek to the nearest mark
        await viewer.idle()
        middle = time.perf_counter() - began
        assert numbers(viewer)[0] == total_lines // 2 - CONTEXT

        began = time.perf_counter()
        viewer.search("needle")
        await viewer.idle()
        searched = time.perf_counter() - began
        assert viewer.hits is not None and len(viewer.hits.hits) == 1
        needle = viewer.hits.hits[0].line
        assert needle == (blocks // 2 + 1) * 20000 + 1
        viewer.results.value = needle
        await viewer.idle()
        assert numbers(viewer, "adaptive-llm-log-target") == [needle]
        assert "checkpoint needle saved" in viewer.body.value

        began = time.perf_counter()
        viewer.search("loss=0.5")  # very many hits: stops at the limit, fast
        await viewer.idle()
        many = time.perf_counter() - began
        assert viewer.hits is not None and len(viewer.hits.hits) == 1000
        assert viewer.hits.stopped == "the first 1000 hits"
    finally:
        tick.cancel()
        gc.unfreeze()
    print(
        f"\n200 MB log ({size / 2**20:.0f} MiB, {total_lines:,} lines): open on the excerpt"
        f" at the end {opened:.2f} s, middle page {middle:.3f} s, search {searched:.2f} s,"
        f" 1000-hit search {many:.3f} s; traced peak {peak / 2**20:.1f} MiB,"
        f" RSS grown {grown / 2**20:.1f} MiB; max loop lag {lag[0] * 1000:.0f} ms"
    )
    assert peak < 24 * 2**20, peak  # a page and a block or two, never the file
    assert grown < 64 * 2**20, grown
    assert opened < 10 and middle < 2 and searched < 15 and many < 5
    assert lag[0] < 0.25, lag[0]  # a shared 2-core machine: mostly scheduling noise


def test_a_growing_log_long_lines_and_no_trailing_newline(tmp_path: Path) -> None:
    """The index goes on from where it stopped as a running job's log grows; a line longer
    than LINE_BYTES is cut (the rest skipped and counted); a last line without a newline is
    a line; a log written anew (shorter) is indexed again."""
    path = tmp_path / "attempt-1.log"
    path.write_bytes(b"")
    log = log_file.LogFile(str(path))
    assert log.page(1, 10).lines == [] and log.page(1, 10).total == 0
    long = b"x" * (log_file.LINE_BYTES * 3)
    path.write_bytes(b"one\n" + long + b"\nthree")
    page = log.page(1, 10)
    assert [line.text[:5] for line in page.lines] == ["one", "xxxxx", "three"]
    assert page.lines[1].cut == len(long) - log_file.LINE_BYTES and page.total == 3
    with path.open("ab") as fh:
        fh.write(b" more\n" + b"".join(b"line %d\n" % i for i in range(4, 100_004)))
    page = log.page(1, 5, last=True)
    assert page.complete and page.total == 100_003
    assert [line.number for line in page.lines] == list(range(99_999, 100_004))
    assert page.lines[-1].text == "line 100003" and log.page(3, 1).lines[0].text == "three more"
    path.write_bytes(b"fresh\n")
    assert [line.text for line in log.page(1, 5).lines] == ["fresh"]


def test_search_stops_at_its_deadline_or_when_cancelled(tmp_path: Path) -> None:
    from adaptive_llm.chat.workspace.search import compile_pattern

    path = tmp_path / "attempt-1.log"
    path.write_bytes(b"abc\n" * 100_000)
    pattern, _ = compile_pattern("zzz")
    log = log_file.LogFile(str(path))
    assert log.search(pattern).stopped is None and log.search(pattern).scanned == 400_000
    late = log.search(pattern, seconds=-1)
    assert late.stopped == "stopped after -1 s" and late.scanned == 0
    cancel = threading.Event()
    cancel.set()
    assert log.search(pattern, cancel=cancel).stopped == "cancelled"
