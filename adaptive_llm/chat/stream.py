"""A turn's LangGraph stream as chat events: tokens of the model's answer, its tool calls,
and every ToolMessage. (Token usage is counted by ``llm.usage.UsageRecorder``, a callback of
every model call, which also sees what was sent: it can estimate what a server does not
report.)"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk, ToolMessage

from .events import ChatEvent

__all__ = ["events_of"]


def events_of(part: dict[str, Any], *, whole: bool = False) -> list[ChatEvent]:
    """The chat events in one part of LangGraph's v2 stream (``messages`` and ``updates``
    modes). ``whole``: the stream has no ``messages`` mode, so each of the model's replies
    comes as one token event with its whole text, from its update."""
    events: list[ChatEvent] = []
    if part["type"] == "messages":
        chunk, meta = part["data"]
        if (
            isinstance(chunk, AIMessageChunk)
            and chunk.text
            and meta.get("langgraph_node") == "model"
        ):
            events.append(ChatEvent("token", text=chunk.text))
        return events
    for node, update in (part["data"] or {}).items():
        if node == "__interrupt__" or not isinstance(update, dict):
            continue
        for message in update.get("messages", []):
            if isinstance(message, AIMessage) and node == "model":
                if whole and message.text:
                    events.append(ChatEvent("token", text=message.text))
                for call in message.tool_calls:
                    events.append(ChatEvent("tool_call", text=call["name"], data=dict(call)))
            elif isinstance(message, ToolMessage):
                events.append(
                    ChatEvent(
                        "tool_result",
                        text=message.text,
                        data={
                            "name": message.name,
                            "status": message.status,
                            "tool_call_id": message.tool_call_id,
                        },
                    )
                )
    return events
