"""``adaptive-llm chat NAME`` (the terminal chat) and ``adaptive-llm log NAME`` in a REAL
terminal: tmux runs the command in a 120x40 pane, keys go in with ``send-keys``, the screen is
read with ``capture-pane``. The workdir is a real RunManager's, whose real local jobs failed.

Every wait polls the pane until the text is there (or fails after a timeout, with the screen).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from adaptive_llm import Job, RunManager
from adaptive_llm.store import Store

CLI = [sys.executable, "-m", "adaptive_llm.cli"]

SCRIPT = """\
#!/bin/bash
#SBATCH --job-name=train
#SBATCH --time=0:01
echo step 1
sleep 1.6
echo finished
"""
#: The module the offline assistant proposes to pip install (a command: slow, see below).
MISSING = "adaptive_llm_no_such_module_xyz"
BOOM = (
    "for i in $(seq 1 3000); do echo line $i; done;"
    " echo 'Traceback (most recent call last):'; echo '  File \"t.py\", line 3, in <module>';"
    " echo 'RuntimeError: boom'; exit 1"
)


def jobs(workdir: Path) -> list[Job]:
    (workdir / "train.sh").write_text(SCRIPT)
    return [
        Job.from_sbatch(workdir / "train.sh"),  # hits its 1 s time limit
        Job("imp", [sys.executable, "-c", f"import {MISSING}"]),
        Job("boom", ["/bin/sh", "-c", BOOM]),
    ]


@pytest.fixture
async def recorded(make_rm: Callable[..., RunManager], workdir: Path) -> AsyncIterator[Path]:
    """A workdir whose three jobs really ran and failed, diagnosed; no RunManager on it now."""
    rm = make_rm(jobs(workdir))
    rm.start()
    await rm.wait(timeout=60)
    await rm.close()
    yield workdir


# -- tmux --------------------------------------------------------------------------------------

_servers = itertools.count()


def require_tmux() -> str:
    tmux = shutil.which("tmux")
    if tmux is None:
        if os.environ.get("CI") == "true":
            pytest.fail("tmux not available under CI=true (.ci/run installs it)")
        pytest.skip("tmux not found (apt-get install tmux): the terminal tests need one")
    return tmux


class Pane:
    """One command in a tmux pane of its own tmux server, 120 columns by 40 lines."""

    def __init__(self, tmux: str, command: list[str], env: dict[str, str] | None = None) -> None:
        self.tmux = tmux
        self.server = f"adaptive-llm-test-{os.getpid()}-{next(_servers)}"
        # The user's pager and width settings are not the test's: less -R, the pane's width.
        unset = [x for name in ("PAGER", "LESS", "COLUMNS", "LINES") for x in ("-u", name)]
        values = [f"{k}={v}" for k, v in (env or {}).items()]
        # The command's exit status is printed after it ("EXIT=N"); the shell ignores Ctrl-C
        # (a trap: not inherited), which the command gets, as from an interactive shell. The
        # pane stays when it ends, so that its screen is read.
        wrapper = 'trap : INT; "$@"; echo "EXIT=$?"'
        self._tmux(
            *("start-server", ";", "set-option", "-g", "remain-on-exit", "on", ";"),
            *("new-session", "-d", "-x", "120", "-y", "40"),
            *("env", *unset, *values, "sh", "-c", wrapper, "sh", *command),
        )
        self.socket = Path(self._tmux("display-message", "-p", "#{socket_path}").strip())

    def _tmux(self, *args: str) -> str:
        done = subprocess.run(
            [self.tmux, "-L", self.server, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return done.stdout

    def screen(self) -> str:
        """Everything the pane showed (its scrollback too), wrapped lines joined."""
        return self._tmux("capture-pane", "-p", "-J", "-S", "-")

    def send(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "0", *keys)

    def type(self, line: str) -> None:
        """Type ``line`` literally, then Enter."""
        self._tmux("send-keys", "-t", "0", "-l", line)
        self.send("Enter")

    async def wait(self, *texts: str, after: str = "", timeout: float = 60) -> str:
        """The screen after the last ``after``, once it shows every one of ``texts`` (runs of
        whitespace, line ends included, compared as one space)."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            at = screen.rfind(after) if after else 0
            # After ``after`` (not in it); runs of whitespace as one space: rich wraps lines.
            tail = " ".join(screen[at + len(after) :].split()) if at >= 0 else ""
            if at >= 0 and all(" ".join(t.split()) in tail for t in texts):
                return tail
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout}s waiting for {texts!r}; screen:\n{screen}")
            await asyncio.sleep(0.05)

    async def say(self, line: str, *texts: str, timeout: float = 60) -> str:
        """Type ``line`` at the chat's prompt; the screen after it once it shows ``texts``."""
        self.type(line)
        return await self.wait(*texts, after=f"you> {line}", timeout=timeout)

    async def exited(self, timeout: float = 60) -> int:
        """The command's exit status, once it ended."""
        screen = await self.wait("EXIT=", timeout=timeout)
        return int(screen.rpartition("EXIT=")[2].split()[0])

    def close(self) -> None:
        subprocess.run(
            [self.tmux, "-L", self.server, "kill-server"], capture_output=True, check=False
        )
        self.socket.unlink(missing_ok=True)  # tmux leaves it behind


