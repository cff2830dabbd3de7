#!/usr/bin/env python3
"""Measure the diagnosis engine on real, human-labelled CI failure logs.

What it measures
    For every log of LogChunks (797 Travis CI logs, Brandt et al., MSR 2020, CC BY 4.0) and of
    the CiDiff breakage set (36 logs, labri-progress/cidiff, ISSTA 2025, Apache-2.0):

    * line recall: the share of the human-labelled lines that fall inside the excerpt's spans;
    * excerpt size: lines (sum of span lengths), bytes (UTF-8 of the text sent) and estimated
      tokens;
    * wall time per log around the ``diagnose()`` call;

    for three methods in the same run: the engine (``adaptive_llm.diagnosis.diagnose``), and the
    baselines ``tail -n 50`` and ``tail -n 200`` (computed in Python on the same file: the last N
    ``\\n``-terminated lines).

    * location (engine only; see ``bench/eval_locations.py``): for logs whose label names a
      ``file:line`` (parsed from the aligned chunk's lines / the ``E`` lines' text), the share
      where the engine's location is exact (line equal, file equal by path tail), the right
      file on another line, another file, or none. The engine runs without a workdir here.

    And, with ``--fixtures`` (the default), the project's own labelled fixtures
    (``tests/diagnosis/langs/cases``): each ``output.log`` diagnosed with a temporary copy of
    its ``work/`` as workdir; category and location exactness, ``unknown`` share, time, a
    confusion table (expected category -> engine category) and every miss.

    One token estimate is used for every method: ``ceil(chars / 4)`` over the text that would be
    sent (the engine's excerpt text; the decoded tail text). The engine's own ``d.tokens`` is
    reported next to it.

Labels
    * LogChunks: the labelled chunk is text; it is aligned to the log's lines after normalising
      both sides (ANSI codes and their ESC-less remnants removed, lines split on CR and LF,
      whitespace collapsed, ``<`` and ``&`` dropped). The labelled lines are the
      ``\\n``-lines from the first to the last aligned chunk line. Chunks whose lines cannot be
      aligned (fewer than half of them found in order) are skipped and counted.
    * CiDiff: ``groundtruth`` ``E`` lines (``C`` context lines are ignored for recall). Its line
      numbers count a bare CR as a break (``str.splitlines`` numbering); they are converted to
      ``\\n``-line numbers of the original file. ``groundtruth2`` (a second annotator) is
      reported separately as ``cidiff_gt2`` (recall figures only differ in the labels).

    * Location labels: the ``file:line`` references (``eval_locations.label_refs``) in the
      text of the labelled lines: the log's own lines from the first to the last aligned chunk
      line (ANSI stripped; the chunk text lost characters), and CiDiff's ``E`` lines.

    All line numbers are 1-based over ``\\n``-separated lines of the original file, the engine's
    span convention.

Run
    .venv/bin/python bench/eval_corpora.py [--corpora ../shared/corpora] [--limit N]
        [--misses /tmp/eval_misses.txt] [--max-tokens 4000] [--jobs 2] [--no-fixtures]

    One JSON document with the figures is printed on stdout (``figures``, ``locations`` and
    ``fixtures``); progress and warnings go to stderr. Without the corpora only the fixture
    table is computed.
    Label alignment runs in ``--jobs`` worker processes; the engine is timed sequentially in the
    main process so that per-log times are not disturbed by the other workers.
"""

from __future__ import annotations

import argparse
import bisect
import datetime as _dt
import functools
import gc
import importlib
import json
import math
import multiprocessing
import os
import platform
import re
import statistics
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import eval_locations  # bench/eval_locations.py: references, matcher, fixtures

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPORA = REPO_ROOT.parent / "shared" / "corpora"
TAIL_SIZES = (50, 200)
#: chars per token of the single estimator used for every method.
CHARS_PER_TOKEN = 4
#: labels longer than this cannot fit a 4,000-token excerpt; micro recall is also reported
#: without them, since a few such logs dominate it.
BIG_LABEL = 300

# --------------------------------------------------------------------------------------------
# Normalisation and line maps (pure helpers, unit-tested in tests/bench/test_eval_helpers.py)
# --------------------------------------------------------------------------------------------

#: Real escape sequences: CSI (incl. private modes), OSC, and two-byte escapes.
_ANSI_RE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]")
#: What is left of a CSI sequence once its ESC byte is lost (``[0m``, ``[31;1m``, ``[0K``).
_REMNANT_RE = re.compile(r"\[[0-9;?]*[mK]|\[[0-9;?]+[A-HJSTfhl]")
_WS_RE = re.compile(r"\s+")


