"""The approval middleware: one request per model reply, decisions per change, ordered apply.

After each model reply (``after_model``), every gated tool call of the reply is parsed against
its action's strict schema and planned in the order the model listed them, each on what the
changes listed before it will leave (an edit of a file an earlier change edits is planned on
that change's result). All of them are recorded at once, with exactly what the user is shown,
before anything is asked; YOLO mode (``allow_commands`` for commands) is read at that moment,
so switching it later never approves a change already asked.

Then, in a loop: every approved change whose earlier dependencies are settled is applied, in
listed order (marked ``applying`` before its effect, ``done``/``failed`` after); if some
change still waits for the user, the graph is interrupted once, listing every change of the
reply. The chat service records the user's decisions in the store and resumes; the node runs
again, finds the plans and decisions recorded, and goes on. Each gated call ends with exactly
one ToolMessage, written here: the result, the refusal, or the user's rejection. The tool node
only runs the read-only tools.

A change depends on an earlier one of the same reply when they touch the same thing (a file,
the job) or when either is a barrier (a command or a resubmission sees the whole workspace):
it is applied only once that one is settled, and one planned on an earlier change's result is
refused if that change was not applied. A change approved automatically (YOLO, allowed
commands) is not applied when the user rejected a change it waits for.

Extra tools (``RunManager(..., tools=[...])``, :mod:`.actions.external`): one that sends data
is a gated action like the others (asked like a command: YOLO mode does not approve it,
allowed commands do); a local one is run here, in place of the tool node, strictly checked
and bounded. Every call of a name the tool node does not run freely is planned here, so a
name no tool has is refused clearly, and a change whose extra tool is not given to the run
any more (after a restart) fails when approved, with nothing sent.

Model tool-call ids are not trusted to be unique: repeated ids in a reply are renamed, and a
reply whose message id repeats an earlier one gets a fresh id, so every change has its own key.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, replace
from typing import Any, TypedDict

from langchain.agents.middleware import AgentMiddleware, ModelRequest, ModelResponse
from langchain.agents.middleware.types import ToolCallRequest
from langchain_core.messages import AIMessage, ToolCall, ToolMessage
from langgraph.runtime import Runtime
from langgraph.types import Command, interrupt

from ..diagnosis.redact import redact
from .actions import ACTIONS, Action, ActionEnv, ActionError, Overlay
from .actions.external import ExtraTool, Toolset, parse_args, run_tool
from .context import ChatContext
from .events import ItemStatus, approval_of
from .records import Item

__all__ = ["ApprovalMiddleware", "ApprovalRequest", "ready", "request_key"]

log = logging.getLogger(__name__)


class ApprovalRequest(TypedDict):
    """The interrupt's value: every change of one reply (the store holds the truth)."""

    type: str
    request: str
    items: list[dict[str, Any]]


def request_key(thread: str, message_id: str) -> str:
    return f"{thread}/{message_id}"


def ready(items: Sequence[Item]) -> list[Item]:
    """Approved (or interrupted while applying) changes whose dependencies are all settled."""
    status = {i.position: i.status for i in items}
    return [
        i
        for i in items
        if i.status in (ItemStatus.APPROVED, ItemStatus.APPLYING)
        and all(status[d].settled for d in i.after)
    ]


def _unique_ids(calls: Sequence[ToolCall]) -> tuple[list[ToolCall], bool]:
    """The calls with repeated (or missing) ids renamed, the same way every time (by their
    place in the reply, as the node may run again): every call gets its own answer."""
    seen: set[str] = set()
    out: list[ToolCall] = []
    renamed = False
    for index, call in enumerate(calls):
        call_id = str(call.get("id") or "")
        if not call_id or call_id in seen:
            call_id = f"{call_id or 'call'}~{index}"
            while call_id in seen:
                call_id += "~"
            renamed = True
        seen.add(call_id)
        out.append({**call, "id": call_id})
    return out, renamed


