"""Fixtures for the tests against a real Airflow 3 (``.ci/airflow-up``).

The Airflow is started outside the tests by ``.ci/airflow-up`` (``.ci/run`` does it and evaluates
the ``export`` lines it prints). The tests find it through ``ADAPTIVE_LLM_AIRFLOW_URL`` (with
``..._USERNAME``, ``..._PASSWORD`` and ``..._DAGS``, the dags folder) or through the state file
``.ci/airflow-up`` writes; without an answering Airflow they skip with the reason, and under
``CI=true`` they fail instead (as the SLURM and model-server tests do).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from airflow_env import VARS, Airflow, healthy, settings, state_file

#: Lines of each Airflow process log shown with a failed test (what the scheduler did then).
LOG_TAIL = 40


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed Airflow test shows the end of each Airflow process's log."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if not report.failed or call.when == "teardown":
        return
    logs = Path(str(state_file()).removesuffix(".env") + ".logs")
    for name in ("scheduler", "dag-processor", "api-server"):
        try:
            lines = (logs / f"{name}.log").read_text(errors="replace").splitlines()
        except OSError:
            continue
        tail = "\n".join(line[:400] for line in lines[-LOG_TAIL:])
        report.sections.append((f"airflow {name}.log (last {LOG_TAIL} lines)", tail))


def _skip_or_fail(problem: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"Airflow not available under CI=true: {problem}", pytrace=False)
    pytest.skip(f"Airflow not available: {problem}")


@pytest.fixture(scope="session")
def airflow() -> Airflow:
    found, source = settings()
    if not found.get("URL"):
        _skip_or_fail(f'{source} (start one with `eval "$(.ci/airflow-up)"`)')
    missing = [k for k in VARS if not found.get(k)]
    if missing:
        _skip_or_fail(f"{source} lacks {', '.join(missing)} (restart it with .ci/airflow-up)")
    url = found["URL"].rstrip("/")
    if not healthy(url):
        _skip_or_fail(f"Airflow at {url} (from {source}) does not answer (run .ci/airflow-up)")
    dags = Path(found["DAGS"])
    if not dags.is_dir():
        _skip_or_fail(f"the dags folder {dags} (from {source}) is not a directory")
    return Airflow(url, found["USERNAME"], found["PASSWORD"], dags)


@pytest.fixture
def dag_file(airflow: Airflow) -> Iterator[Callable[[str], tuple[str, Path]]]:
    """``dag_file(source)``: writes a DAG file into Airflow's dags folder with ``{dag_id}`` in
    the source replaced by a new DAG id; returns (dag_id, path). Removed afterwards."""
    written: list[Path] = []

    def write(source: str) -> tuple[str, Path]:
        dag_id = f"adaptive_llm_test_{secrets.token_hex(4)}"
        path = airflow.dags / f"{dag_id}.py"
        path.write_text(source.replace("{dag_id}", dag_id))
        written.append(path)
        return dag_id, path

    yield write
    for path in written:
        path.unlink(missing_ok=True)
