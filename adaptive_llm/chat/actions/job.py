"""Job changes: ``set_job_resources`` (time limit, memory, CPUs, partition) and
``resubmit_job``. The resource diff lists every resource field before and after, so whatever
the change touches is on screen."""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from dataclasses import replace
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from ..._core.aio import within
from ...jobs.model import Job, Resources, format_duration, format_memory, parse_duration
from ...jobs.model import parse_memory as _parse_memory
from ...jobs.resources import MAX_CPUS
from ..records import EditRecord, Item
from .base import Action, ActionArgs, ActionEnv, ActionError, Overlay, Plan

__all__ = ["ResubmitJob", "SetJobResources", "resources_text"]

_PARTITION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
#: Seconds the scheduler may take to say what a resubmission would do (a dry run).
PREVIEW_TIMEOUT = 15.0


def _time_limit(value: str | int) -> str | int:
    seconds = parse_duration(value)  # refuses over MAX_TIME_LIMIT itself
    if seconds is None or seconds < 1:
        raise ValueError(f"time limit {value!r} is out of range (1 s to 366 days)")
    return value


def _memory(value: str | int) -> str | int:
    amount = _parse_memory(value)  # refuses over MAX_MEMORY itself
    if amount is None or amount < 1024**2:
        raise ValueError(f"memory {value!r} is out of range (1M to 64T)")
    return value


def _partition(value: str) -> str:
    if not _PARTITION_RE.match(value):
        raise ValueError(
            f"partition {value!r} is not a SLURM partition name (letters, digits, '_', '.', '-')"
        )
    return value


class ResourcesArgs(ActionArgs):
    time_limit: Annotated[str | int, AfterValidator(_time_limit)] | None = Field(
        default=None, description='e.g. "10:00", "2h", or seconds'
    )
    memory: Annotated[str | int, AfterValidator(_memory)] | None = Field(
        default=None, description='e.g. "4G", "512M", or bytes'
    )
    cpus: Annotated[int, Field(ge=1, le=MAX_CPUS)] | None = None
    partition: Annotated[str, AfterValidator(_partition)] | None = None


class ResubmitArgs(ActionArgs):
    pass


def resources_text(resources: Resources) -> str:
    text = (
        f"time limit {format_duration(resources.time_limit)}, memory"
        f" {format_memory(resources.memory)}, {resources.cpus} cpu(s)"
    )
    if resources.extra.get("partition"):
        text += f", partition {resources.extra['partition']}"
    return text


def _resource_lines(resources: Resources) -> list[str]:
    """Every field of ``resources``, one line each (so any change of one shows in the diff)."""
    lines = [
        f"time_limit = {format_duration(resources.time_limit)}\n",
        f"memory = {format_memory(resources.memory)}\n",
        f"cpus = {resources.cpus}\n",
    ]
    for key in sorted(resources.extra):
        lines.append(f"{key} = {json.dumps(resources.extra[key], ensure_ascii=True)}\n")
    return lines


def resources_diff(old: Job, new: Job) -> str:
    return "".join(
        difflib.unified_diff(
            _resource_lines(old.resources),
            _resource_lines(new.resources),
            f"a/job:{old.name}",
            f"b/job:{new.name}",
        )
    )


def _job_sha(job: Job) -> str:
    return hashlib.sha256(json.dumps(job.to_dict(), sort_keys=True).encode()).hexdigest()


