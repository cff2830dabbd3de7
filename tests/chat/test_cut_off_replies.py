"""A reply cut off at the output limit proposes nothing: its changes may be incomplete.

llama-server closes the JSON of a call cut by ``max_tokens``, so a truncated edit arrives as a
valid one; the provider's stop reason is the only sign.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from chat_support import ChatScript, StartChat, edit, last_tool_message
from langchain_core.messages import AIMessage, BaseMessage

Files = Callable[..., Path]


def cut(reason: dict[str, str]) -> AIMessage:
    message = edit("train.py", "lr = 0.1", "lr = 0.0")  # the text the limit cut short
    return AIMessage(
        content="Here is the fix:", tool_calls=message.tool_calls, response_metadata=reason
    )


@pytest.mark.parametrize(
    "reason",
    [{"finish_reason": "length"}, {"stop_reason": "max_tokens"}, {"done_reason": "length"}],
)
async def test_a_cut_off_reply_proposes_nothing(
    start_chat: StartChat, files: Files, reason: dict[str, str]
) -> None:
    path = files("train.py", "lr = 0.1\n")
    seen: list[list[BaseMessage]] = []

    def after(messages: list[BaseMessage]) -> str:
        seen.append(messages)
        return "I will send a shorter change."

    rm = await start_chat(ChatScript([cut(reason), after]))
    lm = rm.llm_manager
    lm.set_yolo("j", True)  # not even YOLO applies it
    reply = await lm.chat("j", "fix the learning rate")
    assert reply.approvals == [] and await lm.pending("j") == []
    assert path.read_text() == "lr = 0.1\n"
    result = last_tool_message(seen[-1])
    assert result.status == "error" and "cut off at the output limit" in result.text
    assert next(iter(reason.values())) in result.text


async def test_a_whole_reply_still_asks(start_chat: StartChat, files: Files) -> None:
    files("train.py", "lr = 0.1\n")
    whole = cut({"finish_reason": "tool_calls"})
    rm = await start_chat(ChatScript([whole]))
    reply = await rm.llm_manager.chat("j", "fix the learning rate")
    assert len(reply.approvals) == 1
