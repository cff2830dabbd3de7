"""Helpers for the chat tests: scripts for ``ScriptedChatModel``, message-order checks."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage

from adaptive_llm import RunManager
from adaptive_llm.llm.diagnose import LLM_DIAGNOSIS_PROMPT
from adaptive_llm.testing import tool_call

Step = AIMessage | str | Callable[[list[BaseMessage]], AIMessage | str]

#: ``await start_chat(script, ...)`` (the fixture in conftest.py).
StartChat = Callable[..., Awaitable[RunManager]]

#: What the scripted model answers to the background LLM diagnosis call.
DIAGNOSIS_TEXT = "Scripted diagnosis: the job exits with status 1."


def sql(rm: RunManager, query: str, *params: Any) -> list[sqlite3.Row]:
    """Rows of a read query on the run's store file (the test reads the real database; the
    product's own code has no public SQL)."""
    db = sqlite3.connect(f"file:{rm.store.path}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    try:
        return db.execute(query, params).fetchall()
    finally:
        db.close()


def is_diagnosis_call(messages: Sequence[BaseMessage]) -> bool:
    """True for the LLMManager's one-shot diagnosis call (not a chat turn)."""
    return any(
        isinstance(m, SystemMessage) and m.text.startswith(LLM_DIAGNOSIS_PROMPT[:60])
        for m in messages
    )


class ChatScript:
    """A callable script: chat turns take ``steps`` in order; diagnosis calls get a fixed text.

    A step is an ``AIMessage``, a string, or a callable receiving the messages (to inspect what
    the model was sent). ``received`` keeps the messages of every chat-turn call.
    """

    def __init__(self, steps: Sequence[Step] = (), *, diagnosis: str = DIAGNOSIS_TEXT) -> None:
        self.steps = list(steps)
        self.diagnosis = diagnosis
        self.received: list[list[BaseMessage]] = []
        self.diagnosis_calls = 0

    def add(self, *steps: Step) -> None:
        self.steps.extend(steps)

    def __call__(self, messages: list[BaseMessage]) -> AIMessage | str:
        if is_diagnosis_call(messages):
            self.diagnosis_calls += 1
            return self.diagnosis
        self.received.append(list(messages))
        if not self.steps:
            raise AssertionError(f"the script has no step left (call #{len(self.received)})")
        step = self.steps.pop(0)
        return step(messages) if callable(step) else step


def edit(path: str, old: str, new: str, id: str | None = None) -> AIMessage:
    return tool_call("edit_file", {"path": path, "old_text": old, "new_text": new}, id=id)


def calls(*specs: tuple[str, dict[str, Any]], text: str = "") -> AIMessage:
    """One AI turn with several tool calls."""
    return AIMessage(
        content=text,
        tool_calls=[
            {"name": name, "args": args, "id": f"call_{uuid.uuid4().hex[:12]}"}
            for name, args in specs
        ],
    )


def assert_valid_order(messages: Sequence[BaseMessage], *, pending: bool = False) -> None:
    """Every tool call of an AIMessage is answered by exactly one ToolMessage, right after it.

    Only the last AIMessage may lack some of its ToolMessages, and only when ``pending`` (an
    approval is waiting); no other message ever sits between a tool call and its answer.
    """
    i = 0
    n = len(messages)
    while i < n:
        message = messages[i]
        if isinstance(message, ToolMessage):
            raise AssertionError(f"ToolMessage #{i} answers no preceding tool call: {message!r}")
        i += 1
        if not (isinstance(message, AIMessage) and message.tool_calls):
            continue
        ids = [c["id"] for c in message.tool_calls]
        assert len(set(ids)) == len(ids), f"duplicate tool-call ids in #{i - 1}: {ids}"
        answers: list[str] = []
        while i < n and isinstance(messages[i], ToolMessage):
            answers.append(messages[i].tool_call_id)  # type: ignore[union-attr]
            i += 1
        if i == n and pending:
            # Waiting for approval: the calls already answered (read tools) are some of them.
            assert len(set(answers)) == len(answers) and set(answers) <= set(ids), (ids, answers)
            continue
        assert sorted(answers) == sorted(ids), (
            f"AIMessage #{i - 1 - len(answers)} with tool calls {ids} is answered by {answers}"
            + (f"; next is {type(messages[i]).__name__}" if i < n else "")
        )


async def thread_messages(rm: RunManager, name: str | None) -> list[BaseMessage]:
    """The messages of a chat's thread, from the checkpointer."""
    agent = await rm.llm_manager.chat_service().agent()
    thread = f"job:{name}" if name else "general"
    state = await agent.aget_state({"configurable": {"thread_id": thread}})
    return list((state.values or {}).get("messages", []))


async def check_order(rm: RunManager, name: str | None) -> list[BaseMessage]:
    """``assert_valid_order`` on the thread (a trailing unanswered turn only while pending)."""
    messages = await thread_messages(rm, name)
    pending = bool(await rm.llm_manager.pending(name))
    assert_valid_order(messages, pending=pending)
    return messages


def last_tool_message(messages: Sequence[BaseMessage]) -> ToolMessage:
    for message in reversed(messages):
        if isinstance(message, ToolMessage):
            return message
    raise AssertionError("no ToolMessage in the messages")


def humans(messages: Sequence[BaseMessage]) -> list[str]:
    return [m.text for m in messages if isinstance(m, HumanMessage)]


def edits(rm: RunManager) -> list[dict[str, Any]]:
    return [dict(r) for r in sql(rm, "SELECT * FROM edits ORDER BY id")]


def apply_unified_diff(before: str, diff: str) -> str:
    """Apply a unified diff (as shown in an approval) to ``before``; strict about context."""
    old = before.split("\n")
    old_lines = [line + "\n" for line in old[:-1]] + ([old[-1]] if old[-1] else [])
    lines = diff.split("\n")
    lines = [line + "\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])
    out: list[str] = []
    pos = 0
    i = 0
    while i < len(lines) and not lines[i].startswith("@@"):
        i += 1  # the ---/+++ header
    while i < len(lines):
        header = lines[i]
        assert header.startswith("@@"), f"expected a hunk header, got {header!r}"
        start = int(header.split()[1].lstrip("-").split(",")[0])
        start = max(start - 1, 0)
        out.extend(old_lines[pos:start])
        pos = start
        i += 1
        while i < len(lines) and not lines[i].startswith("@@"):
            line = lines[i]
            body = line[1:]
            if i + 1 < len(lines) and lines[i + 1].startswith("\\ No newline"):
                body = body[:-1]
                i += 1
            if line[0] == " ":
                assert old_lines[pos] == body, f"context mismatch at line {pos + 1}"
                out.append(body)
                pos += 1
            elif line[0] == "-":
                assert old_lines[pos] == body, f"removed line mismatch at line {pos + 1}"
                pos += 1
            elif line[0] == "+":
                out.append(body)
            else:
                raise AssertionError(f"bad diff line {line!r}")
            i += 1
    out.extend(old_lines[pos:])
    return "".join(out)


# -- consent tests (test_consent_*.py) -----------------------------------------------------------


def approval_rows(rm: RunManager) -> list[dict[str, Any]]:
    """The ``approval_items`` rows, in the order they were recorded."""
    return [dict(r) for r in sql(rm, "SELECT * FROM approval_items ORDER BY rowid")]


async def until_finished(
    rm: RunManager, name: str | None, *, finishing: bool = True, timeout: float = 30
) -> None:
    """Until the thread's graph has stopped: at a pending approval with nothing approved left
    to apply, or at the end of a turn. A restarted run finishes the changes decided before a
    crash in the background (``LLMManager._finish_decided``); ``rm.wait()`` does not wait for
    that. ``finishing``: the run is expected to resume the graph when every change of the
    request it waits at is settled (it had some approved ones to apply)."""
    import asyncio
    import json
    import time

    settled = {"refused", "rejected", "done", "failed"}
    thread = f"job:{name}" if name else "general"
    agent = await rm.llm_manager.chat_service().agent()
    deadline = time.monotonic() + timeout
    while True:
        state = await agent.aget_state({"configurable": {"thread_id": thread}})
        if state.interrupts:
            request = state.interrupts[0].value.get("request")
            rows = [r for r in approval_rows(rm) if r["request"] == request]
            status = {r["position"]: r["status"] for r in rows}
            ready = [
                r
                for r in rows
                if r["status"] in ("approved", "applying")
                and all(status[d] in settled for d in json.loads(r["after"]))
            ]
            busy = bool(ready) or (finishing and all(s in settled for s in status.values()))
        else:
            busy = bool(state.next)
        if not busy:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the chat {thread} did not finish within {timeout}s")
        await asyncio.sleep(0.05)
