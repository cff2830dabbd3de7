"""The local job runner leaves nothing behind: setsid, double forks, nohup, ignored signals.

Also home of :func:`random_tree`, the seeded generator of process trees that the chat's
``run_command`` tests (``tests/chat/test_commands_bounded.py``) use too.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from adaptive_llm import Job, JobState, RunManager

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the subreaper needs Linux (prctl, /proc)"
)

MakeRM = Callable[..., RunManager]

#: How a node starts one child node (``{s}``: ``sh <its script file>``).
LAUNCHES = {
    "background": "{s} &",
    "setsid": "setsid {s} &",
    "double fork": "( {s} & )",
    "nohup": "nohup {s} >/dev/null 2>&1 &",
    "closed stdio": "{s} <&- >&- 2>&- &",
    "redirected": "{s} </dev/null >/dev/null 2>&1 &",
    "own process group": sys.executable
    + " -I -S -c 'import os, sys; os.setpgid(0, 0);"
    + ' os.execv("/bin/sh", ["sh", sys.argv[1]])\' {f} &',
}
#: How a node ends once its children are started.
ENDINGS = ("exec sleep 30", "sleep 30", "exit 0", "while :; do sleep 30; done")


def random_tree(seed: int, where: Path, *, end: str = "exit") -> tuple[str, Path, int, str]:
    """A shell command that builds a random process tree, then ends (``end="exit"``) or
    waits (``end="wait"``) -- ``(command, pidfile, nodes, marker)``.

    Seeded: depth 1-3, fan-out 0-3, each child started one of the ways in ``LAUNCHES``, some
    ignoring TERM and HUP, some exiting at once so their children are orphaned. Every node
    writes its pid to ``pidfile``; the command prints ``tree-built`` once all of them did.
    Every process of the tree has ``TREE_MARK=<marker>`` in its environment.
    """
    rng = random.Random(seed)
    where.mkdir(parents=True, exist_ok=True)
    pidfile = where / "pids"
    marker = uuid.uuid4().hex
    count = 0

    def node(depth: int) -> str:
        nonlocal count
        count += 1
        script = where / f"node-{count}.sh"
        lines = [f"echo $$ >> {pidfile}"]
        if rng.random() < 0.3:
            lines.append("trap '' TERM HUP")
        if depth > 0:
            for _ in range(rng.randint(1 if depth > 1 else 0, 3)):
                if count < 25:
                    lines.append(launch(node(depth - 1)))
        lines.append(rng.choice(ENDINGS))
        script.write_text("\n".join(lines) + "\n")
        return str(script)

    def launch(script: str) -> str:
        how = LAUNCHES[rng.choice(sorted(LAUNCHES))]
        return how.format(s=f"sh {script}", f=script)

    tops = [launch(node(rng.randint(1, 3))) for _ in range(rng.randint(1, 3))]
    command = "\n".join(
        [
            f"export TREE_MARK={marker}",
            f": > {pidfile}",
            *tops,
            f'while [ "$(wc -l < {pidfile})" -lt {count} ]; do sleep 0.01; done',
            "echo tree-built",
            "exit 0" if end == "exit" else "sleep 30",
        ]
    )
    return command, pidfile, count, marker


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat.rpartition(b")")[2].split()[0] not in (b"Z", b"X")


def marked(marker: str) -> list[int]:
    """Live processes with ``TREE_MARK=<marker>`` in their environment."""
    needle = f"TREE_MARK={marker}".encode()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            env = Path(f"/proc/{name}/environ").read_bytes()
        except OSError:
            continue
        if needle in env.split(b"\0") and _alive(int(name)):
            found.append(int(name))
    return found


def survivors(pidfile: Path, marker: str) -> list[int]:
    """Processes of the tree still running: pids it wrote (and still marked, so a reused pid
    does not count) plus any marked process."""
    pids = {int(line) for line in pidfile.read_text().split()} if pidfile.exists() else set()
    alive = set(marked(marker))
    return sorted(pid for pid in pids | alive if pid in alive)


def kill_marked(marker: str) -> None:
    """Teardown safety net: kill what a failed test left."""
    for pid in marked(marker):
        with contextlib.suppress(OSError):
            os.kill(pid, 9)


# -- the runner ---------------------------------------------------------------------------------


async def _run(make_rm: MakeRM, jobs: list[Job]) -> RunManager:
    rm = make_rm(jobs)
    rm.start()
    await rm.wait(timeout=60)
    return rm


async def test_setsid_and_double_fork_children_end_with_the_job(
    make_rm: MakeRM, workdir: Path, proc: Any
) -> None:
    jobs = [
        Job("setsid", f"setsid sleep 1000 & echo $! > {workdir}/setsid.pid"),
        Job("double", f"( sleep 1000 & echo $! > {workdir}/double.pid )"),
        Job("nohup", f"nohup sleep 1000 >/dev/null 2>&1 & echo $! > {workdir}/nohup.pid"),
    ]
    rm = await _run(make_rm, jobs)
    for job in jobs:
        assert rm.job_manager.attempts[job.name].state is JobState.COMPLETED, job.name
        pid = proc.read_pid(workdir / f"{job.name}.pid")
        assert proc.gone(pid), f"{job.name}: pid {pid} outlived its job"


@pytest.mark.parametrize("seed", range(6))
async def test_random_trees_are_gone_when_the_job_ends(
    make_rm: MakeRM, workdir: Path, seed: int
) -> None:
    """Even seeds end normally once the tree is built; odd seeds run into the time limit."""
    end = "exit" if seed % 2 == 0 else "wait"
    command, pidfile, count, marker = random_tree(seed, workdir / "tree", end=end)
    try:
        limits = {} if end == "exit" else {"time_limit": 2}
        rm = await _run(make_rm, [Job("tree", command, resources=limits)])  # type: ignore[arg-type]
        attempt = rm.job_manager.attempts["tree"]
        expected = JobState.COMPLETED if end == "exit" else JobState.TIMEOUT
        assert attempt.state is expected, attempt.reason
        assert "tree-built" in Path(attempt.log_path).read_text()
        assert len(pidfile.read_text().split()) == count
        assert survivors(pidfile, marker) == []
    finally:
        kill_marked(marker)


async def test_cancel_ends_the_whole_tree(make_rm: MakeRM, workdir: Path, proc: Any) -> None:
    command, pidfile, count, marker = random_tree(7, workdir / "tree", end="wait")
    try:
        rm = make_rm([Job("tree", command)])
        rm.start()
        await proc.until(
            lambda: pidfile.exists() and len(pidfile.read_text().split()) == count,
            what="the tree built",
        )
        await rm.cancel_job("tree")
        await rm.wait(timeout=30)
        assert rm.job_manager.attempts["tree"].state is JobState.CANCELLED
        assert survivors(pidfile, marker) == []
    finally:
        kill_marked(marker)


async def test_a_respawning_tree_is_frozen_before_it_is_killed(
    make_rm: MakeRM, workdir: Path
) -> None:
    """Parents that restart their children as soon as they die (and ignore TERM)."""
    marker = uuid.uuid4().hex
    pidfile = workdir / "pids"
    hydra = workdir / "hydra.sh"
    hydra.write_text(
        f"trap '' TERM HUP\nwhile :; do setsid sleep 30 & echo $! >> {pidfile}; wait; done\n"
    )
    command = (
        f"export TREE_MARK={marker}; : > {pidfile}; for i in 1 2 3 4; do setsid sh {hydra} & done;"
        f' while [ "$(wc -l < {pidfile})" -lt 4 ]; do sleep 0.01; done'
    )
    try:
        rm = await _run(make_rm, [Job("hydra", command)])
        assert rm.job_manager.attempts["hydra"].state is JobState.COMPLETED
        assert marked(marker) == []
        assert survivors(pidfile, marker) == []
    finally:
        kill_marked(marker)


async def test_chains_of_exiting_parents_end_with_the_job(make_rm: MakeRM, workdir: Path) -> None:
    """Nested ``setsid`` from subshells that exit at once, still forking when the job's main
    process ends: the runner reaps and kills until it has no child left."""
    marker = uuid.uuid4().hex
    inner = f'export TREE_MARK={marker}; setsid sh -c "sleep 30"'
    jobs = [Job(f"chain{i}", f"(setsid sh -c '{inner} &' &) ; echo x") for i in range(12)]
    try:
        rm = await _run(make_rm, jobs)
        for job in jobs:
            assert rm.job_manager.attempts[job.name].state is JobState.COMPLETED, job.name
        time.sleep(0.2)
        assert marked(marker) == []
    finally:
        kill_marked(marker)


async def test_status_file_keeps_its_fields(make_rm: MakeRM, workdir: Path) -> None:
    rm = await _run(make_rm, [Job("ok", "setsid sleep 1000 & echo hi")])
    attempt = rm.job_manager.attempts["ok"]
    status = Path(attempt.log_path).with_suffix(".status.json")
    data = json.loads(status.read_text())
    assert set(data) == {
        "state",
        "exit_code",
        "signal",
        "reason",
        "runner_pid",
        "pid",
        "started_at",
        "ended_at",
    }
    assert data["state"] == "COMPLETED" and data["exit_code"] == 0
