"""The approve/YOLO gate: a tool-call middleware deciding, once per tool call, whether to ask.

The first time a gated call is seen, its exact effect (a full diff, the job change, the
command) is computed and recorded with the decision "ask" or "auto" (YOLO, read at that
moment, so a switch counts from the next tool call). Only a recorded "ask" interrupts the
graph. On resume the node runs again; the recorded decision is reused, so switching YOLO on
while a question is pending never approves it. Every call ends in exactly one ToolMessage:
the result, a refusal, or the user's rejection (with their reason or feedback).

The gated calls of one reply are proposed and applied in the order the model listed them
(``order``): undo then reverts the last one listed first.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from langchain.agents.middleware import AgentMiddleware, ToolCallRequest, wrap_tool_call
from langchain_core.messages import ToolMessage
from langgraph.types import Command, interrupt

from .order import SETTLED, SETTLED_OR_ASKING, ReplyOrder, earlier_calls, reply_of
from .tools import GATED
from .workspace import WorkspaceError

if TYPE_CHECKING:
    from .session import ChatService

_APPROVE = {"approve", "approved", "yes", "y"}
_REJECT_RE = re.compile(r"^(?:reject|no)\b[\s:,.;!-]*(.*)$", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Decision:
    """The user's answer to a pending approval."""

    approve: bool
    #: The reason given with ``reject ...`` / ``no ...``.
    reason: str | None = None
    #: Any other message typed while the approval was pending.
    feedback: str | None = None

    def to_resume(self) -> dict[str, Any]:
        return {"approve": self.approve, "reason": self.reason, "feedback": self.feedback}


def parse_answer(text: str) -> Decision:
    """``approve``/``yes``/``y`` (whole message, any case) approves; ``reject [reason]``/``no``
    declines; anything else declines and is passed on as the user's feedback."""
    stripped = text.strip()
    if stripped.lower().rstrip(".!") in _APPROVE:
        return Decision(approve=True)
    match = _REJECT_RE.match(stripped)
    if match:
        return Decision(approve=False, reason=match.group(1).strip() or None)
    return Decision(approve=False, feedback=stripped)


def rejection_text(decision: dict[str, Any]) -> str:
    if decision.get("feedback"):
        return (
            "The user did not approve this and wrote instead: "
            f"{decision['feedback']}\nNothing was changed. Respond to what they wrote."
        )
    if decision.get("reason"):
        return f"The user rejected this: {decision['reason']}\nNothing was changed."
    return (
        "The user rejected this. Nothing was changed. Do not retry the same change; ask what"
        " they would like instead."
    )


def proposal_key(thread: str, state: Any, call_id: str) -> str:
    """The key of a tool call's proposal in the store.

    A model's tool-call id is unique only within its reply (some OpenAI-compatible servers
    number the calls of each reply: ``call_0`` every time), so the thread and the id of the
    ``AIMessage`` holding the call are part of the key: a later call reusing an id is a new
    call, asked again, never answered with an earlier call's result.
    """
    message = reply_of(state, call_id)
    return f"{thread}/{message.id}/{call_id}" if message is not None else f"{thread}//{call_id}"


def build_gate(service: ChatService) -> AgentMiddleware[Any, Any]:
    from .session import chat_context

    records = service.records
    order = ReplyOrder(records)

    async def approval_gate(
        request: ToolCallRequest,
        handler: Callable[[ToolCallRequest], Awaitable[ToolMessage | Command[Any]]],
    ) -> ToolMessage | Command[Any]:
        call = request.tool_call
        name = call["name"]
        if name not in GATED:
            return await handler(request)
        call_id = str(call["id"])
        context = chat_context(request.runtime)
        key = proposal_key(context.thread, request.state, call_id)
        before = [
            proposal_key(context.thread, request.state, c)
            for c in earlier_calls(request.state, call_id)
        ]
        proposal = records.proposal(key)
        if proposal is None:
            earlier = await order.wait(before, SETTLED_OR_ASKING)
            asking = [p for p in earlier if p.status == "pending"]
            try:
                shown, plan = await service.propose(context, name, dict(call["args"]), asking)
            except Exception as exc:  # recorded as settled: later calls must not wait on it
                known = isinstance(exc, WorkspaceError | ValueError | LookupError | RuntimeError)
                text = f"Error: {exc}" if known else f"Error: {type(exc).__name__}: {exc}"
                refused = {"tool": name, "summary": text}
                records.add_proposal(key, context.thread, name, refused, None, status="done")
                records.finish(key, text, failed=True)
                order.changed()
                return _message(call_id, name, text, error=True)
            settings = records.settings(context.thread)
            auto = settings["allow_commands"] if name == "run_command" else settings["yolo"]
            auto = auto and not asking  # after a call waiting for the user: wait too
            proposal = records.add_proposal(
                key,
                context.thread,
                name,
                shown,
                plan,
                status="approved" if auto else "pending",
                decided_by=("allowed" if name == "run_command" else "yolo") if auto else None,
            )
            order.changed()
        if proposal.status == "pending":
            answer = interrupt({"type": "approval", "tool_call_id": call_id, **proposal.request})
            answer = answer if isinstance(answer, dict) else {"approve": False}
            if answer.get("approve"):
                records.decide(key, "approved", "user")
                order.changed()
            else:
                text = rejection_text(answer)
                records.decide(
                    key, "rejected", "user", answer.get("feedback") or answer.get("reason")
                )
                records.finish(key, text, failed=True)
                order.changed()
                return _message(call_id, name, text, error=True)
            proposal = records.proposal(key) or proposal
        if proposal.status in SETTLED:  # a replay after it was settled: never apply twice
            return _message(call_id, name, proposal.result or "", error=proposal.status == "failed")
        await order.wait(before, SETTLED)
        try:
            result = await handler(request)
        except Exception as exc:  # settled too, or the calls listed after it would wait forever
            records.finish(key, f"Error: {type(exc).__name__}: {exc}", failed=True)
            order.changed()
            raise
        # Settled whatever the handler returned, or the calls listed after it would wait on.
        records.finish(
            key,
            result.text if isinstance(result, ToolMessage) else "",
            failed=isinstance(result, ToolMessage) and result.status == "error",
        )
        order.changed()
        return result

    return wrap_tool_call(approval_gate)


def _message(call_id: str, name: str, text: str, *, error: bool) -> ToolMessage:
    return ToolMessage(
        content=text, tool_call_id=call_id, name=name, status="error" if error else "success"
    )
