"""Batch-script parsing and rendering, and SLURM output mapping (no SLURM needed)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from adaptive_llm import Job, JobState
from adaptive_llm.jobs.sbatch import (
    SbatchError,
    batch_script_of,
    format_slurm_memory,
    format_slurm_time,
    header_edit,
    job_from_sbatch,
    parse_sbatch_options,
    parse_slurm_memory,
    parse_slurm_time,
    render_sbatch,
    sbatch_header_lines,
    sbatch_header_raw,
)
from adaptive_llm.jobs.schedulers.slurm_parse import (
    controller_down,
    parse_jobcomp,
    parse_key_values,
    parse_sacct,
    parse_squeue,
    status_from_record,
)

M = 1024**2


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("5", 300),
        ("90", 5400),
        ("05:30", 330),
        ("1:00:00", 3600),
        ("2-0", 2 * 86400),
        ("1-02", 86400 + 7200),
        ("1-02:03", 86400 + 7200 + 180),
        ("1-02:03:04", 86400 + 7200 + 180 + 4),
        ("00:00:30", 30),
    ],
)
def test_slurm_time(text: str, seconds: int) -> None:
    assert parse_slurm_time(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "1:2:3:4", "x-1", "0", "-5:00"])
def test_bad_slurm_time(text: str) -> None:
    with pytest.raises(SbatchError):
        parse_slurm_time(text)


def test_unlimited_time() -> None:
    assert parse_slurm_time("UNLIMITED") is None
    assert parse_slurm_time("infinite") is None


def test_format_slurm_time() -> None:
    assert format_slurm_time(90) == "00:01:30"
    assert format_slurm_time(10) == "00:01:00"  # SLURM's minimum is one minute
    assert format_slurm_time(59.2) == "00:01:00"
    assert format_slurm_time(86400 + 3661) == "1-01:01:01"
    for seconds in (60, 61, 3599, 7200, 90061):
        assert parse_slurm_time(format_slurm_time(seconds)) == seconds


def test_slurm_memory() -> None:
    assert parse_slurm_memory("500") == 500 * M  # a bare number is MiB
    assert parse_slurm_memory("500M") == 500 * M
    assert parse_slurm_memory("2G") == 2048 * M
    assert parse_slurm_memory("1024K") == 1 * M
    assert parse_slurm_memory("1t") == 1024**4
    assert format_slurm_memory(2048 * M) == "2G"
    assert format_slurm_memory(500 * M) == "500M"
    assert format_slurm_memory(500 * M + 1) == "501M"  # rounded up, never below the request
    for bad in ("", "lots", "0", "5X"):
        with pytest.raises(SbatchError):
            parse_slurm_memory(bad)


def test_headers_stop_at_first_command() -> None:
    text = (
        "#!/bin/bash\n\n# a comment\n#SBATCH --time=5\n#SBATCH -J  named  # trailing\n"
        "echo hi\n#SBATCH --mem=1G\n"
    )
    assert sbatch_header_lines(text) == ["--time=5", "-J  named  # trailing"]


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_from_sbatch_reads_headers(tmp_path: Path) -> None:
    script = write(
        tmp_path / "train job.sh",
        "#!/bin/bash\n"
        "#SBATCH --job-name=train\n"
        "#SBATCH -t 1-02:03\n"
        "#SBATCH --mem 2G\n"
        "#SBATCH -c4 -p gpu\n"
        "#SBATCH -A proj_1\n"
        "#SBATCH --gres=gpu:1\n"
        "#SBATCH --exclusive\n"
        "#SBATCH -N 1\n"
        "#SBATCH -o out-%j.txt -e err-%j.txt\n"
        "python train.py\n",
    )
    job = Job.from_sbatch(script)
    assert job.name == "train"
    assert job.command == ("bash", str(script.resolve()))
    assert job.cwd == str(tmp_path.resolve())
    res = job.resources
    assert res.time_limit == 86400 + 2 * 3600 + 3 * 60
    assert res.memory == 2048 * M and res.cpus == 4
    assert res.extra == {
        "partition": "gpu",
        "account": "proj_1",
        "sbatch_lines": ["--gres=gpu:1", "--exclusive", "-N 1"],
    }


def test_from_sbatch_defaults_and_overrides(tmp_path: Path) -> None:
    sub = tmp_path / "run"
    sub.mkdir()
    script = write(tmp_path / "my script!.sh", "#!/bin/sh\n#SBATCH --chdir=run\ntrue\n")
    job = Job.from_sbatch(script, max_attempts=3)
    assert job.name == "my-script"
    assert job.cwd == str(sub.resolve())
    assert job.resources.time_limit is None and job.resources.memory is None
    assert job.max_attempts == 3
    assert Job.from_sbatch(script, name="other").name == "other"


def test_from_sbatch_errors(tmp_path: Path) -> None:
    with pytest.raises(SbatchError, match="cannot read"):
        Job.from_sbatch(tmp_path / "missing.sh")
    with pytest.raises(SbatchError, match="SLURM time"):
        Job.from_sbatch(write(tmp_path / "a.sh", "#SBATCH --time=soon\n"))
    with pytest.raises(SbatchError, match="needs a value"):
        Job.from_sbatch(write(tmp_path / "b.sh", "#SBATCH --mem\n"))


def test_render_then_parse_round_trip(tmp_path: Path) -> None:
    script = write(
        tmp_path / "orig.sh",
        "#!/bin/bash\n#SBATCH -J rt\n#SBATCH --time=90\n#SBATCH --mem=3G\n#SBATCH -c 2\n"
        "#SBATCH --partition=debug --account=acct\n#SBATCH --gres=gpu:2 --nodes 1\necho\n",
    )
    job = Job.from_sbatch(script)
    log = tmp_path / "logs 1" / "attempt-1.log"
    text = render_sbatch(job, log_path=log, cwd=tmp_path)
    rendered = write(tmp_path / "attempt-1.sbatch", text)
    again = Job.from_sbatch(rendered)
    assert (again.name, again.cwd, again.resources) == (job.name, job.cwd, job.resources)
    assert f'#SBATCH --output="{log}"' in text  # quoted: the path has a space
    assert text.rstrip().endswith(f"exec bash {script.resolve()}")


def test_render_details(tmp_path: Path) -> None:
    job = Job(
        "r",
        "echo $A | tr a b",
        env={"A": "it's"},
        resources={"time_limit": 30, "extra": {"sbatch_lines": "#SBATCH --qos=long"}},
    )
    text = render_sbatch(
        job,
        log_path=tmp_path / "a%b.log",
        cwd=tmp_path,
        default_memory=100 * M,
        defaults={"partition": "debug"},
    )
    lines = text.splitlines()
    assert lines[0] == "#!/bin/bash"
    assert "#SBATCH --time=00:01:00" in lines  # at least SLURM's one minute
    assert "#SBATCH --mem=100M" in lines  # always explicit, or a job takes the whole node
    assert "#SBATCH --partition=debug" in lines and "#SBATCH --qos=long" in lines
    assert f"#SBATCH --output={tmp_path}/a%%b.log" in lines  # % is SLURM's pattern character
    assert "export A='it'\"'\"'s'" in lines
    assert lines[-1] == "echo $A | tr a b"
    with pytest.raises(SbatchError, match="environment variable"):
        render_sbatch(Job("e", ["true"], env={"A-B": "1"}), log_path=tmp_path, cwd=tmp_path)


# -- SLURM output -> AttemptReport -----------------------------------------------------------------

SQUEUE = (
    "11|PENDING|Resources|N/A|N/A|0|1:00|\n"
    "12|RUNNING|None|2026-11-21T19:24:02|2026-11-21T19:34:02|0|10:00|\n"
    "13|FAILED|NonZeroExitCode|2026-11-21T19:24:02|2026-11-21T19:24:03|256|10:00|\n"
    "14|CANCELLED|None|2026-11-21T19:24:02|2026-11-21T19:24:09|15|10:00|\n"
    "15|TIMEOUT|TimeLimit|2026-11-21T19:24:02|2026-11-21T19:25:30|0|1:00|\n"
    "16|COMPLETING|None|2026-11-21T19:24:02|2026-11-21T19:24:03|0|10:00|\n"
    "17|PENDING|Priority|N/A|N/A|0|1:00|\n"
    "broken line\n"
)


def test_parse_squeue_and_map_states() -> None:
    rows = parse_squeue(SQUEUE)
    assert sorted(rows) == [str(i) for i in range(11, 18)]
    status = {job_id: status_from_record(row) for job_id, row in rows.items()}
    assert (
        status["11"].state is JobState.PENDING and status["11"].reason == "SLURM PENDING: Resources"
    )
    assert status["17"].reason == "SLURM PENDING: Priority"
    assert status["12"].state is JobState.RUNNING and status["12"].started_at is not None
    assert status["12"].ended_at is None  # a running job's EndTime is only a forecast
    failed = status["13"]
    assert (failed.state, failed.exit_code, failed.signal) == (JobState.FAILED, 1, None)
    assert failed.reason is not None and "NonZeroExitCode" in failed.reason
    assert failed.ended_at is not None and failed.started_at is not None
    cancelled = status["14"]
    assert (cancelled.state, cancelled.exit_code, cancelled.signal) == (
        JobState.CANCELLED,
        None,
        15,
    )
    assert status["15"].state is JobState.TIMEOUT
    assert "time limit of 1:00" in (status["15"].reason or "")
    assert status["16"].state is JobState.RUNNING


@pytest.mark.parametrize(
    ("slurm", "ours"),
    [
        ("COMPLETED", JobState.COMPLETED),
        ("OUT_OF_MEMORY", JobState.OUT_OF_MEMORY),
        ("NODE_FAIL", JobState.NODE_FAIL),
        ("BOOT_FAIL", JobState.NODE_FAIL),
        ("PREEMPTED", JobState.PREEMPTED),
        ("DEADLINE", JobState.TIMEOUT),
        ("SUSPENDED", JobState.RUNNING),
        ("REQUEUED", JobState.PENDING),
        ("CANCELLED by 0", JobState.CANCELLED),  # as sacct prints it
        ("SOMETHING_NEW", JobState.UNKNOWN),
    ],
)
def test_state_mapping(slurm: str, ours: JobState) -> None:
    assert status_from_record({"JobState": slurm, "ExitCode": "0:0"}).state is ours


def test_scontrol_record_and_oom_from_log(tmp_path: Path) -> None:
    line = (
        "JobId=2 JobName=hog UserId=root(0) JobState=FAILED Reason=JobLaunchFailure"
        " Dependency=(null) ExitCode=0:9 RunTime=00:00:01 TimeLimit=00:10:00"
        " StartTime=2026-11-21T19:24:16 EndTime=2026-11-21T19:24:17 Command=/a b/run.sh"
    )
    record = parse_key_values(line)
    assert record["JobState"] == "FAILED" and record["ExitCode"] == "0:9"
    assert status_from_record(record).state is JobState.FAILED
    log = write(
        tmp_path / "hog.log",
        "slurmstepd-vm: error: StepId=2.batch exceeded memory limit (333926400 > 104857600),"
        " being killed\nslurmstepd-vm: error: Exceeded job memory limit\n",
    )
    status = status_from_record(record, str(log))
    assert (status.state, status.signal) == (JobState.OUT_OF_MEMORY, 9)
    # The job's own output saying so is not SLURM's verdict.
    other = write(tmp_path / "other.log", "print: exceeded memory limit in my test\n")
    assert status_from_record(record, str(other)).state is JobState.FAILED


def test_jobcomp_and_sacct() -> None:
    lines = [
        "JobId=7 UserId=root(0) Name=old JobState=COMPLETED ExitCode=0:0\n",
        "JobId=7 UserId=root(0) Name=mine JobState=FAILED ExitCode=2:0"
        " StartTime=2026-11-21T19:24:02 EndTime=2026-11-21T19:24:05\n",
        "JobId=8 UserId=root(0) Name=mine JobState=COMPLETED ExitCode=0:0\n",
    ]
    found = parse_jobcomp(lines, {"7": "mine"})
    assert list(found) == ["7"]
    status = status_from_record(found["7"])
    assert (status.state, status.exit_code) == (JobState.FAILED, 2)
    sacct = "7|CANCELLED by 0|0:15|2026-11-21T19:24:02|2026-11-21T19:24:09|00:10:00|x\n8|x\n"
    records = parse_sacct(sacct, ["7"])
    assert status_from_record(records["7"]).state is JobState.CANCELLED


def test_controller_down_messages() -> None:
    assert controller_down("slurm_load_jobs error: Unable to contact slurm controller (connect")
    assert controller_down("Socket timed out on send/recv operation")
    assert not controller_down("sbatch: error: invalid partition specified: nope")


@pytest.mark.parametrize(
    ("header", "old", "new"),
    [
        (["#SBATCH --time=10"], "#SBATCH --time=10", "#SBATCH --time=00:20:00"),
        (["#SBATCH --time 10:00"], "#SBATCH --time 10:00", "#SBATCH --time=00:20:00"),
        (
            ["#SBATCH -t 10 -c 2  # short form"],
            "#SBATCH -t 10 -c 2  # short form",
            "#SBATCH --time=00:20:00 --cpus-per-task=2  # short form",
        ),
        (
            ["#SBATCH -J run", "#SBATCH --mem=1G"],
            "#SBATCH --mem=1G",
            "#SBATCH --mem=1G\n#SBATCH --time=00:20:00",
        ),
    ],
)
def test_header_edit_sets_the_option_where_sbatch_reads_it(
    tmp_path: Path, header: list[str], old: str, new: str
) -> None:
    assert header_edit(header, "time", "00:20:00") == (old, new)
    script = tmp_path / "run.sh"
    text = "#!/bin/bash\n" + "\n".join(header) + "\nsleep 1\n"
    script.write_text(text.replace(old, new))
    assert job_from_sbatch(script).resources.time_limit == 1200


def test_header_edit_without_a_header_or_with_a_broken_line() -> None:
    assert header_edit([], "time", "00:20:00") is None
    assert header_edit(['#SBATCH --time="10'], "time", "00:20:00") is None


def test_batch_script_of(tmp_path: Path) -> None:
    script = tmp_path / "train.sh"
    script.write_text("#!/bin/bash\n\n# comment\n#SBATCH --time=5\npython train.py\n#SBATCH -c 9\n")
    assert sbatch_header_raw(script.read_text()) == ["#SBATCH --time=5"]
    assert batch_script_of(Job.from_sbatch(script), tmp_path) == script
    assert batch_script_of(Job("a", ["bash", "train.sh"], cwd=str(tmp_path)), tmp_path) == script
    assert batch_script_of(Job("b", "sh train.sh --fast"), tmp_path) == script
    assert batch_script_of(Job("c", ["python", "train.sh"]), tmp_path) is None
    assert batch_script_of(Job("d", ["bash", "-c", "train.sh"]), tmp_path) is None
    assert batch_script_of(Job("e", ["bash", "missing.sh"]), tmp_path) is None
    (tmp_path / "plain.sh").write_text("#!/bin/bash\necho hi\n")
    assert batch_script_of(Job("f", ["bash", "plain.sh"]), tmp_path) is None


def test_header_edit_leaves_alone_what_it_cannot_change_safely() -> None:
    # sbatch refuses --mem next to --mem-per-cpu: the script asks for memory another way.
    assert header_edit(["#SBATCH --mem-per-cpu=2G"], "mem", "4G") is None
    # A '#' inside a quoted value: where a comment starts is unclear.
    assert header_edit(['#SBATCH --comment="a #b" -t 10'], "time", "00:20:00") is None
    assert header_edit(['#SBATCH --comment="a#b" -t 10'], "time", "00:20:00") is None
    # Set twice: sbatch takes the last one, so that is the one changed.
    assert header_edit(["#SBATCH -t 5", "#SBATCH -t 10"], "time", "00:20:00") == (
        "#SBATCH -t 10",
        "#SBATCH --time=00:20:00",
    )


def test_headers_are_read_as_sbatch_reads_them(tmp_path: Path) -> None:
    # An indented '#SBATCH' is a comment to sbatch; flags cluster as getopt reads them.
    text = "#!/bin/bash\n  #SBATCH --time=5\n#SBATCH -Hc4 -kJx\ntrue\n"
    assert sbatch_header_lines(text) == ["-Hc4 -kJx"]
    assert parse_sbatch_options(sbatch_header_lines(text)) == [
        ("H", None),
        ("cpus-per-task", "4"),
        ("k", None),
        ("job-name", "x"),
    ]
    # sbatch reads a backslash inside single quotes as an escape: this line sets --time for it.
    smuggled = write(tmp_path / "s.sh", "#SBATCH --comment='a\\'b' --time=99:00:00 #'\ntrue\n")
    with pytest.raises(SbatchError, match="sbatch would read it"):
        Job.from_sbatch(smuggled)
    with pytest.raises(SbatchError, match="--output"):
        Job.from_sbatch(write(tmp_path / "o.sh", "#SBATCH --out=x.log --exclusive\ntrue\n"))


def test_verbatim_options_are_quoted_for_sbatch(tmp_path: Path) -> None:
    script = write(
        tmp_path / "q.sh", "#SBATCH --comment='two words' --mail-user=x@y --comment=\"it's\"\nok\n"
    )
    job = Job.from_sbatch(script)
    lines = ['--comment="two words"', "--mail-user=x@y", '--comment="it\'s"']
    assert job.resources.extra["sbatch_lines"] == lines
    text = render_sbatch(job, log_path=tmp_path / "a.log", cwd=tmp_path)
    assert all(f"#SBATCH {line}" in text.splitlines() for line in lines)
    again = Job.from_sbatch(write(tmp_path / "again.sbatch", text))
    assert again.resources.extra == job.resources.extra


def test_header_edit_refuses_a_value_that_is_not_one_setting() -> None:
    for key, value in [("time", "1\n#SBATCH --output=/x"), ("time", "1 --output=/x")]:
        with pytest.raises(SbatchError):
            header_edit(["#SBATCH -t 5"], key, value)
    with pytest.raises(SbatchError, match="option name"):
        header_edit(["#SBATCH -t 5"], "time\n", "10")


def test_squeue_is_given_ids_in_runs_that_linux_accepts(tmp_path: Path) -> None:
    """One ``--jobs=`` argument naming 100,000 jobs is refused by Linux before squeue runs
    (``Argument list too long``, over 128 KiB); the runs the SLURM scheduler asks about are
    each accepted, and together they are every id, in order."""
    from adaptive_llm.jobs.schedulers.slurm_parse import id_chunks

    ids = [str(40_000_000 + i) for i in range(100_000)]
    with pytest.raises(OSError, match="too long"):
        subprocess.run(["/bin/true", f"--jobs={','.join(ids)}"], check=True)
    runs = id_chunks(ids)
    assert [i for run in runs for i in run] == ids and len(runs) > 1
    for run in runs[:3] + runs[-1:]:
        subprocess.run(["/bin/true", f"--jobs={','.join(run)}"], check=True)
    assert id_chunks([]) == [] and id_chunks(["1", "2", "3"], 2) == [["1", "2"], ["3"]]
