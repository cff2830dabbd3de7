"""The chat on a job: rendered history, streamed answers, approval cards, YOLO and Undo.

Callbacks never block or await widget events: each starts a task on the kernel's running loop,
kept in a set until it ends; an exception is logged and shown in the chat as a message.
Streaming updates only the last message, at most every ``THROTTLE`` seconds; a new message
appends one widget, so the history is never re-rendered.
"""

from __future__ import annotations

import html
import logging
import warnings
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets  # type: ignore[import-untyped]

from .messages import THROTTLE as THROTTLE
from .messages import Bubble as Bubble
from .messages import Stream, bubble_of
from .render import diff_html, markdown_html, plain_html, sanitize, style_tag
from .tasks import WidgetTasks as WidgetTasks

if TYPE_CHECKING:
    from ..chat.events import Approval
    from ..managers.llm_manager import LLMManager

log = logging.getLogger(__name__)


#: The fork menu's value for the general chat (no job name can hold a NUL).
_GENERAL = "\x00general"


class ChatWidget(widgets.VBox):  # type: ignore[misc]
    """``chat_widget(llm_manager, name)``: see the module docstring."""

    def __init__(self, llm_manager: LLMManager, name: str | None) -> None:
        self.lm = llm_manager
        self.name = name
        self.tasks = WidgetTasks(self._show_exception)
        self.updates = 0  # widget value updates made by streaming (for tests and the bench)
        title = f"Chat · {name}" if name else "Chat"
        self.title = widgets.HTML(f'<span class="adaptive-llm-chat-title">{html.escape(title)}')
        self.usage_label = widgets.HTML()
        self.usage_label.add_class("adaptive-llm-usage")
        self.yolo = widgets.ToggleButton(
            value=False,
            description="YOLO",
            icon="bolt",
            tooltip="Apply edits without asking (commands still ask)",
            layout=widgets.Layout(width="auto"),
        )
        self.yolo.add_class("adaptive-llm-yolo")
        self.undo_button = _header_button("Undo", "undo", "Undo the last applied edit", "undo")
        self.clear_button = _header_button(
            "Clear", "eraser", "Start this chat afresh (asks to confirm)", "clear"
        )
        self._confirm_clear = False
        others = [j for j in sorted(self.lm.job_manager.jobs) if j != name]
        self.fork_into = widgets.Dropdown(
            options=[("fork into…", "")]
            + [(j, j) for j in others]
            + ([("general chat", _GENERAL)] if name is not None else []),
            value="",
            tooltip="Copy this chat into another job's empty chat, to go on there",
            layout=widgets.Layout(width="9em"),
        )
        self.fork_into.add_class("adaptive-llm-fork-into")
        self.fork_button = _header_button(
            "Fork", "code-branch", "Copy this chat into the chosen one", "fork"
        )
        header = widgets.HBox(
            [
                self.title,
                self.usage_label,
                self.yolo,
                self.undo_button,
                self.clear_button,
                self.fork_into,
                self.fork_button,
            ],
            layout=widgets.Layout(align_items="center", justify_content="space-between"),
        )
        # The messages in order, in a box that scrolls: ``column-reverse`` puts the scroll origin
        # at the bottom, so the browser keeps the newest message in view as the history grows
        # (and leaves a reader who scrolled up where they are), without any kernel-side scrolling.
        self.messages = widgets.VBox(layout=widgets.Layout(overflow="visible"))  # not a scroller
        self.messages.add_class("adaptive-llm-messages")
        self.history_box = widgets.Box(
            [self.messages],
            layout=widgets.Layout(
                max_height="520px", overflow="auto", display="flex", flex_flow="column-reverse"
            ),
        )
        self.history_box.add_class("adaptive-llm-history")
        self.approval_box = widgets.VBox()
        self.status = widgets.HTML()
        self.status.add_class("adaptive-llm-busy")
        self.input = widgets.Text(
            placeholder="Ask about this job, or type approve / reject",
            layout=widgets.Layout(flex="1 1 auto", width="auto"),
        )
        self.input.add_class("adaptive-llm-chat-input")
        with warnings.catch_warnings():  # Enter sends; a blur must not (value+observe would)
            warnings.simplefilter("ignore", DeprecationWarning)
            self.input.on_submit(lambda _: self.tasks.call(self.submit))
        self.send_button = widgets.Button(description="Send", button_style="primary")
        self.send_button.layout.width = "auto"
        self.send_button.add_class("adaptive-llm-send")
        super().__init__(
            [
                widgets.HTML(style_tag()),
                header,
                self.history_box,
                self.approval_box,
                self.status,
                widgets.HBox([self.input, self.send_button]),
            ]
        )
        self.add_class("adaptive-llm-chat")
        #: The changes waiting for the user, as shown (one card each).
        self.approvals: list[Approval] = []
        #: The key of every change ever shown with its buttons (for tests and audits).
        self.rendered: set[str] = set()
        #: Tool calls whose result is on screen (a change applied before its reply ended).
        self.results_shown: set[str] = set()
        self._approval_buttons: list[widgets.Button] = []
        self.busy = False
        self.send_button.on_click(lambda _: self.tasks.call(self.submit))
        self.undo_button.on_click(lambda _: self.tasks.call(self.undo))
        self.clear_button.on_click(lambda _: self.tasks.call(self.clear))
        self.fork_button.on_click(lambda _: self.tasks.call(self.fork))
        self.yolo.observe(lambda change: self.tasks.call(self._on_yolo, change), "value")
        self._set_busy(True, "loading the conversation…")
        self.tasks.start(self._load(), "chat-load")

    # -- actions ------------------------------------------------------------------------------

    @property
    def approval(self) -> Approval | None:
        """The first change waiting for the user (``approvals`` lists all)."""
        return self.approvals[0] if self.approvals else None

    def submit(self, text: str | None = None, shown: list[str] | None = None) -> None:
        """Send the input's text (or ``text``) as the user's message, in a background task.

        An answer (approve, reject, ...) applies only to the changes on screen (``shown``:
        their keys; by default the cards shown now)."""
        message = (self.input.value if text is None else text).strip()
        if not message or self.busy:
            return
        self._reset_clear()
        keys = [a.key for a in self.approvals] if shown is None else list(shown)
        self.input.value = ""
        self._set_busy(True)  # at once: a second Enter must not start a second turn
        self._append(Bubble("user", message))
        self._show_approvals([])
        self.tasks.start(self._turn(message, keys), "chat-turn")

    def undo(self) -> None:
        """Undo the chat's last applied edit, in a background task."""
        if not self.busy:
            self._set_busy(True, "undoing…")
            self.tasks.start(self._undo(), "chat-undo")

    def clear(self, confirm: bool = False) -> None:
        """Start the chat afresh: the first click asks to confirm, the second clears (or
        ``clear(confirm=True)`` at once). Changes still waiting are rejected."""
        if self.busy:
            return
        if not (confirm or self._confirm_clear):
            self._confirm_clear = True
            self.clear_button.description = "Clear: sure?"
            self.clear_button.button_style = "danger"
            return
        self._reset_clear()
        self._set_busy(True, "clearing…")
        self.tasks.start(self._clear(), "chat-clear")

    def fork(self) -> None:
        """Copy this chat into the chat chosen in the header (a job's, or the general chat);
        that chat must be empty. This one stays as it is."""
        target = self.fork_into.value
        if not target:
            self._append(Bubble("tool", "Choose the job to fork into first.", title="fork"))
            return
        self._set_busy(True, "forking…")
        self.tasks.start(self._fork(None if target == _GENERAL else target), "chat-fork")

    async def _fork(self, into: str | None) -> None:
        try:
            text = await self.lm.fork_chat(self.name, into)
        finally:
            self._set_busy(False)
        self.fork_into.value = ""
        self._append(Bubble("tool", text, title="fork"))

    def _reset_clear(self) -> None:
        self._confirm_clear = False
        self.clear_button.description = "Clear"
        self.clear_button.button_style = ""

    def approve(self, number: int | None = None) -> None:
        """Approve every change shown (or the one with this number)."""
        self.submit("approve" if number is None else f"approve {number}")

    def reject(self, number: int | None = None) -> None:
        """Reject every change shown (or the one with this number)."""
        self.submit("reject" if number is None else f"reject {number}")

    async def idle(self) -> None:
        await self.tasks.idle()

    # -- tasks --------------------------------------------------------------------------------

    async def _load(self) -> None:
        try:
            history = await self.lm.history(self.name)
            pending = await self.lm.open_changes(self.name)
            self.yolo.value = bool(self.lm.chat_settings(self.name).get("yolo"))
        except Exception as exc:
            self._append(Bubble("assistant", _error_text(exc), error=True))
            return
        finally:
            self._set_busy(False)
        self.messages.children = tuple(bubble_of(message) for message in history)
        if not history:
            self._append(Bubble("assistant", "Ask anything about this job."))
        self._show_approvals(pending)
        self._update_usage()

    async def _turn(self, text: str, shown: list[str]) -> None:
        state = Stream(self)
        pending: list[Approval] = []
        try:
            async for event in self.lm.chat_stream(self.name, text, shown=shown):
                state.handle(event)
            pending = await self.lm.open_changes(self.name)
        except Exception as exc:
            state.flush()
            self._append(Bubble("assistant", _error_text(exc), error=True))
        finally:
            state.flush()
            self._set_busy(False)
        self._show_approvals(pending)
        self._update_usage()

    async def _clear(self) -> None:
        try:
            text = await self.lm.clear_chat(self.name)
        finally:
            self._set_busy(False)
        self.messages.children = ()
        self._append(Bubble("tool", text, title="clear"))
        self._show_approvals(await self.lm.open_changes(self.name))
        self._update_usage()

    async def _undo(self) -> None:
        try:
            text = await self.lm.undo(self.name)
        finally:
            self._set_busy(False)
        self._append(Bubble("tool", text, title="undo"))

    def _on_yolo(self, change: dict[str, Any]) -> None:
        try:
            self.lm.set_yolo(self.name, bool(change["new"]))
        except Exception as exc:
            self._show_exception(exc)
            return
        self.yolo.button_style = "warning" if change["new"] else ""

    # -- display ------------------------------------------------------------------------------

    def _append(self, bubble: Bubble) -> Bubble:
        self.messages.children = (*self.messages.children, bubble)
        return bubble

    def _set_busy(self, busy: bool, text: str = "the assistant is working…") -> None:
        self.busy = busy
        self.input.disabled = busy
        self.send_button.disabled = busy
        self.undo_button.disabled = busy
        self.clear_button.disabled = busy
        self.fork_button.disabled = busy
        for button in self._approval_buttons:
            button.disabled = busy
        self.status.value = html.escape(text) if busy else ""

    def _show_approvals(self, approvals: list[Approval]) -> None:
        """One card per change waiting for the user, each with its full diff or command and
        its own buttons; Approve all / Reject all when there are several. Approved changes
        that wait for an earlier one are listed too, without buttons."""
        pending = [a for a in approvals if a.status == "pending"]
        self.approvals = pending
        self.rendered.update(a.key for a in pending)
        self._approval_buttons = []
        if not approvals:
            self.approval_box.children = ()
            return
        cards = [self._card(a) for a in approvals]
        if len(pending) > 1:
            every = [a.key for a in pending]
            approve_all = self._button("Approve all", "success", "check-circle", "approve-all")
            reject_all = self._button("Reject all", "danger", "times-circle", "reject-all")
            approve_all.on_click(lambda _: self.tasks.call(self.submit, "approve", every))
            reject_all.on_click(lambda _: self.tasks.call(self.submit, "reject", every))
            hint = widgets.HTML(
                '<span class="adaptive-llm-usage">or type approve, approve 1 3, reject 2 ...</span>'
            )
            actions = widgets.HBox(
                [approve_all, reject_all, hint], layout=widgets.Layout(align_items="center")
            )
            actions.add_class("adaptive-llm-approval-actions")
            cards.append(actions)
        box = widgets.VBox(cards)
        box.add_class("adaptive-llm-approval")
        self.approval_box.children = (box,)

    def _card(self, approval: Approval) -> widgets.VBox:
        head = (
            f"Change {approval.number} of {approval.of}" if approval.of > 1 else "Approval needed"
        )
        parts = [f"<b>{html.escape(head)}:</b> {_inline(approval.summary)}"]
        if approval.diff:
            parts.append(diff_html(approval.diff))
        if approval.command:
            parts.append(plain_html(approval.command))
        if approval.status not in ("pending", "approved"):
            note = widgets.HTML(
                f"<b>{html.escape(head)}:</b> {_inline(approval.summary)}"
                f" <i>({html.escape(_DONE.get(approval.status, approval.status))})</i>"
            )
            note.add_class("adaptive-llm-approval-settled")
            return note
        body = widgets.HTML("".join(parts))
        if approval.status != "pending":
            after = ", ".join(str(n) for n in approval.after)
            note = f"approved; applies once change {after} is decided" if after else "approved"
            card = widgets.VBox([body, widgets.HTML(f"<i>{html.escape(note)}</i>")])
            card.add_class("adaptive-llm-approval-waiting")
            return card
        keys = [a.key for a in self.approvals]
        approve = self._button("Approve", "success", "check", "approve")
        reject = self._button("Reject", "danger", "times", "reject")
        number = approval.number
        approve.on_click(lambda _: self.tasks.call(self.submit, f"approve {number}", keys))
        reject.on_click(lambda _: self.tasks.call(self.submit, f"reject {number}", keys))
        buttons: list[Any] = [approve, reject]
        if approval.of == 1 or len(self.approvals) == 1:
            buttons.append(
                widgets.HTML('<span class="adaptive-llm-usage">or type approve / reject</span>')
            )
        card = widgets.VBox(
            [body, widgets.HBox(buttons, layout=widgets.Layout(align_items="center"))]
        )
        card.add_class("adaptive-llm-approval-card")
        return card

    def _button(self, text: str, style: str, icon: str, css: str) -> widgets.Button:
        button = widgets.Button(description=text, button_style=style, icon=icon)
        button.add_class(f"adaptive-llm-{css}")
        button.disabled = self.busy
        self._approval_buttons.append(button)
        return button

    def _update_usage(self) -> None:
        try:
            usage = self.lm.usage(self.name)
        except Exception:
            log.debug("usage not available", exc_info=True)
            return
        total = usage.input_tokens + usage.output_tokens
        if not total:
            self.usage_label.value = "0 tokens · no cost (offline assistant or no model call yet)"
            return
        parts = f"{usage.input_tokens:,} in, {usage.output_tokens:,} out"
        estimated = usage.estimated_input_tokens + usage.estimated_output_tokens
        if not estimated:
            tokens = f"{total:,} tokens ({parts})"
        elif estimated >= total:  # the server reported none: all of it is the estimate
            tokens = f"~{total:,} tokens (estimated: {parts})"
        else:
            tokens = f"~{total:,} tokens ({parts}; {estimated:,} estimated)"
        if usage.cost_usd is None:
            cost = " · cost unknown"
        else:
            cost = f" · {'~' if estimated else ''}${usage.cost_usd:.4f}"
        self.usage_label.value = tokens + cost

    def _show_exception(self, exc: BaseException) -> None:
        self._set_busy(False)
        self._append(Bubble("assistant", _error_text(exc), error=True))


_DONE = {"done": "applied", "failed": "not applied", "rejected": "rejected", "refused": "refused"}


def _header_button(description: str, icon: str, tooltip: str, css: str) -> widgets.Button:
    """A button of the chat's header (as wide as its text, with its CSS class)."""
    button = widgets.Button(description=description, icon=icon, tooltip=tooltip)
    button.layout.width = "auto"
    button.add_class(f"adaptive-llm-{css}")
    return button


def _inline(markdown_text: str) -> str:
    """One line of Markdown as inline HTML (no paragraph: it stays beside its label)."""
    rendered = markdown_html(markdown_text).strip()
    if rendered.startswith("<p>") and rendered.endswith("</p>") and rendered.count("<p>") == 1:
        rendered = rendered[3:-4]
    return sanitize(rendered)


def _error_text(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return f"**Error** ({type(exc).__name__}): {text}"


def chat_widget(llm_manager: LLMManager, name: str | None = None) -> ChatWidget:
    """The chat on job ``name`` (None: the general chat), ready to display in a cell."""
    llm_manager.require_job(name)  # UnknownJobError at once, not in a task
    return ChatWidget(llm_manager, name)
