"""What the chat keeps in the store: proposals awaiting consent, applied edits, settings, usage.

A proposal is recorded *before* the user is asked, keyed by the model's tool-call id, so the
question asked is exactly what gets applied, and a replay (after a restart, or when the graph
resumes) never re-decides whether to ask.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from ..jobs.store import Store


@dataclass(frozen=True)
class Proposal:
    #: The proposal's key: thread, AI message id and the model's call id (``gate.proposal_key``).
    tool_call_id: str
    thread: str
    tool: str
    #: What is shown to the user: tool, args, path, kind, the full diff, or the command.
    request: dict[str, Any]
    #: Opaque data needed to apply it (e.g. the file contents before and after).
    plan: bytes | None
    #: pending | approved | rejected | done | failed (done with an error: refused or rejected)
    status: str
    decided_by: str | None = None
    feedback: str | None = None
    result: str | None = None


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


class ChatRecords:
    """Typed access to the chat tables of a ``Store``."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- proposals ----------------------------------------------------------------------------

    def add_proposal(
        self,
        tool_call_id: str,
        thread: str,
        tool: str,
        request: dict[str, Any],
        plan: bytes | None,
        status: str,
        decided_by: str | None = None,
    ) -> Proposal:
        self.store.execute(
            "INSERT INTO proposals (tool_call_id, thread, tool, request, plan, status, decided_by,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                tool_call_id,
                thread,
                tool,
                json.dumps(request),
                plan,
                status,
                decided_by,
                time.time(),
            ),
        )
        return Proposal(tool_call_id, thread, tool, request, plan, status, decided_by)

    def proposal(self, tool_call_id: str) -> Proposal | None:
        rows = self.store.query("SELECT * FROM proposals WHERE tool_call_id=?", (tool_call_id,))
        if not rows:
            return None
        r = rows[0]
        return Proposal(
            tool_call_id=r["tool_call_id"],
            thread=r["thread"],
            tool=r["tool"],
            request=json.loads(r["request"]),
            plan=r["plan"],
            status=r["status"],
            decided_by=r["decided_by"],
            feedback=r["feedback"],
            result=r["result"],
        )

    def decide(
        self, tool_call_id: str, status: str, decided_by: str, feedback: str | None = None
    ) -> None:
        self.store.execute(
            "UPDATE proposals SET status=?, decided_by=?, feedback=?, decided_at=?"
            " WHERE tool_call_id=?",
            (status, decided_by, feedback, time.time(), tool_call_id),
        )

    def finish(self, tool_call_id: str, result: str, *, failed: bool = False) -> None:
        """Settle a proposal: ``done``, or ``failed`` (refused, rejected or an error)."""
        self.store.execute(
            "UPDATE proposals SET status=?, result=? WHERE tool_call_id=?",
            ("failed" if failed else "done", result, tool_call_id),
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
    ) -> None:
        self.store.execute(
            "INSERT INTO edits (thread, tool_call_id, path, kind, diff, before, after_sha256,"
            " approved_by, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            ),
        )

    def edits(self, thread: str | None = None) -> list[EditRecord]:
        if thread is None:
            rows = self.store.query("SELECT * FROM edits ORDER BY id")
        else:
            rows = self.store.query("SELECT * FROM edits WHERE thread=? ORDER BY id", (thread,))
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
            )
            for r in rows
        ]

    def mark_undone(self, edit_id: int) -> None:
        self.store.execute("UPDATE edits SET undone_at=? WHERE id=?", (time.time(), edit_id))

    # -- settings and usage -------------------------------------------------------------------

    def settings(self, thread: str) -> dict[str, int]:
        rows = self.store.query("SELECT * FROM chat_settings WHERE thread=?", (thread,))
        if not rows:
            return {"yolo": 0, "allow_commands": 0, "input_tokens": 0, "output_tokens": 0}
        return {
            k: int(rows[0][k]) for k in ("yolo", "allow_commands", "input_tokens", "output_tokens")
        }

    def set_flag(self, thread: str, flag: str, value: bool) -> None:
        if flag not in ("yolo", "allow_commands"):
            raise ValueError(flag)
        self.store.execute(
            f"INSERT INTO chat_settings (thread, {flag}) VALUES (?, ?)"
            f" ON CONFLICT(thread) DO UPDATE SET {flag}=excluded.{flag}",
            (thread, int(value)),
        )

    def add_usage(self, thread: str, input_tokens: int, output_tokens: int) -> None:
        self.store.execute(
            "INSERT INTO chat_settings (thread, input_tokens, output_tokens) VALUES (?, ?, ?)"
            " ON CONFLICT(thread) DO UPDATE SET input_tokens=input_tokens+excluded.input_tokens,"
            " output_tokens=output_tokens+excluded.output_tokens",
            (thread, input_tokens, output_tokens),
        )

    # -- LLM diagnoses, one per failure signature ---------------------------------------------

    def llm_diagnosis(self, signature: str) -> dict[str, Any] | None:
        rows = self.store.query("SELECT * FROM llm_diagnoses WHERE signature=?", (signature,))
        return dict(rows[0]) if rows else None

    def llm_signatures(self) -> set[str]:
        """Signatures that have a stored LLM diagnosis (or the reason it failed)."""
        return {
            str(r["signature"]) for r in self.store.query("SELECT signature FROM llm_diagnoses")
        }

    def save_llm_diagnosis(
        self, signature: str, model: str, job: str, number: int, text: str | None, error: str | None
    ) -> None:
        self.store.execute(
            "INSERT OR REPLACE INTO llm_diagnoses (signature, model, job, number, text, error,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (signature, model, job, number, text, error, time.time()),
        )
