#!/usr/bin/env python3
"""What a chat turn through the product costs on top of the model call itself (issue 13).

What runs
    A minimal OpenAI-compatible server (``POST /v1/chat/completions``, streamed SSE with a
    usage chunk, keep-alive) in a child process on 127.0.0.1: it answers every request at
    once with the same text, so what is measured is the client side. A real ``RunManager``
    (``LocalScheduler``, SQLite store, diagnosis engine, LLM diagnosis, the chat's SQLite
    checkpointer) on a temporary workdir, with one real failing local job (a Python script
    that raises) and ``llm={"model": "openai:bench", "base_url": URL}``. Nothing is mocked.

Per turn, interleaved (one of each per iteration, after ``--warmup`` iterations)
    * ``product``: ``await lm.chat(job, text)``, the whole public call (it keeps only the
      final text, so the model is called without streaming: one JSON answer);
    * ``product_stream``: the widget's way, ``lm.chat_stream(job, text)`` with every event
      consumed (the model streamed token by token);
    * ``bare_astream`` (the baseline of issue 13): ``ChatOpenAI(...).astream(messages,
      tools=...)`` on the same server with exactly the request the product's streamed turn
      sent (its messages and tool schemas, as the server received them; the bodies are
      compared);
    * ``bare_ainvoke`` (the like-for-like baseline of ``lm.chat``): ``ainvoke`` with exactly
      the request ``lm.chat`` sent (compared too);
    * ``bare_agent`` (where the overhead goes): ``create_agent`` with the same model, tools
      and system prompt, no middleware, LangGraph's ``AsyncSqliteSaver`` on a file of its own
      (WAL, ``synchronous=NORMAL``, as the product), streamed as the product streams it
      (``messages`` and ``updates``, v2); and the same with an ``InMemorySaver``.

Cases
    * ``short``: the job's chat is cleared before each turn (not timed), so a turn sends the
      system prompt (the job's facts and diagnosis) and the one user message;
    * ``long``: the chat holds ``--history`` (default 200) earlier messages (made by product
      turns before measuring), more than the model's context (8,192 tokens, the default for
      a model whose profile gives none), so every call is fitted to it. The bare agents get a
      fresh thread per turn seeded (not timed) with the messages the product's call sent.

Also
    * the longest gap between the ticks of a task that sleeps 1 ms (it runs during all the
      measured turns), per kind of turn: the event loop's longest stall; and the garbage
      collector's pauses meanwhile (``gc.callbacks``);
    * direct timings, in the long case, of the product's fitting (``normalise_messages`` +
      ``fit_messages`` on the whole stored history) and of one ``aget_state``;
    * ``breakdown``: ``--profile-turns`` more product turns per case with wall-clock timers
      wrapped around the product objects' methods (on the instances, for the run only:
      state reads, the graph run, the model's stream, the checkpointer's calls, the dynamic
      prompt, the fitting, the records), the bare SQLite agent's checkpointer calls beside
      them, and what-ifs (``what_ifs``) measured against product turns interleaved with them;
    * ``profile``: cProfile of ``--profile-turns`` more product turns per case: own time per
      package, the top functions by own time, the product's and LangGraph's entries by
      cumulative time (coroutines: summed over their resumptions);
    * the machine's load: 1-minute load average before and after, other processes' CPU while
      measuring (``/proc/stat`` minus this process and the server); ``--wait-quiet S`` first
      waits up to S seconds for the machine to be under 10 % busy.

Goal (issue 13): overhead (product minus bare astream) <= 15 ms per turn. Also reported:
``lm.chat`` minus ``bare_ainvoke`` and ``product_stream`` minus ``bare_astream`` (each the
same request on the wire).

Run
    .venv/bin/python bench/chat_overhead.py [--turns 50] [--warmup 5] [--history 200]
        [--profile-turns 20] [--profile FILE.prof]

One JSON document on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import datetime
import gc
import json
import logging
import os
import platform
import pstats
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Awaitable, Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GOAL_MS = 15.0
TICK_S = 0.001
#: What the server answers every chat request with (about 60 tokens, streamed word by word).
REPLY = (
    "The job failed because process_batch() raised ValueError: the input file holds a row"
    " with an empty 'size' field. Skip such rows or give them a default size; then resubmit"
    " the job. Nothing else in the log points to a second problem, and the memory and time"
    " limits were far from reached."
)
DIAGNOSIS_REPLY = "The script raises ValueError on an empty size field; fix the input row."
#: The measured user message (the same in every case and for every baseline).
QUESTION = "Why did this job fail, and what should I change before I resubmit it?"
#: A filler user message for the long history (about 100 tokens with the reply's 60).
FILLER = (
    "Another question about this run, number {i}: could the failure depend on the node, the"
    " input shard or the seed? I looked at the log and the traceback is the same every time,"
    " so I would like to understand what in the input makes process_batch() raise here."
)
FAILING_SCRIPT = """\
import sys
print("loading shard 3 of 8 from data/part-0003.csv")
print("processing 1,204 rows")
def process_batch(rows):
    for n, row in enumerate(rows):
        if not row["size"]:
            raise ValueError(f"row {n}: empty 'size' field")
