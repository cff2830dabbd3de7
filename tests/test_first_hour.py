"""A newcomer's first hour (#15): the demo as a new user runs it, and every command it prints
run exactly as printed, from where the user stands. Real jobs, a real store, the real
``adaptive-llm`` script of this environment."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from adaptive_llm.cli import main
from adaptive_llm.cli.demo import excerpt_lines, excerpt_window
from adaptive_llm.diagnosis import diagnose
from adaptive_llm.store import Store

SCRIPT = Path(sys.executable).parent / "adaptive-llm"
VENV_BIN = str(Path(sys.executable).parent)
#: Where the demo prints its next commands: label -> command.
PRINTED = ("  fix the time limit:", "  jobs and diagnoses:", "  diagnose any log:")


def shell_env(*, on_path: bool = False, **extra: str) -> dict[str, str]:
    """A new user's shell: this venv not activated (its bin not on PATH) unless ``on_path``,
    not run by make unless ``extra`` says so."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    env.pop("VIRTUAL_ENV", None)
    parts = [p for p in env.get("PATH", "").split(os.pathsep) if p and p != VENV_BIN]
    env["PATH"] = os.pathsep.join(([VENV_BIN] if on_path else []) + parts)
    env.update(extra)
    return env


def sh(command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, shell=True, cwd=cwd, env=env, capture_output=True, text=True, timeout=240
    )


def printed_commands(stdout: str) -> dict[str, str]:
    return {
        line.split(":", 1)[0].strip(): line.split(":", 1)[1].strip()
        for line in stdout.splitlines()
        if line.startswith(PRINTED)
    }


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """``.venv/bin/adaptive-llm demo --headless`` as `make demo DEMO_ARGS=--headless` runs it,
    in a fresh directory: (that directory, the demo's stdout)."""
    assert SCRIPT.is_file(), f"no adaptive-llm script beside {sys.executable}"
    home = tmp_path_factory.mktemp("newcomer")
    ran = sh(f"{shlex.quote(str(SCRIPT))} demo --headless", home, shell_env())
    assert ran.returncode == 0, ran.stdout + ran.stderr
    return home, ran.stdout


def test_printed_commands_work_where_the_user_stands(first_run: tuple[Path, str]) -> None:
    home, stdout = first_run
    commands = printed_commands(stdout)
    assert set(commands) == {"jobs and diagnoses", "diagnose any log", "fix the time limit"}
    env = shell_env()
    assert sh("command -v adaptive-llm", home, env).returncode != 0  # not on PATH here
    for label in ("jobs and diagnoses", "diagnose any log"):
        ran = sh(commands[label], home, env)
        assert ran.returncode == 0, (commands[label], ran.stderr)
        assert "not found" not in ran.stderr
    status = sh(commands["jobs and diagnoses"], home, env).stdout
    assert "train" in status and "FAILED" in status
    # The way to the bare name, said once: it works as printed.
    hint = re.search(
        r"^  \(or run `(\. \S+)` once in your shell; then `adaptive-llm \.\.\.`", stdout, re.M
    )
    assert hint is not None, stdout
    typed = commands["jobs and diagnoses"].replace(
        commands["jobs and diagnoses"].split()[0], "adaptive-llm", 1
    )
    ran = sh(f"{hint.group(1)} && {typed}", home, env)
    assert ran.returncode == 0 and "train" in ran.stdout, ran.stderr


def test_printed_paths_can_be_pasted(first_run: tuple[Path, str]) -> None:
    """Every log and location path the table and the failure blocks print names a file
    from the user's directory; a log pasted into `diagnose` is diagnosed."""
    home, stdout = first_run
    status = sh(printed_commands(stdout)["jobs and diagnoses"], home, shell_env()).stdout
    for text in (stdout, status):
        logs = re.findall(r"(\S+/attempt-\d+\.log)", text)
        wheres = re.findall(r"(\S+\.py):\d+", text.split("\n\n")[1])  # the table's WHERE
        assert len(logs) >= 4 and wheres, text
        for path in logs + wheres:
            assert (home / path).is_file(), path
    opened = re.findall(r"^  (?:open|log): +(\S+?)(?::\d+)?$", stdout, re.M)
    assert len(opened) >= 5
    for path in opened:
        assert (home / path).is_file(), path
    train_log = re.search(r"^  log: +(\S+train/attempt-1\.log)$", stdout, re.M)
    assert train_log is not None
    cli = printed_commands(stdout)["jobs and diagnoses"].split(" status")[0]
    ran = sh(f"{cli} diagnose {train_log.group(1)}", home, shell_env())
    assert ran.returncode == 0 and "KeyError: 'lr'" in ran.stdout, ran.stderr


