"""Extra tools (``RunManager(..., tools=[...])``): declared local ones run at once, bounded and
redacted; ones that send data wait for an approval that shows the destination and every
argument, and run only once approved. Real RunManager, a real failing job, a real HTTP server
on 127.0.0.1, the scripted model calling the tools."""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
import threading
import time
import urllib.parse
import urllib.request
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from chat_support import (
    ChatScript,
    StartChat,
    approval_rows,
    calls,
    check_order,
    thread_messages,
)
from conftest import FAILING
from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool, StructuredTool, tool

import adaptive_llm
from adaptive_llm import RunManager, local_tool, sends_data, web_search_tool
from adaptive_llm.chat.actions.runner import MAX_THREADS, OUTPUT_LIMIT
from adaptive_llm.testing import tool_call

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from langchain_community.tools import SearxSearchRun
    from langchain_community.utilities import SearxSearchWrapper

AWS = "AKIAIOSFODNN7EXAMPLE"
GITHUB = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"


# -- a real server on 127.0.0.1 ------------------------------------------------------------------


@dataclass
class Server:
    """What the server on 127.0.0.1 received: one entry per request (path, query, body)."""

    port: int
    requests: list[dict[str, Any]] = field(default_factory=list)
    answer: str = ""

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"


@pytest.fixture
def server() -> Iterator[Server]:
    box: list[Server] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            url = urllib.parse.urlsplit(self.path)
            box[0].requests.append(
                {"path": url.path, "query": urllib.parse.parse_qs(url.query), "body": body}
            )
            text = box[0].answer or json.dumps(
                {
                    "query": "q",
                    "answers": [],
                    "results": [
                        {"title": "T", "url": "https://x.example", "content": "Use pip install."}
                    ],
                }
            )
            data = text.encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _answer

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    box.append(Server(httpd.server_address[1]))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield box[0]
    finally:
        httpd.shutdown()
        httpd.server_close()


