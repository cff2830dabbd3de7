"""SLURM batch scripts: read ``#SBATCH`` headers into a ``Job``, render a ``Job`` as a script.

SLURM's own units apply here: a bare ``--time`` number is *minutes* (``"MM"``, ``"MM:SS"``,
``"HH:MM:SS"``, ``"D-HH"``, ``"D-HH:MM"``, ``"D-HH:MM:SS"``) and a bare ``--mem`` number is MiB,
unlike ``Resources(time_limit=90)`` (seconds) and ``Resources(memory=...)`` (bytes).
"""

from __future__ import annotations

import math
import os
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .model import Job, Resources

#: Used when a job asks for no memory: without ``--mem`` a job takes the whole node.
DEFAULT_MEMORY = 500 * 1024**2

_UNLIMITED = {"unlimited", "infinite", "-1"}
_SLURM_MEMORY_RE = re.compile(r"^(?P<num>\d+(?:\.\d+)?)(?P<unit>[KMGT]?)B?$", re.IGNORECASE)
_MEMORY_UNITS = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_NAME_BAD_RE = re.compile(r"[^A-Za-z0-9._-]+")
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Options we read into the Job (long name -> short flag).
_SHORT = {"J": "job-name", "t": "time", "c": "cpus-per-task", "p": "partition", "A": "account"}
_SHORT.update({"o": "output", "e": "error", "D": "chdir"})
#: Options our runtime owns: each attempt writes stdout+stderr to its own log under the workdir.
_DROPPED = {"output", "error", "parsable"}
#: Short flags that take no value.
_SHORT_FLAGS = set("hvHQVsOkW")


class SbatchError(ValueError):
    """A batch script or an ``#SBATCH`` value that cannot be understood."""


# -- units -----------------------------------------------------------------------------------


def parse_slurm_time(text: str) -> float | None:
    """Seconds from a SLURM ``--time`` value (a bare number is minutes); None for unlimited."""
    value = text.strip()
    if value.lower() in _UNLIMITED:
        return None
    days = 0
    if "-" in value:
        day_text, _, value = value.partition("-")
        if not day_text.isdigit():
            raise SbatchError(f"cannot parse SLURM time {text!r}")
        days = int(day_text)
    parts = value.split(":") if value else []
    if not parts or len(parts) > 3 or not all(p.isdigit() for p in parts):
        raise SbatchError(
            f"cannot parse SLURM time {text!r}: use MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM"
            " or D-HH:MM:SS"
        )
    nums = [int(p) for p in parts]
    if "-" in text:  # D-HH, D-HH:MM, D-HH:MM:SS
        nums += [0] * (3 - len(nums))
        hours, minutes, seconds = nums
    elif len(nums) == 1:  # MM
        hours, minutes, seconds = 0, nums[0], 0
    elif len(nums) == 2:  # MM:SS
        hours, (minutes, seconds) = 0, nums
    else:
        hours, minutes, seconds = nums
    total = days * 86400 + hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise SbatchError(f"SLURM time {text!r} must be positive")
    return float(total)