def test_status_where_there_is_no_store_names_the_workdir_beside(
    first_run: tuple[Path, str],
) -> None:
    """`adaptive-llm status` right after `make demo`, without --workdir: it says which."""
    home, _ = first_run
    cli = shlex.quote(str(SCRIPT))
    ran = sh(f"{cli} status", home, shell_env())
    assert ran.returncode == 2
    hint = re.search(r"e\.g\. (--workdir \S+)$", ran.stderr.strip())
    assert hint is not None and hint.group(1) == "--workdir adaptive-llm-demo", ran.stderr
    assert sh(f"{cli} status {hint.group(1)}", home, shell_env()).returncode == 0


def test_a_pip_install_next_step_names_the_jobs_python(first_run: tuple[Path, str]) -> None:
    home, stdout = first_run
    if "x features:" not in stdout:
        pytest.skip("scikit-learn is installed here: the features job succeeded")
    step = re.search(r"^  next step: (\S+ -m pip install scikit-learn)   \(the job's Python\)$",
                     stdout, re.M)  # fmt: skip
    assert step is not None, stdout
    python = shlex.split(step.group(1))[0]
    assert Path(home, python).resolve() == Path(sys.executable).resolve()
    assert sh(f"{shlex.quote(python)} -m pip --version", home, shell_env()).returncode == 0


def test_under_make_minus_C_the_printed_commands_work_from_anywhere(tmp_path: Path) -> None:
    """`make -C repo demo` runs the demo in the repository while the user's shell is
    elsewhere (make says so with `w` in MAKEFLAGS): every path printed is absolute."""
    repo, elsewhere = tmp_path / "repo", tmp_path / "elsewhere"
    repo.mkdir()
    elsewhere.mkdir()
    env = shell_env(MAKELEVEL="1", MAKEFLAGS="w")
    ran = sh(f"{shlex.quote(str(SCRIPT))} demo --headless", repo, env)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    commands = printed_commands(ran.stdout)
    assert commands["fix the time limit"].endswith(f"--workdir {repo / 'adaptive-llm-demo'}")
    assert commands["jobs and diagnoses"].startswith(str(SCRIPT))
    for label in ("jobs and diagnoses", "diagnose any log"):
        done = sh(commands[label], elsewhere, shell_env())
        assert done.returncode == 0, (commands[label], done.stderr)
    table = ran.stdout.split("\n\n")[1]
    assert f"{repo}/adaptive-llm-demo/.adaptive_llm/logs/train/attempt-1.log" in table


def test_an_activated_venv_gets_the_bare_name(tmp_path: Path) -> None:
    code = "from adaptive_llm.cli.demo import command_name; print(command_name())"
    env = shell_env(on_path=True)
    ran = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert ran.stdout.strip() == "adaptive-llm", ran.stderr
    ran = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=shell_env(), capture_output=True, text=True
    )
    assert ran.stdout.strip() == str(SCRIPT)  # outside the repository: the absolute path


def test_the_end_of_the_demo_says_what_was_expected(first_run: tuple[Path, str]) -> None:
    _, stdout = first_run
    assert "Every job behaved as expected" not in stdout
    line = re.search(r"^All 4 jobs ended as the demo intends: (\d) succeeded.*$", stdout, re.M)
    assert line is not None, stdout
    succeeded = int(line.group(1))
    assert f"{4 - succeeded} failed as planned." in line.group(0)
    # The failure blocks come in the table's order (by name).
    table = stdout.split("\n\n")[1].splitlines()[1:]
    failed = [row.split()[0] for row in table if "COMPLETED" not in row]
    blocks = re.findall(r"^x (\S+):", stdout, re.M)
    assert blocks == failed == sorted(failed)


