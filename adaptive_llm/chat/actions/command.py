"""``run_command``: one shell command in the workspace, shown exactly as it will run, bounded
in time and output. It asks even in YOLO mode, unless commands are allowed in the chat.

Nothing the command starts outlives it: it runs under a small wrapper process
(:mod:`adaptive_llm._core.reaper`, a child subreaper on Linux) that kills every process of its
tree -- ``setsid``, double forks and ``nohup`` included -- when the command ends or times out,
and keeps only the head and the tail of its output.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import uuid
from dataclasses import dataclass, replace
from typing import Annotated

from pydantic import AfterValidator, Field

from ..._core import reaper
from ..._core.aio import TaskSet, within
from ...diagnosis.redact import redact
from ..records import Item
from .base import Action, ActionArgs, ActionEnv, ActionError, Overlay, Plan, check_text

__all__ = ["CommandResult", "RunCommand", "run_bounded", "run_shell"]

COMMAND_TIMEOUT = 120.0
#: Bytes of output kept: the first half and the last half, with a marker for what is cut.
COMMAND_OUTPUT_LIMIT = 8000
#: Seconds between SIGTERM and SIGKILL when a command times out.
COMMAND_KILL_GRACE = 1.0
#: Seconds the output is still read after the command's tree was killed.
_DRAIN = 0.5
#: Beyond the command's own bound: the wrapper's start, its kill rounds, its last write.
_SLACK = 5.0
#: The wrapper's answer is small (the head and tail, in hex); only this much is kept of it.
_RESULT_LIMIT = 1 << 20
_CLEANUPS = TaskSet("ending a cancelled command")


class CommandArgs(ActionArgs):
    # Newlines and tabs are shown as they are; any other control character (an ANSI escape,
    # a carriage return) could hide part of the command on screen, so it is refused.
    command: Annotated[
        str,
        Field(min_length=1, max_length=10_000),
        AfterValidator(lambda v: check_text("command", v, allow="\n\t")),
    ]


class RunCommand(Action):
    name = "run_command"
    description = (
        "Run a shell command in the workspace (time and output capped). The user is always"
        " asked first unless they allowed commands explicitly."
    )
    args = CommandArgs
    auto_flag = "allow_commands"

    async def plan(self, env: ActionEnv, args: ActionArgs, overlay: Overlay, position: int) -> Plan:
        assert isinstance(args, CommandArgs)
        if not args.command.strip():
            raise ActionError("the command is empty")
        root = str(env.root)
        return Plan(
            summary=f"Run `{args.command}` in {root}",
            kind="command",
            command=args.command,
            barrier=True,
        )

    async def apply(self, env: ActionEnv, item: Item) -> str:
        command = str(item.shown.get("command") or "")
        # The output goes to the model: secrets a command prints (``env``, a config dump) are
        # masked as in a log excerpt.
        return redact(await run_shell(command, str(env.root)))

    async def resume(self, env: ActionEnv, item: Item) -> str:
        raise ActionError(
            "the command was started before the kernel stopped; its outcome is unknown and it"
            " was not run again"
        )


@dataclass(frozen=True)
class CommandResult:
    """How one command ended, with the head and tail of what it printed (stdout+stderr)."""

    exit_code: int | None = None
    signal: int | None = None
    timed_out: bool = False
    cancelled: bool = False
    head: bytes = b""
    tail: bytes = b""
    #: Bytes the command printed in all.
    total: int = 0
    #: Processes it left running that were killed when it ended (or at its time limit).
    leftovers: int = 0
    #: Processes of its tree that could not be killed (another user's, setuid).
    survivors: tuple[int, ...] = ()
    #: Output was still being written by a process outside the tree after the drain.
    pipe_held: bool = False
    #: The command could not be run at all, or its wrapper failed.
    error: str | None = None
    seconds: float = 0.0

    def output(self) -> str:
        """The output as text: all of it, or head, ``[... K bytes cut ...]``, tail."""
        cut = self.total - len(self.head) - len(self.tail)
        if cut <= 0:
            return (self.head + self.tail).decode("utf-8", "replace")
        head, tail = _cut_head(self.head), _cut_tail(self.tail)
        cut = self.total - len(head) - len(tail)
        before = "" if head.endswith(b"\n") or not head else "\n"
        return (
            f"{head.decode('utf-8', 'replace')}{before}[... {cut} bytes cut ...]\n"
            f"{tail.decode('utf-8', 'replace')}"
        )

    def status(self, timeout: float) -> str:
        """``exit code 0``, ``killed by signal 9 (SIGKILL)``, ``timed out after 2s; ...``."""
        if self.error is not None:
            return self.error
        if self.signal is not None:
            ended = f"killed by signal {self.signal} ({_signal_name(self.signal)})"
        else:
            ended = f"exit code {self.exit_code}"
        parts = [ended]
        if self.timed_out:
            parts.insert(0, f"timed out after {timeout:g}s")
        elif self.cancelled:
            parts.insert(0, "cancelled")
        if self.leftovers:
            plural = "es" if self.leftovers > 1 else ""
            what = "other process" if self.timed_out or self.cancelled else "process"
            left = "it started" if self.timed_out or self.cancelled else "it left running"
            parts.append(f"killed {self.leftovers} {what}{plural} {left}")
        if self.survivors:
            pids = " ".join(map(str, self.survivors))
            parts.append(f"could not kill pids {pids}")
        if self.pipe_held:
            parts.append("stopped reading: a process outside it still held its output open")
        return "; ".join(parts)


async def run_shell(
    command: str,
    cwd: str,
    timeout: float = COMMAND_TIMEOUT,
    *,
    kill_grace: float = COMMAND_KILL_GRACE,
    limit: int = COMMAND_OUTPUT_LIMIT,
) -> str:
    """Run ``command`` with ``/bin/sh -c`` in ``cwd``: the tool's answer, ``$ command``, the
    output (at most ``limit`` bytes: head and tail) and ``[exit code N]`` or the signal.

    Returns within ``timeout + kill_grace`` seconds and a little more, whatever the command
    does: see :func:`run_bounded`."""
    result = await run_bounded(
        ["/bin/sh", "-c", command], cwd, timeout, kill_grace=kill_grace, limit=limit
    )
    return f"$ {command}\n{result.output().rstrip()}\n[{result.status(timeout)}]"


async def run_bounded(
    argv: list[str],
    cwd: str,
    timeout: float,
    *,
    kill_grace: float = COMMAND_KILL_GRACE,
    limit: int = COMMAND_OUTPUT_LIMIT,
    env: dict[str, str] | None = None,
) -> CommandResult:
    """Run ``argv`` under the reaper wrapper; nothing it starts outlives it.

    The wrapper (a separate process, so the event loop never reads the output itself) keeps
    the first and last ``limit // 2`` bytes of stdout+stderr, sends SIGTERM at ``timeout``
    and SIGKILL ``kill_grace`` seconds later to the command's whole tree, kills whatever the
    command left running when it ends, and drains the pipe for at most half a second after
    that: a process that escaped with the pipe never extends the wait. On Linux the tree is
    found through a child subreaper, so ``setsid`` and double forks do not escape; elsewhere
    only the command's process group is ended. If the wrapper itself does not answer in time
    it is killed with its tree from here. Cancelling the caller ends the command the same way.
    """
    loop = asyncio.get_running_loop()
    marker = uuid.uuid4().hex
    options = {
        "timeout": timeout,
        "grace": kill_grace,
        "drain": _DRAIN,
        "head": limit // 2,
        "tail": limit - limit // 2,
        "cwd": cwd,
        "marker": marker,
        "watch_stdin": 1,
        "report": 1,
    }
    base_env = os.environ if env is None else env
    transport, proto = await loop.subprocess_exec(
        lambda: _WrapperProtocol(loop),
        *reaper.wrapper_argv(),
        *(f"{key}={value}" for key, value in options.items()),
        "--",
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**base_env, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,
    )
    pid = transport.get_pid()
    # Only what started after the wrapper can be the command's (the fallback's guard).
    proto.since = reaper.start_time(pid)
    bound = timeout + kill_grace + _DRAIN + _SLACK
    finished = False
    try:
        try:
            await within(asyncio.shield(proto.exited), bound)
        except TimeoutError:
            await _force_end(pid, marker, proto)
            with contextlib.suppress(TimeoutError):
                await within(asyncio.shield(proto.exited), 2.0)
            proto.error = f"its wrapper did not answer within {bound:g}s and was killed"
        with contextlib.suppress(TimeoutError):
            await within(asyncio.shield(proto.stdout_closed), _DRAIN)
        finished = True
    finally:
        if finished or proto.exited.done():
            transport.close()
        else:  # cancelled: end the command in the background, as the wrapper would
            _CLEANUPS.start(_end_cancelled(transport, proto, pid, marker, kill_grace))
    result = proto.result()
    if not proto.wrapper_ok and proto.error is None:
        # The wrapper died without answering (SIGKILLed by the command?): its tree went to
        # init; find it by the marker variable every process of the run inherited, and by
        # what the wrapper reported while it ran (pids, their sessions, the output pipe).
        killed = await asyncio.to_thread(_kill_left, marker, proto)
        if killed:
            result = replace(result, error=f"{result.error}; killed {killed} processes left")
    return result


class _WrapperProtocol(asyncio.SubprocessProtocol):
    """Collects the wrapper's answer line (bounded) and tells when the wrapper exited; never
    waits on a pipe (``Process.wait`` would, until every holder of the pipe closed it)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.exited: asyncio.Future[None] = loop.create_future()
        self.stdout_closed: asyncio.Future[None] = loop.create_future()
        self.out = bytearray()
        self.err = bytearray()
        self.error: str | None = None
        self.wrapper_ok = False
        #: What the wrapper reported of the command's tree (pid -> start time), its output
        #: pipe's inode, and when the wrapper started: for the fallback if it is killed.
        self.seen: dict[int, int] = {}
        self.pipe: int | None = None
        self.since: int | None = None
        self._line = bytearray()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        # Only the end of each is kept: the answer is the last line, and the end of a
        # traceback is what tells; a flood (see result()) cannot grow the kernel's memory.
        if fd == 1:
            self._reports(data)
            self.out += data
            del self.out[:-_RESULT_LIMIT]
        else:
            self.err += data
            del self.err[:-65536]

    def _reports(self, data: bytes) -> None:
        """Collect the report lines (``~seen ...``) as they come; bounded like the rest."""
        self._line += data
        *lines, rest = self._line.split(b"\n")
        self._line = bytearray(rest[-65536:])
        for line in lines:
            if len(self.seen) < 100_000:
                seen, pipe = reaper.parse_report(bytes(line))
                self.seen.update(seen)
                if pipe is not None:
                    self.pipe = pipe

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd == 1 and not self.stdout_closed.done():
            self.stdout_closed.set_result(None)

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)

    def result(self) -> CommandResult:
        if self.error is not None:
            return CommandResult(error=self.error)
        try:
            # The answer is the wrapper's last line, written after the tree was killed; a
            # command that wrote into the wrapper's stdout (as root, /proc/PPID/fd/1) only
            # adds lines before it.
            fields = reaper.parse_answer(bytes(self.out).rstrip(b"\n").rsplit(b"\n", 1)[-1])
            if "error" in fields:
                self.wrapper_ok = True
                return CommandResult(error=bytes.fromhex(fields["error"]).decode())
            result = CommandResult(
                exit_code=_int(fields["exit_code"]),
                signal=_int(fields["signal"]),
                timed_out=fields["timed_out"] == "1",
                cancelled=fields["cancelled"] == "1",
                head=bytes.fromhex(fields["head"]),
                tail=bytes.fromhex(fields["tail"]),
                total=int(fields["total"]),
                leftovers=int(fields["leftovers"]),
                survivors=tuple(int(pid) for pid in fields["survivors"].split(",") if pid),
                pipe_held=fields["pipe_held"] == "1",
                seconds=float(fields["seconds"]),
            )
        except (ValueError, KeyError):
            lines = bytes(self.err).decode("utf-8", "replace").strip().splitlines()
            why = f": {lines[-1]}" if lines else ""
            return CommandResult(error=f"its wrapper ended without a result{why}")
        self.wrapper_ok = True
        return result


