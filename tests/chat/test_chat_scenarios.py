"""The chat agent driven by a scripted model through the public API (real jobs, store, graph)."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from pathlib import Path

import pytest
from chat_support import (
    ChatScript,
    StartChat,
    apply_unified_diff,
    assert_valid_order,
    calls,
    check_order,
    edit,
    edits,
    humans,
    last_tool_message,
    sql,
    thread_messages,
)
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from adaptive_llm import UnknownJobError
from adaptive_llm.testing import tool_call

Files = Callable[..., Path]

TRAIN = "import os\n\nlr = 0.1\nepochs = 3\n"


def expect_tool_result(expected: str, reply: str = "OK.") -> Callable[[list[BaseMessage]], str]:
    """A script step asserting the last message is a ToolMessage containing ``expected``."""

    def step(messages: list[BaseMessage]) -> str:
        assert isinstance(messages[-1], ToolMessage), messages[-1]
        assert expected in messages[-1].text, messages[-1].text
        assert_valid_order(messages)
        return reply

    return step


# -- approve -----------------------------------------------------------------------------------


async def test_edit_shows_full_diff_and_applies_only_on_approve(
    start_chat: StartChat, files: Files
) -> None:
    path = files("train.py", TRAIN)
    script = ChatScript(
        [
            AIMessage(
                content="The learning rate is too high; I'll lower it.",
                tool_calls=edit("train.py", "lr = 0.1", "lr = 0.01", id="c1").tool_calls,
            ),
            expect_tool_result("Applied", "Lowered the learning rate."),
        ]
    )
    rm = await start_chat(script)
    lm = rm.llm_manager

    events = [e async for e in lm.chat_stream("j", "please fix the learning rate")]
    types = [e.type for e in events]
    assert "token" in types and "tool_call" in types and types[-1] == "done"
    approvals = [e.approval for e in events if e.type == "approval"]
    assert len(approvals) == 1
    approval = approvals[0]
    assert approval is not None and approval.tool == "edit_file" and approval.path == "train.py"
    after = TRAIN.replace("lr = 0.1", "lr = 0.01")
    expected = "".join(
        difflib.unified_diff(
            TRAIN.splitlines(True), after.splitlines(True), "a/train.py", "b/train.py"
        )
    )
    assert approval.diff == expected
    assert apply_unified_diff(TRAIN, approval.diff) == after
    assert path.read_bytes() == TRAIN.encode()  # nothing written before consent
    assert edits(rm) == []
    pending = await lm.pending("j")
    assert [p.diff for p in pending] == [approval.diff]
    await check_order(rm, "j")

    reply = await lm.chat("j", "approve")
    assert reply.error is None and reply.approval is None
    assert reply.text == "Lowered the learning rate."
    assert path.read_bytes() == after.encode()
    [row] = edits(rm)
    assert row["approved_by"] == "user" and row["path"] == "train.py"
    assert row["thread"] == "job:j" and row["diff"] == approval.diff
    assert row["before"] == TRAIN.encode() and row["tool_call_id"] == "c1"
    assert await lm.pending("j") == []
    assert any(e.type == "tool_result" and "Applied" in e.text for e in reply.events)
    messages = await check_order(rm, "j")
    assert humans(messages) == ["please fix the learning rate"]

    history = await lm.history("j")
    roles = [m.role for m in history]
    assert roles[0] == "diagnosis" and roles[1:] == ["user", "assistant", "tool", "assistant"]
    assert history[2].tool_calls[0]["name"] == "edit_file"
    usage = lm.usage("j")
    assert usage.input_tokens > 0 and usage.output_tokens > 0 and usage.cost_usd == 0.0


@pytest.mark.parametrize("answer", ["yes", "Y", "APPROVE", "approve."])
async def test_approve_synonyms(start_chat: StartChat, files: Files, answer: str) -> None:
    path = files("train.py", TRAIN)
    rm = await start_chat(ChatScript([edit("train.py", "epochs = 3", "epochs = 5"), "Done."]))
    reply = await rm.llm_manager.chat("j", "more epochs")
    assert reply.approval is not None
    await rm.llm_manager.chat("j", answer)
    assert path.read_text() == TRAIN.replace("epochs = 3", "epochs = 5")
    await check_order(rm, "j")


async def test_write_file_create_shows_whole_content(start_chat: StartChat, workdir: Path) -> None:
    content = "".join(f"line {i}\n" for i in range(300))  # far longer than a preview
    rm = await start_chat(
        ChatScript([tool_call("write_file", {"path": "new/notes.txt", "content": content}), "Ok."])
    )
    reply = await rm.llm_manager.chat("j", "write notes")
    assert reply.approval is not None and reply.approval.kind == "create"
    assert reply.approval.diff is not None and reply.approval.diff.startswith("--- /dev/null")
    assert apply_unified_diff("", reply.approval.diff) == content
    assert not (workdir / "new").exists()
    await rm.llm_manager.chat("j", "y")
    assert (workdir / "new" / "notes.txt").read_text() == content
    await check_order(rm, "j")


# -- reject, no, feedback ----------------------------------------------------------------------


async def test_reject_with_reason_reaches_the_model(start_chat: StartChat, files: Files) -> None:
    path = files("train.py", TRAIN)
    script = ChatScript(
        [
            edit("train.py", "lr = 0.1", "lr = 0.5"),
            expect_tool_result("too risky", "Understood, I will not change it."),
        ]
    )
    rm = await start_chat(script)
    await rm.llm_manager.chat("j", "fix it")
    reply = await rm.llm_manager.chat("j", "reject too risky")
    assert reply.text == "Understood, I will not change it."
    assert reply.approval is None
    assert path.read_bytes() == TRAIN.encode()
    assert edits(rm) == []
    messages = await check_order(rm, "j")
    tool = last_tool_message(messages)
    assert tool.status == "error" and "rejected" in tool.text and "too risky" in tool.text
    assert humans(messages) == ["fix it"]  # the answer is not a separate human message


async def test_no_declines(start_chat: StartChat, files: Files) -> None:
    path = files("train.py", TRAIN)
    rm = await start_chat(ChatScript([edit("train.py", "lr = 0.1", "lr = 0.5"), "Fine."]))
    await rm.llm_manager.chat("j", "fix it")
    reply = await rm.llm_manager.chat("j", "No")
    assert reply.text == "Fine."
    assert path.read_bytes() == TRAIN.encode()
    messages = await check_order(rm, "j")
    tool = last_tool_message(messages)
    assert tool.status == "error" and "rejected" in tool.text
    assert await rm.llm_manager.pending("j") == []


async def test_feedback_while_pending_declines_and_reaches_the_model(
    start_chat: StartChat, files: Files
) -> None:
    path = files("train.py", TRAIN)

    def answer_feedback(messages: list[BaseMessage]) -> AIMessage:
        last = messages[-1]
        assert isinstance(last, ToolMessage)
        assert "use 0.05 instead" in last.text and last.status == "error"
        # No human message between the AI tool call and its answer; the feedback is in the
        # ToolMessage, not a HumanMessage after an unanswered tool call.
        assert_valid_order(messages)
        assert [m.text for m in messages if isinstance(m, HumanMessage)] == ["fix it"]
        return edit("train.py", "lr = 0.1", "lr = 0.05")

    script = ChatScript([edit("train.py", "lr = 0.1", "lr = 0.5"), answer_feedback, "Done."])
    rm = await start_chat(script)
    lm = rm.llm_manager
    first = await lm.chat("j", "fix it")
    assert first.approval is not None
    second = await lm.chat("j", "use 0.05 instead")
    assert path.read_bytes() == TRAIN.encode()
    assert second.approval is not None and "+lr = 0.05" in (second.approval.diff or "")
    assert second.approval.tool_call_id != first.approval.tool_call_id
    await check_order(rm, "j")
    await lm.chat("j", "approve")
    assert path.read_text() == TRAIN.replace("lr = 0.1", "lr = 0.05")
    rows = sql(rm, "SELECT status, feedback FROM approval_items ORDER BY created_at")
    assert [(r["status"], r["feedback"]) for r in rows] == [
        ("rejected", "use 0.05 instead"),  # not approved: the user wrote something else
        ("done", None),
    ]
    await check_order(rm, "j")


# -- YOLO --------------------------------------------------------------------------------------


async def test_yolo_applies_without_asking_then_off_asks_again(
    start_chat: StartChat, files: Files
) -> None:
    path = files("train.py", TRAIN)
    script = ChatScript(
        [
            edit("train.py", "lr = 0.1", "lr = 0.2"),
            expect_tool_result("Applied (yolo)", "Applied directly."),
            edit("train.py", "lr = 0.2", "lr = 0.3"),
            "Done.",
        ]
    )
    rm = await start_chat(script)
    lm = rm.llm_manager
    lm.set_yolo("j", True)
    reply = await lm.chat("j", "fix it")
    assert reply.approval is None and reply.text == "Applied directly."
    assert path.read_text() == TRAIN.replace("lr = 0.1", "lr = 0.2")
    assert [r["approved_by"] for r in edits(rm)] == ["yolo"]

    lm.set_yolo("j", False)
    reply = await lm.chat("j", "once more")
    assert reply.approval is not None
    assert path.read_text() == TRAIN.replace("lr = 0.1", "lr = 0.2")
    await lm.chat("j", "approve")
    assert path.read_text() == TRAIN.replace("lr = 0.1", "lr = 0.3")
    assert [r["approved_by"] for r in edits(rm)] == ["yolo", "user"]
    await check_order(rm, "j")


async def test_yolo_switched_on_while_pending_does_not_approve(
    start_chat: StartChat, files: Files
) -> None:
    """Regression of the prior art: YOLO on with a pending approval, then reject, wrote."""
    path = files("train.py", TRAIN)
    script = ChatScript(
        [
            edit("train.py", "lr = 0.1", "lr = 0.9"),
            expect_tool_result("rejected", "Not changed."),
            edit("train.py", "epochs = 3", "epochs = 4"),
            "Applied.",
        ]
    )
    rm = await start_chat(script)
    lm = rm.llm_manager
    first = await lm.chat("j", "fix it")
    assert first.approval is not None
    lm.set_yolo("j", True)
    assert [p.tool_call_id for p in await lm.pending("j")] == [first.approval.tool_call_id]
    assert path.read_bytes() == TRAIN.encode()
    reply = await lm.chat("j", "reject")
    assert reply.text == "Not changed."
    assert path.read_bytes() == TRAIN.encode()
    assert edits(rm) == []
    # YOLO counts from the next tool call.
    reply = await lm.chat("j", "change the epochs")
    assert reply.approval is None
    assert path.read_text() == TRAIN.replace("epochs = 3", "epochs = 4")
    assert [r["approved_by"] for r in edits(rm)] == ["yolo"]
    await check_order(rm, "j")


async def test_yolo_on_while_pending_then_approve_is_the_users_approval(
    start_chat: StartChat, files: Files
) -> None:
    path = files("train.py", TRAIN)
    rm = await start_chat(ChatScript([edit("train.py", "lr = 0.1", "lr = 0.9"), "Ok."]))
    await rm.llm_manager.chat("j", "fix it")
    rm.llm_manager.set_yolo("j", True)
    await rm.llm_manager.chat("j", "approve")
    assert path.read_text() == TRAIN.replace("lr = 0.1", "lr = 0.9")
    assert [r["approved_by"] for r in edits(rm)] == ["user"]


async def test_yolo_off_while_pending_still_asks(start_chat: StartChat, files: Files) -> None:
    path = files("train.py", TRAIN)
    rm = await start_chat(ChatScript([edit("train.py", "lr = 0.1", "lr = 0.9"), "Ok."]))
    rm.llm_manager.set_yolo("j", True)
    rm.llm_manager.set_yolo("j", False)
    reply = await rm.llm_manager.chat("j", "fix it")
    assert reply.approval is not None
    assert path.read_bytes() == TRAIN.encode()


async def test_run_command_asks_even_in_yolo_unless_allowed(
    start_chat: StartChat, workdir: Path
) -> None:
    script = ChatScript(
        [
            tool_call("run_command", {"command": "echo made > made.txt"}),
            expect_tool_result("rejected", "Not run."),
            tool_call("run_command", {"command": "echo made > made.txt; echo hello-out"}),
            expect_tool_result("hello-out", "Ran it."),
        ]
    )
    rm = await start_chat(script)
    lm = rm.llm_manager
    lm.set_yolo("j", True)
    reply = await lm.chat("j", "make the file")
    assert reply.approval is not None and reply.approval.tool == "run_command"
    assert reply.approval.command == "echo made > made.txt"
    assert not (workdir / "made.txt").exists()
    await lm.chat("j", "reject")
    assert not (workdir / "made.txt").exists()

    lm.allow_commands("j", True)
    reply = await lm.chat("j", "now do it")
    assert reply.approval is None and reply.text == "Ran it."
    assert (workdir / "made.txt").read_text() == "made\n"
    tool = last_tool_message(await check_order(rm, "j"))
    assert "[exit code 0]" in tool.text


# -- undo, stale files -------------------------------------------------------------------------


async def test_undo_restores_byte_exact(start_chat: StartChat, files: Files) -> None:
    original = b"a = 1\r\nb = 2\r\nc = 3"  # CRLF, no final newline
    path = files("crlf.py", original)
    rm = await start_chat(ChatScript([edit("crlf.py", "b = 2", "b = 20"), "Done."]))
    lm = rm.llm_manager
    reply = await lm.chat("j", "change b")
    assert reply.approval is not None
    await lm.chat("j", "approve")
    assert path.read_bytes() == b"a = 1\r\nb = 20\r\nc = 3"
    message = await lm.undo("j")
    assert "restored" in message and "crlf.py" in message
    assert path.read_bytes() == original
    assert edits(rm)[0]["undone_at"] is not None
    assert "Nothing to undo" in await lm.undo("j")
    assert path.read_bytes() == original


async def test_undo_refuses_when_the_file_changed(start_chat: StartChat, files: Files) -> None:
    path = files("train.py", TRAIN)
    rm = await start_chat(ChatScript([edit("train.py", "lr = 0.1", "lr = 0.2"), "Done."]))
    lm = rm.llm_manager
    await lm.chat("j", "fix")
    await lm.chat("j", "approve")
    changed = TRAIN.replace("lr = 0.1", "lr = 0.2") + "# my own change\n"
    path.write_text(changed)
    message = await lm.undo("j")
    assert message.startswith("Cannot undo") and "changed" in message
    assert path.read_text() == changed
    assert edits(rm)[0]["undone_at"] is None


async def test_undo_of_a_created_file_deletes_it(start_chat: StartChat, workdir: Path) -> None:
    rm = await start_chat(
        ChatScript([tool_call("write_file", {"path": "fresh.txt", "content": "x\n"}), "Ok."])
    )
    rm.llm_manager.set_yolo("j", True)
    await rm.llm_manager.chat("j", "create it")
    assert (workdir / "fresh.txt").read_text() == "x\n"
    assert "deleted" in await rm.llm_manager.undo("j")
    assert not (workdir / "fresh.txt").exists()


async def test_stale_file_refuses_to_apply(start_chat: StartChat, files: Files) -> None:
    path = files("train.py", TRAIN)
    script = ChatScript(
        [edit("train.py", "lr = 0.1", "lr = 0.2"), expect_tool_result("changed", "I'll re-read.")]
    )
    rm = await start_chat(script)
    lm = rm.llm_manager
    await lm.chat("j", "fix")
    external = TRAIN + "# edited in the notebook meanwhile\n"
    path.write_text(external)
    reply = await lm.chat("j", "approve")
    assert reply.text == "I'll re-read."
    assert path.read_text() == external
    assert edits(rm) == []
    tool = last_tool_message(await check_order(rm, "j"))
    assert "changed since" in tool.text and "read it again" in tool.text


async def test_a_file_changed_outside_to_the_proposed_content_is_not_recorded_as_applied(
    start_chat: StartChat, files: Files
) -> None:
    # The user (or another tool) made the same change by hand between the proposal and the
    # answer: nothing of ours is written, and no edit is recorded whose undo would put back
    # the content before the proposal over the user's own change.
    path = files("train.py", TRAIN)
    script = ChatScript(
        [edit("train.py", "lr = 0.1", "lr = 0.2"), expect_tool_result("already holds", "Ok.")]
    )
    rm = await start_chat(script)
    lm = rm.llm_manager
    await lm.chat("j", "fix")
    same = TRAIN.replace("lr = 0.1", "lr = 0.2")
    path.write_text(same)
    reply = await lm.chat("j", "approve")
    assert reply.text == "Ok."
    assert path.read_text() == same
    assert edits(rm) == []
    tool = last_tool_message(await check_order(rm, "j"))
    assert tool.text.startswith("Error: not applied") and "nothing was written" in tool.text
    assert "Nothing to undo" in await lm.undo("j")
    assert path.read_text() == same


# -- containment -------------------------------------------------------------------------------


async def test_tools_are_contained(start_chat: StartChat, workdir: Path, tmp_path: Path) -> None:
    (tmp_path / "outside").write_text("SECRET\n")
    script = ChatScript(
        [
            tool_call("read_file", {"path": "../outside"}),
            expect_tool_result("outside the workspace"),
            tool_call("write_file", {"path": "/etc/adaptive_llm_x", "content": "x"}),
            expect_tool_result("outside the workspace"),
            tool_call("write_file", {"path": "../escape.txt", "content": "x"}),
            expect_tool_result("outside the workspace"),
            tool_call("edit_file", {"path": "../outside", "old_text": "SECRET", "new_text": "x"}),
            expect_tool_result("outside the workspace"),
            tool_call("list_dir", {"path": ".."}),
            expect_tool_result("outside the workspace"),
            tool_call("read_file", {"path": ".adaptive_llm/store.sqlite"}),
            expect_tool_result("internal state"),
        ]
    )
    rm = await start_chat(script)
    rm.llm_manager.set_yolo("j", True)  # even with auto-approval
    for _ in range(6):
        reply = await rm.llm_manager.chat("j", "try it")
        assert reply.approval is None and reply.error is None
        assert "SECRET" not in "".join(e.text for e in reply.events)
    assert not Path("/etc/adaptive_llm_x").exists()
    assert not (tmp_path / "escape.txt").exists()
    assert (tmp_path / "outside").read_text() == "SECRET\n"
    assert edits(rm) == []
    messages = await check_order(rm, "j")
    results = [m for m in messages if isinstance(m, ToolMessage)]
    assert len(results) == 6 and all(m.text.startswith("Error:") for m in results)


async def test_read_tools_run_freely(start_chat: StartChat, files: Files) -> None:
    files("train.py", TRAIN)
    script = ChatScript(
        [
            tool_call("read_file", {"path": "train.py"}),
            expect_tool_result("lr = 0.1"),
            tool_call("search", {"pattern": r"epochs\s*="}),
            expect_tool_result("train.py:4"),
            tool_call("list_dir", {}),
            expect_tool_result("train.py"),
        ]
    )
    rm = await start_chat(script)
    for _ in range(3):
        reply = await rm.llm_manager.chat("j", "look")
        assert reply.approval is None and reply.text == "OK."
    await check_order(rm, "j")


# -- several calls in one turn -----------------------------------------------------------------


async def test_two_calls_in_one_turn_one_approve_applies_both(
    start_chat: StartChat, files: Files
) -> None:
    a = files("a.py", "x = 1\n")
    b = files("b.py", "y = 1\n")
    turn = calls(
        ("edit_file", {"path": "a.py", "old_text": "x = 1", "new_text": "x = 2"}),
        ("edit_file", {"path": "b.py", "old_text": "y = 1", "new_text": "y = 2"}),
        text="Two edits.",
    )
    rm = await start_chat(ChatScript([turn, expect_tool_result("Applied", "Both done.")]))
    lm = rm.llm_manager
    reply = await lm.chat("j", "fix both")
    assert len(reply.approvals) == 2
    assert {p.path for p in reply.approvals} == {"a.py", "b.py"}
    assert len(await lm.pending("j")) == 2
    assert a.read_text() == "x = 1\n" and b.read_text() == "y = 1\n"
    await check_order(rm, "j")
    reply = await lm.chat("j", "approve")
    assert reply.text == "Both done."
    assert a.read_text() == "x = 2\n" and b.read_text() == "y = 2\n"
    assert sorted(r["path"] for r in edits(rm)) == ["a.py", "b.py"]
    messages = await check_order(rm, "j")
    assert sum(isinstance(m, ToolMessage) for m in messages) == 2


async def test_two_calls_in_one_turn_reject_declines_both(
    start_chat: StartChat, files: Files
) -> None:
    a = files("a.py", "x = 1\n")
    turn = calls(
        ("edit_file", {"path": "a.py", "old_text": "x = 1", "new_text": "x = 2"}),
        ("write_file", {"path": "c.py", "content": "z = 1\n"}),
    )
    rm = await start_chat(ChatScript([turn, "Nothing done."]))
    await rm.llm_manager.chat("j", "fix")
    await rm.llm_manager.chat("j", "no thanks")
    assert a.read_text() == "x = 1\n" and not (a.parent / "c.py").exists()
    messages = await check_order(rm, "j")
    results = [m for m in messages if isinstance(m, ToolMessage)]
    assert len(results) == 2 and all("thanks" in m.text for m in results)


async def test_mixed_turn_read_and_gated(start_chat: StartChat, files: Files) -> None:
    a = files("a.py", "x = 1\n")
    turn = calls(
        ("read_file", {"path": "a.py"}),
        ("edit_file", {"path": "a.py", "old_text": "x = 1", "new_text": "x = 2"}),
    )
    rm = await start_chat(ChatScript([turn, "Done."]))
    reply = await rm.llm_manager.chat("j", "fix")
    assert len(reply.approvals) == 1
    await check_order(rm, "j")
    await rm.llm_manager.chat("j", "approve")
    assert a.read_text() == "x = 2\n"
    messages = await check_order(rm, "j")
    assert sum(isinstance(m, ToolMessage) for m in messages) == 2


# -- errors ------------------------------------------------------------------------------------


async def test_unknown_job_is_a_clear_error(start_chat: StartChat) -> None:
    rm = await start_chat(ChatScript())
    with pytest.raises(UnknownJobError, match="no job named 'nope'"):
        await rm.llm_manager.chat("nope", "hello")
    with pytest.raises(UnknownJobError, match="no job named 'nope'"):
        [e async for e in rm.llm_manager.chat_stream("nope", "hello")]
    with pytest.raises(UnknownJobError):
        rm.llm_manager.set_yolo("nope", True)


@pytest.mark.parametrize("text", ["", "   \n"])
async def test_empty_message_is_an_error_event(start_chat: StartChat, text: str) -> None:
    rm = await start_chat(ChatScript(["Hello!"]))
    reply = await rm.llm_manager.chat("j", text)
    assert reply.error is not None and [e.type for e in reply.events] == ["error"]
    reply = await rm.llm_manager.chat("j", "hi")
    assert reply.text == "Hello!" and reply.error is None
    assert humans(await check_order(rm, "j")) == ["hi"]


async def test_empty_message_while_pending_keeps_the_approval(
    start_chat: StartChat, files: Files
) -> None:
    path = files("train.py", TRAIN)
    rm = await start_chat(ChatScript([edit("train.py", "lr = 0.1", "lr = 0.2"), "Ok."]))
    await rm.llm_manager.chat("j", "fix")
    reply = await rm.llm_manager.chat("j", "  ")
    assert reply.error is not None
    assert len(await rm.llm_manager.pending("j")) == 1
    await rm.llm_manager.chat("j", "approve")
    assert path.read_text() == TRAIN.replace("lr = 0.1", "lr = 0.2")


async def test_model_error_is_reported_and_the_chat_recovers(start_chat: StartChat) -> None:
    def boom(messages: list[BaseMessage]) -> AIMessage:
        raise RuntimeError("provider is down")

    rm = await start_chat(ChatScript([boom, "Back again."]))
    lm = rm.llm_manager
    reply = await lm.chat("j", "hello")
    assert reply.error is not None and "provider is down" in reply.error
    assert any(e.type == "error" for e in reply.events)
    reply = await lm.chat("j", "hello again")
    assert reply.error is None and reply.text == "Back again."
    await check_order(rm, "j")


async def test_model_error_after_approve_keeps_the_edit_and_recovers(
    start_chat: StartChat, files: Files
) -> None:
    path = files("train.py", TRAIN)

    def boom(messages: list[BaseMessage]) -> AIMessage:
        raise RuntimeError("provider is down")

    script = ChatScript([edit("train.py", "lr = 0.1", "lr = 0.2"), boom, "Recovered."])
    rm = await start_chat(script)
    lm = rm.llm_manager
    await lm.chat("j", "fix")
    reply = await lm.chat("j", "approve")
    assert reply.error is not None and "provider is down" in reply.error
    assert path.read_text() == TRAIN.replace("lr = 0.1", "lr = 0.2")
    assert await lm.pending("j") == []
    reply = await lm.chat("j", "are you there?")
    assert reply.text == "Recovered."
    messages = await check_order(rm, "j")
    assert sum(isinstance(m, ToolMessage) for m in messages) == 1
    assert len(edits(rm)) == 1  # applied once, never replayed


async def test_general_chat(start_chat: StartChat, files: Files) -> None:
    path = files("notes.md", "hello\n")
    rm = await start_chat(ChatScript([edit("notes.md", "hello", "hi"), "Done."]))
    reply = await rm.llm_manager.chat(None, "edit my notes")
    assert reply.approval is not None
    await rm.llm_manager.chat(None, "approve")
    assert path.read_text() == "hi\n"
    assert edits(rm)[0]["thread"] == "general"
    assert_valid_order(await thread_messages(rm, None))
    assert await thread_messages(rm, "j") == []


async def test_a_tool_call_id_reused_in_a_later_turn_is_a_new_call(
    start_chat: StartChat, files: Files
) -> None:
    """Some OpenAI-compatible servers number tool calls per reply (``call_0`` every time)."""
    path = files("train.py", TRAIN)
    script = ChatScript(
        [
            edit("train.py", "lr = 0.1", "lr = 0.2", id="call_0"),
            "First done.",
            edit("train.py", "lr = 0.2", "lr = 0.3", id="call_0"),
            "Second done.",
        ]
    )
    rm = await start_chat(script)
    lm = rm.llm_manager
    await lm.chat("j", "fix")
    await lm.chat("j", "approve")
    assert path.read_text() == TRAIN.replace("lr = 0.1", "lr = 0.2")
    reply = await lm.chat("j", "a bit more")
    assert reply.approval is not None and "+lr = 0.3" in (reply.approval.diff or "")
    assert path.read_text() == TRAIN.replace("lr = 0.1", "lr = 0.2")
    await lm.chat("j", "approve")
    assert path.read_text() == TRAIN.replace("lr = 0.1", "lr = 0.3")
    assert len(edits(rm)) == 2
    await check_order(rm, "j")


async def test_same_call_id_in_two_chats_are_separate_proposals(
    start_chat: StartChat, files: Files
) -> None:
    a = files("a.py", "x = 1\n")
    b = files("b.py", "y = 1\n")
    script = ChatScript(
        [
            edit("a.py", "x = 1", "x = 2", id="call_0"),
            edit("b.py", "y = 1", "y = 2", id="call_0"),
            "Done in the job chat.",
            "Declined in the general chat.",
        ]
    )
    rm = await start_chat(script)
    lm = rm.llm_manager
    assert (await lm.chat("j", "fix a")).approval is not None
    assert (await lm.chat(None, "fix b")).approval is not None
    reply = await lm.chat("j", "approve")
    assert reply.text == "Done in the job chat."
    assert a.read_text() == "x = 2\n" and b.read_text() == "y = 1\n"
    [pending] = await lm.pending(None)
    assert pending.path == "b.py"
    await lm.chat(None, "reject")
    assert b.read_text() == "y = 1\n"
    await check_order(rm, "j")
    await check_order(rm, None)


async def test_an_edit_that_cannot_apply_is_refused_without_asking(
    start_chat: StartChat, files: Files
) -> None:
    files("train.py", TRAIN)
    script = ChatScript(
        [
            edit("train.py", "lr = 7", "lr = 8"),
            expect_tool_result("not found", "Let me read it first."),
            tool_call("set_job_resources", {"time_limit": "not a duration"}),
            expect_tool_result("Error", "That was not valid."),
        ]
    )
    rm = await start_chat(script)
    reply = await rm.llm_manager.chat("j", "fix")
    assert reply.approval is None and reply.text == "Let me read it first."
    reply = await rm.llm_manager.chat("j", "more time")
    assert reply.approval is None and reply.text == "That was not valid."
    assert rm.job_manager.job("j").resources.time_limit is None
    await check_order(rm, "j")


async def test_secrets_a_command_prints_are_masked_before_the_model_sees_them(
    start_chat: StartChat, workdir: Path
) -> None:
    key = "AKIA" + "Q7XKZ3M2PLN4VB8R"
    token = "ghp_" + "a8Zk2Lq9Xv4Bn7Mw3Rt6Yp1Cd5Fg0Hj2Ks4E"
    (workdir / "settings.txt").write_text(f"AWS_ACCESS_KEY_ID={key}\nGITHUB_TOKEN={token}\n")
    seen: list[str] = []

    def after(messages: list[BaseMessage]) -> str:
        seen.extend(m.text for m in messages if isinstance(m, ToolMessage))
        return "Read."

    script = ChatScript([tool_call("run_command", {"command": "cat settings.txt"}), after])
    rm = await start_chat(script)
    lm = rm.llm_manager
    lm.allow_commands("j", True)
    reply = await lm.chat("j", "show the settings")
    assert reply.text == "Read.", reply
    assert seen and "[exit code 0]" in seen[-1], seen
    assert key not in seen[-1] and token not in seen[-1], seen[-1]
    assert "REDACTED" in seen[-1], seen[-1]
