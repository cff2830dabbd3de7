"""The chat's messages: one ``Bubble`` per message, and a turn's events turned into bubbles
(tokens flushed at most every ``THROTTLE`` seconds; a result shown once)."""

from __future__ import annotations

import html
import json
import time
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets  # type: ignore[import-untyped]

from .render import markdown_html, plain_html

if TYPE_CHECKING:
    from ..chat.events import ChatEvent, ChatMessage

__all__ = ["THROTTLE", "Bubble", "Stream", "bubble_of"]

#: Minimum seconds between two updates of a streaming message.
THROTTLE = 0.05
_ROLE_LABEL = {"user": "you", "assistant": "assistant", "tool": "tool", "diagnosis": "diagnosis"}


class Bubble(widgets.HTML):  # type: ignore[misc]
    """One message; ``set_text`` re-renders only this message."""

    def __init__(self, role: str, text: str = "", *, error: bool = False, title: str = "") -> None:
        super().__init__()
        self.role = role
        self.error = error
        self.title = title or _ROLE_LABEL.get(role, role)
        self.text = ""
        self.add_class("adaptive-llm-bubble")
        self.add_class(f"adaptive-llm-{role}")
        if error:
            self.add_class("adaptive-llm-error")
        self.set_text(text)

    def set_text(self, text: str) -> None:
        self.text = text
        body = plain_html(text) if self.role == "tool" else markdown_html(text)
        label = f'<div class="adaptive-llm-role">{html.escape(self.title)}</div>'
        self.value = label + body


class Stream:
    """One turn's events turned into bubbles; tokens flushed at most every ``THROTTLE`` s."""

    def __init__(self, chat: Any) -> None:
        self.chat = chat
        self.bubble: Bubble | None = None
        self.text = ""
        self.shown = ""
        self.flushed = 0.0

    def handle(self, event: ChatEvent) -> None:
        if event.type == "token":
            self.text += event.text
            if time.monotonic() - self.flushed >= THROTTLE:
                self.flush()
            return
        self.flush()
        if event.type == "tool_call":
            args = json.dumps(event.data.get("args") or {}, ensure_ascii=False)
            self._end_message()
            self.chat._append(Bubble("tool", f"{event.text}({args})", title="tool call"))
        elif event.type in ("tool_result", "applied"):
            call_id = event.data.get("tool_call_id")
            if call_id and call_id in self.chat.results_shown:
                return  # shown when it was applied; its ToolMessage came with the reply's last
            if call_id:
                self.chat.results_shown.add(str(call_id))
            name = str(event.data.get("name") or "tool")
            error = event.data.get("status") == "error"
            self.chat._append(Bubble("tool", event.text, title=f"{name} result", error=error))
        elif event.type == "error":
            self._end_message()
            self.chat._append(Bubble("assistant", event.text, error=True))
        elif event.type == "done" and self.bubble is None and not self.text and event.text:
            self.text = event.text
            self.flush()

    def flush(self) -> None:
        if self.text == self.shown:
            return
        if self.bubble is None:
            self.bubble = self.chat._append(Bubble("assistant"))
        self.bubble.set_text(self.text)
        self.shown = self.text
        self.flushed = time.monotonic()
        self.chat.updates += 1

    def _end_message(self) -> None:
        self.bubble, self.text, self.shown = None, "", ""


def bubble_of(message: ChatMessage) -> Bubble:
    if message.role == "tool":
        return Bubble(
            "tool",
            message.text,
            title=f"{message.name or 'tool'} result",
            error=message.status == "error",
        )
    if message.role == "assistant" and not message.text and message.tool_calls:
        calls = ", ".join(str(call.get("name")) for call in message.tool_calls)
        return Bubble("tool", calls, title="tool call")
    return Bubble(message.role, message.text)
