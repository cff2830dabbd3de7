"""Chats about jobs: one LangChain agent, one persisted thread per job, plumbing only.

``ChatService`` is created lazily by the ``LLMManager`` (LangChain is imported only when a
chat is used) and sees the run through a :class:`~.context.RunView`. Threads are
``job:<name>`` (and ``general``); the conversation lives in the run's SQLite store through
LangGraph's checkpointer, the changes, decisions and edits in the chat records, so a kernel
restart loses none of them. What needs consent is the approval middleware's business
(:mod:`.approval`); this module turns the user's messages into decisions and streams events.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from langchain.agents import create_agent
from langchain.agents.middleware import ModelRequest, dynamic_prompt
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.types import Command

from .._core.aio import within
from ..jobs.schedulers.base import ResourceCaps
from ..llm.limits import ModelLimits, limit_output, with_endpoint
from ..llm.provider import ModelError, model_label, resolve_model, uses_model
from ..llm.tracing import run_config
from ..llm.usage import CallUsage, UsageRecorder, is_local_model
from ..store import Store
from .actions import ActionEnv, ActionError, action_for_edit
from .answers import parse_answer
from .approval import ApprovalMiddleware, ready
from .bounds import BoundedCalls
from .context import ChatContext, RunView, job_context, root_of, thread_of
from .events import (
    Approval,
    ChatEvent,
    ChatMessage,
    ChatReply,
    ItemStatus,
    Usage,
    approval_of,
)
from .offline import OfflineChatModel
from .prompts import diagnosis_points, system_prompt
from .records import Item, rejection_text
from .stream import events_of
from .tools import build_toolset
from .workspace import Workspace

__all__ = ["ChatService"]

log = logging.getLogger(__name__)

# LangGraph serialises the tool runtime on resume with a schema that expects no context; the
# value is right, only the warning is noise in the user's notebook.
warnings.filterwarnings(
    "ignore",
    message=r"(?s)Pydantic serializer warnings:.*field_name='context'",
    category=UserWarning,
)

#: Seconds the scheduler may take to give a job's limits and facts at a turn's start.
FACTS_TIMEOUT = 10.0
#: Seconds the limits and facts read for a turn's prompt serve the next turns.
FACTS_TTL = 30.0

RECOVERED = (
    "Changes you decided on before the kernel stopped were finished first (above); your"
    " message was not sent. Look at the chat, then write again."
)


@dataclass(frozen=True)
class _After:
    """How a run ended, from its stream: the interrupts it waits on, its last model reply."""

    interrupts: tuple[Any, ...]
    final: AIMessage | None


class ChatService:
    def __init__(
        self,
        run: RunView,
        store: Store,
        llm: Any = None,
        limits: ModelLimits | None = None,
        *,
        callbacks: Sequence[Any] = (),
        tools: Sequence[Any] = (),
    ) -> None:
        self.run = run
        #: LangChain callback handlers given every turn (the agent's whole run).
        self.callbacks = list(callbacks)
        #: Extra LangChain tools (besides the workspace's and the job's).
        self.extra_tools = list(tools)
        self.store = store
        self.records = store.chat
        self.limits = limits or ModelLimits()
        #: Why the configured model cannot be used (every turn says so), or None.
        self.model_error: str | None = None
        self.model: Any
        try:
            self.model = (
                limit_output(resolve_model(llm), self.limits.max_output_tokens)
                if uses_model(llm)
                else OfflineChatModel()
            )
            self.model_name = model_label(self.model)
        except ModelError as exc:  # the graph still reads and shows the chats; turns refuse
            self.model, self.model_name, self.model_error = (
                OfflineChatModel(),
                "unavailable",
                str(exc),
            )
        self._bounds = BoundedCalls(self.limits, self.model)
        self._agent: Any = None
        self._saver: Any = None
        self._connection: Any = None
        self._locks: dict[str, asyncio.Lock] = {}
        self._caps: dict[str, ResourceCaps] = {}
        self._facts: dict[str, dict[str, Any]] = {}
        self._facts_at: dict[str, float] = {}
        self._agent_lock = asyncio.Lock()
        #: How a thread's last run ended (from its stream), until its turn's end reads it.
        self._after: dict[str, _After] = {}
        #: The interrupts each thread waits on, as its last run in this process ended them (a
        #: turn's start needs no state read then); dropped whenever the thread is changed
        #: otherwise (clear, fork, a failed run).
        self._waiting: dict[str, tuple[Any, ...]] = {}

    # -- setup --------------------------------------------------------------------------------

    async def agent(self) -> Any:
        if self._agent is not None:
            return self._agent
        async with self._agent_lock:  # two first callers at once make one connection
            return await self._make_agent()

    async def _make_agent(self) -> Any:
        if self._agent is None:
            import aiosqlite
            from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

            # The conversations live in a file of their own beside the store, so the saver's
            # writes never contend with the store's for one file's lock. Autocommit: the
            # saver's INSERT and its later ``await commit()`` would otherwise hold a write
            # lock across an await.
            self._connection = await aiosqlite.connect(self.store.checkpoints, isolation_level=None)
            await self._connection.execute("PRAGMA busy_timeout=5000")
            # As the store: WAL, synced at checkpoints (a commit does not wait for the disk;
            # a crash loses at most the last commits, never consistency).
            await self._connection.execute("PRAGMA journal_mode=WAL")
            await self._connection.execute("PRAGMA synchronous=NORMAL")
            saver = AsyncSqliteSaver(self._connection)
            self._saver = saver

            @dynamic_prompt
            def prompt(request: ModelRequest) -> str:
                context = request.runtime.context
                assert isinstance(context, ChatContext)
                root = str(root_of(self.run, context.job))
                facts = self.job_context(context.job) if context.job else None
                return system_prompt(root, facts)

            toolset = build_toolset(self.workspace, self.extra_tools)
            self._agent = create_agent(
                self.model,
                toolset.tools,
                middleware=[prompt, self._bounds, ApprovalMiddleware(self._env, toolset)],
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

    thread_of = staticmethod(thread_of)

    def workspace(self, context: ChatContext) -> Workspace:
        return Workspace(root_of(self.run, context.job))

    def job_context(self, name: str) -> dict[str, Any]:
        return job_context(self.run, name, self._caps.get(name), self._facts.get(name))

    async def _env(self, context: ChatContext) -> ActionEnv:
        caps = await self._refresh_caps(context.job) if context.job else None
        return ActionEnv(self.run, context, self.records, caps)

    async def _refresh_caps(self, job: str) -> ResourceCaps | None:
        """The scheduler's limits for this job, for recipes and each change's plan, bounded in
        time; a scheduler error is not fatal (the last limits known are kept)."""
        try:
            self._caps[job] = await within(self.run.resource_caps(job), FACTS_TIMEOUT)
        except Exception as exc:
            log.warning("could not read the scheduler's limits: %s", exc or type(exc).__name__)
        return self._caps.get(job)

    async def _know(self, job: str | None) -> None:
        """The job's limits and what else the scheduler knows of it (an Airflow task's DAG)
        for the turn's prompt, read again after ``FACTS_TTL`` (not per change: a plan reads
        only the limits)."""
        if job is None or time.monotonic() - self._facts_at.get(job, -FACTS_TTL) < FACTS_TTL:
            return
        await self._refresh_caps(job)
        try:
            facts = await within(self.run.scheduler_facts(job), FACTS_TIMEOUT)
            self._facts[job] = dict(facts)
        except Exception as exc:
            log.warning("could not read the scheduler's facts on %s: %s", job, exc or "timeout")
        self._facts_at[job] = time.monotonic()

    # -- the chat API -------------------------------------------------------------------------

    async def stream(
        self,
        job: str | None,
        text: str,
        shown: Collection[str] | None = None,
        *,
        tokens: bool = True,
    ) -> AsyncIterator[ChatEvent]:
        """One turn. While changes wait, ``text`` is the user's answer to them; ``shown``
        (the keys of the changes on the user's screen) limits the answer to those.
        ``tokens=False``: one token event per model reply, with its whole text; the model is
        then called without streaming (one JSON answer per call, as LangChain does when
        nothing listens to the tokens)."""
        if job is not None:
            self.run.job(job)  # UnknownJobError before anything else
        thread = thread_of(job)
        if self.model_error is not None:
            yield ChatEvent("error", text=f"The chat's model cannot be used: {self.model_error}")
            return
        async with self._locks.setdefault(thread, asyncio.Lock()):
            self._bounds.start(thread)
            try:
                async for event in self._turn(ChatContext(thread, job), text, shown, tokens):
                    yield event
            except Exception as exc:  # shown in the chat; the loop and the thread stay usable
                log.exception("chat turn on %s failed", thread)
                yield ChatEvent("error", text=_explain_error(exc, self.model))

    async def _turn(
        self, context: ChatContext, text: str, shown: Collection[str] | None, tokens: bool
    ) -> AsyncIterator[ChatEvent]:
        if not text.strip():
            yield ChatEvent("error", text="Type a message (or approve / reject).")
            return
        await self._know(context.job)
        items = await self._open_items(context, known=True)
        if items is not None and (ready(items) or not _pending(items)):
            # Decided before a crash: apply those first; the message was meant for them.
            async for event in self._run(Command(resume={}), context, tokens):
                yield event
            yield ChatEvent("error", text=RECOVERED)
            async for event in self._finish(context):
                yield event
            return
        if items is None:
            payload: Any = {"messages": [HumanMessage(content=text)]}
        else:
            error = self._decide(_pending(items), text, shown)
            if error:
                yield ChatEvent("error", text=error)
                async for event in self._finish(context):
                    yield event
                return
            payload = Command(resume={})
        async for event in self._run(payload, context, tokens):
            yield event
        async for event in self._finish(context, items):
            yield event

    def _decide(self, pending: list[Item], text: str, shown: Collection[str] | None) -> str | None:
        """Record the user's answer for the pending changes (durably, before anything is
        applied). An error text when the answer names changes that are not on screen."""
        visible = pending if shown is None else [i for i in pending if i.key in shown]
        if not visible:
            return "Those changes are no longer waiting for you; the current ones are below."
        answer = parse_answer(text)
        targets = visible
        if answer.numbers is not None:
            numbers = {i.number for i in visible}
            unknown = sorted(answer.numbers - numbers)
            if unknown:
                waiting = ", ".join(str(n) for n in sorted(numbers))
                return (
                    f"There is no change {unknown[0]} waiting; the changes waiting are {waiting}."
                )
            targets = [i for i in visible if i.number in answer.numbers]
        keys = [i.key for i in targets]
        if answer.kind == "approve":
            self.records.decide(keys, ItemStatus.APPROVED, "user")
        else:
            self.records.decide(
                keys,
                ItemStatus.REJECTED,
                "user",
                reason=answer.reason,
                feedback=answer.feedback,
                result=rejection_text(answer.reason, answer.feedback),
            )
        return None

    async def _run(
        self, payload: Any, context: ChatContext, tokens: bool = True
    ) -> AsyncIterator[ChatEvent]:
        """Run the agent for one turn: the user's callbacks (and Langfuse's, when configured)
        see the whole turn, the usage recorder counts each call of the agent's model. Without
        ``tokens`` only the graph's updates are streamed, so LangChain calls the model without
        streaming (no chunk per token to parse: most of a short turn's cost)."""
        agent = await self.agent()
        local = is_local_model(self.model)

        def usage(call: CallUsage) -> None:
            self.records.add_usage(
                context.thread,
                call.input_tokens,
                call.output_tokens,
                model=self.model_name,
                local=local,
                estimated_input_tokens=call.input_tokens if call.input_estimated else 0,
                estimated_output_tokens=call.output_tokens if call.output_estimated else 0,
            )

        # The offline assistant uses no tokens: nothing to count.
        offline = isinstance(self.model, OfflineChatModel)
        config = run_config(
            self.callbacks,
            run_name="adaptive_llm chat",
            tags=["chat"],
            metadata={
                "thread": context.thread,
                "job": context.job or "",
                "langfuse_session_id": context.thread,
            },
            ours=[] if offline else [UsageRecorder(usage, node="model")],
        )
        config["configurable"] = {"thread_id": context.thread}
        self._waiting.pop(context.thread, None)
        interrupts: list[Any] = []
        final: AIMessage | None = None
        async for part in agent.astream(
            payload,
            config,
            context=context,
            stream_mode=["messages", "updates"] if tokens else ["updates"],
            version="v2",
        ):
            if part["type"] == "updates":  # how the run ends: its interrupts, its last reply
                for node, update in (part["data"] or {}).items():
                    if node == "__interrupt__":
                        interrupts.extend(update)
                    elif node == "model" and isinstance(update, dict):
                        for message in update.get("messages", []):
                            if isinstance(message, AIMessage):
                                final = message
            for event in events_of(part, whole=not tokens):
                yield event
        # The stream ends after the run's last checkpoint is saved: what it said is the state
        # (no read of the whole stored conversation, which a long chat makes slow).
        after = _After(tuple(interrupts), final)
        self._after[context.thread] = after
        self._waiting[context.thread] = after.interrupts
        self._mark_answered(context, after)

    async def _state(self, context: ChatContext) -> Any:
        """How the turn's run ended (``_After``), else the thread's graph state, read now."""
        state = self._after.pop(context.thread, None)
        if state is None:
            return await self._read_state(context.thread)
        return state

    async def _read_state(self, thread: str) -> Any:
        state = await (await self.agent()).aget_state(_config(thread))
        self._waiting[thread] = tuple(state.interrupts)
        return state

    def _mark_answered(self, context: ChatContext, state: Any) -> None:
        """Record that the conversation holds the answers of every settled reply (checked on
        the graph's state, after its checkpoint): a crash before it is finished at start."""
        waiting = None
        for pending in state.interrupts:
            if isinstance(pending.value, dict):
                waiting = str(pending.value.get("request"))
        self.records.mark_answered(context.thread, waiting)

    async def _finish(
        self, context: ChatContext, before: list[Item] | None = None
    ) -> AsyncIterator[ChatEvent]:
        """What this turn settled of a reply still waiting on other changes (its ToolMessages
        come once all are settled), the approvals now waiting, and the turn's final text."""
        state = await self._state(context)
        items = self._items_of(state)
        if items is not None:
            was = {i.key: i.status for i in before or []}
            for item in items:
                if item.status.settled and not was.get(item.key, ItemStatus.PENDING).settled:
                    ok = item.status is ItemStatus.DONE
                    yield ChatEvent(
                        "applied",
                        text=item.result or item.status.value,
                        data={
                            "name": item.tool,
                            "status": "success" if ok else "error",
                            "tool_call_id": item.call_id,
                            "number": item.number,
                        },
                    )
        approvals = [approval_of(i) for i in _pending(items or [])]
        for approval in approvals:
            yield ChatEvent("approval", text=approval.summary, approval=approval)
        final = ""
        if items is None:
            if isinstance(state, _After) and state.final is None:  # no reply in this run
                state = await self._read_state(context.thread)
            if isinstance(state, _After):
                final = state.final.text if state.final is not None else ""
            else:
                for message in reversed((state.values or {}).get("messages", [])):
                    if isinstance(message, AIMessage):
                        final = message.text
                        break
        yield ChatEvent("done", text=final, data={"pending": len(approvals)})

    async def _open_items(self, context: ChatContext, *, known: bool = False) -> list[Item] | None:
        """The changes of the reply the thread waits on, or None when it waits on none
        (``known``: as this process's last run of the thread left it, when it did)."""
        self._after.pop(context.thread, None)  # a state left by an earlier run is stale
        waiting = self._waiting.get(context.thread) if known else None
        if waiting is not None:
            return self._items_of(_After(waiting, None))
        return self._items_of(await self._read_state(context.thread))

    def _items_of(self, state: Any) -> list[Item] | None:
        for pending in state.interrupts:
            value = pending.value
            if isinstance(value, dict) and value.get("type") == "approval":
                return self.records.items(str(value.get("request")))
            return []  # an interrupt of an older version: answered like one with no changes
        return None

    async def finish_decided(self, job: str | None) -> list[ChatEvent]:
        """Apply changes the user decided on before a crash (called when a run starts)."""
        context = ChatContext(thread_of(job), job)
        async with self._locks.setdefault(context.thread, asyncio.Lock()):
            items = await self._open_items(context)
            if items is None or not (ready(items) or not _pending(items)):
                self._mark_answered(context, await self._state(context))
                return []
            events = [event async for event in self._run(Command(resume={}), context)]
            self._after.pop(context.thread, None)
            return events

    async def chat(
        self, job: str | None, text: str, shown: Collection[str] | None = None
    ) -> ChatReply:
        events = [event async for event in self.stream(job, text, shown, tokens=False)]
        return ChatReply.of_events(events)

    async def pending(self, job: str | None, *, waiting: bool = False) -> list[Approval]:
        """Every change waiting for the user (``waiting``: also those approved that wait for
        an earlier change to be decided)."""
        items = await self._open_items(ChatContext(thread_of(job), job)) or []
        wanted = {ItemStatus.PENDING} | ({ItemStatus.APPROVED} if waiting else set())
        return [approval_of(i) for i in items if i.status in wanted]

    async def open_changes(self, job: str | None) -> list[Approval]:
        """Every change of the reply the chat waits on, whatever its status (for display)."""
        items = await self._open_items(ChatContext(thread_of(job), job)) or []
        return [approval_of(i) for i in items]

    async def history(self, job: str | None) -> list[ChatMessage]:
        messages: list[ChatMessage] = []
        if job is not None:
            diagnosis = await self.run.last_failure_diagnosis(job)
            if diagnosis is not None:
                messages.append(ChatMessage("diagnosis", _diagnosis_markdown(diagnosis.to_dict())))
        state = await (await self.agent()).aget_state(_config(thread_of(job)))
        for message in state.values.get("messages", []) if state.values else []:
            if isinstance(message, HumanMessage):
                messages.append(ChatMessage("user", message.text))
            elif isinstance(message, AIMessage):
                calls = [dict(c) for c in message.tool_calls]
                messages.append(ChatMessage("assistant", message.text, tool_calls=calls))
            elif isinstance(message, ToolMessage):
                messages.append(
                    ChatMessage("tool", message.text, name=message.name, status=message.status)
                )
        return messages

    def set_flag(self, job: str | None, flag: str, value: bool) -> None:
        if job is not None:
            self.run.job(job)
        self.records.set_flag(thread_of(job), flag, value)

    def settings(self, job: str | None) -> dict[str, int]:
        return self.records.settings(thread_of(job))

    async def clear(self, job: str | None) -> str:
        """Start the chat afresh: its conversation is deleted (the model gets no history);
        changes still waiting are rejected first. The edits stay recorded, undo still works."""
        if job is not None:
            self.run.job(job)
        context = ChatContext(thread_of(job), job)
        async with self._locks.setdefault(context.thread, asyncio.Lock()):
            open_items = self.records.open_items(context.thread)
            busy = [i for i in open_items if i.status in (ItemStatus.APPROVED, ItemStatus.APPLYING)]
            if busy:
                return (
                    f"Not cleared: {len(busy)} approved change(s) are still being applied;"
                    " send a message (or wait) and clear again."
                )
            pending = [i.key for i in open_items if i.status is ItemStatus.PENDING]
            rejected = self.records.decide(
                pending,
                ItemStatus.REJECTED,
                "user",
                reason="the chat was cleared",
                result=rejection_text("the chat was cleared", None),
            )
            agent = await self.agent()
            state = await agent.aget_state(_config(context.thread))
            count = len((state.values or {}).get("messages", []))
            self._waiting.pop(context.thread, None)
            await self._saver.adelete_thread(context.thread)
            self.records.mark_answered(context.thread)
        note = f"; {rejected} waiting change(s) rejected" if rejected else ""
        return f"Cleared the chat ({count} messages{note}). Applied edits can still be undone."

    async def fork(self, job: str | None, into: str | None) -> str:
        """Copy the settled conversation of ``job``'s chat into the chat of ``into`` (a chat
        with no messages yet), to go on there while the first stays as it is. A reply still
        waiting for decisions stays behind; YOLO, commands and usage start afresh."""
        source, target = thread_of(job), thread_of(into)
        for name in (job, into):
            if name is not None:
                self.run.job(name)
        if source == target:
            return "Not forked: a chat cannot be forked into itself; name another job."
        locks = [self._locks.setdefault(t, asyncio.Lock()) for t in sorted((source, target))]
        async with locks[0], locks[1]:
            agent = await self.agent()
            there = await agent.aget_state(_config(target))
            if (there.values or {}).get("messages") or self.records.open_items(target):
                return (
                    f"Not forked: {_chat_name(into)} already has a conversation; clear it first"
                    " (its applied edits stay undoable)."
                )
            state = await agent.aget_state(_config(source))
            messages = settled_messages((state.values or {}).get("messages", []))
            if not messages:
                return f"Nothing to fork: {_chat_name(job)} has no settled messages yet."
            self._waiting.pop(target, None)
            await agent.aupdate_state(_config(target), {"messages": messages}, as_node="__start__")
        left = " (the reply waiting for your decision stays behind)" if state.next else ""
        return (
            f"Forked {_chat_name(job)} into {_chat_name(into)}: {len(messages)} messages{left}."
            f" Both chats go on independently; {_chat_name(into)} starts in approve mode."
        )

    async def undo(self, job: str | None) -> str:
        context = ChatContext(thread_of(job), job)
        async with self._locks.setdefault(context.thread, asyncio.Lock()):
            edits = [e for e in self.records.edits(context.thread) if e.undone_at is None]
            if not edits:
                return "Nothing to undo in this chat."
            edit = edits[-1]
            try:
                message = await action_for_edit(edit.kind).undo(await self._env(context), edit)
            except ActionError as exc:
                return str(exc)
            self.records.mark_undone(edit.id)
            return message

    def usage(self, job: str | None) -> Usage:
        """The chat's tokens (counted or estimated, see :class:`Usage`) and their cost, each
        model's at its price (counts of an older store: at the current model's)."""
        records = self.records.usage(thread_of(job))
        return Usage.of(records, self.model_name, is_local_model(self.model))


def _chat_name(job: str | None) -> str:
    return f"the chat of job {job!r}" if job is not None else "the general chat"


def settled_messages(messages: Sequence[Any]) -> list[Any]:
    """``messages`` up to the last settled exchange: a model reply whose calls wait for
    decisions, the request it answers and anything after it are left out."""
    answered = {m.tool_call_id for m in messages if isinstance(m, ToolMessage)}
    kept = list(messages)
    for i, message in enumerate(messages):
        if isinstance(message, AIMessage) and any(
            c["id"] not in answered for c in message.tool_calls
        ):
            kept = kept[:i]
            break
    while kept and isinstance(kept[-1], HumanMessage):
        kept.pop()  # the request that reply answers stays with it
    return kept


def _config(thread: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}}


def _pending(items: list[Item]) -> list[Item]:
    return [i for i in items if i.status is ItemStatus.PENDING]


def _diagnosis_markdown(data: dict[str, Any]) -> str:
    parts = [f"**Diagnosis** ({data.get('category')}): {data.get('summary')}"]
    parts += diagnosis_points(data)
    excerpt = (data.get("excerpt") or {}).get("text")
    if excerpt:
        parts.append("```text\n" + excerpt.rstrip() + "\n```")
    return "\n\n".join(parts)


def _explain_error(exc: BaseException, model: Any = None) -> str:
    name = type(exc).__name__
    text = str(exc).strip() or name
    if "No generations found in stream" in text:
        text = (
            "the server streamed no answer at all. Some OpenAI-compatible servers stream"
            " nothing when tools are offered (llama-cpp-python's server does; llama.cpp's"
            " llama-server needs --jinja and a chat template with tools)"
        )
    return f"The assistant could not answer ({name}): {with_endpoint(text, exc, model)}"
