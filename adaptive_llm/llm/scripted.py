"""A chat model whose replies are scripted (public as ``adaptive_llm.testing``).

``ScriptedChatModel(responses)`` stands in for an LLM provider: ``responses`` is a list of
``AIMessage`` objects (or strings) returned in order, or a callable that receives the message
list and returns the next ``AIMessage``. It supports ``bind_tools`` and streams text token by
token and tool calls as ``tool_call_chunks``, so it drives ``create_agent``, interrupts and
streaming exactly as a provider would.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from pydantic import PrivateAttr

__all__ = ["ScriptedChatModel", "tool_call"]

Script = Sequence[AIMessage | str] | Callable[[list[BaseMessage]], AIMessage | str]


def tool_call(name: str, args: dict[str, Any] | None = None, id: str | None = None) -> AIMessage:
    """An ``AIMessage`` asking for one tool call (shorthand for scripts)."""
    return AIMessage(
        content="",
        tool_calls=[
            {"name": name, "args": args or {}, "id": id or f"call_{uuid.uuid4().hex[:12]}"}
        ],
    )


class ScriptedChatModel(BaseChatModel):
    """A chat model whose replies are scripted; see the module docstring."""

    script: Any = None
    #: Report estimated token usage (as a provider would); the offline assistant reports none.
    fake_usage: bool = True
    _position: int = PrivateAttr(default=0)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def __init__(self, responses: Script, **kwargs: Any) -> None:
        super().__init__(script=responses, **kwargs)  # type: ignore[call-arg]

    @property
    def _llm_type(self) -> str:
        return "scripted"

    @property
    def calls(self) -> int:
        """How many replies were produced so far."""
        return self._position

    def bind_tools(
        self, tools: Sequence[Any], **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        return self

    def _next(self, messages: list[BaseMessage]) -> AIMessage:
        with self._lock:
            position = self._position
            self._position += 1
        if callable(self.script):
            reply = self.script(messages)
        else:
            if position >= len(self.script):
                raise ValueError(
                    f"ScriptedChatModel: the script has no reply #{position + 1}"
                    f" (it has {len(self.script)})"
                )
            reply = self.script[position]
        message = AIMessage(content=reply) if isinstance(reply, str) else reply
        if message.usage_metadata is None and self.fake_usage:
            text = "".join(m.text for m in messages)
            message = message.model_copy(
                update={
                    "usage_metadata": {
                        "input_tokens": max(1, len(text) // 4),
                        "output_tokens": max(1, len(message.text) // 4),
                        "total_tokens": max(1, len(text) // 4) + max(1, len(message.text) // 4),
                    }
                }
            )
        for call in message.tool_calls:
            if not call.get("id"):
                call["id"] = f"call_{uuid.uuid4().hex[:12]}"
        return message

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._next(messages))])

    def _chunks(self, message: AIMessage) -> Iterator[AIMessageChunk]:
        for token in re.findall(r"\S+\s*|\s+", message.text):
            yield AIMessageChunk(content=token, id=message.id)
        for index, call in enumerate(message.tool_calls):
            yield AIMessageChunk(
                content="",
                id=message.id,
                tool_call_chunks=[
                    tool_call_chunk(
                        name=call["name"], args=json.dumps(call["args"]), id=call["id"], index=index
                    )
                ],
            )
        yield AIMessageChunk(
            content="",
            id=message.id,
            usage_metadata=message.usage_metadata,
            response_metadata=dict(message.response_metadata),  # e.g. a finish_reason
            chunk_position="last",
        )

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for chunk in self._chunks(self._next(messages)):
            if run_manager and chunk.content:
                run_manager.on_llm_new_token(chunk.text, chunk=ChatGenerationChunk(message=chunk))
            yield ChatGenerationChunk(message=chunk)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for chunk in self._chunks(self._next(messages)):
            if run_manager and chunk.content:
                await run_manager.on_llm_new_token(
                    chunk.text, chunk=ChatGenerationChunk(message=chunk)
                )
            yield ChatGenerationChunk(message=chunk)
