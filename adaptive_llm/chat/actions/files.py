"""File changes: ``edit_file`` (one exact, unique replacement) and ``write_file`` (create or
replace), planned as the full unified diff of exactly the bytes that will be written."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import asdict
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from ..records import EditRecord, Item
from ..workspace import AppliedEdit, EditPlan, WorkspaceError
from .base import Action, ActionArgs, ActionEnv, ActionError, Overlay, Plan, check_text

__all__ = ["EditFile", "WriteFile"]

MAX_TEXT = 1 << 20
Path_ = Annotated[
    str, Field(min_length=1, max_length=4000), AfterValidator(lambda v: check_text("path", v))
]


class EditArgs(ActionArgs):
    path: Path_
    old_text: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]
    new_text: Annotated[str, Field(max_length=MAX_TEXT)]


class WriteArgs(ActionArgs):
    path: Path_
    content: Annotated[str, Field(max_length=MAX_TEXT)]


def encode_plan(plan: EditPlan) -> bytes:
    data = asdict(plan)
    for key in ("before", "after"):
        if data[key] is not None:
            data[key] = base64.b64encode(data[key]).decode()
    return json.dumps(data).encode()


def decode_plan(blob: bytes) -> EditPlan:
    data = json.loads(blob)
    for key in ("before", "after"):
        if data[key] is not None:
            data[key] = base64.b64decode(data[key])
    return EditPlan(**data)


class _FileAction(Action):
    edit_kinds = frozenset({"create", "overwrite", "edit"})

    async def _edit_plan(self, env: ActionEnv, args: Any, base: bytes | None) -> EditPlan:
        raise NotImplementedError

    async def plan(self, env: ActionEnv, args: ActionArgs, overlay: Overlay, position: int) -> Plan:
        workspace = env.workspace()
        path = str(getattr(args, "path", ""))
        try:
            rel = workspace.rel(workspace.resolve(path))
            base = overlay.files.get(rel)
            plan = await self._edit_plan(env, args, base)
        except WorkspaceError as exc:
            raise ActionError(str(exc)) from None
        builds_on = (overlay.file_from[rel],) if rel in overlay.files else ()
        overlay.files[rel] = plan.after
        overlay.file_from[rel] = position
        verb = {"create": "Create", "overwrite": "Overwrite", "edit": "Edit"}[plan.kind]
        return Plan(
            summary=f"{verb} {plan.path}",
            kind=plan.kind,
            path=plan.path,
            diff=plan.diff,
            data=encode_plan(plan),
            touches=frozenset({f"file:{plan.path}"}),
            builds_on=builds_on,
        )

    async def apply(self, env: ActionEnv, item: Item) -> str:
        return await self._write(env, item, resuming=False)

    async def resume(self, env: ActionEnv, item: Item) -> str:
        return await self._write(env, item, resuming=True)

    async def _write(self, env: ActionEnv, item: Item, *, resuming: bool) -> str:
        assert item.plan is not None
        plan = decode_plan(item.plan)
        workspace = env.workspace()
        by = item.decided_by or "user"
        after_sha = hashlib.sha256(plan.after).hexdigest()
        if _recorded(env, item):  # written and recorded before a crash: done, never twice
            return f"Applied ({by}): {plan.kind} {plan.path}."
        try:
            applied = await workspace.apply(plan)
        except WorkspaceError as exc:
            holds = await _holds(workspace, plan.path, after_sha)
            if resuming and holds:
                # Found ``applying`` after a crash, written but not recorded: record it now,
                # do not write again.
                applied = AppliedEdit(plan.path, plan.kind, plan.before, after_sha, plan.diff)
            elif holds:
                # Changed outside to exactly this content since it was shown: nothing to
                # write, and no edit of ours to record or undo.
                raise ActionError(
                    f"not applied: '{plan.path}' was changed outside since the edit was"
                    " proposed and already holds exactly its content; nothing was written"
                ) from None
            else:
                raise ActionError(str(exc)) from None
        env.records.add_edit(
            thread=env.context.thread,
            tool_call_id=item.call_id,
            change_key=item.key,
            path=applied.path,
            kind=applied.kind,
            diff=applied.diff,
            before=applied.before,
            after_sha256=applied.after_sha256,
            approved_by=by,
            created_dirs=applied.created_dirs,
        )
        return f"Applied ({by}): {applied.kind} {applied.path}."

    async def undo(self, env: ActionEnv, edit: EditRecord) -> str:
        applied = AppliedEdit(
            path=edit.path,
            kind=edit.kind,  # type: ignore[arg-type]  # one of edit_kinds
            before=edit.before,
            after_sha256=edit.after_sha256,
            diff=edit.diff,
            created_dirs=edit.created_dirs,
        )
        try:
            message = await env.workspace().undo(applied)
        except WorkspaceError as exc:
            raise ActionError(f"Cannot undo: {exc}") from None
        return f"Undone: {message}."


async def _holds(workspace: Any, path: str, sha: str) -> bool:
    try:
        text = await workspace.read_bytes(path)
    except WorkspaceError:
        return False
    return text is not None and hashlib.sha256(text).hexdigest() == sha


def _recorded(env: ActionEnv, item: Item) -> bool:
    return env.records.has_edit(item.key)


class EditFile(_FileAction):
    name = "edit_file"
    description = (
        "Replace old_text (which must occur exactly once) with new_text in a file.\n\n"
        "The user sees the diff and must approve it unless auto-approval is on."
    )
    args = EditArgs

    async def _edit_plan(self, env: ActionEnv, args: Any, base: bytes | None) -> EditPlan:
        return await env.workspace().plan_edit(args.path, args.old_text, args.new_text, base)


class WriteFile(_FileAction):
    name = "write_file"
    description = (
        "Create a file, or replace a whole file's content (prefer edit_file for changes).\n\n"
        "The user sees the diff and must approve it unless auto-approval is on."
    )
    args = WriteArgs

    async def _edit_plan(self, env: ActionEnv, args: Any, base: bytes | None) -> EditPlan:
        return await env.workspace().plan_write(args.path, args.content, base)
