"""Property: random chat sessions never write without consent and keep a valid message order.

Each example is a fresh run (the general chat, its workspace the workdir) driven by a scripted
model that proposes ``write_file`` calls to random files when the user writes to it. The user
approves, rejects (with or without a reason), answers with feedback, toggles YOLO, undoes, and
edits files behind the chat's back. A plain model of the expected disk content is updated only
where consent was given (approve, or YOLO on at the time of the proposal), and compared with the
disk after every step, with the pending approvals and the message order.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from chat_support import check_order, edits
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from adaptive_llm import LocalScheduler, RunManager
from adaptive_llm.testing import ScriptedChatModel

FILES = ["a.txt", "sub/b.py", "c.cfg"]
content = st.text(alphabet="ab \r\n", max_size=6)
#: The calls of one turn; a file may be written more than once (they apply in listed order).
proposals = st.lists(st.tuples(st.sampled_from(range(len(FILES))), content), max_size=3)
actions = st.one_of(
    st.tuples(st.just("message"), proposals),
    st.tuples(
        st.just("answer"),
        st.sampled_from(["approve", "y", "YES", "reject", "reject nope", "no", "use 'b' instead"]),
    ),
    st.tuples(st.just("yolo"), st.booleans()),
    st.tuples(st.just("undo"), st.none()),
    st.tuples(st.just("external"), st.tuples(st.sampled_from(range(len(FILES))), content)),
)


@dataclass
class Expected:
    """What the disk must hold, from the user's point of view."""

    disk: dict[str, bytes | None]
    yolo: bool = False
    #: Proposals waiting for an answer: (file, content before, content after).
    pending: list[tuple[str, bytes | None, bytes]] = field(default_factory=list)
    #: Applied edits, oldest first: [file, before, after, undone].
    applied: list[list[Any]] = field(default_factory=list)

    def apply(self, name: str, before: bytes | None, after: bytes) -> None:
        if self.disk[name] == before:  # else: changed since the proposal, refused
            self.disk[name] = after
            self.applied.append([name, before, after, False])

    def undo(self) -> None:
        live = [e for e in self.applied if not e[3]]
        if live and self.disk[live[-1][0]] == live[-1][2]:
            live[-1][3] = True
            self.disk[live[-1][0]] = live[-1][1]


def read_disk(root: Path) -> dict[str, bytes | None]:
    return {name: (root / name).read_bytes() if (root / name).exists() else None for name in FILES}


async def run_session(root: Path, steps: list[tuple[str, Any]]) -> None:
    plan: list[tuple[int, str]] = []
    ids = itertools.count()

    def model(messages: list[BaseMessage]) -> AIMessage:
        if not isinstance(messages[-1], HumanMessage):
            return AIMessage(content="Noted.")
        calls = [
            {
                "name": "write_file",
                "args": {"path": FILES[i], "content": text},
                "id": f"call_{next(ids)}",
            }
            for i, text in plan
        ]
        plan.clear()
        return AIMessage(content="Here is my change." if calls else "Ok.", tool_calls=calls)

    (root / "sub").mkdir(parents=True)
    (root / FILES[0]).write_bytes(b"a\r\nb")
    (root / FILES[1]).write_bytes(b"x = 1\n")
    rm = RunManager(
        [],
        workdir=root,
        scheduler=LocalScheduler(kill_grace=0.5),
        poll_interval=0.1,
        llm=ScriptedChatModel(model),
    )
    rm.start()
    lm = rm.llm_manager
    expected = Expected(read_disk(root))
    try:
        for kind, arg in steps:
            if kind == "message" or kind == "answer":
                text = "please change things" if kind == "message" else arg
                before_count = len(expected.applied)
                if expected.pending:
                    if kind == "answer" and arg.lower() in ("approve", "y", "yes"):
                        for name, before, after in expected.pending:
                            expected.apply(name, before, after)
                    expected.pending = []
                else:
                    wanted = arg if kind == "message" else []
                    plan[:] = wanted
                    for i, new in wanted:
                        name, after = FILES[i], new.encode()
                        # A call is planned on what the calls listed before it leave.
                        before = next(
                            (p[2] for p in reversed(expected.pending) if p[0] == name),
                            expected.disk[name],
                        )
                        if before == after:
                            continue  # "already has exactly this content": refused, not asked
                        if expected.yolo:
                            expected.apply(name, before, after)
                        else:
                            expected.pending.append((name, before, after))
                reply = await lm.chat(None, text)
                assert reply.error is None, reply.error
                # The calls of one turn apply in the order the model listed them.
                order = [r["path"] for r in edits(rm)[before_count:]]
                assert order == [e[0] for e in expected.applied[before_count:]]
                assert len(reply.approvals) == len(expected.pending)
            elif kind == "yolo":
                lm.set_yolo(None, arg)
                expected.yolo = arg
            elif kind == "undo":
                await lm.undo(None)
                expected.undo()
            else:
                i, new = arg
                (root / FILES[i]).parent.mkdir(exist_ok=True)
                (root / FILES[i]).write_bytes(new.encode())
                expected.disk[FILES[i]] = new.encode()
            assert read_disk(root) == expected.disk, (kind, arg)
            pending = await lm.pending(None)
            assert sorted(p.path or "" for p in pending) == sorted(p[0] for p in expected.pending)
            await check_order(rm, None)
        assert len(edits(rm)) == len(expected.applied)
        assert [e["undone_at"] is not None for e in edits(rm)] == [e[3] for e in expected.applied]
    finally:
        await rm.close()


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(steps=st.lists(actions, min_size=1, max_size=12))
# Found by hypothesis: a file changed outside to exactly the proposed content before the approve.
@example(steps=[("message", [(0, "")]), ("external", (0, "")), ("answer", "approve")])
def test_random_sessions_never_write_without_consent(
    tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[str, Any]]
) -> None:
    root = tmp_path_factory.mktemp("session")
    asyncio.run(run_session(root, steps))