def test_the_demos_excerpt_keeps_the_traceback_start_and_the_users_frames(
    first_run: tuple[Path, str],
) -> None:
    home, stdout = first_run
    block = stdout.split("x train:")[1].split("\n\n")[0]
    log = (home / "adaptive-llm-demo/.adaptive_llm/logs/train/attempt-1.log").read_text()
    log_lines = log.splitlines()
    header = re.search(r"^  excerpt: +lines (\S+(?:, \S+)*) of the log", block, re.M)
    assert header is not None, block
    shown = re.findall(r"^ +(\d+) \| (.*)$", block[header.end() :], re.M)
    numbers = [int(n) for n, _ in shown]
    expect: list[int] = []
    for span in header.group(1).split(", "):
        lo, _, hi = span.partition("-")
        expect += range(int(lo), int(hi or lo) + 1)
    assert numbers == expect  # the header says what is shown
    for number, text in shown:
        assert log_lines[int(number) - 1].startswith(text)  # each line is the log's line
    texts = [text for _, text in shown]
    assert "Traceback (most recent call last):" in texts
    assert any('train.py", line 7, in main' in t for t in texts)
    assert any('data_utils.py", line 7, in _check_entry' in t for t in texts)
    assert texts[-1] == "KeyError: 'lr'"
    if len(numbers) < len(log_lines):
        assert re.search(r"^ +\| \[\.\.\. lines \d+-\d+ left out \.\.\.\]$", block, re.M)


def test_excerpt_window_of_a_deep_traceback(tmp_path: Path) -> None:
    """A real program: 60 lines of output collapsed by the engine, then a traceback 20 frames
    deep through the user's code and the standard library."""
    (tmp_path / "deep.py").write_text(
        textwrap.dedent(
            """\
            import json

            for i in range(60):
                print(f"epoch {i} loss {1 / (i + 1):.4f}")

            def hook(obj):
                return obj["missing"]

            def descend(n):
                if n == 0:
                    return json.loads('{"a": 1}', object_hook=hook)
                return descend(n - 1)

            descend(12)
            """
        )
    )
    log = tmp_path / "job.log"
    with log.open("w") as out:
        subprocess.run(
            [sys.executable, "deep.py"], cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT
        )
    diag = diagnose(log, workdir=tmp_path)
    lines = log.read_text().splitlines()
    numbered = excerpt_lines(diag.excerpt)
    assert any(n is None for n, _ in numbered)  # the engine collapsed the epochs
    for n, text in numbered:
        if n is not None:
            assert lines[n - 1].startswith(text)
    window = excerpt_window(diag, tmp_path, max_lines=16)
    texts = [text for _, text in window]
    shown = [n for n, _ in window if n is not None]
    assert len(shown) <= 16 < len([n for n, _ in numbered if n is not None])
    assert "Traceback (most recent call last):" in texts
    assert any('deep.py", line 14, in <module>' in t for t in texts)
    assert any('deep.py", line 7, in hook' in t for t in texts)
    assert texts[-1] == "KeyError: 'missing'"
    assert any(re.fullmatch(r"\[\.\.\. lines \d+-\d+ left out \.\.\.\]", t) for t in texts)