@pytest.fixture
def pane() -> Iterator[Callable[..., Pane]]:
    tmux = require_tmux()
    made: list[Pane] = []

    def factory(*args: str, env: dict[str, str] | None = None) -> Pane:
        made.append(Pane(tmux, [*CLI, *args], env))
        return made[-1]

    yield factory
    for p in made:
        p.close()


def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The command, its output captured (stdin is not a terminal)."""
    return run([*CLI, *args])


def stored_job(workdir: Path, name: str) -> Job:
    store = Store(workdir / ".adaptive_llm" / "store.sqlite", readonly=True)
    try:
        return {job.name: job for job in store.jobs.all()}[name]
    finally:
        store.close()


def attempts(workdir: Path, name: str) -> int:
    store = Store(workdir / ".adaptive_llm" / "store.sqlite", readonly=True)
    try:
        return len(store.jobs.attempts(name))
    finally:
        store.close()


def until_closed(connection: socket.socket) -> None:
    """Read the request until the peer closes (a timeout fails the test)."""
    while connection.recv(65536):
        pass


# -- the chat ----------------------------------------------------------------------------------


async def test_history_reply_reject_approve_undo_and_quit(
    recorded: Path, pane: Callable[..., Pane]
) -> None:
    p = pane("chat", "train", "--workdir", str(recorded))
    # The history first: the diagnosis, then the prompt.
    await p.wait("diagnosis", "Time limit of 1s reached", "you>")

    # A reply streams in, then every change of it in full: number, summary, diff or command.
    shown = await p.say("fix it", "Answer with approve", "[3/3] Resubmit job train")
    assert "[1/3] Change the resources of job train" in shown
    assert "-time_limit = 1s" in shown and "+time_limit = 2s" in shown
    assert "[2/3] Edit train.sh" in shown
    assert "-#SBATCH --time=0:01" in shown and "+#SBATCH --time=00:01:00" in shown
    assert f"bash {recorded / 'train.sh'}" in shown, shown
    assert "(waits for change 1, 2)" in shown
    assert (recorded / "train.sh").read_text() == SCRIPT  # nothing before consent

    # `reject 3 reason`: that change only; the others are shown again, still waiting.
    again = await p.say("reject 3 not now", "Answer with approve")
    assert "[1/3]" in again and "[2/3]" in again and "[3/3]" not in again
    assert (recorded / "train.sh").read_text() == SCRIPT

    # `approve`: everything on screen. The job's change and the edit are applied (the chat
    # runs a RunManager on the workdir's recorded jobs); the rejected resubmission is not.
    done = await p.say("approve", "Applied (user): edit train.sh", "you>")
    assert "job train now runs with time limit 2s" in done
    assert "+#SBATCH --time=00:01:00" not in done  # nothing waits any more
    assert (recorded / "train.sh").read_text() == SCRIPT.replace("--time=0:01", "--time=00:01:00")
    assert attempts(recorded, "train") == 1

    # /undo restores the file byte-exact.
    await p.say("/undo", "Undone: restored train.sh")
    assert (recorded / "train.sh").read_text() == SCRIPT

    assert "Nothing waits for a decision" in await p.say("/pending", "Nothing waits")
    assert "YOLO mode on" in await p.say("/yolo on", "YOLO mode on")
    assert "YOLO mode is on" in await p.say("/yolo", "YOLO mode is")
    await p.say("/yolo off", "YOLO mode off")
    await p.say("/help", "/undo", "approve 2", "Ctrl-D")
    history = await p.say("/history", "you> fix it", "Done, without resubmitting.")
    assert "Time limit of 1s reached" in history and "rejected by the user: not now" in history

    # Ctrl-D quits, with the workdir's lock released.
    p.send("C-d")
    await p.wait("Bye.")
    assert await p.exited() == 0
    assert stored_job(recorded, "train").resources.time_limit == 2  # kept in the store
    listed = await asyncio.to_thread(cli, "chat", "train", "--workdir", str(recorded), "--pending")
    assert listed.returncode == 0 and "Nothing waits" in listed.stdout, listed.stderr


async def test_ctrl_c_cancels_a_turn_and_the_chat_goes_on(
    recorded: Path, pane: Callable[..., Pane]
) -> None:
    """The approved command (a pip install from an index that never answers) is running when
    Ctrl-C comes: the turn ends, the command is killed, never run again, and the chat goes on
    (the resubmission still waits for a decision)."""
    index = socket.socket()
    index.bind(("127.0.0.1", 0))
    index.listen(4)
    index.settimeout(60)
    port = index.getsockname()[1]
    env = {
        "PIP_INDEX_URL": f"http://127.0.0.1:{port}/simple/",
        "PIP_TIMEOUT": "100",
        "PIP_RETRIES": "0",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_CACHE_DIR": "1",
    }
    p = pane("chat", "imp", "--workdir", str(recorded), env=env)
    try:
        await p.wait("diagnosis", MISSING, "you>")
        shown = await p.say("fix it", "Answer with approve", "[2/2] Resubmit job imp")
        assert f"[1/2] Run `{sys.executable} -m pip install {MISSING}`" in shown

        p.type("approve 1")
        connection, _ = await asyncio.to_thread(index.accept)  # pip is in its request: mid-turn
        with connection:
            p.send("C-c")
            after = await p.wait("Cancelled.", "[2/2] Resubmit job imp", after="you> approve 1")
            assert "pip install adaptive_llm_no_such_module_xyz` in" in after
            assert ": failed (a change that had started is not made again)" in after
            connection.settimeout(30)
            await asyncio.to_thread(until_closed, connection)  # pip was killed
    finally:
        index.close()
    await p.wait("you>", after="Cancelled.")

    # The chat is usable: `reject [reason]` declines everything shown, then a new message.
    rejected = await p.say("reject too slow", "you>")
    assert "resubmit_job: This change was rejected by the user: too slow" in rejected
    assert "Nothing waits" in await p.say("/pending", "Nothing waits")
    assert "you>" in await p.say("what happened?", "ModuleNotFoundError", "you>")
    assert attempts(recorded, "imp") == 1
    p.send("C-d")
    assert await p.exited() == 0


async def test_chat_refusals(recorded: Path) -> None:
    piped = cli("chat", "train", "--workdir", str(recorded))  # stdin is not a terminal
    assert piped.returncode == 2 and "needs a terminal" in piped.stderr
    assert "--pending" in piped.stderr and len(piped.stderr.strip().splitlines()) == 1


async def test_refusals_under_tmux(
    recorded: Path, pane: Callable[..., Pane], make_rm: Callable[..., RunManager]
) -> None:
    p = pane("chat", "nope", "--workdir", str(recorded))
    assert await p.exited() == 2
    screen = p.screen()
    assert "no job named 'nope' (jobs: boom, imp, train)" in screen
    assert "Traceback" not in screen

    rm = make_rm(())  # a notebook drives the workdir: the chat is there
    rm.start()
    busy = pane("chat", "train", "--workdir", str(recorded))
    assert await busy.exited() == 2
    assert "in use by" in busy.screen() and "use the chat there" in busy.screen()
    await rm.close()


# -- the log -----------------------------------------------------------------------------------


def log(*args: str) -> subprocess.CompletedProcess[str]:
    return cli("log", *args)


async def test_log_piped_marks_the_excerpt(recorded: Path) -> None:
    done = log("boom", "--workdir", str(recorded))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "  line 1" and len(lines) == 3003  # the head is not in the excerpt
    assert "> RuntimeError: boom" in lines and "> Traceback (most recent call last):" in lines
    assert "\x1b" not in done.stdout  # plain when piped
    # --attempt picks one; errors are one line naming what exists.
    assert log("boom", "--workdir", str(recorded), "--attempt", "1").stdout == done.stdout
    none = log("boom", "--workdir", str(recorded), "--attempt", "2")
    assert none.returncode == 2 and "no attempt 2 (attempts: 1)" in none.stderr
    unknown = log("nope", "--workdir", str(recorded))
    assert "no job named 'nope'" in unknown.stderr and "(jobs: boom, imp, train)" in unknown.stderr
    nowhere = log("boom", "--workdir", str(recorded / "nowhere"))
    assert nowhere.returncode == 2 and "no jobs recorded" in nowhere.stderr
    (recorded / ".adaptive_llm" / "logs" / "boom" / "attempt-1.log").unlink()
    missing = log("boom", "--workdir", str(recorded))
    assert missing.returncode == 2 and "attempt-1.log is missing" in missing.stderr
    assert "no attempt's log is there" in missing.stderr
    for failed in (none, unknown, nowhere, missing):
        assert len(failed.stderr.strip().splitlines()) == 1 and "Traceback" not in failed.stderr


async def test_log_is_streamed(recorded: Path) -> None:
    """A 200 MB log of one line, piped: memory stays far below the log's size."""
    path = recorded / ".adaptive_llm" / "logs" / "boom" / "attempt-1.log"
    with path.open("ab") as out:
        block = b"x" * (1 << 20)
        for _ in range(200):
            out.write(block)
    probe = (
        "import resource, subprocess, sys;"
        "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True);"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    argv = [sys.executable, "-c", probe, *CLI, "log", "boom", "--workdir", str(recorded)]
    done = await asyncio.to_thread(run, argv)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) < 100_000  # KiB: the interpreter and the store, not the log


