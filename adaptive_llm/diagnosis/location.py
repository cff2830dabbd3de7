"""The line to open: the culprit frame of a traceback, or a compiler's / test runner's file:line.

For Python the culprit is the deepest frame of the final exception that lies in the job's
working directory (user code), never the standard library or site-packages; without a working
directory, the deepest frame outside the interpreter's and site-packages' paths. When the file
exists locally, the source lines around the culprit line are attached.
"""

from __future__ import annotations

import os
import re
import sysconfig
from collections.abc import Iterable
from functools import lru_cache

from adaptive_llm.diagnosis.model import Location
from adaptive_llm.diagnosis.reader import LogText
from adaptive_llm.diagnosis.redact import redact
from adaptive_llm.diagnosis.signals import Signal

#: Source lines shown on each side of the culprit line.
SOURCE_CONTEXT = 5
#: Source files larger than this are not read for context.
MAX_SOURCE_BYTES = 4 << 20
#: Lines on each side of the shown ones that are redacted with them (a private key in a test
#: fixture is recognised by its BEGIN line even when only its middle is shown).
REDACT_CONTEXT = 200

_FRAME = re.compile(r'^\s*(?:\[[^\]]*\]:? ?)?\s*File "(?P<file>[^"]+)", line (?P<line>\d+)')
_TRACEBACK = "Traceback (most recent call last)"
_CHAIN = ("During handling of the above exception", "The above exception was the direct cause")
_LIBRARY = re.compile(
    r"[/\\](?:site-packages|dist-packages|lib[/\\]python\d[\d.]*|Lib)[/\\]"
    # Go's standard library under GOROOT (go, go1.22.0, go-1.21, Homebrew's libexec), Go modules
    r"|[/\\](?:go[\d.]*|go-[\d.]+|libexec)[/\\]src[/\\](?:runtime|internal|testing|reflect|sync"
    r"|syscall|net|os)[/\\][^\n]*\.go$|[/\\]pkg[/\\]mod[/\\][^\n]*\.go$"
    # Rust crates from the registry, and the standard library (rustc/<commit hash>/library)
    r"|[/\\](?:\.cargo[/\\]registry|rustc[/\\][0-9a-f]{7,})[/\\][^\n]*\.rs$"
)

#: Other tools' ``file:line`` formats, most specific first.
_FILE_LINE_FORMATS: tuple[re.Pattern[str], ...] = (
    re.compile(r"^\s*--> (?P<file>[^\s:]+):(?P<line>\d+)"),  # rustc
    re.compile(r"panicked at (?:'.*', )?(?P<file>[^\s:']+\.rs):(?P<line>\d+)"),  # rust panic
    re.compile(r"^\[ERROR\] (?P<file>\S+\.\w+):\[(?P<line>\d+)"),  # maven compiler
    re.compile(r"(?P<file>[\w./\\-]+\.\w+)\((?P<line>\d+),\d+\): (?:fatal )?error"),  # msbuild/tsc
    re.compile(r"^(?P<file>[^\s:()]+\.\w+):(?P<line>\d+)(?::\d+)?:"),  # gcc, go, pytest, eslint
    re.compile(r"^\s+(?P<file>/\S+\.go):(?P<line>\d+)"),  # go panic stack
    re.compile(r"\((?P<file>[^()\s]+\.[jt]sx?):(?P<line>\d+):\d+\)"),  # node / jest
    re.compile(r"\bat [\w$.<>]+\((?P<file>\w+\.(?:java|kt|scala|groovy)):(?P<line>\d+)\)"),
)


def locate(
    log: LogText,
    primary: Signal | None,
    signals: list[Signal],
    workdir: str | None,
) -> Location | None:
    """The culprit location for the primary signal, with source lines when available."""
    if primary is None:
        return None
    lines = _lines(log, primary.start, primary.end)
    found: tuple[str, int] | None = None
    if any(_FRAME.match(line) for line in lines):
        found = _python_culprit(lines, workdir, syntax=primary.category == "syntax_error")
    if found is None:
        found = _tool_location(lines, workdir)
    if found is None:  # e.g. a test summary: look in the other signals, strongest first
        for sig in sorted(signals, key=lambda s: (-s.score, -s.line))[:40]:
            if sig is primary:
                continue
            sig_lines = _lines(log, sig.start, sig.end)
            if any(_FRAME.match(line) for line in sig_lines):
                found = _python_culprit(sig_lines, workdir, syntax=False)
            found = found or _tool_location(sig_lines, workdir)
            if found:
                break
    if found is None:
        return None
    file, line = found
    resolved = _resolve(file, workdir)
    if resolved is not None:
        return Location(file=resolved, line=line, source=source_context(resolved, line))
    return Location(file=file, line=line)


