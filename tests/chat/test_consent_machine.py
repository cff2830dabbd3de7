"""A state machine over random chat sessions: nothing applies that the user did not see.

The model (a ``ScriptedChatModel`` driven by the machine) answers each user message with a
reply of 1-5 gated calls of mixed kinds: ``write_file``/``edit_file`` on a few files (the same
file more than once in a reply), ``set_job_resources``, ``resubmit_job``, ``run_command``
(``echo <token> >> cmd.log``), and malformed calls (wrong types, missing fields, unknown
fields, a partition with a newline, a command with a carriage return). Tool-call ids repeat
across replies, message ids repeat (``same``) or are missing. The user answers with ``approve``
(and its synonyms), ``approve 1 3``, ``reject [reason]``, ``reject 2 reason`` or free text,
with all, some or none of the changes on screen (``shown=``), toggles YOLO and
``allow_commands``, and restarts the run (closing the RunManager or abandoning it).

A plain model of the product's rules (planning on what earlier changes of the reply leave,
dependencies, auto-approval read at proposal time, listed-order apply) predicts every status.
After every step: the disk, the job's resources, its attempts and the commands run match the
model; every change applied without YOLO/allowed commands was listed, with that exact diff or
command, in an ``Approval`` the test received before the answer that approved it; the
``approval_items`` statuses and the ``edits`` rows match; malformed calls are never shown;
``lm.pending`` lists exactly the changes waiting; and every tool call in the thread has exactly
one ToolMessage in an order a strict provider accepts (``check_order``).
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import shutil
import tempfile
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from chat_support import (
    DIAGNOSIS_TEXT,
    apply_unified_diff,
    approval_rows,
    check_order,
    edits,
    is_diagnosis_call,
    until_finished,
)
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from adaptive_llm import Job, LocalScheduler, Resources, RunManager
from adaptive_llm.chat.events import Approval
from adaptive_llm.testing import ScriptedChatModel

T = TypeVar("T")

JOB = Job("j", ["/bin/sh", "-c", "echo 'RuntimeError: boom'; exit 1"])
FILES = ["a.py", "b.py", "sub/c.txt"]
#: ``b.py`` holds ``x = 1`` twice: an edit of that text is refused as ambiguous.
INITIAL: dict[str, bytes | None] = {"a.py": b"x = 1\ny = 2\n", "b.py": b"x = 1\nz = 0\nx = 1\n"}
SETTLED = {"refused", "rejected", "done", "failed"}
FEEDBACK = "try a smaller change instead"

#: Calls that must be refused at once, never shown: (tool, arguments). Most are malformed;
#: some cannot be planned (outside the workspace, no change, an empty command).
MALFORMED: list[tuple[str, dict[str, Any]]] = [
    ("set_job_resources", {"cpus": "2"}),
    ("set_job_resources", {"memory": "2G", "extra": {"qos": "high"}}),
    ("set_job_resources", {"time_limit": "1h", "sbatch_lines": ["#SBATCH --uid=0"]}),
    ("set_job_resources", {"partition": "gpu\n#SBATCH --uid=0"}),
    ("set_job_resources", {"time_limit": "forever"}),
    ("edit_file", {"path": 5, "old_text": "x = 1", "new_text": "x = 2"}),
    ("edit_file", {"path": "a.py", "new_text": "x = 2"}),
    ("write_file", {"path": "a.py", "content": "x", "append": True}),
    ("write_file", {"path": "../outside.txt", "content": "x"}),
    ("edit_file", {"path": "a.py", "old_text": "x = 1", "new_text": "x = 1"}),  # no change
    ("run_command", {"command": "touch pwned.txt\r echo hi"}),
    ("run_command", {"command": "touch pwned.txt\x1b[2K"}),
    ("run_command", {"command": "   "}),
    ("resubmit_job", {"force": True}),
]

paths = st.sampled_from(FILES)
LINES = ["x = 1", "y = 2", "x = 2", "y = 3", "z = 0"]
contents = st.lists(st.sampled_from(LINES), max_size=3).map(
    lambda lines: "".join(f"{line}\n" for line in lines)
) | st.text(alphabet="xy12= \n", max_size=8)
resource_args = st.fixed_dictionaries(
    {},
    optional={
        "time_limit": st.sampled_from(["10:00", "2h", 600, 7200]),
        "memory": st.sampled_from(["2G", "512M", 2 * 1024**3]),
        "cpus": st.sampled_from([1, 2, 4]),
        "partition": st.sampled_from(["gpu", "debug"]),
    },
)


def calls(disk: dict[str, bytes | None]) -> st.SearchStrategy[tuple[str, Any, bool]]:
    """One call: (tool, arguments, malformed); a command's arguments are filled in when it is
    sent. An edit's old text is a line the file holds now, if it has any (it may be gone, or
    appear twice, by the time the edit is planned)."""

    def edit(path: str) -> st.SearchStrategy[tuple[str, Any, bool]]:
        present = [line for line in (disk[path] or b"").decode().splitlines() if line]
        old = st.sampled_from(present) if present else st.sampled_from(LINES)

        def replace(o: str) -> st.SearchStrategy[tuple[str, Any, bool]]:
            args = st.sampled_from([*(line for line in LINES if line != o), ""]).map(
                lambda n: {"path": path, "old_text": o, "new_text": n}
            )
            return args.map(lambda a: ("edit_file", a, False))

        return old.flatmap(replace)

    return st.one_of(
        st.builds(lambda p, c: ("write_file", {"path": p, "content": c}, False), paths, contents),
        paths.flatmap(edit),
        resource_args.map(lambda a: ("set_job_resources", a, False)),
        st.just(("resubmit_job", {}, False)),
        st.just(("run_command", None, False)),
        st.sampled_from(MALFORMED).map(lambda m: (m[0], m[1], True)),
    )


#: What the user has on screen when answering: every pending change (``shown=None`` or all
#: keys), the first, the others, or a key of a reply settled long ago.
screens = st.sampled_from(["none", "all", "first", "rest", "stale"])


@st.composite
def replies(
    draw: st.DrawFn, disk: dict[str, bytes | None]
) -> tuple[list[Any], list[str], str | None]:
    """The calls of a reply, their ids (repeated within the reply and across replies) and the
    reply's message id (``same`` every time, a fresh one, or none)."""
    picked = draw(st.lists(calls(disk), min_size=1, max_size=5))
    ids = [draw(st.sampled_from(["c1", "c2", "c3", "c4"])) for _ in picked]
    message_id = draw(st.sampled_from([None, "same", "fresh"]))
    return picked, ids, message_id


