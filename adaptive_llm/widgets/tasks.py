"""Tasks started from widget callbacks, on the loop the widget was created on."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from .._core.aio import TaskSet

__all__ = ["WidgetTasks"]

log = logging.getLogger(__name__)


def _loop() -> asyncio.AbstractEventLoop:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.get_event_loop_policy().get_event_loop()


class WidgetTasks(TaskSet):
    """Tasks started from widget callbacks (strongly referenced, exceptions reported).

    Widget callbacks may run on another thread than the cells (ipykernel 7 handles widget
    messages in a subshell thread with its own loop): ``call`` and ``start`` hand the work to
    the loop the widget was created on, where the managers and their SQLite store live.
    """

    def __init__(self, on_error: Callable[[BaseException], None]) -> None:
        super().__init__("widget task", on_error)
        self.background: set[asyncio.Task[Any]] = set()
        self.loop = _loop()

    def call(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the widget's loop (now, when already on it)."""
        try:
            here = asyncio.get_running_loop() is self.loop
        except RuntimeError:
            here = False
        if here or not self.loop.is_running():
            fn(*args)
        else:
            self.loop.call_soon_threadsafe(self._guarded, fn, *args)

    def _guarded(self, fn: Callable[..., Any], *args: Any) -> None:
        try:
            fn(*args)
        except Exception as exc:
            log.exception("widget callback failed")
            if self._on_error is not None:
                self._on_error(exc)

    def start(  # type: ignore[override]
        self, coro: Coroutine[Any, Any, Any], name: str, *, background: bool = False
    ) -> asyncio.Task[Any]:
        """Run ``coro`` as a task; a ``background`` one (a loop) is not waited for by ``idle``.

        Call on the widget's loop (callbacks go through ``call`` first).
        """
        task = super().start(coro, name, loop=self.loop)
        if background:
            self.background.add(task)
            task.add_done_callback(self.background.discard)
        return task

    async def idle(self) -> None:
        """Until every task started so far (and those they start) has ended."""
        while self.tasks - self.background:
            await asyncio.wait(list(self.tasks - self.background))
