"""One pattern for every background loop: start, cancel, survive exceptions with back-off."""

from __future__ import annotations

import abc
import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from .._core.aio import Notifier, TaskSet, require_running_loop

log = logging.getLogger(__name__)

#: The managers' change notifier (the name the managers have always used).
Changes = Notifier


class BaseManager(abc.ABC):
    """A background loop on the running event loop.

    ``start()`` schedules ``_manage()``; if it raises, the error is logged and the loop is
    restarted after a back-off (1 s doubling to 30 s). Tasks spawned with ``_spawn`` are kept
    alive by a strong reference and their exceptions are logged, never lost.
    """

    backoff_start: float = 1.0
    backoff_max: float = 30.0

    def __init__(self) -> None:
        self.task: asyncio.Task[None] | None = None
        self._children = TaskSet(f"{type(self).__name__} task", self._child_failed)
        #: The last exception the loop survived, for status displays.
        self.last_error: BaseException | None = None

    @property
    def is_started(self) -> bool:
        return self.task is not None

    @property
    def is_running(self) -> bool:
        return self.task is not None and not self.task.done()

    def start(self) -> asyncio.Task[None]:
        if self.task is not None and not self.task.done():
            raise RuntimeError(f"{type(self).__name__} is already started")
        loop = require_running_loop(f"{type(self).__name__}.start()")
        self.task = loop.create_task(self._run(), name=type(self).__name__)
        return self.task

    def cancel(self) -> bool:
        """Stop the loop and the tasks it spawned. Returns False if it was not running."""
        self._children.cancel()
        if self.task is None or self.task.done():
            return False
        return self.task.cancel()

    async def _run(self) -> None:
        backoff = self.backoff_start
        loop = asyncio.get_running_loop()
        while True:
            began = loop.time()
            try:
                await self._manage()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.last_error = exc
                if loop.time() - began > self.backoff_max:
                    backoff = self.backoff_start
                log.exception("%s loop failed; restarting in %.0f s", type(self).__name__, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.backoff_max)

    @abc.abstractmethod
    async def _manage(self) -> None:
        """The loop body; runs until cancelled."""

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str | None = None) -> asyncio.Task[Any]:
        return self._children.start(coro, name)

    def _child_failed(self, exc: BaseException) -> None:
        self.last_error = exc
