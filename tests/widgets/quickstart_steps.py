"""The quickstart steps both browser tests take (JupyterLab and Notebook 7 alike)."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path
from typing import Any

#: The notebook's kernel is up (the same check in JupyterLab and Notebook 7).
KERNEL_CONNECTED = (
    "window.jupyterapp?.shell.currentWidget?.sessionContext?.session?.kernel"
    "?.connectionStatus === 'connected'"
)
#: The first card of the fix: the resource change, its whole diff line by line.
RESOURCE_CARD = [
    "Change 1 of 2: Change the resources of job simulate",
    "--- a/job:simulate",
    "+++ b/job:simulate",
    "-time_limit = 2s",
    "+time_limit = 4s",
    "memory = -",
    "cpus = 1",
]
#: The second card: the resubmission with the new limit, and the command it runs.
RESUBMIT_CARD = [
    "Change 2 of 2: Resubmit job simulate as attempt 2 (time limit 4s, memory -, 1 cpu(s))",
    "python simulate.py",
]
APPLIED = "Applied (user): job simulate now runs with time limit 4s"


def run_quickstart(page: Any, expect: Any) -> tuple[Any, Any]:
    """Run every cell; once the job table shows the failed and the finished job and the
    quickstart's chat cell has rendered, the table and the failed job's row."""
    page.locator(".jp-Notebook .jp-Cell").first.click()
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    table = page.locator(".adaptive-llm-info")
    expect(table).to_be_visible(timeout=45_000)
    row = table.locator(".adaptive-llm-job-simulate")
    expect(row).to_contain_text("TIMEOUT", timeout=30_000)
    expect(table.locator(".adaptive-llm-job-prepare_data")).to_contain_text("COMPLETED")
    expect(table.locator(".adaptive-llm-groups")).to_contain_text("failed with")
    # The quickstart's own chat cell has run (the kernel is free again).
    expect(page.locator(".adaptive-llm-chat").first).to_be_visible(timeout=30_000)
    return table, row


def ask_for_fix(table: Any, row: Any, expect: Any) -> tuple[Any, Any, Any, Any]:
    """Open the failed job's chat from its row and ask; the chat, its input, the approval box
    and its cards: one reply proposes two changes, the doubled time limit (card 1, its full
    diff) and the resubmission (card 2, its command), each card with its own buttons, and
    Approve all / Reject all below them."""
    scroll_notebook_to_top(table)
    row.locator(".adaptive-llm-chat-button").click()
    chat = table.locator(".adaptive-llm-chat")
    expect(chat.locator(".adaptive-llm-diagnosis")).to_contain_text("time_limit")
    # Opened out of view (the notebook was at its top): scrolled to, its input focused.
    expect_in_view(chat, at_top=True)
    chat.page.wait_for_function(
        "() => !!document.activeElement?.closest('.adaptive-llm-chat .adaptive-llm-chat-input')"
    )
    box = chat.locator(".adaptive-llm-chat-input input")
    expect(box).to_be_enabled()
    box.click()
    box.fill("Why did this fail, and can you fix it?")
    box.press("Enter")
    approval = chat.locator(".adaptive-llm-approval")
    cards = approval.locator(".adaptive-llm-approval-card")
    expect(cards).to_have_count(2)
    for text in RESOURCE_CARD:
        expect(cards.nth(0)).to_contain_text(text)
    for text in RESUBMIT_CARD:
        expect(cards.nth(1)).to_contain_text(text)
    expect(cards.nth(1)).not_to_contain_text("time_limit = ")  # each change on its own card
    for card in cards.all():
        expect(card.locator(".adaptive-llm-approve")).to_have_count(1)
        expect(card.locator(".adaptive-llm-approve")).to_be_enabled()
        expect(card.locator(".adaptive-llm-reject")).to_be_visible()
    expect(approval.locator(".adaptive-llm-approve-all")).to_be_visible()
    expect(approval.locator(".adaptive-llm-reject-all")).to_be_visible()
    assert_cards_fit(approval)
    return chat, box, approval, cards


def assert_cards_fit(approval: Any) -> None:
    """Every card shows all of its text (no diff or command cut off or scrolled sideways) and
    keeps its buttons on one row, inside the approval box."""
    found = approval.evaluate(
        """box => {
            const problems = [], b = box.getBoundingClientRect();
            const cards = box.querySelectorAll('.adaptive-llm-approval-card');
            const blocks = box.querySelectorAll('.widget-html-content, pre');
            for (const e of blocks) {
                if (e.scrollHeight > e.clientHeight + 2 || e.scrollWidth > e.clientWidth + 2) {
                    problems.push(`clipped: ${e.textContent.slice(0, 60)}`);
                }
            }
            for (const e of box.querySelectorAll('.adaptive-llm-approval-card, .widget-hbox')) {
                const r = e.getBoundingClientRect();
                if (r.left < b.left - 1 || r.right > b.right + 1) {
                    problems.push(`outside the box: ${e.className}`);
                }
            }
            let rows = 0;
            for (const e of box.querySelectorAll('.widget-hbox')) {
                const buttons = Array.from(e.querySelectorAll(':scope > button'));
                if (buttons.length < 2) continue;
                rows += 1;
                const tops = new Set(buttons.map(x => Math.round(x.getBoundingClientRect().top)));
                if (tops.size > 1) problems.push(`buttons wrap: ${e.textContent}`);
            }
            const pres = box.querySelectorAll('.adaptive-llm-approval-card pre').length;
            return {problems, cards: cards.length, rows, pres};
        }"""
    )
    assert found["problems"] == [], found
    # Every card's own row of buttons and its diff or command were looked at.
    assert found["cards"] >= 1 and found["rows"] >= found["cards"], found
    assert found["pres"] >= found["cards"], found


def store(root: Path, sql: str) -> list[Any]:
    """Rows from the demo's SQLite store under the server's ``root`` (read-only)."""
    path = root / "adaptive-llm-demo" / ".adaptive_llm" / "store.sqlite"
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)) as db:
        return db.execute(sql).fetchall()


def time_limit(root: Path) -> float:
    """The time limit of ``simulate`` as recorded on disk."""
    spec = store(root, "SELECT spec FROM jobs WHERE name='simulate'")[0][0]
    return float(json.loads(spec)["resources"]["time_limit"])


def approve_first_card(chat: Any, box: Any, cards: Any, row: Any, root: Path, expect: Any) -> None:
    """Click Approve on card 1 only: the resource change is applied (recorded on disk) and
    the chat says so at once (its result bubble, and card 1 turned into an "applied" note),
    the resubmission's card is the only one left, and the job has not been resubmitted."""
    assert time_limit(root) == 2
    cards.nth(0).locator(".adaptive-llm-approve").click()
    expect(chat.locator(".adaptive-llm-user").last).to_contain_text("approve 1")
    expect(cards).to_have_count(1)
    for text in RESUBMIT_CARD:
        expect(cards.first).to_contain_text(text)
    expect(cards.first).not_to_contain_text("Change 1 of 2")
    expect(chat.locator(".adaptive-llm-approve-all")).to_have_count(0)
    expect(chat.locator(".adaptive-llm-approval-waiting")).to_have_count(0)
    expect(box).to_be_enabled()  # the turn has ended
    assert time_limit(root) == 4
    applied = chat.locator(".adaptive-llm-tool", has_text=APPLIED)
    expect(applied).to_have_count(1)
    expect(chat.locator(".adaptive-llm-approval-settled")).to_contain_text("(applied)")
    expect(chat).not_to_contain_text("Resubmitted job simulate")
    expect(row.locator(".adaptive-llm-cell").nth(2)).to_have_text("1")
    expect(row).to_contain_text("TIMEOUT")


