"""The excerpt of a small log: taking every line at once gives what the full choice gives."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from adaptive_llm.diagnosis.excerpt import (
    _choose,
    _Lines,
    _render,
    _shape,
    _shapes_of,
    _whole,
    build_excerpt,
)
from adaptive_llm.diagnosis.reader import read_log
from adaptive_llm.diagnosis.signals import find_signals, group_signals


def _log_text(rng: random.Random) -> str:
    lines: list[str] = []
    for _ in range(rng.randint(1, 60)):
        kind = rng.random()
        if kind < 0.4:
            step, loss = rng.randint(0, 5000), rng.randint(0, 9999)
            lines.append(f"epoch {step // 500} step {step} loss 0.{loss}")
        elif kind < 0.5 and lines:
            lines.append(lines[-1])  # a repeat: runs are collapsed, and cost little
        elif kind < 0.6:
            lines.append("x" * rng.randint(250, 900))  # shortened in the excerpt
        elif kind < 0.7:
            lines.append("")
        elif kind < 0.8:
            lines.append(f"ERROR: shard {rng.randint(0, 99)} could not be read")
        else:
            lines.append("warning: something " + "y" * rng.randint(0, 120))
    lines += [
        "Traceback (most recent call last):",
        '  File "/home/user/src/train.py", line 12, in main',
        "    run()",
        f"ValueError: bad value {rng.randint(0, 10**6)}",
    ]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("seed", range(40))
def test_every_line_at_once_is_the_full_choice(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    path = tmp_path / "job.log"
    path.write_text(_log_text(rng), encoding="utf-8")
    log = read_log(str(path))
    groups = group_signals(find_signals(log))
    first, last = log.regions[0].start, log.regions[-1].end
    taken = 0
    # Budgets around the bound of the shortcut: some take it, some make the full choice.
    for max_tokens in (4000, 2000, 1000, 700, 500, 400, 300, 200, 100, 50, 10):
        budget = max_tokens * 4
        lines = _Lines(log)
        full = _render(_choose(lines, groups, budget), first, last, log.complete)
        assert build_excerpt(log, groups, max_tokens) == full
        whole = _whole(_Lines(log), budget // 2)
        if whole is not None:
            taken += 1
            assert sorted(whole) == list(range(first, last + 1))
    assert taken > 0


def test_a_bench_sized_log_takes_every_line_at_once(tmp_path: Path) -> None:
    path = tmp_path / "job.log"
    path.write_text(_log_text(random.Random(1)) * 2, encoding="utf-8")
    log = read_log(str(path))
    assert _whole(_Lines(log), 4000 * 4 // 2) is not None


def test_shapes_of_lines_at_once_are_each_lines_shape() -> None:
    rng = random.Random(7)
    alphabet = "0123456789 ab.:-x"
    lines = ["", "0", "00", "007 x 0", "a1b22c333d4444", "1e-05 0.0000 10", "\u0663\u0664 x 5"]
    lines += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(300)]
    assert _shapes_of(lines) == [_shape(line) for line in lines]
    ascii_only = [line for line in lines if line.isascii()]
    assert _shapes_of(ascii_only) == [_shape(line) for line in ascii_only]
