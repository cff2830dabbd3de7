"""A kernel killed between a decision and its effects: each approved change applies once.

A real child process runs a chat whose model proposes three changes in one reply (an edit of
``a.py``, an edit of ``b.py``, a change of the job's resources), answers ``approve`` (or
``approve 1 3``), and is SIGKILLed at a chosen point of that answer. The kill is injected
around the real code, in the child only: ``ChatRecords.decide``, ``set_status`` or
``add_edit`` is wrapped so that its Nth call kills the process before or after the real call
runs (``set_status`` moves a change to ``applying`` before its effect and to ``done`` after;
``add_edit`` records the effect in the ``edits`` table). The parent then opens a new
RunManager on the workdir: every approved change must be applied exactly once (files, one
``edits`` row each, the job's resources), shown as done and never as pending; a change not
approved must still be pending, and rejecting it must not apply it; the thread's messages must
stay in an order a strict provider accepts.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from chat_support import (
    DIAGNOSIS_TEXT,
    approval_rows,
    check_order,
    edits,
    is_diagnosis_call,
    until_finished,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.messages import BaseMessage, ToolMessage

from adaptive_llm import LocalScheduler, Resources, RunManager
from adaptive_llm.testing import ScriptedChatModel

HERE = Path(__file__).resolve().parent
PROPOSED = "PROPOSED "

#: The three changes of the reply, in listed order (numbers 1, 2, 3).
CALLS: list[tuple[str, dict[str, Any]]] = [
    ("edit_file", {"path": "a.py", "old_text": "x = 1", "new_text": "x = 2"}),
    ("edit_file", {"path": "b.py", "old_text": "y = 1", "new_text": "y = 2"}),
    ("set_job_resources", {"memory": "2G", "time_limit": "2h"}),
]
BEFORE = {"a.py": "import os\nx = 1\n", "b.py": "y = 1\nz = 0\n"}
AFTER = {"a.py": "import os\nx = 2\n", "b.py": "y = 2\nz = 0\n"}
FILE_OF = {1: "a.py", 2: "b.py"}
NEW_RESOURCES = Resources(time_limit="2h", memory="2G")

CRASH_CHILD = textwrap.dedent(
    """
    import asyncio, json, os, signal, sys
    workdir, helpers, config = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    sys.path.insert(0, helpers)
    from chat_support import DIAGNOSIS_TEXT, is_diagnosis_call
    from langchain_core.messages import AIMessage, HumanMessage
    from adaptive_llm import Job, LocalScheduler, RunManager
    from adaptive_llm.chat.records import ChatRecords
    from adaptive_llm.testing import ScriptedChatModel

    def script(messages):
        if is_diagnosis_call(messages):
            return DIAGNOSIS_TEXT
        if isinstance(messages[-1], HumanMessage) and messages[-1].text == "fix it":
            calls = [
                {"name": name, "args": args, "id": f"c{i}"}
                for i, (name, args) in enumerate(config["calls"], 1)
            ]
            return AIMessage(content="Three changes.", tool_calls=calls)
        return "Done."

    def kill_at(method, nth, when):
        # Fault injection around the real method: the Nth call kills this process.
        real = getattr(ChatRecords, method)
        calls = 0

        def wrapper(self, *args, **kwargs):
            nonlocal calls
            calls += 1
            if calls == nth and when == "before":
                os.kill(os.getpid(), signal.SIGKILL)
            result = real(self, *args, **kwargs)
            if calls == nth and when == "after":
                os.kill(os.getpid(), signal.SIGKILL)
            return result

        setattr(ChatRecords, method, wrapper)

    async def main():
        job = Job("j", ["/bin/sh", "-c", "echo 'RuntimeError: boom'; exit 1"])
        rm = RunManager([job], workdir=workdir, scheduler=LocalScheduler(kill_grace=0.5),
                        poll_interval=0.1, llm=ScriptedChatModel(script))
        rm.start()
        await rm.wait(timeout=60)
        lm = rm.llm_manager
        reply = await lm.chat("j", "fix it")
        shown = [{"key": a.key, "number": a.number, "diff": a.diff} for a in reply.approvals]
        print("PROPOSED " + json.dumps(shown), flush=True)
        kill_at(*config["crash"])
        await lm.chat("j", config["answer"], shown=[a.key for a in reply.approvals])
        print("NOT KILLED: the crash point was never reached", flush=True)
        os._exit(3)

    asyncio.run(main())
    """
)


async def run_crash_child(
    workdir: Path, tmp_path: Path, answer: str, crash: tuple[str, int, str]
) -> list[dict[str, Any]]:
    """Run the child until it kills itself at ``crash``; the approvals it was shown."""
    script = tmp_path / "crash_child.py"
    script.write_text(CRASH_CHILD)
    config = {"answer": answer, "crash": list(crash), "calls": CALLS}
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        str(workdir),
        str(HERE),
        json.dumps(config),
        stdout=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, _ = await asyncio.wait_for(child.communicate(), 90)
    finally:
        if child.returncode is None:
            os.killpg(child.pid, signal.SIGKILL)
            await child.wait()
    lines = out.decode().splitlines()
    assert child.returncode == -signal.SIGKILL, (child.returncode, lines)
    [marker] = [line for line in lines if line.startswith(PROPOSED)]
    proposed: list[dict[str, Any]] = json.loads(marker[len(PROPOSED) :])
    assert [p["number"] for p in proposed] == [1, 2, 3]
    return proposed


def write_files(workdir: Path) -> None:
    for name, text in BEFORE.items():
        (workdir / name).write_text(text)


def after_restart(messages: list[BaseMessage]) -> str:
    """The model of the restarted run: it only ever answers the tool results with text."""
    if is_diagnosis_call(messages):
        return DIAGNOSIS_TEXT
    return "Done."


def restarted(workdir: Path) -> RunManager:
    """A new RunManager on the workdir. No job list is given: the job is read from the store
    (as the crashed process left it), so its resources are what the chat applied."""
    return RunManager(
        [],
        workdir=workdir,
        scheduler=LocalScheduler(kill_grace=0.5),
        poll_interval=0.1,
        llm=ScriptedChatModel(after_restart),
    )


def approved_numbers(answer: str, crash: tuple[str, int, str]) -> set[int]:
    if crash == ("decide", 1, "before"):
        return set()  # killed before the decision was recorded: nothing was approved
    return set(approved_in_order(answer))


def check_applied(rm: RunManager, workdir: Path, applied: set[int]) -> None:
    """Exactly the changes numbered ``applied`` are in effect, each recorded once."""
    rows = {r["position"] + 1: r for r in approval_rows(rm)}
    assert sorted(rows) == [1, 2, 3]
    for number, name in FILE_OF.items():
        expected = AFTER[name] if number in applied else BEFORE[name]
        assert (workdir / name).read_text() == expected, number
    resources = rm.job_manager.job("j").resources
    assert resources == (NEW_RESOURCES if 3 in applied else Resources())
    by_key: dict[str, int] = {}
    for row in edits(rm):
        by_key[row["change_key"]] = by_key.get(row["change_key"], 0) + 1
        assert row["undone_at"] is None
    assert by_key == {rows[n]["key"]: 1 for n in applied}, by_key
    for number in applied:
        assert rows[number]["status"] == "done", (number, rows[number])


async def check_thread(rm: RunManager) -> None:
    """A valid order, and once the reply is settled one ToolMessage per call with its
    outcome."""
    messages = await check_order(rm, "j")
    statuses = {r["position"] + 1: r["status"] for r in approval_rows(rm)}
    answers = {m.tool_call_id: m.status for m in messages if isinstance(m, ToolMessage)}
    if all(s in ("done", "rejected") for s in statuses.values()):
        want = {f"c{n}": "success" if s == "done" else "error" for n, s in statuses.items()}
        assert answers == want


async def restart_and_check(
    workdir: Path, proposed: list[dict[str, Any]], approved: set[int], final: str
) -> None:
    rm = restarted(workdir)
    try:
        finishing = any(r["status"] in ("approved", "applying") for r in approval_rows(rm))
        rm.start()
        await rm.wait(timeout=30)
        await until_finished(rm, "j", finishing=finishing)
        lm = rm.llm_manager
        check_applied(rm, workdir, approved)
        pending = await lm.pending("j")
        # Approved changes are never shown as pending; the others are, exactly as before.
        assert [p.number for p in pending] == sorted({1, 2, 3} - approved)
        shown = {p["number"]: p for p in proposed}
        for p in pending:
            assert p.key == shown[p.number]["key"] and p.diff == shown[p.number]["diff"]
        await check_thread(rm)

        # The user answers after the restart: ``reject`` (or ``approve``) the changes on screen.
        reply = await asyncio.wait_for(lm.chat("j", final, shown=[p.key for p in pending]), 30)
        assert reply.error is None, reply.error
        assert await lm.pending("j") == []
        now = approved | ({p.number for p in pending} if final == "approve" else set())
        check_applied(rm, workdir, now)
        statuses = {r["position"] + 1: r["status"] for r in approval_rows(rm)}
        assert statuses == {n: "done" if n in now else "rejected" for n in (1, 2, 3)}
        await check_thread(rm)
    finally:
        await rm.close()


#: Crash points of ``approve`` (all three): the order of the calls is decide, then for each
#: change set_status(applying), add_edit, set_status(done).
ALL_POINTS = [
    ("decide", 1, "before"),  # between the proposal and the decision
    ("decide", 1, "after"),  # decided, nothing applied
    ("set_status", 1, "after"),  # change 1 applying, its effect not started
    ("add_edit", 1, "before"),  # a.py written, not recorded
    ("add_edit", 1, "after"),  # a.py written and recorded, still applying
    ("set_status", 2, "after"),  # change 1 done
    ("set_status", 3, "after"),  # change 2 applying
    ("add_edit", 2, "before"),  # b.py written, not recorded
    ("set_status", 4, "before"),  # change 2 recorded, still applying
    ("add_edit", 3, "before"),  # resources changed, not recorded
    ("set_status", 6, "before"),  # change 3 recorded, still applying
    ("set_status", 6, "after"),  # all done, the answers not checkpointed
]
#: Crash points of ``approve 1 3``: change 1, then change 3 (the resources), then an
#: interrupt for change 2.
SOME_POINTS = [
    ("decide", 1, "after"),
    ("add_edit", 1, "before"),
    ("set_status", 2, "after"),
    ("add_edit", 2, "before"),  # resources changed, not recorded
    ("set_status", 4, "before"),
    ("set_status", 4, "after"),  # 1 and 3 done, the new interrupt not checkpointed
]


def approved_in_order(answer: str) -> list[int]:
    return [1, 2, 3] if answer == "approve" else sorted(int(n) for n in answer.split()[1:])


def _param(answer: str, crash: tuple[str, int, str], name: str) -> Any:
    return pytest.param(answer, crash, id=f"{name}-{crash[2]}-{crash[0]}-{crash[1]}")


@pytest.mark.parametrize(
    ("answer", "crash"),
    [_param("approve", c, "all") for c in ALL_POINTS]
    + [_param("approve 1 3", c, "1and3") for c in SOME_POINTS],
)
async def test_a_kill_during_the_answer_applies_each_approved_change_once(
    workdir: Path,
    tmp_path: Path,
    kill_leftovers: None,
    answer: str,
    crash: tuple[str, int, str],
) -> None:
    write_files(workdir)
    proposed = await run_crash_child(workdir, tmp_path, answer, crash)
    await restart_and_check(workdir, proposed, approved_numbers(answer, crash), "reject")


def crash_points(answer: str) -> list[tuple[str, int, str]]:
    """Every call the answer makes to the wrapped methods, before and after each."""
    calls = [("decide", 1)]
    for k in range(1, len(approved_in_order(answer)) + 1):
        calls += [("set_status", 2 * k - 1), ("add_edit", k), ("set_status", 2 * k)]
    return [(method, nth, when) for method, nth in calls for when in ("before", "after")]


answers = st.sampled_from(["approve", "approve 1 3", "approve 2 3", "approve 2"])


@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    case=answers.flatmap(lambda a: st.tuples(st.just(a), st.sampled_from(crash_points(a)))),
    final=st.sampled_from(["reject", "approve"]),
)
def test_a_kill_at_a_random_point_applies_each_approved_change_once(
    tmp_path_factory: pytest.TempPathFactory, case: tuple[str, tuple[str, int, str]], final: str
) -> None:
    answer, crash = case
    base = tmp_path_factory.mktemp("crash")
    workdir = base / "work"
    workdir.mkdir()
    write_files(workdir)

    async def run() -> None:
        proposed = await run_crash_child(workdir, base, answer, crash)
        await restart_and_check(workdir, proposed, approved_numbers(answer, crash), final)

    asyncio.run(run())


async def test_a_restart_opens_one_chat_connection_when_the_user_asks_at_once(
    workdir: Path, tmp_path: Path, kill_leftovers: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The restarted run finishes the decided changes in the background while the user's first
    call opens the chat too: one connection to the store, not one each (a second one, never
    closed, kept its thread alive and the interpreter from exiting)."""
    import aiosqlite

    write_files(workdir)
    proposed = await run_crash_child(workdir, tmp_path, "approve", ("decide", 1, "after"))
    opened: list[Any] = []
    connect = aiosqlite.connect

    def counting(*args: Any, **kwargs: Any) -> Any:
        connection = connect(*args, **kwargs)
        opened.append(connection)
        return connection

    monkeypatch.setattr(aiosqlite, "connect", counting)
    rm = restarted(workdir)
    try:
        rm.start()
        assert await rm.llm_manager.pending("j") == []  # the notebook asks right away
        await rm.wait(timeout=30)
        await until_finished(rm, "j")
        check_applied(rm, workdir, {1, 2, 3})
        assert [p["number"] for p in proposed] == [1, 2, 3]
        assert len(opened) == 1, f"{len(opened)} connections to the store were opened"
    finally:
        await rm.close()
        for connection in opened:  # a leaked one's thread would keep pytest from exiting
            await connection.close()