def _kill_left(marker: str, proto: _WrapperProtocol) -> int:
    return reaper.kill_marked(marker, seen=dict(proto.seen), pipe=proto.pipe, since=proto.since)


async def _force_end(pid: int, marker: str, proto: _WrapperProtocol) -> None:
    """Kill the wrapper's tree from here (the wrapper is alive, so its tree is attached to it),
    then the wrapper, then anything of the run re-parented elsewhere."""
    await asyncio.to_thread(reaper.kill_tree, pid)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    await asyncio.to_thread(_kill_left, marker, proto)


async def _end_cancelled(
    transport: asyncio.SubprocessTransport,
    proto: _WrapperProtocol,
    pid: int,
    marker: str,
    grace: float,
) -> None:
    try:
        with contextlib.suppress(ProcessLookupError):
            transport.send_signal(signal.SIGTERM)  # the wrapper ends its tree, then itself
        try:
            await within(asyncio.shield(proto.exited), grace + _DRAIN + _SLACK)
        except TimeoutError:
            await _force_end(pid, marker, proto)
    finally:
        transport.close()


def _int(text: str) -> int | None:
    return int(text) if text else None


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


#: A cut moves back (or forward) to a line's end when one is this close.
_LINE_SLACK = 256


def _cut_head(data: bytes) -> bytes:
    """The head up to its last whole line if one ends near the cut, else up to its last
    whole UTF-8 character."""
    newline = data.rfind(b"\n", max(0, len(data) - _LINE_SLACK))
    return data[: newline + 1] if newline >= 0 else _trim_end(data)


def _cut_tail(data: bytes) -> bytes:
    """The tail from its first whole line if one starts near the cut, else from its first
    whole UTF-8 character."""
    newline = data.find(b"\n", 0, _LINE_SLACK)
    return data[newline + 1 :] if newline >= 0 else _trim_start(data)


def _trim_end(data: bytes) -> bytes:
    """``data`` without a UTF-8 sequence cut at its end."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte < 0x80:
            return data
        if byte >= 0xC0:  # a lead byte: is its sequence complete?
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return data if back >= need else data[:-back]
    return data


def _trim_start(data: bytes) -> bytes:
    """``data`` without the continuation bytes of a UTF-8 sequence cut at its start."""
    skip = 0
    while skip < min(3, len(data)) and 0x80 <= data[skip] < 0xC0:
        skip += 1
    return data[skip:]
