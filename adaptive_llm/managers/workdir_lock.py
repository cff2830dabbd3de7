"""The lock that says which process drives a workdir (``<workdir>/.adaptive_llm/lock``)."""

from __future__ import annotations

import contextlib
import fcntl
import os
from typing import IO

from ..errors import WorkdirBusyError
from ..store.layout import Layout

__all__ = ["release_workdir", "take_workdir"]


def take_workdir(layout: Layout, what: str = "another RunManager") -> IO[str]:
    """Hold ``layout``'s lock (with this process's id in it) until ``release_workdir``;
    ``WorkdirBusyError`` naming the holder's process if another one holds it."""
    handle = open(layout.lock, "a+", encoding="utf-8")  # noqa: SIM115 - held while running
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "unknown"
        handle.close()
        raise WorkdirBusyError(
            f"workdir {layout.workdir} is in use by {what} (process {owner});"
            " stop it first, or use another workdir"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def release_workdir(handle: IO[str]) -> None:
    with contextlib.suppress(OSError):
        fcntl.flock(handle, fcntl.LOCK_UN)
    handle.close()
