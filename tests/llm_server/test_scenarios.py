"""The product against the real local model server of ``.ci/llm-up`` (llama-server with
SmolLM2-135M), through two provider protocols: OpenAI's (langchain-openai, at ``/v1``) and
Anthropic's Messages API (langchain-anthropic, at ``/v1/messages`` of the same server).

Each scenario drives the real ``RunManager``: a real job that fails in a tmp workdir, its real
offline and LLM diagnoses, the chat's agent with our middleware, the real SQLite store and
checkpointer, as a user with a local model would. The model is tiny and its answers are
nonsense: the tests assert on the plumbing (events, approvals, files, history, usage, errors),
never on the wording. Where the tiny model would never pick a tool, a small test-side subclass
of the real client forces one (``tool_choice``) on the first call of a turn only.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from langchain_anthropic import ChatAnthropic
from langchain_core.messages import HumanMessage
from langchain_openai import ChatOpenAI
from llm_servers import Relay, SpareServer

from adaptive_llm import Job, LocalScheduler, ModelLimits, RunManager
from adaptive_llm.chat.events import ChatEvent, ChatReply

pytestmark = pytest.mark.llm_server

PROTOCOLS = ("openai", "anthropic")

#: Output tokens per call: the tiny model rambles to the limit, at about 25 tokens/s.
MAX_OUTPUT = 64
LIMITS = ModelLimits(max_output_tokens=MAX_OUTPUT, call_timeout=150, turn_timeout=300)

SCRIPT = "scale = 0\nresult = 10 / scale\nprint(result)\n"
#: The same job in every test (with the same workdir path: the same prompt, kept in the
#: server's prompt cache).
JOB = Job("train", [sys.executable, "train.py"])


# -- the model, by protocol ---------------------------------------------------------------------


def spec(protocol: str, base_url: str, **extra: Any) -> dict[str, Any]:
    """The README's dict for a local server speaking ``protocol`` (``base_url``: the OpenAI
    base URL, ``http://HOST:PORT/v1``); no key (the product gives a placeholder)."""
    if protocol == "openai":
        options: dict[str, Any] = {"model": "openai:smollm2", "base_url": base_url}
    else:  # the Anthropic client adds /v1/messages to the server's root
        options = {"model": "anthropic:smollm2", "base_url": base_url.removesuffix("/v1")}
    return {"temperature": 0, **options, **extra}