@dataclass
class Change:
    """The model of one change of a reply."""

    position: int
    tool: str
    status: str
    auto: bool = False
    after: tuple[int, ...] = ()
    builds_on: tuple[int, ...] = ()
    touches: frozenset[str] = frozenset()
    barrier: bool = False
    path: str | None = None
    #: Files: the content before/after (None: absent); resources: the Resources.
    before: Any = None
    new: Any = None
    #: resubmit_job: the attempt number it was planned as.
    number: int = 0
    command: str | None = None
    key: str = ""


@dataclass
class Reply:
    changes: list[Change]
    request: str = ""

    def pending(self) -> list[Change]:
        return [c for c in self.changes if c.status == "pending"]


@dataclass
class World:
    """What the user may expect, from what they saw and answered."""

    disk: dict[str, bytes | None]
    resources: Resources = field(default_factory=Resources)
    attempts: int = 1
    commands: list[str] = field(default_factory=list)
    #: change keys of the edits rows (files and resources), in the order applied.
    edits: list[str] = field(default_factory=list)


class ConsentMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.root = Path(tempfile.mkdtemp(prefix="consent-"))
        self.queue: list[AIMessage] = []
        self.world = World(disk={name: INITIAL.get(name) for name in FILES})
        self.yolo = False
        self.allow = False
        self.replies: list[Reply] = []
        self.current: Reply | None = None
        #: Every approval the test received (reply.approvals, lm.pending), by key.
        self.seen: dict[str, Approval] = {}
        #: What the user approved, as it was on screen when they did.
        self.consented: dict[str, Approval] = {}
        self.screen: list[Approval] = []
        self.tokens = itertools.count(1)
        self.fresh = itertools.count(1)
        self.rm: RunManager | None = None
        #: Abandoned RunManagers stay referenced, as a notebook's output history keeps them
        #: (a dropped one is another case: test_a_dropped_run_manager_is_stopped_by_the_next).
        self.abandoned: list[RunManager] = []
        for name, content in INITIAL.items():
            if content is not None:
                (self.root / name).write_bytes(content)
        try:
            self.run(self._start([JOB]))
        except BaseException:
            self.teardown()  # hypothesis calls it only for a machine that was made
            raise

    # -- plumbing ------------------------------------------------------------------------------

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(asyncio.wait_for(coro, 120))

    def model(self, messages: list[BaseMessage]) -> AIMessage | str:
        if is_diagnosis_call(messages):
            return DIAGNOSIS_TEXT
        if isinstance(messages[-1], HumanMessage) and self.queue:
            return self.queue.pop(0)
        return "Noted."

    async def _start(self, jobs: list[Job]) -> None:
        self.rm = RunManager(
            jobs,
            workdir=self.root,
            scheduler=LocalScheduler(kill_grace=0.5),
            poll_interval=0.05,
            llm=ScriptedChatModel(self.model),
        )
        self.rm.start()
        await self.rm.wait(timeout=60)

    @property
    def lm(self) -> Any:
        assert self.rm is not None
        return self.rm.llm_manager

    def teardown(self) -> None:
        try:
            self.loop.run_until_complete(self._close())  # its own task: no wait_for around it
        finally:
            self.loop.close()
            shutil.rmtree(self.root, ignore_errors=True)

    async def _close(self) -> None:
        if self.rm is not None:
            await self.rm.close()
        # An abandoned RunManager finishes closing in a task of its own; then nothing may be
        # left running on this loop (a task destroyed with the loop would warn later, and a
        # chat connection left open keeps a thread that stops the interpreter from exiting).
        others = asyncio.all_tasks() - {asyncio.current_task()}
        _, late = await asyncio.wait(others, timeout=15) if others else (set(), set())
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
        for rm in self.abandoned:
            chat = rm.llm_manager._chat
            if chat is not None:
                await chat.close()
        assert not late, f"still running after the run was closed: {late}"

    # -- the model of the product's rules --------------------------------------------------------

    def plan(self, picked: list[tuple[str, Any, bool]]) -> Reply:
        files: dict[str, bytes] = {}
        file_from: dict[str, int] = {}
        job: Resources | None = None
        job_from: int | None = None
        changes: list[Change] = []
        for position, (tool, args, malformed) in enumerate(picked):
            change = Change(position, tool, "refused")
            changes.append(change)
            if malformed:
                continue
            if tool in ("write_file", "edit_file"):
                path = args["path"]
                base = files[path] if path in files else self.world.disk[path]
                if tool == "write_file":
                    new = args["content"].encode()
                    if base == new:
                        continue  # "already has exactly this content"
                else:
                    old, text = args["old_text"].encode(), args["new_text"].encode()
                    at = -1 if base is None else base.find(old)
                    if old == text or base is None or at < 0 or base.find(old, at + 1) >= 0:
                        continue  # identical, no such file, not found, or not unique
                    new = base[:at] + text + base[at + len(old) :]
                change.path, change.before, change.new = path, base, new
                change.builds_on = (file_from[path],) if path in files else ()
                change.touches = frozenset({f"file:{path}"})
                files[path], file_from[path] = new, position
            elif tool == "set_job_resources":
                if not args:
                    continue
                old_resources = job if job is not None else self.world.resources
                extra = dict(old_resources.extra)
                if "partition" in args:
                    extra["partition"] = args["partition"]
                new_resources = Resources(
                    time_limit=args.get("time_limit", old_resources.time_limit),
                    memory=args.get("memory", old_resources.memory),
                    cpus=args.get("cpus", old_resources.cpus),
                    extra=extra,
                )
                if new_resources == old_resources:
                    continue  # "already has these resources"
                change.before, change.new = old_resources, new_resources
                change.builds_on = (job_from,) if job_from is not None else ()
                change.touches = frozenset({"job:j"})
                job, job_from = new_resources, position
            elif tool == "resubmit_job":
                change.number = self.world.attempts + 1
                change.touches, change.barrier = frozenset({"job:j"}), True
            else:
                change.command, change.barrier = args["command"], True
            change.after = tuple(
                e.position
                for e in changes[:-1]
                if e.status != "refused"
                and (change.barrier or e.barrier or change.touches & e.touches)
            )
            change.auto = self.allow if tool == "run_command" else self.yolo
            change.status = "approved" if change.auto else "pending"
        return Reply(changes)

    def apply_ready(self, reply: Reply) -> None:
        """Every approved change whose dependencies are settled, in listed order."""
        changes = reply.changes
        for change in changes:
            if change.status != "approved":
                continue
            if not all(changes[d].status in SETTLED for d in change.after):
                continue
            if change.auto and any(changes[d].status == "rejected" for d in change.after):
                change.status = "failed"  # auto-approval never outweighs a rejection
            elif any(changes[d].status != "done" for d in change.builds_on):
                change.status = "failed"  # planned on a change that was not applied
            else:
                change.status = self.effect(change)

    def effect(self, change: Change) -> str:
        world = self.world
        if change.tool in ("write_file", "edit_file"):
            assert change.path is not None
            if world.disk[change.path] != change.before:
                return "failed"  # changed since it was planned
            world.disk[change.path] = change.new
            world.edits.append(change.key)
        elif change.tool == "set_job_resources":
            if world.resources not in (change.before, change.new):
                return "failed"
            world.resources = change.new
            world.edits.append(change.key)
        elif change.tool == "resubmit_job":
            if world.attempts < change.number:
                world.attempts += 1
        else:
            assert change.command is not None
            world.commands.append(change.command.split()[1])
        return "done"

    # -- what the test receives ----------------------------------------------------------------

    def receive(self, approvals: list[Approval]) -> None:
        """The approvals on screen: exactly the model's pending changes, each shown in full."""
        expected = self.current.pending() if self.current else []
        assert [(a.key, a.tool) for a in approvals] == [(c.key, c.tool) for c in expected]
        for approval, change in zip(approvals, expected, strict=True):
            assert approval.number == change.position + 1
            assert approval.of == len(self.current.changes)  # type: ignore[union-attr]
            check_shown(approval, change)
            self.seen.setdefault(approval.key, approval)
        self.screen = list(approvals)

    def shown_keys(self, screen: str) -> list[str] | None:
        keys = [a.key for a in self.screen]
        if screen == "none":
            return None
        if screen == "all":
            return keys
        if screen == "first":
            return keys[:1]
        if screen == "rest":
            return keys[1:]
        settled = [k for k in self.seen if k not in keys]
        return settled[:1] or ["job:j/no-such-reply/0"]

    async def answer(self, text: str, kind: str, numbers: set[int] | None, screen: str) -> None:
        """Send an answer; predict the decision it records."""
        shown = self.shown_keys(screen)
        reply = self.current
        error: str | None = None
        if reply is None:
            pass  # nothing waits: the text is a new message to the model
        else:
            pending = reply.pending()
            visible = [c for c in pending if shown is None or c.key in shown]
            targets = visible
            if not visible:
                error = "no longer waiting"
            elif numbers is not None:
                if numbers - {c.position + 1 for c in visible}:
                    error = "There is no change"
                targets = [c for c in visible if c.position + 1 in numbers]
            if error is None:
                for change in targets:
                    assert change.key in self.seen, "answering a change never shown"
                    if kind == "approve":
                        change.status = "approved"
                        self.consented[change.key] = self.seen[change.key]
                    else:
                        change.status = "rejected"
                self.apply_ready(reply)
                if not reply.pending():
                    assert all(c.status in SETTLED for c in reply.changes)
                    self.current = None
        event(f"answer: {'new message' if reply is None else error or kind}")
        answer = await self.lm.chat("j", text, shown=shown)
        if error is None:
            assert answer.error is None, answer.error
        else:
            assert answer.error is not None and error in answer.error, answer.error
        self.receive(answer.approvals)
        assert self.rm is not None
        await self.rm.wait(timeout=60)

    # -- rules ---------------------------------------------------------------------------------

    # Rules are picked uniformly among those enabled: a message (while nothing waits) and an
    # answer (while changes wait) are listed more than once, so most steps are those.
    @precondition(lambda self: self.current is None)
    @rule(data=st.data())
    def message(self, data: st.DataObject) -> None:
        picked, ids, message_id = data.draw(replies(self.world.disk), label="reply")
        self.propose(picked, ids, message_id)

    @precondition(lambda self: self.current is None)
    @rule(data=st.data())
    def another_message(self, data: st.DataObject) -> None:
        self.message(data)

    @precondition(lambda self: self.current is None)
    @rule(data=st.data())
    def yet_another_message(self, data: st.DataObject) -> None:
        self.message(data)

    def propose(self, picked: list[Any], ids: list[str], message_id: str | None) -> None:
        filled: list[tuple[str, Any, bool]] = []
        for tool, args, malformed in picked:
            if tool == "run_command" and args is None:
                args = {"command": f"echo t{next(self.tokens)} >> cmd.log"}
            filled.append((tool, args, malformed))
        if message_id == "fresh":
            message_id = f"m{next(self.fresh)}"
        tool_calls = [
            {"name": tool, "args": args, "id": cid}
            for (tool, args, _), cid in zip(filled, ids, strict=True)
        ]
        self.queue.append(AIMessage(content="Some changes.", id=message_id, tool_calls=tool_calls))
        reply = self.plan(filled)
        self.run(self._propose(reply))

    async def _propose(self, reply: Reply) -> None:
        known = {r.request for r in self.replies}
        answer = await self.lm.chat("j", "please fix it")
        assert answer.error is None, answer.error
        assert self.rm is not None
        requests = list(dict.fromkeys(r["request"] for r in approval_rows(self.rm)))
        [request] = [r for r in requests if r not in known]
        reply.request = request
        for change in reply.changes:
            change.key = f"{request}/{change.position}"
        self.replies.append(reply)
        self.apply_ready(reply)
        self.current = reply if reply.pending() else None
        self.receive(answer.approvals)
        await self.rm.wait(timeout=60)

    @precondition(lambda self: self.current is not None)
    @rule(
        word=st.sampled_from(["approve", "y", "YES", "ok", "approve all"]),
        screen=screens,
    )
    def approve_all(self, word: str, screen: str) -> None:
        self.run(self.answer(word, "approve", None, screen))

    @precondition(lambda self: self.current is not None)
    @rule(
        word=st.sampled_from(["reject", "no", "reject not now", "reject all", FEEDBACK]),
        screen=screens,
    )
    def reject_all(self, word: str, screen: str) -> None:
        self.run(self.answer(word, "reject", None, screen))

    @precondition(lambda self: self.current is None)
    @rule(word=st.sampled_from(["approve", "reject", "approve 1"]))
    def answer_with_nothing_waiting(self, word: str) -> None:
        """A late answer (nothing waits): a plain message to the model, nothing applied."""
        self.run(self.answer(word, "approve", None, "none"))

    @precondition(lambda self: self.current is not None)
    @rule(
        approve=st.booleans(),
        picks=st.lists(st.integers(0, 4), min_size=1, max_size=3),
        bogus=st.booleans(),
        comma=st.booleans(),
        screen=screens,
    )
    def answer_some(
        self, approve: bool, picks: list[int], bogus: bool, comma: bool, screen: str
    ) -> None:
        numbers = [a.number for a in self.screen] or [1]
        chosen = {numbers[i % len(numbers)] for i in picks} | ({9} if bogus else set())
        listed = (", " if comma else " ").join(str(n) for n in sorted(chosen))
        text = f"approve {listed}" if approve else f"reject {listed} not like this"
        self.run(self.answer(text, "approve" if approve else "reject", chosen, screen))

    @precondition(lambda self: self.current is not None)
    @rule(word=st.sampled_from(["approve", "y", "approve all"]), screen=st.just("none"))
    def approve_everything(self, word: str, screen: str) -> None:
        self.approve_all(word, screen)

    @rule(yolo=st.booleans(), allow=st.booleans())
    def toggle(self, yolo: bool, allow: bool) -> None:
        """YOLO and allowed commands, for the changes proposed from now on."""
        self.lm.set_yolo("j", yolo)
        self.lm.allow_commands("j", allow)
        self.yolo, self.allow = yolo, allow

    @rule(how=st.sampled_from(["close", "abandon", "stay", "stay", "stay"]))
    def restart(self, how: str) -> None:
        """A new RunManager on the workdir (one step in five: restarts are slow)."""
        if how != "stay":
            self.run(self._restart(how))

    async def _restart(self, how: str) -> None:
        old = self.rm
        assert old is not None
        if how == "close":
            await old.close()
        else:
            self.abandoned.append(old)
        # "abandon": the new RunManager takes the workdir over from the old one. No job list:
        # the job is read from the store, with the resources the chat gave it.
        await self._start([])
        loops = [t for t in (old.job_manager.task, old.llm_manager.task) if t is not None]
        _, running = await asyncio.wait(loops, timeout=10)
        assert not running, f"the old run's loops still run: {running}"
        await until_finished(self.rm, "j", finishing=False)
        self.receive(await self.lm.pending("j"))

    # -- invariants ----------------------------------------------------------------------------

    @invariant()
    def consistent(self) -> None:
        self.run(self._check())

    async def _check(self) -> None:
        for change in (c for r in self.replies for c in r.changes):
            event(f"{change.tool} {change.status}{' (auto)' if change.auto else ''}")
        rm = self.rm
        assert rm is not None
        world = self.world
        disk = {
            name: (self.root / name).read_bytes() if (self.root / name).exists() else None
            for name in FILES
        }
        assert disk == world.disk
        assert not (self.root / "pwned.txt").exists()
        assert not (self.root.parent / "outside.txt").exists()
        assert rm.job_manager.job("j").resources == world.resources
        assert rm.job_manager.attempts["j"].number == world.attempts
        log = self.root / "cmd.log"
        assert (log.read_text().split() if log.exists() else []) == world.commands

        changes = {c.key: c for r in self.replies for c in r.changes}
        rows = approval_rows(rm)
        assert {r["key"]: r["status"] for r in rows} == {k: c.status for k, c in changes.items()}
        for row in rows:
            change = changes[row["key"]]
            if change.status not in ("refused", "pending"):
                flag = "allowed" if change.tool == "run_command" else "yolo"
                assert row["decided_by"] == (flag if change.auto else "user"), (row, change)

        # Consent: every change in effect that no auto-approval covered was approved by the
        # user, with exactly the diff or command they had on screen.
        applied = edits(rm)
        assert [r["change_key"] for r in applied] == world.edits
        for row in applied:
            change = changes[row["change_key"]]
            if not change.auto:
                assert row["change_key"] in self.consented, row
                assert row["diff"] == self.consented[row["change_key"]].diff
        by_token = {c.command.split()[1]: c for c in changes.values() if c.command}
        for token in world.commands:
            change = by_token[token]
            if not change.auto:
                assert self.consented[change.key].command == change.command
        for change in changes.values():
            if change.status == "done" and not change.auto:
                assert change.key in self.consented
            if change.status == "refused":
                assert change.key not in self.seen

        waiting = self.current.pending() if self.current else []
        assert [a.key for a in await self.lm.pending("j")] == [c.key for c in waiting]
        open_changes = self.current.changes if self.current else []
        waiting_too = [c.key for c in open_changes if c.status in ("pending", "approved")]
        assert [a.key for a in await self.lm.pending("j", waiting=True)] == waiting_too
        await check_order(rm, "j")


