"""SLURM batch scripts: render a ``Job`` as a script; the batch script a job runs.

Reading scripts lives in :mod:`.sbatch_read` (SLURM's units, the ``#SBATCH`` header, edits of
it) and the rules for ``#SBATCH`` text in :mod:`.sbatch_options`; their names are re-exported
here. The renderer checks everything that lands in an ``#SBATCH`` line again, whoever built the
job (``Job`` and ``Resources`` check it on construction and in ``from_dict`` too), and ends the
header with a command, so no text of the job can add a directive or a line to it.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .model import Job
from .sbatch_options import (
    SbatchError,
    check_directive_text,
    check_extra,
    check_words,
    item_text,
    parse_sbatch_options,
    sbatch_quote,
    sbatch_words,
)
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
    "sbatch_words",
    "script_header",
]

#: Used when a job asks for no memory: without ``--mem`` a job takes the whole node.
DEFAULT_MEMORY = 500 * 1024**2

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
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


def _setting(what: str, key: str, value: str) -> str:
    """``--key=value`` for an ``#SBATCH`` line, after checking sbatch reads it as that."""
    check_directive_text(what, value)
    text = f"--{key}={sbatch_quote(value)}"
    if sbatch_words(text) != [f"--{key}={value}"]:
        raise SbatchError(f"{what} {value!r} cannot be written in an #SBATCH line")
    return text


def _path_setting(what: str, key: str, path: Path | str, *, pattern: bool = False) -> str:
    text = os.fspath(path)
    if pattern and "\\" in text:  # SLURM drops backslashes from --output and then %-patterns
        raise SbatchError(f"{what} {text!r} contains a backslash: SLURM would not write there")
    return _setting(what, key, text.replace("%", "%%") if pattern else text)


def extra_sbatch_lines(extra: Mapping[str, Any]) -> list[str]:
    """Option text for partition, account and the extra lines of ``resources.extra`` (checked
    as ``Resources`` checks them)."""
    checked = check_extra(extra)
    lines = [f"--{key}={checked[key]}" for key in ("partition", "account") if checked.get(key)]
    lines += [text for item in checked.get("sbatch_lines", []) if (text := item_text(item))]
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
    Raises :class:`SbatchError` for anything that cannot stand in an ``#SBATCH`` line.
    """
    res = job.resources
    name = job.name
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise SbatchError(f"invalid job name {name!r}")
    options = [
        _setting("job name", "job-name", name),
        _path_setting(f"job {name!r}: log path", "output", log_path, pattern=True),
        _path_setting(f"job {name!r}: working directory", "chdir", cwd),
    ]
    if res.time_limit is not None:
        options.append(f"--time={format_slurm_time(res.time_limit)}")
    options.append(f"--mem={format_slurm_memory(res.memory or default_memory)}")
    options.append(f"--cpus-per-task={res.cpus}")
    options.extend(extra_sbatch_lines({**(defaults or {}), **res.extra}))
    for option in options:  # the last line of defence: one line, read by sbatch as by us
        what = f"job {name!r}: #SBATCH line"
        check_words(what, check_directive_text(what, option))
    body = [
        f"# adaptive_llm job {name!r}: the ':' command ends the #SBATCH header",
        ":",
        *_exports(name, job.env),
    ]
    if isinstance(job.command, str):
        if "\0" in job.command:
            raise SbatchError(f"job {name!r}: the command contains a NUL character")
        body.append(job.command)
    else:
        body.append(f"exec {shlex.join(_no_nul(name, job.command))}")
    lines = ["#!/bin/bash", *(f"#SBATCH {opt}" for opt in options), *body]
    return "\n".join(lines) + "\n"


def _exports(name: str, env: Mapping[str, str]) -> list[str]:
    bad = [key for key in env if not _ENV_NAME_RE.fullmatch(key)]
    if bad:
        raise SbatchError(f"job {name!r}: invalid environment variable name(s): {bad}")
    _no_nul(name, list(env.values()))
    return [f"export {key}={shlex.quote(value)}" for key, value in env.items()]


def _no_nul(name: str, parts: Sequence[str]) -> Sequence[str]:
    if any("\0" in part for part in parts):
        raise SbatchError(f"job {name!r}: a NUL character cannot be in a batch script")
    return parts
