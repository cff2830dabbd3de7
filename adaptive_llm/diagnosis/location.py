"""The line to open: the culprit frame of a traceback, or a compiler's / test runner's file:line.

For Python the culprit is the deepest frame of the final exception that lies in the job's
working directory (user code), never the standard library or site-packages; without a working
directory, the deepest frame outside the interpreter's and site-packages' paths. When the file
exists locally, the source lines around the culprit line are attached.
"""

from __future__ import annotations

import os
import re

from adaptive_llm.diagnosis.model import Location
from adaptive_llm.diagnosis.paths import Workspace, is_library, repo_tail
from adaptive_llm.diagnosis.reader import LogText
from adaptive_llm.diagnosis.redact import redact
from adaptive_llm.diagnosis.signals import FRAME_LINE, Signal, by_strength

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

#: A file as tools print it: a path with an extension (or a well-known extensionless name).
_F = (
    r"(?P<file>(?:[A-Za-z]:)?[\w.$@+~/\\-]*"
    r"(?:[\w-]\.[A-Za-z][\w+-]{0,9}|Dockerfile|Makefile|Jenkinsfile|Containerfile))"
)
_L = r"(?P<line>\d+)"

#: Other tools' ``file:line`` formats, most specific first.
_FILE_LINE_FORMATS: tuple[re.Pattern[str], ...] = (
    re.compile(rf"^\s*--> {_F}:{_L}"),  # rustc
    re.compile(rf"panicked at (?:'.*', )?{_F}:{_L}"),  # rust panic
    re.compile(rf"^\[(?:ERROR|WARNING)\] {_F}:\[{_L}"),  # maven compiler
    re.compile(rf"^e: (?:file://)?{_F}:{_L}"),  # kotlinc
    re.compile(rf"^\s*{_F}\({_L}(?:,\d+)?\): (?:fatal )?(?:error|warning)"),  # msbuild, tsc, nvcc
    re.compile(rf"^\s*{_F}:{_L}:\d+ - error"),  # tsc --pretty
    re.compile(rf"^(?:CMake (?:Error|Warning)(?: \(dev\))? at ){_F}:{_L}"),  # cmake
    re.compile(rf"^(?:In )?{_F} line {_L}:"),  # shellcheck
    re.compile(rf"^\s*(?:\d+: )?{_F}: line {_L}: "),  # bash
    re.compile(rf"\bAt line {_L} of file {_F}"),  # gfortran runtime
    re.compile(rf"(?:── |^)(?:Failure|Error|Warning) \('?{_F}:{_L}(?::\d+)?'?\)"),  # testthat
    re.compile(rf"^Test Failed at {_F}:{_L}"),  # julia Test
    re.compile(rf"^\s*(?:\[\d+\] .*)?@ \S+ {_F}:{_L}"),  # julia stack
    re.compile(
        rf"^\s*(?:\w[\w.-]*: )?{_F}:{_L}(?::\d+)?:"
    ),  # gcc, go, pytest, mypy, ruff, javac, lua
    re.compile(rf"^\s+{_F}:{_L}(?: \+0x[0-9a-f]+)?$"),  # go panic stack
    re.compile(rf"\bat:? (?:async )?(?:[^()\s]+ )?\((?:file://)?{_F}:{_L}:\d+\)"),  # node, tape
    re.compile(rf"^\s*at (?:file://)?{_F}:{_L}:\d+$"),  # node, anonymous
    re.compile(rf"^\s*(?:\u276f|\u203a|>) {_F}:{_L}:\d+"),  # vitest, jest
    re.compile(  # JVM frames: at pkg.Cls.method(File.java:12)
        r"\bat (?P<frame>[\w$.<>/-]+)\((?P<file>[\w$-]+\.(?:java|kt|scala|groovy|clj))"
        r":(?P<line>\d+)\)"
    ),
    re.compile(rf"\bat \S+\(.*\) in {_F}:line {_L}"),  # .NET
    re.compile(rf"^\s*{_F}\({_L},\d+\): at \S"),  # xunit's stack trace on .NET Core
    re.compile(rf"^At {_F}:{_L} char:\d+"),  # PowerShell
    re.compile(rf"^\s+[\w.$]+(?:Exception|Error|Failure)\w* at {_F}:{_L}$"),  # gradle
    re.compile(rf"^\s*(?:from )?{_F}:{_L}:in "),  # ruby
    re.compile(rf"^[\s=|]*#\d+ +(?:0x[0-9a-f]+ in )?.*?[ \t]{_F}:{_L}(?::\d+)?$"),  # asan, gdb
    re.compile(rf"(?:\u274c|\u2717|\u2718|\u2716)\s+{_F}:{_L}(?::\d+)?: "),  # xcpretty
    re.compile(rf"^\s+at {_F}:{_L}$"),  # gfortran backtrace
    re.compile(rf"^\s+{_F}:{_L} \(\w+\)$"),  # cmake call stack
    re.compile(rf"\[{_F}:{_L}\]:?$"),  # minitest
    re.compile(rf"(?:\(from | at ){_F}#{_L}\b"),  # R srcref
    re.compile(rf"^\s*#\d+ {_F}\({_L}\): "),  # php stack
    re.compile(rf"\bin {_F}(?::| on line ){_L}\b"),  # php
    re.compile(rf" at {_F} line {_L}\b"),  # perl
    re.compile(rf"\bon {_F} line {_L}\b"),  # terraform
    re.compile(rf"^{_F}:{_L}$"),  # Dockerfile:12 (buildkit), a bare file:line
    re.compile(rf"^\s+{_F}:{_L}: in "),  # lua stack traceback
)
#: pytest's entries of a failed test (``src/x.py:12: in mean``, ``tests/t.py:5: AssertionError``).
_PYTEST_ENTRY = re.compile(rf"^{_F}:{_L}: (?:in \S+|[A-Z]\w*(?:\.\w+)*)$")
#: What a line matched by any of :data:`_FILE_LINE_FORMATS` holds: a file name followed by a
#: line number's delimiter (or gfortran's "At line N of file").
_CANDIDATE = re.compile(
    r"(?:[\w-]\.[A-Za-z][\w+-]{0,9}|Dockerfile|Makefile|Jenkinsfile|Containerfile)"
    r"(?::\[?\d|\(\d|#\d| line \d|:line \d|: line \d| on line \d)|\bAt line \d"
)
#: A file:line anywhere in a line: the last resort inside a failure's own lines.
_ANYWHERE = re.compile(rf"(?:^|[\s(\['\"=])(?<!//){_F}:{_L}\b(?!\.\d)")
#: A line naming only a file (eslint's stylish format, gfortran's first line): the problems
#: under it (``  3:7  error ...``, the caret lines and ``Error:``) are at its lines.
_FILE_ALONE = re.compile(rf"^{_F}(?::{_L}(?::\d+)?:?)?$")
_UNDER_FILE = re.compile(r"^\s+(?P<line>\d+):\d+\s+(?P<level>error|warning|\u2716|\u26a0)(?:\s|$)")
#: Frames of a JVM stack trace that are the runtime's or a test framework's.
_JVM_LIBRARY = re.compile(
    r"^(?:java|javax|jdk|sun|com\.sun|kotlin|kotlinx|scala|org\.junit|junit|org\.testng"
    r"|org\.apache\.maven|org\.gradle|worker\.org\.gradle|org\.springframework|org\.hamcrest"
    r"|org\.opentest4j|org\.assertj|groovy|org\.codehaus)\."
)
#: Lines above a signal searched for the file it is about (a file alone on a line, such as
#: eslint's; BuildKit's ``Dockerfile:12`` above the code frame of the failed step).
LOOK_UP = 12
#: Lines above "warnings being treated as errors" searched for the warning.
WERROR_LOOK_UP = 60
#: Lines above an error inside a library header searched for the user's line that led there
#: (gcc's "required from here" chain of template instantiations).
INSTANTIATION_LOOK_UP = 20
_WARNING = re.compile(rf"^{_F}:{_L}(?::\d+)?: [Ww]arning\b")
#: Lines whose file:line is remembered while one log is located.
MAX_LINE_HITS = 4096
#: Exceptions that name the file with the error in their last frame (exec'd or generated
#: code, a file outside the workspace: still the line to open).
_SYNTAX = ("SyntaxError", "IndentationError", "TabError")
#: Test reports (failed tests' lines, exceptions in them) searched for the first failure's line.
MAX_TEST_REPORTS = 60
#: Lines around the primary signal where any user file:line is taken as a last resort.
NEAR = 5
#: Frames followed after a signal's own block.
MAX_FRAME_LINES = 60
#: The indented YAML block under a TAP ``not ok`` line.
_YAML_START = re.compile(r"^\s+---\s*$")
_YAML_END = re.compile(r"^\s+\.\.\.\s*$")
#: A failed TAP test, and the fields of node-tap's ``at:`` (v16: line/file, v18+: lineNumber/
#: fileName).
_TAP_FAILED = re.compile(r"^(?P<indent>\s*)not ok \d+")
_AT_FIELD = re.compile(r"^\s*(?P<key>line|lineNumber|file|fileName): (?P<value>\S+)\s*$")
#: Lines above a failed TAP test searched for its subtest's output (node-tap).
TAP_LOOK_UP = 200
#: A summary that the failed tests' reports follow (mocha's ``2 failing``).
_REPORTS_BELOW = re.compile(r"^\d+ failing$")
#: The line under minitest's ``Failure:`` / ``Error:``: the test and where it failed.
_MINITEST_ID = re.compile(rf"\S \[{_F}:{_L}\]:$")


