"""The quickstart steps both browser tests take (JupyterLab and Notebook 7 alike)."""

from __future__ import annotations

from typing import Any

#: The notebook's kernel is up (the same check in JupyterLab and Notebook 7).
KERNEL_CONNECTED = (
    "window.jupyterapp?.shell.currentWidget?.sessionContext?.session?.kernel"
    "?.connectionStatus === 'connected'"
)


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


def ask_for_fix(table: Any, row: Any, expect: Any) -> tuple[Any, Any, Any]:
    """Open the failed job's chat from its row and ask; the chat, its input and the approval
    card proposing the doubled time limit."""
    row.locator(".adaptive-llm-chat-button").click()
    chat = table.locator(".adaptive-llm-chat")
    expect(chat.locator(".adaptive-llm-diagnosis")).to_contain_text("time_limit")
    box = chat.locator(".adaptive-llm-chat-input input")
    expect(box).to_be_enabled()
    box.click()
    box.fill("Why did this fail, and can you fix it?")
    box.press("Enter")
    card = chat.locator(".adaptive-llm-approval")
    expect(card).to_contain_text("time_limit = 4s")
    return chat, box, card
