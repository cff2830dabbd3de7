"""Fit the lines that explain a failure into a token budget.

Tokens are estimated as ``ceil(characters / 4)`` (:func:`estimate_tokens`), a usual figure for
English and log text with OpenAI/Anthropic tokenizers; code and hex-heavy text runs a little
denser. The excerpt always holds the last lines of the log, then the strongest signal groups
(a whole traceback, a compiler error with its caret lines, a failing test's block) with some
context, and spends what budget is left widening those places, strongest first.

The lines it chooses from are redacted already (the reader redacts each region whole), so
neither the choice of lines nor the shortening of a long one can cut a secret before it was
recognised; cuts never split a ``[REDACTED:...]`` marker.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right

from adaptive_llm.diagnosis.reader import LogText, shorten
from adaptive_llm.diagnosis.signals import Group

CHARS_PER_TOKEN = 4
#: Lines of the end of the log that are always included.
TAIL_LINES = 12
#: Context around a signal group before widening.
BEFORE, AFTER = 2, 4
#: One group takes at most this share of the budget before all groups had their turn.
GROUP_SHARE = 0.5
#: Lines longer than this are shortened in the excerpt (after redaction, by the reader).
EXCERPT_LINE_CHARS = 300
#: Characters charged for a line that repeats a neighbour (runs render as one line + a note).
REPEAT_COST = 4
#: At most this many groups are placed before widening.
MAX_GROUPS = 20
#: Lines added per widening step below and above a place.
WIDEN_DOWN, WIDEN_UP = 4, 2


def estimate_tokens(text: str) -> int:
    """Estimated tokens of ``text``: one per four characters, rounded up."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


class _Lines:
    """Random access to the lines that were read, by 1-based line number."""

    def __init__(self, log: LogText) -> None:
        self.regions = log.regions
        self.starts = [r.start for r in log.regions]
        self._shapes: dict[int, str | None] = {}

    def shape(self, n: int) -> str | None:
        """:func:`_shape` of line ``n``, computed once (costs ask for each line's neighbours
        many times while the excerpt widens)."""
        try:
            return self._shapes[n]
        except KeyError:
            shape = self._shapes[n] = _shape(self.get(n))
            return shape

    def get(self, n: int) -> str | None:
        i = bisect_right(self.starts, n) - 1
        if i < 0:
            return None
        region = self.regions[i]
        if n > region.end:
            return None
        line = region.lines[n - region.start]
        return shorten(line, EXCERPT_LINE_CHARS) if len(line) > EXCERPT_LINE_CHARS else line


class _Selection:
    """Chosen line numbers with their cost in characters (a gap marker costs a line)."""

    GAP_COST = 32

    def __init__(self, lines: _Lines, budget: int) -> None:
        self.lines = lines
        self.budget = budget
        self.chosen: dict[int, str] = {}
        self.used = 0

    def cost(self, lo: int, hi: int) -> int:
        total = 0
        for n in range(lo, hi + 1):
            if n not in self.chosen:
                line = self.lines.get(n)
                if line is not None:
                    total += self.line_cost(n, line)
        # Each newly isolated span may add a gap marker.
        return total + (self.GAP_COST if total and lo - 1 not in self.chosen else 0)

    def line_cost(self, n: int, line: str) -> int:
        """A line repeating its predecessor costs little: runs are collapsed when rendered."""
        if len(line) > REPEAT_COST:
            key = self.lines.shape(n)
            if self.lines.shape(n - 1) == key or self.lines.shape(n + 1) == key:
                return REPEAT_COST
        return len(line) + 1

    def add(self, lo: int, hi: int, budget: int | None = None) -> bool:
        """Add lines ``lo..hi`` if their cost fits (the whole budget or ``budget``)."""
        limit = self.budget if budget is None else min(self.budget, budget)
        c = self.cost(lo, hi)
        if c == 0 or self.used + c > limit:
            return False
        for n in range(lo, hi + 1):
            line = self.lines.get(n)
            if line is not None and n not in self.chosen:
                self.chosen[n] = line
        self.used += c
        return True

    def add_fitting(self, lo: int, hi: int, step: int) -> int:
        """Add lines from ``lo`` towards ``hi`` (``step`` = 1) or back, while they fit."""
        n, last = lo, None
        while (n <= hi if step > 0 else n >= hi) and self.add(n, n):
            last = n
            n += step
        return 0 if last is None else abs(last - lo) + 1


def build_excerpt(
    log: LogText, groups: list[Group], max_tokens: int
) -> tuple[list[tuple[int, int]], str]:
    """Spans (1-based, inclusive) and text of the excerpt, within ``max_tokens``."""
    budget = max(0, max_tokens * CHARS_PER_TOKEN)
    if not log.regions or budget == 0:
        return [], ""
    lines = _Lines(log)
    first, last = log.regions[0].start, log.regions[-1].end
    chosen = _whole(lines, int(budget * GROUP_SHARE))
    if chosen is None:
        chosen = _choose(lines, groups, budget)
    return _render(chosen, first, last, log.complete)


