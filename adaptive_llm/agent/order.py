"""The gated calls of one model reply take effect in the order the model listed them.

LangGraph runs the tool calls of one ``AIMessage`` concurrently, so the edits of a reply used
to land in whatever order their I/O finished, and ``undo`` (last applied first) could revert a
call listed first. The gate now makes each gated call wait, on the records in the store, for
the gated calls listed before it in the same reply:

- before proposing, until each of them is settled (``done``, or ``failed``: rejected or refused) or
  waiting for the user (``pending``). The proposal is computed on what they leave: on disk, or
  on the content an earlier edit of the same file that waits for the user would write. A call
  listed after one that waits for the user waits for the user too (it cannot take effect
  first), even in YOLO mode;
- before applying, until each of them is settled.

Neither wait can hang on the user: a call auto-approved did not follow a pending one, and a
call answered by the user was answered in the same resume as every pending call of its reply
(``ChatService`` always answers all pending approvals at once). The waits read the store, so
they hold after a kernel restart with pending approvals too.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage

from .records import ChatRecords, Proposal
from .tools import GATED
from .workspace import EditPlan, Workspace

SETTLED = frozenset({"done", "failed"})
SETTLED_OR_ASKING = frozenset({"done", "failed", "pending"})


def reply_of(state: Any, call_id: str) -> AIMessage | None:
    """The latest ``AIMessage`` of the state that holds the tool call ``call_id``."""
    messages = state.get("messages", []) if isinstance(state, dict) else []
    for message in reversed(messages):
        if isinstance(message, AIMessage) and any(
            c.get("id") == call_id for c in message.tool_calls
        ):
            return message
    return None


def earlier_calls(state: Any, call_id: str) -> list[str]:
    """The ids of the gated calls listed before ``call_id`` in its reply, in listed order."""
    message = reply_of(state, call_id)
    if message is None:
        return []
    ids: list[str] = []
    for call in message.tool_calls:
        if call.get("id") == call_id:
            break
        if call["name"] in GATED:
            ids.append(str(call["id"]))
    return ids


class ReplyOrder:
    """Waits on the status of proposals; the gate calls ``changed`` after every update."""

    def __init__(self, records: ChatRecords) -> None:
        self.records = records
        self._event = asyncio.Event()

    def changed(self) -> None:
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def wait(self, keys: Sequence[str], statuses: frozenset[str]) -> list[Proposal]:
        """The proposals of ``keys`` once each exists with a status in ``statuses``."""
        while True:
            proposals = [self.records.proposal(key) for key in keys]
            ready = [p for p in proposals if p is not None and p.status in statuses]
            if len(ready) == len(keys):
                return ready
            await self._event.wait()


async def plan_over(workspace: Workspace, base: bytes, tool: str, args: dict[str, Any]) -> EditPlan:
    """Plan a file tool's call as if the file held ``base`` (what an earlier edit of the reply
    will write once approved): the workspace's own rules, applied to a scratch copy."""
    rel = workspace.resolve(args["path"]).relative_to(workspace.root).as_posix()
    scratch_root = await asyncio.to_thread(tempfile.mkdtemp, prefix="adaptive_llm-plan-")
    try:
        target = Path(scratch_root, rel)
        await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
        await asyncio.to_thread(target.write_bytes, base)
        scratch = Workspace(
            scratch_root,
            max_read_bytes=workspace.max_read_bytes,
            max_write_bytes=workspace.max_write_bytes,
        )
        if tool == "edit_file":
            return await scratch.plan_edit(rel, args["old_text"], args["new_text"])
        return await scratch.plan_write(rel, args["content"])
    finally:
        await asyncio.to_thread(shutil.rmtree, scratch_root, True)
