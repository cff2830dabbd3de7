"""Schedulers run attempts: ``LocalScheduler`` (subprocesses, the default) and later SLURM."""

from .base import JobStatus, Scheduler, SchedulerError, SubmitError, SubmitRequest
from .local import LocalScheduler

__all__ = [
    "JobStatus",
    "LocalScheduler",
    "Scheduler",
    "SchedulerError",
    "SubmitError",
    "SubmitRequest",
]
