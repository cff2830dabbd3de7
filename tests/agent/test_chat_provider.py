"""The real provider path: langchain-openai against a local OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from chat_support import StartChat, check_order, edits
from fake_openai import FakeOpenAI, Reply

from adaptive_llm import RunManager

pytest.importorskip("langchain_openai")

from langchain.chat_models import init_chat_model

TRAIN = "import os\n\nlr = 0.1\nepochs = 3\n"
KEY = "test-key"


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY) as fake:
        yield fake


def model_kwargs(server: FakeOpenAI) -> dict[str, Any]:
    # max_retries=0: the openai client would otherwise retry by itself (our manager retries).
    return {
        "model": "openai:gpt-4.1-mini",
        "base_url": server.base_url,
        "api_key": KEY,
        "max_retries": 0,
    }


def store_bytes(rm: RunManager) -> bytes:
    state = rm.state_dir
    return b"".join(p.read_bytes() for p in state.glob("store.sqlite*"))


async def test_streamed_tool_call_approve_then_final_text(
    start_chat: StartChat, server: FakeOpenAI, workdir: Path
) -> None:
    (workdir / "train.py").write_text(TRAIN)
    server.diagnosis_replies.append(Reply(text="The learning rate is too high."))
    server.chat_replies += [
        Reply(
            text="I'll lower the learning rate.",
            tool_calls=[
                ("edit_file", {"path": "train.py", "old_text": "lr = 0.1", "new_text": "lr = 0.01"})
            ],
        ),
        Reply(text="Done: lr is now 0.01. Shall I resubmit?"),
    ]
    # With a base_url, langchain-openai asks for usage in streams only when told to.
    llm = init_chat_model(**model_kwargs(server), stream_usage=True)
    rm = await start_chat(llm=llm)
    lm = rm.llm_manager
    assert lm.llm_calls == 1
    assert lm.llm_diagnosis_text("j") == "The learning rate is too high."

    events = [e async for e in lm.chat_stream("j", "fix it please")]
    tokens = "".join(e.text for e in events if e.type == "token")
    assert tokens == "I'll lower the learning rate."
    [approval] = [e.approval for e in events if e.approval is not None]
    assert approval.tool == "edit_file" and "+lr = 0.01" in (approval.diff or "")
    assert (workdir / "train.py").read_text() == TRAIN
    [first] = server.routed("chat")
    assert first.body["stream"] is True
    assert {t["function"]["name"] for t in first.body["tools"]} >= {
        "read_file",
        "list_dir",
        "search",
        "edit_file",
        "write_file",
        "resubmit_job",
        "run_command",
    }
    system = first.body["messages"][0]
    assert system["role"] == "system" and str(workdir) in system["content"]
    assert "untrusted" in system["content"] and "The learning rate is too high" in str(system)

    reply = await lm.chat("j", "approve")
    assert reply.error is None and reply.text == "Done: lr is now 0.01. Shall I resubmit?"
    assert (workdir / "train.py").read_text() == TRAIN.replace("lr = 0.1", "lr = 0.01")
    assert [r["approved_by"] for r in edits(rm)] == ["user"]
    second = server.routed("chat")[1]
    assert second.error is None
    roles = [m["role"] for m in second.body["messages"]]
    assert roles == ["system", "user", "assistant", "tool"]
    assert "Applied" in second.body["messages"][-1]["content"]
    await check_order(rm, "j")
    usage = lm.usage("j")
    assert usage.input_tokens > 0 and usage.cost_usd is not None and usage.cost_usd > 0
    assert KEY.encode() not in store_bytes(rm)
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in server.requests)


async def test_feedback_and_rejection_keep_an_order_the_provider_accepts(
    start_chat: StartChat, server: FakeOpenAI, workdir: Path
) -> None:
    (workdir / "train.py").write_text(TRAIN)
    change = ("edit_file", {"path": "train.py", "old_text": "lr = 0.1", "new_text": "lr = 1"})
    server.chat_replies += [
        Reply(tool_calls=[change, ("write_file", {"path": "x.txt", "content": "x\n"})]),
        Reply(text="Understood; what value would you like?", tool_calls=[change]),
        Reply(text="Ok, leaving it."),
    ]
    rm = await start_chat(llm=model_kwargs(server))  # the dict form
    lm = rm.llm_manager
    reply = await lm.chat("j", "fix")
    assert len(reply.approvals) == 2
    reply = await lm.chat("j", "that is far too high")
    assert reply.error is None and reply.approval is not None
    reply = await lm.chat("j", "reject")
    assert reply.error is None and reply.text == "Ok, leaving it."
    assert (workdir / "train.py").read_text() == TRAIN and not (workdir / "x.txt").exists()
    assert [r.error for r in server.routed("chat")] == [None, None, None]
    feedback_turn = server.routed("chat")[1].body["messages"]
    assert [m["role"] for m in feedback_turn] == ["system", "user", "assistant", "tool", "tool"]
    assert all("far too high" in m["content"] for m in feedback_turn[-2:])
    await check_order(rm, "j")


async def test_llm_diagnosis_retries_rate_limits_and_falls_back_on_server_errors(
    make_rm: Callable[..., RunManager], tmp_path: Path
) -> None:
    """429, 429, 200 gives a diagnosis; 500 forever keeps the offline one and says why.

    Both run at once (two runs, two servers): the manager's back-off (1 s, 2 s, 4 s) is real.
    """
    from adaptive_llm import Job

    job = Job("j", ["/bin/sh", "-c", "echo 'RuntimeError: boom'; exit 1"])

    async def run(server: FakeOpenAI, name: str) -> RunManager:
        rm = make_rm([job], workdir=tmp_path / name, llm=model_kwargs(server))
        rm.start()
        await rm.wait(timeout=60)
        return rm

    with FakeOpenAI(api_key=KEY) as limited, FakeOpenAI(api_key=KEY) as broken:
        limited.diagnosis_replies += [Reply(429), Reply(429), Reply(text="Diagnosed after 429s.")]
        broken.default = Reply(500)
        started = time.monotonic()
        ok, failed = await asyncio.gather(run(limited, "limited"), run(broken, "broken"))
        elapsed = time.monotonic() - started

    assert len(limited.routed("diagnosis")) == 3
    assert ok.llm_manager.llm_calls == 1
    assert ok.llm_manager.llm_diagnosis_text("j") == "Diagnosed after 429s."

    assert len(broken.routed("diagnosis")) == 4  # the first call and three retries
    assert failed.llm_manager.llm_calls == 1
    text = failed.llm_manager.llm_diagnosis_text("j") or ""
    assert text.startswith("(LLM diagnosis unavailable") and "500" in text
    assert "offline diagnosis stands" in text and KEY not in text
    diagnosis = await failed.diagnosis("j")
    assert diagnosis is not None and "boom" in (diagnosis.summary + str(diagnosis.message))
    context = failed.llm_manager.chat_service().job_context("j")
    assert context["llm_diagnosis"] == text  # what the chat is told
    assert elapsed < 20