def poster(server: Server, name: str = "post_error") -> BaseTool:
    """A sync-only tool that POSTs its arguments to the server (undeclared)."""

    def post_error(text: str, tag: str = "none") -> str:
        """Post an error text to the team's tracker."""
        body = json.dumps({"text": text, "tag": tag}).encode()
        request = urllib.request.Request(f"http://{server.host}/post", data=body, method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            return str(response.read().decode())

    made = tool(post_error)
    made.name = name
    return made


def searx(server: Server) -> BaseTool:
    """langchain-community's Searx tool, on the server (async: aiohttp)."""
    return SearxSearchRun(wrapper=SearxSearchWrapper(searx_host=f"http://{server.host}/search"))


async def tool_messages(rm: RunManager, name: str = "j") -> list[ToolMessage]:
    return [m for m in await thread_messages(rm, name) if isinstance(m, ToolMessage)]


# -- local tools -------------------------------------------------------------------------------


async def test_a_local_tool_runs_without_asking(start_chat: StartChat) -> None:
    seen: list[str] = []

    @local_tool
    def lookup(word: str) -> str:
        """Look a word up in the local glossary."""
        seen.append(word)
        return f"{word}: a glossary entry"

    script = ChatScript([tool_call("lookup", {"word": "boom"}, id="c1"), "It is in the glossary."])
    rm = await start_chat(script, tools=[lookup])
    reply = await rm.llm_manager.chat("j", "what is boom?")
    assert reply.error is None and reply.approvals == []
    assert reply.text == "It is in the glossary."
    assert seen == ["boom"]
    [message] = await tool_messages(rm)
    assert message.status == "success" and message.text == "boom: a glossary entry"
    assert approval_rows(rm) == []  # nothing was put to the user
    await check_order(rm, "j")


async def test_a_local_tool_that_raises_is_a_tool_error_and_the_chat_goes_on(
    start_chat: StartChat,
) -> None:
    @local_tool
    def broken(word: str) -> str:
        """Always fails."""
        raise RuntimeError(f"kaput while reading {word}, token={GITHUB}")

    script = ChatScript([tool_call("broken", {"word": "x"}, id="c1"), "It failed.", "Still here."])
    rm = await start_chat(script, tools=[broken])
    reply = await rm.llm_manager.chat("j", "try it")
    assert reply.error is None and reply.text == "It failed."
    [message] = await tool_messages(rm)
    assert message.status == "error"
    assert "RuntimeError" in message.text and "kaput while reading x" in message.text
    assert GITHUB not in message.text and "REDACTED" in message.text
    again = await rm.llm_manager.chat("j", "hello")
    assert again.error is None and again.text == "Still here."


async def test_local_tool_arguments_are_checked_strictly(start_chat: StartChat) -> None:
    calls: list[Any] = []

    @local_tool
    def repeat(text: str, times: int = 1) -> str:
        """Repeat a text."""
        calls.append((text, times))
        return text * times

    script = ChatScript(
        [
            tool_call("repeat", {"text": "a", "times": "3"}, id="c1"),  # a string for an int
            tool_call("repeat", {"text": "a", "shell": "rm -rf /"}, id="c2"),  # unknown field
            "Both refused.",
        ]
    )
    rm = await start_chat(script, tools=[repeat])
    reply = await rm.llm_manager.chat("j", "repeat")
    assert reply.error is None and calls == []
    first, second = await tool_messages(rm)
    assert first.status == "error" and "times" in first.text
    assert second.status == "error" and "unknown field 'shell'" in second.text


async def test_a_slow_sync_tool_never_blocks_the_loop_and_times_out(start_chat: StartChat) -> None:
    release = threading.Event()
    started = threading.Event()

    @local_tool(timeout=0.5)
    def slow(word: str) -> str:
        """Takes its time."""
        started.set()
        release.wait(20)  # a sync call that blocks its thread (never the event loop)
        return "late"

    gaps: list[float] = []

    async def ticker() -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.02)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    script = ChatScript([tool_call("slow", {"word": "x"}, id="c1"), "It was too slow."])
    rm = await start_chat(script, tools=[slow])
    tick = asyncio.create_task(ticker())
    began = time.monotonic()
    try:
        reply = await rm.llm_manager.chat("j", "go")
    finally:
        tick.cancel()
        release.set()
    took = time.monotonic() - began
    assert started.is_set() and reply.error is None and reply.text == "It was too slow."
    assert took < 10
    assert max(gaps) < 0.4, max(gaps)  # the loop kept running while the tool slept
    [message] = await tool_messages(rm)
    assert message.status == "error" and "did not answer within 0.5s" in message.text


async def test_huge_output_is_capped_and_secrets_are_redacted(start_chat: StartChat) -> None:
    @local_tool
    def dump(what: str) -> str:
        """Dump a big local report."""
        middle = "".join(f"line {i} of the middle\n" for i in range(300_000))
        return f"HEAD aws={AWS}\n{middle}TAIL token {GITHUB}\n"

    @local_tool
    def env(what: str) -> str:
        """Print the environment."""
        return f"HOME=/home/u\nDB_PASSWORD=hunter2hunter2\nGITHUB_TOKEN={GITHUB}\n"

    script = ChatScript(
        [
            tool_call("dump", {"what": "all"}, id="c1"),
            tool_call("env", {"what": "x"}, id="c2"),
            "ok",
        ]
    )
    rm = await start_chat(script, tools=[dump, env])
    reply = await rm.llm_manager.chat("j", "show me")
    assert reply.error is None
    big, small = await tool_messages(rm)
    assert big.status == "success" and len(big.text) <= OUTPUT_LIMIT + 100
    assert big.text.startswith("HEAD aws=") and big.text.rstrip().startswith("HEAD")
    assert "characters cut ...]" in big.text and "TAIL token" in big.text
    assert AWS not in big.text and GITHUB not in big.text
    assert "hunter2" not in small.text and GITHUB not in small.text
    assert "HOME=/home/u" in small.text and "DB_PASSWORD=" in small.text


