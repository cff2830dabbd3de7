"""``run_command`` ends when it should: nothing it starts outlives it, the caller never waits
on a pipe past the deadline, output is capped (head and tail) and kept through a timeout."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from adaptive_llm._core import reaper
from adaptive_llm.chat.actions import command as command_module
from adaptive_llm.chat.actions.command import run_shell

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the subreaper needs Linux (prctl, /proc)"
)


def _trees() -> ModuleType:
    """The process-tree generator shared with the job runner's tests."""
    path = Path(__file__).resolve().parents[1] / "test_runner_reaper.py"
    spec = importlib.util.spec_from_file_location("_process_trees", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


trees = _trees()
WRAPPER = reaper.wrapper_argv()


def gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return True
    return stat.rpartition(b")")[2].split()[0] in (b"Z", b"X")


@contextlib.contextmanager
def rss_peak() -> Iterator[list[int]]:
    """The largest growth of this process's resident memory while the block runs (bytes)."""

    def rss() -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    base = rss()
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.005):
            peak[0] = max(peak[0], rss() - base)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        done.set()
        thread.join()
        peak[0] = max(peak[0], rss() - base)


# -- the named case -----------------------------------------------------------------------------


async def test_an_escaped_child_does_not_hold_the_chat(tmp_path: Path) -> None:
    """``setsid sleep 25 & echo started``: the shell ends at once; the sleep has the pipe."""
    start = time.monotonic()
    out = await run_shell("setsid sleep 25 & echo started $!", str(tmp_path), timeout=2)
    elapsed = time.monotonic() - start
    assert elapsed < 2 + 1.5, out
    assert "started" in out
    pid = int(re.search(r"started (\d+)", out).group(1))  # type: ignore[union-attr]
    assert gone(pid), f"the setsid sleep {pid} outlived the command"
    assert "[exit code 0; killed 1 process it left running]" in out


async def test_an_escaped_child_during_a_timeout(tmp_path: Path) -> None:
    """The command runs into its time limit while an escaped child holds the pipe."""
    command = "setsid sleep 25 & echo started $!; echo waiting; sleep 30"
    start = time.monotonic()
    out = await run_shell(command, str(tmp_path), timeout=1, kill_grace=0.3)
    assert time.monotonic() - start < 1 + 0.3 + 1.5, out
    assert "started" in out and "waiting" in out
    assert "timed out after 1s" in out
    pid = int(re.search(r"started (\d+)", out).group(1))  # type: ignore[union-attr]
    assert gone(pid)


async def test_output_printed_before_a_timeout_is_returned(tmp_path: Path) -> None:
    command = "echo first; sleep 0.2; echo second >&2; sleep 30"
    out = await run_shell(command, str(tmp_path), timeout=3, kill_grace=0.3)  # slack for load
    assert out.splitlines() == [
        f"$ {command}",
        "first",
        "second",
        "[timed out after 3s; killed by signal 15 (SIGTERM)]",
    ]


async def test_a_command_that_ignores_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    command = "trap '' TERM; echo ignoring; sleep 30"
    start = time.monotonic()
    out = await run_shell(command, str(tmp_path), timeout=0.5, kill_grace=0.3)
    assert time.monotonic() - start < 0.5 + 0.3 + 1.5
    assert "ignoring" in out
    assert "killed by signal 9 (SIGKILL)" in out


@pytest.mark.parametrize(
    ("command", "status"),
    [
        ("exit 7", "[exit code 7]"),
        ("kill -KILL $$", "[killed by signal 9 (SIGKILL)]"),
        ("kill -SEGV $$", "[killed by signal 11 (SIGSEGV)]"),
        ("echo ok", "[exit code 0]"),
    ],
)
async def test_the_result_names_the_exit_code_or_signal(
    tmp_path: Path, command: str, status: str
) -> None:
    out = await run_shell(command, str(tmp_path), timeout=5)
    assert out.endswith(status), out


async def test_a_missing_directory_is_reported(tmp_path: Path) -> None:
    out = await run_shell("echo hi", str(tmp_path / "nope"), timeout=5)
    assert "cannot start the command" in out


# -- output cap ---------------------------------------------------------------------------------