class SetJobResources(Action):
    name = "set_job_resources"
    description = (
        "Change this chat's job's resources for its next attempt: time_limit (\"10:00\","
        ' "2h", seconds), memory ("4G"), cpus, partition (SLURM). Needs the user\'s approval.'
    )
    args = ResourcesArgs
    edit_kinds = frozenset({"resources"})

    async def plan(self, env: ActionEnv, args: ActionArgs, overlay: Overlay, position: int) -> Plan:
        assert isinstance(args, ResourcesArgs)
        name = env.job_name(self.name)
        changes = args.model_dump(exclude_none=True)
        if not changes:
            raise ActionError(f"{self.name} needs time_limit, memory, cpus or partition")
        job = overlay.job if overlay.job is not None else env.run.job(name)
        builds_on = (overlay.job_from,) if overlay.job_from is not None else ()
        old = job.resources
        extra: dict[str, Any] = dict(old.extra)
        if "partition" in changes:
            extra["partition"] = changes.pop("partition")
        try:
            resources = Resources(
                time_limit=changes.get("time_limit", old.time_limit),
                memory=changes.get("memory", old.memory),
                cpus=changes.get("cpus", old.cpus),
                extra=extra,
            )
        except ValueError as exc:
            raise ActionError(str(exc)) from None
        new = replace(job, resources=resources)
        if new == job:
            raise ActionError(f"job {name} already has these resources; nothing to change")
        overlay.job, overlay.job_from = new, position
        data = {"before": job.to_dict(), "after": new.to_dict()}
        return Plan(
            summary=f"Change the resources of job {name}",
            kind="resources",
            path=f"job:{name}",
            diff=resources_diff(job, new),
            data=json.dumps(data).encode(),
            touches=frozenset({f"job:{name}"}),
            builds_on=builds_on,
        )

    async def apply(self, env: ActionEnv, item: Item) -> str:
        assert item.plan is not None
        data = json.loads(item.plan)
        before, after = Job.from_dict(data["before"]), Job.from_dict(data["after"])
        current = env.run.job(after.name)
        by = item.decided_by or "user"
        applied = (
            f"Applied ({by}): job {after.name} now runs with"
            f" {resources_text(after.resources)} (from its next attempt)."
        )
        if current == after and env.records.has_edit(item.key):
            return applied  # applied and recorded before a crash
        if current != before and current != after:
            raise ActionError(f"job {after.name} changed since this was proposed; look again")
        if current != after:
            env.run.update_job(after)
        env.records.add_edit(
            thread=env.context.thread,
            tool_call_id=item.call_id,
            change_key=item.key,
            path=f"job:{after.name}",
            kind="resources",
            diff=str(item.shown.get("diff") or ""),
            before=json.dumps(before.to_dict()).encode(),
            after_sha256=_job_sha(after),
            approved_by=by,
        )
        return applied

    async def undo(self, env: ActionEnv, edit: EditRecord) -> str:
        name = edit.path.removeprefix("job:")
        if _job_sha(env.run.job(name)) != edit.after_sha256:
            raise ActionError(f"Cannot undo: job {name} changed since that edit.")
        assert edit.before is not None
        env.run.update_job(Job.from_dict(json.loads(edit.before)))
        return f"Undone: the resources of job {name} are back to what they were."


class ResubmitJob(Action):
    name = "resubmit_job"
    description = "Start a new attempt of this chat's job (after a fix). Needs the user's approval."
    args = ResubmitArgs

    async def plan(self, env: ActionEnv, args: ActionArgs, overlay: Overlay, position: int) -> Plan:
        name = env.job_name(self.name)
        job = overlay.job if overlay.job is not None else env.run.job(name)
        attempt = env.run.latest_attempt(name)
        number = attempt.number + 1 if attempt else 1
        preview = await _preview(env, name)
        return Plan(
            summary=f"Resubmit job {name} as attempt {number} ({resources_text(job.resources)})",
            kind="resubmit",
            path=f"job:{name}",
            diff=_preview_text(preview),
            command=job.command_text,
            data=json.dumps({"number": number, "preview": preview}).encode(),
            touches=frozenset({f"job:{name}"}),
            barrier=True,
        )

    async def apply(self, env: ActionEnv, item: Item) -> str:
        name = env.job_name(self.name)
        plan = json.loads(item.plan or b"{}")
        number = int(plan.get("number", 1))
        latest = env.run.latest_attempt(name)
        if latest is not None and latest.number >= number:  # submitted before a crash
            return f"Resubmitted job {name} as attempt {latest.number}."
        shown = plan.get("preview")
        if shown is not None:  # what the scheduler does must still be what was approved
            now = await _preview(env, name)
            if now != shown:
                raise ActionError(
                    f"Not resubmitted: the scheduler would now do something else than you"
                    f" approved ({'; '.join(now or ['only start an attempt'])}); ask for the"
                    " resubmission again to see it."
                )
        try:
            attempt = await env.run.resubmit(name)
        except (RuntimeError, ValueError, LookupError) as exc:
            raise ActionError(str(exc)) from None
        return f"Resubmitted job {name} as attempt {attempt.number}."


async def _preview(env: ActionEnv, name: str) -> list[str] | None:
    """What resubmitting ``name`` does in the scheduler besides a new attempt, from its dry
    run (Airflow: the task instances it clears); refused when the scheduler cannot say."""
    try:
        preview = await within(env.run.resubmit_preview(name), PREVIEW_TIMEOUT)
    except TimeoutError:
        raise ActionError(
            f"Cannot resubmit job {name} now: the scheduler did not say within"
            f" {PREVIEW_TIMEOUT:g} s what the resubmission would do (its dry run); try again"
            " when it answers."
        ) from None
    except Exception as exc:  # the scheduler's error, in one line
        raise ActionError(
            f"Cannot resubmit job {name} now: the scheduler cannot show what the resubmission"
            f" would do ({exc}); try again when it answers."
        ) from None
    return list(preview) if preview is not None else None


def _preview_text(preview: list[str] | None) -> str | None:
    if preview is None:
        return None
    if not preview:
        return "The scheduler's dry run: this resubmission changes nothing else."
    return "The scheduler's dry run: this resubmission will\n" + "".join(
        f"  • {line}\n" for line in preview
    )
