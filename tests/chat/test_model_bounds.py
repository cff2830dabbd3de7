"""Every model call is bounded: an output limit on each request, a timeout per call and per
chat turn whose error names the endpoint, ``rm.wait()`` that does not wait for LLM diagnoses,
and a model that cannot be made answering each turn with an error instead of raising.

Against the real OpenAI client (langchain-openai) and a scripted OpenAI-compatible server on
127.0.0.1 that can stay silent after accepting a request."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fake_openai import FakeOpenAI, Reply

from adaptive_llm import Job, ModelLimits, RunManager

pytest.importorskip("langchain_openai")

KEY = "test-key"
FAILING = Job(name="j", command=["python", "-c", "raise SystemExit('boom')"])


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY) as fake:
        yield fake


def llm(server: FakeOpenAI, **extra: Any) -> dict[str, Any]:
    return {
        "model": "openai:gpt-4.1-mini",
        "base_url": server.base_url,
        "api_key": KEY,
        "max_retries": 0,
        **extra,
    }


def sent_limit(body: dict[str, Any]) -> Any:
    return body.get("max_completion_tokens", body.get("max_tokens"))


async def test_wait_returns_before_a_silent_llm_diagnosis(
    make_rm: Callable[..., RunManager], server: FakeOpenAI
) -> None:
    """The LLM diagnosis hangs (the server accepted and says nothing): ``rm.wait()`` returns
    as soon as the job is final and its offline diagnosis cached; ``wait(llm=True)`` names
    what it is still waiting for."""
    server.diagnosis_replies.append(Reply(text="late", delay=60))
    rm = make_rm([FAILING], llm=llm(server))
    rm.start()
    await rm.wait(timeout=30)
    assert rm.llm_manager.cached("j") is not None
    assert rm.llm_manager.llm_diagnosis_text("j") is None  # still on its way
    with pytest.raises(TimeoutError, match="LLM diagnoses still running"):
        await rm.wait(timeout=0.5, llm=True)


async def test_a_silent_server_ends_the_diagnosis_with_an_error_naming_it(
    make_rm: Callable[..., RunManager], server: FakeOpenAI
) -> None:
    server.default = Reply(text="never", delay=60)
    rm = make_rm(
        [FAILING], llm=llm(server), llm_limits=ModelLimits(call_timeout=0.5, turn_timeout=2)
    )
    rm.llm_manager.retry = rm.llm_manager.retry.__class__(attempts=2, initial_delay=0.01)
    rm.start()
    await rm.wait(timeout=30, llm=True)
    text = rm.llm_manager.llm_diagnosis_text("j") or ""
    assert text.startswith("(LLM diagnosis unavailable"), text
    assert "within 0.5 s" in text and server.base_url in text, text
    assert "gave up after 2 attempts" in text and KEY not in text


async def test_a_silent_server_ends_the_chat_turn_with_an_error_naming_it(
    make_rm: Callable[..., RunManager], server: FakeOpenAI
) -> None:
    server.diagnosis_replies.append(Reply(text="The job raised SystemExit."))
    server.chat_replies.append(Reply(text="never", delay=60))
    server.chat_replies.append(Reply(text="Back again."))
    limits = ModelLimits(call_timeout=1.0, turn_timeout=5)
    rm = make_rm([FAILING], llm=llm(server), llm_limits=limits)
    rm.start()
    await rm.wait(timeout=30, llm=True)
    started = time.monotonic()
    reply = await asyncio.wait_for(rm.llm_manager.chat("j", "why?"), 30)
    took = time.monotonic() - started
    assert reply.error is not None and "within 1 s" in reply.error, reply
    assert server.base_url in reply.error
    assert took < 20  # bounded by the call timeout, far below the client's defaults
    again = await asyncio.wait_for(rm.llm_manager.chat("j", "try again"), 30)
    assert again.error is None and again.text == "Back again.", again  # the chat still works


async def test_every_request_carries_an_output_limit(
    make_rm: Callable[..., RunManager], server: FakeOpenAI
) -> None:
    server.diagnosis_replies.append(Reply(text="Diagnosed."))
    server.chat_replies.append(Reply(text="Hello."))
    rm = make_rm([FAILING], llm=llm(server), llm_limits=ModelLimits(max_output_tokens=321))
    rm.start()
    await rm.wait(timeout=30, llm=True)
    await rm.llm_manager.chat("j", "hi")
    limits = {(r.route, sent_limit(r.body)) for r in server.requests}
    assert limits == {("diagnosis", 321), ("chat", 321)}, limits


async def test_a_limit_the_user_set_on_the_model_is_kept(
    make_rm: Callable[..., RunManager], server: FakeOpenAI
) -> None:
    server.diagnosis_replies.append(Reply(text="Diagnosed."))
    rm = make_rm([FAILING], llm=llm(server, max_tokens=77))
    rm.start()
    await rm.wait(timeout=30, llm=True)
    assert [sent_limit(r.body) for r in server.routed("diagnosis")] == [77]


async def test_a_local_server_needs_no_api_key(
    make_rm: Callable[..., RunManager], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's dict example for a local server, with no OPENAI_API_KEY anywhere."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with FakeOpenAI(api_key="not-needed") as local:
        local.diagnosis_replies.append(Reply(text="Diagnosed locally."))
        local.chat_replies.append(Reply(text="Hi from the local model."))
        spec = {"model": "openai:my-model", "base_url": local.base_url, "max_retries": 0}
        rm = make_rm([FAILING], llm=spec)
        rm.start()
        await rm.wait(timeout=30, llm=True)
        assert rm.llm_manager.llm_diagnosis_text("j") == "Diagnosed locally."
        reply = await rm.llm_manager.chat("j", "hello")
        assert reply.error is None and reply.text == "Hi from the local model.", reply


async def test_a_model_that_cannot_be_made_answers_with_an_error(
    make_rm: Callable[..., RunManager],
) -> None:
    """A model whose provider package is missing: no exception from ``chat`` or ``usage``;
    each turn's reply says what is wrong, and the offline diagnosis is there."""
    rm = make_rm([FAILING], llm="nosuchprovider:some-model")
    rm.start()
    await rm.wait(timeout=30)
    assert rm.llm_manager.cached("j") is not None
    reply = await rm.llm_manager.chat("j", "why?")
    assert reply.error is not None and "cannot be used" in reply.error, reply
    usage = rm.llm_manager.usage("j")
    assert (usage.input_tokens, usage.output_tokens) == (0, 0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_output_tokens": 0},
        {"max_output_tokens": True},
        {"call_timeout": 0},
        {"call_timeout": float("inf")},
        {"turn_timeout": -1},
    ],
)
def test_invalid_limits_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        ModelLimits(**kwargs)


