"""One LLM diagnosis per distinct failure signature: 200 failures, 3 causes, 3 calls."""

from __future__ import annotations

import re
import shlex
from collections import Counter

from chat_support import StartChat, is_diagnosis_call
from langchain_core.messages import BaseMessage

from adaptive_llm import Job, LocalScheduler

CAUSES = [
    ("train.py", 12, "ValueError: learning rate must be positive"),
    ("data.py", 40, "KeyError: 'label'"),
    ("model.py", 77, "ZeroDivisionError: division by zero"),
]


def failing(i: int) -> Job:
    path, line, error = CAUSES[i % 3]
    text = (
        f"starting job {i}\n"
        "Traceback (most recent call last):\n"
        f'  File "/home/user/project/{path}", line {line}, in main\n'
        "    step()\n"
        f"{error}\n"
    )
    return Job(f"j{i}", ["/bin/sh", "-c", f"printf %s {shlex.quote(text)}; exit 1"])


async def test_200_failures_with_3_causes_make_3_llm_calls(start_chat: StartChat) -> None:
    seen: list[str] = []

    def diagnose(messages: list[BaseMessage]) -> str:
        assert is_diagnosis_call(messages)
        facts = messages[-1].text
        cause = next(c[2].split(":")[0] for c in CAUSES if c[2].split(":")[0] in facts)
        seen.append(cause)
        return f"LLM: the job fails with {cause}."

    jobs = [failing(i) for i in range(200)]
    rm = await start_chat(
        diagnose,
        jobs=jobs,
        scheduler=LocalScheduler(max_concurrent=4, kill_grace=0.5),
        timeout=120,
    )
    lm = rm.llm_manager
    assert lm.llm_calls == 3
    assert sorted(seen) == ["KeyError", "ValueError", "ZeroDivisionError"]
    signatures = {lm.cached(j.name).signature for j in jobs}  # type: ignore[union-attr]
    assert len(signatures) == 3

    texts = {j.name: lm.llm_diagnosis_text(j.name) or "" for j in jobs}
    owners = [name for name, text in texts.items() if "shared with job" not in text]
    assert len(owners) == 3
    for i, job in enumerate(jobs):
        cause = CAUSES[i % 3][2].split(":")[0]
        text = texts[job.name]
        assert text.startswith(f"LLM: the job fails with {cause}."), text
        if job.name not in owners:
            match = re.search(r"shared with job (j\d+): same failure", text)
            assert match and int(match.group(1)[1:]) % 3 == i % 3, text
    assert Counter(int(n[1:]) % 3 for n in owners) == Counter({0: 1, 1: 1, 2: 1})
