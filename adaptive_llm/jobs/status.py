"""One row per job (latest attempt + diagnosis), for ``adaptive-llm status`` and the widgets."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .model import Job, JobState
from .store import Store


def job_rows(store: Store, unrecorded: Iterable[Job] = ()) -> list[dict[str, Any]]:
    """Every job in the store (plus ``unrecorded`` ones, not stored yet) with its latest
    attempt and that attempt's diagnosis."""
    latest = store.latest_attempts()
    diagnoses = store.diagnoses()
    rows: list[dict[str, Any]] = []
    jobs = {job.name: job for job in unrecorded} | {job.name: job for job in store.jobs()}
    for job in sorted(jobs.values(), key=lambda j: j.name):
        attempt = latest.get(job.name)
        diag = diagnoses.get((job.name, attempt.number)) if attempt else None
        location = (diag or {}).get("location")
        rows.append(
            {
                "name": job.name,
                "state": attempt.state.value if attempt else JobState.PENDING.value,
                "attempt": attempt.number if attempt else 0,
                "exit_code": attempt.exit_code if attempt else None,
                "signal": attempt.signal if attempt else None,
                "reason": attempt.reason if attempt else None,
                "runtime": round(attempt.runtime, 3) if attempt and attempt.runtime else None,
                "category": diag.get("category") if diag else None,
                "summary": diag.get("summary") if diag else None,
                "location": (
                    {"file": location["file"], "line": location["line"]} if location else None
                ),
                "suggestion": diag.get("suggestion") if diag else None,
                "log_path": attempt.log_path if attempt else None,
                "command": job.command_text,
            }
        )
    return rows