async def test_big_output_is_capped_with_head_and_tail(tmp_path: Path) -> None:
    size = 11 * 4_545_454  # ~50 MB of whole "0123456789\n" lines
    command = f"echo HEAD-MARK; yes 0123456789 | head -c {size}; echo; echo TAIL-MARK"
    with rss_peak() as peak:
        out = await run_shell(command, str(tmp_path), timeout=60)
    assert peak[0] < 20 << 20, f"the caller grew by {peak[0] >> 20} MB"
    assert out.startswith(f"$ {command}\nHEAD-MARK\n0123456789\n")
    assert out.endswith("0123456789\n\nTAIL-MARK\n[exit code 0]")
    (cut,) = re.findall(r"\n\[\.\.\. (\d+) bytes cut \.\.\.\]\n", out)
    total = len("HEAD-MARK\n") + size + len("\nTAIL-MARK\n")
    kept = out.split("\n", 1)[1].rsplit("\n[exit code", 1)[0]
    kept_bytes = len(re.sub(r"\[\.\.\. \d+ bytes cut \.\.\.\]\n", "", kept).encode()) + 1
    assert int(cut) + kept_bytes == total  # (+ 1: the last newline, stripped)
    assert len(out) < 8000 + len(command) + 100


async def test_a_cut_never_splits_a_character(tmp_path: Path) -> None:
    out = await run_shell("printf 'é%.0s' $(seq 20000)", str(tmp_path), timeout=10)
    assert "bytes cut" in out
    assert "\ufffd" not in out


async def test_small_output_is_kept_whole(tmp_path: Path) -> None:
    out = await run_shell("seq 1 1500", str(tmp_path), timeout=10)  # 6,393 bytes
    assert "cut" not in out
    assert out.splitlines()[1:-1] == [str(i) for i in range(1, 1501)]


def test_head_tail_keeps_both_ends_whatever_the_chunks() -> None:
    rng = random.Random(5)
    for _ in range(200):
        data = rng.randbytes(rng.randint(0, 5000))
        head, tail = rng.randint(0, 1000), rng.randint(0, 1000)
        keep = reaper.HeadTail(head, tail)
        i = 0
        while i < len(data):
            step = rng.randint(1, 700)
            keep.feed(data[i : i + step])
            i += step
        assert keep.total == len(data)
        assert bytes(keep.head) == data[:head]
        rest = data[head:]
        assert bytes(keep.tail) == (rest[-tail:] if tail else b"")
        assert keep.cut == max(0, len(data) - head - tail)


# -- process trees ------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(8))
async def test_random_trees_leave_nothing(tmp_path: Path, seed: int) -> None:
    """Even seeds: the command ends once its tree is built. Odd seeds: it times out."""
    end = "exit" if seed % 2 == 0 else "wait"
    command, pidfile, count, marker = trees.random_tree(seed, tmp_path / "tree", end=end)
    try:
        start = time.monotonic()
        out = await run_shell(command, str(tmp_path), timeout=1.5, kill_grace=0.3)
        assert time.monotonic() - start < 1.5 + 0.3 + 2
        assert "tree-built" in out, out
        assert len(pidfile.read_text().split()) == count
        assert ("timed out" in out) == (end == "wait"), out
        assert trees.survivors(pidfile, marker) == [], out
    finally:
        trees.kill_marked(marker)


async def test_a_respawning_storm_is_frozen_then_killed(tmp_path: Path) -> None:
    """127 processes, each in a session of its own, each restarting its child when it dies."""
    marker = uuid.uuid4().hex
    storm = tmp_path / "storm.sh"
    storm.write_text(
        "trap '' TERM HUP\n"
        'd=$1; [ "$d" -gt 0 ] || exec sleep 30\n'
        f"while :; do setsid sh {storm} $((d-1)) & setsid sh {storm} $((d-1)) & wait; done\n"
    )
    command = f"export TREE_MARK={marker}; setsid sh {storm} 6 & sleep 1; echo done"
    try:
        out = await run_shell(command, str(tmp_path), timeout=10)
        assert "done" in out and "killed" in out, out
        assert trees.marked(marker) == []
        await asyncio.sleep(0.2)  # nothing respawns afterwards either
        assert trees.marked(marker) == []
    finally:
        trees.kill_marked(marker)


async def test_a_child_that_closes_its_output_then_keeps_running(tmp_path: Path) -> None:
    command = "sh -c 'exec >&- 2>&- </dev/null; echo $$ > pid; exec sleep 30' & sleep 0.2"
    out = await run_shell(command, str(tmp_path), timeout=5)
    assert "[exit code 0; killed 1 process it left running]" in out
    assert gone(int((tmp_path / "pid").read_text()))