async def test_a_long_chat_keeps_fitting_the_context(
    make_rm: Callable[..., RunManager], workdir: Any
) -> None:
    """A server with a small context (a 400 beyond it, as llama-server answers): fifteen long
    turns and a huge tool result later, every request fitted and answered; the stored
    conversation keeps everything."""
    (workdir / "big.txt").write_text("line of a large file\n" * 20000)  # ~420 KB
    with FakeOpenAI(api_key=KEY, context=4096) as server:
        server.diagnosis_replies.append(Reply(text="Diagnosed."))
        server.chat_replies += [Reply(text=f"Answer {n}.") for n in range(15)]
        server.chat_replies.append(Reply(tool_calls=[("read_file", {"path": "big.txt"})]))
        server.chat_replies.append(Reply(text="Read it."))
        limits = ModelLimits(context_tokens=4096, max_output_tokens=256)
        rm = make_rm([FAILING], llm=llm(server), llm_limits=limits)
        rm.start()
        await rm.wait(timeout=30, llm=True)
        for n in range(15):
            reply = await rm.llm_manager.chat("j", f"question {n}: " + "words " * 400)
            assert reply.error is None and reply.text == f"Answer {n}.", (n, reply)
        reply = await rm.llm_manager.chat("j", "read big.txt")
        assert reply.error is None and reply.text == "Read it.", reply
        rejected = [r.error for r in server.requests if r.error]
        assert rejected == [], rejected
        sent = [len(r.body["messages"]) for r in server.routed("chat")]
        assert max(sent[-5:]) < 20, sent  # old turns left out of the requests
        last = server.routed("chat")[-1].body["messages"]
        tool = [m for m in last if m.get("role") == "tool"]
        assert tool and "left out to fit the model's context" in tool[0]["content"]
    history = await rm.llm_manager.history("j")
    texts = " ".join(m.text for m in history)
    assert all(f"question {n}:" in texts for n in range(15))  # nothing lost from the store


