"""The chat's tools (names and arguments are a contract) and how consented actions are applied.

Read tools (``read_file``, ``list_dir``, ``search``) run freely inside the job's workspace.
Acting tools (``edit_file``, ``write_file``, ``set_job_resources``, ``resubmit_job``,
``run_command``) only *apply* what the gate recorded as approved for their tool-call id: without
a recorded approval they refuse, so nothing is written without consent even if the gate were
bypassed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
from collections.abc import Awaitable
from dataclasses import asdict
from typing import TYPE_CHECKING

from langchain.tools import ToolRuntime
from langchain_core.tools import BaseTool, tool

from .workspace import EditPlan, WorkspaceError

if TYPE_CHECKING:
    from .session import ChatService

#: Tools that act (need consent); run_command asks even in YOLO mode unless commands are allowed.
GATED = frozenset({"edit_file", "write_file", "set_job_resources", "resubmit_job", "run_command"})
COMMAND_TIMEOUT = 120.0
COMMAND_OUTPUT_LIMIT = 8000


def encode_plan(plan: EditPlan) -> bytes:
    data = asdict(plan)
    for key in ("before", "after"):
        if data[key] is not None:
            data[key] = base64.b64encode(data[key]).decode()
    return json.dumps(data).encode()


def decode_plan(blob: bytes) -> EditPlan:
    data = json.loads(blob)
    for key in ("before", "after"):
        if data[key] is not None:
            data[key] = base64.b64decode(data[key])
    return EditPlan(**data)


def build_tools(service: ChatService) -> list[BaseTool]:
    """The tools bound to one ``ChatService`` (the chat of each call comes from its context)."""

    @tool
    async def read_file(
        path: str, runtime: ToolRuntime, start_line: int | None = None, end_line: int | None = None
    ) -> str:
        """Read a text file of the workspace, with line numbers (optionally a line range)."""
        return await _guard(service.workspace(runtime).read_file(path, start_line, end_line))

    @tool
    async def list_dir(runtime: ToolRuntime, path: str = ".") -> str:
        """List a directory of the workspace (names, sizes; directories end with /)."""
        return await _guard(service.workspace(runtime).list_dir(path))

    @tool
    async def search(pattern: str, runtime: ToolRuntime, path: str = ".") -> str:
        """Search files under a path for a regular expression; returns file:line: text."""
        return await _guard(service.workspace(runtime).search(pattern, path))

    @tool
    async def edit_file(path: str, old_text: str, new_text: str, runtime: ToolRuntime) -> str:
        """Replace old_text (which must occur exactly once) with new_text in a file.

        The user sees the diff and must approve it unless auto-approval is on."""
        return await service.apply_approved(runtime)

    @tool
    async def write_file(path: str, content: str, runtime: ToolRuntime) -> str:
        """Create a file, or replace a whole file's content (prefer edit_file for changes).

        The user sees the diff and must approve it unless auto-approval is on."""
        return await service.apply_approved(runtime)

    @tool
    async def set_job_resources(
        runtime: ToolRuntime,
        time_limit: str | None = None,
        memory: str | None = None,
        cpus: int | None = None,
    ) -> str:
        """Change this chat's job's resources for its next attempt: time_limit ("10:00",
        "2h", seconds), memory ("4G"), cpus. Needs the user's approval."""
        return await service.apply_approved(runtime)

    @tool
    async def resubmit_job(runtime: ToolRuntime) -> str:
        """Start a new attempt of this chat's job (after a fix). Needs the user's approval."""
        return await service.apply_approved(runtime)

    @tool
    async def run_command(command: str, runtime: ToolRuntime) -> str:
        """Run a shell command in the workspace (time and output capped). The user is always
        asked first unless they allowed commands explicitly."""
        return await service.apply_approved(runtime)

    return [
        read_file,
        list_dir,
        search,
        edit_file,
        write_file,
        set_job_resources,
        resubmit_job,
        run_command,
    ]


async def _guard(result: Awaitable[str]) -> str:
    try:
        return await result
    except WorkspaceError as exc:
        return f"Error: {exc}"


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
    timed_out = False
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        timed_out = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, _ = await proc.communicate()
    text = out.decode("utf-8", "replace")
    if len(text) > COMMAND_OUTPUT_LIMIT:
        half = COMMAND_OUTPUT_LIMIT // 2
        cut = len(text) - COMMAND_OUTPUT_LIMIT
        text = f"{text[:half]}\n[... {cut} characters cut ...]\n{text[-half:]}"
    status = f"timed out after {timeout:g}s" if timed_out else f"exit code {proc.returncode}"
    return f"$ {command}\n{text.rstrip()}\n[{status}]"
