"""What the chat hands out: events of a turn, the reply, the approvals, history and usage.

Plain data, no LangChain: the widgets, the CLI and users' code read these.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "Approval",
    "ChatEvent",
    "ChatMessage",
    "ChatReply",
    "EventType",
    "ItemStatus",
    "Role",
    "Usage",
]

#: What a streamed event carries.
EventType = Literal["token", "tool_call", "tool_result", "approval", "applied", "done", "error"]
#: Who a message of the history is from.
Role = Literal["diagnosis", "user", "assistant", "tool"]


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


@dataclass(frozen=True)
class Approval:
    """One change of a model reply put to the user: shown in full before anything happens.

    ``number`` is its place in the reply (1-based, as the model listed it: ``approve 2``);
    ``diff`` covers every field it changes (a file's unified diff, or the job's resources);
    ``command`` is the exact command line of ``run_command``.
    """

    key: str
    number: int
    of: int
    tool: str
    summary: str
    tool_call_id: str = ""
    diff: str | None = None
    command: str | None = None
    path: str | None = None
    kind: str | None = None
    status: ItemStatus = ItemStatus.PENDING
    #: Numbers of the earlier changes of the reply that this one builds on or waits for.
    after: tuple[int, ...] = ()


@dataclass(frozen=True)
class ChatEvent:
    """One streamed event of a turn (see :data:`EventType`)."""

    type: EventType
    text: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    approval: Approval | None = None


@dataclass(frozen=True)
class ChatReply:
    """The outcome of one turn: the answer, and every change now waiting for the user."""

    text: str
    approvals: list[Approval]
    events: list[ChatEvent]
    error: str | None = None

    @property
    def approval(self) -> Approval | None:
        """The first pending change (``approvals`` lists all of them)."""
        return self.approvals[0] if self.approvals else None


@dataclass(frozen=True)
class ChatMessage:
    role: Role
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
