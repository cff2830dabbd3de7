"""The real provider path: langchain-openai against a local OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from chat_support import StartChat, check_order, edits
from fake_openai import FakeOpenAI, Reply, Request

from adaptive_llm import Job, RunManager
from adaptive_llm.llm.retry import RetryPolicy, retry_after
from adaptive_llm.managers.llm_manager import LLMManager

pytest.importorskip("langchain_openai")

import httpx
import openai
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
    # Reported by the server (stream_usage=True), not estimated; a server on 127.0.0.1 is one's
    # own: no per-token price (tests/chat/test_usage_tracing.py prices a remote name).
    assert usage.input_tokens > 0 and not usage.estimated and usage.cost_usd == 0.0
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


#: Waits of 50, 150 and 450 ms (no jitter): quick, and each clearly longer than the last.
TINY = RetryPolicy(attempts=4, initial_delay=0.05, max_delay=1.0, multiplier=3.0, jitter=0.0)
FAILING = Job("j", ["/bin/sh", "-c", "echo 'RuntimeError: boom'; exit 1"])


def gaps(requests: list[Request]) -> list[float]:
    """Seconds between consecutive requests, as the server saw them."""
    return [later.at - earlier.at for earlier, later in pairwise(requests)]


async def test_llm_diagnosis_retries_rate_limits_and_falls_back_on_server_errors(
    make_rm: Callable[..., RunManager], tmp_path: Path
) -> None:
    """429, 429, 200 gives a diagnosis; 500 forever keeps the offline one and says why.

    Both run at once (two runs, two servers), with real back-off from a tiny policy.
    """

    async def run(server: FakeOpenAI, name: str) -> RunManager:
        rm = make_rm([FAILING], workdir=tmp_path / name, llm=model_kwargs(server))
        rm.llm_manager.retry = TINY
        rm.start()
        await rm.wait(timeout=60, llm=True)
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
    first, second = gaps(limited.routed("diagnosis"))
    assert 0.045 <= first < second and second >= 0.135

    assert len(broken.routed("diagnosis")) == 4  # the first call and three retries
    waits = gaps(broken.routed("diagnosis"))
    # They grow: each wait is at least the policy's delay (0.05, 0.15, 0.45 s); a loaded
    # machine may add to any of them, so only the lower bounds are checked.
    assert [w >= d for w, d in zip(waits, (0.045, 0.135, 0.4), strict=True)] == [True] * 3, waits
    assert failed.llm_manager.llm_calls == 1
    text = failed.llm_manager.llm_diagnosis_text("j") or ""
    assert text.startswith("(LLM diagnosis unavailable") and "500" in text
    assert "gave up after 4 attempts" in text
    assert "offline diagnosis stands" in text and KEY not in text
    diagnosis = await failed.diagnosis("j")
    assert diagnosis is not None and "boom" in (diagnosis.summary + str(diagnosis.message))
    context = failed.llm_manager.chat_service().job_context("j")
    assert context["llm_diagnosis"] == text  # what the chat is told
    assert elapsed < 10  # the default policy would wait 7 to 10.5 s here


async def test_retry_after_is_honoured_and_capped_by_max_delay(
    make_rm: Callable[..., RunManager], server: FakeOpenAI
) -> None:
    """A 429's Retry-After replaces the (much shorter) back-off, but never exceeds max_delay."""
    server.diagnosis_replies += [
        Reply(429, headers={"Retry-After": "0.3"}),
        Reply(429, headers={"Retry-After": "30"}),
        Reply(text="Diagnosed after waiting."),
    ]
    rm = make_rm([FAILING], llm=model_kwargs(server))
    rm.llm_manager.retry = RetryPolicy(attempts=3, initial_delay=0.01, max_delay=0.5, jitter=0)
    rm.start()
    await rm.wait(timeout=30, llm=True)

    assert rm.llm_manager.llm_diagnosis_text("j") == "Diagnosed after waiting."
    asked, capped = gaps(server.routed("diagnosis"))
    assert 0.29 <= asked < capped  # the server's 0.3 s, not the policy's 0.01 s
    assert 0.49 <= capped < 5  # max_delay, not 30 s


def rate_limited(headers: dict[str, str]) -> openai.RateLimitError:
    """The error the OpenAI client raises for a 429 with these headers."""
    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")
    response = httpx.Response(429, headers=headers, request=request)
    return openai.RateLimitError("rate limited", response=response, body=None)


