"""Where a run keeps its files, in one place::

<workdir>/.adaptive_llm/store.sqlite                 jobs, attempts, diagnoses, chat records
<workdir>/.adaptive_llm/lock                         held by the RunManager driving the workdir
<workdir>/.adaptive_llm/logs/<job>/attempt-<n>.log   stdout+stderr of each attempt
                         .../attempt-<n>.*     the scheduler's files of that attempt

An attempt's number names its files, so a number whose files exist is never given again
(:func:`highest_attempt`), whatever the store says.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CHECKPOINTS_NAME",
    "LOCK_NAME",
    "LOGS_NAME",
    "STATE_DIR",
    "STORE_NAME",
    "Layout",
    "first_attempt_file",
    "highest_attempt",
]

STATE_DIR = ".adaptive_llm"
STORE_NAME = "store.sqlite"
CHECKPOINTS_NAME = "checkpoints.sqlite"
LOCK_NAME = "lock"
LOGS_NAME = "logs"

#: The files of one attempt in its job's log directory: ``attempt-<n>.log``, ``.spec.json``...
_ATTEMPT_FILE = re.compile(r"attempt-([0-9]{1,18})\.")


@dataclass(frozen=True)
class Layout:
    """The files of one workdir."""

    workdir: Path

    @classmethod
    def of(cls, workdir: str | os.PathLike[str]) -> Layout:
        return cls(Path(workdir).expanduser().resolve())

    @property
    def state_dir(self) -> Path:
        return self.workdir / STATE_DIR

    @property
    def store(self) -> Path:
        return self.state_dir / STORE_NAME

    @property
    def checkpoints(self) -> Path:
        return self.state_dir / CHECKPOINTS_NAME

    @property
    def lock(self) -> Path:
        return self.state_dir / LOCK_NAME

    @property
    def log_dir(self) -> Path:
        return self.state_dir / LOGS_NAME

    def log_path(self, job: str, attempt: int) -> Path:
        return self.log_dir / job / f"attempt-{attempt}.log"

    def in_use(self) -> bool:
        """Whether a RunManager (in any process) drives this workdir now."""
        try:
            handle = open(self.lock, encoding="utf-8")  # noqa: SIM115 - closed below
        except OSError:
            return False
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError:
            return False
        else:
            with contextlib.suppress(OSError):
                fcntl.flock(handle, fcntl.LOCK_UN)
            return False
        finally:
            handle.close()


def highest_attempt(job_log_dir: Path) -> int:
    """The highest attempt number that has a file in ``job_log_dir`` (0 when none): a new
    attempt is numbered above it, so no attempt's log is ever overwritten, even by a store
    that lost rows."""
    try:
        names = os.listdir(job_log_dir)
    except OSError:  # no such directory (the job never ran here), or unreadable
        return 0
    numbers = [int(m.group(1)) for m in map(_ATTEMPT_FILE.match, names) if m]
    return max(numbers, default=0)


def first_attempt_file(logs: Path) -> Path | None:
    """A file of some attempt under the log directory ``logs`` (None when there is none)."""
    try:
        with os.scandir(logs) as jobs:
            for job in jobs:
                if not job.is_dir(follow_symlinks=False):
                    continue
                with contextlib.suppress(OSError), os.scandir(job.path) as files:
                    for file in files:
                        if _ATTEMPT_FILE.match(file.name):
                            return Path(file.path)
    except OSError:
        return None
    return None
