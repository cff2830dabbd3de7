"""Schedulers run attempts: ``LocalScheduler`` (local subprocesses), ``SlurmScheduler`` and
``AirflowScheduler`` (tasks of Airflow 3 DAG runs, REST API v2)."""

from .airflow import AirflowScheduler, airflow_job
from .base import AttemptReport, Scheduler, SchedulerError, SubmitError, SubmitRequest
from .local import LocalScheduler
from .slurm import SlurmScheduler

__all__ = [
    "AirflowScheduler",
    "AttemptReport",
    "LocalScheduler",
    "Scheduler",
    "SchedulerError",
    "SlurmScheduler",
    "SubmitError",
    "SubmitRequest",
    "airflow_job",
]