# -- tools that send data ------------------------------------------------------------------------

ARGS = {
    "text": "Traceback (most recent call last):\n  RuntimeError: boom\u202e" + "x" * 3000 + " end",
    "tag": "ci",
}


def shown_arguments(command: str) -> dict[str, Any]:
    """The arguments as the approval shows them (the JSON after the header lines)."""
    _, _, body = command.partition("Arguments, sent exactly as shown:\n")
    data: dict[str, Any] = json.loads(body)
    return data


async def test_sending_waits_for_approval_showing_destination_and_every_argument(
    start_chat: StartChat, server: Server
) -> None:
    post = sends_data(poster(server), to=server.host)
    script = ChatScript(
        [tool_call("post_error", ARGS, id="c1"), "Not posted.", tool_call("post_error", ARGS)]
    )
    script.add("Posted.")
    rm = await start_chat(script, tools=[post])
    lm = rm.llm_manager
    reply = await lm.chat("j", "post the error")
    [approval] = reply.approvals
    assert server.requests == []  # nothing sent before the user decides
    assert approval.tool == "post_error" and approval.kind == "send"
    assert server.host in approval.summary
    assert approval.command is not None
    assert f"Tool: post_error\nSends to: {server.host}\n" in approval.command
    assert shown_arguments(approval.command) == ARGS  # every argument, in full
    assert "\\u202e" in approval.command and "\u202e" not in approval.command  # visible
    await check_order(rm, "j")

    reply = await lm.chat("j", "reject not that")
    assert reply.error is None and reply.text == "Not posted."
    assert server.requests == []  # rejected: never ran
    [rejected] = await tool_messages(rm)
    assert rejected.status == "error" and "rejected by the user" in rejected.text

    reply = await lm.chat("j", "post it after all")
    assert len(reply.approvals) == 1 and server.requests == []
    reply = await lm.chat("j", "approve")
    assert reply.error is None and reply.text == "Posted."
    assert len(server.requests) == 1  # approved: ran once
    assert json.loads(server.requests[0]["body"]) == ARGS
    _, sent = await tool_messages(rm)
    assert sent.status == "success" and "Use pip install." in sent.text
    [row] = [r for r in approval_rows(rm) if r["status"] == "done"]
    assert row["decided_by"] == "user" and json.loads(row["shown"])["to"] == server.host
    await check_order(rm, "j")


async def test_yolo_still_asks_before_sending_allowed_commands_do_not(
    start_chat: StartChat, server: Server
) -> None:
    post = sends_data(poster(server), to=server.host)
    script = ChatScript(
        [
            tool_call("post_error", {"text": "a"}),
            "ok",
            tool_call("post_error", {"text": "b"}),
            "Sent.",
        ]
    )
    rm = await start_chat(script, tools=[post])
    lm = rm.llm_manager
    lm.set_yolo("j", True)
    reply = await lm.chat("j", "post")
    assert len(reply.approvals) == 1 and server.requests == []  # YOLO does not send
    lm.allow_commands("j", True)  # a pending change stays pending
    assert len(await lm.pending("j")) == 1 and server.requests == []
    await lm.chat("j", "reject")
    assert server.requests == []
    reply = await lm.chat("j", "post again")
    assert reply.approvals == [] and reply.text == "Sent."
    assert [json.loads(r["body"])["text"] for r in server.requests] == ["b"]
    [row] = [r for r in approval_rows(rm) if r["status"] == "done"]
    assert row["decided_by"] == "allowed"


