"""Every model call of a chat turn is bounded in wall time: by ``call_timeout`` each, and all
together by what is left of the turn's ``turn_timeout`` (counted from the user's message;
a change waiting for the user's decision ends the turn, so that wait is never counted)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from langchain.agents.middleware import AgentMiddleware, ModelRequest, ModelResponse

from ..llm.limits import ModelLimits, timeout_error
from .context import ChatContext

__all__ = ["BoundedCalls"]


class BoundedCalls(AgentMiddleware[Any, ChatContext]):
    """``awrap_model_call`` under a timeout; ``start(thread)`` opens a turn's budget."""

    def __init__(self, limits: ModelLimits, model: Any) -> None:
        super().__init__()
        self.limits = limits
        self.model = model
        self._deadlines: dict[str, float] = {}

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
        seconds, what = self.limits.call_timeout, "model call"
        if left < seconds:
            seconds, what = max(left, 0.0), "chat turn"
        if seconds <= 0:
            raise timeout_error(self.model, self.limits.turn_timeout, "chat turn")
        try:
            return await asyncio.wait_for(handler(request), seconds)
        except TimeoutError:
            limit = self.limits.call_timeout if what == "model call" else self.limits.turn_timeout
            raise timeout_error(self.model, limit, what) from None
