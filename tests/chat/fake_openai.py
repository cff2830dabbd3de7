"""A scripted OpenAI-compatible server on 127.0.0.1 (``POST /v1/chat/completions``).

It answers streamed requests with SSE chunks (tool calls streamed in pieces, as OpenAI does)
and other requests with one JSON completion. Like the real API it rejects (400) a message list
where an assistant message's tool calls are not all answered by tool messages right after it.
Replies are scripted per route: the LLMManager's diagnosis call, or a chat turn.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from adaptive_llm.llm.diagnose import LLM_DIAGNOSIS_PROMPT


@dataclass
class Reply:
    """One scripted answer: an HTTP error status, or a text and/or tool calls."""

    status: int = 200
    text: str = ""
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    #: Extra response headers, e.g. ``{"Retry-After": "0.3"}`` on a 429.
    headers: dict[str, str] = field(default_factory=dict)
    #: Seconds to stay silent before answering (a server that accepted and hangs).
    delay: float = 0.0


@dataclass
class Request:
    route: str
    body: dict[str, Any]
    headers: dict[str, str]
    error: str | None = None  # why the server refused it (message order), if it did
    at: float = field(default_factory=time.monotonic)  # when it arrived


def order_problem(messages: list[dict[str, Any]]) -> str | None:
    """What OpenAI would refuse about this message order, or None."""
    i = 0
    while i < len(messages):
        message = messages[i]
        i += 1
        if message.get("role") == "tool":
            return f"message {i - 1}: a 'tool' message must follow an assistant tool call"
        calls = message.get("tool_calls") or []
        if message.get("role") != "assistant" or not calls:
            continue
        wanted = {c["id"] for c in calls}
        while i < len(messages) and messages[i].get("role") == "tool":
            wanted.discard(messages[i].get("tool_call_id"))
            i += 1
        if wanted:
            return (
                "An assistant message with 'tool_calls' must be followed by tool messages"
                f" responding to each 'tool_call_id'. Missing: {sorted(wanted)}"
            )
    return None


class FakeOpenAI:
    """Start with ``with FakeOpenAI() as server:``; ``server.base_url`` is for ``base_url=``."""

    def __init__(
        self, api_key: str = "test-key", context: int | None = None, strict_content: bool = False
    ) -> None:
        self.api_key = api_key
        #: Like llama-cpp-python's server: an assistant message with ``content: null`` is a 500.
        self.strict_content = strict_content
        #: Like ``llama-server -c N``: a request estimated over N tokens (messages, tools and
        #: the reply's limit; 4 characters a token) is a 400.
        self.context = context
        self.chat_replies: list[Reply] = []
        self.diagnosis_replies: list[Reply] = []
        #: Used when a route's list is empty.
        self.default = Reply(text="(no scripted reply)")
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()  # ends every delay at exit
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def routed(self, route: str) -> list[Request]:
        return [r for r in self.requests if r.route == route]

    # -- internals ----------------------------------------------------------------------------

    def _next(self, route: str) -> Reply:
        with self._lock:
            queue = self.diagnosis_replies if route == "diagnosis" else self.chat_replies
            return queue.pop(0) if queue else self.default

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                messages = body.get("messages") or []
                system = " ".join(
                    str(m.get("content")) for m in messages if m.get("role") == "system"
                )
                route = "diagnosis" if LLM_DIAGNOSIS_PROMPT[:60] in system else "chat"
                request = Request(route, body, {k.lower(): v for k, v in self.headers.items()})
                with server._lock:
                    server.requests.append(request)
                if self.path.rstrip("/") != "/v1/chat/completions":
                    return self._json(404, {"error": {"message": f"no route {self.path}"}})
                if self.headers.get("Authorization") != f"Bearer {server.api_key}":
                    return self._json(401, {"error": {"message": "bad key", "type": "auth"}})
                problem = order_problem(messages)
                if problem is None and server.strict_content:
                    for n, m in enumerate(messages):
                        if m.get("role") == "assistant" and m.get("content") is None:
                            request.error = f"message {n}: content must be a string, not null"
                            return self._json(500, {"error": {"message": request.error}})
                if problem is None and server.context is not None:
                    size = len(json.dumps(messages)) // 4 + len(json.dumps(body.get("tools"))) // 4
                    size += int(body.get("max_completion_tokens") or body.get("max_tokens") or 0)
                    if size > server.context:
                        problem = (
                            f"the request exceeds the available context size ({size} tokens,"
                            f" context {server.context})"
                        )
                if problem:
                    request.error = problem
                    return self._json(
                        400, {"error": {"message": problem, "type": "invalid_request_error"}}
                    )
                reply = server._next(route)
                if reply.delay and server._closing.wait(reply.delay):
                    return  # closing: never answer
                if reply.status != 200:
                    kind = "rate_limit_exceeded" if reply.status == 429 else "server_error"
                    return self._json(
                        reply.status,
                        {"error": {"message": f"scripted {reply.status}", "type": kind}},
                        reply.headers,
                    )
                if body.get("stream"):
                    return self._sse(body, reply)
                return self._json(200, completion(body, reply))

            def _json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
                raw = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(raw)

            def _sse(self, body: dict[str, Any], reply: Reply) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                for chunk in chunks(body, reply):
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

        return Handler


def _usage(body: dict[str, Any], reply: Reply) -> dict[str, int]:
    prompt = max(1, len(json.dumps(body.get("messages"))) // 4)
    completion_tokens = max(1, len(reply.text) // 4 + 10 * len(reply.tool_calls))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt + completion_tokens,
    }


def completion(body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": f"call_{uuid.uuid4().hex[:10]}",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(args)},
            }
            for name, args in reply.tool_calls
        ]
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:10]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "gpt-4.1-mini"),
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if reply.tool_calls else "stop",
            }
        ],
        "usage": _usage(body, reply),
    }


def chunks(body: dict[str, Any], reply: Reply) -> Iterator[dict[str, Any]]:
    """The SSE chunks of a streamed reply: text in pieces, each tool call's arguments split."""
    base = {
        "id": f"chatcmpl-{uuid.uuid4().hex[:10]}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body.get("model", "gpt-4.1-mini"),
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    yield chunk({"role": "assistant", "content": ""})
    words = reply.text.split(" ")
    for i, word in enumerate(words):
        if word or i:
            yield chunk({"content": word if i == len(words) - 1 else word + " "})
    for index, (name, args) in enumerate(reply.tool_calls):
        call_id = f"call_{uuid.uuid4().hex[:10]}"
        yield chunk(
            {
                "tool_calls": [
                    {
                        "index": index,
                        "id": call_id,
                        "type": "function",
                        "function": {"name": name, "arguments": ""},
                    }
                ]
            }
        )
        raw = json.dumps(args)
        for start in range(0, len(raw), 7):
            yield chunk(
                {
                    "tool_calls": [
                        {"index": index, "function": {"arguments": raw[start : start + 7]}}
                    ]
                }
            )
    yield chunk({}, "tool_calls" if reply.tool_calls else "stop")
    if (body.get("stream_options") or {}).get("include_usage"):
        yield {**base, "choices": [], "usage": _usage(body, reply)}
