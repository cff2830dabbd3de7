"""The fast path of rule matching (lines found by the rules' literal keys) finds exactly what
testing every rule on every line finds, on the logs of every language fixture."""

from __future__ import annotations

import pytest
from langs.harness import Case, load_cases

from adaptive_llm.diagnosis.reader import read_log
from adaptive_llm.diagnosis.rules import NEGATIVE, RULE_ORDER
from adaptive_llm.diagnosis.signals import _match_lines

CASES = load_cases()


def _best_rule(line: str) -> str | None:
    low = line.lower()
    for rule in RULE_ORDER:
        if rule.matches(line, low) and not (rule.name == "error_word" and NEGATIVE.search(line)):
            return rule.name
    return None


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_keys_find_every_line_a_rule_matches(case: Case) -> None:
    for region in read_log(str(case.log)).regions:
        fast = _match_lines(region.lines)
        slow = {i: name for i, line in enumerate(region.lines) if (name := _best_rule(line))}
        assert fast == slow, {
            i: (region.lines[i], slow.get(i), fast.get(i))
            for i in set(fast) ^ set(slow) | {i for i in fast if fast[i] != slow.get(i)}
        }


#: Lines whose keys select many rules, some with an anchored part that matches: the first such
#: rule, a floating rule before it, error_word (NEGATIVE's or not), quoted values.
MANY_RULES = [
    "ValueError: operands could not be broadcast together with shapes (67112,4071) (1938,)",
    "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB",
    "KeyError: 'Segmentation fault'",
    "Fatal Python error: Segmentation fault",
    "error: 0 errors, build failed",
    "error: could not compile `foo` due to 2 previous errors",
    "Error: Process completed with exit code 1.",
    "ERROR: tests/test_x.py::test_y - AssertionError: assert 1 == 2",
    "FAILED tests/test_x.py::test_y - ModuleNotFoundError: No module named 'torch'",
    "E   AssertionError: timeout exceeded",
    "npm ERR! code E404",
    "fatal: unable to access 'https://example.com/': Could not resolve host",
    "Traceback (most recent call last): RuntimeError: NCCL error: unhandled system error",
    "torch.distributed.elastic.multiprocessing.errors.ChildFailedError: train.py FAILED",
    "slurmstepd: error: *** JOB 1234 ON node01 CANCELLED AT 2024-01-01 DUE TO TIME LIMIT ***",
    "MemoryError: Unable to allocate 8.00 GiB; oom-kill follows, exit code 137",
    "OSError: [Errno 28] No space left on device: '/scratch/x'",
    "PermissionError: [Errno 13] Permission denied: 'out.log' (no errors)",
    "panic: runtime error: index out of range [5] with length 3",
    "Exception in thread main java.lang.OutOfMemoryError: Java heap space",
]


@pytest.mark.parametrize("line", MANY_RULES)
def test_lines_of_many_rules_get_the_first_rule_that_matches(line: str) -> None:
    lines = [line, "  " + line, line.lower(), "warning: " + line]
    fast = _match_lines(lines)
    slow = {i: name for i, text in enumerate(lines) if (name := _best_rule(text))}
    assert fast == slow
