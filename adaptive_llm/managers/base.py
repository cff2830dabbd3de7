"""One pattern for every background loop: start, cancel, survive exceptions with back-off."""

from __future__ import annotations

import abc
import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


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
        self._children: set[asyncio.Task[Any]] = set()
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
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                f"{type(self).__name__}.start() needs a running event loop: call it in a"
                " Jupyter cell, or inside a coroutine (asyncio.run(main()))"
            ) from None
        self.task = loop.create_task(self._run(), name=type(self).__name__)
        return self.task

    def cancel(self) -> bool:
        """Stop the loop and the tasks it spawned. Returns False if it was not running."""
        for child in list(self._children):
            child.cancel()
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
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._children.add(task)
        task.add_done_callback(self._child_done)
        return task

    def _child_done(self, task: asyncio.Task[Any]) -> None:
        self._children.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self.last_error = exc
            log.error("%s task %s failed", type(self).__name__, task.get_name(), exc_info=exc)


class Changes:
    """A version counter to wait on: ``await changes.wait_for(predicate, timeout)``."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.version = 0

    def notify(self) -> None:
        self.version += 1
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def wait(self) -> None:
        await self._event.wait()
