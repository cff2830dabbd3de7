"""The chat's sandboxed workspace: containment, the deny list, bounded search, atomic edits."""

from .files import AppliedEdit, EditPlan, Workspace
from .guard import WorkspaceError

__all__ = ["AppliedEdit", "EditPlan", "Workspace", "WorkspaceError"]