def strip_ansi(text: str) -> str:
    """Remove ANSI escape sequences and the ESC-less remnants of them (``[0m``, ``[31;1m``).

    Remnants are removed until none is left, so that ``[[31mmain`` (chunk text) and
    ``[\\x1b[31mmain`` (log text) normalise alike.
    """
    text = _ANSI_RE.sub("", text)
    while True:
        new = _REMNANT_RE.sub("", text)
        if new == text:
            return text
        text = new


def normalise(text: str) -> str:
    """Normalise one line for matching (applied to log and chunk lines alike).

    ANSI codes and remnants removed; ``<`` and ``&`` dropped (the chunk text lost them: a log's
    literal ``&hellip;`` is ``hellip;`` in the chunk; XML entities are already decoded by the
    XML parser, so no further unescaping); other control characters dropped; whitespace
    collapsed and stripped.
    """
    text = strip_ansi(text).replace("<", "").replace("&", "")
    text = "".join(ch for ch in text if ch >= " " or ch == "\t")
    return _WS_RE.sub(" ", text).strip()


def count_lines(data: bytes) -> int:
    """Number of ``\\n``-lines as ``wc -l``/``tail`` see them (a final unterminated line counts)."""
    if not data:
        return 0
    return data.count(b"\n") + (0 if data.endswith(b"\n") else 1)


def log_segments(text: str) -> tuple[list[str], list[int]]:
    """Split a log on LF, then each line on CR; return normalised non-empty segments.

    Returns ``(segments, line_of)``: ``line_of[i]`` is the 1-based ``\\n``-line number of the
    original file that holds segment ``i``.
    """
    segs: list[str] = []
    line_of: list[int] = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        # Strip real escape sequences before splitting on CR (they never contain CR).
        for part in line.split("\r"):
            norm = normalise(part)
            if norm:
                segs.append(norm)
                line_of.append(lineno)
    return segs, line_of


def chunk_lines(chunk: str) -> list[str]:
    """Normalised non-empty lines of a LogChunks chunk (split on CR and LF)."""
    out = []
    for line in re.split(r"\r\n|\r|\n", chunk):
        norm = normalise(line)
        if norm:
            out.append(norm)
    return out


@dataclass
class Alignment:
    """Where a chunk's lines were found: segment indexes per chunk line (None: not found)."""

    positions: list[int | None]
    candidates: int  # number of equally good alignments (>1: ambiguous, the last one is kept)

    @property
    def matched(self) -> int:
        return sum(p is not None for p in self.positions)


_NON_ALNUM_RE = re.compile(r"[^0-9A-Za-z]+")


@functools.lru_cache(maxsize=65536)
def _loose(text: str) -> str:
    return _NON_ALNUM_RE.sub("", text)


def _seg_matches(seg: str, line: str) -> bool:
    """Equal; or the chunk line is part of a log line (a person selected part of a line); or
    equal on letters and digits only (the chunk lost some punctuation, e.g. ``<...>``)."""
    if seg == line or (len(line) >= 6 and line in seg):
        return True
    loose = _loose(line)
    return len(loose) >= 10 and _loose(seg) == loose


def _greedy(
    segs: Sequence[str], lines: Sequence[str], anchor: int, pos: int, window: int
) -> list[int | None]:
    """Match chunk lines around ``lines[anchor]`` found at segment ``pos``, in order."""
    out: list[int | None] = [None] * len(lines)
    out[anchor] = pos
    cur = pos
    for j in range(anchor + 1, len(lines)):
        hi = min(len(segs), cur + 1 + window)
        for p in range(cur + 1, hi):
            if _seg_matches(segs[p], lines[j]):
                out[j] = cur = p
                break
    cur = pos
    for j in range(anchor - 1, -1, -1):
        lo = max(-1, cur - 1 - window)
        for p in range(cur - 1, lo, -1):
            if _seg_matches(segs[p], lines[j]):
                out[j] = cur = p
                break
    return out


