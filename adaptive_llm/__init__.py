"""adaptive_llm: run batch jobs from a notebook; when one fails, a diagnosis is waiting.

The public API is small: define ``Job``s, hand them to a ``RunManager`` with a workdir, call
``rm.start()`` in a cell, and ``await rm.llm_manager.diagnosis(name)`` for any failed job;
``info(rm)`` shows the live job table, ``chat_widget(rm.llm_manager, name)`` a chat and
``log_viewer(rm, name)`` a job's whole log.

Names are imported on first use (PEP 562), so ``import adaptive_llm`` and the
``adaptive-llm diagnose`` command stay fast and free of LangChain and ipywidgets.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .chat.tools import local_tool, sends_data, web_search_tool
    from .diagnosis import Diagnosis
    from .errors import (
        ActionError,
        AdaptiveLLMError,
        DiagnosisError,
        JobBusyError,
        ModelError,
        SbatchError,
        SchedulerError,
        StoreError,
        SubmitError,
        UnknownJobError,
        WorkdirBusyError,
        WorkspaceError,
    )
    from .jobs.model import Attempt, Job, JobState, Resources
    from .jobs.schedulers.airflow import AirflowScheduler
    from .jobs.schedulers.airflow_model import airflow_job
    from .jobs.schedulers.base import Scheduler
    from .jobs.schedulers.local import LocalScheduler
    from .jobs.schedulers.slurm import SlurmScheduler
    from .llm.limits import ModelLimits
    from .llm.retry import RetryPolicy
    from .managers.run_manager import RunManager
    from .managers.views import JobView
    from .widgets import chat_widget, info, log_viewer

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_EXPORTS = {
    "ActionError": "errors",
    "AdaptiveLLMError": "errors",
    "DiagnosisError": "errors",
    "ModelError": "errors",
    "SbatchError": "errors",
    "WorkspaceError": "errors",
    "JobView": "managers.views",
    "Diagnosis": "diagnosis",
    "Attempt": "jobs.model",
    "Job": "jobs.model",
    "JobState": "jobs.model",
    "Resources": "jobs.model",
    "Scheduler": "jobs.schedulers.base",
    "SchedulerError": "errors",
    "SubmitError": "errors",
    "LocalScheduler": "jobs.schedulers.local",
    "SlurmScheduler": "jobs.schedulers.slurm",
    "AirflowScheduler": "jobs.schedulers.airflow",
    "airflow_job": "jobs.schedulers.airflow_model",
    "StoreError": "errors",
    "JobBusyError": "errors",
    "UnknownJobError": "errors",
    "RunManager": "managers.run_manager",
    "RetryPolicy": "llm.retry",
    "ModelLimits": "llm.limits",
    "WorkdirBusyError": "errors",
    "chat_widget": "widgets",
    "info": "widgets",
    "log_viewer": "widgets",
    "local_tool": "chat.tools",
    "sends_data": "chat.tools",
    "web_search_tool": "chat.tools",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = sorted([*_EXPORTS, "__version__"])
