"""The offline assistant: no API key, no network. It explains the diagnosis and proposes the
known fix recipes through the same tools, approval gate and history as a real model:

- time limit → raise the job's time limit (double it), and resubmit;
- out of memory → raise its memory limit (double it), and resubmit;
- missing module → run the install command (a command: always asked), and resubmit;
- an Airflow task killed by its ``execution_timeout`` → double it in the DAG file (an edit of
  the line that sets it), and resubmit (Airflow clears the task).

The fix and the resubmission are proposed in one reply, so the user sees (and can approve or
reject) each of them at once; the resubmission waits for the fix to be decided.

When the job runs a SLURM batch script, the same change is proposed for its ``#SBATCH`` line
(in the same reply, after the job's change), so the fix holds when the user submits the script
themselves.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage

from ..jobs.model import format_duration, format_memory
from ..jobs.sbatch import format_slurm_memory, format_slurm_time, header_edit
from ..llm.scripted import ScriptedChatModel, tool_call
from .prompts import diagnosis_points, parse_job_context

_PIP_RE = re.compile(r"pip install ([A-Za-z0-9_.\-\[\]]+)")
_MODULE_RE = re.compile(r"No module named '([A-Za-z0-9_.]+)'")


class OfflineChatModel(ScriptedChatModel):
    """A deterministic assistant built on the diagnosis engine's findings."""

    def __init__(self) -> None:
        super().__init__(offline_reply, fake_usage=False)

    @property
    def _llm_type(self) -> str:
        return "offline"


