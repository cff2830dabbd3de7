"""Several edits in one model reply apply in the order the model listed them; undo reverts the
last listed first.

LangGraph runs the tool calls of one reply concurrently. The first edit listed here is made
slower than the others (a large file: reading, diffing, hashing and fsyncing it takes longer),
so without the ordering it reliably lands after the later ones, and undo reverts it first.
"""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from chat_support import ChatScript, StartChat, apply_unified_diff, check_order, edits, sql
from langchain_core.messages import AIMessage, ToolMessage
from test_chat_restart import run_child_until_pending

from adaptive_llm import Job, RunManager
from adaptive_llm.testing import ScriptedChatModel

Files = Callable[..., Path]

#: About 700 KB (under the 1 MiB read limit): the slow first edit.
FILLER = b"".join(b"value_%06d = %06d  # padding, a slow edit\r\n" % (i, i) for i in range(15000))
BIG = FILLER + b"lr = 0.1\r\nepochs = 3\r\nname = 'run'"  # CRLF, no final newline
SMALL = b"x = 1\ny = 2"  # no final newline


def reply(*specs: tuple[str, dict[str, Any]], text: str = "") -> AIMessage:
    """One AI turn with several tool calls, ids c1, c2, ... in listed order."""
    return AIMessage(
        content=text,
        tool_calls=[
            {"name": name, "args": args, "id": f"c{i}"} for i, (name, args) in enumerate(specs, 1)
        ],
    )


def edit_call(path: str, old: str, new: str) -> tuple[str, dict[str, Any]]:
    return ("edit_file", {"path": path, "old_text": old, "new_text": new})


def results_in_listed_order(expected: list[str]) -> Callable[[list[Any]], str]:
    """A script step: the tool results of the reply, by call id, contain ``expected``."""

    def step(messages: list[Any]) -> str:
        results = {m.tool_call_id: m.text for m in messages if isinstance(m, ToolMessage)}
        for i, text in enumerate(expected, 1):
            assert text in results[f"c{i}"], (i, results)
        return "Done."

    return step


async def run_turn(rm: RunManager, mode: str) -> int:
    """Send the request; in approve mode check nothing moved, then approve all. The number
    of approvals asked."""
    lm = rm.llm_manager
    lm.set_yolo("j", mode == "yolo")
    first = await lm.chat("j", "apply the fixes")
    assert first.error is None, first.error
    if mode == "yolo":
        assert first.approvals == [] and first.text == "Done."
        return 0
    assert edits(rm) == []
    await check_order(rm, "j")
    second = await lm.chat("j", "approve")
    assert second.error is None and second.text == "Done.", second
    assert await lm.pending("j") == []
    return len(first.approvals)


@pytest.mark.parametrize("mode", ["yolo", "approve"])
async def test_edits_of_different_files_apply_in_listed_order_and_undo_reverses(
    start_chat: StartChat, files: Files, workdir: Path, mode: str
) -> None:
    big = files("big.py", BIG)
    small = files("small.py", SMALL)
    turn = reply(
        edit_call("big.py", "lr = 0.1", "lr = 0.01"),
        ("set_job_resources", {"memory": "2G"}),
        edit_call("small.py", "y = 2", "y = 3"),
        ("write_file", {"path": "notes.txt", "content": "lowered lr\n"}),
    )
    rm = await start_chat(ChatScript([turn, results_in_listed_order(["Applied"] * 4)]))
    resources = rm.job_manager.job("j").resources
    asked = await run_turn(rm, mode)
    assert asked == (4 if mode == "approve" else 0)

    big_after = BIG.replace(b"lr = 0.1", b"lr = 0.01")
    assert big.read_bytes() == big_after
    assert small.read_bytes() == b"x = 1\ny = 3"
    assert (workdir / "notes.txt").read_bytes() == b"lowered lr\n"
    assert rm.job_manager.job("j").resources.memory == 2 * 1024**3
    rows = edits(rm)
    assert [r["tool_call_id"] for r in rows] == ["c1", "c2", "c3", "c4"]
    assert [r["path"] for r in rows] == ["big.py", "job:j", "small.py", "notes.txt"]
    await check_order(rm, "j")

    lm = rm.llm_manager
    assert "deleted notes.txt" in await lm.undo("j")
    assert not (workdir / "notes.txt").exists()
    assert small.read_bytes() == b"x = 1\ny = 3" and big.read_bytes() == big_after
    assert "small.py" in await lm.undo("j")
    assert small.read_bytes() == SMALL and big.read_bytes() == big_after
    assert rm.job_manager.job("j").resources.memory == 2 * 1024**3
    assert "resources" in await lm.undo("j")
    assert rm.job_manager.job("j").resources == resources
    assert big.read_bytes() == big_after
    assert "big.py" in await lm.undo("j")
    assert big.read_bytes() == BIG
    assert "Nothing to undo" in await lm.undo("j")
    assert [r["undone_at"] is not None for r in edits(rm)] == [True] * 4