def align_chunk(
    segs: Sequence[str],
    lines: Sequence[str],
    index: dict[str, list[int]] | None = None,
    window: int = 40,
    max_candidates: int = 300,
) -> Alignment | None:
    """Align normalised chunk lines to normalised log segments.

    The anchor is the chunk line with the fewest exact occurrences in the log (falling back to
    substring occurrences); from each occurrence the other chunk lines are matched greedily in
    order, allowing up to ``window`` unmatched log segments between consecutive chunk lines. The
    alignment with most matched lines wins; ties go to the latest occurrence (the failure reason
    tends to be near the end). Returns None when no chunk line occurs in the log.
    """
    if not lines:
        return None
    if index is None:
        index = {}
        for i, s in enumerate(segs):
            index.setdefault(s, []).append(i)
    best_anchor = -1
    best_pos: list[int] = []
    for j, line in enumerate(lines):
        pos = index.get(line, [])
        if pos and (best_anchor < 0 or len(pos) < len(best_pos)):
            best_anchor, best_pos = j, pos
            if len(pos) == 1:
                break
    if best_anchor < 0:
        # No exact line: look for chunk lines inside longer log lines (partial selections).
        for j, line in enumerate(lines):
            if len(line) < 6:
                continue
            pos = [i for i, s in enumerate(segs) if line in s]
            if pos and (best_anchor < 0 or len(pos) < len(best_pos)):
                best_anchor, best_pos = j, pos
                if len(pos) == 1:
                    break
    if best_anchor < 0:
        return None
    best: list[int | None] | None = None
    best_score = -1
    ties = 0
    for p in best_pos[-max_candidates:]:
        cand = _greedy(segs, lines, best_anchor, p, window)
        score = sum(c is not None for c in cand)
        if score > best_score:
            best, best_score, ties = cand, score, 1
        elif score == best_score:
            best, ties = cand, ties + 1
    assert best is not None
    return Alignment(positions=best, candidates=ties)


def aligned_line_range(alignment: Alignment, line_of: Sequence[int]) -> tuple[int, int]:
    """The ``\\n``-line range from the first to the last aligned chunk line."""
    found = [line_of[p] for p in alignment.positions if p is not None]
    return min(found), max(found)


def parse_groundtruth(text: str) -> tuple[str, list[tuple[int, int]], list[tuple[int, int]]]:
    """Parse a CiDiff groundtruth: ``(format, error_ranges, context_ranges)``.

    Ranges are inclusive, 1-based, in the file's own numbering (``str.splitlines``).
    """
    rows = [r.strip() for r in text.splitlines() if r.strip()]
    if not rows:
        raise ValueError("empty groundtruth")
    fmt = rows[0]
    errors: list[tuple[int, int]] = []
    context: list[tuple[int, int]] = []
    for row in rows[1:]:
        m = re.fullmatch(r"([EC])\s+(\d+)(?:\s*-\s*(\d+))?", row)
        if not m:
            raise ValueError(f"bad groundtruth row: {row!r}")
        a = int(m.group(2))
        b = int(m.group(3) or a)
        if b < a:
            a, b = b, a
        (errors if m.group(1) == "E" else context).append((a, b))
    return fmt, errors, context


def splitlines_to_nl_map(data: bytes) -> list[int]:
    """For each ``str.splitlines`` line (CR, LF and CRLF all break), its ``\\n``-line number.

    ``result[i]`` is the 1-based ``\\n``-line of 1-based splitlines-line ``i + 1``. Only CR, LF
    and CRLF are treated as breaks (CiDiff's Java reader); ``str.splitlines`` also breaks on
    form feeds and a few Unicode separators, which the CiDiff logs do not contain (checked at
    run time with a warning).
    """
    out: list[int] = []
    nl = 1
    i = 0
    n = len(data)
    start = 0
    while i < n:
        c = data[i]
        if c == 0x0A:  # LF
            out.append(nl)
            nl += 1
            i += 1
            start = i
        elif c == 0x0D:  # CR or CRLF
            out.append(nl)
            if i + 1 < n and data[i + 1] == 0x0A:
                nl += 1
                i += 2
            else:
                i += 1
            start = i
        else:
            # jump to the next break quickly
            j_lf = data.find(b"\n", i)
            j_cr = data.find(b"\r", i)
            cands = [j for j in (j_lf, j_cr) if j >= 0]
            i = min(cands) if cands else n
    if start < n:
        out.append(nl)
    return out


def merge_spans(spans: Iterable[Sequence[int]]) -> list[tuple[int, int]]:
    """Sorted, merged inclusive spans (adjacent spans are joined)."""
    out: list[tuple[int, int]] = []
    for a, b in sorted((int(s[0]), int(s[1])) for s in spans):
        if b < a:
            a, b = b, a
        if out and a <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def lines_in_spans(lines: Iterable[int], spans: Sequence[tuple[int, int]]) -> int:
    """How many of ``lines`` lie inside the merged, sorted ``spans``."""
    starts = [a for a, _ in spans]
    hit = 0
    for ln in lines:
        k = bisect.bisect_right(starts, ln) - 1
        if k >= 0 and spans[k][0] <= ln <= spans[k][1]:
            hit += 1
    return hit


def ranges_to_lines(ranges: Iterable[tuple[int, int]]) -> set[int]:
    out: set[int] = set()
    for a, b in ranges:
        out.update(range(a, b + 1))
    return out


def lines_to_ranges(lines: Iterable[int]) -> list[tuple[int, int]]:
    return merge_spans((ln, ln) for ln in lines)


