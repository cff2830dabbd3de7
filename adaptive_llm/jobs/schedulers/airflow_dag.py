"""What a DAG file tells about one of its tasks: where the task is defined, its
``execution_timeout`` (and the edit that doubles it), and the part of the source a model is
shown. Pure functions over the source text (no Airflow, no I/O): ``AirflowScheduler.job_facts``
feeds them the DAG file.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["SOURCE_LIMIT", "dag_facts", "doubled_timeout", "task_line"]

#: Characters of the DAG's source given to the model with the job's facts (about 3k tokens):
#: a longer file is shown around the task's definition.
SOURCE_LIMIT = 12_000
_TIMEOUT_RE = re.compile(r"execution_timeout\s*=\s*((?:datetime\.)?timedelta\s*\([^()]*\))")
#: ``default_args``'s entry (``"execution_timeout": timedelta(...)``), for every task.
_DEFAULT_RE = re.compile(
    r"""['"]execution_timeout['"]\s*:\s*((?:datetime\.)?timedelta\s*\([^()]*\))"""
)
_UNITS = {
    "weeks": 604_800.0,
    "days": 86_400.0,
    "hours": 3_600.0,
    "minutes": 60.0,
    "seconds": 1.0,
    "milliseconds": 0.001,
    "microseconds": 0.000_001,
}
_POSITIONAL = ("days", "seconds", "microseconds", "milliseconds", "minutes", "hours", "weeks")


def task_line(source: str, task_id: str) -> int | None:
    """The 1-based line that defines ``task_id``: ``task_id="..."`` of an operator, or the
    ``def`` of a TaskFlow ``@task`` function of that name (when no ``task_id=`` names it)."""
    lines = source.splitlines()
    quoted = re.compile(rf"""\btask_id\s*=\s*(['"]){re.escape(task_id)}\1""")
    for number, line in enumerate(lines, 1):
        if quoted.search(line):
            return number
    defined = re.compile(rf"^\s*(?:async\s+)?def\s+{re.escape(task_id)}\s*\(")
    for number, line in enumerate(lines, 1):
        if defined.match(line):
            return number
    return None


def timeout_seconds(call: str) -> float | None:
    """The seconds of a ``timedelta(...)`` call's text with literal numbers, else None."""
    try:
        node = ast.parse(call.strip(), mode="eval").body
    except SyntaxError:
        return None
    if not isinstance(node, ast.Call) or len(node.args) > len(_POSITIONAL):
        return None
    total = 0.0
    pairs = list(zip(_POSITIONAL, node.args, strict=False))
    pairs += [(k.arg or "", k.value) for k in node.keywords]
    for unit, value in pairs:
        if unit not in _UNITS or not isinstance(value, ast.Constant):
            return None
        if isinstance(value.value, bool) or not isinstance(value.value, int | float):
            return None
        total += float(value.value) * _UNITS[unit]
    return total


def doubled_timeout(call: str) -> str | None:
    """The same ``timedelta(...)`` text with each number doubled, or None when it holds
    anything but literal numbers."""
    if timeout_seconds(call) is None:
        return None
    return re.sub(
        r"(?<![\w.])(\d+(?:\.\d+)?)",
        lambda m: _double(m.group(1)),
        call,
    )


def _double(number: str) -> str:
    if "." in number:
        return repr(float(number) * 2)
    return str(int(number) * 2)


def _timeout_near(lines: list[str], line: int) -> tuple[int, str] | None:
    """The ``execution_timeout=`` of the task defined at ``line``: in its decorator lines just
    above a ``def``, or inside the operator call that holds ``task_id=``."""
    index = line - 1
    if re.match(r"^\s*(?:async\s+)?def\s", lines[index]):
        candidates = []
        above = index - 1
        while above >= 0 and (
            lines[above].lstrip().startswith("@") or _continues(lines, above, index)
        ):
            candidates.append(above)
            above -= 1
    else:
        candidates = list(range(*_call_around(lines, index)))
    for number in sorted(candidates):
        if _TIMEOUT_RE.search(lines[number]):
            return number + 1, lines[number]
    return None


