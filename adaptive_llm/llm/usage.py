"""Token usage of every model call: the provider's count when it gives one, else an estimate.

:class:`UsageRecorder` is a LangChain callback handler given to every chat turn and LLM
diagnosis call. At the start of a call it notes the size of what is sent; at its end it reads
``usage_metadata`` of the reply (or the provider's ``token_usage``). Where the provider reports
nothing (a server that streams no usage), the count is **estimated**, and marked so, by one
rule: a token per :data:`CHARS_PER_TOKEN` (4) characters, rounded up, of

- in: every message sent (its text, and each tool call's name and JSON arguments; the system
  prompt included) plus the JSON schemas of the tools offered;
- out: the reply's text and its tool calls' names and JSON arguments.

Each part (in, out) is taken from the provider when it reports a non-zero count for it, and
estimated otherwise. A call that fails or times out records nothing (there is no reply to
count; a provider may still bill its input).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, LLMResult

from .limits import endpoint_of
from .prices import is_local_endpoint

__all__ = ["CHARS_PER_TOKEN", "CallUsage", "UsageRecorder", "estimate_tokens", "is_local_model"]

log = logging.getLogger(__name__)

#: Characters per token of the estimate (OpenAI's rule of thumb for English text and code).
CHARS_PER_TOKEN = 4

#: ``_llm_type`` of models that run on this machine whatever their settings.
_LOCAL_TYPES = ("chat-ollama", "ollama", "llamacpp", "llama-cpp", "chat-llamacpp")


@dataclass(frozen=True)
class CallUsage:
    """The tokens of one model call, and which of them were estimated."""

    input_tokens: int
    output_tokens: int
    input_estimated: bool = False
    output_estimated: bool = False


def estimate_tokens(chars: int) -> int:
    """Tokens of ``chars`` characters by the estimate's rule (rounded up)."""
    return math.ceil(max(chars, 0) / CHARS_PER_TOKEN)


def message_chars(message: BaseMessage) -> int:
    """Characters of a message the estimate counts: its text, and its tool calls."""
    size = len(message.text)
    if isinstance(message, AIMessage):
        for call in message.tool_calls:
            size += len(call.get("name") or "") + len(json.dumps(call.get("args"), default=str))
    return size


def is_local_model(model: Any) -> bool:
    """Whether ``model`` runs on a server of one's own (its cost is 0): its base URL is local
    (:func:`~.prices.is_local_endpoint`), or it is an Ollama or llama.cpp model without a
    remote base URL."""
    endpoint = endpoint_of(model)
    if endpoint is not None:
        return is_local_endpoint(endpoint)
    return str(getattr(model, "_llm_type", "")).lower() in _LOCAL_TYPES


def _reported(response: LLMResult) -> tuple[int, int, int]:
    """The provider's (input, output) count of a reply (0 where it says nothing), and the
    reply's characters for the estimate."""
    reported_in = reported_out = chars = 0
    for generations in response.generations:
        for generation in generations:
            if isinstance(generation, ChatGeneration):
                message = generation.message
                chars += message_chars(message)
                usage = getattr(message, "usage_metadata", None)
                if usage:
                    reported_in += int(usage.get("input_tokens") or 0)
                    reported_out += int(usage.get("output_tokens") or 0)
            else:
                chars += len(generation.text)
    if not (reported_in or reported_out):  # older integrations: llm_output's token_usage
        raw = (response.llm_output or {}).get("token_usage") or (response.llm_output or {}).get(
            "usage"
        )
        if isinstance(raw, dict):
            reported_in = int(raw.get("prompt_tokens") or raw.get("input_tokens") or 0)
            reported_out = int(raw.get("completion_tokens") or raw.get("output_tokens") or 0)
    return reported_in, reported_out, chars


class UsageRecorder(BaseCallbackHandler):
    """Hands each finished chat-model call's :class:`CallUsage` to ``on_usage``.

    ``node``: count only calls made by the LangGraph node of that name (the agent's ``model``
    node; a model a tool calls is the tool's business). Runs inline, on the caller's thread
    and loop, so a call's usage is recorded before the call returns.
    """

    run_inline = True

    def __init__(self, on_usage: Callable[[CallUsage], None], *, node: str | None = None) -> None:
        super().__init__()
        self.on_usage = on_usage
        self.node = node
        self._sent: dict[UUID, int] = {}

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if self.node is not None and (metadata or {}).get("langgraph_node") != self.node:
            return
        chars = sum(message_chars(m) for batch in messages for m in batch)
        tools = (kwargs.get("invocation_params") or {}).get("tools")
        if isinstance(tools, Sequence) and tools:
            chars += len(json.dumps(list(tools), default=str))
        self._sent[run_id] = chars

    def on_llm_end(
        self,
        response: LLMResult,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        sent = self._sent.pop(run_id, None)
        if sent is None:
            return
        reported_in, reported_out, chars = _reported(response)
        usage = CallUsage(
            input_tokens=reported_in or estimate_tokens(sent),
            output_tokens=reported_out or estimate_tokens(chars),
            input_estimated=not reported_in,
            output_estimated=not reported_out,
        )
        try:
            self.on_usage(usage)
        except Exception:  # counting must never break a call
            log.exception("recording a model call's token usage failed")

    def on_llm_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self._sent.pop(run_id, None)