def test_retry_after_forms() -> None:
    assert retry_after(rate_limited({"Retry-After": "2"})) == 2.0
    assert retry_after(rate_limited({"retry-after-ms": "250", "Retry-After": "1"})) == 0.25
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 < (retry_after(rate_limited({"Retry-After": soon})) or 0) <= 30
    assert retry_after(rate_limited({"Retry-After": "-5"})) == 0.0
    assert retry_after(rate_limited({"Retry-After": "soon"})) is None
    assert retry_after(rate_limited({})) is None
    assert retry_after(ValueError("no response")) is None


def test_retry_policy_delays() -> None:
    policy = RetryPolicy(initial_delay=1, max_delay=5, multiplier=2, jitter=0)
    assert [policy.delay(n) for n in range(1, 6)] == [1, 2, 4, 5, 5]
    assert policy.delay(1, retry_after=3) == 3 and policy.delay(1, retry_after=99) == 5
    assert RetryPolicy(attempts=5000, multiplier=10).delay(4999) == 60  # no overflow
    default = RetryPolicy()  # the behaviour before the policy existed: 1-1.5 s, 2-3 s, 4-6 s
    assert default.attempts == 4
    for n, low in ((1, 1), (2, 2), (3, 4)):
        assert all(low <= default.delay(n) <= 1.5 * low for _ in range(50))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"attempts": 0}, "attempts must be >= 1"),
        ({"attempts": 2.5}, "attempts must be an integer"),
        ({"initial_delay": -1}, "initial_delay must be a finite number >= 0"),
        ({"max_delay": float("inf")}, "max_delay must be a finite number >= 0"),
        ({"initial_delay": 5, "max_delay": 1}, r"max_delay \(1\) must be >= initial_delay"),
        ({"multiplier": 0.5}, "multiplier must be >= 1"),
        ({"jitter": 2}, "jitter must be between 0 and 1"),
        ({"jitter": "a lot"}, "jitter must be a number"),
    ],
)
def test_invalid_retry_policies_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RetryPolicy(**kwargs)


async def test_llm_manager_refuses_a_retry_that_is_not_a_policy(
    make_rm: Callable[..., RunManager],
) -> None:
    rm = make_rm([])
    with pytest.raises(TypeError, match="retry must be a RetryPolicy"):
        LLMManager(rm.job_manager, store=rm.store, retry={"attempts": 2})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="retry must be a RetryPolicy"):
        rm.llm_manager.retry = 3  # type: ignore[assignment]
    assert rm.llm_manager.retry == RetryPolicy()


def test_retry_after_takes_the_first_of_repeated_headers() -> None:
    from adaptive_llm.llm.retry import retry_after

    class Limited(Exception):
        headers = {"Retry-After": "2, 3"}

    assert retry_after(Limited()) == 2.0


async def test_a_failed_llm_diagnosis_is_tried_again_by_the_next_run(
    make_rm: Callable[..., RunManager], workdir: Path
) -> None:
    """A server down when the job failed: the failure stands in that run, and the next run
    (after a restart) asks again; once answered, no later run asks."""
    once = RetryPolicy(attempts=1, initial_delay=0.05)
    with FakeOpenAI(api_key=KEY) as server:
        server.default = Reply(500)
        first = make_rm([FAILING], llm=model_kwargs(server))
        first.llm_manager.retry = once
        first.start()
        await first.wait(timeout=60, llm=True)
        assert (first.llm_manager.llm_diagnosis_text("j") or "").startswith(
            "(LLM diagnosis unavailable"
        )
        await first.close()

        server.default = Reply(text="Diagnosed once the server was back.")
        second = make_rm([FAILING], llm=model_kwargs(server))
        second.llm_manager.retry = once
        second.start()
        await second.wait(timeout=60, llm=True)
        assert second.llm_manager.llm_calls == 1
        assert second.llm_manager.llm_diagnosis_text("j") == "Diagnosed once the server was back."
        await second.close()

        third = make_rm([FAILING], llm=model_kwargs(server))
        third.start()
        await third.wait(timeout=60, llm=True)
        assert third.llm_manager.llm_calls == 0
        assert len(server.routed("diagnosis")) == 2
