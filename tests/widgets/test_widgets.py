"""The widgets in Python: clicks and typed text drive a real RunManager and LLMManager."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, SystemMessage

from adaptive_llm import Job, RunManager, chat_widget, info
from adaptive_llm.llm.diagnose import LLM_DIAGNOSIS_PROMPT
from adaptive_llm.testing import ScriptedChatModel, tool_call
from adaptive_llm.widgets.chat import Bubble, ChatWidget
from adaptive_llm.widgets.info import InfoWidget
from adaptive_llm.widgets.render import diff_html, markdown_html, plain_html

MakeRm = Callable[..., RunManager]
PY = sys.executable
SLOW = Job("slow", ["/bin/sh", "-c", "sleep 1.6; echo finished"], resources={"time_limit": 1})
OK = Job("ok", ["/bin/sh", "-c", "echo fine"])
BOOM = Job("boom", ["/bin/sh", "-c", "echo 'RuntimeError: boom'; exit 1"])


def script(*steps: AIMessage | str) -> Callable[[list[BaseMessage]], AIMessage | str]:
    """Chat turns take ``steps`` in order; the background LLM diagnosis gets a fixed answer."""
    remaining = list(steps)

    def reply(messages: list[BaseMessage]) -> AIMessage | str:
        first = messages[0] if messages else None
        if isinstance(first, SystemMessage) and first.text.startswith(LLM_DIAGNOSIS_PROMPT[:60]):
            return "Scripted diagnosis."
        return remaining.pop(0)

    return reply


def type_text(chat: ChatWidget, text: str) -> None:
    """What pressing Enter in the browser does: the value is synced, then submit fires."""
    chat.input.value = text
    chat.input._submission_callbacks(chat.input)


def bubbles(chat: ChatWidget) -> list[Bubble]:
    return list(chat.messages.children)


def cards(chat: ChatWidget) -> list[Any]:
    """The approval cards on screen, one per change waiting for the user."""
    if not chat.approval_box.children:
        return []
    box = chat.approval_box.children[0]
    return [c for c in box.children if "adaptive-llm-approval-card" in c._dom_classes]


async def started(make_rm: MakeRm, jobs: Sequence[Job], **kwargs: Any) -> RunManager:
    rm = make_rm(jobs, **kwargs)
    rm.start()
    await rm.wait(timeout=30)
    return rm


def row_text(table: InfoWidget, name: str) -> str:
    return " ".join(cell.value for cell in table.rows[name].cells)


async def test_info_chat_fixes_the_time_limit_job(make_rm: MakeRm, proc: Any) -> None:
    rm = make_rm([OK, SLOW, BOOM])
    rm.start()
    table = info(rm)
    try:
        assert "adaptive-llm-info" in table._dom_classes
        rows = {name: row.box for name, row in table.rows.items()}
        children = table.table.children
        await rm.wait(timeout=30)
        await proc.until(lambda: "TIMEOUT" in row_text(table, "slow"), 10, "the table update")
        await proc.until(lambda: "time limit" in row_text(table, "slow").lower(), 10, "diagnosis")
        # Incremental: the same row widgets, updated in place.
        assert {name: row.box for name, row in table.rows.items()} == rows
        assert all(table.rows[n].box is rows[n] for n in rows)
        assert table.table.children == children and table.refreshes > 1
        assert table.rows["ok"].chat.layout.display == "none"
        assert table.rows["slow"].chat.layout.display != "none"
        assert "adaptive-llm-chat-button" in table.rows["slow"].chat._dom_classes
        assert "2 failed" in table.counts.value or "1 failed" in table.counts.value

        table.rows["slow"].chat.click()
        [chat] = table.chat_area.children
        assert isinstance(chat, ChatWidget) and chat.input.disabled  # busy while loading
        await chat.idle()
        first = bubbles(chat)[0]
        assert first.role == "diagnosis" and "time_limit" in first.value
        type_text(chat, "Why did this fail, and can you fix it?")
        assert chat.input.value == "" and chat.input.disabled
        await chat.idle()
        assert not chat.input.disabled
        assert bubbles(chat)[0] is first  # history not re-rendered
        assert chat.approval is not None and chat.approval.tool == "set_job_resources"
        card, resubmit_card = cards(chat)
        assert "Resubmit job slow as attempt 2" in resubmit_card.children[0].value
        assert "adaptive-llm-approval" in chat.approval_box.children[0]._dom_classes
        html_card = card.children[0].value
        assert 'class="gd"' in html_card and 'class="gi"' in html_card
        assert "time_limit = 1s" in html_card and "time_limit = 2s" in html_card
        approve, reject = card.children[1].children[:2]
        assert "adaptive-llm-approve" in approve._dom_classes
        assert "adaptive-llm-reject" in reject._dom_classes

        approve.click()  # the button of card 1, as a user would
        await chat.idle()
        assert rm.job_manager.job("slow").resources.time_limit == 2
        assert chat.approval is not None and chat.approval.tool == "resubmit_job"
        assert rm.job_manager.attempts["slow"].number == 1
        type_text(chat, "approve")  # typed, as a user would
        await chat.idle()
        assert chat.approval is None and chat.approval_box.children == ()
        assert any("Resubmitted" in b.value for b in bubbles(chat))
        await rm.wait(timeout=30)
        await proc.until(lambda: "COMPLETED" in row_text(table, "slow"), 10, "completion")
        assert table.rows["slow"].box is rows["slow"]
        assert table.rows["slow"].cells[2].value == "2"
        assert table.rows["slow"].chat.layout.display == "none"
        assert "Usage" not in chat.usage_label.value and "tokens" in chat.usage_label.value
        count = len(bubbles(chat))
        chat.yolo.value = True  # after the fix, in the same chat
        await chat.idle()
        assert len(bubbles(chat)) == count, bubbles(chat)[-1].value
        assert chat.yolo.button_style == "warning"
        # Re-opening gives the same chat widget, with its history.
        assert table.open_chat("slow") is chat
    finally:
        table.close()


async def test_failures_grouped_by_signature(make_rm: MakeRm, workdir: Path) -> None:
    (workdir / "train.py").write_text("import sys\n\nconfig = {}\nprint(config['lr'])\n")
    jobs = [Job(f"t{i}", [PY, "train.py"]) for i in range(3)] + [BOOM]
    rm = await started(make_rm, jobs)
    table = info(rm)
    try:
        table.refresh()
        assert "3 jobs failed with the same <b>KeyError</b> at train.py:4" in table.groups.value
        assert "1 job failed with" in table.groups.value
        assert "4 failed" in table.counts.value
    finally:
        table.close()


async def test_resubmit_and_cancel_buttons(make_rm: MakeRm, proc: Any) -> None:
    rm = make_rm([Job("long", ["/bin/sh", "-c", "sleep 30"])])
    rm.start()
    table = info(rm)
    try:
        row = table.rows["long"]
        await proc.until(lambda: "RUNNING" in row_text(table, "long"), 10, "running")
        assert row.resubmit.disabled and not row.cancel.disabled
        row.cancel.click()
        await table.tasks.idle()
        await proc.until(lambda: "CANCELLED" in row_text(table, "long"), 15, "cancelled")
        assert not row.resubmit.disabled
        row.resubmit.click()
        await table.tasks.idle()
        await proc.until(lambda: row.cells[2].value == "2", 10, "attempt 2")
        assert table.notice.value == ""
    finally:
        table.close()


HOSTILE = [
    "<script>alert(1)</script>hello",
    "[click](javascript:alert(1))",
    '<a href="JaVaScRiPt:alert(1)">x</a>',
    "<img src=x onerror=alert(1)>",
    '<div onclick="alert(1)" onmouseover="alert(1)">hover</div>',
    "`<script>alert(1)</script>` and `<img src=x onerror=alert(1)>`",
    "```html\n<script>alert(1)</script><iframe src=x></iframe>\n```",
    "<iframe src='https://example.com'></iframe>",
    "<style>body{display:none}</style>text",
    '<svg onload="alert(1)"><a xlink:href="javascript:alert(1)">s</a></svg>',
    '<form action="javascript:alert(1)"><input onfocus=alert(1) autofocus></form>',
    '<a href="data:text/html,<script>alert(1)</script>">d</a>',
    "<p style=\"background:url('javascript:alert(1)')\">p</p>",
]


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, attrs))


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_text(rendered: str) -> str:
    """The text a browser shows for ``rendered`` (entities decoded, tags dropped)."""
    parser = _Text()
    parser.feed(rendered)
    return "".join(parser.parts)


def assert_inert(rendered: str) -> None:
    """Parsed as a browser would: only harmless tags, no handlers/styles, safe links only."""
    parser = _Tags()
    parser.feed(rendered)
    for tag, attrs in parser.found:
        assert tag not in ("script", "style", "iframe", "img", "svg", "form", "input", "object")
        for name, value in attrs:
            assert not name.startswith("on") and name not in ("style", "src", "action")
            if name == "href":
                assert (value or "").startswith(("http://", "https://", "mailto:")), value


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_markdown_renders_inert(text: str) -> None:
    rendered = markdown_html(text)
    assert_inert(rendered)
    assert "<script" not in rendered.lower() and 'javascript:alert(1)"' not in rendered


def test_code_is_escaped_and_highlighted() -> None:
    rendered = markdown_html("```python\nx = '<b>'  # c\n```\n\n`<i>x</i>`")
    assert "&lt;b&gt;" in rendered and "<b>" not in rendered
    assert "<code>&lt;i&gt;x&lt;/i&gt;</code>" in rendered
    assert 'class="adaptive-llm-hl"' in rendered and 'class="s1"' in rendered
    links = markdown_html("[ok](https://example.com)")
    assert 'href="https://example.com"' in links and "noopener" in links
    diff = diff_html("--- a/x\n+++ b/x\n@@ -1 +1 @@\n-<old>\n+<script>new</script>\n")
    assert "&lt;script&gt;new" in diff and "<script" not in diff


async def test_hostile_model_output_and_streaming(make_rm: MakeRm) -> None:
    long = " ".join(f"word{i}" for i in range(400))
    hostile = "<script>alert(1)</script>**bold** [x](javascript:alert(1)) <img src=x onerror=1>"
    model = ScriptedChatModel(script(hostile, long))
    rm = await started(make_rm, [BOOM], llm=model)
    chat = chat_widget(rm.llm_manager, "boom")
    await chat.idle()
    type_text(chat, "hi")
    await chat.idle()
    reply = bubbles(chat)[-1]
    assert reply.role == "assistant" and "<strong>bold</strong>" in reply.value
    assert_inert(reply.value)
    assert "<script" not in reply.value and "javascript:" not in reply.value
    before = bubbles(chat)
    updates = chat.updates
    type_text(chat, "more")
    await chat.idle()
    # Two new bubbles appended; earlier ones are the same widgets.
    assert bubbles(chat)[: len(before)] == before and len(bubbles(chat)) == len(before) + 2
    assert "word399" in bubbles(chat)[-1].value
    assert 1 <= chat.updates - updates < 400  # throttled: far fewer updates than tokens
    assert "tokens" in chat.usage_label.value


async def test_yolo_toggle_and_undo(make_rm: MakeRm, workdir: Path) -> None:
    (workdir / "conf.txt").write_text("lr = 1\n")
    edit = tool_call("edit_file", {"path": "conf.txt", "old_text": "lr = 1", "new_text": "lr = 2"})
    model = ScriptedChatModel(script(edit, "Edited."))
    rm = await started(make_rm, [BOOM], llm=model)
    chat = chat_widget(rm.llm_manager, "boom")
    await chat.idle()
    assert "adaptive-llm-yolo" in chat.yolo._dom_classes and not chat.yolo.value
    chat.yolo.value = True  # the toggle, as clicked
    service = rm.llm_manager.chat_service()
    assert service.records.settings(service.thread_of("boom"))["yolo"] == 1
    type_text(chat, "set lr to 2")
    await chat.idle()
    assert chat.approval is None  # YOLO: applied without asking
    assert (workdir / "conf.txt").read_text() == "lr = 2\n"
    assert any(b.role == "tool" and "Applied" in b.value for b in bubbles(chat))
    assert "adaptive-llm-undo" in chat.undo_button._dom_classes
    chat.undo_button.click()
    await chat.idle()
    assert (workdir / "conf.txt").read_text() == "lr = 1\n"
    assert "Undone" in bubbles(chat)[-1].value or "restored" in bubbles(chat)[-1].value


async def test_errors_are_chat_messages(make_rm: MakeRm) -> None:
    model = ScriptedChatModel(script())  # no reply scripted: the model raises
    rm = await started(make_rm, [BOOM], llm=model)
    chat = chat_widget(rm.llm_manager, "boom")
    await chat.idle()
    type_text(chat, "hello")
    await chat.idle()
    last = bubbles(chat)[-1]
    assert "adaptive-llm-error" in last._dom_classes and "Traceback" not in last.value
    assert not chat.input.disabled and not chat.busy

    async def broken(name: str | None) -> str:
        raise RuntimeError("disk on fire")

    rm.llm_manager.undo = broken  # type: ignore[method-assign]
    chat.undo_button.click()
    await chat.idle()
    assert "disk on fire" in bubbles(chat)[-1].value
    assert "adaptive-llm-error" in bubbles(chat)[-1]._dom_classes
    assert not chat.busy


async def test_three_changes_three_cards_and_card_two_applies_only_change_two(
    make_rm: MakeRm, workdir: Path
) -> None:
    for name in ("a.txt", "b.txt", "c.txt"):
        (workdir / name).write_text(f"{name} = 1\n")
    reply = AIMessage(
        content="Three changes.",
        tool_calls=[
            {
                "name": "edit_file",
                "args": {"path": n, "old_text": f"{n} = 1", "new_text": f"{n} = 2"},
                "id": f"c{i}",
            }
            for i, n in enumerate(("a.txt", "b.txt", "c.txt"), 1)
        ],
    )
    rm = await started(make_rm, [BOOM], llm=ScriptedChatModel(script(reply, "Applied two.")))
    chat = chat_widget(rm.llm_manager, "boom")
    await chat.idle()
    type_text(chat, "fix all three")
    await chat.idle()
    shown = cards(chat)
    assert len(shown) == 3
    for card, name in zip(shown, ("a.txt", "b.txt", "c.txt"), strict=True):
        body = card.children[0].value
        assert f"Change {shown.index(card) + 1} of 3" in body and f"b/{name}" in body
        assert f"{name} = 2" in body  # the full diff, on its own card
    buttons = chat.approval_box.children[0].children[-1].children
    assert "adaptive-llm-approve-all" in buttons[0]._dom_classes
    assert "adaptive-llm-reject-all" in buttons[1]._dom_classes

    reopened = chat_widget(rm.llm_manager, "boom")  # the chat opened again
    await reopened.idle()
    assert [c.children[0].value for c in cards(reopened)] == [c.children[0].value for c in shown]
    approve_two = cards(reopened)[1].children[1].children[0]
    assert "adaptive-llm-approve" in approve_two._dom_classes
    approve_two.click()
    await reopened.idle()
    assert (workdir / "b.txt").read_text() == "b.txt = 2\n"
    assert (workdir / "a.txt").read_text() == "a.txt = 1\n"
    assert (workdir / "c.txt").read_text() == "c.txt = 1\n"
    assert [a.number for a in reopened.approvals] == [1, 3]
    assert len(cards(reopened)) == 2
    type_text(reopened, "reject")  # everything still shown: changes 1 and 3
    await reopened.idle()
    assert cards(reopened) == [] and reopened.approvals == []
    assert (workdir / "a.txt").read_text() == "a.txt = 1\n"
    assert (workdir / "c.txt").read_text() == "c.txt = 1\n"
    assert bubbles(reopened)[-1].text == "Applied two."


@pytest.mark.parametrize(
    ("hidden", "shown"),
    [("\r", "\\r"), ("\x1b[2K", "\\x1b[2K"), ("\u202e", "<U+202E>"), ("\u2028", "<U+2028>")],
)
def test_invisible_characters_in_a_diff_or_command_are_shown(hidden: str, shown: str) -> None:
    """A carriage return (or an escape, a bidi override, a line separator) in an added line
    must not let it pass for a context line or hide part of it."""
    diff = f"--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a = 1\n+a = 1{hidden}import os\n"
    text = html_text(diff_html(diff))
    assert f"a = 1{shown}import os" in text
    assert hidden not in text
    command = html_text(plain_html(f"echo hi{hidden}rm -rf x"))
    assert f"echo hi{shown}rm -rf x" in command and hidden not in command


async def test_a_change_approved_alone_shows_its_result_at_once(
    make_rm: MakeRm, workdir: Path
) -> None:
    """Approving card 1 of 2 applies it and says so in the chat right away (the reply's
    ToolMessages come once every change is decided), and the card becomes a note."""
    (workdir / "a.txt").write_text("a = 1\n")
    (workdir / "b.txt").write_text("b = 1\n")
    reply = AIMessage(
        content="Two changes.",
        tool_calls=[
            {
                "name": "edit_file",
                "args": {"path": n, "old_text": f"{v} = 1", "new_text": f"{v} = 2"},
                "id": f"c{i}",
            }
            for i, (n, v) in enumerate((("a.txt", "a"), ("b.txt", "b")), 1)
        ],
    )
    rm = await started(make_rm, [BOOM], llm=ScriptedChatModel(script(reply, "Both decided.")))
    chat = chat_widget(rm.llm_manager, "boom")
    await chat.idle()
    type_text(chat, "fix both")
    await chat.idle()
    cards(chat)[0].children[1].children[0].click()  # Approve on card 1
    await chat.idle()
    assert (workdir / "a.txt").read_text() == "a = 2\n"
    applied = [b for b in bubbles(chat) if b.role == "tool" and "Applied" in b.text]
    assert len(applied) == 1 and "a.txt" in applied[0].text
    box = chat.approval_box.children[0]
    notes = [c for c in box.children if "adaptive-llm-approval-settled" in c._dom_classes]
    assert len(notes) == 1 and "applied" in notes[0].value and "Change 1 of 2" in notes[0].value
    assert len(cards(chat)) == 1
    type_text(chat, "approve")
    await chat.idle()
    results = [b.text for b in bubbles(chat) if b.role == "tool" and "Applied" in b.text]
    assert len(results) == 2, results  # card 1's result is not shown twice
    assert bubbles(chat)[-1].text == "Both decided."


async def test_clear_asks_to_confirm_then_starts_afresh(make_rm: MakeRm, workdir: Path) -> None:
    (workdir / "conf.txt").write_text("lr = 1\n")
    edit = tool_call("edit_file", {"path": "conf.txt", "old_text": "lr = 1", "new_text": "lr = 2"})
    model = ScriptedChatModel(script(edit, "Hello again."))
    rm = await started(make_rm, [BOOM], llm=model)
    lm = rm.llm_manager
    chat = chat_widget(lm, "boom")
    await chat.idle()
    type_text(chat, "set lr to 2")
    await chat.idle()
    assert chat.approval is not None
    before = len(await lm.history("boom"))
    chat.clear_button.click()  # first click: asks
    await chat.idle()
    assert chat.clear_button.description == "Clear: sure?" and chat.approval is not None
    assert len(await lm.history("boom")) == before
    chat.clear_button.click()  # second click: clears
    await chat.idle()
    assert chat.clear_button.description == "Clear"
    assert chat.approval is None and not chat.approval_box.children
    assert [b.title for b in bubbles(chat)] == ["clear"]
    assert (
        "Cleared the chat" in bubbles(chat)[0].value
        and "1 waiting change" in bubbles(chat)[0].value
    )
    assert (workdir / "conf.txt").read_text() == "lr = 1\n"  # the waiting change was rejected
    assert len(await lm.history("boom")) < before
    type_text(chat, "hi")
    await chat.idle()
    assert bubbles(chat)[-1].role == "assistant" and "Hello again." in bubbles(chat)[-1].value
    texts = " ".join(m.text for m in await lm.history("boom"))
    assert "set lr to 2" not in texts and "hi" in texts  # the model got no old history


async def test_fork_copies_the_chat_into_the_chosen_one(make_rm: MakeRm) -> None:
    other = Job("boom2", ["/bin/sh", "-c", "echo 'RuntimeError: boom'; exit 1"])
    model = ScriptedChatModel(script("First answer.", "Going on in boom2."))
    rm = await started(make_rm, [BOOM, other], llm=model)
    lm = rm.llm_manager
    chat = chat_widget(lm, "boom")
    await chat.idle()
    assert [v for _, v in chat.fork_into.options][1:] == ["boom2", "\x00general"]
    chat.fork_button.click()  # nothing chosen: says so, forks nothing
    await chat.idle()
    assert "Choose the job" in bubbles(chat)[-1].value
    type_text(chat, "why did it fail?")
    await chat.idle()
    chat.fork_into.value = "boom2"
    chat.fork_button.click()
    await chat.idle()
    assert bubbles(chat)[-1].title == "fork" and "Forked" in bubbles(chat)[-1].value
    assert chat.fork_into.value == ""
    copy = chat_widget(lm, "boom2")
    await copy.idle()
    assert "why did it fail?" in " ".join(b.value for b in bubbles(copy))
    type_text(copy, "go on")
    await copy.idle()
    assert "Going on in boom2." in bubbles(copy)[-1].value
    chat.fork_into.value = "boom2"
    chat.fork_button.click()  # the copy has a conversation now: refused, said so
    await chat.idle()
    assert "Not forked" in bubbles(chat)[-1].value


async def test_the_table_pages_its_rows_and_binds_them_to_the_page_jobs(make_rm: MakeRm) -> None:
    jobs = [
        Job(f"j{i:02d}", ["/bin/sh", "-c", "echo 'RuntimeError: bad'; exit 1" if i % 3 else "true"])
        for i in range(23)
    ]
    rm = await started(make_rm, jobs)
    table = info(rm, page_size=5)
    try:
        # One page of row widgets, not one per job; the pager shows with more jobs than a page.
        assert list(table.rows) == ["j00", "j01", "j02", "j03", "j04"]
        assert len(table.table.children) == 6 and len(table._pool) == 5
        assert table.pager.layout.display == "" and table.page_label.value == "1-5 of 23"
        assert table.previous.disabled and not table.next.disabled
        assert "<b>23 jobs</b>" in table.counts.value and "15 failed" in table.counts.value
        first = table.rows["j01"]
        assert "adaptive-llm-job-j01" in first.box._dom_classes
        first.more.value = True  # the whole diagnosis of j01, kept while paging
        assert first.detail.layout.display == ""

        table.next.click()
        assert list(table.rows) == ["j05", "j06", "j07", "j08", "j09"]
        assert table.page_label.value == "6-10 of 23" and not table.previous.disabled
        row = table.rows["j06"]
        assert row is first  # the same widgets, bound to another job
        assert "adaptive-llm-job-j06" in row.box._dom_classes
        assert "adaptive-llm-job-j01" not in row.box._dom_classes
        assert not row.more.value and row.detail.layout.display == "none"
        assert "j06" in row.cells[0].value and "COMPLETED" in row.cells[1].value
        table.rows["j05"].chat.click()  # the chat of the job the row shows now
        [chat] = table.chat_area.children
        assert chat is table.chats["j05"] and "j01" not in table.chats

        table.previous.click()
        assert table.rows["j01"].more.value and table.rows["j01"].detail.value

        table.go(99)  # past the end: the last page there is
        assert list(table.rows) == ["j20", "j21", "j22"] and table.next.disabled
        assert len(table.table.children) == 4 and table.page_label.value == "21-23 of 23"

        table.filter.value = "failed"  # back to the first page of the failed jobs
        assert table.page == 0 and list(table.rows) == ["j01", "j02", "j04", "j05", "j07"]
        assert table.page_label.value == "1-5 of 15"
        table.find.value = "J1"  # by name, whatever the case
        assert list(table.rows) == ["j10", "j11", "j13", "j14", "j16"]
        table.next.click()
        assert list(table.rows) == ["j17", "j19"] and table.page_label.value == "6-7 of 7"
        table.find.value = "nothing"
        assert table.rows == {} and table.page_label.value == "none of 23"
        assert len(table.table.children) == 1
        assert "15 failed" in table.counts.value  # the counts are over all jobs
    finally:
        table.close()


async def test_a_small_run_shows_no_pager(make_rm: MakeRm) -> None:
    rm = await started(make_rm, [OK, BOOM])
    table = info(rm)
    try:
        assert table.pager.layout.display == "none" and set(table.rows) == {"ok", "boom"}
        with pytest.raises(ValueError, match="page_size"):
            info(rm, page_size=0)
    finally:
        table.close()