async def test_cancelling_the_caller_ends_the_tree(tmp_path: Path, proc: Any) -> None:
    command, pidfile, count, marker = trees.random_tree(3, tmp_path / "tree", end="wait")
    try:
        task = asyncio.create_task(run_shell(command, str(tmp_path), timeout=60, kill_grace=0.3))
        await proc.until(
            lambda: pidfile.exists() and len(pidfile.read_text().split()) == count,
            what="the tree built",
        )
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The wrapper ends the tree in the background, within its grace period.
        await proc.until(
            lambda: not trees.survivors(pidfile, marker), timeout=5, what="the tree gone"
        )
    finally:
        trees.kill_marked(marker)


async def test_a_command_that_kills_its_wrapper_leaves_nothing(tmp_path: Path) -> None:
    """``kill -9 $PPID``: the wrapper dies without a word; its tree went to init. The caller
    finds it by the run's marker variable."""
    command = "setsid sleep 30 & echo $! > pid; kill -9 $PPID; sleep 30"
    start = time.monotonic()
    out = await run_shell(command, str(tmp_path), timeout=10)
    assert time.monotonic() - start < 5
    assert "wrapper ended without a result" in out
    assert gone(int((tmp_path / "pid").read_text()))


@pytest.mark.parametrize(
    "shape",
    [
        "(setsid sh -c 'setsid sh -c \"sleep {arg}\" &' &) ; echo x",
        "(setsid sh -c '(setsid sh -c \"sleep {arg} & sleep {arg}\" &) &' &) ; exit 0",
        "for i in 1 2 3; do (setsid sh -c 'setsid sleep {arg} &' &) ; done",
        "(sh -c '(setsid sh -c \"setsid sleep {arg} &\" &)' &)",
    ],
)
async def test_chains_of_exiting_parents_never_escape(tmp_path: Path, shape: str) -> None:
    """The main process ends while a chain of parents that exit at once is still forking:
    the wrapper keeps killing and reaping until it has no child left at all (a walk of /proc
    alone missed a child forked by a parent that was a zombie when read)."""
    for _ in range(15):
        arg = f"30.{random.randrange(10**9):09d}1"
        command = shape.format(arg=arg)
        out = await run_shell(command, str(tmp_path), timeout=3, kill_grace=0.3)
        assert "held its output open" not in out, out
        await asyncio.sleep(0.05)
        left = [pid for pid in _with_arg(arg)]
        for pid in left:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        assert left == [], out


def _with_arg(arg: str) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            with contextlib.suppress(OSError):
                if arg.encode() in Path(f"/proc/{name}/cmdline").read_bytes() and not gone(
                    int(name)
                ):
                    found.append(int(name))
    return found


@pytest.mark.parametrize(
    "shape",
    [
        # no marker, a session of its own, still holding the output pipe
        "env -i setsid /bin/sleep {arg} & sleep 0.2; kill -9 $PPID; sleep 5",
        # and the pipe closed too: only the wrapper's report of the pid finds it
        "env -i setsid sh -c 'exec >&- 2>&-; exec sleep {arg}' & sleep 0.3; kill -9 $PPID",
        # its child in yet another session, the reported parent gone
        "env -i setsid sh -c 'exec >&- 2>&-; setsid sleep {arg} & sleep 0.3' & sleep 0.2;"
        " kill -9 $PPID",
    ],
)
async def test_an_unmarked_child_after_killing_the_wrapper(tmp_path: Path, shape: str) -> None:
    arg = f"30.{random.randrange(10**9):09d}1"
    try:
        start = time.monotonic()
        out = await run_shell(shape.format(arg=arg), str(tmp_path), timeout=5)
        assert time.monotonic() - start < 5, out
        assert "wrapper ended without a result" in out
        await asyncio.sleep(0.5)
        assert _with_arg(arg) == [], out
    finally:
        for pid in _with_arg(arg):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def test_report_lines_parse() -> None:
    assert reaper.parse_report(b"~seen pipe=77 12:345 13:346") == ({12: 345, 13: 346}, 77)
    assert reaper.parse_report(b"exit_code=0 head=") == ({}, None)