def format_slurm_time(seconds: float) -> str:
    """``--time`` from seconds: ``[D-]HH:MM:SS``, at least one minute (SLURM's minimum)."""
    total = max(60, math.ceil(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days}-{clock}" if days else clock


def parse_slurm_memory(text: str) -> int:
    """Bytes from a SLURM ``--mem`` value (``"500M"``, ``"2G"``; a bare number is MiB)."""
    match = _SLURM_MEMORY_RE.match(text.strip())
    if not match:
        raise SbatchError(f"cannot parse SLURM memory {text!r}: use e.g. 500M, 2G or MiB")
    amount = int(float(match["num"]) * _MEMORY_UNITS[(match["unit"] or "M").upper()])
    if amount <= 0:
        raise SbatchError(
            f"SLURM memory {text!r} must be positive (0 means the whole node: ask explicitly)"
        )
    return amount


def format_slurm_memory(amount: int) -> str:
    """``--mem`` from bytes, rounded up to whole MiB (``"2G"`` when it is whole GiB)."""
    mib = max(1, math.ceil(amount / 1024**2))
    return f"{mib // 1024}G" if mib % 1024 == 0 else f"{mib}M"


# -- reading scripts --------------------------------------------------------------------------


def sbatch_header_lines(text: str) -> list[str]:
    """The option text of every ``#SBATCH`` line, up to the first command (as sbatch reads)."""
    return [line.strip()[len("#SBATCH") :].strip() for line in sbatch_header_raw(text)]


def sbatch_header_raw(text: str) -> list[str]:
    """The ``#SBATCH`` lines of the header exactly as written (without their line ends)."""
    lines = text.split("\n")
    if lines and lines[0].startswith("#!"):
        lines = lines[1:]
    found: list[str] = []
    for line in lines:
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("#"):
            break  # sbatch stops at the first command
        if stripped.startswith("#SBATCH"):
            found.append(line.removesuffix("\r"))
    return found


#: Script interpreters whose first argument is the batch script (``bash train.sh``).
_SHELLS = {"bash", "sh", "zsh", "dash", "ksh"}
_SCRIPT_PROBE = 64 << 10


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


def script_header(path: Path) -> list[str]:
    """The raw ``#SBATCH`` lines of the batch script at ``path`` ([] if none or unreadable)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return sbatch_header_raw(fh.read(_SCRIPT_PROBE))
    except OSError:
        return []


def header_edit(header: Sequence[str], key: str, value: str) -> tuple[str, str] | None:
    """``(old_line, new_text)`` setting ``--key=value`` in a script's ``#SBATCH`` header.

    ``header`` are the raw ``#SBATCH`` lines (:func:`sbatch_header_raw`). The line setting the
    option (long or short form, with ``=`` or a space) is rewritten with the new value, its
    other options kept; without one, a ``#SBATCH --key=value`` line is added after the last
    header line. None when there is no header, or a line cannot be parsed.
    """
    if not header:
        return None
    parsed = []
    for line in header:
        body = line.strip()[len("#SBATCH") :].strip()
        try:
            options = parse_sbatch_options([body])
            quoted_hash = any("#" in word for word in shlex.split(body.split(" #")[0]))
        except (SbatchError, ValueError):
            return None
        if quoted_hash:
            return None  # a '#' inside a value: where the comment starts is unclear, leave it
        parsed.append((line, body, options))
    keys = {k for _, _, options in parsed for k, _ in options}
    if key == "mem" and keys & {"mem-per-cpu", "mem-per-gpu"}:
        return None  # sbatch refuses --mem with these: the script asks for memory another way
    for line, body, options in reversed(parsed):  # sbatch takes the last one
        if any(k == key for k, _ in options):
            words = [f"--{key}={value}" if k == key else _option_text(k, v) for k, v in options]
            comment = re.search(r"\s+#.*$", body)  # a trailing comment stays
            indent = line[: len(line) - len(line.lstrip())]
            tail = comment.group(0) if comment else ""
            return line, f"{indent}#SBATCH {' '.join(words)}{tail}"
    last = header[-1]
    return last, f"{last}\n#SBATCH --{key}={value}"


def parse_sbatch_options(lines: Iterable[str]) -> list[tuple[str, str | None]]:
    """``("time", "10")``-style pairs from header lines; long names, values unparsed."""
    options: list[tuple[str, str | None]] = []
    for line in lines:
        try:
            words = shlex.split(line, comments=True)
        except ValueError as exc:
            raise SbatchError(f"cannot read #SBATCH line {line!r}: {exc}") from exc
        i = 0
        while i < len(words):
            word = words[i]
            i += 1
            if word.startswith("--"):
                key, eq, value = word[2:].partition("=")
                if not eq and i < len(words) and not words[i].startswith("-"):
                    value, i = words[i], i + 1
                options.append((key, value if (eq or value) else None))
            elif word.startswith("-") and len(word) >= 2:
                flag, rest = word[1], word[2:]
                key = _SHORT.get(flag, flag)
                if rest:
                    options.append((key, rest.lstrip("=")))
                elif flag not in _SHORT_FLAGS and i < len(words):
                    options.append((key, words[i]))
                    i += 1
                else:
                    options.append((key, None))
            else:
                raise SbatchError(f"unexpected word {word!r} in #SBATCH line {line!r}")
    return options


def _option_text(key: str, value: str | None) -> str:
    if len(key) == 1:
        return f"-{key}" if value is None else f"-{key} {shlex.quote(value)}"
    return f"--{key}" if value is None else f"--{key}={shlex.quote(value)}"


def job_name_from(text: str) -> str:
    """A valid Job name from a SLURM job name or a file stem."""
    name = _NAME_BAD_RE.sub("-", text).strip("-._")[:128]
    return name or "job"


def job_from_sbatch(path: str | os.PathLike[str], **overrides: Any) -> Job:
    """A Job running ``bash <path>`` with the resources its ``#SBATCH`` headers request.

    ``--job-name``/``-J`` names the job (else the file stem); ``--time``, ``--mem`` and
    ``--cpus-per-task`` become ``Resources``; ``--partition`` and ``--account`` go to
    ``resources.extra``; ``--chdir`` sets the cwd (else the script's directory). Every other
    option is kept verbatim in ``extra["sbatch_lines"]``. ``--output``/``--error`` are dropped:
    each attempt writes stdout and stderr to its own log. ``overrides`` go to ``Job`` as is.
    """
    script = Path(path).expanduser().resolve()
    try:
        text = script.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise SbatchError(f"cannot read batch script {script}: {exc.strerror or exc}") from exc
    fields = sbatch_fields(sbatch_header_lines(text), base=script.parent)
    fields.update(name=fields.get("name") or job_name_from(script.stem))
    fields.setdefault("cwd", str(script.parent))
    fields["command"] = ["bash", str(script)]
    fields.update(overrides)
    return Job(**fields)


def sbatch_fields(lines: Iterable[str], *, base: Path) -> dict[str, Any]:
    """``Job`` keyword arguments (name, cwd, resources) from ``#SBATCH`` option text."""
    time_limit: float | None = None
    memory: int | None = None
    cpus = 1
    extra: dict[str, Any] = {}
    verbatim: list[str] = []
    fields: dict[str, Any] = {}
    for key, value in parse_sbatch_options(lines):
        needs_value = key in {"job-name", "time", "mem", "cpus-per-task", "chdir"}
        if needs_value and value is None:
            raise SbatchError(f"#SBATCH --{key} needs a value")
        if key == "job-name" and value is not None:
            fields["name"] = job_name_from(value)
        elif key == "time" and value is not None:
            time_limit = parse_slurm_time(value)
        elif key == "mem" and value is not None:
            memory = parse_slurm_memory(value)
        elif key == "cpus-per-task" and value is not None:
            if not value.isdigit() or int(value) < 1:
                raise SbatchError(f"#SBATCH --cpus-per-task={value!r}: need a positive integer")
            cpus = int(value)
        elif key in ("partition", "account") and value is not None:
            extra[key] = value
        elif key == "chdir" and value is not None:
            fields["cwd"] = str((base / value).resolve())
        elif key not in _DROPPED:
            verbatim.append(_option_text(key, value))
    if verbatim:
        extra["sbatch_lines"] = verbatim
    fields["resources"] = Resources(time_limit=time_limit, memory=memory, cpus=cpus, extra=extra)
    return fields


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