process_batch([{"size": "12"}, {"size": ""}])
"""


#: What runs before each turn of a case, not timed (clears the chat, or holds its history).
Prepare = Callable[[], Awaitable[None]]


def log(message: str) -> None:
    print(f"[chat_overhead] {message}", file=sys.stderr, flush=True)


# -- the server (child process) ---------------------------------------------------------------


def _sse_body(body: dict[str, Any], text: str) -> bytes:
    """The whole streamed answer: role chunk, one chunk per word, finish, usage, [DONE]."""
    base = {
        "id": f"chatcmpl-{uuid.uuid4().hex[:10]}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body.get("model", "bench"),
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    words = text.split(" ")
    parts = [chunk({"role": "assistant", "content": ""})]
    parts += [
        chunk({"content": w if i == len(words) - 1 else w + " "}) for i, w in enumerate(words)
    ]
    parts.append(chunk({}, "stop"))
    # Usage in the last chunk whether asked or not (the product does not ask for a custom
    # base_url; llama.cpp's server sends it anyway).
    prompt = max(1, len(json.dumps(body.get("messages"))) // 4)
    done = max(1, len(text) // 4)
    usage = {"prompt_tokens": prompt, "completion_tokens": done, "total_tokens": prompt + done}
    parts.append({**base, "choices": [], "usage": usage})
    return b"".join(f"data: {json.dumps(p)}\n\n".encode() for p in parts) + b"data: [DONE]\n\n"


def serve() -> None:
    """Run the server until stdin closes; print its port on stdout. Every request body is kept
    (``GET /bench/requests?since=N`` returns those from N on) so the bench can replay them."""
    from adaptive_llm.llm.diagnose import LLM_DIAGNOSIS_PROMPT

    kept: list[dict[str, Any]] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: every answer has a Content-Length

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def setup(self) -> None:
            super().setup()
            # As real servers do (uvicorn, llama.cpp): no Nagle delay on small writes.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _send(self, status: int, kind: str, raw: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(raw)))
            # The headers and the body in one write (no delayed ACK between them).
            self._headers_buffer.append(b"\r\n" + raw)  # type: ignore[attr-defined]
            self.flush_headers()

        def do_GET(self) -> None:
            since = int(self.path.rsplit("=", 1)[-1]) if "since=" in self.path else 0
            with lock:
                raw = json.dumps(kept[since:]).encode()
            self._send(200, "application/json", raw)

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            system = " ".join(
                str(m.get("content")) for m in body.get("messages", []) if m["role"] == "system"
            )
            diagnosis = LLM_DIAGNOSIS_PROMPT[:60] in system
            with lock:
                kept.append({"route": "diagnosis" if diagnosis else "chat", "body": body})
            text = DIAGNOSIS_REPLY if diagnosis else REPLY
            if body.get("stream"):
                return self._send(200, "text/event-stream", _sse_body(body, text))
            prompt = max(1, len(json.dumps(body.get("messages"))) // 4)
            answer = {
                "id": f"chatcmpl-{uuid.uuid4().hex[:10]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "bench"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": max(1, len(text) // 4),
                    "total_tokens": prompt + max(1, len(text) // 4),
                },
            }
            self._send(200, "application/json", json.dumps(answer).encode())

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(server.server_address[1], flush=True)
    sys.stdin.read()  # the bench closes our stdin when it is done
    server.shutdown()


class Server:
    """The child process; ``requests(since)`` fetches the bodies it received."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())
        self.base_url = f"http://127.0.0.1:{self.port}/v1"

    def requests(self, since: int = 0) -> list[dict[str, Any]]:
        import urllib.request

        url = f"http://127.0.0.1:{self.port}/bench/requests?since={since}"
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.loads(response.read())

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()


# -- measuring ----------------------------------------------------------------------------------