def offline_reply(messages: list[BaseMessage]) -> AIMessage:
    context: dict[str, Any] | None = None
    for message in messages:
        if isinstance(message, SystemMessage):
            context = parse_job_context(message.text)
    if context is None:
        return AIMessage(
            content="I am the offline assistant: I can explain and fix failed jobs from their"
            " diagnosis. Open a chat on a failed job, or configure a model"
            ' (`RunManager(..., llm="openai:gpt-4.1-mini")`) for open questions.'
        )
    last_human = max((i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=-1)
    turn = messages[last_human + 1 :]
    asked = max(
        (i for i, m in enumerate(turn) if isinstance(m, AIMessage) and m.tool_calls), default=-1
    )
    results = [m for m in turn[asked + 1 :] if isinstance(m, ToolMessage)]
    if asked < 0:
        return _first_answer(context)
    failed = [m for m in results if m.status == "error"]
    done = [m for m in results if m.status != "error"]
    resubmitted = [m for m in done if m.name == "resubmit_job"]
    if resubmitted:
        note = "".join(f"\n\nNot done: {m.text}" for m in failed)
        return AIMessage(
            content=f"{resubmitted[-1].text} Its state updates in the job table.{note}"
        )
    if any(m.name == "resubmit_job" for m in failed) and done:
        note = "".join(f"\n\nNot done: {m.text}" for m in failed)
        return AIMessage(content=f"Done, without resubmitting.{note}")
    if any(m.name in ("set_job_resources", "run_command") for m in done):
        note = "".join(f"\n\nNot done: {m.text}" for m in failed)
        return AIMessage(
            content=f"Done.{note}\n\nNow I'll resubmit the job so you can see whether it works.",
            tool_calls=tool_call("resubmit_job").tool_calls,
        )
    if failed:
        return AIMessage(
            content=f"That was not done: {failed[-1].text}\n\nTell me what you would like"
            " instead, or configure a model for a deeper look."
        )
    return AIMessage(content="Done.")


def _first_answer(context: dict[str, Any]) -> AIMessage:
    diagnosis = context.get("diagnosis") or {}
    lines = [f"**{context.get('job')}** ended {context.get('state')}: {diagnosis.get('summary')}"]
    lines += diagnosis_points(diagnosis)
    proposal = _recipe(context)
    if proposal is None:
        lines.append(
            "There is no offline fix for this kind of failure; the excerpt and the location"
            " above are the place to start. With a model configured I can read and edit the"
            " code with you."
        )
        return AIMessage(content="\n\n".join(lines))
    text, call = proposal
    lines.append(text)
    return AIMessage(content="\n\n".join(lines), tool_calls=call.tool_calls if call else [])


def _with_script(
    context: dict[str, Any], text: str, change: dict[str, str], key: str, value: str
) -> tuple[str, AIMessage]:
    """The job's change, and the same change of the batch script's ``#SBATCH`` line if any."""
    calls = tool_call("set_job_resources", change).tool_calls
    script = context.get("batch_script") or {}
    edit = header_edit(script.get("header") or [], key, value) if script.get("path") else None
    if edit is not None:
        old, new = edit
        calls += tool_call(
            "edit_file", {"path": script["path"], "old_text": old, "new_text": new}
        ).tool_calls
        text += (
            f" I'll also set `--{key}={value}` in `{script['path']}`, so the fix holds when you"
            " submit the script yourself."
        )
    calls += tool_call("resubmit_job").tool_calls
    return text, AIMessage(content="", tool_calls=calls)


def _recipe(context: dict[str, Any]) -> tuple[str, AIMessage | None] | None:
    diagnosis = context.get("diagnosis") or {}
    category = diagnosis.get("category")
    resources = context.get("resources") or {}
    if category == "time_limit" and resources.get("time_limit"):
        current = float(resources["time_limit"])
        new = current * 2
        if context.get("max_time_limit"):
            new = min(new, float(context["max_time_limit"]))
        if new <= current:
            return _at_cap("time limit", format_duration(current))
        return _with_script(
            context,
            f"It hit its time limit of {format_duration(resources['time_limit'])}. I propose"
            f" raising the limit to {format_duration(new)} and resubmitting.",
            {"time_limit": format_duration(new)},
            "time",
            format_slurm_time(new),
        )
    if category == "time_limit" and (context.get("airflow") or {}).get("execution_timeout"):
        return _airflow_timeout(context["airflow"])
    if category == "out_of_memory" and resources.get("memory"):
        current_memory = int(resources["memory"])
        new_memory = current_memory * 2
        if context.get("max_memory"):
            new_memory = min(new_memory, int(context["max_memory"]))
        if new_memory <= current_memory:
            return _at_cap("memory", format_memory(current_memory))
        return _with_script(
            context,
            f"It ran out of its {format_memory(resources['memory'])} memory limit. I propose"
            f" raising it to {format_memory(new_memory)} and resubmitting.",
            {"memory": format_memory(new_memory)},
            "mem",
            format_slurm_memory(new_memory),
        )
    if category == "missing_module":
        package = _package(diagnosis)
        if package:
            python = _python_of(context.get("command"))
            command = f"{python} -m pip install {shlex.quote(package)}"
            calls = tool_call("run_command", {"command": command}).tool_calls
            calls += tool_call("resubmit_job").tool_calls
            return (
                f"The module is not installed. I propose installing `{package}` into the job's"
                " Python environment, then resubmitting.",
                AIMessage(content="", tool_calls=calls),
            )
    return None


def _airflow_timeout(airflow: dict[str, Any]) -> tuple[str, AIMessage | None]:
    """Double the task's ``execution_timeout`` where the DAG file sets it, then clear it."""
    timeout = airflow["execution_timeout"]
    where = f"line {timeout.get('line')} of `{airflow.get('dag_file') or 'the DAG file'}`"
    scope = (
        " (in the DAG's `default_args`: every task without its own timeout gets it too)"
        if timeout.get("scope") == "default_args"
        else ""
    )
    text = (
        f"Airflow killed the task at its `execution_timeout={timeout.get('text')}`, set on"
        f" {where}{scope}."
    )
    edit = timeout.get("edit")
    if not edit:
        return (
            text + " The DAG file is not in this workspace (Airflow's dags folder is not local"
            " here), so raise it where the DAG is deployed, then resubmit the job.",
            None,
        )
    calls = tool_call(
        "edit_file",
        {"path": edit["path"], "old_text": edit["old_text"], "new_text": edit["new_text"]},
    ).tool_calls
    calls += tool_call("resubmit_job").tool_calls
    return (
        text + f" I propose doubling it to `{edit['new']}` and resubmitting (Airflow clears"
        " the task; its next try runs the edited file).",
        AIMessage(content="", tool_calls=calls),
    )


def _at_cap(what: str, value: str) -> tuple[str, None]:
    return (
        f"Its {what} of {value} is already the most this scheduler allows, so I cannot raise"
        " it. Consider splitting the work, or checkpointing and resuming.",
        None,
    )


def _package(diagnosis: dict[str, Any]) -> str | None:
    match = _PIP_RE.search(diagnosis.get("suggestion") or "")
    if match:
        return match.group(1)
    match = _MODULE_RE.search(diagnosis.get("message") or diagnosis.get("summary") or "")
    return match.group(1).split(".")[0] if match else None


def _python_of(command: Any) -> str:
    argv = command if isinstance(command, list) else shlex.split(str(command or ""))
    if argv and re.search(r"python[0-9.]*$", argv[0]):
        return shlex.quote(argv[0])
    return "python"
