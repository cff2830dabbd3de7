"""Usage, cost and tracing (#13): tokens counted from the provider or estimated (and marked),
kept across restarts; prices; the user's callbacks see every diagnosis call and chat turn;
LangSmith's and Langfuse's environment variables, against recording servers on 127.0.0.1."""

from __future__ import annotations

import gzip
import json
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from chat_support import StartChat
from fake_openai import FakeOpenAI, Reply

from adaptive_llm import Job, RunManager
from adaptive_llm.llm.diagnose import LLM_DIAGNOSIS_PROMPT
from adaptive_llm.llm.prices import estimate_cost, is_local_endpoint, price_of
from adaptive_llm.llm.retry import RetryPolicy
from adaptive_llm.testing import ScriptedChatModel
from adaptive_llm.widgets.chat import chat_widget

pytest.importorskip("langchain_openai")

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import LLMResult

KEY = "test-key"
TRAIN = "import os\n\nraise RuntimeError('boom')\n"
FAILING = Job("j", ["/bin/sh", "-c", "echo 'RuntimeError: boom'; exit 1"])
QUICK = RetryPolicy(attempts=3, initial_delay=0.01, max_delay=0.1, jitter=0.0)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY) as fake:
        yield fake


def model_kwargs(server: FakeOpenAI) -> dict[str, Any]:
    """The README's dict for an OpenAI-compatible server: no ``stream_usage``, so streamed
    chat turns carry no usage (as with a server that streams none)."""
    return {
        "model": "openai:gpt-4.1-mini",
        "base_url": server.base_url,
        "api_key": KEY,
        "max_retries": 0,
    }


def estimated_input(body: dict[str, Any]) -> int:
    """The documented estimate of a request: 4 characters a token of the messages' text and
    tool calls, and of the tools' schemas, rounded up."""
    chars = 0
    for message in body["messages"]:
        content = message.get("content") or ""
        chars += len(content if isinstance(content, str) else json.dumps(content))
        for call in message.get("tool_calls") or []:
            chars += len(call["function"]["name"]) + len(call["function"]["arguments"])
    chars += len(json.dumps(body.get("tools") or [])) if body.get("tools") else 0
    return math.ceil(chars / 4)


def estimated_output(text: str, calls: list[tuple[str, dict[str, Any]]] = ()) -> int:  # type: ignore[assignment]
    return math.ceil((len(text) + sum(len(n) + len(json.dumps(a)) for n, a in calls)) / 4)


async def test_a_server_that_streams_no_usage_is_estimated_marked_and_kept_across_a_restart(
    make_rm: Callable[..., RunManager], server: FakeOpenAI, workdir: Path
) -> None:
    (workdir / "train.py").write_text(TRAIN)
    read = ("read_file", {"path": "train.py"})
    server.diagnosis_replies += [
        Reply(status=429, headers={"Retry-After": "0"}),  # retried: counted once
        Reply(text="train.py raises RuntimeError on line 3."),
    ]
    server.chat_replies += [
        Reply(text="Let me look.", tool_calls=[read]),
        Reply(text="It raises on purpose."),
    ]
    rm = make_rm([FAILING], llm=model_kwargs(server), llm_retry=QUICK)
    rm.start()
    await rm.wait(timeout=30, llm=True)
    lm = rm.llm_manager
    # The widget's way: streamed (``lm.chat`` does not stream; see the test below).
    events = [e async for e in lm.chat_stream("j", "why did it fail?")]
    assert not [e for e in events if e.type == "error"]
    assert [e.text for e in events if e.type == "done"] == ["It raises on purpose."]

    turns = server.routed("chat")
    assert len(turns) == 2 and all(t.body.get("stream") for t in turns)
    assert all("stream_options" not in t.body for t in turns)
    usage = lm.usage("j")
    assert usage.calls == 2 and usage.estimated
    assert usage.input_tokens == usage.estimated_input_tokens
    assert usage.input_tokens == sum(estimated_input(t.body) for t in turns)
    assert usage.output_tokens == usage.estimated_output_tokens
    assert usage.output_tokens == estimated_output("Let me look.", [read]) + estimated_output(
        "It raises on purpose."
    )
    assert usage.cost_usd == 0.0  # a server on 127.0.0.1: one's own, no per-token price

    # The diagnosis call was not streamed: the server's count, not an estimate.
    diagnosis = lm.diagnosis_usage("j")
    answered = server.routed("diagnosis")[-1].body
    assert len(server.routed("diagnosis")) == 2 and diagnosis.calls == 1
    assert not diagnosis.estimated
    assert diagnosis.input_tokens == len(json.dumps(answered["messages"])) // 4
    assert diagnosis.output_tokens == len("train.py raises RuntimeError on line 3.") // 4
    assert lm.diagnosis_usage() == diagnosis  # the run's total: one signature

    widget = chat_widget(lm, "j")
    await widget.idle()
    label = widget.usage_label.value
    assert label.startswith(f"~{usage.total_tokens:,} tokens (estimated:"), label
    assert f"{usage.input_tokens:,} in" in label and "$0.0000" in label
    await rm.close()

    again = make_rm([FAILING], llm=model_kwargs(server))  # a kernel restart
    again.start()
    await again.wait(timeout=30, llm=True)
    assert again.llm_manager.usage("j") == usage
    assert again.llm_manager.diagnosis_usage("j") == diagnosis
    assert len(server.routed("diagnosis")) == 2  # the stored diagnosis, not a new call
    assert again.llm_manager.chat_settings("j")["input_tokens"] == usage.input_tokens


