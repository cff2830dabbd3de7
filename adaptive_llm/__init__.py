"""adaptive_llm: run batch jobs from a notebook; when one fails, a diagnosis is waiting.

The public API is small: define ``Job``s, hand them to a ``RunManager`` with a workdir, call
``rm.start()`` in a cell, and ``await rm.llm_manager.diagnosis(name)`` for any failed job.
"""

from typing import TYPE_CHECKING, Any

from .diagnosis import Diagnosis
from .jobs.model import Attempt, Job, JobState, Resources
from .jobs.schedulers.base import Scheduler, SchedulerError, SubmitError
from .jobs.schedulers.local import LocalScheduler
from .jobs.schedulers.slurm import SlurmScheduler
from .jobs.store import StoreError
from .managers.job_manager import JobBusyError, UnknownJobError
from .managers.run_manager import RunManager, WorkdirBusyError

if TYPE_CHECKING:
    from .widgets import chat_widget, info

__version__ = "0.1.0"

#: Imported on first use, so that ``import adaptive_llm`` stays free of ipywidgets/LangChain.
_LAZY = {"info": "widgets", "chat_widget": "widgets"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    "SlurmScheduler",
    "StoreError",
    "SubmitError",
    "UnknownJobError",
    "WorkdirBusyError",
    "__version__",
    "chat_widget",
    "info",
]
