"""``adaptive-llm compare --model A --model B [LOGS... | --workdir D]``: how well each model
diagnoses the same failures, what it costs and how long it takes.

Failures come from the labelled set shipped with the package (the default), from log files
(or a ``labels.json`` of a labelled set in the shipped format), or from the failed jobs of a
RunManager's workdir (read-only, as ``adaptive-llm status``; one failure per signature).
Unlabelled failures are scored against the offline engine. The comparison itself is
:mod:`adaptive_llm.llm.compare`; LangChain is imported only when a model is made.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..llm.compare import Comparison, Contender, Failure, Outcome

DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_TOKENS = 400
DEFAULT_CONCURRENCY = 4
DEFAULT_ATTEMPTS = 2


class BadInput(Exception):
    """A one-line reason the comparison cannot start."""


def add_parser(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Register the ``compare`` subcommand."""
    parser = subparsers.add_parser(
        "compare",
        help="compare models' diagnoses of failures (quality, tokens, cost, latency)",
        description="Run each model's diagnosis over a set of failures and print a table per"
        " model: category and culprit-line agreement with the labels (or the offline engine),"
        " key terms found, tokens, cost, latency p50/p95, errors. Without LOGS or --workdir,"
        " the labelled set shipped with adaptive_llm is used.",
    )
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="LOGS",
        help="log files (scored against the offline engine), or a labels.json of a labelled set",
    )
    parser.add_argument(
        "--model",
        dest="models",
        action="append",
        required=True,
        metavar="MODEL",
        help="an init_chat_model string (openai:gpt-4.1-mini, ollama:llama3.1), or 'offline'"
        " for the offline engine; repeat for each model",
    )
    parser.add_argument(
        "--base-url",
        metavar="URL",
        default=None,
        help="an OpenAI-compatible (or Ollama) server for the models, e.g."
        " http://127.0.0.1:8080/v1",
    )
    parser.add_argument(
        "--workdir",
        default=None,
        help="compare on the failed jobs recorded in this RunManager workdir (read-only)",
    )
    parser.add_argument("--json", action="store_true", help="print the comparison as JSON")
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help="seconds one model call may take (default: %(default)s)",
    )
    parser.add_argument(
        "--max-tokens",
        type=int,
        default=DEFAULT_MAX_TOKENS,
        help="output limit of each model call (default: %(default)s)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        help="model calls at a time, all models together (default: %(default)s)",
    )
    parser.add_argument(
        "--attempts",
        type=int,
        default=DEFAULT_ATTEMPTS,
        help="tries per call on rate limits, server errors and timeouts (default: %(default)s)",
    )


def run(args: argparse.Namespace) -> int:
    from ..llm.compare import Comparison
    from ..llm.limits import ModelLimits
    from ..llm.retry import RetryPolicy

    try:
        if args.concurrency < 1:
            raise BadInput(f"--concurrency must be at least 1, got {args.concurrency}")
        try:
            limits = ModelLimits(max_output_tokens=args.max_tokens, call_timeout=args.timeout)
            retry = RetryPolicy(attempts=args.attempts)
        except ValueError as exc:
            raise BadInput(str(exc).replace("max_output_tokens", "--max-tokens")) from None
        failures, source = _failures(args)
        contenders = _contenders(args.models, args.base_url, limits.max_output_tokens)
    except BadInput as exc:  # one line, even for a provider's multi-line message
        print(f"adaptive-llm compare: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    comparison = Comparison(failures, contenders)
    if not failures:
        print(f"adaptive-llm compare: no failures to compare ({source})", file=sys.stderr)
        if args.json:
            _print(comparison, source, as_json=True)
        return 0

    def progress(contender: Contender, outcome: Outcome) -> None:
        state = "error" if outcome.error else _cell(outcome)
        print(
            f"compare: [{comparison.done}/{comparison.total}] {contender.name}"
            f" {outcome.failure}: {state} ({outcome.seconds:.2f} s)",
            file=sys.stderr,
            flush=True,
        )

    import asyncio  # here: `adaptive-llm diagnose` does not pay for it

    try:
        asyncio.run(
            comparison.run(
                limits=limits, retry=retry, concurrency=args.concurrency, on_outcome=progress
            )
        )
    except KeyboardInterrupt:
        comparison.interrupted = True
    except (OSError, ValueError) as exc:  # a log that vanished or cannot be read
        print(f"adaptive-llm compare: {exc}", file=sys.stderr)
        return 2
    _print(comparison, source, as_json=args.json)
    return 130 if comparison.interrupted else 0


def _print(comparison: Comparison, source: str, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"source": source, **comparison.to_dict()}, indent=2))
    else:
        print(format_comparison(comparison, source))


