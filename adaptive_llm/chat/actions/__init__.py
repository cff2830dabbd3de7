"""The registry of gated tools: one ``Action`` per tool (see :mod:`.base`)."""

from __future__ import annotations

from .base import Action, ActionArgs, ActionEnv, ActionError, Overlay, Plan
from .command import RunCommand
from .files import EditFile, WriteFile
from .job import ResubmitJob, SetJobResources

__all__ = [
    "ACTIONS",
    "Action",
    "ActionArgs",
    "ActionEnv",
    "ActionError",
    "Overlay",
    "Plan",
    "action_for_edit",
]

#: Every gated tool, by name, in the order they are offered to the model.
ACTIONS: dict[str, Action] = {
    action.name: action
    for action in (EditFile(), WriteFile(), SetJobResources(), ResubmitJob(), RunCommand())
}


def action_for_edit(kind: str) -> Action:
    """The action that recorded an applied edit of ``kind`` (for undo)."""
    for action in ACTIONS.values():
        if kind in action.edit_kinds:
            return action
    raise ActionError(f"no action undoes an edit of kind {kind!r}")