@pytest.mark.parametrize("mode", ["yolo", "approve"])
async def test_edits_of_one_file_apply_in_listed_order_and_undo_reverses(
    start_chat: StartChat, files: Files, mode: str
) -> None:
    """The third edit only makes sense after the first: each one sees what the earlier left."""
    big = files("big.py", BIG)
    turn = reply(
        edit_call("big.py", "lr = 0.1", "lr = 0.01"),
        edit_call("big.py", "epochs = 3", "epochs = 5"),
        edit_call("big.py", "lr = 0.01", "lr = 0.02\r\nwarmup = 1"),
    )
    rm = await start_chat(ChatScript([turn, results_in_listed_order(["Applied"] * 3)]))
    steps = [BIG]
    steps.append(steps[-1].replace(b"lr = 0.1", b"lr = 0.01"))
    steps.append(steps[-1].replace(b"epochs = 3", b"epochs = 5"))
    steps.append(steps[-1].replace(b"lr = 0.01", b"lr = 0.02\r\nwarmup = 1"))
    lm = rm.llm_manager

    if mode == "approve":
        lm.set_yolo("j", False)
        first = await lm.chat("j", "apply the fixes")
        diffs = {a.tool_call_id: a.diff or "" for a in first.approvals}
        assert sorted(diffs) == ["c1", "c2", "c3"]
        assert big.read_bytes() == BIG
        # Each diff shown is the change from what the calls listed before it leave.
        for i in (1, 2, 3):
            before = steps[i - 1].decode().replace("\r\n", "\n")
            after = steps[i].decode().replace("\r\n", "\n")
            assert apply_unified_diff(before, diffs[f"c{i}"].replace("\r\n", "\n")) == after
        second = await lm.chat("j", "approve")
        assert second.error is None and second.text == "Done."
    else:
        await run_turn(rm, mode)

    assert big.read_bytes() == steps[3]
    assert [r["tool_call_id"] for r in edits(rm)] == ["c1", "c2", "c3"]
    await check_order(rm, "j")
    for expected in (steps[2], steps[1], steps[0]):
        assert "restored big.py" in await lm.undo("j")
        assert big.read_bytes() == expected
    assert "Nothing to undo" in await lm.undo("j")


async def test_a_rejected_edit_makes_the_later_edit_of_its_file_stale(
    start_chat: StartChat, files: Files
) -> None:
    """A later edit of a file was planned on an earlier one; rejecting all applies none."""
    small = files("small.py", SMALL)
    turn = reply(edit_call("small.py", "y = 2", "y = 3"), edit_call("small.py", "y = 3", "y = 4"))
    rm = await start_chat(ChatScript([turn, "Nothing changed."]))
    first = await rm.llm_manager.chat("j", "fix")
    assert len(first.approvals) == 2
    await rm.llm_manager.chat("j", "reject")
    assert small.read_bytes() == SMALL and edits(rm) == []
    await check_order(rm, "j")


async def test_a_call_after_one_waiting_for_the_user_waits_too(
    start_chat: StartChat, files: Files
) -> None:
    """YOLO on, commands not allowed: the command asks; the edit listed after it is approved
    by YOLO but waits for the command (a barrier) to be decided before it applies."""
    a = files("a.py", "a = 1\n")
    b = files("b.py", "b = 1\n")
    turn = reply(
        edit_call("a.py", "a = 1", "a = 2"),
        ("run_command", {"command": "cat b.py"}),
        edit_call("b.py", "b = 1", "b = 2"),
    )
    check = results_in_listed_order(["Applied", "b = 1", "Applied"])
    rm = await start_chat(ChatScript([turn, check]))
    lm = rm.llm_manager
    lm.set_yolo("j", True)
    first = await asyncio.wait_for(lm.chat("j", "fix"), 30)
    assert [p.tool_call_id for p in first.approvals] == ["c2"]
    waiting = await lm.pending("j", waiting=True)
    assert [(p.tool_call_id, p.status.value, p.after) for p in waiting] == [
        ("c2", "pending", (1,)),
        ("c3", "approved", (2,)),
    ]
    assert a.read_text() == "a = 2\n" and b.read_text() == "b = 1\n"
    await check_order(rm, "j")
    second = await asyncio.wait_for(lm.chat("j", "approve"), 30)
    assert second.text == "Done."
    assert b.read_text() == "b = 2\n"
    assert [(r["tool_call_id"], r["approved_by"]) for r in edits(rm)] == [
        ("c1", "yolo"),
        ("c3", "yolo"),
    ]