def diagnose_json(*args: str, cwd: Path) -> dict[str, Any]:
    ran = subprocess.run(
        [sys.executable, "-m", "adaptive_llm.cli", "diagnose", "--json", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 0, ran.stderr
    data: dict[str, Any] = json.loads(ran.stdout.splitlines()[0])
    return data


def test_diagnose_a_workdir_log_as_the_run_manager_did(first_run: tuple[Path, str]) -> None:
    home, _ = first_run
    workdir = home / "adaptive-llm-demo"
    store = Store(workdir / ".adaptive_llm/store.sqlite", readonly=True)
    try:
        stored = store.diagnoses.offline()
    finally:
        store.close()
    for job in ("simulate", "train", "features"):
        log = f"adaptive-llm-demo/.adaptive_llm/logs/{job}/attempt-1.log"
        data = diagnose_json(log, cwd=home)
        for key in ("category", "summary", "signature", "suggestion", "location"):
            assert data[key] == stored[(job, 1)][key], (job, key)
        assert data["recorded"]["job"] == job and data["recorded"]["attempt"] == 1
    simulate = diagnose_json(f"{workdir}/.adaptive_llm/logs/simulate/attempt-1.log", cwd=home)
    assert simulate["category"] == "time_limit"
    assert "time limit of 2s" in simulate["suggestion"] and "4s" in simulate["suggestion"]
    # --state TIMEOUT keeps the recorded limit.
    log = f"{workdir}/.adaptive_llm/logs/simulate/attempt-1.log"
    forced = diagnose_json(log, "--state", "TIMEOUT", cwd=home)
    assert "time limit of 2s" in forced["suggestion"]


def test_diagnose_with_a_time_limit_outside_a_workdir(
    first_run: tuple[Path, str], tmp_path: Path
) -> None:
    home, _ = first_run
    copy = tmp_path / "simulate.log"
    copy.write_bytes(
        (home / "adaptive-llm-demo/.adaptive_llm/logs/simulate/attempt-1.log").read_bytes()
    )
    bare = diagnose_json(str(copy), cwd=tmp_path)
    assert bare["category"] == "unknown" and "recorded" not in bare  # nothing says it timed out
    told = diagnose_json(str(copy), "--state", "TIMEOUT", "--time-limit", "02:00", cwd=tmp_path)
    assert told["category"] == "time_limit"
    assert "time limit of 2m" in told["suggestion"] and "4m" in told["suggestion"]
    with pytest.raises(SystemExit) as refused:
        main(["diagnose", str(copy), "--time-limit", "soon"])
    assert refused.value.code == 2


def test_diagnose_of_a_workdir_log_stays_light(first_run: tuple[Path, str]) -> None:
    home, _ = first_run
    log = home / "adaptive-llm-demo/.adaptive_llm/logs/simulate/attempt-1.log"
    code = (
        "import sys\nfrom adaptive_llm.cli import main\n"
        f"assert main(['diagnose', {str(log)!r}, '--json']) == 0\n"
        "heavy = ('langchain', 'langchain_core', 'langgraph', 'ipywidgets', 'aiosqlite')\n"
        "print('HEAVY', sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert '"time_limit"' in ran.stdout and "HEAVY []" in ran.stdout


@pytest.mark.parametrize("command", ["", "demo", "status", "chat", "diagnose", "compare"])
def test_help_ends_with_a_newline(command: str) -> None:
    ran = subprocess.run(
        [str(SCRIPT), *command.split(), "--help"], capture_output=True, text=True, timeout=60
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.endswith("\n") and not ran.stdout.endswith("\n\n\n")
    if not command:
        assert "adaptive-llm demo --headless" in ran.stdout


def test_the_printed_fix_runs_as_printed(first_run: tuple[Path, str]) -> None:
    """Last (it reruns the demo in the same workspace): the fix command, pasted."""
    home, stdout = first_run
    fix = printed_commands(stdout)["fix the time limit"]
    ran = sh(fix, home, shell_env())
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "simulate: attempt 2 COMPLETED" in ran.stdout
    said = [line for line in ran.stdout.splitlines() if line.startswith("assistant: ")]
    assert said and not any("**" in line for line in said)  # no raw Markdown in a terminal
    assert "assistant: simulate ended TIMEOUT" in ran.stdout
    assert "then simulate, fixed in the chat (a larger time limit), completed on attempt 2" in (
        ran.stdout
    )
    for label, command in printed_commands(ran.stdout).items():
        assert sh(command, home, shell_env()).returncode == 0, (label, command)
    # Attempt 1 ran under 2 s; the job now has 4 s: its diagnosis keeps the limit it had.
    data = diagnose_json("adaptive-llm-demo/.adaptive_llm/logs/simulate/attempt-1.log", cwd=home)
    assert "time limit of 2s" in data["suggestion"]


def test_the_slurm_demo_refuses_at_once_when_slurm_does_not_answer(tmp_path: Path) -> None:
    """SLURM installed but its controller down: a clear refusal, not 400 s of PENDING jobs."""
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        pytest.skip("no SLURM commands here (the no-sbatch refusal is the other case)")
    if subprocess.run(["sinfo", "-h"], capture_output=True, timeout=60).returncode == 0:
        pytest.skip("SLURM answers here: the demo runs on it (tests/test_slurm.py)")
    ran = sh(f"{SCRIPT} demo --headless --scheduler slurm --workdir demo", tmp_path, shell_env())
    assert ran.returncode == 2
    assert "SLURM does not answer here (sinfo: " in ran.stderr and "make slurm-up" in ran.stderr
    assert not (tmp_path / "demo").exists()
