#!/usr/bin/env python3
"""Cost of polling 500 Airflow task instances: ``AirflowScheduler.poll`` vs one GET per task.

What runs
    The real Airflow 3 of ``.ci/airflow-up`` (``eval "$(make -s airflow-up)"``; the bench reads
    ``ADAPTIVE_LLM_AIRFLOW_URL``, ``..._USERNAME``, ``..._PASSWORD`` and ``..._DAGS``, or the
    state file ``.ci/airflow-up`` writes). Set-up, not timed: a DAG file with ``--tasks``
    (default 10) independent ``EmptyOperator`` tasks (``schedule=None``) under a new DAG id
    ``adaptive_llm_bench_poll_<hex>`` is written into the dags folder; the bench waits until
    Airflow has parsed it (``AirflowScheduler.wait_for_dag``), keeps it **paused** (the file
    says ``is_paused_upon_creation=True``; paused through the API if it is not), triggers
    ``--runs`` (default 50) DAG runs with its own run ids (``AirflowClient.trigger``) and waits
    until their task instances exist: 500 of them, each with no state yet (the runs stay
    ``queued``), which the scheduler maps to PENDING.

    Why paused: the figure asked for is the status part of a poll. A final task instance makes
    the poll fetch its tries' logs (one more call each), and a running DAG would change the
    states, hence the work, from one repetition to the next. The JobManager polls only attempts
    that are not final, and an attempt's log is fetched once, by the poll that first sees it
    end, so the steady cost of a poll is that of non-final task instances. It also runs
    nothing on the shared Airflow while measuring (its scheduler never starts the tasks), so
    the machine's CPU goes to the calls measured. The poll that sees every task end at once
    is measured apart (``--finished-repeats``, below).

Per repetition, interleaved (the order rotates), after ``--warmup`` of each
    * ``product``: ``await scheduler.poll(attempts)`` on 500 ``Attempt`` objects (state
      RUNNING, ``scheduler_id`` = ``<dag_id>/<run_id>/<task_id>#1``, log files in a temporary
      directory); it must answer 500 reports, all PENDING, with no log fetch;
    * ``per_ti_sequential`` (the baseline): ``client.task_instance(dag, run, task)`` for each
      of the 500, one after another;
    * ``per_ti_concurrent``: the same GETs, ``--concurrency`` (default 10) at a time.
    All three share one ``AirflowClient`` (one connection pool, one token). Per variant: wall
    time p50/p95/mean, API calls per poll (``client.calls``, by path), bytes received per poll
    (``httpx``'s ``num_bytes_downloaded``: on the wire, and the decoded JSON), the api-server
    process's CPU per poll (``/proc/<pid>/stat``, when its pid file is there), and the event
    loop's longest stall (a task that sleeps 1 ms in a loop; the longest gap between its ticks).

Also
    * ``subset``: a poll of 50 attempts, one per run (task ``i mod tasks`` of run ``i``), and
      the 50 GETs it replaces: the list call filters by DAG ids x run ids x task ids, so it
      may fetch more task instances than it asks about (reported: how many came back);
    * ``finished`` (``--finished-repeats``, default 3; 0 skips it): the DAG is unpaused, its
      ``EmptyOperator`` tasks end at once (Airflow's scheduler marks them success without
      running them), and the poll of 500 fresh RUNNING attempts is timed, log fetches
      included and counted apart (what the poll that sees 500 tasks end costs);
    * the machine's load: 1-minute load average before and after; the whole machine's CPU
      while measuring (``/proc/stat``), this process's and the api-server's (the Airflow is
      on this machine: its api-server's CPU is part of every call's time); ``--wait-quiet S``
      first waits up to S seconds for the machine to be under 10 % busy.

Clean-up, also on failure: the DAG runs made here are deleted, then the DAG file, then the
DAG's record (``DELETE /api/v2/dags/<id>``, once its file is gone).

Run
    .venv/bin/python bench/airflow_poll.py [--runs 50] [--tasks 10] [--repeats 20]
        [--warmup 3] [--concurrency 10] [--subset-repeats 10] [--finished-repeats 3]
        [--wait-quiet 0]

One JSON document on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import datetime
import json
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adaptive_llm.errors import SchedulerError  # noqa: E402
from adaptive_llm.jobs.model import Attempt, JobState  # noqa: E402
from adaptive_llm.jobs.schedulers.airflow import AirflowScheduler, TaskRef  # noqa: E402
from adaptive_llm.jobs.schedulers.airflow_api import (  # noqa: E402
    PAGE_LIMIT,
    AirflowAuthError,
    AirflowClient,
    AirflowConflict,
    AirflowNotFound,
)
from adaptive_llm.jobs.schedulers.airflow_model import (  # noqa: E402
    DAGS_ENV,
    PASSWORD_ENV,
    STATES,
    URL_ENV,
    USERNAME_ENV,
)

TICK_S = 0.001
VARIANTS = ("product", "per_ti_sequential", "per_ti_concurrent")
DAG_SOURCE = """\
# Written by bench/airflow_poll.py; removed when it ends.
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

