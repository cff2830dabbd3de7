"""What the job's facts say about an Airflow task's DAG file: the task's line, its
``execution_timeout`` and the edit that doubles it, the source shown. (Pure functions over the
source; the same facts from a real Airflow are checked in ``tests/airflow``.)"""

from __future__ import annotations

import ast
from datetime import timedelta
from typing import Any

import pytest

from adaptive_llm.cli.demo_airflow import DAG_SOURCE
from adaptive_llm.jobs.schedulers.airflow_dag import (
    SOURCE_LIMIT,
    dag_facts,
    doubled_timeout,
    task_line,
    timeout_seconds,
)

OPERATORS = """\
# One operator per line too (c).
import datetime
from datetime import timedelta

a = PythonOperator(
    task_id="a",
    python_callable=f,
)
b = BashOperator(
    execution_timeout=timedelta(seconds=3),
    task_id="b",
    bash_command="sleep 10",
)
c = PythonOperator(task_id='c', execution_timeout=datetime.timedelta(minutes=1, seconds=30))
d = PythonOperator(
    task_id="d",
    python_callable=f,
    execution_timeout=timedelta(seconds=LIMIT),
)
"""

DEFAULTS = """\
default_args = {"owner": "me", "execution_timeout": timedelta(hours=1)}
with DAG("x", default_args=default_args):
    @task
    def t1():
        pass

    @task(retries=2)
    def t2():
        pass
"""


def facts(source: str, task: str, dag_file: str | None = "dags/d.py") -> dict[str, Any]:
    return dag_facts("d", task, source, dag_file=dag_file, source_from="the local DAG file")


def applied(source: str, edit: dict[str, str]) -> str:
    assert source.count(edit["old_text"]) == 1
    return source.replace(edit["old_text"], edit["new_text"])


def test_a_taskflow_task_s_decorator_timeout_is_found_and_doubled() -> None:
    got = facts(DAG_SOURCE, "slow_report")
    timeout = got["execution_timeout"]
    lines = DAG_SOURCE.splitlines()
    assert lines[got["task_line"] - 1].strip() == "def slow_report():"
    assert timeout["line"] == got["task_line"] - 1 and timeout["scope"] == "task"
    assert timeout["text"] == "timedelta(seconds=3)" and timeout["seconds"] == 3.0
    edit = timeout["edit"]
    assert edit["path"] == "dags/d.py" and edit["new"] == "timedelta(seconds=6)"
    after = applied(DAG_SOURCE, edit)
    ast.parse(after)  # still Python
    assert "@task(execution_timeout=timedelta(seconds=6))" in after
    assert after.count("timedelta(seconds=3)") == 0
    # A task without one has none (the demo's DAG sets no default).
    assert "execution_timeout" not in facts(DAG_SOURCE, "count_rows")


def test_operators_timeouts_belong_to_their_own_call() -> None:
    assert "execution_timeout" not in facts(OPERATORS, "a")  # b's is after a's call ends
    b = facts(OPERATORS, "b")["execution_timeout"]
    assert (b["line"], b["seconds"]) == (10, 3.0)
    assert applied(OPERATORS, b["edit"]).count("timedelta(seconds=6)") == 1
    c = facts(OPERATORS, "c")["execution_timeout"]
    assert c["seconds"] == 90.0 and c["edit"]["new"] == "datetime.timedelta(minutes=2, seconds=60)"
    assert eval(c["edit"]["new"], {"datetime": __import__("datetime")}) == timedelta(seconds=180)
    # A timeout that is not a literal is reported, never rewritten.
    d = facts(OPERATORS, "d")["execution_timeout"]
    assert d["text"] == "timedelta(seconds=LIMIT)" and d["seconds"] is None and "edit" not in d


def test_default_args_timeout_applies_to_tasks_without_their_own() -> None:
    for task in ("t1", "t2"):
        timeout = facts(DEFAULTS, task)["execution_timeout"]
        assert timeout["scope"] == "default_args" and timeout["seconds"] == 3600.0
        assert "timedelta(hours=2)" in applied(DEFAULTS, timeout["edit"])


def test_no_edit_without_a_local_file_and_none_for_an_unknown_task() -> None:
    remote = facts(DAG_SOURCE, "slow_report", dag_file=None)
    assert (
        remote["execution_timeout"]["seconds"] == 3.0 and "edit" not in remote["execution_timeout"]
    )
    unknown = facts(DAG_SOURCE, "no_such_task")
    assert unknown["task_line"] is None and "execution_timeout" not in unknown
    assert task_line('t = EmptyOperator(task_id = "t")\n', "t") == 1
    assert task_line("async def fetch(x):\n    pass\n", "fetch") == 1
    assert task_line("x = \"task_id='other'\"\n", "t") is None


def test_a_repeated_timeout_line_is_edited_with_enough_lines_to_be_unique() -> None:
    source = (
        "@task(execution_timeout=timedelta(seconds=5))\ndef first():\n    pass\n\n"
        "@task(execution_timeout=timedelta(seconds=5))\ndef second():\n    pass\n"
    )
    edit = facts(source, "second")["execution_timeout"]["edit"]
    assert edit["old_text"] == "@task(execution_timeout=timedelta(seconds=5))\ndef second():"
    after = applied(source, edit)
    assert after.index("seconds=10") > after.index("def first")  # second's, not first's
    assert after.count("seconds=5)") == 1


@pytest.mark.parametrize(
    ("call", "seconds", "doubled"),
    [
        ("timedelta(seconds=3)", 3.0, "timedelta(seconds=6)"),
        ("timedelta(minutes=2.5)", 150.0, "timedelta(minutes=5.0)"),
        ("timedelta(0, 30)", 30.0, "timedelta(0, 60)"),
        ("timedelta(hours=1, minutes=30)", 5400.0, "timedelta(hours=2, minutes=60)"),
        ("datetime.timedelta(days=1)", 86400.0, "datetime.timedelta(days=2)"),
        ("timedelta(seconds=x)", None, None),
        ("timedelta(seconds=True)", None, None),
        ("timedelta(fortnights=1)", None, None),
        ("timedelta(seconds=", None, None),
    ],
)
def test_timedelta_texts(call: str, seconds: float | None, doubled: str | None) -> None:
    assert timeout_seconds(call) == seconds
    assert doubled_timeout(call) == doubled
    if doubled is not None:
        assert timeout_seconds(doubled) == 2 * seconds  # type: ignore[operator]


def test_a_long_dag_file_is_shown_around_the_task_within_the_limit() -> None:
    filler = "".join(
        f"# filler line {i:05d} of a long DAG file, padded out a bit\n" for i in range(2000)
    )
    source = (
        filler + "@task(execution_timeout=timedelta(seconds=3))\ndef late():\n    pass\n" + filler
    )
    got = facts(source, "late")
    shown = got["dag_source"]
    assert len(shown["text"]) <= SOURCE_LIMIT and shown["of_lines"] == 4003
    first, last = shown["lines"]
    assert first <= got["task_line"] <= last and last - first > 100
    assert "def late():" in shown["text"]
    assert got["execution_timeout"]["edit"]["new"] == "timedelta(seconds=6)"
    short = facts(DAG_SOURCE, "extract")["dag_source"]
    assert short["text"] == DAG_SOURCE and short["from"] == "the local DAG file"