class Ticker:
    """A task that sleeps ``TICK_S`` in a loop; the longest gap between two ticks per window
    (the window open when the late tick comes, counted from the window's opening)."""

    def __init__(self) -> None:
        self.window: str | None = None
        #: When the window opened: a gap is counted from then at the earliest, so a stall
        #: before the turn (the untimed preparation) is not laid at the turn's door.
        self.opened = 0.0
        self.longest: dict[str, float] = {}
        #: window and generation -> (longest pause ms, total ms, collections)
        self.gc: dict[str, tuple[float, float, int]] = {}
        self._task: asyncio.Task[None] | None = None

    def open(self, window: str) -> None:
        self.window, self.opened = window, time.perf_counter()

    def _gc(self, phase: str, info: dict[str, Any]) -> None:
        """The garbage collector's pauses, per window: the longest, and the sum."""
        if phase == "start":
            self._gc_began = time.perf_counter()
            return
        if self.window is None or not hasattr(self, "_gc_began"):
            return
        ms = (time.perf_counter() - self._gc_began) * 1000
        key = f"{self.window} gen{info.get('generation')}"
        longest, total, count = self.gc.get(key, (0.0, 0.0, 0))
        self.gc[key] = (max(longest, ms), total + ms, count + 1)

    async def _run(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(TICK_S)
            now = time.perf_counter()
            if self.window is not None:
                gap = (now - max(last, self.opened)) * 1000
                if gap > self.longest.get(self.window, 0.0):
                    self.longest[self.window] = gap
            last = now

    def start(self) -> None:
        gc.callbacks.append(self._gc)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._gc in gc.callbacks:
            gc.callbacks.remove(self._gc)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def timed(ticker: Ticker, window: str, call: Callable[[], Awaitable[Any]]) -> float:
    ticker.open(window)
    began = time.perf_counter()
    await call()
    ms = (time.perf_counter() - began) * 1000
    ticker.window = None
    return ms


def stats(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    p95 = statistics.quantiles(ordered, n=20, method="inclusive")[18] if len(ordered) > 1 else 0
    return {
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(p95, 2),
        "mean_ms": round(statistics.fmean(ordered), 2),
        "min_ms": round(ordered[0], 2),
        "max_ms": round(ordered[-1], 2),
        "n": len(ordered),
    }


class OtherLoad:
    """CPU the rest of the machine used meanwhile (``/proc/stat`` minus this process and the
    server child), in % of all cores."""

    def __init__(self, child: int) -> None:
        self.child = child
        self.began = time.perf_counter()
        self.system = self._system()
        self.own = self._own()

    def _own(self) -> float:
        tick = os.sysconf("SC_CLK_TCK")
        own = os.times()
        total = own.user + own.system
        try:
            fields = Path(f"/proc/{self.child}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
        return total

    @staticmethod
    def _system() -> float | None:
        try:
            fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        except OSError:
            return None
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
        return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")

    def percent(self) -> float | None:
        now = self._system()
        if now is None or self.system is None:
            return None
        other = (now - self.system) - (self._own() - self.own)
        cores = (time.perf_counter() - self.began) * (os.cpu_count() or 1)
        return round(max(0.0, 100 * other / cores), 1)


# -- the baselines --------------------------------------------------------------------------------


def as_messages(wire: list[dict[str, Any]]) -> list[Any]:
    """The request's OpenAI messages as LangChain messages (system, user, assistant only)."""
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    kinds = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
    return [kinds[m["role"]](content=m["content"]) for m in wire]


class Baselines:
    """The bare model and the bare agents, on the same server, model settings and tools."""

    def __init__(self, base_url: str, product_model: Any, tools: list[Any], system: str, db: Path):
        from langchain_openai import ChatOpenAI

        # As the product makes it (init_chat_model, then the output limit), written out.
        self.model = ChatOpenAI(
            model="bench",
            base_url=base_url,
            api_key="not-needed",  # type: ignore[arg-type]
            max_tokens=product_model.max_tokens,  # type: ignore[call-arg]
        )
        self.tools = tools
        self.system = system
        self.db = db
        self.agents: dict[str, Any] = {}
        #: The history (no system prompt, no new message) the product's last call sent.
        self.last_history: list[Any] = []
        self._connection: Any = None

    async def open(self) -> None:
        import aiosqlite
        from langchain.agents import create_agent
        from langgraph.checkpoint.memory import InMemorySaver
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        self._connection = await aiosqlite.connect(self.db, isolation_level=None)
        await self._connection.execute("PRAGMA busy_timeout=5000")
        await self._connection.execute("PRAGMA journal_mode=WAL")
        await self._connection.execute("PRAGMA synchronous=NORMAL")
        for name, saver in (
            ("bare_agent_sqlite", AsyncSqliteSaver(self._connection)),
            ("bare_agent_memory", InMemorySaver()),
        ):
            self.agents[name] = create_agent(
                self.model, self.tools, system_prompt=self.system, checkpointer=saver
            )

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()

    async def astream(self, messages: list[Any], tools: list[dict[str, Any]]) -> str:
        text = ""
        async for chunk in self.model.astream(messages, tools=tools):
            text += chunk.text
        return text

    async def ainvoke(self, messages: list[Any], tools: list[dict[str, Any]]) -> str:
        return (await self.model.ainvoke(messages, tools=tools)).text

    async def seed(self, name: str, history: list[Any]) -> dict[str, Any]:
        """A fresh thread of agent ``name`` holding ``history`` (not timed)."""
        config = {"configurable": {"thread_id": f"t-{uuid.uuid4().hex}"}}
        if history:
            await self.agents[name].aupdate_state(config, {"messages": history}, as_node="model")
        return config

    async def agent_turn(
        self, name: str, config: dict[str, Any], text: str, modes: list[str] | None = None
    ) -> str:
        from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage

        out = ""
        async for part in self.agents[name].astream(
            {"messages": [HumanMessage(content=text)]},
            config,
            stream_mode=modes or ["messages", "updates"],
            version="v2",
        ):
            if part["type"] == "updates" and modes == ["updates"]:
                for update in (part["data"] or {}).values():
                    for message in (update or {}).get("messages", []):
                        if isinstance(message, AIMessage):
                            out += message.text
            if part["type"] == "messages" and isinstance(part["data"][0], AIMessageChunk):
                out += part["data"][0].text
        return out


def _comparable(body: dict[str, Any]) -> dict[str, Any]:
    """What must be the same in two requests (their ``model`` aside, all of it)."""
    return {k: v for k, v in body.items() if k != "model"}


# -- the run ------------------------------------------------------------------------------------


async def run(args: argparse.Namespace, workdir: Path, server: Server) -> dict[str, Any]:
    from adaptive_llm import Job, LocalScheduler, RunManager
    from adaptive_llm.chat.bounds import fit_messages, normalise_messages
    from adaptive_llm.chat.tools import build_tools

    script = workdir / "job" / "train.py"
    script.parent.mkdir(parents=True)
    script.write_text(FAILING_SCRIPT)
    rm = RunManager(
        [Job("train", [sys.executable, str(script)], cwd=script.parent)],
        workdir=workdir / "run",
        scheduler=LocalScheduler(2, kill_grace=0.5),
        poll_interval=0.1,
        llm={"model": "openai:bench", "base_url": server.base_url},
    )
    lm = rm.llm_manager
    rm.start()
    await rm.wait(timeout=60, llm=True)
    view = rm.jobs()[0]
    log(f"job {view.name}: {view.state}; LLM diagnosis: {lm.llm_diagnosis_text('train')!r:.60}")

    t0 = time.perf_counter()
    first = await lm.chat("train", QUESTION)
    first_turn_ms = (time.perf_counter() - t0) * 1000
    assert first.error is None and first.text == REPLY, (first.error, first.text)
    service = lm.chat_service()
    requests = [r for r in server.requests() if r["route"] == "chat"]
    wire = requests[-1]["body"]
    system = wire["messages"][0]["content"]
    agent = await service.agent()
    product_tools = build_tools(service.workspace)  # the product's tools, made as it makes them
    bases = Baselines(server.base_url, service.model, product_tools, system, workdir / "bare.db")
    await bases.open()

    ticker = Ticker()
    ticker.start()
    seen = len(server.requests())
    checks: dict[str, Any] = {"payload_mismatches": 0, "replies_wrong": 0}

    def take_new() -> list[dict[str, Any]]:
        nonlocal seen
        new = server.requests(seen)
        seen += len(new)
        return new

    async def product_turn() -> None:
        reply = await lm.chat("train", QUESTION)
        if reply.error is not None or reply.text != REPLY:
            checks["replies_wrong"] += 1
            checks.setdefault("first_wrong", reply.error or reply.text)

    async def product_stream_turn() -> None:
        events = [e async for e in lm.chat_stream("train", QUESTION)]
        tokens = "".join(e.text for e in events if e.type == "token")
        done = [e.text for e in events if e.type == "done"]
        if tokens != REPLY or done != [REPLY] or any(e.type == "error" for e in events):
            checks["replies_wrong"] += 1
            checks.setdefault("first_wrong_stream", [e.text for e in events][-3:])

    def compare(got: dict[str, Any], want: dict[str, Any], what: str) -> None:
        if _comparable(got) != _comparable(want):
            checks["payload_mismatches"] += 1
            checks.setdefault("mismatch", [what, sorted(set(got) ^ set(want))])

    async def iteration(prepare: Prepare, samples: dict[str, list[float]] | None) -> None:
        await prepare()
        take_new()
        product_ms = await timed(ticker, "product", product_turn)
        new = take_new()
        assert len(new) == 1 and new[0]["route"] == "chat", [r["route"] for r in new]
        plain = new[0]["body"]
        assert not plain.get("stream"), "lm.chat streamed"
        await prepare()
        stream_ms = await timed(ticker, "product_stream", product_stream_turn)
        new = take_new()
        assert len(new) == 1 and new[0]["route"] == "chat", [r["route"] for r in new]
        body = new[0]["body"]
        assert body.get("stream"), "chat_stream did not stream"
        if body["messages"] != plain["messages"] or body["tools"] != plain["tools"]:
            checks["payload_mismatches"] += 1
            checks.setdefault("mismatch", ["chat vs chat_stream"])
        messages = as_messages(body["messages"])
        bases.last_history = messages[1:-1]

        async def bare() -> None:
            if await bases.astream(messages, body["tools"]) != REPLY:
                checks["replies_wrong"] += 1

        bare_ms = await timed(ticker, "bare_astream", bare)
        compare(take_new()[0]["body"], body, "bare_astream")

        async def bare_invoke() -> None:
            if await bases.ainvoke(messages, plain["tools"]) != REPLY:
                checks["replies_wrong"] += 1

        invoke_ms = await timed(ticker, "bare_ainvoke", bare_invoke)
        compare(take_new()[0]["body"], plain, "bare_ainvoke")
        figures = {
            "product": product_ms,
            "product_stream": stream_ms,
            "bare_astream": bare_ms,
            "bare_ainvoke": invoke_ms,
        }
        for name in ("bare_agent_sqlite", "bare_agent_memory"):
            config = await bases.seed(name, messages[1:-1])

            async def turn(name: str = name, config: dict[str, Any] = config) -> None:
                if await bases.agent_turn(name, config, QUESTION) != REPLY:
                    checks["replies_wrong"] += 1

            figures[name] = await timed(ticker, name, turn)
            compare(take_new()[0]["body"], body, name)
        if samples is not None:
            for key, value in figures.items():
                samples.setdefault(key, []).append(value)

    other = OtherLoad(server.process.pid)
    results: dict[str, Any] = {}
    wire_sizes: dict[str, Any] = {}
    timed_parts: dict[str, Any] = {}
    profile: dict[str, Any] = {}
    config = {"configurable": {"thread_id": "job:train"}}
    for case in ("short", "long"):
        if case == "short":

            async def prepare() -> None:
                await lm.clear_chat("train")

        else:
            await lm.clear_chat("train")
            log(f"long: {args.history} earlier messages through {args.history // 2} product turns")
            for i in range(args.history // 2):
                reply = await lm.chat("train", FILLER.format(i=i))
                assert reply.error is None, reply.error
            held = len((await agent.aget_state(config)).values["messages"])

            async def prepare(held: int = held) -> None:
                # The history back to its length: the last turn's two messages removed (through
                # LangGraph's API; not timed), so every long turn has the same history.
                from langchain_core.messages import RemoveMessage

                messages = (await agent.aget_state(config)).values["messages"]
                if len(messages) > held:
                    extra = [RemoveMessage(id=m.id) for m in messages[held:]]
                    await agent.aupdate_state(config, {"messages": extra})

        ticker.longest.clear()
        ticker.gc.clear()
        samples: dict[str, list[float]] = {}
        log(f"{case}: {args.warmup} warm-up and {args.turns} measured iterations")
        for _ in range(args.warmup):
            await iteration(prepare, None)
        for _ in range(args.turns):
            await iteration(prepare, samples)
        last = [r for r in server.requests() if r["route"] == "chat"][-1]["body"]
        wire_sizes[case] = {
            "messages_sent": len(last["messages"]),
            "request_bytes": len(json.dumps(last)),
            "tool_schemas": len(last["tools"]),
        }
        by = {key: stats(values) for key, values in samples.items()}
        product, bare = by["product"], by["bare_astream"]

        results[case] = {
            **by,
            "overhead_ms": overhead(by, samples, "product", "bare_astream"),
            "overhead_like_for_like_ms": {
                "chat_minus_bare_ainvoke": overhead(by, samples, "product", "bare_ainvoke"),
                "chat_stream_minus_bare_astream": overhead(
                    by, samples, "product_stream", "bare_astream"
                ),
            },
            "ratio_product_over_bare_p50": round(product["p50_ms"] / bare["p50_ms"], 2),
            "goal_met": product["p50_ms"] - bare["p50_ms"] <= GOAL_MS
            and product["mean_ms"] - bare["mean_ms"] <= GOAL_MS,
            "loop_longest_gap_ms": {k: round(v, 1) for k, v in sorted(ticker.longest.items())},
            # per kind of turn and generation: [longest pause ms, total ms, collections]
            "gc_pauses": {
                k: [round(v[0], 1), round(v[1], 1), v[2]] for k, v in sorted(ticker.gc.items())
            },
        }
        if case == "long":
            await prepare()
            stored = (await agent.aget_state(config)).values["messages"]
            results["long"]["history_messages_held"] = len(stored)
            results["long"]["components_ms"] = await components(
                service, stored, normalise_messages, fit_messages
            )
        log(f"{case}: breakdown, what-ifs and profile")
        timed_parts[case] = await breakdown(args, lm, service, bases, prepare)
        timed_parts[case]["what_if"] = await what_ifs(args, lm, service, bases, prepare)
        profile[case] = await profiled(args, lm, prepare, case)
    busy = other.percent()
    await ticker.stop()

    await bases.close()
    await rm.close()
    return {
        "other_processes_cpu_percent": busy,
        "first_turn_ms": round(first_turn_ms, 1),
        "wire": wire_sizes,
        "checks": checks,
        **results,
        "breakdown": timed_parts,
        "profile": profile,
    }


def overhead(
    by: dict[str, dict[str, Any]], samples: dict[str, list[float]], ours: str, base: str
) -> dict[str, float]:
    """``ours`` minus ``base``: of the p50s, of the means, and the median of the pairs."""
    return {
        "p50": round(by[ours]["p50_ms"] - by[base]["p50_ms"], 2),
        "mean": round(by[ours]["mean_ms"] - by[base]["mean_ms"], 2),
        "p50_of_pairs": round(
            statistics.median(p - b for p, b in zip(samples[ours], samples[base], strict=True)),
            2,
        ),
    }


async def components(
    service: Any, stored: list[Any], normalise: Any, fit: Any
) -> dict[str, dict[str, float]]:
    """Direct timings, in the long case, of what a turn repeats on the whole history."""
    agent = await service.agent()
    config = {"configurable": {"thread_id": "job:train"}}
    strict = service._bounds._strict
    out: dict[str, list[float]] = {"normalise_and_fit": [], "aget_state": []}
    for _ in range(20):
        began = time.perf_counter()
        fit(normalise(stored, strict=strict), 4000)
        out["normalise_and_fit"].append((time.perf_counter() - began) * 1000)
        began = time.perf_counter()
        await agent.aget_state(config)
        out["aget_state"].append((time.perf_counter() - began) * 1000)
    return {
        key: {"p50_ms": round(statistics.median(v), 2), "max_ms": round(max(v), 2)}
        for key, v in out.items()
    }


class Timers:
    """Wall-clock timers wrapped around product objects' methods for a while (instance
    attributes only: the classes and the code are not changed). Inclusive times; the
    checkpointer's writes overlap the graph's other work."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._undo: list[tuple[Any, str, Any]] = []
        self.paused = False

    def _add(self, name: str, seconds: float) -> None:
        if self.paused:
            return
        self.spent[name] = self.spent.get(name, 0.0) + seconds
        self.calls[name] = self.calls.get(name, 0) + 1

    def wrap(self, owner: Any, attr: str, name: str, kind: str = "async") -> None:
        original = getattr(owner, attr)
        timers = self

        if kind == "async":

            async def wrapped(*args: Any, **kwargs: Any) -> Any:
                began = time.perf_counter()
                try:
                    return await original(*args, **kwargs)
                finally:
                    timers._add(name, time.perf_counter() - began)

        elif kind == "agen":

            async def wrapped(*args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
                began = time.perf_counter()
                try:
                    async for item in original(*args, **kwargs):
                        yield item
                finally:
                    timers._add(name, time.perf_counter() - began)

        else:

            def wrapped(*args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
                began = time.perf_counter()
                try:
                    return original(*args, **kwargs)
                finally:
                    timers._add(name, time.perf_counter() - began)

        # A module's function or an instance's own attribute is put back; a method of the
        # class is shadowed on the instance, then the shadow deleted.
        own = isinstance(owner, type(sys)) or attr in getattr(owner, "__dict__", {})
        self._undo.append((owner, attr, original if own else None))
        object.__setattr__(owner, attr, wrapped)

    def restore(self) -> None:
        for owner, attr, original in reversed(self._undo):
            if original is not None:
                object.__setattr__(owner, attr, original)
            else:
                object.__delattr__(owner, attr)
        self._undo.clear()

    def per_turn(self, turns: int) -> dict[str, dict[str, float]]:
        return {
            name: {
                "ms_per_turn": round(self.spent[name] * 1000 / turns, 2),
                "calls_per_turn": round(self.calls[name] / turns, 1),
            }
            for name in sorted(self.spent, key=lambda n: -self.spent[n])
        }


async def breakdown(
    args: argparse.Namespace, lm: Any, service: Any, bases: Baselines, prepare: Prepare
) -> dict[str, Any]:
    """Where a product turn's time goes: ``--profile-turns`` turns with timers (and the bare
    SQLite agent's checkpointer calls, for comparison)."""
    import adaptive_llm.chat.bounds as bounds
    import adaptive_llm.chat.service as service_module

    agent = await service.agent()
    timers = Timers()
    timers.wrap(agent, "aget_state", "graph.aget_state (service: state reads)")
    timers.wrap(agent, "astream", "graph.astream (the graph run)", "agen")
    timers.wrap(service, "_open_items", "service._open_items (aget_state + records)")
    timers.wrap(service, "_mark_answered", "service._mark_answered (record)", "sync")
    timers.wrap(service, "_finish", "service._finish (its aget_state(s) + events)", "agen")
    timers.wrap(service, "job_context", "dynamic prompt: service.job_context", "sync")
    timers.wrap(service_module, "system_prompt", "dynamic prompt: system_prompt()", "sync")
    timers.wrap(bounds, "normalise_messages", "bounds: normalise_messages", "sync")
    timers.wrap(bounds, "fit_messages", "bounds: fit_messages", "sync")
    timers.wrap(service._bounds, "budget", "bounds: budget (system prompt tokens)", "sync")
    timers.wrap(service._saver, "aput", "checkpointer.aput")
    timers.wrap(service._saver, "aput_writes", "checkpointer.aput_writes")
    timers.wrap(service._saver, "aget_tuple", "checkpointer.aget_tuple")
    timers.wrap(service.records, "add_usage", "records.add_usage (sqlite, loop thread)", "sync")
    timers.wrap(service.records, "mark_answered", "records.mark_answered (sqlite)", "sync")
    timers.wrap(service.model, "_astream", "model._astream (HTTP + chunk parsing)", "agen")
    timers.wrap(service.model, "_agenerate", "model._agenerate (HTTP + one JSON answer)")
    hop = "aiosqlite: calls through the checkpointer's thread (each one hop)"
    timers.wrap(service._connection, "_execute", hop)
    wall = 0.0
    try:
        for _ in range(args.profile_turns):
            timers.paused = True
            await prepare()
            timers.paused = False
            began = time.perf_counter()
            await lm.chat("train", QUESTION)
            wall += time.perf_counter() - began
    finally:
        timers.restore()
    turns = args.profile_turns
    bare = Timers()
    saver = bases.agents["bare_agent_sqlite"].checkpointer
    for attr in ("aput", "aput_writes", "aget_tuple"):
        bare.wrap(saver, attr, f"checkpointer.{attr}")
    bare.wrap(bases.model, "_astream", "model._astream", "agen")
    bare.wrap(bases._connection, "_execute", hop)
    bare_wall = 0.0
    try:
        for _ in range(turns):
            bare.paused = True
            config = await bases.seed("bare_agent_sqlite", bases.last_history)
            bare.paused = False
            began = time.perf_counter()
            await bases.agent_turn("bare_agent_sqlite", config, QUESTION)
            bare_wall += time.perf_counter() - began
    finally:
        bare.restore()
    return {
        "turns": turns,
        "wall_ms_per_turn_timed": round(wall * 1000 / turns, 2),
        "inclusive": timers.per_turn(turns),
        "bare_agent_sqlite_wall_ms_per_turn": round(bare_wall * 1000 / turns, 2),
        "bare_agent_sqlite_inclusive": bare.per_turn(turns),
    }


async def what_ifs(
    args: argparse.Namespace, lm: Any, service: Any, bases: Baselines, prepare: Prepare
) -> dict[str, Any]:
    """Medians of interleaved turns: the product as is, and with LangGraph's
    ``durability="exit"`` (one checkpoint when the run ends, instead of one per step); the
    bare in-memory agent streamed as the product streams it, and with the ``updates`` mode
    only, where LangGraph calls the model without streaming (one JSON answer instead of 54
    SSE chunks: what parsing the chunks costs)."""
    agent = await service.agent()
    original = agent.astream

    def exit_durability(*a: Any, **kw: Any) -> Any:
        return original(*a, **{**kw, "durability": "exit"})

    samples: dict[str, list[float]] = {}

    async def product(label: str) -> None:
        await prepare()
        began = time.perf_counter()
        reply = await lm.chat("train", QUESTION)
        samples.setdefault(label, []).append((time.perf_counter() - began) * 1000)
        assert reply.error is None and reply.text == REPLY, (reply.error, reply.text)

    async def bare(label: str, modes: list[str]) -> None:
        config = await bases.seed("bare_agent_memory", bases.last_history)
        began = time.perf_counter()
        await bases.agent_turn("bare_agent_memory", config, QUESTION, modes)
        samples.setdefault(label, []).append((time.perf_counter() - began) * 1000)

    for _ in range(args.profile_turns):
        await product("product")
        object.__setattr__(agent, "astream", exit_durability)
        try:
            await product("product_durability_exit")
        finally:
            object.__delattr__(agent, "astream")
        await bare("bare_agent_memory", ["messages", "updates"])
        await bare("bare_agent_memory_not_streamed", ["updates"])
    return {k: round(statistics.median(v), 2) for k, v in samples.items()}


def _package(filename: str) -> str:
    """A profile entry's package: ``adaptive_llm/chat``, ``langgraph``, ``asyncio``, ..."""
    if filename.startswith("~") or filename.startswith("<"):
        return "builtins"
    parts = Path(filename).parts
    if "site-packages" in parts:
        rest = parts[parts.index("site-packages") + 1 :]
        return rest[0] if len(rest) > 1 else rest[0].removesuffix(".py")
    if "adaptive_llm" in parts:
        rest = parts[parts.index("adaptive_llm") :]
        return "/".join(rest[:2]) if len(rest) > 2 else "adaptive_llm"
    return "stdlib:" + (parts[-2] if parts[-2] != "python3.11" else parts[-1].removesuffix(".py"))


def _top(stats: pstats.Stats, key: str, n: int, turns: int) -> list[dict[str, Any]]:
    rows = []
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for (filename, line, name), (_cc, calls, tottime, cumtime, _callers) in raw.items():
        rows.append(
            {
                "function": f"{Path(filename).name}:{line}({name})",
                "calls_per_turn": round(calls / turns, 1),
                "own_ms_per_turn": round(tottime * 1000 / turns, 3),
                "cumulative_ms_per_turn": round(cumtime * 1000 / turns, 3),
            }
        )
    field = "own_ms_per_turn" if key == "tottime" else "cumulative_ms_per_turn"
    return sorted(rows, key=lambda r: -r[field])[:n]


async def profiled(
    args: argparse.Namespace, lm: Any, prepare: Prepare, name: str
) -> dict[str, Any]:
    """cProfile of ``--profile-turns`` more product turns (timed apart: the profiler slows
    them down)."""
    out: dict[str, Any] = {}
    for case in (name,):
        profiler = cProfile.Profile()
        wall = 0.0
        for _ in range(args.profile_turns):
            await prepare()
            profiler.enable()
            began = time.perf_counter()
            await lm.chat("train", QUESTION)
            wall += time.perf_counter() - began
            profiler.disable()
        if args.profile:
            profiler.dump_stats(f"{args.profile}.{case}")
        stats = pstats.Stats(profiler)
        turns = args.profile_turns
        total = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
        packages: dict[str, float] = {}
        for (filename, _line, _name), value in stats.stats.items():  # type: ignore[attr-defined]
            packages[_package(filename)] = packages.get(_package(filename), 0.0) + value[2]
        out[case] = {
            "turns": turns,
            "wall_ms_per_turn_profiled": round(wall * 1000 / turns, 2),
            "profiled_cpu_ms_per_turn": round(total * 1000 / turns, 2),
            "own_time_by_package_ms_per_turn": {
                k: round(v * 1000 / turns, 2)
                for k, v in sorted(packages.items(), key=lambda kv: -kv[1])[:14]
            },
            "top_own_time": _top(stats, "tottime", 15, turns),
            "top_cumulative": [
                row
                for row in _top(stats, "cumtime", 60, turns)
                if any(
                    word in row["function"]
                    for word in (
                        "service.py",
                        "bounds.py",
                        "approval.py",
                        "stream.py",
                        "chat.py",
                        "aio.py",
                        "prompts.py",
                        "context.py",
                        "llm_manager.py",
                        "base.py",
                        "factory.py",
                    )
                )
            ][:25],
        }
    return out[name]


# -- main -----------------------------------------------------------------------------------------


def _commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def wait_quiet(limit: float, busy: float = 10.0, window: float = 4.0) -> float | None:
    """Wait (at most ``limit`` seconds) until the machine was under ``busy`` % CPU for
    ``window`` seconds; the last window's figure (None without ``/proc/stat``)."""
    deadline = time.monotonic() + limit
    figure = None
    while True:
        before = OtherLoad._system()
        time.sleep(window)
        after = OtherLoad._system()
        if before is None or after is None:
            return None
        figure = round(100 * (after - before) / (window * (os.cpu_count() or 1)), 1)
        if figure < busy or time.monotonic() > deadline:
            return figure
        log(f"machine {figure} % busy; waiting")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--history", type=int, default=200)
    parser.add_argument("--profile-turns", type=int, default=20)
    parser.add_argument("--profile", help="also write the cProfile stats to FILE.short/.long")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        help="first wait up to this many seconds for the machine to be under 10%% busy",
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    for name in ("turns", "profile_turns"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.serve:
        serve()
        return
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore", message=r"(?s)Pydantic serializer warnings")
    quiet = wait_quiet(args.wait_quiet) if args.wait_quiet else None
    started = datetime.datetime.now(datetime.UTC)
    load_before = os.getloadavg()
    wall0 = time.perf_counter()
    server = Server()
    try:
        with tempfile.TemporaryDirectory(prefix="chat-overhead-") as tmp:
            figures = asyncio.run(run(args, Path(tmp), server))
    finally:
        server.close()
    load_after = os.getloadavg()
    summary = {
        case: {
            "product_p50_p95_mean_ms": [figures[case]["product"][k] for k in STATS],
            "bare_astream_p50_p95_mean_ms": [figures[case]["bare_astream"][k] for k in STATS],
            "product_stream_p50_p95_mean_ms": [figures[case]["product_stream"][k] for k in STATS],
            "bare_ainvoke_p50_p95_mean_ms": [figures[case]["bare_ainvoke"][k] for k in STATS],
            "bare_agent_sqlite_p50_p95_mean_ms": [
                figures[case]["bare_agent_sqlite"][k] for k in STATS
            ],
            "bare_agent_memory_p50_p95_mean_ms": [
                figures[case]["bare_agent_memory"][k] for k in STATS
            ],
            "overhead_p50_mean_ms": [
                figures[case]["overhead_ms"]["p50"],
                figures[case]["overhead_ms"]["mean"],
            ],
            "like_for_like_overhead_p50_ms": {
                k: v["p50"] for k, v in figures[case]["overhead_like_for_like_ms"].items()
            },
            "ratio_p50": figures[case]["ratio_product_over_bare_p50"],
            "goal_met": figures[case]["goal_met"],
            "loop_longest_gap_product_ms": figures[case]["loop_longest_gap_ms"].get("product"),
        }
        for case in ("short", "long")
    }
    out: dict[str, Any] = {
        "config": {
            "turns": args.turns,
            "warmup": args.warmup,
            "history": args.history,
            "profile_turns": args.profile_turns,
            "date": started.isoformat(timespec="seconds"),
            "commit": _commit(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "langchain": _version("langchain"),
            "langchain_openai": _version("langchain-openai"),
            "langgraph": _version("langgraph"),
            "loadavg_1min_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
            "other_processes_cpu_percent": figures.pop("other_processes_cpu_percent"),
            "busy_percent_before_start": quiet,
            "tick_ms": TICK_S * 1000,
        },
        "goal": {"overhead_ms": GOAL_MS, "met": all(s["goal_met"] for s in summary.values())},
        "summary": summary,
        **figures,
        "wall_s": round(time.perf_counter() - wall0, 1),
    }
    print(json.dumps(out, indent=2))


STATS = ("p50_ms", "p95_ms", "mean_ms")

if __name__ == "__main__":
    main()