def locate(
    log: LogText,
    primary: Signal | None,
    signals: list[Signal],
    workdir: str | None,
    category: str | None = None,
) -> Location | None:
    """The culprit location for the primary signal, with source lines when available; for a
    test failure, the first failed test's (its report, or the exception in it)."""
    return culprit(log, primary, signals, workdir, category)[0]


def culprit(
    log: LogText,
    primary: Signal | None,
    signals: list[Signal],
    workdir: str | None,
    category: str | None = None,
) -> tuple[Location | None, tuple[str, ...]]:
    """:func:`locate`'s location and, when it is not the user's code (a library's frame, no
    frame of the workdir found), the call site of the failure (see :func:`call_site`); ``()``
    when the location is the user's or the failure shows no frames."""
    if primary is None:
        return None, ()
    ws = Workspace(workdir)
    found = _find(log, primary, signals, ws, category)
    if found is None:
        return None, ()
    file, line_no = found
    site = () if ws.is_user(file) else call_site(log, primary)
    local = ws.local(file)
    if local is None and os.path.isabs(file) and os.path.isfile(file):
        local = os.path.normpath(file)  # a library's file on this machine: its lines help too
    if local is not None:
        return Location(file=local, line=line_no, source=source_context(local, line_no)), site
    return Location(file=repo_tail(file), line=line_no), site