class _ForceWriteFile:
    """Offer only ``write_file``, with its arguments bounded (the path one known name, the
    content short, so a call ends well within the output limit), and force a call to it on
    the first model call of a turn (the last message is the user's); later calls of the turn
    may call no tool (``tool_choice`` "none"), so the model answers the tool's result.

    llama-server forces a call only with ``tool_choice`` "required" (LangChain's "any"); a named
    choice is ignored. The bounds become part of the server's grammar. (The same small tool
    list on every call also keeps the prompt in the server's cache.)"""

    choice: Any
    no_tool: Any
    content_schema: Any

    def _forced(self, messages: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
        tools = kwargs.get("tools")
        if not tools:
            return kwargs
        narrowed = []
        for tool in tools:
            function = tool.get("function", tool)
            if function.get("name") != "write_file":
                continue
            key = "parameters" if "parameters" in function else "input_schema"
            schema = dict(function[key])
            schema["properties"] = {
                "path": {"type": "string", "enum": ["notes.txt"]},
                "content": self.content_schema,
            }
            function = {**function, key: schema}
            narrowed.append({**tool, "function": function} if "function" in tool else function)
        assert narrowed, f"the agent offers no write_file tool: {tools!r}"
        first = bool(messages) and isinstance(messages[-1], HumanMessage)
        return {**kwargs, "tools": narrowed, "tool_choice": self.choice if first else self.no_tool}

    async def _astream(  # type: ignore[no-untyped-def]
        self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any
    ):
        forced = self._forced(messages, kwargs)
        async for chunk in super()._astream(messages, stop, run_manager, **forced):  # type: ignore[misc]
            yield chunk

    async def _agenerate(  # type: ignore[no-untyped-def]
        self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any
    ):
        forced = self._forced(messages, kwargs)
        return await super()._agenerate(messages, stop, run_manager, **forced)  # type: ignore[misc]


#: The written content's bounds: short, so the forced call ends well within the output limit.
SHORT = {"type": "string", "minLength": 1, "maxLength": 24}


class ForcingChatOpenAI(_ForceWriteFile, ChatOpenAI):
    choice: Any = "required"
    no_tool: Any = "none"
    content_schema: Any = SHORT


class ForcingChatAnthropic(_ForceWriteFile, ChatAnthropic):
    choice: Any = {"type": "any"}
    no_tool: Any = {"type": "none"}
    content_schema: Any = SHORT


def forcing_model(protocol: str, base_url: str, **fields: Any) -> Any:
    """The real client of ``protocol`` that forces ``write_file`` on a turn's first call (no
    output limit of its own: the product's is what bounds it)."""
    options = {"model": "smollm2", "api_key": "none", "temperature": 0, **fields}
    if protocol == "openai":
        return ForcingChatOpenAI(base_url=base_url, **options)
    return ForcingChatAnthropic(base_url=base_url.removesuffix("/v1"), **options)


# -- helpers ------------------------------------------------------------------------------------


@pytest.fixture(params=PROTOCOLS)
def protocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def reset_http_clients() -> None:
    """langchain-openai and langchain-anthropic share one cached ``httpx.AsyncClient`` per base
    URL across event loops (langchain-ai/langchain#35783): its pooled connections belong to the
    loop that opened them, and a later loop reusing one fails with "Event loop is closed".
    A notebook has one loop; each test here has its own, so each starts with fresh clients."""
    from langchain_anthropic import _client_utils as anthropic_clients
    from langchain_openai.chat_models import _client_utils as openai_clients

    openai_clients._cached_async_httpx_client.cache_clear()
    anthropic_clients._get_default_async_httpx_client.cache_clear()


@pytest.fixture(autouse=True)
def _fresh_http_clients() -> None:
    reset_http_clients()


async def _fail_and_diagnose(rm: RunManager, *, llm: bool) -> RunManager:
    rm.start()
    await rm.wait(timeout=60)
    if llm:
        await rm.wait(timeout=300, llm=True)
    return rm


@pytest.fixture(scope="module")
def failed_runs(
    llm_base_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str, Path], Path]:
    """``failed_runs(protocol, workdir)``: the state directory of a run whose job failed and
    got both diagnoses (the LLM's through ``protocol``), made once per protocol and module.

    Each test starts its RunManager on a copy (as after a kernel restart: the job, its
    attempt and the diagnoses come from the store). A diagnosis computed anew would differ in
    its ``elapsed_ms``, which the chat's system prompt carries: the server's prompt cache would
    then miss from there on, some 1,200 tokens of the job's facts and the tool schemas, 20-50 s
    of prompt processing per test on one thread."""
    saved: dict[str, Path] = {}

    def get(protocol: str, workdir: Path) -> Path:
        if protocol not in saved:
            (workdir / "train.py").write_text(SCRIPT)

            async def once() -> tuple[str | None, Path]:
                rm = RunManager(
                    [JOB],
                    workdir=workdir,
                    llm=spec(protocol, llm_base_url),
                    llm_limits=LIMITS,
                    scheduler=LocalScheduler(kill_grace=0.5),
                    poll_interval=0.1,
                )
                try:
                    await _fail_and_diagnose(rm, llm=True)
                    return rm.llm_manager.llm_diagnosis_text(JOB.name), rm.state_dir
                finally:
                    await rm.close()

            # On a loop of its own (the test's is running): a thread, as asyncio.run wants.
            with ThreadPoolExecutor(1) as pool:
                text, state = pool.submit(asyncio.run, once()).result()
            reset_http_clients()  # their connections belong to that loop, now closed
            assert text and not text.startswith("(LLM diagnosis unavailable"), text
            target = tmp_path_factory.mktemp(f"failed-{protocol}") / "state"
            shutil.copytree(state, target)
            shutil.rmtree(state)
            saved[protocol] = target
        return saved[protocol]

    return get


