"""Consent, tried as an attacker would: a model (or a user's stale screen) that tries to get a
change applied that the user did not see, or to break the thread's message order.

(i) two tool calls with one id in a reply; (ii) one message id in two replies; (iii) fields
smuggled into ``set_job_resources`` (``extra``, ``sbatch_lines``, a partition with a newline);
(iv) wrong argument types; (v) a command hiding part of itself (an ANSI escape, a carriage
return); (vi) ``approve 7`` when there is no change 7; (vii) ``approve`` with only some changes
on screen; (viii) ``reject`` after a restart that applied what was approved before a crash.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from chat_support import (
    ChatScript,
    StartChat,
    approval_rows,
    check_order,
    edits,
    thread_messages,
    until_finished,
)
from langchain_core.messages import AIMessage, ToolMessage
from test_consent_crash import (
    AFTER,
    NEW_RESOURCES,
    check_applied,
    restarted,
    run_crash_child,
    write_files,
)

from adaptive_llm import Resources, RunManager

Files = Callable[..., Path]


def reply(*calls: tuple[str, dict[str, Any], str], id: str | None = None) -> AIMessage:
    """One model reply: (tool, args, call id) per call."""
    return AIMessage(
        content="",
        id=id,
        tool_calls=[{"name": name, "args": args, "id": cid} for name, args, cid in calls],
    )


def edit(path: str, old: str, new: str) -> dict[str, Any]:
    return {"path": path, "old_text": old, "new_text": new}


def tool_messages(messages: list[Any]) -> list[ToolMessage]:
    return [m for m in messages if isinstance(m, ToolMessage)]


def calls_of(messages: list[Any]) -> list[list[str]]:
    """The tool-call ids of each AIMessage that has tool calls."""
    return [[c["id"] for c in m.tool_calls] for m in messages if isinstance(m, AIMessage)]


# -- (i) two tool calls with the same id in one reply -------------------------------------------


def same_id_reply() -> AIMessage:
    return reply(
        ("edit_file", edit("a.py", "x = 1", "x = 2"), "dup"),
        ("write_file", {"path": "notes.txt", "content": "lowered x\n"}, "dup"),
        ("set_job_resources", {"memory": "2G"}, "dup"),
    )


async def test_two_calls_with_one_id_are_two_changes_and_approve_applies_both(
    start_chat: StartChat, files: Files, workdir: Path
) -> None:
    files("a.py", "x = 1\n")
    rm = await start_chat(ChatScript([same_id_reply(), "Done."]))
    lm = rm.llm_manager
    first = await lm.chat("j", "fix")
    assert first.error is None, first.error
    assert [a.tool for a in first.approvals] == ["edit_file", "write_file", "set_job_resources"]
    assert len({a.key for a in first.approvals}) == 3
    assert len({a.tool_call_id for a in first.approvals}) == 3
    assert first.approvals[0].tool_call_id == "dup"
    assert (workdir / "a.py").read_text() == "x = 1\n" and edits(rm) == []

    second = await lm.chat("j", "approve")
    assert second.error is None and second.text == "Done.", second
    assert (workdir / "a.py").read_text() == "x = 2\n"
    assert (workdir / "notes.txt").read_text() == "lowered x\n"
    assert rm.job_manager.job("j").resources.memory == 2 * 1024**3
    rows = edits(rm)
    assert len(rows) == 3
    assert len({r["tool_call_id"] for r in rows}) == 3 and len({r["change_key"] for r in rows}) == 3
    assert [r["status"] for r in approval_rows(rm)] == ["done"] * 3


@pytest.mark.parametrize("mode", ["yolo", "approve"])
async def test_two_calls_with_one_id_get_one_answer_each_with_the_calls_ids(
    start_chat: StartChat, files: Files, mode: str
) -> None:
    files("a.py", "x = 1\n")
    rm = await start_chat(ChatScript([same_id_reply(), "Done."]))
    lm = rm.llm_manager
    lm.set_yolo("j", mode == "yolo")
    await lm.chat("j", "fix")
    if mode == "approve":
        await lm.chat("j", "approve")
    messages = await thread_messages(rm, "j")
    [ids] = calls_of(messages)[:1]
    assert len(set(ids)) == 3
    answers = tool_messages(messages)
    assert sorted(m.tool_call_id for m in answers) == sorted(ids)
    assert all(m.status == "success" for m in answers), [m.text for m in answers]
    await check_order(rm, "j")


# -- (ii) the same message id in two replies ----------------------------------------------------


@pytest.mark.parametrize("second_answer", ["approve", "reject"])
async def test_a_repeated_message_id_keeps_each_replys_own_changes(
    start_chat: StartChat, files: Files, workdir: Path, second_answer: str
) -> None:
    files("a.py", "x = 1\n")
    files("b.py", "y = 1\n")
    script = ChatScript(
        [
            reply(("edit_file", edit("a.py", "x = 1", "x = 2"), "c1"), id="same"),
            AIMessage(content="First done.", id="same"),
            reply(("edit_file", edit("b.py", "y = 1", "y = 2"), "c1"), id="same"),
            AIMessage(content="Second done.", id="same"),
        ]
    )
    rm = await start_chat(script)
    lm = rm.llm_manager
    [one] = (await lm.chat("j", "fix a")).approvals
    assert one.path == "a.py"
    assert (await lm.chat("j", "approve")).text == "First done."
    [two] = (await lm.chat("j", "fix b")).approvals
    assert two.path == "b.py" and two.key != one.key
    assert "+y = 2" in (two.diff or "")
    reply_two = await lm.chat("j", second_answer)
    assert reply_two.error is None and reply_two.text == "Second done."

    assert (workdir / "a.py").read_text() == "x = 2\n"
    assert (workdir / "b.py").read_text() == (
        "y = 2\n" if second_answer == "approve" else "y = 1\n"
    )
    statuses = {r["key"]: r["status"] for r in approval_rows(rm)}
    assert statuses == {
        one.key: "done",
        two.key: "done" if second_answer == "approve" else "rejected",
    }
    assert [r["change_key"] for r in edits(rm)] == [one.key] + (
        [two.key] if second_answer == "approve" else []
    )
    messages = await check_order(rm, "j")
    ais = [m for m in messages if isinstance(m, AIMessage)]
    assert len({m.id for m in ais}) == len(ais) == 4
    assert [m.text for m in ais] == ["", "First done.", "", "Second done."]
    paths = [c["args"]["path"] for m in ais for c in m.tool_calls]
    assert paths == ["a.py", "b.py"]  # the first reply was not replaced by the second
    assert [m.status for m in tool_messages(messages)] == [
        "success",
        "success" if second_answer == "approve" else "error",
    ]


# -- (iii) fields smuggled into set_job_resources -----------------------------------------------

SMUGGLED = [
    ({"memory": "2G", "extra": {"qos": "high"}}, "extra"),
    ({"time_limit": "1h", "sbatch_lines": ["#SBATCH --uid=0"]}, "sbatch_lines"),
    ({"partition": "gpu\n#SBATCH --uid=0"}, "partition"),
    ({"partition": "gpu\r#SBATCH --uid=0"}, "partition"),
    ({"partition": "gpu --uid=0"}, "partition"),
    ({"partition": "gpu\u2028#SBATCH --uid=0"}, "partition"),
    ({"memory": "2G", "account": "someone-else"}, "account"),
]


@pytest.mark.parametrize("yolo", [False, True], ids=["ask", "yolo"])
@pytest.mark.parametrize(("args", "field"), SMUGGLED, ids=[f for _, f in SMUGGLED])
async def test_smuggled_resource_fields_are_refused_and_never_shown(
    start_chat: StartChat, args: dict[str, Any], field: str, yolo: bool
) -> None:
    rm = await start_chat(ChatScript([reply(("set_job_resources", args, "c1")), "Ok."]))
    lm = rm.llm_manager
    lm.set_yolo("j", yolo)
    before = rm.job_manager.job("j")
    answer = await lm.chat("j", "give it more")
    assert answer.error is None and answer.approvals == [] and answer.text == "Ok."
    assert await lm.pending("j") == [] and await lm.pending("j", waiting=True) == []
    assert rm.job_manager.job("j") == before
    assert rm.job_manager.job("j").resources == Resources()
    assert [r["status"] for r in approval_rows(rm)] == ["refused"] and edits(rm) == []
    messages = await check_order(rm, "j")
    [refusal] = tool_messages(messages)
    assert refusal.status == "error" and refusal.tool_call_id == "c1"
    assert "invalid arguments for set_job_resources" in refusal.text
    assert f"{field}:" in refusal.text, refusal.text


async def test_a_valid_partition_is_shown_in_the_diff_and_applied_on_approve(
    start_chat: StartChat,
) -> None:
    turn = reply(("set_job_resources", {"partition": "gpu", "memory": "4G"}, "c1"))
    rm = await start_chat(ChatScript([turn, "Ok."]))
    lm = rm.llm_manager
    [approval] = (await lm.chat("j", "move it to the gpu partition")).approvals
    diff = approval.diff or ""
    assert '+partition = "gpu"' in diff.splitlines(), diff
    assert "+memory = 4G" in diff.splitlines(), diff
    assert rm.job_manager.job("j").resources == Resources()
    await lm.chat("j", "approve")
    resources = rm.job_manager.job("j").resources
    assert resources.extra == {"partition": "gpu"} and resources.memory == 4 * 1024**3


# -- (iv) wrong argument types ------------------------------------------------------------------

WRONG = [
    ("set_job_resources", {"cpus": "2"}, "cpus"),
    ("set_job_resources", {"cpus": 2.5}, "cpus"),
    ("set_job_resources", {"cpus": True}, "cpus"),
    ("set_job_resources", {"memory": ["2G"]}, "memory"),
    ("edit_file", {"path": 5, "old_text": "x = 1", "new_text": "x = 2"}, "path"),
    ("edit_file", {"path": "a.py", "new_text": "x = 2"}, "old_text"),
    ("edit_file", {"path": "a.py", "old_text": "x = 1", "new_text": "x = 2", "mode": "a"}, "mode"),
    ("write_file", {"path": "a.py"}, "content"),
    ("write_file", {"path": "a.py", "content": b"x".hex(), "append": True}, "append"),
    ("run_command", {"command": ["touch", "pwned.txt"]}, "command"),
    ("resubmit_job", {"force": True}, "force"),
]


@pytest.mark.parametrize(("tool", "args", "field"), WRONG, ids=[f"{t}-{f}" for t, _, f in WRONG])
async def test_wrong_argument_types_are_refused_naming_the_field(
    start_chat: StartChat, files: Files, workdir: Path, tool: str, args: dict[str, Any], field: str
) -> None:
    files("a.py", "x = 1\n")
    rm = await start_chat(ChatScript([reply((tool, args, "c1")), "Ok."]))
    lm = rm.llm_manager
    lm.set_yolo("j", True)
    lm.allow_commands("j", True)  # even so: refused, never applied
    attempts = rm.job_manager.attempts["j"].number
    answer = await lm.chat("j", "fix")
    assert answer.error is None and answer.approvals == []
    assert (workdir / "a.py").read_text() == "x = 1\n" and not (workdir / "pwned.txt").exists()
    assert rm.job_manager.job("j").resources == Resources()
    assert rm.job_manager.attempts["j"].number == attempts
    assert [r["status"] for r in approval_rows(rm)] == ["refused"] and edits(rm) == []
    [refusal] = tool_messages(await check_order(rm, "j"))
    assert refusal.status == "error"
    # The field is named first (a union type adds the branch: ``memory.str: ...``).
    assert re.search(rf"invalid arguments for {tool}: {field}[:.]", refusal.text), refusal.text


# -- (v) commands that hide part of themselves --------------------------------------------------

HIDDEN = [
    "touch pwned.txt\x1b[2K\recho hello",
    "touch pwned.txt\r echo hello",
    "echo hello \x1b[8mtouch pwned.txt",
    "touch pwned.txt #\u202eolleh ohce",
    "echo hello\u2028touch pwned.txt",
    "echo hello\x00; touch pwned.txt",
]


@pytest.mark.parametrize("allowed", [False, True], ids=["ask", "allowed"])
@pytest.mark.parametrize("command", HIDDEN, ids=[repr(c)[1:12] for c in HIDDEN])
async def test_a_command_with_control_characters_is_refused(
    start_chat: StartChat, workdir: Path, command: str, allowed: bool
) -> None:
    rm = await start_chat(ChatScript([reply(("run_command", {"command": command}, "c1")), "Ok."]))
    lm = rm.llm_manager
    lm.allow_commands("j", allowed)
    answer = await lm.chat("j", "run it")
    assert answer.error is None and answer.approvals == []
    await asyncio.sleep(0.2)  # a command that did start would have touched the file by now
    assert not (workdir / "pwned.txt").exists()
    [refusal] = tool_messages(await check_order(rm, "j"))
    assert refusal.status == "error"
    assert "invalid arguments for run_command: command:" in refusal.text
    assert "control" in refusal.text, refusal.text


async def test_a_command_with_a_newline_is_shown_exactly(
    start_chat: StartChat, workdir: Path
) -> None:
    command = "echo hello > out.txt\n\ttouch second.txt"
    rm = await start_chat(ChatScript([reply(("run_command", {"command": command}, "c1")), "Ok."]))
    lm = rm.llm_manager
    lm.set_yolo("j", True)  # commands ask even in YOLO mode
    [approval] = (await lm.chat("j", "run it")).approvals
    assert approval.command == command
    assert not (workdir / "out.txt").exists()
    await lm.chat("j", "approve")
    assert (workdir / "out.txt").read_text() == "hello\n" and (workdir / "second.txt").exists()


# -- (vi) approve a change that does not exist --------------------------------------------------


async def two_pending(start_chat: StartChat, files: Files) -> RunManager:
    files("a.py", "x = 1\n")
    files("b.py", "y = 1\n")
    turn = reply(
        ("edit_file", edit("a.py", "x = 1", "x = 2"), "c1"),
        ("edit_file", edit("b.py", "y = 1", "y = 2"), "c2"),
    )
    return await start_chat(ChatScript([turn, "Done."]))


@pytest.mark.parametrize(
    "text", ["approve 7", "approve 1 7", "approve 0", "reject 7", "reject 2,9"]
)
async def test_an_answer_naming_a_change_that_does_not_exist_changes_nothing(
    start_chat: StartChat, files: Files, workdir: Path, text: str
) -> None:
    rm = await two_pending(start_chat, files)
    lm = rm.llm_manager
    first = await lm.chat("j", "fix")
    assert [a.number for a in first.approvals] == [1, 2]
    wrong = await lm.chat("j", text, shown=[a.key for a in first.approvals])
    assert wrong.error is not None and "There is no change" in wrong.error, wrong
    assert "the changes waiting are 1, 2" in wrong.error
    assert [a.key for a in wrong.approvals] == [a.key for a in first.approvals]
    assert [p.key for p in await lm.pending("j")] == [a.key for a in first.approvals]
    assert [r["status"] for r in approval_rows(rm)] == ["pending", "pending"]
    assert (workdir / "a.py").read_text() == "x = 1\n" and (
        workdir / "b.py"
    ).read_text() == "y = 1\n"
    await check_order(rm, "j")
    done = await lm.chat("j", "approve")
    assert done.error is None and done.text == "Done."
    assert (workdir / "a.py").read_text() == "x = 2\n" and (
        workdir / "b.py"
    ).read_text() == "y = 2\n"


# -- (vii) only the changes on screen are answered ----------------------------------------------


@pytest.mark.parametrize("text", ["approve", "y", "approve 1", "approve all"])
async def test_approve_with_one_change_on_screen_approves_only_that_one(
    start_chat: StartChat, files: Files, workdir: Path, text: str
) -> None:
    rm = await two_pending(start_chat, files)
    lm = rm.llm_manager
    one, two = (await lm.chat("j", "fix")).approvals
    answer = await lm.chat("j", text, shown=[one.key])
    assert answer.error is None, answer.error
    assert (workdir / "a.py").read_text() == "x = 2\n" and (
        workdir / "b.py"
    ).read_text() == "y = 1\n"
    assert [a.key for a in answer.approvals] == [two.key]
    assert [p.key for p in await lm.pending("j")] == [two.key]
    assert [r["change_key"] for r in edits(rm)] == [one.key]
    await check_order(rm, "j")
    # The second change is still asked; its own answer decides it.
    last = await lm.chat("j", "reject", shown=[two.key])
    assert last.error is None and last.text == "Done."
    assert (workdir / "b.py").read_text() == "y = 1\n"
    assert [r["status"] for r in approval_rows(rm)] == ["done", "rejected"]
    await check_order(rm, "j")


@pytest.mark.parametrize(
    ("text", "shown"),
    [("approve 2", "first"), ("approve", "none"), ("approve", "stale"), ("reject 2", "first")],
)
async def test_an_answer_about_changes_not_on_screen_changes_nothing(
    start_chat: StartChat, files: Files, workdir: Path, text: str, shown: str
) -> None:
    rm = await two_pending(start_chat, files)
    lm = rm.llm_manager
    one, two = (await lm.chat("j", "fix")).approvals
    keys = {"first": [one.key], "none": [], "stale": ["job:j/some-old-reply/0"]}[shown]
    answer = await lm.chat("j", text, shown=keys)
    assert answer.error is not None, answer
    assert [r["status"] for r in approval_rows(rm)] == ["pending", "pending"]
    assert (workdir / "a.py").read_text() == "x = 1\n" and (
        workdir / "b.py"
    ).read_text() == "y = 1\n"
    assert [p.key for p in await lm.pending("j")] == [one.key, two.key]


async def test_feedback_with_one_change_on_screen_rejects_only_that_one(
    start_chat: StartChat, files: Files, workdir: Path
) -> None:
    rm = await two_pending(start_chat, files)
    lm = rm.llm_manager
    one, two = (await lm.chat("j", "fix")).approvals
    answer = await lm.chat("j", "try a smaller change first", shown=[one.key])
    assert answer.error is None and [a.key for a in answer.approvals] == [two.key]
    rows = approval_rows(rm)
    assert [r["status"] for r in rows] == ["rejected", "pending"]
    assert rows[0]["feedback"] == "try a smaller change first"
    await lm.chat("j", "approve", shown=[two.key])
    assert (workdir / "a.py").read_text() == "x = 1\n" and (
        workdir / "b.py"
    ).read_text() == "y = 2\n"
    messages = await check_order(rm, "j")
    first, second = tool_messages(messages)
    assert first.status == "error" and "try a smaller change first" in first.text
    assert second.status == "success"


# -- (viii) reject after a restart that applied the approved changes ----------------------------


async def test_reject_after_a_restart_does_not_undo_what_was_approved_before_the_crash(
    workdir: Path, tmp_path: Path, kill_leftovers: None
) -> None:
    """The user approved three changes; the kernel died after the first was applied. The new
    run applies the other two at start; ``reject`` typed afterwards finds nothing pending,
    reaches the model as a message and un-applies nothing."""
    write_files(workdir)
    proposed = await run_crash_child(workdir, tmp_path, "approve", ("set_status", 2, "after"))
    assert (workdir / "a.py").read_text() == AFTER["a.py"]
    rm = restarted(workdir)
    try:
        rm.start()
        await rm.wait(timeout=30)
        await until_finished(rm, "j")
        lm = rm.llm_manager
        assert await lm.pending("j") == [] and await lm.pending("j", waiting=True) == []
        check_applied(rm, workdir, {1, 2, 3})
        answer = await lm.chat("j", "reject", shown=[p["key"] for p in proposed])
        assert answer.error is None and answer.text == "Done." and answer.approvals == []
        check_applied(rm, workdir, {1, 2, 3})
        assert rm.job_manager.job("j").resources == NEW_RESOURCES
        assert [r["status"] for r in approval_rows(rm)] == ["done"] * 3
        messages = await check_order(rm, "j")
        assert [m.status for m in tool_messages(messages)] == ["success"] * 3
        assert [m.text for m in messages if isinstance(m, AIMessage)][-1] == "Done."
    finally:
        await rm.close()
