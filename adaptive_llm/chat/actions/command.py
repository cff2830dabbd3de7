"""``run_command``: one shell command in the workspace, shown exactly as it will run, bounded
in time and output. It asks even in YOLO mode, unless commands are allowed in the chat."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from typing import Annotated

from pydantic import AfterValidator, Field

from ..records import Item
from .base import Action, ActionArgs, ActionEnv, ActionError, Overlay, Plan, check_text

__all__ = ["RunCommand", "run_shell"]

COMMAND_TIMEOUT = 120.0
COMMAND_OUTPUT_LIMIT = 8000
#: Read from the command's output at most this much (the rest is drained and counted).
_READ_LIMIT = 1 << 20


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
        return await run_shell(command, str(env.root))

    async def resume(self, env: ActionEnv, item: Item) -> str:
        raise ActionError(
            "the command was started before the kernel stopped; its outcome is unknown and it"
            " was not run again"
        )


async def run_shell(command: str, cwd: str, timeout: float = COMMAND_TIMEOUT) -> str:
    """Run ``command`` with ``/bin/sh`` in its own process group; output and time capped."""
    proc = await asyncio.create_subprocess_exec(
        "/bin/sh",
        "-c",
        command,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    chunks: list[bytes] = []
    kept = dropped = 0

    async def read() -> None:
        nonlocal kept, dropped
        assert proc.stdout is not None
        while chunk := await proc.stdout.read(65536):
            if kept < _READ_LIMIT:
                chunks.append(chunk[: _READ_LIMIT - kept])
                dropped += max(0, len(chunk) - (_READ_LIMIT - kept))
                kept += min(len(chunk), _READ_LIMIT - kept)
            else:
                dropped += len(chunk)
        await proc.wait()

    timed_out = False
    try:
        await asyncio.wait_for(read(), timeout)
    except TimeoutError:
        timed_out = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
    text = b"".join(chunks).decode("utf-8", "replace")
    if len(text) > COMMAND_OUTPUT_LIMIT or dropped:
        half = COMMAND_OUTPUT_LIMIT // 2
        cut = len(text) - COMMAND_OUTPUT_LIMIT + dropped
        text = f"{text[:half]}\n[... {max(cut, 0)} characters cut ...]\n{text[-half:]}"
    status = f"timed out after {timeout:g}s" if timed_out else f"exit code {proc.returncode}"
    return f"$ {command}\n{text.rstrip()}\n[{status}]"
