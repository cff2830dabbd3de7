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

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_DURATION_RE = re.compile(
    r"^(?:(?P<days>\d+)-)?(?:(?P<h>\d+):)??(?:(?P<m>\d+):)?(?P<s>\d+(?:\.\d+)?)$"
)
_UNIT_DURATION_RE = re.compile(
    r"^(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m(?:in)?)?(?:(?P<s>\d+(?:\.\d+)?)s)?$"
)
_MEMORY_RE = re.compile(r"^(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>[KMGT]?)(?:i?B)?$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def parse_duration(value: float | int | str | None) -> float | None:
    """Seconds from a number, a SLURM-style time (``"05:00"``, ``"1-02:00:00"``) or units
    (``"90s"``, ``"10m"``, ``"2h"``, ``"1h30m"``, ``"1d"``).

    A bare number string is seconds (unlike SLURM's minutes) to match the numeric form.
    """
    if value is None:
        return None
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = value.strip().lower()
        units = _UNIT_DURATION_RE.match(text) if text and not text[-1].isdigit() else None
        if units:
            return _positive(
                int(units["d"] or 0) * 86400
                + int(units["h"] or 0) * 3600
                + int(units["m"] or 0) * 60
                + float(units["s"] or 0),
                value,
            )
        match = _DURATION_RE.match(text)
        if not match:
            raise ValueError(
                f"cannot parse time limit {value!r}: use seconds, [D-]HH:MM:SS or e.g. '90m'"
            )
        seconds = (
            int(match["days"] or 0) * 86400
            + int(match["h"] or 0) * 3600
            + int(match["m"] or 0) * 60
            + float(match["s"])
        )
    return _positive(seconds, value)


def _positive(seconds: float, value: object) -> float:
    if seconds <= 0:
        raise ValueError(f"time limit must be positive, got {value!r}")
    return seconds


def parse_memory(value: int | str | None) -> int | None:
    """Bytes from an int (bytes) or a string with a binary unit (``"512M"``, ``"2GiB"``)."""
    if value is None:
        return None
    if isinstance(value, int):
        amount = value
    else:
        match = _MEMORY_RE.match(value.strip())
        if not match:
            raise ValueError(f"cannot parse memory {value!r}: use bytes or e.g. '512M', '2G'")
        amount = int(float(match["num"]) * _UNITS[match["unit"].upper()])
    if amount <= 0:
        raise ValueError(f"memory must be positive, got {value!r}")
    return amount


def format_duration(seconds: float | None) -> str:
    """``90.0`` -> ``"1m30s"``; whole units only where possible."""
    if seconds is None:
        return "-"
    total = round(seconds)
    if total < 60:
        return f"{seconds:g}s" if seconds < 10 else f"{total}s"
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
        f"{secs}s" if secs else "",
    ]
    return "".join(parts)


def format_memory(amount: int | None) -> str:
    """``536870912`` -> ``"512M"`` (binary units, as SLURM's ``--mem``)."""
    if amount is None:
        return "-"
    for unit in ("T", "G", "M", "K"):
        size = _UNITS[unit]
        if amount >= size and amount % size == 0:
            return f"{amount // size}{unit}"
    for unit in ("T", "G", "M", "K"):
        if amount >= _UNITS[unit]:
            return f"{amount / _UNITS[unit]:.1f}{unit}"
    return f"{amount}B"


@dataclass(frozen=True)
class Resources:
    """What a job may use. ``None`` means no limit (local) or the partition default (SLURM)."""

    time_limit: float | None = None
    memory: int | None = None
    cpus: int = 1
    #: Scheduler-specific extras (SLURM: partition, account, extra ``#SBATCH`` lines).
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "time_limit", parse_duration(self.time_limit))
        object.__setattr__(self, "memory", parse_memory(self.memory))
        if not isinstance(self.cpus, int) or self.cpus < 1:
            raise ValueError(f"cpus must be a positive integer, got {self.cpus!r}")
        object.__setattr__(self, "extra", dict(self.extra))

    def to_dict(self) -> dict[str, Any]:
        return {
            "time_limit": self.time_limit,
            "memory": self.memory,
            "cpus": self.cpus,
            "extra": dict(self.extra),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Resources:
        return cls(
            time_limit=data.get("time_limit"),
            memory=data.get("memory"),
            cpus=int(data.get("cpus", 1)),
            extra=data.get("extra") or {},
        )


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
        if not isinstance(self.name, str) or not _NAME_RE.match(self.name):
            raise ValueError(
                f"invalid job name {self.name!r}: use 1-128 letters, digits, '.', '_' or '-',"
                " starting with a letter or digit"
            )
        command = self.command
        if isinstance(command, str):
            if not command.strip():
                raise ValueError(f"job {self.name!r}: command is empty")
        else:
            command = tuple(str(part) for part in command)
            if not command:
                raise ValueError(f"job {self.name!r}: command is empty")
        object.__setattr__(self, "command", command)
        if self.cwd is not None:
            object.__setattr__(self, "cwd", str(self.cwd))
        object.__setattr__(self, "env", {str(k): str(v) for k, v in self.env.items()})
        if isinstance(self.resources, Mapping):
            object.__setattr__(self, "resources", Resources(**self.resources))
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
        """A job running an existing SLURM batch script with the resources of its ``#SBATCH``."""
        from .sbatch import job_from_sbatch

        return job_from_sbatch(path, **overrides)

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
        return cls(
            name=data["name"],
            command=data["command"],
            cwd=data.get("cwd"),
            env=data.get("env") or {},
            resources=Resources.from_dict(data.get("resources") or {}),
            max_attempts=int(data.get("max_attempts", 1)),
        )


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


def _now() -> float:
    import time

    return time.time()