def expect_resubmitted(chat: Any, row: Any, expect: Any) -> None:
    """The resubmission was applied: the reply's two tool results in order (the resource
    change, then the resubmission), no card left, and attempt 2 completes."""
    results = chat.locator(".adaptive-llm-tool", has_text=" result")
    expect(results.filter(has_text="Resubmitted job simulate as attempt 2")).to_have_count(1)
    texts = results.all_inner_texts()
    assert len(texts) >= 2 and APPLIED in texts[-2], texts
    assert "set_job_resources result" in texts[-2] and "resubmit_job result" in texts[-1], texts
    expect(chat.locator(".adaptive-llm-approval-card")).to_have_count(0)
    expect(chat.locator(".adaptive-llm-approval")).to_have_count(0)
    expect(row).to_contain_text("COMPLETED", timeout=30_000)
    expect(row.locator(".adaptive-llm-cell").nth(2)).to_have_text("2")


def scroll_notebook_to_top(anything: Any) -> None:
    """Scroll the notebook (its scrolling panel, or the page) to its top."""
    anything.page.evaluate(
        """() => {
            for (const e of document.querySelectorAll('.jp-WindowedPanel-outer, .jp-Notebook')) {
                e.scrollTop = 0;
            }
            document.scrollingElement.scrollTop = 0;
        }"""
    )
    anything.page.wait_for_timeout(200)


