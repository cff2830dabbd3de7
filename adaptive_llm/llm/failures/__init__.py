"""The labelled failure set of ``adaptive-llm compare``: real logs of small failing programs
and their labels (``labels.json``), written by ``bench/make_failure_set.py``.

A label gives the failure's category, its culprit ``file`` and ``line`` (null where no line
is to blame, e.g. a time limit) and key terms a good diagnosis mentions; the failure's state,
reason, command and limits are what the RunManager recorded when the program ran.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from ..._core.units import parse_memory
from ..compare import Failure
from ..scoring import Reference

__all__ = ["load_labelled", "shipped_failures"]


def shipped_failures() -> list[Failure]:
    """The labelled set shipped with the package (``adaptive_llm/llm/failures``)."""
    root = resources.files(__name__)
    document = json.loads(root.joinpath("labels.json").read_text())
    base = Path(str(root))
    return [_labelled(item, base) for item in document["failures"]]


def load_labelled(path: Path) -> list[Failure]:
    """A labelled set in the shipped format (``labels.json`` beside its logs)."""
    try:
        document = json.loads(path.read_text())
        return [_labelled(item, path.parent) for item in document["failures"]]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"{path} is not a labelled set (labels.json format): {exc}") from None


def _labelled(item: dict[str, Any], base: Path) -> Failure:
    memory = item.get("memory")
    return Failure(
        name=str(item["name"]),
        log=base / str(item["log"]),
        state=item.get("state"),
        reason=item.get("reason"),
        command=item.get("command"),
        cwd=item.get("cwd"),
        time_limit=item.get("time_limit"),
        memory=parse_memory(memory) if memory is not None else None,
        label=Reference(
            category=item.get("category"),
            file=item.get("file"),
            line=_line(item.get("line")),
            key_terms=tuple(str(t) for t in item.get("key_terms") or ()),
        ),
    )


def _line(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"a label's line must be a positive integer or null, got {value!r}")
    return value