def _call_around(lines: list[str], index: int) -> tuple[int, int]:
    """The lines (start, end + 1) of the call whose arguments hold line ``index``: back to
    the line where its parenthesis opens, on to where it closes (at most 40 lines each way)."""
    start, depth = index, 0
    while start >= 0 and index - start <= 40:
        text = lines[start] if start < index else lines[index].split("task_id", 1)[0]
        depth += text.count("(") - text.count(")")
        if depth > 0:
            break
        start -= 1
    start = max(start, 0)
    depth, end = 0, start
    while end < len(lines) and end - start <= 80:
        depth += lines[end].count("(") - lines[end].count(")")
        if depth <= 0 and end >= index:
            break
        end += 1
    return start, min(end, len(lines) - 1) + 1


def _continues(lines: list[str], above: int, index: int) -> bool:
    """Whether line ``above`` is inside a decorator spanning several lines before ``index``."""
    for number in range(above, -1, -1):
        text = lines[number].lstrip()
        if text.startswith("@"):
            return True
        if not text or text.startswith(("def ", "class ")) or number < index - 20:
            return False
    return False


def _unique_block(lines: list[str], first: int, source: str) -> str:
    """Lines from ``first`` (0-based) on, as few as make the text occur once in ``source``."""
    for count in range(1, 6):
        block = "\n".join(lines[first : first + count])
        if source.count(block) == 1:
            return block
    return "\n".join(lines[first : first + 5])


def _window(source: str, line: int | None) -> dict[str, Any]:
    """The source as shown to the model: whole when short, else lines around ``line``."""
    lines = source.splitlines()
    if len(source) <= SOURCE_LIMIT:
        return {"text": source, "lines": [1, len(lines)], "of_lines": len(lines)}
    centre = (line or 1) - 1
    start = end = centre
    size = len(lines[centre]) + 1 if lines else 0
    while True:
        grew = False
        for candidate in (start - 1, end + 1):
            if 0 <= candidate < len(lines) and size + len(lines[candidate]) + 1 <= SOURCE_LIMIT:
                size += len(lines[candidate]) + 1
                start, end = min(start, candidate), max(end, candidate)
                grew = True
        if not grew:
            break
    text = "\n".join(lines[start : end + 1])[:SOURCE_LIMIT]
    return {"text": text, "lines": [start + 1, end + 1], "of_lines": len(lines)}


def dag_facts(
    dag_id: str,
    task_id: str,
    source: str,
    *,
    dag_file: str | None,
    source_from: str,
    ui: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The facts a model and the offline assistant get about an Airflow task (``dag_file``:
    the DAG file's path in the chat's workspace, None when it is not local)."""
    line = task_line(source, task_id)
    facts: dict[str, Any] = {"dag_id": dag_id, "task_id": task_id, "dag_file": dag_file}
    if ui:
        facts["ui"] = ui
    if details:
        facts.update({k: v for k, v in details.items() if v is not None})
    facts["task_line"] = line
    window = _window(source, line)
    facts["dag_source"] = {"from": source_from, **window}
    lines = source.splitlines()
    found = _timeout_near(lines, line) if line is not None else None
    scope, pattern = "task", _TIMEOUT_RE
    if found is None:  # the DAG's default_args, when they set one (and only one place does)
        hits = [(n + 1, text) for n, text in enumerate(lines) if _DEFAULT_RE.search(text)]
        if len(hits) == 1:
            found, scope, pattern = hits[0], "default_args", _DEFAULT_RE
    if found is not None:
        number, text = found
        match = pattern.search(text)
        assert match is not None
        call = match.group(1)
        timeout: dict[str, Any] = {
            "text": call,
            "seconds": timeout_seconds(call),
            "line": number,
            "scope": scope,
        }
        doubled = doubled_timeout(call)
        if doubled is not None and dag_file:
            old = _unique_block(lines, number - 1, source)
            if source.count(old) == 1:
                timeout["edit"] = {
                    "path": dag_file,
                    "old_text": old,
                    "new_text": old.replace(call, doubled, 1),
                    "new": doubled,
                }
        facts["execution_timeout"] = timeout
    return facts
