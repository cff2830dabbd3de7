"""Schedulers run attempts: ``LocalScheduler`` (local subprocesses) and ``SlurmScheduler``."""

from .base import AttemptReport, Scheduler, SchedulerError, SubmitError, SubmitRequest
from .local import LocalScheduler
from .slurm import SlurmScheduler

__all__ = [
    "AttemptReport",
    "LocalScheduler",
    "Scheduler",
    "SchedulerError",
    "SlurmScheduler",
    "SubmitError",
    "SubmitRequest",
]