def estimate_tokens(text: str) -> int:
    """The one token estimate used for every method: ceil(chars / 4)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def tail_span(data: bytes, n: int) -> tuple[tuple[int, int] | None, bytes]:
    """``tail -n n`` of ``data``: its ``\\n``-line span and bytes."""
    total = count_lines(data)
    if total == 0:
        return None, b""
    end = len(data) - 1 if data.endswith(b"\n") else len(data)
    pos = end
    for _ in range(n):
        k = data.rfind(b"\n", 0, pos)
        if k < 0:
            pos = -1
            break
        pos = k
    start = pos + 1
    first = max(1, total - n + 1)
    return (first, total), data[start:]


# --------------------------------------------------------------------------------------------
# Corpora
# --------------------------------------------------------------------------------------------


@dataclass
class Case:
    corpus: str
    path: str
    #: labelled ``\n``-lines per label set ("main", and "gt2" for CiDiff's second annotator).
    labels: dict[str, list[int]] = field(default_factory=dict)
    skipped: str | None = None
    note: str = ""
    #: ``(file, line)`` references named by the label's text (main label set).
    refs: list[tuple[str, int]] = field(default_factory=list)


def load_logchunks_examples(root: Path) -> list[tuple[str, str]]:
    """(log path, chunk text) for every ``<Example>`` of the build-failure-reason XML files."""
    out = []
    for xml_path in sorted((root / "build-failure-reason").glob("*/*.xml")):
        for ex in ET.parse(xml_path).getroot().iter("Example"):
            log = (ex.findtext("Log") or "").strip()
            out.append((str(root / "logs" / log), ex.findtext("Chunk") or ""))
    return out


def prepare_logchunks(item: tuple[str, str]) -> Case:
    path, chunk = item
    case = Case(corpus="logchunks", path=path)
    try:
        text = Path(path).read_bytes().decode("utf-8", "replace")
    except OSError as exc:
        case.skipped = f"unreadable: {exc}"
        return case
    segs, line_of = log_segments(text)
    lines = chunk_lines(chunk)
    if not lines:
        case.skipped = "empty chunk"
        return case
    al = align_chunk(segs, lines)
    if al is None or al.matched * 2 < len(lines):
        got = 0 if al is None else al.matched
        case.skipped = f"unaligned ({got}/{len(lines)} chunk lines found)"
        return case
    a, b = aligned_line_range(al, line_of)
    case.labels["main"] = list(range(a, b + 1))
    raw = text.split("\n")
    case.refs = sorted(eval_locations.label_refs(strip_ansi(raw[n - 1]) for n in range(a, b + 1)))
    if al.matched < len(lines):
        case.note = f"partial alignment {al.matched}/{len(lines)}"
    if al.candidates > 1:
        case.note += f" ambiguous x{al.candidates}"
    # Self-check: every aligned chunk line matches a CR-part of the \n-line it maps to, re-read
    # independently of the segment split (guards the segment -> line-number map).
    raw_lines = text.split("\n")
    for j, p in enumerate(al.positions):
        if p is not None and not line_contains(raw_lines[line_of[p] - 1], lines[j]):
            raise AssertionError(f"alignment self-check failed: {path}:{line_of[p]} {lines[j]!r}")
    return case


def line_contains(raw_line: str, chunk_line: str) -> bool:
    """Whether a normalised chunk line matches a CR-separated part of a raw log line."""
    return any(_seg_matches(normalise(part), chunk_line) for part in raw_line.split("\r"))


def prepare_cidiff(folder: str) -> Case:
    d = Path(folder)
    path = d / "fail.log"
    case = Case(corpus="cidiff", path=str(path))
    data = path.read_bytes()
    text = data.decode("utf-8", "replace")
    extra = sum(text.count(c) for c in "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
    if extra:
        case.note = f"{extra} non-CR/LF splitlines breaks: numbering may differ"
    sl_map = splitlines_to_nl_map(data)
    sl_lines: list[str] | None = None
    for name, fname in (("main", "groundtruth"), ("gt2", "groundtruth2")):
        gt = d / fname
        if not gt.exists():
            continue
        _fmt, errors, _ctx = parse_groundtruth(gt.read_text())
        if name == "main":
            sl_lines = sl_lines or re.split(r"\r\n|\r|\n", text)
            e_text = (
                strip_ansi(sl_lines[ln - 1])
                for ln in sorted(ranges_to_lines(errors))
                if 1 <= ln <= len(sl_lines)
            )
            case.refs = sorted(eval_locations.label_refs(e_text))
        nl_lines: set[int] = set()
        for ln in ranges_to_lines(errors):
            if 1 <= ln <= len(sl_map):
                nl_lines.add(sl_map[ln - 1])
            else:
                case.note += f" {fname}: line {ln} beyond {len(sl_map)} lines;"
        case.labels[name] = sorted(nl_lines)
    if not case.labels.get("main"):
        case.skipped = "no error lines in groundtruth"
    return case


# --------------------------------------------------------------------------------------------
# Methods
# --------------------------------------------------------------------------------------------


@dataclass
class Result:
    spans: list[tuple[int, int]]
    lines: int
    bytes: int
    tokens: int
    seconds: float
    engine_tokens: int | None = None
    #: CPU time (``time.process_time``) of the fastest of the engine's runs
    cpu_seconds: float | None = None
    category: str | None = None
    error: str | None = None
    #: the engine's location (file as it reported it, line)
    location: tuple[str, int] | None = None


def run_tail(path: str, n: int) -> Result:
    t0 = time.perf_counter()
    data = Path(path).read_bytes()
    span, tail = tail_span(data, n)
    dt = time.perf_counter() - t0
    text = tail.decode("utf-8", "replace")
    spans = [span] if span else []
    return Result(
        spans=spans,
        lines=sum(b - a + 1 for a, b in spans),
        bytes=len(tail),
        tokens=estimate_tokens(text),
        seconds=dt,
    )


def run_ceiling(path: str, labels: set[int], max_tokens: int) -> Result:
    """The best any excerpt within the budget can do: the labelled lines themselves, shortest
    first (the most lines per token), until ``max_tokens`` (``ceil(chars / 4)``) is spent.

    Not a method: an upper bound for the recall figures at this budget. Lines are measured
    after ANSI codes are stripped, each with its newline.
    """
    t0 = time.perf_counter()
    lines = Path(path).read_bytes().split(b"\n")
    cost = sorted(
        (len(strip_ansi(lines[n - 1].decode("utf-8", "replace"))) + 1, n)
        for n in labels
        if 0 < n <= len(lines)
    )
    chosen: list[int] = []
    used = 0
    for c, n in cost:
        if used + c > 4 * max_tokens:
            break
        used += c
        chosen.append(n)
    spans = lines_to_ranges(chosen)
    return Result(
        spans=spans,
        lines=len(chosen),
        bytes=used,
        tokens=math.ceil(used / 4),
        seconds=time.perf_counter() - t0,
    )


def load_engine(spec: str) -> Callable[..., Any]:
    """Import ``module:function``; exit with a clear message when it is not there yet."""
    mod_name, _, func_name = spec.partition(":")
    try:
        mod = importlib.import_module(mod_name)
        return getattr(mod, func_name or "diagnose")  # type: ignore[no-any-return]
    except (ImportError, AttributeError) as exc:
        sys.exit(
            f"eval_corpora: cannot import the diagnosis engine {spec!r}: {exc}\n"
            "  (the engine lives in adaptive_llm/diagnosis/; run from the repo with "
            ".venv/bin/python after `pip install -e .`)"
        )


def run_engine(diagnose: Callable[..., Any], path: str, max_tokens: int, repeat: int = 1) -> Result:
    """Diagnose ``path`` ``repeat`` times; the time is the fastest run's (wall and CPU), the
    result the last run's (the engine is deterministic: every run gives the same)."""
    dt = cpu = math.inf
    for _ in range(max(1, repeat)):
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            d = diagnose(path, max_tokens=max_tokens)
        except Exception as exc:  # a crash is a result too: counted, not fatal
            err = f"{type(exc).__name__}: {exc}"
            return Result([], 0, 0, 0, time.perf_counter() - t0, error=err)
        wall = time.perf_counter() - t0
        if wall < dt:
            dt, cpu = wall, time.process_time() - c0
    spans = merge_spans(d.excerpt.spans)
    text = d.excerpt.text
    return Result(
        spans=spans,
        lines=sum(b - a + 1 for a, b in spans),
        bytes=len(text.encode("utf-8")),
        tokens=estimate_tokens(text),
        seconds=dt,
        cpu_seconds=cpu,
        engine_tokens=int(d.tokens),
        category=str(d.category),
        location=(str(d.location.file), int(d.location.line)) if d.location else None,
    )