def check_shown(approval: Approval, change: Change) -> None:
    """The approval shows the whole change: a file's diff, every resource field it changes,
    the exact command, the attempt a resubmission makes."""
    assert approval.tool == change.tool
    if change.tool in ("write_file", "edit_file"):
        assert approval.path == change.path
        before = (change.before or b"").decode()
        assert apply_unified_diff(before, approval.diff or "") == change.new.decode()
    elif change.tool == "set_job_resources":
        lines = (approval.diff or "").splitlines()
        old, new = change.before, change.new
        for name in ("time_limit", "memory", "cpus"):
            changed = getattr(old, name) != getattr(new, name)
            assert any(line.startswith(f"+{name} = ") for line in lines) == changed, lines
            assert any(line.startswith(f"-{name} = ") for line in lines) == changed, lines
        partition = new.extra.get("partition")
        if partition != old.extra.get("partition"):
            assert f'+partition = "{partition}"' in lines, lines
    elif change.tool == "resubmit_job":
        assert f"attempt {change.number}" in approval.summary, approval.summary
    else:
        assert approval.command == change.command


SETTINGS = settings(
    max_examples=30,
    stateful_step_count=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def test_random_sessions_apply_only_what_the_user_saw() -> None:
    run_state_machine_as_test(ConsentMachine, settings=SETTINGS)


async def test_a_dropped_run_manager_is_stopped_by_the_next_one(tmp_path: Path) -> None:
    root = tmp_path / "work"
    root.mkdir()
    (root / "a.py").write_text("x = 1\n")
    call = {"path": "a.py", "old_text": "x = 1", "new_text": "x = 2"}
    steps = [AIMessage(content="", tool_calls=[{"name": "edit_file", "args": call, "id": "c1"}])]

    def model(messages: list[BaseMessage]) -> AIMessage | str:
        if is_diagnosis_call(messages):
            return DIAGNOSIS_TEXT
        return steps.pop(0) if steps else "Done."

    def make(jobs: list[Job]) -> RunManager:
        return RunManager(
            jobs,
            workdir=root,
            scheduler=LocalScheduler(kill_grace=0.5),
            poll_interval=0.05,
            llm=ScriptedChatModel(model),
        )

    first = make([JOB])
    first.start()
    await first.wait(timeout=30)
    assert len((await first.llm_manager.chat("j", "fix it")).approvals) == 1
    # Kept only to clean up at the end: the parts, not the RunManager itself.
    parts = (first.llm_manager, first.scheduler, first.store)
    tasks = [t for t in (first.job_manager.task, first.llm_manager.task) if t is not None]
    del first  # the cell runs again: `rm = RunManager(...)` drops the old object
    gc.collect()
    second = make([])
    try:
        second.start()
        await second.wait(timeout=30)
        await asyncio.sleep(0.5)
        assert [p.path for p in await second.llm_manager.pending("j")] == ["a.py"]
        still = [t.get_name() for t in tasks if not t.done()]
        assert still == [], f"the dropped RunManager's loops still run: {still}"
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await parts[0].aclose()
        await parts[1].close()
        parts[2].close()
        await second.close()
