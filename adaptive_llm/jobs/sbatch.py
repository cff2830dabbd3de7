"""SLURM batch scripts: render a ``Job`` as a script; the batch script a job runs.

Reading scripts lives in :mod:`.sbatch_read` (SLURM's units, the ``#SBATCH`` header, edits of
it) and option parsing in :mod:`.sbatch_options`; their names are re-exported here.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .model import Job
from .sbatch_options import SbatchError, parse_sbatch_options
from .sbatch_read import (
    format_slurm_memory,
    format_slurm_time,
    header_edit,
    job_name_from,
    parse_slurm_memory,
    parse_slurm_time,
    sbatch_fields,
    sbatch_header_lines,
    sbatch_header_raw,
    script_header,
)

__all__ = [
    "DEFAULT_MEMORY",
    "SbatchError",
    "batch_script_of",
    "extra_sbatch_lines",
    "format_slurm_memory",
    "format_slurm_time",
    "header_edit",
    "job_from_sbatch",
    "job_name_from",
    "parse_sbatch_options",
    "parse_slurm_memory",
    "parse_slurm_time",
    "render_sbatch",
    "sbatch_fields",
    "sbatch_header_lines",
    "sbatch_header_raw",
    "script_header",
]

#: Used when a job asks for no memory: without ``--mem`` a job takes the whole node.
DEFAULT_MEMORY = 500 * 1024**2

_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Script interpreters whose first argument is the batch script (``bash train.sh``).
_SHELLS = {"bash", "sh", "zsh", "dash", "ksh"}


def job_from_sbatch(path: str | os.PathLike[str], **overrides: Any) -> Job:
    """A Job running ``bash <path>`` with the resources its ``#SBATCH`` headers request (see
    :meth:`Job.from_sbatch`)."""
    return Job.from_sbatch(path, **overrides)


def batch_script_of(job: Job, workdir: Path) -> Path | None:
    """The batch script ``job`` runs (``bash script.sh ...``) when its header has ``#SBATCH``
    lines, else None. Those lines are what ``sbatch`` uses when the user submits the script
    outside adaptive_llm, so a change of the job's resources belongs there too."""
    if isinstance(job.command, str):
        try:
            argv = shlex.split(job.command)
        except ValueError:
            return None
    else:
        argv = list(job.command)
    if len(argv) < 2 or os.path.basename(argv[0]) not in _SHELLS or argv[1].startswith("-"):
        return None
    script = Path(argv[1]).expanduser()
    if not script.is_absolute():
        script = job.resolved_cwd(workdir) / script
    return script if script_header(script) else None


# -- rendering --------------------------------------------------------------------------------


def _path_value(path: Path | str, *, pattern: bool = False) -> str:
    """A path for an ``#SBATCH`` line, quoted if needed; ``%`` escaped in output patterns."""
    text = str(path).replace("%", "%%") if pattern else str(path)
    return f'"{text}"' if any(c.isspace() for c in text) else text


def extra_sbatch_lines(extra: Mapping[str, Any]) -> list[str]:
    """Option text for partition, account and the extra lines of ``resources.extra``."""
    lines: list[str] = []
    for key in ("partition", "account"):
        if extra.get(key):
            lines.append(f"--{key}={extra[key]}")
    raw = extra.get("sbatch_lines") or []
    items: Sequence[Any] = [raw] if isinstance(raw, str) else raw
    for item in items:
        text = str(item).strip()
        if text.startswith("#SBATCH"):
            text = text[len("#SBATCH") :].strip()
        if text:
            lines.append(text)
    return lines


def render_sbatch(
    job: Job,
    *,
    log_path: Path,
    cwd: Path,
    default_memory: int = DEFAULT_MEMORY,
    defaults: Mapping[str, Any] | None = None,
) -> str:
    """A batch script for one attempt of ``job``: stdout and stderr both go to ``log_path``.

    ``defaults`` (e.g. ``{"partition": "debug"}``) fill keys missing from ``resources.extra``.
    """
    res = job.resources
    extra = {**(defaults or {}), **res.extra}
    options = [
        f"--job-name={job.name}",
        f"--output={_path_value(log_path, pattern=True)}",
        f"--chdir={_path_value(cwd)}",
    ]
    if res.time_limit is not None:
        options.append(f"--time={format_slurm_time(res.time_limit)}")
    options.append(f"--mem={format_slurm_memory(res.memory or default_memory)}")
    options.append(f"--cpus-per-task={res.cpus}")
    options.extend(extra_sbatch_lines(extra))
    bad = [key for key in job.env if not _ENV_NAME_RE.match(key)]
    if bad:
        raise SbatchError(f"job {job.name!r}: invalid environment variable name(s): {bad}")
    body = [f"export {key}={shlex.quote(value)}" for key, value in job.env.items()]
    if isinstance(job.command, str):
        body.append(job.command)
    else:
        body.append(f"exec {shlex.join(job.command)}")
    lines = ["#!/bin/bash", *(f"#SBATCH {opt}" for opt in options)]
    lines += [f"# adaptive_llm job {job.name!r}", *body]
    return "\n".join(lines) + "\n"
