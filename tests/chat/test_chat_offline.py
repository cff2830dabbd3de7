"""The offline assistant (no model): fix recipes through the same gate, ending in a resubmit."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from chat_support import StartChat, check_order, edits, last_tool_message

from adaptive_llm import Job, JobState

Files = Callable[..., Path]


async def test_time_limit_fix_loop_completes_on_attempt_two(start_chat: StartChat) -> None:
    job = Job("slow", ["/bin/sh", "-c", "sleep 1.6; echo finished"], resources={"time_limit": 1})
    rm = await start_chat(llm=None, jobs=[job])
    lm = rm.llm_manager
    assert rm.job_manager.state("slow") is JobState.TIMEOUT
    assert lm.llm_calls == 0 and lm.llm_diagnosis_text("slow") is None

    reply = await lm.chat("slow", "fix it")
    assert reply.error is None
    # The fix and the resubmission in one reply: both on screen before either happens.
    change, resubmit = reply.approvals
    assert change.tool == "set_job_resources" and change.diff is not None
    assert "-time_limit = 1s" in change.diff and "+time_limit = 2s" in change.diff
    assert resubmit.tool == "resubmit_job" and resubmit.after == (1,)
    assert "attempt 2" in resubmit.summary and "time limit 2s" in resubmit.summary
    assert rm.job_manager.job("slow").resources.time_limit == 1  # not before consent
    assert rm.job_manager.attempts["slow"].number == 1
    await check_order(rm, "slow")

    reply = await lm.chat("slow", "approve")
    assert reply.approval is None and "attempt 2" in reply.text
    await rm.wait(timeout=30)
    attempt = rm.job_manager.attempts["slow"]
    assert attempt.number == 2 and attempt.state is JobState.COMPLETED
    [row] = edits(rm)
    assert row["kind"] == "resources" and row["approved_by"] == "user"
    messages = await check_order(rm, "slow")
    assert "Resubmitted" in last_tool_message(messages).text
    # The stored job definition was changed too (a restart keeps the fix).
    assert {j.name: j for j in rm.store.jobs.all()}["slow"].resources.time_limit == 2


async def test_resources_undo_restores_the_job(start_chat: StartChat) -> None:
    job = Job("slow", ["/bin/sh", "-c", "sleep 5"], resources={"time_limit": 0.5})
    rm = await start_chat(llm=None, jobs=[job])
    lm = rm.llm_manager
    first = await lm.chat("slow", "fix it")
    assert [a.tool for a in first.approvals] == ["set_job_resources", "resubmit_job"]
    reply = await lm.chat("slow", "approve 1")
    assert [a.tool for a in reply.approvals] == ["resubmit_job"]
    assert rm.job_manager.job("slow").resources.time_limit == 1
    await lm.chat("slow", "reject not now")
    assert rm.job_manager.attempts["slow"].number == 1
    assert "Undone" in await lm.undo("slow")
    assert rm.job_manager.job("slow").resources.time_limit == 0.5
    await check_order(rm, "slow")


async def test_missing_module_proposes_a_gated_install(start_chat: StartChat) -> None:
    job = Job("imp", [sys.executable, "-c", "import adaptive_llm_no_such_module_xyz"])
    rm = await start_chat(llm=None, jobs=[job])
    lm = rm.llm_manager
    lm.set_yolo("imp", True)  # commands ask even in YOLO
    reply = await lm.chat("imp", "fix it")
    [approval] = reply.approvals  # the resubmission, auto-approved, waits for the command
    assert approval.tool == "run_command"
    [_, waiting] = await lm.pending("imp", waiting=True)
    assert waiting.tool == "resubmit_job" and waiting.status == "approved"
    assert approval.command is not None
    assert "-m pip install adaptive_llm_no_such_module_xyz" in approval.command
    assert approval.command.startswith(sys.executable)
    reply = await lm.chat("imp", "reject do not install anything")
    assert reply.approval is None and "not done" in reply.text
    messages = await check_order(rm, "imp")
    install, resubmit = [m for m in messages if m.type == "tool"][-2:]
    assert install.status == "error" and "do not install anything" in install.text
    assert "exit code" not in install.text
    # YOLO approved the resubmission, but never over the user's rejection of the install.
    assert resubmit.status == "error" and "which the user rejected" in resubmit.text
    assert rm.job_manager.attempts["imp"].number == 1


async def test_no_recipe_explains_without_acting(start_chat: StartChat) -> None:
    job = Job("bad", [sys.executable, "-c", "raise ValueError('bad value 42')"])
    rm = await start_chat(llm=None, jobs=[job])
    reply = await rm.llm_manager.chat("bad", "what happened?")
    assert reply.approval is None and reply.error is None
    assert "bad value 42" in reply.text or "ValueError" in reply.text
    assert "no offline fix" in reply.text
    history = await rm.llm_manager.history("bad")
    assert history[0].role == "diagnosis"


async def test_offline_general_chat(start_chat: StartChat) -> None:
    rm = await start_chat(llm=None)
    reply = await rm.llm_manager.chat(None, "hello")
    assert "offline assistant" in reply.text
    assert rm.llm_manager.usage(None).cost_usd == 0.0


SCRIPT = """\
#!/bin/bash
#SBATCH --job-name=train
#SBATCH --time=0:01   # MM:SS, for the test
#SBATCH --mem=1G
sleep 1.6
echo finished
"""


async def test_a_batch_script_job_gets_its_sbatch_line_fixed_too(
    start_chat: StartChat, files: Files
) -> None:
    """The job came from the user's batch script: the time-limit fix changes the job and the
    script's ``#SBATCH --time`` line (so ``sbatch train.sh`` keeps the fix), in that order."""
    script = files("train.sh", SCRIPT)
    job = Job.from_sbatch(script)
    assert job.resources.time_limit == 1
    rm = await start_chat(llm=None, jobs=[job])
    lm = rm.llm_manager
    assert rm.job_manager.state("train") is JobState.TIMEOUT

    reply = await lm.chat("train", "fix it")
    assert [a.tool for a in reply.approvals] == ["set_job_resources", "edit_file", "resubmit_job"]
    assert reply.approvals[2].after == (1, 2)
    assert "train.sh" in reply.text and "--time=00:01:00" in reply.text
    diff = reply.approvals[1].diff or ""
    assert "-#SBATCH --time=0:01   # MM:SS" in diff and "+#SBATCH --time=00:01:00   # MM:SS" in diff
    assert script.read_text() == SCRIPT  # not before consent

    reply = await lm.chat("train", "approve")
    assert rm.job_manager.job("train").resources.time_limit == 2
    assert script.read_text() == SCRIPT.replace("--time=0:01 ", "--time=00:01:00 ")
    assert reply.approvals == [] and "attempt 2" in reply.text
    await rm.wait(timeout=30)
    attempt = rm.job_manager.attempts["train"]
    assert attempt.number == 2 and attempt.state is JobState.COMPLETED
    assert [(r["kind"], r["path"]) for r in edits(rm)] == [
        ("resources", "job:train"),
        ("edit", "train.sh"),
    ]
    assert "train.sh" in await lm.undo("train")  # the last listed first
    assert script.read_text() == SCRIPT
    assert rm.job_manager.job("train").resources.time_limit == 2
    await check_order(rm, "train")


async def test_a_plain_command_job_gets_no_script_edit(start_chat: StartChat, files: Files) -> None:
    files("train.sh", "#!/bin/bash\nsleep 5\n")  # a script without #SBATCH lines
    job = Job("slow", ["bash", "train.sh"], resources={"time_limit": 0.5})
    rm = await start_chat(llm=None, jobs=[job])
    reply = await rm.llm_manager.chat("slow", "fix it")
    assert [a.tool for a in reply.approvals] == ["set_job_resources", "resubmit_job"]
