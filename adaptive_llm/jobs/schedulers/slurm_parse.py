"""Read what SLURM's commands print (squeue, scontrol, sacct, jobcomp) into ``AttemptReport``.

Pure functions, no SLURM needed: the ``SlurmScheduler`` runs the commands, this maps their
output, states and reasons to ours.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from ..model import JobState
from .base import AttemptReport

#: ``squeue -O`` fields, in the order ``parse_squeue`` reads them ("|" after each).
SQUEUE_FIELDS = ("JobID", "State", "Reason", "StartTime", "EndTime", "exit_code", "TimeLimit")
SQUEUE_FORMAT = ",".join(f"{name}:|" for name in SQUEUE_FIELDS)

_STATES: dict[str, JobState] = {
    "PENDING": JobState.PENDING,
    "CONFIGURING": JobState.PENDING,
    "REQUEUED": JobState.PENDING,
    "REQUEUE_HOLD": JobState.PENDING,
    "REQUEUE_FED": JobState.PENDING,
    "RESV_DEL_HOLD": JobState.PENDING,
    "RUNNING": JobState.RUNNING,
    "COMPLETING": JobState.RUNNING,
    "SUSPENDED": JobState.RUNNING,
    "STOPPED": JobState.RUNNING,
    "SIGNALING": JobState.RUNNING,
    "STAGE_OUT": JobState.RUNNING,
    "RESIZING": JobState.RUNNING,
    "COMPLETED": JobState.COMPLETED,
    "FAILED": JobState.FAILED,
    "SPECIAL_EXIT": JobState.FAILED,
    "TIMEOUT": JobState.TIMEOUT,
    "DEADLINE": JobState.TIMEOUT,
    "OUT_OF_MEMORY": JobState.OUT_OF_MEMORY,
    "CANCELLED": JobState.CANCELLED,
    "REVOKED": JobState.CANCELLED,
    "NODE_FAIL": JobState.NODE_FAIL,
    "BOOT_FAIL": JobState.NODE_FAIL,
    "PREEMPTED": JobState.PREEMPTED,
}
_CONTROLLER_DOWN = (
    "unable to contact slurm controller",
    "socket timed out",
    "zero bytes were transmitted",
    "connection refused",
    "communication connection failure",
    "slurm_persist_conn",
)
INVALID_ID = "invalid job id"
#: Job ids per ``squeue``/``sacct`` call (``--jobs=1,2,...``): Linux refuses a single argument
#: over 128 KiB (``Argument list too long``), about 14,000 ids of 8 digits, so a sweep of
#: 100,000 jobs is polled in calls of this many (a 20 KB argument each).
IDS_PER_CALL = 2_000
#: What slurmstepd (sampling) or the cgroup plugin writes when a job exceeds its ``--mem``.
_OOM_RE = re.compile(r"exceeded (?:job )?memory limit|oom[-_ ]kill", re.IGNORECASE)
_KV_RE = re.compile(r"(?:^|\s)([A-Za-z][A-Za-z0-9_/:]*)=(\S*)")
_NO_TIME = {"", "N/A", "Unknown", "None", "(null)"}
_NO_REASON = {"", "None", "(null)"}


def id_chunks(ids: Sequence[str], size: int | None = None) -> list[Sequence[str]]:
    """``ids`` in runs of at most ``size`` (``IDS_PER_CALL``), in order; none if no ids."""
    step = size or IDS_PER_CALL
    return [ids[begin : begin + step] for begin in range(0, len(ids), step)]


def controller_down(message: str) -> bool:
    """True when a SLURM command's error says the controller did not answer."""
    text = message.lower()
    return any(pattern in text for pattern in _CONTROLLER_DOWN)


def parse_key_values(line: str) -> dict[str, str]:
    """``Key=Value`` pairs of a ``scontrol -o show job`` or jobcomp line (values without spaces)."""
    return {key: value for key, value in _KV_RE.findall(line)}


def parse_slurm_timestamp(text: str) -> float | None:
    """A local ``YYYY-MM-DDTHH:MM:SS`` from SLURM as epoch seconds (None for N/A, Unknown)."""
    text = text.strip()
    if text in _NO_TIME:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S").timestamp()
    except ValueError:
        return None


def parse_squeue(output: str) -> dict[str, dict[str, str]]:
    """Rows of ``squeue --noheader -O SQUEUE_FORMAT``, keyed by job id."""
    rows: dict[str, dict[str, str]] = {}
    for line in output.splitlines():
        parts = line.split("|")
        if len(parts) < len(SQUEUE_FIELDS):
            continue
        row = {name: parts[i].strip() for i, name in enumerate(SQUEUE_FIELDS)}
        raw = row.pop("exit_code")
        code, sig = ("", "")
        if raw.isdigit():  # a wait status: exit code << 8 | signal
            code, sig = str((int(raw) >> 8) & 0xFF), str(int(raw) & 0x7F)
        row["ExitCode"] = f"{code}:{sig}" if raw.isdigit() else ""
        row["JobState"] = row.pop("State")
        rows[row.pop("JobID")] = row
    return rows


