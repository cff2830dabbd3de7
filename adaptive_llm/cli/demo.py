"""``adaptive-llm demo``: a small workspace of real scripts that succeed and fail for real.

One job succeeds; the others fail in the ways users meet most: an exception raised in user
code called back through the standard library, a missing module, and a time limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..diagnosis import Diagnosis, Excerpt
from ..errors import AdaptiveLLMError
from ..jobs.model import Job, JobState, Resources
from ..jobs.schedulers.base import Scheduler
from ..jobs.schedulers.local import LocalScheduler
from ..managers.run_manager import RunManager
from ..store.layout import STATE_DIR
from .table import user_path

MARKER = ".adaptive-llm-demo"
#: ``adaptive-llm demo``'s ``--workdir`` when none is given (relative to the current directory).
DEFAULT_WORKDIR = "adaptive-llm-demo"

SCRIPTS: dict[str, str] = {
    "prepare_data.py": """\
        \"\"\"Writes a small CSV data set; always succeeds.\"\"\"
        import csv
        import random

        random.seed(0)
        with open("train.csv", "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["x", "y"])
            for _ in range(100):
                x = random.random()
                writer.writerow([x, 2 * x + random.gauss(0, 0.1)])
        print("wrote 100 rows to train.csv")
        """,
    "config.json": """\
        {
          "optimizer": {"name": "sgd", "lr": 0.1},
          "scheduler": {"name": "cosine", "warmup": 5},
          "epochs": 3
        }
        """,
    "data_utils.py": """\
        \"\"\"Config loading; json calls _check_entry back for every object it decodes.\"\"\"
        import json


        def _check_entry(entry):
            if "name" in entry:
                entry["learning_rate"] = float(entry["lr"])
            return entry


        def load_config(path):
            with open(path) as fh:
                return json.load(fh, object_hook=_check_entry)
        """,
    "train.py": """\
        \"\"\"Trains a tiny model; fails while loading its config.\"\"\"
        from data_utils import load_config


        def main():
            print("loading config.json")
            config = load_config("config.json")
            print("training for", config["epochs"], "epochs")


        if __name__ == "__main__":
            main()
        """,
    "features.py": """\
        \"\"\"Scales features; needs scikit-learn, which is not installed.\"\"\"
        print("computing features")
        from sklearn.preprocessing import StandardScaler

        print(StandardScaler())
        """,
    "simulate.py": """\
        \"\"\"A simulation that needs a bit more time than its limit gives it.\"\"\"
        import os
        import time

        steps = int(os.environ.get("SIM_STEPS", "12"))
        pause = float(os.environ.get("SIM_STEP_SECONDS", "0.25"))
        for step in range(1, steps + 1):
            time.sleep(pause)
            print(f"step {step}/{steps}", flush=True)
        print("simulation done")
        """,
}


@dataclass(frozen=True)
class Expected:
    state: JobState
    category: str | None


def demo_jobs(python: str = sys.executable, *, slurm: bool = False) -> list[Job]:
    """The demo's jobs. On SLURM (shortest time limit: one minute) the simulation needs 100 s
    under a 1-minute limit, so that doubling the limit is exactly the fix."""
    env = {"PYTHONNOUSERSITE": "1", "PYTHONUNBUFFERED": "1"}
    sim_env = {**env, "SIM_STEPS": "20", "SIM_STEP_SECONDS": "5"} if slurm else env
    limit = 60.0 if slurm else 2.0
    return [
        Job("prepare_data", [python, "prepare_data.py"], env=env),
        Job("train", [python, "train.py"], env=env),
        Job("features", [python, "features.py"], env=env),
        Job(
            "simulate", [python, "simulate.py"], env=sim_env, resources=Resources(time_limit=limit)
        ),
    ]


EXPECTED = {
    "prepare_data": Expected(JobState.COMPLETED, None),
    "train": Expected(JobState.FAILED, "python_exception"),
    "features": Expected(JobState.FAILED, "missing_module"),
    "simulate": Expected(JobState.TIMEOUT, "time_limit"),
}


def create_workspace(workdir: Path) -> None:
    """Write the demo scripts into ``workdir``, replacing an earlier demo run there."""
    if workdir.exists() and any(workdir.iterdir()) and not (workdir / MARKER).exists():
        raise SystemExit(
            f"adaptive-llm demo: {workdir} exists and is not a demo workspace; "
            "pass --workdir with a new or empty directory"
        )
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(workdir / STATE_DIR, ignore_errors=True)
    (workdir / MARKER).write_text("created by adaptive-llm demo\n")
    for name, text in SCRIPTS.items():
        (workdir / name).write_text(textwrap.dedent(text))


def run_demo(
    *,
    workdir: Path,
    headless: bool = True,
    scheduler: str = "local",
    approve_all: bool = False,
    model: str | None = None,
    base_url: str | None = None,
) -> int:
    if scheduler == "slurm" and shutil.which("sbatch") is None:
        print(
            "adaptive-llm demo: SLURM is not available here (no sbatch); start a local one"
            " with `make slurm-up` (as root), or use --scheduler local",
            file=sys.stderr,
        )
        return 2
    if scheduler == "slurm" and (problem := slurm_problem()) is not None:
        print(
            f"adaptive-llm demo: SLURM does not answer here ({problem}); start a local one"
            " with `make slurm-up` (as root), or use --scheduler local",
            file=sys.stderr,
        )
        return 2
    workdir = workdir.expanduser().resolve()
    create_workspace(workdir)
    note = (
        " (a few minutes: SLURM's shortest time limit is one minute)"
        if scheduler == "slurm"
        else ""
    )
    model = model or os.environ.get("ADAPTIVE_LLM_MODEL") or "offline"
    llm: Any = {"model": model, "base_url": base_url} if base_url else model
    if base_url and not model.startswith("openai:"):
        print("adaptive-llm demo: --base-url needs --model openai:NAME", file=sys.stderr)
        return 2
    shown = "the offline assistant" if model == "offline" else f"model {model}"
    print(
        f"adaptive-llm demo: {len(EXPECTED)} jobs in {workdir} ({scheduler} scheduler,"
        f" {shown}){note}\n"
    )
    try:
        ok = asyncio.run(_run(workdir, approve_all=approve_all, scheduler=scheduler, llm=llm))
    except (AdaptiveLLMError, TimeoutError, OSError) as exc:
        print(f"\nadaptive-llm demo: {exc}", file=sys.stderr)
        return 1
    if not headless and ok:
        return open_quickstart()
    return 0 if ok else 1


def slurm_problem(timeout: float = 20.0) -> str | None:
    """Why SLURM cannot run the demo's jobs now (``sinfo`` fails: no controller), or None;
    asked once before the demo waits minutes for jobs that would stay PENDING."""
    try:
        done = subprocess.run(
            ["sinfo", "-h", "-o", "%P"], capture_output=True, text=True, timeout=timeout
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"sinfo: {exc}"
    if done.returncode != 0:
        return f"sinfo: {(done.stderr or done.stdout).strip() or f'exit code {done.returncode}'}"
    return None


def open_quickstart() -> int:
    """Replace this process with JupyterLab on the quickstart notebook (the UI tour)."""
    notebook = Path(__file__).resolve().parents[1] / "notebooks" / "quickstart.ipynb"
    jupyter = Path(sys.executable).with_name("jupyter")
    if not notebook.is_file() or not jupyter.is_file():
        print(
            "\nThe notebook tour is notebooks/quickstart.ipynb in the adaptive_llm repository;"
            " open it in JupyterLab (pip install 'adaptive-llm[jupyter]')."
        )
        return 0
    print(f"\nOpening {notebook.name} in JupyterLab (Ctrl-C stops the server) ...", flush=True)
    os.execv(str(jupyter), [str(jupyter), "lab", str(notebook)])
    return 0  # pragma: no cover - execv does not return


async def _run(
    workdir: Path, *, approve_all: bool = False, scheduler: str = "local", llm: Any = "offline"
) -> bool:
    from .table import format_table

    slurm = scheduler == "slurm"
    if slurm:
        from ..jobs.schedulers.slurm import SlurmScheduler

        chosen: Scheduler = SlurmScheduler()
    else:
        chosen = LocalScheduler(kill_grace=1.0)
    rm = RunManager(
        demo_jobs(slurm=slurm),
        workdir=workdir,
        scheduler=chosen,
        poll_interval=1.0 if slurm else 0.2,
        llm=llm,
    )
    with_model = rm.llm_manager.uses_model
    rm.start()
    try:
        await rm.wait(timeout=400 if slurm else 120)
        rows = rm.status()
        print(format_table(rows))
        problems: list[str] = []
        succeeded: list[str] = []
        for name in [row["name"] for row in rows if row["name"] in EXPECTED]:  # table order
            expected = EXPECTED[name]
            state = rm.job(name).state
            diagnosis = await rm.llm_manager.diagnosis(name)
            if diagnosis is not None:
                print()
                print(describe(name, state, diagnosis, workdir, python=sys.executable))
            category = diagnosis.category if diagnosis else None
            if state is JobState.COMPLETED:
                succeeded.append(name)
            if name == "features" and state is JobState.COMPLETED:
                continue  # scikit-learn happens to be installed here
            if state is not expected.state or category != expected.category:
                problems.append(
                    f"{name}: expected {expected.state.value}/{expected.category},"
                    f" got {state.value}/{category}"
                )
        if with_model:
            await _show_llm_diagnoses(rm)
        fixed = False
        if approve_all and not problems:
            found = await fix_in_chat(rm, "simulate", offline=not with_model)
            if with_model:  # a model may propose other fixes, or none: not the demo's failure
                for problem in found:
                    print(f"note: {problem}")
            else:
                problems += found
            fixed = not found
    finally:
        await rm.close()
    print()
    if problems:
        print("Unexpected outcomes:\n  " + "\n  ".join(problems))
        return False
    print(outcome_line(succeeded, fixed=fixed))
    cli = command_name()
    if not approve_all:
        again = "" if user_path(workdir) == DEFAULT_WORKDIR else f" --workdir {shell_arg(workdir)}"
        print(f"  fix the time limit:  {cli} demo --headless --approve-all{again}")
    print(f"  jobs and diagnoses:  {cli} status --workdir {shell_arg(workdir)}")
    log = workdir / ".adaptive_llm" / "logs" / "train" / "attempt-1.log"
    print(f"  diagnose any log:    {cli} diagnose {shell_arg(log)}")
    hint = activate_hint()
    if hint:
        print(hint)
    return True


def activate_hint() -> str | None:
    """How to type the bare ``adaptive-llm`` from now on, when it is not on PATH and this
    installation is a venv (after ``make demo``: ``. .venv/bin/activate``)."""
    script = _own_script()
    activate = script.with_name("activate") if script is not None else None
    if command_name() == "adaptive-llm" or activate is None or not activate.is_file():
        return None
    return (
        f"  (or run `. {shell_arg(activate)}` once in your shell; then `adaptive-llm ...`"
        " works as typed)"
    )


def outcome_line(succeeded: list[str], *, fixed: bool = False) -> str:
    """What the demo intended, said after its failure blocks: which jobs succeeded, which
    failed on purpose, and the fix made in the chat."""
    failed = len(EXPECTED) - len(succeeded)
    extra = " (features too: scikit-learn is installed here)" if "features" in succeeded else ""
    line = (
        f"All {len(EXPECTED)} jobs ended as the demo intends: {len(succeeded)} succeeded{extra},"
        f" {failed} failed as planned"
    )
    if fixed:
        line += "; then simulate, fixed in the chat (a larger time limit), completed on attempt 2"
    return line + "."


async def _show_llm_diagnoses(rm: RunManager, timeout: float = 180) -> None:
    """The model's diagnoses, as they arrive (bounded: the offline ones are already shown)."""
    print(f"\n--- LLM diagnoses (model {rm.llm_manager.chat_service().model_name}) ---")
    try:
        await rm.wait(timeout=timeout, llm=True)
    except TimeoutError:
        print(f"(not all arrived within {timeout:g} s; the offline diagnoses above stand)")
    for name in sorted(EXPECTED):  # the table's order
        text = rm.llm_manager.llm_diagnosis_text(name)
        if text:
            print(f"\n{name}:")
            for line in text.splitlines():
                print(f"    {_printable(line)}")


async def fix_in_chat(rm: RunManager, name: str, *, offline: bool = True) -> list[str]:
    """Open the chat on a failed job and approve every proposed fix, as a user typing
    ``approve`` would; then wait for the new attempt."""
    lm = rm.llm_manager
    who = "offline assistant" if offline else "model"
    print(f"\n--- chat on {name} ({who}; every change asks for approval) ---")
    reply = await lm.chat(name, "Why did this fail, and can you fix it?")
    print(f"assistant: {_plain(reply.text)}")
    rounds = 0
    while reply.approvals and rounds < 5:
        rounds += 1
        for approval in reply.approvals:
            head = f"change {approval.number} of {approval.of}" if approval.of > 1 else "approval"
            print(f"\n[{head}] {_printable(approval.summary)}")
            shown = (approval.diff or "").splitlines() + (approval.command or "").splitlines()
            for line in shown:  # a resubmission on Airflow: the clear's dry run, then the task
                print(f"    {_printable(line)}")
        print("you: approve")
        reply = await lm.chat(name, "approve", shown=[a.key for a in reply.approvals])
        print(f"assistant: {_plain(reply.text)}")
    if reply.error:
        return [f"{name}: the chat failed: {reply.error}"]
    await rm.wait(timeout=400)
    view = rm.job(name)
    print(f"\n{name}: attempt {view.attempt} {view.state.value}")
    if view.state is not JobState.COMPLETED or view.attempt != 2:
        return [
            f"{name}: expected COMPLETED on attempt 2, got {view.state.value}"
            f" on attempt {view.attempt}"
        ]
    return []


def command_name() -> str:
    """``adaptive-llm`` as the user can type it where they stand: the bare name when PATH's
    ``adaptive-llm`` is this installation's (an activated venv); else the path of this
    installation's script (``.venv/bin/adaptive-llm`` after ``make demo``, relative to the
    current directory when inside it); else this Python running the module."""
    script = _own_script()
    if script is None:
        return f"{shlex.quote(sys.executable)} -m adaptive_llm.cli"
    found = shutil.which("adaptive-llm")
    if found is not None:
        with contextlib.suppress(OSError):
            if os.path.samefile(found, script):
                return "adaptive-llm"
    shown = user_path(script)
    return shlex.quote(shown if os.sep in shown else f".{os.sep}{shown}")


def _own_script() -> Path | None:
    """This installation's ``adaptive-llm`` script: the one running now, or the one beside
    this Python (a venv), or in its scripts directories; None if it has none."""
    candidates = [Path(sys.argv[0])] if Path(sys.argv[0]).name == "adaptive-llm" else []
    candidates.append(Path(sys.executable).parent / "adaptive-llm")
    for scheme in (None, f"{os.name}_user"):
        with contextlib.suppress(KeyError):
            scripts = (
                sysconfig.get_path("scripts", scheme) if scheme else sysconfig.get_path("scripts")
            )
            candidates.append(Path(scripts) / "adaptive-llm")
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return Path(os.path.abspath(candidate))
    return None


def shell_arg(path: Path) -> str:
    """``path`` as a shell argument the user can paste where they stand."""
    return shlex.quote(user_path(path))


def _plain(text: str) -> str:
    """An answer's Markdown emphasis (``**simulate**``) as plain terminal text."""
    return re.sub(r"\*\*(\S(?:.*?\S)?)\*\*", r"\1", text)


def _printable(text: str) -> str:
    """``text`` with control characters escaped: an escape sequence must not hide a line."""
    return "".join(ch if ch.isprintable() or ch == "\t" else repr(ch)[1:-1] for ch in text)


def describe(
    name: str, state: JobState, diagnosis: Diagnosis, workdir: Path, python: str | None = None
) -> str:
    """A few readable lines about a failed job's diagnosis; paths and commands as the user
    can paste them (``python``: the job's interpreter, which a ``pip install`` is for)."""
    lines = [f"x {name}: {state.value} [{diagnosis.category}] {diagnosis.summary}"]
    if diagnosis.location is not None:
        where = user_path(diagnosis.location.file)
        lines.append(f"  open:      {where}:{diagnosis.location.line}")
        if diagnosis.location.source:
            lines.extend("    " + line for line in diagnosis.location.source.splitlines())
    if diagnosis.suggestion:
        lines.append(f"  next step: {_for_python(diagnosis.suggestion, python)}")
    lines.append(f"  log:       {user_path(diagnosis.path)}")
    window = excerpt_window(diagnosis, workdir)
    whole = _spans_text(diagnosis.excerpt.spans)
    shown = _spans_text(_spans([n for n, _ in window if n is not None]))
    if shown == whole:
        lines.append(f"  excerpt:   lines {whole} of the log (~{diagnosis.tokens} tokens)")
    else:
        lines.append(
            f"  excerpt:   lines {shown} of the log shown (the diagnosis holds {whole},"
            f" ~{diagnosis.tokens} tokens: `{command_name()} diagnose` on the log prints it all)"
        )
    width = len(str(max((n for n, _ in window if n is not None), default=0)))
    for number, line in window:
        label = "" if number is None else str(number)
        lines.append(f"    {label:>{width}} | {line[:160]}")
    return "\n".join(lines)


def _for_python(suggestion: str, python: str | None) -> str:
    """``pip install X`` as the job's own Python runs it (a bare ``pip`` on PATH may be
    another Python's, or none: the venv is not activated)."""
    if python is None or re.fullmatch(r"pip install \S+", suggestion) is None:
        return suggestion
    return f"{shlex.quote(user_path(python))} -m {suggestion}   (the job's Python)"


#: The most excerpt lines a failure block of the demo shows.
EXCERPT_LINES = 16
_ENGINE_MARK = re.compile(
    r"\[\.\.\. (?:(\d+) lines omitted|the line above repeated (\d+) more times"
    r"|(\d+) similar lines \(other numbers\)) \.\.\.\]"
)
_FRAME = re.compile(r'\s*File "([^"]+)", line (\d+)')
_TRACEBACK = "Traceback (most recent call last):"


def excerpt_lines(excerpt: Excerpt) -> list[tuple[int | None, str]]:
    """The excerpt's lines, each with its line number in the log (None for the engine's
    marks of omitted or repeated lines); no numbers at all if the text does not follow the
    spans."""
    text = excerpt.text.split("\n") if excerpt.text else []
    numbered: list[tuple[int | None, str]] = []
    i, prev = 0, 0
    try:
        for lo, hi in excerpt.spans:
            if lo > prev + 1:  # the engine's "[... N lines omitted ...]"
                mark = _ENGINE_MARK.fullmatch(text[i])
                if mark is None or mark.group(1) is None:
                    raise ValueError(text[i])
                numbered.append((None, text[i]))
                i += 1
            n = lo
            while n <= hi:
                mark = _ENGINE_MARK.fullmatch(text[i])
                if mark is not None and mark.group(1) is None:  # a collapsed run
                    numbered.append((None, text[i]))
                    n += int(mark.group(2) or mark.group(3))
                else:
                    numbered.append((n, text[i]))
                    n += 1
                i += 1
            if n != hi + 1:
                raise ValueError(hi)
            prev = hi
        if any(_ENGINE_MARK.fullmatch(line) is None for line in text[i:]):
            raise ValueError(text[i:])
        numbered.extend((None, line) for line in text[i:])
    except (IndexError, ValueError):
        return [(None, line) for line in text]
    return numbered


def excerpt_window(
    diagnosis: Diagnosis, workdir: Path, max_lines: int = EXCERPT_LINES
) -> list[tuple[int | None, str]]:
    """At most about ``max_lines`` lines of the excerpt, numbered as in the log: the start of
    the traceback, every frame in the user's code (the located one first) with its source and
    caret lines, the last lines; then the lines before the end. Left-out lines are one mark
    each (``[... lines 11-22 left out ...]``)."""
    entries = excerpt_lines(diagnosis.excerpt)
    if len(entries) <= max_lines:
        return entries
    keep: set[int] = set()

    def take(indices: range, *, always: bool = False) -> None:
        new = [i for i in indices if 0 <= i < len(entries) and i not in keep]
        if always or len(keep) + len(new) <= max_lines:
            keep.update(new)

    take(range(len(entries) - 3, len(entries)), always=True)  # the final exception
    frames = [i for i, (_, line) in enumerate(entries) if _users_frame(line, diagnosis, workdir)]
    located = [i for i in frames if _is_location(entries[i][1], diagnosis)]
    starts = [i for i, (_, line) in enumerate(entries) if line.startswith(_TRACEBACK)]
    before = (located or frames or [len(entries)])[-1]
    start = max((i for i in starts if i < before), default=None)
    if start is not None:
        take(range(start, start + 1), always=True)
    for frame in located[-1:]:
        take(range(frame, _frame_end(entries, frame)), always=True)
    for frame in frames:  # outermost first: the call from the user's entry point
        if start is None or frame > start:
            take(range(frame, _frame_end(entries, frame)))
    take(range(0, 1))  # what the job printed before it failed
    for i in range(len(entries) - 1, -1, -1):  # then the lines before the end
        if len(keep) >= max_lines:
            break
        take(range(i, i + 1))
    window: list[tuple[int | None, str]] = []
    shown = sorted(keep)
    for k, i in enumerate(shown):
        gap_from = shown[k - 1] + 1 if k else 0
        if i > gap_from:
            window.append((None, _left_out(entries, gap_from, i)))
        window.append(entries[i])
    if shown[-1] < len(entries) - 1:
        window.append((None, _left_out(entries, shown[-1] + 1, len(entries))))
    return window


def _users_frame(line: str, diagnosis: Diagnosis, workdir: Path) -> bool:
    """Whether ``line`` is a traceback frame in the user's code (not a library's)."""
    match = _FRAME.match(line)
    if match is None:
        return False
    file = Path(match.group(1))
    if {"site-packages", "dist-packages"} & set(file.parts):
        return False
    return not file.is_absolute() or file.is_relative_to(workdir) or _is_location(line, diagnosis)


def _is_location(line: str, diagnosis: Diagnosis) -> bool:
    match = _FRAME.match(line)
    where = diagnosis.location
    if match is None or where is None or int(match.group(2)) != where.line:
        return False
    file = match.group(1)
    return file == where.file or Path(where.file).name == Path(file).name


def _frame_end(entries: list[tuple[int | None, str]], frame: int) -> int:
    """The index after a frame's lines: its ``File`` line, the source and the carets."""
    end = frame + 1
    while (
        end < len(entries)
        and end < frame + 3
        and entries[end][1].startswith("    ")
        and _FRAME.match(entries[end][1]) is None
    ):
        end += 1
    return end


def _left_out(entries: list[tuple[int | None, str]], lo: int, hi: int) -> str:
    """The mark for ``entries[lo:hi]``, left out of the window."""
    numbers = [n for n, _ in entries[lo:hi] if n is not None]
    if len(numbers) == hi - lo:
        first, last = numbers[0], numbers[-1]
        what = f"line {first}" if first == last else f"lines {first}-{last}"
        return f"[... {what} left out ...]"
    return f"[... {hi - lo} lines left out ...]"


def _spans(numbers: list[int]) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for n in sorted(numbers):
        if spans and spans[-1][1] == n - 1:
            spans[-1] = (spans[-1][0], n)
        else:
            spans.append((n, n))
    return spans


def _spans_text(spans: list[tuple[int, int]]) -> str:
    return ", ".join(f"{a}-{b}" if a != b else str(a) for a, b in spans) or "none"