def _find(
    log: LogText,
    primary: Signal,
    signals: list[Signal],
    ws: Workspace,
    category: str | None,
) -> tuple[str, int] | None:
    found = _first_test_location(log, signals, ws) if category == "test_failure" else None
    found = found or _signal_location(log, primary, ws)
    if found is None:  # e.g. a test summary: look in the other signals, strongest first
        for sig in by_strength(signals)[:40]:
            if sig is not primary:
                found = _signal_location(log, sig, ws)
                if found:
                    break
    if found is None:  # a file:line anywhere near the failure's own lines, if it is the user's
        for line in _lines(log, max(1, primary.start - NEAR), primary.end + NEAR):
            for match in _ANYWHERE.finditer(line):
                if ws.is_user(match.group("file")):
                    found = match.group("file"), int(match.group("line"))
                    break
            if found:
                break
    return found


def call_site(log: LogText, sig: Signal) -> tuple[str, ...]:
    """The frames of a failure's stack (its block and the frames after it) that tell its call
    site, in the log's order: the frames outside libraries and runtimes as ``name:line``
    (``train.py:12``, wherever the file was: another machine, another checkout); when there
    are none, the library frames without their folders, numbers and addresses
    (``File "decoder.py", line <n>, in raw_decode``), so the chain of functions tells two
    call sites apart and a library's other release (its lines moved) does not. At most
    :data:`MAX_SITE_FRAMES`, repeats (a recursion) once."""
    own: list[str] = []
    library: list[str] = []
    for line in [*_lines(log, sig.start, sig.end), *_frames_after(log, sig.end)]:
        frame = _site_frame(line)
        if frame is None:
            continue
        file, line_no, outside = frame
        if outside:
            _append(own, f"{_basename(file)}:{line_no}")
        else:
            _append(library, _masked_frame(line))
    return tuple(own or library)