# -- where the failures come from ----------------------------------------------------------------


def _failures(args: argparse.Namespace) -> tuple[list[Failure], str]:
    from ..llm.failures import load_labelled, shipped_failures

    if args.workdir is not None and args.paths:
        raise BadInput("give LOGS or --workdir, not both")
    if args.workdir is not None:
        return _workdir_failures(Path(args.workdir).expanduser())
    if not args.paths:
        return shipped_failures(), "the labelled set shipped with adaptive_llm"
    failures: list[Failure] = []
    for text in args.paths:
        path = Path(text).expanduser()
        if text == "-":
            raise BadInput("compare reads log files, not standard input")
        if not path.is_file():
            what = "does not exist" if not path.exists() else "is not a regular file"
            raise BadInput(f"{text} {what}")
        if not os.access(path, os.R_OK):
            raise BadInput(f"{text} cannot be read (permission denied)")
        if path.suffix == ".json":
            try:
                failures.extend(load_labelled(path))
            except ValueError as exc:
                raise BadInput(str(exc)) from None
        else:
            from ..llm.compare import Failure

            failures.append(Failure(name=text, log=path))
    names = [f.name for f in failures]
    if len(set(names)) != len(names):
        raise BadInput(
            "a failure is given twice: "
            + ", ".join(sorted({n for n in names if names.count(n) > 1}))
        )
    return failures, f"{len(args.paths)} path(s) from the command line"


def _workdir_failures(workdir: Path) -> tuple[list[Failure], str]:
    from ..diagnosis import Diagnosis
    from ..llm.compare import Failure
    from ..store import Store, StoreError
    from ..store.layout import STATE_DIR, STORE_NAME, Layout

    layout = Layout.of(workdir)
    if not layout.store.exists():
        raise BadInput(
            f"no jobs recorded in {workdir} (no {STATE_DIR}/{STORE_NAME}); pass the"
            " RunManager's workdir"
        )
    try:
        store = Store(layout.store, readonly=True)
    except StoreError as exc:
        raise BadInput(str(exc)) from None
    try:
        jobs = {job.name: job for job in store.jobs.all()}
        latest = store.jobs.latest_attempts()
        stored = store.diagnoses.offline()
    except StoreError as exc:
        raise BadInput(str(exc)) from None
    finally:
        store.close()
    failures: list[Failure] = []
    seen: set[str] = set()
    failed = 0
    for name, attempt in sorted(latest.items()):
        job = jobs.get(name)
        if job is None or not attempt.state.is_failure:
            continue
        failed += 1
        data = stored.get((name, attempt.number))
        try:
            diagnosis = Diagnosis.from_dict(data) if data else None
        except (KeyError, TypeError, ValueError):
            diagnosis = None
        if diagnosis is None and not Path(attempt.log_path).is_file():
            continue  # neither a diagnosis nor a log: nothing to show a model
        if diagnosis is not None:
            if diagnosis.signature in seen:
                continue  # the same failure as an earlier job: one question, not many
            seen.add(diagnosis.signature)
        failures.append(
            Failure(
                name=name,
                log=Path(attempt.log_path),
                state=attempt.state.value,
                reason=attempt.reason,
                command=job.command if isinstance(job.command, str) else list(job.command),
                cwd=str(job.resolved_cwd(layout.workdir)),
                time_limit=job.resources.time_limit,
                memory=job.resources.memory,
                diagnosis=diagnosis,
            )
        )
    return failures, (
        f"{failed} failed job(s) in {layout.workdir}, {len(failures)} distinct failure(s)"
    )


