"""Reading SLURM batch scripts: SLURM's units, the ``#SBATCH`` header, its options, edits of
it, and the ``Job`` keyword arguments a script asks for (``Job.from_sbatch``).

SLURM's own units apply here: a bare ``--time`` number is *minutes* (``"MM"``, ``"MM:SS"``,
``"HH:MM:SS"``, ``"D-HH"``, ``"D-HH:MM"``, ``"D-HH:MM:SS"``) and a bare ``--mem`` number is MiB,
unlike ``Resources(time_limit=90)`` (seconds) and ``Resources(memory=...)`` (bytes).

This module does not import ``jobs.model`` (which uses it): it returns keyword arguments.
"""

from __future__ import annotations

import math
import os
import re
import shlex
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .._core.units import BINARY_UNITS
from .resources import Resources
from .sbatch_options import (
    SbatchError,
    check_directive_text,
    check_words,
    option_text,
    parse_sbatch_options,
)

_UNLIMITED = {"unlimited", "infinite", "-1"}
_SLURM_MEMORY_RE = re.compile(r"^(?P<num>\d+(?:\.\d+)?)(?P<unit>[KMGT]?)B?$", re.IGNORECASE)
_MEMORY_UNITS = BINARY_UNITS  # one table of units for the package
_NAME_BAD_RE = re.compile(r"[^A-Za-z0-9._-]+")
_KEY_RE = re.compile(r"[a-z][a-z0-9-]*")
#: Options our runtime owns: each attempt writes stdout+stderr to its own log under the workdir.
_DROPPED = {"output", "error", "parsable"}
_SCRIPT_PROBE = 64 << 10


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


# -- the header -------------------------------------------------------------------------------


def sbatch_header_lines(text: str) -> list[str]:
    """The option text of every ``#SBATCH`` line, up to the first command (as sbatch reads)."""
    return [line.strip()[len("#SBATCH") :].strip() for line in sbatch_header_raw(text)]


def sbatch_header_raw(text: str) -> list[str]:
    """The ``#SBATCH`` lines of the header exactly as written (without their line ends).

    As sbatch reads them: lines starting with ``#SBATCH`` (an indented one is a comment to
    sbatch), up to the first command.
    """
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
        if line.startswith("#SBATCH"):
            found.append(line.removesuffix("\r"))
    return found


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
    header line. None when there is no header, or a line cannot be parsed. A ``key`` or
    ``value`` that is not one plain ``--key=value`` word raises :class:`SbatchError`.
    """
    if not _KEY_RE.fullmatch(key):
        raise SbatchError(f"header_edit: invalid option name {key!r}")
    setting = check_directive_text("header_edit: the new setting", f"--{key}={value}")
    if check_words("header_edit: the new setting", setting) != [setting]:
        raise SbatchError(f"header_edit: {value!r} is not one plain #SBATCH value")
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
            words = [setting if k == key else option_text(k, v) for k, v in options]
            comment = re.search(r"\s+#.*$", body)  # a trailing comment stays
            indent = line[: len(line) - len(line.lstrip())]
            tail = comment.group(0) if comment else ""
            return line, f"{indent}#SBATCH {' '.join(words)}{tail}"
    last = header[-1]
    return last, f"{last}\n#SBATCH {setting}"


# -- Job keyword arguments --------------------------------------------------------------------


def job_name_from(text: str) -> str:
    """A valid Job name from a SLURM job name or a file stem."""
    name = _NAME_BAD_RE.sub("-", text).strip("-._")[:128]
    return name or "job"


def sbatch_job_fields(path: str | os.PathLike[str], **overrides: Any) -> dict[str, Any]:
    """``Job`` keyword arguments for running ``bash <path>`` with the resources its ``#SBATCH``
    headers request (see ``Job.from_sbatch``); ``overrides`` replace them as given."""
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
    return fields


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
            verbatim.append(option_text(key, value))
    if verbatim:
        extra["sbatch_lines"] = verbatim
    fields["resources"] = Resources(time_limit=time_limit, memory=memory, cpus=cpus, extra=extra)
    return fields
