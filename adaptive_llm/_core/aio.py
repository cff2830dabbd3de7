"""Asyncio helpers used across the package: tasks kept alive and reported, change notifiers,
and the running-loop check with the message a notebook user needs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["Notifier", "TaskSet", "require_running_loop", "wait_any", "within"]

log = logging.getLogger(__name__)


def require_running_loop(what: str) -> asyncio.AbstractEventLoop:
    """The running loop, or a ``RuntimeError`` telling how to call ``what`` from a notebook
    or a script."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError(
            f"{what} needs a running event loop: call it in a Jupyter cell, or inside a"
            " coroutine (asyncio.run(main()))"
        ) from None


async def within(awaitable: Awaitable[T], seconds: float | None) -> T:
    """``await awaitable``, ``TimeoutError`` after ``seconds`` (None: no bound), in the calling
    task. Used instead of ``asyncio.wait_for``: Python 3.11's can lose a cancellation that
    arrives as the awaited result does (gh-86296), so a ``close()`` waiting on it hung."""
    async with asyncio.timeout(seconds):
        return await awaitable


class TaskSet:
    """Tasks kept alive by a strong reference until they end; an exception is logged (and
    handed to ``on_error``), never lost."""

    def __init__(
        self, name: str = "task", on_error: Callable[[BaseException], None] | None = None
    ) -> None:
        self.name = name
        self.tasks: set[asyncio.Task[Any]] = set()
        self._on_error = on_error
        #: The last exception a task ended with.
        self.last_error: BaseException | None = None

    def __len__(self) -> int:
        return len(self.tasks)

    def start(
        self,
        coro: Coroutine[Any, Any, Any],
        name: str | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> asyncio.Task[Any]:
        task = (loop or asyncio.get_running_loop()).create_task(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def cancel(self) -> None:
        for task in list(self.tasks):
            task.cancel()

    def _done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self.last_error = exc
            log.error("%s %s failed", self.name, task.get_name(), exc_info=exc)
            if self._on_error is not None:
                self._on_error(exc)


class Notifier:
    """A version counter to wait on: ``notify()`` wakes every ``wait()``."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.version = 0

    def notify(self) -> None:
        self.version += 1
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def wait(self) -> None:
        await self._event.wait()


async def wait_any(notifiers: Iterable[Notifier], timeout: float | None = None) -> bool:
    """Until one of ``notifiers`` notifies (True) or ``timeout`` passes (False). The waiter
    tasks it makes are always cancelled before it returns: a long loop of calls holds none."""
    loop = asyncio.get_running_loop()
    waiters = [loop.create_task(n.wait()) for n in notifiers]
    try:
        done, _ = await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        return bool(done)
    finally:
        for waiter in waiters:
            waiter.cancel()
