"""Job model: parsing of durations and memory sizes, and validation of job definitions."""

from __future__ import annotations

import pytest

from adaptive_llm import Job, JobState, Resources
from adaptive_llm.jobs.model import (
    FAILURE_STATES,
    format_duration,
    format_memory,
    parse_duration,
    parse_memory,
)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, None),
        (90, 90.0),
        (1.5, 1.5),
        ("90", 90.0),
        ("0.5", 0.5),
        ("05:00", 300.0),
        ("01:02:03", 3723.0),
        ("1-02:00:00", 93600.0),
        (" 10 ", 10.0),
        ("90s", 90.0),
        ("10m", 600.0),
        ("10min", 600.0),
        ("2h", 7200.0),
        ("1h30m", 5400.0),
        ("1d", 86400.0),
    ],
)
def test_parse_duration(value: object, seconds: float | None) -> None:
    assert parse_duration(value) == seconds  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["", "abc", "1x", "h", "1h-2", "-5", "1:2:3:4", "0", "0s", 0, -1])
def test_parse_duration_rejects(value: object) -> None:
    with pytest.raises(ValueError, match="time limit"):
        parse_duration(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "amount"),
    [
        (None, None),
        (1024, 1024),
        ("512", 512),
        ("1K", 1024),
        ("512M", 512 * 1024**2),
        ("300m", 300 * 1024**2),
        ("2G", 2 * 1024**3),
        ("2GiB", 2 * 1024**3),
        ("1.5G", int(1.5 * 1024**3)),
        ("1T", 1024**4),
    ],
)
def test_parse_memory(value: object, amount: int | None) -> None:
    assert parse_memory(value) == amount  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["", "lots", "2X", "-1G", "0", 0, -5])
def test_parse_memory_rejects(value: object) -> None:
    with pytest.raises(ValueError, match="memory"):
        parse_memory(value)  # type: ignore[arg-type]


def test_format_duration_and_memory() -> None:
    assert format_duration(None) == "-"
    assert format_duration(1.5) == "1.5s"
    assert format_duration(45) == "45s"
    assert format_duration(90) == "1m30s"
    assert format_duration(3600) == "1h"
    assert format_duration(3723) == "1h2m3s"
    assert format_memory(None) == "-"
    assert format_memory(512 * 1024**2) == "512M"
    assert format_memory(2 * 1024**3) == "2G"
    assert format_memory(1536 * 1024**2) == "1536M"
    assert format_memory(100) == "100B"
    for text in ("512M", "2G", "1K", "3T"):
        assert format_memory(parse_memory(text)) == text


def test_resources_parse_their_fields() -> None:
    res = Resources(time_limit="01:00", memory="1G", cpus=2)
    assert res.time_limit == 60.0
    assert res.memory == 1024**3
    assert Resources.from_dict(res.to_dict()) == res
    with pytest.raises(ValueError, match="cpus"):
        Resources(cpus=0)


@pytest.mark.parametrize("name", ["", "-lead", ".hidden", "a b", "a/b", "x" * 129, "é"])
def test_job_rejects_bad_names(name: str) -> None:
    with pytest.raises(ValueError, match="invalid job name"):
        Job(name, ["true"])


@pytest.mark.parametrize("command", ["", "   ", [], ()])
def test_job_rejects_empty_commands(command: object) -> None:
    with pytest.raises(ValueError, match="command is empty"):
        Job("j", command)  # type: ignore[arg-type]


@pytest.mark.parametrize("max_attempts", [0, -1, 1.5, "2"])
def test_job_rejects_bad_max_attempts(max_attempts: object) -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        Job("j", ["true"], max_attempts=max_attempts)  # type: ignore[arg-type]


def test_job_commands_and_round_trip() -> None:
    argv_job = Job("a.b_c-1", ["python", "-c", "print('hi there')"], env={"N": 1})  # type: ignore[dict-item]
    assert argv_job.argv == ["python", "-c", "print('hi there')"]
    assert argv_job.command_text == "python -c 'print('\"'\"'hi there'\"'\"')'"
    assert argv_job.env == {"N": "1"}
    shell_job = Job("s", "echo hi | tr a-z A-Z", resources={"time_limit": "1:00"})  # type: ignore[arg-type]
    assert shell_job.argv == ["/bin/sh", "-c", "echo hi | tr a-z A-Z"]
    assert shell_job.resources.time_limit == 60.0
    for job in (argv_job, shell_job, Job("m", ["x"], max_attempts=3, cwd="sub")):
        assert Job.from_dict(job.to_dict()) == job
    assert argv_job.with_resources(memory="2G").resources.memory == 2 * 1024**3


def test_states_use_slurm_names() -> None:
    assert JobState.OUT_OF_MEMORY.value == "OUT_OF_MEMORY"
    assert JobState.COMPLETED.is_final and not JobState.COMPLETED.is_failure
    assert JobState.CANCELLED.is_final and not JobState.CANCELLED.is_failure
    assert JobState.LOST.is_failure
    assert not JobState.RUNNING.is_final and not JobState.PENDING.is_final
    assert JobState.TIMEOUT in FAILURE_STATES