async def test_invalid_arguments_of_a_sending_tool_are_refused_never_asked(
    start_chat: StartChat, server: Server
) -> None:
    post = sends_data(poster(server), to=server.host)
    script = ChatScript(
        [
            tool_call("post_error", {"text": "a", "url": "http://evil.example"}),
            tool_call("post_error", {"text": 5}),
            tool_call("post_error", {"text": "x" * 30_000}),
            tool_call("no_such_tool", {"text": "a"}),
            "All refused.",
        ]
    )
    rm = await start_chat(script, tools=[post])
    reply = await rm.llm_manager.chat("j", "post")
    assert reply.error is None and reply.approvals == [] and reply.text == "All refused."
    assert server.requests == []
    texts = [m.text for m in await tool_messages(rm)]
    assert "unknown field 'url'" in texts[0]
    assert "text" in texts[1] and "string" in texts[1]
    assert "too long to show" in texts[2]
    assert "no tool named 'no_such_tool'" in texts[3]
    assert {r["status"] for r in approval_rows(rm)} == {"refused"}


async def test_a_sending_tool_that_raises_after_approval_is_a_tool_error(
    start_chat: StartChat,
) -> None:
    def failing_upload(text: str) -> str:
        """Upload a text."""
        raise ConnectionError(f"could not reach the tracker (password=hunter2hunter2) {text}")

    upload = sends_data(failing_upload, to="tracker.example")
    script = ChatScript([tool_call("failing_upload", {"text": "t"}), "It failed.", "Next."])
    rm = await start_chat(script, tools=[upload])
    lm = rm.llm_manager
    await lm.chat("j", "upload")
    reply = await lm.chat("j", "approve")
    assert reply.error is None and reply.text == "It failed."
    [message] = await tool_messages(rm)
    assert message.status == "error" and "ConnectionError" in message.text
    assert "hunter2" not in message.text
    assert (await lm.chat("j", "and now?")).text == "Next."


async def test_a_community_tool_against_a_server_on_localhost(
    start_chat: StartChat, server: Server
) -> None:
    search = sends_data(searx(server), to=server.host)
    query = "ModuleNotFoundError: No module named 'sklearn'"
    script = ChatScript([tool_call("searx_search", {"query": query}), "Install scikit-learn."])
    rm = await start_chat(script, tools=[search])
    lm = rm.llm_manager
    reply = await lm.chat("j", "search the web for this error")
    [approval] = reply.approvals
    assert approval.command is not None and shown_arguments(approval.command) == {"query": query}
    assert server.requests == []
    reply = await lm.chat("j", "approve")
    assert reply.error is None and reply.text == "Install scikit-learn."
    [request] = server.requests
    assert request["path"] == "/search" and request["query"]["q"] == [query]
    [message] = await tool_messages(rm)
    assert message.status == "success" and message.text == "Use pip install."


async def test_web_search_tool_is_declared_and_gated(start_chat: StartChat) -> None:
    search = web_search_tool()
    assert search.name == "web_search"
    assert search.metadata and search.metadata["adaptive_llm"]["to"] == "duckduckgo.com"
    query = "RuntimeError: boom"
    script = ChatScript([tool_call("web_search", {"query": query}), "Not searched."])
    rm = await start_chat(script, tools=[search])
    reply = await rm.llm_manager.chat("j", "search the web for this error")
    [approval] = reply.approvals
    assert approval.command is not None and "Sends to: duckduckgo.com" in approval.command
    assert shown_arguments(approval.command) == {"query": query}
    reply = await rm.llm_manager.chat("j", "reject")
    assert reply.text == "Not searched."
    [message] = await tool_messages(rm)
    assert message.status == "error" and "rejected" in message.text


def test_web_search_tool_without_the_extra_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "ddgs", None)  # as if the extra were not installed
    with pytest.raises(ImportError, match=r"pip install 'adaptive-llm\[community\]'"):
        web_search_tool()