with DAG(
    dag_id="{dag_id}",
    schedule=None,
    catchup=False,
    is_paused_upon_creation=True,
    max_active_runs={runs},
    tags=["adaptive_llm_bench"],
):
    for number in range({tasks}):
        EmptyOperator(task_id=f"t{{number:02d}}")
"""


def say(message: str) -> None:
    print(f"[airflow_poll] {message}", file=sys.stderr, flush=True)


# -- measuring --------------------------------------------------------------------------------


class Ticker:
    """A task that sleeps ``TICK_S`` in a loop; the longest gap between two ticks per window
    (counted from the window's opening at the earliest, as in bench/chat_overhead.py)."""

    def __init__(self) -> None:
        self.window: str | None = None
        self.opened = 0.0
        self.longest: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None

    def open(self, window: str) -> None:
        self.window, self.opened = window, time.perf_counter()

    def close(self) -> None:
        """The gap still open when the window closes counts too."""
        if self.window is not None:
            gap = (time.perf_counter() - max(self._last, self.opened)) * 1000
            self.longest[self.window] = max(self.longest.get(self.window, 0.0), gap)
        self.window = None

    async def _run(self) -> None:
        self._last = time.perf_counter()
        while True:
            await asyncio.sleep(TICK_S)
            now = time.perf_counter()
            if self.window is not None:
                gap = (now - max(self._last, self.opened)) * 1000
                if gap > self.longest.get(self.window, 0.0):
                    self.longest[self.window] = gap
            self._last = now

    def start(self) -> None:
        self._last = time.perf_counter()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class Meter:
    """Bytes received by the client (wrapped around the instance's ``_send``, for this run
    only): on the wire (``num_bytes_downloaded``) and decoded."""

    def __init__(self, client: AirflowClient) -> None:
        self.wire = 0
        self.body = 0
        send = client._send

        async def counted(*args: Any, **kwargs: Any) -> Any:
            response = await send(*args, **kwargs)
            self.wire += response.num_bytes_downloaded
            self.body += len(response.content)
            return response

        client._send = counted  # type: ignore[method-assign]


def _cpu_of(pid: int | None) -> float | None:
    """A process's user + system CPU seconds so far."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _machine_cpu() -> float | None:
    """CPU seconds the whole machine has used (``/proc/stat``, all cores)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_cpu() -> float:
    times = os.times()
    return times.user + times.system


def api_server_pid(port: str) -> int | None:
    """The api-server's pid from ``.ci/airflow-up``'s pid file, if it serves ``port``."""
    run = os.environ.get("XDG_RUNTIME_DIR") or "/tmp"
    try:
        pid = int(Path(f"{run}/adaptive_llm-airflow.api-server.pid").read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, ValueError):
        return None
    return pid if "api" in cmdline and port in cmdline else None


def wait_quiet(limit: float, busy: float = 10.0, window: float = 4.0) -> float | None:
    """Wait (at most ``limit`` seconds) until the machine was under ``busy`` % CPU for
    ``window`` seconds; the last window's figure (None without ``/proc/stat``)."""
    deadline = time.monotonic() + limit
    while True:
        before = _machine_cpu()
        time.sleep(window)
        after = _machine_cpu()
        if before is None or after is None:
            return None
        figure = round(100 * (after - before) / (window * (os.cpu_count() or 1)), 1)
        if figure < busy or time.monotonic() > deadline:
            return figure
        say(f"machine {figure} % busy; waiting")


def stats(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    p95 = statistics.quantiles(ordered, n=20, method="inclusive")[18] if len(ordered) > 1 else None
    return {
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(p95, 2) if p95 is not None else None,
        "mean_ms": round(statistics.fmean(ordered), 2),
        "min_ms": round(ordered[0], 2),
        "max_ms": round(ordered[-1], 2),
        "n": len(ordered),
    }


class Recorder:
    """Times calls in windows; per window the wall times, API calls, bytes and server CPU.
    ``server()`` is the api-server's pid (looked up each time: another session may restart
    it); ``recover()`` waits for Airflow to answer again after a call it did not answer."""

    def __init__(
        self,
        client: AirflowClient,
        meter: Meter,
        ticker: Ticker,
        server: Callable[[], int | None],
        recover: Callable[[], Awaitable[None]],
    ) -> None:
        self.client, self.meter, self.ticker = client, meter, ticker
        self.server, self.recover = server, recover
        #: Calls that failed because Airflow did not answer (dropped, then made again).
        self.dropped: list[str] = []
        self.server_seen = False
        self.wall: dict[str, list[float]] = collections.defaultdict(list)
        self.calls: dict[str, collections.Counter[str]] = collections.defaultdict(
            collections.Counter
        )
        self.wire: dict[str, int] = collections.defaultdict(int)
        self.body: dict[str, int] = collections.defaultdict(int)
        self.server_cpu: dict[str, float] = collections.defaultdict(float)

    async def time(self, window: str, call: Callable[[], Awaitable[Any]], keep: bool) -> Any:
        """The call's answer; a call Airflow did not answer is dropped (nothing of it is
        recorded) and made again once Airflow answers (up to 3 times)."""
        for again in range(4):
            try:
                return await self._time(window, call, keep)
            except SchedulerError as exc:
                if isinstance(exc, AirflowNotFound | AirflowAuthError) or again == 3:
                    raise
                self.dropped.append(f"{window}: {exc}")
                say(f"{window} dropped ({exc}); waiting for Airflow")
                await self.recover()
        raise AssertionError("unreachable")

    async def _time(self, window: str, call: Callable[[], Awaitable[Any]], keep: bool) -> Any:
        calls = dict(self.client.calls)
        wire, body = self.meter.wire, self.meter.body
        pid = self.server()
        cpu = _cpu_of(pid)
        self.ticker.open(window if keep else "warmup")
        began = time.perf_counter()
        try:
            result = await call()
        finally:
            ms = (time.perf_counter() - began) * 1000
            self.ticker.close()
        if keep:
            self.wall[window].append(ms)
            for name, count in self.client.calls.items():
                if count - calls.get(name, 0):
                    self.calls[window][name] += count - calls.get(name, 0)
            self.wire[window] += self.meter.wire - wire
            self.body[window] += self.meter.body - body
            after = _cpu_of(pid) if self.server() == pid else None
            if cpu is not None and after is not None:
                self.server_cpu[window] += after - cpu
                self.server_seen = True
        return result

    def figures(self, window: str) -> dict[str, Any]:
        n = len(self.wall[window])
        calls = {k: round(v / n, 2) for k, v in sorted(self.calls[window].items())}
        return {
            "wall": stats(self.wall[window]),
            "api_calls_per_poll": calls,
            "api_calls_per_poll_total": round(sum(self.calls[window].values()) / n, 2),
            "bytes_per_poll_wire": round(self.wire[window] / n),
            "bytes_per_poll_decoded": round(self.body[window] / n),
            "api_server_cpu_ms_per_poll": round(1000 * self.server_cpu[window] / n, 1)
            if self.server_seen
            else None,
            "loop_longest_stall_ms": round(self.ticker.longest.get(window, 0.0), 2),
        }


# -- the variants -----------------------------------------------------------------------------


async def per_ti(client: AirflowClient, refs: list[TaskRef], concurrency: int) -> list[Any]:
    """One GET per task instance, ``concurrency`` at a time (1: one after another)."""
    if concurrency <= 1:
        return [await client.task_instance(r.dag_id, r.run_id, r.task_id) for r in refs]
    gate = asyncio.Semaphore(concurrency)

    async def one(ref: TaskRef) -> Any:
        async with gate:
            return await client.task_instance(ref.dag_id, ref.run_id, ref.task_id)

    return await asyncio.gather(*(one(r) for r in refs))


def attempts_of(refs: list[TaskRef], logs: Path, tag: str) -> list[Attempt]:
    return [
        Attempt(
            f"{ref.dag_id}.{ref.task_id}@{ref.run_id}",
            1,
            JobState.RUNNING,
            str(logs / tag / f"{ref.run_id}.{ref.task_id}.log"),
            scheduler_id=str(ref),
        )
        for ref in refs
    ]


def check_product(result: dict[str, Any], attempts: list[Attempt], final: bool) -> None:
    if len(result) != len(attempts):
        raise RuntimeError(f"the poll answered {len(result)} of {len(attempts)} attempts")
    if not final and any(r.state is not JobState.PENDING for r in result.values()):
        seen = collections.Counter(r.state.value for r in result.values())
        raise RuntimeError(f"expected every attempt PENDING, got {dict(seen)}")


def check_baseline(answers: list[Any], refs: list[TaskRef], product: dict[str, Any]) -> None:
    if len(answers) != len(refs):
        raise RuntimeError(f"{len(answers)} answers for {len(refs)} task instances")
    for ref, ti in zip(refs, answers, strict=True):
        if (ti.get("dag_run_id"), ti.get("task_id")) != (ref.run_id, ref.task_id):
            raise RuntimeError(f"GET for {ref} answered {ti.get('dag_run_id')}/{ti.get('task_id')}")
        state = STATES.get(ti.get("state"), JobState.RUNNING)
        if state is not product[str(ref)].state:
            raise RuntimeError(f"{ref}: the GET says {state}, the poll {product[str(ref)].state}")


# -- set-up and clean-up ----------------------------------------------------------------------


async def tis_of_runs(
    client: AirflowClient, dag_id: str, run_ids: list[str]
) -> list[dict[str, Any]]:
    """Every task instance of the runs, one run at a time (set-up only)."""
    found: list[dict[str, Any]] = []
    for run_id in run_ids:
        data = await client.request(
            "GET",
            f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances",
            "setup: GET /dagRuns/{run}/taskInstances",
            params={"limit": 100},
        )
        found.extend(data.get("task_instances", []))
    return found


async def wait_for_tis(
    client: AirflowClient, dag_id: str, run_ids: list[str], expected: int, timeout: float
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        tis = await steady(lambda: tis_of_runs(client, dag_id, run_ids))
        if len(tis) >= expected:
            return tis
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(tis)} of {expected} task instances after {timeout:g}s")
        await asyncio.sleep(1.0)


async def set_paused(client: AirflowClient, dag_id: str, paused: bool) -> None:
    await client.request(
        "PATCH", f"/api/v2/dags/{dag_id}", "setup: PATCH /dags/{dag}", body={"is_paused": paused}
    )


async def await_airflow(client: AirflowClient, limit: float) -> None:
    """Until Airflow answers (another session's test may stop its api-server for a while)."""
    deadline = time.monotonic() + limit
    while True:
        try:
            await client.request("GET", "/api/v2/version", "setup: version")
            return
        except SchedulerError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(2.0)


async def steady(make: Callable[[], Awaitable[Any]], limit: float = 300.0) -> Any:
    """``await make()``, made again while Airflow does not answer or fails with a 5xx (its
    SQLite is shared with other sessions' test runs: "database is locked"), up to ``limit``
    seconds; a 404, a 409 or refused credentials are raised at once."""
    deadline = time.monotonic() + limit
    while True:
        try:
            return await make()
        except (AirflowNotFound, AirflowConflict, AirflowAuthError):
            raise
        except SchedulerError as exc:
            if time.monotonic() > deadline:
                raise
            say(f"Airflow: {exc}; again in 2 s")
            await asyncio.sleep(2.0)


async def persist(client: AirflowClient, method: str, path: str, name: str, limit: float) -> None:
    """One call, made again while Airflow does not answer or fails (a 5xx: SQLite locked by
    other sessions' runs), for up to ``limit`` seconds; a 404 is done."""
    deadline = time.monotonic() + limit
    while True:
        try:
            await client.request(method, path, name)
            return
        except AirflowNotFound:
            raise
        except SchedulerError as exc:
            if time.monotonic() > deadline:
                raise
            say(f"{name}: {exc}; again")
            await asyncio.sleep(2.0)


async def clean_up(
    client: AirflowClient, dag_id: str, run_ids: list[str], path: Path, limit: float = 300.0
) -> str:
    """Delete the runs, the DAG file and the DAG's record; what was done, in words."""
    deleted = 0
    problems: list[str] = []
    for run_id in run_ids:
        try:
            where = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}"
            await persist(client, "DELETE", where, "cleanup: DELETE run", limit)
            deleted += 1
        except AirflowNotFound:
            pass
        except Exception as exc:  # keep going: the file goes in any case
            problems.append(f"run {run_id}: {exc}")
    await asyncio.to_thread(path.unlink, missing_ok=True)
    record = "DAG record deleted"
    try:
        await persist(client, "DELETE", f"/api/v2/dags/{dag_id}", "cleanup: DELETE dag", limit)
    except AirflowNotFound:
        record = "no DAG record"
    except Exception as exc:
        record = f"DAG record not deleted ({exc})"
    text = f"deleted {deleted} of {len(run_ids)} runs, the DAG file, {record}"
    return text + (f"; problems: {'; '.join(problems[:3])}" if problems else "")


# -- the run ----------------------------------------------------------------------------------


async def measure(
    args: argparse.Namespace, scheduler: AirflowScheduler, logs: Path, port: str
) -> dict[str, Any]:
    client = scheduler.client
    meter = Meter(client)
    dag_id = f"adaptive_llm_bench_poll_{secrets.token_hex(4)}"
    path = Path(args.dags) / f"{dag_id}.py"
    run_ids: list[str] = []
    out: dict[str, Any] = {"dag_id": dag_id}
    ticker = Ticker()

    def server() -> int | None:
        return api_server_pid(port)

    async def recover() -> None:
        await await_airflow(client, 300.0)
        # The scheduler backs off after a poll Airflow did not answer: past it.
        await asyncio.sleep(max(0.0, scheduler._retry_at - time.monotonic()) + 0.05)

    dropped: list[str] = []

    def recorder() -> Recorder:
        made = Recorder(client, meter, ticker, server, recover)
        made.dropped = dropped
        return made

    try:
        # -- set-up (not timed) ---------------------------------------------------------------
        path.write_text(DAG_SOURCE.format(dag_id=dag_id, tasks=args.tasks, runs=args.runs))
        say(f"wrote {path}; waiting for Airflow to parse it")
        began = time.perf_counter()
        await steady(lambda: scheduler.wait_for_dag(dag_id, timeout=args.parse_timeout))
        out["parse_wait_s"] = round(time.perf_counter() - began, 1)
        dag = await steady(lambda: client.dag(dag_id))
        if not dag.get("is_paused"):
            await steady(lambda: set_paused(client, dag_id, True))
        out["paused_by_the_file"] = bool(dag.get("is_paused"))
        token = secrets.token_hex(3)
        say(f"parsed in {out['parse_wait_s']}s; triggering {args.runs} runs")
        for number in range(args.runs):
            run_id = f"bench_poll__{token}_{number:03d}"
            run_ids.append(run_id)  # first: a run Airflow made before failing is deleted too
            with contextlib.suppress(AirflowConflict):  # made by a call that failed after
                await steady(lambda run_id=run_id: client.trigger(dag_id, run_id, {}))
        expected = args.runs * args.tasks
        tis = await wait_for_tis(client, dag_id, run_ids, expected, args.parse_timeout)
        out["task_instances"] = len(tis)
        out["states_while_measuring"] = dict(collections.Counter(str(t.get("state")) for t in tis))
        runs = await steady(
            lambda: client.request(
                "GET", f"/api/v2/dags/{dag_id}/dagRuns", "setup: GET runs", params={"limit": 100}
            )
        )
        out["run_states"] = dict(
            collections.Counter(str(r.get("state")) for r in runs.get("dag_runs", []))
        )
        refs = sorted(
            (TaskRef(dag_id, str(t["dag_run_id"]), str(t["task_id"]), 1) for t in tis),
            key=str,
        )
        attempts = attempts_of(refs, logs, "steady")
        say(f"{len(refs)} task instances, states {out['states_while_measuring']}; measuring")

        # -- the three variants, interleaved ---------------------------------------------------
        ticker.start()
        rec = recorder()
        pid0 = server()
        machine0, own0, server0 = _machine_cpu(), _own_cpu(), _cpu_of(pid0)
        wall0 = time.perf_counter()
        product: dict[str, Any] = {}

        async def run_product() -> Any:
            result = await scheduler.poll(attempts)
            check_product(result, attempts, final=False)
            product.update(result)
            return result

        calls: dict[str, Callable[[], Awaitable[Any]]] = {
            "product": run_product,
            "per_ti_sequential": lambda: per_ti(client, refs, 1),
            "per_ti_concurrent": lambda: per_ti(client, refs, args.concurrency),
        }
        order = list(VARIANTS)
        for rep in range(args.warmup + args.repeats):
            keep = rep >= args.warmup
            for variant in order:
                answer = await rec.time(variant, calls[variant], keep)
                if variant != "product":
                    check_baseline(answer, refs, product)
            order = order[1:] + order[:1]
            if keep and (rep - args.warmup + 1) % 5 == 0:
                done = rep - args.warmup + 1
                p50 = {v: round(statistics.median(rec.wall[v])) for v in VARIANTS}
                say(f"{done}/{args.repeats} repetitions; p50 ms so far {p50}")
        elapsed = time.perf_counter() - wall0
        machine1, own1 = _machine_cpu(), _own_cpu()
        server1 = _cpu_of(pid0) if server() == pid0 else None
        out["variants"] = {v: rec.figures(v) for v in VARIANTS}
        base = out["variants"]["product"]["wall"]
        out["ratios_over_product"] = {
            v: {
                "p50": round(out["variants"][v]["wall"]["p50_ms"] / base["p50_ms"], 1),
                "mean": round(out["variants"][v]["wall"]["mean_ms"] / base["mean_ms"], 1),
            }
            for v in VARIANTS[1:]
        }
        cores = elapsed * (os.cpu_count() or 1)
        load: dict[str, Any] = {"measuring_s": round(elapsed, 1)}
        if machine0 is not None and machine1 is not None:
            load["machine_busy_percent"] = round(100 * (machine1 - machine0) / cores, 1)
        load["this_process_cpu_percent"] = round(100 * (own1 - own0) / cores, 1)
        if server0 is not None and server1 is not None:
            load["api_server_cpu_percent"] = round(100 * (server1 - server0) / cores, 1)
        if "machine_busy_percent" in load:
            rest = load["machine_busy_percent"] - load["this_process_cpu_percent"]
            rest -= load.get("api_server_cpu_percent", 0.0)
            load["everything_else_cpu_percent"] = round(max(rest, 0.0), 1)
        out["load_while_measuring"] = load

        # -- a poll of 50 attempts, one per run ------------------------------------------------
        try:
            diagonal = [r for r in refs if r.task_id == f"t{int(r.run_id[-3:]) % args.tasks:02d}"]
            some = attempts_of(diagonal, logs, "subset")
            got = await steady(
                lambda: client.task_instances(
                    [r.dag_id for r in diagonal],
                    [r.run_id for r in diagonal],
                    [r.task_id for r in diagonal],
                )
            )
            sub = recorder()
            for rep in range(1 + args.subset_repeats):
                await sub.time("subset_product", lambda: scheduler.poll(some), rep > 0)
                await sub.time("subset_per_ti", lambda: per_ti(client, diagonal, 1), rep > 0)
            out["subset"] = {
                "attempts": len(diagonal),
                "task_instances_returned_by_the_list_call": len(got),
                "product": sub.figures("subset_product"),
                "per_ti_sequential": sub.figures("subset_per_ti"),
            }
        except SchedulerError as exc:  # the figures so far are kept
            out["subset"] = {"error": str(exc)}

        # -- the poll that sees every task end ------------------------------------------------
        try:
            if args.finished_repeats > 0:
                say("unpausing the DAG: its EmptyOperator tasks end at once")
                await steady(lambda: set_paused(client, dag_id, False))
                deadline = time.monotonic() + args.finish_timeout
                while True:
                    tis = await steady(lambda: tis_of_runs(client, dag_id, run_ids))
                    states = collections.Counter(str(t.get("state")) for t in tis)
                    final = sum(
                        n for s, n in states.items() if STATES.get(s, JobState.RUNNING).is_final
                    )
                    if final == len(tis) or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(2.0)
                out["finished_states"] = dict(states)
                if final == len(tis):
                    fin = recorder()
                    reported: collections.Counter[str] = collections.Counter()
                    for rep in range(args.finished_repeats):
                        fresh = attempts_of(refs, logs, f"finished{rep}")

                        async def poll_fresh(fresh: list[Attempt] = fresh) -> Any:
                            return await scheduler.poll(fresh)

                        result = await fin.time("finished_product", poll_fresh, True)
                        check_product(result, fresh, final=True)
                        reported.update(r.state.value for r in result.values())
                        await fin.time("finished_per_ti", lambda: per_ti(client, refs, 1), True)
                    out["finished"] = {
                        "reported_states": dict(reported),
                        "product_with_log_fetches": fin.figures("finished_product"),
                        "per_ti_sequential": fin.figures("finished_per_ti"),
                    }
                else:
                    say(f"not every task ended within {args.finish_timeout:g}s: {dict(states)}")
                    out["finished"] = None
        except SchedulerError as exc:
            out["finished"] = {"error": str(exc)}
        out["dropped_calls"] = dropped
        return out
    finally:
        await ticker.stop()
        if path.exists() or run_ids:
            say("cleaning up")
            out["cleanup"] = await clean_up(client, dag_id, run_ids, path)
            say(out["cleanup"])


# -- main -------------------------------------------------------------------------------------


def _commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def settings() -> dict[str, str]:
    """The Airflow's URL, user, password and dags folder: the environment, else the state file
    ``.ci/airflow-up`` writes."""
    names = {"url": URL_ENV, "username": USERNAME_ENV, "password": PASSWORD_ENV, "dags": DAGS_ENV}
    found = {k: os.environ.get(v, "") for k, v in names.items()}
    if not all(found.values()):
        state = Path((os.environ.get("XDG_RUNTIME_DIR") or "/tmp") + "/adaptive_llm-airflow.env")
        with contextlib.suppress(OSError):
            for line in state.read_text().splitlines():
                key, _, value = line.removeprefix("export ").partition("=")
                for short, name in names.items():
                    if key == name and not found[short]:
                        found[short] = value.strip()
    return found


async def run(args: argparse.Namespace, logs: Path) -> dict[str, Any]:
    scheduler = AirflowScheduler(
        args.url,
        username=args.username,
        password=args.password,
        dags_folder=args.dags,
        timeout=args.timeout,
    )
    try:
        await await_airflow(scheduler.client, 300.0)  # another session may be restarting it
        version = await scheduler.client.request("GET", "/api/v2/version", "setup: version")
        port = args.url.rstrip("/").rsplit(":", 1)[-1]
        figures = await measure(args, scheduler, logs, port)
        figures["airflow"] = version.get("version") if isinstance(version, dict) else None
        return figures
    finally:
        await scheduler.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--tasks", type=int, default=10, help="tasks per DAG run")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--subset-repeats", type=int, default=10)
    parser.add_argument("--finished-repeats", type=int, default=3)
    parser.add_argument("--finish-timeout", type=float, default=180.0)
    parser.add_argument("--parse-timeout", type=float, default=120.0)
    parser.add_argument("--timeout", type=float, default=30.0, help="bound of one API call (s)")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        help="first wait up to this many seconds for the machine to be under 10%% busy",
    )
    args = parser.parse_args()
    if args.repeats < 2 or args.runs < 1 or not 1 <= args.tasks <= 100:
        parser.error("--repeats must be at least 2, --runs at least 1, --tasks 1 to 100")
    found = settings()
    missing = [k for k, v in found.items() if not v]
    if missing:
        sys.exit(f'airflow_poll: no Airflow {", ".join(missing)}: run eval "$(make -s airflow-up)"')
    vars(args).update(found)
    if not Path(args.dags).is_dir():
        sys.exit(f"airflow_poll: the dags folder {args.dags} is not a directory")
    quiet = wait_quiet(args.wait_quiet) if args.wait_quiet else None
    started = datetime.datetime.now(datetime.UTC)
    load_before = os.getloadavg()
    wall0 = time.perf_counter()
    logs = Path(tempfile.mkdtemp(prefix="airflow-poll-"))
    try:
        figures = asyncio.run(run(args, logs))
    finally:
        shutil.rmtree(logs, ignore_errors=True)
    load_after = os.getloadavg()
    variants = figures["variants"]
    summary = {
        f"{v}_p50_p95_mean_ms": [variants[v]["wall"][k] for k in ("p50_ms", "p95_ms", "mean_ms")]
        for v in VARIANTS
    }
    summary.update(
        {
            "api_calls_per_poll": {v: variants[v]["api_calls_per_poll_total"] for v in VARIANTS},
            "bytes_per_poll_wire": {v: variants[v]["bytes_per_poll_wire"] for v in VARIANTS},
            "api_server_cpu_ms_per_poll": {
                v: variants[v]["api_server_cpu_ms_per_poll"] for v in VARIANTS
            },
            "loop_longest_stall_ms": {v: variants[v]["loop_longest_stall_ms"] for v in VARIANTS},
            "ratios_over_product": figures["ratios_over_product"],
        }
    )
    out = {
        "bench": "airflow_poll",
        "config": {
            "runs": args.runs,
            "tasks_per_run": args.tasks,
            "repeats": args.repeats,
            "warmup": args.warmup,
            "concurrency": args.concurrency,
            "date": started.isoformat(timespec="seconds"),
            "commit": _commit(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "airflow": figures.pop("airflow"),
            "httpx": _version("httpx"),
            "page_limit": PAGE_LIMIT,
            "loadavg_1min_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
            "load_while_measuring": figures.pop("load_while_measuring"),
            "busy_percent_before_start": quiet,
            "tick_ms": TICK_S * 1000,
        },
        "summary": summary,
        **figures,
        "wall_s": round(time.perf_counter() - wall0, 1),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
