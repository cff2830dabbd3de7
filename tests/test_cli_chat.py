"""``adaptive-llm chat NAME --clear | --fork-into OTHER | --pending`` on a real recorded run."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from langchain_core.messages import AIMessage, HumanMessage

from adaptive_llm import Job, RunManager
from adaptive_llm.testing import ScriptedChatModel, tool_call

CLI = [sys.executable, "-m", "adaptive_llm.cli"]
JOBS = (
    Job("j", ["/bin/sh", "-c", "echo 'RuntimeError: boom'; exit 1"]),
    Job("k", ["/bin/sh", "-c", "echo 'RuntimeError: boom again'; exit 1"]),
)


async def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The command in a subprocess, awaited without blocking this loop (a RunManager may run)."""
    proc = await asyncio.create_subprocess_exec(
        *CLI, *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return subprocess.CompletedProcess(args, proc.returncode, out.decode(), err.decode())


def is_diagnosis(messages: list[object]) -> bool:
    return "diagnose failed batch jobs" in str(getattr(messages[0], "content", ""))


async def recorded_run(make_rm: Callable[..., RunManager], workdir: Path) -> None:
    """A run whose chat on j has one answered turn and one change waiting, then closed."""
    (workdir / "train.py").write_text("lr = 0.1\n")
    replies = iter(
        [
            "It failed with a RuntimeError.",
            tool_call("edit_file", {"path": "train.py", "old_text": "0.1", "new_text": "0.01"}),
        ]
    )
    model = ScriptedChatModel(lambda m: "Diagnosis." if is_diagnosis(m) else next(replies))
    rm = make_rm(JOBS, llm=model)
    rm.start()
    await rm.wait(timeout=30)
    await rm.llm_manager.chat("j", "why?")
    reply = await rm.llm_manager.chat("j", "fix it")
    assert reply.approvals
    await rm.close()


async def messages_of(make_rm: Callable[..., RunManager], name: str) -> list[object]:
    rm = make_rm(JOBS, llm=ScriptedChatModel(["unused"]))
    agent = await rm.llm_manager.chat_service().agent()
    state = await agent.aget_state({"configurable": {"thread_id": f"job:{name}"}})
    await rm.llm_manager.aclose()
    rm.store.close()
    return list((state.values or {}).get("messages", []))


async def test_pending_lists_the_change_in_full_then_clear_rejects_it(
    make_rm: Callable[..., RunManager], workdir: Path
) -> None:
    await recorded_run(make_rm, workdir)
    listed = await cli("chat", "j", "--workdir", str(workdir), "--pending")
    assert listed.returncode == 0, listed.stderr
    assert "1/1." in listed.stdout and "-lr = 0.1" in listed.stdout
    assert "+lr = 0.01" in listed.stdout

    cleared = await cli("chat", "j", "--workdir", str(workdir), "--clear")
    assert cleared.returncode == 0, cleared.stderr
    assert "Cleared the chat" in cleared.stdout and "1 waiting change(s) rejected" in cleared.stdout
    assert (workdir / "train.py").read_text() == "lr = 0.1\n"
    assert await messages_of(make_rm, "j") == []
    again = await cli("chat", "j", "--workdir", str(workdir), "--pending")
    assert "Nothing waits" in again.stdout


async def test_fork_into_another_job(make_rm: Callable[..., RunManager], workdir: Path) -> None:
    await recorded_run(make_rm, workdir)
    forked = await cli("chat", "j", "--workdir", str(workdir), "--fork-into", "k")
    assert forked.returncode == 0, forked.stderr
    assert "Forked the chat of job 'j' into the chat of job 'k': 2 messages" in forked.stdout
    copied = await messages_of(make_rm, "k")
    assert [type(m) for m in copied] == [HumanMessage, AIMessage]
    assert len(await messages_of(make_rm, "j")) == 4  # the original, with its waiting reply
    twice = await cli("chat", "j", "--workdir", str(workdir), "--fork-into", "k")
    assert twice.returncode == 1 and "clear it first" in twice.stdout


async def test_refusals_are_one_line(
    make_rm: Callable[..., RunManager], workdir: Path, tmp_path: Path
) -> None:
    none = await cli("chat", "j", "--workdir", str(tmp_path / "nowhere"), "--clear")
    assert none.returncode == 2 and "no jobs recorded" in none.stderr
    assert "Traceback" not in none.stderr

    await recorded_run(make_rm, workdir)
    unknown = await cli("chat", "nope", "--workdir", str(workdir), "--clear")
    assert unknown.returncode == 2 and "no job named 'nope' (jobs: j, k)" in unknown.stderr

    neither = await cli("chat", "j", "--workdir", str(workdir))
    assert neither.returncode == 2 and "--clear" in neither.stderr

    rm = make_rm(JOBS, llm=ScriptedChatModel(["unused"]))
    rm.start()  # a notebook drives the workdir
    busy = await cli("chat", "j", "--workdir", str(workdir), "--clear")
    assert busy.returncode == 2 and "in use by" in busy.stderr and "notebook" in busy.stderr
    assert len(busy.stderr.strip().splitlines()) == 1
    await rm.close()
