"""Every public exception of adaptive_llm, under one root::

    AdaptiveLLMError
    ├── StoreError            the store file is corrupt, locked, newer or unwritable  (RuntimeError)
    ├── WorkdirBusyError      another process drives the workdir                      (RuntimeError)
    ├── SchedulerError        the scheduler did not answer or refused                 (RuntimeError)
    │   └── SubmitError       a job could not be submitted                            (RuntimeError)
    ├── UnknownJobError       no job of that name in the run                          (LookupError)
    ├── JobBusyError          the job's latest attempt has not finished               (RuntimeError)
    ├── SbatchError           a batch script or #SBATCH value that cannot be used     (ValueError)
    ├── DiagnosisError        a log the engine cannot read                            (ValueError)
    ├── ModelError            the model cannot be created or called                   (RuntimeError)
    ├── WorkspaceError        a refused file operation of the chat
    └── ActionError           a refused or failed change of the chat

``except AdaptiveLLMError`` catches all of them; each also keeps the built-in base shown on
the right, so ``except RuntimeError`` / ``LookupError`` / ``ValueError`` clauses written for
earlier versions still work. Messages are written for the person reading them: what is wrong
and what to do.
"""

from __future__ import annotations

__all__ = [
    "ActionError",
    "AdaptiveLLMError",
    "DiagnosisError",
    "JobBusyError",
    "ModelError",
    "SbatchError",
    "SchedulerError",
    "StoreError",
    "SubmitError",
    "UnknownJobError",
    "WorkdirBusyError",
    "WorkspaceError",
]


class AdaptiveLLMError(Exception):
    """The root of every exception adaptive_llm raises on purpose."""


class StoreError(AdaptiveLLMError, RuntimeError):
    """The store file cannot be used (corrupt, locked, wrong version, unwritable)."""


class WorkdirBusyError(AdaptiveLLMError, RuntimeError):
    """Another process is running a RunManager on the same workdir."""


class SchedulerError(AdaptiveLLMError, RuntimeError):
    """The scheduler could not do what was asked (it is down, or refused)."""


class SubmitError(SchedulerError):
    """A job could not be submitted (bad cwd, unwritable log directory, rejected by sbatch)."""


class UnknownJobError(AdaptiveLLMError, LookupError):
    """No job of that name in this run."""


class JobBusyError(AdaptiveLLMError, RuntimeError):
    """The job's latest attempt has not finished yet."""


class SbatchError(AdaptiveLLMError, ValueError):
    """A batch script or an ``#SBATCH`` value that cannot be understood or used."""


class DiagnosisError(AdaptiveLLMError, ValueError):
    """A log the diagnosis engine cannot read (missing, unreadable, not a regular file)."""


class ModelError(AdaptiveLLMError, RuntimeError):
    """The configured model cannot be created or called."""


class WorkspaceError(AdaptiveLLMError):
    """A refused workspace operation; the message is shown to the model and the user."""


class ActionError(AdaptiveLLMError):
    """A refused or failed change; the message is meant for the model and the user alike."""
