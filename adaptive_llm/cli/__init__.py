"""The ``adaptive-llm`` command: ``demo``, ``status``, ``chat`` and ``diagnose``.

Subcommands import what they need when they run, so ``adaptive-llm diagnose`` starts fast
and never imports LangChain.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ..diagnosis.cli import Recorded
    from ..jobs.model import Attempt
    from ..store import Store
    from ..store.layout import Layout

#: Rows of ``status --json`` encoded per ``json.dumps`` (and written, and flushed, together).
JSON_CHUNK = 500


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="adaptive-llm",
        description="Run batch jobs; when one fails, find out why and fix it.",
        epilog="Start with `adaptive-llm demo --headless`; `adaptive-llm COMMAND --help` shows"
        " a command's options.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    demo = sub.add_parser("demo", help="run the demo jobs and show their diagnoses")
    demo.add_argument("--headless", action="store_true", help="print results; open no browser")
    demo.add_argument(
        "--workdir", default="adaptive-llm-demo", help="demo workspace (default: %(default)s)"
    )
    demo.add_argument("--scheduler", choices=["local", "slurm", "airflow"], default="local")
    demo.add_argument(
        "--approve-all", action="store_true", help="approve every proposed fix (offline recipes)"
    )
    demo.add_argument(
        "--model",
        metavar="MODEL",
        default=None,
        help="a chat model for LLM diagnoses and the chat, e.g. openai:gpt-4.1-mini (default:"
        " $ADAPTIVE_LLM_MODEL, else the offline assistant; 'offline' forces it)",
    )
    demo.add_argument(
        "--base-url",
        metavar="URL",
        default=None,
        help="an OpenAI-compatible server for --model openai:NAME, e.g. http://127.0.0.1:8080/v1",
    )

    status = sub.add_parser("status", help="jobs recorded in a workdir's store")
    status.add_argument("--workdir", default=".", help="the RunManager's workdir (default: .)")
    status.add_argument("--json", action="store_true", help='print {"jobs": [...]}')

    from .chat import add_parser as add_chat_parser

    add_chat_parser(sub)

    from ..diagnosis.cli import add_parser as add_diagnose_parser
    from ..diagnosis.cli import run as run_diagnose

    add_diagnose_parser(sub)
    from .compare import add_parser as add_compare_parser

    add_compare_parser(sub)
    from .log import add_parser as add_log_parser

    add_log_parser(sub)

    args, extra = parser.parse_known_args(argv)
    if extra:
        # `diagnose a.log --workdir D b.log`: paths after an option belong to diagnose too.
        if args.command not in ("diagnose", "compare") or any(
            x.startswith("-") and x != "-" for x in extra
        ):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.paths.extend(extra)
    try:
        if args.command == "demo" and args.scheduler == "airflow":
            from .demo_airflow import run_airflow_demo

            return run_airflow_demo(workdir=Path(args.workdir), approve_all=args.approve_all)
        if args.command == "demo":
            from .demo import run_demo

            return run_demo(
                workdir=Path(args.workdir),
                headless=args.headless,
                scheduler=args.scheduler,
                approve_all=args.approve_all,
                model=args.model,
                base_url=args.base_url,
            )
        if args.command == "status":
            return _status(Path(args.workdir), as_json=args.json)
        if args.command == "chat":
            from .chat import run as run_chat

            return run_chat(args)
        if args.command == "log":
            from .log import run as run_log

            return run_log(args)
        if args.command == "compare":
            from .compare import run as run_compare

            return run_compare(args)
        return run_diagnose(args, recorded=_recorded)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `adaptive-llm status | head`: the reader had enough
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes stdout
        return 1  # as `adaptive-llm diagnose` does


def _recorded(path: str) -> Recorded | None:
    """What the store of a workdir records of the attempt whose log is at ``path`` (a
    ``<workdir>/.adaptive_llm/logs/<job>/attempt-<n>.log``), as the RunManager diagnosed it
    with: the attempt's state and reason, the job's cwd, the limits the attempt ran under
    (its ``.spec.json`` beside the log, else the job's). None for any other path."""
    import re

    log = Path(os.path.abspath(path))
    match = re.fullmatch(r"attempt-([0-9]{1,18})\.log", log.name)
    if match is None or len(log.parts) < 5:
        return None  # before importing the store (it would slow down every other diagnose)

    from ..diagnosis.cli import Recorded
    from ..store import Store, StoreError
    from ..store.layout import LOGS_NAME, STATE_DIR, Layout

    if log.parts[-4:-2] != (STATE_DIR, LOGS_NAME):
        return None
    name, number = log.parent.name, int(match.group(1))
    layout = Layout.of(log.parents[3])
    if not layout.store.is_file():
        return None
    try:
        store = Store(layout.store, readonly=True)
        try:
            job = next((j for j in store.jobs.all() if j.name == name), None)
            attempt = next((a for a in store.jobs.attempts(name) if a.number == number), None)
        finally:
            store.close()
    except StoreError as exc:
        print(f"adaptive-llm diagnose: the log alone, not its store: {exc}", file=sys.stderr)
        return None
    if job is None or attempt is None:
        return None
    time_limit, memory = job.resources.time_limit, job.resources.memory
    try:  # the limits this attempt ran under (a resubmission may have changed the job's)
        spec = json.loads(log.with_suffix(".spec.json").read_text(encoding="utf-8"))
        if "time_limit" in spec and isinstance(spec["time_limit"], int | float | None):
            time_limit = None if spec["time_limit"] is None else float(spec["time_limit"])
        if "memory" in spec and isinstance(spec["memory"], int | None):
            memory = spec["memory"]
    except (OSError, ValueError, TypeError):
        pass
    return Recorded(
        job=name,
        attempt=number,
        store_workdir=str(layout.workdir),
        state=attempt.state.value,
        reason=attempt.reason,
        cwd=str(job.resolved_cwd(layout.workdir)),
        time_limit=time_limit,
        memory=memory,
    )


def _workdirs_in(directory: Path, most: int = 1000) -> list[str]:
    """Workdirs right inside ``directory`` (``adaptive-llm-demo`` after ``make demo``), as
    the user can pass them from here; a look at its first ``most`` entries only."""
    from ..store.layout import STATE_DIR, STORE_NAME
    from .table import user_path

    found: list[str] = []
    try:
        with os.scandir(directory) as entries:
            for n, entry in enumerate(entries):
                if n >= most:
                    break
                if entry.is_dir() and os.path.isfile(
                    os.path.join(entry.path, STATE_DIR, STORE_NAME)
                ):
                    found.append(user_path(entry.path))
    except OSError:
        return []
    return sorted(found)


def _status(workdir: Path, *, as_json: bool) -> int:
    from ..store import Store, StoreError
    from ..store.layout import STATE_DIR, STORE_NAME, Layout

    layout = Layout.of(workdir)
    try:
        os.lstat(layout.store)  # a dangling link is found (and said to be one, below)
        found = True
    except (FileNotFoundError, NotADirectoryError):
        found = False
    except OSError as exc:
        print(f"adaptive-llm: cannot read {layout.state_dir}: {exc.strerror}", file=sys.stderr)
        return 2
    if not found:
        near = _workdirs_in(layout.workdir)
        print(
            f"adaptive-llm: no jobs recorded in {workdir} (no {STATE_DIR}/{STORE_NAME});"
            " pass the RunManager's workdir with --workdir"
            + (f", e.g. --workdir {near[0]}" if near else ""),
            file=sys.stderr,
        )
        return 2
    try:
        store = Store(layout.store, readonly=True)
    except StoreError as exc:
        print(f"adaptive-llm: {exc}", file=sys.stderr)
        return 2
    try:
        return _print_status(store, layout, as_json=as_json)
    except StoreError as exc:
        print(f"adaptive-llm: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()


def _print_status(store: Store, layout: Layout, *, as_json: bool) -> int:
    """Stream the rows of ``adaptive-llm status``: read, shown and forgotten a batch at a
    time, so 100,000 jobs print from the first rows on in bounded memory (for the causes
    after the table, only the failed jobs' names are kept, in a ``FailureTally``; the JSON
    has no causes and keeps nothing)."""
    from ..diagnosis import Diagnosis
    from ..managers.causes import FailureTally, causes_text, grouped
    from ..managers.job_manager import OUTAGE_KEY
    from ..managers.views import JobView, build_views
    from .table import stream_table, user_path

    # An outage recorded by the run that drives the workdir now (an older one's is stale).
    outage = store.meta(OUTAGE_KEY) if layout.in_use() else None
    approvals = {t.removeprefix("job:"): n for t, n in store.chat.pending_counts().items()}
    tally = FailureTally()  # the causes after the table (the JSON has none: nothing kept)

    def views() -> Iterator[JobView]:
        for batch in store.jobs.latest_by_name():
            attempts = {job.name: a for job, a, _ in batch if a is not None}
            stored = {job.name: data for job, _, data in batch if data is not None}

            def diagnosis(attempt: Attempt, stored: dict[str, str] = stored) -> Diagnosis | None:
                data = stored.get(attempt.job)
                try:
                    return Diagnosis.from_dict(json.loads(data)) if data else None
                except (KeyError, TypeError, ValueError):
                    return None

            jobs = [job for job, _, _ in batch]
            for view in build_views(jobs, attempts, diagnosis, outage=outage, approvals=approvals):
                if not as_json and grouped(view.state, view.run):
                    tally.add(view)
                yield view

    out = sys.stdout
    written = 0

    def write(text: str) -> None:  # flushed every 500 rows: the reader sees them come
        nonlocal written
        out.write(text)
        written += 1
        if written % 500 == 0:
            out.flush()

    if as_json:  # the text of json.dumps({"jobs": rows}, indent=2), 500 rows at a time
        write('{\n  "jobs": [')
        separator = ""
        chunk: list[dict[str, Any]] = []

        def rows_out() -> None:  # one dumps per chunk: its per-call cost is not paid per row
            nonlocal separator
            text = json.dumps(chunk, indent=2)  # "[\n  {...},\n  {...}\n]"
            write(f"{separator}\n  " + text[2:-2].replace("\n", "\n  "))
            out.flush()
            separator = ","
            chunk.clear()

        for view in views():
            chunk.append(view.to_dict())
            if len(chunk) == JSON_CHUNK:
                rows_out()
        if chunk:
            rows_out()
        write("\n  ]\n}\n" if separator else "]\n}\n")
        return 0
    # paths the user can paste where they stand
    stream_table((view.to_dict() for view in views()), lambda line: write(line + "\n"))
    causes = causes_text(tally.sections(), show=user_path)
    if causes:
        write(f"\n{causes}\n")
    return 0
