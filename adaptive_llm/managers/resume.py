"""A RunManager on a workdir's recorded jobs, from a shell: ``resumed_run(workdir)``.

``RunManager([], workdir=...)`` takes over every job and attempt the store holds (running ones
are re-attached, nothing is resubmitted); this picks the scheduler the attempts ran on, so the
terminal chat's changes of a job and its resubmissions happen as in the notebook. While a
notebook drives the workdir, its lock says so (``WorkdirBusyError``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

from ..errors import StoreError
from ..jobs.schedulers.base import Scheduler
from ..store import Store
from ..store.layout import STATE_DIR, STORE_NAME, Layout
from .run_manager import RunManager
from .workdir_lock import release_workdir, take_workdir

__all__ = ["recorded_scheduler", "resumed_run"]


def recorded_scheduler(workdir: str | os.PathLike[str]) -> Scheduler:
    """The scheduler the workdir's attempts ran on: local (also when none ran yet), SLURM, or
    Airflow (configured from ``ADAPTIVE_LLM_AIRFLOW_*``, as ``AirflowScheduler.from_env``);
    ``StoreError`` when there is no store, ``ValueError`` for a mix or an unknown one."""
    layout = Layout.of(workdir)
    if not layout.store.is_file():
        raise StoreError(
            f"no jobs recorded in {layout.workdir} (no {STATE_DIR}/{STORE_NAME});"
            " pass the RunManager's workdir with --workdir"
        )
    store = Store(layout.store, readonly=True)
    try:
        names = store.jobs.schedulers()
    finally:
        store.close()
    if len(names) > 1:
        raise ValueError(
            f"the jobs of {layout.workdir} ran on several schedulers ({', '.join(sorted(names))}):"
            " open the workdir in the notebook, with its RunManager"
        )
    name = next(iter(names), "local")
    if name == "local":
        from ..jobs.schedulers.local import LocalScheduler

        return LocalScheduler()
    if name == "slurm":
        from ..jobs.schedulers.slurm import SlurmScheduler

        return SlurmScheduler()
    if name == "airflow":
        from ..jobs.schedulers.airflow import AirflowScheduler

        return AirflowScheduler.from_env()
    raise ValueError(
        f"the jobs of {layout.workdir} ran on a scheduler this command cannot make: {name!r}"
    )


@contextlib.asynccontextmanager
async def resumed_run(
    workdir: str | os.PathLike[str], llm: Any = "offline"
) -> AsyncIterator[RunManager]:
    """A started RunManager on the workdir's recorded jobs (with ``llm`` for the chat), closed
    at the end: its jobs keep running, re-attachable by the next one."""
    layout = Layout.of(workdir)
    release_workdir(take_workdir(layout, "a RunManager"))  # busy: say so before anything starts
    rm = RunManager([], workdir=layout.workdir, scheduler=recorded_scheduler(workdir), llm=llm)
    try:
        rm.start()
        yield rm
    finally:
        await rm.close()