# --------------------------------------------------------------------------------------------
# Aggregation
# --------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(q / 100 * len(s)) - 1))
    return s[k]


def aggregate(rows: list[dict[str, Any]], label: str = "main") -> dict[str, Any]:
    """Figures over per-log rows ``{labels, results}`` for one label set."""
    rows = [r for r in rows if r["labels"].get(label)]
    out: dict[str, Any] = {"logs": len(rows)}
    if not rows:
        return out
    methods = list(rows[0]["results"])
    for m in methods:
        covered = total = full = anyhit = 0
        recalls = []
        toks, lines, nbytes, secs = [], [], [], []
        errors = 0
        for r in rows:
            res: Result = r["results"][m]
            lab = r["labels"][label]
            hit = lines_in_spans(lab, res.spans)
            covered += hit
            total += len(lab)
            recalls.append(hit / len(lab))
            full += hit == len(lab)
            anyhit += hit > 0
            toks.append(res.tokens)
            lines.append(res.lines)
            nbytes.append(res.bytes)
            secs.append(res.seconds * 1000)
            errors += res.error is not None
        small = [r for r in rows if len(r["labels"][label]) <= BIG_LABEL]
        small_cov = sum(lines_in_spans(r["labels"][label], r["results"][m].spans) for r in small)
        small_tot = sum(len(r["labels"][label]) for r in small)
        fig: dict[str, Any] = {
            "recall_micro": round(covered / total, 4),
            f"recall_micro_labels_le_{BIG_LABEL}_lines": round(small_cov / max(1, small_tot), 4),
            f"logs_with_labels_over_{BIG_LABEL}_lines": len(rows) - len(small),
            "recall_macro": round(statistics.fmean(recalls), 4),
            "full_coverage_share": round(full / len(rows), 4),
            "any_hit_share": round(anyhit / len(rows), 4),
            "labelled_lines": total,
            "tokens_median": statistics.median(toks),
            "tokens_p95": percentile(toks, 95),
            "lines_median": statistics.median(lines),
            "lines_p95": percentile(lines, 95),
            "bytes_median": statistics.median(nbytes),
            "bytes_p95": percentile(nbytes, 95),
            "time_ms_p50": round(percentile(secs, 50), 2),
            "time_ms_p95": round(percentile(secs, 95), 2),
            "time_ms_max": round(max(secs), 2),
        }
        if m == "engine":
            fig["errors"] = errors
            cpus = [c * 1000 for r in rows if (c := r["results"][m].cpu_seconds) is not None]
            if cpus:
                fig["cpu_ms_p50"] = round(percentile(cpus, 50), 2)
                fig["cpu_ms_p95"] = round(percentile(cpus, 95), 2)
            cats: dict[str, int] = {}
            for r in rows:
                c = r["results"][m].category or "error"
                cats[c] = cats.get(c, 0) + 1
            fig["categories"] = dict(sorted(cats.items(), key=lambda kv: -kv[1]))
            slow = sorted(rows, key=lambda r: -r["results"][m].seconds)[:5]
            fig["slowest_logs_ms"] = {
                r["path"]: round(r["results"][m].seconds * 1000, 1) for r in slow
            }
        out[m] = fig
    return out


