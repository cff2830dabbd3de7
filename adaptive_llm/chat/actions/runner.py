"""Running an extra tool: within its timeout, off the event loop, its answer redacted and cut.

A sync-only tool runs in a daemon thread of its own (never the loop's executor, which the
workspace's reads share): the event loop only waits on a future, and a tool that never
returns is left behind, at most ``MAX_THREADS`` of them at once. What comes back is
redacted like a command's output, each end whole before any cut, then cut to its head and
tail.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import threading
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool, Tool

from ...diagnosis.redact import redact
from .base import ActionError

__all__ = ["MAX_THREADS", "OUTPUT_LIMIT", "run_tool"]

#: Threads of sync tools that may still run (past their timeout, too) before calls are refused.
MAX_THREADS = 8
#: Characters of a tool's answer the model gets: the head and the tail, as for commands.
OUTPUT_LIMIT = 8000
#: Characters of an answer redacted at each end before it is cut (a longer answer's middle
#: is never looked at: only the ends are kept).
_WINDOW = 64 * 1024
_threads = 0
_threads_lock = threading.Lock()


async def run_tool(tool: BaseTool, args: dict[str, Any], timeout: float) -> str:
    """Call the tool with ``args`` within its timeout: the answer, redacted and cut; an
    ``ActionError`` (the model's tool error) when it raises, times out or cannot start.

    A sync-only tool runs in a daemon thread of its own: the event loop only waits for a
    future, and a tool that never returns is left behind (at most ``MAX_THREADS`` of them
    at once) without holding anything else up."""
    try:
        async with asyncio.timeout(timeout) as deadline:
            if _is_async(tool):
                out = await tool.ainvoke(args)
            else:
                out = await _in_thread(tool, args)
    except TimeoutError:
        if deadline.expired():
            raise ActionError(
                f"{tool.name} did not answer within {timeout:g}s; it was stopped waiting for"
                " (its answer, if any, is dropped)"
            ) from None
        raise ActionError(f"{tool.name} failed: TimeoutError") from None
    except ActionError:
        raise
    except Exception as exc:
        detail = await asyncio.to_thread(_bounded, str(exc), 2000)
        raise ActionError(f"{tool.name} failed: {type(exc).__name__}: {detail}") from None
    return await asyncio.to_thread(_bounded, out, OUTPUT_LIMIT)


def _is_async(tool: BaseTool) -> bool:
    if isinstance(tool, Tool | StructuredTool):
        return tool.coroutine is not None
    return type(tool)._arun is not BaseTool._arun


def _in_thread(tool: BaseTool, args: dict[str, Any]) -> asyncio.Future[Any]:
    global _threads
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    context = contextvars.copy_context()  # the run's config (callbacks) goes with the call

    def settle(ok: bool, value: Any) -> None:
        if not future.done():
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    def work() -> None:
        global _threads
        try:
            value, ok = context.run(tool.invoke, args), True
        except BaseException as exc:
            value, ok = exc, False
        finally:
            with _threads_lock:
                _threads -= 1
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
            loop.call_soon_threadsafe(settle, ok, value)

    with _threads_lock:
        if _threads >= MAX_THREADS:
            raise ActionError(
                f"not run: {_threads} earlier calls of extra tools are still running past"
                " their timeout; try again later"
            )
        _threads += 1
    try:
        threading.Thread(target=work, name=f"adaptive-llm-tool-{tool.name}", daemon=True).start()
    except BaseException:
        with _threads_lock:
            _threads -= 1
        raise
    return future


def _as_text(out: Any) -> str:
    if isinstance(out, str):
        return out
    content = getattr(out, "content", None)  # a message
    if isinstance(content, str):
        return content
    try:
        return json.dumps(out if content is None else content, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(out)


def _bounded(out: Any, limit: int) -> str:
    """The answer redacted (each end whole, before any cut), then its head and tail within
    ``limit`` characters with a ``[... N characters cut ...]`` marker between."""
    text = _as_text(out)
    if len(text) <= limit:
        return redact(text)
    if len(text) <= 2 * _WINDOW:
        whole = redact(text)
        head, tail = whole, whole
    else:
        head, tail = redact(text[:_WINDOW]), redact(text[-_WINDOW:])
    half = limit // 2
    head = head[:half]
    newline = head.rfind("\n", half - 256)
    head = head[: newline + 1] if newline >= 0 else head
    tail = tail[-(limit - half) :]
    newline = tail.find("\n", 0, 256)
    tail = tail[newline + 1 :] if newline >= 0 else tail
    cut = max(0, len(text) - len(head) - len(tail))
    before = "" if head.endswith("\n") or not head else "\n"
    return f"{head}{before}[... {cut} characters cut ...]\n{tail}"
