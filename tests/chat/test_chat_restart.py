"""A pending approval survives a killed process: a new RunManager shows it and can apply it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

from chat_support import check_order, edits, humans

from adaptive_llm import Job, RunManager
from adaptive_llm.testing import ScriptedChatModel

MARKER = "APPROVAL-PENDING "

CHILD = textwrap.dedent(
    """
    import asyncio, json, sys, time
    from adaptive_llm import Job, LocalScheduler, RunManager
    from adaptive_llm.llm.diagnose import LLM_DIAGNOSIS_PROMPT
    from adaptive_llm.testing import ScriptedChatModel, tool_call

    workdir = sys.argv[1]

    def script(messages):
        if any(m.type == "system" and m.text.startswith(LLM_DIAGNOSIS_PROMPT[:60])
               for m in messages):
            return "Scripted diagnosis: the learning rate is too high."
        return tool_call(
            "edit_file",
            {"path": "train.py", "old_text": "lr = 0.1", "new_text": "lr = 0.01"},
            id="call_restart_1",
        )

    async def main():
        job = Job("j", ["/bin/sh", "-c", "echo 'RuntimeError: lr too high'; exit 1"])
        rm = RunManager([job], workdir=workdir, scheduler=LocalScheduler(kill_grace=0.5),
                        poll_interval=0.1, llm=ScriptedChatModel(script))
        rm.start()
        await rm.wait(timeout=60, llm=True)
        reply = await rm.llm_manager.chat("j", "please lower the learning rate")
        assert reply.approval is not None, reply
        print("APPROVAL-PENDING " + json.dumps({"diff": reply.approval.diff}), flush=True)
        time.sleep(600)  # blocks the loop: nothing is closed cleanly; the test kills us

    asyncio.run(main())
    """
)

TRAIN = "import os\n\nlr = 0.1\nepochs = 3\n"


async def read_marker(child: asyncio.subprocess.Process, timeout: float = 60) -> dict[str, str]:
    assert child.stdout is not None

    async def first_marker() -> dict[str, str]:
        assert child.stdout is not None
        while line := (await child.stdout.readline()).decode():
            if line.startswith(MARKER):
                data: dict[str, str] = json.loads(line[len(MARKER) :])
                return data
        raise AssertionError(f"the child ended (rc={child.returncode}) without an approval")

    return await asyncio.wait_for(first_marker(), timeout)


async def run_child_until_pending(
    child_source: str, workdir: Path, tmp_path: Path
) -> dict[str, str]:
    """Run ``child_source`` (a chat that stops at a pending approval) in its own session, read
    its marker, then SIGKILL it: a kernel dying with the approval pending."""
    script = tmp_path / "child.py"
    script.write_text(child_source)
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        str(workdir),
        stdout=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        data = await read_marker(child)
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        await asyncio.wait_for(child.wait(), 10)
    assert child.returncode == -signal.SIGKILL
    return data


async def test_pending_approval_survives_a_killed_process(
    workdir: Path, tmp_path: Path, make_rm: Callable[..., RunManager], kill_leftovers: None
) -> None:
    (workdir / "train.py").write_text(TRAIN)
    data = await run_child_until_pending(CHILD, workdir, tmp_path)
    assert (workdir / "train.py").read_text() == TRAIN

    job = Job("j", ["/bin/sh", "-c", "echo 'RuntimeError: lr too high'; exit 1"])
    rm = make_rm([job], llm=ScriptedChatModel(["Thanks, applied."]))
    rm.start()
    await rm.wait(timeout=30, llm=True)
    lm = rm.llm_manager
    assert lm.llm_calls == 0  # the stored LLM diagnosis is reused
    assert (lm.llm_diagnosis_text("j") or "").startswith("Scripted diagnosis")

    [pending] = await lm.pending("j")
    assert pending.diff == data["diff"] and pending.tool_call_id == "call_restart_1"
    history = await lm.history("j")
    assert [m.role for m in history] == ["diagnosis", "user", "assistant"]
    assert history[1].text == "please lower the learning rate"
    await check_order(rm, "j")

    reply = await lm.chat("j", "approve")
    assert reply.error is None and reply.text == "Thanks, applied."
    assert (workdir / "train.py").read_text() == TRAIN.replace("lr = 0.1", "lr = 0.01")
    [row] = edits(rm)
    assert row["approved_by"] == "user" and row["tool_call_id"] == "call_restart_1"
    messages = await check_order(rm, "j")
    assert humans(messages) == ["please lower the learning rate"]
    history = await lm.history("j")
    assert [m.role for m in history] == ["diagnosis", "user", "assistant", "tool", "assistant"]
    assert await lm.pending("j") == []