def write_misses(fh: Any, rows: list[dict[str, Any]], max_lines: int = 8) -> int:
    """Per-log misses of the engine, for looking at them one by one."""
    n = 0
    for r in rows:
        lab = r["labels"].get("main")
        res: Result = r["results"]["engine"]
        if not lab:
            continue
        cov = lines_in_spans(lab, res.spans)
        if cov == len(lab):
            continue
        n += 1
        missed = [ln for ln in lab if lines_in_spans([ln], res.spans) == 0]
        data = Path(r["path"]).read_bytes().split(b"\n")
        fh.write(f"=== {r['corpus']} {r['path']}\n")
        fh.write(
            f"recall {cov}/{len(lab)}  total_lines {len(data)}  category {res.category}"
            f"  tokens {res.tokens}{'  ERROR ' + res.error if res.error else ''}\n"
        )
        fh.write(f"labelled: {_fmt_ranges(lines_to_ranges(lab))}\n")
        fh.write(f"excerpt:  {_fmt_ranges(res.spans)}\n")
        fh.write(f"missed:   {_fmt_ranges(lines_to_ranges(missed))}\n")
        for ln in missed[:max_lines]:
            txt = strip_ansi(data[ln - 1].decode("utf-8", "replace")).replace("\r", "\\r")
            fh.write(f"  {ln:>7} | {txt[:200]}\n")
        if len(missed) > max_lines:
            fh.write(f"  ... {len(missed) - max_lines} more missed lines\n")
        fh.write("\n")
    return n


def location_outcomes(rows: list[dict[str, Any]]) -> None:
    """Judge the engine's location against each log's labelled references (in place)."""
    for r in rows:
        res: Result = r["results"]["engine"]
        if r["refs"]:
            r["location"], r["location_ref"] = eval_locations.location_outcome(
                res.location, r["refs"]
            )
        else:
            r["location"], r["location_ref"] = None, None