@pytest.fixture
def run(
    make_rm: Callable[..., RunManager],
    workdir: Path,
    failed_runs: Callable[[str, Path], Path],
    request: pytest.FixtureRequest,
) -> Callable[..., Any]:
    """``await run(llm, protocol=..., **kwargs)``: a started RunManager on ``workdir`` whose job
    failed (a real ``ZeroDivisionError``) and is diagnosed, offline and by the model.

    With ``protocol`` the run is a copy of ``failed_runs(protocol)`` (the same job context,
    byte for byte, in every test); without it the job runs and is diagnosed anew (``wait_llm``:
    wait for the LLM diagnosis too)."""
    if "protocol" in request.fixturenames:
        # Made now, before the test makes its model: a client made earlier would hold the
        # cached connection pool of the saved run's loop, closed by then.
        failed_runs(request.getfixturevalue("protocol"), workdir)

    async def factory(
        llm: Any, *, protocol: str | None = None, wait_llm: bool = True, **kwargs: Any
    ) -> RunManager:
        kwargs.setdefault("llm_limits", LIMITS)
        if protocol is not None:
            saved = failed_runs(protocol, workdir)
            shutil.rmtree(workdir / ".adaptive_llm", ignore_errors=True)
            shutil.copytree(saved, workdir / ".adaptive_llm")
        (workdir / "train.py").write_text(SCRIPT)
        rm = make_rm([JOB], llm=llm, **kwargs)
        return await _fail_and_diagnose(rm, llm=wait_llm)

    return factory


async def say(rm: RunManager, text: str, way: str) -> ChatReply:
    """One turn, the API's way (``call``: ``lm.chat``, the model called without streaming) or
    the widget's (``stream``: ``lm.chat_stream``, the model streamed token by token)."""
    lm = rm.llm_manager
    if way == "call":
        return await lm.chat(JOB.name, text)
    return ChatReply.of_events([e async for e in lm.chat_stream(JOB.name, text)])


def of_type(events: list[ChatEvent], kind: str) -> list[ChatEvent]:
    return [e for e in events if e.type == kind]


def sides_of(diff: str) -> tuple[str, str]:
    """The whole old and new text a unified diff of one small file shows (context lines on
    both sides, ``-`` old, ``+`` new, ``\\ No newline`` ends the line before it)."""
    old: list[str] = []
    new: list[str] = []
    last: list[list[str]] = []
    for line in diff.splitlines(keepends=True)[2:]:  # the ---/+++ header
        if line.startswith("@@"):
            continue
        if line.startswith("\\"):
            for side in last:
                side[-1] = side[-1].removesuffix("\n")
            continue
        mark, text = line[0], line[1:]
        last = {" ": [old, new], "-": [old], "+": [new]}[mark]
        for side in last:
            side.append(text)
    return "".join(old), "".join(new)


def check_usage(rm: RunManager, *, calls_at_least: int = 1) -> Any:
    usage = rm.llm_manager.usage(JOB.name)
    assert usage.input_tokens > 0 and usage.output_tokens > 0, usage
    assert usage.calls >= calls_at_least, usage
    # Every call's output is bounded by the product's limit. The server's count is exact; an
    # estimate (4 characters a token) of a small model's output may run over it (one token can
    # be a long run of spaces): it is bounded loosely, still far below an unbounded ramble.
    reported = usage.output_tokens - usage.estimated_output_tokens
    assert reported <= usage.calls * (MAX_OUTPUT + 8), usage
    assert usage.estimated_output_tokens <= usage.calls * 4 * MAX_OUTPUT, usage
    return usage


# -- a plain turn -------------------------------------------------------------------------------


async def test_a_plain_turn_streams_its_reply(
    run: Callable[..., Any], protocol: str, llm_base_url: str
) -> None:
    rm = await run(spec(protocol, llm_base_url), protocol=protocol)
    lm = rm.llm_manager

    events = [e async for e in lm.chat_stream(JOB.name, "Why did my job fail?")]

    assert of_type(events, "error") == [], events
    tokens = of_type(events, "token")
    assert len(tokens) >= 2, f"expected the reply in several chunks, got {events!r}"
    assert [e.type for e in events][-1] == "done"
    streamed = "".join(e.text for e in tokens)
    assert streamed.strip()
    assert events[-1].text == streamed  # the stored reply is what was streamed
    history = await lm.history(JOB.name)
    assert [m.role for m in history] == ["diagnosis", "user", "assistant"], history
    assert history[-1].text == streamed
    check_usage(rm)


