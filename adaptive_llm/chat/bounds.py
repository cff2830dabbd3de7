"""Every model call of a chat turn is bounded: in wall time by ``call_timeout`` each, and all
together by what is left of the turn's ``turn_timeout`` (counted from the user's message;
a change waiting for the user's decision ends the turn, so that wait is never counted); in
size by the model's context window, which the history sent is fitted into.

Fitting leaves the stored conversation as it is; only what one call sends is shortened. The
system prompt (with the job's facts and diagnosis) is always sent. Whole old turns are left
out first, from the oldest, cutting only before a user message so every tool call keeps its
answer; if the latest turn alone is too big, its largest tool results are cut in the middle.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from langchain.agents.middleware import AgentMiddleware, ModelRequest, ModelResponse
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.messages.utils import count_tokens_approximately, trim_messages
from langchain_core.utils.function_calling import convert_to_openai_tool

from .._core.aio import within
from ..llm.limits import ModelLimits, context_of, endpoint_of, timeout_error
from .context import ChatContext

__all__ = ["BoundedCalls"]


class BoundedCalls(AgentMiddleware[Any, ChatContext]):
    """``awrap_model_call`` under a timeout; ``start(thread)`` opens a turn's budget."""

    def __init__(self, limits: ModelLimits, model: Any) -> None:
        super().__init__()
        self.limits = limits
        self.model = model
        self._deadlines: dict[str, float] = {}
        self._tool_tokens: dict[object, int] = {}
        # An OpenAI-compatible server of one's own (llama.cpp, vLLM, ...): some refuse an
        # assistant message whose content is null, which LangChain sends for tool calls.
        self._strict = endpoint_of(model) is not None and "openai" in getattr(
            model, "_llm_type", ""
        )

    def start(self, thread: str) -> None:
        self._deadlines[thread] = time.monotonic() + self.limits.turn_timeout

    async def awrap_model_call(
        self,
        request: ModelRequest[ChatContext],
        handler: Callable[[ModelRequest[ChatContext]], Awaitable[ModelResponse[Any]]],
    ) -> ModelResponse[Any]:
        context = request.runtime.context
        thread = context.thread if isinstance(context, ChatContext) else ""
        left = self._deadlines.get(thread, time.monotonic() + self.limits.turn_timeout)
        left -= time.monotonic()
        seconds, what, limit = self.limits.call_timeout, "model call", self.limits.call_timeout
        if left < seconds:
            seconds, what, limit = max(left, 0.0), "chat turn", self.limits.turn_timeout
        if seconds <= 0:
            raise timeout_error(self.model, limit, what)
        messages: Any = fit_messages(
            normalise_messages(request.messages, strict=self._strict), self.budget(request)
        )
        if len(messages) != len(request.messages) or any(
            a is not b for a, b in zip(messages, request.messages, strict=False)
        ):
            request = request.override(messages=messages)
        try:
            return await within(handler(request), seconds)
        except TimeoutError:
            raise timeout_error(self.model, limit, what) from None

    def budget(self, request: ModelRequest[ChatContext]) -> int:
        """Tokens the messages may take: the context, less the reply's limit, the system
        prompt, the tool schemas and a margin for the estimate's error."""
        context = context_of(self.model, self.limits)
        system = request.system_message
        fixed = count_tokens_approximately([system]) if system is not None else 0
        for tool in request.tools:
            key = getattr(tool, "name", None) or id(tool)
            if key not in self._tool_tokens:
                self._tool_tokens[key] = len(_schema(tool)) // 4
            fixed += self._tool_tokens[key]
        reply = min(self.limits.max_output_tokens, context // 2)
        return max(256, int((context - reply - fixed) * 0.85))


def _schema(tool: Any) -> str:
    """The tool as the provider is sent it (OpenAI's shape; close enough for the others)."""
    try:
        return json.dumps(convert_to_openai_tool(tool), default=str)
    except Exception:  # a tool the converter does not know: its name and description
        return f"{getattr(tool, 'name', '')} {getattr(tool, 'description', '')}"


#: The answer sent for a tool call whose result the history lacks (never expected: a guard).
MISSING_RESULT = "Error: no result was recorded for this call; nothing is known of its outcome."


def normalise_messages(messages: Sequence[BaseMessage], *, strict: bool) -> list[BaseMessage]:
    """What every provider accepts: each tool call answered by exactly one tool message right
    after its assistant message (a missing answer gets an error result, a stray or repeated
    one is left out); calls that were not valid JSON, and content blocks of calls the message
    does not hold, are left out, and so is an assistant message left with nothing to say;
    with ``strict``, a tool-calling assistant message never has empty content (LangChain
    would send ``null``)."""
    out: list[BaseMessage] = []
    i = 0
    while i < len(messages):
        message = messages[i]
        i += 1
        if isinstance(message, ToolMessage):
            continue  # not right after its call: stray
        if isinstance(message, AIMessage):
            cleaned = _only_its_calls(message)
            if cleaned is None:
                continue  # nothing was said: an empty assistant message is refused
            message = cleaned
        if not (isinstance(message, AIMessage) and message.tool_calls):
            out.append(message)
            continue
        if strict and not message.text.strip():
            message = message.model_copy(update={"content": " "})
        out.append(message)
        wanted = [str(c.get("id")) for c in message.tool_calls]
        answers: dict[str, ToolMessage] = {}
        while i < len(messages) and isinstance(messages[i], ToolMessage):
            answer = messages[i]
            assert isinstance(answer, ToolMessage)
            if answer.tool_call_id in wanted and answer.tool_call_id not in answers:
                answers[answer.tool_call_id] = answer
            i += 1
        for call in message.tool_calls:
            key = str(call.get("id"))
            out.append(
                answers.get(key)
                or ToolMessage(
                    MISSING_RESULT, tool_call_id=key, name=call.get("name"), status="error"
                )
            )
    return out


#: Content blocks that make a tool call (Anthropic's ``tool_use``; LangChain's standard ones).
_CALL_BLOCKS = frozenset({"tool_use", "tool_call", "tool_call_chunk", "invalid_tool_call"})


def _only_its_calls(message: AIMessage) -> AIMessage | None:
    """``message`` making only the calls of its ``tool_calls``, or None when it says nothing.

    Left out: calls that were not valid JSON (cut off by the output limit: never answered,
    and sent again they make a strict server refuse every later request), and a provider's
    content blocks of calls that ``tool_calls`` does not hold. langchain-anthropic keeps a
    streamed call in the content too (a ``tool_use`` block; for a cut call, its partial JSON)
    and sends each such block as a call: one with no answer after it makes the Anthropic API
    refuse the request (every later one too), and so does an empty text block. A block whose
    id repeats (the approvals rename repeated call ids in ``tool_calls``) is kept once: the
    client adds a block for each call its content lacks."""
    update: dict[str, Any] = {}
    if message.invalid_tool_calls:
        update["invalid_tool_calls"] = []
    content = message.content
    if isinstance(content, list):
        calls = {str(call.get("id")) for call in message.tool_calls}
        kept: list[Any] = []
        for block in content:
            if isinstance(block, dict):
                kind = block.get("type")
                if kind in _CALL_BLOCKS:
                    key = str(block.get("id"))
                    if kind == "invalid_tool_call" or key not in calls:
                        continue  # not a call it makes (the client would send it as one)
                    calls.discard(key)  # a repeated id: its first block only
                elif kind == "text" and not str(block.get("text") or "").strip():
                    continue
            kept.append(block)
        if len(kept) != len(content):
            update["content"] = kept
    if update:
        message = message.model_copy(update=update)
    if not message.tool_calls and message.content in ("", []):
        return None
    return message


def fit_messages(messages: Sequence[BaseMessage], budget: int) -> list[BaseMessage]:
    """``messages`` within ``budget`` estimated tokens (the same list when they fit)."""
    messages = list(messages)
    if count_tokens_approximately(messages) <= budget:
        return messages
    kept = trim_messages(
        messages,
        max_tokens=budget,
        token_counter=count_tokens_approximately,
        strategy="last",
        start_on="human",
        allow_partial=False,
    )
    if kept:
        return kept
    # The latest turn alone is too big: keep it, with its largest tool results cut down.
    last = max((i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=0)
    turn = list(messages[last:])
    while count_tokens_approximately(turn) > budget:
        sizes = [
            (len(m.text), i)
            for i, m in enumerate(turn)
            if isinstance(m, ToolMessage | HumanMessage) and len(m.text) > 400
        ]
        if not sizes:
            break
        size, i = max(sizes)
        keep = max(200, size // 2)
        text = turn[i].text
        cut = (
            f"{text[: keep // 2]}\n[... {size - keep} characters left out to fit the model's"
            f" context ...]\n{text[-keep // 2 :]}"
        )
        turn[i] = turn[i].model_copy(update={"content": cut})
    return turn