def location_figures(rows: list[dict[str, Any]], corpora: Sequence[str]) -> dict[str, Any]:
    """Per corpus and pooled: logs with a location label, and the engine's outcome shares."""
    location_outcomes(rows)
    out: dict[str, Any] = {}
    groups = [(c, [r for r in rows if r["corpus"] == c]) for c in corpora]
    if len(corpora) > 1:
        groups.append(("overall", rows))
    for name, rs in groups:
        fig = eval_locations.aggregate_locations([r["location"] for r in rs if r["location"]])
        unlabelled = [r for r in rs if not r["refs"]]
        fig["logs_without_location_label"] = len(unlabelled)
        fig["engine_location_on_unlabelled_share"] = (
            round(
                sum(r["results"]["engine"].location is not None for r in unlabelled)
                / len(unlabelled),
                4,
            )
            if unlabelled
            else None
        )
        out[name] = fig
    return out


def write_location_misses(fh: Any, rows: list[dict[str, Any]], max_refs: int = 6) -> int:
    """Logs with a location label whose engine location is not exact."""
    n = 0
    for r in rows:
        if r.get("location") in (None, "exact"):
            continue
        n += 1
        res: Result = r["results"]["engine"]
        got = f"{res.location[0]}:{res.location[1]}" if res.location else "-"
        fh.write(f"=== location {r['location']} {r['corpus']} {r['path']}\n")
        fh.write(f"engine: {got}  category {res.category}\n")
        if r.get("location_ref"):
            fh.write(f"nearest label ref: {r['location_ref'][0]}:{r['location_ref'][1]}\n")
        refs = r["refs"]
        for f, ln in refs[:max_refs]:
            fh.write(f"  label ref {f}:{ln}\n")
        if len(refs) > max_refs:
            fh.write(f"  ... {len(refs) - max_refs} more label refs\n")
        fh.write("\n")
    return n


def _fmt_ranges(spans: Sequence[tuple[int, int]]) -> str:
    parts = [f"{a}-{b}" if a != b else f"{a}" for a, b in spans]
    if len(parts) > 12:
        parts = [*parts[:12], f"... (+{len(parts) - 12})"]
    return ", ".join(parts) or "-"