async def test_a_second_turn_carries_the_first(
    run: Callable[..., Any], protocol: str, llm_base_url: str
) -> None:
    rm = await run(spec(protocol, llm_base_url), protocol=protocol)
    lm = rm.llm_manager
    first = await lm.chat(JOB.name, "Why did my job fail?")
    assert first.error is None, first
    after_one = lm.usage(JOB.name)

    second = await lm.chat(JOB.name, "How do I fix it?")

    assert second.error is None, second
    roles = [m.role for m in await lm.history(JOB.name)]
    assert roles == ["diagnosis", "user", "assistant", "user", "assistant"], roles
    usage = check_usage(rm, calls_at_least=2)
    # The second call sent the first turn too: more input than the first call's.
    assert usage.input_tokens - after_one.input_tokens > after_one.input_tokens, (after_one, usage)


async def test_usage_the_server_reports_is_not_estimated(
    run: Callable[..., Any], protocol: str, llm_base_url: str
) -> None:
    """Streamed (the widget's turn): OpenAI's protocol reports usage only when asked
    (``stream_usage``, not asked by default for a custom base URL): then both counts are the
    server's. Over Anthropic's, llama-server's ``message_delta`` carries the output tokens
    only (the real API repeats the input there), so langchain-anthropic reports 0 input
    tokens, and the product estimates them, marked as estimated. Not streamed (``lm.chat``):
    the answer's usage is whole over both protocols, nothing estimated."""
    extra = {"stream_usage": True} if protocol == "openai" else {}
    rm = await run(spec(protocol, llm_base_url, **extra), protocol=protocol)

    reply = await say(rm, "Why did my job fail?", "stream")

    assert reply.error is None, reply
    usage = check_usage(rm)
    assert usage.estimated_output_tokens == 0, usage
    if protocol == "openai":
        assert usage.estimated_input_tokens == 0, usage
    else:
        assert usage.estimated_input_tokens == usage.input_tokens > 0, usage

    again = await say(rm, "And how do I fix it?", "call")

    assert again.error is None, again
    total = check_usage(rm, calls_at_least=2)
    assert total.calls == usage.calls + 1, (usage, total)
    assert total.input_tokens > 2 * usage.input_tokens  # it sent the first turn too
    assert (total.estimated_input_tokens, total.estimated_output_tokens) == (
        usage.estimated_input_tokens,
        usage.estimated_output_tokens,
    ), (usage, total)


# -- the LLM diagnosis ------------------------------------------------------------------------


async def test_the_llm_diagnosis_arrives_in_the_background(
    run: Callable[..., Any], protocol: str, llm_base_url: str
) -> None:
    rm = await run(spec(protocol, llm_base_url), wait_llm=False)
    lm = rm.llm_manager
    assert lm.cached(JOB.name) is not None  # the offline diagnosis, without waiting for the model

    await rm.wait(timeout=300, llm=True)

    text = lm.llm_diagnosis_text(JOB.name)
    assert text and not text.startswith("(LLM diagnosis unavailable"), text
    assert lm.llm_calls == 1
    # The chat's facts carry it from now on.
    facts = lm.chat_service().job_context(JOB.name)
    assert facts["llm_diagnosis"] == text


# -- a history beyond the context ---------------------------------------------------------------


async def test_a_history_beyond_the_context_is_fitted(
    run: Callable[..., Any], protocol: str, llm_base_url: str
) -> None:
    """A message of some 20,000 tokens (the server's context is 8,192: sent as it is, the
    server refuses it with a 400): the turn is fitted and answered, the stored conversation
    keeps the whole message, and the next turn works. (A small ``context_tokens`` keeps what
    is sent, and so the prompt processing on one thread, short.)"""
    limits = ModelLimits(
        max_output_tokens=MAX_OUTPUT, call_timeout=150, turn_timeout=300, context_tokens=3072
    )
    rm = await run(spec(protocol, llm_base_url), protocol=protocol, llm_limits=limits)
    lm = rm.llm_manager
    huge = "Here is my whole log again: " + "overflow line\n" * 10_000

    first = await lm.chat(JOB.name, huge)
    second = await lm.chat(JOB.name, "And in short?")

    assert first.error is None, first
    assert second.error is None, second
    history = await lm.history(JOB.name)
    assert [m.role for m in history] == ["diagnosis", "user", "assistant", "user", "assistant"]
    assert history[1].text == huge  # fitting shortens what is sent, never what is stored


