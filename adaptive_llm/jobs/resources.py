"""What a job may use: ``Resources``, and the durations and memory sizes it is written in."""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

from .._core.units import BINARY_UNITS as BINARY_UNITS
from .._core.units import MAX_CPUS as MAX_CPUS
from .._core.units import MAX_MEMORY as MAX_MEMORY
from .._core.units import MAX_TIME_LIMIT as MAX_TIME_LIMIT
from .._core.units import format_duration as format_duration
from .._core.units import format_memory as format_memory
from .._core.units import parse_duration as parse_duration
from .._core.units import parse_memory as parse_memory
from .sbatch_options import check_extra


@dataclass(frozen=True)
class Resources:
    """What a job may use. ``None`` means no limit (local) or the partition default (SLURM).

    Absurd values are refused: a time limit over 366 days, memory over 64 TiB, over 4096 CPUs.

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
        if self.cpus > MAX_CPUS:
            raise ValueError(f"cpus {self.cpus} is over the maximum of {MAX_CPUS}")
        extra = check_extra(self.extra)
        if "sbatch_lines" in extra:
            extra["sbatch_lines"] = _ReadOnlyList(extra["sbatch_lines"])
        object.__setattr__(self, "extra", _ReadOnlyDict(extra))

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
            cpus=_cpus(data.get("cpus", 1)),
            extra=data.get("extra") or {},
        )


_READ_ONLY = (
    "resources.extra is read only (jobs asking for the same resources share it): make a"
    " changed copy, e.g. job.with_resources(extra={**job.resources.extra, 'partition': 'x'})"
)


class _ReadOnlyDict(dict[str, Any]):
    """``Resources.extra``: a dict that refuses to change (one ``Resources`` is shared by every
    job asking for the same, see ``shared``); it compares, copies, pickles and serializes as
    a dict."""

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError(_READ_ONLY)

    __setitem__ = __delitem__ = __ior__ = _refuse
    update = setdefault = pop = popitem = clear = _refuse

    def __reduce__(self) -> tuple[Any, ...]:  # pickle and copy: through the constructor
        return (type(self), (dict(self),))


class _ReadOnlyList(list[str]):
    """``extra["sbatch_lines"]``: a list that refuses to change (see ``_ReadOnlyDict``)."""

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError(_READ_ONLY)

    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse
    append = extend = insert = pop = remove = clear = sort = reverse = _refuse

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (list(self),))


#: One object for equal resources while any job holds it: a sweep of 100,000 jobs asking for
#: the same limits holds one ``Resources``, not 100,000 (each one the garbage collector walks).
_SHARED: weakref.WeakValueDictionary[tuple[Any, ...], Resources] = weakref.WeakValueDictionary()


def shared(resources: Resources) -> Resources:
    """The one ``Resources`` equal to ``resources`` that jobs share (``resources`` itself the
    first time). Resources are frozen and ``extra`` is read only (``_ReadOnlyDict``, its
    ``sbatch_lines`` a ``_ReadOnlyList``), so sharing is not seen."""
    extra = tuple(
        (key, tuple(value) if isinstance(value, list) else value)
        for key, value in sorted(resources.extra.items())
    )
    key = (resources.time_limit, resources.memory, resources.cpus, extra)
    found = _SHARED.get(key)
    if found is not None and found == resources:
        return found
    _SHARED[key] = resources
    return resources


def _cpus(value: Any) -> int:
    """A stored CPU count (an int, or an int written as a string): ``ValueError`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"cpus must be a positive integer, got {value!r}")
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"cpus must be a positive integer, got {value!r}") from None
