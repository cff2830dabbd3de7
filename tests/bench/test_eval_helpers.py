"""Unit tests of the label parsers of bench/eval_corpora.py (tiny inline fixtures)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "eval_corpora.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("eval_corpora", BENCH)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["eval_corpora"] = mod  # dataclasses need the module registered
    spec.loader.exec_module(mod)
    return mod


ev = _load()


def test_strip_ansi_real_and_remnants() -> None:
    assert ev.strip_ansi("\x1b[31;1mFAIL\x1b[0m x") == "FAIL x"
    assert ev.strip_ansi("[31;1mFAIL[0m x[0K") == "FAIL x"
    # ESC-less remnant next to a literal bracket normalises like the original log text.
    assert ev.strip_ansi("[[31mmain") == ev.strip_ansi("[\x1b[31mmain")
    assert ev.strip_ansi("see [1] and [x]") == "see [1] and [x]"


def test_normalise_drops_lost_characters() -> None:
    assert ev.normalise("  a <b>  &hellip;\t c\x1b[0m ") == "a b> hellip; c"
    assert ev.normalise(ev.normalise("x  <y>")) == ev.normalise("x  <y>")


def test_log_segments_map_cr_parts_to_newline_lines() -> None:
    text = "first\r\nprog 1%\rprog 100%\r\n\x1b[0K\n\x1b[31merror: boom\x1b[0m\nlast"
    segs, line_of = ev.log_segments(text)
    assert segs == ["first", "prog 1%", "prog 100%", "error: boom", "last"]
    assert line_of == [1, 2, 2, 4, 5]


def test_align_chunk_finds_lines_with_noise_between() -> None:
    log = "\n".join(
        [
            "setup",
            "\x1b[31m  FAIL test_a\x1b[0m",
            "progress 10%\rprogress 100%",
            "  Expected: 1",
            "  Actual: <0>",
            "done",
        ]
    )
    chunk = "[31m  FAIL test_a[0m\n\n  Expected: 1\n  Actual: 0>\n"
    segs, line_of = ev.log_segments(log)
    al = ev.align_chunk(segs, ev.chunk_lines(chunk))
    assert al is not None and al.matched == 3 and al.candidates == 1
    assert ev.aligned_line_range(al, line_of) == (2, 5)


def test_align_chunk_prefers_last_of_equal_alignments_and_partial_lines() -> None:
    log = "Error: x\nfoo\nError: x\nbar baz qux\n"
    segs, line_of = ev.log_segments(log)
    al = ev.align_chunk(segs, ev.chunk_lines("Error: x\nbaz qux"))
    assert al is not None and al.matched == 2
    assert ev.aligned_line_range(al, line_of) == (3, 4)
    assert ev.align_chunk(segs, ["nowhere to be found"]) is None


def test_parse_groundtruth() -> None:
    fmt, errors, ctx = ev.parse_groundtruth("DEFAULT\nE 34-45\nC 33\nE 56\n")
    assert fmt == "DEFAULT"
    assert errors == [(34, 45), (56, 56)]
    assert ctx == [(33, 33)]
    with pytest.raises(ValueError):
        ev.parse_groundtruth("DEFAULT\nX 1\n")


def test_splitlines_map_counts_bare_cr_as_break() -> None:
    data = b"a\rb\r\nc\n\rd"
    # str.splitlines: ["a", "b", "c", "", "d"]; \n-lines: "a\rb\r", "c", "\rd"
    assert len(data.decode().splitlines()) == 5
    assert ev.splitlines_to_nl_map(data) == [1, 1, 2, 3, 3]
    assert ev.splitlines_to_nl_map(b"x\n") == [1]
    assert ev.splitlines_to_nl_map(b"") == []


def test_tail_span_and_coverage() -> None:
    data = b"1\n2\n3\n4\n"
    span, tail = ev.tail_span(data, 2)
    assert span == (3, 4) and tail == b"3\n4\n"
    span, tail = ev.tail_span(b"1\n2", 5)
    assert span == (1, 2) and tail == b"1\n2"
    assert ev.count_lines(b"1\n2") == 2 and ev.count_lines(b"") == 0
    spans = ev.merge_spans([(5, 6), (1, 2), (3, 3), (10, 12)])
    assert spans == [(1, 3), (5, 6), (10, 12)]
    assert ev.lines_in_spans([1, 6, 7, 9, 10, 12, 13], spans) == 4
