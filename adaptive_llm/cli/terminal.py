"""``adaptive-llm chat NAME``: a job's chat in a terminal (an SSH session, no notebook).

The same ``ChatService`` and stored chat as the notebook's widget, through a RunManager on the
workdir's recorded jobs while no notebook drives it (``resumed_run``: its scheduler is the one
the attempts ran on, so changes of a job and resubmissions happen as in the notebook; running
jobs are re-attached and keep running when the chat ends): the history comes
back first (the diagnosis, then the conversation), replies stream as they come, every change
waiting for a decision is shown in full (number, summary, diff or command), and ``approve`` /
``reject`` answer only the changes on screen. Rendered with rich, read with prompt_toolkit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.live import Live

    from ..chat.events import Approval, ChatEvent, ChatMessage
    from ..chat.service import ChatService

PROMPT = "you> "

HELP = """\
Type a message for the assistant, or answer the changes shown:
  approve               apply every change shown      approve 2      only change 2
  reject [reason]       decline every change shown    reject 2 [reason]
Commands:
  /pending              the changes waiting for you, each in full
  /undo                 restore the last applied edit
  /yolo on|off          apply edits without asking (commands still ask)
  /history              the conversation again, starting with the diagnosis
  /help                 this text
  /quit                 leave (or Ctrl-D); Ctrl-C cancels the reply being made"""

ANSWERS = "Answer with approve, approve N, reject [reason] or reject N [reason]."

#: Seconds between two re-renders of a streaming reply (Markdown is parsed on each).
REFRESH = 0.1


def needs_terminal() -> str | None:
    """Why the interactive chat cannot run here (None when stdin and stdout are terminals)."""
    if sys.stdin.isatty() and sys.stdout.isatty():
        return None
    return (
        "the interactive chat needs a terminal (stdin and stdout); from a script use"
        " --clear, --fork-into OTHER or --pending"
    )


def run(args: argparse.Namespace, job: str | None) -> int:
    """The interactive chat on ``job`` (None: the general chat) of ``args.workdir``."""
    from ..errors import AdaptiveLLMError, WorkdirBusyError

    problem = needs_terminal()
    if problem is not None:
        print(f"adaptive-llm: {problem}", file=sys.stderr)
        return 2
    try:
        llm = model_of(getattr(args, "model", None), getattr(args, "base_url", None))
        return asyncio.run(_main(args.workdir, job, llm))
    except WorkdirBusyError as exc:
        print(f"adaptive-llm: {exc}. A notebook drives it: use the chat there", file=sys.stderr)
        return 2
    except (AdaptiveLLMError, LookupError, OSError, ValueError) as exc:
        message = exc.args[0] if isinstance(exc, LookupError) and exc.args else exc
        print(f"adaptive-llm: {message}", file=sys.stderr)
        return 2


def model_of(model: str | None, base_url: str | None) -> Any:
    """The chat's model as the demo takes it: ``--model`` (else ``$ADAPTIVE_LLM_MODEL``, else
    the offline assistant), with ``--base-url`` for an OpenAI-compatible server."""
    import os

    name = model or os.environ.get("ADAPTIVE_LLM_MODEL") or "offline"
    if base_url:
        if not name.startswith("openai:"):
            raise ValueError("--base-url needs --model openai:NAME")
        return {"model": name, "base_url": base_url}
    return name


async def _main(workdir: str, job: str | None, llm: Any = "offline") -> int:
    from ..managers.resume import resumed_run

    async with resumed_run(workdir, llm) as rm:
        service = rm.llm_manager.chat_service()
        if job is not None:
            service.run.job(job)  # UnknownJobError: one line, before anything is shown
        with _quiet_logs():
            return await TerminalChat(service, job).loop()


@contextlib.contextmanager
def _quiet_logs() -> Iterator[None]:
    """The package's warnings as one dim line each, no traceback: the chat says what failed."""
    import logging

    class OneLine(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            from rich.console import Console
            from rich.text import Text

            Console(stderr=True).print(Text(f"({record.getMessage()})", "dim"))

    logger = logging.getLogger("adaptive_llm")
    handler = OneLine(logging.WARNING)
    logger.addHandler(handler)
    propagate, logger.propagate = logger.propagate, False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


class TerminalChat:
    """One interactive session on one chat."""

    def __init__(self, service: ChatService, job: str | None) -> None:
        from rich.console import Console

        self.service = service
        self.job = job
        self.console: Console = Console(highlight=False)
        #: The keys of the changes on screen: what ``approve`` / ``reject`` answer.
        self.shown: list[str] = []
        self._turn: asyncio.Task[None] | None = None

    # -- the loop -----------------------------------------------------------------------------

    async def loop(self) -> int:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.history import InMemoryHistory

        session: PromptSession[str] = PromptSession(history=InMemoryHistory())
        name = f"job {self.job}" if self.job else "the general chat"
        self.console.rule(f"adaptive-llm chat: {name}", style="dim")
        await self.show_history()
        await self.show_pending(quiet=True)
        self.console.print("[dim]/help for the commands, Ctrl-D to quit.[/dim]")
        while True:
            try:
                text = await session.prompt_async(PROMPT)
            except KeyboardInterrupt:  # Ctrl-C at the prompt: a fresh line
                continue
            except EOFError:  # Ctrl-D
                break
            text = text.strip()
            if not text:
                continue
            # Ctrl-C from here to the next prompt (the terminal is not in prompt_toolkit's raw
            # mode then, and prompt_toolkit drops any SIGINT handler when it returns) cancels
            # the turn being made, and nothing else.
            with self._sigint():
                if text.startswith("/"):
                    if not await self.command(text):
                        break
                    continue
                await self.turn(text)
        self.console.print("[dim]Bye.[/dim]")
        return 0

    @contextlib.contextmanager
    def _sigint(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, self._interrupt)
        try:
            yield
        finally:
            loop.remove_signal_handler(signal.SIGINT)

    def _interrupt(self) -> None:
        if self._turn is not None and not self._turn.done():
            self._turn.cancel()

    async def command(self, text: str) -> bool:
        """Run a ``/command``; False to quit."""
        word, _, rest = text.partition(" ")
        rest = rest.strip().lower()
        if word in ("/quit", "/exit", "/q"):
            return False
        if word == "/help":
            self.console.print(HELP, markup=False)
        elif word == "/pending":
            await self.show_pending()
        elif word == "/history":
            await self.show_history()
        elif word == "/undo":
            self.console.print(await self.service.undo(self.job), markup=False)
        elif word == "/yolo" and rest in ("on", "off"):
            self.service.set_flag(self.job, "yolo", rest == "on")
            self.console.print(
                "YOLO mode on: edits, job changes and resubmissions apply without asking, from"
                " the next reply on (commands still ask)."
                if rest == "on"
                else "YOLO mode off: every change waits for you."
            )
        elif word == "/yolo":
            on = bool(self.service.settings(self.job).get("yolo"))
            self.console.print(f"YOLO mode is {'on' if on else 'off'}: /yolo on|off")
        else:
            self.console.print(f"Unknown command {word}; /help lists them.", markup=False)
        return True

    # -- a turn -------------------------------------------------------------------------------

    async def turn(self, text: str) -> None:
        """Send ``text``; Ctrl-C cancels the turn and leaves the chat usable."""
        task = asyncio.create_task(self._stream(text))
        self._turn = task
        try:
            await asyncio.wait([task])
        finally:
            self._turn = None
        if task.cancelled():
            self.console.print("[yellow]Cancelled.[/yellow]")
            await self.settle()
            return
        exc = task.exception()
        if exc is not None:
            from rich.text import Text

            self.console.print(Text(f"The turn failed: {exc}", "red"))

    async def settle(self) -> None:
        """After a cancelled turn: what it left decided but not done is settled now, as after
        a crash (each change applies whole or not at all, a command that had started is not
        run again), then what still waits is shown. Not cancellable (Ctrl-C cancels turns)."""
        from rich.text import Text

        from ..chat.events import ItemStatus

        before = {a.key: a.status for a in await self.service.open_changes(self.job)}
        approvals: list[Approval] = []
        reply = _Reply(self.console)
        for event in await self.service.finish_decided(self.job):
            if event.type == "token":
                reply.add(event.text)
            else:
                reply.stop()
                self._event(event, approvals)
        reply.stop()
        for a in await self.service.open_changes(self.job):
            if a.status.settled and not before.get(a.key, a.status).settled:
                ok = a.status is ItemStatus.DONE
                note = "" if ok else " (a change that had started is not made again)"
                line = f"<- {a.number}. {a.summary}: {a.status.value}{note}"
                self.console.print(Text(line, "green" if ok else "red"))
        await self.show_pending(quiet=True)

    async def _stream(self, text: str) -> None:
        reply = _Reply(self.console)
        approvals: list[Approval] = []
        try:
            # Cancelled (Ctrl-C) while waiting on the stream: the CancelledError goes through
            # the service's turn, which lets go of the chat's lock on its way out.
            async for event in self.service.stream(self.job, text, self.shown):
                if event.type == "token":
                    reply.add(event.text)
                    continue
                reply.stop()
                self._event(event, approvals)
        finally:
            reply.stop()
        self.shown = [a.key for a in approvals]
        if approvals:
            self.show_approvals(approvals)

    def _event(self, event: ChatEvent, approvals: list[Approval]) -> None:
        from rich.text import Text

        if event.type == "tool_call":
            self.console.print(Text(f"-> {event.text}({_args(event.data.get('args'))})", "dim"))
        elif event.type in ("tool_result", "applied"):
            ok = event.data.get("status") != "error"
            first = event.text.strip().splitlines()[0] if event.text.strip() else ""
            number = event.data.get("number")
            label = f"{number}. " if number else f"{event.data.get('name', '')}: "
            style = "green" if ok else "red"
            style = style if event.type == "applied" else "dim"
            self.console.print(Text(f"<- {label}{first}", style))
        elif event.type == "approval" and event.approval is not None:
            approvals.append(event.approval)
        elif event.type == "error":
            self.console.print(Text(event.text, "red"))

    # -- showing ------------------------------------------------------------------------------

    async def show_history(self) -> None:
        for message in await self.service.history(self.job):
            self.console.print(_message(message))

    async def show_pending(self, *, quiet: bool = False) -> None:
        pending = await self.service.pending(self.job)
        self.shown = [a.key for a in pending]
        if pending:
            self.show_approvals(pending)
        elif not quiet:
            self.console.print("Nothing waits for a decision in this chat.")

    def show_approvals(self, approvals: Sequence[Approval]) -> None:
        from rich.syntax import Syntax
        from rich.text import Text

        self.console.print(Text("Waiting for your decision:", "bold yellow"))
        for a in approvals:
            self.console.print(Text(f"[{a.number}/{a.of}] {a.summary}", "bold yellow"))
            if a.command:
                self.console.print(Syntax(a.command, "bash", theme="ansi_dark", word_wrap=True))
            if a.diff:
                diff = a.diff.rstrip("\n")
                self.console.print(Syntax(diff, "diff", theme="ansi_dark", word_wrap=True))
            if a.after:
                waits = ", ".join(str(n) for n in a.after)
                self.console.print(Text(f"    (waits for change {waits})", "dim"))
        self.console.print(Text(ANSWERS, "yellow"))


class _Reply:
    """The reply being streamed: re-rendered as Markdown while tokens come."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.text = ""
        self._live: Live | None = None
        self._shown_at = 0.0

    def add(self, token: str) -> None:
        from rich.live import Live

        self.text += token
        if self._live is None:
            self._live = Live(
                _markdown(self.text),
                console=self.console,
                auto_refresh=False,
                vertical_overflow="visible",
            )
            self._live.start()
            self._shown_at = time.monotonic()
        elif time.monotonic() - self._shown_at >= REFRESH:
            self._live.update(_markdown(self.text), refresh=True)
            self._shown_at = time.monotonic()

    def stop(self) -> None:
        """End the reply's segment (a tool call or the turn's end follows)."""
        if self._live is not None:
            self._live.update(_markdown(self.text), refresh=True)
            self._live.stop()
            self._live = None
        self.text = ""


def _markdown(text: str) -> RenderableType:
    from rich.markdown import Markdown

    return Markdown(text)


def _message(message: ChatMessage) -> RenderableType:
    from rich.console import Group
    from rich.panel import Panel
    from rich.text import Text

    if message.role == "diagnosis":
        return Panel(
            _markdown(message.text), title="diagnosis", title_align="left", border_style="red"
        )
    if message.role == "user":
        return Text(PROMPT + message.text, "bold cyan")
    if message.role == "tool":
        first = message.text.strip().splitlines()[0] if message.text.strip() else ""
        style = "red dim" if message.status == "error" else "dim"
        return Text(f"<- {message.name}: {first}", style)
    parts: list[RenderableType] = [_markdown(message.text)] if message.text else []
    for call in message.tool_calls:
        parts.append(Text(f"-> {call.get('name')}({_args(call.get('args'))})", "dim"))
    return Group(*parts)


def _args(args: Any, limit: int = 80) -> str:
    """A tool call's arguments on one short line."""
    if not isinstance(args, dict):
        return ""
    text = ", ".join(f"{k}={v!r}" for k, v in args.items())
    return text if len(text) <= limit else text[: limit - 3] + "..."
