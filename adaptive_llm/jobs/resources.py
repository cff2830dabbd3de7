"""What a job may use: ``Resources``, and the durations and memory sizes it is written in."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .sbatch_options import check_extra

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
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"time limit must be seconds or a string, got {value!r}")
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
    if not math.isfinite(seconds):
        raise ValueError(f"time limit must be finite, got {value!r}")
    if seconds <= 0:
        raise ValueError(f"time limit must be positive, got {value!r}")
    return seconds


def parse_memory(value: int | str | None) -> int | None:
    """Bytes from an int (bytes) or a string with a binary unit (``"512M"``, ``"2GiB"``)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"memory must be bytes (an int) or a string, got {value!r}")
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
    """What a job may use. ``None`` means no limit (local) or the partition default (SLURM).

    ``extra`` holds SLURM's extras, checked here (see :mod:`.sbatch_options`): ``partition``
    and ``account`` (one word each), ``sbatch_lines`` (``#SBATCH`` option text: a string or a
    list of strings, kept as a list). Any other key is refused, and so is text that could end
    or add an ``#SBATCH`` line (control characters, line separators, ``hetjob``) or set an
    option the batch script sets from the job (``--output``, ``--time``, ...).
    """

    time_limit: float | None = None
    memory: int | None = None
    cpus: int = 1
    #: Scheduler-specific extras (SLURM: partition, account, extra ``#SBATCH`` lines).
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "time_limit", parse_duration(self.time_limit))
        object.__setattr__(self, "memory", parse_memory(self.memory))
        if isinstance(self.cpus, bool) or not isinstance(self.cpus, int) or self.cpus < 1:
            raise ValueError(f"cpus must be a positive integer, got {self.cpus!r}")
        object.__setattr__(self, "extra", check_extra(self.extra))

    def to_dict(self) -> dict[str, Any]:
        return {
            "time_limit": self.time_limit,
            "memory": self.memory,
            "cpus": self.cpus,
            "extra": {k: list(v) if isinstance(v, list) else v for k, v in self.extra.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Resources:
        """The same checks as the constructor (a stored spec is not trusted more)."""
        return cls(
            time_limit=data.get("time_limit"),
            memory=data.get("memory"),
            cpus=int(data.get("cpus", 1)),
            extra=data.get("extra") or {},
        )