async def test_a_strict_local_server_never_gets_null_content(
    make_rm: Callable[..., RunManager], workdir: Any
) -> None:
    """A server that refuses an assistant message with ``content: null`` (llama-cpp-python's
    does, with a 500): after a tool call, the next turns still work."""
    (workdir / "train.py").write_text("lr = 0.1\n")
    with FakeOpenAI(api_key=KEY, strict_content=True) as server:
        server.diagnosis_replies.append(Reply(text="Diagnosed."))
        server.chat_replies += [
            Reply(tool_calls=[("read_file", {"path": "train.py"})]),
            Reply(text="It sets lr."),
            Reply(text="Still here."),
        ]
        rm = make_rm([FAILING], llm=llm(server))
        rm.start()
        await rm.wait(timeout=30, llm=True)
        first = await rm.llm_manager.chat("j", "what does train.py do?")
        second = await rm.llm_manager.chat("j", "and now?")
        assert first.error is None and first.text == "It sets lr.", first
        assert second.error is None and second.text == "Still here.", second
        assert [r.error for r in server.requests if r.error] == []


def test_normalised_messages_answer_every_call_once() -> None:
    from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

    from adaptive_llm.chat.bounds import MISSING_RESULT, normalise_messages

    call = AIMessage(
        content="",
        tool_calls=[{"name": "a", "args": {}, "id": "1"}, {"name": "b", "args": {}, "id": "2"}],
    )
    messages = [
        ToolMessage("stray", tool_call_id="0"),
        HumanMessage("hi"),
        call,
        ToolMessage("one", tool_call_id="1"),
        ToolMessage("one again", tool_call_id="1"),
        ToolMessage("not ours", tool_call_id="9"),
        HumanMessage("next"),
    ]
    out = normalise_messages(messages, strict=True)
    shape = [(type(m).__name__, m.text, getattr(m, "tool_call_id", None)) for m in out]
    assert shape == [
        ("HumanMessage", "hi", None),
        ("AIMessage", " ", None),
        ("ToolMessage", "one", "1"),
        ("ToolMessage", MISSING_RESULT, "2"),
        ("HumanMessage", "next", None),
    ], shape
    assert normalise_messages(messages[1:2], strict=False)[0] is messages[1]


async def test_a_server_that_is_down_is_named_in_the_chat(
    make_rm: Callable[..., RunManager],
) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    spec = {"model": "openai:tiny", "base_url": url, "api_key": KEY, "max_retries": 0}
    rm = make_rm([FAILING], llm=spec)
    rm.start()
    await rm.wait(timeout=30)
    reply = await asyncio.wait_for(rm.llm_manager.chat("j", "still there?"), 60)
    assert reply.error is not None and url in reply.error, reply
    assert "Traceback" not in reply.error


def test_invalid_tool_calls_are_not_sent_again() -> None:
    """A call cut off by the output limit comes back as an invalid tool call; sent again, a
    strict server refuses every later request (llama-server does)."""
    from langchain_core.messages import AIMessage, HumanMessage

    from adaptive_llm.chat.bounds import normalise_messages

    cut = AIMessage(
        content="Let me write it",
        invalid_tool_calls=[
            {"name": "write_file", "args": '{"path": "a', "id": "x", "error": None}
        ],
    )
    out = normalise_messages([HumanMessage("hi"), cut, HumanMessage("and?")], strict=True)
    assert [type(m).__name__ for m in out] == ["HumanMessage", "AIMessage", "HumanMessage"]
    assert out[1].text == "Let me write it" and out[1].invalid_tool_calls == []  # type: ignore[attr-defined]