#: Frames of one failure kept for its call site.
MAX_SITE_FRAMES = 32
#: A JVM frame of any class, the JDK's too (``at java.util.HashMap.get(HashMap.java:12)``).
_JVM_FRAME = re.compile(r"\bat (?P<frame>[\w$.<>/-]+)\((?P<file>[\w$-]+\.\w+):(?P<line>\d+)\)")
_SITE_HEX = re.compile(r"\b0x[0-9a-fA-F]+\b|\b[0-9a-fA-F]{12,}\b")
_SITE_FOLDERS = re.compile(r"(?:[A-Za-z]:)?(?:[\w.$@+~-]*[/\\])+(?=[\w.$@+<~-])")
_SITE_NUMBER = re.compile(r"\d+")


def _site_frame(line: str) -> tuple[str, int, bool] | None:
    """The file and line a stack frame names, and whether the file is outside libraries."""
    python = _FRAME.match(line)
    if python is not None:
        file = python.group("file")
        return file, int(python.group("line")), not is_library(file)
    jvm = _JVM_FRAME.search(line)
    if jvm is not None:  # the JDK's and frameworks' classes are library frames
        file = _jvm_file(jvm)
        return (file or jvm.group("file")), int(jvm.group("line")), file is not None
    if not _CANDIDATE.search(line):
        return None
    for pattern in _FILE_LINE_FORMATS:
        match = pattern.search(line)
        if match is not None:
            file = match.group("file")
            return file, int(match.group("line")), not is_library(file)
    return None


def _masked_frame(line: str) -> str:
    text = _SITE_NUMBER.sub("<n>", _SITE_FOLDERS.sub("", _SITE_HEX.sub("<hex>", line)))
    return " ".join(text.split())


def _basename(file: str) -> str:
    return file.replace("\\", "/").rsplit("/", 1)[-1]


def _append(frames: list[str], frame: str) -> None:
    if len(frames) < MAX_SITE_FRAMES and frame not in frames:
        frames.append(frame)


def _first_test_location(
    log: LogText, signals: list[Signal], ws: Workspace
) -> tuple[str, int] | None:
    """The user location of the first failed test: test runners report each failure (and the
    exception that caused it) from their first failure-related line on, the summary last."""
    tests = [s.line for s in signals if s.category == "test_failure"]
    if not tests:
        return None
    start = min(tests) - 3
    reports = [
        s for s in signals if s.line >= start and (s.category == "test_failure" or s.error_type)
    ]
    for sig in reports[:MAX_TEST_REPORTS]:
        found = _signal_location(log, sig, ws)
        if found is not None and ws.is_user(found[0]):
            return found
    return None


