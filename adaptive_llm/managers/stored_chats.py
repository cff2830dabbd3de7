"""The chats of a workdir while no RunManager drives it (the ``adaptive-llm chat`` command).

``stored_chats(workdir)`` holds the workdir's lock (so a notebook cannot start on it meanwhile,
and it refuses while one runs), opens the store and yields a ``ChatService`` over the jobs and
diagnoses as recorded: enough to clear or fork a chat, list what waits, undo. Nothing here runs
or re-attaches a job, and no model is called: what changes a job says it needs a RunManager.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..diagnosis import Diagnosis
from ..errors import StoreError, UnknownJobError
from ..jobs.model import Attempt, Job
from ..jobs.schedulers.base import ResourceCaps
from ..store import Store
from ..store.layout import STATE_DIR, STORE_NAME, Layout
from .workdir_lock import release_workdir, take_workdir

if TYPE_CHECKING:
    from ..chat.service import ChatService

__all__ = ["StoredRunView", "stored_chats"]

_NEEDS_RUN = "needs a running RunManager: open the workdir in the notebook"


class StoredRunView:
    """``RunView`` over the store: the jobs, attempts and diagnoses recorded in it."""

    def __init__(self, store: Store, workdir: Path) -> None:
        self._store = store
        self._workdir = workdir
        self._jobs = {job.name: job for job in store.jobs.all()}
        self._latest = store.jobs.latest_attempts()

    @property
    def workdir(self) -> Path:
        return self._workdir

    def job(self, name: str) -> Job:
        try:
            return self._jobs[name]
        except KeyError:
            known = ", ".join(sorted(self._jobs)[:10]) or "none"
            raise UnknownJobError(f"no job named {name!r} (jobs: {known})") from None

    def latest_attempt(self, name: str) -> Attempt | None:
        return self._latest.get(name)

    def _diagnosis(self, name: str, number: int) -> Diagnosis | None:
        data = self._store.diagnoses.get(name, number)
        try:
            return Diagnosis.from_dict(data) if data else None
        except (KeyError, TypeError, ValueError):
            return None

    def cached_diagnosis(self, name: str) -> Diagnosis | None:
        attempt = self._latest.get(name)
        return self._diagnosis(name, attempt.number) if attempt is not None else None

    async def last_failure_diagnosis(self, name: str) -> Diagnosis | None:
        for attempt in reversed(self._store.jobs.attempts(name)):
            if attempt.state.is_failure:
                return self._diagnosis(name, attempt.number)
        return None

    def llm_diagnosis_text(self, name: str) -> str | None:
        diagnosis = self.cached_diagnosis(name)
        record = self._store.diagnoses.llm(diagnosis.signature) if diagnosis else None
        return str(record["text"]) if record and record["text"] else None

    def update_job(self, job: Job) -> None:
        raise RuntimeError(f"changing job {job.name!r} {_NEEDS_RUN}")

    async def resubmit(self, name: str) -> Attempt:
        raise RuntimeError(f"resubmitting job {name!r} {_NEEDS_RUN}")

    async def resource_caps(self, name: str) -> ResourceCaps:
        return ResourceCaps()

    async def resubmit_preview(self, name: str) -> list[str] | None:
        return None

    async def scheduler_facts(self, name: str) -> dict[str, Any]:
        return {}


@contextlib.asynccontextmanager
async def stored_chats(
    workdir: str | os.PathLike[str], llm: Any = "offline"
) -> AsyncIterator[ChatService]:
    """A ``ChatService`` on the chats recorded in ``workdir`` (see the module docstring),
    answering with ``llm`` (the offline assistant by default; a model spec as the RunManager's).

    ``StoreError`` when there is no store there; ``WorkdirBusyError`` while a RunManager (or
    another command) drives it.
    """
    from ..chat.service import ChatService

    layout = Layout.of(workdir)
    if not layout.store.is_file():
        raise StoreError(
            f"no jobs recorded in {layout.workdir} (no {STATE_DIR}/{STORE_NAME});"
            " pass the RunManager's workdir with --workdir"
        )
    lock = take_workdir(layout, "a RunManager")
    try:
        store = Store(layout.store)
        try:
            service = ChatService(StoredRunView(store, layout.workdir), store, llm)
            try:
                yield service
            finally:
                await service.close()
        finally:
            store.close()
    finally:
        release_workdir(lock)