CHILD = textwrap.dedent(
    """
    import asyncio, sys, time
    from langchain_core.messages import AIMessage
    from adaptive_llm import Job, LocalScheduler, RunManager
    from adaptive_llm.llm.diagnose import LLM_DIAGNOSIS_PROMPT
    from adaptive_llm.testing import ScriptedChatModel

    workdir = sys.argv[1]

    def edit(old, new, id):
        args = {"path": "train.py", "old_text": old, "new_text": new}
        return {"name": "edit_file", "args": args, "id": id}

    def script(messages):
        if any(m.type == "system" and m.text.startswith(LLM_DIAGNOSIS_PROMPT[:60])
               for m in messages):
            return "Scripted diagnosis."
        return AIMessage(content="", tool_calls=[
            edit("lr = 0.1", "lr = 0.01", "c1"),
            edit("lr = 0.01", "lr = 0.02", "c2"),
        ])

    async def main():
        job = Job("j", ["/bin/sh", "-c", "echo 'RuntimeError: lr too high'; exit 1"])
        rm = RunManager([job], workdir=workdir, scheduler=LocalScheduler(kill_grace=0.5),
                        poll_interval=0.1, llm=ScriptedChatModel(script))
        rm.start()
        await rm.wait(timeout=60)
        reply = await rm.llm_manager.chat("j", "lower the learning rate")
        assert len(reply.approvals) == 2, reply
        print("APPROVAL-PENDING {}", flush=True)
        time.sleep(600)  # blocks the loop: nothing is closed cleanly; the test kills us

    asyncio.run(main())
    """
)


async def test_pending_edits_of_one_reply_apply_in_order_after_a_restart(
    workdir: Path, tmp_path: Path, make_rm: Callable[..., RunManager], kill_leftovers: None
) -> None:
    train = workdir / "train.py"
    train.write_bytes(BIG)
    await run_child_until_pending(CHILD, workdir, tmp_path)
    assert train.read_bytes() == BIG

    job = Job("j", ["/bin/sh", "-c", "echo 'RuntimeError: lr too high'; exit 1"])
    rm = make_rm([job], llm=ScriptedChatModel(["Both applied."]))
    rm.start()
    await rm.wait(timeout=30)
    lm = rm.llm_manager
    assert sorted(p.tool_call_id for p in await lm.pending("j")) == ["c1", "c2"]
    reply = await asyncio.wait_for(lm.chat("j", "approve"), 30)
    assert reply.error is None and reply.text == "Both applied."
    assert train.read_bytes() == BIG.replace(b"lr = 0.1", b"lr = 0.02")
    assert [r["tool_call_id"] for r in edits(rm)] == ["c1", "c2"]
    await check_order(rm, "j")
    assert "restored" in await lm.undo("j")
    assert train.read_bytes() == BIG.replace(b"lr = 0.1", b"lr = 0.01")
    assert "restored" in await lm.undo("j")
    assert train.read_bytes() == BIG


async def test_a_malformed_call_does_not_hold_up_the_calls_after_it(
    start_chat: StartChat, files: Files
) -> None:
    """A call whose arguments make no sense (a number as old_text) is refused and settled at
    once; the valid edit listed after it still applies, and the turn ends."""
    small = files("small.py", SMALL)
    turn = reply(
        ("edit_file", {"path": "small.py", "old_text": 5, "new_text": "y"}),
        edit_call("small.py", "y = 2", "y = 3"),
    )
    rm = await start_chat(ChatScript([turn, results_in_listed_order(["Error", "Applied"])]))
    rm.llm_manager.set_yolo("j", True)
    answer = await asyncio.wait_for(rm.llm_manager.chat("j", "apply the fixes"), 60)
    assert answer.error is None and answer.text == "Done.", answer
    assert small.read_bytes() == b"x = 1\ny = 3"
    assert [r["tool_call_id"] for r in edits(rm)] == ["c2"]


async def test_a_refused_call_replays_as_an_error_after_a_restart_of_the_turn(
    start_chat: StartChat, files: Files
) -> None:
    """A settled call keeps its outcome: when the reply's tools run again (a resume after a
    pending approval), the refused call is still an error, not a success."""
    small = files("small.py", SMALL)
    turn = reply(
        edit_call("small.py", "no such text", "z"),
        edit_call("small.py", "y = 2", "y = 3"),
    )

    def outcomes(messages: list[Any]) -> str:
        tools = {m.tool_call_id: m for m in messages if isinstance(m, ToolMessage)}
        assert (tools["c1"].status, tools["c2"].status) == ("error", "success"), tools
        return "Done."

    rm = await start_chat(ChatScript([turn, outcomes]))
    lm = rm.llm_manager
    first = await lm.chat("j", "apply the fixes")
    assert [a.tool_call_id for a in first.approvals] == ["c2"]  # c1 was refused at once
    second = await lm.chat("j", "approve")  # c1 runs again on resume: still an error
    assert second.error is None and second.text == "Done.", second
    assert small.read_bytes() == b"x = 1\ny = 3"
    statuses = {r["call_id"]: r["status"] for r in sql(rm, "SELECT * FROM approval_items")}
    assert statuses == {"c1": "refused", "c2": "done"}


async def test_a_resubmit_after_a_pending_resource_change_shows_the_new_resources(
    start_chat: StartChat,
) -> None:
    turn = reply(("set_job_resources", {"memory": "3G"}), ("resubmit_job", {}))
    rm = await start_chat(ChatScript([turn, "Done."]))
    first = await rm.llm_manager.chat("j", "more memory, then run it again")
    resubmit = first.approvals[1]
    assert resubmit.tool == "resubmit_job" and "3G" in resubmit.summary, resubmit.summary
