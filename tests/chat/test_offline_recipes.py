"""The offline assistant's recipes respect the scheduler's limits (pure, no jobs needed)."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage

from adaptive_llm.chat.offline import offline_reply
from adaptive_llm.chat.prompts import system_prompt


def reply(context: dict[str, Any]) -> Any:
    return offline_reply([SystemMessage(system_prompt("/w", context)), HumanMessage("fix it")])


def context(category: str, **resources: Any) -> dict[str, Any]:
    return {
        "job": "sim",
        "state": "TIMEOUT" if category == "time_limit" else "OUT_OF_MEMORY",
        "command": ["python", "sim.py"],
        "resources": {"time_limit": None, "memory": None, "cpus": 1, **resources},
        "diagnosis": {"category": category, "summary": "it failed"},
    }


def test_time_limit_doubles_below_the_cap() -> None:
    ctx = context("time_limit", time_limit=600.0) | {"max_time_limit": 1800.0}
    call, resubmit = reply(ctx).tool_calls
    assert resubmit["name"] == "resubmit_job"
    assert call["name"] == "set_job_resources" and call["args"] == {"time_limit": "20m"}


def test_time_limit_is_capped_by_the_partition() -> None:
    ctx = context("time_limit", time_limit=1200.0) | {"max_time_limit": 1800.0}
    call, resubmit = reply(ctx).tool_calls
    assert resubmit["name"] == "resubmit_job"
    assert call["args"] == {"time_limit": "30m"}


def test_at_the_cap_nothing_is_proposed() -> None:
    ctx = context("time_limit", time_limit=1800.0) | {"max_time_limit": 1800.0}
    message = reply(ctx)
    assert message.tool_calls == []
    assert "already the most this scheduler allows" in message.text


def test_memory_is_capped_by_the_node() -> None:
    gib = 1024**3
    ctx = context("out_of_memory", memory=3 * gib) | {"max_memory": 4 * gib}
    call, resubmit = reply(ctx).tool_calls
    assert resubmit["name"] == "resubmit_job"
    assert call["args"] == {"memory": "4G"}
    at_cap = context("out_of_memory", memory=4 * gib) | {"max_memory": 4 * gib}
    assert reply(at_cap).tool_calls == []


def test_a_batch_script_gets_the_same_change_in_its_header() -> None:
    gib = 1024**3
    script = {"path": "jobs/train.sh", "header": ["#SBATCH -J train", "#SBATCH --mem=2G"]}
    ctx = context("out_of_memory", memory=2 * gib) | {"batch_script": script}
    message = reply(ctx)
    assert [c["name"] for c in message.tool_calls] == [
        "set_job_resources",
        "edit_file",
        "resubmit_job",
    ]
    assert message.tool_calls[1]["args"] == {
        "path": "jobs/train.sh",
        "old_text": "#SBATCH --mem=2G",
        "new_text": "#SBATCH --mem=4G",
    }
    assert "jobs/train.sh" in message.text
    ctx = context("time_limit", time_limit=600.0) | {"batch_script": script}
    edit = reply(ctx).tool_calls[1]["args"]
    assert edit["old_text"] == "#SBATCH --mem=2G"
    assert edit["new_text"] == "#SBATCH --mem=2G\n#SBATCH --time=00:20:00"
