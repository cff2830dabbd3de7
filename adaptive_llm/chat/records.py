"""The chat's records, as the chat layer uses them: the store's chat repository, its types,
and the texts the records hold (a rejection's ToolMessage)."""

from __future__ import annotations

from ..store.chat import ChatRepository, EditRecord, Item, ItemStatus

__all__ = ["ChatRecords", "EditRecord", "Item", "ItemStatus", "rejection_text"]

#: The chat layer's name for the store's chat repository.
ChatRecords = ChatRepository


def rejection_text(reason: str | None, feedback: str | None) -> str:
    """The ToolMessage of a change the user rejected."""
    if feedback:
        return (
            "Not approved: rejected by the user, who wrote instead: "
            f"{feedback}\nNothing was changed. Respond to what they wrote."
        )
    if reason:
        return f"This change was rejected by the user: {reason}\nNothing was changed."
    return (
        "This change was rejected by the user. Nothing was changed. Do not retry the same"
        " change; ask what they would like instead."
    )