def render_markdown(doc: dict[str, Any]) -> str:
    """A method x figures table per corpus, for bench/RESULTS.md."""
    out = []
    names = {"engine": "engine", "tail_50": "`tail -n 50`", "tail_200": "`tail -n 200`"}
    for corpus, figs in doc["figures"].items():
        out.append(f"**{corpus}** ({figs.get('logs', 0)} logs)\n")
        out.append(
            "| method | recall micro | recall macro | full coverage | tokens p50 / p95 "
            "| lines p50 / p95 | bytes p50 / p95 | time p50 / p95 (ms) |"
        )
        out.append("|---|---|---|---|---|---|---|---|")
        for key, label in names.items():
            f = figs.get(key)
            if not f:
                continue
            out.append(
                f"| {label} | {f['recall_micro']:.1%} | {f['recall_macro']:.1%} "
                f"| {f['full_coverage_share']:.1%} | {f['tokens_median']:g} / {f['tokens_p95']:g} "
                f"| {f['lines_median']:g} / {f['lines_p95']:g} "
                f"| {f['bytes_median']:g} / {f['bytes_p95']:g} "
                f"| {f['time_ms_p50']:g} / {f['time_ms_p95']:g} |"
            )
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--corpora", type=Path, default=DEFAULT_CORPORA)
    ap.add_argument("--limit", type=int, default=None, help="at most N logs per corpus")
    ap.add_argument("--misses", type=Path, default=None, help="write per-log engine misses here")
    ap.add_argument("--max-tokens", type=int, default=4000)
    ap.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of the engine per log; its time is the fastest (default: 3)",
    )
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="alignment workers")
    ap.add_argument(
        "--engine",
        default="adaptive_llm.diagnosis:diagnose",
        help="module:function of the engine (default: %(default)s)",
    )
    ap.add_argument("--corpus", choices=["logchunks", "cidiff"], action="append")
    ap.add_argument("--markdown", type=Path, default=None, help="also write tables for RESULTS.md")
    ap.add_argument(
        "--fixtures",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also diagnose the labelled fixtures of tests/diagnosis/langs/cases (default: on)",
    )
    args = ap.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    corpora = args.corpus or ["logchunks", "cidiff"]
    if not args.corpora.is_dir():
        if not args.fixtures:
            sys.exit(f"eval_corpora: corpora directory not found: {args.corpora}")
        log(f"eval_corpora: corpora directory not found: {args.corpora}; fixture table only")
        corpora = []
    diagnose = load_engine(args.engine)

    t_start = time.perf_counter()
    cases: list[Case] = []
    with multiprocessing.Pool(max(1, args.jobs)) as pool:
        if "logchunks" in corpora:
            examples = load_logchunks_examples(args.corpora / "logchunks")[: args.limit]
            log(f"logchunks: aligning {len(examples)} chunks ...")
            cases += pool.map(prepare_logchunks, examples, chunksize=4)
        if "cidiff" in corpora:
            folders = sorted(
                str(p) for p in (args.corpora / "cidiff").iterdir() if (p / "fail.log").exists()
            )[: args.limit]
            log(f"cidiff: reading {len(folders)} groundtruths ...")
            cases += pool.map(prepare_cidiff, folders)
    t_align = time.perf_counter() - t_start

    alignment: dict[str, Any] = {}
    for corpus in corpora:
        cs = [c for c in cases if c.corpus == corpus]
        skipped = [c for c in cs if c.skipped]
        alignment[corpus] = {
            "examples": len(cs),
            "aligned": len(cs) - len(skipped),
            "skipped": len(skipped),
            "partial": sum("partial" in c.note for c in cs if not c.skipped),
            "ambiguous": sum("ambiguous" in c.note for c in cs if not c.skipped),
        }
        for c in skipped:
            log(f"  skip {c.path}: {c.skipped}")
        for c in cs:
            if c.note and corpus == "cidiff":
                log(f"  note {c.path}: {c.note}")
    log(f"labels ready in {t_align:.1f}s: {json.dumps(alignment)}")

    rows: list[dict[str, Any]] = []
    usable = [c for c in cases if not c.skipped]
    # The labels are the bench's own heap: keep the collector from charging their traversal
    # to the engine's time (a gen-2 collection over them landed inside single timed runs).
    gc.collect()
    gc.freeze()
    t_eng = time.perf_counter()
    for i, c in enumerate(usable, 1):
        results = {"engine": run_engine(diagnose, c.path, args.max_tokens, args.repeat)}
        for n in TAIL_SIZES:
            results[f"tail_{n}"] = run_tail(c.path, n)
        results["ceiling"] = run_ceiling(c.path, set(c.labels["main"]), args.max_tokens)
        if results["engine"].error:
            log(f"  engine error on {c.path}: {results['engine'].error}")
        rows.append(
            {
                "corpus": c.corpus,
                "path": c.path,
                "labels": c.labels,
                "refs": c.refs,
                "results": results,
            }
        )
        if i % 100 == 0:
            log(f"  {i}/{len(usable)} logs diagnosed")
    t_eng = time.perf_counter() - t_eng

    figures: dict[str, Any] = {}
    for corpus in corpora:
        figures[corpus] = aggregate([r for r in rows if r["corpus"] == corpus])
    if "cidiff" in corpora:
        figures["cidiff_gt2"] = aggregate([r for r in rows if r["corpus"] == "cidiff"], "gt2")
    figures["overall"] = aggregate(rows)
    locations = location_figures(rows, corpora)

    fixtures: dict[str, Any] | None = None
    if args.fixtures:
        t_fx = time.perf_counter()
        fixtures = eval_locations.eval_fixtures(diagnose, args.max_tokens)
        log(f"fixtures: {fixtures.get('cases', 0)} cases in {time.perf_counter() - t_fx:.1f}s")

    if args.misses:
        with args.misses.open("w", encoding="utf-8") as fh:
            n = write_misses(fh, rows)
            n_loc = write_location_misses(fh, rows)
            n_fx = eval_locations.write_fixture_misses(fh, fixtures) if fixtures else 0
        log(
            f"wrote {n} logs with misses, {n_loc} location misses and {n_fx} fixture misses"
            f" to {args.misses}"
        )

    doc = {
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "loadavg_1min_at_end": round(os.getloadavg()[0], 2),
        },
        "engine": args.engine,
        "max_tokens": args.max_tokens,
        "token_estimate": "ceil(len(text) / 4) of the text sent, same for every method",
        "labels": {
            "logchunks": "chunk aligned to \\n-lines (first..last aligned chunk line)",
            "cidiff": "groundtruth E lines (C context ignored), mapped to \\n-lines",
            "cidiff_gt2": "groundtruth2 E lines (second annotator)",
        },
        "alignment": alignment,
        "seconds": {"labels": round(t_align, 1), "methods": round(t_eng, 1)},
        "figures": figures,
        "locations": locations,
    }
    if fixtures is not None:
        doc["fixtures"] = fixtures
    if args.markdown:
        md = render_markdown(doc)
        if locations:
            md += "\n" + eval_locations.render_locations_markdown(locations)
        if fixtures is not None:
            md += "\n" + eval_locations.render_fixtures_markdown(fixtures)
        args.markdown.write_text(md, encoding="utf-8")
    print(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