async def test_the_widget_shows_what_will_be_sent(start_chat: StartChat, server: Server) -> None:
    post = sends_data(poster(server), to=server.host)
    script = ChatScript([tool_call("post_error", {"text": "<b>boom</b>"}), "ok"])
    rm = await start_chat(script, tools=[post])
    chat = adaptive_llm.chat_widget(rm.llm_manager, "j")
    await chat.idle()
    chat.input.value = "post it"
    chat.input._submission_callbacks(chat.input)
    await chat.idle()
    box = chat.approval_box.children[0]
    [card] = [c for c in box.children if "adaptive-llm-approval-card" in c._dom_classes]
    body = card.children[0].value
    assert server.host in body and "post_error" in body
    assert "&lt;b&gt;boom&lt;/b&gt;" in body and "<b>boom</b>" not in body  # shown, inert


# -- restarts --------------------------------------------------------------------------------------


async def pending_then_close(start_chat: StartChat, server: Server) -> str:
    post = sends_data(poster(server), to=server.host)
    rm = await start_chat(ChatScript([tool_call("post_error", ARGS, id="call_r1")]), tools=[post])
    reply = await rm.llm_manager.chat("j", "post it")
    [approval] = reply.approvals
    await rm.close()  # the kernel goes away with the approval pending
    assert approval.command is not None
    return approval.command


async def test_a_pending_send_survives_a_restart_and_runs_once_approved(
    start_chat: StartChat, server: Server
) -> None:
    command = await pending_then_close(start_chat, server)
    post = sends_data(poster(server), to=server.host)
    rm = await start_chat(ChatScript(["Posted."]), tools=[post])
    lm = rm.llm_manager
    [pending] = await lm.pending("j")
    assert pending.command == command and pending.tool_call_id == "call_r1"
    assert server.requests == []
    reply = await lm.chat("j", "approve")
    assert reply.error is None and reply.text == "Posted."
    assert [json.loads(r["body"]) for r in server.requests] == [ARGS]
    await check_order(rm, "j")


async def test_a_pending_send_whose_tool_is_gone_after_a_restart_is_refused(
    start_chat: StartChat, server: Server
) -> None:
    await pending_then_close(start_chat, server)
    rm = await start_chat(ChatScript(["Understood."]))  # the tool is not passed again
    lm = rm.llm_manager
    assert len(await lm.pending("j")) == 1
    reply = await lm.chat("j", "approve")
    assert reply.error is None and reply.text == "Understood."
    assert server.requests == []
    [message] = await tool_messages(rm)
    assert message.status == "error" and "not among this run's tools that send data" in message.text
    await check_order(rm, "j")


async def test_a_pending_send_whose_destination_changed_is_not_sent(
    start_chat: StartChat, server: Server
) -> None:
    await pending_then_close(start_chat, server)
    post = sends_data(poster(server), to="elsewhere.example")
    rm = await start_chat(ChatScript(["Understood."]), tools=[post])
    reply = await rm.llm_manager.chat("j", "approve")
    assert reply.error is None and server.requests == []
    [message] = await tool_messages(rm)
    assert "now sends to elsewhere.example" in message.text


# -- declarations --------------------------------------------------------------------------------


def test_an_undeclared_tool_is_refused_with_how_to_declare_it(
    make_rm: Callable[..., RunManager], server: Server
) -> None:
    with pytest.raises(ValueError, match=r"local_tool\(tool\).*sends_data\(tool, to="):
        make_rm([FAILING], tools=[poster(server)])
    with pytest.raises(ValueError, match="'searx_search' does not say whether it sends data"):
        make_rm([FAILING], tools=[searx(server), local_tool(poster(server))])
    with pytest.raises(TypeError, match="LangChain tools"):
        make_rm([FAILING], tools=[lambda: "not a tool"])
    with pytest.raises(ValueError, match="must name where to"):
        sends_data(poster(server), to="")
    broken = poster(server)
    broken.metadata = {"adaptive_llm": {"access": "sends_data"}}  # declared by hand, no "to"
    with pytest.raises(ValueError, match="must name where to"):
        make_rm([FAILING], tools=[broken])