@pytest.mark.parametrize(
    "kwargs",
    [
        {"cpus": True},
        {"cpus": 1.0},
        {"time_limit": True},
        {"time_limit": float("inf")},
        {"time_limit": float("nan")},
        {"time_limit": [60]},
        {"memory": 1.5},
        {"memory": False},
    ],
)
def test_resources_refuse_wrong_types(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Resources(**kwargs)  # type: ignore[arg-type]


def test_resources_extra_is_checked_and_copied() -> None:
    lines = ["--gres=gpu:1"]
    res = Resources(extra={"partition": "gpu", "sbatch_lines": lines})
    lines.append("--output=/home/u/.bashrc")  # the caller's list is not the job's
    assert res.extra == {"partition": "gpu", "sbatch_lines": ["--gres=gpu:1"]}
    assert Resources(extra={"sbatch_lines": "--qos=long"}).extra == {"sbatch_lines": ["--qos=long"]}
    with pytest.raises(ValueError, match="resources must be Resources"):
        Job("j", ["true"], resources=5)  # type: ignore[arg-type]


def test_model_re_exports_the_resources_module() -> None:
    from adaptive_llm.jobs import model, resources

    assert model.Resources is resources.Resources
    assert model.parse_duration is resources.parse_duration


def test_one_duration_format_for_the_whole_package() -> None:
    """The job table, the chat, the diagnosis and the resources all write durations and
    sizes the same way (one implementation in ``_core.units``)."""
    from adaptive_llm._core import units
    from adaptive_llm.diagnosis import suggest
    from adaptive_llm.jobs import model, resources

    assert model.format_duration is units.format_duration is resources.format_duration
    assert suggest.format_duration is units.format_duration
    assert units.format_duration(93784) == "1d2h3m4s"
    assert units.format_duration(2.5) == "2.5s" and units.format_duration(90) == "1m30s"
    assert units.format_size(3 << 29) == "1.5 GiB" and units.format_size(512) == "512 B"
    assert units.format_memory(512 << 20) == "512M"


def test_jobs_asking_for_the_same_resources_share_one_object() -> None:
    """A sweep of many jobs holds one Resources per distinct request, not one per job (each
    object is one more for the garbage collector to walk at 100,000 jobs)."""
    sweep = [
        Job(f"s{i}", ["true"], resources={"time_limit": "1:00:00", "memory": "4G"})
        for i in range(50)
    ]
    assert len({id(job.resources) for job in sweep}) == 1
    defaults = [Job(f"d{i}", ["true"]) for i in range(20)]
    assert len({id(job.resources) for job in defaults}) == 1
    # different requests stay different objects, with their own values
    other = Job("o", ["true"], resources=Resources(time_limit=3600, memory="8G"))
    assert other.resources is not sweep[0].resources
    assert other.resources.memory == 8 * 2**30
    assert sweep[0].resources.memory == 4 * 2**30
    # extras take part in the comparison: lists and the same list as a string alike
    a = Job(
        "a", ["true"], resources={"extra": {"partition": "gpu", "sbatch_lines": "--gres=gpu:1"}}
    )
    b = Job(
        "b", ["true"], resources={"extra": {"partition": "gpu", "sbatch_lines": ["--gres=gpu:1"]}}
    )
    c = Job(
        "c", ["true"], resources={"extra": {"partition": "cpu", "sbatch_lines": "--gres=gpu:1"}}
    )
    assert a.resources is b.resources
    assert c.resources is not a.resources and c.resources.extra["partition"] == "cpu"
    # a changed copy is its own request, and the original is untouched
    longer = sweep[0].with_resources(time_limit="2:00:00")
    assert longer.resources.time_limit == 7200 and sweep[1].resources.time_limit == 3600
    assert longer.resources is Job("x", ["true"], resources=longer.resources.to_dict()).resources


def test_shared_resources_cannot_be_changed_through_one_job() -> None:
    """Jobs asking for the same resources share one object, so its ``extra`` (the partition,
    the ``#SBATCH`` lines) is read only: changing it through one job would change every other
    job's request too, unchecked. A changed copy is made with ``with_resources``; the extras
    still compare, copy, pickle and serialize as a plain dict and list."""
    import copy
    import json
    import pickle

    asked = {"extra": {"partition": "gpu", "sbatch_lines": ["--exclusive"]}}
    mine, other = Job("mine", ["true"], resources=asked), Job("other", ["true"], resources=asked)
    extra, lines = mine.resources.extra, mine.resources.extra["sbatch_lines"]
    for change in [
        lambda: extra.__setitem__("partition", "cpu"),
        lambda: extra.__delitem__("partition"),
        lambda: extra.update(partition="cpu"),
        lambda: extra.setdefault("account", "me"),
        lambda: extra.pop("partition"),
        lambda: extra.popitem(),
        lambda: extra.clear(),
        lambda: extra.__ior__({"account": "me"}),
        lambda: lines.append("--output=/home/u/.bashrc"),
        lambda: lines.extend(["--uid=0"]),
        lambda: lines.insert(0, "--uid=0"),
        lambda: lines.__setitem__(0, "--uid=0"),
        lambda: lines.__delitem__(0),
        lambda: lines.__iadd__(["--uid=0"]),
        lambda: lines.__imul__(2),
        lambda: lines.pop(),
        lambda: lines.remove("--exclusive"),
        lambda: lines.clear(),
        lambda: lines.sort(),
        lambda: lines.reverse(),
    ]:
        with pytest.raises(TypeError, match="read only"):
            change()
    assert other.resources.extra == {"partition": "gpu", "sbatch_lines": ["--exclusive"]}
    assert mine.resources.to_dict()["extra"] == asked["extra"]
    assert json.loads(json.dumps(mine.to_dict()))["resources"]["extra"] == asked["extra"]
    for copied in (pickle.loads(pickle.dumps(mine)), copy.deepcopy(mine), copy.copy(mine)):
        assert copied == mine and copied.resources.extra == asked["extra"]
    changed = mine.with_resources(extra={**extra, "partition": "cpu"})
    assert changed.resources.extra["partition"] == "cpu"
    assert other.resources.extra["partition"] == "gpu"
