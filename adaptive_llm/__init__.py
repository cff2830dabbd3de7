"""adaptive_llm: run batch jobs from a notebook; when one fails, a diagnosis is waiting.

The public API is small: define ``Job``s, hand them to a ``RunManager`` with a workdir, call
``rm.start()`` in a cell, and ``await rm.llm_manager.diagnosis(name)`` for any failed job.
"""

from .diagnosis import Diagnosis
from .jobs.model import Attempt, Job, JobState, Resources
from .jobs.schedulers.base import Scheduler, SchedulerError, SubmitError
from .jobs.schedulers.local import LocalScheduler
from .jobs.store import StoreError
from .managers.job_manager import JobBusyError, UnknownJobError
from .managers.run_manager import RunManager, WorkdirBusyError

__version__ = "0.1.0"

__all__ = [
    "Attempt",
    "Diagnosis",
    "Job",
    "JobBusyError",
    "JobState",
    "LocalScheduler",
    "Resources",
    "RunManager",
    "Scheduler",
    "SchedulerError",
    "StoreError",
    "SubmitError",
    "UnknownJobError",
    "WorkdirBusyError",
    "__version__",
]