def test_names_of_built_in_tools_and_duplicates_are_refused(
    make_rm: Callable[..., RunManager], server: Server
) -> None:
    for name in ("read_file", "run_command", "edit_file", "search"):
        with pytest.raises(ValueError, match="built-in tool"):
            make_rm([FAILING], tools=[local_tool(poster(server, name))])
    with pytest.raises(ValueError, match="two extra tools are named 'post_error'"):
        make_rm([FAILING], tools=[local_tool(poster(server)), sends_data(poster(server), to="x")])
    with pytest.raises(ValueError, match="not accepted by model providers"):
        make_rm([FAILING], tools=[local_tool(poster(server, "post error"))])


async def test_tools_changed_after_construction_are_checked_at_chat_start(
    start_chat: StartChat, server: Server
) -> None:
    rm = await start_chat(ChatScript(["hi"]))
    rm.llm_manager.tools.append(poster(server))  # not declared, added before the first turn
    reply = await rm.llm_manager.chat("j", "hello")
    assert reply.error is not None and "does not say whether it sends data" in reply.error
    assert server.requests == []


def test_declarations_mark_the_tool_itself(server: Server, workdir: Path) -> None:
    tool_ = poster(server)
    assert sends_data(tool_, to="tracker.example") is tool_
    assert tool_.metadata == {
        "adaptive_llm": {"access": "sends_data", "to": "tracker.example", "timeout": 30.0}
    }
    with pytest.raises(ValueError, match="timeout"):
        local_tool(poster(server), timeout=0)
    RunManager([FAILING], workdir=workdir, tools=[tool_])  # declared: accepted


CHILD = textwrap.dedent(
    """
    import asyncio, json, os, sys, time
    from langchain_core.tools import tool
    from adaptive_llm import Job, LocalScheduler, RunManager, sends_data
    from adaptive_llm.llm.diagnose import LLM_DIAGNOSIS_PROMPT
    from adaptive_llm.testing import ScriptedChatModel, tool_call

    workdir, port = sys.argv[1], os.environ["EXTRA_TOOL_PORT"]

    @tool
    def post_error(text: str, tag: str = "none") -> str:
        \"\"\"Post an error text to the team's tracker.\"\"\"
        raise AssertionError("never run in the child")

    def script(messages):
        if any(m.type == "system" and m.text.startswith(LLM_DIAGNOSIS_PROMPT[:60])
               for m in messages):
            return "Scripted diagnosis."
        return tool_call("post_error", {"text": "RuntimeError: boom", "tag": "ci"}, id="call_k1")

    async def main():
        job = Job("j", ["/bin/sh", "-c", "echo 'RuntimeError: boom'; exit 1"])
        rm = RunManager([job], workdir=workdir, scheduler=LocalScheduler(kill_grace=0.5),
                        poll_interval=0.1, llm=ScriptedChatModel(script),
                        tools=[sends_data(post_error, to=f"127.0.0.1:{port}")])
        rm.start()
        await rm.wait(timeout=60, llm=True)
        reply = await rm.llm_manager.chat("j", "post it")
        assert reply.approval is not None, reply
        print("APPROVAL-PENDING " + json.dumps({"command": reply.approval.command}), flush=True)
        time.sleep(600)  # the test kills us with the approval pending

    asyncio.run(main())
    """
)


async def test_a_pending_send_survives_a_killed_kernel(
    start_chat: StartChat,
    server: Server,
    workdir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    kill_leftovers: None,
) -> None:
    from test_chat_restart import run_child_until_pending

    monkeypatch.setenv("EXTRA_TOOL_PORT", str(server.port))
    data = await run_child_until_pending(CHILD, workdir, tmp_path)
    assert f"Sends to: {server.host}" in data["command"]
    post = sends_data(poster(server), to=server.host)
    rm = await start_chat(ChatScript(["Posted."]), tools=[post])
    [pending] = await rm.llm_manager.pending("j")
    assert pending.command == data["command"] and server.requests == []
    reply = await rm.llm_manager.chat("j", "approve")
    assert reply.error is None and reply.text == "Posted."
    assert [json.loads(r["body"]) for r in server.requests] == [
        {"text": "RuntimeError: boom", "tag": "ci"}
    ]