def _choose(lines: _Lines, groups: list[Group], budget: int) -> dict[int, str]:
    """The lines of the excerpt (see the module's docstring), within ``budget`` characters."""
    first, last = lines.regions[0].start, lines.regions[-1].end
    sel = _Selection(lines, budget)
    # 1. The last lines, always.
    sel.add_fitting(last, max(first, last - TAIL_LINES + 1), -1)
    # 2. The strongest groups with a little context; oversized ones by head and tail.
    ranked = sorted(groups, key=lambda g: (-g.score, -g.end))
    share = int(budget * GROUP_SHARE)
    for group in ranked[:MAX_GROUPS]:
        if sel.used >= budget:
            break
        lo, hi = max(first, group.start - BEFORE), min(last, group.end + AFTER)
        if sel.add(lo, hi, sel.used + share):
            continue
        key = max(s.error_line or s.line for s in group.signals)
        room = min(share, budget - sel.used)
        if room < 200:
            continue
        limit = sel.used + room
        sel.add(max(lo, key - 3), min(hi, key + 3), limit)
        _fill(sel, lo, hi, key, limit)
    # 3. Widen the chosen places (strongest first) and the tail until the budget is spent.
    anchors = [g.end for g in ranked if any(n in sel.chosen for n in range(g.start, g.end + 1))]
    anchors.append(last)
    _widen(sel, anchors, first, last, WIDEN_DOWN, WIDEN_UP)
    _widen(sel, anchors, first, last, 1, 1)  # use up what is left, line by line
    return sel.chosen


def _whole(lines: _Lines, share: int) -> dict[int, str] | None:
    """Every line, when :func:`_choose` would end with every line anyway (a small log).

    That is so when all lines are read (one region) and everything could be added within one
    group's share: a line costs at most its length + 1, each addition at most one gap marker,
    and there are at most as many additions as lines. Then every addition fits, and widening
    the tail's block upwards reaches the first line. None: make the choice.
    """
    if len(lines.regions) != 1:
        return None
    region = lines.regions[0]
    chosen: dict[int, str] = {}
    bound = 0
    for n, line in enumerate(region.lines, region.start):
        if len(line) > EXCERPT_LINE_CHARS:
            line = shorten(line, EXCERPT_LINE_CHARS)
        chosen[n] = line
        bound += len(line) + 1 + _Selection.GAP_COST
        if bound > share:
            return None
    return chosen


def _fill(sel: _Selection, lo: int, hi: int, key: int, limit: int) -> None:
    """Add lines of ``lo..hi`` nearest to its head and to ``key`` alternately, up to ``limit``."""
    down, up, head = key + 4, key - 4, lo
    while sel.used < limit:
        progressed = False
        for n in (down, up, head):
            if lo <= n <= hi and n not in sel.chosen and sel.add(n, n, limit):
                progressed = True
        down, up, head = down + 1, up - 1, head + 1
        if not progressed and down > hi and up < lo and head > hi:
            break
        if not progressed and sel.used + 40 > limit:
            break


def _widen(sel: _Selection, anchors: list[int], first: int, last: int, down: int, up: int) -> None:
    """Grow the blocks containing ``anchors`` downwards and upwards, round-robin."""
    active = True
    while active and sel.used < sel.budget:
        active = False
        for anchor in anchors:
            lo, hi = _block_of(sel.chosen, anchor)
            if lo is None or hi is None:
                continue
            grew = False
            if hi < last:
                grew |= sel.add(hi + 1, min(last, hi + down))
            if lo > first:
                grew |= sel.add(max(first, lo - up), lo - 1)
            active |= grew


_DIGITS = re.compile(r"\d+")


def _shape(line: str | None) -> str | None:
    """A line with its numbers masked: lines of one shape are collapsed in the excerpt."""
    return None if line is None else _DIGITS.sub("0", line)


_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")


def _shapes_of(lines: list[str]) -> list[str]:
    """:func:`_shape` of each line (none holds a newline), for all lines at once: in ASCII
    text every digit becomes ``0`` and each run of zeros one ``0``, as ``\\d+`` -> ``0`` does
    (outside ASCII, ``\\d`` matches other digits too: line by line)."""
    text = "\n".join(lines)
    if not text.isascii():
        return [_DIGITS.sub("0", line) for line in lines]
    data = text.encode("ascii").translate(_TO_ZERO)
    while b"00" in data:
        data = data.replace(b"00", b"0")
    return data.decode("ascii").split("\n")


def _block_of(chosen: dict[int, str], n: int) -> tuple[int | None, int | None]:
    if n not in chosen:
        return None, None
    lo = hi = n
    while lo - 1 in chosen:
        lo -= 1
    while hi + 1 in chosen:
        hi += 1
    return lo, hi


def _render(
    chosen: dict[int, str], first: int, last: int, complete: bool
) -> tuple[list[tuple[int, int]], str]:
    spans: list[tuple[int, int]] = []
    for n in sorted(chosen):
        if spans and spans[-1][1] == n - 1:
            spans[-1] = (spans[-1][0], n)
        else:
            spans.append((n, n))
    out: list[str] = []
    prev = 0
    for lo, hi in spans:
        if lo > prev + 1:
            out.append(f"[... {lo - prev - 1} lines omitted ...]")
        shapes = _shapes_of([chosen[k] for k in range(lo, hi + 1)])
        n = lo
        while n <= hi:
            line, run = chosen[n], 1
            key = shapes[n - lo]
            while n + run <= hi and shapes[n + run - lo] == key:
                run += 1
            if run > 2 and (run - 2) * len(line) > 60:
                same = all(chosen[k] == line for k in range(n, n + run))
                out.append(line)
                if same:
                    out.append(f"[... the line above repeated {run - 1} more times ...]")
                else:
                    out.append(f"[... {run - 2} similar lines (other numbers) ...]")
                    out.append(chosen[n + run - 1])
            else:
                out.extend(chosen[k] for k in range(n, n + run))
            n += run
        prev = hi
    if spans and spans[-1][1] < last:
        out.append(f"[... {last - spans[-1][1]} lines omitted ...]")
    return spans, "\n".join(out)
