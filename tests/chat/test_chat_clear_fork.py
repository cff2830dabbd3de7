"""Clearing and forking a job's chat through the public API (real jobs, store and graph)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from chat_support import ChatScript, StartChat, edit, humans, thread_messages

from adaptive_llm import Job, RunManager

Files = Callable[..., Path]

FAILING = Job("j", ["/bin/sh", "-c", "echo 'RuntimeError: boom'; exit 1"])
VARIANT = Job("k", ["/bin/sh", "-c", "echo 'RuntimeError: boom again'; exit 1"])


async def started(start_chat: StartChat, script: ChatScript) -> RunManager:
    return await start_chat(script, jobs=(FAILING, VARIANT))


async def test_clear_deletes_the_conversation_and_rejects_what_waits(
    start_chat: StartChat, files: Files
) -> None:
    path = files("train.py", "lr = 0.1\n")
    script = ChatScript(["Hello.", edit("train.py", "lr = 0.1", "lr = 0.01"), "Fresh start."])
    rm = await started(start_chat, script)
    lm = rm.llm_manager
    await lm.chat("j", "hi")
    reply = await lm.chat("j", "lower the lr")
    assert reply.approvals and await lm.pending("j")

    text = await lm.clear_chat("j")
    assert "Cleared" in text and "1 waiting change(s) rejected" in text
    assert await thread_messages(rm, "j") == []
    assert await lm.pending("j") == []
    assert path.read_text() == "lr = 0.1\n"  # the rejected edit never ran
    await lm.chat("j", "again")
    assert humans(script.received[-1]) == ["again"]  # the model got no earlier turn


async def test_fork_copies_the_settled_conversation_and_both_go_on(
    start_chat: StartChat, files: Files
) -> None:
    files("train.py", "lr = 0.1\n")
    script = ChatScript(["First answer.", "In k.", "Still in j."])
    rm = await started(start_chat, script)
    lm = rm.llm_manager
    await lm.chat("j", "why did it fail?")
    lm.set_yolo("j", True)

    text = await lm.fork_chat("j", "k")
    assert "Forked" in text and "2 messages" in text
    before = await thread_messages(rm, "j")
    await lm.chat("k", "go on in k")
    assert humans(script.received[-1]) == ["why did it fail?", "go on in k"]
    await lm.chat("j", "go on in j")
    assert humans(script.received[-1]) == ["why did it fail?", "go on in j"]
    assert (await thread_messages(rm, "j"))[: len(before)] == before
    assert lm.chat_service().settings("k")["yolo"] == 0  # consent does not travel along
    assert lm.chat_service().settings("j")["yolo"] == 1


async def test_fork_leaves_a_waiting_reply_behind(start_chat: StartChat, files: Files) -> None:
    path = files("train.py", "lr = 0.1\n")
    script = ChatScript(["Hello.", edit("train.py", "lr = 0.1", "lr = 0.01"), "In k."])
    rm = await started(start_chat, script)
    lm = rm.llm_manager
    await lm.chat("j", "hi")
    await lm.chat("j", "lower the lr")
    assert await lm.pending("j")

    text = await lm.fork_chat("j", "k")
    assert "stays behind" in text and "2 messages" in text, text
    await lm.chat("k", "continue")
    assert humans(script.received[-1]) == ["hi", "continue"]
    assert await lm.pending("k") == []
    assert len(await lm.pending("j")) == 1  # still waiting where it was proposed
    assert path.read_text() == "lr = 0.1\n"


async def test_fork_refuses_a_chat_that_has_a_conversation(start_chat: StartChat) -> None:
    script = ChatScript(["One.", "Two."])
    rm = await started(start_chat, script)
    lm = rm.llm_manager
    await lm.chat("j", "hi")
    await lm.chat("k", "hello")
    text = await lm.fork_chat("j", "k")
    assert text.startswith("Not forked") and "clear it first" in text
    assert humans(await thread_messages(rm, "k")) == ["hello"]
    assert (await lm.fork_chat("j", "j")).startswith("Not forked")
    assert (await lm.fork_chat("k", None)).startswith("Forked")  # into the general chat
    assert (await lm.fork_chat(None, "j")).startswith("Not forked")


async def test_fork_of_an_empty_chat_and_unknown_jobs(start_chat: StartChat) -> None:
    rm = await started(start_chat, ChatScript([]))
    lm = rm.llm_manager
    assert (await lm.fork_chat("j", "k")).startswith("Nothing to fork")
    for args in (("nope", "k"), ("j", "nope")):
        try:
            await lm.fork_chat(*args)
        except Exception as exc:
            assert "nope" in str(exc)
        else:
            raise AssertionError("an unknown job was accepted")


async def test_a_fork_survives_a_restart(
    start_chat: StartChat, make_rm: Callable[..., RunManager]
) -> None:
    script = ChatScript(["First answer."])
    rm = await started(start_chat, script)
    await rm.llm_manager.chat("j", "why?")
    await rm.llm_manager.fork_chat("j", "k")
    await rm.close()
    script2 = ChatScript(["After restart."])
    rm2 = await start_chat(script2, jobs=(FAILING, VARIANT))
    await rm2.llm_manager.chat("k", "and now?")
    assert humans(script2.received[-1]) == ["why?", "and now?"]
