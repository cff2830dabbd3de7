"""``adaptive-llm chat NAME [--clear | --fork-into OTHER | --pending]``: a job's chat, from a shell.

Works on the chats recorded in a workdir while no notebook drives it (the notebook's
RunManager holds the workdir: then it says to use the notebook). Runs no job. Without an
action, the chat itself in the terminal (``terminal.py``: the offline assistant).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

GENERAL = "general"


def add_parser(sub: Any) -> None:
    chat = sub.add_parser(
        "chat",
        help="a job's chat in the terminal; or clear, fork it, list what waits for a decision",
        description="A job's chat recorded in a workdir (no RunManager may run on it): without"
        " an action, talk with it in the terminal (the offline assistant; /help lists the"
        " commands).",
    )
    chat.add_argument("name", metavar="NAME", help=f"the job (or {GENERAL!r}: the general chat)")
    chat.add_argument("--workdir", default=".", help="the RunManager's workdir (default: .)")
    chat.add_argument(
        "--model",
        metavar="MODEL",
        default=None,
        help="the terminal chat's model, e.g. openai:gpt-4.1-mini (default: $ADAPTIVE_LLM_MODEL,"
        " else the offline assistant)",
    )
    chat.add_argument(
        "--base-url",
        metavar="URL",
        default=None,
        help="an OpenAI-compatible server for --model openai:NAME, e.g. http://127.0.0.1:8080/v1",
    )
    action = chat.add_mutually_exclusive_group()
    action.add_argument(
        "--clear",
        action="store_true",
        help="start the chat afresh: its messages are deleted, waiting changes rejected;"
        " applied edits stay undoable",
    )
    action.add_argument(
        "--fork-into",
        metavar="OTHER",
        help="copy the chat into OTHER's empty chat (a job, or 'general'), to go on there",
    )
    action.add_argument(
        "--pending", action="store_true", help="list the changes waiting for a decision"
    )


def _job(name: str) -> str | None:
    return None if name == GENERAL else name


def run(args: argparse.Namespace) -> int:
    from ..errors import AdaptiveLLMError

    if not (args.clear or args.fork_into is not None or args.pending):
        from .terminal import run as run_terminal

        return run_terminal(args, _job(args.name))
    import asyncio  # here: `adaptive-llm diagnose` does not pay for it

    try:
        return asyncio.run(_run(args))
    except (AdaptiveLLMError, LookupError, OSError) as exc:
        message = exc.args[0] if isinstance(exc, LookupError) and exc.args else exc
        print(f"adaptive-llm: {message}", file=sys.stderr)
        return 2


async def _run(args: argparse.Namespace) -> int:
    from ..errors import WorkdirBusyError
    from ..managers.stored_chats import stored_chats

    try:
        async with stored_chats(args.workdir) as service:
            if args.clear:
                print(await service.clear(_job(args.name)))
                return 0
            if args.fork_into is not None:
                text = await service.fork(_job(args.name), _job(args.fork_into))
                print(text)
                return 0 if text.startswith("Forked") else 1
            pending = await service.pending(_job(args.name))
            if not pending:
                print("Nothing waits for a decision in this chat.")
            for approval in pending:
                print(f"{approval.number}/{approval.of}. {approval.summary}")
                for shown in (approval.command, approval.diff):
                    if shown:
                        print(shown if shown.endswith("\n") else shown + "\n", end="")
            if pending:
                print("Decide in the notebook's chat (approve / reject, approve 2 ...).")
            return 0
    except WorkdirBusyError as exc:
        print(
            f"adaptive-llm: {exc}. A notebook drives it: use the chat there"
            " (its Clear button, or rm.llm_manager.clear_chat / fork_chat)",
            file=sys.stderr,
        )
        return 2