def expect_in_view(locator: Any, timeout: float = 10_000, *, at_top: bool = False) -> None:
    """``locator``'s top is in view: inside its scrolling container and the window, and
    what the browser shows there (its first line) belongs to it; ``at_top``: scrolled to the
    top of the notebook's view (what ``scrollIntoView`` does; not where it happened to be)."""
    locator.first.wait_for(state="visible")
    locator.first.page.wait_for_function(
        """([e, atTop]) => {
            const outer = e.closest('.jp-WindowedPanel-outer') || document.scrollingElement;
            if (atTop && Math.abs(e.getBoundingClientRect().top
                    - outer.getBoundingClientRect().top) > 40) return false;
            const r = e.getBoundingClientRect();
            let box = e.parentElement;
            while (box && !['auto', 'scroll'].includes(getComputedStyle(box).overflowY)) {
                box = box.parentElement;
            }
            const c = box ? box.getBoundingClientRect() : {top: 0, bottom: innerHeight};
            const y = r.top + Math.min(r.height, 16) / 2, x = r.left + 8;
            const inside = r.top >= c.top - 2 && y > Math.max(c.top, 0)
                && y < Math.min(c.bottom, innerHeight);
            const hit = document.elementFromPoint(x, y);
            return inside && hit !== null && e.contains(hit);
        }""",
        arg=[locator.first.element_handle(), at_top],
        timeout=timeout,
    )


def expand_diagnosis(table: Any, expect: Any, job: str = "train") -> Any:
    """Click the toggle beside the job's one-line diagnosis: the whole diagnosis (summary,
    category, location, suggestion) shows under the row, nothing clipped; the toggle of it."""
    row = table.locator(f".adaptive-llm-job-{job}")
    expect(row.locator(".adaptive-llm-diagnosis-cell")).to_contain_text("KeyError")
    full = row.locator(".adaptive-llm-diagnosis-full")
    expect(full).to_be_hidden()
    toggle = row.locator(".adaptive-llm-diagnosis-toggle")
    toggle.click()
    expect(full).to_be_visible()
    expect(full).to_contain_text("Suggestion:")
    expect(full).to_contain_text("data_utils.py:")
    clipped = full.evaluate(
        """full => {
            const box = full.getBoundingClientRect(), problems = [];
            for (const e of full.querySelectorAll('div')) {
                const r = e.getBoundingClientRect();
                if (e.scrollWidth > e.clientWidth + 2 || r.right > box.right + 2
                        || r.bottom > box.bottom + 2) problems.push(e.textContent);
            }
            const table = full.closest('.adaptive-llm-info').getBoundingClientRect();
            if (box.right > table.right + 2) problems.push('outside the table');
            return problems;
        }"""
    )
    assert clipped == [], clipped
    return toggle


def open_log(table: Any, expect: Any, job: str = "train") -> Any:
    """Click the job's Log button: the viewer opens below the table, in view, on the
    excerpt: its lines highlighted, the error's line (KeyError) marked and visible."""
    scroll_notebook_to_top(table)
    table.locator(f".adaptive-llm-job-{job} .adaptive-llm-log-button").click()
    viewer = table.locator(".adaptive-llm-log")
    error = viewer.locator(".adaptive-llm-log-error")
    expect(error).to_have_count(1)
    expect(error).to_contain_text("KeyError")
    expect(viewer.locator(".adaptive-llm-log-excerpt").first).to_be_visible()
    expect_in_view(viewer, at_top=True)
    expect_in_view(error)
    return viewer
