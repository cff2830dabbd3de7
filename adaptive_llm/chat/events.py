"""What the chat hands out: events of a turn, the reply, the approvals, history and usage.

Plain data, no LangChain: the widgets, the CLI and users' code read these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ..store.chat import Item, ItemStatus

__all__ = [
    "Approval",
    "ChatEvent",
    "ChatMessage",
    "ChatReply",
    "EventType",
    "ItemStatus",
    "Role",
    "Usage",
    "approval_of",
]

#: What a streamed event carries.
EventType = Literal["token", "tool_call", "tool_result", "approval", "applied", "done", "error"]
#: Who a message of the history is from.
Role = Literal["diagnosis", "user", "assistant", "tool"]


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


def approval_of(item: Item) -> Approval:
    """How a recorded change is put to the user."""
    shown = item.shown
    return Approval(
        key=item.key,
        number=item.number,
        of=item.count,
        tool=item.tool,
        summary=str(shown.get("summary", "")),
        tool_call_id=item.call_id,
        diff=shown.get("diff"),
        command=shown.get("command"),
        path=shown.get("path"),
        kind=shown.get("kind"),
        status=item.status,
        after=tuple(p + 1 for p in item.after),
    )