def status_from_record(record: Mapping[str, str], log_path: str | None = None) -> AttemptReport:
    """Our ``AttemptReport`` from a SLURM record (squeue row, scontrol, sacct or jobcomp line).

    Keys: ``JobState``, ``Reason``, ``ExitCode`` (``code:signal``), ``StartTime``, ``EndTime``,
    ``TimeLimit``. A FAILED/CANCELLED job whose log says it exceeded its memory limit (SLURM's
    sampling kill) is ``OUT_OF_MEMORY``.
    """
    raw_state = (record.get("JobState") or "").split()[0:1]
    slurm_state = raw_state[0].rstrip("+") if raw_state else "UNKNOWN"
    state = _STATES.get(slurm_state, JobState.UNKNOWN)
    reason = record.get("Reason", "")
    reason = "" if reason in _NO_REASON else reason
    code, signal = _exit_code(record.get("ExitCode", ""))
    started = parse_slurm_timestamp(record.get("StartTime", ""))
    ended = parse_slurm_timestamp(record.get("EndTime", ""))
    if state is JobState.PENDING:
        why = f": {reason}" if reason else ""
        return AttemptReport(state, reason=f"SLURM {slurm_state}{why}")
    if not state.is_final:
        note = "" if slurm_state == "RUNNING" else f"SLURM {slurm_state}"
        if state is JobState.UNKNOWN:
            note = f"unknown SLURM state {slurm_state!r}"
        return AttemptReport(state, reason=note or None, started_at=started)
    if state in (JobState.FAILED, JobState.CANCELLED) and _log_says_oom(log_path):
        state = JobState.OUT_OF_MEMORY
    text = _final_reason(state, slurm_state, reason, code, signal, record.get("TimeLimit", ""))
    if signal and not code:
        code = None  # killed by a signal: no exit code of its own
    return AttemptReport(
        state, exit_code=code, signal=signal, reason=text, started_at=started, ended_at=ended
    )


def _exit_code(text: str) -> tuple[int | None, int | None]:
    code, _, sig = text.partition(":")
    exit_code = int(code) if code.strip().isdigit() else None
    signal = int(sig) if sig.strip().isdigit() and int(sig) else None
    return exit_code, signal


def _final_reason(
    state: JobState, slurm_state: str, reason: str, code: int | None, signal: int | None, limit: str
) -> str:
    if state is JobState.COMPLETED:
        return "SLURM COMPLETED"
    if state is JobState.TIMEOUT:
        limit_text = f" of {limit}" if limit and limit not in _NO_TIME else ""
        return f"SLURM {slurm_state}: killed at its time limit{limit_text} (--time)"
    if state is JobState.OUT_OF_MEMORY:
        return "SLURM OUT_OF_MEMORY: the job exceeded its memory request (--mem)"
    parts = [f"SLURM {slurm_state}"]
    if reason:
        parts.append(f"({reason})")
    if signal:
        parts.append(f"signal {signal}")
    elif code is not None and state is JobState.FAILED:
        parts.append(f"exit code {code}")
    return " ".join(parts)


def _log_says_oom(log_path: str | None, size: int = 16384) -> bool:
    if not log_path:
        return False
    try:
        with open(log_path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - size))
            tail = handle.read().decode("utf-8", "replace")
    except OSError:
        return False
    return any(_OOM_RE.search(line) for line in tail.splitlines() if "slurmstepd" in line)


def parse_sacct(output: str, ids: Sequence[str]) -> dict[str, dict[str, str]]:
    """Records from ``sacct --noheader --parsable2 --format=SACCT_FORMAT``."""
    wanted = set(ids)
    records: dict[str, dict[str, str]] = {}
    for line in output.splitlines():
        parts = line.split("|")
        if len(parts) >= 6 and parts[0] in wanted:
            keys = ("JobState", "ExitCode", "StartTime", "EndTime", "TimeLimit")
            records[parts[0]] = dict(zip(keys, parts[1:6], strict=True))
    return records


SACCT_FORMAT = "JobID,State,ExitCode,Start,End,Timelimit,JobName"


def parse_jobcomp(lines: Iterable[str], names: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Records of the job ids in ``names`` from a jobcomp/filetxt file.

    The latest line of each id whose ``Name`` matches wins (job ids restart when the
    controller's state is wiped, so the name guards against reading another job's line).
    """
    found: dict[str, dict[str, str]] = {}
    for line in lines:
        match = _JOBCOMP_ID_RE.match(line)
        if not match or match[1] not in names:
            continue
        record = parse_key_values(line)
        if record.get("Name") == names[match[1]]:
            found[match[1]] = record
    return found


def read_jobcomp(
    path: str | os.PathLike[str], names: Mapping[str, str]
) -> dict[str, dict[str, str]]:
    """``parse_jobcomp`` on a file; an unreadable file has no records."""
    try:
        with open(path, encoding="utf-8", errors="replace") as lines:
            return parse_jobcomp(lines, names)
    except OSError:
        return {}


_JOBCOMP_ID_RE = re.compile(r"JobId=(\d+) ")
