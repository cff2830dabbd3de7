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
