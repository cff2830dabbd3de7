"""``adaptive-llm demo``: a small workspace of real scripts that succeed and fail for real.

One job succeeds; the others fail in the ways users meet most: an exception raised in user
code called back through the standard library, a missing module, and a time limit.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..diagnosis import Diagnosis
from ..errors import AdaptiveLLMError
from ..jobs.model import Job, JobState, Resources
from ..jobs.schedulers.base import Scheduler
from ..jobs.schedulers.local import LocalScheduler
from ..managers.run_manager import RunManager
from ..store.layout import STATE_DIR

MARKER = ".adaptive-llm-demo"

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
        print(format_table(rows, base=workdir))
        problems: list[str] = []
        for name, expected in EXPECTED.items():
            state = rm.job(name).state
            diagnosis = await rm.llm_manager.diagnosis(name)
            if diagnosis is not None:
                print()
                print(describe(name, state, diagnosis, workdir))
            category = diagnosis.category if diagnosis else None
            if name == "features" and state is JobState.COMPLETED:
                continue  # scikit-learn happens to be installed here
            if state is not expected.state or category != expected.category:
                problems.append(
                    f"{name}: expected {expected.state.value}/{expected.category},"
                    f" got {state.value}/{category}"
                )
        if with_model:
            await _show_llm_diagnoses(rm)
        if approve_all and not problems:
            found = await fix_in_chat(rm, "simulate", offline=not with_model)
            if with_model:  # a model may propose other fixes, or none: not the demo's failure
                for problem in found:
                    print(f"note: {problem}")
            else:
                problems += found
    finally:
        await rm.close()
    print()
    if problems:
        print("Unexpected outcomes:\n  " + "\n  ".join(problems))
        return False
    print("Every job behaved as expected.")
    cli = command_name()
    if not approve_all:
        print(f"  fix the time limit:  {cli} demo --headless --approve-all")
    print(f"  jobs and diagnoses:  {cli} status --workdir {workdir}")
    log = workdir / ".adaptive_llm" / "logs" / "train" / "attempt-1.log"
    print(f"  diagnose any log:    {cli} diagnose {log}")
    return True


async def _show_llm_diagnoses(rm: RunManager, timeout: float = 180) -> None:
    """The model's diagnoses, as they arrive (bounded: the offline ones are already shown)."""
    print(f"\n--- LLM diagnoses (model {rm.llm_manager.chat_service().model_name}) ---")
    try:
        await rm.wait(timeout=timeout, llm=True)
    except TimeoutError:
        print(f"(not all arrived within {timeout:g} s; the offline diagnoses above stand)")
    for name in EXPECTED:
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
    print(f"assistant: {reply.text}")
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
        print(f"assistant: {reply.text}")
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
    """``adaptive-llm`` as the user can type it here: the bare name when it is on PATH (an
    activated venv), else its path in this Python's environment (``.venv/bin/adaptive-llm``)."""
    found = shutil.which("adaptive-llm")
    script = Path(sys.executable).parent / "adaptive-llm"
    if (found and Path(found).resolve() == script.resolve()) or not script.exists():
        return "adaptive-llm"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def _printable(text: str) -> str:
    """``text`` with control characters escaped: an escape sequence must not hide a line."""
    return "".join(ch if ch.isprintable() or ch == "\t" else repr(ch)[1:-1] for ch in text)


def describe(name: str, state: JobState, diagnosis: Diagnosis, workdir: Path) -> str:
    """A few readable lines about a failed job's diagnosis."""
    lines = [f"x {name}: {state.value} [{diagnosis.category}] {diagnosis.summary}"]
    if diagnosis.location is not None:
        lines.append(f"  open:      {diagnosis.location.file}:{diagnosis.location.line}")
        if diagnosis.location.source:
            lines.extend("    " + line for line in diagnosis.location.source.splitlines())
    if diagnosis.suggestion:
        lines.append(f"  next step: {diagnosis.suggestion}")
    log_path = Path(diagnosis.path)
    shown = log_path.relative_to(workdir) if log_path.is_relative_to(workdir) else log_path
    spans = ", ".join(f"{a}-{b}" for a, b in diagnosis.excerpt.spans) or "none"
    lines.append(f"  log:       {shown} (excerpt lines {spans}, ~{diagnosis.tokens} tokens)")
    excerpt = diagnosis.excerpt.text.splitlines()
    for line in excerpt[-12:]:
        lines.append("    | " + line[:160])
    return "\n".join(lines)