def source_context(path: str, line: int, context: int = SOURCE_CONTEXT) -> str | None:
    """Lines ``line-context .. line+context`` of ``path`` as ``"  12 | code"``, culprit ``>``.

    The lines are redacted with :data:`REDACT_CONTEXT` lines around them before they are cut
    out of the file.
    """
    try:
        if os.path.getsize(path) > MAX_SOURCE_BYTES:
            return None
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read().split("\n")
    except OSError:
        return None
    if not 1 <= line <= len(text):
        return None
    lo, hi = max(1, line - context), min(len(text), line + context)
    wide_lo = max(1, lo - REDACT_CONTEXT)
    wide = redact("\n".join(text[wide_lo - 1 : min(len(text), hi + REDACT_CONTEXT)])).split("\n")
    width = len(str(hi))
    out = []
    for n in range(lo, hi + 1):
        mark = ">" if n == line else " "
        out.append(f"{mark} {n:>{width}} | {wide[n - wide_lo].rstrip()}")
    return "\n".join(out)


def _lines(log: LogText, start: int, end: int) -> list[str]:
    out: list[str] = []
    for region in log.regions:
        lo, hi = max(start, region.start), min(end, region.end)
        if lo <= hi:
            out.extend(region.lines[lo - region.start : hi - region.start + 1])
    return out


def _python_culprit(
    lines: list[str], workdir: str | None, *, syntax: bool
) -> tuple[str, int] | None:
    """Deepest user frame of the final exception (earlier chained parts as a fallback)."""
    parts: list[list[tuple[str, int]]] = [[]]
    for line in lines:
        if _TRACEBACK in line or any(c in line for c in _CHAIN):
            if parts[-1]:
                parts.append([])
            continue
        match = _FRAME.match(line)
        if match:
            parts[-1].append((match.group("file"), int(match.group("line"))))
    parts = [p for p in parts if p]
    if not parts:
        return None
    if any("most recent call first" in line for line in lines):  # faulthandler's order
        parts = [p[::-1] for p in parts]
    if syntax:  # the file with the syntax error is the last frame, wherever it is
        return parts[-1][-1]
    for frames in reversed(parts):
        for frame in reversed(frames):
            if is_user_file(frame[0], workdir):
                return frame
    for frame in reversed(parts[-1]):
        if not frame[0].startswith("<"):
            return frame
    return None


def _tool_location(lines: Iterable[str], workdir: str | None) -> tuple[str, int] | None:
    fallback: tuple[str, int] | None = None
    for line in lines:
        for pattern in _FILE_LINE_FORMATS:
            match = pattern.search(line)
            if match:
                hit = match.group("file"), int(match.group("line"))
                if is_user_file(hit[0], workdir):
                    return hit
                fallback = fallback or hit
                break
    return fallback


def is_user_file(path: str, workdir: str | None) -> bool:
    """A file of the user's code: inside ``workdir`` (if given) and not a library's."""
    if path.startswith("<") or _LIBRARY.search(path):
        return False
    if workdir is None:
        return not any(path.startswith(p) for p in _interpreter_paths())
    full = path if os.path.isabs(path) else os.path.join(workdir, path)
    real, root = os.path.realpath(full), os.path.realpath(workdir)
    try:
        return os.path.commonpath([real, root]) == root
    except ValueError:  # different drives
        return False


def _resolve(path: str, workdir: str | None) -> str | None:
    """The local file the log's ``path`` names, if it exists."""
    candidates = [path] if os.path.isabs(path) else []
    if workdir and not os.path.isabs(path):
        candidates.append(os.path.join(workdir, path))
    for candidate in candidates:
        if os.path.isfile(candidate):
            return os.path.normpath(candidate)
    return None


@lru_cache(maxsize=1)
def _interpreter_paths() -> tuple[str, ...]:
    paths = {sysconfig.get_paths().get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    return tuple(sorted(p for p in paths if p))
