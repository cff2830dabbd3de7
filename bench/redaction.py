#!/usr/bin/env python3
"""What the redactor masks in real CI logs (false positives), and how fast it is.

What it measures
    Every log of the shared corpora (``../shared/corpora``: LogChunks' 797 failed Travis CI logs,
    CiDiff's 36 failing and 36 passing GitHub Actions logs; see their README) is cleaned the way
    the diagnosis reader cleans it (``reader.clean_text``: ANSI codes, control characters, CI
    timestamps, CR-overwritten lines), then redacted whole (``redact.redact``), as the reader
    does before anything is cut. These logs were published by other projects and hold no real
    secrets, or very few; every redaction is a candidate false positive, to be judged by the
    samples printed.

    * counts: redactions (markers) per kind, per corpus; logs and lines with any; per MB;
    * samples: up to ``--samples`` per kind: the log, the line number, the redacted line and the
      shape of what was masked (its length and character classes, with only its first and last
      characters shown: some of these may be real, if old, credentials);
    * speed: CPU time of ``redact`` over all the text (MB/s), and on one single-line text of
      ``--huge`` bytes and a tenth of it (linear time: the ratio of the two; peak memory traced),
      with a ``password=`` every 60 KB (sparse) and, on ``--dense-huge`` bytes, every 100
      characters (dense: every window of the line goes through the rules).

Run
    .venv/bin/python bench/redaction.py [--corpora ../shared/corpora] [--samples 8]
        [--limit N] [--huge 100MB] [--dense-huge 8MB]

    One JSON document on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import random
import re
import string
import sys
import time
import tracemalloc
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPORA = REPO_ROOT.parent / "shared" / "corpora"
sys.path.insert(0, str(REPO_ROOT))

from adaptive_llm.diagnosis.reader import clean_text  # noqa: E402
from adaptive_llm.diagnosis.redact import MARKER_PREFIX, redact  # noqa: E402

_MARKER_RE = re.compile(re.escape(MARKER_PREFIX) + r"(\w+)\]")


def parse_size(text: str) -> int:
    m = re.fullmatch(r"(?i)\s*(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r}")
    return int(float(m[1]) * {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[m[2].lower()])


def logs(corpora: Path, limit: int | None) -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    chunks = sorted((corpora / "logchunks" / "logs").glob("*/*/failed/*.log"))
    found += [("logchunks", p) for p in chunks[:limit]]
    cidiff = sorted((corpora / "cidiff").glob("*/*.log"))
    found += [("cidiff", p) for p in cidiff[:limit]]
    return found


def shape(value: str) -> str:
    """What was masked, without showing it: length, classes, first and last characters."""
    classes = [
        name
        for name, chars in (
            ("lower", string.ascii_lowercase),
            ("upper", string.ascii_uppercase),
            ("digit", string.digits),
            ("symbol", string.punctuation),
            ("space", " \t"),
        )
        if any(c in chars for c in value)
    ]
    if re.fullmatch(r"[0-9a-f]+", value):
        classes = ["hex"]
    shown = value if len(value) <= 10 and value.isalpha() else f"{value[:3]}…{value[-2:]}"
    return f"{len(value)} chars ({'+'.join(classes)}): {shown!r}"


def masked_parts(before: str, after: str) -> list[tuple[str, str]]:
    """(kind, original text) of each marker in ``after`` (a redacted ``before``): the text
    between markers is kept verbatim, so each masked value lies between two kept pieces."""
    pieces = _MARKER_RE.split(after)  # text, kind, text, kind, ..., text
    out: list[tuple[str, str]] = []
    pos = len(pieces[0])
    for i in range(1, len(pieces), 2):
        kind, text = pieces[i], pieces[i + 1]
        last = i + 2 >= len(pieces)
        end = len(before) - len(text) if last else before.find(text, pos + 1) if text else pos
        if end < pos:
            end = pos
        out.append((kind, before[pos:end]))
        pos = end + len(text)
    return out


def huge_line(size: int, rng: random.Random, dense: bool) -> str:
    """One line of ``size`` characters: training-log words with a ``password=`` now and then
    (one per ~100 characters if ``dense``, else one per ~60 KB) and ML counters (token_count=)."""
    words = ["step", "loss=0.1234", "lr=3e-4", "INFO", "ok", "epoch", "token_count=5", "x" * 12]
    chunk = " ".join(rng.choice(words) for _ in range(10000))
    every = 16 if dense else 10000
    pieces = chunk.split(" ")
    for i in range(0, len(pieces), every):
        pieces[i] = "password=" + "".join(rng.choices(string.ascii_letters + string.digits, k=14))
    chunk = " ".join(pieces)
    return (chunk + " ") * (size // (len(chunk) + 1)) + "RuntimeError: lost"


def speed_of_one_line(size: int, dense_size: int) -> dict[str, Any]:
    """CPU time of one ``redact`` call on a single line, at a tenth of the size and at the size
    (the ratio shows whether time is linear), and the memory it allocates at its peak
    (traced in a second, untimed run: tracing slows allocation down)."""
    out: dict[str, Any] = {}
    for dense in (False, True):
        size = dense_size if dense else size
        rows: dict[str, Any] = {}
        for label, n in (("tenth", size // 10), ("full", size)):
            text = huge_line(n, random.Random(1), dense)
            t0 = time.process_time()
            redacted = redact(text)
            cpu = time.process_time() - t0
            markers = redacted.count(MARKER_PREFIX)
            del redacted
            tracemalloc.start()
            redact(text)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            rows[label] = {
                "chars": len(text),
                "cpu_s": round(cpu, 3),
                "mb_per_s": round(len(text) / 1e6 / cpu, 1) if cpu else None,
                "peak_alloc_over_input": round(peak / len(text), 2),
                "markers": markers,
            }
            del text
        tenth = rows["tenth"]["cpu_s"]
        ratio = round(rows["full"]["cpu_s"] / tenth, 2) if tenth else None
        rows["cpu_ratio_full_over_tenth"] = ratio
        out["dense" if dense else "sparse"] = rows
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--corpora", type=Path, default=DEFAULT_CORPORA)
    ap.add_argument("--limit", type=int, default=None, help="at most N logs per corpus")
    ap.add_argument("--samples", type=int, default=8, help="samples printed per kind")
    ap.add_argument("--huge", type=parse_size, default=100 << 20, help="one-line text size")
    ap.add_argument("--dense-huge", type=parse_size, default=8 << 20, help="dense one-line size")
    args = ap.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    if not args.corpora.is_dir():
        sys.exit(f"redaction: corpora directory not found: {args.corpora}")
    files = logs(args.corpora, args.limit)
    log(f"redacting {len(files)} logs ...")
    kinds: Counter[str] = Counter()
    per_corpus: dict[str, Counter[str]] = defaultdict(Counter)
    samples: dict[str, list[dict[str, Any]]] = defaultdict(list)
    totals = Counter[str]()
    cpu = 0.0
    for i, (corpus, path) in enumerate(files, 1):
        text = clean_text(path.read_bytes())
        t0 = time.process_time()
        out = redact(text)
        cpu += time.process_time() - t0
        totals["chars"] += len(text)
        totals["lines"] += text.count("\n") + 1
        totals["logs"] += 1
        per_corpus[corpus]["logs"] += 1
        if out == text:
            continue
        totals["logs_with_redactions"] += 1
        per_corpus[corpus]["logs_with_redactions"] += 1
        for n, (before, after) in enumerate(zip(text.split("\n"), out.split("\n"), strict=True), 1):
            if before == after:
                continue
            totals["lines_with_redactions"] += 1
            for kind, value in masked_parts(before, after):
                kinds[kind] += 1
                per_corpus[corpus][kind] += 1
                if len(samples[kind]) < args.samples:
                    samples[kind].append(
                        {
                            "log": str(path.relative_to(args.corpora)),
                            "line": n,
                            "redacted_line": after.strip()[:200],
                            "masked": shape(value),
                        }
                    )
        if i % 100 == 0:
            log(f"  {i}/{len(files)} logs")
    mb = totals["chars"] / 1e6
    log(f"one-line text of {args.huge} bytes ...")
    result = {
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_1min_at_end": round(os.getloadavg()[0], 2),
        },
        "corpora": str(args.corpora),
        "logs": totals["logs"],
        "megabytes": round(mb, 1),
        "lines": totals["lines"],
        "logs_with_redactions": totals["logs_with_redactions"],
        "lines_with_redactions": totals["lines_with_redactions"],
        "redactions": sum(kinds.values()),
        "redactions_per_mb": round(sum(kinds.values()) / mb, 2) if mb else None,
        "by_kind": dict(kinds.most_common()),
        "by_corpus": {c: dict(v) for c, v in per_corpus.items()},
        "redact_cpu_s": round(cpu, 2),
        "redact_mb_per_s": round(mb / cpu, 1) if cpu else None,
        "one_line": speed_of_one_line(args.huge, args.dense_huge),
        "samples": dict(samples),
    }
    json.dump(result, sys.stdout, indent=1, ensure_ascii=False)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
