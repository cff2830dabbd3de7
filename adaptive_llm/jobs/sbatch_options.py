"""``#SBATCH`` option text: the options it holds, and writing one back."""

from __future__ import annotations

import shlex
from collections.abc import Iterable


class SbatchError(ValueError):
    """A batch script or an ``#SBATCH`` value that cannot be understood."""


#: Short flags we read as long names.
_SHORT = {"J": "job-name", "t": "time", "c": "cpus-per-task", "p": "partition", "A": "account"}
_SHORT.update({"o": "output", "e": "error", "D": "chdir"})
#: Short flags that take no value.
_SHORT_FLAGS = set("hvHQVsOkW")


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


def option_text(key: str, value: str | None) -> str:
    """``--key=value`` (``-k value`` for a short flag), the value quoted when needed."""
    if len(key) == 1:
        return f"-{key}" if value is None else f"-{key} {shlex.quote(value)}"
    return f"--{key}" if value is None else f"--{key}={shlex.quote(value)}"
