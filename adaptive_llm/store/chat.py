"""The chat aggregate: the changes of each model reply, the applied edits (the audit log and
undo), per-chat settings, and the token usage of the chats and LLM diagnoses (per scope and
model: ``model_usage``).

Every change of a reply is recorded, with exactly what is shown to the user and the data to
apply it, *before* the user is asked; a decision is recorded before anything is applied, and a
change is marked ``applying`` before its effect starts. So a replay (the graph resuming, or a
new process after a crash) never asks twice, never applies twice and never loses a decision.
"""

from __future__ import annotations

import enum
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .db import Database

__all__ = ["ChatRepository", "EditRecord", "Item", "ItemStatus", "UsageRecord"]


class ItemStatus(enum.StrEnum):
    """Where one change of a model reply is, from proposal to its end.

    ``REFUSED`` (invalid arguments or a plan that cannot be made: never shown as a question),
    ``PENDING`` (waiting for the user), ``APPROVED`` (by the user, YOLO mode or allowed
    commands; not applied yet), ``REJECTED`` (by the user: never applied), ``APPLYING`` (its
    effect started: after a crash it is checked, never started twice), ``DONE`` and
    ``FAILED`` (applied, or the attempt to apply it failed).
    """

    REFUSED = "refused"
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    APPLYING = "applying"
    DONE = "done"
    FAILED = "failed"

    @property
    def settled(self) -> bool:
        """Nothing more will happen to it."""
        return self in _SETTLED


_SETTLED = frozenset({ItemStatus.REFUSED, ItemStatus.REJECTED, ItemStatus.DONE, ItemStatus.FAILED})

_OPEN = (ItemStatus.PENDING, ItemStatus.APPROVED, ItemStatus.APPLYING)


@dataclass(frozen=True)
class Item:
    """One change of a model reply: what was shown, and its status."""

    #: ``<request>/<position>``; the request is ``<thread>/<id of the AI message>``.
    key: str
    request: str
    thread: str
    #: 0-based place in the reply, among all its tool calls' changes; ``count`` in all.
    position: int
    count: int
    call_id: str
    tool: str
    #: What the user sees: summary, diff, command, path, kind (and the arguments).
    shown: dict[str, Any]
    #: The data to apply it (opaque to the records; the action's own encoding).
    plan: bytes | None
    #: Positions of earlier changes it waits for / whose result it was planned on.
    after: tuple[int, ...]
    builds_on: tuple[int, ...]
    status: ItemStatus
    decided_by: str | None = None
    reason: str | None = None
    feedback: str | None = None
    result: str | None = None

    @property
    def number(self) -> int:
        """1-based, as shown to the user (``approve 2``)."""
        return self.position + 1


@dataclass(frozen=True)
class EditRecord:
    id: int
    thread: str
    tool_call_id: str
    path: str
    kind: str
    diff: str
    before: bytes | None
    after_sha256: str
    approved_by: str
    at: float
    undone_at: float | None
    #: The key of the change that made it (``Item.key``).
    change_key: str | None = None
    #: Folders the edit created for a new file (relative to the workspace, outermost first).
    created_dirs: tuple[str, ...] = ()


@dataclass(frozen=True)
class UsageRecord:
    """The tokens counted for one scope and model (``model`` ``''``: counted before the
    model was recorded, i.e. before store step 5)."""

    scope: str
    model: str
    local: bool
    calls: int
    input_tokens: int
    output_tokens: int
    #: How many of the tokens above were estimated (the provider reported none).
    estimated_input_tokens: int = 0
    estimated_output_tokens: int = 0


def _item(r: Any) -> Item:
    return Item(
        key=r["key"],
        request=r["request"],
        thread=r["thread"],
        position=r["position"],
        count=r["count"],
        call_id=r["call_id"],
        tool=r["tool"],
        shown=json.loads(r["shown"]),
        plan=r["plan"],
        after=tuple(json.loads(r["after"])),
        builds_on=tuple(json.loads(r["builds_on"])),
        status=ItemStatus(r["status"]),
        decided_by=r["decided_by"],
        reason=r["reason"],
        feedback=r["feedback"],
        result=r["result"],
    )


