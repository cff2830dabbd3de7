"""What the chat hands out: events of a turn, the reply, the approvals, history and usage.

Plain data, no LangChain: the widgets, the CLI and users' code read these.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from ..llm.prices import estimate_cost
from ..store.chat import Item, ItemStatus, UsageRecord

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

    @classmethod
    def of_events(cls, events: list[ChatEvent]) -> ChatReply:
        """The reply a turn's events make (what ``lm.chat`` returns for ``lm.chat_stream``'s
        events): the final text, else the tokens, else the last error."""
        approvals = [e.approval for e in events if e.approval is not None]
        errors = [e.text for e in events if e.type == "error"]
        done = [e.text for e in events if e.type == "done"]
        text = done[-1] if done else ""
        if not text:
            text = "".join(e.text for e in events if e.type == "token")
        return cls(
            text=text or (errors[-1] if errors else ""),
            approvals=approvals,
            events=events,
            error=errors[-1] if errors else None,
        )


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    text: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    name: str | None = None
    status: str | None = None


@dataclass(frozen=True)
class Usage:
    """Tokens counted for a chat (``lm.usage(name)``) or the LLM diagnoses
    (``lm.diagnosis_usage()``), and what they cost.

    Counts come from the provider's usage metadata; where a provider reports none (a server
    that streams no usage) they are estimated (4 characters a token of what was sent and
    received, see ``adaptive_llm.llm.usage``), and ``estimated_input_tokens`` /
    ``estimated_output_tokens`` say how many of the totals were.
    """

    input_tokens: int
    output_tokens: int
    #: Estimated cost in US dollars: None when a model's price is unknown; 0 for the offline
    #: assistant and a model on a local server.
    cost_usd: float | None
    #: How many of ``input_tokens`` / ``output_tokens`` were estimated, not reported.
    estimated_input_tokens: int = 0
    estimated_output_tokens: int = 0
    #: Model calls counted (calls made before the store recorded them are not).
    calls: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def estimated(self) -> bool:
        """Whether any of the counts is an estimate."""
        return bool(self.estimated_input_tokens or self.estimated_output_tokens)

    @classmethod
    def of(cls, records: Iterable[UsageRecord], model: str = "", local: bool = False) -> Usage:
        """The sum of ``records``, each priced by its own model (``model`` and ``local`` for
        counts recorded without one: those of a store before usage was per model)."""
        tokens_in = tokens_out = estimated_in = estimated_out = calls = 0
        cost: float | None = 0.0
        for record in records:
            tokens_in += record.input_tokens
            tokens_out += record.output_tokens
            estimated_in += record.estimated_input_tokens
            estimated_out += record.estimated_output_tokens
            calls += record.calls
            label, on_local = (record.model, record.local) if record.model else (model, local)
            part = estimate_cost(label, record.input_tokens, record.output_tokens, local=on_local)
            cost = None if part is None or cost is None else cost + part
        if cost is not None:
            cost = round(cost, 6)
        elif not (tokens_in or tokens_out):
            cost = 0.0
        return cls(tokens_in, tokens_out, cost, estimated_in, estimated_out, calls)


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