def _contenders(specs: list[str], base_url: str | None, max_tokens: int) -> list[Contender]:
    from ..llm.compare import Contender
    from ..llm.limits import limit_output
    from ..llm.provider import ModelError, resolve_model

    if len(set(specs)) != len(specs):
        raise BadInput("a --model is given twice")
    if base_url and all(spec == "offline" for spec in specs):
        raise BadInput(
            "--base-url is for a model (e.g. --model openai:NAME), not the offline engine"
        )
    contenders = []
    for spec in specs:
        if spec == "offline":
            contenders.append(Contender(spec))
            continue
        if ":" not in spec:
            raise BadInput(
                f"--model {spec!r}: give provider:name, e.g. openai:gpt-4.1-mini, or 'offline'"
            )
        llm: Any = {"model": spec, "base_url": base_url} if base_url else spec
        try:
            model = resolve_model(llm)
        except ModelError as exc:
            raise BadInput(str(exc)) from None
        contenders.append(Contender(spec, limit_output(model, max_tokens)))
    return contenders


# -- the table -----------------------------------------------------------------------------------


def _ratio(part: int, whole: int) -> str:
    return f"{part}/{whole} {round(100 * part / whole)}%" if whole else "-"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def _cell(outcome: Outcome) -> str:
    """One failure's result for one model: category and line (+ agrees, x not, - unscored)
    and key terms found, or why there is nothing to score."""
    if outcome.error is not None:
        return "error"
    if outcome.answer is not None and not outcome.answer.parsed:
        return "no JSON"
    marks = "".join(
        "-" if ok is None else "+" if ok else "x" for ok in (outcome.category_ok, outcome.line_ok)
    )
    terms = f" {outcome.terms_found}/{outcome.terms_total}" if outcome.terms_total else ""
    return marks + terms


def _grid(lines: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    ]


def format_comparison(comparison: Comparison, source: str) -> str:
    references = {ref.source for ref in comparison.references.values()}
    against = " and ".join(
        {"label": "the labels", "offline": "the offline engine"}[s] for s in sorted(references)
    )
    out = [f"{len(comparison.failures)} failures from {source}; scored against {against or '-'}"]
    if comparison.interrupted:
        out.append(f"interrupted: {comparison.done} of {comparison.total} diagnoses done")
    out.append("")
    header = (
        "MODEL",
        "DONE",
        "CATEGORY",
        "LINE",
        "KEY TERMS",
        "TOKENS IN/OUT",
        "COST",
        "P50",
        "P95",
        "ERRORS",
        "NO JSON",
    )
    rows: list[tuple[str, ...]] = [header]
    for contender in comparison.contenders:
        s = contender.summary()
        cost = s["cost"]
        rows.append(
            (
                contender.name,
                f"{s['done']}/{len(comparison.failures)}",
                _ratio(s["category"]["agree"], s["category"]["of"]),
                _ratio(s["line"]["agree"], s["line"]["of"]),
                _ratio(s["key_terms"]["found"], s["key_terms"]["of"]),
                f"{'~' if s['tokens_estimated'] else ''}{s['input_tokens']}/{s['output_tokens']}",
                "-" if s["done"] == s["errors"] else "n/a" if cost is None else f"${cost:.4f}",
                _seconds(s["latency_p50"]),
                _seconds(s["latency_p95"]),
                str(s["errors"]),
                str(s["unreadable"]),
            )
        )
    out += _grid(rows)
    names = [c.name for c in comparison.contenders]
    detail: list[tuple[str, ...]] = [("FAILURE", *names)]
    for failure in comparison.failures:
        cells = []
        for contender in comparison.contenders:
            found = [o for o in contender.outcomes if o.failure == failure.name]
            cells.append(_cell(found[0]) if found else "not run")
        detail.append((failure.name, *cells))
    out += ["", *_grid(detail)]
    out.append(
        "(category, line: + agrees, x does not, - nothing to compare; then key terms found."
        " TOKENS ~: estimated, the provider reported none. COST n/a: no price known for the"
        " model; a server on this machine or network costs 0. Latency: the calls that answered.)"
    )
    for contender in comparison.contenders:
        errors = [o.error for o in contender.outcomes if o.error]
        if errors:
            first = " ".join(errors[0].split())
            out.append(f"{contender.name}: {len(errors)} error(s), e.g. {first}")
    return "\n".join(out)