# -- a server that dies, and one that never answers -----------------------------------------


async def test_a_killed_server_is_named_and_the_chat_recovers(
    run: Callable[..., Any], protocol: str, spare_server: SpareServer
) -> None:
    spare_server.kill()
    if spare_server.process is None:
        spare_server.start()
    rm = await run(spec(protocol, spare_server.base_url), protocol=protocol)
    lm = rm.llm_manager

    spare_server.kill()  # as a crash: SIGKILL
    down = await lm.chat(JOB.name, "Why did my job fail?")

    assert down.error is not None, down
    assert spare_server.root_url in down.error, down.error  # names the endpoint
    assert "onnect" in down.error, down.error  # and says what went wrong
    assert of_type(down.events, "token") == []

    spare_server.start()
    back = await lm.chat(JOB.name, "Why did my job fail?")

    assert back.error is None, back
    assert back.text.strip()
    roles = [m.role for m in await lm.history(JOB.name)]
    # The failed turn left the user's message, and nothing a server could refuse.
    assert roles == ["diagnosis", "user", "user", "assistant"], roles


@pytest.mark.parametrize("bound", ["call", "turn"])
async def test_a_server_that_never_answers_times_out_cleanly(
    run: Callable[..., Any],
    make_rm: Callable[..., RunManager],
    protocol: str,
    bound: str,
    relay: Relay,
) -> None:
    if bound == "call":
        limits = ModelLimits(max_output_tokens=MAX_OUTPUT, call_timeout=3, turn_timeout=300)
        expected = "model call"
    else:
        limits = ModelLimits(max_output_tokens=MAX_OUTPUT, call_timeout=150, turn_timeout=3)
        expected = "chat turn"
    rm = await run(spec(protocol, relay.base_url), protocol=protocol, llm_limits=limits)
    lm = rm.llm_manager

    started = time.monotonic()
    silent = await asyncio.wait_for(lm.chat(JOB.name, "Why did my job fail?"), 60)
    took = time.monotonic() - started

    assert relay.accepted >= 1  # it did reach the server
    assert silent.error is not None, silent
    assert f"the {expected} " in silent.error and "within 3 s" in silent.error, silent.error
    assert relay.root_url in silent.error, silent.error
    assert took < 30, took  # the bound, not the client's default of 10 minutes

    relay.silent = False  # the server answers again
    await rm.close()  # and the kernel restarts, with the usual bounds: the stored chat goes on
    again = make_rm([JOB], llm=spec(protocol, relay.base_url), llm_limits=LIMITS)
    again.start()
    await again.wait(timeout=60, llm=True)
    back = await again.llm_manager.chat(JOB.name, "Why did my job fail?")

    assert back.error is None, back
    assert back.text.strip()
    roles = [m.role for m in await again.llm_manager.history(JOB.name)]
    assert roles == ["diagnosis", "user", "user", "assistant"], roles


# -- approvals ------------------------------------------------------------------------------


OLD = "first line\nsecond line\n"