async def test_lm_chat_calls_the_model_without_streaming_and_counts_the_servers_usage(
    make_rm: Callable[..., RunManager], server: FakeOpenAI, workdir: Path
) -> None:
    """``lm.chat`` keeps only the final text: each call is one JSON answer (nothing listens to
    tokens), which carries the server's usage, so nothing is estimated; the reply's text and
    its tool calls are the same as streamed."""
    (workdir / "train.py").write_text(TRAIN)
    read = ("read_file", {"path": "train.py"})
    server.diagnosis_replies.append(Reply(text="train.py raises RuntimeError on line 3."))
    server.chat_replies += [
        Reply(text="Let me look.", tool_calls=[read]),
        Reply(text="It raises on purpose."),
    ]
    rm = make_rm([FAILING], llm=model_kwargs(server), llm_retry=QUICK)
    rm.start()
    await rm.wait(timeout=30, llm=True)
    lm = rm.llm_manager
    reply = await lm.chat("j", "why did it fail?")
    assert reply.error is None and reply.text == "It raises on purpose."  # the final answer
    tokens = [e.text for e in reply.events if e.type == "token"]
    assert tokens == ["Let me look.", "It raises on purpose."]  # one per reply, whole
    assert [e.text for e in reply.events if e.type == "tool_call"] == ["read_file"]
    results = [e for e in reply.events if e.type == "tool_result"]
    assert len(results) == 1 and "RuntimeError" in results[0].text

    turns = server.routed("chat")
    assert len(turns) == 2 and not any(t.body.get("stream") for t in turns)
    usage = lm.usage("j")
    assert usage.calls == 2 and not usage.estimated
    assert usage.input_tokens == sum(len(json.dumps(t.body["messages"])) // 4 for t in turns)
    # The server's count: a quarter of the text, 10 per tool call.
    assert usage.output_tokens == len("Let me look.") // 4 + 10 + len("It raises on purpose.") // 4
    await rm.close()


class PricedModel(ScriptedChatModel):
    """A scripted model labelled as a hosted one (its wording is not the point here)."""

    model_name: str = "gpt-4.1-mini"

    @property
    def _llm_type(self) -> str:
        return "openai-chat"


def reported(text: str, tokens_in: int, tokens_out: int) -> AIMessage:
    usage = {"input_tokens": tokens_in, "output_tokens": tokens_out}
    return AIMessage(content=text, usage_metadata={**usage, "total_tokens": tokens_in + tokens_out})


async def test_reported_and_estimated_calls_add_up_and_are_priced(start_chat: StartChat) -> None:
    def script(messages: list[BaseMessage]) -> AIMessage:
        if any(LLM_DIAGNOSIS_PROMPT[:60] in m.text for m in messages):
            return reported("Diagnosed.", 1000, 100)
        if len([m for m in messages if m.type == "human"]) == 1:
            return reported("Counted by the provider.", 2000, 200)
        return AIMessage(content="Not counted: estimated.")

    model = PricedModel(script, fake_usage=False)
    rm = await start_chat(llm=model)
    lm = rm.llm_manager
    assert (await lm.chat("j", "first")).error is None
    first = lm.usage("j")
    assert (first.input_tokens, first.output_tokens, first.estimated) == (2000, 200, False)
    assert first.cost_usd == pytest.approx((2000 * 0.40 + 200 * 1.60) / 1e6)
    assert (await lm.chat("j", "second")).error is None
    usage = lm.usage("j")
    out = estimated_output("Not counted: estimated.")
    assert usage.calls == 2 and usage.output_tokens == 200 + out
    assert usage.estimated_output_tokens == out and usage.estimated_input_tokens > 0
    assert usage.cost_usd == pytest.approx(  # the cost is rounded to a millionth of a dollar
        (usage.input_tokens * 0.40 + usage.output_tokens * 1.60) / 1e6, abs=5e-7
    )
    diagnosis = lm.diagnosis_usage()
    assert (diagnosis.input_tokens, diagnosis.output_tokens, diagnosis.calls) == (1000, 100, 1)
    assert diagnosis.cost_usd == pytest.approx((1000 * 0.40 + 100 * 1.60) / 1e6)

    widget = chat_widget(lm, "j")
    await widget.idle()
    label = widget.usage_label.value
    assert label.startswith(f"~{usage.total_tokens:,} tokens (") and "estimated)" in label
    assert f"{usage.estimated_input_tokens + out:,} estimated" in label and "~$" in label


async def test_an_unknown_model_counts_tokens_at_an_unknown_cost(start_chat: StartChat) -> None:
    rm = await start_chat(llm=PricedModel(["Diagnosed.", "Hello."], model_name="my-tune"))
    lm = rm.llm_manager
    assert (await lm.chat("j", "hi")).error is None
    usage = lm.usage("j")
    assert usage.total_tokens > 0 and usage.cost_usd is None
    assert lm.diagnosis_usage().cost_usd is None
    widget = chat_widget(lm, "j")
    await widget.idle()
    assert widget.usage_label.value.endswith("· cost unknown"), widget.usage_label.value


def test_prices_by_prefix_for_the_common_providers() -> None:
    assert price_of("openai-chat:gpt-4.1-mini-2025-04-14") == (0.40, 1.60)
    assert price_of("openai-chat:gpt-4o") == (2.50, 10.00)
    assert price_of("openai-chat:gpt-4o-mini") == (0.15, 0.60)
    assert price_of("openai-chat:gpt-5-mini") == (0.25, 2.00)
    assert price_of("anthropic-chat:claude-sonnet-4-5-20250929") == (3.00, 15.00)
    assert price_of("anthropic-chat:claude-opus-4-5-20251101") == (5.00, 25.00)
    assert price_of("anthropic-chat:claude-opus-4-1-20250805") == (15.00, 75.00)
    assert price_of("anthropic-chat:claude-3-5-haiku-latest") == (0.80, 4.00)
    assert price_of("chat-google-generative-ai:models/gemini-2.5-flash") == (0.30, 2.50)
    assert price_of("chat-google-generative-ai:gemini-2.5-flash-lite") == (0.10, 0.40)
    assert price_of("mistralai-chat:mistral-large-latest") == (2.00, 6.00)
    assert price_of("deepseek-chat:deepseek-reasoner") == (0.28, 0.42)
    assert price_of("amazon_bedrock_converse_chat:us.anthropic.claude-sonnet-4-20250514-v1:0")
    assert price_of("openai-chat:openai/gpt-4o") == (2.50, 10.00)  # a router's vendor/ path
    assert price_of("openai-chat:qwen2.5-7b-instruct") is None
    assert estimate_cost("openai-chat:qwen2.5-7b-instruct", 10, 10) is None
    assert estimate_cost("openai-chat:gpt-4.1", 1_000_000, 1_000_000) == 10.0
    assert estimate_cost("openai-chat:gpt-4.1", 1_000_000, 1_000_000, local=True) == 0.0
    assert estimate_cost("scripted", 5, 5) == estimate_cost("offline", 5, 5) == 0.0


def test_which_endpoints_are_local() -> None:
    for url in (
        "http://127.0.0.1:8080/v1",
        "http://localhost:11434",
        "http://[::1]:8000/v1",
        "http://0.0.0.0:8000",
        "http://10.1.2.3:8000/v1",
        "http://192.168.1.20/v1",
        "http://172.20.0.5:8000",
        "http://vllm:8000/v1",
        "http://gpu-box.local:8000",
    ):
        assert is_local_endpoint(url), url
    for url in (
        "https://api.openai.com/v1",
        "https://api.anthropic.com",
        "https://8.8.8.8/v1",
        "https://my-vllm.example.com/v1",
        None,
        "",
    ):
        assert not is_local_endpoint(url), url


class Recording(BaseCallbackHandler):
    """What a user's handler sees (it runs in LangChain's executor: a lock)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def _add(self, kind: str, **data: Any) -> None:
        with self._lock:
            self.events.append((kind, data))

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [d for k, d in self.events if k == kind]

    def on_chain_start(
        self, serialized: Any, inputs: Any, *, run_id: UUID, parent_run_id: Any = None, **kw: Any
    ) -> None:
        if parent_run_id is None:
            self._add("root", name=kw.get("name"), tags=kw.get("tags"), run_id=run_id)

    def on_chat_model_start(
        self,
        serialized: Any,
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        parent_run_id: Any = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kw: Any,
    ) -> None:
        system = messages[0][0].text if messages and messages[0] else ""
        diagnosis = system.startswith(LLM_DIAGNOSIS_PROMPT[:60])
        self._add(
            "model_start",
            diagnosis=diagnosis,
            run_id=run_id,
            parent=parent_run_id,
            tags=list(tags or []),
            metadata=dict(metadata or {}),
            name=kw.get("name"),
        )

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kw: Any) -> None:
        self._add("llm_end", run_id=run_id, text=response.generations[0][0].text)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kw: Any) -> None:
        self._add("llm_error", run_id=run_id, error=type(error).__name__)

    def on_tool_start(self, serialized: Any, input_str: str, *, run_id: UUID, **kw: Any) -> None:
        self._add("tool_start", name=(serialized or {}).get("name"), input=input_str)

    def on_tool_end(self, output: Any, *, run_id: UUID, **kw: Any) -> None:
        self._add("tool_end", output=str(getattr(output, "content", output)))


async def test_callbacks_see_the_diagnosis_call_and_the_chat_turn_with_its_tool_calls(
    make_rm: Callable[..., RunManager], server: FakeOpenAI, workdir: Path
) -> None:
    (workdir / "train.py").write_text(TRAIN)
    server.diagnosis_replies += [
        Reply(status=500),
        Reply(text="train.py raises RuntimeError."),
    ]
    server.chat_replies += [
        Reply(tool_calls=[("read_file", {"path": "train.py"}), ("list_dir", {"path": "."})]),
        Reply(text="Line 3 raises it."),
    ]
    handler = Recording()
    rm = make_rm([FAILING], llm=model_kwargs(server), llm_retry=QUICK, callbacks=[handler])
    rm.start()
    await rm.wait(timeout=30, llm=True)
    lm = rm.llm_manager

    # The diagnosis: two tries (a 500, then the answer), each seen, under our run name.
    tries = [d for d in handler.of("model_start") if d["diagnosis"]]
    assert len(tries) == 2
    assert all("diagnosis" in t["tags"] and "adaptive_llm" in t["tags"] for t in tries)
    assert all(t["metadata"]["job"] == "j" and t["metadata"]["signature"] for t in tries)
    assert [d["error"] for d in handler.of("llm_error")] == ["OpenAIAPIError"]  # the 500
    assert [d["text"] for d in handler.of("llm_end")] == ["train.py raises RuntimeError."]

    reply = await lm.chat("j", "why?")
    assert reply.error is None and reply.text == "Line 3 raises it."
    [root] = [r for r in handler.of("root") if r["name"] == "adaptive_llm chat"]
    assert "chat" in root["tags"]
    turn = [d for d in handler.of("model_start") if not d["diagnosis"]]
    assert len(turn) == 2 and all(t["metadata"]["thread"] == "job:j" for t in turn)
    # The two tools run side by side: in either order.
    assert sorted(d["name"] for d in handler.of("tool_start")) == ["list_dir", "read_file"]
    outputs = sorted(d["output"] for d in handler.of("tool_end"))
    assert len(outputs) == 2 and any("RuntimeError('boom')" in o for o in outputs)
    assert any("train.py" in o and "entries" in o for o in outputs)
    assert [d["text"] for d in handler.of("llm_end")][1:] == ["", "Line 3 raises it."]
    # The user's handler and our counting saw the same calls.
    assert lm.usage("j").calls == 2 and lm.diagnosis_usage("j").calls == 1


class Collector:
    """A small HTTP server on 127.0.0.1 that records every request (a tracing backend)."""

    def __init__(self, info: dict[str, Any] | None = None) -> None:
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.info = info or {}
        collector = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self, data: Any) -> None:
                raw = json.dumps(data).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                collector.requests.append(("GET", self.path, dict(self.headers), b""))
                self._answer(collector.info if self.path.endswith("/info") else {})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                collector.requests.append(("POST", self.path, dict(self.headers), body))
                self._answer({})

            do_PATCH = do_POST
            do_PUT = do_POST

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Collector:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def bodies(self) -> bytes:
        """Every request's body, decompressed (the OTLP exporter gzips)."""
        return b"\n".join(
            gzip.decompress(body) if headers.get("Content-Encoding") == "gzip" else body
            for _method, _path, headers, body in list(self.requests)
        )


#: A notebook's session in a fresh process: a failing job, its LLM diagnosis, one chat turn
#: with a tool call, and the end of the kernel (no flush of our own).
CHILD = """
import asyncio, sys
from adaptive_llm import Job, RunManager

async def main(workdir, base_url):
    job = Job("j", ["/bin/sh", "-c", "echo 'RuntimeError: boom'; exit 1"])
    llm = {"model": "openai:gpt-4.1-mini", "base_url": base_url, "api_key": "test-key",
           "max_retries": 0}
    rm = RunManager([job], workdir=workdir, llm=llm)
    rm.start()
    await rm.wait(timeout=60, llm=True)
    reply = await rm.llm_manager.chat("j", "why did it fail?")
    print("REPLY", reply.error, reply.text)
    await rm.close()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def run_child(tmp_path: Path, server: FakeOpenAI, env: dict[str, str]) -> str:
    (tmp_path / "train.py").write_text(TRAIN)
    server.diagnosis_replies.append(Reply(text="train.py raises RuntimeError."))
    server.chat_replies += [
        Reply(tool_calls=[("read_file", {"path": "train.py"})]),
        Reply(text="Line 3 raises it."),
    ]
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LANGSMITH_", "LANGCHAIN_", "LANGFUSE_"))
    }
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path), server.base_url],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "REPLY None Line 3 raises it." in done.stdout, done.stdout + done.stderr[-3000:]
    return done.stderr


def test_langsmith_traces_the_diagnosis_and_the_chat_turn(
    tmp_path: Path, server: FakeOpenAI
) -> None:
    pytest.importorskip("langsmith")
    with Collector() as langsmith:
        run_child(
            tmp_path,
            server,
            {
                "LANGSMITH_TRACING": "true",
                "LANGSMITH_ENDPOINT": langsmith.url,
                "LANGSMITH_API_KEY": "lsv2-test-key",
                "LANGSMITH_PROJECT": "adaptive-llm-test",
            },
        )
        deadline = time.monotonic() + 10
        while b"Line 3 raises it." not in langsmith.bodies() and time.monotonic() < deadline:
            time.sleep(0.1)
        posts = [r for r in langsmith.requests if r[0] == "POST"]
        assert posts and all(r[2].get("x-api-key") == "lsv2-test-key" for r in posts)
        bodies = langsmith.bodies()
        for needle in (
            b"train.py raises RuntimeError.",
            b"Line 3 raises it.",
            b"adaptive-llm-test",
        ):
            assert needle in bodies, needle
        runs = langsmith_runs(posts)
    by_name: dict[str, list[dict[str, Any]]] = {}
    for run in runs.values():
        by_name.setdefault(str(run.get("name")), []).append(run)
    [diagnosis] = by_name["adaptive_llm diagnosis"]
    assert diagnosis["run_type"] == "llm" and diagnosis.get("parent_run_id") is None
    assert diagnosis["trace_id"] == diagnosis["id"]  # a trace of its own
    [chat] = by_name["adaptive_llm chat"]
    assert chat.get("parent_run_id") is None
    # The turn's model calls and its tool call are nested in the turn's trace, though they
    # run in LangGraph's tasks.
    nested = by_name["ChatOpenAI"] + by_name["read_file"]
    assert len(by_name["ChatOpenAI"]) == 2 and len(by_name["read_file"]) == 1
    assert all(r["trace_id"] == chat["id"] and r.get("parent_run_id") for r in nested)
    assert all(r["id"] in runs for r in nested)


def langsmith_runs(posts: list[tuple[str, str, dict[str, str], bytes]]) -> dict[str, Any]:
    """The runs the langsmith client posted (its multipart batches: a JSON part per run)."""
    from email import policy
    from email.parser import BytesParser

    runs: dict[str, dict[str, Any]] = {}
    for _method, path, headers, body in posts:
        assert path.endswith("/runs/multipart"), path
        head = f"Content-Type: {headers['Content-Type']}\r\n\r\n".encode()
        message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
        for part in message.iter_parts():  # type: ignore[attr-defined]
            name = str(part.get_param("name", header="content-disposition"))
            kind, _, run_id = name.partition(".")
            if kind in ("post", "patch") and "." not in run_id:
                data = json.loads(part.get_payload(decode=True))
                run = runs.setdefault(run_id, {"id": run_id})
                run.update({k: v for k, v in data.items() if v is not None})
    for run in runs.values():
        for key in ("trace_id", "parent_run_id"):
            if run.get(key) is not None:
                run[key] = str(run[key])
    return runs


def test_langfuse_handler_traces_through_its_own_client(tmp_path: Path, server: FakeOpenAI) -> None:
    pytest.importorskip("langfuse")
    with Collector() as langfuse:
        run_child(
            tmp_path,
            server,
            {
                "LANGFUSE_PUBLIC_KEY": "pk-lf-test",
                "LANGFUSE_SECRET_KEY": "sk-lf-test",
                "LANGFUSE_BASE_URL": langfuse.url,
            },
        )
        deadline = time.monotonic() + 10
        while b"Line 3 raises it." not in langfuse.bodies() and time.monotonic() < deadline:
            time.sleep(0.1)
        paths = [path for _m, path, _h, _b in langfuse.requests]
        assert any("otel" in p for p in paths), paths
        bodies = langfuse.bodies()
        for needle in (
            b"adaptive_llm diagnosis",
            b"adaptive_llm chat",
            b"read_file",
            b"Line 3 raises it.",
            b"job:j",  # the chat thread, as the session
        ):
            assert needle in bodies, needle


def test_langfuse_keys_without_the_package_warn_once(tmp_path: Path) -> None:
    code = """
import logging, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "langfuse" or name.startswith("langfuse."):
            raise ImportError("blocked for the test")
sys.meta_path.insert(0, Block())
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
from adaptive_llm.llm.tracing import run_config
for _ in range(3):
    config = run_config([], run_name="x")
print("HANDLERS", len(config["callbacks"]))
"""
    env = {**os.environ, "LANGFUSE_PUBLIC_KEY": "pk", "LANGFUSE_SECRET_KEY": "sk"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "HANDLERS 0" in done.stdout
    warnings = [line for line in done.stderr.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1 and "pip install langfuse" in warnings[0], done.stderr


def test_a_chat_store_of_step_4_keeps_its_token_counts(tmp_path: Path) -> None:
    import sqlite3

    from adaptive_llm.chat.events import Usage
    from adaptive_llm.store import Store
    from adaptive_llm.store.migrations import STEPS, V1

    path = tmp_path / "store.sqlite"
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(V1)
    db.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '1')")
    db.execute(
        "INSERT INTO chat_settings (thread, yolo, input_tokens, output_tokens)"
        " VALUES ('job:a', 1, 1200, 300)"
    )
    for number in range(2, 5):
        db.execute("ATTACH DATABASE ? AS cp", (str(tmp_path / "checkpoints.sqlite"),))
        db.execute("BEGIN")
        STEPS[number - 1](db, path)
        db.execute(f"PRAGMA user_version = {number}")
        db.execute("COMMIT")
        db.execute("DETACH DATABASE cp")
    db.close()

    store = Store(path)
    try:
        assert store.chat.settings("job:a") == {
            "yolo": 1,
            "allow_commands": 0,
            "input_tokens": 1200,
            "output_tokens": 300,
        }
        usage = Usage.of(store.chat.usage("job:a"), "openai-chat:gpt-4.1")
        assert (usage.input_tokens, usage.output_tokens, usage.estimated) == (1200, 300, False)
        assert usage.cost_usd == pytest.approx((1200 * 2 + 300 * 8) / 1e6)
        store.chat.add_usage("job:a", 10, 5, model="openai-chat:gpt-4.1", estimated_output_tokens=5)
        assert store.chat.settings("job:a")["output_tokens"] == 305
    finally:
        store.close()