def _signal_location(log: LogText, sig: Signal, ws: Workspace) -> tuple[str, int] | None:
    """The location a signal's block names: its traceback's culprit, or a tool's file:line in
    the block, in the stack frames right after it, or in the lines just above it (a file named
    alone on a line, the problems listed under it)."""
    if sig.rule == "werror":  # the warning above that -Werror made an error
        for line in reversed(_lines(log, max(1, sig.start - WERROR_LOOK_UP), sig.start - 1)):
            warning = _WARNING.match(line)
            if warning:
                return warning.group("file"), int(warning.group("line"))
    lines = _lines(log, sig.start, sig.end)
    if any(_FRAME.match(line) for line in lines):
        syntax = sig.category == "syntax_error" or (sig.error_type or "").endswith(_SYNTAX)
        found = _python_culprit(lines, ws, syntax=syntax)
        if found:
            return found
    entries = [m for m in map(_PYTEST_ENTRY.match, lines) if m and ws.is_user(m.group("file"))]
    if entries:  # pytest's report of a test: its last user entry is where it failed
        return entries[-1].group("file"), int(entries[-1].group("line"))
    frames = _frames_after(log, sig.end)
    found = _tool_location([*lines, *frames], ws)
    if found is not None and not ws.is_user(found[0]):  # e.g. an error in a library header:
        above = _lines(log, max(1, sig.start - INSTANTIATION_LOOK_UP), sig.start - 1)
        found = _first_hit(above[::-1], ws, user_only=True) or found
    if found is None:
        above = _lines(log, max(1, sig.start - LOOK_UP), sig.start - 1)
        found = _under_file([*above, *lines], ws)
    if found is None and _TAP_FAILED.match(sig.text):  # node-tap: the subtest's lines above
        found = _tap_subtest_location(log, sig.line, ws)
    if found is None and _REPORTS_BELOW.match(sig.text):  # mocha: "2 failing", then reports
        found = _first_hit(_lines(log, sig.end + 1, sig.end + MAX_FRAME_LINES), ws, user_only=True)
    return found


def _tap_subtest_location(log: LogText, line_no: int, ws: Workspace) -> tuple[str, int] | None:
    """node-tap prints a subtest's lines, indented, *above* its ``not ok``: the location is in
    the YAML block of the first failed assertion among them (``at:`` fields, else the stack)."""
    head = _lines(log, line_no, line_no)
    failed = _TAP_FAILED.match(head[0]) if head else None
    if failed is None:
        return None
    depth = len(failed.group("indent"))
    above = _lines(log, max(1, line_no - TAP_LOOK_UP), line_no - 1)
    start = len(above)
    while start > 0 and (not above[start - 1].strip() or _indent(above[start - 1]) > depth):
        start -= 1
    block = above[start:]
    for i, text in enumerate(block):
        yaml = _yaml_block(block[i + 1 :]) if _TAP_FAILED.match(text) else None
        if yaml is not None:
            return _yaml_location(yaml, ws)
    return None


def _yaml_block(lines: list[str]) -> list[str] | None:
    """The lines of the TAP YAML block the lines start with (``  ---`` .. ``  ...``), if any."""
    if not lines or not _YAML_START.match(lines[0]):
        return None
    out: list[str] = []
    for line in lines[1:]:
        if _YAML_END.match(line):
            break
        out.append(line)
    return out


def _yaml_location(yaml: list[str], ws: Workspace) -> tuple[str, int] | None:
    """The file and line of a TAP YAML block: its ``at:`` fields, else a stack frame's."""
    for i, text in enumerate(yaml):
        if text.strip() != "at:":
            continue
        fields: dict[str, str] = {}
        for entry in yaml[i + 1 :]:
            if _indent(entry) <= _indent(text):
                break
            field = _AT_FIELD.match(entry)
            if field:
                key = field.group("key").removesuffix("Name").removesuffix("Number")
                fields[key] = field.group("value")
        if "file" in fields and fields.get("line", "").isdigit():
            return fields["file"], int(fields["line"])
    found = _first_hit(yaml, ws, user_only=False)
    if found is None:
        for text in yaml:
            match = _ANYWHERE.search(text)
            if match:
                return match.group("file"), int(match.group("line"))
    return found


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip())


