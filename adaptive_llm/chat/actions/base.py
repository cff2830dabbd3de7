"""One gated tool = one ``Action``: a strict argument schema, ``plan`` (what the user sees, in
full), ``apply`` and, for changes that can be reverted, ``undo``.

The approval middleware, the tools, undo and the widgets are driven by the registry
(:mod:`adaptive_llm.chat.actions`), never by tool names.
"""

from __future__ import annotations

import abc
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from ...errors import ActionError as ActionError
from ...jobs.model import Job
from ...jobs.schedulers.base import ResourceCaps
from ..context import ChatContext, RunView, root_of
from ..records import ChatRecords, EditRecord, Item
from ..workspace import Workspace

__all__ = [
    "Action",
    "ActionArgs",
    "ActionEnv",
    "ActionError",
    "Overlay",
    "Plan",
    "check_text",
]


class ActionArgs(BaseModel):
    """Arguments of an action: unknown fields and wrong types are refused, never coerced."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


#: Line and paragraph separators that some tools end a line at, besides the C0/C1 controls.
_SEPARATORS = {"\u2028", "\u2029", "\x85"}


def check_text(name: str, value: str, *, allow: str = "") -> str:
    """``value`` if it has no control characters, no invisible formatting characters (bidi
    overrides, zero-width spaces) and no line separators, except those in ``allow``; else a
    clear ``ValueError`` naming the field. What the user reads is what runs."""
    for ch in value:
        if ch in allow:
            continue
        if unicodedata.category(ch) in ("Cc", "Cf") or ch in _SEPARATORS:
            raise ValueError(
                f"{name} must not contain control or invisible formatting characters (found {ch!r})"
            )
    return value


@dataclass
class Overlay:
    """What the changes listed earlier in a reply will leave, once applied: later changes
    are planned on it (an edit of a file an earlier change edits, a job an earlier change
    changes)."""

    files: dict[str, bytes] = field(default_factory=dict)
    #: Positions of the changes that produced each entry.
    file_from: dict[str, int] = field(default_factory=dict)
    job: Job | None = None
    job_from: int | None = None


@dataclass(frozen=True)
class Plan:
    """A planned change: what the user sees and what ``apply`` needs."""

    summary: str
    kind: str
    path: str | None = None
    #: Every field the change touches: a file's unified diff, the job's resources before/after.
    diff: str | None = None
    command: str | None = None
    data: bytes | None = None
    #: What it changes (``file:<path>``, ``job:<name>``): later changes of the same thing wait.
    touches: frozenset[str] = frozenset()
    #: Waits for every earlier change (a command or a resubmission sees the whole workspace).
    barrier: bool = False
    #: Position of the earlier change whose result this was planned on, if any.
    builds_on: tuple[int, ...] = ()
    #: Where the data goes, for a call that sends data off the machine.
    to: str | None = None

    def shown(self, tool: str, args: dict[str, Any]) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "tool": tool,
            "summary": self.summary,
            "kind": self.kind,
            "path": self.path,
            "diff": self.diff,
            "command": self.command,
            "args": args,
            "touches": sorted(self.touches),
            "barrier": self.barrier,
        }
        if self.to is not None:
            shown["to"] = self.to
        return shown


@dataclass
class ActionEnv:
    """What an action may use: the run (through its view), the chat, the records."""

    run: RunView
    context: ChatContext
    records: ChatRecords
    caps: ResourceCaps | None = None

    @property
    def root(self) -> Path:
        return root_of(self.run, self.context.job)

    def workspace(self) -> Workspace:
        return Workspace(self.root)

    def job_name(self, tool: str) -> str:
        if self.context.job is None:
            raise ActionError(f"{tool} needs a chat about a job; this chat is not about one")
        return self.context.job


class Action(abc.ABC):
    """A gated tool. Subclasses set the class attributes and implement ``plan``/``apply``."""

    name: ClassVar[str]
    description: ClassVar[str]
    args: ClassVar[type[ActionArgs]]
    #: The chat setting that lets it run without asking: YOLO mode, or allowed commands.
    auto_flag: ClassVar[Literal["yolo", "allow_commands"]] = "yolo"
    #: The ``edits`` kinds this action records (undo finds the action by them).
    edit_kinds: ClassVar[frozenset[str]] = frozenset()

    def parse(self, raw: Any) -> ActionArgs:
        """The validated arguments, or ``ActionError`` saying exactly what is wrong."""
        if not isinstance(raw, dict):
            raise ActionError(f"{self.name} takes an object of arguments, got {type(raw).__name__}")
        try:
            return self.args.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}"
                for e in exc.errors()[:5]
            )
            raise ActionError(f"invalid arguments for {self.name}: {problems}") from None

    @abc.abstractmethod
    async def plan(self, env: ActionEnv, args: ActionArgs, overlay: Overlay, position: int) -> Plan:
        """The exact change (``ActionError`` if it cannot be made); updates ``overlay``."""

    @abc.abstractmethod
    async def apply(self, env: ActionEnv, item: Item) -> str:
        """Make the change; the result shown to the model. ``ActionError`` if it fails.

        ``resume`` calls it again for an item found ``applying`` after a crash, so it makes
        the change only if it is not there yet."""

    def shown_args(self, args: ActionArgs) -> dict[str, Any]:
        """The arguments as recorded and shown (what ``apply`` reads back)."""
        return args.model_dump()

    async def resume(self, env: ActionEnv, item: Item) -> str:
        """Finish an item found ``applying`` after a crash (its effect may have happened)."""
        return await self.apply(env, item)

    async def undo(self, env: ActionEnv, edit: EditRecord) -> str:
        raise ActionError(f"{self.name} cannot be undone")
