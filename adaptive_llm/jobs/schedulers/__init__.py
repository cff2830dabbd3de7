"""Schedulers run attempts: ``LocalScheduler`` (local subprocesses) and ``SlurmScheduler``."""

from .base import JobStatus, Scheduler, SchedulerError, SubmitError, SubmitRequest
from .local import LocalScheduler
from .slurm import SlurmScheduler

__all__ = [
    "JobStatus",
    "LocalScheduler",
    "Scheduler",
    "SchedulerError",
    "SlurmScheduler",
    "SubmitError",
    "SubmitRequest",
]
