"""Shared fixtures for the tests (runtime fixtures: real processes, real SQLite in tmp_path)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from adaptive_llm import Job, LocalScheduler, RunManager

# -- runtime helpers ---------------------------------------------------------------------------


class Proc:
    """Small helpers about processes and waiting, shared by the runtime tests."""

    python = sys.executable

    @staticmethod
    def py(code: str) -> list[str]:
        """An argv running ``code`` with this interpreter."""
        return [sys.executable, "-c", code]

    @staticmethod
    def gone(pid: int) -> bool:
        """True when ``pid`` no longer runs (absent, or a zombie nobody reaped yet)."""
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            except PermissionError:
                return False
            return False
        # "pid (comm) S ..." -- comm may contain spaces and parentheses.
        return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")

    @staticmethod
    async def until(
        predicate: Callable[[], bool], timeout: float = 30.0, what: str = "condition"
    ) -> None:
        """Poll ``predicate`` every 20 ms; fail the test after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout}s waiting for {what}")
            await asyncio.sleep(0.02)

    @staticmethod
    def wait_gone(pid: int, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if Proc.gone(pid):
                return True
            time.sleep(0.02)
        return Proc.gone(pid)

    @staticmethod
    def read_pid(path: Path, timeout: float = 20.0) -> int:
        """The pid a job wrote into ``path`` (waits until it is there)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = path.read_text() if path.exists() else ""
            if text.endswith("\n"):
                return int(text)
            time.sleep(0.02)
        pytest.fail(f"no pid written to {path} after {timeout}s")


@pytest.fixture
def proc() -> type[Proc]:
    return Proc


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


def _kill_leftovers(root: Path) -> None:
    """Kill runners and job groups that a test left running (found via their status files)."""
    for status in root.rglob("*.status.json"):
        try:
            data = json.loads(status.read_text())
        except (OSError, ValueError):
            continue
        if data.get("state") != "RUNNING":
            continue
        for pid, group in ((data.get("pid"), True), (data.get("runner_pid"), False)):
            if not isinstance(pid, int) or Proc.gone(pid):
                continue
            try:
                if group:
                    os.killpg(pid, signal.SIGKILL)
                else:
                    os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


@pytest.fixture
async def make_rm(workdir: Path) -> AsyncIterator[Callable[..., RunManager]]:
    """``make_rm(jobs, **kwargs)``: a RunManager on ``workdir`` with fast test settings.

    Defaults: ``LocalScheduler(kill_grace=0.5)``, ``poll_interval=0.1``. Every manager made is
    cancelled (jobs ended) at teardown; leftover job processes under ``workdir`` are killed.
    """
    made: list[RunManager] = []

    def factory(jobs: Sequence[Job] = (), **kwargs: Any) -> RunManager:
        kwargs.setdefault("workdir", workdir)
        kwargs.setdefault("scheduler", LocalScheduler(kill_grace=0.5))
        kwargs.setdefault("poll_interval", 0.1)
        rm = RunManager(jobs, **kwargs)
        made.append(rm)
        return rm

    yield factory
    for rm in reversed(made):
        if rm.is_started and not rm._closed:
            try:
                await asyncio.wait_for(rm.cancel(), 15)
            except Exception:
                await rm.close()
        elif not rm._closed:
            await rm.close()
        else:
            # A replaced (detached) manager leaves its scheduler and store open.
            await rm.scheduler.close()
            rm.store.close()
    _kill_leftovers(workdir)


@pytest.fixture
def kill_leftovers(tmp_path: Path) -> Iterator[None]:
    """Kill job processes left under ``tmp_path`` at teardown (for tests with subprocesses)."""
    yield
    _kill_leftovers(tmp_path)


def _skip_or_fail(what: str, problem: str | None) -> None:
    """Skip with the reason on a developer's machine; under CI=true a missing piece fails."""
    if problem is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} not available under CI=true: {problem}")
    pytest.skip(f"{what} not available: {problem}")


# -- SLURM -------------------------------------------------------------------------------------

_SLURM_READY = ("idle", "mixed", "allocated", "completing")
_slurm_problem: list[str | None] = []  # cached answer of require_slurm() for the session