async def test_log_in_a_terminal_is_paged(recorded: Path, pane: Callable[..., Pane]) -> None:
    if shutil.which("less") is None:
        pytest.skip("less not found")
    p = pane("log", "boom", "--workdir", str(recorded))
    first = await p.wait("job boom, attempt 1 (FAILED)", "  line 1", "lines marked >")
    assert "RuntimeError: boom" not in first  # less shows page one
    p.send("G")  # to the end
    await p.wait("> RuntimeError: boom", "> Traceback (most recent call last):")
    p.send("q")
    assert await p.exited() == 0


async def test_a_model_given_on_the_command_line_answers(
    recorded: Path, pane: Callable[..., Pane]
) -> None:
    """``--model openai:NAME --base-url URL``: the terminal chat talks to that server (a small
    OpenAI-compatible one of the tests' own: the wording is not the point), streamed."""
    sys.path.insert(0, str(Path(__file__).parent / "chat"))
    from fake_openai import FakeOpenAI, Reply

    with FakeOpenAI() as server:
        server.chat_replies.append(Reply(text="The model says: raise the time limit."))
        p = pane(
            "chat", "train", "--workdir", str(recorded),
            "--model", "openai:gpt-4.1-mini", "--base-url", server.base_url,
            env={"OPENAI_API_KEY": server.api_key},
        )  # fmt: skip
        await p.wait("you>")
        await p.say("why?", "The model says: raise the time limit.", "you>")
        (turn,) = server.routed("chat")
        assert turn.body.get("stream") is True  # the terminal streams, as the widget does
        assert turn.body["messages"][-1] == {"role": "user", "content": "why?"}
        p.send("C-d")
        assert await p.exited() == 0
    wrong = pane("chat", "train", "--workdir", str(recorded), "--base-url", "http://x/v1")
    assert "--base-url needs --model openai:NAME" in await wrong.wait("EXIT=")
    assert await wrong.exited() == 2


async def test_a_fix_is_resubmitted_from_the_terminal(
    recorded: Path, pane: Callable[..., Pane]
) -> None:
    """The whole offline fix from a shell: the time limit raised, the batch script edited, the
    job resubmitted as attempt 2 on the scheduler its first attempt ran on (local here)."""
    p = pane("chat", "train", "--workdir", str(recorded))
    await p.wait("you>")
    await p.say("fix it", "[3/3] Resubmit job train")
    done = await p.say("approve", "Resubmitted job train as attempt 2", "you>")
    assert "Not done" not in done
    p.send("C-d")
    assert await p.exited() == 0
    assert attempts(recorded, "train") == 2
    assert stored_job(recorded, "train").resources.time_limit == 2