async def test_an_argument_that_looks_like_a_secret_is_flagged_and_shown_in_full(
    start_chat: StartChat, server: Server
) -> None:
    post = sends_data(poster(server), to=server.host)
    args = {"text": f"auth failed with token {GITHUB}"}
    rm = await start_chat(ChatScript([tool_call("post_error", args), "ok"]), tools=[post])
    reply = await rm.llm_manager.chat("j", "post")
    [approval] = reply.approvals
    assert "WARNING: an argument looks like it holds a secret" in approval.summary
    assert approval.command is not None and shown_arguments(approval.command) == args
    await rm.llm_manager.chat("j", "reject")
    assert server.requests == []


async def test_a_flood_of_stuck_sync_calls_is_bounded(start_chat: StartChat) -> None:
    release = threading.Event()

    @local_tool(timeout=0.3)
    def stuck(n: int) -> str:
        """Never answers in time."""
        release.wait(20)
        return "late"

    reply = calls(*(("stuck", {"n": n}) for n in range(MAX_THREADS + 3)))
    rm = await start_chat(ChatScript([reply, "Gave up."]), tools=[stuck])
    try:
        answer = await rm.llm_manager.chat("j", "go")
    finally:
        release.set()
    assert answer.error is None and answer.text == "Gave up."
    texts = [m.text for m in await tool_messages(rm)]
    assert len(texts) == MAX_THREADS + 3
    assert sum("did not answer within 0.3s" in t for t in texts) == MAX_THREADS
    assert sum("still running past their timeout" in t for t in texts) == 3


async def test_a_tool_with_a_json_schema_is_checked_against_it(start_chat: StartChat) -> None:
    seen: list[dict[str, Any]] = []

    def count(**kwargs: Any) -> str:
        seen.append(kwargs)
        return f"{len(kwargs)} fields"

    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "limit": {"type": "integer"}},
        "required": ["name"],
    }
    counter = local_tool(
        StructuredTool.from_function(
            count, name="count", description="Count things.", args_schema=schema
        )
    )
    script = ChatScript(
        [
            calls(("count", {"limit": 3}), ("count", {"name": "a", "x": 1})),
            tool_call("count", {"name": "a", "limit": 3}),
            "ok",
        ]
    )
    rm = await start_chat(script, tools=[counter])
    assert (await rm.llm_manager.chat("j", "count")).error is None
    first, second, third = await tool_messages(rm)
    assert first.status == "error" and "'name' is required" in first.text
    assert second.status == "error" and "unknown field 'x'" in second.text
    assert third.status == "success" and seen == [{"name": "a", "limit": 3}]


async def test_langchain_community_requests_tool_shows_the_url_it_will_fetch(
    start_chat: StartChat, server: Server
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from langchain_community.tools.requests.tool import RequestsGetTool
        from langchain_community.utilities.requests import TextRequestsWrapper

    get = sends_data(
        RequestsGetTool(requests_wrapper=TextRequestsWrapper(), allow_dangerous_requests=True),
        to="the URL in its arguments",
    )
    server.answer = f"status: degraded, key={AWS}"
    url = f"http://{server.host}/status?job=j"
    rm = await start_chat(
        ChatScript([tool_call("requests_get", {"url": url}), "Degraded."]), tools=[get]
    )
    lm = rm.llm_manager
    [approval] = (await lm.chat("j", "is the service up?")).approvals
    assert approval.command is not None and shown_arguments(approval.command) == {"url": url}
    assert server.requests == []
    reply = await lm.chat("j", "approve")
    assert reply.error is None and reply.text == "Degraded."
    [request] = server.requests
    assert request["path"] == "/status" and request["query"] == {"job": ["j"]}
    [message] = await tool_messages(rm)
    assert "status: degraded" in message.text and AWS not in message.text  # redacted
