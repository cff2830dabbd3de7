"""What a job is: a command with resources, run as numbered attempts with SLURM-named states."""

from __future__ import annotations

import enum
import os
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .resources import (
    Resources,
    format_duration,
    format_memory,
    parse_duration,
    parse_memory,
    shared,
)
from .sbatch_options import check_text
from .sbatch_read import sbatch_job_fields

__all__ = [
    "FAILURE_STATES",
    "FINAL_STATES",
    "Attempt",
    "Job",
    "JobState",
    "Resources",
    "format_duration",
    "format_memory",
    "parse_duration",
    "parse_memory",
]


class JobState(enum.StrEnum):
    """States use SLURM's names so local and cluster jobs read the same."""

    #: Known to us, not yet handed to the scheduler (or waiting for a free slot).
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    TIMEOUT = "TIMEOUT"
    OUT_OF_MEMORY = "OUT_OF_MEMORY"
    CANCELLED = "CANCELLED"
    NODE_FAIL = "NODE_FAIL"
    PREEMPTED = "PREEMPTED"
    #: The process vanished (e.g. the kernel holding it died) and its outcome is unknown.
    LOST = "LOST"
    #: The scheduler did not answer; the job is kept and polled again.
    UNKNOWN = "UNKNOWN"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATES

    @property
    def is_failure(self) -> bool:
        return self in FAILURE_STATES


FINAL_STATES = frozenset(
    {
        JobState.COMPLETED,
        JobState.FAILED,
        JobState.TIMEOUT,
        JobState.OUT_OF_MEMORY,
        JobState.CANCELLED,
        JobState.NODE_FAIL,
        JobState.PREEMPTED,
        JobState.LOST,
    }
)
#: Final states that get a diagnosis (a user's own cancel does not).
FAILURE_STATES = frozenset(FINAL_STATES - {JobState.COMPLETED, JobState.CANCELLED})

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


@dataclass(frozen=True)
class Job:
    """A named command to run. Each run is an *attempt* with its own log file.

    ``command`` is an argv list (run directly) or a string (run by ``/bin/sh -c``).
    ``cwd`` defaults to the RunManager's workdir; relative paths are taken from it.
    """

    name: str
    command: Sequence[str] | str
    cwd: str | os.PathLike[str] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    resources: Resources = field(default_factory=Resources)
    max_attempts: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME_RE.fullmatch(self.name):
            raise ValueError(
                f"invalid job name {self.name!r}: use 1-128 letters, digits, '.', '_' or '-',"
                " starting with a letter or digit"
            )
        command = self.command
        if isinstance(command, str):
            if not command.strip():
                raise ValueError(f"job {self.name!r}: command is empty")
            parts: Sequence[str] = [command]
        else:
            command = parts = tuple(str(part) for part in command)
            if not command:
                raise ValueError(f"job {self.name!r}: command is empty")
        if any("\0" in part for part in parts):
            raise ValueError(f"job {self.name!r}: command {command!r} contains a NUL character")
        object.__setattr__(self, "command", command)
        if self.cwd is not None:
            cwd = os.fspath(self.cwd)
            object.__setattr__(self, "cwd", check_text(f"job {self.name!r}: cwd", cwd))
        object.__setattr__(self, "env", _checked_env(self.name, self.env))
        resources = self.resources
        if isinstance(resources, Mapping):
            resources = Resources(**resources)
        elif not isinstance(resources, Resources):
            raise ValueError(
                f"job {self.name!r}: resources must be Resources or a mapping, got"
                f" {type(resources).__name__}"
            )
        object.__setattr__(self, "resources", shared(resources))
        if not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise ValueError(f"job {self.name!r}: max_attempts must be >= 1")

    @property
    def argv(self) -> list[str]:
        """The argv to execute (a string command runs through ``/bin/sh -c``)."""
        if isinstance(self.command, str):
            return ["/bin/sh", "-c", self.command]
        return list(self.command)

    @property
    def command_text(self) -> str:
        """The command as a user would type it."""
        if isinstance(self.command, str):
            return self.command
        return shlex.join(self.command)

    def resolved_cwd(self, workdir: Path) -> Path:
        if self.cwd is None:
            return workdir
        path = Path(self.cwd).expanduser()
        return path if path.is_absolute() else workdir / path

    def with_resources(self, **changes: Any) -> Job:
        """A copy with some resources changed (``time_limit="10:00"``, ``memory="2G"``)."""
        return replace(self, resources=replace(self.resources, **changes))

    @classmethod
    def from_sbatch(cls, path: str | os.PathLike[str], **overrides: Any) -> Job:
        """A Job running ``bash <path>`` with the resources its ``#SBATCH`` headers request.

        ``--job-name``/``-J`` names the job (else the file stem); ``--time``, ``--mem`` and
        ``--cpus-per-task`` become ``Resources``; ``--partition`` and ``--account`` go to
        ``resources.extra``; ``--chdir`` sets the cwd (else the script's directory). Every
        other option is kept verbatim in ``extra["sbatch_lines"]``. ``--output``/``--error``
        are dropped: each attempt writes stdout and stderr to its own log. ``overrides`` go to
        ``Job`` as is.
        """
        return cls(**sbatch_job_fields(path, **overrides))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "command": self.command if isinstance(self.command, str) else list(self.command),
            "cwd": self.cwd,
            "env": dict(self.env),
            "resources": self.resources.to_dict(),
            "max_attempts": self.max_attempts,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Job:
        """The same checks as the constructor (a stored spec is not trusted more)."""
        return cls(
            name=data["name"],
            command=data["command"],
            cwd=data.get("cwd"),
            env=data.get("env") or {},
            resources=Resources.from_dict(data.get("resources") or {}),
            max_attempts=int(data.get("max_attempts", 1)),
        )


