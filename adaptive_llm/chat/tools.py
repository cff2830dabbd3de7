"""The chat's tools: three read tools that run freely, one tool per gated action, and the
user's extra tools (``RunManager(..., tools=[...])``), each declared with :func:`local_tool`
or :func:`sends_data` (:func:`web_search_tool` makes DuckDuckGo's, declared).

The read tools (``read_file``, ``list_dir``, ``search``) run inside the job's workspace. The
gated tools are declared to the model with their action's strict schema; their calls are
planned, asked, applied and answered by the approval middleware, never by the tool node: if
one ever reaches the tool node, it refuses. Every refusal is a tool result with status
``"error"`` (never a "success" that says Error). The model is offered each extra tool under
its own name, description and schema, through a stand-in that refuses the same way: the
approval middleware runs the local ones (bounded) and gates the ones that send data
(:mod:`.actions.external`).
"""

from __future__ import annotations

import warnings
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, overload

from langchain.tools import ToolRuntime
from langchain_core.tools import BaseTool, StructuredTool, ToolException, tool

from .actions import ACTIONS, Action
from .actions.external import (
    DEFAULT_TIMEOUT,
    META_KEY,
    ExtraTool,
    Toolset,
    check_declaration,
    sends_data_action,
)
from .actions.external import check_tools as _check_tools
from .context import ChatContext
from .workspace import Workspace, WorkspaceError

__all__ = [
    "BUILTIN_TOOLS",
    "build_tools",
    "build_toolset",
    "check_tools",
    "local_tool",
    "sends_data",
    "web_search_tool",
]

#: The chat's own tools, by name: an extra tool may not take one of these names.
BUILTIN_TOOLS = frozenset({"read_file", "list_dir", "search", *ACTIONS})

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


def build_toolset(
    workspace_of: Callable[[ChatContext], Workspace], extra: Sequence[Any] = ()
) -> Toolset:
    """The built-in tools and the extra ones (checked: see :func:`check_tools`)."""
    builtin = build_tools(workspace_of)
    extras = check_tools(extra)
    senders = {e.name: sends_data_action(e) for e in extras if e.declaration.sends}
    local = {e.name: e for e in extras if not e.declaration.sends}
    readers = {t.name for t in builtin if t.name not in ACTIONS}
    return Toolset(
        tools=[*builtin, *(_stand_in(e) for e in extras)],
        actions={**ACTIONS, **senders},
        local=local,
        free=frozenset(readers | set(local)),
    )


def check_tools(tools: Sequence[Any]) -> list[ExtraTool]:
    """The extra tools, each with its declaration. ``TypeError``/``ValueError`` with what to do
    for one that is not a LangChain tool, is not declared, or whose name is a built-in one's
    (or another extra tool's)."""
    return _check_tools(tools, BUILTIN_TOOLS)


def _stand_in(extra: ExtraTool) -> BaseTool:
    """What the model is offered: the tool's name, description and schema; never run."""

    async def refuse(**_: Any) -> str:
        raise ToolException(NOT_ASKED)

    description = extra.tool.description
    if extra.declaration.sends:
        description += (
            f" (Sends its arguments to {extra.declaration.to}: the user sees them and approves"
            " each call first.)"
        )
    return StructuredTool.from_function(
        coroutine=refuse,
        name=extra.name,
        description=description,
        args_schema=extra.tool.tool_call_schema,
        handle_tool_error=True,
    )


# -- declaring extra tools -----------------------------------------------------------------------

ToolLike = BaseTool | Callable[..., Any]


def _declare(tool: ToolLike, data: dict[str, Any]) -> BaseTool:
    if not isinstance(tool, BaseTool):
        if not callable(tool):
            raise TypeError(f"expected a LangChain tool or a function, got {type(tool).__name__}")
        tool = _as_tool(tool)
    tool.metadata = {**(tool.metadata or {}), META_KEY: data}
    return tool


def _as_tool(function: Callable[..., Any]) -> BaseTool:
    made = tool(function)
    assert isinstance(made, BaseTool)
    return made


@overload
def local_tool(tool: ToolLike, *, timeout: float = DEFAULT_TIMEOUT) -> BaseTool: ...
@overload
def local_tool(
    tool: None = None, *, timeout: float = DEFAULT_TIMEOUT
) -> Callable[[ToolLike], BaseTool]: ...


def local_tool(
    tool: ToolLike | None = None, *, timeout: float = DEFAULT_TIMEOUT
) -> BaseTool | Callable[[ToolLike], BaseTool]:
    """Declare that ``tool`` only reads locally: the chat runs it without asking.

    Takes a LangChain tool (marked in its ``metadata`` and returned) or a function (made a
    tool with LangChain's ``@tool``; its docstring is the description); also a decorator,
    ``@local_tool`` or ``@local_tool(timeout=5)``. Each call must end within ``timeout``
    seconds (a sync-only tool runs in a thread of its own, so it never holds the kernel)."""
    data = check_declaration("local", None, timeout).metadata()
    if tool is None:
        return lambda t: _declare(t, data)
    return _declare(tool, data)


@overload
def sends_data(tool: ToolLike, *, to: str, timeout: float = DEFAULT_TIMEOUT) -> BaseTool: ...
@overload
def sends_data(
    tool: None = None, *, to: str, timeout: float = DEFAULT_TIMEOUT
) -> Callable[[ToolLike], BaseTool]: ...


def sends_data(
    tool: ToolLike | None = None, *, to: str, timeout: float = DEFAULT_TIMEOUT
) -> BaseTool | Callable[[ToolLike], BaseTool]:
    """Declare that ``tool`` sends data off the machine, ``to`` a destination (a host, a URL,
    a service's name) that the user is shown: each call waits for approval, showing the tool,
    the destination and every argument in full, and runs only once approved. In YOLO mode
    it still asks, as commands do, unless commands are allowed in the chat.

    Takes a tool or a function, like :func:`local_tool`; also ``@sends_data(to=...)``."""
    data = check_declaration("sends_data", to, timeout).metadata()
    if tool is None:
        return lambda t: _declare(t, data)
    return _declare(tool, data)


def web_search_tool(*, max_results: int = 5, timeout: float = DEFAULT_TIMEOUT) -> BaseTool:
    """``web_search``: langchain-community's ``DuckDuckGoSearchRun``, declared as sending its
    query to duckduckgo.com (each search is shown and approved first). Needs the optional
    extra: ``pip install 'adaptive-llm[community]'``."""
    try:
        with warnings.catch_warnings():  # langchain-community's sunset notice, on import
            warnings.simplefilter("ignore", DeprecationWarning)
            from langchain_community.tools import DuckDuckGoSearchRun
            from langchain_community.utilities import DuckDuckGoSearchAPIWrapper

        wrapper = DuckDuckGoSearchAPIWrapper(max_results=max_results)
    except ImportError as exc:
        raise ImportError(
            "web_search_tool() needs the optional [community] extra (langchain-community and"
            f" ddgs): pip install 'adaptive-llm[community]' ({exc})"
        ) from exc
    search = DuckDuckGoSearchRun(
        name="web_search",
        description=(
            "Search the web (DuckDuckGo) for an error message or a question; returns the"
            " snippets of the top results. Input: the search query, e.g. the exception and"
            " its message without local paths or secrets."
        ),
        api_wrapper=wrapper,
    )
    return sends_data(search, to="duckduckgo.com", timeout=timeout)


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
