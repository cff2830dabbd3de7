"""A reply cut off at the output limit: its changes always ask, with a warning.

llama-server closes the JSON of a call cut by ``max_tokens``, so a truncated edit arrives as a
valid one; the provider's stop reason is the only sign (and it is also given when a small model
rambles on after a whole call, so the change is not refused: the user decides, warned).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from chat_support import ChatScript, StartChat, edit
from langchain_core.messages import AIMessage

Files = Callable[..., Path]


def reply(reason: dict[str, str]) -> AIMessage:
    message = edit("train.py", "lr = 0.1", "lr = 0.0")  # maybe the text the limit cut short
    return AIMessage(
        content="Here is the fix:", tool_calls=message.tool_calls, response_metadata=reason
    )


@pytest.mark.parametrize(
    "reason",
    [{"finish_reason": "length"}, {"stop_reason": "max_tokens"}, {"done_reason": "length"}],
)
async def test_a_cut_off_reply_asks_even_in_yolo_mode_and_says_why(
    start_chat: StartChat, files: Files, reason: dict[str, str]
) -> None:
    path = files("train.py", "lr = 0.1\n")
    rm = await start_chat(ChatScript([reply(reason), "Applied."]))
    lm = rm.llm_manager
    lm.set_yolo("j", True)
    answer = await lm.chat("j", "fix the learning rate")
    [approval] = answer.approvals
    assert "cut off at the output limit" in approval.summary
    assert next(iter(reason.values())) in approval.summary
    assert path.read_text() == "lr = 0.1\n"  # not applied by YOLO
    await lm.chat("j", "approve")
    assert path.read_text() == "lr = 0.0\n"


async def test_a_whole_reply_has_no_warning_and_yolo_applies_it(
    start_chat: StartChat, files: Files
) -> None:
    path = files("train.py", "lr = 0.1\n")
    rm = await start_chat(ChatScript([reply({"finish_reason": "tool_calls"}), "Done."]))
    lm = rm.llm_manager
    lm.set_yolo("j", True)
    answer = await lm.chat("j", "fix the learning rate")
    assert answer.approvals == [] and path.read_text() == "lr = 0.0\n"
