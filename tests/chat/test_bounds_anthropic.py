"""What the chat sends through langchain-anthropic after ``normalise_messages``: every
``tool_use`` the request carries is answered by a ``tool_result`` right after it.

langchain-anthropic keeps a streamed tool call in the message's content as well (a
``tool_use`` block) and sends every such block as a call, whatever ``tool_calls`` says. A call
cut off by the output limit (its partial JSON) was left out of ``invalid_tool_calls`` but not
of the content, so the request carried a ``tool_use`` with no result after it: the Anthropic
API refuses such a request, and every later one of the chat. Checked on the real client's
request payload (no server needed)."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from adaptive_llm.chat.bounds import normalise_messages

anthropic = pytest.importorskip("langchain_anthropic")


def payload(messages: list[BaseMessage]) -> list[dict[str, Any]]:
    model = anthropic.ChatAnthropic(model="smollm2", base_url="http://127.0.0.1:9", api_key="x")
    sent: list[dict[str, Any]] = model._get_request_payload(messages)["messages"]
    return sent


def blocks(sent: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [
        block
        for message in sent
        if isinstance(message["content"], list)
        for block in message["content"]
        if block.get("type") == kind
    ]


def answered(sent: list[dict[str, Any]]) -> bool:
    """Each tool_use is answered in the next message, by a tool_result with its id."""
    for i, message in enumerate(sent):
        content = message["content"] if isinstance(message["content"], list) else []
        uses = [b["id"] for b in content if b.get("type") == "tool_use"]
        if not uses:
            continue
        following = sent[i + 1]["content"] if i + 1 < len(sent) else []
        results = [b.get("tool_use_id") for b in following if isinstance(b, dict)]
        if sorted(uses) != sorted(r for r in results if r in uses) or len(set(uses)) != len(uses):
            return False
    return True


def cut_reply() -> AIMessage:
    """A streamed ChatAnthropic reply whose call was cut off by max_tokens."""
    return AIMessage(
        content=[
            {"type": "text", "text": "Let me write it", "index": 0},
            {
                "type": "tool_use",
                "id": "toolu_cut",
                "name": "write_file",
                "input": {},
                "partial_json": '{"path": "notes.txt", "content": "hi',
                "index": 1,
            },
        ],
        invalid_tool_calls=[
            {
                "type": "invalid_tool_call",
                "id": "toolu_cut",
                "name": "write_file",
                "args": '{"path": "notes.txt", "content": "hi',
                "error": None,
            }
        ],
    )


def test_a_cut_call_is_not_sent_as_a_tool_use() -> None:
    history: list[BaseMessage] = [HumanMessage("write notes"), cut_reply(), HumanMessage("and?")]
    assert not answered(payload(history))  # as the client sends it: an unanswered tool_use

    sent = payload(normalise_messages(history, strict=False))

    assert blocks(sent, "tool_use") == []
    assert answered(sent)
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert [b["text"] for b in blocks(sent, "text")] == ["Let me write it"]


def test_a_reply_that_was_only_a_cut_call_is_left_out() -> None:
    reply = cut_reply()
    reply = reply.model_copy(update={"content": [reply.content[1]]})  # type: ignore[index]
    history: list[BaseMessage] = [HumanMessage("write notes"), reply, HumanMessage("and?")]

    out = normalise_messages(history, strict=False)

    assert [type(m).__name__ for m in out] == ["HumanMessage", "HumanMessage"]
    sent = payload(out)
    assert all(m["role"] == "user" for m in sent) and blocks(sent, "tool_use") == []


def test_repeated_call_ids_renamed_in_tool_calls_are_sent_once_each() -> None:
    """The approvals rename a repeated call id in ``tool_calls`` (``a`` and ``a~1``); the
    content still holds two ``tool_use`` blocks with id ``a``."""
    use = {"type": "tool_use", "id": "toolu_a", "name": "write_file", "input": {"path": "n"}}
    reply = AIMessage(
        content=[{"type": "text", "text": "", "index": 0}, use, dict(use)],
        tool_calls=[
            {"name": "write_file", "args": {"path": "n"}, "id": "toolu_a", "type": "tool_call"},
            {"name": "write_file", "args": {"path": "n"}, "id": "toolu_a~1", "type": "tool_call"},
        ],
    )
    history: list[BaseMessage] = [
        HumanMessage("write notes"),
        reply,
        ToolMessage("done", tool_call_id="toolu_a"),
        ToolMessage("done again", tool_call_id="toolu_a~1"),
    ]
    assert not answered(payload(history))

    sent = payload(normalise_messages(history, strict=False))

    assert len(blocks(sent, "tool_use")) == 2
    assert answered(sent)
    assert all(b["text"].strip() for b in blocks(sent, "text"))  # no empty text block


def test_a_plain_reply_is_sent_as_it_was() -> None:
    reply = AIMessage(content=[{"type": "text", "text": "Hello", "index": 0}])
    history: list[BaseMessage] = [HumanMessage("hi"), reply, HumanMessage("and?")]

    out = normalise_messages(history, strict=False)

    assert out[1] is reply