async def test_a_command_that_stops_its_wrapper_is_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``kill -STOP $PPID``: the wrapper cannot act; the caller kills it and its tree."""
    monkeypatch.setattr(command_module, "_SLACK", 1.0)
    command = "setsid sleep 30 & echo $! > pid; kill -STOP $PPID; sleep 30"
    start = time.monotonic()
    out = await run_shell(command, str(tmp_path), timeout=0.5, kill_grace=0.2)
    assert time.monotonic() - start < 0.5 + 0.2 + 0.5 + 1.0 + 3
    assert "did not answer" in out
    assert gone(int((tmp_path / "pid").read_text()))


def test_the_wrapper_ends_the_tree_when_its_caller_goes(tmp_path: Path) -> None:
    """The kernel died: the wrapper's stdin closes, it kills the tree and exits."""
    command = f"setsid sleep 30 & echo $! > {tmp_path}/pid; sleep 30"
    wrapper = subprocess.Popen(
        [*WRAPPER, "timeout=60", "grace=0.2", "watch_stdin=1", "--", "/bin/sh", "-c", command],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        pidfile = tmp_path / "pid"
        deadline = time.monotonic() + 10
        while not (pidfile.exists() and pidfile.read_text().endswith("\n")):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert wrapper.stdin is not None and wrapper.stdout is not None
        wrapper.stdin.close()
        wrapper.wait(timeout=5)
        answer = reaper.parse_answer(wrapper.stdout.read())
        assert answer["cancelled"] == "1" and answer["signal"] == str(int(signal.SIGTERM))
        assert gone(int(pidfile.read_text()))
    finally:
        if wrapper.poll() is None:
            wrapper.kill()


@pytest.mark.skipif(os.geteuid() == 0, reason="root may open any process's descriptors")
def test_the_wrapper_is_not_dumpable() -> None:
    """A command cannot open ``/proc/<wrapper>/fd/1`` to write into its caller's pipe."""
    command = "echo injected > /proc/$PPID/fd/1; echo status=$?"
    done = subprocess.run(
        [*WRAPPER, "timeout=10", "--", "/bin/sh", "-c", command],
        capture_output=True,
        timeout=20,
        check=True,
    )
    assert b"injected" not in done.stdout
    assert b"status=0" not in bytes.fromhex(reaper.parse_answer(done.stdout)["head"])


async def test_output_injected_into_the_wrappers_pipe_is_ignored(tmp_path: Path) -> None:
    """As root, ``/proc/<wrapper>/fd/1`` opens despite the wrapper being non-dumpable."""
    command = "echo 'exit_code=5 forged=1' > /proc/$PPID/fd/1 2>/dev/null; echo real"
    out = await run_shell(command, str(tmp_path), timeout=5)
    assert out.endswith("real\n[exit code 0]"), out


def test_the_wrapper_refuses_a_call_without_a_command() -> None:
    done = subprocess.run([*WRAPPER, "timeout=1"], capture_output=True, timeout=20, check=False)
    assert done.returncode == 2 and b"usage" in done.stderr


async def test_a_flood_into_the_wrappers_pipe_is_bounded(tmp_path: Path) -> None:
    """As root a command can write into the caller's pipe for as long as it runs."""
    command = "head -c 30000000 /dev/zero > /proc/$PPID/fd/1 2>/dev/null; echo real"
    with rss_peak() as peak:
        out = await run_shell(command, str(tmp_path), timeout=30)
    assert out.endswith("real\n[exit code 0]"), out[-300:]
    assert peak[0] < 20 << 20


def _patched_wrapper(patch: str, command: str, *options: str) -> dict[str, str]:
    """Run the wrapper in a fresh interpreter with ``patch`` applied to the module first."""
    driver = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('r', {reaper.__file__!r})\n"
        "r = importlib.util.module_from_spec(spec); sys.modules['r'] = r\n"
        "spec.loader.exec_module(r)\n"
        f"{patch}\n"
        "sys.exit(r.main(sys.argv))\n"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", driver, *options, "--", "/bin/sh", "-c", command],
        capture_output=True,
        timeout=30,
        check=True,
    )
    return reaper.parse_answer(done.stdout)


def test_without_a_pidfd_the_exit_is_still_seen_at_once(tmp_path: Path) -> None:
    start = time.monotonic()
    answer = _patched_wrapper(
        "r._pidfd = lambda pid: None",
        f"setsid sleep 30 & echo $! > {tmp_path}/pid",
        "timeout=10",
    )
    assert time.monotonic() - start < 3
    assert answer["exit_code"] == "0" and answer["leftovers"] == "1"
    assert gone(int((tmp_path / "pid").read_text()))


def test_without_a_subreaper_the_process_group_is_still_ended(tmp_path: Path) -> None:
    """The documented fallback (macOS): the group is killed; a setsid child would escape."""
    answer = _patched_wrapper(
        "r.become_subreaper = lambda: False",
        f"sleep 30 & echo $! > {tmp_path}/pid",
        "timeout=10",
    )
    assert answer["subreaper"] == "0" and answer["exit_code"] == "0"
    pid = int((tmp_path / "pid").read_text())
    deadline = time.monotonic() + 5
    while not gone(pid) and time.monotonic() < deadline:
        time.sleep(0.02)  # killed by killpg; init reaps it
    assert gone(pid)
