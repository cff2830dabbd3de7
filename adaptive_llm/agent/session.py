"""Chats about jobs: one LangChain agent, one persisted thread per job, consented actions.

``ChatService`` is created lazily by the ``LLMManager`` (LangChain is imported only when a
chat is used). Threads are ``job:<name>`` (and ``general``); the conversation, a pending
approval and the edit history live in the run's SQLite store and survive a kernel restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import hashlib
import json
import logging
import warnings
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain.agents import create_agent
from langchain.agents.middleware import ModelRequest, dynamic_prompt
from langchain.tools import ToolRuntime
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from langgraph.types import Command

from ..diagnosis.redact import redact
from ..jobs.model import Job, Resources, format_duration, format_memory
from ..jobs.sbatch import batch_script_of, script_header
from ..jobs.schedulers.base import ResourceCaps
from .gate import build_gate, parse_answer, proposal_key
from .models import estimate_cost, model_label, resolve_model
from .order import plan_over
from .prompts import diagnosis_points, system_prompt
from .records import ChatRecords, Proposal
from .tools import build_tools, decode_plan, encode_plan, run_shell
from .workspace import AppliedEdit, Workspace, WorkspaceError

if TYPE_CHECKING:
    from ..managers.llm_manager import LLMManager

log = logging.getLogger(__name__)
GENERAL = "general"

# LangGraph serialises the tool runtime on resume with a schema that expects no context; the
# value is right, only the warning is noise in the user's notebook.
warnings.filterwarnings(
    "ignore",
    message=r"(?s)Pydantic serializer warnings:.*field_name='context'",
    category=UserWarning,
)


@dataclass(frozen=True)
class ChatContext:
    thread: str
    job: str | None


@dataclass(frozen=True)
class Approval:
    """A pending request for consent: the full diff, or the command, or the resubmission."""

    tool_call_id: str
    tool: str
    summary: str
    diff: str | None = None
    command: str | None = None
    path: str | None = None
    kind: str | None = None


@dataclass(frozen=True)
class ChatEvent:
    """One streamed event: token, tool_call, tool_result, approval, done or error."""

    type: str
    text: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    approval: Approval | None = None


@dataclass(frozen=True)
class ChatReply:
    text: str
    approval: Approval | None
    approvals: list[Approval]
    events: list[ChatEvent]
    error: str | None = None


@dataclass(frozen=True)
class ChatMessage:
    role: str  # diagnosis | user | assistant | tool
    text: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    name: str | None = None
    status: str | None = None


@dataclass(frozen=True)
class Usage:
    input_tokens: int
    output_tokens: int
    #: Estimated cost in US dollars, when the model's price is known.
    cost_usd: float | None


class ChatService:
    def __init__(self, llm_manager: LLMManager) -> None:
        self.llm_manager = llm_manager
        self.job_manager = llm_manager.job_manager
        self.store = llm_manager.store
        self.records = ChatRecords(self.store)
        self.model = resolve_model(llm_manager.llm)
        self.model_name = model_label(self.model)
        self._agent: Any = None
        self._connection: Any = None
        self._locks: dict[str, asyncio.Lock] = {}
        self._caps: dict[str, ResourceCaps] = {}

    # -- setup --------------------------------------------------------------------------------

    async def agent(self) -> Any:
        if self._agent is None:
            import aiosqlite
            from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

            # Autocommit: the saver's INSERT and its later ``await commit()`` would otherwise
            # hold the write lock across an await, while the Store's synchronous writes (the
            # gate's records, on the loop thread) wait for it and block the loop: a deadlock
            # until the busy timeout ("store is locked").
            self._connection = await aiosqlite.connect(self.store.path, isolation_level=None)
            await self._connection.execute("PRAGMA busy_timeout=5000")
            saver = AsyncSqliteSaver(self._connection)

            @dynamic_prompt
            def prompt(request: ModelRequest) -> str:
                context = chat_context(request.runtime)
                root = str(self.root(context.job))
                return system_prompt(root, self.job_context(context.job) if context.job else None)

            self._agent = create_agent(
                self.model,
                build_tools(self),
                middleware=[prompt, build_gate(self)],
                checkpointer=saver,
                context_schema=ChatContext,
            )
        return self._agent

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None
            self._agent = None

    # -- context ------------------------------------------------------------------------------

    @staticmethod
    def thread_of(job: str | None) -> str:
        return f"job:{job}" if job else GENERAL

    def root(self, job: str | None) -> Any:
        if job is None:
            return self.job_manager.workdir
        return self.job_manager.job(job).resolved_cwd(self.job_manager.workdir)

    def workspace(self, runtime: ToolRuntime | ChatContext) -> Workspace:
        context = runtime if isinstance(runtime, ChatContext) else chat_context(runtime)
        return Workspace(self.root(context.job))

    def job_context(self, name: str) -> dict[str, Any]:
        job = self.job_manager.job(name)
        attempt = self.job_manager.attempts.get(name)
        diagnosis = self.llm_manager.cached(name)
        context: dict[str, Any] = {
            "job": name,
            "state": attempt.state.value if attempt else "PENDING",
            "attempt": attempt.number if attempt else 0,
            "reason": attempt.reason if attempt else None,
            "command": job.command if isinstance(job.command, str) else list(job.command),
            "cwd": str(self.root(name)),
            "resources": job.resources.to_dict(),
            "log": attempt.log_path if attempt else None,
        }
        script = batch_script_of(job, self.job_manager.workdir)
        if script is not None:
            with contextlib.suppress(ValueError):  # a script outside the workspace: not editable
                rel = script.resolve().relative_to(Path(self.root(name)).resolve())
                header = [redact(line) for line in script_header(script)]  # e.g. --export=TOKEN
                context["batch_script"] = {"path": rel.as_posix(), "header": header}
        if diagnosis is not None:
            data = diagnosis.to_dict()
            data.pop("path", None)
            context["diagnosis"] = data
        caps = self._caps.get(name)
        if caps is not None:
            context["max_time_limit"] = caps.time_limit
            context["max_memory"] = caps.memory
        llm_text = self.llm_manager.llm_diagnosis_text(name)
        if llm_text:
            context["llm_diagnosis"] = llm_text
        return context

    # -- the gate's two halves ----------------------------------------------------------------

    async def propose(
        self,
        context: ChatContext,
        tool: str,
        args: dict[str, Any],
        ahead: Sequence[Proposal] = (),
    ) -> tuple[dict[str, Any], bytes | None]:
        """What a gated call would do, exactly (shown to the user), and the data to apply it.

        ``ahead`` are the calls listed before it in the same reply that wait for the user: they
        apply first, so an edit of a file they edit (or a change of the job's resources) is
        planned on what they leave."""
        if tool in ("edit_file", "write_file"):
            workspace = self.workspace(context)
            base = _planned_content(workspace, args["path"], ahead)
            if base is not None:
                plan = await plan_over(workspace, base, tool, args)
            elif tool == "edit_file":
                plan = await workspace.plan_edit(args["path"], args["old_text"], args["new_text"])
            else:
                plan = await workspace.plan_write(args["path"], args["content"])
            verb = {"create": "Create", "overwrite": "Overwrite", "edit": "Edit"}[plan.kind]
            shown = {
                "tool": tool,
                "kind": plan.kind,
                "path": plan.path,
                "diff": plan.diff,
                "summary": f"{verb} {plan.path}",
            }
            return shown, encode_plan(plan)
        if tool == "run_command":
            command = str(args["command"])
            root = str(self.root(context.job))
            return {
                "tool": tool,
                "command": command,
                "cwd": root,
                "summary": f"Run `{command}` in {root}",
            }, None
        if context.job is None:
            raise ValueError(f"{tool} needs a chat about a job; this chat is not about one")
        job = self.job_manager.job(context.job)
        for earlier in ahead:  # a resource change waiting for the user applies first
            if earlier.tool == "set_job_resources" and earlier.plan is not None:
                job = Job.from_dict(json.loads(earlier.plan)["after"])
        if tool == "set_job_resources":
            changes = {k: v for k, v in args.items() if v is not None}
            if not changes:
                raise ValueError("set_job_resources needs time_limit, memory or cpus")
            new = replace(job, resources=Resources(**{**job.resources.to_dict(), **changes}))
            diff = _resources_diff(job, new)
            shown = {
                "tool": tool,
                "kind": "resources",
                "path": f"job:{job.name}",
                "diff": diff,
                "summary": f"Change the resources of job {job.name}",
            }
            change = json.dumps({"before": job.to_dict(), "after": new.to_dict()}).encode()
            return shown, change
        attempt = self.job_manager.attempts.get(job.name)
        number = attempt.number + 1 if attempt else 1
        return {
            "tool": tool,
            "command": job.command_text,
            "summary": f"Resubmit job {job.name} as attempt {number}"
            f" ({_resources_text(job.resources)})",
        }, None

    async def apply_approved(self, runtime: ToolRuntime) -> str:
        """Apply the consented action recorded for this tool call; refuse without consent."""
        context = chat_context(runtime)
        call_id = str(runtime.tool_call_id)
        proposal = self.records.proposal(proposal_key(context.thread, runtime.state, call_id))
        if proposal is None or proposal.status not in ("approved",):
            return "Error: this action was not approved by the user; nothing was done."
        approved_by = proposal.decided_by or "user"
        tool = proposal.tool
        if tool in ("edit_file", "write_file"):
            assert proposal.plan is not None
            plan = decode_plan(proposal.plan)
            try:
                applied = await self.workspace(context).apply(plan)
            except WorkspaceError as exc:
                return f"Error: {exc}"
            self.records.add_edit(
                thread=context.thread,
                tool_call_id=call_id,
                path=applied.path,
                kind=applied.kind,
                diff=applied.diff,
                before=applied.before,
                after_sha256=applied.after_sha256,
                approved_by=approved_by,
            )
            return f"Applied ({approved_by}): {applied.kind} {applied.path}."
        if tool == "set_job_resources":
            assert proposal.plan is not None and context.job is not None
            data = json.loads(proposal.plan)
            current = self.job_manager.job(context.job)
            if current.to_dict() != data["before"]:
                return "Error: the job changed since this was proposed; look at it again."
            new = Job.from_dict(data["after"])
            self.job_manager.update_job(new)
            after = json.dumps(new.to_dict()).encode()
            self.records.add_edit(
                thread=context.thread,
                tool_call_id=call_id,
                path=f"job:{new.name}",
                kind="resources",
                diff=proposal.request.get("diff", ""),
                before=json.dumps(data["before"]).encode(),
                after_sha256=hashlib.sha256(after).hexdigest(),
                approved_by=approved_by,
            )
            return (
                f"Applied ({approved_by}): job {new.name} now runs with "
                f"{_resources_text(new.resources)} (from its next attempt)."
            )
        if tool == "resubmit_job":
            assert context.job is not None
            try:
                attempt = await self.job_manager.resubmit(context.job)
            except (RuntimeError, ValueError) as exc:
                return f"Error: {exc}"
            return f"Resubmitted job {context.job} as attempt {attempt.number}."
        if tool == "run_command":
            return await run_shell(str(proposal.request["command"]), str(self.root(context.job)))
        return f"Error: unknown tool {tool}"

    # -- the chat API -------------------------------------------------------------------------

    async def stream(self, job: str | None, text: str) -> AsyncIterator[ChatEvent]:
        if job is not None:
            self.job_manager.job(job)  # UnknownJobError before anything else
        thread = self.thread_of(job)
        lock = self._locks.setdefault(thread, asyncio.Lock())
        async with lock:
            try:
                async for event in self._turn(job, thread, text):
                    yield event
            except Exception as exc:  # shown in the chat; the loop and the thread stay usable
                log.exception("chat turn on %s failed", thread)
                yield ChatEvent("error", text=_explain_error(exc))

    async def _turn(self, job: str | None, thread: str, text: str) -> AsyncIterator[ChatEvent]:
        if not text.strip():
            yield ChatEvent("error", text="Type a message (or approve / reject).")
            return
        agent = await self.agent()
        config = {"configurable": {"thread_id": thread}}
        context = ChatContext(thread=thread, job=job)
        if job is not None:
            await self._refresh_caps(job)
        state = await agent.aget_state(config)
        if state.interrupts:
            decision = parse_answer(text).to_resume()
            payload: Any = Command(resume={i.id: decision for i in state.interrupts})
        else:
            payload = {"messages": [HumanMessage(content=text)]}
        async for part in agent.astream(
            payload, config, context=context, stream_mode=["messages", "updates"], version="v2"
        ):
            for event in self._events(thread, part):
                yield event
        state = await agent.aget_state(config)
        approvals = [_approval(i.value) for i in state.interrupts]
        for approval in approvals:
            yield ChatEvent("approval", text=approval.summary, approval=approval)
        final = ""
        if not approvals:
            for message in reversed(state.values.get("messages", [])):
                if isinstance(message, AIMessage):
                    final = message.text
                    break
        yield ChatEvent("done", text=final, data={"pending": len(approvals)})

    async def _refresh_caps(self, job: str) -> None:
        """The scheduler's limits for this job, for recipes; a scheduler error is not fatal."""
        try:
            caps = await self.job_manager.scheduler.resource_caps(self.job_manager.job(job))
        except Exception as exc:
            log.warning("could not read the scheduler's limits: %s", exc)
            return
        self._caps[job] = caps

    def _events(self, thread: str, part: dict[str, Any]) -> list[ChatEvent]:
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
                if isinstance(message, AIMessage):
                    usage = message.usage_metadata
                    if usage:
                        self.records.add_usage(
                            thread, usage["input_tokens"], usage["output_tokens"]
                        )
                    for call in message.tool_calls:
                        events.append(ChatEvent("tool_call", text=call["name"], data=dict(call)))
                elif isinstance(message, ToolMessage):
                    events.append(
                        ChatEvent(
                            "tool_result",
                            text=message.text,
                            data={"name": message.name, "status": message.status},
                        )
                    )
        return events

    async def chat(self, job: str | None, text: str) -> ChatReply:
        events = [event async for event in self.stream(job, text)]
        approvals = [e.approval for e in events if e.approval is not None]
        errors = [e.text for e in events if e.type == "error"]
        done = [e.text for e in events if e.type == "done"]
        reply_text = done[-1] if done else ""
        if not reply_text:
            reply_text = "".join(e.text for e in events if e.type == "token")
        return ChatReply(
            text=reply_text or (errors[-1] if errors else ""),
            approval=approvals[0] if approvals else None,
            approvals=approvals,
            events=events,
            error=errors[-1] if errors else None,
        )

    async def pending(self, job: str | None) -> list[Approval]:
        agent = await self.agent()
        state = await agent.aget_state({"configurable": {"thread_id": self.thread_of(job)}})
        return [_approval(i.value) for i in state.interrupts]

    async def history(self, job: str | None) -> list[ChatMessage]:
        messages: list[ChatMessage] = []
        if job is not None:
            diagnosis = await self.llm_manager.last_failure_diagnosis(job)
            if diagnosis is not None:
                messages.append(ChatMessage("diagnosis", _diagnosis_markdown(diagnosis.to_dict())))
        agent = await self.agent()
        state = await agent.aget_state({"configurable": {"thread_id": self.thread_of(job)}})
        for message in state.values.get("messages", []) if state.values else []:
            if isinstance(message, HumanMessage):
                messages.append(ChatMessage("user", message.text))
            elif isinstance(message, AIMessage):
                messages.append(
                    ChatMessage(
                        "assistant", message.text, tool_calls=[dict(c) for c in message.tool_calls]
                    )
                )
            elif isinstance(message, ToolMessage):
                messages.append(
                    ChatMessage("tool", message.text, name=message.name, status=message.status)
                )
        return messages

    def set_flag(self, job: str | None, flag: str, value: bool) -> None:
        if job is not None:
            self.job_manager.job(job)
        self.records.set_flag(self.thread_of(job), flag, value)

    async def undo(self, job: str | None) -> str:
        thread = self.thread_of(job)
        edits = [e for e in self.records.edits(thread) if e.undone_at is None]
        if not edits:
            return "Nothing to undo in this chat."
        edit = edits[-1]
        if edit.kind == "resources":
            name = edit.path.removeprefix("job:")
            current = json.dumps(self.job_manager.job(name).to_dict()).encode()
            if hashlib.sha256(current).hexdigest() != edit.after_sha256:
                return f"Cannot undo: job {name} changed since that edit."
            assert edit.before is not None
            self.job_manager.update_job(Job.from_dict(json.loads(edit.before)))
            self.records.mark_undone(edit.id)
            return f"Undone: the resources of job {name} are back to what they were."
        applied = AppliedEdit(
            path=edit.path,
            kind=edit.kind,  # type: ignore[arg-type]  # file edits only here
            before=edit.before,
            after_sha256=edit.after_sha256,
            diff=edit.diff,
        )
        try:
            message = await self.workspace(ChatContext(thread, job)).undo(applied)
        except WorkspaceError as exc:
            return f"Cannot undo: {exc}"
        self.records.mark_undone(edit.id)
        return str(message) or f"Undone: {edit.path} restored."

    def usage(self, job: str | None) -> Usage:
        settings = self.records.settings(self.thread_of(job))
        cost = estimate_cost(self.model_name, settings["input_tokens"], settings["output_tokens"])
        return Usage(settings["input_tokens"], settings["output_tokens"], cost)


def chat_context(runtime: Any) -> ChatContext:
    """The chat a tool call or model call belongs to (set by ``stream``)."""
    context = getattr(runtime, "context", None)
    if not isinstance(context, ChatContext):
        raise RuntimeError("tool called outside of an adaptive_llm chat")
    return context


def _planned_content(workspace: Workspace, path: str, ahead: Sequence[Proposal]) -> bytes | None:
    """What the last of ``ahead`` editing ``path`` will write, or None if none edits it."""
    shown = workspace.resolve(path).relative_to(workspace.root).as_posix()
    base = None
    for earlier in ahead:
        if earlier.tool in ("edit_file", "write_file") and earlier.plan is not None:
            plan = decode_plan(earlier.plan)
            if plan.path == shown:
                base = plan.after
    return base


def _approval(value: Any) -> Approval:
    data = value if isinstance(value, dict) else {}
    return Approval(
        tool_call_id=str(data.get("tool_call_id", "")),
        tool=str(data.get("tool", "")),
        summary=str(data.get("summary", "approve this action?")),
        diff=data.get("diff"),
        command=data.get("command"),
        path=data.get("path"),
        kind=data.get("kind"),
    )


def _resources_text(resources: Resources) -> str:
    return (
        f"time limit {format_duration(resources.time_limit)}, memory"
        f" {format_memory(resources.memory)}, {resources.cpus} cpu(s)"
    )


def _resources_diff(old: Job, new: Job) -> str:
    def lines(job: Job) -> list[str]:
        r = job.resources
        return [
            f"time_limit = {format_duration(r.time_limit)}\n",
            f"memory = {format_memory(r.memory)}\n",
            f"cpus = {r.cpus}\n",
        ]

    return "".join(
        difflib.unified_diff(lines(old), lines(new), f"a/job:{old.name}", f"b/job:{new.name}")
    )


def _diagnosis_markdown(data: dict[str, Any]) -> str:
    parts = [f"**Diagnosis** ({data.get('category')}): {data.get('summary')}"]
    parts += diagnosis_points(data)
    excerpt = (data.get("excerpt") or {}).get("text")
    if excerpt:
        parts.append("```text\n" + excerpt.rstrip() + "\n```")
    return "\n\n".join(parts)


def _explain_error(exc: BaseException) -> str:
    name = type(exc).__name__
    text = str(exc).strip() or name
    return f"The assistant could not answer ({name}): {text}"