class ApprovalMiddleware(AgentMiddleware[Any, ChatContext]):
    """See the module docstring. ``env_for`` gives the action environment of a chat;
    ``toolset`` the gated actions (built in, and one per extra tool that sends data) and the
    extra local tools, which this middleware runs bounded in place of the tool node. With a
    toolset, every call of a tool the tool node does not run freely goes through the
    approvals (an unknown name is refused there, clearly)."""

    def __init__(
        self,
        env_for: Callable[[ChatContext], Awaitable[ActionEnv]],
        toolset: Toolset | None = None,
    ) -> None:
        super().__init__()
        self.env_for = env_for
        self.actions: Mapping[str, Action] = toolset.actions if toolset else ACTIONS
        self.local: Mapping[str, ExtraTool] = toolset.local if toolset else {}
        self.free: frozenset[str] | None = toolset.free if toolset else None

    def _gated(self, name: str) -> bool:
        return name not in self.free if self.free is not None else name in self.actions

    async def awrap_tool_call(
        self,
        request: ToolCallRequest,
        handler: Callable[[ToolCallRequest], Awaitable[ToolMessage | Command[Any]]],
    ) -> ToolMessage | Command[Any]:
        """An extra local tool: its arguments checked strictly, run bounded (see
        :func:`~.actions.external.run_tool`); any failure is the model's tool error."""
        call = request.tool_call
        extra = self.local.get(call["name"])
        if extra is None:
            return await handler(request)
        status: Any = "success"
        try:
            args = parse_args(extra.tool, call.get("args"))
            text = await run_tool(extra.tool, args, extra.declaration.timeout)
        except ActionError as exc:
            text, status = f"Error: {exc}", "error"
        except Exception as exc:  # a bug of ours: still an answer, never a dead chat
            log.exception("running %s failed", extra.name)
            text, status = f"Error: {type(exc).__name__}: {redact(str(exc))[:2000]}", "error"
        return ToolMessage(
            content=text, tool_call_id=str(call.get("id")), name=extra.name, status=status
        )

    async def awrap_model_call(
        self,
        request: ModelRequest[ChatContext],
        handler: Callable[[ModelRequest[ChatContext]], Awaitable[ModelResponse[Any]]],
    ) -> ModelResponse[Any]:
        response = await handler(request)
        seen = {m.id for m in request.state.get("messages", []) if m.id}
        for message in response.result:
            if not isinstance(message, AIMessage):
                continue
            if not message.id or message.id in seen:
                message.id = f"reply-{uuid.uuid4().hex}"  # add_messages would replace the old one
            calls, renamed = _unique_ids(message.tool_calls)
            if renamed:  # before the reply is stored: every later step sees the same ids
                message.tool_calls = calls
        return response

    async def aafter_model(
        self, state: dict[str, Any], runtime: Runtime[ChatContext]
    ) -> dict[str, Any] | None:
        messages = state.get("messages") or []
        ai = messages[-1] if messages and isinstance(messages[-1], AIMessage) else None
        if ai is None or not ai.tool_calls:
            return None
        calls, renamed = _unique_ids(ai.tool_calls)
        update: list[Any] = []
        if renamed:
            ai = ai.model_copy(update={"tool_calls": calls})
            update.append(ai)
        gated = [c for c in calls if self._gated(c["name"])]
        if not gated:
            return {"messages": update} if update else None
        context = runtime.context
        if not isinstance(context, ChatContext):
            raise RuntimeError("the approval middleware runs only inside an adaptive_llm chat")
        env = await self.env_for(context)
        key = request_key(context.thread, str(ai.id))
        items = env.records.items(key)
        if not items:
            items = await self._plan(env, key, gated, cut_off=_cut_off(ai))
        while True:
            items = await self._apply_ready(env, items)
            if all(i.status.settled for i in items):
                break
            interrupt(
                ApprovalRequest(type="approval", request=key, items=[_shown(i) for i in items])
            )
            items = env.records.items(key)  # the decisions the service recorded
        update += [_answer(item) for item in items]
        return {"messages": update}

    async def _plan(
        self, env: ActionEnv, key: str, calls: Sequence[ToolCall], *, cut_off: str | None = None
    ) -> list[Item]:
        """Plan every gated call in listed order and record them all, before asking. A reply
        cut off at the output limit (``cut_off``: how the provider said so) may hold a call a
        server closed the JSON of, looking whole: its changes always ask (also in YOLO mode),
        with a warning in their summary. (The cut may as well have come after a whole call:
        llama-server stops a small model rambling after its call with the same reason.)"""
        overlay = Overlay()
        settings = env.records.settings(env.context.thread)
        items: list[Item] = []
        for position, call in enumerate(calls):
            action = self.actions.get(call["name"])
            base = Item(
                key=f"{key}/{position}",
                request=key,
                thread=env.context.thread,
                position=position,
                count=len(calls),
                call_id=str(call["id"]),
                tool=str(call["name"]),
                shown={"tool": str(call["name"]), "args": call.get("args")},
                plan=None,
                after=(),
                builds_on=(),
                status=ItemStatus.REFUSED,
            )
            if action is None:
                known = ", ".join(sorted({*self.actions, *(self.free or ())}))
                exc = ActionError(f"there is no tool named {call['name']!r} (the tools: {known})")
                items.append(replace(base, result=f"Error: {exc}", shown=_refused(base, exc)))
                continue
            try:
                args = action.parse(call.get("args"))
                plan = await action.plan(env, args, overlay, position)
            except ActionError as exc:
                items.append(replace(base, result=f"Error: {exc}", shown=_refused(base, exc)))
                continue
            except Exception as exc:  # a bug or an odd file system: refused, never asked
                log.exception("planning %s failed", action.name)
                text = f"Error: {type(exc).__name__}: {exc}"
                items.append(replace(base, result=text, shown=_refused(base, exc)))
                continue
            after = tuple(
                earlier.position
                for earlier in items
                if earlier.status is not ItemStatus.REFUSED
                and (
                    plan.barrier
                    or earlier.shown.get("barrier")
                    or plan.touches & set(earlier.shown.get("touches") or ())
                )
            )
            auto = bool(settings[action.auto_flag]) and cut_off is None
            shown = plan.shown(action.name, action.shown_args(args))
            if cut_off is not None:
                shown["summary"] = (
                    f"{shown['summary']}; WARNING: the reply was cut off at the output limit"
                    f" ({cut_off}): this change may be incomplete, check it in full"
                )
            items.append(
                replace(
                    base,
                    shown=shown,
                    plan=plan.data,
                    after=after,
                    builds_on=plan.builds_on,
                    status=ItemStatus.APPROVED if auto else ItemStatus.PENDING,
                    decided_by=("yolo" if action.auto_flag == "yolo" else "allowed")
                    if auto
                    else None,
                )
            )
        env.records.add_items(items)
        return env.records.items(key)

    async def _apply_ready(self, env: ActionEnv, items: list[Item]) -> list[Item]:
        """Apply, in listed order, every approved change whose dependencies are settled."""
        by_position = {i.position: i for i in items}
        for item in items:
            item = by_position[item.position]
            if item not in ready(list(by_position.values())):
                continue
            action = self.actions.get(item.tool)
            missing = [d for d in item.builds_on if by_position[d].status is not ItemStatus.DONE]
            rejected = [d for d in item.after if by_position[d].status is ItemStatus.REJECTED]
            if item.decided_by != "user" and rejected:
                # Auto-approval never outweighs a rejection of what the change waited for.
                earlier = by_position[rejected[0]]
                text = (
                    f"Error: not applied: it waited for change {earlier.number}, which the user"
                    " rejected (it was approved automatically, not by the user)."
                )
                status, result = ItemStatus.FAILED, text
            elif action is None:
                # Proposed by an extra tool of an earlier run that this run was not given.
                text = (
                    f"Error: not run: the tool {item.tool!r} is not among this run's tools that"
                    " send data (it was given with RunManager(tools=[...]) when the call was"
                    " proposed, not now); nothing was sent or changed. Pass the tool again,"
                    " declared as before, to use it."
                )
                status, result = ItemStatus.FAILED, text
            elif missing:
                earlier = by_position[missing[0]]
                text = (
                    f"Error: not applied: it was planned on change {earlier.number}, which was"
                    f" {earlier.status.value}, not applied."
                )
                status, result = ItemStatus.FAILED, text
            else:
                resuming = item.status is ItemStatus.APPLYING
                env.records.set_status(item.key, ItemStatus.APPLYING)
                try:
                    if resuming:
                        result = await action.resume(env, item)
                    else:
                        result = await action.apply(env, item)
                    status = ItemStatus.DONE
                except ActionError as exc:
                    status, result = ItemStatus.FAILED, f"Error: {exc}"
                except Exception as exc:
                    log.exception("applying %s failed", action.name)
                    status, result = ItemStatus.FAILED, f"Error: {type(exc).__name__}: {exc}"
            env.records.set_status(item.key, status, result)
            by_position[item.position] = replace(item, status=status, result=result)
        return [by_position[i.position] for i in items]


def _cut_off(message: AIMessage) -> str | None:
    """How the provider said the reply stopped at the output limit, or None if it did not
    (OpenAI-style ``finish_reason: length``, Anthropic's ``stop_reason: max_tokens``,
    Ollama's ``done_reason: length``)."""
    meta = message.response_metadata or {}
    for field, value in (
        ("finish_reason", "length"),
        ("stop_reason", "max_tokens"),
        ("done_reason", "length"),
    ):
        if meta.get(field) == value:
            return f"{field}: {value}"
    return None


def _shown(item: Item) -> dict[str, Any]:
    data = asdict(approval_of(item))
    return {**data, "status": item.status.value, "after": list(data["after"])}


def _refused(base: Item, exc: BaseException) -> dict[str, Any]:
    return {**base.shown, "summary": f"Refused {base.tool}: {exc}", "barrier": False}


def _answer(item: Item) -> ToolMessage:
    ok = item.status is ItemStatus.DONE
    return ToolMessage(
        content=item.result or f"Error: {item.tool} ended {item.status.value}",
        tool_call_id=item.call_id,
        name=item.tool,
        status="success" if ok else "error",
    )