@pytest.mark.parametrize(("decision", "way"), [("approve", "call"), ("reject", "stream")])
async def test_a_forced_edit_waits_for_the_decision(
    run: Callable[..., Any],
    protocol: str,
    decision: str,
    way: str,
    llm_base_url: str,
    workdir: Path,
) -> None:
    """The call arrives whole (``lm.chat``) or streamed in pieces (the widget's way)."""
    notes = workdir / "notes.txt"
    notes.write_text(OLD)
    rm = await run(forcing_model(protocol, llm_base_url), protocol=protocol)
    lm = rm.llm_manager

    reply = await say(rm, "Put a note in notes.txt.", way)

    assert reply.error is None, reply
    calls = [e.data for e in of_type(reply.events, "tool_call")]
    assert calls and all(c["name"] == "write_file" for c in calls), reply.events
    # One change per call that changes something (the tiny model often repeats its call; a
    # repeat that would write what the first one writes is refused, not asked).
    assert 1 <= len(reply.approvals) <= len(calls), reply
    pending = await lm.pending(JOB.name)
    assert [a.key for a in pending] == [a.key for a in reply.approvals]
    assert notes.read_text() == OLD  # nothing happens before the decision
    # The change shows its full diff: the whole file before and after.
    first = reply.approvals[0]
    # (a repeated call may come without its content: refused, never asked)
    content = {c["id"]: c["args"].get("content") for c in calls}
    assert first.tool == "write_file" and first.path == "notes.txt", first
    assert first.diff, first
    assert first.diff.startswith("--- a/notes.txt\n+++ b/notes.txt\n"), first.diff
    assert sides_of(first.diff) == (OLD, content[first.tool_call_id]), first.diff

    answer = await say(rm, decision, way)

    assert answer.error is None, answer
    assert await lm.pending(JOB.name) == []
    results = of_type(answer.events, "tool_result") + of_type(answer.events, "applied")
    status = {e.data["tool_call_id"]: e.data["status"] for e in results}
    for approval in reply.approvals:
        assert status[approval.tool_call_id] == ("success" if decision == "approve" else "error")
    if decision == "approve":
        assert notes.read_text() == content[reply.approvals[-1].tool_call_id]
    else:
        assert notes.read_text() == OLD
    # The server accepted the tool-call messages and their results: the model answered.
    history = await lm.history(JOB.name)
    assert history[-1].role == "assistant" and not history[-1].tool_calls, history
    tool_answers = [m for m in history if m.role == "tool"]
    assert len(tool_answers) == len(calls), history


@pytest.mark.parametrize("way", ["call", "stream"])
async def test_a_call_cut_off_by_the_output_limit_does_not_break_the_chat(
    run: Callable[..., Any], protocol: str, way: str, llm_base_url: str, workdir: Path
) -> None:
    """The forced call's content must be longer than the output limit allows: the call is cut
    off. llama-server then closes the JSON itself and sends a valid call with the content cut
    short (a client could also get it as an invalid call, which is never sent back: llama-server
    refuses such a history with a 500 over OpenAI's protocol, the Anthropic API refuses an
    unanswered ``tool_use``). Either way nothing is written unasked, what is asked shows the
    cut content, and the next turns work."""
    long_content = {"type": "string", "minLength": 200, "maxLength": 300}
    model = forcing_model(protocol, llm_base_url, content_schema=long_content)
    # 24 tokens: fewer than the call's JSON needs, whatever the tokens (runs of spaces make
    # long ones).
    limits = ModelLimits(max_output_tokens=24, call_timeout=150, turn_timeout=300)
    rm = await run(model, protocol=protocol, llm_limits=limits)
    lm = rm.llm_manager
    notes = workdir / "notes.txt"

    cut = await say(rm, "Put a long note in notes.txt.", way)

    assert cut.error is None, cut
    assert not notes.exists()
    for approval in cut.approvals:
        assert approval.diff is not None
        assert len(sides_of(approval.diff)[1]) < 200, approval.diff  # the cut content, shown
    if cut.approvals:
        rejected = await say(rm, "reject", way)
        assert rejected.error is None, rejected
    assert await lm.pending(JOB.name) == []

    again = await say(rm, "Try once more.", way)

    assert again.error is None, again
    assert not notes.exists()


async def test_an_anthropic_base_url_with_v1_is_explained(
    run: Callable[..., Any], llm_base_url: str
) -> None:
    """The OpenAI-style base URL (``.../v1``) given to the Anthropic client: it asks for
    ``/v1/v1/messages`` and the server answers 404 "File Not Found". The diagnosis and the
    chat name the endpoint and say which URL to give instead."""
    wrong = {"model": "anthropic:smollm2", "base_url": llm_base_url}
    rm = await run(wrong)
    lm = rm.llm_manager

    reply = await lm.chat(JOB.name, "Why did my job fail?")

    root = llm_base_url.removesuffix("/v1")
    for text in (reply.error, lm.llm_diagnosis_text(JOB.name)):
        assert text is not None and "404" in text, text
        assert f"endpoint {llm_base_url}" in text, text
        assert f"base_url '{root}'" in text, text
