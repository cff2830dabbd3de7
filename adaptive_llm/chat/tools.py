"""The chat's tools: three read tools that run freely, and one tool per gated action.

The read tools (``read_file``, ``list_dir``, ``search``) run inside the job's workspace. The
gated tools are declared to the model with their action's strict schema; their calls are
planned, asked, applied and answered by the approval middleware, never by the tool node: if
one ever reaches the tool node, it refuses. Every refusal is a tool result with status
``"error"`` (never a "success" that says Error).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from langchain.tools import ToolRuntime
from langchain_core.tools import BaseTool, StructuredTool, ToolException, tool

from .actions import ACTIONS, Action
from .context import ChatContext
from .workspace import Workspace, WorkspaceError

__all__ = ["build_tools"]

NOT_ASKED = "Error: this change was not put to the user; nothing was done."


def build_tools(workspace_of: Callable[[ChatContext], Workspace]) -> list[BaseTool]:
    """The read tools (the chat of each call comes from its runtime context), then the
    gated ones, in the registry's order."""

    def workspace(runtime: ToolRuntime) -> Workspace:
        context = getattr(runtime, "context", None)
        if not isinstance(context, ChatContext):
            raise WorkspaceError("tool called outside of an adaptive_llm chat")
        return workspace_of(context)

    @tool
    async def read_file(
        path: str, runtime: ToolRuntime, start_line: int | None = None, end_line: int | None = None
    ) -> str:
        """Read a text file of the workspace, with line numbers (optionally a line range)."""
        return await _guard(lambda: workspace(runtime).read_file(path, start_line, end_line))

    @tool
    async def list_dir(runtime: ToolRuntime, path: str = ".") -> str:
        """List a directory of the workspace (names, sizes; directories end with /)."""
        return await _guard(lambda: workspace(runtime).list_dir(path))

    @tool
    async def search(pattern: str, runtime: ToolRuntime, path: str = ".") -> str:
        """Search files under a path for a regular expression; returns file:line: text."""
        return await _guard(lambda: workspace(runtime).search(pattern, path))

    readers: list[BaseTool] = [read_file, list_dir, search]
    for reader in readers:
        reader.handle_tool_error = True  # a refusal is a ToolMessage with status "error"
    return [*readers, *(_gated(action) for action in ACTIONS.values())]


def _gated(action: Action) -> BaseTool:
    async def refuse(**_: Any) -> str:
        raise ToolException(NOT_ASKED)

    return StructuredTool.from_function(
        coroutine=refuse,
        name=action.name,
        description=action.description,
        args_schema=action.args,
        handle_tool_error=True,
    )


async def _guard(call: Callable[[], Awaitable[str]]) -> str:
    """The tool's text, or a ``ToolException`` (an error result the model reads) on refusal."""
    try:
        return await call()
    except WorkspaceError as exc:
        raise ToolException(f"Error: {exc}") from None
    except (OSError, UnicodeError, ValueError) as exc:  # a disk or file problem, not a refusal
        raise ToolException(f"Error: {type(exc).__name__}: {exc}") from None