class ChatRepository:
    """Chat records (``store.chat``)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- the changes of a reply ---------------------------------------------------------------

    def add_items(self, items: Sequence[Item]) -> None:
        """Record a reply's changes, all at once (a replay finds them and adds nothing)."""
        now = time.time()
        with self._db.transaction() as db:
            db.executemany(
                "INSERT OR IGNORE INTO approval_items (key, request, thread, position, count,"
                " call_id, tool, shown, plan, after, builds_on, status, decided_by, result,"
                " created_at, decided_at, settled_at) VALUES"
                " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        i.key,
                        i.request,
                        i.thread,
                        i.position,
                        i.count,
                        i.call_id,
                        i.tool,
                        json.dumps(i.shown),
                        i.plan,
                        json.dumps(list(i.after)),
                        json.dumps(list(i.builds_on)),
                        i.status.value,
                        i.decided_by,
                        i.result,
                        now,
                        now if i.decided_by else None,
                        now if i.status.settled else None,
                    )
                    for i in items
                ],
            )

    def items(self, request: str) -> list[Item]:
        rows = self._db.rows(
            "SELECT * FROM approval_items WHERE request=? ORDER BY position", (request,)
        )
        return [_item(r) for r in rows]

    def open_items(self, thread: str) -> list[Item]:
        """Changes of the thread not settled yet (pending, approved or being applied)."""
        rows = self._db.rows(
            "SELECT * FROM approval_items WHERE thread=? AND status IN (?, ?, ?)"
            " ORDER BY created_at, request, position",
            (thread, *_OPEN),
        )
        return [_item(r) for r in rows]

    def pending_counts(self) -> dict[str, int]:
        """How many changes wait for the user, per thread."""
        if self._db.version < 2:  # a read-only store of the first release: none recorded
            return {}
        rows = self._db.rows(
            "SELECT thread, count(*) AS n FROM approval_items WHERE status=? GROUP BY thread",
            (ItemStatus.PENDING.value,),
        )
        return {str(r["thread"]): int(r["n"]) for r in rows}

    def threads_to_finish(self) -> list[str]:
        """Threads a crash may have left between a decision and its answer: with a change
        approved but not applied yet, or a reply whose changes are all settled but whose
        answers the conversation may not have received."""
        rows = self._db.rows(
            "SELECT DISTINCT thread FROM approval_items WHERE status IN (?, ?)"
            " UNION SELECT DISTINCT a.thread FROM approval_items a WHERE a.answered = 0"
            " AND NOT EXISTS (SELECT 1 FROM approval_items b WHERE b.request = a.request"
            " AND b.status = ?)",
            (ItemStatus.APPROVED.value, ItemStatus.APPLYING.value, ItemStatus.PENDING.value),
        )
        return sorted(str(r["thread"]) for r in rows)

    def mark_answered(self, thread: str, waiting: str | None = None) -> None:
        """The conversation got the answers of every reply of ``thread`` but ``waiting``
        (the request it still waits on, if any)."""
        self._db.run(
            "UPDATE approval_items SET answered = 1 WHERE thread = ? AND answered = 0"
            " AND request IS NOT ?",
            (thread, waiting),
        )

    def decide(
        self,
        keys: Iterable[str],
        status: ItemStatus,
        decided_by: str,
        *,
        reason: str | None = None,
        feedback: str | None = None,
        result: str | None = None,
    ) -> int:
        """Record a decision for the changes of ``keys`` that are still pending (only those:
        a decision is never changed); a rejection settles them with ``result``. How many were
        decided."""
        keys = list(keys)
        if not keys:
            return 0
        settled = time.time() if status is ItemStatus.REJECTED else None
        with self._db.transaction() as db:
            cursor = db.executemany(
                "UPDATE approval_items SET status=?, decided_by=?, reason=?, feedback=?,"
                " decided_at=?, settled_at=?, result=? WHERE key=? AND status=?",
                [
                    (
                        status.value,
                        decided_by,
                        reason,
                        feedback,
                        time.time(),
                        settled,
                        result,
                        key,
                        ItemStatus.PENDING.value,
                    )
                    for key in keys
                ],
            )
            return int(cursor.rowcount)

    def set_status(self, key: str, status: ItemStatus, result: str | None = None) -> None:
        """Move a change on: ``applying`` before its effect, ``done``/``failed`` after."""
        settled = time.time() if status.settled else None
        self._db.run(
            "UPDATE approval_items SET status=?, result=coalesce(?, result),"
            " settled_at=coalesce(?, settled_at) WHERE key=?",
            (status.value, result, settled, key),
        )

    # -- edits (the audit log) ----------------------------------------------------------------

    def add_edit(
        self,
        *,
        thread: str,
        tool_call_id: str,
        path: str,
        kind: str,
        diff: str,
        before: bytes | None,
        after_sha256: str,
        approved_by: str,
        change_key: str | None = None,
        created_dirs: tuple[str, ...] = (),
    ) -> None:
        self._db.run(
            "INSERT INTO edits (thread, tool_call_id, path, kind, diff, before, after_sha256,"
            " approved_by, at, change_key, created_dirs) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                thread,
                tool_call_id,
                path,
                kind,
                diff,
                before,
                after_sha256,
                approved_by,
                time.time(),
                change_key,
                json.dumps(list(created_dirs)) if created_dirs else None,
            ),
        )

    def has_edit(self, change_key: str) -> bool:
        """Whether the change of ``change_key`` recorded its edit (it was applied)."""
        return bool(self._db.rows("SELECT 1 FROM edits WHERE change_key=? LIMIT 1", (change_key,)))

    def edits(self, thread: str | None = None) -> list[EditRecord]:
        if thread is None:
            rows = self._db.rows("SELECT * FROM edits ORDER BY id")
        else:
            rows = self._db.rows("SELECT * FROM edits WHERE thread=? ORDER BY id", (thread,))
        return [
            EditRecord(
                id=r["id"],
                thread=r["thread"],
                tool_call_id=r["tool_call_id"],
                path=r["path"],
                kind=r["kind"],
                diff=r["diff"],
                before=r["before"],
                after_sha256=r["after_sha256"],
                approved_by=r["approved_by"],
                at=r["at"],
                undone_at=r["undone_at"],
                change_key=r["change_key"],
                created_dirs=_dirs(r["created_dirs"]),
            )
            for r in rows
        ]

    def mark_undone(self, edit_id: int) -> None:
        self._db.run("UPDATE edits SET undone_at=? WHERE id=?", (time.time(), edit_id))

    # -- settings and usage -------------------------------------------------------------------

    def settings(self, thread: str) -> dict[str, int]:
        rows = self._db.rows("SELECT * FROM chat_settings WHERE thread=?", (thread,))
        found = {"yolo": 0, "allow_commands": 0, "input_tokens": 0, "output_tokens": 0}
        if rows:
            found.update({k: int(rows[0][k]) for k in found})
        if self._db.version >= 5:  # the counts live in model_usage since step 5
            records = self.usage(thread)
            found["input_tokens"] = sum(r.input_tokens for r in records)
            found["output_tokens"] = sum(r.output_tokens for r in records)
        return found

    def set_flag(self, thread: str, flag: str, value: bool) -> None:
        if flag not in ("yolo", "allow_commands"):
            raise ValueError(flag)
        self._db.run(
            f"INSERT INTO chat_settings (thread, {flag}) VALUES (?, ?)"
            f" ON CONFLICT(thread) DO UPDATE SET {flag}=excluded.{flag}",
            (thread, int(value)),
        )

    def add_usage(
        self,
        scope: str,
        input_tokens: int,
        output_tokens: int,
        *,
        model: str = "",
        local: bool = False,
        estimated_input_tokens: int = 0,
        estimated_output_tokens: int = 0,
    ) -> None:
        """Count one model call of ``scope`` (a chat thread, or ``diagnosis:<signature>``):
        its tokens, and how many of them were estimated."""
        self._db.run(
            "INSERT INTO model_usage (scope, model, local, calls, input_tokens, output_tokens,"
            " estimated_input_tokens, estimated_output_tokens) VALUES (?, ?, ?, 1, ?, ?, ?, ?)"
            " ON CONFLICT(scope, model, local) DO UPDATE SET calls=calls+1,"
            " input_tokens=input_tokens+excluded.input_tokens,"
            " output_tokens=output_tokens+excluded.output_tokens,"
            " estimated_input_tokens=estimated_input_tokens+excluded.estimated_input_tokens,"
            " estimated_output_tokens=estimated_output_tokens+excluded.estimated_output_tokens",
            (
                scope,
                model,
                int(local),
                input_tokens,
                output_tokens,
                estimated_input_tokens,
                estimated_output_tokens,
            ),
        )

    def usage(self, scope: str | None = None, *, prefix: str | None = None) -> list[UsageRecord]:
        """The counted usage of ``scope``, or of every scope starting with ``prefix``, per
        model (a store older than step 5, opened read-only: the chat's totals, model ``''``)."""
        if self._db.version < 5:
            if scope is None:
                return []
            rows = self._db.rows(
                "SELECT thread AS scope, '' AS model, 0 AS local, 0 AS calls, input_tokens,"
                " output_tokens, 0 AS estimated_input_tokens, 0 AS estimated_output_tokens"
                " FROM chat_settings WHERE thread=?",
                (scope,),
            )
        elif scope is not None:
            rows = self._db.rows(
                "SELECT * FROM model_usage WHERE scope=? ORDER BY model, local", (scope,)
            )
        else:
            rows = self._db.rows(
                "SELECT * FROM model_usage WHERE substr(scope, 1, ?) = ?"
                " ORDER BY scope, model, local",
                (len(prefix or ""), prefix or ""),
            )
        return [
            UsageRecord(
                scope=str(r["scope"]),
                model=str(r["model"]),
                local=bool(r["local"]),
                calls=int(r["calls"]),
                input_tokens=int(r["input_tokens"]),
                output_tokens=int(r["output_tokens"]),
                estimated_input_tokens=int(r["estimated_input_tokens"]),
                estimated_output_tokens=int(r["estimated_output_tokens"]),
            )
            for r in rows
        ]


def _dirs(text: str | None) -> tuple[str, ...]:
    """The stored ``created_dirs`` (a JSON list of strings; anything else is no folders)."""
    try:
        value = json.loads(text) if text else []
    except ValueError:
        return ()
    if not isinstance(value, list) or not all(isinstance(d, str) for d in value):
        return ()
    return tuple(value)