def _frames_after(log: LogText, end: int) -> list[str]:
    """The stack frames that follow line ``end`` (``at ...``, ``#3 0x...``, ``from x.rb:2``),
    or the YAML block of a failed TAP test (``not ok 3 ...`` then ``  ---`` .. ``  ...``: tape
    puts the test's ``at:`` and its stack there; node-tap prints its details above the
    ``not ok``: see :func:`_tap_subtest_location`)."""
    lines = _lines(log, end + 1, end + MAX_FRAME_LINES)
    yaml = _yaml_block(lines)
    if yaml is not None:
        return yaml
    out: list[str] = []
    for i, line in enumerate(lines):
        if i == 0 and _MINITEST_ID.search(line):
            out.append(line)  # minitest's "Failure:" then ``Cls#test_x [path:12]:``
            continue
        if not line.strip() and i + 1 < len(lines) and FRAME_LINE.match(lines[i + 1]):
            continue  # frames printed a blank line apart (CRLF logs, xcpretty)
        if not FRAME_LINE.match(line):
            break
        out.append(line)
    return out


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


def _python_culprit(lines: list[str], ws: Workspace, *, syntax: bool) -> tuple[str, int] | None:
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
            if ws.is_user(frame[0]):
                return frame
    for frame in reversed(parts[-1]):
        if not frame[0].startswith("<"):
            return frame
    return None


def _tool_location(lines: list[str], ws: Workspace) -> tuple[str, int] | None:
    """The first user file:line of the lines (of the last ``Caused by:`` part first, where
    the root cause of a JVM exception was thrown), else the first file:line at all."""
    caused = [i for i, line in enumerate(lines) if line.startswith("Caused by: ")]
    if caused:
        found = _first_hit(lines[caused[-1] :], ws, user_only=True)
        if found:
            return found
    return _first_hit(lines, ws, user_only=False)


def _first_hit(lines: list[str], ws: Workspace, *, user_only: bool) -> tuple[str, int] | None:
    fallback: tuple[str, int] | None = None
    for line in lines:
        hit = _line_hit(line, ws)
        if hit is None:
            continue
        if ws.is_user(hit[0]):
            return hit
        fallback = fallback or hit
    return None if user_only else fallback


def _line_hit(line: str, ws: Workspace) -> tuple[str, int] | None:
    """The file:line a line names in the first format it matches (None: none, or a frame of
    the JVM's own classes); memoised per workspace, as the blocks of signals overlap."""
    cache = ws.line_hits
    if line in cache:
        return cache[line]
    hit: tuple[str, int] | None = None
    if _CANDIDATE.search(line):  # one search rules out every format
        for pattern in _FILE_LINE_FORMATS:
            match = pattern.search(line)
            if match is not None:
                file = _jvm_file(match)
                hit = (file, int(match.group("line"))) if file is not None else None
                break
    if len(cache) < MAX_LINE_HITS:
        cache[line] = hit
    return hit


def _jvm_file(match: re.Match[str]) -> str | None:
    """The file a match names; for a JVM frame its package path (``com/acme/Loader.java``),
    None for a frame of the JDK's or a framework's classes."""
    file = match.group("file")
    frame = match.groupdict().get("frame")
    if not frame:
        return file
    module, _, qualified = frame.rpartition("/")
    if module.startswith(("java.", "jdk.")) or _JVM_LIBRARY.match(qualified):
        return None
    package = qualified.rsplit(".", 2)[0] if qualified.count(".") >= 2 else ""
    return "/".join([*package.split("."), file]) if package else file


def _under_file(lines: list[str], ws: Workspace) -> tuple[str, int] | None:
    """A location from a file named alone on a line and the problems under it (an error
    before any warning; a user file before any other)."""
    current: str | None = None
    hits: list[tuple[bool, bool, int, tuple[str, int]]] = []
    for line in lines:
        alone = _FILE_ALONE.match(line.rstrip())
        if alone:
            current = alone.group("file")
            if alone.group("line"):
                hit = current, int(alone.group("line"))
                hits.append((not ws.is_user(current), False, len(hits), hit))
            continue
        under = _UNDER_FILE.match(line)
        if under and current:
            hit = current, int(under.group("line"))
            warning = under.group("level") in ("warning", "\u26a0")
            hits.append((not ws.is_user(current), warning, len(hits), hit))
    return min(hits)[3] if hits else None


def is_user_file(path: str, workdir: str | None) -> bool:
    """A file of the user's code: not a library's and, with ``workdir``, one of its files
    (by the path's tail, for paths printed on another machine)."""
    return Workspace(workdir).is_user(path)
