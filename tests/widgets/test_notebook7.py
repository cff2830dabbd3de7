"""The quickstart in Jupyter Notebook 7 (the ``notebook`` package) instead of JupyterLab.

Lighter than the JupyterLab test: open ``/notebooks/quickstart.ipynb``, run every cell, check
that the job table and the chat render with our stylesheet applied, click Chat, approve the
fix's two cards one by one with their own buttons, and check that no browser error involves
the widgets. Screenshots go to ``test-artifacts/notebook7-*.png``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from quickstart_steps import (
    KERNEL_CONNECTED,
    approve_first_card,
    ask_for_fix,
    assert_cards_fit,
    expect_resubmitted,
    run_quickstart,
)

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def test_quickstart_in_notebook7(
    jupyter_server: Callable[[str], tuple[str, Path]], chromium_launch: dict[str, Any]
) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, root = jupyter_server("notebook")
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []  # uncaught exceptions and console errors, with their stacks
    with sync_playwright() as pw:
        browser = pw.chromium.launch(**chromium_launch)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(30_000)
        page.on("pageerror", lambda exc: errors.append(f"{exc.message}\n{exc.stack}"))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        try:
            page.goto(f"{url}/notebooks/quickstart.ipynb")
            page.wait_for_function(KERNEL_CONNECTED, timeout=45_000)
            expect(page.locator("#main-panel .jp-NotebookPanel")).to_be_visible()  # not Lab
            table, row = run_quickstart(page, expect)
            table.scroll_into_view_if_needed()
            table.screenshot(path=str(ARTIFACTS / "notebook7-info.png"))

            chat, box, approval, cards = ask_for_fix(table, row, expect)
            # Our stylesheet applies here too: the cards' frame, the history's scroll box.
            assert approval.evaluate("e => getComputedStyle(e).borderTopWidth") == "2px"
            history = chat.locator(".adaptive-llm-history")
            style = history.evaluate(
                "e => [getComputedStyle(e).overflowY, getComputedStyle(e).flexDirection]"
            )
            assert style == ["auto", "column-reverse"], style
            page.set_viewport_size({"width": 1400, "height": 1400})  # the whole chat in view
            chat.scroll_into_view_if_needed()
            page.wait_for_timeout(300)
            chat.screenshot(path=str(ARTIFACTS / "notebook7-chat-approval.png"))
            page.set_viewport_size({"width": 1400, "height": 1000})

            approve_first_card(chat, box, cards, row, root, expect)
            assert_cards_fit(approval)
            approve = cards.first.locator(".adaptive-llm-approve")  # the resubmission's card
            expect(approve).to_be_enabled()
            approve.click()
            expect_resubmitted(chat, row, expect)

            # The history has outgrown its box: messages keep their height, the newest shows.
            clipped = chat.locator(".adaptive-llm-messages > *").evaluate_all(
                "all => all.filter(e => e.scrollHeight > e.clientHeight + 2).length"
            )
            assert clipped == 0, f"{clipped} chat messages are clipped"
            view = chat.locator(".adaptive-llm-bubble").last.evaluate(
                """(newest, box) => {
                    box = newest.closest('.adaptive-llm-history');
                    const b = box.getBoundingClientRect(), n = newest.getBoundingClientRect();
                    return {overflows: box.scrollHeight > box.clientHeight + 2,
                            visible: n.top >= b.top - 1 && n.bottom <= b.bottom + 1};
                }"""
            )
            assert view == {"overflows": True, "visible": True}, view
            chat.screenshot(path=str(ARTIFACTS / "notebook7-chat-done.png"))
            assert chat.locator(".adaptive-llm-error").count() == 0
            # Notebook 7 logs errors of its own (7.6.5: "reading 'schema'" from its shortcuts
            # settings, with an empty notebook too); none may involve the widgets.
            ours = [e for e in errors if "widget" in e.lower() or "adaptive" in e.lower()]
            assert not ours, ours
        except BaseException:
            page.screenshot(path=str(ARTIFACTS / "notebook7-failure.png"), full_page=True)
            raise
        finally:
            browser.close()
