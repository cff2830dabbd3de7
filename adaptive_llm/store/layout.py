"""Where a run keeps its files, in one place::

<workdir>/.adaptive_llm/store.sqlite                 jobs, attempts, diagnoses, chat records
<workdir>/.adaptive_llm/lock                         held by the RunManager driving the workdir
<workdir>/.adaptive_llm/logs/<job>/attempt-<n>.log   stdout+stderr of each attempt
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CHECKPOINTS_NAME", "LOCK_NAME", "STATE_DIR", "STORE_NAME", "Layout"]

STATE_DIR = ".adaptive_llm"
STORE_NAME = "store.sqlite"
CHECKPOINTS_NAME = "checkpoints.sqlite"
LOCK_NAME = "lock"


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
        return self.state_dir / "logs"

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
