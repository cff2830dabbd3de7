"""Durations and sizes: parsing what people write (``"1h30m"``, ``"05:00"``, ``"2G"``) and
writing them back, one table of units for the whole package. Imports nothing of ours."""

from __future__ import annotations

import math
import re

__all__ = [
    "BINARY_UNITS",
    "MAX_CPUS",
    "MAX_MEMORY",
    "MAX_TIME_LIMIT",
    "format_duration",
    "format_memory",
    "format_size",
    "parse_duration",
    "parse_memory",
]

_DURATION_RE = re.compile(
    r"^(?:(?P<days>\d+)-)?(?:(?P<h>\d+):)??(?:(?P<m>\d+):)?(?P<s>\d+(?:\.\d+)?)$"
)
_UNIT_DURATION_RE = re.compile(
    r"^(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m(?:in)?)?(?:(?P<s>\d+(?:\.\d+)?)s)?$"
)
_MEMORY_RE = re.compile(r"^(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>[KMGT]?)(?:i?B)?$", re.IGNORECASE)
#: Binary multiples, as SLURM and ``Resources`` read ``K``, ``M``, ``G``, ``T``.
BINARY_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
#: The largest values a job may ask for: beyond them a value is a typo of a unit (or an
#: attack), not a request; refused wherever a duration or a size is read.
MAX_TIME_LIMIT = 366 * 86400
MAX_MEMORY = 64 * 1024**4
MAX_CPUS = 4096
#: Longer strings are refused before they are parsed.
_MAX_TEXT = 64


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
        if isinstance(value, int) and value > MAX_TIME_LIMIT:  # also ints no float can hold
            return _positive(MAX_TIME_LIMIT + 1, value)
        seconds = float(value)
    else:
        if len(value) > _MAX_TEXT:
            raise ValueError(f"time limit {value[:20]!r}... is too long to be a duration")
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
        raise ValueError(f"time limit must be finite, got {_short(value)}")
    if seconds <= 0:
        raise ValueError(f"time limit must be positive, got {_short(value)}")
    if seconds < 0.1:
        raise ValueError(f"time limit {_short(value)} is under the minimum of 0.1 s")
    if seconds > MAX_TIME_LIMIT:
        raise ValueError(
            f"time limit {_short(value)} is over the maximum of 366 days (a unit typo?)"
        )
    return seconds


def _short(value: object) -> str:
    text = repr(value) if not isinstance(value, int) or value.bit_length() < 200 else "(huge)"
    return text if len(text) <= 40 else text[:37] + "..."


def parse_memory(value: int | str | None) -> int | None:
    """Bytes from an int (bytes) or a string with a binary unit (``"512M"``, ``"2GiB"``)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"memory must be bytes (an int) or a string, got {value!r}")
    if isinstance(value, int):
        amount = value
    else:
        if len(value) > _MAX_TEXT:
            raise ValueError(f"memory {value[:20]!r}... is too long to be a size")
        match = _MEMORY_RE.match(value.strip())
        if not match:
            raise ValueError(f"cannot parse memory {value!r}: use bytes or e.g. '512M', '2G'")
        amount = int(float(match["num"]) * BINARY_UNITS[match["unit"].upper()])
    if amount <= 0:
        raise ValueError(f"memory must be positive, got {_short(value)}")
    if amount > MAX_MEMORY:
        raise ValueError(f"memory {_short(value)} is over the maximum of 64T (a unit typo?)")
    return amount


def format_duration(seconds: float | None) -> str:
    """``90.0`` -> ``"1m30s"``, ``2.5`` -> ``"2.5s"``, ``93600`` -> ``"1d2h"``: whole units,
    every one that is not zero (``"-"`` for no limit)."""
    if seconds is None:
        return "-"
    total = round(seconds)
    if total < 60:
        return f"{seconds:g}s" if seconds < 10 else f"{total}s"
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return "".join(
        f"{v}{u}" for v, u in ((days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")) if v
    )


def format_memory(amount: int | None) -> str:
    """``536870912`` -> ``"512M"`` (binary units, as SLURM's ``--mem``)."""
    if amount is None:
        return "-"
    for unit in ("T", "G", "M", "K"):
        size = BINARY_UNITS[unit]
        if amount >= size and amount % size == 0:
            return f"{amount // size}{unit}"
    for unit in ("T", "G", "M", "K"):
        if amount >= BINARY_UNITS[unit]:
            return f"{amount / BINARY_UNITS[unit]:.1f}{unit}"
    return f"{amount}B"


def format_size(amount: int | float) -> str:
    """A size for people, in binary units: ``512 B``, ``1.5 KiB``, ``512 MiB``, ``1 GiB``."""
    value = float(amount)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
        value /= 1024
    return f"{amount} B"  # pragma: no cover - the loop always returns
