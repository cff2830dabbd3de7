"""Runs one local attempt and records how it ended; executed as a script, stdlib only.

``python _runner.py SPEC.json``. The runner is started in a session of its own by
``LocalScheduler`` and outlives the kernel that started it, so a job keeps running (and its
time limit keeps being enforced) through a kernel restart. It:

- makes itself the child subreaper of the command's tree (``adaptive_llm/_core/reaper.py``,
  loaded by path: Linux ``prctl(PR_SET_CHILD_SUBREAPER)``), so a descendant that calls
  ``setsid`` or double-forks is re-parented to the runner instead of escaping;
- starts the command in its own process group, stdout+stderr to the attempt's log file,
  with ``RLIMIT_AS`` set when the job has a memory limit;
- ends the command's whole tree (TERM to its group and every descendant, then KILL to all
  of them after a grace period) at the time limit or on SIGTERM (a cancel), and kills every
  descendant left when the command exits, as SLURM does with a job's cgroup (without
  ``prctl``, on macOS, only the command's process group);
- writes ``status.json`` atomically: first ``RUNNING`` with pids, then the final state with
  exit code or signal and a reason.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..._core import reaper
else:  # run as a script: load the one stdlib module it shares, without importing the package
    import importlib.util

    def _load_reaper() -> Any:
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "_core")
        spec = importlib.util.spec_from_file_location(
            "_adaptive_llm_reaper", os.path.join(path, "reaper.py")
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        return module

    reaper = _load_reaper()

#: Lines in a log's tail that show the process died of its memory limit.
_OOM_MARKERS = (
    b"MemoryError",
    b"Cannot allocate memory",
    b"std::bad_alloc",
    b"out of memory",
    b"Out of memory",
    b"failed to allocate",
    b"memory allocation of",
    b"ENOMEM",
)


def _write_status(path: str, data: dict[str, Any]) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _log_tail_has_oom(log_path: str) -> bool:
    try:
        with open(log_path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 65536))
            tail = fh.read()
    except OSError:
        return False
    return any(marker in tail for marker in _OOM_MARKERS)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def main(spec_path: str) -> int:
    with open(spec_path, encoding="utf-8") as fh:
        spec = json.load(fh)
    status_path: str = spec["status_path"]
    log_path: str = spec["log_path"]
    time_limit: float | None = spec.get("time_limit")
    memory: int | None = spec.get("memory")
    grace: float = float(spec.get("kill_grace", 5.0))
    cancelled = False

    def on_term(signum: int, frame: object) -> None:
        nonlocal cancelled
        cancelled = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

    def limits() -> None:
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        if memory:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    env = dict(os.environ)
    env.update(spec.get("env") or {})
    subreaper = reaper.become_subreaper()
    started = time.time()
    with open(log_path, "wb", buffering=0) as log:
        try:
            child = subprocess.Popen(
                spec["argv"],
                cwd=spec["cwd"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=limits,
            )
        except (FileNotFoundError, PermissionError, NotADirectoryError, OSError) as exc:
            code = 127 if isinstance(exc, FileNotFoundError) else 126
            what = "command not found" if code == 127 else "cannot execute command"
            log.write(f"adaptive-llm: {what}: {spec['argv'][0]}: {exc.strerror or exc}\n".encode())
            _write_status(
                status_path,
                {
                    "state": "FAILED",
                    "exit_code": code,
                    "signal": None,
                    "reason": f"{what}: {spec['argv'][0]}",
                    "runner_pid": os.getpid(),
                    "started_at": started,
                    "ended_at": time.time(),
                },
            )
            return 0
    _write_status(
        status_path,
        {"state": "RUNNING", "runner_pid": os.getpid(), "pid": child.pid, "started_at": started},
    )

    outcome = reaper.supervise(
        child,
        timeout=time_limit or None,
        grace=grace,
        subreaper=subreaper,
        should_stop=lambda: cancelled,
    )
    returncode, timed_out = outcome.returncode, outcome.timed_out
    ended = time.time()

    exit_code = returncode if returncode >= 0 else None
    sig = -returncode if returncode < 0 else None
    if cancelled:
        state, reason = "CANCELLED", "cancelled by the user"
    elif timed_out:
        state, reason = "TIMEOUT", f"time limit of {time_limit:g}s reached"
    elif returncode == 0:
        state, reason = "COMPLETED", None
    elif memory and _log_tail_has_oom(log_path):
        state, reason = "OUT_OF_MEMORY", f"ran out of its memory limit ({memory} bytes)"
    elif sig is not None:
        state, reason = "FAILED", f"killed by signal {sig} ({_signal_name(sig)})"
    else:
        state, reason = "FAILED", f"exit code {exit_code}"
    _write_status(
        status_path,
        {
            "state": state,
            "exit_code": exit_code,
            "signal": sig,
            "reason": reason,
            "runner_pid": os.getpid(),
            "pid": child.pid,
            "started_at": started,
            "ended_at": ended,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
