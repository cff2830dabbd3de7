"""End to end in a real browser: JupyterLab + Chromium run the quickstart and fix a job.

JupyterLab is started on a free port in a temporary directory with a copy of the quickstart
(``jupyter_server`` in tests/conftest.py); Chromium is driven by Playwright (DESIGN.md §5).
Screenshots go to ``test-artifacts/``; with ``ADAPTIVE_LLM_README_SHOTS=1`` the README's (light
and dark) go to ``docs/`` too (a test run never changes the checkout otherwise); a failure saves
the page as it was.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from quickstart_steps import (
    KERNEL_CONNECTED,
    approve_first_card,
    ask_for_fix,
    assert_cards_fit,
    expand_diagnosis,
    expect_resubmitted,
    open_log,
    run_quickstart,
    store,
)

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
#: The README's screenshots are retaken only when asked (``ADAPTIVE_LLM_README_SHOTS=1``).
DOCS = ROOT / "docs" if os.environ.get("ADAPTIVE_LLM_README_SHOTS") == "1" else ARTIFACTS


@pytest.fixture
def lab(jupyter_server: Callable[[str], tuple[str, Path]]) -> tuple[str, Path]:
    """A JupyterLab server on a free port, serving a temp dir with the quickstart."""
    return jupyter_server("lab")


def test_quickstart_fix_time_limit_in_browser(
    lab: tuple[str, Path], chromium_launch: dict[str, Any]
) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, root = lab
    ARTIFACTS.mkdir(exist_ok=True)
    DOCS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(**chromium_launch)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(30_000)
        try:
            page.goto(f"{url}/lab/tree/quickstart.ipynb")
            page.wait_for_function(KERNEL_CONNECTED, timeout=45_000)
            table, row = run_quickstart(page, expect)
            expect(row.locator(".adaptive-llm-cell").nth(5)).to_contain_text("Time limit")
            table.scroll_into_view_if_needed()
            table.screenshot(path=str(DOCS / "info.png"))

            # The whole diagnosis under its row; the Log button opens the viewer on the
            # error's line.
            toggle = expand_diagnosis(table, expect)
            table.screenshot(path=str(ARTIFACTS / "browser-diagnosis.png"))
            toggle.click()
            viewer = open_log(table, expect)
            viewer.screenshot(path=str(DOCS / "log-viewer.png"))
            viewer.locator(".adaptive-llm-log-query").locator("input").fill("config")
            viewer.locator(".adaptive-llm-log-find").click()
            expect(viewer.locator(".adaptive-llm-log-hits")).to_contain_text("found")
            viewer.locator(".adaptive-llm-log-close").click()
            expect(viewer).to_have_count(0)

            chat, box, approval, cards = ask_for_fix(table, row, expect)
            # The README's screenshot: the chat with both cards (a taller page, so the whole
            # chat is in view).
            page.set_viewport_size({"width": 1400, "height": 1400})
            chat.scroll_into_view_if_needed()
            page.wait_for_timeout(300)
            chat.screenshot(path=str(DOCS / "chat-approval.png"))
            page.set_viewport_size({"width": 1400, "height": 1000})

            approve_first_card(chat, box, cards, row, root, expect)
            assert_cards_fit(approval)
            box.fill("approve")  # the card left: the resubmission
            box.press("Enter")
            expect_resubmitted(chat, row, expect)

            yolo = chat.locator(".adaptive-llm-yolo")
            yolo.click()
            expect(yolo).to_have_class(_contains("mod-active"))
            page.wait_for_timeout(1000)
            errors = chat.locator(".adaptive-llm-error")
            assert errors.count() == 0, errors.all_inner_texts()
            assert store(root, "SELECT yolo FROM chat_settings WHERE thread='job:simulate'") == [
                (1,)
            ]
            # The history has outgrown its scroll box by now: every message keeps its full
            # height (the box scrolls) instead of being squashed and clipped.
            clipped = page.evaluate(
                "Array.from(document.querySelectorAll('.adaptive-llm-messages > *'))"
                ".filter(e => e.scrollHeight > e.clientHeight + 2).length"
            )
            assert clipped == 0, f"{clipped} chat messages are clipped"
            # ... and the box shows its newest message without the user scrolling to it.
            view = _history_view(chat)
            assert view["overflows"], f"the history should overflow its box by now: {view}"
            assert view["newest"]["top"] >= view["box"]["top"] - 1, view
            assert view["newest"]["bottom"] <= view["box"]["bottom"] + 1, view
            page.screenshot(path=str(ARTIFACTS / "browser-done.png"), full_page=True)
            page.evaluate(
                "window.jupyterapp.commands.execute('apputils:change-theme',"
                " {theme: 'JupyterLab Dark'})"
            )
            page.wait_for_timeout(800)
            table.screenshot(path=str(DOCS / "info-dark.png"))  # the README's dark one

            # A reader who scrolled up stays where they are when a message arrives (Undo
            # appends one): what they read does not move and the new message is out of view;
            # back at the bottom, the history follows new messages again.
            bubbles = chat.locator(".adaptive-llm-bubble")
            undo = chat.locator(".adaptive-llm-undo")
            count = bubbles.count()
            history = chat.locator(".adaptive-llm-messages")
            history.hover()
            page.mouse.wheel(0, -250)
            page.wait_for_timeout(500)
            view = _history_view(chat)
            assert view["newest"]["top"] >= view["box"]["bottom"], view  # scrolled away from it
            reading = next(
                bubble
                for bubble in reversed(bubbles.all())
                if (rect := bubble.bounding_box())
                and rect["y"] >= view["box"]["top"]
                and rect["y"] + rect["height"] <= view["box"]["bottom"]
            )
            before = reading.bounding_box()
            undo.click()
            expect(bubbles).to_have_count(count + 1)
            page.wait_for_timeout(500)
            after = reading.bounding_box()
            view = _history_view(chat)
            assert before and after and abs(after["y"] - before["y"]) <= 2, (before, after, view)
            assert view["newest"]["top"] >= view["box"]["bottom"], view
            history.hover()
            page.mouse.wheel(0, 2000)
            page.wait_for_timeout(500)
            expect(undo).to_be_enabled()
            undo.click()
            expect(bubbles).to_have_count(count + 2)
            page.wait_for_timeout(500)
            view = _history_view(chat)
            assert view["box"]["top"] - 1 <= view["newest"]["top"], view
            assert view["newest"]["bottom"] <= view["box"]["bottom"] + 1, view
        except BaseException:
            page.screenshot(path=str(ARTIFACTS / "browser-failure.png"), full_page=True)
            raise
        finally:
            browser.close()


def _history_view(chat: Any) -> dict[str, Any]:
    """The chat history's scroll box (the messages' nearest scrolling ancestor) and the
    newest message, as viewport rectangles."""
    return dict(
        chat.locator(".adaptive-llm-bubble").last.evaluate(
            """newest => {
                let box = newest.parentElement;
                while (box && !['auto', 'scroll'].includes(getComputedStyle(box).overflowY)) {
                    box = box.parentElement;
                }
                const rect = e => {
                    const r = e.getBoundingClientRect();
                    return {top: r.top, bottom: r.bottom};
                };
                return {
                    box: rect(box),
                    newest: rect(newest),
                    overflows: box.scrollHeight > box.clientHeight + 2,
                    scrollTop: box.scrollTop,
                };
            }"""
        )
    )


def _contains(name: str) -> Any:
    import re

    return re.compile(rf"(^|\s){re.escape(name)}(\s|$)")