def _slurm_unavailable() -> str | None:
    """Why the SLURM tests cannot run here (None when a node is up)."""
    import shutil
    import subprocess

    for tool in ("sinfo", "sbatch", "squeue", "scontrol", "scancel"):
        if shutil.which(tool) is None:
            return f"{tool} not found (run `make slurm-up` as root)"
    try:
        done = subprocess.run(
            ["sinfo", "--noheader", "--format=%T"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "sinfo did not answer within 30 s (slurmctld down? run `make slurm-up`)"
    if done.returncode != 0:
        return f"sinfo failed: {done.stderr.strip()} (run `make slurm-up`)"
    states = done.stdout.split()
    if not any(state.rstrip("*~#") in _SLURM_READY for state in states):
        return f"no usable node (states: {', '.join(states) or 'none'}; run `make slurm-up`)"
    return None


def require_slurm() -> None:
    """Skip the calling test when no SLURM cluster answers; fail instead under CI=true."""
    if not _slurm_problem:
        _slurm_problem.append(_slurm_unavailable())
    _skip_or_fail("SLURM", _slurm_problem[0])


@pytest.fixture(scope="session")
def slurm() -> None:
    """Use in SLURM tests: skipped (failed under CI=true) when no cluster is up."""
    require_slurm()


# -- browser (widgets) -------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"


def require_browser() -> None:
    """Skip the calling test without Chromium or Playwright; fail instead under CI=true."""
    import importlib.util

    problem = None
    if not os.path.exists(CHROMIUM):
        problem = f"{CHROMIUM} not found (apt-get install chromium)"
    elif importlib.util.find_spec("playwright") is None:
        problem = "the playwright package is not installed (pip install playwright)"
    _skip_or_fail("Chromium and Playwright", problem)


@pytest.fixture(scope="session")
def chromium() -> str:
    """The Chromium binary for browser tests (skipped, or failed under CI=true, without it)."""
    require_browser()
    return CHROMIUM


@pytest.fixture(scope="session")
def chromium_launch(chromium: str) -> dict[str, Any]:
    """Keyword arguments for Playwright's ``chromium.launch`` (DESIGN.md §5)."""
    return {"executable_path": chromium, "args": CHROMIUM_FLAGS, "headless": True}


CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
QUICKSTART = Path(__file__).resolve().parents[1] / "notebooks" / "quickstart.ipynb"
# How each Jupyter frontend exposes ``window.jupyterapp`` (the tests drive it through it).
_JUPYTER_APPS = {"lab": "LabApp", "notebook": "JupyterNotebookApp"}


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def jupyter_server(tmp_path: Path, chromium: str) -> Iterator[Callable[[str], tuple[str, Path]]]:
    """``jupyter_server(app)``: ``jupyter lab`` or ``jupyter notebook`` (Notebook 7) on a free
    port, serving a temp dir with a copy of the quickstart; returns its URL and that dir.

    The server (its own session, with its kernels) and the demo jobs are killed at teardown.
    """
    import shutil
    import subprocess
    import urllib.request

    started: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(app: str) -> tuple[str, Path]:
        if app == "notebook":
            _skip_or_fail("Jupyter Notebook 7", _notebook7_missing())
        base = tmp_path / app
        root = base / "root"
        root.mkdir(parents=True)
        shutil.copy(QUICKSTART, root / "quickstart.ipynb")
        port = _free_port()
        env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(base / "config"),
            "JUPYTERLAB_SETTINGS_DIR": str(base / "settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces"),
        }
        env.pop("OPENAI_API_KEY", None)
        notification = base / "settings" / "@jupyterlab" / "apputils-extension"
        notification.mkdir(parents=True)  # no "get notified about Jupyter news?" toast
        (notification / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
        log = base / "server.log"
        server = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "jupyter"),
                app,
                "--no-browser",
                "--IdentityProvider.token=",
                "--ServerApp.ip=127.0.0.1",
                f"--port={port}",
                "--port-retries=0",
                f"--ServerApp.root_dir={root}",
                f"--{_JUPYTER_APPS[app]}.expose_app_in_browser=True",
                "--LabApp.news_url=None",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                *(["--allow-root"] if os.geteuid() == 0 else []),
            ],
            cwd=root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(log, "wb"),  # noqa: SIM115 - closed with the process
            start_new_session=True,
        )
        started.append((server, root))
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status", timeout=2):
                    return url, root
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"jupyter {app} did not start: {log.read_text()}")
                time.sleep(0.2)

    yield start
    for server, root in started:
        with contextlib.suppress(ProcessLookupError):  # our session: the server, its kernels
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
            server.wait(5)
        _kill_demo_jobs(root)


def _notebook7_missing() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("notebook")
    except PackageNotFoundError:
        return "the notebook package is not installed (pip install -e '.[test]')"
    return None if int(found.split(".")[0]) >= 7 else f"notebook {found} is not Notebook 7"


def _kill_demo_jobs(root: Path) -> None:
    for status in root.rglob("*.status.json"):
        try:
            pid = json.loads(status.read_text()).get("pid")
            if isinstance(pid, int):
                os.killpg(pid, signal.SIGKILL)
        except (OSError, ValueError, ProcessLookupError, PermissionError):
            pass


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slurm_slow: a real SLURM job that waits for a one-minute time limit"
    )