def _checked_env(job: str, env: Mapping[str, object]) -> dict[str, str]:
    """``env`` as strings; names without ``=`` or control characters, values without NUL."""
    checked: dict[str, str] = {}
    for key, value in env.items():
        name = check_text(f"job {job!r}: environment variable name", str(key))
        if not name or "=" in name:
            raise ValueError(f"job {job!r}: invalid environment variable name {name!r}")
        text = str(value)
        if "\0" in text:
            raise ValueError(f"job {job!r}: environment variable {name} contains a NUL: {text!r}")
        checked[name] = text
    return checked


@dataclass(frozen=True)
class AttemptReport:
    """What the scheduler says about one attempt right now (a poll's answer)."""

    state: JobState
    exit_code: int | None = None
    signal: int | None = None
    #: Why it is in its state (replaced by every report: a reason describes one state).
    reason: str | None = None
    started_at: float | None = None
    ended_at: float | None = None


@dataclass(frozen=True)
class Attempt:
    """One run of a job: where it ran, how it ended, where its log is."""

    job: str
    number: int
    state: JobState
    log_path: str
    scheduler_id: str | None = None
    exit_code: int | None = None
    signal: int | None = None
    reason: str | None = None
    submitted_at: float | None = None
    started_at: float | None = None
    ended_at: float | None = None

    @property
    def runtime(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.ended_at or _now()) - self.started_at

    def with_report(self, report: AttemptReport) -> Attempt:
        """This attempt as ``report`` says it is now: state and reason as reported; exit
        code, signal and end kept unless reported; the first start kept. The one place a
        report becomes an attempt, in memory and in the store alike."""
        return replace(
            self,
            state=report.state,
            reason=report.reason,
            exit_code=self.exit_code if report.exit_code is None else report.exit_code,
            signal=self.signal if report.signal is None else report.signal,
            started_at=self.started_at if self.started_at is not None else report.started_at,
            ended_at=self.ended_at if report.ended_at is None else report.ended_at,
        )


def _now() -> float:
    import time

    return time.time()
